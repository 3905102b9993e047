/**
 * IP text <-> bytes. Expected strings are Go `netip.Addr.String()` / RFC 5952 §4 examples, since that is
 * what istio-cni prints into rules.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { canonicalIpAddress, formatIpAddress, parseIpAddress } from './ip-address.js';

describe('parseIpAddress / formatIpAddress', () => {
  it.each([
    ['169.254.7.127', '169.254.7.127'],
    ['0.0.0.0', '0.0.0.0'],
    ['::', '::'],
    ['::1', '::1'],
    ['FD16:9254:7127:1337:FFFF:FFFF:FFFF:FFFF', 'fd16:9254:7127:1337:ffff:ffff:ffff:ffff'],
    ['2001:db8:0:0:0:0:2:1', '2001:db8::2:1'], // RFC 5952 §4.2.1: compress the zeros
    ['2001:db8:0:1:1:1:1:1', '2001:db8:0:1:1:1:1:1'], // §4.2.2: never a single group
    ['2001:0:0:1:0:0:0:1', '2001:0:0:1::1'], // §4.2.3: the longest run
    ['2001:db8:0:0:1:0:0:1', '2001:db8::1:0:0:1'], // §4.2.3: the first of equal runs
    ['2001:0db8::0001', '2001:db8::1'], // §4.1: no leading zeros
    ['::ffff:10.0.0.1', '::ffff:10.0.0.1'], // IPv4-mapped keeps dotted form (Go netip)
    ['::ffff:a00:1', '::ffff:10.0.0.1'],
    ['::10.0.0.1', '::a00:1'],
    ['e9ac:1e77:90ca:399f:4d6d:ece2:2f9b:3164', 'e9ac:1e77:90ca:399f:4d6d:ece2:2f9b:3164'],
  ])('%s prints as %s', (input, expected) => {
    expect(canonicalIpAddress(input)).toBe(expected);
  });

  it.each([
    '',
    '1.2.3',
    '1.2.3.4.5',
    '256.1.1.1',
    '01.2.3.4',
    '1.2.3.4/32',
    ':::',
    '1::2::3',
    '1:2:3:4:5:6:7:8:9',
    '1:2:3:4:5:6:7::8',
    'fe80::1%eth0',
    '12345::',
    'g::1',
    ' ::1',
  ])('rejects %j', (input) => {
    expect(parseIpAddress(input)).toBeUndefined();
  });

  it('round-trips any 4 or 16 bytes (property)', () => {
    fc.assert(
      fc.property(
        fc.oneof(
          fc.uint8Array({ minLength: 4, maxLength: 4 }),
          fc.uint8Array({ minLength: 16, maxLength: 16 }),
        ),
        (bytes) => {
          const address = { family: bytes.length === 4 ? 4 : 6, bytes } as const;
          const text = formatIpAddress(address);
          expect(parseIpAddress(text)).toEqual(address);
          expect(canonicalIpAddress(text)).toBe(text);
        },
      ),
    );
  });

  it('never throws on arbitrary text (property)', () => {
    fc.assert(
      fc.property(fc.string({ maxLength: 60 }), (text) => {
        const parsed = parseIpAddress(text);
        if (parsed !== undefined) expect(parseIpAddress(formatIpAddress(parsed))).toEqual(parsed);
      }),
    );
  });

  it('rejects bytes of the wrong length', () => {
    expect(() => formatIpAddress({ family: 4, bytes: new Uint8Array(16) })).toThrow(RangeError);
    expect(() => formatIpAddress({ family: 6, bytes: new Uint8Array(4) })).toThrow(RangeError);
  });
});
