/**
 * An AuthorizationPolicy as Envoy enforces it at a sidecar, gateway or waypoint : istiod's `model.New` / `Generate`
 * (istio/istio@86c9f01f:pilot/pkg/security/authz/model) turned into predicates instead of RBAC
 * protos. Each rule becomes `OR(permissions) AND OR(principals)`: one permission per `to` entry, one principal
 * per `from` entry, `when` conditions merged into every one of them by their side.
 *
 * On a TCP filter chain (`forTcp`), HTTP-only attributes cannot be generated (`rule.checkError`): in an ALLOW
 * policy the whole rule is skipped, in DENY/AUDIT/CUSTOM only that attribute is dropped.
 * @module
 */

import { type CompiledPrefix, compilePrefix, type IpAddress, type IpPrefix } from '@ambient-kit/ip';
import type { RequestContext } from './context.js';
import { hasRe2Meta, type IdentityRegexMode, identityRegexPredicate } from './identity-regex.js';
import { inAnyPrefix, parseIpBlock } from './ip-block.js';
import { compilePathTemplate, containsPathTemplate } from './path-template.js';
import type { AuthorizationAction, Condition, Operation, Rule, Source } from './policy.js';
import type { AttributeReaders, IndexKey } from './rule-index.js';
import {
  anyOf,
  asciiLower,
  envoyStringMatcher,
  fullMatchRegex,
  headerMatcher,
  matchForm,
  quoteRegex,
  type StringPredicate,
} from './string-match.js';
import {
  expandTrustDomainAliases,
  replaceTrustDomainAliases,
  type TrustDomainBundle,
} from './trust-domain.js';
import { bracketNames } from './validate.js';

/** A compiled predicate over a prepared request. */
export type RequestPredicate = (ctx: RequestContext) => boolean;

/** One generated rule of a policy. */
export interface CompiledEnvoyRule {
  /** Index in `spec.rules`. */
  readonly index: number;
  /** Envoy's RBAC policy name for it, `ns[<ns>]-policy[<name>]-rule[<i>]`; RBAC reports the first in this order. */
  readonly key: string;
  readonly match: RequestPredicate;
  /** What the rule needs of the request, for the rule index (./rule-index.ts); `undefined` when unknown. */
  readonly keys: readonly IndexKey[] | undefined;
}

/**
 * How the rule index reads the request attributes the Envoy keys name. `nsSegment` is every path segment that
 * follows a `/ns/` in the peer URI: istiod's `namespaces` regex `.*\/ns\/<value>\/.*` can only hold for one
 * of them.
 */
export const ENVOY_READERS: AttributeReaders<RequestContext> = {
  srcIp: (ctx) => ctx.srcIp,
  remoteIp: (ctx) => ctx.remoteIp,
  dstIp: (ctx) => ctx.dstIp,
  dstPort: (ctx) => ctx.dstPort,
  principal: (ctx) => ctx.principal ?? undefined,
  nsSegment: (ctx) => (ctx.principal === null ? undefined : namespaceSegments(ctx.principal)),
  path: (ctx) => ctx.urlPath,
  host: (ctx) => ctx.hostLowerCase(),
  method: (ctx) => ctx.method,
};

function namespaceSegments(uri: string): readonly string[] {
  const out: string[] = [];
  // Occurrences may overlap (`/ns/ns/x/`): step one character at a time.
  for (let i = uri.indexOf('/ns/'); i !== -1; i = uri.indexOf('/ns/', i + 1)) {
    const start = i + 4;
    const end = uri.indexOf('/', start);
    if (end !== -1) out.push(uri.slice(start, end));
  }
  return out;
}

/** What a policy compiles to for one filter chain. */
export interface CompiledEnvoyPolicy {
  readonly rules: readonly CompiledEnvoyRule[];
  /** `spec.rules` indexes skipped on this chain (ALLOW rules with HTTP-only attributes on TCP). */
  readonly skippedRules: readonly number[];
}

/** Where a condition or field sits in the RBAC policy. */
type Side = 'permission' | 'principal';

/** The attribute kinds istio's generators know (model/generator.go). */
type AttributeKind =
  | 'srcIp'
  | 'remoteIp'
  | 'namespace'
  | 'trustDomain'
  | 'serviceAccount'
  | 'principal'
  | 'requestPrincipal'
  | 'audiences'
  | 'presenter'
  | 'header'
  | 'claims'
  | 'dstIp'
  | 'dstPort'
  | 'sni'
  | 'envoyFilter'
  | 'host'
  | 'method'
  | 'path';

