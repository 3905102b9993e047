/**
 * Trust-domain aliases, applied by istiod to Envoy-bound policies only (istio/istio@86c9f01f:
 * pilot/pkg/security/trustdomain/bundle.go). ztunnel receives principals verbatim.
 * @module
 */

/** The local trust domain followed by its aliases (istio `trustdomain.NewBundle`). */
export type TrustDomainBundle = readonly string[];

/** `cluster.local`: in a policy principal it points at "the current trust domain and its aliases". */
export const CLUSTER_LOCAL = 'cluster.local';

function prefixMatch(a: string, pattern: string): boolean {
  return pattern.endsWith('*') && a.startsWith(pattern.slice(0, -1));
}

function suffixMatch(a: string, pattern: string): boolean {
  return pattern.startsWith('*') && a.endsWith(pattern.slice(1));
}

// istio trustdomain `stringMatch`: the pattern may be on either side.
function bundleMatch(a: string, bundle: TrustDomainBundle): boolean {
  return bundle.some(
    (s) =>
      a === s ||
      s === '*' ||
      prefixMatch(a, s) ||
      prefixMatch(s, a) ||
      suffixMatch(a, s) ||
      suffixMatch(s, a),
  );
}

/**
 * Rewrites principals for the bundle (istio `Bundle.ReplaceTrustDomainAliases`): a principal of exactly five
 * `/`-separated parts whose trust domain matches the bundle, or is `cluster.local`, becomes one principal per
 * bundle entry (a `*x` trust domain matching an entry stays verbatim for it, without duplicates); principals
 * that do not enforce a trust domain (`*`, a `*` trust domain, malformed) and foreign trust domains stay as written.
 *
 * @param principals - Policy principal values.
 * @param bundle - `[trustDomain, ...aliases]`.
 * @returns The rewritten list.
 * @example
 * ```ts
 * replaceTrustDomainAliases(['cluster.local/ns/foo/sa/bar'], ['td1', 'cluster.local']);
 * // ['td1/ns/foo/sa/bar', 'cluster.local/ns/foo/sa/bar']
 * ```
 */
export function replaceTrustDomainAliases(
  principals: readonly string[],
  bundle: TrustDomainBundle,
): string[] {
  const out: string[] = [];
  for (const principal of principals) {
    // isTrustDomainBeingEnforced: five `/`-separated parts and a trust domain other than exactly "*".
    // (Counted without splitting: blocklists carry thousands of principals.)
    const firstSlash = principal.indexOf('/');
    let slashes = 0;
    for (let i = firstSlash; i !== -1 && slashes <= 4; i = principal.indexOf('/', i + 1)) slashes++;
    const td = principal.slice(0, firstSlash);
    if (slashes !== 4 || td === '*') {
      out.push(principal);
      continue;
    }
    if (!bundleMatch(td, bundle) && td !== CLUSTER_LOCAL) {
      out.push(principal);
      continue;
    }
    const rest = principal.slice(firstSlash);
    const rewritten: string[] = [];
    for (const entry of bundle) {
      // An entry equal to the principal's own trust domain rewrites it to itself.
      const candidate = entry === td || suffixMatch(entry, td) ? principal : `${entry}${rest}`;
      if (!rewritten.includes(candidate)) rewritten.push(candidate);
    }
    out.push(...rewritten);
  }
  return out;
}

/**
 * Expands trust-domain values (istio `Bundle.ExpandTrustDomainAliases`): a value equal to a bundle entry
 * stands for every entry; duplicates removed, first occurrence kept.
 *
 * @param values - `trustDomains` / `source.trustDomain` values.
 * @param bundle - `[trustDomain, ...aliases]`.
 * @returns The expanded list.
 * @example
 * ```ts
 * expandTrustDomainAliases(['td1'], ['td1', 'td2']); // ['td1', 'td2']
 * ```
 */
export function expandTrustDomainAliases(values: readonly string[], bundle: TrustDomainBundle): string[] {
  const out: string[] = [];
  for (const value of values) {
    for (const v of bundle.includes(value) ? bundle : [value]) {
      if (!out.includes(v)) out.push(v);
    }
  }
  return out;
}
