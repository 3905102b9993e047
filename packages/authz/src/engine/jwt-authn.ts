/**
 * RequestAuthentication as Envoy's `jwt_authn` filter enforces it, configured the way istiod configures it.
 *
 * istiod (istio/istio@86c9f01f:pilot/pkg/security/authn/policy_applier.go `convertToEnvoyJwtConfig`) turns the
 * merged rules (sorted by issuer) into providers `origins-<i>` and one requirement: with one provider
 * `requires_any [origins-0, allow_missing]`; with several
 * `requires_any [origins-0, …, origins-n, requires_all [requires_any [origins-i, allow_missing] …]]`. So a
 * request without a token passes with no principal, and a token that does not verify fails the request.
 *
 * Envoy (envoyproxy/envoy@006b5c7a:source/extensions/filters/http/jwt_authn/verifier.cc,
 * envoyproxy/envoy@0198b8f2:…/authenticator.cc, envoyproxy/envoy@03ec6568:…/extractor.cc,
 * envoyproxy/envoy@02a45cb9:…/jwks_cache.cc) evaluates that tree in order: `requires_any` completes at the
 * first child that succeeds, otherwise with the last child's status (the bypass child always last);
 * `requires_all` at the first failure. A provider child takes the tokens at its own locations (all must
 * verify); the `allow_missing` child takes the tokens at its parent's providers' locations, passes when there
 * are none, and picks the provider by the token's `iss`. Each token: parse → issuer allowed at that location →
 * `exp`/`nbf` with 60 s skew → audiences → signature; a verified token adds the payload and claim headers and,
 * unless `forwardOriginalToken`, loses its header (a query parameter is removed from `:path`, a cookie stays).
 *
 * Locations: a header with a prefix matches at the prefix's first occurrence anywhere in the value,
 * case-sensitively, and the token is what follows from the first base64url character on; without a prefix the
 * whole value; query parameters are percent-decoded, the first occurrence counts; cookies by name. Defaults
 * when a rule names none: `Authorization: Bearer <token>` and `access_token`.
 *
 * Deliberate differences from Envoy, all towards refusing or hiding: a request with several tokens fails if
 * any of them fails (Envoy's `allow_missing` branch lets a failed token pass next to a good one; Istio's API
 * calls several tokens unsupported); every rule's output headers are removed
 * from the incoming request up front (Envoy removes those of the providers it reaches, so a spoofed header of a
 * provider not reached would pass); when several providers share an issuer, `iss` picks the first one in
 * order (Envoy's pick is unspecified); removing a query parameter keeps the rest of the query byte for byte
 * (Envoy re-encodes and sorts it).
 * @module
 */

import type { AppliedJwtRule } from './engine.js';
import { hasUnknownKid, type JwksKeySet, PUBLIC_ONLY_JWKS, parseJwks, verifyJwtSignature } from './jwks.js';
import type { JwtStatus } from './jwt-status.js';
import { audienceChecker, checkJwtTime, type ParsedJwt, parseJwt } from './jwt-token.js';
import type { JwtRule } from './request-authentication.js';

/** The request as the filter sees it: `:path` (origin-form, normalized) and the headers. */
export interface JwtAuthnRequest {
  readonly path: string;
  /** Names in any case; several values of one header as a list, in order. */
  readonly headers: Readonly<Record<string, string | readonly string[] | undefined>>;
}

/** Where a rule with a `jwksUri` (or only an issuer) gets its keys; see `createJwksResolver`. */
export interface JwksSource {
  /**
   * The keys for a rule. A source that cannot get them answers the key set istiod configures then
   * (`PUBLIC_ONLY_JWKS`: nothing verifies), never an exception.
   *
   * @param rule - The rule (its `jwksUri`, `issuer`, `timeout`).
   * @returns The key set.
   */
  keys(rule: JwtRule): Promise<JwksKeySet>;
  /**
   * Asked when a token names a `kid` the set lacks: may fetch the set again (rate-limited) and answers the set
   * to verify with.
   *
   * @param rule - The rule.
   * @param kid - The unknown key id.
   * @returns The key set, new or not.
   */
  refreshForKid?(rule: JwtRule, kid: string): Promise<JwksKeySet>;
}

/** Options of {@link authenticateJwt}. */
export interface AuthenticateJwtOptions {
  /** The current time, epoch milliseconds. */
  readonly nowMs: number;
  /** Keys for rules without inline `jwks`; without a source such rules verify nothing (fail closed). */
  readonly jwks?: JwksSource;
}

