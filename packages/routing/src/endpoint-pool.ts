/**
 * Endpoint choice for a backend, stateful per router, as Envoy does it for one upstream cluster under the
 * DestinationRule istiod translated (traffic-policy.ts):
 *
 * - load balancing: `LEAST_REQUEST` (Envoy's power of two choices: two random hosts, the one with fewer
 *   active requests), `ROUND_ROBIN`, `RANDOM`, and consistent hashing on a header, a cookie (generated with
 *   `Set-Cookie` when absent and a TTL is set), the source IP or a query parameter; a request without a
 *   hash key gets a random host, as in Envoy;
 * - outlier detection (`envoyproxy/envoy@195df830:source/common/upstream/outlier_detection_impl.cc`):
 *   consecutive 5xx, consecutive gateway errors (502/503/504), local-origin failures (connect failure,
 *   reset, timeout count as 503/504 unless `splitExternalLocalOriginErrors`); a host is ejected at once
 *   when a counter reaches its threshold, unless that would eject more than `maxEjectionPercent` of the
 *   hosts (one host can always be ejected); it returns at the first `interval` tick after
 *   `baseEjectionTime × ejections` (capped at max(300 s, base)), and the multiplier drops by one at each
 *   tick it stays healthy;
 * - circuit breakers: `http2MaxRequests` (active requests) and `maxConnections` + `http1MaxPendingRequests`
 *   (HTTP/1.1: one request per connection, the rest wait in a pending queue); overflow is a 503 with `UO`.
 *   `maxRetries` / `retryBudget` bound concurrent retries.
 *
 * Clusters are keyed by host, port and subset, as Istio's `outbound|port|subset|host` clusters are.
 * @module
 */
import { headerValue, parseQuery } from './codec/match.js';
import type { EffectivePolicy } from './codec/traffic-policy.js';
import type { Backend, RandomSource, RequestHeaders } from './codec/types.js';

/** A pod, as `createRouter` takes it (Service selectors and DestinationRule subsets select on its labels). */
export interface WorkloadInput {
  readonly name: string;
  readonly namespace: string;
  readonly labels: Readonly<Record<string, string>>;
  readonly ip?: string;
  /** Named container ports, for Services whose `targetPort` is a name. */
  readonly ports?: Readonly<Record<string, number>>;
}

/** An endpoint a caller supplies directly (e.g. from the WDS store), instead of `workloads`. */
export interface EndpointInput {
  /** A stable identity; default `ip:port`, else `namespace/name`. */
  readonly id?: string;
  readonly ip?: string;
  /** The port to connect to (the target port). */
  readonly port: number;
  readonly name?: string;
  readonly namespace?: string;
  readonly labels?: Readonly<Record<string, string>>;
}

/** A chosen endpoint. */
export interface Endpoint {
  readonly id: string;
  readonly ip: string | undefined;
  readonly port: number;
  readonly name: string | undefined;
  readonly namespace: string | undefined;
  readonly labels: Readonly<Record<string, string>>;
}

/** How a request to an endpoint ended, reported through {@link EndpointLease.release}. */
export type EndpointOutcome =
  | { readonly status: number }
  | { readonly failure: 'connect-failure' | 'reset' | 'refused-stream' | 'timeout' }
  | { readonly cancelled: true };

/** A reservation of capacity on a cluster (and an endpoint): release it exactly once, with the outcome. */
export interface EndpointLease {
  /** Resolves when the request may start: it waited in the HTTP/1.1 pending queue. `undefined` = now. */
  readonly ready: Promise<void> | undefined;
  /**
   * Ends the request: frees its slot (admitting a pending request), and feeds the outcome to outlier
   * detection. Later calls do nothing.
   */
  release(outcome: EndpointOutcome, nowMs?: number): void;
}

