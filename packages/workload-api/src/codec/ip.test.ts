import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  canonicalIp,
  cidrContains,
  formatSocketAddress,
  ipFromBytes,
  ipToBytes,
  isLoopback,
  parseCidr,
  parseSocketAddress,
} from './ip.js';

describe('ip text and bytes', () => {
  it('formats IPv6 per RFC 5952 (longest zero run, first on a tie, lowercase, mapped v4 dotted)', () => {
    expect(canonicalIp('2001:DB8:0:0:1:0:0:1')).toBe('2001:db8::1:0:0:1');
    expect(canonicalIp('2001:db8:0:1:1:1:1:1')).toBe('2001:db8:0:1:1:1:1:1'); // a single zero group stays
    expect(canonicalIp('0:0:0:0:0:0:0:0')).toBe('::');
    expect(canonicalIp('::1')).toBe('::1');
    expect(canonicalIp('fe80::')).toBe('fe80::');
    expect(canonicalIp('::ffff:10.0.0.1')).toBe('::ffff:10.0.0.1');
    expect(canonicalIp('1:0:0:2:0:0:0:3')).toBe('1:0:0:2::3');
  });

  it('rejects what is not an address', () => {
    for (const bad of [
      '',
      '1.2.3',
      '1.2.3.4.5',
      '256.1.1.1',
      '01.2.3.4',
      'a.b.c.d',
      ':::',
      '1::2::3',
      '12345::',
      '1:2:3:4:5:6:7:8:9',
      'fe80::1%eth0',
    ]) {
      expect(ipToBytes(bad), bad).toBeUndefined();
    }
    expect(ipFromBytes(new Uint8Array(5))).toBeUndefined();
    expect(ipFromBytes(new Uint8Array(0))).toBeUndefined();
  });

  it('round-trips every 4- and 16-byte string', () => {
    fc.assert(
      fc.property(
        fc.oneof(
          fc.uint8Array({ minLength: 4, maxLength: 4 }),
          fc.uint8Array({ minLength: 16, maxLength: 16 }),
        ),
        (bytes) => {
          const text = ipFromBytes(bytes);
          expect(text).toBeDefined();
          expect(ipToBytes(text as string)).toEqual(bytes);
        },
      ),
    );
  });

  it('parses socket addresses and CIDRs', () => {
    expect(parseSocketAddress('10.0.0.1:80')).toEqual({ ip: '10.0.0.1', port: 80 });
    expect(parseSocketAddress('[FD00::1]:15008')).toEqual({ ip: 'fd00::1', port: 15008 });
    for (const bad of [
      '10.0.0.1',
      '10.0.0.1:',
      '10.0.0.1:65536',
      'fd00::1:80',
      '[10.0.0.1]:80',
      'x:80',
      ':80',
      '010.0.0.1:80',
    ]) {
      expect(parseSocketAddress(bad), bad).toBeUndefined();
    }
    expect(formatSocketAddress('fd00::1', 80)).toBe('[fd00::1]:80');
    expect(parseCidr('10.1.2.3/8')).toEqual({ address: '10.1.2.3', length: 8 });
    expect(parseCidr('fd00::')).toEqual({ address: 'fd00::', length: 128 });
    expect(parseCidr('10.0.0.0/33')).toBeUndefined();
    expect(cidrContains({ address: '10.0.0.0', length: 8 }, '10.255.0.1')).toBe(true);
    expect(cidrContains({ address: '10.0.0.0', length: 9 }, '10.128.0.1')).toBe(false);
    expect(cidrContains({ address: 'fd00::', length: 64 }, '10.0.0.1')).toBe(false);
    expect(isLoopback('127.0.0.5')).toBe(true);
    expect(isLoopback('::1')).toBe(true);
    expect(isLoopback('10.0.0.1')).toBe(false);
  });

  it('never throws on arbitrary text', () => {
    fc.assert(
      fc.property(fc.string(), (s) => {
        parseSocketAddress(s);
        parseCidr(s);
        canonicalIp(s);
      }),
    );
  });
});