/** What {@link authenticateJwt} decided. */
export interface JwtAuthnResult {
  /** `Ok`, or the failure Envoy answers (401, or 403 for `JwtAudienceNotAllowed`). */
  readonly status: JwtStatus;
  /** The verified payload (the last token verified), when the request carried a valid token. */
  readonly payload: Readonly<Record<string, unknown>> | undefined;
  /** The payload as authorization reads it: the rule's space-delimited claims split into lists. */
  readonly claims: Readonly<Record<string, unknown>> | undefined;
  /** `namespace/name` and index of the rule that verified it. */
  readonly rule: AppliedJwtRule | undefined;
  /** The request headers after the filter (lower-case names): output headers set, the token removed. */
  readonly headers: ReadonlyMap<string, readonly string[]>;
  /** Header names removed from the request (sanitized output headers, the forwarded-away token header). */
  readonly removedHeaders: readonly string[];
  /** Headers added (name, value), in order. */
  readonly addedHeaders: readonly (readonly [string, string])[];
  /** `:path` after the filter (a query-parameter token removed). */
  readonly path: string;
  /** Query parameters removed from `:path`. */
  readonly removedParams: readonly string[];
}

/** The request state the filter mutates as it goes. */
interface State {
  readonly headers: Map<string, string[]>;
  path: string;
  readonly removed: Set<string>;
  readonly removedParams: Set<string>;
  readonly added: [string, string][];
  payload: Readonly<Record<string, unknown>> | undefined;
  claims: Readonly<Record<string, unknown>> | undefined;
  rule: AppliedJwtRule | undefined;
  /** Parsed tokens by text (created on first use). */
  parsed: Map<string, ParsedJwt | JwtStatus> | undefined;
  /** Signature results per token and provider (a token is checked once per key set; created on first use). */
  verified: Map<ParsedJwt, Promise<JwtStatus>[]> | undefined;
  readonly nowSeconds: number;
  readonly source: JwksSource | undefined;
}

/** One provider (`origins-<i>`). */
interface Provider {
  readonly index: number;
  readonly applied: AppliedJwtRule;
  readonly issuer: string;
  readonly audiences: (audiences: readonly string[]) => boolean;
  readonly forward: boolean;
  readonly payloadHeader: string | undefined;
  readonly claimHeaders: readonly (readonly [string, string])[];
  readonly spaceDelimited: readonly string[];
  /** Inline keys, parsed once; `undefined` for remote ones. */
  inline: Promise<JwksKeySet> | undefined;
  /** The inline keys once parsed (so the common case needs no await). */
  ready: JwksKeySet | undefined;
}

/** Who may use a location: the issuers of the providers that listed it (`''` = any issuer). */
interface IssuerChecker {
  allowAll: boolean;
  readonly issuers: Set<string>;
}

/** Where a token was found (what a verified token's removal acts on). */
interface Location {
  readonly kind: 'header' | 'param' | 'cookie';
  readonly name: string;
}

interface Extractor {
  readonly headers: readonly {
    readonly header: string;
    readonly prefix: string;
    readonly issuers: IssuerChecker;
    readonly location: Location;
  }[];
  readonly params: readonly {
    readonly name: string;
    readonly issuers: IssuerChecker;
    readonly location: Location;
  }[];
  readonly cookies: readonly {
    readonly name: string;
    readonly issuers: IssuerChecker;
    readonly location: Location;
  }[];
}

interface Token {
  readonly value: string;
  readonly issuers: IssuerChecker;
  readonly location: Location;
}

type Node =
  | { readonly kind: 'provider'; readonly provider: Provider; readonly extractor: Extractor }
  | { readonly kind: 'allowMissing'; readonly extractor: Extractor }
  | { readonly kind: 'any' | 'all'; readonly children: readonly Node[] };

interface Plan {
  readonly providers: readonly Provider[];
  readonly root: Node;
  readonly sanitize: readonly string[];
  /**
   * With one provider, the tree is `requires_any [origins-0, allow_missing]` over the same locations, and a
   * request with at most one token there needs no walk: no token passes; one token gets the provider's
   * status, because the `allow_missing` child would take the same token to the same provider (the location
   * only admits that provider's issuer, and `iss` picks it) and repeat the same checks on the same cached
   * results. `authenticateJwt` takes this path; a property test holds it to the walk.
   */
  readonly single: { readonly provider: Provider; readonly extractor: Extractor } | undefined;
}

