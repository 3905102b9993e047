/**
 * The in-pod nftables transaction against istio's golden cases
 * (istio/istio@86c9f01f:cni/pkg/nftables/testdata/<case>.golden, cases from
 * istio/istio@86c9f01f:cni/pkg/nftables/common_test.go). istio's harness joins each transaction's
 * `String()` with "\n"; the in-pod cases run one transaction, so the golden file is exactly our text.
 * Expectations are written from the rule list (docs/redirect.md "What the rules do"), including istio's two
 * literal double spaces.
 */
import { describe, expect, it } from 'vitest';
import { buildInpodNftablesRules, inpodNftablesTables } from './inpod-nftables-rules.js';
import type { InpodRuleOptions } from './inpod-options.js';

const TEST_CONFIG = {
  hostProbeSnatAddress: '169.254.7.127',
  hostProbeV6SnatAddress: 'e9ac:1e77:90ca:399f:4d6d:ece2:2f9b:3164',
} as const;
const V6_SNAT = TEST_CONFIG.hostProbeV6SnatAddress;

type Shape = { dns: boolean; ingress: boolean; virt: boolean; v6: boolean };

function natTable(s: Shape): string[] {
  const t = 'add rule inet istio-ambient-nat';
  const v6 = (line: string): string[] => (s.v6 ? [line] : []);
  return [
    'add table inet istio-ambient-nat',
    'flush table inet istio-ambient-nat',
    'add chain inet istio-ambient-nat prerouting { type nat hook prerouting priority -100 ; }',
    'add chain inet istio-ambient-nat output { type nat hook output priority -100 ; }',
    'add chain inet istio-ambient-nat istio-prerouting',
    'add chain inet istio-ambient-nat istio-output',
    `${t} output jump istio-output`,
    `${t} prerouting jump istio-prerouting`,
    ...(s.virt
      ? [
          `${t} istio-prerouting iifname fake1s0f0 meta l4proto tcp counter redirect to :15001`,
          `${t} istio-prerouting iifname fake1s0f0 meta l4proto tcp counter return`,
          `${t} istio-prerouting iifname fake1s0f1 meta l4proto tcp counter redirect to :15001`,
          `${t} istio-prerouting iifname fake1s0f1 meta l4proto tcp counter return`,
        ]
      : []),
    ...(s.ingress
      ? []
      : [
          `${t} istio-prerouting meta l4proto tcp ip saddr 169.254.7.127 counter accept`,
          ...v6(`${t} istio-prerouting meta l4proto tcp ip6 saddr ${V6_SNAT} counter accept`),
        ]),
    `${t} istio-output meta l4proto tcp ip daddr 169.254.7.127 counter accept`,
    ...v6(`${t} istio-output meta l4proto tcp ip6 daddr ${V6_SNAT} counter accept`),
    ...(s.ingress
      ? []
      : [
          // istio's literal double space before `!=` (IPv4 only).
          `${t} istio-prerouting ip daddr != 127.0.0.1/32 tcp dport != 15008 mark and 0xfff  != 0x539 counter redirect to :15006`,
          ...v6(
            `${t} istio-prerouting ip6 daddr != ::1/128 tcp dport != 15008 mark and 0xfff != 0x539 counter redirect to :15006`,
          ),
        ]),
    ...(s.dns
      ? [
          `${t} istio-output oifname != lo mark and 0xfff != 0x539 udp dport 53 counter redirect to :15053`,
          `${t} istio-output ip daddr != 127.0.0.1/32 tcp dport 53 mark and 0xfff != 0x539 counter redirect to :15053`,
          ...v6(
            `${t} istio-output ip6 daddr != ::1/128 tcp dport 53 mark and 0xfff != 0x539 counter redirect to :15053`,
          ),
        ]
      : []),
    `${t} istio-output meta l4proto tcp mark and 0xfff == 0x111 counter accept`,
    `${t} istio-output oifname lo ip daddr != 127.0.0.1/32 counter accept`,
    ...v6(`${t} istio-output oifname lo ip6 daddr != ::1/128 counter accept`),
    `${t} istio-output meta l4proto tcp ip daddr != 127.0.0.1/32 mark and 0xfff != 0x539 counter redirect to :15001`,
    ...v6(
      `${t} istio-output meta l4proto tcp ip6 daddr != ::1/128 mark and 0xfff != 0x539 counter redirect to :15001`,
    ),
  ];
}

