/**
 * The `SpiffeWorkloadAPI` gRPC service (spiffe/go-spiffe@e9973f63:proto/spiffe/workload/workload.proto) as
 * @grpc/grpc-js method definitions with protobuf-es (de)serializers, and the security header every call
 * carries. Both ends use them: {@link createWorkloadApiClient} and {@link createWorkloadApiServer}.
 * @module
 */
import { type DescMessage, fromBinary, type MessageShape, toBinary } from '@bufbuild/protobuf';
import type { MethodDefinition, ServiceDefinition } from '@grpc/grpc-js';
import type {
  JWTBundlesRequest,
  JWTBundlesResponse,
  JWTSVIDRequest,
  JWTSVIDResponse,
  ValidateJWTSVIDRequest,
  ValidateJWTSVIDResponse,
  WITBundlesRequest,
  WITBundlesResponse,
  WITSVIDRequest,
  WITSVIDResponse,
  X509BundlesRequest,
  X509BundlesResponse,
  X509SVIDRequest,
  X509SVIDResponse,
} from '../gen/spiffe/workload/workload_pb.js';
import {
  JWTBundlesRequestSchema,
  JWTBundlesResponseSchema,
  JWTSVIDRequestSchema,
  JWTSVIDResponseSchema,
  ValidateJWTSVIDRequestSchema,
  ValidateJWTSVIDResponseSchema,
  WITBundlesRequestSchema,
  WITBundlesResponseSchema,
  WITSVIDRequestSchema,
  WITSVIDResponseSchema,
  X509BundlesRequestSchema,
  X509BundlesResponseSchema,
  X509SVIDRequestSchema,
  X509SVIDResponseSchema,
} from '../gen/spiffe/workload/workload_pb.js';

export type {
  JWTBundlesRequest,
  JWTBundlesResponse,
  JWTSVID,
  JWTSVIDRequest,
  JWTSVIDResponse,
  ValidateJWTSVIDRequest,
  ValidateJWTSVIDResponse,
  X509BundlesRequest,
  X509BundlesResponse,
  X509SVID,
  X509SVIDRequest,
  X509SVIDResponse,
} from '../gen/spiffe/workload/workload_pb.js';
export {
  JWTBundlesRequestSchema,
  JWTBundlesResponseSchema,
  JWTSVIDRequestSchema,
  JWTSVIDResponseSchema,
  ValidateJWTSVIDRequestSchema,
  ValidateJWTSVIDResponseSchema,
  X509BundlesRequestSchema,
  X509BundlesResponseSchema,
  X509SVIDRequestSchema,
  X509SVIDResponseSchema,
};

/**
 * The security header's metadata key. Every request carries it with the value {@link SECURITY_HEADER_VALUE}
 * (spiffe/spiffe@665a28f3:standards/SPIFFE_Workload_Endpoint.md, section 3: a guard against server-side
 * request forgery, since an attacker who can only make a process send an HTTP request cannot add it).
 *
 * @example
 * ```ts
 * metadata.set(SECURITY_HEADER_KEY, SECURITY_HEADER_VALUE);
 * ```
 */
export const SECURITY_HEADER_KEY = 'workload.spiffe.io';

/**
 * The security header's value: exactly `true`, case-sensitive.
 *
 * @example
 * ```ts
 * call.metadata.get(SECURITY_HEADER_KEY); // ['true']
 * ```
 */
export const SECURITY_HEADER_VALUE = 'true';

/** The environment variable a client falls back to for the endpoint (SPIFFE_Workload_Endpoint.md, section 4). */
export const SPIFFE_ENDPOINT_SOCKET = 'SPIFFE_ENDPOINT_SOCKET';

// The upstream file declares no package, so the service's full name is just `SpiffeWorkloadAPI`.
const SERVICE = '/SpiffeWorkloadAPI/';

function method<I extends DescMessage, O extends DescMessage>(
  name: string,
  input: I,
  output: O,
  responseStream: boolean,
): MethodDefinition<MessageShape<I>, MessageShape<O>> {
  return {
    path: `${SERVICE}${name}`,
    requestStream: false,
    responseStream,
    requestSerialize: (m) => Buffer.from(toBinary(input, m)),
    requestDeserialize: (b) => fromBinary(input, b),
    responseSerialize: (m) => Buffer.from(toBinary(output, m)),
    responseDeserialize: (b) => fromBinary(output, b),
    originalName: name.charAt(0).toLowerCase() + name.slice(1),
  };
}

/** The methods of `SpiffeWorkloadAPI`, by their proto names. */
export interface WorkloadApiMethods {
  readonly FetchX509SVID: MethodDefinition<X509SVIDRequest, X509SVIDResponse>;
  readonly FetchX509Bundles: MethodDefinition<X509BundlesRequest, X509BundlesResponse>;
  readonly FetchJWTSVID: MethodDefinition<JWTSVIDRequest, JWTSVIDResponse>;
  readonly FetchJWTBundles: MethodDefinition<JWTBundlesRequest, JWTBundlesResponse>;
  readonly ValidateJWTSVID: MethodDefinition<ValidateJWTSVIDRequest, ValidateJWTSVIDResponse>;
  readonly FetchWITSVID: MethodDefinition<WITSVIDRequest, WITSVIDResponse>;
  readonly FetchWITBundles: MethodDefinition<WITBundlesRequest, WITBundlesResponse>;
}

/**
 * Every method of `SpiffeWorkloadAPI` as a grpc-js method definition (for `Client.makeUnaryRequest`,
 * `makeServerStreamRequest` and `Server.addService`). The WIT-SVID methods are there so a server can answer
 * them, with UNIMPLEMENTED.
 *
 * @example
 * ```ts
 * WORKLOAD_API_METHODS.FetchX509SVID.path; // '/SpiffeWorkloadAPI/FetchX509SVID'
 * ```
 */
export const WORKLOAD_API_METHODS: WorkloadApiMethods = Object.freeze({
  FetchX509SVID: method('FetchX509SVID', X509SVIDRequestSchema, X509SVIDResponseSchema, true),
  FetchX509Bundles: method('FetchX509Bundles', X509BundlesRequestSchema, X509BundlesResponseSchema, true),
  FetchJWTSVID: method('FetchJWTSVID', JWTSVIDRequestSchema, JWTSVIDResponseSchema, false),
  FetchJWTBundles: method('FetchJWTBundles', JWTBundlesRequestSchema, JWTBundlesResponseSchema, true),
  ValidateJWTSVID: method(
    'ValidateJWTSVID',
    ValidateJWTSVIDRequestSchema,
    ValidateJWTSVIDResponseSchema,
    false,
  ),
  FetchWITSVID: method('FetchWITSVID', WITSVIDRequestSchema, WITSVIDResponseSchema, true),
  FetchWITBundles: method('FetchWITBundles', WITBundlesRequestSchema, WITBundlesResponseSchema, true),
});

/**
 * The service definition to `addService` on a grpc-js `Server`.
 *
 * @example
 * ```ts
 * grpcServer.addService(spiffeWorkloadApiService, handlers);
 * ```
 */
export const spiffeWorkloadApiService: ServiceDefinition =
  WORKLOAD_API_METHODS as unknown as ServiceDefinition;