function addIssuer(checker: IssuerChecker, issuer: string): void {
  if (issuer === '') checker.allowAll = true;
  else checker.issuers.add(issuer);
}

function allowed(checker: IssuerChecker, issuer: string): boolean {
  return checker.allowAll || checker.issuers.has(issuer);
}

// extractor.cc ExtractorImpl(providers): std::map-ordered header (name + prefix), param and cookie locations.
function buildExtractor(providers: readonly Provider[]): Extractor {
  const headers = new Map<string, { header: string; prefix: string; issuers: IssuerChecker }>();
  const params = new Map<string, IssuerChecker>();
  const cookies = new Map<string, IssuerChecker>();
  const at = <T>(map: Map<string, T>, key: string, make: () => T): T => {
    let v = map.get(key);
    if (v === undefined) {
      v = make();
      map.set(key, v);
    }
    return v;
  };
  const checker = (): IssuerChecker => ({ allowAll: false, issuers: new Set() });
  for (const p of providers) {
    const rule = p.applied.rule;
    const addHeader = (name: string, prefix: string): void => {
      const lower = name.toLowerCase();
      addIssuer(
        at(headers, lower + prefix, () => ({ header: lower, prefix, issuers: checker() })).issuers,
        p.issuer,
      );
    };
    for (const h of rule.fromHeaders ?? []) addHeader(h.name, h.prefix ?? '');
    for (const q of rule.fromParams ?? []) addIssuer(at(params, q, checker), p.issuer);
    for (const c of rule.fromCookies ?? []) addIssuer(at(cookies, c, checker), p.issuer);
    if (
      (rule.fromHeaders ?? []).length === 0 &&
      (rule.fromParams ?? []).length === 0 &&
      (rule.fromCookies ?? []).length === 0
    ) {
      addHeader('authorization', 'Bearer ');
      addIssuer(at(params, 'access_token', checker), p.issuer);
    }
  }
  const sorted = <T>(map: Map<string, T>): [string, T][] =>
    [...map].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
  return {
    headers: sorted(headers).map(([, v]) => ({ ...v, location: { kind: 'header', name: v.header } })),
    params: sorted(params).map(([name, issuers]) => ({ name, issuers, location: { kind: 'param', name } })),
    cookies: sorted(cookies).map(([name, issuers]) => ({
      name,
      issuers,
      location: { kind: 'cookie', name },
    })),
  };
}

const PLANS = new WeakMap<readonly AppliedJwtRule[], Plan>();

function planFor(rules: readonly AppliedJwtRule[]): Plan {
  const cached = PLANS.get(rules);
  if (cached !== undefined) return cached;
  const providers: Provider[] = rules.map((applied, index) => {
    const rule = applied.rule;
    return {
      index,
      applied,
      issuer: rule.issuer ?? '',
      audiences: audienceChecker(rule.audiences ?? []),
      forward: rule.forwardOriginalToken === true,
      payloadHeader: rule.outputPayloadToHeader?.toLowerCase(),
      claimHeaders: (rule.outputClaimToHeaders ?? []).map((c) => [c.header.toLowerCase(), c.claim] as const),
      spaceDelimited: [...new Set(['permission', 'scope', ...(rule.spaceDelimitedClaims ?? [])])],
      inline: undefined,
      ready: undefined,
    };
  });
  const inner = (p: Provider): Node => ({
    kind: 'any',
    children: [
      { kind: 'provider', provider: p, extractor: buildExtractor([p]) },
      { kind: 'allowMissing', extractor: buildExtractor([p]) },
    ],
  });
  let root: Node;
  if (providers.length === 1) root = inner(providers[0] as Provider);
  else {
    root = {
      kind: 'any',
      children: [
        ...providers.map((p): Node => ({ kind: 'provider', provider: p, extractor: buildExtractor([p]) })),
        { kind: 'all', children: providers.map(inner) },
      ],
    };
  }
  const sanitize = new Set<string>();
  for (const p of providers) {
    if (p.payloadHeader !== undefined) sanitize.add(p.payloadHeader);
    for (const [header] of p.claimHeaders) sanitize.add(header);
  }
  const only = providers.length === 1 ? (providers[0] as Provider) : undefined;
  const plan: Plan = {
    providers,
    root,
    sanitize: [...sanitize],
    single: only === undefined ? undefined : { provider: only, extractor: buildExtractor([only]) },
  };
  PLANS.set(rules, plan);
  return plan;
}

