/**
 * IP text <-> bytes. Expected strings are Go `netip.Addr.String()` / RFC 5952 §4 examples, since that is
 * what istio-cni prints into rules.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { canonicalIpAddress, formatIpAddress, parseIpAddress } from './ip-address.js';

describe('parseIpAddress / formatIpAddress', () => {
  // The text forms themselves (every RFC 5952 rule, every refused spelling) are @ambient-kit/ip's, tested in
  // packages/ip; here, the addresses this package prints into rules, in their family-and-bytes shape.
  it.each([
    ['169.254.7.127', '169.254.7.127', 4], // HOST_PROBE_SNAT_IP
    ['FD16:9254:7127:1337:FFFF:FFFF:FFFF:FFFF', 'fd16:9254:7127:1337:ffff:ffff:ffff:ffff', 6],
    ['::ffff:a00:1', '::ffff:10.0.0.1', 6], // IPv4-mapped keeps dotted form (Go netip)
  ])('%s prints as %s', (input, expected, family) => {
    expect(canonicalIpAddress(input)).toBe(expected);
    expect(parseIpAddress(input)?.family).toBe(family);
  });

  it.each(['01.2.3.4', '1.2.3.4/32', 'fe80::1%eth0'])('rejects %j', (input) => {
    expect(parseIpAddress(input)).toBeUndefined();
    expect(canonicalIpAddress(input)).toBeUndefined();
  });

  it('round-trips any 4 or 16 bytes (property)', () => {
    fc.assert(
      fc.property(
        fc.constantFrom(4, 16).chain((n) => fc.uint8Array({ minLength: n, maxLength: n })),
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
