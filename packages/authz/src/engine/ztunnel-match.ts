/**
 * ztunnel's matching of an `istio.security.Authorization` against a connection
 * (istio/ztunnel@62d82653:src/rbac.rs `Authorization::matches`), compiled once per policy from
 * `@ambient-kit/workload-api`'s `Authorization` model. Besides the predicate of each group (ztunnel: rule), the
 * compilation says which connection values a group needs (./rule-index.ts), so a set of many policies can
 * be searched through an index.
 * @module
 */

import {
  type CompiledPrefix,
  compilePrefix,
  type IpAddress,
  type IpPrefix,
  parsePrefix,
} from '@ambient-kit/ip';
import type {
  Authorization,
  AuthorizationMatch,
  IpPrefix as ModelIpPrefix,
  ServiceAccountMatch,
  StringMatch,
} from '@ambient-kit/workload-api/codec';
import { inAnyPrefix } from './ip-block.js';
import type { AttributeReaders, IndexKey } from './rule-index.js';
import { type MatchForm, ztunnelAnyMatcher } from './string-match.js';
import { isEmptyMatch } from './ztunnel-translate.js';

/**
 * A connection as ztunnel's RBAC reads it (zt-rbac `Connection`), prepared once per decision: addresses parsed
 * (an IPv4-mapped address as IPv4), the peer identity split.
 */
export interface L4View {
  readonly srcIp: IpAddress | undefined;
  readonly dstIp: IpAddress | undefined;
  readonly dstPort: number | undefined;
  /**
   * The peer identity (ztunnel `Identity::to_strng`) with its `spiffe://` stripped, as `matches_principal`
   * compares it; `undefined` without mTLS or without that scheme (never matches a principal).
   */
  readonly principalWithoutScheme: string | undefined;
  /** The namespace and service account of an Istio identity, `''` when absent. */
  readonly identityNamespace: string;
  readonly identityServiceAccount: string;
  /** Whether the identity is an Istio identity (`spiffe://<td>/ns/<ns>/sa/<sa>`). */
  readonly identityParsed: boolean;
}

/** One group (ztunnel: rule) of a compiled policy. */
export interface CompiledL4Group {
  readonly match: (view: L4View) => boolean;
  /** What the group needs of the connection (./rule-index.ts); `undefined` when that cannot be said. */
  readonly keys: readonly IndexKey[] | undefined;
}

/** A compiled Authorization. */
export interface CompiledL4Policy {
  readonly groups: readonly CompiledL4Group[];
  /**
   * Why the policy cannot be evaluated (an IP prefix that does not parse, in a hand-built model); the decision
   * then denies rather than guess.
   */
  readonly problem: string | undefined;
  /**
   * Index of the first matching group, or -1.
   *
   * @param view - The connection.
   * @returns The group index.
   */
  matchGroup(view: L4View): number;
}

/** How the index reads the connection attributes the L4 keys name. */
export const L4_READERS: AttributeReaders<L4View> = {
  srcIp: (v) => v.srcIp,
  dstIp: (v) => v.dstIp,
  dstPort: (v) => v.dstPort,
  principal: (v) => v.principalWithoutScheme,
  namespace: (v) => v.identityNamespace,
  serviceAccount: (v) =>
    v.identityParsed ? `${v.identityNamespace}/${v.identityServiceAccount}` : undefined,
};

type Pred = (view: L4View) => boolean;

function toForm(m: StringMatch): MatchForm {
  if ('exact' in m) return { kind: 'exact', value: m.exact };
  if ('prefix' in m) return { kind: 'prefix', value: m.prefix };
  if ('suffix' in m) return { kind: 'suffix', value: m.suffix };
  return { kind: 'presence' };
}

// The model keeps canonical prefix text (workload-api validated it); a hand-built one may not parse.
const NONE: readonly never[] = Object.freeze([]);

function toPrefixes(list: readonly ModelIpPrefix[], problems: string[], where: string): readonly IpPrefix[] {
  if (list.length === 0) return NONE;
  const out = list.map((p) => parsePrefix(`${p.address}/${p.length}`));
  if (!out.includes(undefined)) return out as IpPrefix[];
  out.forEach((parsed, i) => {
    if (parsed === undefined) problems.push(`${where}[${i}] ${JSON.stringify(list[i])} is not an IP prefix`);
  });
  return out.filter((p) => p !== undefined);
}