// Http::Utility::QueryParamsMulti::parseAndDecodeQueryString: `k=v` pairs after `?`, percent- and `+`-decoded.
function decodeQueryComponent(text: string): string {
  const plus = text.replace(/\+/g, ' ');
  try {
    return decodeURIComponent(plus);
  } catch {
    return plus.replace(/%([0-9A-Fa-f]{2})/g, (m, hex: string) => {
      const code = Number.parseInt(hex, 16);
      return code < 0x80 ? String.fromCharCode(code) : m;
    });
  }
}

function queryPairs(path: string): { raw: string; key: string; value: string }[] {
  const q = path.indexOf('?');
  if (q === -1) return [];
  const hash = path.indexOf('#', q);
  const query = path.slice(q + 1, hash === -1 ? path.length : hash);
  const out: { raw: string; key: string; value: string }[] = [];
  for (const raw of query.split('&')) {
    if (raw === '') continue;
    const eq = raw.indexOf('=');
    out.push({
      raw,
      key: decodeQueryComponent(eq === -1 ? raw : raw.slice(0, eq)),
      value: eq === -1 ? '' : decodeQueryComponent(raw.slice(eq + 1)),
    });
  }
  return out;
}

/**
 * Removes every occurrence of a query parameter from a `:path`, keeping the rest as sent.
 *
 * @param path - `:path` with its query.
 * @param name - The (decoded) parameter name.
 * @returns The path without the parameter (and without `?` when nothing is left).
 * @example
 * ```ts
 * removeQueryParam('/a?access_token=t&x=1', 'access_token'); // '/a?x=1'
 * ```
 */
export function removeQueryParam(path: string, name: string): string {
  const q = path.indexOf('?');
  if (q === -1) return path;
  const hash = path.indexOf('#', q);
  const fragment = hash === -1 ? '' : path.slice(hash);
  const kept = queryPairs(path)
    .filter((p) => p.key !== name)
    .map((p) => p.raw);
  return `${path.slice(0, q)}${kept.length === 0 ? '' : `?${kept.join('&')}`}${fragment}`;
}

// Http::Utility::parseCookies: every `cookie` header, `;`-separated `name=value`, quotes stripped, first wins.
function cookieValues(headers: ReadonlyMap<string, readonly string[]>): Map<string, string> {
  const out = new Map<string, string>();
  for (const header of headers.get('cookie') ?? []) {
    for (const part of header.split(';')) {
      const item = part.replace(/^\s+/, '');
      const eq = item.indexOf('=');
      if (eq <= 0) continue;
      const key = item.slice(0, eq);
      let value = item.slice(eq + 1);
      if (value.length >= 2 && value.startsWith('"') && value.endsWith('"')) value = value.slice(1, -1);
      if (!out.has(key)) out.set(key, value);
    }
  }
  return out;
}

// The characters a token starts with: base64url and `.` (`[A-Za-z0-9-_.]`).
function isTokenChar(c: number): boolean {
  return (
    (c >= 0x61 && c <= 0x7a) || // a-z
    (c >= 0x41 && c <= 0x5a) || // A-Z
    (c >= 0x30 && c <= 0x39) || // 0-9
    c === 0x2d || // -
    c === 0x5f || // _
    c === 0x2e // .
  );
}

// extractor.cc extractJWT: from the first base64url-or-dot character after the prefix to the end; the whole
// value when there is none.
function afterPrefix(value: string, from: number): string {
  for (let i = from; i < value.length; i++) {
    if (isTokenChar(value.charCodeAt(i))) return i === 0 ? value : value.slice(i);
  }
  return value;
}

