/**
 * Base64 (RFC 4648 §4) and base64url (§5) without `Buffer`, so the codec runs anywhere. Decoders are strict:
 * the one alphabet, canonical padding, zero trailing bits.
 * @module
 */

const STD = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/';
const URL = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_';

function table(alphabet: string): Int16Array {
  const t = new Int16Array(128).fill(-1);
  for (let i = 0; i < 64; i++) t[alphabet.charCodeAt(i)] = i;
  return t;
}
const STD_TABLE = table(STD);
const URL_TABLE = table(URL);

function encode(bytes: Uint8Array, alphabet: string, padded: boolean): string {
  let out = '';
  let i = 0;
  for (; i + 2 < bytes.length; i += 3) {
    const n = ((bytes[i] as number) << 16) | ((bytes[i + 1] as number) << 8) | (bytes[i + 2] as number);
    out +=
      alphabet.charAt(n >> 18) +
      alphabet.charAt((n >> 12) & 63) +
      alphabet.charAt((n >> 6) & 63) +
      alphabet.charAt(n & 63);
  }
  const rest = bytes.length - i;
  if (rest === 1) {
    const n = (bytes[i] as number) << 16;
    out += alphabet.charAt(n >> 18) + alphabet.charAt((n >> 12) & 63) + (padded ? '==' : '');
  } else if (rest === 2) {
    const n = ((bytes[i] as number) << 16) | ((bytes[i + 1] as number) << 8);
    out +=
      alphabet.charAt(n >> 18) +
      alphabet.charAt((n >> 12) & 63) +
      alphabet.charAt((n >> 6) & 63) +
      (padded ? '=' : '');
  }
  return out;
}

function decode(text: string, t: Int16Array, padded: boolean): Uint8Array | undefined {
  let length = text.length;
  if (padded) {
    if (length % 4 !== 0) return undefined;
    if (length > 0 && text.charCodeAt(length - 1) === 0x3d) length--;
    if (length > 0 && text.charCodeAt(length - 1) === 0x3d) length--;
  } else if (length % 4 === 1) {
    return undefined;
  }
  const out = new Uint8Array(Math.floor((length * 3) / 4));
  let o = 0;
  let i = 0;
  for (; i + 3 < length; i += 4) {
    const a = t[text.charCodeAt(i)] ?? -1;
    const b = t[text.charCodeAt(i + 1)] ?? -1;
    const c = t[text.charCodeAt(i + 2)] ?? -1;
    const d = t[text.charCodeAt(i + 3)] ?? -1;
    if ((a | b | c | d) < 0) return undefined;
    const n = (a << 18) | (b << 12) | (c << 6) | d;
    out[o++] = n >> 16;
    out[o++] = (n >> 8) & 0xff;
    out[o++] = n & 0xff;
  }
  const rest = length - i;
  if (rest === 2 || rest === 3) {
    const a = t[text.charCodeAt(i)] ?? -1;
    const b = t[text.charCodeAt(i + 1)] ?? -1;
    const c = rest === 3 ? (t[text.charCodeAt(i + 2)] ?? -1) : 0;
    if ((a | b | c) < 0) return undefined;
    // Canonical encodings leave the unused low bits zero (RFC 4648 §3.5).
    if (rest === 2 ? (b & 15) !== 0 : (c & 3) !== 0) return undefined;
    out[o++] = (a << 2) | (b >> 4);
    if (rest === 3) out[o++] = ((b & 15) << 4) | (c >> 2);
  } else if (rest !== 0) {
    return undefined;
  }
  return out;
}

/**
 * Encodes standard, padded base64 (RFC 4648 §4), as PEM and JWK `x5c` use.
 *
 * @param bytes - The data.
 * @returns The text.
 * @example
 * ```ts
 * base64Encode(new Uint8Array([0xfb, 0xff])); // '+/8='
 * ```
 */
export function base64Encode(bytes: Uint8Array): string {
  return encode(bytes, STD, true);
}

/**
 * Decodes standard, padded base64 strictly: no whitespace, no URL alphabet, canonical padding and bits.
 *
 * @param text - The text.
 * @returns The bytes, or `undefined` when `text` is not canonical base64.
 * @example
 * ```ts
 * base64Decode('+/8='); // Uint8Array [0xfb, 0xff]
 * base64Decode('-_8='); // undefined
 * ```
 */
export function base64Decode(text: string): Uint8Array | undefined {
  return decode(text, STD_TABLE, true);
}

/**
 * Encodes unpadded base64url (RFC 4648 §5), as JWS and JWK use (RFC 7515 §2).
 *
 * @param bytes - The data.
 * @returns The text.
 * @example
 * ```ts
 * base64UrlEncode(new Uint8Array([0xfb, 0xff])); // '-_8'
 * ```
 */
export function base64UrlEncode(bytes: Uint8Array): string {
  return encode(bytes, URL, false);
}

/**
 * Decodes unpadded base64url strictly (RFC 7515 §2: no padding, no whitespace).
 *
 * @param text - The text.
 * @returns The bytes, or `undefined` when `text` is not canonical unpadded base64url.
 * @example
 * ```ts
 * base64UrlDecode('-_8'); // Uint8Array [0xfb, 0xff]
 * ```
 */
export function base64UrlDecode(text: string): Uint8Array | undefined {
  return decode(text, URL_TABLE, false);
}
