/**
 * The in-pod iptables rules against istio's golden cases
 * (istio/istio@86c9f01f:cni/pkg/iptables/testdata/<case>.golden, cases from
 * istio/istio@86c9f01f:cni/pkg/iptables/common_test.go). The expected texts are written here from the rule
 * table of docs/redirect.md ("What the rules do") and iptables-save's text format. istio's harness records `iptables-save`, `ip6tables-save` (the
 * state check), then every restore stdin line, joined with "\n" and no final newline: `transcript()` rebuilds
 * exactly that from our output, so each expectation is the golden file's full content.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { buildInpodIptablesRules, inpodIptablesRuleSet } from './inpod-iptables-rules.js';
import type { InpodRuleOptions } from './inpod-options.js';

// istio iptables_test.go constructTestConfig: the SNAT addresses every in-pod golden uses.
const TEST_CONFIG = {
  hostProbeSnatAddress: '169.254.7.127',
  hostProbeV6SnatAddress: 'e9ac:1e77:90ca:399f:4d6d:ece2:2f9b:3164',
} as const;
const V6_SNAT = TEST_CONFIG.hostProbeV6SnatAddress;

function transcript(result: { ipv4: string; ipv6?: string }): string {
  return `iptables-save\nip6tables-save\n${result.ipv4}${result.ipv6 ?? ''}`.replace(/\n$/, '');
}

const golden = (...blocks: (readonly string[])[]): string =>
  ['iptables-save', 'ip6tables-save', ...blocks.flat()].join('\n');

const M = '0x539/0xfff';
const T = '0x111/0xfff';

// mangle: rules 1-2, 8, 12. Identical in every in-pod case and family.
const MANGLE = [
  '* mangle',
  '-N ISTIO_PRERT',
  '-N ISTIO_OUTPUT',
  '-A PREROUTING -j ISTIO_PRERT',
  '-A OUTPUT -j ISTIO_OUTPUT',
  `-A ISTIO_PRERT -m mark --mark ${M} -j CONNMARK --set-xmark ${T}`,
  `-A ISTIO_OUTPUT -m connmark --mark ${T} -j CONNMARK --restore-mark --nfmask 0xffffffff --ctmask 0xffffffff`,
  'COMMIT',
];
// raw: rules 4-5, 15-16 (DNS only). ISTIO_OUTPUT is declared first: its rule comes first.
const RAW = [
  '* raw',
  '-N ISTIO_OUTPUT',
  '-N ISTIO_PRERT',
  '-A PREROUTING -j ISTIO_PRERT',
  '-A OUTPUT -j ISTIO_OUTPUT',
  `-A ISTIO_OUTPUT -p udp -m mark --mark ${M} -m udp --dport 53 -j CT --zone 1`,
  `-A ISTIO_PRERT -p udp -m mark ! --mark ${M} -m udp --sport 53 -j CT --zone 1`,
  'COMMIT',
];
const VIRT = [
  '-A ISTIO_PRERT -i fake1s0f0 -p tcp -j REDIRECT --to-ports 15001',
  '-A ISTIO_PRERT -i fake1s0f0 -p tcp -j RETURN',
  '-A ISTIO_PRERT -i fake1s0f1 -p tcp -j REDIRECT --to-ports 15001',
  '-A ISTIO_PRERT -i fake1s0f1 -p tcp -j RETURN',
];

/** The nat table for one family: rules 3, 6, 7, 9-11, 13-14, 17-19 of docs/redirect.md "What the rules do". */
function nat(family: 4 | 6, o: { dns: boolean; ingress: boolean; virt: boolean }): string[] {
  const snat = family === 4 ? '169.254.7.127' : V6_SNAT;
  const lo = family === 4 ? '127.0.0.1/32' : '::1/128';
  // iptables-save's text format: pass 1 declares chains in the order their first rule appears; with ingress
  // mode and no virtual interfaces ISTIO_PRERT has no rule, so pass 2 declares it after ISTIO_OUTPUT.
  const prertHasRules = !o.ingress || o.virt;
  return [
    '* nat',
    ...(prertHasRules ? ['-N ISTIO_PRERT', '-N ISTIO_OUTPUT'] : ['-N ISTIO_OUTPUT', '-N ISTIO_PRERT']),
    '-A OUTPUT -j ISTIO_OUTPUT',
    '-A PREROUTING -j ISTIO_PRERT',
    ...(o.virt ? VIRT : []),
    ...(o.ingress ? [] : [`-A ISTIO_PRERT -s ${snat} -p tcp -m tcp -j ACCEPT`]),
    `-A ISTIO_OUTPUT -d ${snat} -p tcp -m tcp -j ACCEPT`,
    ...(o.ingress
      ? []
      : [
          `-A ISTIO_PRERT ! -d ${lo} -p tcp ! --dport 15008 -m mark ! --mark ${M} -j REDIRECT --to-ports 15006`,
        ]),
    ...(o.dns
      ? [
          `-A ISTIO_OUTPUT ! -o lo -p udp -m mark ! --mark ${M} -m udp --dport 53 -j REDIRECT --to-port 15053`,
          `-A ISTIO_OUTPUT ! -d ${lo} -p tcp --dport 53 -m mark ! --mark ${M} -j REDIRECT --to-ports 15053`,
        ]
      : []),
    `-A ISTIO_OUTPUT -p tcp -m mark --mark ${T} -j ACCEPT`,
    `-A ISTIO_OUTPUT ! -d ${lo} -o lo -j ACCEPT`,
    `-A ISTIO_OUTPUT ! -d ${lo} -p tcp -m mark ! --mark ${M} -j REDIRECT --to-ports 15001`,
    'COMMIT',
  ];
}