/** Generators that fail on a TCP filter chain ("is HTTP only"). */
const HTTP_ONLY: ReadonlySet<AttributeKind> = new Set<AttributeKind>([
  'requestPrincipal',
  'audiences',
  'presenter',
  'header',
  'claims',
  'host',
  'method',
  'path',
]);

interface Attribute {
  readonly kind: AttributeKind;
  readonly key: string;
  readonly values: readonly string[];
  readonly notValues: readonly string[];
}

/** Context a compile needs beyond the rule itself. */
export interface EnvoyCompileContext {
  readonly namespace: string;
  readonly name: string;
  readonly bundle: TrustDomainBundle;
  /** How identity values with regex metacharacters are read (./identity-regex.ts). Default `strictest`. */
  readonly identityRegex?: IdentityRegexMode;
}

// model.New: which side a `when` key goes to and which generator reads it.
function conditionAttribute(when: Condition): { side: Side; attr: Attribute } | undefined {
  const k = when.key;
  const attr = (kind: AttributeKind): Attribute => ({
    kind,
    key: k,
    values: when.values ?? [],
    notValues: when.notValues ?? [],
  });
  if (k === 'destination.ip') return { side: 'permission', attr: attr('dstIp') };
  if (k === 'destination.port') return { side: 'permission', attr: attr('dstPort') };
  if (k === 'connection.sni') return { side: 'permission', attr: attr('sni') };
  if (k.startsWith('experimental.envoy.filters.')) return { side: 'permission', attr: attr('envoyFilter') };
  if (k === 'source.ip') return { side: 'principal', attr: attr('srcIp') };
  if (k === 'remote.ip') return { side: 'principal', attr: attr('remoteIp') };
  if (k === 'source.namespace') return { side: 'principal', attr: attr('namespace') };
  if (k === 'source.trustDomain') return { side: 'principal', attr: attr('trustDomain') };
  if (k === 'source.serviceAccount') return { side: 'principal', attr: attr('serviceAccount') };
  if (k === 'source.principal') return { side: 'principal', attr: attr('principal') };
  if (k === 'request.auth.principal') return { side: 'principal', attr: attr('requestPrincipal') };
  if (k === 'request.auth.audiences') return { side: 'principal', attr: attr('audiences') };
  if (k === 'request.auth.presenter') return { side: 'principal', attr: attr('presenter') };
  if (k.startsWith('request.headers')) return { side: 'principal', attr: attr('header') };
  if (k.startsWith('request.auth.claims')) return { side: 'principal', attr: attr('claims') };
  return undefined;
}

// One attribute per field that has values or notValues, in istiod's generator order.
function fieldAttributes(
  fields: readonly (readonly [
    AttributeKind,
    string,
    readonly string[] | undefined,
    readonly string[] | undefined,
  ])[],
): Attribute[] {
  const out: Attribute[] = [];
  for (const [kind, key, values, notValues] of fields) {
    if ((values?.length ?? 0) === 0 && (notValues?.length ?? 0) === 0) continue;
    out.push({ kind, key, values: values ?? [], notValues: notValues ?? [] });
  }
  return out;
}

function sourceAttributes(s: Source): Attribute[] {
  return fieldAttributes([
    ['srcIp', 'source.ip', s.ipBlocks, s.notIpBlocks],
    ['remoteIp', 'remote.ip', s.remoteIpBlocks, s.notRemoteIpBlocks],
    ['namespace', 'source.namespace', s.namespaces, s.notNamespaces],
    ['trustDomain', 'source.trustDomain', s.trustDomains, s.notTrustDomains],
    ['serviceAccount', 'source.serviceAccount', s.serviceAccounts, s.notServiceAccounts],
    ['requestPrincipal', 'request.auth.principal', s.requestPrincipals, s.notRequestPrincipals],
    ['principal', 'source.principal', s.principals, s.notPrincipals],
  ]);
}

function operationAttributes(o: Operation): Attribute[] {
  return fieldAttributes([
    ['dstPort', 'destination.port', o.ports, o.notPorts],
    ['path', 'url_path', o.paths, o.notPaths],
    ['method', ':method', o.methods, o.notMethods],
    ['host', ':authority', o.hosts, o.notHosts],
  ]);
}

