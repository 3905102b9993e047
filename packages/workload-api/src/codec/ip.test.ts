import { formatIp, ipTextFromBytes, parseIp } from '@ambient-kit/ip';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  cidrContains,
  formatSocketAddress,
  ipFromBytes,
  ipToBytes,
  isLoopback,
  parseCidr,
  parseSocketAddress,
} from './ip.js';

// Parsing and printing are @ambient-kit/ip's and tested there; these pin the text forms the model keeps.
describe('the model text forms over @ambient-kit/ip', () => {
  it('gives the text of @ambient-kit/ip for bytes, and the bytes back for any address text', () => {
    fc.assert(
      fc.property(fc.oneof(fc.ipV4(), fc.ipV6()), (text) => {
        const bytes = ipToBytes(text) as Uint8Array;
        expect(bytes).toHaveLength(text.includes(':') ? 16 : 4);
        expect(ipFromBytes(bytes)).toBe(ipTextFromBytes(bytes));
        expect(ipFromBytes(bytes)).toBe(formatIp(parseIp(text) as NonNullable<ReturnType<typeof parseIp>>));
      }),
    );
    expect(ipFromBytes(new Uint8Array(5))).toBeUndefined();
    expect(ipToBytes('127.0.0.02')).toBeUndefined();
  });

  it('parses socket addresses to canonical IP text, keeping IPv4 text as written', () => {
    const v4 = '10.0.0.1:80';
    expect(parseSocketAddress(v4)).toEqual({ ip: '10.0.0.1', port: 80 });
    expect(parseSocketAddress('[FD00:0::1]:15008')).toEqual({ ip: 'fd00::1', port: 15008 });
    for (const bad of [
      '10.0.0.1',
      '10.0.0.1:',
      '10.0.0.1:65536',
      'fd00::1:80',
      '[10.0.0.1]:80',
      '010.0.0.1:80',
    ]) {
      expect(parseSocketAddress(bad), bad).toBeUndefined();
    }
    fc.assert(
      fc.property(fc.oneof(fc.ipV4(), fc.ipV6()), fc.integer({ min: 0, max: 65535 }), (ip, port) => {
        const canonical = formatIp(parseIp(ip) as NonNullable<ReturnType<typeof parseIp>>);
        expect(parseSocketAddress(formatSocketAddress(ip, port))).toEqual({ ip: canonical, port });
      }),
    );
  });

  it('reads CIDR text with a bare address as a host prefix, and checks membership per family', () => {
    expect(parseCidr('10.1.2.3/8')).toEqual({ address: '10.1.2.3', length: 8 });
    expect(parseCidr('FD00::')).toEqual({ address: 'fd00::', length: 128 });
    expect(parseCidr('10.0.0.0/33')).toBeUndefined();
    expect(cidrContains({ address: '10.0.0.0', length: 8 }, '10.255.0.1')).toBe(true);
    expect(cidrContains({ address: '10.0.0.0', length: 9 }, '10.128.0.1')).toBe(false);
    expect(cidrContains({ address: 'fd00::', length: 64 }, '10.0.0.1')).toBe(false);
    expect(isLoopback('127.0.0.5')).toBe(true);
    expect(isLoopback('::1')).toBe(true);
    expect(isLoopback('10.0.0.1')).toBe(false);
    expect(isLoopback('not an ip')).toBe(false);
  });
});
