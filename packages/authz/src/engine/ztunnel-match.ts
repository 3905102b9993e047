/**
 * ztunnel's matching of an `istio.security.Authorization` against a connection (istio/ztunnel@62d82653:
 * src/rbac.rs `Authorization::matches`), compiled once per policy.
 * @module
 */

import { type CompiledPrefix, compilePrefix, type IpAddress, inAnyPrefix } from './ip.js';
import { type MatchForm, ztunnelAnyMatcher } from './string-match.js';
import type {
  ZtunnelAddress,
  ZtunnelAuthorization,
  ZtunnelMatch,
  ZtunnelServiceAccountMatch,
  ZtunnelStringMatch,
} from './ztunnel-translate.js';

/** A connection as ztunnel's RBAC sees it (zt-rbac `Connection`). */
export interface L4Connection {
  readonly srcIp: IpAddress | undefined;
  readonly dstIp: IpAddress | undefined;
  readonly dstPort: number | undefined;
  /**
   * The peer identity (ztunnel `Identity::to_strng`) with its `spiffe://` stripped, as `matches_principal`
   * compares it; `undefined` without mTLS or without that scheme (never matches a principal).
   */
  readonly principalWithoutScheme: string | undefined;
  /** The namespace and service account parsed from the identity, `''` when absent. */
  readonly identityNamespace: string;
  readonly identityServiceAccount: string;
  /** Whether the identity parsed as `spiffe://<td>/ns/<ns>/sa/<sa>`. */
  readonly identityParsed: boolean;
}

/** A compiled Authorization: which group (if any) matched. */
export interface CompiledL4Policy {
  /** Index of the first matching group, or -1. */
  readonly matchGroup: (conn: L4Connection) => number;
}

type Pred = (conn: L4Connection) => boolean;

function toForm(m: ZtunnelStringMatch): MatchForm {
  if ('exact' in m) return { kind: 'exact', value: m.exact };
  if ('prefix' in m) return { kind: 'prefix', value: m.prefix };
  if ('suffix' in m) return { kind: 'suffix', value: m.suffix };
  return { kind: 'presence' };
}

function toPrefixes(addresses: readonly ZtunnelAddress[]): CompiledPrefix[] {
  const out: CompiledPrefix[] = [];
  for (const a of addresses) {
    // ztunnel `byte_to_ip` + `IpNet::new`: 4 or 16 bytes and a valid length, else the entry is skipped.
    const b = a.address;
    if ((b.length !== 4 && b.length !== 16) || a.length > b.length * 8) continue;
    const word = (i: number): number =>
      (((b[i] as number) << 24) |
        ((b[i + 1] as number) << 16) |
        ((b[i + 2] as number) << 8) |
        (b[i + 3] as number)) >>>
      0;
    const v6 = b.length === 16;
    out.push(
      compilePrefix({
        addr: { v6, w0: word(0), w1: v6 ? word(4) : 0, w2: v6 ? word(8) : 0, w3: v6 ? word(12) : 0 },
        bits: a.length,
      }),
    );
  }
  return out;
}

// zt-rbac matches_internal: (no positive list, or some positive value matches) and (no negative value
// matches), over one attribute read once from the connection. Each list arrives folded into one predicate
// (`undefined` for an empty list).
function attribute<V>(
  read: (conn: L4Connection) => V,
  positive: ((value: V) => boolean) | undefined,
  negative: ((value: V) => boolean) | undefined,
): Pred | undefined {
  if (positive === undefined && negative === undefined) return undefined;
  return (conn) => {
    const value = read(conn);
    return (positive === undefined || positive(value)) && (negative === undefined || !negative(value));
  };
}

function anyNet(nets: readonly CompiledPrefix[]): ((ip: IpAddress | undefined) => boolean) | undefined {
  return nets.length === 0 ? undefined : inAnyPrefix(nets);
}

function anyPort(ports: readonly number[]): ((port: number | undefined) => boolean) | undefined {
  if (ports.length === 0) return undefined;
  const set = new Set(ports);
  return (port) => port !== undefined && set.has(port);
}

