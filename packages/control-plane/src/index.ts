/**
 * `@ambient-kit/control-plane`: istiod's role for an ambient mesh, as a library. A mesh file (ztunnel's
 * local config plus Kubernetes AuthorizationPolicies) is parsed, translated as istiod translates it,
 * applied to a `@ambient-kit/workload-api` store and watched; serve that store with
 * `@ambient-kit/workload-api/xds` `createXdsServer` and ztunnels (or `createXdsClient`) follow every edit
 * over delta xDS. Everything in `./codec` is re-exported.
 *
 * @example
 * ```ts
 * import { watchMeshFile } from '@ambient-kit/control-plane';
 * import { createWorkloadStore } from '@ambient-kit/workload-api';
 * import { createXdsServer } from '@ambient-kit/workload-api/xds';
 *
 * const store = createWorkloadStore();
 * const file = await watchMeshFile({ path: 'mesh.yaml', store });
 * file.on('error', (e) => console.warn(e.message));
 * await createXdsServer({ store }).listen('127.0.0.1:15010');
 * ```
 * @module
 */
export * from './codec/index.js';
export {
  type CallbackErrorEvent,
  CONTROL_PLANE_CHANNELS,
  type MeshFileErrorEvent,
  type MeshFileLoadedEvent,
} from './diagnostics.js';
export {
  loadMeshFile,
  type MeshFileEvents,
  type MeshFileWatcher,
  type WatchMeshFileOptions,
  watchMeshFile,
} from './mesh-file-watcher.js';