const MANGLE_TABLE = [
  'add table inet istio-ambient-mangle',
  'flush table inet istio-ambient-mangle',
  'add chain inet istio-ambient-mangle prerouting { type filter hook prerouting priority -150 ; }',
  'add chain inet istio-ambient-mangle output { type route hook output priority -150 ; }',
  'add chain inet istio-ambient-mangle istio-prerouting',
  'add chain inet istio-ambient-mangle istio-output',
  'add rule inet istio-ambient-mangle prerouting jump istio-prerouting',
  'add rule inet istio-ambient-mangle output jump istio-output',
  // istio's literal double space after `|`.
  'add rule inet istio-ambient-mangle istio-prerouting meta mark & 0xfff == 0x539 counter ct mark set ct mark & 0xfffff000 |  0x111',
  'add rule inet istio-ambient-mangle istio-output ct mark and 0xfff == 0x111 counter meta mark set ct mark',
];

const RAW_TABLE = [
  'add table inet istio-ambient-raw',
  'flush table inet istio-ambient-raw',
  'add chain inet istio-ambient-raw prerouting { type filter hook prerouting priority -300 ; }',
  'add chain inet istio-ambient-raw output { type filter hook output priority -300 ; }',
  'add chain inet istio-ambient-raw istio-prerouting',
  'add chain inet istio-ambient-raw istio-output',
  'add rule inet istio-ambient-raw prerouting jump istio-prerouting',
  'add rule inet istio-ambient-raw output jump istio-output',
  'add rule inet istio-ambient-raw istio-output udp dport 53 meta mark and 0xfff == 0x539 counter ct zone set 1',
  'add rule inet istio-ambient-raw istio-prerouting udp sport 53 meta mark and 0xfff != 0x539 counter ct zone set 1',
];

const golden = (s: Shape): string =>
  `${[...natTable(s), ...MANGLE_TABLE, ...(s.dns ? RAW_TABLE : [])].join('\n')}\n`;

// istio/istio@86c9f01f:cni/pkg/nftables/common_test.go GetCommonInPodTestCases.
const CASES: readonly { name: string; options: InpodRuleOptions; shape: Omit<Shape, 'v6'> }[] = [
  { name: 'default', options: { redirectDns: true }, shape: { dns: true, ingress: false, virt: false } },
  { name: 'ingress', options: { ingressMode: true }, shape: { dns: false, ingress: true, virt: false } },
  {
    name: 'virtual_interfaces',
    options: { virtualInterfaces: ['fake1s0f0', 'fake1s0f1'] },
    shape: { dns: false, ingress: false, virt: true },
  },
  {
    name: 'ingress_and_virtual_interfaces',
    options: { ingressMode: true, virtualInterfaces: ['fake1s0f0', 'fake1s0f1'] },
    shape: { dns: false, ingress: true, virt: true },
  },
  {
    name: 'dns_pod_enabled_and_off_globally',
    options: { redirectDns: true },
    shape: { dns: true, ingress: false, virt: false },
  },
  {
    name: 'dns_pod_disabled_and_on_globally',
    options: { redirectDns: false },
    shape: { dns: false, ingress: false, virt: false },
  },
];

describe('buildInpodNftablesRules reproduces istio golden files', () => {
  for (const c of CASES) {
    for (const v6 of [false, true]) {
      it(`${c.name}${v6 ? '_ipv6' : ''}.golden`, () => {
        const text = buildInpodNftablesRules({ ...TEST_CONFIG, ...c.options, enableIpv6: v6 });
        expect(text).toBe(golden({ ...c.shape, v6 }));
      });
    }
  }
});

describe('inpodNftablesTables', () => {
  it('leaves the raw table empty (and out of the transaction) without DNS capture', () => {
    const [nat, mangle, raw] = inpodNftablesTables({});
    expect(nat?.rules.length).toBeGreaterThan(0);
    expect(mangle?.rules).toHaveLength(4);
    expect(raw?.rules).toHaveLength(0);
    expect(buildInpodNftablesRules({})).not.toContain('istio-ambient-raw');
  });

  it('derives the connmark clear mask from the tproxy mask', () => {
    const text = buildInpodNftablesRules({ tproxyMark: 0x22, tproxyMask: 0xff });
    expect(text).toContain('ct mark set ct mark & 0xffffff00 |  0x22');
    expect(text).toContain('ct mark and 0xff == 0x22 counter meta mark set ct mark');
  });

  it('rejects interface names nft would parse as syntax', () => {
    expect(() => buildInpodNftablesRules({ virtualInterfaces: ['eth0;'] })).toThrow(RangeError);
    expect(() => buildInpodNftablesRules({ virtualInterfaces: ['{'] })).toThrow(RangeError);
  });
});
