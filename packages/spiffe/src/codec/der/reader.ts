/**
 * A strict DER reader (ITU-T X.690 §10): definite, minimal lengths, single-byte tags. It hands out offsets into
 * the input rather than copies, which keeps certificate parsing allocation-light on the verification hot path
 * (peer chains are parsed on every handshake).
 * @module
 */
import { SpiffeError } from '../errors.js';

/** Universal tags used by X.509 (X.690 §8, RFC 5280 App. A). */
export const TAG = {
  boolean: 0x01,
  integer: 0x02,
  bitString: 0x03,
  octetString: 0x04,
  null: 0x05,
  oid: 0x06,
  utf8String: 0x0c,
  printableString: 0x13,
  teletexString: 0x14,
  ia5String: 0x16,
  utcTime: 0x17,
  generalizedTime: 0x18,
  universalString: 0x1c,
  bmpString: 0x1e,
  sequence: 0x30,
  set: 0x31,
} as const;

/** One tag-length-value: `der[start..end)` is the whole element, `der[valueStart..end)` its contents. */
export interface Tlv {
  /** The identifier octet (class, constructed bit and tag number). */
  readonly tag: number;
  /** Offset of the identifier octet. */
  readonly start: number;
  /** Offset of the first content octet. */
  readonly valueStart: number;
  /** Offset just past the last content octet. */
  readonly end: number;
}

/**
 * Throws the reader's one error: `SPIFFE_ERR_DER`. Parsers catch it at their boundary and return it in a
 * `Result`, so nothing escapes to callers.
 *
 * @param what - What was malformed.
 * @returns Never.
 * @throws {SpiffeError} Always, with code `SPIFFE_ERR_DER`.
 * @example
 * ```ts
 * if (bad) derFail('BOOLEAN must be one octet');
 * ```
 */
export function derFail(what: string): never {
  throw new SpiffeError('SPIFFE_ERR_DER', `malformed DER: ${what}`);
}

/**
 * Reads the element at `offset`, which must end at or before `limit`.
 *
 * @param der - The encoding.
 * @param offset - Where the element starts.
 * @param limit - Where the enclosing element (or the input) ends.
 * @returns The element's offsets.
 * @throws {SpiffeError} `SPIFFE_ERR_DER` for truncation, indefinite or non-minimal lengths, high tag numbers.
 * @example
 * ```ts
 * const outer = readTlv(der, 0, der.length);
 * ```
 */
export function readTlv(der: Uint8Array, offset: number, limit: number): Tlv {
  if (offset + 2 > limit) derFail('truncated element');
  const tag = der[offset] as number;
  // High-tag-number form (tag number 31+) never occurs in the structures we read.
  if ((tag & 0x1f) === 0x1f) derFail('high tag numbers are not supported');
  let length = der[offset + 1] as number;
  let valueStart = offset + 2;
  if (length & 0x80) {
    const count = length & 0x7f;
    // 0x80 is BER's indefinite form; DER forbids it. Four length octets allow 4 GiB, far past any cap.
    if (count === 0 || count > 4) derFail(count === 0 ? 'indefinite length' : 'length too large');
    if (valueStart + count > limit) derFail('truncated length');
    length = 0;
    for (let i = 0; i < count; i++) length = length * 256 + (der[valueStart + i] as number);
    valueStart += count;
    // X.690 §10.1: the shortest form. Long form only from 128, and no leading zero octet.
    if (length < 0x80 || (der[offset + 2] as number) === 0) derFail('non-minimal length');
  }
  const end = valueStart + length;
  if (end > limit) derFail('element runs past its container');
  return { tag, start: offset, valueStart, end };
}

/**
 * Reads an element that must carry `tag`.
 *
 * @param der - The encoding.
 * @param offset - Where the element starts.
 * @param limit - The container's end.
 * @param tag - The identifier octet expected.
 * @param what - A name for error messages.
 * @returns The element.
 * @throws {SpiffeError} `SPIFFE_ERR_DER` when malformed or tagged otherwise.
 * @example
 * ```ts
 * const seq = expectTlv(der, 0, der.length, TAG.sequence, 'Certificate');
 * ```
 */
export function expectTlv(der: Uint8Array, offset: number, limit: number, tag: number, what: string): Tlv {
  const tlv = readTlv(der, offset, limit);
  if (tlv.tag !== tag) derFail(`${what}: expected tag 0x${tag.toString(16)}, got 0x${tlv.tag.toString(16)}`);
  return tlv;
}

/**
 * Reads every element inside a constructed element.
 *
 * @param der - The encoding.
 * @param parent - The constructed element.
 * @param maxChildren - Cap on the number of children, checked as they are read.
 * @returns The children in order.
 * @throws {SpiffeError} `SPIFFE_ERR_DER` when a child is malformed or there are too many.
 * @example
 * ```ts
 * for (const ext of readChildren(der, extensions, 64)) {}
 * ```
 */
