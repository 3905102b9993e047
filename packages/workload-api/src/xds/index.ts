/**
 * `@ambient-kit/workload-api/xds`: both ends of the delta xDS stream on @grpc/grpc-js. A client that keeps
 * a store in sync with istiod as ztunnel does, a server that serves a store to any number of ztunnel-like
 * clients, and a file source (ztunnel's `LOCAL_XDS_PATH` shape plus Kubernetes AuthorizationPolicies)
 * for an embedded control plane.
 *
 * @example
 * ```ts
 * import { createWorkloadStore } from '@ambient-kit/workload-api';
 * import { createXdsClient, createXdsServer, watchMeshFile } from '@ambient-kit/workload-api/xds';
 *
 * const meshStore = createWorkloadStore();
 * await watchMeshFile({ path: 'mesh.yaml', store: meshStore });
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
} from './client.js';
export {
  loadMeshFile,
  type MeshFileContents,
  type MeshFileEvents,
  type MeshFileOptions,
  type MeshFileWatcher,
  parseMeshFile,
  type SkippedPolicy,
  type WatchMeshFileOptions,
  watchMeshFile,
} from './mesh-file.js';
export { type ZtunnelNodeOptions, ztunnelNode, ztunnelNodeFromEnv } from './node.js';
export {
  createXdsServer,
  type XdsServer,
  type XdsServerClient,
  type XdsServerEvents,
  type XdsServerOptions,
} from './server.js';