function extract(extractor: Extractor, state: State): Token[] {
  const tokens: Token[] = [];
  for (const loc of extractor.headers) {
    for (const value of state.headers.get(loc.header) ?? []) {
      let token = value;
      if (loc.prefix !== '') {
        const pos = value.indexOf(loc.prefix);
        if (pos === -1) continue;
        token = afterPrefix(value, pos + loc.prefix.length);
      }
      tokens.push({ value: token, issuers: loc.issuers, location: loc.location });
    }
  }
  // A path without a query has no parameters to read.
  if (extractor.params.length > 0 && state.path.includes('?')) {
    const pairs = queryPairs(state.path);
    for (const loc of extractor.params) {
      const first = pairs.find((p) => p.key === loc.name);
      if (first !== undefined) {
        tokens.push({ value: first.value, issuers: loc.issuers, location: loc.location });
      }
    }
  }
  if (extractor.cookies.length > 0) {
    const cookies = cookieValues(state.headers);
    for (const loc of extractor.cookies) {
      const value = cookies.get(loc.name);
      if (value !== undefined) {
        tokens.push({ value, issuers: loc.issuers, location: loc.location });
      }
    }
  }
  return tokens;
}

// authenticator.cc convertClaimDoubleToString: a whole number in [0, 2^64) as an integer, else %f.
function claimNumber(value: number): string {
  if (value < 0 || value >= 2 ** 64 || !Number.isInteger(value)) return value.toFixed(6);
  return BigInt(value).toString();
}

// StructUtils::GetValue: `a.b.c` walks nested objects.
function claimAt(payload: Readonly<Record<string, unknown>>, path: string): unknown {
  let value: unknown = payload;
  for (const name of path.split('.')) {
    if (typeof value !== 'object' || value === null || Array.isArray(value) || !Object.hasOwn(value, name)) {
      return undefined;
    }
    value = (value as Record<string, unknown>)[name];
  }
  return value;
}

// normalize_payload_in_metadata.space_delimited_claims: top-level string claims split on spaces.
function normalizeClaims(
  payload: Readonly<Record<string, unknown>>,
  claims: readonly string[],
): Readonly<Record<string, unknown>> {
  let out: Record<string, unknown> | undefined;
  for (const claim of claims) {
    const v = Object.hasOwn(payload, claim) ? payload[claim] : undefined;
    if (typeof v !== 'string') continue;
    out ??= { ...payload };
    out[claim] = v.split(' ').filter((s) => s !== '');
  }
  return out ?? payload;
}

function keysOf(provider: Provider, state: State): Promise<JwksKeySet> {
  const rule = provider.applied.rule;
  if (rule.jwks !== undefined && rule.jwks !== '') {
    provider.inline ??= parseJwks(rule.jwks).then((keys) => {
      provider.ready = keys;
      return keys;
    });
    return provider.inline;
  }
  if (state.source === undefined) {
    provider.inline ??= parseJwks(PUBLIC_ONLY_JWKS);
    return provider.inline;
  }
  return state.source.keys(rule);
}

// The signature check of a token against a provider's keys (refetching a remote set for an unknown `kid`).
function checkSignature(jwt: ParsedJwt, provider: Provider, state: State): Promise<JwtStatus> {
  const rule = provider.applied.rule;
  const inline = rule.jwks !== undefined && rule.jwks !== '';
  // Inline keys already parsed: straight to the signature check.
  if (inline && provider.ready !== undefined) return verifyJwtSignature(jwt, provider.ready);
  return (async () => {
    const keys = provider.ready ?? (await keysOf(provider, state));
    const status = await verifyJwtSignature(jwt, keys);
    if (status !== 'Ok' && !inline && hasUnknownKid(jwt, keys) && state.source?.refreshForKid !== undefined) {
      return verifyJwtSignature(jwt, await state.source.refreshForKid(rule, jwt.kid));
    }
    return status;
  })();
}

// checkSignature, once per token and provider within a request (the tree may reach a token more than once).
function verify(jwt: ParsedJwt, provider: Provider, state: State): Promise<JwtStatus> {
  state.verified ??= new Map();
  let results = state.verified.get(jwt);
  if (results === undefined) {
    results = [];
    state.verified.set(jwt, results);
  }
  let result = results[provider.index];
  if (result === undefined) {
    result = checkSignature(jwt, provider, state);
    results[provider.index] = result;
  }
  return result;
}

function removeHeader(state: State, name: string): void {
  if (state.headers.delete(name)) state.removed.add(name);
}

function addHeader(state: State, name: string, value: string): void {
  const list = state.headers.get(name);
  if (list === undefined) state.headers.set(name, [value]);
  else list.push(value);
  state.added.push([name, value]);
}

/** A token that passed every check before its signature, and the provider whose keys decide. */
interface Checked {
  readonly jwt: ParsedJwt;
  readonly provider: Provider;
}

