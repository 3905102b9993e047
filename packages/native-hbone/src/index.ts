/**
 * `@ambient-kit/native-hbone`: a Node app as its own Istio ambient mesh endpoint (a `native_tunnel`
 * workload, workload.proto field 14). Outbound, an undici `Dispatcher` and a `node:http` `Agent` that
 * resolve destinations through a workload-api store, choose endpoints and waypoints as ztunnel does, and
 * open HBONE with the app's SVID; inbound, a server that accepts HBONE on 15008, applies L4 policy, and
 * hands each tunnel to the app's `http`, `http2` or gRPC server. Guide: docs/native-hbone.md.
 * @module
 */
export { createMeshAgent, type MeshAgentOptions, type MeshHttpAgent } from './agent.js';
export { createMeshDispatcher, type MeshDispatcher, type MeshDispatcherOptions } from './dispatcher.js';
export {
  fromHboneError,
  NATIVE_HBONE_ERROR_CODES,
  NativeHboneError,
  type NativeHboneErrorCode,
  type NativeHboneErrorTarget,
} from './errors.js';
export {
  createMeshConnector,
  type MeshClientOptions,
  type MeshConnection,
  type MeshConnector,
  type MeshHboneOptions,
  type OutsideMeshMode,
} from './mesh-connector.js';
export { getPeer, type MeshPeer } from './peer.js';
export {
  createMeshServer,
  type GrpcServerLike,
  type MeshHboneServerOptions,
  type MeshServer,
  type MeshServerOptions,
  type MeshTunnelEvent,
} from './server.js';
export { baggageOf } from './workload-baggage.js';
