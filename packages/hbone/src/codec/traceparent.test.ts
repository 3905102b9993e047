import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { traceparentArb } from '../../test/arbitraries.js';
import { formatTraceparent, parseTraceparent, randomTraceparent, TRACEPARENT_LENGTH } from './traceparent.js';

const SAMPLE = '00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01'; // W3C Trace Context §3.2 example

describe('traceparent', () => {
  it('parses and formats the W3C example', () => {
    const parsed = parseTraceparent(SAMPLE)._unsafeUnwrap();
    expect(parsed).toEqual({
      version: 0,
      traceId: '4bf92f3577b34da6a3ce929d0e0e4736',
      parentId: '00f067aa0ba902b7',
      flags: 1,
    });
    expect(formatTraceparent(parsed)).toBe(SAMPLE);
  });
  it('makes random version-00, flags-00 values of 55 characters (W3C Trace Context)', () => {
    const text = formatTraceparent(randomTraceparent());
    expect(text).toHaveLength(TRACEPARENT_LENGTH);
    expect(text).toMatch(/^00-[0-9a-f]{32}-[0-9a-f]{16}-00$/);
    expect(randomTraceparent((n) => new Uint8Array(n)).traceId).toBe(`${'0'.repeat(31)}1`);
  });
  it('spells the random bytes as lower-case hex, byte by byte (the lookup table against the plain way)', () => {
    fc.assert(
      fc.property(
        fc.uint8Array({ minLength: 24, maxLength: 24 }).filter((b) => b.some((x) => x !== 0)),
        (bytes) => {
          let at = 0;
          const random = (n: number): Uint8Array => {
            const out = bytes.slice(at, at + n);
            at += n;
            return out;
          };
          const tp = randomTraceparent(random);
          const plain = [...bytes].map((x) => x.toString(16).padStart(2, '0')).join('');
          // All-zero ids are nudged to end in 1; compare the rest.
          if (bytes.subarray(0, 16).some((x) => x !== 0)) expect(tp.traceId).toBe(plain.slice(0, 32));
          if (bytes.subarray(16).some((x) => x !== 0)) expect(tp.parentId).toBe(plain.slice(32));
        },
      ),
    );
  });
  it.each([
    SAMPLE.toUpperCase(),
    SAMPLE.slice(1),
    `ff${SAMPLE.slice(2)}`,
    `00-${'0'.repeat(32)}-00f067aa0ba902b7-01`,
    `00-4bf92f3577b34da6a3ce929d0e0e4736-${'0'.repeat(16)}-01`,
    '00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7_01',
    '0x-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01',
  ])('refuses %j', (value) => {
    expect(parseTraceparent(value)._unsafeUnwrapErr().code).toBe('HBONE_ERR_BAD_TRACEPARENT');
  });
  it('format throws RangeError on invalid fields', () => {
    expect(() =>
      formatTraceparent({ version: 255, traceId: 'a'.repeat(32), parentId: 'b'.repeat(16), flags: 0 }),
    ).toThrow(RangeError);
    expect(() =>
      formatTraceparent({ version: 0, traceId: 'A'.repeat(32), parentId: 'b'.repeat(16), flags: 0 }),
    ).toThrow(RangeError);
  });
  it('parse(format(x)) = x; no input throws', () => {
    fc.assert(
      fc.property(traceparentArb, (t) => {
        expect(parseTraceparent(formatTraceparent(t))._unsafeUnwrap()).toEqual(t);
      }),
    );
    fc.assert(
      fc.property(fc.string({ minLength: 50, maxLength: 60 }), (s) => {
        parseTraceparent(s);
      }),
    );
  });
});
