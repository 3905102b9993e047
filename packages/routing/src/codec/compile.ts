/**
 * Compiles validated resources into route tables, the way istiod builds a waypoint's routes:
 *
 * - Gateway API routes (kubernetes-sigs/gateway-api@8bb74df0:apis/v1/httproute_types.go) attach to a
 *   Service through `parentRefs` of kind Service, optionally for one port. Routes in the Service's
 *   namespace are producer routes; routes elsewhere are consumer routes that apply only to clients of
 *   their namespace, and take the place of the producer routes for them (GEP-1294, GEP-1686: "Consumer
 *   routes have priority over producer routes"). Each rule match becomes one entry, and entries are sorted
 *   as istiod sorts them (istio/istio@86c9f01f:pilot/pkg/config/kube/gateway/conversion.go
 *   `sortHTTPRoutes` over routes ordered by `sortRoutesByCreationTime`): Exact path, then PathPrefix, then
 *   RegularExpression; longer values first; a method match first; more header matches first; more query
 *   matches first; then the oldest route, then `namespace/name`, then rule and match order.
 * - VirtualServices whose `hosts` name the Service apply in creation order, their `http` rules first
 *   match wins (istio/istio@86c9f01f:pilot/pkg/networking/core/listener_waypoint.go
 *   `getVirtualServiceForWaypoint`: VirtualServices of the Service's or the waypoint's namespace).
 * - A Service named by both is a conflict. Istio documents that "Mixing VirtualService and HTTPRoute for
 *   the same workload is not supported and leads to undefined behavior" (istio.io
 *   docs/ambient/migrate/migrate-policies, and docs/ambient/usage/l7-features: "Mixing Istio classic API
 *   and Gateway API configuration is not supported"). This engine is deterministic instead: by default the
 *   Gateway API routes win (Istio's recommended API for waypoints), and the conflict is reported in
 *   `conflicts`; `conflictPolicy` can make the VirtualService win or reject the configuration.
 * @module
 */
import { err, ok, type Result } from 'neverthrow';
import type {
  Action,
  BackendTarget,
  CompiledRouting,
  CorsSpec,
  Entry,
  FaultSpec,
  GroupTables,
  HeaderOps,
  MirrorSpec,
  RedirectSpec,
  Rewrite,
  RoutingConflict,
  ServiceInfo,
  ServiceRouting,
  Table,
} from './compiled.js';
import { parseGatewayDuration, parseGoDuration } from './duration.js';
import { collectIssues, RoutingError } from './errors.js';
import type {
  BackendRef,
  GrpcRouteMatch,
  GrpcRouteResource,
  HeaderFilter,
  HttpRouteFilter,
  HttpRouteMatch,
  HttpRouteResource,
  ParentReference,
} from './gateway-api.js';
import {
  type CorsPolicy,
  type Destination,
  type DestinationRuleResource,
  GRPC_STATUS,
  type HeaderOperations,
  type HttpMatchRequest,
  hostMatches,
  type StringMatch,
  type VirtualServiceHttpRoute,
  type VirtualServiceResource,
} from './istio-networking.js';
import {
  type CompiledMatch,
  type HeaderMatcher,
  type MatchContext,
  matches,
  type PathMatcher,
  type QueryMatcher,
  type StrMatcher,
} from './match.js';
import { buildPathIndex, type IndexKey } from './path-index.js';
import { compileRe2, type Re2 } from './regex.js';
import type { RouteResource } from './resources.js';
import {
  DEFAULT_BACKOFF_BASE_MS,
  ISTIO_DEFAULT_RETRY_ON,
  ISTIO_DEFAULT_RETRY_POLICY,
  parseRetryOn,
} from './retry-policy.js';
import type { Backend, ResponseHeaderOps, RetryPolicy, RouteSource } from './types.js';

/** Options of {@link compileRouting}. */
export interface CompileOptions {
  /** The cluster's DNS suffix. Default `cluster.local`. */
  readonly domainSuffix?: string;
  /** Namespace of resources that name none. Default `default`. */
  readonly defaultNamespace?: string;
  /**
   * The waypoint's namespace: VirtualServices there apply too (besides the Service's own namespace), and
   * its DestinationRules win. Default: each Service's own namespace.
   */
  readonly waypointNamespace?: string;
  /** MeshConfig `rootNamespace` (DestinationRules there apply mesh-wide). Default `istio-system`. */
  readonly rootNamespace?: string;
  /**
   * A Service with both a VirtualService and Gateway API routes: `prefer-gateway-api` (default),
   * `prefer-virtual-service`, or `reject` (an error, `ROUTING_ERR_CONFLICT`). Every conflict is reported.
   */
  readonly conflictPolicy?: 'prefer-gateway-api' | 'prefer-virtual-service' | 'reject';
  /**
   * VirtualService matches with `sourceLabels`: `evaluate` them against `request.sourceLabels` (default,
   * as a sidecar does), or `ignore-match` as Istio's waypoint does (it drops such matches,
   * istio/istio#51565, `listener_waypoint.go` `waypointInboundRoute`).
   */
  readonly sourceLabelMatches?: 'evaluate' | 'ignore-match';
  /**
   * Whether backends must name Services given as resources: `strict` (unknown Service or port → the
   * Gateway API's 500 for that share), `lenient`, or `auto` (default): strict when any Service was given.
   */
  readonly backendValidation?: 'auto' | 'strict' | 'lenient';
}

interface Ctx {
  readonly suffix: string;
  readonly defaultNs: string;
  readonly waypointNs: string | undefined;
  readonly rootNs: string;
  readonly services: Map<string, ServiceInfo>;
  readonly strictBackends: boolean;
  readonly sourceLabels: 'evaluate' | 'ignore-match';
  readonly issues: RoutingError[];
  readonly warnings: string[];
}

const EMPTY_RESPONSE_OPS: ResponseHeaderOps = Object.freeze({
  set: Object.freeze({}),
  add: Object.freeze({}),
  remove: Object.freeze([]),
});

const nsOf = (r: { readonly metadata: { readonly namespace?: string } }, ctx: Ctx): string =>
  r.metadata.namespace ?? ctx.defaultNs;
const label = (r: RouteResource, ctx: Ctx): string => `${r.kind} ${nsOf(r, ctx)}/${r.metadata.name}`;
const creation = (r: RouteResource): number => {
  const t =
    r.metadata.creationTimestamp === undefined ? Number.NaN : Date.parse(r.metadata.creationTimestamp);
  // A missing timestamp is Go's zero time: older than everything.
  return Number.isNaN(t) ? Number.NEGATIVE_INFINITY : t;
};

/**
 * Istio's short-name resolution (`ResolveShortnameToFQDN`): a name without dots is a Service in the given
 * namespace; anything else is taken as written.
 *
 * @param host - The host as written.
 * @param namespace - The namespace of the resource that names it.
 * @param suffix - The cluster DNS suffix.
 * @returns The FQDN.
 * @example
 * ```ts
 * resolveHost('reviews', 'bookinfo', 'cluster.local'); // 'reviews.bookinfo.svc.cluster.local'
 * ```
 */
export function resolveHost(host: string, namespace: string, suffix: string): string {
  if (host.includes('.') || host.startsWith('*')) return host;
  return `${host}.${namespace}.svc.${suffix}`;
}

/**
 * The Service name and namespace of a cluster FQDN (`name.namespace.svc.<suffix>`).
 *
 * @param hostname - The FQDN.
 * @param suffix - The cluster DNS suffix.
 * @returns Name and namespace, or the host itself and `''` for other hosts.
 * @example
 * ```ts
 * splitHostname('reviews.bookinfo.svc.cluster.local', 'cluster.local'); // { name: 'reviews', namespace: 'bookinfo' }
 * ```
 */