export function readChildren(der: Uint8Array, parent: Tlv, maxChildren = 1024): Tlv[] {
  const out: Tlv[] = [];
  let pos = parent.valueStart;
  while (pos < parent.end) {
    if (out.length === maxChildren) derFail(`more than ${maxChildren} elements`);
    const child = readTlv(der, pos, parent.end);
    out.push(child);
    pos = child.end;
  }
  return out;
}

/**
 * Decodes an OBJECT IDENTIFIER's contents to dotted form (X.690 §8.19).
 *
 * @param der - The encoding.
 * @param tlv - The OID element.
 * @returns e.g. `'2.5.29.17'`.
 * @throws {SpiffeError} `SPIFFE_ERR_DER` for empty, non-minimal or overlong arcs.
 * @example
 * ```ts
 * readOid(der, expectTlv(der, pos, end, TAG.oid, 'algorithm')); // '1.2.840.10045.4.3.2'
 * ```
 */
export function readOid(der: Uint8Array, tlv: Tlv): string {
  if (tlv.end === tlv.valueStart) derFail('empty OBJECT IDENTIFIER');
  let text = '';
  let arc = 0;
  let first = true;
  let digits = 0;
  for (let i = tlv.valueStart; i < tlv.end; i++) {
    const b = der[i] as number;
    if (digits === 0 && b === 0x80) derFail('non-minimal OID arc');
    // 2^53 is the exact-integer limit; real OIDs stay far below it.
    if (++digits > 7) derFail('OID arc too large');
    arc = arc * 128 + (b & 0x7f);
    if ((b & 0x80) === 0) {
      if (first) {
        const top = arc < 40 ? 0 : arc < 80 ? 1 : 2;
        text = `${top}.${arc - top * 40}`;
        first = false;
      } else {
        text += `.${arc}`;
      }
      arc = 0;
      digits = 0;
    }
  }
  if (digits !== 0) derFail('truncated OID arc');
  return text;
}

/**
 * Reads a DER BOOLEAN: exactly one octet, `0x00` or `0xFF` (X.690 §11.1).
 *
 * @param der - The encoding.
 * @param tlv - The BOOLEAN element.
 * @returns The value.
 * @throws {SpiffeError} `SPIFFE_ERR_DER` for any other encoding.
 * @example
 * ```ts
 * const critical = readBoolean(der, tlv);
 * ```
 */
export function readBoolean(der: Uint8Array, tlv: Tlv): boolean {
  if (tlv.tag !== TAG.boolean || tlv.end - tlv.valueStart !== 1) derFail('BOOLEAN must be one octet');
  const v = der[tlv.valueStart];
  if (v === 0xff) return true;
  if (v === 0x00) return false;
  return derFail('BOOLEAN must be 0x00 or 0xFF');
}

/**
 * Reads a small non-negative INTEGER (at most 2^31-1), rejecting non-minimal encodings (X.690 §8.3.2).
 *
 * @param der - The encoding.
 * @param tlv - The INTEGER element.
 * @returns The value.
 * @throws {SpiffeError} `SPIFFE_ERR_DER` for negative, overlong or non-minimal integers.
 * @example
 * ```ts
 * const pathLen = readSmallInteger(der, tlv);
 * ```
 */
export function readSmallInteger(der: Uint8Array, tlv: Tlv): number {
  checkInteger(der, tlv);
  if ((der[tlv.valueStart] as number) & 0x80) derFail('negative INTEGER where a count was expected');
  const length = tlv.end - tlv.valueStart;
  if (length > 4 && !(length === 5 && der[tlv.valueStart] === 0)) derFail('INTEGER too large');
  let value = 0;
  for (let i = tlv.valueStart; i < tlv.end; i++) value = value * 256 + (der[i] as number);
  if (value > 0x7fffffff) derFail('INTEGER too large');
  return value;
}

/**
 * Checks an INTEGER element is well formed: tagged INTEGER, non-empty, minimal (X.690 §8.3.2).
 *
 * @param der - The encoding.
 * @param tlv - The element.
 * @throws {SpiffeError} `SPIFFE_ERR_DER` otherwise.
 * @example
 * ```ts
 * checkInteger(der, serial);
 * ```
 */
export function checkInteger(der: Uint8Array, tlv: Tlv): void {
  if (tlv.tag !== TAG.integer) derFail('expected INTEGER');
  const length = tlv.end - tlv.valueStart;
  if (length === 0) derFail('empty INTEGER');
  if (length > 1) {
    const a = der[tlv.valueStart] as number;
    const b = der[tlv.valueStart + 1] as number;
    if ((a === 0x00 && (b & 0x80) === 0) || (a === 0xff && (b & 0x80) !== 0)) derFail('non-minimal INTEGER');
  }
}

