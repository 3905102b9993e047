/**
 * Service indexes as ztunnel's `ServiceStore` keeps them (istio/ztunnel@62d82653:src/state/service.rs:437-907): by
 * hostname (one service per namespace), by VIP, by CIDR VIP (longest prefix, checked when the
 * exact VIP misses), endpoints per service, and endpoints staged while their service has not arrived.
 * @module
 */
import { type CompiledPrefix, compilePrefix, type IpAddress, parseIp, prefixContains } from '@ambient-kit/ip';
import type { PortMapping } from '../codec/network.js';
import type { Service } from '../codec/service.js';
import type { HealthStatus, Workload } from '../codec/workload.js';
import type { AddressIndex, AddressSlot } from './address-table.js';

/** One workload behind a service (ztunnel `Endpoint`). */
export interface Endpoint {
  /** The backing workload. */
  readonly workloadUid: string;
  /** The workload's own service port -> target port mapping for this service. */
  readonly ports: readonly PortMapping[];
  /** The workload's health when the endpoint was recorded. */
  readonly status: HealthStatus;
}

/** The endpoints of a service as arrays, with each endpoint's workload resolved. */
export interface ServiceMembers {
  readonly endpoints: readonly Endpoint[];
  readonly workloads: readonly (Workload | undefined)[];
  /**
   * Running sums of the workloads' capacities, present when every workload is known and has an IP or a
   * hostname: then a plain capacity-weighted pick needs no per-endpoint checks (see `chooseEndpoint`).
   */
  readonly cumulativeCapacity: readonly number[] | undefined;
}

/**
 * Builds {@link ServiceMembers} for a service's endpoints.
 *
 * @param endpoints - The service's endpoints.
 * @param workload - Looks a workload up by uid.
 * @returns The arrays, with the capacity sums when they apply.
 * @example
 * ```ts
 * serviceMembers(entry.endpoints.values(), (uid) => store.workload(uid));
 * ```
 */
export function serviceMembers(
  endpoints: Iterable<Endpoint>,
  workload: (uid: string) => Workload | undefined,
): ServiceMembers {
  const eps = [...endpoints];
  const wls = eps.map((ep) => workload(ep.workloadUid));
  // A plain array of doubles: one object, no separate backing store to miss in cache.
  let cumulative: number[] | undefined = [];
  let sum = 0;
  for (let i = 0; i < wls.length; i++) {
    const wl = wls[i];
    if (wl === undefined || (wl.workloadIps.length === 0 && wl.hostname === '')) {
      cumulative = undefined;
      break;
    }
    sum += wl.capacity;
    cumulative.push(sum);
  }
  return { endpoints: eps, workloads: wls, cumulativeCapacity: cumulative };
}

/** A service and its current endpoints. */
export interface ServiceEntry {
  readonly service: Service;
  readonly endpoints: Map<string, Endpoint>;
  /**
   * Cached {@link ServiceMembers} for endpoint choice; cleared whenever `endpoints` changes. A workload
   * never changes without its endpoints being re-applied, so the resolved workloads stay current.
   */
  members: ServiceMembers | undefined;
  /**
   * State `resolveUpstream` keeps for the current `members`, as pairs of its key (a number) and its state
   * (opaque here); cleared together with `members`, whose indexes it follows.
   */
  memos: unknown[] | undefined;
  // Copies of service fields that the per-connection path reads, so that path touches this entry and not
  // the service object (a cache miss on a large mesh). The service is immutable, so they never go stale.
  /** `service.namespace`. */
  readonly namespace: string;
  /** `service.visibility === 'Namespace'`. */
  readonly namespaceOnly: boolean;
  /** Whether the service has a waypoint or weighted waypoints. */
  readonly hasWaypoint: boolean;
  /** Whether endpoint choice is a plain capacity-weighted draw (no load balancer, or mode `Standard`). */
  readonly plainDraw: boolean;
}

interface CidrEntry {
  readonly network: string;
  readonly prefix: CompiledPrefix;
  readonly length: number;
  readonly entry: ServiceEntry;
}

/**
 * ztunnel `should_include_endpoint`: keep healthy endpoints, and every endpoint when the service's
 * load balancer health policy is ALLOW_ALL.
 *
 * @example
 * ```ts
 * includesEndpoint(service, 'Unhealthy'); // true only for ALLOW_ALL services
 * ```
 */
export function includesEndpoint(service: Service, status: HealthStatus): boolean {
  return status === 'Healthy' || service.loadBalancer?.healthPolicy === 'AllowAll';
}

/**
 * Whether endpoint choice for a service is a plain capacity-weighted draw: no load balancer, or one in
 * mode `Standard` (no ranking by routing preference, no PASSTHROUGH).
 *
 * @example
 * ```ts
 * isPlainDraw(service); // false for a FAILOVER service
 * ```
 */
export function isPlainDraw(service: Service): boolean {
  return service.loadBalancer === undefined || service.loadBalancer.mode === 'Standard';
}