export function splitHostname(hostname: string, suffix: string): { name: string; namespace: string } {
  const tail = `.svc.${suffix}`;
  if (hostname.endsWith(tail)) {
    const head = hostname.slice(0, -tail.length);
    const dot = head.indexOf('.');
    if (dot > 0 && head.indexOf('.', dot + 1) < 0)
      return { name: head.slice(0, dot), namespace: head.slice(dot + 1) };
  }
  return { name: hostname, namespace: '' };
}

function backendOf(hostname: string, port: number, subset: string | undefined, ctx: Ctx): Backend {
  const { name, namespace } = splitHostname(hostname, ctx.suffix);
  return subset === undefined
    ? { service: name, namespace, port, hostname }
    : { service: name, namespace, port, subset, hostname };
}

function headerOpsFromGateway(filter: HeaderFilter | undefined, request: boolean): HeaderOps | undefined {
  if (filter === undefined) return undefined;
  let authority: string | undefined;
  const set: (readonly [string, string])[] = [];
  for (const h of filter.set ?? []) {
    const name = h.name.toLowerCase();
    if (request && name === 'host') authority = h.value;
    else set.push([name, h.value]);
  }
  return {
    remove: (filter.remove ?? []).map((n) => n.toLowerCase()),
    set,
    add: (filter.add ?? []).map((h) => [h.name.toLowerCase(), h.value] as const),
    authority,
  };
}

function headerOpsFromIstio(
  ops: HeaderOperations | undefined,
  request: boolean,
  ctx: Ctx,
  where: string,
  resource: string,
): HeaderOps | undefined {
  if (ops === undefined) return undefined;
  let authority: string | undefined;
  const set: (readonly [string, string])[] = [];
  const add: (readonly [string, string])[] = [];
  const check = (value: string, name: string): void => {
    // Envoy command operators (%DOWNSTREAM_REMOTE_ADDRESS% ...) cannot be evaluated here: fail closed.
    if (/%[A-Z_]+(\(.*?\))?%/.test(value.replaceAll('%%', '')))
      ctx.issues.push(
        new RoutingError(
          'ROUTING_ERR_UNSUPPORTED',
          `header ${name}: Envoy substitution operators are not evaluated by this router`,
          {
            resource,
            path: where,
          },
        ),
      );
  };
  for (const [k, v] of Object.entries(ops.set ?? {})) {
    const name = k.toLowerCase();
    check(v, name);
    if (request && (name === 'host' || name === ':authority')) authority = v;
    else set.push([name, v.replaceAll('%%', '%')]);
  }
  for (const [k, v] of Object.entries(ops.add ?? {})) {
    const name = k.toLowerCase();
    check(v, name);
    if (request && (name === 'host' || name === ':authority')) authority = v;
    else add.push([name, v.replaceAll('%%', '%')]);
  }
  return { remove: (ops.remove ?? []).map((n) => n.toLowerCase()), set, add, authority };
}

/**
 * Merges response header changes, later ones winning: a later `set` replaces earlier values, a later
 * `add` appends, removals accumulate.
 *
 * @param layers - Changes in order of application.
 * @returns The merged changes.
 * @example
 * ```ts
 * mergeResponseOps([route, backend]);
 * ```
 */
export function mergeResponseOps(layers: readonly (HeaderOps | undefined)[]): ResponseHeaderOps {
  if (layers.every((l) => l === undefined)) return EMPTY_RESPONSE_OPS;
  const set: Record<string, string> = {};
  const add: Record<string, string> = {};
  const remove: string[] = [];
  for (const l of layers) {
    if (l === undefined) continue;
    for (const r of l.remove) {
      if (!remove.includes(r)) remove.push(r);
      delete set[r];
      delete add[r];
    }
    for (const [n, v] of l.set) {
      set[n] = v;
      delete add[n];
    }
    for (const [n, v] of l.add) {
      if (set[n] !== undefined) set[n] = `${set[n]},${v}`;
      else add[n] = add[n] === undefined ? v : `${add[n]},${v}`;
    }
  }
  return Object.freeze({ set: Object.freeze(set), add: Object.freeze(add), remove: Object.freeze(remove) });
}

function exactOrRegex(
  kind: 'Exact' | 'RegularExpression' | undefined,
  value: string,
  at: string,
  resource: string,
  ctx: Ctx,
): StrMatcher {
  if (kind === 'RegularExpression') {
    const re = compileRe2(value);
    if (typeof re === 'string') {
      ctx.issues.push(new RoutingError('ROUTING_ERR_INVALID_REGEX', re, { resource, path: at }));
      return { kind: 'exact', value };
    }
    return { kind: 'regex', re };
  }
  return { kind: 'exact', value };
}

const ALWAYS_MATCH: Omit<CompiledMatch, 'path'> = Object.freeze({
  method: undefined,
  headers: [],
  query: [],
  authority: undefined,
  scheme: undefined,
  port: 0,
  sourceNamespace: undefined,
  sourceLabels: undefined,
  never: false,
});

function gatewayHeaders(
  headers:
    | readonly {
        readonly type?: 'Exact' | 'RegularExpression';
        readonly name: string;
        readonly value: string;
      }[]
    | undefined,
  at: string,
  resource: string,
  ctx: Ctx,
): HeaderMatcher[] {
  const out: HeaderMatcher[] = [];
  const seen = new Set<string>();
  (headers ?? []).forEach((h, i) => {
    const name = h.name.toLowerCase();
    // "If multiple entries specify equivalent header names, only the first entry ... MUST be considered."
    if (seen.has(name)) return;
    seen.add(name);
    out.push({
      name,
      m: exactOrRegex(h.type, h.value, `${at}.headers[${i}].value`, resource, ctx),
      invert: false,
    });
  });
  return out;
}

function compileHttpMatch(m: HttpRouteMatch, at: string, resource: string, ctx: Ctx): CompiledMatch {
  const type = m.path?.type ?? 'PathPrefix';
  const value = m.path?.value ?? '/';
  let path: PathMatcher;
  if (type === 'Exact') path = { kind: 'exact', value, ignoreCase: false };
  else if (type === 'PathPrefix')
    path = { kind: 'segment', value: value === '/' ? '' : value.replace(/\/$/, '') };
  else {
    const re = compileRe2(value);
    if (typeof re === 'string') {
      ctx.issues.push(
        new RoutingError('ROUTING_ERR_INVALID_REGEX', re, { resource, path: `${at}.path.value` }),
      );
      path = { kind: 'none' };
    } else path = { kind: 'regex', re, value };
  }
  const query: QueryMatcher[] = [];
  const seenQuery = new Set<string>();
  (m.queryParams ?? []).forEach((q, i) => {
    if (seenQuery.has(q.name)) return;
    seenQuery.add(q.name);
    query.push({
      name: q.name,
      m: exactOrRegex(q.type, q.value, `${at}.queryParams[${i}].value`, resource, ctx),
    });
  });
  return {
    ...ALWAYS_MATCH,
    path,
    method: m.method === undefined ? undefined : { kind: 'exact', value: m.method },
    headers: gatewayHeaders(m.headers, at, resource, ctx),
    query,
  };
}

