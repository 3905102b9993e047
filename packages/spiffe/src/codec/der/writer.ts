/**
 * A small DER writer (X.690 §10) for the structures the CA emits: TBS certificates, extensions, SPKIs. Every
 * helper returns the complete encoding of one element, so templates read like their ASN.1.
 * @module
 */
import { TAG } from './reader.js';

/**
 * Encodes one element from its identifier octet and contents, with a minimal definite length.
 *
 * @param tag - The identifier octet.
 * @param contents - The content octets, concatenated in order.
 * @returns The element.
 * @example
 * ```ts
 * derTlv(0x04, new Uint8Array([1, 2])); // OCTET STRING 0102
 * ```
 */
export function derTlv(tag: number, ...contents: readonly Uint8Array[]): Uint8Array {
  let length = 0;
  for (const c of contents) length += c.length;
  const lengthOctets =
    length < 0x80 ? 1 : length < 0x100 ? 2 : length < 0x10000 ? 3 : length < 0x1000000 ? 4 : 5;
  const out = new Uint8Array(1 + lengthOctets + length);
  out[0] = tag;
  if (lengthOctets === 1) {
    out[1] = length;
  } else {
    out[1] = 0x80 | (lengthOctets - 1);
    for (let i = lengthOctets - 1, v = length; i >= 1; i--, v = Math.floor(v / 256)) out[1 + i] = v & 0xff;
  }
  let at = 1 + lengthOctets;
  for (const c of contents) {
    out.set(c, at);
    at += c.length;
  }
  return out;
}

/**
 * SEQUENCE of the given elements.
 *
 * @param elements - Encoded elements.
 * @returns The SEQUENCE.
 * @example
 * ```ts
 * derSequence(derOid('1.2.840.10045.4.3.2'));
 * ```
 */
export function derSequence(...elements: readonly Uint8Array[]): Uint8Array {
  return derTlv(TAG.sequence, ...elements);
}

/**
 * SET of the given elements (callers pass them already in DER order).
 *
 * @param elements - Encoded elements.
 * @returns The SET.
 * @example
 * ```ts
 * derSet(derSequence(derOid('2.5.4.10'), derUtf8('example.org')));
 * ```
 */
export function derSet(...elements: readonly Uint8Array[]): Uint8Array {
  return derTlv(TAG.set, ...elements);
}

/**
 * OBJECT IDENTIFIER from dotted text.
 *
 * @param dotted - e.g. `'2.5.29.17'`.
 * @returns The element.
 * @throws {RangeError} For a malformed OID (a programmer error: OIDs here are constants).
 * @example
 * ```ts
 * derOid('2.5.29.19'); // 06 03 55 1d 13
 * ```
 */
export function derOid(dotted: string): Uint8Array {
  const arcs = dotted.split('.').map(Number);
  const [a, b] = arcs;
  if (
    arcs.length < 2 ||
    a === undefined ||
    b === undefined ||
    a > 2 ||
    arcs.some((n) => !Number.isSafeInteger(n) || n < 0)
  ) {
    throw new RangeError(`derOid: malformed OID ${dotted}`);
  }
  const bytes: number[] = [];
  const push = (n: number): void => {
    const groups: number[] = [n & 0x7f];
    for (let v = Math.floor(n / 128); v > 0; v = Math.floor(v / 128)) groups.unshift((v & 0x7f) | 0x80);
    bytes.push(...groups);
  };
  push(a * 40 + b);
  for (const arc of arcs.slice(2)) push(arc);
  return derTlv(TAG.oid, new Uint8Array(bytes));
}

/**
 * INTEGER from a non-negative safe integer.
 *
 * @param value - The value.
 * @returns The element.
 * @throws {RangeError} For negative or unsafe values.
 * @example
 * ```ts
 * derSmallInteger(2); // 02 01 02
 * ```
 */
export function derSmallInteger(value: number): Uint8Array {
  if (!Number.isSafeInteger(value) || value < 0) throw new RangeError(`derSmallInteger: bad value ${value}`);
  const bytes: number[] = [];
  for (let v = value; v > 0; v = Math.floor(v / 256)) bytes.unshift(v & 0xff);
  if (bytes.length === 0 || (bytes[0] as number) & 0x80) bytes.unshift(0);
  return derTlv(TAG.integer, new Uint8Array(bytes));
}

/**
 * INTEGER from unsigned big-endian magnitude bytes (leading zeros stripped, a zero octet added when the top bit
 * is set so the value stays positive).
 *
 * @param magnitude - Unsigned big-endian bytes.
 * @returns The element.
 * @example
 * ```ts
 * derUnsignedInteger(new Uint8Array([0x80])); // 02 02 00 80
 * ```
 */
export function derUnsignedInteger(magnitude: Uint8Array): Uint8Array {
  let start = 0;
  while (start < magnitude.length - 1 && magnitude[start] === 0) start++;
  const trimmed = magnitude.subarray(start);
  if (trimmed.length === 0) return derTlv(TAG.integer, new Uint8Array([0]));
  return (trimmed[0] as number) & 0x80
    ? derTlv(TAG.integer, new Uint8Array([0]), trimmed)
    : derTlv(TAG.integer, trimmed);
}