/** The result of {@link Router.pickEndpoint}. */
export type EndpointPick =
  | {
      readonly kind: 'endpoint';
      /** `undefined` when the router has no endpoints for the backend (no workloads / endpoints given). */
      readonly endpoint: Endpoint | undefined;
      readonly lease: EndpointLease;
      /** The DestinationRule policy in effect. */
      readonly policy: EffectivePolicy;
      /** A `Set-Cookie` value to add to the response (consistent hash on a cookie that had to be created). */
      readonly setCookie?: string;
    }
  | {
      readonly kind: 'unavailable';
      readonly status: 503;
      /** `UH` no healthy upstream, `UO` overflow, `NC` the subset does not exist. */
      readonly flags: readonly ['UH'] | readonly ['UO'] | readonly ['NC'];
      /** Envoy's local reply body. */
      readonly body: string;
      readonly policy: EffectivePolicy;
    };

/** Options of {@link Router.pickEndpoint}. */
export interface PickEndpointOptions {
  /** Headers (consistent hash on a header or cookie), path (on a query parameter). */
  readonly request?: {
    readonly headers?: RequestHeaders;
    readonly path?: string;
    readonly sourceIp?: string;
  };
  /** The client IP (consistent hash `useSourceIp`); overrides `request.sourceIp`. */
  readonly sourceIp?: string;
  /** HTTP/1.1 requests queue for connections (`maxConnections`); gRPC / HTTP/2 ones do not. Default `http`. */
  readonly protocol?: 'http' | 'grpc';
  /** Endpoints to choose from instead of those derived from `workloads`. */
  readonly endpoints?: readonly EndpointInput[];
  /** Endpoint ids to avoid (retries: Envoy's previous-hosts predicate, up to 5 tries). */
  readonly exclude?: ReadonlySet<string>;
  readonly random?: RandomSource;
  /** The time, for outlier detection. Default: the router's clock. */
  readonly nowMs?: number;
}

/** What the pool knows about one endpoint (for `/config_dump`-style inspection and tests). */
export interface EndpointStatus {
  readonly endpoint: Endpoint;
  readonly activeRequests: number;
  readonly ejected: boolean;
  /** When the host may return (it returns at the first outlier `interval` tick after this). */
  readonly ejectedUntilMs: number | undefined;
  readonly ejections: number;
  readonly consecutive5xx: number;
  readonly consecutiveGatewayErrors: number;
}

/** A cluster's state. */
export interface ClusterStatus {
  readonly backend: Backend;
  readonly activeRequests: number;
  readonly pendingRequests: number;
  readonly activeRetries: number;
  readonly endpoints: readonly EndpointStatus[];
}

interface EndpointState {
  endpoint: Endpoint;
  active: number;
  c5xx: number;
  cGateway: number;
  cLocal: number;
  ejected: boolean;
  returnAtMs: number;
  ejections: number;
}

interface Cluster {
  readonly backend: Backend;
  readonly policy: EffectivePolicy;
  readonly states: Map<string, EndpointState>;
  /** Ids of the current endpoint set, in order. */
  order: string[];
  signature: string;
  active: number;
  pending: (() => void)[];
  activeRetries: number;
  rr: number;
  ring: { signature: string; points: Uint32Array; owners: string[] } | undefined;
  outlierOriginMs: number | undefined;
  lastTickMs: number;
}

/** Resolves a backend's policy and default endpoints (from `workloads`). */
export interface PoolSource {
  policy(backend: Backend): EffectivePolicy;
  /** `undefined` = unknown (the caller supplies endpoints or none are used). */
  endpoints(
    backend: Backend,
    subsetLabels: Readonly<Record<string, string>> | undefined,
  ): readonly EndpointInput[] | undefined;
  now(): number;
}

/** Endpoint choice, outlier detection and circuit breakers for every cluster of a router. */
export interface EndpointPool {
  pick(backend: Backend, options?: PickEndpointOptions): EndpointPick;
  /** Starts a retry if the cluster's retry circuit breaker allows it; call `end` when the retry attempt ends. */
  tryRetry(backend: Backend): { end(): void } | undefined;
  status(backend: Backend, nowMs?: number): ClusterStatus;
}

const keyOf = (b: Backend): string => `${b.hostname}|${b.port}|${b.subset ?? ''}`;

function fnv32(text: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < text.length; i++) {
    h ^= text.charCodeAt(i);
    h = Math.imul(h, 0x01000193);
  }
  // A final avalanche (murmur3 fmix32) so nearby inputs spread over the ring.
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  h ^= h >>> 16;
  return h >>> 0;
}