function compileGrpcMatch(m: GrpcRouteMatch, at: string, resource: string, ctx: Ctx): CompiledMatch {
  // istiod's createGRPCURIMatch: gRPC paths are /<service>/<method>.
  let path: PathMatcher = { kind: 'none' };
  const method = m.method;
  if (method !== undefined) {
    const regex = (source: string): PathMatcher => {
      const re = compileRe2(source);
      if (typeof re === 'string') {
        ctx.issues.push(
          new RoutingError('ROUTING_ERR_INVALID_REGEX', re, { resource, path: `${at}.method` }),
        );
        return { kind: 'none' };
      }
      return { kind: 'regex', re, value: source };
    };
    if ((method.type ?? 'Exact') === 'Exact') {
      if (method.method === undefined) path = { kind: 'segment', value: `/${method.service ?? ''}` };
      else if (method.service === undefined) path = regex(`/[^/]+/${method.method}`);
      else path = { kind: 'exact', value: `/${method.service}/${method.method}`, ignoreCase: false };
    } else if (method.method === undefined) path = regex(`/${method.service ?? ''}/.+`);
    else if (method.service === undefined) path = regex(`/[^/]+/${method.method}`);
    else path = regex(`/${method.service}/${method.method}`);
  }
  return { ...ALWAYS_MATCH, path, headers: gatewayHeaders(m.headers, at, resource, ctx) };
}

const isServiceKind = (group: string | undefined, kind: string | undefined, defaultKind: string): boolean =>
  (group === '' || group === 'core' || (group === undefined && defaultKind === 'Service')) &&
  (kind ?? defaultKind) === 'Service';

function gatewayBackend(
  ref: BackendRef,
  routeNs: string,
  ctx: Ctx,
): { backend: Backend; invalid: BackendTarget['invalid'] } {
  const ns = ref.namespace ?? routeNs;
  const port = ref.port ?? 0;
  if (!isServiceKind(ref.group, ref.kind, 'Service')) {
    const hostname = `${ref.name}.${ns}.${(ref.kind ?? 'Service').toLowerCase()}`;
    return {
      backend: { service: ref.name, namespace: ns, port, hostname },
      invalid: {
        status: 500,
        flags: ['NC'],
        reason: `backendRef kind ${ref.group ?? ''}/${ref.kind ?? ''} is not supported`,
      },
    };
  }
  const hostname = `${ref.name}.${ns}.svc.${ctx.suffix}`;
  const backend: Backend = { service: ref.name, namespace: ns, port, hostname };
  if (ctx.strictBackends) {
    const svc = ctx.services.get(hostname);
    if (svc === undefined)
      return {
        backend,
        invalid: { status: 500, flags: ['NC'], reason: `Service ${ns}/${ref.name} not found` },
      };
    if (!svc.ports.some((p) => p.port === port))
      return {
        backend,
        invalid: { status: 500, flags: ['NC'], reason: `Service ${ns}/${ref.name} has no port ${port}` },
      };
  }
  return { backend, invalid: undefined };
}

function mirrorPercent(f: NonNullable<HttpRouteFilter['requestMirror']>): number {
  if (f.fraction !== undefined) return (100 * f.fraction.numerator) / (f.fraction.denominator ?? 100);
  return f.percent ?? 100;
}

interface FilterSet {
  requestHeaders: HeaderOps | undefined;
  responseHeaders: HeaderOps | undefined;
  rewrite: Rewrite | undefined;
  redirect: RedirectSpec | undefined;
  mirrors: MirrorSpec[];
  cors: CorsSpec | undefined;
}

function gatewayPathModifier(
  p:
    | { readonly type: string; readonly replaceFullPath?: string; readonly replacePrefixMatch?: string }
    | undefined,
) {
  if (p === undefined) return undefined;
  return p.type === 'ReplaceFullPath'
    ? ({ kind: 'full', value: p.replaceFullPath ?? '/' } as const)
    : ({ kind: 'gateway-prefix', value: p.replacePrefixMatch ?? '/' } as const);
}

// Gateway API CORS origins: `*`, exact `scheme://host[:port]`, or a `*.` wildcard host ("greedy match to
// the left").
function gatewayOriginMatcher(origins: readonly string[]): (origin: string) => boolean {
  if (origins.includes('*')) return () => true;
  const exact = new Set<string>();
  const wildcards: { scheme: string; suffix: string; port: string }[] = [];
  for (const o of origins) {
    const m = /^(https?):\/\/(.*?)(:[0-9]+)?$/.exec(o);
    if (m === null) continue;
    const host = m[2] ?? '';
    if (host === '*' || host.startsWith('*.'))
      wildcards.push({ scheme: m[1] ?? '', suffix: host.slice(1), port: m[3] ?? '' });
    else exact.add(o.toLowerCase());
  }
  return (origin) => {
    const lower = origin.toLowerCase();
    if (exact.has(lower)) return true;
    const m = /^(https?):\/\/(.*?)(:[0-9]+)?$/.exec(lower);
    if (m === null) return false;
    return wildcards.some(
      (w) =>
        w.scheme === m[1] && (m[3] ?? '') === w.port && (w.suffix === '' || (m[2] ?? '').endsWith(w.suffix)),
    );
  };
}

function gatewayFilters(
  filters: readonly HttpRouteFilter[] | undefined,
  routeNs: string,
  at: string,
  resource: string,
  ctx: Ctx,
): FilterSet {
  const out: FilterSet = {
    requestHeaders: undefined,
    responseHeaders: undefined,
    rewrite: undefined,
    redirect: undefined,
    mirrors: [],
    cors: undefined,
  };
  (filters ?? []).forEach((f, i) => {
    const where = `${at}[${i}]`;
    switch (f.type) {
      case 'RequestHeaderModifier':
        out.requestHeaders = headerOpsFromGateway(f.requestHeaderModifier, true);
        return;
      case 'ResponseHeaderModifier':
        out.responseHeaders = headerOpsFromGateway(f.responseHeaderModifier, false);
        return;
      case 'URLRewrite':
        out.rewrite = { path: gatewayPathModifier(f.urlRewrite?.path), authority: f.urlRewrite?.hostname };
        return;
      case 'RequestRedirect': {
        const r = f.requestRedirect ?? {};
        out.redirect = {
          status: r.statusCode ?? 302,
          scheme: r.scheme,
          host: r.hostname,
          // istiod createRedirectFilter: no port → the scheme's default when a scheme is set, else the request's.
          port: r.port ?? (r.scheme !== undefined ? 'scheme-default' : 'request'),
          path: gatewayPathModifier(r.path),
        };
        return;
      }
      case 'RequestMirror': {
        const m = f.requestMirror;
        if (m === undefined) return;
        const { backend, invalid } = gatewayBackend(m.backendRef, routeNs, ctx);
        if (invalid !== undefined)
          ctx.warnings.push(`${resource}: ${where}: mirror dropped: ${invalid.reason}`);
        else out.mirrors.push({ backend, percent: mirrorPercent(m) });
        return;
      }
      case 'CORS': {
        const c = f.cors ?? {};
        out.cors = {
          allowOrigin: gatewayOriginMatcher(c.allowOrigins ?? []),
          allowMethods: c.allowMethods === undefined ? undefined : c.allowMethods.join(','),
          allowHeaders: c.allowHeaders === undefined ? undefined : c.allowHeaders.join(','),
          exposeHeaders: c.exposeHeaders === undefined ? undefined : c.exposeHeaders.join(','),
          maxAge: String(c.maxAge ?? 5),
          allowCredentials: c.allowCredentials === true,
          unmatchedPreflights: 'forward',
        };
        return;
      }
      default:
        // ExtensionRef and ExternalAuth name behaviour this router cannot perform: fail closed.
        ctx.issues.push(
          new RoutingError(
            'ROUTING_ERR_UNSUPPORTED',
            `filter type ${f.type} is not supported (istiod: "unsupported filter type")`,
            {
              resource,
              path: `${where}.type`,
            },
          ),
        );
    }
  });
  return out;
}