/**
 * Reads a BIT STRING: the unused-bit count (0-7, and 0 for an empty string) and the content octets, whose
 * unused trailing bits must be zero (X.690 §11.2).
 *
 * @param der - The encoding.
 * @param tlv - The BIT STRING element.
 * @returns `{ unusedBits, bytes }`, `bytes` a view into `der`.
 * @throws {SpiffeError} `SPIFFE_ERR_DER` when malformed.
 * @example
 * ```ts
 * const { bytes } = readBitString(der, signature);
 * ```
 */
export function readBitString(der: Uint8Array, tlv: Tlv): { unusedBits: number; bytes: Uint8Array } {
  if (tlv.tag !== TAG.bitString) derFail('expected BIT STRING');
  if (tlv.end === tlv.valueStart) derFail('empty BIT STRING');
  const unusedBits = der[tlv.valueStart] as number;
  const bytes = der.subarray(tlv.valueStart + 1, tlv.end);
  if (unusedBits > 7 || (bytes.length === 0 && unusedBits !== 0)) derFail('bad BIT STRING padding');
  if (unusedBits !== 0 && ((bytes[bytes.length - 1] as number) & ((1 << unusedBits) - 1)) !== 0) {
    derFail('BIT STRING padding bits must be zero');
  }
  return { unusedBits, bytes };
}

function digits(der: Uint8Array, at: number, count: number): number {
  let value = 0;
  for (let i = at; i < at + count; i++) {
    const c = (der[i] as number) - 0x30;
    if (c < 0 || c > 9) derFail('time has a non-digit');
    value = value * 10 + c;
  }
  return value;
}

/**
 * Reads a UTCTime (`YYMMDDHHMMSSZ`) or GeneralizedTime (`YYYYMMDDHHMMSSZ`) as RFC 5280 §4.1.2.5 profiles them:
 * seconds present, `Z` only, no fractions. Two-digit years 50-99 are 19xx.
 *
 * @param der - The encoding.
 * @param tlv - The time element.
 * @returns Milliseconds since the epoch.
 * @throws {SpiffeError} `SPIFFE_ERR_DER` for any other form or an impossible date.
 * @example
 * ```ts
 * const notAfterMs = readTime(der, tlv);
 * ```
 */
export function readTime(der: Uint8Array, tlv: Tlv): number {
  const length = tlv.end - tlv.valueStart;
  let year: number;
  let at = tlv.valueStart;
  if (tlv.tag === TAG.utcTime) {
    if (length !== 13) derFail('UTCTime must be YYMMDDHHMMSSZ');
    const yy = digits(der, at, 2);
    year = yy >= 50 ? 1900 + yy : 2000 + yy;
    at += 2;
  } else if (tlv.tag === TAG.generalizedTime) {
    if (length !== 15) derFail('GeneralizedTime must be YYYYMMDDHHMMSSZ');
    year = digits(der, at, 4);
    at += 4;
  } else {
    return derFail('expected UTCTime or GeneralizedTime');
  }
  if (der[tlv.end - 1] !== 0x5a) derFail('time must end in Z');
  const month = digits(der, at, 2);
  const day = digits(der, at + 2, 2);
  const hour = digits(der, at + 4, 2);
  const minute = digits(der, at + 6, 2);
  const second = digits(der, at + 8, 2);
  if (month < 1 || month > 12 || day < 1 || hour > 23 || minute > 59 || second > 59)
    derFail('impossible time');
  const ms = Date.UTC(year, month - 1, day, hour, minute, second);
  // Date.UTC rolls 31 April over to 1 May; a round trip of the day catches it.
  if (new Date(ms).getUTCDate() !== day) derFail('impossible date');
  // Date.UTC maps years 0-99 to 1900-1999; GeneralizedTime years below 100 are fine but need the fix-up.
  if (year < 100) return new Date(ms).setUTCFullYear(year);
  return ms;
}

/**
 * Decodes an IA5String's (or any 7-bit string's) octets as text; `undefined` if an octet is above 0x7F.
 *
 * @param der - The encoding.
 * @param tlv - The string element.
 * @returns The text, or `undefined` for non-ASCII content.
 * @example
 * ```ts
 * const uri = readAscii(der, uriTlv); // uriTlv: the [6] element of a GeneralName
 * ```
 */
export function readAscii(der: Uint8Array, tlv: Tlv): string | undefined {
  let text = '';
  for (let i = tlv.valueStart; i < tlv.end; i++) {
    const c = der[i] as number;
    if (c > 0x7f) return undefined;
    text += String.fromCharCode(c);
  }
  return text;
}
