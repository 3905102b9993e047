import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { formatIp, type IpAddress, parseIp } from './ip-address.js';
import { ipFromBytes, ipTextFromBytes, ipToBytes } from './ip-bytes.js';
import { compilePrefix, formatPrefix, parsePrefix, prefixContains } from './ip-prefix.js';
import { canonicalSocketAddress, formatSocketAddress, parseSocketAddress } from './socket-address.js';

const ip = (text: string): IpAddress => parseIp(text) as IpAddress;

describe('prefixes', () => {
  it('parses as Go netip.ParsePrefix does', () => {
    expect(formatPrefix(parsePrefix('10.1.2.3/8') as NonNullable<ReturnType<typeof parsePrefix>>)).toBe(
      '10.1.2.3/8',
    );
    expect(parsePrefix('10.0.0.0/33')).toBeUndefined();
    expect(parsePrefix('10.0.0.0/08')).toBeUndefined();
    expect(parsePrefix('10.0.0.0/')).toBeUndefined();
    expect(parsePrefix('10.0.0.0/+8')).toBeUndefined();
    expect(parsePrefix('fd00::/129')).toBeUndefined();
    expect(parsePrefix('fe80::%eth0/64')).toBeUndefined();
    expect(parsePrefix('10.0.0.1')).toBeUndefined();
    expect(parsePrefix('10.0.0.1', { bareAddress: true })?.bits).toBe(32);
    expect(parsePrefix('fd00::1', { bareAddress: true })?.bits).toBe(128);
  });

  it('matches members of the same family only', () => {
    const net = compilePrefix(parsePrefix('10.0.0.0/8') as NonNullable<ReturnType<typeof parsePrefix>>);
    expect(prefixContains(net, ip('10.255.1.1'))).toBe(true);
    expect(prefixContains(net, ip('11.0.0.0'))).toBe(false);
    expect(prefixContains(net, ip('::ffff:10.0.0.1'))).toBe(false);
    const v6 = compilePrefix(parsePrefix('fd00:1::/33') as NonNullable<ReturnType<typeof parsePrefix>>);
    expect(prefixContains(v6, ip('fd00:1:7fff::1'))).toBe(true);
    expect(prefixContains(v6, ip('fd00:1:8000::1'))).toBe(false);
    expect(prefixContains(v6, ip('10.0.0.1'))).toBe(false);
    const all = compilePrefix(parsePrefix('0.0.0.0/0') as NonNullable<ReturnType<typeof parsePrefix>>);
    expect(prefixContains(all, ip('1.2.3.4'))).toBe(true);
  });

  it('agrees with a bit-by-bit comparison', () => {
    const bytes16 = fc.uint8Array({ minLength: 16, maxLength: 16 });
    fc.assert(
      fc.property(bytes16, bytes16, fc.integer({ min: 0, max: 128 }), (a, b, bits) => {
        const prefix = { address: ipFromBytes(a) as IpAddress, bits };
        let same = true;
        for (let i = 0; i < bits; i++) {
          const bit = (x: Uint8Array): number => ((x[i >> 3] as number) >> (7 - (i & 7))) & 1;
          if (bit(a) !== bit(b)) same = false;
        }
        expect(prefixContains(compilePrefix(prefix), ipFromBytes(b) as IpAddress)).toBe(same);
      }),
    );
  });
});

describe('bytes', () => {
  it('round-trips 4 and 16 bytes and refuses other lengths', () => {
    fc.assert(
      fc.property(
        fc.oneof(
          fc.uint8Array({ minLength: 4, maxLength: 4 }),
          fc.uint8Array({ minLength: 16, maxLength: 16 }),
        ),
        (bytes) => {
          const parsed = ipFromBytes(bytes) as IpAddress;
          expect(ipToBytes(parsed)).toEqual(bytes);
          expect(ipTextFromBytes(bytes)).toBe(formatIp(parsed));
        },
      ),
    );
    expect(ipFromBytes(new Uint8Array(5))).toBeUndefined();
    expect(ipTextFromBytes(new Uint8Array(0))).toBeUndefined();
  });
});

describe('socket addresses', () => {
  it.each([
    ['10.0.0.1:8080', '10.0.0.1:8080'],
    ['[ff06::c3]:80', '[ff06::c3]:80'],
    ['[FF06:0::C3]:080', '[ff06::c3]:80'],
    ['10.0.0.1:0', '10.0.0.1:0'],
  ])('reads %s as Rust SocketAddr does', (text, canonical) => {
    expect(canonicalSocketAddress(text)).toBe(canonical);
  });

  it.each([
    '127.0.0.02:80',
    '2130706434:80',
    '0x7f000002:80',
    '127.2:80',
    'localhost:80',
    'ff06::c3:80',
    '[10.0.0.1]:80',
    '[ff06::c3%1]:80',
    '10.0.0.1:65536',
    '10.0.0.1:',
    '10.0.0.1',
    ':80',
    '10.0.0.1:+80',
    '[ff06::c3]80',
  ])('refuses %j', (text) => {
    expect(parseSocketAddress(text)).toBeUndefined();
  });

  it('prints brackets around IPv6 only', () => {
    expect(formatSocketAddress('fd00::1', 15008)).toBe('[fd00::1]:15008');
    expect(formatSocketAddress(ip('10.0.0.1'), 80)).toBe('10.0.0.1:80');
  });
});