function gatewayRetry(
  retry:
    | { readonly codes?: readonly number[]; readonly attempts?: number; readonly backoff?: string }
    | undefined,
  backendRequestMs: number,
): RetryPolicy | undefined {
  if (retry === undefined) {
    // istiod: a rule without `retry` keeps Istio's default policy; `backendRequest` then becomes the route
    // timeout, which bounds the single attempt exactly as a per-try timeout would.
    return ISTIO_DEFAULT_RETRY_POLICY;
  }
  // istiod convertHTTPRoute: retry on connection errors plus the listed codes, 2 attempts by default.
  const codes = [...(retry.codes ?? [])];
  const retryOn = ['connect-failure', 'refused-stream', 'unavailable', 'cancelled'];
  if (codes.length > 0) retryOn.push('retriable-status-codes');
  const base =
    retry.backoff === undefined
      ? DEFAULT_BACKOFF_BASE_MS
      : (parseGatewayDuration(retry.backoff) ?? DEFAULT_BACKOFF_BASE_MS);
  return {
    attempts: retry.attempts ?? 2,
    retryOn,
    retriableStatusCodes: codes,
    perTryTimeoutMs: backendRequestMs,
    backoffBaseMs: base,
    backoffMaxMs: base * 10,
    avoidPreviousHosts: true,
  };
}

interface RouteItem {
  readonly route: HttpRouteResource | GrpcRouteResource;
  readonly ruleIndex: number;
  readonly matchIndex: number | undefined;
  readonly entry: Entry;
  /** Attached port (0 = all ports). */
  readonly port: number;
  /** Which of the route's Service parentRefs it belongs to. */
  readonly parent: number;
}

function compileGatewayRoute(route: HttpRouteResource | GrpcRouteResource, ctx: Ctx): RouteItem[] {
  const ns = nsOf(route, ctx);
  const resource = label(route, ctx);
  const items: RouteItem[] = [];
  const parents = (route.spec.parentRefs ?? []).filter((p) => isServiceKind(p.group, p.kind, 'Gateway'));
  if (parents.length === 0) return items;
  const rules = route.kind === 'HTTPRoute' ? (route.spec.rules ?? [{}]) : (route.spec.rules ?? [{}]);
  rules.forEach((rule, ruleIndex) => {
    const at = `spec.rules[${ruleIndex}]`;
    if (rule.sessionPersistence !== undefined)
      ctx.issues.push(
        new RoutingError('ROUTING_ERR_UNSUPPORTED', 'sessionPersistence is not supported', {
          resource,
          path: `${at}.sessionPersistence`,
        }),
      );
    const filters = gatewayFilters(rule.filters, ns, `${at}.filters`, resource, ctx);
    const httpRule =
      route.kind === 'HTTPRoute'
        ? (rule as NonNullable<HttpRouteResource['spec']['rules']>[number])
        : undefined;
    const requestMs =
      httpRule?.timeouts?.request === undefined ? 0 : (parseGatewayDuration(httpRule.timeouts.request) ?? 0);
    const backendMs =
      httpRule?.timeouts?.backendRequest === undefined
        ? 0
        : (parseGatewayDuration(httpRule.timeouts.backendRequest) ?? 0);
    const retries = gatewayRetry(httpRule?.retry, backendMs);
    const targets: BackendTarget[] = (rule.backendRefs ?? []).map((ref, i) => {
      const { backend, invalid } = gatewayBackend(ref, ns, ctx);
      const own = gatewayFilters(ref.filters, ns, `${at}.backendRefs[${i}].filters`, resource, ctx);
      if (own.redirect !== undefined)
        ctx.issues.push(
          new RoutingError(
            'ROUTING_ERR_UNSUPPORTED',
            'RequestRedirect in a backendRef filter is not supported',
            {
              resource,
              path: `${at}.backendRefs[${i}].filters`,
            },
          ),
        );
      return {
        backend,
        weight: ref.weight ?? 1,
        invalid,
        requestHeaders: own.requestHeaders,
        responseHeaders: mergeResponseOps([filters.responseHeaders, own.responseHeaders]),
        rewrite: own.rewrite,
        mirrors: own.mirrors,
      };
    });
    const totalWeight = targets.reduce((sum, t) => sum + t.weight, 0);
    const kind: Action['kind'] =
      filters.redirect !== undefined ? 'redirect' : totalWeight === 0 ? 'direct' : 'forward';
    const action: Action = {
      kind,
      backends: targets,
      totalWeight,
      requestHeaders: filters.requestHeaders,
      responseHeaders: mergeResponseOps([filters.responseHeaders]),
      rewrite: filters.rewrite,
      redirect: filters.redirect,
      // "If *all* entries in BackendRefs are invalid, and there are also no filters specified in this route
      // rule, *all* traffic which matches this rule MUST receive a 500 status code"; istiod answers 500 for
      // a rule whose backends weigh 0 in total.
      direct: kind === 'direct' ? { status: 500, body: undefined } : undefined,
      fault: undefined,
      timeoutMs: requestMs,
      backendRequestTimeoutMs: backendMs,
      retries,
      mirrors: filters.mirrors,
      cors: filters.cors,
    };
    const routeName = (rule.name as string | undefined) ?? `${ns}.${route.metadata.name}.${ruleIndex}`;
    const base: Omit<RouteSource, 'match'> = {
      kind: route.kind,
      namespace: ns,
      name: route.metadata.name,
      rule: ruleIndex,
      routeName,
    };
    const matchesOf =
      route.kind === 'HTTPRoute'
        ? ((rule as { matches?: readonly HttpRouteMatch[] }).matches ?? [])
        : ((rule as { matches?: readonly GrpcRouteMatch[] }).matches ?? []);
    const compiled: { match: CompiledMatch; index: number | undefined }[] = [];
    if (matchesOf.length === 0) {
      // HTTPRoute: the CRD default `[{path: {type: PathPrefix, value: /}}]`; GRPCRoute: match every request.
      compiled.push({
        match:
          route.kind === 'HTTPRoute'
            ? compileHttpMatch({}, `${at}.matches`, resource, ctx)
            : { ...ALWAYS_MATCH, path: { kind: 'none' } },
        index: undefined,
      });
    } else {
      matchesOf.forEach((m, i) => {
        compiled.push({
          match:
            route.kind === 'HTTPRoute'
              ? compileHttpMatch(m as HttpRouteMatch, `${at}.matches[${i}]`, resource, ctx)
              : compileGrpcMatch(m as GrpcRouteMatch, `${at}.matches[${i}]`, resource, ctx),
          index: i,
        });
      });
    }
    parents.forEach((parent, pi) => {
      for (const c of compiled) {
        const source: RouteSource = c.index === undefined ? base : { ...base, match: c.index };
        items.push({
          route,
          ruleIndex,
          matchIndex: c.index,
          entry: { match: c.match, action, source },
          port: parentPort(parent, ns, ctx),
          parent: pi,
        });
      }
    });
  });
  return items;
}

function parentPort(parent: ParentReference, routeNs: string, ctx: Ctx): number {
  if (parent.port !== undefined) return parent.port;
  if (parent.sectionName !== undefined) {
    // For a Service parent, sectionName names a Service port.
    const svc = ctx.services.get(`${parent.name}.${parent.namespace ?? routeNs}.svc.${ctx.suffix}`);
    const port = svc?.ports.find((p) => p.name === parent.sectionName);
    if (port !== undefined) return port.port;
  }
  return 0;
}

