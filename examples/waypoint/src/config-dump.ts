/**
 * The waypoint's `/config_dump`: what it serves and how, compiled. Not Envoy's protobuf dump (there is no
 * Envoy here), but the same questions answered: which services use this waypoint; per service port the
 * protocol and listener handling, the routes in the order they are tried (with their source object, rule
 * and compiled action), the DestinationRule policy in effect, and the AuthorizationPolicies and
 * RequestAuthentications that apply; the configuration's generation, hash and last rejected edit; and the
 * upstream connection pool.
 * @module
 */
import type { Workload as AuthzWorkload, PolicyEngine } from '@ambient-kit/authz';
import type { Action, Entry, Router, Table } from '@ambient-kit/routing';
import type { Service, Workload, WorkloadStore } from '@ambient-kit/workload-api';
import { usesWaypoint } from './destination.js';
import type { WaypointError } from './errors.js';
import type { L7Config } from './l7-config.js';
import { listenerMode, upstreamHttpVersion } from './protocol.js';
import { servicePortProtocol } from './request-handler.js';
import type { UpstreamPoolStats } from './upstream.js';

/** What the dump is built from. */
export interface ConfigDumpInput {
  readonly self: Workload;
  readonly address: string | undefined;
  readonly state: 'PRE_INITIALIZING' | 'LIVE' | 'DRAINING';
  readonly store: WorkloadStore;
  readonly authzWorkload: AuthzWorkload;
  readonly config: L7Config;
  readonly generation: number;
  readonly loadedAtMs: number | undefined;
  readonly lastError: WaypointError | undefined;
  readonly upstream: UpstreamPoolStats;
}

/** JSON-safe copy: functions dropped, infinities spelled out, class instances by their fields. */
function plain(value: unknown, depth = 0): unknown {
  if (depth > 12) return '…';
  if (value === null || value === undefined) return value ?? null;
  if (typeof value === 'number') return Number.isFinite(value) ? value : String(value);
  if (typeof value === 'string' || typeof value === 'boolean') return value;
  if (typeof value === 'function') return undefined;
  if (Array.isArray(value)) return value.map((v) => plain(v, depth + 1));
  if (value instanceof Map)
    return Object.fromEntries([...value].map(([k, v]) => [String(k), plain(v, depth + 1)]));
  if (typeof value === 'object') {
    const out: Record<string, unknown> = {};
    for (const [k, v] of Object.entries(value)) {
      if (typeof v === 'function') continue;
      out[k] = plain(v, depth + 1);
    }
    return out;
  }
  return String(value);
}

function actionOf(a: Action): Record<string, unknown> {
  return {
    kind: a.kind,
    backends: a.backends.map((b) => ({
      service: b.backend.service,
      namespace: b.backend.namespace,
      hostname: b.backend.hostname,
      port: b.backend.port,
      ...(b.backend.subset === undefined ? {} : { subset: b.backend.subset }),
      weight: b.weight,
      ...(b.invalid === undefined ? {} : { invalid: plain(b.invalid) }),
    })),
    ...(a.timeoutMs > 0 ? { timeoutMs: a.timeoutMs } : {}),
    ...(a.backendRequestTimeoutMs > 0 ? { backendRequestTimeoutMs: a.backendRequestTimeoutMs } : {}),
    ...(a.retries === undefined ? {} : { retries: plain(a.retries) }),
    ...(a.fault === undefined ? {} : { fault: plain(a.fault) }),
    ...(a.mirrors.length === 0
      ? {}
      : { mirrors: a.mirrors.map((m) => ({ backend: plain(m.backend), percent: m.percent })) }),
    ...(a.redirect === undefined ? {} : { redirect: plain(a.redirect) }),
    ...(a.direct === undefined ? {} : { directResponse: plain(a.direct) }),
    ...(a.rewrite === undefined
      ? {}
      : {
          rewrite: {
            ...(a.rewrite.path === undefined ? {} : { path: a.rewrite.path.kind }),
            ...(a.rewrite.authority === undefined ? {} : { authority: a.rewrite.authority }),
          },
        }),
    ...(a.requestHeaders === undefined ? {} : { requestHeaders: plain(a.requestHeaders) }),
    ...(a.cors === undefined ? {} : { cors: true }),
  };
}

