/**
 * `createWorkloadStore()`: the mesh model a proxy needs, fed by delta updates and indexed the way ztunnel
 * indexes it (istio/ztunnel@62d82653:src/xds.rs `apply_prepared`, src/state/{workload,service,policy}.rs).
 * @module
 */
import type { Result } from 'neverthrow';
import type { Authorization } from '../codec/authorization.js';
import type { RouteError } from '../codec/errors.js';
import { parseNamespacedHostname } from '../codec/network.js';
import type { MeshResource } from '../codec/resource.js';
import type { Service } from '../codec/service.js';
import type { Workload } from '../codec/workload.js';
import {
  type StoreFastPath,
  type Upstream,
  type UpstreamRequest,
  upstreamResolver,
} from '../resolve/resolve-upstream.js';
import { AddressIndex } from './address-table.js';
import { PolicyIndex } from './policy-index.js';
import {
  bestMatch,
  type Endpoint,
  type ServiceEntry,
  ServiceIndex,
  type ServiceMembers,
  serviceMembers,
} from './service-index.js';
import { WorkloadIndex, type WorkloadInfo } from './workload-index.js';

/** Names a resource to remove when a bare name would be ambiguous (policies share no namespace with addresses). */
export interface RemovedRef {
  readonly kind: MeshResource['kind'];
  /** Workload uid, service `namespace/hostname`, or policy `namespace/name`. */
  readonly name: string;
}

/** One delta: resources to insert or replace, and resources to remove. */
export interface StoreDelta {
  /** Workloads, services and policies to insert or replace, applied in order. */
  readonly resources?: readonly MeshResource[];
  /**
   * Resources to remove, applied after `resources`. A bare string is an Address resource name and is
   * handled as ztunnel does (src/xds.rs:262-315): first tried as a workload uid, then as a service
   * `namespace/hostname` (ignored if the hostname part still contains `/`). Use a {@link RemovedRef} for
   * policies.
   */
  readonly removed?: readonly (string | RemovedRef)[];
}

/** One resource that a delta added, replaced or removed. */
export type StoreChange =
  | {
      readonly kind: 'workload';
      readonly name: string;
      readonly value?: Workload;
      readonly previous?: Workload;
    }
  | { readonly kind: 'service'; readonly name: string; readonly value?: Service; readonly previous?: Service }
  | {
      readonly kind: 'policy';
      readonly name: string;
      readonly value?: Authorization;
      readonly previous?: Authorization;
    };

/** The net effect of one {@link WorkloadStore.apply}. */
export interface StoreChanges {
  /** Resources that did not exist before (`value` set). */
  readonly added: readonly StoreChange[];
  /** Resources replaced (`value` and `previous` set). */
  readonly updated: readonly StoreChange[];
  /** Resources that no longer exist (`previous` set). */
  readonly removed: readonly StoreChange[];
}

/** Events a {@link WorkloadStore} emits, after each delta has been applied in full. */
export interface WorkloadStoreEvents {
  readonly added: StoreChange;
  readonly updated: StoreChange;
  readonly removed: StoreChange;
  /** Once per {@link WorkloadStore.apply} that changed anything, after the per-resource events. */
  readonly change: StoreChanges;
}

/** Counts of what a store holds. */
export interface StoreStats {
  readonly workloads: number;
  readonly services: number;
  readonly policies: number;
  /** Services that have staged endpoints but have not arrived themselves. */
  readonly stagedServices: number;
}

/** Options for {@link createWorkloadStore}. */
export interface WorkloadStoreOptions {
  /**
   * This proxy's node name. Only workloads on it are indexed by identity for
   * {@link WorkloadStore.workloadByInfo}, as ztunnel's `node_local_by_identity` (env `NODE_NAME`).
   * Default: every workload is indexed.
   */
  readonly localNode?: string;
}

