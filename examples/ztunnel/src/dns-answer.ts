/**
 * What ztunnel's DNS proxy answers from its own state (istio/ztunnel@62d82653:src/dns/server.rs `Store::lookup`,
 * `find_server`, `get_addresses`), before anything goes upstream:
 *
 * - only `A` and `AAAA` questions are answered here; every other type is forwarded;
 * - for each alias of the name (dns-names.ts), and each wildcard of the alias, the services with that
 *   hostname are candidates: those with a VIP, or headless Kubernetes services (`*.svc.<domain>`), visible to
 *   the client's namespace; the client's namespace wins, then a `canonical` one, then the first;
 * - a service answers with its VIPs on the client's network (a headless one with its endpoints' IPs), in
 *   random order, TTL 30 s, authoritative; a name found by stripping a search domain answers `CNAME` to the
 *   stripped name first; a found name with no address of the asked family is an empty NOERROR answer;
 * - then, where ztunnel has a TODO ("add support for workload lookups"), a workload whose `hostname` is the
 *   alias answers with its own IPs (the client's namespace first);
 * - nothing found: forward.
 *
 * Pure over the store: no I/O.
 * @module
 */
import { isIpv6, type Service, type Workload, type WorkloadStore } from '@ambient-kit/workload-api';
import { dnsAliases, dnsWildcards, normalizeDnsName } from './dns-names.js';

/** ztunnel's `DEFAULT_TTL_SECONDS` for the records it serves. */
export const DNS_TTL_SECONDS = 30;

/** One record of an answer. */
export type DnsRecord =
  | { readonly type: 'A' | 'AAAA'; readonly name: string; readonly ttl: number; readonly data: string }
  | { readonly type: 'CNAME'; readonly name: string; readonly ttl: number; readonly data: string };

/** What to do with a question. */
export type DnsDecision =
  /** Not ours: ask the upstream resolver. */
  | { readonly kind: 'forward' }
  /** Ours: answer authoritatively with these records (possibly none: NOERROR, no data). */
  | {
      readonly kind: 'answer';
      readonly records: readonly DnsRecord[];
      /** What matched, for the log. */
      readonly matched: string;
    };

/** Options of {@link answerFromMesh}. */
export interface DnsAnswerOptions {
  /** Default `cluster.local`. */
  readonly clusterDomain?: string;
  /** Answer `AAAA` (ztunnel `ipv6_enabled`). Default `true`. */
  readonly ipv6Enabled?: boolean;
  /** Picks the order of equal candidates; default `Math.random` (ztunnel shuffles). */
  readonly random?: () => number;
}

function shuffle<T>(items: T[], random: () => number): T[] {
  for (let i = items.length - 1; i > 0; i--) {
    const j = Math.floor(random() * (i + 1));
    [items[i], items[j]] = [items[j] as T, items[i] as T];
  }
  return items;
}

const familyOf = (type: 'A' | 'AAAA'): 4 | 6 => (type === 'A' ? 4 : 6);
const ofFamily = (ip: string, family: 4 | 6): boolean => isIpv6(ip) === (family === 6);

/** ztunnel `find_server`'s filter and `ServiceMatch::find_best_match` (client namespace, canonical, first). */
function bestService(
  store: WorkloadStore,
  host: string,
  client: Workload,
  svcSuffix: string,
): Service | undefined {
  const candidates = store
    .servicesByHost(host)
    // Without a VIP only a Kubernetes headless service is ours; anything else goes upstream.
    .filter((s) => s.vips.length > 0 || s.hostname.endsWith(svcSuffix))
    .filter((s) => s.visibility !== 'Namespace' || s.namespace === client.namespace);
  return (
    candidates.find((s) => s.namespace === client.namespace) ??
    candidates.find((s) => s.canonical) ??
    candidates[0]
  );
}

/** ztunnel `service_family_allowed`. */
function familyAllowed(service: Service, type: 'A' | 'AAAA', ipv6Enabled: boolean): boolean {
  if (!ipv6Enabled && type === 'AAAA') return false;
  if (service.ipFamilies === 'IPv4' && type === 'AAAA') return false;
  if (service.ipFamilies === 'IPv6' && type === 'A') return false;
  return true;
}

