/**
 * Deciding one request against compiled routes: synchronous, pure (randomness comes from the caller), and
 * as Envoy's filter chain at a waypoint orders things: CORS, then fault injection, then the router
 * (redirect, direct response, or a weighted backend with header changes, rewrites and mirrors).
 * @module
 */

import { splitHostname } from './compile.js';
import type {
  Action,
  BackendTarget,
  CompiledRouting,
  CorsSpec,
  Entry,
  HeaderOps,
  RedirectSpec,
  Rewrite,
  Table,
} from './compiled.js';
import { headerValue, type MatchContext, matchContext, type PathMatcher } from './match.js';
import { ISTIO_DEFAULT_RETRY_POLICY } from './retry-policy.js';
import type {
  Backend,
  DirectDecision,
  ForwardDecision,
  MirrorTarget,
  RandomSource,
  RedirectDecision,
  ResponseFlag,
  ResponseHeaderOps,
  RouteDecision,
  RouteRequest,
  RouteSource,
} from './types.js';

type Writable<T> = { -readonly [K in keyof T]: T[K] };

const NO_FLAGS: readonly ResponseFlag[] = Object.freeze([]);
const NO_MIRRORS: readonly MirrorTarget[] = Object.freeze([]);
const EMPTY_OPS: ResponseHeaderOps = Object.freeze({
  set: Object.freeze({}),
  add: Object.freeze({}),
  remove: Object.freeze([]),
});
const DEFAULT_SOURCE: RouteSource = Object.freeze({
  kind: 'default',
  namespace: '',
  name: 'default',
  rule: 0,
  routeName: 'default',
});

/**
 * Envoy's mapping of an HTTP status to a gRPC status for local replies to gRPC requests
 * (`Grpc::Utility::httpToGrpcStatus`).
 *
 * @param status - The HTTP status.
 * @returns The gRPC status code.
 * @example
 * ```ts
 * httpToGrpcStatus(404); // 12 (UNIMPLEMENTED)
 * ```
 */
export function httpToGrpcStatus(status: number): number {
  switch (status) {
    case 400:
      return 13;
    case 401:
      return 16;
    case 403:
      return 7;
    case 404:
      return 12;
    case 429:
    case 502:
    case 503:
    case 504:
      return 14;
    default:
      return 2;
  }
}

/**
 * Finds the entry a request selects: the first in precedence order whose match holds, found through the
 * path index (see path-index.ts).
 *
 * @param table - The table.
 * @param ctx - The request's match context.
 * @returns The entry, or `undefined` when none matches.
 * @example
 * ```ts
 * const entry = findEntry(table, matchContext(request));
 * ```
 */
export function findEntry(table: Table, ctx: MatchContext): Entry | undefined {
  const best = table.index.first(ctx.path, ctx);
  return best < 0 ? undefined : table.entries[best];
}

/**
 * The table that applies to a request, or `undefined` when no route is attached to its Service and port
 * (the request then passes to the Service unchanged).
 *
 * @param compiled - The compiled configuration.
 * @param request - The request.
 * @returns The table.
 * @example
 * ```ts
 * const table = selectTable(compiled, request);
 * ```
 */
export function selectTable(compiled: CompiledRouting, request: RouteRequest): Table | undefined {
  const svc = compiled.services.get(request.service);
  if (svc === undefined) return undefined;
  if (svc.mode === 'virtual-service') return svc.virtualService;
  const group =
    (request.sourceNamespace !== undefined ? svc.consumers.get(request.sourceNamespace) : undefined) ??
    svc.producer;
  if (group === undefined) return undefined;
  const table = group.byPort.get(request.port) ?? group.any;
  return table === undefined || table.entries.length === 0 ? undefined : table;
}

function copyHeaders(headers: RouteRequest['headers']): Record<string, string> {
  const out: Record<string, string> = {};
  for (const key in headers) {
    const v = headers[key];
    if (v === undefined) continue;
    const name = key.toLowerCase();
    if (name.charCodeAt(0) === 58) continue;
    const value = typeof v === 'string' ? v : v.join(',');
    const prev = out[name];
    out[name] = prev === undefined ? value : `${prev},${value}`;
  }
  return out;
}

