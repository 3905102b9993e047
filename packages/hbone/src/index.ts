/**
 * `@ambient-kit/hbone`: HBONE tunnels for Node.js, wire-compatible with Istio ztunnel. HTTP/2 CONNECT over
 * SPIFFE mTLS on `node:tls`, with its own HTTP/2 framing (`docs/hbone.md` "Design"): a client with ztunnel's
 * connection pool, a server with ztunnel's inbound checks, double HBONE, PROXY protocol v2, and telemetry
 * through `node:diagnostics_channel`. The pure wire codec is `@ambient-kit/hbone/codec`.
 * @module
 */
export {
  createHboneClient,
  type HboneClient,
  type HboneClientOptions,
  type HboneConnectOptions,
} from './client.js';
export type { HboneClock } from './clock.js';
export type { HboneAddress } from './codec/authority.js';
export type { Baggage, WorkloadType } from './codec/baggage.js';
export type { ConnectRequest } from './codec/connect-request.js';
export {
  codeForStatus,
  HBONE_ERROR_CODES,
  HboneError,
  type HboneErrorCode,
  statusForCode,
} from './codec/errors.js';
export type { Forwarded } from './codec/forwarded.js';
export type { ProxyV2Header } from './codec/proxy-v2.js';
export type { TraceParent } from './codec/traceparent.js';
export type { HboneSocketFactory, HboneSocketRequest } from './connect-socket.js';
export type { ConnectUpstream, HboneAuthorize, HboneRequestContext, HostnameResolver } from './context.js';
export { HBONE_DEFAULTS } from './defaults.js';
export {
  HBONE_CHANNELS,
  type HboneConnectionClosedEvent,
  type HboneConnectionEvent,
  type HboneConnectionRejectedEvent,
  type HboneDirection,
  type HboneStreamClosedEvent,
  type HboneStreamEvent,
  type HboneStreamFailedEvent,
} from './diagnostics.js';
export { createDuplexPair, PairEnd } from './duplex-pair.js';
export type { HboneStream } from './hbone-stream.js';
export type { HbonePool, HbonePoolConnectionInfo, HbonePoolKey, HbonePoolStats } from './pool.js';
export { type ReadProxyV2Options, readProxyV2Header } from './read-proxy-v2.js';
export {
  createHboneServer,
  type HboneListenOptions,
  type HboneServer,
  type HboneServerOptions,
  type HboneServerStats,
} from './server.js';
export { type SpliceCounters, splice } from './splice.js';
export type { SvidInput } from './tls.js';
export { type TcpUpstreamOptions, tcpUpstream } from './upstream.js';