function entriesOf(table: Table | undefined): Record<string, unknown>[] {
  return (table?.entries ?? []).map((e: Entry) => ({
    routeName: e.source.routeName,
    source: plain(e.source),
    action: actionOf(e.action),
  }));
}

function routesOf(router: Router, hostname: string): Record<string, unknown> {
  const svc = router.compiled.services.get(hostname);
  if (svc === undefined)
    return {
      mode: 'passthrough',
      note: "no route attached: the request goes to the service unchanged, with Istio's default retry policy",
    };
  if (svc.mode === 'virtual-service')
    return { mode: 'VirtualService', routes: entriesOf(svc.virtualService) };
  const group = (g: typeof svc.producer) =>
    g === undefined
      ? undefined
      : {
          byPort: Object.fromEntries([...g.byPort].map(([port, t]) => [String(port), entriesOf(t)])),
          ...(g.any === undefined ? {} : { anyPort: entriesOf(g.any) }),
        };
  return {
    mode: 'Gateway API',
    producer: group(svc.producer) ?? null,
    consumers: Object.fromEntries([...svc.consumers].map(([ns, g]) => [ns, group(g)])),
  };
}

function policiesOf(engine: PolicyEngine, workload: AuthzWorkload, s: Service): Record<string, unknown> {
  const ref = { kind: 'Service', name: s.name, namespace: s.namespace };
  return {
    authorizationPolicies: engine.applicablePolicies(workload, ref),
    requestAuthentications: [
      ...new Set(engine.jwtRulesFor(workload, ref).map((r) => `${r.policy} (${r.rule.issuer})`)),
    ],
  };
}

/**
 * Builds the dump.
 *
 * @param input - The waypoint's state.
 * @returns A JSON-safe object.
 * @example
 * ```ts
 * res.end(JSON.stringify(buildConfigDump(input), null, 2));
 * ```
 */
export function buildConfigDump(input: ConfigDumpInput): Record<string, unknown> {
  const { config, store, self } = input;
  const services = [...store.services()].filter((s) => usesWaypoint(store, self, s.waypoint));
  const kindName = (o: unknown): Record<string, unknown> => {
    const v = o as { kind?: unknown; metadata?: { name?: unknown; namespace?: unknown } };
    return { kind: v.kind, namespace: v.metadata?.namespace ?? 'default', name: v.metadata?.name };
  };
  return {
    waypoint: {
      uid: self.uid,
      identity: self.identity,
      address: input.address ?? null,
      state: input.state,
    },
    config: {
      generation: input.generation,
      sha256: config.sha256,
      loadedAt: input.loadedAtMs === undefined ? null : new Date(input.loadedAtMs).toISOString(),
      lastError:
        input.lastError === undefined
          ? null
          : { message: input.lastError.message, issues: input.lastError.issues.map((i) => plain(i)) },
      resources: {
        routing: config.routeObjects.map(kindName),
        security: config.securityObjects.map(kindName),
      },
      skipped: config.skipped.map((s) => plain(s)),
      conflicts: config.router.conflicts.map((c) => plain(c)),
      warnings: config.router.warnings,
    },
    services: services.map((s) => ({
      hostname: s.hostname,
      name: s.name,
      namespace: s.namespace,
      vips: s.vips.map((v) => (v.network === '' ? v.address : `${v.network}/${v.address}`)),
      ports: s.ports.map((p) => {
        const protocol = servicePortProtocol(config, s.hostname, s.ports, p.servicePort);
        return {
          port: p.servicePort,
          targetPort: p.targetPort,
          protocol,
          listener: listenerMode(protocol),
          upstream: upstreamHttpVersion(protocol) === '2' ? 'HTTP/2' : 'HTTP/1.1',
          trafficPolicy: plain(
            config.router.policyFor({
              service: s.name,
              namespace: s.namespace,
              port: p.servicePort,
              hostname: s.hostname,
            }),
          ),
        };
      }),
      routing: routesOf(config.router, s.hostname),
      ...policiesOf(config.engine, input.authzWorkload, s),
    })),
    upstream: input.upstream,
  };
}