function applyOps(h: Record<string, string>, ops: HeaderOps): void {
  for (const name of ops.remove) delete h[name];
  for (const [name, value] of ops.set) h[name] = value;
  for (const [name, value] of ops.add) {
    const prev = h[name];
    h[name] = prev === undefined ? value : `${prev},${value}`;
  }
}

/**
 * Splits an authority into host and port (`[v6]:port` aware).
 *
 * @param authority - E.g. `reviews:9080`, `[::1]:80`, `example.com`.
 * @returns The host and the port, when there is one.
 * @example
 * ```ts
 * splitAuthority('reviews:9080'); // { host: 'reviews', port: 9080 }
 * ```
 */
export function splitAuthority(authority: string): { host: string; port: number | undefined } {
  if (authority.startsWith('[')) {
    const end = authority.indexOf(']');
    if (end > 0) {
      const rest = authority.slice(end + 1);
      const port =
        rest.startsWith(':') && /^[0-9]{1,5}$/.test(rest.slice(1)) ? Number(rest.slice(1)) : undefined;
      return { host: authority.slice(0, end + 1), port };
    }
  }
  const colon = authority.lastIndexOf(':');
  if (colon > 0 && authority.indexOf(':') === colon && /^[0-9]{1,5}$/.test(authority.slice(colon + 1)))
    return { host: authority.slice(0, colon), port: Number(authority.slice(colon + 1)) };
  return { host: authority, port: undefined };
}

/**
 * The authority a mirror receives: Envoy appends `-shadow` to the host, before any port
 * (envoyproxy/envoy@ebd68c74:examples/route-mirroring/verify.sh expects `Host: localhost-shadow:<port>`).
 *
 * @param authority - The forwarded authority.
 * @returns The shadow authority.
 * @example
 * ```ts
 * shadowAuthority('reviews:9080'); // 'reviews-shadow:9080'
 * ```
 */
export function shadowAuthority(authority: string): string {
  const { host, port } = splitAuthority(authority);
  return port === undefined ? `${host}-shadow` : `${host}-shadow:${port}`;
}

/**
 * Gateway API `ReplacePrefixMatch` (the table in apis/v1/httproute_types.go `HTTPPathModifier`):
 * the matched prefix (compared without its trailing slash) is replaced by the value without its trailing
 * slash, and an empty result is `/`.
 *
 * @param path - The request path without query.
 * @param prefix - The matched PathPrefix, normalized (no trailing slash; `/` → `''`).
 * @param replacement - The replacement.
 * @returns The new path.
 * @example
 * ```ts
 * replacePrefixMatch('/foo/bar', '/foo', '/xyz/'); // '/xyz/bar'
 * replacePrefixMatch('/foo', '/foo', ''); // '/'
 * ```
 */
export function replacePrefixMatch(path: string, prefix: string, replacement: string): string {
  const rest = path.startsWith(prefix) ? path.slice(prefix.length) : path;
  const head = replacement.endsWith('/') ? replacement.slice(0, -1) : replacement;
  const out = head + rest;
  return out === '' ? '/' : out;
}

function envoyPrefixRewrite(path: string, matcher: PathMatcher, value: string): string {
  // Envoy prefix_rewrite swaps "the matched prefix (or path)": the prefix for a prefix route, the whole
  // path for an exact or regex route, and "/" for a route without a path match (Envoy's `prefix: /`).
  switch (matcher.kind) {
    case 'prefix':
      return value + path.slice(matcher.value.length);
    case 'segment':
      return value + path.slice(matcher.value.length);
    case 'exact':
    case 'regex':
      return value;
    case 'none':
      return value + path.slice(1);
  }
}

