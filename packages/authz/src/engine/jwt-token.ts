/**
 * Reading a compact JWT as Envoy's `jwt_authn` does before any key is involved
 * (google/jwt_verify_lib@b59e8075:src/jwt.cc `Jwt::parseFromString`, src/struct_utils.cc): three `.`-separated
 * sections (empty ones skipped), base64url header and payload holding JSON objects, `alg` a string Envoy
 * implements, `kid` a string if present, `iss`/`sub`/`jti` strings, `iat`/`nbf`/`exp` non-negative numbers,
 * `aud` a string or a list of strings; then the time window with a clock skew
 * (`Jwt::verifyTimeConstraint`) and the audience check (src/check_audience.cc). The signature itself is checked
 * with `jose` (./jwks.ts).
 * @module
 */

import type { JwtStatus } from './jwt-status.js';

/** Algorithms Envoy's jwt_verify_lib implements (`isImplemented`); `none` is not one of them. */
export const IMPLEMENTED_JWT_ALGS: ReadonlySet<string> = new Set([
  'ES256',
  'ES384',
  'ES512',
  'HS256',
  'HS384',
  'HS512',
  'RS256',
  'RS384',
  'RS512',
  'PS256',
  'PS384',
  'PS512',
  'EdDSA',
]);

/** A token longer than this is refused as malformed (Envoy's request headers are capped at 60 KiB). */
export const MAX_JWT_LENGTH: number = 64 * 1024;

/** Envoy's default clock skew for `exp` and `nbf`, in seconds (`kClockSkewInSecond`). */
export const JWT_CLOCK_SKEW_SECONDS: number = 60;

/** A parsed (not yet verified) JWT. */
export interface ParsedJwt {
  /** The token as extracted. */
  readonly token: string;
  readonly alg: string;
  /** `''` when absent. */
  readonly kid: string;
  /** `''` when absent. */
  readonly iss: string;
  readonly sub: string;
  /** 0 when absent. */
  readonly nbf: number;
  readonly exp: number;
  readonly audiences: readonly string[];
  /** The protected header (frozen: tokens with the same header share it). */
  readonly header: Readonly<Record<string, unknown>>;
  readonly payload: Readonly<Record<string, unknown>>;
  /** The payload section as sent (what `outputPayloadToHeader` forwards). */
  readonly payloadBase64Url: string;
  /** The canonical compact form (`header.payload.signature`) handed to jose. */
  readonly compact: string;
  /** The decoded signature's length in bytes. */
  readonly signatureLength: number;
}

const UTF8 = new TextDecoder('utf-8', { fatal: true });

// The base64url alphabet's values by character code; 255 for anything else.
const B64URL: Uint8Array = (() => {
  const table = new Uint8Array(128).fill(255);
  const alphabet = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_';
  for (let i = 0; i < alphabet.length; i++) table[alphabet.charCodeAt(i)] = i;
  return table;
})();

// The length of the base64url text without padding, or -1 when it is not base64url (padding optional, but
// complete when present: what absl WebSafeBase64Unescape accepts).
function unpaddedLength(text: string): number {
  let end = text.length;
  while (end > 0 && text.charCodeAt(end - 1) === 0x3d && text.length - end < 2) end--;
  if (end < text.length && text.length % 4 !== 0) return -1;
  if (end % 4 === 1) return -1;
  for (let i = 0; i < end; i++) {
    const c = text.charCodeAt(i);
    if (c >= 128 || (B64URL[c] as number) === 255) return -1;
  }
  return end;
}

/**
 * absl `WebSafeBase64Unescape`: the URL-safe alphabet, padding optional.
 *
 * @param text - base64url text.
 * @returns The bytes, or `undefined` when the text is not base64url.
 * @example
 * ```ts
 * decodeBase64Url('eyJhIjoxfQ'); // bytes of '{"a":1}'
 * ```
 */
export function decodeBase64Url(text: string): Uint8Array | undefined {
  const end = unpaddedLength(text);
  if (end < 0) return undefined;
  const out = new Uint8Array((end * 3) >> 2);
  let o = 0;
  let i = 0;
  for (; i + 4 <= end; i += 4) {
    const v =
      ((B64URL[text.charCodeAt(i)] as number) << 18) |
      ((B64URL[text.charCodeAt(i + 1)] as number) << 12) |
      ((B64URL[text.charCodeAt(i + 2)] as number) << 6) |
      (B64URL[text.charCodeAt(i + 3)] as number);
    out[o++] = v >> 16;
    out[o++] = (v >> 8) & 0xff;
    out[o++] = v & 0xff;
  }
  const rest = end - i;
  if (rest >= 2) {
    const v =
      ((B64URL[text.charCodeAt(i)] as number) << 18) | ((B64URL[text.charCodeAt(i + 1)] as number) << 12);
    out[o++] = v >> 16;
    if (rest === 3) out[o++] = ((v | ((B64URL[text.charCodeAt(i + 2)] as number) << 6)) >> 8) & 0xff;
  }
  return out;
}

