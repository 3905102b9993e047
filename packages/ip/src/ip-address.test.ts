import { isIPv4, isIPv6 } from 'node:net';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  canonicalIp,
  formatIp,
  ipEquals,
  isIpv4Mapped,
  isLoopback,
  parseIp,
  unmapIpv4,
  unmappedIpText,
} from './ip-address.js';

// The WHATWG URL host serializer prints IPv6 as RFC 5952 does, except that it never uses a dotted tail.
function whatwgIpv6(text: string): string {
  return new URL(`http://[${text}]/`).hostname.slice(1, -1);
}

describe('parseIp', () => {
  it.each([
    ['0.0.0.0', 0],
    ['10.0.0.1', 0x0a000001],
    ['255.255.255.255', 0xffffffff],
    ['127.0.0.2', 0x7f000002],
  ])('reads the dotted quad %s', (text, word) => {
    expect(parseIp(text)).toEqual({ v6: false, w0: word, w1: 0, w2: 0, w3: 0 });
  });

  // The spellings inet_aton and getaddrinfo accept and Go's netip and Rust's std::net refuse: each names
  // 127.0.0.2, and each once slipped past an IP check that treated it as a hostname.
  it.each([
    '127.0.0.02',
    '2130706434',
    '0x7f000002',
    '127.2',
    '127.0.2',
    '0177.0.0.2',
    '127.0.0.2.',
    '.127.0.0.2',
    '127..0.2',
    '127.0.0.256',
    '127.0.0.-1',
    ' 127.0.0.2',
    '127.0.0.2 ',
    '1.2.3.4.5',
    '',
    'localhost',
  ])('refuses %j', (text) => {
    expect(parseIp(text)).toBeUndefined();
  });

  it.each([
    ['::', [0, 0, 0, 0]],
    ['::1', [0, 0, 0, 1]],
    ['1::', [0x00010000, 0, 0, 0]],
    ['fd00::1', [0xfd000000, 0, 0, 1]],
    ['FD00:0:0:0:0:0:0:1', [0xfd000000, 0, 0, 1]],
    ['::ffff:10.0.0.1', [0, 0, 0xffff, 0x0a000001]],
    ['1:2:3:4:5:6:7:8', [0x00010002, 0x00030004, 0x00050006, 0x00070008]],
    ['1:2:3:4:5:6:1.2.3.4', [0x00010002, 0x00030004, 0x00050006, 0x01020304]],
    ['1:2:3:4:5:6:7::', [0x00010002, 0x00030004, 0x00050006, 0x00070000]],
  ])('reads the IPv6 address %s', (text, words) => {
    const [w0, w1, w2, w3] = words as [number, number, number, number];
    expect(parseIp(text)).toEqual({ v6: true, w0, w1, w2, w3 });
  });

  it.each([
    ':',
    ':::',
    '1:::2',
    '::1::',
    '1::2::3',
    '1:2:3:4:5:6:7',
    '1:2:3:4:5:6:7:8:9',
    '1:2:3:4:5:6:7:8::',
    '12345::',
    '::g',
    '1:',
    ':1',
    '::1.2.3',
    '::01.2.3.4',
    '1:2:3:4:5:6:7:1.2.3.4',
    '::1.2.3.4:5',
    'fe80::1%eth0',
    '[::1]',
  ])('refuses %j', (text) => {
    expect(parseIp(text)).toBeUndefined();
  });

  it('drops a zone only when asked to, as Go does', () => {
    expect(parseIp('fe80::1%eth0', { zone: 'drop' })).toEqual(parseIp('fe80::1'));
    expect(parseIp('fe80::1%', { zone: 'drop' })).toBeUndefined();
    expect(parseIp('10.0.0.1%eth0', { zone: 'drop' })).toBeUndefined();
  });

  it('accepts exactly the IPv4 text Node accepts (Node refuses leading zeros too)', () => {
    const octet = fc.oneof(fc.integer({ min: 0, max: 300 }).map(String), fc.stringMatching(/^[0-9]{1,4}$/));
    fc.assert(
      fc.property(fc.array(octet, { minLength: 1, maxLength: 5 }), (parts) => {
        const text = parts.join('.');
        expect(parseIp(text) !== undefined).toBe(isIPv4(text));
      }),
    );
  });

  it('accepts exactly the IPv6 text Node accepts (zones aside)', () => {
    const group = fc.oneof(fc.constant(''), fc.stringMatching(/^[0-9a-fA-F]{1,5}$/), fc.constant('1.2.3.4'));
    fc.assert(
      fc.property(fc.array(group, { minLength: 1, maxLength: 10 }), (parts) => {
        const text = parts.join(':');
        expect(parseIp(text)?.v6 === true).toBe(isIPv6(text));
      }),
      { numRuns: 5000 },
    );
  });

  it('never throws, whatever the input', () => {
    fc.assert(
      fc.property(
        fc.string({ unit: fc.constantFrom(...'0123456789abcdefABCDEF:.%x[] '.split('')) }),
        (text) => {
          parseIp(text);
          parseIp(text, { zone: 'drop' });
        },
      ),
    );
  });
});