// ---- value matchers -------------------------------------------------------------------------------------

function ipMatcher(
  values: readonly string[],
  read: (ctx: RequestContext) => IpAddress | undefined,
): RequestPredicate {
  const test = inAnyPrefix(ipBlocks(values).map((b): CompiledPrefix => compilePrefix(b)));
  return (ctx) => test(read(ctx));
}

// Envoy `authenticated` / filter-state principal: no peer identity never matches.
function principalMatcher(test: StringPredicate): RequestPredicate {
  return (ctx) => ctx.principal !== null && test(ctx.principal);
}

// istio/istio@86c9f01f:pilot/pkg/security/authz/model/generator.go srcNamespaceGenerator: regex
// `.*/ns/<v with every * as .*, literal parts QuoteMeta'd>/.*` over the peer URI; istiod <= 1.27 left the
// literal parts unquoted (./identity-regex.ts decides between the two readings).
function namespaceMatcher(value: string, mode: IdentityRegexMode, wide: boolean): StringPredicate {
  const parts = value.split('*');
  let escaped: StringPredicate;
  if (!value.includes('*')) {
    const needle = `/ns/${value}/`;
    escaped = (s) => s.includes(needle) && !s.includes('\n');
  } else {
    escaped = fullMatchRegex(`.*/ns/${parts.map(quoteRegex).join('.*')}/.*`);
  }
  const raw = parts.some(hasRe2Meta) ? `.*/ns/${parts.join('.*')}/.*` : undefined;
  return identityRegexPredicate(escaped, raw, mode, wide);
}

// model srcTrustDomainGenerator (always quoted: the field arrived after the quoting fixes).
function trustDomainMatcher(value: string): StringPredicate {
  if (value === '*') return (s) => s.startsWith('spiffe://');
  if (!value.includes('*')) {
    const prefix = `spiffe://${value}/`;
    return (s) => s.startsWith(prefix);
  }
  const star = value.indexOf('*');
  return fullMatchRegex(
    `spiffe://${quoteRegex(value.slice(0, star))}[^/]*${quoteRegex(value.slice(star + 1))}/.*`,
  );
}

// model serviceAccountRegex: `spiffe://.+/ns/<ns>/(.+/|)sa/<sa>(/.+)?`, ns and sa QuoteMeta'd since #59700
// (istio/istio@692e460c); unquoted before.
function serviceAccountMatcher(
  value: string,
  policyNamespace: string,
  mode: IdentityRegexMode,
  wide: boolean,
): StringPredicate {
  const slash = value.indexOf('/');
  const ns = slash === -1 ? policyNamespace : value.slice(0, slash);
  const sa = slash === -1 ? value : value.slice(slash + 1);
  const escaped = fullMatchRegex(`spiffe://.+/ns/${quoteRegex(ns)}/(.+/|)sa/${quoteRegex(sa)}(/.+)?`);
  const raw = hasRe2Meta(ns) || hasRe2Meta(sa) ? `spiffe://.+/ns/${ns}/(.+/|)sa/${sa}(/.+)?` : undefined;
  return identityRegexPredicate(escaped, raw, mode, wide);
}

// model srcPrincipalGenerator → matcher.StringMatcherWithPrefix(v, "spiffe://"): a suffix value `*x` is the
// regex `spiffe://.*<QuoteMeta(x)>` (istio/istio@66e29a48, #59992), `spiffe://.*x` before.
function principalValueMatcher(value: string, mode: IdentityRegexMode, wide: boolean): StringPredicate {
  const form = matchForm(value);
  const escaped = envoyStringMatcher(value, 'spiffe://');
  if (form.kind !== 'suffix' || !hasRe2Meta(form.value)) return escaped;
  return identityRegexPredicate(escaped, `spiffe://.*${form.value}`, mode, wide);
}

const ANY_NON_EMPTY: StringPredicate = (s) => s.length > 0 && !s.includes('\n');

// A JWT claim compared as Envoy's metadata string matcher: only string values can match.
function claimString(ctx: RequestContext, claim: string, test: StringPredicate): boolean {
  const value = ctx.jwtClaim([claim]);
  return typeof value === 'string' && test(value);
}