/**
 * BOOLEAN (`0xFF` for true, X.690 §11.1).
 *
 * @param value - The value.
 * @returns The element.
 * @example
 * ```ts
 * derBoolean(true); // 01 01 ff
 * ```
 */
export function derBoolean(value: boolean): Uint8Array {
  return derTlv(TAG.boolean, new Uint8Array([value ? 0xff : 0x00]));
}

/**
 * NULL.
 *
 * @returns `05 00`.
 * @example
 * ```ts
 * derSequence(derOid('1.2.840.113549.1.1.11'), derNull());
 * ```
 */
export function derNull(): Uint8Array {
  return new Uint8Array([TAG.null, 0]);
}

/**
 * OCTET STRING.
 *
 * @param contents - The octets.
 * @returns The element.
 * @example
 * ```ts
 * derOctetString(keyId);
 * ```
 */
export function derOctetString(...contents: readonly Uint8Array[]): Uint8Array {
  return derTlv(TAG.octetString, ...contents);
}

/**
 * BIT STRING of whole octets (no unused bits).
 *
 * @param contents - The octets.
 * @returns The element.
 * @example
 * ```ts
 * derBitString(signature);
 * ```
 */
export function derBitString(contents: Uint8Array): Uint8Array {
  return derTlv(TAG.bitString, new Uint8Array([0]), contents);
}

/**
 * A named-bit BIT STRING (X.690 §11.2.2: trailing zero bits removed), as keyUsage uses: bit `i` of `mask` is
 * named bit `i`.
 *
 * @param mask - The set bits, bit 0 = the first named bit.
 * @returns The element.
 * @example
 * ```ts
 * derNamedBits(0b1); // digitalSignature: 03 02 07 80
 * ```
 */
export function derNamedBits(mask: number): Uint8Array {
  if (mask === 0) return new Uint8Array([TAG.bitString, 1, 0]);
  let highest = 0;
  for (let i = 0; i < 32; i++) if (mask & (1 << i)) highest = i;
  const octets = new Uint8Array(Math.floor(highest / 8) + 1);
  for (let i = 0; i <= highest; i++) {
    if (mask & (1 << i)) octets[i >> 3] = (octets[i >> 3] as number) | (0x80 >> (i & 7));
  }
  return derTlv(TAG.bitString, new Uint8Array([7 - (highest & 7)]), octets);
}

function ascii(text: string): Uint8Array {
  const out = new Uint8Array(text.length);
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (c > 0x7f) throw new RangeError('expected ASCII text');
    out[i] = c;
  }
  return out;
}

/**
 * An element whose contents are ASCII text (IA5String, PrintableString, or an implicitly tagged GeneralName).
 *
 * @param tag - The identifier octet, e.g. `0x86` for a URI GeneralName.
 * @param text - ASCII text.
 * @returns The element.
 * @throws {RangeError} For non-ASCII text.
 * @example
 * ```ts
 * derAsciiString(0x86, 'spiffe://example.org/a');
 * ```
 */
export function derAsciiString(tag: number, text: string): Uint8Array {
  return derTlv(tag, ascii(text));
}

/**
 * UTF8String.
 *
 * @param text - The text.
 * @returns The element.
 * @example
 * ```ts
 * derUtf8('example.org');
 * ```
 */
export function derUtf8(text: string): Uint8Array {
  return derTlv(TAG.utf8String, new TextEncoder().encode(text));
}

function pad(n: number, width: number): string {
  return String(n).padStart(width, '0');
}

/**
 * A certificate validity time as RFC 5280 §4.1.2.5 requires: UTCTime through 2049, GeneralizedTime from 2050,
 * whole seconds, `Z`.
 *
 * @param ms - Milliseconds since the epoch (sub-second parts are dropped).
 * @returns The element.
 * @throws {RangeError} For a year outside 0000-9999.
 * @example
 * ```ts
 * derTime(Date.UTC(2030, 0, 1)); // UTCTime 300101000000Z
 * ```
 */
export function derTime(ms: number): Uint8Array {
  const d = new Date(Math.floor(ms / 1000) * 1000);
  const year = d.getUTCFullYear();
  if (!Number.isFinite(ms) || year < 0 || year > 9999) throw new RangeError(`derTime: year out of range`);
  const rest =
    pad(d.getUTCMonth() + 1, 2) +
    pad(d.getUTCDate(), 2) +
    pad(d.getUTCHours(), 2) +
    pad(d.getUTCMinutes(), 2) +
    pad(d.getUTCSeconds(), 2) +
    'Z';
  return year >= 1950 && year < 2050
    ? derTlv(TAG.utcTime, ascii(pad(year % 100, 2) + rest))
    : derTlv(TAG.generalizedTime, ascii(pad(year, 4) + rest));
}

/**
 * A context-specific constructed (EXPLICIT) element `[n]`.
 *
 * @param n - The tag number (0-30).
 * @param contents - Encoded inner elements.
 * @returns The element.
 * @example
 * ```ts
 * derExplicit(0, derSmallInteger(2)); // [0] version v3
 * ```
 */
export function derExplicit(n: number, ...contents: readonly Uint8Array[]): Uint8Array {
  return derTlv(0xa0 | n, ...contents);
}