/**
 * ztunnel `ServiceMatch::find_best_match`: a service in the client's namespace wins at once; otherwise
 * the last `canonical` one; otherwise the first.
 *
 * @example
 * ```ts
 * bestMatch(entriesOnVip, 'default')?.service;
 * ```
 */
export function bestMatch(
  entries: readonly ServiceEntry[],
  clientNamespace: string | undefined,
): ServiceEntry | undefined {
  let first: ServiceEntry | undefined;
  let canonical: ServiceEntry | undefined;
  for (const e of entries) {
    const s = e.service;
    if (clientNamespace !== undefined) {
      if (s.namespace === clientNamespace) return e;
      // Visibility: NAMESPACE services are only seen from their own namespace (service.rs:293-295).
      if (s.visibility === 'Namespace') continue;
    }
    if (s.canonical) canonical = e;
    else if (first === undefined) first = e;
  }
  return canonical ?? first;
}

function replaceOrPush(list: ServiceEntry[], entry: ServiceEntry): void {
  const i = list.findIndex((e) => e.service.namespace === entry.service.namespace);
  if (i >= 0) list[i] = entry;
  else list.push(entry);
}

/**
 * Hostname, VIP and CIDR indexes plus per-service and staged endpoints.
 *
 * @example
 * ```ts
 * const index = new ServiceIndex(new AddressIndex());
 * index.insert(service);
 * index.bestByVip('10.96.0.10', '', 'default')?.service;
 * ```
 */
export class ServiceIndex {
  readonly byKey: Map<string, ServiceEntry> = new Map();
  readonly staged: Map<string, Map<string, Endpoint>> = new Map();
  private readonly byHost = new Map<string, ServiceEntry[]>();
  // network/ip -> services, in the slots it shares with the workload index's addresses.
  private readonly addresses: AddressIndex;
  private cidrs: CidrEntry[] = [];

  /**
   * @param addresses - The by-address slots, shared with the workload index.
   */
  constructor(addresses: AddressIndex) {
    this.addresses = addresses;
  }

  /**
   * Inserts or replaces a service. Endpoints of the service it replaces carry over and staged endpoints
   * are flushed in, each health-filtered by the new service (xds.rs insert_service_prepared,
   * service.rs insert_internal).
   */
  insert(service: Service): ServiceEntry | undefined {
    const prev = this.byKey.get(service.key);
    const endpoints = new Map<string, Endpoint>();
    if (prev !== undefined) {
      for (const [uid, ep] of prev.endpoints)
        if (includesEndpoint(service, ep.status)) endpoints.set(uid, ep);
    }
    const staged = this.staged.get(service.key);
    if (staged !== undefined) {
      for (const [uid, ep] of staged) if (includesEndpoint(service, ep.status)) endpoints.set(uid, ep);
      this.staged.delete(service.key);
    }
    if (prev !== undefined) this.unindex(prev);
    const entry: ServiceEntry = {
      service,
      endpoints,
      members: undefined,
      memos: undefined,
      namespace: service.namespace,
      namespaceOnly: service.visibility === 'Namespace',
      hasWaypoint: service.waypoint !== undefined || service.weightedWaypoints.length > 0,
      plainDraw: isPlainDraw(service),
    };
    this.byKey.set(service.key, entry);
    for (const vip of service.vips) {
      const slot = this.addresses.table(vip.network).claim(vip.address);
      const at = slot.vip;
      if (at === undefined) {
        slot.vip = { entries: [entry], only: entry };
      } else {
        replaceOrPush(at.entries, entry);
        at.only = at.entries.length === 1 ? entry : undefined;
      }
    }
    for (const c of service.cidrVips) {
      const address = parseIp(c.address);
      if (address === undefined) continue;
      const prefix = compilePrefix({ address, bits: c.length });
      this.cidrs.push({ network: c.network, prefix, length: c.length, entry });
    }
    const hosts = this.byHost.get(service.hostname);
    if (hosts === undefined) this.byHost.set(service.hostname, [entry]);
    else replaceOrPush(hosts, entry);
    return prev;
  }

  /** Removes a service (and anything staged for it); returns the removed entry. */
  remove(key: string): ServiceEntry | undefined {
    const prev = this.byKey.get(key);
    if (prev === undefined) return undefined;
    this.unindex(prev);
    this.byKey.delete(key);
    this.staged.delete(key);
    return prev;
  }

  private unindex(prev: ServiceEntry): void {
    const s = prev.service;
    const hosts = this.byHost.get(s.hostname);
    if (hosts !== undefined) {
      const rest = hosts.filter((e) => e.service.namespace !== s.namespace);
      if (rest.length === 0) this.byHost.delete(s.hostname);
      else this.byHost.set(s.hostname, rest);
    }
    for (const vip of s.vips) {
      const slot = this.addresses.on(vip.network)?.byText(vip.address);
      const at = slot?.vip;
      if (slot === undefined || at === undefined) continue;
      const rest = at.entries.filter((e) => e.service.namespace !== s.namespace);
      if (rest.length === 0) {
        slot.vip = undefined;
        this.addresses.release(vip.network, slot);
      } else slot.vip = { entries: rest, only: rest.length === 1 ? rest[0] : undefined };
    }
    if (s.cidrVips.length > 0) this.cidrs = this.cidrs.filter((c) => c.entry.service.key !== s.key);
  }