// sortHTTPRoutes' keys: URI rank (Exact 3 > Prefix 2 > Regex 1 > none -1), URI length, method, headers, query.
function rankOf(m: CompiledMatch): [number, number] {
  switch (m.path.kind) {
    case 'exact':
      return [3, m.path.value.length];
    case 'segment':
      // istiod stores the prefix without its trailing slash; "/" stays "/".
      return [2, m.path.value === '' ? 1 : m.path.value.length];
    case 'prefix':
      return [2, m.path.value.length];
    case 'regex':
      return [1, m.path.value.length];
    case 'none':
      return [-1, 0];
  }
}

function compareGatewayEntries(a: Entry, b: Entry): number {
  const [ra, la] = rankOf(a.match);
  const [rb, lb] = rankOf(b.match);
  if (ra !== rb) return rb - ra;
  if (la !== lb) return lb - la;
  const ma = a.match.method === undefined ? 0 : 1;
  const mb = b.match.method === undefined ? 0 : 1;
  if (ma !== mb) return mb - ma;
  if (a.match.headers.length !== b.match.headers.length)
    return b.match.headers.length - a.match.headers.length;
  return b.match.query.length - a.match.query.length;
}

function indexKey(m: CompiledMatch): IndexKey {
  switch (m.path.kind) {
    case 'exact':
      return m.path.ignoreCase ? { kind: 'none' } : { kind: 'exact', value: m.path.value };
    case 'segment':
      return { kind: 'prefix', value: m.path.value };
    case 'prefix':
      return m.path.ignoreCase ? { kind: 'none' } : { kind: 'prefix', value: m.path.value };
    default:
      return { kind: 'none' };
  }
}

/**
 * Builds a table (and its index) from entries already in precedence order.
 *
 * @param entries - The entries.
 * @returns The table.
 * @example
 * ```ts
 * const table = buildTable(entries);
 * ```
 */
export function buildTable(entries: readonly Entry[]): Table {
  const test = (position: number, ctx: MatchContext): boolean =>
    matches((entries[position] as Entry).match, ctx);
  return {
    entries,
    index: buildPathIndex(
      entries.map((e) => indexKey(e.match)),
      test,
    ),
  };
}

function gatewayGroup(items: readonly RouteItem[]): GroupTables {
  // Route order: oldest first, then "{namespace}/{name}" (Gateway API), then rule and match order.
  const ordered = [...items].sort((a, b) => {
    const ta = creation(a.route);
    const tb = creation(b.route);
    if (ta !== tb) return ta < tb ? -1 : 1;
    const ka = `${a.route.metadata.namespace ?? ''}/${a.route.metadata.name}`;
    const kb = `${b.route.metadata.namespace ?? ''}/${b.route.metadata.name}`;
    if (ka !== kb) return ka < kb ? -1 : 1;
    if (a.ruleIndex !== b.ruleIndex) return a.ruleIndex - b.ruleIndex;
    return (a.matchIndex ?? 0) - (b.matchIndex ?? 0);
  });
  const sortEntries = (list: readonly RouteItem[]): Entry[] =>
    list.map((i) => i.entry).sort(compareGatewayEntries);
  const ports = new Set(ordered.filter((i) => i.port !== 0).map((i) => i.port));
  const anyItems = ordered.filter((i) => i.port === 0);
  const byPort = new Map<number, Table>();
  for (const port of ports)
    byPort.set(port, buildTable(sortEntries(ordered.filter((i) => i.port === 0 || i.port === port))));
  return { byPort, any: anyItems.length === 0 ? undefined : buildTable(sortEntries(anyItems)) };
}

// ---- VirtualService ----

function istioStringMatch(
  m: StringMatch | undefined,
  at: string,
  resource: string,
  ctx: Ctx,
  emptyIsPresent = true,
): StrMatcher | undefined {
  if (m === undefined) return undefined;
  if (m.exact !== undefined)
    return m.exact === '' && emptyIsPresent ? { kind: 'present' } : { kind: 'exact', value: m.exact };
  if (m.prefix !== undefined) return { kind: 'prefix', value: m.prefix };
  if (m.regex !== undefined) {
    if (m.regex === '*') return { kind: 'present' };
    const re = compileRe2(m.regex);
    if (typeof re === 'string') {
      ctx.issues.push(new RoutingError('ROUTING_ERR_INVALID_REGEX', re, { resource, path: `${at}.regex` }));
      return { kind: 'exact', value: m.regex };
    }
    return { kind: 'regex', re };
  }
  // An empty StringMatch matches any value that is present.
  return { kind: 'present' };
}

function compileVsMatch(m: HttpMatchRequest, at: string, resource: string, ctx: Ctx): CompiledMatch {
  let path: PathMatcher = { kind: 'none' };
  const ignoreCase = m.ignoreUriCase === true;
  if (m.uri !== undefined) {
    if (m.uri.exact !== undefined)
      path = { kind: 'exact', value: ignoreCase ? m.uri.exact.toLowerCase() : m.uri.exact, ignoreCase };
    else if (m.uri.prefix !== undefined)
      path = { kind: 'prefix', value: ignoreCase ? m.uri.prefix.toLowerCase() : m.uri.prefix, ignoreCase };
    else if (m.uri.regex !== undefined) {
      const re = compileRe2(m.uri.regex);
      if (typeof re === 'string')
        ctx.issues.push(
          new RoutingError('ROUTING_ERR_INVALID_REGEX', re, { resource, path: `${at}.uri.regex` }),
        );
      else path = { kind: 'regex', re, value: m.uri.regex };
    }
  }
  const headers: HeaderMatcher[] = [];
  for (const [name, sm] of Object.entries(m.headers ?? {})) {
    const mm = istioStringMatch(sm, `${at}.headers[${name}]`, resource, ctx);
    if (mm !== undefined) headers.push({ name: name.toLowerCase(), m: mm, invert: false });
  }
  for (const [name, sm] of Object.entries(m.withoutHeaders ?? {})) {
    const mm = istioStringMatch(sm, `${at}.withoutHeaders[${name}]`, resource, ctx) ?? { kind: 'present' };
    headers.push({ name: name.toLowerCase(), m: mm, invert: true });
  }
  const query: QueryMatcher[] = [];
  for (const [name, sm] of Object.entries(m.queryParams ?? {})) {
    const mm = istioStringMatch(sm, `${at}.queryParams[${name}]`, resource, ctx);
    if (mm !== undefined) query.push({ name, m: mm });
  }
  const gateways = m.gateways ?? [];
  const hasSourceLabels = m.sourceLabels !== undefined && Object.keys(m.sourceLabels).length > 0;
  return {
    path,
    method: istioStringMatch(m.method, `${at}.method`, resource, ctx),
    headers,
    query,
    authority: istioStringMatch(m.authority, `${at}.authority`, resource, ctx),
    scheme: istioStringMatch(m.scheme, `${at}.scheme`, resource, ctx),
    port: m.port ?? 0,
    sourceNamespace: m.sourceNamespace,
    sourceLabels: hasSourceLabels ? m.sourceLabels : undefined,
    // A match bound to gateways other than `mesh` never applies at a waypoint; so does a sourceLabels match
    // when emulating Istio's waypoint.
    never:
      (gateways.length > 0 && !gateways.includes('mesh')) ||
      (hasSourceLabels && ctx.sourceLabels === 'ignore-match'),
  };
}

const percentOf = (p: { readonly value?: number } | undefined, legacy: number | undefined): number =>
  p !== undefined ? (p.value ?? 0) : (legacy ?? 0);