/** The mesh model: delta `apply`, change events and ztunnel's lookups. */
export interface WorkloadStore {
  /**
   * Applies one delta atomically: the input is checked first, then every change is made, then events
   * fire. Workload endpoints are accumulated and applied per service at the end, removals before
   * upserts, as ztunnel's `EndpointAccumulator`.
   *
   * @param delta - Resources to upsert and names to remove.
   * @returns What changed.
   * @throws {TypeError} When the input is not a delta of models (nothing is applied then).
   */
  apply(delta: StoreDelta): StoreChanges;
  /**
   * Subscribes to an event.
   * @returns A function that unsubscribes.
   */
  on<E extends keyof WorkloadStoreEvents>(
    event: E,
    listener: (payload: WorkloadStoreEvents[E]) => void,
  ): () => void;

  /** The workload with this uid. */
  workload(uid: string): Workload | undefined;
  /**
   * ztunnel `find_address` for workloads: the workload at this IP on this network, never a
   * HOST_NETWORK one; on a collision Pod+HBONE beats Pod beats HBONE beats the rest.
   * @param ip - Canonical IP text (see {@link canonicalIp}).
   * @param network - Default `""`, the default network.
   */
  workloadByAddress(ip: string, network?: string): Workload | undefined;
  /** Every workload claiming this IP on this network. */
  workloadsByAddress(ip: string, network?: string): readonly Workload[];
  /** The local-node workload matching a ZDS `WorkloadInfo` (ztunnel `find_by_info`). */
  workloadByInfo(info: WorkloadInfo): Workload | undefined;
  /** Every workload, in insertion order. */
  workloads(): IterableIterator<Workload>;

  /** The service with this `namespace/hostname` key (ztunnel `get_by_namespaced_host`). */
  service(key: string): Service | undefined;
  /** Every service with this hostname, one per namespace. */
  servicesByHost(hostname: string): readonly Service[];
  /**
   * ztunnel `get_best_by_host`: among the services with this hostname visible to the client, one in its
   * namespace, else a `canonical` one, else the first.
   */
  bestServiceByHost(hostname: string, clientNamespace?: string): Service | undefined;
  /** Every service with this exact VIP. */
  servicesByVip(ip: string, network?: string): readonly Service[];
  /**
   * ztunnel `get_best_by_vip`: the best visible service on the exact VIP, else on the CIDR VIP with the
   * best (in client namespace, prefix length, canonical) rank.
   */
  bestServiceByVip(ip: string, network?: string, clientNamespace?: string): Service | undefined;
  /** The endpoints of a service, by workload uid (empty for an unknown service). */
  endpoints(serviceKey: string): ReadonlyMap<string, Endpoint>;
  /**
   * The endpoints of a service with their workloads resolved, as arrays cached until the endpoints
   * change: what endpoint choice iterates on every connection.
   */
  members(serviceKey: string): ServiceMembers | undefined;
  /** Endpoints waiting for their service, by service key then workload uid. */
  stagedEndpoints(): ReadonlyMap<string, ReadonlyMap<string, Endpoint>>;
  /** Every service, in insertion order. */
  services(): IterableIterator<Service>;

  /** ztunnel `find_address`: a workload at this IP, else the best service on this VIP. */
  findAddress(ip: string, network?: string, clientNamespace?: string): Workload | Service | undefined;
  /**
   * ztunnel `find_hostname`, for DNS and double HBONE: the service `namespace/hostname`, else a workload
   * with that hostname in that namespace.
   */
  findHostname(namespace: string, hostname: string): Service | Workload | undefined;

  /** The policy with this `namespace/name` key. */
  policy(key: string): Authorization | undefined;
  /** The policies scoped to a namespace; `""` gives the GLOBAL ones. */
  policiesInNamespace(namespace: string): readonly Authorization[];
  /**
   * Every policy that applies to a workload, as ztunnel's `assert_rbac` collects them: its namespace's,
   * the global ones, then its `authorizationPolicies` (names not in the store are skipped).
   */
  policiesFor(workload: Workload): readonly Authorization[];
  /** Every policy, in insertion order. */
  policies(): IterableIterator<Authorization>;