// model requestPrincipalGenerator: split at the last '/', iss and sub matched on their own claims.
function requestPrincipalMatcher(value: string): RequestPredicate {
  const idx = value.lastIndexOf('/');
  const found = idx >= 0;
  const iss = found ? value.slice(0, idx) : value;
  const sub = found ? value.slice(idx + 1) : '';
  let matchIss: StringPredicate;
  let matchSub: StringPredicate;
  if (value === '*') {
    matchIss = ANY_NON_EMPTY;
    matchSub = ANY_NON_EMPTY;
  } else if (value.startsWith('*')) {
    if (found) {
      const suffix = iss.slice(1);
      matchIss = iss === '*' ? ANY_NON_EMPTY : (s) => s.endsWith(suffix);
      matchSub = (s) => s === sub;
    } else {
      const suffix = value.slice(1);
      matchIss = ANY_NON_EMPTY;
      matchSub = (s) => s.endsWith(suffix);
    }
  } else if (value.endsWith('*')) {
    if (found) {
      const prefix = sub.slice(0, -1);
      matchIss = (s) => s === iss;
      matchSub = sub === '*' ? ANY_NON_EMPTY : (s) => s.startsWith(prefix);
    } else {
      const prefix = value.slice(0, -1);
      matchIss = (s) => s.startsWith(prefix);
      matchSub = ANY_NON_EMPTY;
    }
  } else {
    matchIss = (s) => s === iss;
    matchSub = (s) => s === sub;
  }
  return (ctx) => claimString(ctx, 'iss', matchIss) && claimString(ctx, 'sub', matchSub);
}

// MetadataListValueMatcherForJWTClaims (extended JWT): the leaf string, or any string element of a list
// leaf, matches one of the values.
function claimListMatcher(path: readonly string[], values: readonly string[]): RequestPredicate {
  const tests = values.map((v) => envoyStringMatcher(v));
  const anyTest = (s: string): boolean => {
    for (const t of tests) if (t(s)) return true;
    return false;
  };
  return (ctx) => {
    const leaf = ctx.jwtClaim(path);
    if (typeof leaf === 'string') return anyTest(leaf);
    if (Array.isArray(leaf)) {
      for (const item of leaf) if (typeof item === 'string' && anyTest(item)) return true;
    }
    return false;
  };
}

// model envoyFilterGenerator.extendedPermission: `[v]` matches an element of a list value, `v` a string value.
function envoyFilterMatcher(key: string, values: readonly string[]): RequestPredicate {
  const trimmed = key.slice('experimental.'.length).replace(/\]$/, '');
  const open = trimmed.indexOf('[');
  if (open === -1) return () => false;
  const filter = trimmed.slice(0, open);
  const name = trimmed.slice(open + 1);
  const tests = values.map((v) => {
    if (v.startsWith('[') && v.endsWith(']')) {
      const element = envoyStringMatcher(v.replace(/^[[\]]+|[[\]]+$/g, ''));
      return (value: unknown): boolean =>
        Array.isArray(value) && value.some((item) => typeof item === 'string' && element(item));
    }
    const test = envoyStringMatcher(v);
    return (value: unknown): boolean => typeof value === 'string' && test(value);
  });
  return (ctx) => {
    const value = ctx.metadataValue(filter, name);
    if (value === undefined) return false;
    for (const t of tests) if (t(value)) return true;
    return false;
  };
}

function orOf(preds: readonly RequestPredicate[]): RequestPredicate {
  if (preds.length === 1) return preds[0] as RequestPredicate;
  return (ctx) => {
    for (const p of preds) if (p(ctx)) return true;
    return false;
  };
}

// Header values (istio matcher.HeaderMatcher) over a present header: "*" is present_match, so any value;
// exact values in a set. Case-sensitive: `hosts` pass lower-cased values and compare the lower-cased host.
function headerValues(values: readonly string[]): StringPredicate {
  return anyOf(
    values.map((v) => {
      const form = matchForm(v);
      if (form.kind === 'presence') return () => true;
      return form.kind === 'exact' ? form.value : (headerMatcher(v, false) as StringPredicate);
    }),
  );
}

