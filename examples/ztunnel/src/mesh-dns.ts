/**
 * Hostname resolution against the mesh, as ztunnel's DNS proxy answers a pod (`istio/ztunnel@62d82653:src/dns/server.rs`): a
 * service hostname resolves to its VIP on our network (the client's
 * namespace wins when several namespaces define the name), Kubernetes short names are expanded with the
 * client's namespace, and a workload with that hostname resolves to its IP. Names outside the mesh go to
 * the system resolver, as ztunnel forwards them upstream.
 * @module
 */
import { lookup } from 'node:dns/promises';
import { isIpv6, type Workload, type WorkloadStore } from '@ambient-kit/workload-api';

/**
 * Candidate FQDNs for a name, in search order: the name itself, then `<name>.<ns>.svc.cluster.local` and
 * `<name>.svc.cluster.local` (`echo`, `echo.default`), as a pod's `resolv.conf` search list makes them.
 *
 * @param name - The name asked for (a trailing dot is ignored).
 * @param namespace - The client's namespace.
 * @returns Candidates, most specific first.
 * @example
 * ```ts
 * searchNames('echo', 'default'); // ['echo', 'echo.default.svc.cluster.local', 'echo.svc.cluster.local']
 * ```
 */
export function searchNames(name: string, namespace: string): string[] {
  const base = name.endsWith('.') ? name.slice(0, -1) : name;
  return [...new Set([base, `${base}.${namespace}.svc.cluster.local`, `${base}.svc.cluster.local`])];
}

/**
 * Resolves a hostname from the store only.
 *
 * @param store - The workload store.
 * @param name - The hostname.
 * @param source - The asking workload (its namespace and network decide between candidates).
 * @param preferIpv6 - Pick an IPv6 address when both families exist.
 * @returns An IP, or `undefined` when the mesh does not know the name.
 * @example
 * ```ts
 * resolveMeshHostname(store, 'echo.default.svc.cluster.local', sleep, false); // '10.96.0.10'
 * ```
 */
export function resolveMeshHostname(
  store: WorkloadStore,
  name: string,
  source: Workload,
  preferIpv6: boolean,
): string | undefined {
  const pick = (ips: readonly string[]): string | undefined =>
    ips.find((ip) => isIpv6(ip) === preferIpv6) ?? ips[0];
  for (const candidate of searchNames(name.toLowerCase(), source.namespace)) {
    const service = store.bestServiceByHost(candidate, source.namespace);
    if (service !== undefined) {
      const vips = service.vips.filter((v) => v.network === source.network).map((v) => v.address);
      const ip = pick(vips);
      if (ip !== undefined) return ip;
    }
    const found = store.findHostname(source.namespace, candidate);
    if (found?.kind === 'workload') {
      const ip = pick(found.workloadIps);
      if (ip !== undefined) return ip;
    }
  }
  return undefined;
}

/**
 * Resolves a hostname from the store, else with the system resolver.
 *
 * @param store - The workload store.
 * @param name - The hostname.
 * @param source - The asking workload.
 * @param preferIpv6 - Family preference.
 * @returns An IP, or `undefined`.
 * @example
 * ```ts
 * await resolveHostname(store, 'example.com', sleep, false);
 * ```
 */
export async function resolveHostname(
  store: WorkloadStore,
  name: string,
  source: Workload,
  preferIpv6: boolean,
): Promise<string | undefined> {
  const mesh = resolveMeshHostname(store, name, source, preferIpv6);
  if (mesh !== undefined) return mesh;
  try {
    const { address } = await lookup(name, { family: preferIpv6 ? 6 : 4 });
    return address;
  } catch {
    return undefined;
  }
}
