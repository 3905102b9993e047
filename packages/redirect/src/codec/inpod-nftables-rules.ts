/**
 * The in-pod nftables rules of istio-cni ambient (`NATIVE_NFTABLES`; istio
 * istio/istio@86c9f01f:cni/pkg/nftables/nftables.go `AppendInpodRules`, 134-393). They mirror the iptables
 * rules one for one; comments give the rule number of the table in docs/redirect.md, "What the rules do". The
 * statement text is istio's literally, including its two double spaces (`mark and 0xfff  != 0x539` in the
 * IPv4 inbound redirect, `|  0x111` in the connmark rule): nft parses both, and byte-identical text is what
 * lets a transaction be compared with istio's.
 */
import { NFTABLES_NAMES } from './constants.js';
import { hex, type InpodRuleOptions, resolveInpodRuleOptions } from './inpod-options.js';
import { type NftChain, type NftRule, type NftTable, renderNftTable } from './nft-transaction.js';

const { natTable, mangleTable, rawTable, prerouting, output, istioOutput, istioPrerouting } = NFTABLES_NAMES;

// nftables.go:611-696. Priorities: dstnat = -100, mangle = -150, raw = -300.
const baseChains = (type: 'nat' | 'filter', outputType: 'nat' | 'route' | 'filter', priority: number) =>
  [
    { name: prerouting, type, hook: 'prerouting', priority },
    { name: output, type: outputType, hook: 'output', priority },
    { name: istioPrerouting },
    { name: istioOutput },
  ] as const satisfies readonly NftChain[];

/**
 * The three in-pod tables as data, in istio's emission order (nat, mangle, raw).
 *
 * @param options - See {@link InpodRuleOptions}; defaults are istio's.
 * @returns The tables with their chains and rules (a table may have no rules).
 * @throws {RangeError} On invalid options.
 * @example
 * ```ts
 * inpodNftablesTables({}).map((t) => t.name); // ['istio-ambient-nat', 'istio-ambient-mangle', 'istio-ambient-raw']
 * ```
 */