function vsDestination(
  d: Destination,
  vsNs: string,
  ctx: Ctx,
): { backend: Backend; invalid: BackendTarget['invalid'] } {
  const hostname = resolveHost(d.host, vsNs, ctx.suffix);
  const svc = ctx.services.get(hostname);
  let port = d.port?.number ?? 0;
  if (port === 0 && svc !== undefined && svc.ports.length === 1)
    port = (svc.ports[0] as { port: number }).port;
  const backend = backendOf(hostname, port, d.subset, ctx);
  if (ctx.strictBackends && hostname.endsWith(`.svc.${ctx.suffix}`)) {
    if (svc === undefined)
      return { backend, invalid: { status: 503, flags: ['NC'], reason: `Service ${hostname} not found` } };
    if (port !== 0 && !svc.ports.some((p) => p.port === port))
      return {
        backend,
        invalid: { status: 503, flags: ['NC'], reason: `Service ${hostname} has no port ${port}` },
      };
  }
  return { backend, invalid: undefined };
}

function istioOriginMatcher(
  policy: CorsPolicy,
  at: string,
  resource: string,
  ctx: Ctx,
): (origin: string) => boolean {
  const matchers: StrMatcher[] = [];
  for (const o of policy.allowOrigin ?? [])
    matchers.push(o === '*' ? { kind: 'present' } : { kind: 'exact', value: o });
  (policy.allowOrigins ?? []).forEach((o, i) => {
    const m = istioStringMatch(o, `${at}.allowOrigins[${i}]`, resource, ctx, false);
    if (m !== undefined) matchers.push(m.kind === 'exact' && m.value === '*' ? { kind: 'present' } : m);
  });
  return (origin) =>
    matchers.some((m) =>
      m.kind === 'exact'
        ? m.value === origin
        : m.kind === 'prefix'
          ? origin.startsWith(m.value)
          : m.kind === 'regex'
            ? m.re.fullMatch(origin)
            : true,
    );
}

function istioRetries(r: VirtualServiceHttpRoute['retries']): RetryPolicy | undefined {
  // istio retry.ConvertPolicy: nil → the default policy; attempts <= 0 → retries disabled.
  if (r === undefined) return ISTIO_DEFAULT_RETRY_POLICY;
  const attempts = r.attempts ?? 0;
  if (attempts <= 0) return undefined;
  const parsed =
    r.retryOn === undefined || r.retryOn === ''
      ? { retryOn: [...ISTIO_DEFAULT_RETRY_ON], codes: [] }
      : parseRetryOn(r.retryOn);
  const base =
    r.backoff === undefined
      ? DEFAULT_BACKOFF_BASE_MS
      : (parseGoDuration(r.backoff) ?? DEFAULT_BACKOFF_BASE_MS);
  return {
    attempts,
    retryOn: parsed.retryOn,
    retriableStatusCodes: parsed.codes,
    perTryTimeoutMs: r.perTryTimeout === undefined ? 0 : (parseGoDuration(r.perTryTimeout) ?? 0),
    backoffBaseMs: base,
    backoffMaxMs: base * 10,
    avoidPreviousHosts: r.retryIgnorePreviousHosts !== false,
  };
}

function base64Text(b64: string): string {
  const bin = atob(b64);
  const bytes = new Uint8Array(bin.length);
  for (let i = 0; i < bin.length; i++) bytes[i] = bin.charCodeAt(i);
  return new TextDecoder().decode(bytes);
}

function compileVsRule(
  vs: VirtualServiceResource,
  http: VirtualServiceHttpRoute,
  ruleIndex: number,
  ctx: Ctx,
): Entry[] {
  const ns = nsOf(vs, ctx);
  const resource = label(vs, ctx);
  const at = `spec.http[${ruleIndex}]`;
  if (http.delegate !== undefined) {
    ctx.issues.push(
      new RoutingError(
        'ROUTING_ERR_UNSUPPORTED',
        'delegate VirtualServices are not supported at a waypoint',
        { resource, path: `${at}.delegate` },
      ),
    );
    return [];
  }
  const requestHeaders = headerOpsFromIstio(
    http.headers?.request,
    true,
    ctx,
    `${at}.headers.request`,
    resource,
  );
  const routeResponse = headerOpsFromIstio(
    http.headers?.response,
    false,
    ctx,
    `${at}.headers.response`,
    resource,
  );
  const targets: BackendTarget[] = (http.route ?? []).map((d, i) => {
    const { backend, invalid } = vsDestination(d.destination, ns, ctx);
    const own = headerOpsFromIstio(
      d.headers?.request,
      true,
      ctx,
      `${at}.route[${i}].headers.request`,
      resource,
    );
    const ownResponse = headerOpsFromIstio(
      d.headers?.response,
      false,
      ctx,
      `${at}.route[${i}].headers.response`,
      resource,
    );
    // A single destination takes all traffic whatever its weight (Envoy gets no weighted clusters).
    const weight = (http.route ?? []).length === 1 ? 1 : (d.weight ?? 0);
    return {
      backend,
      weight,
      invalid,
      requestHeaders: own,
      responseHeaders: mergeResponseOps([routeResponse, ownResponse]),
      rewrite: undefined,
      mirrors: [],
    };
  });
  const mirrors: MirrorSpec[] = [];
  if (http.mirror !== undefined) {
    const { backend } = vsDestination(http.mirror, ns, ctx);
    mirrors.push({
      backend,
      percent:
        http.mirrorPercentage !== undefined
          ? (http.mirrorPercentage.value ?? 0)
          : (http.mirrorPercent ?? 100),
    });
  }
  for (const m of http.mirrors ?? []) {
    const { backend } = vsDestination(m.destination, ns, ctx);
    mirrors.push({ backend, percent: m.percentage === undefined ? 100 : (m.percentage.value ?? 0) });
  }
  let fault: FaultSpec | undefined;
  if (http.fault !== undefined) {
    const d = http.fault.delay;
    const a = http.fault.abort;
    fault = {
      delayMs: d?.fixedDelay === undefined ? 0 : (parseGoDuration(d.fixedDelay) ?? 0),
      // "If left unspecified, no request will be delayed" / aborted.
      delayPercent: d === undefined ? 0 : percentOf(d.percentage, d.percent),
      abort:
        a === undefined
          ? undefined
          : {
              httpStatus: a.httpStatus,
              grpcStatus: a.grpcStatus === undefined ? undefined : GRPC_STATUS[a.grpcStatus],
              percent: percentOf(a.percentage, undefined),
            },
    };
  }
  let rewrite: Rewrite | undefined;
  if (http.rewrite !== undefined) {
    const w = http.rewrite;
    let path: Rewrite['path'];
    if (w.uriRegexRewrite !== undefined) {
      const re = compileRe2(w.uriRegexRewrite.match ?? '');
      if (typeof re === 'string')
        ctx.issues.push(
          new RoutingError('ROUTING_ERR_INVALID_REGEX', re, {
            resource,
            path: `${at}.rewrite.uriRegexRewrite.match`,
          }),
        );
      else path = { kind: 'regex', re, substitution: w.uriRegexRewrite.rewrite ?? '' };
    } else if (w.uri !== undefined && w.uri !== '') path = { kind: 'envoy-prefix', value: w.uri };
    rewrite = { path, authority: w.authority === undefined || w.authority === '' ? undefined : w.authority };
  }
  let redirect: RedirectSpec | undefined;
  if (http.redirect !== undefined) {
    const r = http.redirect;
    redirect = {
      // Envoy's RedirectAction default: 301.
      status: r.redirectCode === undefined || r.redirectCode === 0 ? 301 : r.redirectCode,
      scheme: r.scheme === '' ? undefined : r.scheme,
      host: r.authority === '' ? undefined : r.authority,
      // istiod: FROM_REQUEST_PORT → the request's port; FROM_PROTOCOL_DEFAULT → no port (the scheme's);
      // neither → Envoy keeps the Host's port.
      port:
        r.port !== undefined
          ? r.port
          : r.derivePort === 'FROM_REQUEST_PORT'
            ? 'request'
            : r.derivePort === 'FROM_PROTOCOL_DEFAULT'
              ? 'scheme-default'
              : 'keep',
      path:
        r.uri !== undefined && r.uri !== ''
          ? { kind: 'full', value: r.uri }
          : r.prefixRewrite !== undefined && r.prefixRewrite !== ''
            ? { kind: 'envoy-prefix', value: r.prefixRewrite }
            : undefined,
    };
  }
  let cors: CorsSpec | undefined;
  if (http.corsPolicy !== undefined) {
    const c = http.corsPolicy;
    cors = {
      allowOrigin: istioOriginMatcher(c, `${at}.corsPolicy`, resource, ctx),
      allowMethods: c.allowMethods === undefined ? undefined : c.allowMethods.join(','),
      allowHeaders: c.allowHeaders === undefined ? undefined : c.allowHeaders.join(','),
      exposeHeaders: c.exposeHeaders === undefined ? undefined : c.exposeHeaders.join(','),
      maxAge:
        c.maxAge === undefined ? undefined : String(Math.floor((parseGoDuration(c.maxAge) ?? 0) / 1000)),
      allowCredentials: c.allowCredentials === true,
      unmatchedPreflights: c.unmatchedPreflights === 'IGNORE' ? 'ignore' : 'forward',
    };
  }
  const totalWeight = targets.reduce((sum, t) => sum + t.weight, 0);
  const direct =
    http.directResponse === undefined
      ? undefined
      : {
          status: http.directResponse.status,
          body:
            http.directResponse.body?.string !== undefined
              ? http.directResponse.body.string
              : http.directResponse.body?.bytes !== undefined
                ? base64Text(http.directResponse.body.bytes)
                : undefined,
        };
  const action: Action = {
    kind: redirect !== undefined ? 'redirect' : direct !== undefined ? 'direct' : 'forward',
    backends: targets,
    totalWeight,
    requestHeaders,
    responseHeaders: mergeResponseOps([routeResponse]),
    rewrite,
    redirect,
    direct,
    fault,
    timeoutMs: http.timeout === undefined ? 0 : (parseGoDuration(http.timeout) ?? 0),
    backendRequestTimeoutMs: 0,
    retries: istioRetries(http.retries),
    mirrors,
    cors,
  };
  const retries = action.retries;
  const withPerTry: Action =
    retries !== undefined && retries.perTryTimeoutMs > 0
      ? { ...action, backendRequestTimeoutMs: retries.perTryTimeoutMs }
      : action;
  const routeName = http.name ?? `${ns}.${vs.metadata.name}.${ruleIndex}`;
  const base: Omit<RouteSource, 'match'> = {
    kind: 'VirtualService',
    namespace: ns,
    name: vs.metadata.name,
    rule: ruleIndex,
    routeName,
  };
  if ((http.match ?? []).length === 0)
    return [{ match: { ...ALWAYS_MATCH, path: { kind: 'none' } }, action: withPerTry, source: base }];
  return (http.match ?? []).map((m, i) => ({
    match: compileVsMatch(m, `${at}.match[${i}]`, resource, ctx),
    action: withPerTry,
    source: { ...base, match: i },
  }));
}