// A token's parse, once per text within a request.
function parsedToken(token: Token, state: State): ParsedJwt | JwtStatus {
  state.parsed ??= new Map();
  let jwt = state.parsed.get(token.value);
  if (jwt === undefined) {
    jwt = parseJwt(token.value);
    state.parsed.set(token.value, jwt);
  }
  return jwt;
}

// authenticator.cc startVerify after the parse: the issuer allowed at this location, the provider, exp/nbf,
// audiences.
function checkToken(
  jwt: ParsedJwt | JwtStatus,
  token: Token,
  fixed: Provider | undefined,
  providers: readonly Provider[],
  state: State,
): Checked | JwtStatus {
  if (typeof jwt === 'string') return jwt;
  if (!allowed(token.issuers, jwt.iss)) return 'JwtUnknownIssuer';
  const iss = jwt.iss;
  const provider =
    fixed ??
    providers.find((p) => p.issuer === iss) ??
    (iss === '' ? undefined : providers.find((p) => p.issuer === ''));
  if (provider === undefined) return 'JwtUnknownIssuer';
  const time = checkJwtTime(jwt, state.nowSeconds);
  if (time !== 'Ok') return time;
  if (!provider.audiences(jwt.audiences)) return 'JwtAudienceNotAllowed';
  return { jwt, provider };
}

// authenticator.cc handleGoodJwt: the payload and claim headers added, the token removed, the payload kept.
function acceptToken(token: Token, checked: Checked, state: State): void {
  const { jwt, provider } = checked;
  if (provider.payloadHeader !== undefined) addHeader(state, provider.payloadHeader, jwt.payloadBase64Url);
  for (const [header, claim] of provider.claimHeaders) {
    const v = claimAt(jwt.payload, claim);
    const text =
      typeof v === 'string'
        ? v
        : typeof v === 'number'
          ? claimNumber(v)
          : typeof v === 'boolean'
            ? String(v)
            : '';
    if (text !== '') addHeader(state, header, text);
  }
  if (!provider.forward) {
    if (token.location.kind === 'header') removeHeader(state, token.location.name);
    else if (token.location.kind === 'param') {
      state.path = removeQueryParam(state.path, token.location.name);
      state.removedParams.add(token.location.name);
    }
    // Envoy leaves a cookie in place ("TODO: remove JWT from cookies").
  }
  state.payload = jwt.payload;
  state.claims = normalizeClaims(jwt.payload, provider.spaceDelimited);
  state.rule = provider.applied;
}

// authenticator.cc startVerify + verifyKey + handleGoodJwt for one token.
async function verifyToken(
  token: Token,
  fixed: Provider | undefined,
  providers: readonly Provider[],
  state: State,
): Promise<JwtStatus> {
  const checked = checkToken(parsedToken(token, state), token, fixed, providers, state);
  if (typeof checked === 'string') return checked;
  const status = await verify(checked.jwt, checked.provider, state);
  if (status === 'Ok') acceptToken(token, checked, state);
  return status;
}

// AuthenticatorImpl::verify/doneWithStatus: every token must verify; allow_missing passes without tokens.
// (Envoy's allow_missing authenticator goes on after a failed token and ends with the last token's status, so
// a bad token next to a good one passes; Istio calls several tokens unsupported, and here any failure fails.)
async function authenticate(
  extractor: Extractor,
  fixed: Provider | undefined,
  allowMissing: boolean,
  providers: readonly Provider[],
  state: State,
): Promise<JwtStatus> {
  const tokens = extract(extractor, state);
  if (tokens.length === 0) return allowMissing ? 'Ok' : 'JwtMissed';
  for (;;) {
    const token = tokens.pop() as Token;
    const status = await verifyToken(token, fixed, providers, state);
    if (status !== 'Ok' || tokens.length === 0) return status;
  }
}

async function run(node: Node, providers: readonly Provider[], state: State): Promise<JwtStatus> {
  switch (node.kind) {
    case 'provider':
      return authenticate(node.extractor, node.provider, false, providers, state);
    case 'allowMissing':
      return authenticate(node.extractor, undefined, true, providers, state);
    case 'any': {
      let last: JwtStatus = 'JwtMissed';
      for (const child of node.children) {
        last = await run(child, providers, state);
        if (last === 'Ok') return 'Ok';
      }
      return last;
    }
    case 'all': {
      for (const child of node.children) {
        const status = await run(child, providers, state);
        if (status !== 'Ok') return status;
      }
      return 'Ok';
    }
  }
}