function rewritePath(
  path: string,
  rewrite: Rewrite['path'] | RedirectSpec['path'],
  matcher: PathMatcher,
): string {
  if (rewrite === undefined) return path;
  switch (rewrite.kind) {
    case 'full':
      return rewrite.value;
    case 'gateway-prefix':
      return replacePrefixMatch(path, matcher.kind === 'segment' ? matcher.value : '', rewrite.value);
    case 'envoy-prefix':
      return envoyPrefixRewrite(path, matcher, rewrite.value);
    case 'regex':
      return rewrite.re.replaceAll(path, rewrite.substitution);
  }
}

const withQuery = (path: string, rawQuery: string): string =>
  rawQuery === '' || path.includes('?') ? path : `${path}?${rawQuery}`;

function responseHeadersObject(ops: ResponseHeaderOps): Readonly<Record<string, string>> | undefined {
  const keys = Object.keys(ops.set).length + Object.keys(ops.add).length;
  if (keys === 0) return undefined;
  return { ...ops.add, ...ops.set };
}

function direct(
  request: RouteRequest,
  status: number,
  body: string | undefined,
  flags: readonly ResponseFlag[],
  source: RouteSource | undefined,
  extra: {
    headers?: Readonly<Record<string, string>> | undefined;
    delayMs?: number | undefined;
    grpcStatus?: number | undefined;
  } = {},
): DirectDecision {
  // Envoy answers local replies to gRPC requests as gRPC: HTTP 200 with grpc-status.
  if (request.protocol === 'grpc' && (status >= 300 || extra.grpcStatus !== undefined)) {
    const grpcStatus = extra.grpcStatus ?? httpToGrpcStatus(status);
    const headers: Record<string, string> = {
      ...extra.headers,
      'content-type': 'application/grpc',
      'grpc-status': String(grpcStatus),
      ...(body === undefined ? {} : { 'grpc-message': encodeURIComponent(body) }),
    };
    return {
      kind: 'direct',
      status: 200,
      grpcStatus,
      headers,
      flags,
      ...(source === undefined ? {} : { source }),
      ...(extra.delayMs === undefined ? {} : { delayMs: extra.delayMs }),
    };
  }
  const headers: Record<string, string> | undefined =
    body === undefined
      ? extra.headers
      : { ...extra.headers, 'content-type': extra.headers?.['content-type'] ?? 'text/plain' };
  return {
    kind: 'direct',
    status,
    flags,
    ...(body === undefined ? {} : { body }),
    ...(headers === undefined ? {} : { headers }),
    ...(source === undefined ? {} : { source }),
    ...(extra.delayMs === undefined ? {} : { delayMs: extra.delayMs }),
  };
}

const fires = (percent: number, random: RandomSource): boolean =>
  percent >= 100 || (percent > 0 && random() * 100 < percent);

function corsHeaders(cors: CorsSpec, origin: string, preflight: boolean): Record<string, string> {
  const h: Record<string, string> = { 'access-control-allow-origin': origin };
  if (cors.allowCredentials) h['access-control-allow-credentials'] = 'true';
  if (preflight) {
    if (cors.allowMethods !== undefined) h['access-control-allow-methods'] = cors.allowMethods;
    if (cors.allowHeaders !== undefined) h['access-control-allow-headers'] = cors.allowHeaders;
    if (cors.maxAge !== undefined) h['access-control-max-age'] = cors.maxAge;
  } else if (cors.exposeHeaders !== undefined) h['access-control-expose-headers'] = cors.exposeHeaders;
  return h;
}

function location(
  spec: RedirectSpec,
  request: RouteRequest,
  ctx: MatchContext,
  matcher: PathMatcher,
): string {
  const scheme = spec.scheme ?? request.scheme ?? 'http';
  const original = splitAuthority(request.authority);
  const host = spec.host ?? original.host;
  let port: number | undefined;
  if (typeof spec.port === 'number') port = spec.port;
  else if (spec.port === 'request') port = request.port;
  else if (spec.port === 'keep')
    port = spec.host === undefined && spec.scheme === undefined ? original.port : undefined;
  // Default ports are left out of Location (80 for http, 443 for https).
  const portPart =
    port === undefined || (scheme === 'http' && port === 80) || (scheme === 'https' && port === 443)
      ? ''
      : `:${port}`;
  const path = withQuery(rewritePath(ctx.path, spec.path, matcher), ctx.rawQuery);
  return `${scheme}://${host}${portPart}${path}`;
}

