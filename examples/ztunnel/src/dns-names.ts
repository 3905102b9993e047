/**
 * The names ztunnel's DNS proxy tries for one question (istio/ztunnel@62d82653:src/dns/server.rs
 * `get_aliases`, `to_kube_fqdns`, `get_wildcards`): the name as asked; its
 * Kubernetes expansions under the client's namespace; the name with one of the pod's search domains stripped,
 * and that name's expansions. In shared (in-pod) mode ztunnel assumes each pod's search list is Kubernetes'
 * default for its namespace (`<ns>.svc.<domain> svc.<domain> <domain>`; server.rs `SystemForwarder`,
 * `SearchDomains::Dynamic`), since it cannot read the pod's `resolv.conf`.
 *
 * Names here are lower case, without the trailing dot. Pure: no I/O.
 * @module
 */

/** A candidate name, and the search domain-stripped name it came from (which then gets a CNAME). */
export interface DnsAlias {
  readonly name: string;
  /** Set when the alias was made by stripping a search domain: the answer is `CNAME` to this name. */
  readonly stripped?: string;
}

/**
 * A name as compared: lower case, without the trailing dot.
 *
 * @param name - As it came off the wire.
 * @returns The normalised name.
 * @example
 * ```ts
 * normalizeDnsName('Echo.Default.svc.cluster.local.'); // 'echo.default.svc.cluster.local'
 * ```
 */
export function normalizeDnsName(name: string): string {
  const lower = name.toLowerCase();
  return lower.endsWith('.') ? lower.slice(0, -1) : lower;
}

/**
 * The search domains ztunnel assumes for a pod in shared mode.
 *
 * @param namespace - The pod's namespace.
 * @param clusterDomain - Default `cluster.local`.
 * @returns `<ns>.svc.<domain>`, `svc.<domain>`, `<domain>`.
 * @example
 * ```ts
 * podSearchDomains('default'); // ['default.svc.cluster.local', 'svc.cluster.local', 'cluster.local']
 * ```
 */
export function podSearchDomains(namespace: string, clusterDomain = 'cluster.local'): string[] {
  return [`${namespace}.svc.${clusterDomain}`, `svc.${clusterDomain}`, clusterDomain];
}

/**
 * ztunnel `to_kube_fqdns`: the Kubernetes FQDNs a short name may stand for, given how many labels it has.
 *
 * @param name - Normalised.
 * @param namespace - The client's namespace.
 * @param clusterDomain - The cluster domain.
 * @returns The expansions (none for a name of 5+ labels, taken as already complete).
 * @example
 * ```ts
 * kubeFqdns('echo', 'default', 'cluster.local'); // ['echo.default.svc.cluster.local']
 * kubeFqdns('echo.default', 'ns2', 'cluster.local');
 * // ['echo.default.svc.cluster.local', 'echo.default.ns2.svc.cluster.local']
 * ```
 */
export function kubeFqdns(name: string, namespace: string, clusterDomain: string): string[] {
  const labels = name === '' ? [] : name.split('.');
  const svcDomain = `svc.${clusterDomain}`;
  const namespaced = `${namespace}.${svcDomain}`;
  switch (labels.length) {
    case 1:
      // A service in the client's namespace.
      return [`${name}.${namespaced}`];
    case 2:
      // <service>.<namespace>, or <pod-hostname>.<subdomain> in the client's namespace.
      return [`${name}.${svcDomain}`, `${name}.${namespaced}`];
    case 3:
      // <service>.<namespace>.svc, or <pod-hostname>.<subdomain>.<namespace>.
      return labels[2] === 'svc'
        ? [`${name}.${clusterDomain}`, `${name}.${svcDomain}`]
        : [`${name}.${svcDomain}`];
    case 4:
      // <pod-hostname>.<subdomain>.<namespace>.svc.
      return labels[3] === 'svc' ? [`${name}.${clusterDomain}`] : [];
    default:
      return [];
  }
}

/**
 * ztunnel `get_aliases`: every name to try for a question, each once, in order.
 *
 * @param name - The question's name, normalised.
 * @param namespace - The client's namespace.
 * @param clusterDomain - Default `cluster.local`.
 * @returns The aliases.
 * @example
 * ```ts
 * dnsAliases('echo.default.svc.cluster.local.default.svc.cluster.local', 'default');
 * // [..., { name: 'echo.default.svc.cluster.local', stripped: 'echo.default.svc.cluster.local' }, ...]
 * ```
 */
export function dnsAliases(name: string, namespace: string, clusterDomain = 'cluster.local'): DnsAlias[] {
  const out: DnsAlias[] = [];
  const seen = new Set<string>();
  const add = (alias: DnsAlias): void => {
    if (seen.has(alias.name)) return;
    seen.add(alias.name);
    out.push(alias);
  };
  add({ name });
  for (const fqdn of kubeFqdns(name, namespace, clusterDomain)) add({ name: fqdn });
  for (const domain of podSearchDomains(namespace, clusterDomain)) {
    // hickory `trim_to`-style: strip the domain only when the name is longer than it.
    if (!name.endsWith(`.${domain}`)) continue;
    const stripped = name.slice(0, -(domain.length + 1));
    add({ name: stripped, stripped });
    for (const fqdn of kubeFqdns(stripped, namespace, clusterDomain)) add({ name: fqdn, stripped });
  }
  return out;
}

/**
 * ztunnel `get_wildcards`: the name, then wildcards of decreasing specificity.
 *
 * @param name - Normalised.
 * @returns `a.b.c` → `a.b.c`, `*.b.c`, `*.c`.
 * @example
 * ```ts
 * dnsWildcards('www.example.com'); // ['www.example.com', '*.example.com', '*.com']
 * ```
 */
export function dnsWildcards(name: string): string[] {
  const out = [name];
  let labels = name.split('.');
  while (labels.length > 1) {
    out.push(['*', ...labels.slice(1)].join('.'));
    labels = labels.slice(1);
  }
  return out;
}