/** The positive predicate of an attribute over a value list (OR of per-value matchers). */
function valuesPredicate(
  attr: Attribute,
  values: readonly string[],
  cc: EnvoyCompileContext,
  wide: boolean,
): RequestPredicate {
  const mode = cc.identityRegex ?? 'strictest';
  switch (attr.kind) {
    case 'srcIp':
      return ipMatcher(values, (ctx) => ctx.srcIp);
    case 'remoteIp':
      return ipMatcher(values, (ctx) => ctx.remoteIp);
    case 'dstIp':
      return ipMatcher(values, (ctx) => ctx.dstIp);
    case 'dstPort': {
      const ports = new Set(values.map(Number));
      return (ctx) => ctx.dstPort !== undefined && ports.has(ctx.dstPort);
    }
    case 'namespace':
      return orOf(values.map((v) => principalMatcher(namespaceMatcher(v, mode, wide))));
    case 'trustDomain':
      return orOf(
        expandTrustDomainAliases(values, cc.bundle).map((v) => principalMatcher(trustDomainMatcher(v))),
      );
    case 'serviceAccount':
      return orOf(values.map((v) => principalMatcher(serviceAccountMatcher(v, cc.namespace, mode, wide))));
    case 'principal': {
      // Exact principals (the common case) become one set lookup on the peer URI.
      const parts = replaceTrustDomainAliases(values, cc.bundle).map((v) =>
        matchForm(v).kind === 'exact' ? `spiffe://${v}` : principalValueMatcher(v, mode, wide),
      );
      return principalMatcher(anyOf(parts));
    }
    case 'requestPrincipal':
      return orOf(values.map(requestPrincipalMatcher));
    case 'audiences':
      return claimListMatcher(['aud'], values);
    case 'presenter':
      return claimListMatcher(['azp'], values);
    case 'claims':
      return claimListMatcher(bracketNames(attr.key, 'request.auth.claims') ?? [], values);
    case 'header': {
      const name = (bracketNames(attr.key, 'request.headers')?.[0] ?? '').toLowerCase();
      const test = headerValues(values);
      return (ctx) => {
        const value = ctx.header(name);
        return value !== undefined && test(value);
      };
    }
    case 'host': {
      // HostMatcher is ignore_case: compare lower-cased values with the host lower-cased once per request.
      const test = headerValues(values.map(asciiLower));
      return (ctx) => {
        const host = ctx.hostLowerCase();
        return host !== undefined && test(host);
      };
    }
    case 'method': {
      const test = headerValues(values);
      return (ctx) => ctx.method !== undefined && test(ctx.method);
    }
    case 'path': {
      const test = anyOf(
        values.map((v) => {
          if (containsPathTemplate(v)) return compilePathTemplate(v);
          return matchForm(v).kind === 'exact' ? v : envoyStringMatcher(v);
        }),
      );
      return (ctx) => ctx.urlPath !== undefined && test(ctx.urlPath);
    }
    case 'sni':
      return orOf(
        values.map((v) => {
          const m = envoyStringMatcher(v);
          return (ctx: RequestContext) => m(ctx.sni ?? '');
        }),
      );
    case 'envoyFilter':
      return envoyFilterMatcher(attr.key, values);
  }
}

// A key for a string value in Istio's match forms, as the header, path and principal matchers read them:
// exact, prefix `x*`, suffix `*x`, presence `*`.
function formKey(attr: string, value: string, prefix = ''): IndexKey {
  const form = matchForm(value);
  if (form.kind === 'presence') return { attr, kind: 'present' };
  return { attr, kind: form.kind, value: form.kind === 'suffix' ? form.value : prefix + form.value };
}

// Unparsable values match nothing (istiod skips them): they give no key either.
function ipBlocks(values: readonly string[]): IpPrefix[] {
  const blocks = values.map(parseIpBlock);
  return (blocks.includes(undefined) ? blocks.filter((b) => b !== undefined) : blocks) as IpPrefix[];
}

function ipKeys(attr: string, values: readonly string[]): IndexKey[] {
  return ipBlocks(values).map((prefix) => ({ attr, kind: 'ip', prefix }));
}

/**
 * The index keys of an attribute's positive values: the request matches one of the values only if it
 * satisfies one of the keys. `undefined` for attributes (or values) whose matcher the keys cannot describe:
 * headers, claims, SNI, trust domains, service accounts, path templates, identity regexes.
 */