function pickTarget(action: Action, random: RandomSource): BackendTarget | undefined {
  const targets = action.backends;
  if (targets.length === 1) return targets[0];
  let positive = 0;
  let only: BackendTarget | undefined;
  for (const t of targets)
    if (t.weight > 0) {
      positive++;
      only = t;
    }
  if (positive <= 1) return only;
  const x = random() * action.totalWeight;
  let cumulative = 0;
  for (const t of targets) {
    if (t.weight === 0) continue;
    cumulative += t.weight;
    if (x < cumulative) return t;
  }
  return only;
}

/**
 * Passes a request to its Service unchanged: what a waypoint does when no route is attached.
 *
 * @param compiled - The compiled configuration.
 * @param request - The request.
 * @returns The forward decision.
 * @example
 * ```ts
 * defaultForward(compiled, request).backend.port === request.port; // true
 * ```
 */
export function defaultForward(compiled: CompiledRouting, request: RouteRequest): ForwardDecision {
  const info = compiled.serviceInfo.get(request.service);
  const names =
    info === undefined
      ? splitHostname(request.service, compiled.domainSuffix)
      : { name: info.name, namespace: info.namespace };
  return {
    kind: 'forward',
    backend: {
      service: names.name,
      namespace: names.namespace,
      port: request.port,
      hostname: request.service,
    },
    request: { path: request.path, authority: request.authority, headers: copyHeaders(request.headers) },
    responseHeaders: EMPTY_OPS,
    timeoutMs: 0,
    backendRequestTimeoutMs: 0,
    retries: ISTIO_DEFAULT_RETRY_POLICY,
    mirrors: NO_MIRRORS,
    flags: NO_FLAGS,
    source: DEFAULT_SOURCE,
  };
}

/**
 * Decides a request.
 *
 * @param compiled - The compiled configuration.
 * @param request - The request.
 * @param random - Decides weights and fault and mirror percentages.
 * @returns The decision.
 * @example
 * ```ts
 * const decision = decide(compiled, request, Math.random);
 * ```
 */