// zt-rbac matches_internal: (no positive list, or some positive value matches) and (no negative value
// matches), over one attribute read once from the connection. Each list arrives folded into one predicate
// (`undefined` for an empty list).
function attribute<V>(
  read: (view: L4View) => V,
  positive: ((value: V) => boolean) | undefined,
  negative: ((value: V) => boolean) | undefined,
): Pred | undefined {
  if (positive === undefined && negative === undefined) return undefined;
  return (view) => {
    const value = read(view);
    return (positive === undefined || positive(value)) && (negative === undefined || !negative(value));
  };
}

function anyNet(nets: readonly IpPrefix[]): ((ip: IpAddress | undefined) => boolean) | undefined {
  return nets.length === 0 ? undefined : inAnyPrefix(nets.map((n): CompiledPrefix => compilePrefix(n)));
}

function anyPort(ports: readonly number[]): ((port: number | undefined) => boolean) | undefined {
  if (ports.length === 0) return undefined;
  const set = new Set(ports);
  return (port) => port !== undefined && set.has(port);
}

// ServiceAccountMatch::matches: namespace and service account of an Istio identity; none never matches. The
// joined key rejects most connections with one lookup; the parts are compared to confirm.
function anyServiceAccount(list: readonly ServiceAccountMatch[]): Pred | undefined {
  if (list.length === 0) return undefined;
  const keys = new Set(list.map((s) => `${s.namespace}/${s.serviceAccount}`));
  return (v) =>
    v.identityParsed &&
    keys.has(`${v.identityNamespace}/${v.identityServiceAccount}`) &&
    list.some((s) => s.namespace === v.identityNamespace && s.serviceAccount === v.identityServiceAccount);
}

// StringMatch::matches_principal: the identity without "spiffe://"; an absent identity never matches.
function anyPrincipal(list: readonly StringMatch[]): ((id: string | undefined) => boolean) | undefined {
  if (list.length === 0) return undefined;
  const test = ztunnelAnyMatcher(list.map(toForm));
  return (id) => id !== undefined && test(id);
}

function anyNamespace(list: readonly StringMatch[]): ((ns: string) => boolean) | undefined {
  return list.length === 0 ? undefined : ztunnelAnyMatcher(list.map(toForm));
}

function stringKeys(attr: string, list: readonly StringMatch[]): IndexKey[] {
  return list.map((m): IndexKey => {
    if ('exact' in m) return { attr, kind: 'exact', value: m.exact };
    if ('prefix' in m) return { attr, kind: 'prefix', value: m.prefix };
    if ('suffix' in m) return { attr, kind: 'suffix', value: m.suffix };
    return { attr, kind: 'present' };
  });
}

// A key kind's selectivity, to pick which positive list of a match the index files it under.
const RANK = { exact: 0, ip: 0, prefix: 1, suffix: 1, port: 2, present: 3 } as const;

function score(keys: readonly IndexKey[]): number {
  let worst = 0;
  for (const k of keys) worst = Math.max(worst, RANK[k.kind]);
  return worst;
}

// The keys of one (non-empty) match: those of its most selective positive list, or undefined when it has
// only negative lists (such a match can hold for almost any connection).
function matchKeys(
  m: AuthorizationMatch,
  src: readonly IpPrefix[],
  dst: readonly IpPrefix[],
): IndexKey[] | undefined {
  let best: IndexKey[] | undefined;
  const consider = (keys: IndexKey[]): void => {
    if (best === undefined || score(keys) < score(best)) best = keys;
  };
  // Most selective first: a later list replaces an earlier one only when strictly better.
  if (m.serviceAccounts.length > 0)
    consider(
      m.serviceAccounts.map((s) => ({
        attr: 'serviceAccount',
        kind: 'exact',
        value: `${s.namespace}/${s.serviceAccount}`,
      })),
    );
  if (m.principals.length > 0 && (best === undefined || score(best) > 0))
    consider(stringKeys('principal', m.principals));
  if (src.length > 0 && (best === undefined || score(best) > 0))
    consider(src.map((prefix) => ({ attr: 'srcIp', kind: 'ip', prefix })));
  if (dst.length > 0 && (best === undefined || score(best) > 0))
    consider(dst.map((prefix) => ({ attr: 'dstIp', kind: 'ip', prefix })));
  if (m.namespaces.length > 0 && (best === undefined || score(best) > 0))
    consider(stringKeys('namespace', m.namespaces));
  if (m.destinationPorts.length > 0 && (best === undefined || score(best) > 1))
    consider(m.destinationPorts.map((port) => ({ attr: 'dstPort', kind: 'port', port })));
  return best;
}

interface CompiledMatch {
  readonly match: Pred;
  readonly keys: IndexKey[] | undefined;
}