function vsVisible(vs: VirtualServiceResource, viewerNs: string, ctx: Ctx): boolean {
  const exportTo = vs.spec.exportTo ?? [];
  if (exportTo.length === 0 || exportTo.includes('*')) return true;
  const ns = nsOf(vs, ctx);
  return exportTo.includes(viewerNs) || (exportTo.includes('.') && ns === viewerNs);
}

// ---- the whole configuration ----

function destinationRuleLookup(
  rules: readonly DestinationRuleResource[],
  ctx: Ctx,
): CompiledRouting['destinationRules'] {
  const applicable = rules.filter((r) => r.spec.workloadSelector === undefined);
  const cache = new Map<string, DestinationRuleResource | undefined>();
  return (hostname, serviceNs) => {
    const key = `${hostname}|${serviceNs}`;
    if (cache.has(key)) return cache.get(key);
    // Namespace preference: the waypoint's (the client's config namespace), the Service's, the root namespace.
    const order = [ctx.waypointNs ?? serviceNs, serviceNs, ctx.rootNs];
    let best: { rule: DestinationRuleResource; rank: number; specificity: number; time: number } | undefined;
    for (const r of applicable) {
      const rns = nsOf(r, ctx);
      const rank = order.indexOf(rns);
      if (rank < 0) continue;
      const exportTo = r.spec.exportTo ?? [];
      const viewer = ctx.waypointNs ?? serviceNs;
      if (
        exportTo.length > 0 &&
        !exportTo.includes('*') &&
        !exportTo.includes(viewer) &&
        !(exportTo.includes('.') && rns === viewer)
      )
        continue;
      const host = resolveHost(r.spec.host, rns, ctx.suffix);
      if (!hostMatches(host, hostname)) continue;
      const specificity = host === hostname ? Number.MAX_SAFE_INTEGER : host.length;
      const time = creation(r);
      if (
        best === undefined ||
        rank < best.rank ||
        (rank === best.rank &&
          (specificity > best.specificity || (specificity === best.specificity && time < best.time)))
      )
        best = { rule: r, rank, specificity, time };
    }
    let result = best?.rule;
    if (best !== undefined) {
      // Several rules for one host in one namespace merge: the first keeps its policy, subsets add up.
      const same = applicable.filter(
        (r) =>
          r !== best.rule &&
          nsOf(r, ctx) === nsOf(best.rule, ctx) &&
          resolveHost(r.spec.host, nsOf(r, ctx), ctx.suffix) ===
            resolveHost(best.rule.spec.host, nsOf(best.rule, ctx), ctx.suffix),
      );
      if (same.length > 0) {
        const subsets = [...(best.rule.spec.subsets ?? [])];
        for (const r of same)
          for (const sub of r.spec.subsets ?? [])
            if (!subsets.some((x) => x.name === sub.name)) subsets.push(sub);
        result = { ...best.rule, spec: { ...best.rule.spec, subsets } };
      }
    }
    if (cache.size < 100_000) cache.set(key, result);
    return result;
  };
}

/**
 * Compiles validated resources.
 *
 * @param resources - Resources from {@link parseRouteResources} / {@link validateRouteResources}.
 * @param options - DNS suffix, namespaces, conflict handling.
 * @returns The compiled configuration, or a {@link RoutingError} listing every problem in `issues`
 *   (invalid regexes, unsupported features, rejected conflicts).
 * @example
 * ```ts
 * const compiled = compileRouting(resources)._unsafeUnwrap();
 * compiled.services.get('reviews.bookinfo.svc.cluster.local')?.mode; // 'virtual-service'
 * ```
 */