// ServiceAccountMatch::matches: namespace and service account of a parsed identity; none never matches.
function anyServiceAccount(list: readonly ZtunnelServiceAccountMatch[]): Pred | undefined {
  if (list.length === 0) return undefined;
  return (c) =>
    c.identityParsed &&
    list.some((s) => s.namespace === c.identityNamespace && s.serviceAccount === c.identityServiceAccount);
}

// StringMatch::matches_principal: the identity without "spiffe://"; an absent identity never matches.
function anyPrincipal(
  list: readonly ZtunnelStringMatch[],
): ((id: string | undefined) => boolean) | undefined {
  if (list.length === 0) return undefined;
  const test = ztunnelAnyMatcher(list.map(toForm));
  return (id) => id !== undefined && test(id);
}

function anyNamespace(list: readonly ZtunnelStringMatch[]): ((ns: string) => boolean) | undefined {
  return list.length === 0 ? undefined : ztunnelAnyMatcher(list.map(toForm));
}

function compileMatch(m: ZtunnelMatch): Pred | undefined {
  // ztunnel converts first (dropping unusable addresses) and then skips a match left empty: "empty clause".
  const dst = toPrefixes(m.destinationIps);
  const notDst = toPrefixes(m.notDestinationIps);
  const src = toPrefixes(m.sourceIps);
  const notSrc = toPrefixes(m.notSourceIps);
  const converted = {
    ...m,
    destinationIps: dst,
    notDestinationIps: notDst,
    sourceIps: src,
    notSourceIps: notSrc,
  };
  if (Object.values(converted).every((list) => list.length === 0)) return undefined;
  const preds: Pred[] = [];
  const push = (p: Pred | undefined): void => {
    if (p !== undefined) preds.push(p);
  };
  push(attribute((c) => c.dstIp, anyNet(dst), anyNet(notDst)));
  push(attribute((c) => c.srcIp, anyNet(src), anyNet(notSrc)));
  push(attribute((c) => c.dstPort, anyPort(m.destinationPorts), anyPort(m.notDestinationPorts)));
  push(attribute((c) => c, anyServiceAccount(m.serviceAccounts), anyServiceAccount(m.notServiceAccounts)));
  push(attribute((c) => c.principalWithoutScheme, anyPrincipal(m.principals), anyPrincipal(m.notPrincipals)));
  push(attribute((c) => c.identityNamespace, anyNamespace(m.namespaces), anyNamespace(m.notNamespaces)));
  if (preds.length === 1) return preds[0] as Pred;
  return (conn) => {
    for (const p of preds) if (!p(conn)) return false;
    return true;
  };
}

/**
 * Compiles an Authorization for repeated matching: groups OR-ed, clauses (istio `Rules`) AND-ed, matches
 * OR-ed; no groups never matches, a group without clauses always matches, a clause without matches always
 * matches, an empty match never matches (zt-rbac `rbac_empty_policy`).
 *
 * @param authorization - The translated policy.
 * @returns The compiled matcher.
 * @example
 * ```ts
 * const t = translateForZtunnel(policy);
 * if (t.sent) compileL4Policy(t.authorization).matchGroup(conn); // -1 when no group matches
 * ```
 */
export function compileL4Policy(authorization: ZtunnelAuthorization): CompiledL4Policy {
  const groups = authorization.groups.map((group) =>
    group.rules.map((clause) => {
      const matches = clause.matches.map(compileMatch).filter((p): p is Pred => p !== undefined);
      return { always: clause.matches.length === 0, matches };
    }),
  );
  return {
    matchGroup(conn: L4Connection): number {
      for (let g = 0; g < groups.length; g++) {
        const clauses = groups[g] as { always: boolean; matches: Pred[] }[];
        let ok = true;
        for (const clause of clauses) {
          if (clause.always) continue;
          let any = false;
          for (const m of clause.matches) {
            if (m(conn)) {
              any = true;
              break;
            }
          }
          if (!any) {
            ok = false;
            break;
          }
        }
        if (ok) return g;
      }
      return -1;
    },
  };
}
