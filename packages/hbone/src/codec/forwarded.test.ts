import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { forwardedArb } from '../../test/arbitraries.js';
import { formatForwarded, MAX_FORWARDED_BYTES, parseForwarded } from './forwarded.js';

describe('formatForwarded', () => {
  it('writes for= quoted and host= as a token, as ztunnel build_forwarded does', () => {
    // istio/ztunnel@62d82653:src/proxy/outbound.rs build_forwarded: format!("for=\"{remote_addr}\";host={}", svc.hostname)
    expect(formatForwarded({ for: '10.0.0.1:41234', host: 'reviews.default.svc.cluster.local' })).toBe(
      'for="10.0.0.1:41234";host=reviews.default.svc.cluster.local',
    );
    expect(formatForwarded({ for: '[ff06::1]:80' })).toBe('for="[ff06::1]:80"');
    expect(formatForwarded({ host: 'a b', proto: 'https' })).toBe('host="a b";proto=https');
    expect(formatForwarded({ by: 'x"y\\z' })).toBe('by="x\\"y\\\\z"');
  });
  it('throws RangeError on misuse', () => {
    expect(() => formatForwarded({})).toThrow(RangeError);
    expect(() => formatForwarded({ host: '' })).toThrow(RangeError);
    expect(() => formatForwarded({ host: 'a\nb' })).toThrow(RangeError);
  });
});

describe('parseForwarded', () => {
  it('reads RFC 7239 elements: the first one counts', () => {
    expect(parseForwarded('for="10.0.0.1:4000";host=example.com')._unsafeUnwrap()).toEqual({
      for: '10.0.0.1:4000',
      host: 'example.com',
    });
    // ztunnel's test_parse_forwarded_host vector (istio/ztunnel@62d82653:src/proxy.rs tests)
    expect(
      parseForwarded('by=identifier;for=identifier;host=example.com;proto=https')._unsafeUnwrap(),
    ).toEqual({
      by: 'identifier',
      for: 'identifier',
      host: 'example.com',
      proto: 'https',
    });
    expect(parseForwarded('For="[ff06::1]:4000" ; HOST=a, for=10.0.0.9')._unsafeUnwrap()).toEqual({
      for: '[ff06::1]:4000',
      host: 'a',
    });
    expect(parseForwarded(['for=a', 'for=b'])._unsafeUnwrap()).toEqual({ for: 'a' });
    expect(parseForwarded('secret=x;for=a')._unsafeUnwrap()).toEqual({ for: 'a' });
  });
  it.each([
    '',
    'for',
    'for=',
    'for="open',
    'for=a;for=b',
    'for=a b',
    'for=a;;',
    'for=a\\b',
    'for=[::1]:80',
    `for="${'\u0001'}"`,
  ])('refuses %j', (value) => {
    expect(parseForwarded(value)._unsafeUnwrapErr().code).toBe('HBONE_ERR_BAD_FORWARDED');
  });
  it('refuses input over the cap', () => {
    expect(parseForwarded(`for=${'a'.repeat(MAX_FORWARDED_BYTES)}`).isErr()).toBe(true);
  });
});

describe('properties', () => {
  it('parse(format(x)) = x', () => {
    fc.assert(
      fc.property(forwardedArb, (forwarded) => {
        expect(parseForwarded(formatForwarded(forwarded))._unsafeUnwrap()).toEqual(forwarded);
      }),
    );
  });
  it('no input throws', () => {
    fc.assert(
      fc.property(fc.oneof(fc.string(), fc.stringMatching(/^[a-z=";, \\]{0,30}$/)), (value) => {
        parseForwarded(value);
      }),
    );
  });
});