  /**
   * ztunnel `apply_endpoints`: removals first, then upserts (health-filtered), on the service if it
   * exists; otherwise on its staged set (unfiltered until the service arrives).
   */
  applyEndpoints(
    key: string,
    upserts: readonly Endpoint[] | undefined,
    removals: Set<string> | undefined,
  ): void {
    const entry = this.byKey.get(key);
    if (entry !== undefined) {
      entry.members = undefined;
      entry.memos = undefined;
      if (removals !== undefined) for (const uid of removals) entry.endpoints.delete(uid);
      if (upserts !== undefined) {
        for (const ep of upserts)
          if (includesEndpoint(entry.service, ep.status)) entry.endpoints.set(ep.workloadUid, ep);
      }
      return;
    }
    let staged = this.staged.get(key);
    if (removals !== undefined && staged !== undefined) {
      for (const uid of removals) staged.delete(uid);
      if (staged.size === 0) {
        this.staged.delete(key);
        staged = undefined;
      }
    }
    if (upserts !== undefined && upserts.length > 0) {
      if (staged === undefined) {
        staged = new Map();
        this.staged.set(key, staged);
      }
      for (const ep of upserts) staged.set(ep.workloadUid, ep);
    }
  }

  /** Every service with this hostname, one per namespace. */
  byHostname(hostname: string): readonly ServiceEntry[] {
    return this.byHost.get(hostname) ?? [];
  }

  /** Every service with this exact VIP. */
  byVipAll(ip: string, network: string): readonly ServiceEntry[] {
    return this.addresses.on(network)?.byText(ip)?.vip?.entries ?? [];
  }

  /** Whether any service has a CIDR VIP (then a VIP lookup that misses must still check them). */
  get hasCidrVips(): boolean {
    return this.cidrs.length > 0;
  }

  /**
   * ztunnel `get_best_by_vip`: the best visible service on the exact VIP, else the best CIDR VIP ranked
   * by (in client namespace, prefix length, canonical).
   */
  bestByVip(ip: string, network: string, clientNamespace: string | undefined): ServiceEntry | undefined {
    const slot = this.addresses.on(network)?.byText(ip);
    if (slot !== undefined) return this.bestAt(slot, undefined, network, clientNamespace);
    if (this.cidrs.length === 0) return undefined;
    const address = parseIp(ip);
    return address === undefined ? undefined : this.bestByCidr(address, network, clientNamespace);
  }

  /**
   * {@link ServiceIndex.bestByVip} once the address's slot (if any) has been looked up.
   *
   * @param slot - The slot at `network/ip`, if there is one.
   * @param ip - The address (read only when the slot holds no visible service and there are CIDR VIPs);
   *   when `undefined`, the slot's own.
   */
  bestAt(
    slot: AddressSlot | undefined,
    ip: IpAddress | undefined,
    network: string,
    clientNamespace: string | undefined,
  ): ServiceEntry | undefined {
    const at = slot?.vip;
    if (at !== undefined) {
      const only = at.only;
      // bestMatch over one entry, read from the entry alone: it, unless a NAMESPACE-visible service of
      // another namespace.
      const best =
        only === undefined
          ? bestMatch(at.entries, clientNamespace)
          : clientNamespace === undefined || only.namespace === clientNamespace || !only.namespaceOnly
            ? only
            : undefined;
      if (best !== undefined) return best;
    }
    if (this.cidrs.length === 0) return undefined;
    let address = ip;
    if (address === undefined && slot !== undefined) address = parseIp(slot.text);
    return address === undefined ? undefined : this.bestByCidr(address, network, clientNamespace);
  }

  private bestByCidr(
    address: IpAddress,
    network: string,
    clientNamespace: string | undefined,
  ): ServiceEntry | undefined {
    let best: ServiceEntry | undefined;
    let bestRank = -1;
    for (const c of this.cidrs) {
      if (c.network !== network || !prefixContains(c.prefix, address)) continue;
      const s = c.entry.service;
      if (clientNamespace !== undefined && s.visibility === 'Namespace' && s.namespace !== clientNamespace)
        continue;
      // Lexicographic (in_namespace, prefix_len, canonical); strictly greater replaces (service.rs:509-541).
      const r =
        (clientNamespace !== undefined && s.namespace === clientNamespace ? 1 << 9 : 0) +
        (c.length << 1) +
        (s.canonical ? 1 : 0);
      if (r > bestRank) {
        best = c.entry;
        bestRank = r;
      }
    }
    return best;
  }
}