function valuesKeys(
  attr: Attribute,
  values: readonly string[],
  cc: EnvoyCompileContext,
): IndexKey[] | undefined {
  switch (attr.kind) {
    case 'srcIp':
    case 'remoteIp':
    case 'dstIp':
      return ipKeys(attr.kind, values);
    case 'dstPort':
      return values
        .map(Number)
        .filter((port) => Number.isInteger(port))
        .map((port): IndexKey => ({ attr: 'dstPort', kind: 'port', port }));
    case 'principal': {
      const out: IndexKey[] = [];
      for (const v of replaceTrustDomainAliases(values, cc.bundle)) {
        const form = matchForm(v);
        // A suffix with regex metacharacters may be read as a regex (./identity-regex.ts).
        if (form.kind === 'suffix' && hasRe2Meta(form.value)) return undefined;
        out.push(formKey('principal', v, 'spiffe://'));
      }
      return out;
    }
    case 'namespace':
      // `.*/ns/<v>/.*` holds only if some `/ns/` of the URI is followed by `<v>/`.
      if (values.some((v) => v.includes('*') || v.includes('/') || hasRe2Meta(v))) return undefined;
      return values.map((value) => ({ attr: 'nsSegment', kind: 'exact', value }));
    case 'host':
      return values.map((v) => formKey('host', asciiLower(v)));
    case 'method':
      return values.map((v) => formKey('method', v));
    case 'path':
      if (values.some(containsPathTemplate)) return undefined;
      return values.map((v) => formKey('path', v));
    default:
      return undefined;
  }
}

// A key kind's selectivity, to choose which attribute (and which side of a rule) the index files it under.
const RANK = { exact: 0, ip: 0, prefix: 1, suffix: 1, port: 2, present: 3 } as const;

function keysScore(keys: readonly IndexKey[]): number {
  let worst = 0;
  for (const k of keys) worst = Math.max(worst, RANK[k.kind]);
  return worst;
}

function better(a: IndexKey[] | undefined, b: IndexKey[] | undefined): IndexKey[] | undefined {
  if (a === undefined) return b;
  if (b === undefined) return a;
  return keysScore(b) < keysScore(a) ? b : a;
}

/** One permission or principal: the AND-list of predicates and the index keys of its best attribute. */
interface GeneratedList {
  readonly and: RequestPredicate[];
  readonly keys: IndexKey[] | undefined;
}

/** The AND-list of one permission or principal, or `'skip'` when an ALLOW rule must be skipped on TCP. */
function generateList(
  attrs: readonly Attribute[],
  action: AuthorizationAction,
  forTcp: boolean,
  cc: EnvoyCompileContext,
): GeneratedList | 'skip' {
  const and: RequestPredicate[] = [];
  let keys: IndexKey[] | undefined;
  for (const attr of attrs) {
    if (forTcp && HTTP_ONLY.has(attr.kind)) {
      // rule.checkError: ALLOW propagates the error (rule skipped); DENY/AUDIT ignore it (attribute dropped).
      if (action === 'ALLOW') return 'skip';
      continue;
    }
    // A match of `values` leads towards denying in DENY/AUDIT/CUSTOM rules, a match of `notValues` in ALLOW
    // rules: that is where an ambiguous identity regex is read widely (./identity-regex.ts).
    const denyLike = action !== 'ALLOW';
    if (attr.values.length > 0) {
      and.push(valuesPredicate(attr, attr.values, cc, denyLike));
      keys = better(keys, valuesKeys(attr, attr.values, cc));
    }
    if (attr.notValues.length > 0) {
      const positive = valuesPredicate(attr, attr.notValues, cc, !denyLike);
      and.push((ctx) => !positive(ctx));
    }
  }
  return { and, keys };
}

function allOf(list: readonly RequestPredicate[]): RequestPredicate {
  if (list.length === 0) return () => true;
  if (list.length === 1) return list[0] as RequestPredicate;
  return (ctx) => {
    for (const p of list) if (!p(ctx)) return false;
    return true;
  };
}

/**
 * Compiles one rule as istiod generates it for an Envoy RBAC filter.
 *
 * @param rule - The rule.
 * @param action - The policy action (CUSTOM compiles like DENY, as istiod builds CUSTOM rules with DENY).
 * @param forTcp - Whether this is a TCP filter chain.
 * @param cc - Policy namespace/name and the trust-domain bundle.
 * @returns The predicate, or `undefined` when the rule is skipped on this chain.
 * @example
 * ```ts
 * const match = compileEnvoyRule({ to: [{ operation: { methods: ['GET'] } }] }, 'ALLOW', false, cc);
 * ```
 */