export function inpodNftablesTables(options: InpodRuleOptions = {}): readonly NftTable[] {
  const o = resolveInpodRuleOptions(options);
  const nat: NftRule[] = [];
  const mangle: NftRule[] = [];
  const raw: NftRule[] = [];
  const v6 = (list: NftRule[], chain: string, rule: string): void => {
    if (o.enableIpv6) list.push({ chain, rule });
  };
  const mark = hex(o.mark);
  const markMask = hex(o.markMask);
  const tproxyMark = hex(o.tproxyMark);
  const tproxyMask = hex(o.tproxyMask);

  // 1-6: jumps from the base chains.
  mangle.push({ chain: prerouting, rule: `jump ${istioPrerouting}` });
  mangle.push({ chain: output, rule: `jump ${istioOutput}` });
  nat.push({ chain: output, rule: `jump ${istioOutput}` });
  if (o.redirectDns) {
    raw.push({ chain: prerouting, rule: `jump ${istioPrerouting}` });
    raw.push({ chain: output, rule: `jump ${istioOutput}` });
  }
  nat.push({ chain: prerouting, rule: `jump ${istioPrerouting}` });

  // 7: virtual interfaces' inbound TCP is outbound traffic.
  for (const name of o.virtualInterfaces) {
    nat.push({
      chain: istioPrerouting,
      rule: `iifname ${name} meta l4proto tcp counter redirect to :${o.outboundPort}`,
    });
    nat.push({ chain: istioPrerouting, rule: `iifname ${name} meta l4proto tcp counter return` });
  }

  // 8: ztunnel's packets tag their connection: ct mark = (ct mark & ~0xfff) | 0x111.
  mangle.push({
    chain: istioPrerouting,
    rule: `meta mark & ${markMask} == ${mark} counter ct mark set ct mark & ${hex(~o.tproxyMask >>> 0)} |  ${tproxyMark}`,
  });

  // 9: probes SNATed by the node rule bypass capture.
  if (!o.ingressMode) {
    nat.push({
      chain: istioPrerouting,
      rule: `meta l4proto tcp ip saddr ${o.hostProbeSnatAddress} counter accept`,
    });
    v6(nat, istioPrerouting, `meta l4proto tcp ip6 saddr ${o.hostProbeV6SnatAddress} counter accept`);
  }
  // 10: and so do their replies.
  nat.push({
    chain: istioOutput,
    rule: `meta l4proto tcp ip daddr ${o.hostProbeSnatAddress} counter accept`,
  });
  v6(nat, istioOutput, `meta l4proto tcp ip6 daddr ${o.hostProbeV6SnatAddress} counter accept`);

  // 11: inbound to the plaintext listener, except loopback and HBONE.
  if (!o.ingressMode) {
    nat.push({
      chain: istioPrerouting,
      rule:
        `ip daddr != 127.0.0.1/32 tcp dport != ${o.inboundPort} mark and ${markMask}  != ${mark} ` +
        `counter redirect to :${o.inboundPlaintextPort}`,
    });
    v6(
      nat,
      istioPrerouting,
      `ip6 daddr != ::1/128 tcp dport != ${o.inboundPort} mark and ${markMask} != ${mark} ` +
        `counter redirect to :${o.inboundPlaintextPort}`,
    );
  }

  // 12: restore the connmark onto the app's replies.
  mangle.push({
    chain: istioOutput,
    rule: `ct mark and ${tproxyMask} == ${tproxyMark} counter meta mark set ct mark`,
  });

  if (o.redirectDns) {
    // 13-14: DNS to ztunnel's DNS proxy.
    nat.push({
      chain: istioOutput,
      rule: `oifname != lo mark and ${markMask} != ${mark} udp dport 53 counter redirect to :${o.dnsPort}`,
    });
    nat.push({
      chain: istioOutput,
      rule: `ip daddr != 127.0.0.1/32 tcp dport 53 mark and ${markMask} != ${mark} counter redirect to :${o.dnsPort}`,
    });
    v6(
      nat,
      istioOutput,
      `ip6 daddr != ::1/128 tcp dport 53 mark and ${markMask} != ${mark} counter redirect to :${o.dnsPort}`,
    );
    // 15-16: conntrack zone 1 for ztunnel's upstream DNS and its answers.
    raw.push({
      chain: istioOutput,
      rule: `udp dport 53 meta mark and ${markMask} == ${mark} counter ct zone set 1`,
    });
    raw.push({
      chain: istioPrerouting,
      rule: `udp sport 53 meta mark and ${markMask} != ${mark} counter ct zone set 1`,
    });
  }

  // 17: ztunnel's connections' replies are never redirected.
  nat.push({
    chain: istioOutput,
    rule: `meta l4proto tcp mark and ${tproxyMask} == ${tproxyMark} counter accept`,
  });
  // 18: the app calling its own pod IP.
  nat.push({ chain: istioOutput, rule: 'oifname lo ip daddr != 127.0.0.1/32 counter accept' });
  v6(nat, istioOutput, 'oifname lo ip6 daddr != ::1/128 counter accept');
  // 19: all other outbound TCP to 15001.
  nat.push({
    chain: istioOutput,
    rule: `meta l4proto tcp ip daddr != 127.0.0.1/32 mark and ${markMask} != ${mark} counter redirect to :${o.outboundPort}`,
  });
  v6(
    nat,
    istioOutput,
    `meta l4proto tcp ip6 daddr != ::1/128 mark and ${markMask} != ${mark} counter redirect to :${o.outboundPort}`,
  );

  return [
    { name: natTable, chains: baseChains('nat', 'nat', -100), rules: nat },
    { name: mangleTable, chains: baseChains('filter', 'route', -150), rules: mangle },
    { name: rawTable, chains: baseChains('filter', 'filter', -300), rules: raw },
  ];
}

/**
 * The `nft -f` transaction istio-cni runs inside a pod's network namespace with native nftables: for each
 * of `inet istio-ambient-nat`, `-mangle`, `-raw` that has rules, add + flush the table, add the used chains,
 * add the rules. Byte for byte istio's `Transaction.String()` (istio's golden files
 * `cni/pkg/nftables/testdata/*.golden` are exactly this text).
 *
 * @param options - See {@link InpodRuleOptions}; defaults are istio's.
 * @returns The transaction text, every line ending in `\n`.
 * @throws {RangeError} On invalid options.
 * @example
 * ```ts
 * const tx = buildInpodNftablesRules({ redirectDns: true });
 * // feed to `nft -f -` inside the pod's network namespace
 * ```
 */
export function buildInpodNftablesRules(options: InpodRuleOptions = {}): string {
  return inpodNftablesTables(options).map(renderNftTable).join('');
}