function toEndpoint(input: EndpointInput): Endpoint {
  const id =
    input.id ??
    (input.ip !== undefined
      ? `${input.ip}:${input.port}`
      : `${input.namespace ?? ''}/${input.name ?? ''}:${input.port}`);
  return {
    id,
    ip: input.ip,
    port: input.port,
    name: input.name,
    namespace: input.namespace,
    labels: input.labels ?? {},
  };
}

const labelsMatch = (
  labels: Readonly<Record<string, string>>,
  selector: Readonly<Record<string, string>> | undefined,
): boolean => {
  if (selector === undefined) return true;
  for (const k in selector) if (labels[k] !== selector[k]) return false;
  return true;
};

/**
 * Creates the endpoint pool of a router.
 *
 * @param source - Policies, default endpoints and the clock.
 * @returns The pool.
 * @example
 * ```ts
 * const pool = createEndpointPool({ policy: () => effectivePolicy(undefined, 80, undefined), endpoints: () => undefined, now: Date.now });
 * ```
 */
export function createEndpointPool(source: PoolSource): EndpointPool {
  const clusters = new Map<string, Cluster>();

  const cluster = (backend: Backend): Cluster => {
    const key = keyOf(backend);
    let c = clusters.get(key);
    if (c === undefined) {
      c = {
        backend,
        policy: source.policy(backend),
        states: new Map(),
        order: [],
        signature: '',
        active: 0,
        pending: [],
        activeRetries: 0,
        rr: 0,
        ring: undefined,
        outlierOriginMs: undefined,
        lastTickMs: 0,
      };
      clusters.set(key, c);
    }
    return c;
  };

  const reconcile = (c: Cluster, inputs: readonly EndpointInput[]): void => {
    const subset = c.policy.subsetLabels;
    const endpoints = inputs.map(toEndpoint).filter((e) => labelsMatch(e.labels, subset));
    const signature = endpoints.map((e) => e.id).join('\n');
    if (signature === c.signature) return;
    const next = new Map<string, EndpointState>();
    for (const e of endpoints) {
      const prev = c.states.get(e.id);
      next.set(
        e.id,
        prev === undefined
          ? {
              endpoint: e,
              active: 0,
              c5xx: 0,
              cGateway: 0,
              cLocal: 0,
              ejected: false,
              returnAtMs: 0,
              ejections: 0,
            }
          : { ...prev, endpoint: e },
      );
    }
    c.states.clear();
    for (const [k, v] of next) c.states.set(k, v);
    c.order = endpoints.map((e) => e.id);
    c.signature = signature;
  };

  // Interval ticks (Envoy's outlier detection timer) between the last processed one and now.
  const tick = (c: Cluster, now: number): void => {
    const od = c.policy.outlierDetection;
    if (od === undefined) return;
    if (c.outlierOriginMs === undefined) {
      c.outlierOriginMs = now;
      c.lastTickMs = now;
      return;
    }
    const interval = od.intervalMs;
    const origin = c.outlierOriginMs;
    const ticksUpTo = (t: number): number => Math.floor((t - origin) / interval);
    const lastK = ticksUpTo(c.lastTickMs);
    const nowK = ticksUpTo(now);
    if (nowK <= lastK) return;
    for (const st of c.states.values()) {
      if (st.ejected) {
        // The first tick at or after the return time.
        const k = Math.max(lastK + 1, Math.ceil((st.returnAtMs - origin) / interval));
        if (k <= nowK) {
          st.ejected = false;
          st.ejections = Math.max(0, st.ejections - (nowK - k));
        }
      } else st.ejections = Math.max(0, st.ejections - (nowK - lastK));
    }
    c.lastTickMs = origin + nowK * interval;
  };

  const eject = (c: Cluster, st: EndpointState, now: number): void => {
    const od = c.policy.outlierDetection;
    if (od === undefined || st.ejected) return;
    const total = c.states.size;
    let ejected = 0;
    for (const s of c.states.values()) if (s.ejected) ejected++;
    // Envoy: at most max_ejection_percent of the hosts, but at least one host may always be ejected.
    if (ejected > 0 && ((ejected + 1) * 100) / total > od.maxEjectionPercent) return;
    st.ejected = true;
    st.ejections++;
    st.returnAtMs = now + Math.min(od.baseEjectionMs * st.ejections, od.maxEjectionMs);
    st.c5xx = 0;
    st.cGateway = 0;
    st.cLocal = 0;
  };

  const observe = (c: Cluster, st: EndpointState, outcome: EndpointOutcome, now: number): void => {
    const od = c.policy.outlierDetection;
    if (od === undefined || 'cancelled' in outcome) return;
    tick(c, now);
    if ('status' in outcome) {
      const s = outcome.status;
      if (s >= 500 && s <= 599) {
        st.c5xx++;
        if (s >= 502 && s <= 504) st.cGateway++;
        else st.cGateway = 0;
      } else {
        st.c5xx = 0;
        st.cGateway = 0;
        st.cLocal = 0;
      }
    } else if (od.splitExternalLocalOriginErrors) {
      st.cLocal++;
    } else {
      // Local-origin failures count as the 5xx Envoy answers for them (503 / 504): gateway errors.
      st.c5xx++;
      st.cGateway++;
    }
    if (
      (od.consecutive5xx > 0 && st.c5xx >= od.consecutive5xx) ||
      (od.consecutiveGatewayErrors > 0 && st.cGateway >= od.consecutiveGatewayErrors) ||
      (od.splitExternalLocalOriginErrors &&
        od.consecutiveLocalOriginFailures > 0 &&
        st.cLocal >= od.consecutiveLocalOriginFailures)
    )
      eject(c, st, now);
  };

  const ringOf = (
    c: Cluster,
    healthy: readonly EndpointState[],
    size: number,
  ): { points: Uint32Array; owners: string[] } => {
    const signature = healthy.map((s) => s.endpoint.id).join('\n');
    if (c.ring?.signature === signature) return c.ring;
    const perHost = Math.max(1, Math.ceil(size / healthy.length));
    const pairs: [number, string][] = [];
    for (const s of healthy)
      for (let i = 0; i < perHost; i++) pairs.push([fnv32(`${s.endpoint.id}_${i}`), s.endpoint.id]);
    pairs.sort((a, b) => a[0] - b[0]);
    const ring = {
      signature,
      points: Uint32Array.from(pairs.map((p) => p[0])),
      owners: pairs.map((p) => p[1]),
    };
    c.ring = ring;
    return ring;
  };

  const hashKey = (
    c: Cluster,
    options: PickEndpointOptions,
    random: RandomSource,
  ): { key: string | undefined; setCookie: string | undefined } => {
    const lb = c.policy.loadBalancer;
    if (lb.kind !== 'CONSISTENT_HASH') return { key: undefined, setCookie: undefined };
    const req = options.request;
    switch (lb.key.kind) {
      case 'header':
        return {
          key: req?.headers === undefined ? undefined : headerValue(req.headers, lb.key.name),
          setCookie: undefined,
        };
      case 'sourceIp':
        return { key: options.sourceIp ?? req?.sourceIp, setCookie: undefined };
      case 'query': {
        const path = req?.path ?? '';
        const q = path.indexOf('?');
        return {
          key: q < 0 ? undefined : parseQuery(path.slice(q + 1)).get(lb.key.name),
          setCookie: undefined,
        };
      }
      case 'cookie': {
        const cookie = req?.headers === undefined ? undefined : headerValue(req.headers, 'cookie');
        if (cookie !== undefined) {
          for (const part of cookie.split(/;\s*/)) {
            const eq = part.indexOf('=');
            if (eq > 0 && part.slice(0, eq) === lb.key.name)
              return { key: part.slice(eq + 1).replace(/^"(.*)"$/, '$1'), setCookie: undefined };
          }
        }
        if (lb.key.ttlMs === undefined) return { key: undefined, setCookie: undefined };
        // Envoy generates the cookie from the downstream address and sets it on the response.
        const value = fnv32(options.sourceIp ?? req?.sourceIp ?? String(random()))
          .toString(16)
          .padStart(8, '0');
        const maxAge = lb.key.ttlMs > 0 ? `; Max-Age=${Math.floor(lb.key.ttlMs / 1000)}` : '';
        const path = lb.key.path === undefined ? '' : `; Path=${lb.key.path}`;
        return { key: value, setCookie: `${lb.key.name}="${value}"${maxAge}${path}; HttpOnly` };
      }
      case 'none':
        return { key: undefined, setCookie: undefined };
    }
  };

  const choose = (
    c: Cluster,
    healthy: readonly EndpointState[],
    key: string | undefined,
    random: RandomSource,
  ): EndpointState => {
    const n = healthy.length;
    if (n === 1) return healthy[0] as EndpointState;
    const lb = c.policy.loadBalancer;
    switch (lb.kind) {
      case 'ROUND_ROBIN': {
        const st = healthy[c.rr % n] as EndpointState;
        c.rr = (c.rr + 1) % 1_000_000_007;
        return st;
      }
      case 'RANDOM':
        return healthy[Math.floor(random() * n)] as EndpointState;
      case 'LEAST_REQUEST': {
        const a = healthy[Math.floor(random() * n)] as EndpointState;
        const b = healthy[Math.floor(random() * n)] as EndpointState;
        return b.active < a.active ? b : a;
      }
      case 'CONSISTENT_HASH': {
        if (key === undefined) return healthy[Math.floor(random() * n)] as EndpointState;
        const ring = ringOf(c, healthy, lb.ringSize);
        const h = fnv32(key);
        let lo = 0;
        let hi = ring.points.length;
        while (lo < hi) {
          const mid = (lo + hi) >>> 1;
          if ((ring.points[mid] as number) < h) lo = mid + 1;
          else hi = mid;
        }
        const owner = ring.owners[lo === ring.points.length ? 0 : lo] as string;
        return c.states.get(owner) as EndpointState;
      }
    }
  };

  const lease = (c: Cluster, st: EndpointState | undefined, queued: boolean): EndpointLease => {
    let released = false;
    let started = !queued;
    let ready: Promise<void> | undefined;
    let admit: (() => void) | undefined;
    if (queued) {
      ready = new Promise<void>((resolve) => {
        admit = () => {
          started = true;
          c.active++;
          if (st !== undefined) st.active++;
          resolve();
        };
      });
      c.pending.push(admit as () => void);
    } else {
      c.active++;
      if (st !== undefined) st.active++;
    }
    return {
      ready,
      release(outcome, nowMs) {
        if (released) return;
        released = true;
        if (!started) {
          const i = c.pending.indexOf(admit as () => void);
          if (i >= 0) c.pending.splice(i, 1);
          return;
        }
        c.active--;
        if (st !== undefined) {
          st.active--;
          observe(c, st, outcome, nowMs ?? source.now());
        }
        const next = c.pending.shift();
        if (next !== undefined) next();
      },
    };
  };

  return {
    pick(backend, options = {}) {
      const c = cluster(backend);
      const policy = c.policy;
      if (policy.missingSubset)
        return { kind: 'unavailable', status: 503, flags: ['NC'], body: 'no healthy upstream', policy };
      const now = options.nowMs ?? source.now();
      const random = options.random ?? Math.random;
      const pool = policy.connectionPool;
      if (c.active >= pool.maxRequests)
        return {
          kind: 'unavailable',
          status: 503,
          flags: ['UO'],
          body: 'upstream connect error or disconnect/reset before headers. reset reason: overflow',
          policy,
        };
      const inputs = options.endpoints ?? source.endpoints(backend, policy.subsetLabels);
      let chosen: EndpointState | undefined;
      let setCookie: string | undefined;
      if (inputs !== undefined) {
        reconcile(c, inputs);
        tick(c, now);
        const all = c.order.map((id) => c.states.get(id) as EndpointState);
        let healthy = all.filter((s) => !s.ejected);
        const minHealth = policy.outlierDetection?.minHealthPercent ?? 0;
        // Panic mode (Istio sets Envoy's healthy_panic_threshold to minHealthPercent): use every host.
        if (all.length > 0 && minHealth > 0 && (healthy.length * 100) / all.length < minHealth) healthy = all;
        if (healthy.length === 0)
          return { kind: 'unavailable', status: 503, flags: ['UH'], body: 'no healthy upstream', policy };
        const hash = hashKey(c, options, random);
        setCookie = hash.setCookie;
        chosen = choose(c, healthy, hash.key, random);
        // Envoy's previous_hosts predicate with host_selection_retry_max_attempts 5.
        const exclude = options.exclude;
        if (exclude !== undefined && exclude.size > 0) {
          for (let i = 0; i < 5 && exclude.has(chosen.endpoint.id); i++)
            chosen = choose(c, healthy, undefined, random);
        }
      }
      let queued = false;
      if ((options.protocol ?? 'http') === 'http' && c.active >= pool.maxConnections) {
        if (c.pending.length >= pool.maxPendingRequests)
          return {
            kind: 'unavailable',
            status: 503,
            flags: ['UO'],
            body: 'upstream connect error or disconnect/reset before headers. reset reason: overflow',
            policy,
          };
        queued = true;
      }
      return {
        kind: 'endpoint',
        endpoint: chosen?.endpoint,
        lease: lease(c, chosen, queued),
        policy,
        ...(setCookie === undefined ? {} : { setCookie }),
      };
    },
    tryRetry(backend) {
      const c = cluster(backend);
      const budget = c.policy.retryBudget;
      const limit =
        budget === undefined
          ? c.policy.connectionPool.maxRetries
          : Math.max(
              budget.minRetryConcurrency,
              Math.floor((budget.percent / 100) * (c.active + c.pending.length)),
            );
      if (c.activeRetries >= limit) return undefined;
      c.activeRetries++;
      let ended = false;
      return {
        end() {
          if (ended) return;
          ended = true;
          c.activeRetries--;
        },
      };
    },
    status(backend, nowMs) {
      const c = cluster(backend);
      tick(c, nowMs ?? source.now());
      return {
        backend,
        activeRequests: c.active,
        pendingRequests: c.pending.length,
        activeRetries: c.activeRetries,
        endpoints: c.order.map((id) => {
          const st = c.states.get(id) as EndpointState;
          return {
            endpoint: st.endpoint,
            activeRequests: st.active,
            ejected: st.ejected,
            ejectedUntilMs: st.ejected ? st.returnAtMs : undefined,
            ejections: st.ejections,
            consecutive5xx: st.c5xx,
            consecutiveGatewayErrors: st.cGateway,
          };
        }),
      };
    },
  };
}

