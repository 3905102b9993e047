/**
 * Request matching as Envoy evaluates the route matches istiod generates: path (exact, path-separated
 * prefix for Gateway API `PathPrefix`, plain prefix for VirtualService `prefix`, RE2 full-match regex),
 * headers (names case-insensitive, repeated values joined with `,`, `invert_match` for `withoutHeaders`),
 * query parameters (first value, percent-decoded), method, authority, scheme, port and source.
 * @module
 */
import type { Re2 } from './regex.js';
import type { RequestHeaders, RouteRequest } from './types.js';

/** How a string is compared. */
export type StrMatcher =
  | { readonly kind: 'exact'; readonly value: string }
  | { readonly kind: 'prefix'; readonly value: string }
  | { readonly kind: 'regex'; readonly re: Re2 }
  | { readonly kind: 'present' };

/** A header condition; `name` is lower case (or a pseudo-header such as `:method`). */
export interface HeaderMatcher {
  readonly name: string;
  readonly m: StrMatcher;
  /** `withoutHeaders`: the condition holds when the matcher does not. */
  readonly invert: boolean;
}

/** A query parameter condition. */
export interface QueryMatcher {
  readonly name: string;
  readonly m: StrMatcher;
}

/** How the path is compared. `segment` is Gateway API `PathPrefix` (Envoy `path_separated_prefix`). */
export type PathMatcher =
  | { readonly kind: 'none' }
  | { readonly kind: 'exact'; readonly value: string; readonly ignoreCase: boolean }
  | { readonly kind: 'segment'; readonly value: string }
  | { readonly kind: 'prefix'; readonly value: string; readonly ignoreCase: boolean }
  | { readonly kind: 'regex'; readonly re: Re2; readonly value: string };

/** One match of a rule, compiled. */
export interface CompiledMatch {
  readonly path: PathMatcher;
  readonly method: StrMatcher | undefined;
  readonly headers: readonly HeaderMatcher[];
  readonly query: readonly QueryMatcher[];
  readonly authority: StrMatcher | undefined;
  readonly scheme: StrMatcher | undefined;
  /** VirtualService `port`; 0 = any. */
  readonly port: number;
  readonly sourceNamespace: string | undefined;
  readonly sourceLabels: Readonly<Record<string, string>> | undefined;
  /** Never matches at a waypoint (e.g. `gateways` without `mesh`). */
  readonly never: boolean;
}

/** Per-request state shared by the matches tested for it (query parsed once, on demand). */
export interface MatchContext {
  readonly request: RouteRequest;
  /** The path without its query string. */
  readonly path: string;
  /** The raw query string (without `?`), or `''`. */
  readonly rawQuery: string;
  query: Map<string, string> | undefined;
  pathLower: string | undefined;
}

/**
 * Creates the matching context of a request.
 *
 * @param request - The request.
 * @returns The context.
 * @example
 * ```ts
 * const ctx = matchContext(request);
 * ```
 */
export function matchContext(request: RouteRequest): MatchContext {
  const q = request.path.indexOf('?');
  return {
    request,
    path: q < 0 ? request.path : request.path.slice(0, q),
    rawQuery: q < 0 ? '' : request.path.slice(q + 1),
    query: undefined,
    pathLower: undefined,
  };
}

/**
 * A header's value (repeated headers joined with `,`, as Envoy presents them to matchers), looked up
 * case-insensitively.
 *
 * @param headers - The request headers.
 * @param lowerName - The name, lower case.
 * @returns The value, or `undefined` when absent.
 * @example
 * ```ts
 * headerValue({ 'End-User': 'jason' }, 'end-user'); // 'jason'
 * ```
 */
export function headerValue(headers: RequestHeaders, lowerName: string): string | undefined {
  let v = headers[lowerName];
  if (v === undefined) {
    for (const key in headers) {
      if (key.length === lowerName.length && key.toLowerCase() === lowerName) {
        v = headers[key];
        break;
      }
    }
    if (v === undefined) return undefined;
  }
  return typeof v === 'string' ? v : v.join(',');
}

function decode(text: string): string {
  if (text.indexOf('%') < 0) return text;
  try {
    return decodeURIComponent(text);
  } catch {
    return text;
  }
}

/**
 * Parses a query string: the first value of each name, percent-decoded (Envoy
 * `Utility::parseAndDecodeQueryString`; the Gateway API recommends matching the first value).
 *
 * @param raw - The query string without `?`.
 * @returns Name → first value.
 * @example
 * ```ts
 * parseQuery('a=1&a=2&b=%2F'); // Map { 'a' => '1', 'b' => '/' }
 * ```
 */
