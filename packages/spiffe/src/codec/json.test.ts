import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { parseJson } from './json.js';

describe('strict JSON (RFC 8259)', () => {
  it('agrees with JSON.parse on valid documents without big integers (fast-check)', () => {
    fc.assert(
      fc.property(fc.jsonValue({ maxDepth: 5 }), (value) => {
        const text = JSON.stringify(value);
        const ours = parseJson(text)._unsafeUnwrap();
        return (
          JSON.stringify(ours, (_k, v) => (typeof v === 'bigint' ? Number(v) : v)) ===
          JSON.stringify(JSON.parse(text))
        );
      }),
      { numRuns: 500 },
    );
  });
  it('rejects duplicate members (JSON.parse keeps the last one silently)', () => {
    expect(parseJson('{"a":1,"b":{"c":1,"c":2}}')._unsafeUnwrapErr().code).toBe('SPIFFE_ERR_JSON');
    expect(parseJson('{"a":1,"\\u0061":2}')._unsafeUnwrapErr().code).toBe('SPIFFE_ERR_JSON');
  });
  it('keeps integers beyond 2^53 exact as bigint', () => {
    expect(parseJson('[18446744073709551615, 9007199254740993, 1.5, -0, 1e2]')._unsafeUnwrap()).toEqual([
      18446744073709551615n,
      9007199254740993n,
      1.5,
      -0,
      100,
    ]);
  });
  it('uses null-prototype objects so __proto__ is just a key', () => {
    const v = parseJson('{"__proto__":{"polluted":true}}')._unsafeUnwrap() as Record<string, unknown>;
    expect(Object.getPrototypeOf(v)).toBeNull();
    expect('polluted' in {}).toBe(false);
  });
  it.each([
    '',
    '{',
    '[1,]',
    '{"a":1,}',
    "{'a':1}",
    '01',
    '1.',
    '.5',
    '"\u0001"',
    '"\\x"',
    'tru',
    '1 2',
    'NaN',
    '"\\u12"',
  ])('rejects %j', (text) => {
    expect(parseJson(text)._unsafeUnwrapErr().code).toBe('SPIFFE_ERR_JSON');
  });
  it('caps size and depth', () => {
    expect(parseJson('[1]', { maxBytes: 2 })._unsafeUnwrapErr().code).toBe('SPIFFE_ERR_TOO_LARGE');
    expect(parseJson('['.repeat(100) + ']'.repeat(100))._unsafeUnwrapErr().code).toBe('SPIFFE_ERR_JSON');
    expect(parseJson('['.repeat(10) + ']'.repeat(10)).isOk()).toBe(true);
  });
  it('never throws (fast-check)', () => {
    fc.assert(
      fc.property(
        fc.oneof(
          fc.string({ maxLength: 100 }),
          fc
            .array(fc.constantFrom('{', '}', '[', ']', '"a"', ':', ',', '1', 'true', '"\\u00', ' '), {
              maxLength: 40,
            })
            .map((p) => p.join('')),
        ),
        (text) => {
          const r = parseJson(text);
          return r.isOk() || r.error.code === 'SPIFFE_ERR_JSON';
        },
      ),
      { numRuns: 3000 },
    );
  });
});