const both = (o: { dns: boolean; ingress: boolean; virt: boolean }) => ({
  v4: [MANGLE, nat(4, o), ...(o.dns ? [RAW] : [])],
  v6: [MANGLE, nat(4, o), ...(o.dns ? [RAW] : []), MANGLE, nat(6, o), ...(o.dns ? [RAW] : [])],
});

// istio/istio@86c9f01f:cni/pkg/iptables/common_test.go GetCommonInPodTestCases, with istio's config zero
// values.
const CASES: readonly {
  name: string;
  options: InpodRuleOptions;
  shape: { dns: boolean; ingress: boolean; virt: boolean };
}[] = [
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
  // RedirectDNS=false globally, pod annotation dns-capture=true: effective redirectDns true.
  {
    name: 'dns_pod_enabled_and_off_globally',
    options: { redirectDns: true },
    shape: { dns: true, ingress: false, virt: false },
  },
  // RedirectDNS=true globally, pod annotation dns-capture=false: effective redirectDns false.
  {
    name: 'dns_pod_disabled_and_on_globally',
    options: { redirectDns: false },
    shape: { dns: false, ingress: false, virt: false },
  },
];

describe('buildInpodIptablesRules reproduces istio golden files', () => {
  for (const c of CASES) {
    it(`${c.name}.golden (IPv4)`, () => {
      const result = buildInpodIptablesRules({ ...TEST_CONFIG, ...c.options, enableIpv6: false });
      expect(result.ipv6).toBeUndefined();
      expect(transcript(result)).toBe(golden(...both(c.shape).v4));
    });
    it(`${c.name}_ipv6.golden (IPv4 + IPv6)`, () => {
      const result = buildInpodIptablesRules({ ...TEST_CONFIG, ...c.options, enableIpv6: true });
      expect(transcript(result)).toBe(golden(...both(c.shape).v6));
    });
    // istio TestInvokedTwiceIsIdempotent: the same input twice gives the same output.
    it(`${c.name}: building twice gives identical text`, () => {
      const options = { ...TEST_CONFIG, ...c.options };
      expect(buildInpodIptablesRules(options)).toEqual(buildInpodIptablesRules(options));
    });
  }

  it('each restore text ends with COMMIT and a newline, as iptables-restore input', () => {
    const { ipv4, ipv6 } = buildInpodIptablesRules({ redirectDns: true, enableIpv6: true });
    expect(ipv4.endsWith('COMMIT\n')).toBe(true);
    expect(ipv6?.endsWith('COMMIT\n')).toBe(true);
    expect(ipv4.split('\n').filter((l) => l.startsWith('* '))).toEqual(['* mangle', '* nat', '* raw']);
  });
});

describe('inpodIptablesRuleSet', () => {
  it('has one rule per row of the docs/redirect.md table (rule 7: two per virtual interface)', () => {
    // 19 rows; with DNS on and no virtual interface, every row but 7 appears once.
    expect(inpodIptablesRuleSet({ redirectDns: true }).ipv4).toHaveLength(18);
    expect(inpodIptablesRuleSet({ redirectDns: true, virtualInterfaces: ['a', 'b'] }).ipv4).toHaveLength(22);
    expect(inpodIptablesRuleSet({ redirectDns: true }).ipv6).toHaveLength(0);
  });

  it('substitutes custom marks and ports', () => {
    const text = buildInpodIptablesRules({
      mark: 0x100,
      markMask: 0xf00,
      outboundPort: 25001,
      redirectDns: true,
    }).ipv4;
    expect(text).toContain('-m mark ! --mark 0x100/0xf00 -j REDIRECT --to-ports 25001');
    expect(text).not.toContain('0x539');
  });

  it('rejects options that would break out of a rule', () => {
    expect(() => buildInpodIptablesRules({ virtualInterfaces: ['eth0 -j ACCEPT'] })).toThrow(RangeError);
    expect(() => buildInpodIptablesRules({ virtualInterfaces: ['eth0\nCOMMIT'] })).toThrow(
      /virtualInterfaces\[0\]/,
    );
    expect(() => buildInpodIptablesRules({ hostProbeSnatAddress: '::1' })).toThrow(/IPv4/);
    expect(() => buildInpodIptablesRules({ hostProbeV6SnatAddress: '10.0.0.1' })).toThrow(/IPv6/);
    expect(() => buildInpodIptablesRules({ outboundPort: 0 })).toThrow(/outboundPort/);
    expect(() => buildInpodIptablesRules({ routeTable: 255 })).toThrow(/routeTable/);
  });

  it('never emits a line break or a table header from any valid interface list (property)', () => {
    fc.assert(
      fc.property(fc.array(fc.stringMatching(/^[A-Za-z0-9_.-]{1,15}$/), { maxLength: 4 }), (names) => {
        const valid = names.filter((n) => n !== '.' && n !== '..');
        const { ipv4 } = buildInpodIptablesRules({ virtualInterfaces: valid });
        const lines = ipv4.trimEnd().split('\n');
        for (const line of lines) expect(line === 'COMMIT' || /^(\* \w+|-[NA] \S.*)$/.test(line)).toBe(true);
        expect(lines.filter((l) => l.startsWith('-A ISTIO_PRERT -i'))).toHaveLength(valid.length * 2);
      }),
    );
  });
});