  /**
   * Chooses where an outbound connection goes, as ztunnel's outbound `build_request`; see
   * {@link resolveUpstream}.
   */
  resolveUpstream(request: UpstreamRequest): Result<Upstream, RouteError>;
  /** Counts of what the store holds. */
  stats(): StoreStats;
}

const KINDS = new Set(['workload', 'service', 'policy']);

function checkDelta(delta: StoreDelta): void {
  if (typeof delta !== 'object' || delta === null)
    throw new TypeError('delta: expected { resources?, removed? }');
  if (delta.resources !== undefined) {
    if (!Array.isArray(delta.resources)) throw new TypeError('delta.resources: expected an array');
    delta.resources.forEach((r: MeshResource, i) => {
      if (typeof r !== 'object' || r === null || !KINDS.has(r.kind)) {
        throw new TypeError(`delta.resources[${i}]: expected a workload, service or policy model`);
      }
      const key = r.kind === 'workload' ? r.uid : r.key;
      if (typeof key !== 'string' || key === '')
        throw new TypeError(`delta.resources[${i}]: empty resource name`);
    });
  }
  if (delta.removed !== undefined) {
    if (!Array.isArray(delta.removed)) throw new TypeError('delta.removed: expected an array');
    delta.removed.forEach((r: string | RemovedRef, i) => {
      if (typeof r === 'string') return;
      if (typeof r !== 'object' || r === null || !KINDS.has(r.kind) || typeof r.name !== 'string') {
        throw new TypeError(`delta.removed[${i}]: expected a name or { kind, name }`);
      }
    });
  }
}

/**
 * Creates an empty store.
 *
 * @param options - The local node name for the identity index.
 * @returns The store.
 * @example
 * ```ts
 * const store = createWorkloadStore();
 * store.on('added', (c) => console.log('added', c.kind, c.name));
 * store.apply({ resources: [createWorkload({ uid: 'c1//Pod/default/a', namespace: 'default', workloadIps: ['10.0.0.1'] })] });
 * store.workloadByAddress('10.0.0.1')?.identity; // 'spiffe://cluster.local/ns/default/sa/default'
 * ```
 */