describe('formatIp', () => {
  it.each([
    ['fd00:0:0:0:0:0:0:1', 'fd00::1'],
    ['2001:db8:0:0:1:0:0:1', '2001:db8::1:0:0:1'], // RFC 5952 §4.2.3: the first of two equal runs
    ['2001:0:0:1:0:0:0:1', '2001:0:0:1::1'], // the longest run
    ['2001:db8:0:1:1:1:1:1', '2001:db8:0:1:1:1:1:1'], // §4.2.2: never a single zero group
    ['::ffff:10.0.0.1', '::ffff:10.0.0.1'],
    ['::0:10.0.0.1', '::a00:1'], // IPv4-compatible addresses are not printed dotted (Go, Rust)
    ['0:0:0:0:0:0:0:0', '::'],
  ])('prints %s as %s', (text, printed) => {
    expect(formatIp(parseIp(text) as NonNullable<ReturnType<typeof parseIp>>)).toBe(printed);
  });

  it('agrees with the WHATWG URL serializer on every non-mapped IPv6 address, and round-trips', () => {
    const group = fc.oneof(fc.constant(0), fc.integer({ min: 0, max: 0xffff }));
    fc.assert(
      fc.property(fc.array(group, { minLength: 8, maxLength: 8 }), (g) => {
        const text = g.map((x) => x.toString(16)).join(':');
        const ip = parseIp(text);
        expect(ip).toBeDefined();
        if (ip === undefined) return;
        const printed = formatIp(ip);
        if (!isIpv4Mapped(ip)) expect(printed).toBe(whatwgIpv6(text));
        expect(ipEquals(parseIp(printed) as typeof ip, ip)).toBe(true);
      }),
      { numRuns: 5000 },
    );
  });
});

describe('canonicalIp, unmapping, loopback', () => {
  it('returns a valid IPv4 string itself and canonicalises IPv6', () => {
    const text = '10.1.2.3';
    expect(canonicalIp(text)).toBe(text);
    expect(canonicalIp('FD00:0::01')).toBe('fd00::1');
    expect(canonicalIp('010.1.2.3')).toBeUndefined();
  });

  it('unmaps IPv4-mapped addresses only', () => {
    expect(formatIp(unmapIpv4(parseIp('::ffff:10.0.0.1') as NonNullable<ReturnType<typeof parseIp>>))).toBe(
      '10.0.0.1',
    );
    expect(unmappedIpText('::ffff:127.0.0.1')).toBe('127.0.0.1');
    expect(unmappedIpText('::FFFF:7f00:1')).toBe('127.0.0.1');
    expect(unmappedIpText('fd00::1')).toBe('fd00::1');
    expect(unmappedIpText('10.0.0.1')).toBe('10.0.0.1');
    expect(unmappedIpText('not an address')).toBe('not an address');
  });

  it('knows loopback addresses', () => {
    for (const text of ['127.0.0.1', '127.255.0.9', '::1', '::ffff:127.0.0.1']) {
      expect(isLoopback(parseIp(text) as NonNullable<ReturnType<typeof parseIp>>)).toBe(true);
    }
    for (const text of ['128.0.0.1', '::2', '::ffff:10.0.0.1']) {
      expect(isLoopback(parseIp(text) as NonNullable<ReturnType<typeof parseIp>>)).toBe(false);
    }
  });
});
