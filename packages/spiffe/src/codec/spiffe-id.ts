/**
 * SPIFFE IDs and trust domains, parsed exactly as the SPIFFE ID standard and go-spiffe `spiffeid` do
 * (spiffe/spiffe@665a28f:standards/SPIFFE-ID.md; spiffe/go-spiffe@e9973f6:v2/spiffeid/id.go): byte-level
 * checks, lowercase scheme and trust domain, no normalisation, equality by string.
 * @module
 */
import { err, ok, type Result } from 'neverthrow';
import { quote, SpiffeError, type SpiffeErrorCode } from './errors.js';

/**
 * `spiffe://`: the only accepted scheme prefix, matched byte for byte (spiffe/spiffe@665a28f:standards/SPIFFE-ID.md §2.4; go-spiffe rejects
 * `SPIFFE://`).
 */
export const SPIFFE_SCHEME_PREFIX = 'spiffe://';

/** Longest SPIFFE ID accepted, in bytes: implementations MUST support 2048 (spiffe/spiffe@665a28f:standards/SPIFFE-ID.md §2.3). */
export const MAX_SPIFFE_ID_BYTES = 2048;

/** Longest trust-domain name accepted, in bytes (spiffe/spiffe@665a28f:standards/SPIFFE-ID.md §2.3). */
export const MAX_TRUST_DOMAIN_BYTES = 255;

const BRAND_ID = Symbol.for('@ambient-kit/spiffe.SpiffeId');
const BRAND_TD = Symbol.for('@ambient-kit/spiffe.TrustDomain');

/**
 * A trust domain: the authority of a SPIFFE ID. Its `toString()` is the bare name (`example.org`).
 */
export interface TrustDomain {
  /** The name, e.g. `example.org`: lowercase `[a-z0-9._-]`, 1-255 bytes. */
  readonly name: string;
  /** The trust domain's own ID, `spiffe://<name>` with an empty path (go-spiffe `ID()`). */
  id(): SpiffeId;
  /** `spiffe://<name>` (go-spiffe `IDString()`). */
  idString(): string;
  /** Exact comparison with another trust domain or a name. */
  equals(other: TrustDomain | string): boolean;
  /** The bare name. */
  toString(): string;
  /** The bare name, so `JSON.stringify` gives a string. */
  toJSON(): string;
}

/**
 * A parsed SPIFFE ID. Equality is string equality (go-spiffe `MatchID`); nothing is ever normalised.
 */
export interface SpiffeId {
  /** The trust domain (the URI authority). */
  readonly trustDomain: TrustDomain;
  /** The path, `''` for a trust domain's own ID, else `/seg/seg…`. */
  readonly path: string;
  /** The path's segments without slashes (`[]` for an empty path). */
  segments(): string[];
  /** Whether the ID belongs to `trustDomain` (go-spiffe `MemberOf`). */
  memberOf(trustDomain: TrustDomain | string): boolean;
  /** Exact comparison with another ID or a string. */
  equals(other: SpiffeId | string): boolean;
  /** `spiffe://<trust domain><path>`, the exact input that was parsed. */
  toString(): string;
  /** Same as `toString()`. */
  toJSON(): string;
}

// The byte classes of spiffe/spiffe@665a28f:standards/SPIFFE-ID.md §2.1-2.2 (go-spiffe `v2/spiffeid/charset.go` without the backcompat build
// tag).
function isTrustDomainChar(c: number): boolean {
  return (c >= 0x61 && c <= 0x7a) || (c >= 0x30 && c <= 0x39) || c === 0x2e || c === 0x2d || c === 0x5f;
}

function isPathSegmentChar(c: number): boolean {
  return (
    (c >= 0x61 && c <= 0x7a) ||
    (c >= 0x41 && c <= 0x5a) ||
    (c >= 0x30 && c <= 0x39) ||
    c === 0x2e ||
    c === 0x2d ||
    c === 0x5f
  );
}

function fail(code: SpiffeErrorCode, input: string, why: string): Result<never, SpiffeError> {
  return err(new SpiffeError(code, `invalid SPIFFE ID ${quote(input)}: ${why}`));
}

class TrustDomainValue implements TrustDomain {
  readonly name: string;
  constructor(name: string) {
    this.name = name;
  }
  id(): SpiffeId {
    return new SpiffeIdValue(this, '', SPIFFE_SCHEME_PREFIX + this.name);
  }
  idString(): string {
    return SPIFFE_SCHEME_PREFIX + this.name;
  }
  equals(other: TrustDomain | string): boolean {
    return (typeof other === 'string' ? other : other.name) === this.name;
  }
  toString(): string {
    return this.name;
  }
  toJSON(): string {
    return this.name;
  }
}

