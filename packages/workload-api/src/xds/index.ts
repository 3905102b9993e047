/**
 * `@ambient-kit/workload-api/xds`: both ends of the delta xDS stream on @grpc/grpc-js, an optional peer
 * dependency needed only by this entry point (`npm install @grpc/grpc-js`). A client that keeps a store in
 * sync with istiod as ztunnel does, and a server that serves a store to any number of ztunnel-like
 * clients. Their events are on the `ambient-kit:workload-api:*` diagnostics channels. The file source of
 * an embedded control plane (`watchMeshFile`) is in `@ambient-kit/control-plane`.
 *
 * @example
 * ```ts
 * import { createWorkloadStore } from '@ambient-kit/workload-api';
 * import { createXdsClient, createXdsServer } from '@ambient-kit/workload-api/xds';
 *
 * const meshStore = createWorkloadStore();
 * const server = createXdsServer({ store: meshStore });
 * const port = await server.listen('127.0.0.1:0');
 *
 * const proxyStore = createWorkloadStore();
 * const client = createXdsClient({ address: `127.0.0.1:${port}`, store: proxyStore });
 * await client.ready();
 * ```
 * @module
 */
export { aggregatedDiscoveryService, DELTA_ADS_PATH, deltaAdsMethod } from './ads-service.js';
export {
  createXdsClient,
  type RejectedResource,
  type XdsClient,
  type XdsClientEvents,
  type XdsClientOptions,
  type XdsMetadataSource,
} from './client.js';
export { bearerFromFile, type XdsTlsOptions, xdsTlsCredentials, xdsTlsServerName } from './credentials.js';
export {
  encodeDeltaResponse,
  encodeResource,
  readDeltaResponse,
  type WireResource,
  type WireResponse,
} from './delta-wire.js';
export {
  type ListenerErrorEvent,
  WORKLOAD_API_CHANNELS,
  type XdsClientAckEvent,
  type XdsClientConnectedEvent,
  type XdsClientConnectFailedEvent,
  type XdsClientDisconnectedEvent,
  type XdsClientNackEvent,
  type XdsClientReconnectingEvent,
  type XdsServerAckEvent,
  type XdsServerConnectedEvent,
  type XdsServerDisconnectedEvent,
  type XdsServerNackEvent,
  type XdsServerPushEvent,
  type XdsServerUnservedTypeEvent,
} from './diagnostics.js';
export { type ZtunnelNodeOptions, ztunnelNode, ztunnelNodeFromEnv } from './node.js';
export {
  createXdsServer,
  type XdsServer,
  type XdsServerClient,
  type XdsServerOptions,
} from './server.js';
