// What istiod accepts as an AuthorizationPolicy IP value (Go net/netip through istio's ValidateIPs and ambient
// stringToIP): vectors from Go's netip_test.go (TestParseAddr / TestParsePrefix error cases) and istio
// security_test.go TestValidateIPs. Parsing itself is @ambient-kit/ip's (its own tests cover the grammar).
import { compilePrefix, formatIp, parseIp, prefixContains } from '@ambient-kit/ip';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { inAnyPrefix, parseIpBlock, readPeerIp } from './ip-block.js';

describe('parseIpBlock (netip.ParseAddr without a "/", netip.ParsePrefix with one)', () => {
  it('accepts addresses (a zone is dropped, as Go accepts it) as full-length ranges', () => {
    for (const [text, bits] of [
      ['0.0.0.0', 32],
      ['255.255.255.255', 32],
      ['::', 128],
      ['2001:db8::1', 128],
      ['fe80::1%eth0', 128],
      ['::ffff:1.2.3.4', 128],
      ['1:2:3:4:5:6:1.2.3.4', 128],
      ['ABCD::ef', 128],
    ] as const) {
      expect([text, parseIpBlock(text)?.bits]).toEqual([text, bits]);
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
      '1.2.3.4/33',
      '1.2.3.4/',
      '1.2.3.4/08',
      '1.2.3.4/-1',
      '::/129',
      'fe80::1%eth0/64',
    ]) {
      expect([bad, parseIpBlock(bad)]).toEqual([bad, undefined]);
    }
  });

  it('keeps the host bits of a range as written (Go Prefix.Addr), and matches on the masked network', () => {
    const block = parseIpBlock('127.0.0.1/24');
    expect(block?.bits).toBe(24);
    expect(block === undefined ? '' : formatIp(block.address)).toBe('127.0.0.1');
    // zt-rbac cidr_range: 127.0.0.1/24 contains 127.0.0.2.
    const inRange = inAnyPrefix([compilePrefix(block as NonNullable<typeof block>)]);
    expect(inRange(parseIp('127.0.0.2'))).toBe(true);
    expect(inRange(parseIp('127.0.1.2'))).toBe(false);
    expect(inRange(undefined)).toBe(false);
  });

  it('every IPv4 address is inside its own /n for every n, and never throws (fast-check)', () => {
    fc.assert(
      fc.property(fc.ipV4(), fc.integer({ min: 0, max: 32 }), (ip, bits) => {
        const block = parseIpBlock(`${ip}/${bits}`);
        expect(block).toBeDefined();
        expect(prefixContains(compilePrefix(block as NonNullable<typeof block>), parseIp(ip) as never)).toBe(
          true,
        );
      }),
    );
    fc.assert(fc.property(fc.string(), (s) => void parseIpBlock(s)));
  });
});

describe('readPeerIp', () => {
  it('reads an IPv4-mapped IPv6 peer as IPv4 (ztunnel to_canonical), and other addresses as they are', () => {
    expect(readPeerIp('::ffff:10.0.0.1')).toEqual(parseIp('10.0.0.1'));
    expect(readPeerIp('::1')).toEqual(parseIp('::1'));
    expect(readPeerIp('fe80::1%eth0')).toEqual(parseIp('fe80::1'));
    expect(readPeerIp('010.0.0.1')).toBeUndefined();
  });
});
