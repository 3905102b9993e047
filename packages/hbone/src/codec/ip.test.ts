import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { canonicalIp, formatIp, parseIpv4, parseIpv6 } from './ip.js';

describe('parseIpv4', () => {
  it('reads dotted quads as Rust Ipv4Addr::from_str does', () => {
    expect(parseIpv4('10.0.0.1')).toEqual(Uint8Array.of(10, 0, 0, 1));
    expect(parseIpv4('255.255.255.255')).toEqual(Uint8Array.of(255, 255, 255, 255));
    expect(parseIpv4('0.0.0.0')).toEqual(Uint8Array.of(0, 0, 0, 0));
  });
  it.each([
    '010.0.0.1',
    '1.2.3',
    '1.2.3.4.5',
    '256.0.0.1',
    '1.2.3.',
    '.1.2.3',
    '1..2.3',
    ' 1.2.3.4',
    '0x1.2.3.4',
    '',
  ])('refuses %j', (text) => {
    expect(parseIpv4(text)).toBeUndefined();
  });
});

describe('parseIpv6 / formatIp', () => {
  it.each([
    ['ff06::c3', 'ff06::c3'],
    ['FF06:0:0:0:0:0:0:C3', 'ff06::c3'],
    ['::', '::'],
    ['::1', '::1'],
    ['1::', '1::'],
    ['2001:db8:0:0:1:0:0:1', '2001:db8::1:0:0:1'], // RFC 5952 §4.2.3: the first of equal runs
    ['2001:db8::0:1', '2001:db8::1'],
    ['2001:db8:0:1:1:1:1:1', '2001:db8:0:1:1:1:1:1'], // §4.2.2: a single zero group is not compressed
    ['::ffff:10.0.0.1', '::ffff:10.0.0.1'], // Rust prints IPv4-mapped addresses dotted
    ['::ffff:a00:1', '::ffff:10.0.0.1'],
    ['1:2:3:4:5:6:1.2.3.4', '1:2:3:4:5:6:102:304'],
    ['1:2:3:4:5:6:7::', '1:2:3:4:5:6:7:0'],
  ])('%s formats as %s', (input, expected) => {
    const bytes = parseIpv6(input);
    expect(bytes).toBeDefined();
    expect(formatIp(bytes as Uint8Array)).toBe(expected);
  });
  it.each([
    ':::',
    '1:::2',
    '1::2::3',
    '1:2:3:4:5:6:7:8:9',
    '1:2:3:4:5:6:7',
    'fe80::1%eth0',
    '12345::',
    ':1::',
    '1:',
    '::1.2.3',
    'g::',
  ])('refuses %j', (text) => {
    expect(parseIpv6(text)).toBeUndefined();
  });
  it('formatIp throws RangeError on other lengths', () => {
    expect(() => formatIp(new Uint8Array(5))).toThrow(RangeError);
  });
});

describe('properties', () => {
  const v6 = fc.uint8Array({ minLength: 16, maxLength: 16 });
  it('parse(format(bytes)) = bytes for IPv4 and IPv6', () => {
    fc.assert(
      fc.property(fc.oneof(fc.uint8Array({ minLength: 4, maxLength: 4 }), v6), (bytes) => {
        const text = formatIp(bytes);
        const back = bytes.length === 4 ? parseIpv4(text) : parseIpv6(text);
        expect(back).toEqual(bytes);
      }),
    );
  });
  it('formats like the WHATWG URL serializer (RFC 5952) outside the IPv4-mapped range', () => {
    fc.assert(
      fc.property(v6, (bytes) => {
        const text = formatIp(bytes);
        if (text.startsWith('::ffff:') && text.includes('.')) return;
        expect(new URL(`http://[${text}]/`).hostname).toBe(`[${text}]`);
      }),
    );
  });
  it('never throws on arbitrary text', () => {
    fc.assert(
      fc.property(fc.string({ maxLength: 50 }), (text) => {
        canonicalIp(text);
      }),
    );
  });
});