function serviceAddresses(store: WorkloadStore, service: Service, client: Workload, family: 4 | 6): string[] {
  if (service.vips.length > 0) {
    return service.vips
      .filter((v) => v.network === client.network && ofFamily(v.address, family))
      .map((v) => v.address);
  }
  // Headless: each endpoint workload's first IP of the family.
  const out: string[] = [];
  for (const uid of store.endpoints(service.key).keys()) {
    const ip = store.workload(uid)?.workloadIps.find((a) => ofFamily(a, family));
    if (ip !== undefined) out.push(ip);
  }
  return out;
}

function workloadByHostname(store: WorkloadStore, host: string, client: Workload): Workload | undefined {
  let other: Workload | undefined;
  for (const w of store.workloads()) {
    if (w.hostname !== host || w.workloadIps.length === 0) continue;
    if (w.namespace === client.namespace) return w;
    other ??= w;
  }
  return other;
}

/**
 * Decides how to answer one question from a pod.
 *
 * @param store - The ztunnel's workload store.
 * @param client - The pod asking (the DNS proxy is per pod).
 * @param question - The name as asked and its type (`A`, `AAAA`, or anything else, forwarded).
 * @param options - Cluster domain, IPv6, randomness.
 * @returns `forward`, or the records to answer with.
 * @example
 * ```ts
 * answerFromMesh(store, sleep, { name: 'echo', type: 'A' });
 * // { kind: 'answer', records: [{ type: 'A', name: 'echo', ttl: 30, data: '10.96.0.10' }], matched: 'echo.default.svc.cluster.local' }
 * ```
 */
export function answerFromMesh(
  store: WorkloadStore,
  client: Workload,
  question: { readonly name: string; readonly type: string },
  options: DnsAnswerOptions = {},
): DnsDecision {
  const { type } = question;
  if (type !== 'A' && type !== 'AAAA') return { kind: 'forward' };
  const clusterDomain = options.clusterDomain ?? 'cluster.local';
  const ipv6Enabled = options.ipv6Enabled ?? true;
  const random = options.random ?? Math.random;
  const requested = normalizeDnsName(question.name);
  const family = familyOf(type);
  const svcSuffix = `.svc.${clusterDomain}`;
  // Records carry the name as the client asked it (without the trailing dot, which the encoder adds).
  const asked = question.name.endsWith('.') ? question.name.slice(0, -1) : question.name;

  for (const alias of dnsAliases(requested, client.namespace, clusterDomain)) {
    for (const candidate of dnsWildcards(alias.name)) {
      const service = bestService(store, candidate, client, svcSuffix);
      if (service === undefined) continue;
      const records: DnsRecord[] = [];
      if (!familyAllowed(service, type, ipv6Enabled)) return { kind: 'answer', records, matched: candidate };
      const addresses = shuffle(serviceAddresses(store, service, client, family), random);
      if (addresses.length === 0) return { kind: 'answer', records, matched: candidate };
      let ipName = asked;
      // Found by stripping a search domain: CNAME from what was asked to the stripped name (not for wildcards).
      if (alias.stripped !== undefined && !candidate.startsWith('*.')) {
        records.push({ type: 'CNAME', name: asked, ttl: DNS_TTL_SECONDS, data: alias.stripped });
        ipName = alias.stripped;
      }
      for (const ip of addresses) records.push({ type, name: ipName, ttl: DNS_TTL_SECONDS, data: ip });
      return { kind: 'answer', records, matched: candidate };
    }
  }
  // Beyond ztunnel (its TODO): workloads with a hostname of their own.
  for (const alias of dnsAliases(requested, client.namespace, clusterDomain)) {
    const workload = workloadByHostname(store, alias.name, client);
    if (workload === undefined) continue;
    const addresses = workload.workloadIps.filter(
      (ip) => ofFamily(ip, family) && (family === 4 || ipv6Enabled),
    );
    const records: DnsRecord[] = [];
    let ipName = asked;
    if (addresses.length > 0 && alias.stripped !== undefined) {
      records.push({ type: 'CNAME', name: asked, ttl: DNS_TTL_SECONDS, data: alias.stripped });
      ipName = alias.stripped;
    }
    for (const ip of shuffle(addresses, random))
      records.push({ type, name: ipName, ttl: DNS_TTL_SECONDS, data: ip });
    return { kind: 'answer', records, matched: alias.name };
  }
  return { kind: 'forward' };
}