export function compileEnvoyRule(
  rule: Rule,
  action: AuthorizationAction,
  forTcp: boolean,
  cc: EnvoyCompileContext,
): { readonly match: RequestPredicate; readonly keys: IndexKey[] | undefined } | undefined {
  const checkAction: AuthorizationAction = action === 'ALLOW' ? 'ALLOW' : 'DENY';
  const basePermission: Attribute[] = [];
  const basePrincipal: Attribute[] = [];
  for (const when of rule.when ?? []) {
    const placed = conditionAttribute(when);
    // An unknown key makes istiod skip the whole rule ("skipped invalid rule"); validation rejects it first.
    if (placed === undefined) return undefined;
    (placed.side === 'permission' ? basePermission : basePrincipal).push(placed.attr);
  }
  const permissionLists: Attribute[][] =
    rule.to !== undefined && rule.to.length > 0
      ? rule.to.map((to) => [...operationAttributes(to.operation ?? {}), ...basePermission])
      : [basePermission];
  const principalLists: Attribute[][] =
    rule.from !== undefined && rule.from.length > 0
      ? rule.from.map((from) => [...sourceAttributes(from.source ?? {}), ...basePrincipal])
      : [basePrincipal];
  const permissions: GeneratedList[] = [];
  for (const list of permissionLists) {
    const generated = generateList(list, checkAction, forTcp, cc);
    if (generated === 'skip') return undefined;
    permissions.push(generated);
  }
  const principals: GeneratedList[] = [];
  for (const list of principalLists) {
    const generated = generateList(list, checkAction, forTcp, cc);
    if (generated === 'skip') return undefined;
    principals.push(generated);
  }
  const permission = orOf(permissions.map((g) => allOf(g.and)));
  const principal = orOf(principals.map((g) => allOf(g.and)));
  // The rule needs one of its permissions and one of its principals: either side's keys, when every entry of
  // that side has some, say what it needs.
  const sideKeys = (side: readonly GeneratedList[]): IndexKey[] | undefined => {
    if (!side.every((g) => g.keys !== undefined)) return undefined;
    return side.length === 1 ? side[0]?.keys : side.flatMap((g) => g.keys as IndexKey[]);
  };
  return {
    match: (ctx) => permission(ctx) && principal(ctx),
    keys: better(sideKeys(permissions), sideKeys(principals)),
  };
}

/**
 * Compiles every rule of a policy for one filter chain. A policy without rules compiles to no rules (istiod's
 * `rbacPolicyMatchNever`): it matches nothing but, for ALLOW, still makes the workload deny by default.
 *
 * @param rules - `spec.rules`.
 * @param action - The policy action.
 * @param forTcp - TCP filter chain or HTTP.
 * @param cc - Policy namespace/name and the trust-domain bundle.
 * @returns The compiled rules in Envoy's reporting order, and the skipped rule indexes.
 * @example
 * ```ts
 * compileEnvoyPolicy(policy.spec.rules ?? [], 'DENY', true, { namespace: 'foo', name: 'deny', bundle: ['cluster.local'] });
 * ```
 */
export function compileEnvoyPolicy(
  rules: readonly Rule[],
  action: AuthorizationAction,
  forTcp: boolean,
  cc: EnvoyCompileContext,
): CompiledEnvoyPolicy {
  const compiled: CompiledEnvoyRule[] = [];
  const skipped: number[] = [];
  rules.forEach((rule, index) => {
    const generated = compileEnvoyRule(rule ?? {}, action, forTcp, cc);
    if (generated === undefined) skipped.push(index);
    else
      compiled.push({
        index,
        key: `ns[${cc.namespace}]-policy[${cc.name}]-rule[${index}]`,
        match: generated.match,
        keys: generated.keys,
      });
  });
  // Envoy keeps RBAC policies in an ordered map and reports the first match by name.
  compiled.sort((a, b) => (a.key < b.key ? -1 : a.key > b.key ? 1 : 0));
  return { rules: compiled, skippedRules: skipped };
}