class SpiffeIdValue implements SpiffeId {
  readonly trustDomain: TrustDomain;
  readonly path: string;
  readonly #text: string;
  constructor(trustDomain: TrustDomain, path: string, text: string) {
    this.trustDomain = trustDomain;
    this.path = path;
    this.#text = text;
  }
  segments(): string[] {
    return this.path === '' ? [] : this.path.slice(1).split('/');
  }
  memberOf(trustDomain: TrustDomain | string): boolean {
    return this.trustDomain.equals(trustDomain);
  }
  equals(other: SpiffeId | string): boolean {
    return (typeof other === 'string' ? other : other.toString()) === this.#text;
  }
  toString(): string {
    return this.#text;
  }
  toJSON(): string {
    return this.#text;
  }
}

// Brands live on the prototypes (`in` sees them): one property per class instead of one per parsed value.
Object.defineProperty(TrustDomainValue.prototype, BRAND_TD, { value: true });
Object.defineProperty(SpiffeIdValue.prototype, BRAND_ID, { value: true });

/**
 * Whether `value` is a {@link SpiffeId} made by this package (any installed copy).
 *
 * @param value - Anything.
 * @returns `true` for a parsed SPIFFE ID.
 * @example
 * ```ts
 * isSpiffeId(parseSpiffeId('spiffe://example.org/a')._unsafeUnwrap()); // true
 * isSpiffeId('spiffe://example.org/a'); // false: a string, not a parsed ID
 * ```
 */
export function isSpiffeId(value: unknown): value is SpiffeId {
  return typeof value === 'object' && value !== null && BRAND_ID in value;
}

/**
 * Whether `value` is a {@link TrustDomain} made by this package (any installed copy).
 *
 * @param value - Anything.
 * @returns `true` for a parsed trust domain.
 * @example
 * ```ts
 * isTrustDomain(parseTrustDomain('example.org')._unsafeUnwrap()); // true
 * ```
 */
export function isTrustDomain(value: unknown): value is TrustDomain {
  return typeof value === 'object' && value !== null && BRAND_TD in value;
}

/**
 * Checks a SPIFFE ID path (go-spiffe `ValidatePath`, `v2/spiffeid/path.go`): `''` or `/seg(/seg)*`, segments of
 * `[a-zA-Z0-9._-]`, none empty, none `.` or `..`, no trailing slash. Segments that merely contain dots (`.a`,
 * `...`) are fine.
 *
 * @param path - The path to check.
 * @returns `ok(path)` or the first rule it breaks.
 * @example
 * ```ts
 * validateSpiffePath('/ns/default/sa/bookinfo').isOk(); // true
 * validateSpiffePath('/a/../b')._unsafeUnwrapErr().code; // 'SPIFFE_ERR_PATH_DOT_SEGMENT'
 * ```
 */
export function validateSpiffePath(path: string): Result<string, SpiffeError> {
  if (path === '') return ok(path);
  const check = checkPath(path, 0);
  return check === undefined ? ok(path) : fail(check[0], path, check[1]);
}

// Returns the first violation of the path rules in `text` from `start` (which points at the path's first
// byte), or undefined. Shared by the ID parser so each byte is scanned once.
function checkPath(text: string, start: number): [SpiffeErrorCode, string] | undefined {
  if (text.charCodeAt(start) !== 0x2f) return ['SPIFFE_ERR_PATH_LEADING_SLASH', 'path must start with "/"'];
  let segmentStart = start;
  for (let i = start + 1; i <= text.length; i++) {
    const c = i === text.length ? 0x2f : text.charCodeAt(i);
    if (c === 0x2f) {
      const length = i - segmentStart - 1;
      if (length === 0) {
        return i === text.length
          ? ['SPIFFE_ERR_PATH_TRAILING_SLASH', 'path cannot have a trailing slash']
          : ['SPIFFE_ERR_PATH_EMPTY_SEGMENT', 'path cannot contain empty segments'];
      }
      if (
        text.charCodeAt(segmentStart + 1) === 0x2e &&
        (length === 1 || (length === 2 && text.charCodeAt(segmentStart + 2) === 0x2e))
      ) {
        return ['SPIFFE_ERR_PATH_DOT_SEGMENT', 'path cannot contain dot segments'];
      }
      segmentStart = i;
    } else if (!isPathSegmentChar(c)) {
      return [
        'SPIFFE_ERR_PATH_SEGMENT_CHAR',
        'path segment characters are limited to letters, numbers, dots, dashes, and underscores',
      ];
    }
  }
  return undefined;
}

