/**
 * The in-pod iptables rules of istio-cni ambient (istio/istio@86c9f01f:cni/pkg/iptables/iptables.go
 * `AppendInpodRules`, lines 189-435). The rule numbers in comments are those of the table in
 * docs/redirect.md, "What the rules do".
 */
import { IPTABLES_CHAINS } from './constants.js';
import { hex, type InpodRuleOptions, resolveInpodRuleOptions } from './inpod-options.js';
import { type IptablesRule, type IptablesTable, renderIptablesRestore } from './iptables-restore.js';

/**
 * The two rule lists istio's builder keeps: IPv4 (iptables) and IPv6 (ip6tables, empty unless IPv6 is on).
 *
 * @example
 * ```ts
 * const { ipv4 } = inpodIptablesRuleSet({ redirectDns: true });
 * ipv4.length; // 19 rules
 * ```
 */
export interface IptablesRuleSet {
  readonly ipv4: readonly IptablesRule[];
  readonly ipv6: readonly IptablesRule[];
}

const { inpodOutput: OUTPUT_CHAIN, inpodPrerouting: PRERT_CHAIN } = IPTABLES_CHAINS;

/**
 * Builds the in-pod rules as data, in istio's append order. {@link buildInpodIptablesRules} renders them.
 *
 * @param options - See {@link InpodRuleOptions}; defaults are istio's.
 * @returns The IPv4 and IPv6 rule lists.
 * @throws {RangeError} On invalid options (see `resolveInpodRuleOptions`).
 * @example
 * ```ts
 * inpodIptablesRuleSet({ ingressMode: true }).ipv4.some((r) => r.params.includes('15006')); // false
 * ```
 */
