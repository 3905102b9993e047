import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { base64Decode, base64Encode, base64UrlDecode, base64UrlEncode } from './base64.js';

const binary = (b: Uint8Array): string => String.fromCharCode(...b);

describe('base64 (RFC 4648)', () => {
  it('round-trips and matches btoa (fast-check)', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 100 }), (b) => {
        const std = base64Encode(b);
        const url = base64UrlEncode(b);
        return (
          std === btoa(binary(b)) &&
          url === std.replace(/=+$/, '').replace(/\+/g, '-').replace(/\//g, '_') &&
          binary(base64Decode(std) ?? new Uint8Array([1, 2, 3, 4, 5])) === binary(b) &&
          binary(base64UrlDecode(url) ?? new Uint8Array([1, 2, 3, 4, 5])) === binary(b)
        );
      }),
    );
  });
  it('is strict: one alphabet, canonical padding and bits, no whitespace', () => {
    expect(base64Decode('+/8=')).toEqual(new Uint8Array([0xfb, 0xff]));
    expect(base64Decode('-_8=')).toBeUndefined();
    expect(base64UrlDecode('+/8')).toBeUndefined();
    expect(base64Decode('+/8')).toBeUndefined();
    expect(base64UrlDecode('-_8=')).toBeUndefined();
    expect(base64Decode('+/9=')).toBeUndefined(); // non-zero trailing bits
    expect(base64Decode('QQ==')).toEqual(new Uint8Array([0x41]));
    expect(base64Decode('QR==')).toBeUndefined();
    expect(base64Decode('QQ= =')).toBeUndefined();
    expect(base64UrlDecode('A')).toBeUndefined();
    expect(base64Decode('')).toEqual(new Uint8Array());
  });
  it('never throws (fast-check)', () => {
    fc.assert(
      fc.property(fc.string({ maxLength: 64 }), (s) => {
        base64Decode(s);
        base64UrlDecode(s);
        return true;
      }),
    );
  });
});