function compileMatch(m: AuthorizationMatch, problems: string[], where: string): CompiledMatch | undefined {
  // ztunnel skips an empty match ("empty clause"): it never matches.
  if (isEmptyMatch(m)) return undefined;
  const dst = toPrefixes(m.destinationIps, problems, `${where}.destinationIps`);
  const notDst = toPrefixes(m.notDestinationIps, problems, `${where}.notDestinationIps`);
  const src = toPrefixes(m.sourceIps, problems, `${where}.sourceIps`);
  const notSrc = toPrefixes(m.notSourceIps, problems, `${where}.notSourceIps`);
  // Most matches test one attribute: keep that predicate itself rather than a list of one.
  let match: Pred | undefined;
  let preds: Pred[] | undefined;
  for (const p of [
    attribute((v) => v.dstIp, anyNet(dst), anyNet(notDst)),
    attribute((v) => v.srcIp, anyNet(src), anyNet(notSrc)),
    attribute((v) => v.dstPort, anyPort(m.destinationPorts), anyPort(m.notDestinationPorts)),
    attribute((v) => v, anyServiceAccount(m.serviceAccounts), anyServiceAccount(m.notServiceAccounts)),
    attribute((v) => v.principalWithoutScheme, anyPrincipal(m.principals), anyPrincipal(m.notPrincipals)),
    attribute((v) => v.identityNamespace, anyNamespace(m.namespaces), anyNamespace(m.notNamespaces)),
  ]) {
    if (p === undefined) continue;
    if (match === undefined) match = p;
    else {
      preds ??= [match];
      preds.push(p);
    }
  }
  if (preds !== undefined) {
    const all = preds;
    match = (view) => {
      for (const p of all) if (!p(view)) return false;
      return true;
    };
  }
  // Not empty, so at least one attribute has a list.
  return { match: match as Pred, keys: matchKeys(m, src, dst) };
}

/**
 * Compiles an Authorization for repeated matching: groups OR-ed, rules (ztunnel: clauses) AND-ed, matches
 * OR-ed; no groups never matches, a group without rules always matches, a rule without matches always
 * matches, an empty match never matches (zt-rbac test `rbac_empty_policy`).
 *
 * @param authorization - The policy (workload-api's model).
 * @returns The compiled policy; `problem` says why it cannot be evaluated, if it cannot.
 * @example
 * ```ts
 * const t = translateForZtunnel(policy);
 * if (t.sent) compileL4Policy(t.authorization).matchGroup(view); // -1 when no group matches
 * ```
 */
export function compileL4Policy(authorization: Authorization): CompiledL4Policy {
  const problems: string[] = [];
  const groups: CompiledL4Group[] = authorization.groups.map((group, gi) => {
    // Per rule (ztunnel: clause): its matches OR-ed; a rule without matches always holds, and one whose
    // matches are all empty never does.
    const clauses: Pred[] = [];
    let keys: IndexKey[] | undefined;
    group.rules.forEach((clause, ri) => {
      if (clause.matches.length === 0) return;
      const compiled = clause.matches
        .map((m, mi) => compileMatch(m, problems, `groups[${gi}].rules[${ri}].matches[${mi}]`))
        .filter((c): c is CompiledMatch => c !== undefined);
      if (compiled.length === 1) clauses.push((compiled[0] as CompiledMatch).match);
      else {
        const ms = compiled.map((c) => c.match);
        clauses.push((view) => {
          for (const m of ms) if (m(view)) return true;
          return false;
        });
      }
      // The group can only match when one of this rule's matches holds: the rule's keys, when every match
      // has some, can file the group (no matches left: no keys at all, the group never matches).
      if (compiled.some((c) => c.keys === undefined)) return;
      const candidate =
        compiled.length === 1
          ? (compiled[0]?.keys as IndexKey[])
          : compiled.flatMap((c) => c.keys as IndexKey[]);
      if (keys === undefined || score(candidate) < score(keys)) keys = candidate;
    });
    const match: Pred =
      clauses.length === 0
        ? () => true
        : clauses.length === 1
          ? (clauses[0] as Pred)
          : (view) => {
              for (const c of clauses) if (!c(view)) return false;
              return true;
            };
    return { match, keys };
  });
  return {
    groups,
    problem:
      problems.length === 0
        ? undefined
        : `policy ${authorization.namespace}/${authorization.name} cannot be evaluated: ${problems.join('; ')}`,
    matchGroup(view: L4View): number {
      for (let g = 0; g < groups.length; g++) if ((groups[g] as CompiledL4Group).match(view)) return g;
      return -1;
    },
  };
}