export function createWorkloadStore(options: WorkloadStoreOptions = {}): WorkloadStore {
  // One slot per network/ip for both: a connection's address is looked up once, whatever it is.
  const addresses = new AddressIndex();
  const workloads: WorkloadIndex = new WorkloadIndex(options.localNode, addresses);
  const services: ServiceIndex = new ServiceIndex(addresses);
  const policies = new PolicyIndex();
  const listeners: { [E in keyof WorkloadStoreEvents]: Set<(payload: WorkloadStoreEvents[E]) => void> } = {
    added: new Set(),
    updated: new Set(),
    removed: new Set(),
    change: new Set(),
  };

  function emit<E extends keyof WorkloadStoreEvents>(
    event: E,
    payload: WorkloadStoreEvents[E],
    errors: unknown[],
  ): void {
    const set = listeners[event];
    if (set.size === 0) return;
    for (const fn of set) {
      try {
        fn(payload);
      } catch (e) {
        errors.push(e);
      }
    }
  }

  function apply(delta: StoreDelta): StoreChanges {
    checkDelta(delta);
    // Net effect per resource: the value before the delta (recorded on first touch) and after it, kept
    // current as the delta goes, in the order resources were first touched. Each record becomes the
    // reported change itself, so a resource costs one record.
    type Touched = {
      kind: MeshResource['kind'];
      name: string;
      value?: MeshResource | undefined;
      previous?: MeshResource;
    };
    const order: Touched[] = [];
    const seen = {
      workload: new Map<string, Touched>(),
      service: new Map<string, Touched>(),
      policy: new Map<string, Touched>(),
    };
    const touch = (kind: MeshResource['kind'], name: string, before: MeshResource | undefined): Touched => {
      const map = seen[kind];
      let t = map.get(name);
      if (t === undefined) {
        t = { kind, name, value: before };
        if (before !== undefined) t.previous = before;
        map.set(name, t);
        order.push(t);
      }
      return t;
    };
    // ztunnel's `EndpointAccumulator` (src/xds.rs:106-145): endpoint changes per service, applied when
    // the delta is done, removals before upserts. Lists, not maps: a service key rarely sees one workload
    // twice in a delta, and the later upsert of one still wins when the list is applied in order.
    const upserts = new Map<string, Endpoint[]>();
    const removals = new Map<string, Set<string>>();

    const removeWorkload = (uid: string): Workload | undefined => {
      const prev = workloads.remove(uid);
      if (prev === undefined) return undefined;
      touch('workload', uid, prev).value = undefined;
      for (const s of prev.services) {
        let set = removals.get(s.key);
        if (set === undefined) {
          set = new Set();
          removals.set(s.key, set);
        }
        set.add(uid);
        // A removal supersedes an upsert queued earlier in this delta for the same endpoint.
        const queued = upserts.get(s.key);
        if (queued !== undefined) {
          const at = queued.findIndex((ep) => ep.workloadUid === uid);
          if (at >= 0) queued.splice(at, 1);
        }
      }
      return prev;
    };

    for (const r of delta.resources ?? []) {
      if (r.kind === 'workload') {
        const prev = removeWorkload(r.uid);
        const t = prev === undefined ? touch('workload', r.uid, undefined) : seen.workload.get(r.uid);
        (t as Touched).value = r;
        workloads.insert(r);
        for (const s of r.services) {
          const ep: Endpoint = { workloadUid: r.uid, ports: s.ports, status: r.status };
          const list = upserts.get(s.key);
          if (list === undefined) upserts.set(s.key, [ep]);
          else list.push(ep);
        }
      } else if (r.kind === 'service') {
        touch('service', r.key, services.byKey.get(r.key)?.service).value = r;
        services.insert(r);
      } else {
        touch('policy', r.key, policies.byKey.get(r.key)).value = r;
        policies.insert(r.key, r);
      }
    }

    for (const ref of delta.removed ?? []) {
      if (typeof ref !== 'string') {
        if (ref.kind === 'workload') removeWorkload(ref.name);
        else if (ref.kind === 'service') {
          const prev = services.remove(ref.name);
          if (prev !== undefined) touch('service', ref.name, prev.service).value = undefined;
        } else {
          const prev = policies.remove(ref.name);
          if (prev !== undefined) touch('policy', ref.name, prev).value = undefined;
        }
        continue;
      }
      if (removeWorkload(ref) !== undefined) continue;
      const nh = parseNamespacedHostname(ref);
      // A uid is never a service name: namespaces and hostnames cannot contain `/` (xds.rs:290-300).
      if (nh === undefined || nh.hostname.includes('/')) continue;
      const prev = services.remove(ref);
      if (prev !== undefined) touch('service', ref, prev.service).value = undefined;
    }

    for (const [key, removed] of removals) {
      services.applyEndpoints(key, upserts.get(key), removed);
      upserts.delete(key);
    }
    for (const [key, added] of upserts) services.applyEndpoints(key, added, undefined);

    const added: StoreChange[] = [];
    const updated: StoreChange[] = [];
    const removed: StoreChange[] = [];
    for (const t of order) {
      if (t.value === undefined) {
        // Added then removed within one delta: no net change, nothing to report.
        delete t.value;
        if (t.previous !== undefined) removed.push(t as StoreChange);
      } else (t.previous === undefined ? added : updated).push(t as StoreChange);
    }
    const changes: StoreChanges = { added, updated, removed };
    if (added.length + updated.length + removed.length > 0) {
      const errors: unknown[] = [];
      for (const c of added) emit('added', c, errors);
      for (const c of updated) emit('updated', c, errors);
      for (const c of removed) emit('removed', c, errors);
      emit('change', changes, errors);
      // The store is consistent whatever a listener did; surface the first listener failure afterwards.
      if (errors.length > 0) throw errors[0];
    }
    return changes;
  }

  function membersOf(entry: ServiceEntry): ServiceMembers {
    entry.members ??= serviceMembers(entry.endpoints.values(), (uid) => workloads.byUid.get(uid));
    return entry.members;
  }
  const fastPath: StoreFastPath = {
    slot: (ip, network) => addresses.on(network)?.find(ip),
    bestService: (slot, ip, network, clientNamespace) => services.bestAt(slot, ip, network, clientNamespace),
    members: membersOf,
    hasCidrVips: () => services.hasCidrVips,
  };

  const store: WorkloadStore = {
    apply,
    on(event, listener) {
      const set = listeners[event] as Set<typeof listener>;
      set.add(listener);
      return () => set.delete(listener);
    },
    workload: (uid) => workloads.byUid.get(uid),
    workloadByAddress: (ip, network = '') => workloads.byAddress(ip, network),
    workloadsByAddress: (ip, network = '') => workloads.allByAddress(ip, network),
    workloadByInfo: (info) => workloads.byInfo(info),
    workloads: () => workloads.byUid.values(),
    service: (key) => services.byKey.get(key)?.service,
    servicesByHost: (hostname) => services.byHostname(hostname).map((e) => e.service),
    bestServiceByHost(hostname, clientNamespace) {
      return bestMatch(services.byHostname(hostname), clientNamespace)?.service;
    },
    servicesByVip: (ip, network = '') => services.byVipAll(ip, network).map((e) => e.service),
    bestServiceByVip: (ip, network = '', clientNamespace) =>
      services.bestByVip(ip, network, clientNamespace)?.service,
    endpoints: (key) => services.byKey.get(key)?.endpoints ?? NO_ENDPOINTS,
    members(key) {
      const entry = services.byKey.get(key);
      return entry === undefined ? undefined : membersOf(entry);
    },
    stagedEndpoints: () => services.staged,
    *services() {
      for (const e of services.byKey.values()) yield e.service;
    },
    findAddress(ip, network = '', clientNamespace) {
      return workloads.byAddress(ip, network) ?? services.bestByVip(ip, network, clientNamespace)?.service;
    },
    findHostname(namespace, hostname) {
      // By hostname, then namespace: no `namespace/hostname` key is built per lookup (a waypoint is found
      // this way on every connection to a service behind it).
      for (const e of services.byHostname(hostname)) if (e.namespace === namespace) return e.service;
      return workloads.byHostnameIn(namespace, hostname);
    },
    policy: (key) => policies.byKey.get(key),
    policiesInNamespace: (namespace) => resolvePolicies(policies.namesIn(namespace)),
    policiesFor(workload) {
      return resolvePolicies([
        ...policies.namesIn(workload.namespace),
        ...policies.namesIn(''),
        ...workload.authorizationPolicies,
      ]);
    },
    policies: () => policies.byKey.values(),
    resolveUpstream: (request) => resolve(request),
    stats: () => ({
      workloads: workloads.byUid.size,
      services: services.byKey.size,
      policies: policies.byKey.size,
      stagedServices: services.staged.size,
    }),
  };

  // One resolver per store: nothing is allocated per connection but the answer.
  const resolve = upstreamResolver(store, fastPath);

  function resolvePolicies(names: readonly string[]): readonly Authorization[] {
    const out: Authorization[] = [];
    for (const name of names) {
      const p = policies.byKey.get(name);
      // A name the control plane has not sent (yet) is skipped, as ztunnel does with a warning.
      if (p !== undefined) out.push(p);
    }
    return out;
  }

  return store;
}

const NO_ENDPOINTS: ReadonlyMap<string, Endpoint> = new Map();
