/**
 * The node's probe SNAT rule against istio's `hostprobe` golden cases:
 * - iptables: istio cni/pkg/iptables/testdata/hostprobe{,_ipv6}.golden. The host test sets the v6 SNAT
 *   address to fd16:9254:7127:1337:ffff:ffff:ffff:ffff (iptables_test.go TestIptablesHostRules).
 * - nftables: istio cni/pkg/nftables/testdata/hostprobe{,_ipv6}.golden, with the kubelet UID stubbed to
 *   1000 and the in-pod test config's v6 address (nftables_test.go TestNftablesHostRules).
 */
import { describe, expect, it } from 'vitest';
import { buildHostProbeRules } from './host-probe-rules.js';

const transcript = (r: { ipv4: string; ipv6?: string }): string =>
  `iptables-save\nip6tables-save\n${r.ipv4}${r.ipv6 ?? ''}`.replace(/\n$/, '');

const IPT_V4 = [
  '* nat',
  '-N ISTIO_POSTRT',
  '-I POSTROUTING 1 -j ISTIO_POSTRT',
  '-A ISTIO_POSTRT -m owner --socket-exists -p tcp -m set --match-set istio-inpod-probes-v4 dst -j SNAT --to-source 169.254.7.127',
  'COMMIT',
];
const IPT_V6 = [
  '* nat',
  '-N ISTIO_POSTRT',
  '-I POSTROUTING 1 -j ISTIO_POSTRT',
  '-A ISTIO_POSTRT -m owner --socket-exists -p tcp -m set --match-set istio-inpod-probes-v6 dst -j SNAT --to-source fd16:9254:7127:1337:ffff:ffff:ffff:ffff',
  'COMMIT',
];

describe('buildHostProbeRules (iptables)', () => {
  const options = {
    backend: 'iptables',
    hostProbeSnatAddress: '169.254.7.127',
    hostProbeV6SnatAddress: 'fd16:9254:7127:1337:ffff:ffff:ffff:ffff',
  } as const;

  it('hostprobe.golden', () => {
    expect(transcript(buildHostProbeRules({ ...options, enableIpv6: false }))).toBe(
      ['iptables-save', 'ip6tables-save', ...IPT_V4].join('\n'),
    );
  });

  it('hostprobe_ipv6.golden: the jump goes to both families, each SNAT rule to its own', () => {
    expect(transcript(buildHostProbeRules({ ...options, enableIpv6: true }))).toBe(
      ['iptables-save', 'ip6tables-save', ...IPT_V4, ...IPT_V6].join('\n'),
    );
  });

  it('defaults to istio’s SNAT addresses', () => {
    expect(buildHostProbeRules({ backend: 'iptables', enableIpv6: true })).toEqual(
      buildHostProbeRules({ ...options, enableIpv6: true }),
    );
  });
});

describe('buildHostProbeRules (nftables)', () => {
  const options = {
    backend: 'nftables',
    hostProbeSnatAddress: '169.254.7.127',
    hostProbeV6SnatAddress: 'e9ac:1e77:90ca:399f:4d6d:ece2:2f9b:3164',
  } as const;
  const head = [
    'add table inet istio-ambient-nat',
    'flush table inet istio-ambient-nat',
    'add chain inet istio-ambient-nat postrouting { type nat hook postrouting priority 100 ; }',
    'add rule inet istio-ambient-nat postrouting meta l4proto tcp skuid 1000 ip daddr @istio-inpod-probes-v4 counter snat to 169.254.7.127',
  ];

  it('hostprobe.golden (kubelet UID 1000 as istio stubs it)', () => {
    expect(buildHostProbeRules({ ...options, enableIpv6: false })).toBe(`${head.join('\n')}\n`);
  });

  it('hostprobe_ipv6.golden', () => {
    expect(buildHostProbeRules({ ...options, enableIpv6: true })).toBe(
      `${[
        ...head,
        'add rule inet istio-ambient-nat postrouting meta l4proto tcp skuid 1000 ip6 daddr @istio-inpod-probes-v6 counter snat to e9ac:1e77:90ca:399f:4d6d:ece2:2f9b:3164',
      ].join('\n')}\n`,
    );
  });

  it('uses the given kubelet UID and rejects a bad one', () => {
    expect(buildHostProbeRules({ backend: 'nftables', kubeletUid: 0 })).toContain('skuid 0 ip daddr');
    expect(() => buildHostProbeRules({ backend: 'nftables', kubeletUid: -1 })).toThrow(RangeError);
    expect(() => buildHostProbeRules({ backend: 'bogus' as 'iptables' })).toThrow(TypeError);
  });
});