const BASE64URL_TEXT = /^[A-Za-z0-9_-]*={0,2}$/;
const NON_ASCII = /[\x80-\xff]/;

// A base64url section as the text it encodes (UTF-8 checked), or undefined when it is not base64url: atob's
// binary string is already the text when every byte is ASCII (the usual JOSE header and payload).
function decodeText(section: string): string | undefined {
  if (!BASE64URL_TEXT.test(section)) return undefined;
  const pad = section.indexOf('=');
  const body = pad === -1 ? section : section.slice(0, pad);
  if ((pad !== -1 && section.length % 4 !== 0) || body.length % 4 === 1) return undefined;
  const binary = atob(body.replace(/-/g, '+').replace(/_/g, '/') + '==='.slice((body.length + 3) % 4));
  if (!NON_ASCII.test(binary)) return binary;
  const bytes = new Uint8Array(binary.length);
  for (let i = 0; i < binary.length; i++) bytes[i] = binary.charCodeAt(i);
  try {
    return UTF8.decode(bytes);
  } catch {
    return '\u0000';
  }
}

function jsonObject(text: string): Record<string, unknown> | undefined {
  try {
    const value: unknown = JSON.parse(text);
    return typeof value === 'object' && value !== null && !Array.isArray(value)
      ? (value as Record<string, unknown>)
      : undefined;
  } catch {
    return undefined;
  }
}

// struct_utils GetUInt64: a number in [0, 2^64), truncated.
function readUint(
  obj: Record<string, unknown>,
  name: string,
  notInteger: JwtStatus,
  outOfRange: JwtStatus,
): number | JwtStatus {
  if (!Object.hasOwn(obj, name)) return 0;
  const v = obj[name];
  if (typeof v !== 'number') return notInteger;
  if (v < 0 || v >= 2 ** 64) return outOfRange;
  return Math.trunc(v);
}

function readString(obj: Record<string, unknown>, name: string): string | null | undefined {
  if (!Object.hasOwn(obj, name)) return undefined;
  const v = obj[name];
  return typeof v === 'string' ? v : null;
}

/** What the protected header yields: `alg`, `kid` and the header object, or the status it fails with. */
type HeaderResult =
  | {
      readonly alg: string;
      readonly kid: string;
      readonly header: Readonly<Record<string, unknown>>;
    }
  | JwtStatus;

// Parsed protected headers by their base64url text. A header is the same for every token an issuer signs
// with one key (`{"alg":"ES256","kid":"k1","typ":"JWT"}`), so nearly every token after the first skips its
// base64url and JSON work. Parsing is a pure function of the text, the cached objects are frozen (callers
// share them), and the map is bounded in entries and in the length of the texts it keeps.
const HEADER_CACHE = new Map<string, HeaderResult>();
const HEADER_CACHE_MAX = 256;
const HEADER_CACHE_MAX_CHARS = 1024;

function deepFreeze<T>(value: T): T {
  if (typeof value === 'object' && value !== null && !Object.isFrozen(value)) {
    Object.freeze(value);
    for (const v of Object.values(value)) deepFreeze(v);
  }
  return value;
}

function readHeader(h: string): HeaderResult {
  const headerText = decodeText(h);
  if (headerText === undefined) return 'JwtHeaderParseErrorBadBase64';
  const header = jsonObject(headerText);
  if (header === undefined) return 'JwtHeaderParseErrorBadJson';
  const alg = readString(header, 'alg');
  if (typeof alg !== 'string') return 'JwtHeaderBadAlg';
  if (!IMPLEMENTED_JWT_ALGS.has(alg)) return 'JwtHeaderNotImplementedAlg';
  const kid = readString(header, 'kid');
  if (kid === null) return 'JwtHeaderBadKid';
  return { alg, kid: kid ?? '', header: deepFreeze(header) };
}

function cachedHeader(h: string): HeaderResult {
  let result = HEADER_CACHE.get(h);
  if (result === undefined) {
    result = readHeader(h);
    if (h.length <= HEADER_CACHE_MAX_CHARS) {
      if (HEADER_CACHE.size >= HEADER_CACHE_MAX) HEADER_CACHE.clear();
      HEADER_CACHE.set(h, result);
    }
  }
  return result;
}

// The three sections (jwt.cc splits on '.' and skips empty pieces, `absl::SkipEmpty()`); undefined when there
// are not exactly three.
function sections(token: string): [string, string, string] | undefined {
  const a = token.indexOf('.');
  const b = a === -1 ? -1 : token.indexOf('.', a + 1);
  if (a > 0 && b > a + 1 && b < token.length - 1 && token.indexOf('.', b + 1) === -1) {
    return [token.slice(0, a), token.slice(a + 1, b), token.slice(b + 1)];
  }
  // The rare forms with empty sections (`a..b.c`, `.a.b.c`).
  const parts = token.split('.').filter((p) => p !== '');
  return parts.length === 3 ? (parts as [string, string, string]) : undefined;
}

