// Go net/netip parsing rules (what istiod's ValidateIPs and ambient stringToIP use): vectors from Go's
// netip_test.go (TestParseAddr / TestParsePrefix error cases) and istio security_test.go TestValidateIPs.
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  canonicalIp,
  compilePrefix,
  ipBytes,
  parseIp,
  parseIpBlock,
  parsePrefix,
  prefixContains,
} from './ip.js';

describe('parseIp (netip.ParseAddr)', () => {
  it('accepts dotted quads and IPv6 forms', () => {
    for (const ok of [
      '0.0.0.0',
      '255.255.255.255',
      '10.1.2.3',
      '::',
      '::1',
      '2001:db8::1',
      'fe80::1%eth0',
      '::ffff:1.2.3.4',
      '1:2:3:4:5:6:7:8',
      '1:2:3:4:5:6:1.2.3.4',
      'ABCD::ef',
    ]) {
      expect([ok, parseIp(ok) !== undefined]).toEqual([ok, true]);
    }
  });
  it('rejects what Go rejects', () => {
    for (const bad of [
      '',
      '1.2.3',
      '1.2.3.4.5',
      '256.1.1.1',
      '01.2.3.4',
      '1.2.3.04',
      'a.b.c.d',
      '1.2.3.4 ',
      ':::',
      '1::2::3',
      '1:2:3:4:5:6:7:8:9',
      '1:2:3:4:5:6:7::8',
      '12345::',
      'fe80::1%',
      'ip1',
      '1.2.3.4/24',
    ]) {
      expect([bad, parseIp(bad)]).toEqual([bad, undefined]);
    }
  });
  it('bytes round-trip (AsSlice)', () => {
    expect([...ipBytes(parseIp('1.2.3.4')!)]).toEqual([1, 2, 3, 4]);
    expect([...ipBytes(parseIp('2001:db8::ff')!)]).toEqual([
      0x20, 1, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff,
    ]);
  });
  it('canonicalIp turns IPv4-mapped IPv6 into IPv4', () => {
    expect(canonicalIp(parseIp('::ffff:10.0.0.1')!)).toEqual(parseIp('10.0.0.1'));
    expect(canonicalIp(parseIp('::1')!)).toEqual(parseIp('::1'));
  });
});

describe('parsePrefix (netip.ParsePrefix) and membership', () => {
  it('accepts ranges, with host bits set, and rejects bad lengths and zones', () => {
    expect(parsePrefix('10.1.2.3/8')?.bits).toBe(8);
    for (const bad of [
      '1.2.3.4/33',
      '1.2.3.4/',
      '1.2.3.4/08',
      '1.2.3.4/-1',
      '::/129',
      'fe80::1%eth0/64',
      '1.2.3.4',
    ]) {
      expect([bad, parsePrefix(bad)]).toEqual([bad, undefined]);
    }
  });
  it('contains (zt-rbac cidr_range: 127.0.0.1/24 contains 127.0.0.2 and 127.0.0.4)', () => {
    const net = compilePrefix(parsePrefix('127.0.0.1/24')!);
    expect(prefixContains(net, parseIp('127.0.0.2')!)).toBe(true);
    expect(prefixContains(net, parseIp('127.0.1.2')!)).toBe(false);
    expect(prefixContains(compilePrefix(parsePrefix('0.0.0.0/0')!), parseIp('8.8.8.8')!)).toBe(true);
    expect(prefixContains(compilePrefix(parsePrefix('2001:db8::/33')!), parseIp('2001:db8:7fff::1')!)).toBe(
      true,
    );
    expect(prefixContains(compilePrefix(parsePrefix('2001:db8::/33')!), parseIp('2001:db8:8000::1')!)).toBe(
      false,
    );
  });
  it('an address without / is a full-length block (stringToIP)', () => {
    expect(parseIpBlock('::1')?.bits).toBe(128);
    expect(parseIpBlock('1.2.3.4')?.bits).toBe(32);
  });
  it('every IPv4 address is inside its own /n for every n (fast-check)', () => {
    fc.assert(
      fc.property(fc.ipV4(), fc.integer({ min: 0, max: 32 }), (ip, bits) => {
        const net = compilePrefix(parsePrefix(`${ip}/${bits}`)!);
        expect(prefixContains(net, parseIp(ip)!)).toBe(true);
      }),
    );
  });
  it('never throws on arbitrary text (fast-check)', () => {
    fc.assert(fc.property(fc.string(), (s) => void parseIpBlock(s)));
  });
  it('parses every address fast-check generates, v4 and v6', () => {
    fc.assert(
      fc.property(fc.oneof(fc.ipV4(), fc.ipV6()), (ip) => {
        expect(parseIp(ip)).toBeDefined();
      }),
    );
  });
});
