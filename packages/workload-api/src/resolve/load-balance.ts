/**
 * Endpoint choice for a service, ztunnel's `load_balance` and `find_upstream_from_service`
 * (istio/ztunnel@62d82653:src/state.rs:335-509).
 * @module
 */
import type { Service } from '../codec/service.js';
import type { Workload } from '../codec/workload.js';
import { type Endpoint, isPlainDraw, type ServiceMembers, serviceMembers } from '../store/service-index.js';
import type { RandomSource } from './random.js';

/** `Standard` resolves a service the client addressed; `Waypoint` resolves a waypoint's own service. */
export type ServiceResolutionMode = 'Standard' | 'Waypoint';

/** What endpoint choice needs from the store. */
export interface EndpointSource {
  workload(uid: string): Workload | undefined;
  endpoints(serviceKey: string): ReadonlyMap<string, Endpoint>;
  /** Optional fast path: the endpoints as arrays with their workloads resolved (see the store's). */
  members?(serviceKey: string): ServiceMembers | undefined;
}

/** An endpoint picked for a service port, with the port to connect to. */
export interface ChosenEndpoint {
  readonly workload: Workload;
  readonly endpoint: Endpoint;
  /** The workload port for the requested service port. */
  readonly targetPort: number;
}

const scratchEp: (Endpoint | undefined)[] = [];
const scratchWl: (Workload | undefined)[] = [];

/**
 * The target port a port list maps `servicePort` to.
 *
 * @param ports - Service or endpoint port mappings.
 * @param servicePort - The service port.
 * @returns The target port (0 means "same as the service port" on a service), or `undefined`.
 * @example
 * ```ts
 * portOf([{ servicePort: 80, targetPort: 8080 }], 80); // 8080
 * ```
 */
export function portOf(
  ports: readonly { servicePort: number; targetPort: number }[],
  servicePort: number,
): number | undefined {
  for (const p of ports) if (p.servicePort === servicePort) return p.targetPort;
  return undefined;
}

function scopeMatches(scope: string, src: Workload, wl: Workload): boolean {
  switch (scope) {
    case 'Region':
      return src.locality.region === wl.locality.region;
    case 'Zone':
      return src.locality.zone === wl.locality.zone;
    case 'Subzone':
      return src.locality.subzone === wl.locality.subzone;
    case 'Node':
      return src.node === wl.node;
    case 'Cluster':
      return src.clusterId === wl.clusterId;
    default:
      return src.network === wl.network;
  }
}

/**
 * Picks one endpoint of a service for a client, then the port to use.
 *
 * 1. Standard mode needs the port on the service. Endpoints are skipped when their workload is unknown;
 *    when it has no IP and no hostname (unless it is on another network behind a network gateway); in
 *    Standard mode when the service maps the port to 0 and the endpoint has no mapping of its own; in
 *    Waypoint mode when the port is not on the service and the workload has no application tunnel.
 * 2. With a STRICT/FAILOVER/PASSTHROUGH load balancer, endpoints are ranked by consecutive matching
 *    routing preferences (a leading NETWORK scope skips on mismatch and adds `len - 1` on match); STRICT
 *    drops endpoints that do not match all of them; only the best rank is kept.
 * 3. One is drawn at random weighted by workload capacity.
 * 4. Target port: the endpoint's own mapping, else the service's non-zero target port, else the service
 *    port when the workload has an application tunnel with a port; otherwise there is no upstream.
 *
 * @param source - Where endpoints and workloads come from.
 * @param client - The workload making the connection.
 * @param service - The service.
 * @param servicePort - The port the client dialled.
 * @param mode - Standard or Waypoint resolution.
 * @param random - Random source for the weighted draw.
 * @returns The choice, or `undefined` when no endpoint qualifies.
 * @example
 * ```ts
 * chooseEndpoint(store, client, store.service('default/echo.default.svc.cluster.local')!, 80, 'Standard', seededRandom(1));
 * ```
 */