/**
 * Parses a token as jwt_verify_lib does, with the same first failure.
 *
 * @param token - The extracted token.
 * @returns The parsed token, or the status Envoy reports.
 * @example
 * ```ts
 * parseJwt('a.b'); // 'JwtBadFormat'
 * ```
 */
export function parseJwt(token: string): ParsedJwt | JwtStatus {
  if (token.length > MAX_JWT_LENGTH) return 'JwtBadFormat';
  const parts = sections(token);
  if (parts === undefined) return 'JwtBadFormat';
  const [h, p, sig] = parts;
  const head = cachedHeader(h);
  if (typeof head === 'string') return head;
  const payloadText = decodeText(p);
  if (payloadText === undefined) return 'JwtPayloadParseErrorBadBase64';
  const payload = jsonObject(payloadText);
  if (payload === undefined) return 'JwtPayloadParseErrorBadJson';
  const iss = readString(payload, 'iss');
  if (iss === null) return 'JwtPayloadParseErrorIssNotString';
  const sub = readString(payload, 'sub');
  if (sub === null) return 'JwtPayloadParseErrorSubNotString';
  const iat = readUint(
    payload,
    'iat',
    'JwtPayloadParseErrorIatNotInteger',
    'JwtPayloadParseErrorIatOutOfRange',
  );
  if (typeof iat === 'string') return iat;
  const nbf = readUint(
    payload,
    'nbf',
    'JwtPayloadParseErrorNbfNotInteger',
    'JwtPayloadParseErrorNbfOutOfRange',
  );
  if (typeof nbf === 'string') return nbf;
  const exp = readUint(
    payload,
    'exp',
    'JwtPayloadParseErrorExpNotInteger',
    'JwtPayloadParseErrorExpOutOfRange',
  );
  if (typeof exp === 'string') return exp;
  if (readString(payload, 'jti') === null) return 'JwtPayloadParseErrorJtiNotString';
  let audiences: string[] = [];
  if (Object.hasOwn(payload, 'aud')) {
    const aud = payload['aud'];
    if (typeof aud === 'string') audiences = [aud];
    else if (Array.isArray(aud) && aud.every((a) => typeof a === 'string')) audiences = aud as string[];
    else return 'JwtPayloadParseErrorAudNotString';
  }
  // Only the signature's validity and length matter here; jose decodes it when it verifies.
  const sigChars = unpaddedLength(sig);
  if (sigChars < 0) return 'JwtSignatureParseErrorBadBase64';
  return {
    token,
    alg: head.alg,
    kid: head.kid,
    iss: iss ?? '',
    sub: sub ?? '',
    nbf,
    exp,
    audiences,
    header: head.header,
    payload,
    payloadBase64Url: p,
    // Envoy's split skips empty sections; jose wants exactly three.
    compact: h.length + p.length + sig.length + 2 === token.length ? token : `${h}.${p}.${sig}`,
    signatureLength: (sigChars * 3) >> 2,
  };
}

/**
 * `Jwt::verifyTimeConstraint`: not before `nbf - skew`, not after `exp + skew` (an `exp` of 0 never expires).
 *
 * @param jwt - The parsed token.
 * @param nowSeconds - The current time, in whole seconds.
 * @param skewSeconds - The clock skew (Envoy's default 60).
 * @returns `Ok`, `JwtNotYetValid` or `JwtExpired`.
 * @example
 * ```ts
 * checkJwtTime(jwt, Math.floor(Date.now() / 1000)); // 'Ok'
 * ```
 */
export function checkJwtTime(
  jwt: ParsedJwt,
  nowSeconds: number,
  skewSeconds: number = JWT_CLOCK_SKEW_SECONDS,
): JwtStatus {
  if (nowSeconds + skewSeconds < jwt.nbf) return 'JwtNotYetValid';
  if (jwt.exp !== 0 && nowSeconds > jwt.exp + skewSeconds) return 'JwtExpired';
  return 'Ok';
}

// check_audience.cc sanitizeAudience: drop an http:// or https:// prefix and one trailing '/'.
function sanitizeAudience(aud: string): string {
  if (aud === '') return aud;
  let begin = 0;
  if (aud.startsWith('http://')) begin = 7;
  else if (aud.startsWith('https://')) begin = 8;
  const end = aud.endsWith('/') ? aud.length - 1 : aud.length;
  return aud.slice(begin, end);
}

/**
 * An audience checker (`CheckAudience`): any token audience equal to a configured one once both are
 * sanitized (scheme prefix and trailing `/` ignored); no configured audiences accepts everything.
 *
 * @param configured - The rule's `audiences`.
 * @returns A predicate over the token's audiences.
 * @example
 * ```ts
 * audienceChecker(['https://api.example/'])(['api.example']); // true
 * ```
 */
export function audienceChecker(configured: readonly string[]): (audiences: readonly string[]) => boolean {
  if (configured.length === 0) return () => true;
  const allowed = new Set(configured.map(sanitizeAudience));
  return (audiences) => audiences.some((a) => allowed.has(sanitizeAudience(a)));
}