export function parseQuery(raw: string): Map<string, string> {
  const out = new Map<string, string>();
  if (raw === '') return out;
  for (const part of raw.split('&')) {
    if (part === '') continue;
    const eq = part.indexOf('=');
    const name = decode(eq < 0 ? part : part.slice(0, eq));
    if (!out.has(name)) out.set(name, decode(eq < 0 ? '' : part.slice(eq + 1)));
  }
  return out;
}

/**
 * Tests a string against a matcher (`undefined` = absent value: only an inverted matcher holds then).
 *
 * @param m - The matcher.
 * @param value - The value, or `undefined`.
 * @returns Whether it matches.
 * @example
 * ```ts
 * stringMatches({ kind: 'prefix', value: 'ja' }, 'jason'); // true
 * ```
 */
export function stringMatches(m: StrMatcher, value: string | undefined): boolean {
  if (value === undefined) return false;
  switch (m.kind) {
    case 'exact':
      return value === m.value;
    case 'prefix':
      return value.startsWith(m.value);
    case 'regex':
      return m.re.fullMatch(value);
    case 'present':
      return true;
  }
}

/**
 * Gateway API `PathPrefix` semantics (Envoy `path_separated_prefix`): `/foo` matches `/foo`, `/foo/` and
 * `/foo/bar`, not `/foobar`. The prefix is stored without its trailing `/` (`/` itself becomes `''`).
 *
 * @param prefix - The normalized prefix.
 * @param path - The request path without query.
 * @returns Whether the path is under the prefix.
 * @example
 * ```ts
 * segmentPrefixMatches('/foo', '/foo/bar'); // true
 * segmentPrefixMatches('/foo', '/foobar'); // false
 * ```
 */
export function segmentPrefixMatches(prefix: string, path: string): boolean {
  if (prefix === '') return true;
  if (!path.startsWith(prefix)) return false;
  return path.length === prefix.length || path.charCodeAt(prefix.length) === 47;
}

function pseudoValue(ctx: MatchContext, name: string): string | undefined {
  switch (name) {
    case ':method':
      return ctx.request.method;
    case ':path':
      return ctx.request.path;
    case ':authority':
      return ctx.request.authority;
    case ':scheme':
      return ctx.request.scheme ?? 'http';
    default:
      return undefined;
  }
}

function pathMatches(p: PathMatcher, ctx: MatchContext): boolean {
  switch (p.kind) {
    case 'none':
      return true;
    case 'exact':
      if (!p.ignoreCase) return ctx.path === p.value;
      ctx.pathLower ??= ctx.path.toLowerCase();
      return ctx.pathLower === p.value;
    case 'segment':
      return segmentPrefixMatches(p.value, ctx.path);
    case 'prefix':
      if (!p.ignoreCase) return ctx.path.startsWith(p.value);
      ctx.pathLower ??= ctx.path.toLowerCase();
      return ctx.pathLower.startsWith(p.value);
    case 'regex':
      return p.re.fullMatch(ctx.path);
  }
}

/**
 * Whether a request satisfies one compiled match (every condition holds).
 *
 * @param m - The match.
 * @param ctx - The request's context.
 * @returns Whether it matches.
 * @example
 * ```ts
 * if (matches(entry.match, matchContext(request))) console.log('hit');
 * ```
 */
export function matches(m: CompiledMatch, ctx: MatchContext): boolean {
  if (m.never) return false;
  if (!pathMatches(m.path, ctx)) return false;
  const req = ctx.request;
  if (m.port !== 0 && req.port !== m.port) return false;
  if (m.method !== undefined && !stringMatches(m.method, req.method)) return false;
  if (m.authority !== undefined && !stringMatches(m.authority, req.authority)) return false;
  if (m.scheme !== undefined && !stringMatches(m.scheme, req.scheme ?? 'http')) return false;
  if (m.sourceNamespace !== undefined && req.sourceNamespace !== m.sourceNamespace) return false;
  if (m.sourceLabels !== undefined) {
    const labels = req.sourceLabels;
    if (labels === undefined) return false;
    for (const key in m.sourceLabels) if (labels[key] !== m.sourceLabels[key]) return false;
  }
  for (const h of m.headers) {
    const v = h.name.charCodeAt(0) === 58 ? pseudoValue(ctx, h.name) : headerValue(req.headers, h.name);
    if (stringMatches(h.m, v) === h.invert) return false;
  }
  if (m.query.length > 0) {
    ctx.query ??= parseQuery(ctx.rawQuery);
    for (const q of m.query) if (!stringMatches(q.m, ctx.query.get(q.name))) return false;
  }
  return true;
}