export function compileRouting(
  resources: readonly RouteResource[],
  options: CompileOptions = {},
): Result<CompiledRouting, RoutingError> {
  const services = new Map<string, ServiceInfo>();
  const suffix = options.domainSuffix ?? 'cluster.local';
  const defaultNs = options.defaultNamespace ?? 'default';
  for (const r of resources) {
    if (r.kind !== 'Service') continue;
    const ns = r.metadata.namespace ?? defaultNs;
    const hostname = `${r.metadata.name}.${ns}.svc.${suffix}`;
    services.set(hostname, {
      name: r.metadata.name,
      namespace: ns,
      hostname,
      ports: (r.spec?.ports ?? []).map((p) => ({
        name: p.name,
        port: p.port,
        targetPort: p.targetPort,
        appProtocol: p.appProtocol,
      })),
      selector: r.spec?.selector,
    });
  }
  const mode = options.backendValidation ?? 'auto';
  const ctx: Ctx = {
    suffix,
    defaultNs,
    waypointNs: options.waypointNamespace,
    rootNs: options.rootNamespace ?? 'istio-system',
    services,
    strictBackends: mode === 'strict' || (mode === 'auto' && services.size > 0),
    sourceLabels: options.sourceLabelMatches ?? 'evaluate',
    issues: [],
    warnings: [],
  };

  // Gateway API routes, grouped by Service and GAMMA group ('' = producer, else the consumer namespace).
  const gatewayItems = new Map<string, Map<string, RouteItem[]>>();
  const gatewayRouteNames = new Map<string, Set<string>>();
  for (const r of resources) {
    if (r.kind !== 'HTTPRoute' && r.kind !== 'GRPCRoute') continue;
    const routeNs = nsOf(r, ctx);
    const items = compileGatewayRoute(r, ctx);
    const parents = (r.spec.parentRefs ?? []).filter((p) => isServiceKind(p.group, p.kind, 'Gateway'));
    parents.forEach((parent, pi) => {
      const svcNs = parent.namespace ?? routeNs;
      const hostname = `${parent.name}.${svcNs}.svc.${suffix}`;
      const group = svcNs === routeNs ? '' : routeNs;
      let groups = gatewayItems.get(hostname);
      if (groups === undefined) {
        groups = new Map();
        gatewayItems.set(hostname, groups);
      }
      const list = groups.get(group) ?? [];
      for (const item of items) if (item.parent === pi) list.push(item);
      groups.set(group, list);
      const names = gatewayRouteNames.get(hostname) ?? new Set<string>();
      names.add(label(r, ctx));
      gatewayRouteNames.set(hostname, names);
    });
  }

  // VirtualServices by the Service hostnames they name.
  const vsByHost = new Map<string, VirtualServiceResource[]>();
  const knownHosts = [...services.keys()];
  for (const r of resources) {
    if (r.kind !== 'VirtualService') continue;
    const gateways = r.spec.gateways ?? [];
    if (gateways.length > 0 && !gateways.includes('mesh')) continue;
    if ((r.spec.hosts ?? []).length === 0) continue;
    const ns = nsOf(r, ctx);
    const targets = new Set<string>();
    for (const h of r.spec.hosts ?? []) {
      const host = resolveHost(h, ns, suffix);
      if (host.startsWith('*')) {
        for (const k of knownHosts) if (hostMatches(host, k)) targets.add(k);
      } else targets.add(host);
    }
    for (const host of targets) {
      const svcNs = services.get(host)?.namespace ?? splitHostname(host, suffix).namespace;
      // getVirtualServiceForWaypoint: only the Service's namespace or the waypoint's.
      if (ns !== svcNs && ns !== ctx.waypointNs) continue;
      if (!vsVisible(r, ctx.waypointNs ?? svcNs, ctx)) continue;
      const list = vsByHost.get(host) ?? [];
      list.push(r);
      vsByHost.set(host, list);
    }
  }

  const conflicts: RoutingConflict[] = [];
  const out = new Map<string, ServiceRouting>();
  const policy = options.conflictPolicy ?? 'prefer-gateway-api';
  const vsEntriesCache = new Map<VirtualServiceResource, Entry[]>();
  const vsEntries = (vs: VirtualServiceResource): Entry[] => {
    let e = vsEntriesCache.get(vs);
    if (e === undefined) {
      e = (vs.spec.http ?? []).flatMap((http, i) => compileVsRule(vs, http, i, ctx));
      vsEntriesCache.set(vs, e);
    }
    return e;
  };
  for (const host of new Set([...gatewayItems.keys(), ...vsByHost.keys()])) {
    const groups = gatewayItems.get(host);
    const vses = (vsByHost.get(host) ?? []).sort((a, b) => {
      const ta = creation(a);
      const tb = creation(b);
      if (ta !== tb) return ta < tb ? -1 : 1;
      const ka = `${nsOf(a, ctx)}/${a.metadata.name}`;
      const kb = `${nsOf(b, ctx)}/${b.metadata.name}`;
      return ka < kb ? -1 : ka > kb ? 1 : 0;
    });
    let useGateway = groups !== undefined;
    if (groups !== undefined && vses.length > 0) {
      const resolution = policy === 'prefer-virtual-service' ? 'virtual-service' : 'gateway-api';
      const conflict: RoutingConflict = {
        service: host,
        virtualServices: vses.map((v) => `${nsOf(v, ctx)}/${v.metadata.name}`),
        routes: [...(gatewayRouteNames.get(host) ?? [])],
        resolution,
        message: `Service ${host} has both VirtualService and Gateway API routes; Istio does not support mixing them at a waypoint (undefined behavior); ${resolution === 'gateway-api' ? 'the Gateway API routes apply' : 'the VirtualServices apply'}`,
      };
      conflicts.push(conflict);
      if (policy === 'reject')
        ctx.issues.push(
          new RoutingError('ROUTING_ERR_CONFLICT', conflict.message, { resource: `Service ${host}` }),
        );
      useGateway = resolution === 'gateway-api';
    }
    if (useGateway && groups !== undefined) {
      const consumers = new Map<string, GroupTables>();
      for (const [group, items] of groups) if (group !== '') consumers.set(group, gatewayGroup(items));
      const producerItems = groups.get('');
      out.set(host, {
        hostname: host,
        mode: 'gateway',
        producer: producerItems === undefined ? undefined : gatewayGroup(producerItems),
        consumers,
        virtualService: undefined,
      });
    } else if (vses.length > 0) {
      out.set(host, {
        hostname: host,
        mode: 'virtual-service',
        producer: undefined,
        consumers: new Map(),
        virtualService: buildTable(vses.flatMap(vsEntries)),
      });
    }
  }
  // Compile every VirtualService even when unused, so its errors are reported.
  for (const r of resources) if (r.kind === 'VirtualService') vsEntries(r);

  const drs = resources.filter((r): r is DestinationRuleResource => r.kind === 'DestinationRule');
  for (const r of drs) {
    // PASSTHROUGH forwards to the address the client asked for; a waypoint routing to a Service has none.
    const policies = [
      r.spec.trafficPolicy,
      ...(r.spec.trafficPolicy?.portLevelSettings ?? []),
      ...(r.spec.subsets ?? []).map((x) => x.trafficPolicy),
    ];
    if (policies.some((p) => p?.loadBalancer?.simple === 'PASSTHROUGH'))
      ctx.issues.push(
        new RoutingError(
          'ROUTING_ERR_UNSUPPORTED',
          'loadBalancer PASSTHROUGH is not supported at a waypoint',
          {
            resource: label(r, ctx),
            path: 'spec.trafficPolicy.loadBalancer.simple',
          },
        ),
      );
  }
  if (ctx.issues.length > 0) return err(collectIssues(ctx.issues));
  return ok({
    services: out,
    serviceInfo: services,
    destinationRules: destinationRuleLookup(drs, ctx),
    conflicts,
    warnings: ctx.warnings,
    domainSuffix: suffix,
  });
}

/** Re-exported for callers that compile regexes with the same rules. */
export type { Re2 };
