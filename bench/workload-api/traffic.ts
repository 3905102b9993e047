/**
 * Outbound connections over the realistic mesh (./mesh.ts), for the `resolveUpstream` rows: 1,024 source
 * pods, 4,096 destination services, both address families and both ports, and one list per destination
 * kind plus the realistic mix, each a fixed pseudo-random sequence of (source, destination) pairs long
 * enough that no source or destination stays hot in a cache.
 * @module
 */
import {
  type RandomSource,
  seededRandom,
  type UpstreamRequest,
  type Workload,
  type WorkloadStore,
} from '@ambient-kit/workload-api';
import { pod4, pod6, type RealisticMesh, vip4, vip6 } from './mesh.js';

/** Connections per list (a power of two). */
export const CONNECTIONS: number = 1 << 16;
const SOURCES = 1024;
const DESTINATION_SERVICES = 4096;

/** The destination kinds with their own rows, and the share of each in the realistic mix. */
export const KINDS: {
  readonly 'service VIP': 0.6;
  readonly 'waypoint-fronted service': 0.05;
  readonly 'pod IP': 0.2;
  readonly 'passthrough (unknown address)': 0.1;
  readonly 'error: no healthy upstream': 0.03;
  readonly 'error: not ip:port': 0.01;
  readonly 'error: self call': 0.01;
} = {
  'service VIP': 0.6,
  'waypoint-fronted service': 0.05,
  'pod IP': 0.2,
  'passthrough (unknown address)': 0.1,
  'error: no healthy upstream': 0.03,
  'error: not ip:port': 0.01,
  'error: self call': 0.01,
} as const;
export type Kind = keyof typeof KINDS;

/**
 * The request lists.
 *
 * @example
 * ```ts
 * const lists = trafficLists(mesh, store, seededRandom(7));
 * for (const req of lists['pod IP']) store.resolveUpstream(req);
 * ```
 */
export function trafficLists(
  mesh: RealisticMesh,
  store: WorkloadStore,
  random: RandomSource,
): Record<Kind | 'realistic mix', readonly UpstreamRequest[]> {
  // The lists come from their own generator, so they are the same in every run; `random` is for the draws.
  const rng = seededRandom(1015);
  const pick = <T>(list: readonly T[]): T => list[Math.floor(rng() * list.length)] as T;
  const workloadAt = (i: number): Workload => store.workloadByAddress(pod4(i)) as Workload;
  const sources = Array.from({ length: SOURCES }, () => workloadAt(pick(mesh.pods)));
  const services = Array.from({ length: DESTINATION_SERVICES }, () => pick(mesh.plainServices));
  const port = (): number => (rng() < 0.5 ? 80 : 443);
  const v6 = (): boolean => rng() < 0.5;
  const destination: Record<Kind, () => string> = {
    'service VIP': () => {
      const s = pick(services);
      return v6() ? `[${vip6(s)}]:${port()}` : `${vip4(s)}:${port()}`;
    },
    'waypoint-fronted service': () => {
      const s = pick(mesh.waypointServices);
      return v6() ? `[${vip6(s)}]:${port()}` : `${vip4(s)}:${port()}`;
    },
    'pod IP': () => {
      const i = pick(mesh.pods);
      const p = rng() < 0.5 ? 8080 : 8443;
      return v6() ? `[${pod6(i)}]:${p}` : `${pod4(i)}:${p}`;
    },
    'passthrough (unknown address)': () => {
      const n = Math.floor(rng() * 65536);
      return v6() ? `[2001:db8::${n.toString(16)}]:443` : `192.168.${n >> 8}.${n & 255}:443`;
    },
    'error: no healthy upstream': () => {
      const s = pick(mesh.emptyServices);
      return v6() ? `[${vip6(s)}]:${port()}` : `${vip4(s)}:${port()}`;
    },
    'error: not ip:port': () => `${pick(services)}.example:80`,
    'error: self call': () => (v6() ? '[::1]:15008' : '127.0.0.1:15001'),
  };
  const request = (kind: Kind): UpstreamRequest => ({
    source: pick(sources),
    destination: destination[kind](),
    random,
  });
  const lists = {} as Record<Kind | 'realistic mix', readonly UpstreamRequest[]>;
  const kinds = Object.keys(KINDS) as Kind[];
  for (const kind of kinds) lists[kind] = Array.from({ length: CONNECTIONS }, () => request(kind));
  lists['realistic mix'] = Array.from({ length: CONNECTIONS }, () => {
    let x = rng();
    for (const kind of kinds) {
      x -= KINDS[kind];
      if (x < 0) return request(kind);
    }
    return request('service VIP');
  });
  return lists;
}