/**
 * Runs the JWT rules that apply to a request, as Envoy's `jwt_authn` filter would with istiod's
 * configuration. No rules: `Ok`, nothing changed. The result says whether the request goes on (`Ok`), with
 * which verified payload, and how its headers and path change before the application sees them.
 *
 * @param rules - From `engine.jwtRulesFor(workload, service)` (the array identity keys a compiled plan).
 * @param request - `:path` and headers.
 * @param options - The time and the key source for `jwksUri` rules.
 * @returns The status, the payload, the changed headers and path.
 * @example
 * ```ts
 * const result = await authenticateJwt(engine.jwtRulesFor(workload), { path: '/api', headers }, { nowMs: Date.now() });
 * if (result.status !== 'Ok') console.log(jwtStatusHttpCode(result.status), JWT_STATUS_MESSAGES[result.status]);
 * ```
 */
export function authenticateJwt(
  rules: readonly AppliedJwtRule[],
  request: JwtAuthnRequest,
  options: AuthenticateJwtOptions,
): Promise<JwtAuthnResult> {
  return runAuthn(rules, request, options, true);
}

/**
 * {@link authenticateJwt} always walking the requirement tree (no one-provider shortcut).
 *
 * @internal For the property test that holds the shortcut to the walk.
 * @param rules - As for {@link authenticateJwt}.
 * @param request - As for {@link authenticateJwt}.
 * @param options - As for {@link authenticateJwt}.
 * @returns As {@link authenticateJwt}.
 * @example
 * ```ts
 * expect(await authenticateJwtByTree(rules, request, options)).toEqual(await authenticateJwt(rules, request, options));
 * ```
 */
export function authenticateJwtByTree(
  rules: readonly AppliedJwtRule[],
  request: JwtAuthnRequest,
  options: AuthenticateJwtOptions,
): Promise<JwtAuthnResult> {
  return runAuthn(rules, request, options, false);
}

async function runAuthn(
  rules: readonly AppliedJwtRule[],
  request: JwtAuthnRequest,
  options: AuthenticateJwtOptions,
  shortcut: boolean,
): Promise<JwtAuthnResult> {
  const headers = new Map<string, string[]>();
  const raw = request.headers ?? {};
  for (const name of Object.keys(raw)) {
    const value = raw[name];
    if (value === undefined) continue;
    const list =
      typeof value === 'string' ? [value] : value.filter((v): v is string => typeof v === 'string');
    if (list.length === 0) continue;
    const lower = name.toLowerCase();
    const existing = headers.get(lower);
    // `list` is a fresh array either way (the filter copies), so the filter's changes never reach the caller's.
    if (existing === undefined) headers.set(lower, list);
    else existing.push(...list);
  }
  const state: State = {
    headers,
    path: request.path,
    removed: new Set(),
    removedParams: new Set(),
    added: [],
    payload: undefined,
    claims: undefined,
    rule: undefined,
    parsed: undefined,
    verified: undefined,
    nowSeconds: Math.floor(options.nowMs / 1000),
    source: options.jwks,
  };
  if (rules.length === 0) return finish('Ok', state);
  const plan = planFor(rules);
  for (const name of plan.sanitize) removeHeader(state, name);
  const single = shortcut ? plan.single : undefined;
  if (single !== undefined) {
    const tokens = extract(single.extractor, state);
    if (tokens.length === 0) return finish('Ok', state);
    if (tokens.length === 1) {
      // The token is read and checked once here, so the per-request caches are not needed.
      const token = tokens[0] as Token;
      const checked = checkToken(parseJwt(token.value), token, single.provider, plan.providers, state);
      if (typeof checked === 'string') return finish(checked, state);
      const status = await checkSignature(checked.jwt, single.provider, state);
      if (status === 'Ok') acceptToken(token, checked, state);
      return finish(status, state);
    }
  }
  const status = await run(plan.root, plan.providers, state);
  return finish(status, state);
}

function finish(status: JwtStatus, state: State): JwtAuthnResult {
  const ok = status === 'Ok';
  return {
    status,
    payload: ok ? state.payload : undefined,
    claims: ok ? state.claims : undefined,
    rule: ok ? state.rule : undefined,
    headers: state.headers,
    removedHeaders: [...state.removed].filter((name) => !state.headers.has(name)),
    addedHeaders: state.added,
    path: state.path,
    removedParams: [...state.removedParams],
  };
}