/**
 * Parses a SPIFFE ID with the exact rules of the SPIFFE ID standard as go-spiffe `spiffeid.FromString` applies
 * them (`v2/spiffeid/id.go`): the exact bytes `spiffe://`, a non-empty trust domain of `[a-z0-9._-]`, then a
 * valid path. That rejects uppercase, userinfo, ports, percent-encoding, queries, fragments, empty and dot
 * segments and trailing slashes. Longer than {@link MAX_SPIFFE_ID_BYTES} bytes, or a trust domain longer than
 * {@link MAX_TRUST_DOMAIN_BYTES}, is rejected too (spiffe/spiffe@665a28f:standards/SPIFFE-ID.md §2.3; go-spiffe does not check lengths).
 *
 * @param input - The text, e.g. `spiffe://cluster.local/ns/default/sa/sleep`.
 * @returns The ID, or a `SpiffeError` whose code names the first rule broken.
 * @throws {TypeError} When `input` is not a string (programmer misuse).
 * @example
 * ```ts
 * const id = parseSpiffeId('spiffe://cluster.local/ns/default/sa/sleep')._unsafeUnwrap();
 * id.trustDomain.toString(); // 'cluster.local'
 * id.path; // '/ns/default/sa/sleep'
 * parseSpiffeId('SPIFFE://cluster.local/x')._unsafeUnwrapErr().code; // 'SPIFFE_ERR_ID_SCHEME'
 * ```
 */
export function parseSpiffeId(input: string): Result<SpiffeId, SpiffeError> {
  if (typeof input !== 'string')
    throw new TypeError(`parseSpiffeId: input must be a string, got ${typeof input}`);
  if (input === '') return fail('SPIFFE_ERR_ID_EMPTY', input, 'cannot be empty');
  // Checked before any scan: UTF-16 length <= UTF-8 length, and anything non-ASCII fails the charsets anyway.
  if (input.length > MAX_SPIFFE_ID_BYTES) {
    return fail('SPIFFE_ERR_ID_TOO_LONG', input, `longer than ${MAX_SPIFFE_ID_BYTES} bytes`);
  }
  if (!input.startsWith(SPIFFE_SCHEME_PREFIX)) {
    return fail('SPIFFE_ERR_ID_SCHEME', input, 'scheme is missing or invalid');
  }
  const tdStart = SPIFFE_SCHEME_PREFIX.length;
  let pathStart = tdStart;
  for (; pathStart < input.length; pathStart++) {
    const c = input.charCodeAt(pathStart);
    if (c === 0x2f) break;
    if (!isTrustDomainChar(c)) {
      return fail(
        'SPIFFE_ERR_TRUST_DOMAIN_CHAR',
        input,
        'trust domain characters are limited to lowercase letters, numbers, dots, dashes, and underscores',
      );
    }
  }
  if (pathStart === tdStart) return fail('SPIFFE_ERR_TRUST_DOMAIN_MISSING', input, 'trust domain is missing');
  if (pathStart - tdStart > MAX_TRUST_DOMAIN_BYTES) {
    return fail(
      'SPIFFE_ERR_TRUST_DOMAIN_TOO_LONG',
      input,
      `trust domain longer than ${MAX_TRUST_DOMAIN_BYTES} bytes`,
    );
  }
  if (pathStart < input.length) {
    const violation = checkPath(input, pathStart);
    if (violation !== undefined) return fail(violation[0], input, violation[1]);
  }
  const trustDomain = new TrustDomainValue(input.slice(tdStart, pathStart));
  return ok(new SpiffeIdValue(trustDomain, input.slice(pathStart), input));
}

/**
 * Parses a trust domain from a bare name (`example.org`) or from a SPIFFE ID (`spiffe://example.org/x`), as
 * go-spiffe `TrustDomainFromString` does: input containing `:/` is parsed as an ID and its trust domain
 * taken.
 *
 * @param input - A trust-domain name or a SPIFFE ID.
 * @returns The trust domain, or a `SpiffeError`.
 * @throws {TypeError} When `input` is not a string.
 * @example
 * ```ts
 * parseTrustDomain('cluster.local')._unsafeUnwrap().idString(); // 'spiffe://cluster.local'
 * parseTrustDomain('spiffe://cluster.local/ns/a/sa/b')._unsafeUnwrap().name; // 'cluster.local'
 * parseTrustDomain('Example.org')._unsafeUnwrapErr().code; // 'SPIFFE_ERR_TRUST_DOMAIN_CHAR'
 * ```
 */