export function decide(
  compiled: CompiledRouting,
  request: RouteRequest,
  random: RandomSource,
): RouteDecision {
  const table = selectTable(compiled, request);
  if (table === undefined) return defaultForward(compiled, request);
  const ctx = matchContext(request);
  const entry = findEntry(table, ctx);
  // No rule matches: Envoy's 404 with flag NR (Gateway API: "a HTTP 404 status code MUST be returned").
  if (entry === undefined) return direct(request, 404, undefined, ['NR'], undefined);
  const { action, source } = entry;
  const matcher = entry.match.path;

  // Envoy's CORS filter runs before fault injection and the router.
  let cors: Record<string, string> | undefined;
  if (action.cors !== undefined) {
    const origin = headerValue(request.headers, 'origin');
    if (origin !== undefined) {
      const preflight =
        request.method === 'OPTIONS' &&
        headerValue(request.headers, 'access-control-request-method') !== undefined;
      const allowed = action.cors.allowOrigin(origin);
      if (preflight && allowed)
        return direct(request, 200, undefined, NO_FLAGS, source, {
          headers: corsHeaders(action.cors, origin, true),
        });
      if (preflight && action.cors.unmatchedPreflights === 'ignore')
        return direct(request, 200, undefined, NO_FLAGS, source);
      if (allowed) cors = corsHeaders(action.cors, origin, false);
    }
  }

  let delayMs: number | undefined;
  const flags: ResponseFlag[] = [];
  const fault = action.fault;
  if (fault !== undefined) {
    if (fault.delayMs > 0 && fires(fault.delayPercent, random)) {
      delayMs = fault.delayMs;
      flags.push('DI');
    }
    const abort = fault.abort;
    if (abort !== undefined && fires(abort.percent, random)) {
      flags.push('FI');
      return direct(request, abort.httpStatus ?? 200, 'fault filter abort', flags, source, {
        headers: responseHeadersObject(action.responseHeaders),
        delayMs,
        grpcStatus: abort.grpcStatus,
      });
    }
  }

  if (action.kind === 'redirect' && action.redirect !== undefined) {
    const headers = responseHeadersObject(action.responseHeaders);
    const decision: RedirectDecision = {
      kind: 'redirect',
      status: action.redirect.status,
      location: location(action.redirect, request, ctx, matcher),
      flags: flags.length === 0 ? NO_FLAGS : flags,
      source,
      ...(headers === undefined ? {} : { headers }),
      ...(delayMs === undefined ? {} : { delayMs }),
    };
    return decision;
  }
  if (action.kind === 'direct' && action.direct !== undefined) {
    return direct(
      request,
      action.direct.status,
      action.direct.body,
      flags.length === 0 ? NO_FLAGS : flags,
      source,
      {
        headers: { ...responseHeadersObject(action.responseHeaders), ...cors },
        delayMs,
      },
    );
  }

  const target = pickTarget(action, random);
  if (target === undefined)
    return direct(request, 500, undefined, flags.length === 0 ? NO_FLAGS : flags, source, { delayMs });
  if (target.invalid !== undefined)
    return direct(request, target.invalid.status, undefined, [...flags, ...target.invalid.flags], source, {
      delayMs,
    });

  const headers = copyHeaders(request.headers);
  let authority = request.authority;
  if (action.requestHeaders !== undefined) {
    applyOps(headers, action.requestHeaders);
    if (action.requestHeaders.authority !== undefined) authority = action.requestHeaders.authority;
  }
  if (action.rewrite?.authority !== undefined) authority = action.rewrite.authority;
  if (target.requestHeaders !== undefined) {
    applyOps(headers, target.requestHeaders);
    if (target.requestHeaders.authority !== undefined) authority = target.requestHeaders.authority;
  }
  if (target.rewrite?.authority !== undefined) authority = target.rewrite.authority;
  if (authority !== request.authority && headers['host'] !== undefined) headers['host'] = authority;
  const rewrite = target.rewrite?.path ?? action.rewrite?.path;
  const path =
    rewrite === undefined ? request.path : withQuery(rewritePath(ctx.path, rewrite, matcher), ctx.rawQuery);

  const b = target.backend;
  const backend: Backend = b.port === 0 ? { ...b, port: request.port } : b;
  let mirrors: MirrorTarget[] | undefined;
  for (const list of [action.mirrors, target.mirrors]) {
    for (const m of list) {
      if (!fires(m.percent, random)) continue;
      const mb = m.backend.port === 0 ? { ...m.backend, port: request.port } : m.backend;
      mirrors ??= [];
      mirrors.push({ ...mb, request: { path, authority: shadowAuthority(authority) } });
    }
  }
  let responseHeaders = target.responseHeaders;
  if (cors !== undefined) responseHeaders = { ...responseHeaders, set: { ...responseHeaders.set, ...cors } };
  // Built without object spread: this is the hot path (bench/routing).
  const decision: Writable<ForwardDecision> = {
    kind: 'forward',
    backend,
    request: { path, authority, headers },
    responseHeaders,
    timeoutMs: action.timeoutMs,
    backendRequestTimeoutMs: action.backendRequestTimeoutMs,
    mirrors: mirrors ?? NO_MIRRORS,
    flags: flags.length === 0 ? NO_FLAGS : flags,
    source,
  };
  if (action.retries !== undefined) decision.retries = action.retries;
  if (delayMs !== undefined) decision.delayMs = delayMs;
  return decision;
}
