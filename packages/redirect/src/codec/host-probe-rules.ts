/**
 * The node-side rule that lets kubelet health probes bypass ztunnel.
 *
 * kubelet probes leave a local socket on the node; kube-proxy-forwarded traffic has none. The node SNATs the
 * former to the probe address when it is bound for an enrolled pod (the pod IP is in the probe set), and the
 * in-pod rule 9 accepts that source without redirecting. Forwarded traffic keeps its source and stays captured.
 */
import { IPTABLES_CHAINS, NFTABLES_NAMES, PROBE_SET_NAMES } from './constants.js';
import { resolveInpodRuleOptions } from './inpod-options.js';
import type { IptablesRule } from './iptables-restore.js';
import { renderIptablesRestore } from './iptables-restore.js';
import { renderNftTable } from './nft-transaction.js';

/**
 * Options of {@link buildHostProbeRules}.
 *
 * @example
 * ```ts
 * const options: HostProbeRuleOptions = { backend: 'nftables', enableIpv6: true, kubeletUid: 0 };
 * ```
 */
export interface HostProbeRuleOptions {
  /** `iptables` (istio's default) or `nftables` (`global.nativeNftables`). */
  readonly backend: 'iptables' | 'nftables';
  /** Also emit the IPv6 rule. Default `false`. */
  readonly enableIpv6?: boolean;
  /** SNAT source for IPv4 probes. Default `169.254.7.127` (`HOST_PROBE_SNAT_IP`). */
  readonly hostProbeSnatAddress?: string;
  /** SNAT source for IPv6 probes. Default `fd16:9254:7127:1337:ffff:ffff:ffff:ffff` (`HOST_PROBE_SNAT_IPV6`). */
  readonly hostProbeV6SnatAddress?: string;
  /**
   * nftables only: the kubelet's UID. nftables has no `--socket-exists`, so istio matches the kubelet's
   * sockets by owner (`meta skuid`, nftables.go:441-472) and reads the UID from the kubelet process in
   * `/proc`. Default `1000`, the value istio's golden tests stub in (nftables_test.go); pass the real
   * UID (the kubelet usually runs as root, `0`) when you apply the rule.
   */
  readonly kubeletUid?: number;
}

/**
 * Builds the node's probe SNAT rules.
 *
 * - `iptables`: `{ ipv4, ipv6? }`, `iptables-restore --noflush` input inserting `-I POSTROUTING 1 -j ISTIO_POSTRT`
 *   in `nat` and `-A ISTIO_POSTRT -m owner --socket-exists -p tcp -m set --match-set istio-inpod-probes-v4 dst
 *   -j SNAT --to-source 169.254.7.127` (the v6 set and address for ip6tables). istio `AppendHostRules`.
 * - `nftables`: the `nft -f` transaction for `inet istio-ambient-nat` with a `postrouting` NAT chain at
 *   priority 100 and `meta l4proto tcp skuid <uid> ip daddr @istio-inpod-probes-v4 counter snat to …`.
 *
 * Both expect the probe sets to exist (filled by the node agent with enrolled pod IPs).
 *
 * @param options - See {@link HostProbeRuleOptions}.
 * @returns The iptables texts, or the nftables transaction.
 * @throws {RangeError} On an invalid address or UID.
 * @example
 * ```ts
 * const { ipv4 } = buildHostProbeRules({ backend: 'iptables' });
 * const tx = buildHostProbeRules({ backend: 'nftables', kubeletUid: 0 });
 * ```
 */
export function buildHostProbeRules(options: HostProbeRuleOptions & { readonly backend: 'iptables' }): {
  ipv4: string;
  ipv6?: string;
};
export function buildHostProbeRules(options: HostProbeRuleOptions & { readonly backend: 'nftables' }): string;
export function buildHostProbeRules(options: HostProbeRuleOptions): { ipv4: string; ipv6?: string } | string;
export function buildHostProbeRules(options: HostProbeRuleOptions): { ipv4: string; ipv6?: string } | string {
  const resolved = resolveInpodRuleOptions({
    enableIpv6: options.enableIpv6 ?? false,
    ...(options.hostProbeSnatAddress === undefined
      ? {}
      : { hostProbeSnatAddress: options.hostProbeSnatAddress }),
    ...(options.hostProbeV6SnatAddress === undefined
      ? {}
      : { hostProbeV6SnatAddress: options.hostProbeV6SnatAddress }),
  });
  const { enableIpv6, hostProbeSnatAddress: v4, hostProbeV6SnatAddress: v6 } = resolved;
  if (options.backend === 'nftables') {
    const uid = options.kubeletUid ?? 1000;
    if (!Number.isInteger(uid) || uid < 0 || uid > 0xfffffffe) {
      throw new RangeError(`options.kubeletUid: expected a UID in [0, 4294967294], got ${String(uid)}`);
    }
    const { natTable, postrouting } = NFTABLES_NAMES;
    const rules = [
      {
        chain: postrouting,
        rule: `meta l4proto tcp skuid ${uid} ip daddr @${PROBE_SET_NAMES.ipv4} counter snat to ${v4}`,
      },
    ];
    if (enableIpv6) {
      rules.push({
        chain: postrouting,
        rule: `meta l4proto tcp skuid ${uid} ip6 daddr @${PROBE_SET_NAMES.ipv6} counter snat to ${v6}`,
      });
    }
    return renderNftTable({
      name: natTable,
      // knftables SNATPriority = 100.
      chains: [{ name: postrouting, type: 'nat', hook: 'postrouting', priority: 100 }],
      rules,
    });
  }
  if (options.backend !== 'iptables') {
    throw new TypeError(`options.backend: expected 'iptables' or 'nftables', got ${String(options.backend)}`);
  }
  const chain = IPTABLES_CHAINS.hostPostrouting;
  // istio InsertRule: the jump goes to both families, at the head of POSTROUTING.
  const jump: IptablesRule = {
    table: 'nat',
    chain: 'POSTROUTING',
    params: ['-I', 'POSTROUTING', '1', '-j', chain],
  };
  const snat = (set: string, address: string): IptablesRule => ({
    table: 'nat',
    chain,
    params:
      `-A ${chain} -m owner --socket-exists -p tcp -m set --match-set ${set} dst -j SNAT --to-source ${address}`.split(
        ' ',
      ),
  });
  const ipv4 = renderIptablesRestore([jump, snat(PROBE_SET_NAMES.ipv4, v4)]);
  if (!enableIpv6) return { ipv4 };
  return { ipv4, ipv6: renderIptablesRestore([jump, snat(PROBE_SET_NAMES.ipv6, v6)]) };
}