export function parseTrustDomain(input: string): Result<TrustDomain, SpiffeError> {
  if (typeof input !== 'string') {
    throw new TypeError(`parseTrustDomain: input must be a string, got ${typeof input}`);
  }
  if (input === '') {
    return err(
      new SpiffeError('SPIFFE_ERR_TRUST_DOMAIN_MISSING', 'invalid trust domain "": trust domain is missing'),
    );
  }
  if (input.includes(':/')) return parseSpiffeId(input).map((id) => id.trustDomain);
  if (input.length > MAX_TRUST_DOMAIN_BYTES) {
    return err(
      new SpiffeError(
        'SPIFFE_ERR_TRUST_DOMAIN_TOO_LONG',
        `invalid trust domain ${quote(input)}: longer than ${MAX_TRUST_DOMAIN_BYTES} bytes`,
      ),
    );
  }
  for (let i = 0; i < input.length; i++) {
    if (!isTrustDomainChar(input.charCodeAt(i))) {
      return err(
        new SpiffeError(
          'SPIFFE_ERR_TRUST_DOMAIN_CHAR',
          `invalid trust domain ${quote(input)}: trust domain characters are limited to lowercase letters, numbers, dots, dashes, and underscores`,
        ),
      );
    }
  }
  return ok(new TrustDomainValue(input));
}

/**
 * Builds an ID from a trust domain and a path (go-spiffe `FromPath`), checking the path and the total length.
 *
 * @param trustDomain - A trust domain or its name.
 * @param path - `''` or `/seg(/seg)*`.
 * @returns The ID, or a `SpiffeError` for a bad trust domain or path.
 * @example
 * ```ts
 * spiffeIdFromPath('example.org', '/workload')._unsafeUnwrap().toString(); // 'spiffe://example.org/workload'
 * ```
 */
export function spiffeIdFromPath(
  trustDomain: TrustDomain | string,
  path: string,
): Result<SpiffeId, SpiffeError> {
  const td = typeof trustDomain === 'string' ? parseTrustDomain(trustDomain) : ok(trustDomain);
  return td.andThen((t) =>
    validateSpiffePath(path).andThen(() => parseSpiffeId(SPIFFE_SCHEME_PREFIX + t.name + path)),
  );
}

/**
 * Builds an ID from a trust domain and path segments (go-spiffe `FromSegments`). A segment may not contain `/`,
 * be empty, or be `.`/`..`.
 *
 * @param trustDomain - A trust domain or its name.
 * @param segments - The path segments, without slashes.
 * @returns The ID, or a `SpiffeError`.
 * @example
 * ```ts
 * spiffeIdFromSegments('cluster.local', 'ns', 'default', 'sa', 'sleep')._unsafeUnwrap().path;
 * // '/ns/default/sa/sleep'
 * ```
 */
export function spiffeIdFromSegments(
  trustDomain: TrustDomain | string,
  ...segments: string[]
): Result<SpiffeId, SpiffeError> {
  for (const segment of segments) {
    if (segment.includes('/')) {
      return err(
        new SpiffeError(
          'SPIFFE_ERR_PATH_SEGMENT_CHAR',
          `invalid path segment ${quote(segment)}: path segment characters are limited to letters, numbers, dots, dashes, and underscores`,
        ),
      );
    }
  }
  return spiffeIdFromPath(trustDomain, segments.map((s) => `/${s}`).join(''));
}

/**
 * Reads an argument that may be a parsed ID or its text, throwing on bad text: for option values, where a bad
 * ID is a programmer error (`docs/contributing.md` "Errors", tier 1).
 *
 * @param value - A parsed ID or its string form.
 * @param label - The argument name for the error message.
 * @returns The parsed ID.
 * @throws {TypeError} When `value` is neither a parsed ID nor a valid SPIFFE ID string.
 * @example
 * ```ts
 * const id = requireSpiffeId('spiffe://example.org/a', 'id');
 * ```
 */
export function requireSpiffeId(value: SpiffeId | string, label: string): SpiffeId {
  if (isSpiffeId(value)) return value;
  if (typeof value !== 'string') throw new TypeError(`${label}: expected a SPIFFE ID, got ${typeof value}`);
  const parsed = parseSpiffeId(value);
  if (parsed.isErr()) throw new TypeError(`${label}: ${parsed.error.message}`, { cause: parsed.error });
  return parsed.value;
}

/**
 * Reads an argument that may be a parsed trust domain or its name (or an ID), throwing on bad text.
 *
 * @param value - A parsed trust domain, a name, or a SPIFFE ID string.
 * @param label - The argument name for the error message.
 * @returns The parsed trust domain.
 * @throws {TypeError} When `value` is not a valid trust domain.
 * @example
 * ```ts
 * requireTrustDomain('cluster.local', 'trustDomain').idString(); // 'spiffe://cluster.local'
 * ```
 */
export function requireTrustDomain(value: TrustDomain | string, label: string): TrustDomain {
  if (isTrustDomain(value)) return value;
  if (typeof value !== 'string')
    throw new TypeError(`${label}: expected a trust domain, got ${typeof value}`);
  const parsed = parseTrustDomain(value);
  if (parsed.isErr()) throw new TypeError(`${label}: ${parsed.error.message}`, { cause: parsed.error });
  return parsed.value;
}
