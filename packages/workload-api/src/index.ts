/**
 * `@ambient-kit/workload-api`: the Node runtime. A store of the mesh fed by delta updates and indexed as
 * ztunnel indexes it, ztunnel's upstream choice, and its `/config_dump` shape. The models and the pure
 * decode layer are re-exported from `./codec`; the delta xDS client and server live in `./xds`.
 *
 * @example
 * ```ts
 * import { createWorkloadStore, createWorkload, createService, seededRandom } from '@ambient-kit/workload-api';
 *
 * const store = createWorkloadStore();
 * store.apply({ resources: [createService({ namespace: 'default', hostname: 'echo.default.svc.cluster.local',
 *   vips: [{ network: '', address: '10.96.0.10' }], ports: [{ servicePort: 80, targetPort: 8080, appProtocol: 'UNKNOWN' }] })] });
 * const up = store.resolveUpstream({ source: sleep, destination: '10.96.0.10:80', random: seededRandom(1) });
 * ```
 * @module
 */
export * from './codec/index.js';
export { type ConfigDump, type ConfigDumpOptions, configDump } from './config-dump.js';
export {
  type ChosenEndpoint,
  chooseEndpoint,
  type EndpointSource,
  type ServiceResolutionMode,
} from './resolve/load-balance.js';
export { chooseWeighted, type RandomSource, seededRandom } from './resolve/random.js';
export {
  resolveUpstream,
  type Upstream,
  type UpstreamProtocol,
  type UpstreamRequest,
  type UpstreamSource,
  type UpstreamVia,
} from './resolve/resolve-upstream.js';
export type { Endpoint, ServiceMembers } from './store/service-index.js';
export type { WorkloadInfo } from './store/workload-index.js';
export {
  createWorkloadStore,
  type RemovedRef,
  type StoreChange,
  type StoreChanges,
  type StoreDelta,
  type StoreStats,
  type WorkloadStore,
  type WorkloadStoreEvents,
  type WorkloadStoreOptions,
} from './store/workload-store.js';