export function inpodIptablesRuleSet(options: InpodRuleOptions = {}): IptablesRuleSet {
  const o = resolveInpodRuleOptions(options);
  const ipv4: IptablesRule[] = [];
  const ipv6: IptablesRule[] = [];
  const mark = `${hex(o.mark)}/${hex(o.markMask)}`;
  const tproxyMark = `${hex(o.tproxyMark)}/${hex(o.tproxyMask)}`;
  const rule = (table: IptablesTable, chain: string, words: string): IptablesRule => ({
    table,
    chain,
    // Every substituted value is validated to be free of spaces, so splitting is exact.
    params: ['-A', chain, ...words.split(' ')],
  });
  // istio AppendRule: both families (ip6tables only when IPv6 is enabled).
  const both = (table: IptablesTable, chain: string, words: string): void => {
    ipv4.push(rule(table, chain, words));
    if (o.enableIpv6) ipv6.push(rule(table, chain, words));
  };
  // istio AppendVersionedRule: one address per family substituted into the same words.
  const versioned = (
    [v4, v6]: readonly [string, string],
    table: IptablesTable,
    chain: string,
    words: (address: string) => string,
  ): void => {
    ipv4.push(rule(table, chain, words(v4)));
    if (o.enableIpv6) ipv6.push(rule(table, chain, words(v6)));
  };
  const loopback = ['127.0.0.1/32', '::1/128'] as const;
  const snat = [o.hostProbeSnatAddress, o.hostProbeV6SnatAddress] as const;

  // 1-6: jumps from the built-in chains into ours.
  both('mangle', 'PREROUTING', `-j ${PRERT_CHAIN}`);
  both('mangle', 'OUTPUT', `-j ${OUTPUT_CHAIN}`);
  both('nat', 'OUTPUT', `-j ${OUTPUT_CHAIN}`);
  if (o.redirectDns) {
    both('raw', 'PREROUTING', `-j ${PRERT_CHAIN}`);
    both('raw', 'OUTPUT', `-j ${OUTPUT_CHAIN}`);
  }
  both('nat', 'PREROUTING', `-j ${PRERT_CHAIN}`);

  // 7: virtual interfaces (KubeVirt, DinD…): their inbound TCP is really outbound, send it to 15001 and
  // leave our chain. TCP only: ztunnel can't proxy arbitrary UDP.
  for (const name of o.virtualInterfaces) {
    both('nat', PRERT_CHAIN, `-i ${name} -p tcp -j REDIRECT --to-ports ${o.outboundPort}`);
    both('nat', PRERT_CHAIN, `-i ${name} -p tcp -j RETURN`);
  }

  // 8: a packet ztunnel sent (mark 0x539) tags its connection with connmark 0x111, so the app's replies
  // can be steered back to ztunnel's transparent socket (rule 12 + the fwmark route).
  both('mangle', PRERT_CHAIN, `-m mark --mark ${mark} -j CONNMARK --set-xmark ${tproxyMark}`);

  // 9: kubelet probes arrive SNATed to the probe address by istio-cni's rule on the node
  // (istio/istio@86c9f01f:cni/pkg/iptables/iptables.go `CreateHostRulesForHealthChecks`): let them through.
  // (istio's comment says mangle and --dport; the emitted rule is nat and has no port.)
  if (!o.ingressMode) versioned(snat, 'nat', PRERT_CHAIN, (a) => `-s ${a} -p tcp -m tcp -j ACCEPT`);
  // 10: and the replies to those probes.
  versioned(snat, 'nat', OUTPUT_CHAIN, (a) => `-d ${a} -p tcp -m tcp -j ACCEPT`);

  // 11: inbound TCP not for loopback and not for HBONE (15008) goes to the plaintext listener.
  if (!o.ingressMode) {
    versioned(
      loopback,
      'nat',
      PRERT_CHAIN,
      (a) =>
        `! -d ${a} -p tcp ! --dport ${o.inboundPort} -m mark ! --mark ${mark} ` +
        `-j REDIRECT --to-ports ${o.inboundPlaintextPort}`,
    );
  }

  // 12: restore the connmark onto the app's reply packets (they then match the fwmark route).
  both(
    'mangle',
    OUTPUT_CHAIN,
    `-m connmark --mark ${tproxyMark} -j CONNMARK --restore-mark ` +
      `--nfmask ${hex(o.restoreMask)} --ctmask ${hex(o.restoreMask)}`,
  );

  if (o.redirectDns) {
    // 13: UDP DNS to a non-loopback resolver goes to ztunnel's DNS proxy (`--to-port`, singular, as istio).
    both(
      'nat',
      OUTPUT_CHAIN,
      `! -o lo -p udp -m mark ! --mark ${mark} -m udp --dport 53 -j REDIRECT --to-port ${o.dnsPort}`,
    );
    // 14: same for TCP DNS.
    versioned(
      loopback,
      'nat',
      OUTPUT_CHAIN,
      (a) => `! -d ${a} -p tcp --dport 53 -m mark ! --mark ${mark} -j REDIRECT --to-ports ${o.dnsPort}`,
    );
    // 15-16: ztunnel's own upstream DNS (marked) and the answers get conntrack zone 1, so they can't
    // collide with the app's redirected flows on the same ports (istio/istio#33469).
    both('raw', OUTPUT_CHAIN, `-p udp -m mark --mark ${mark} -m udp --dport 53 -j CT --zone 1`);
    both('raw', PRERT_CHAIN, `-p udp -m mark ! --mark ${mark} -m udp --sport 53 -j CT --zone 1`);
  }

  // 17: replies carrying the restored 0x111 mark belong to ztunnel's connections: never redirect them.
  both('nat', OUTPUT_CHAIN, `-p tcp -m mark --mark ${tproxyMark} -j ACCEPT`);
  // 18: the app calling its own pod IP leaves through lo: don't loop it through ztunnel.
  versioned(loopback, 'nat', OUTPUT_CHAIN, (a) => `! -d ${a} -o lo -j ACCEPT`);
  // 19: everything else outbound over TCP without ztunnel's mark goes to 15001.
  versioned(
    loopback,
    'nat',
    OUTPUT_CHAIN,
    (a) => `! -d ${a} -p tcp -m mark ! --mark ${mark} -j REDIRECT --to-ports ${o.outboundPort}`,
  );
  return { ipv4, ipv6 };
}

/**
 * The `iptables-restore --noflush` input istio-cni feeds inside a pod's network namespace: IPv4 for
 * `iptables-restore`, and IPv6 for `ip6tables-restore` when `enableIpv6` is set. Byte for byte istio's
 * `BuildV4Restore()`/`BuildV6Restore()` (each ends with `COMMIT\n`); istio's golden files
 * (`cni/pkg/iptables/testdata/*.golden`) are `iptables-save\nip6tables-save\n` followed by these texts
 * joined, without the final newline.
 *
 * @param options - See {@link InpodRuleOptions}; defaults are istio's.
 * @returns `{ ipv4 }`, plus `ipv6` when IPv6 is enabled.
 * @throws {RangeError} On invalid options.
 * @example
 * ```ts
 * const { ipv4, ipv6 } = buildInpodIptablesRules({ redirectDns: true, enableIpv6: true });
 * // pipe ipv4 into `iptables-restore --noflush`, ipv6 into `ip6tables-restore --noflush`
 * ```
 */
export function buildInpodIptablesRules(options: InpodRuleOptions = {}): { ipv4: string; ipv6?: string } {
  const set = inpodIptablesRuleSet(options);
  const ipv4 = renderIptablesRestore(set.ipv4);
  return options.enableIpv6 === true ? { ipv4, ipv6: renderIptablesRestore(set.ipv6) } : { ipv4 };
}