/**
 * The endpoints of a Service from pods, as the Kubernetes endpoints controller selects them: pods of the
 * Service's namespace whose labels match its selector and that have an IP, at the Service port's target
 * port (a named target port is looked up in the pod's `ports`).
 *
 * @param workloads - The pods.
 * @param service - The Service's namespace, selector and port mapping.
 * @param servicePort - The Service port.
 * @param subsetLabels - A DestinationRule subset's labels, if any.
 * @returns The endpoints.
 * @example
 * ```ts
 * endpointsFromWorkloads(pods, { namespace: 'bookinfo', selector: { app: 'reviews' }, ports: [{ port: 9080, targetPort: 9080 }] }, 9080, { version: 'v1' });
 * ```
 */
export function endpointsFromWorkloads(
  workloads: readonly WorkloadInput[],
  service: {
    readonly namespace: string;
    readonly selector: Readonly<Record<string, string>> | undefined;
    readonly ports: readonly { readonly port: number; readonly targetPort: number | string | undefined }[];
  },
  servicePort: number,
  subsetLabels: Readonly<Record<string, string>> | undefined,
): EndpointInput[] {
  if (service.selector === undefined) return [];
  const target = service.ports.find((p) => p.port === servicePort)?.targetPort;
  const out: EndpointInput[] = [];
  for (const w of workloads) {
    if (w.namespace !== service.namespace || w.ip === undefined) continue;
    if (!labelsMatch(w.labels, service.selector) || !labelsMatch(w.labels, subsetLabels)) continue;
    const port =
      typeof target === 'number'
        ? target
        : typeof target === 'string'
          ? (w.ports?.[target] ?? servicePort)
          : servicePort;
    out.push({
      id: `${w.namespace}/${w.name}`,
      ip: w.ip,
      port,
      name: w.name,
      namespace: w.namespace,
      labels: w.labels,
    });
  }
  return out;
}
