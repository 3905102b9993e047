import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { SpiffeError } from '../errors.js';
import {
  readBitString,
  readBoolean,
  readChildren,
  readOid,
  readSmallInteger,
  readTime,
  readTlv,
  TAG,
} from './reader.js';
import {
  derBoolean,
  derNamedBits,
  derOid,
  derSequence,
  derSmallInteger,
  derTime,
  derTlv,
  derUnsignedInteger,
} from './writer.js';

const bytes = (...b: number[]): Uint8Array => new Uint8Array(b);

describe('DER reader (X.690 §10)', () => {
  it('reads short and long definite lengths', () => {
    const short = derTlv(0x04, new Uint8Array(5));
    expect(readTlv(short, 0, short.length)).toEqual({ tag: 0x04, start: 0, valueStart: 2, end: 7 });
    const long = derTlv(0x04, new Uint8Array(300));
    expect(Array.from(long.subarray(0, 4))).toEqual([0x04, 0x82, 0x01, 0x2c]);
    expect(readTlv(long, 0, long.length).end).toBe(304);
  });
  it.each([
    ['indefinite length', bytes(0x30, 0x80, 0, 0)],
    ['non-minimal long form', bytes(0x04, 0x81, 0x05, 1, 2, 3, 4, 5)],
    ['leading zero length octet', bytes(0x04, 0x82, 0x00, 0x81, ...new Array(0x81).fill(0))],
    ['length past the end', bytes(0x04, 0x05, 1, 2)],
    ['truncated header', bytes(0x04)],
    ['high tag number', bytes(0x1f, 0x81, 0x01, 0x00)],
    ['five length octets', bytes(0x04, 0x85, 0, 0, 0, 0, 1)],
  ])('rejects %s', (_name, input) => {
    expect(() => readTlv(input, 0, input.length)).toThrow(SpiffeError);
  });
  it('BOOLEAN, INTEGER, BIT STRING strictness', () => {
    const t = (b: Uint8Array) => readTlv(b, 0, b.length);
    expect(readBoolean(derBoolean(true), t(derBoolean(true)))).toBe(true);
    expect(() => readBoolean(bytes(1, 1, 1), t(bytes(1, 1, 1)))).toThrow(/0x00 or 0xFF/);
    expect(readSmallInteger(derSmallInteger(300), t(derSmallInteger(300)))).toBe(300);
    expect(() => readSmallInteger(bytes(2, 2, 0, 1), t(bytes(2, 2, 0, 1)))).toThrow(/non-minimal/);
    expect(() => readSmallInteger(bytes(2, 1, 0xff), t(bytes(2, 1, 0xff)))).toThrow(/negative/);
    expect(readBitString(derNamedBits(0b100001), t(derNamedBits(0b100001)))).toEqual({
      unusedBits: 2,
      bytes: bytes(0x84),
    });
    expect(() => readBitString(bytes(3, 2, 1, 0x01), t(bytes(3, 2, 1, 0x01)))).toThrow(/padding/);
    expect(() => readBitString(bytes(3, 1, 1), t(bytes(3, 1, 1)))).toThrow(/padding/);
  });
  it('named bits drop trailing zeros (X.690 §11.2.2): keyUsage digitalSignature is 03 02 07 80', () => {
    expect(Array.from(derNamedBits(1))).toEqual([0x03, 0x02, 0x07, 0x80]);
    expect(Array.from(derNamedBits(1 | 4))).toEqual([0x03, 0x02, 0x05, 0xa0]);
    expect(Array.from(derNamedBits(1 << 8))).toEqual([0x03, 0x03, 0x07, 0x00, 0x80]);
  });
  it('UTCTime before 2050, GeneralizedTime from 2050 (RFC 5280 §4.1.2.5)', () => {
    const a = derTime(Date.UTC(2049, 11, 31, 23, 59, 59));
    expect(a[0]).toBe(TAG.utcTime);
    expect(readTime(a, readTlv(a, 0, a.length))).toBe(Date.UTC(2049, 11, 31, 23, 59, 59));
    const b = derTime(Date.UTC(2050, 0, 1));
    expect(b[0]).toBe(TAG.generalizedTime);
    expect(readTime(b, readTlv(b, 0, b.length))).toBe(Date.UTC(2050, 0, 1));
    const c = derTime(Date.UTC(1950, 0, 1));
    expect(readTime(c, readTlv(c, 0, c.length))).toBe(Date.UTC(1950, 0, 1));
    const bad = new TextEncoder().encode('230231000000Z');
    const feb31 = derTlv(TAG.utcTime, bad);
    expect(() => readTime(feb31, readTlv(feb31, 0, feb31.length))).toThrow(/impossible/);
    const frac = derTlv(TAG.generalizedTime, new TextEncoder().encode('20300101000000.5Z'));
    expect(() => readTime(frac, readTlv(frac, 0, frac.length))).toThrow();
  });
  it('OIDs and integers round-trip (fast-check)', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 0, max: 2 }),
        fc.integer({ min: 0, max: 39 }),
        fc.array(fc.integer({ min: 0, max: 2 ** 40 }), { maxLength: 8 }),
        (a, b, rest) => {
          const dotted = [a, b, ...rest].join('.');
          const der = derOid(dotted);
          return readOid(der, readTlv(der, 0, der.length)) === dotted;
        },
      ),
    );
    fc.assert(
      fc.property(fc.integer({ min: 0, max: 0x7fffffff }), (n) => {
        const der = derSmallInteger(n);
        return readSmallInteger(der, readTlv(der, 0, der.length)) === n;
      }),
    );
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 40 }), (magnitude) => {
        const der = derUnsignedInteger(magnitude);
        const tlv = readTlv(der, 0, der.length);
        return tlv.end === der.length && ((der[tlv.valueStart] as number) & 0x80) === 0;
      }),
    );
  });
  it('never throws anything but SpiffeError on arbitrary bytes, and never reads past its bounds (fast-check)', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 64 }), (input) => {
        try {
          const outer = readTlv(input, 0, input.length);
          if (outer.tag & 0x20) readChildren(input, outer, 16);
          if (outer.tag === TAG.oid) readOid(input, outer);
          return outer.end <= input.length;
        } catch (error) {
          return error instanceof SpiffeError && error.code === 'SPIFFE_ERR_DER';
        }
      }),
      { numRuns: 3000 },
    );
    expect(derSequence().length).toBe(2);
  });
});
