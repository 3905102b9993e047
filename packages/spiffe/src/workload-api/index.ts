/**
 * `@ambient-kit/spiffe/workload-api`: the SPIFFE Workload API (`SpiffeWorkloadAPI`,
 * spiffe/go-spiffe@e9973f63:proto/spiffe/workload/workload.proto) on @grpc/grpc-js, an optional peer
 * dependency needed only by this entry point and `./istio-ca` (`npm install @grpc/grpc-js
 * @bufbuild/protobuf`). A client that gets a workload's identity from a SPIRE agent (or any Workload API),
 * an SVID source and a bundle source built on it for the mTLS helpers and HBONE, and a server that hands out
 * an identity as an agent does. docs/identity.md describes the protocol.
 *
 * @example
 * ```ts
 * import * as tls from 'node:tls';
 * import { authorizeMemberOf, mtlsClientOptions } from '@ambient-kit/spiffe';
 * import { createX509Source } from '@ambient-kit/spiffe/workload-api';
 *
 * // SPIFFE_ENDPOINT_SOCKET=unix:///run/spire/sockets/agent.sock
 * const source = await createX509Source();
 * const socket = tls.connect({
 *   host: '10.0.0.7',
 *   port: 8443,
 *   ...mtlsClientOptions({ svid: source, bundles: source, authorize: authorizeMemberOf('example.org') }),
 * });
 * ```
 * @module
 */
export {
  MAX_UNIX_SOCKET_PATH_BYTES,
  MAX_WORKLOAD_API_ADDRESS_CHARS,
  type ParseWorkloadApiAddressOptions,
  parseWorkloadApiAddress,
  resolveWorkloadApiAddress,
  type WorkloadApiAddress,
} from './address.js';
export {
  concatDer,
  decodeJwtBundleMap,
  decodeX509BundleMap,
  encodeJwks,
  encodeJwtBundleMap,
  encodeX509BundleMap,
  MAX_BUNDLE_MAP_ENTRIES,
  parseJwtBundleJwks,
} from './bundle-map.js';
export {
  type BundleSourceOptions,
  createBundleSource,
  type WorkloadApiBundleSource,
} from './bundle-source.js';
export {
  createWorkloadApiClient,
  DEFAULT_MAX_WORKLOAD_API_RESPONSE_BYTES,
  DEFAULT_WORKLOAD_API_TIMEOUT_MS,
  type FetchJwtSvidParams,
  type WorkloadApiCallOptions,
  type WorkloadApiClient,
  type WorkloadApiClientOptions,
} from './client.js';
export type { SourceClientOptions } from './first-state.js';
export {
  decodeJwtSvidResponse,
  type JwtSvidExpectations,
  MAX_JWT_SVIDS_PER_RESPONSE,
  readIssuedJwtSvid,
  type WorkloadJwtSvid,
} from './jwt-svids.js';
export {
  createWorkloadApiServer,
  DEFAULT_JWT_SVID_TTL_MS,
  DEFAULT_MAX_WORKLOAD_API_STREAMS,
  MAX_JWT_AUDIENCES,
  MAX_WORKLOAD_API_REQUEST_BYTES,
  type WorkloadApiServer,
  type WorkloadApiServerOptions,
} from './server.js';
export {
  type JWTBundlesRequest,
  JWTBundlesRequestSchema,
  type JWTBundlesResponse,
  JWTBundlesResponseSchema,
  type JWTSVID,
  type JWTSVIDRequest,
  JWTSVIDRequestSchema,
  type JWTSVIDResponse,
  JWTSVIDResponseSchema,
  SECURITY_HEADER_KEY,
  SECURITY_HEADER_VALUE,
  SPIFFE_ENDPOINT_SOCKET,
  spiffeWorkloadApiService,
  type ValidateJWTSVIDRequest,
  ValidateJWTSVIDRequestSchema,
  type ValidateJWTSVIDResponse,
  ValidateJWTSVIDResponseSchema,
  WORKLOAD_API_METHODS,
  type WorkloadApiMethods,
  type X509BundlesRequest,
  X509BundlesRequestSchema,
  type X509BundlesResponse,
  X509BundlesResponseSchema,
  type X509SVID,
  type X509SVIDRequest,
  X509SVIDRequestSchema,
  type X509SVIDResponse,
  X509SVIDResponseSchema,
} from './service.js';
export { isTerminalWorkloadApiError, WORKLOAD_API_STATUS_CODES, workloadApiCallError } from './status.js';
export { DEFAULT_WATCH_BACKOFF, type Watch, type WatchOptions } from './watch.js';
export {
  decodeX509SvidResponse,
  encodeX509SvidResponse,
  MAX_HINT_BYTES,
  MAX_SVIDS_PER_RESPONSE,
  type ServedX509Svid,
  type WorkloadX509Svid,
  type X509Context,
} from './x509-context.js';
export { createX509Source, type X509Source, type X509SourceOptions } from './x509-source.js';
