import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { parseDnsUpstream, parseResolvConf } from './resolv-conf.js';

describe('resolv.conf and --dns-upstream', () => {
  it('reads the nameservers in order, once each, skipping what is not an IP', () => {
    const text = [
      '# kube-dns',
      'search default.svc.cluster.local svc.cluster.local cluster.local',
      'nameserver 10.96.0.10',
      'nameserver fe80::1%eth0 ; link-local with a zone',
      'nameserver dns.example.com',
      'options ndots:5',
      '  nameserver   10.96.0.10  ',
      'nameserver 2001:db8::53',
    ].join('\n');
    expect(parseResolvConf(text)).toEqual([
      { host: '10.96.0.10', port: 53 },
      { host: 'fe80::1', port: 53 },
      { host: '2001:db8::53', port: 53 },
    ]);
    expect(parseResolvConf('')).toEqual([]);
  });

  it('parses ip, ip:port and [ipv6]:port; anything else is refused', () => {
    expect(parseDnsUpstream('10.244.1.1')).toEqual({ host: '10.244.1.1', port: 53 });
    expect(parseDnsUpstream('10.244.1.1:5353')).toEqual({ host: '10.244.1.1', port: 5353 });
    expect(parseDnsUpstream('fd00::53')).toEqual({ host: 'fd00::53', port: 53 });
    expect(parseDnsUpstream('[fd00::53]:5353')).toEqual({ host: 'fd00::53', port: 5353 });
    for (const bad of ['dns.example.com', '10.0.0.1:0', '10.0.0.1:70000', '[fd00::53]', '10.0.0.256', ''])
      expect(parseDnsUpstream(bad)).toBeUndefined();
  });

  it('never throws on any input', () => {
    fc.assert(
      fc.property(fc.string({ maxLength: 300 }), (text) => {
        parseResolvConf(text);
        parseDnsUpstream(text);
      }),
    );
  });
});