export function chooseEndpoint(
  source: EndpointSource,
  client: Workload,
  service: Service,
  servicePort: number,
  mode: ServiceResolutionMode,
  random: RandomSource,
): ChosenEndpoint | undefined {
  const svcTarget = portOf(service.ports, servicePort);
  if (mode === 'Standard' && svcTarget === undefined) return undefined;

  const members =
    source.members?.(service.key) ??
    serviceMembers(source.endpoints(service.key).values(), (uid) => source.workload(uid));
  const sums = mode === 'Standard' ? plainDrawSums(members, service, svcTarget) : undefined;
  if (sums !== undefined) {
    // Every endpoint qualifies: draw over the precomputed sums and read only the chosen endpoint (no
    // cache miss per endpoint of a large service).
    const i = drawCumulative(sums, random);
    return i < 0
      ? undefined
      : withPort(members.endpoints[i] as Endpoint, members.workloads[i] as Workload, servicePort, svcTarget);
  }
  const lb = service.loadBalancer;
  // Qualifying endpoints go to module-level scratch arrays: this runs on every connection, and the
  // store is single-threaded, so nothing is allocated per candidate.
  let n = 0;
  let total = 0;
  const eps = members.endpoints;
  for (let i = 0; i < eps.length; i++) {
    const ep = eps[i] as Endpoint;
    const wl = members.workloads[i];
    if (wl === undefined) continue;
    if (wl.workloadIps.length === 0 && wl.hostname === '') {
      // Only reachable through a network gateway, and only from another network: WDS is client-agnostic
      // and sends the gateway even to same-network clients, who must not use it.
      if (wl.network === client.network || wl.networkGateway === undefined) continue;
    }
    if (mode === 'Standard') {
      if ((svcTarget ?? 0) === 0 && portOf(ep.ports, servicePort) === undefined) continue;
    } else if (svcTarget === undefined && wl.applicationTunnel === undefined) {
      continue;
    }
    scratchEp[n] = ep;
    scratchWl[n] = wl;
    total += wl.capacity;
    n++;
  }

  const filled = n;
  if (lb !== undefined && lb.mode !== 'Standard' && n > 0) {
    const prefs = lb.routingPreferences;
    const networkFirst = prefs[0] === 'Network';
    let max = -1;
    let kept = 0;
    for (let i = 0; i < n; i++) {
      const wl = scratchWl[i] as Workload;
      let rank = 0;
      let adjust = 0;
      for (const scope of prefs) {
        const matches = scopeMatches(scope, client, wl);
        if (scope === 'Network' && networkFirst) {
          // A leading NETWORK preference outranks every other scope: ranks for [NETWORK, REGION, ZONE]
          // run 5..0 (state.rs:442-449). A mismatch tries the remaining scopes.
          if (!matches) continue;
          adjust = prefs.length - 1;
        }
        if (!matches) break;
        rank++;
      }
      if (lb.mode === 'Strict' && rank !== prefs.length) continue;
      rank += adjust;
      // Keep only the best rank seen so far, compacting in place.
      if (rank > max) {
        max = rank;
        kept = 0;
        total = 0;
      }
      if (rank === max) {
        scratchEp[kept] = scratchEp[i] as Endpoint;
        scratchWl[kept] = wl;
        total += wl.capacity;
        kept++;
      }
    }
    n = kept;
  }
  if (n === 0 || !(total > 0)) {
    scratchEp.fill(undefined, 0, filled);
    scratchWl.fill(undefined, 0, filled);
    return undefined;
  }
  // Capacity-weighted draw over cumulative weights, as rand's `choose_weighted` (capacity 0 never wins).
  const x = random() * total;
  let pickedIndex = -1;
  let cumulative = 0;
  for (let i = 0; i < n; i++) {
    const c = (scratchWl[i] as Workload).capacity;
    cumulative += c;
    if (c > 0) pickedIndex = i;
    if (x < cumulative) break;
  }
  const picked = { ep: scratchEp[pickedIndex] as Endpoint, wl: scratchWl[pickedIndex] as Workload };
  scratchEp.fill(undefined, 0, filled);
  scratchWl.fill(undefined, 0, filled);

  return withPort(picked.ep, picked.wl, servicePort, svcTarget);
}

/**
 * The capacity sums to draw over when Standard-mode endpoint choice for a port is a plain
 * capacity-weighted draw, which gives the same result as the general loop of {@link chooseEndpoint}:
 * every workload is addressable (the sums exist), the service has no ranking load balancer and maps the
 * port to a non-zero target, so every endpoint qualifies. Shared by `chooseEndpoint` and the store's
 * per-connection path, which must draw alike.
 *
 * @param members - The service's endpoints and workloads.
 * @param service - The service.
 * @param svcTarget - The service's target port for the dialled port (`portOf(service.ports, port)`).
 * @returns `members.cumulativeCapacity` when the draw is plain, else `undefined` (nothing may be drawn).
 * @example
 * ```ts
 * const sums = plainDrawSums(members, svc, portOf(svc.ports, 80));
 * if (sums !== undefined) drawCumulative(sums, seededRandom(1)); // an index into members.endpoints
 * ```
 */
export function plainDrawSums(
  members: ServiceMembers,
  service: Service,
  svcTarget: number | undefined,
): readonly number[] | undefined {
  return svcTarget !== undefined && svcTarget !== 0 && isPlainDraw(service)
    ? members.cumulativeCapacity
    : undefined;
}

/**
 * Step 4 of {@link chooseEndpoint}: the target port for the picked endpoint, or no upstream when
 * nothing maps the port.
 *
 * @param ep - The endpoint.
 * @param wl - Its workload.
 * @param servicePort - The port the client dialled.
 * @param svcTarget - The service's target port for it, if the service has the port.
 * @returns The choice with its port, or `undefined`.
 * @example
 * ```ts
 * withPort(ep, wl, 80, 8080)?.targetPort; // 8080
 * ```
 */
export function withPort(
  ep: Endpoint,
  wl: Workload,
  servicePort: number,
  svcTarget: number | undefined,
): ChosenEndpoint | undefined {
  const own = portOf(ep.ports, servicePort);
  let targetPort: number;
  if (own !== undefined) targetPort = own;
  else if ((svcTarget ?? 0) > 0) targetPort = svcTarget as number;
  else if (wl.applicationTunnel?.port !== undefined) targetPort = servicePort;
  else return undefined;
  return { workload: wl, endpoint: ep, targetPort };
}

/**
 * A capacity-weighted draw over running sums, as rand's `choose_weighted`: the first index whose sum
 * exceeds `random() * total`; `-1` when the total is not positive. Draws exactly once when it is.
 *
 * @param cumulative - Running sums of the capacities.
 * @param random - Random source.
 * @returns The drawn index, or `-1`.
 * @example
 * ```ts
 * drawCumulative([1, 1, 3], () => 0.5); // 2
 * ```
 */
export function drawCumulative(cumulative: readonly number[], random: RandomSource): number {
  const n = cumulative.length;
  const total = n === 0 ? 0 : (cumulative[n - 1] as number);
  if (!(total > 0)) return -1;
  const x = random() * total;
  let lo = 0;
  let hi = n - 1;
  if (!(x < total)) {
    // Floating-point rounding at the very top: the last endpoint with a non-zero capacity.
    while (hi > 0 && cumulative[hi] === cumulative[hi - 1]) hi--;
    return hi;
  }
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if (x < (cumulative[mid] as number)) hi = mid;
    else lo = mid + 1;
  }
  return lo;
}
