/**
 * The request path as an Envoy sidecar, gateway or waypoint evaluates it (istio/istio@86c9f01f:pilot/pkg/networking/core/listener_builder.go): MeshConfig
 * `pathNormalization` picks the HTTP connection manager options (istio `listener_builder.go` "Setup
 * normalization"), applied in Envoy's order: unescape `%2F`/`%5C` (`UNESCAPE_AND_FORWARD`), then RFC 3986
 * normalization (`normalize_path`, Envoy's snapshot of Chromium's `CanonicalizePath`), then `merge_slashes`.
 * Only the part before `?` is normalized. RBAC `url_path` then compares the result without query and fragment.
 * @module
 */

/** MeshConfig `pathNormalization.normalization` (`DEFAULT` is accepted as `BASE`). */
export type PathNormalization = 'NONE' | 'BASE' | 'MERGE_SLASHES' | 'DECODE_AND_MERGE_SLASHES';

/** The result of normalizing a `:path`. */
export type NormalizedPath =
  | { readonly ok: true; readonly path: string; readonly urlPath: string }
  | { readonly ok: false; readonly reason: string };

// Chromium's kPathCharLookup as Envoy vendors it (source/common/chromium_url/url_canon_path.cc), by byte:
// 0 pass, 1 escape, 2 unescape when seen escaped, 3 invalid (NUL).
const PASS = 0;
const ESCAPE = 1;
const UNESCAPE = 2;
const INVALID = 3;
const CHAR_CLASS: Uint8Array = (() => {
  const table = new Uint8Array(256).fill(ESCAPE);
  table[0] = INVALID;
  // Printable ASCII that passes through unchanged.
  for (const c of "!$&'()*+,/:;=@[]") table[c.charCodeAt(0)] = PASS;
  // Unreserved characters: kept as is, and decoded when percent-encoded.
  for (let c = 0x30; c <= 0x39; c++) table[c] = UNESCAPE;
  for (let c = 0x41; c <= 0x5a; c++) table[c] = UNESCAPE;
  for (let c = 0x61; c <= 0x7a; c++) table[c] = UNESCAPE;
  for (const c of '-_~') table[c.charCodeAt(0)] = UNESCAPE;
  // '.', '%' and '\\' have their own branches below; space, '"', '#', '<', '>', '?', '^', '`', '{', '|', '}',
  // DEL, controls and every byte >= 0x80 are escaped.
  return table;
})();

const HEX = '0123456789ABCDEF';

function hexValue(byte: number): number {
  if (byte >= 0x30 && byte <= 0x39) return byte - 0x30;
  if (byte >= 0x41 && byte <= 0x46) return byte - 0x41 + 10;
  if (byte >= 0x61 && byte <= 0x66) return byte - 0x61 + 10;
  return -1;
}

// bytes[i] is '%': the byte its two hex digits encode, or -1 (Chromium DecodeEscaped).
function decodeEscapeAt(bytes: ArrayLike<number>, i: number, end: number): number {
  if (i + 2 >= end) return -1;
  const hi = hexValue(bytes[i + 1] as number);
  const lo = hexValue(bytes[i + 2] as number);
  return hi < 0 || lo < 0 ? -1 : hi * 16 + lo;
}

function isSlash(byte: number | undefined): boolean {
  return byte === 0x2f || byte === 0x5c;
}

// Length of a dot at i: 1 for '.', 3 for '%2e'/'%2E', 0 otherwise (Chromium IsDot).
function dotLength(bytes: ArrayLike<number>, i: number, end: number): number {
  const b = bytes[i];
  if (b === 0x2e) return 1;
  if (
    b === 0x25 &&
    i + 2 < end &&
    bytes[i + 1] === 0x32 &&
    (bytes[i + 2] === 0x65 || bytes[i + 2] === 0x45)
  ) {
    return 3;
  }
  return 0;
}

/** A growable byte buffer with the few operations the canonicalizer needs. */
class ByteOutput {
  bytes: number[] = [];
  push(b: number): void {
    this.bytes.push(b);
  }
  get length(): number {
    return this.bytes.length;
  }
  at(i: number): number {
    return this.bytes[i] as number;
  }
  set(i: number, b: number): void {
    this.bytes[i] = b;
  }
  truncate(n: number): void {
    this.bytes.length = n;
  }
}

function pushEscaped(out: ByteOutput, byte: number): void {
  out.push(0x25);
  out.push(HEX.charCodeAt(byte >> 4));
  out.push(HEX.charCodeAt(byte & 15));
}

// Chromium's defence against nested escapes ("%%300" must not become "%00" after one round): when a byte
// was just unescaped within two characters of an earlier invalid '%', and the output now forms a valid
// escape, that '%' is re-escaped as "%25".
function checkNestedEscapes(
  input: ArrayLike<number>,
  nextIndex: number,
  end: number,
  lastInvalidPercent: number,
  out: ByteOutput,
): void {
  const length = out.length;
  const lastUnescaped = out.at(length - 1);
  const appendNext = lastInvalidPercent === length - 2;
  if (appendNext) {
    if (nextIndex === end || (input[nextIndex] as number) >= 0x80) return;
    out.push(input[nextIndex] as number);
  }
  const decoded = decodeEscapeAt(out.bytes, lastInvalidPercent, out.length);
  if (decoded >= 0) {
    if (!appendNext) out.push(out.at(lastInvalidPercent + 1));
    out.set(lastInvalidPercent + 1, 0x32);
    out.set(lastInvalidPercent + 2, 0x35);
    out.push(lastUnescaped);
  } else if (appendNext) {
    out.truncate(length);
  }
}

// Chromium BackUpToPreviousSlash: drop the last segment, keeping the slash before it.
function backUpToPreviousSlash(out: ByteOutput): void {
  let i = out.length - 1;
  if (i === 0) return;
  i--;
  while (out.at(i) !== 0x2f && i > 0) i--;
  out.truncate(i + 1);
}

/**
 * RFC 3986 path normalization as Envoy's `normalize_path` does it (Chromium `CanonicalizePath`): dot
 * segments removed, `\` turned into `/`, unreserved characters percent-decoded, characters that must be
 * escaped escaped, other escapes kept byte for byte. Fails on NUL (`%00` or a raw NUL), which Envoy answers
 * with 400.
 *
 * @param path - The path without query.
 * @returns The canonical path, or `undefined` when Envoy rejects it.
 * @example
 * ```ts
 * canonicalizePath('/public/%2E%2E/private'); // '/private'
 * canonicalizePath('/a%2Fb/./c');             // '/a%2Fb/c'
 * ```
 */
export function canonicalizePath(path: string): string | undefined {
  if (isAlreadyCanonical(path)) return path;
  const input = new TextEncoder().encode(path);
  const end = input.length;
  const out = new ByteOutput();
  let ok = true;
  if (end === 0) return '/';
  if (!isSlash(input[0])) out.push(0x2f);
  let lastInvalidPercent = Number.MIN_SAFE_INTEGER;
  for (let i = 0; i < end; i++) {
    const b = input[i] as number;
    const dot = dotLength(input, i, end);
    if (dot > 0) {
      if (out.length > 0 && out.at(out.length - 1) === 0x2f) {
        // A segment that starts with a dot: ".", "..", or a file name.
        const after = i + dot;
        let consumed = 0;
        let disposition: 'name' | 'current' | 'up' = 'name';
        if (after === end) {
          disposition = 'current';
        } else if (isSlash(input[after])) {
          disposition = 'current';
          consumed = 1;
        } else {
          const second = dotLength(input, after, end);
          if (second > 0) {
            const afterSecond = after + second;
            if (afterSecond === end) {
              disposition = 'up';
              consumed = second;
            } else if (isSlash(input[afterSecond])) {
              disposition = 'up';
              consumed = second + 1;
            }
          }
        }
        if (disposition === 'name') {
          out.push(0x2e);
          i += dot - 1;
        } else if (disposition === 'current') {
          i += dot + consumed - 1;
        } else {
          backUpToPreviousSlash(out);
          i += dot + consumed - 1;
        }
      } else {
        out.push(0x2e);
        i += dot - 1;
      }
      continue;
    }
    if (b === 0x5c) {
      out.push(0x2f);
      continue;
    }
    if (b === 0x25) {
      const decoded = decodeEscapeAt(input, i, end);
      if (decoded >= 0) {
        const cls = CHAR_CLASS[decoded] as number;
        if (cls === UNESCAPE) {
          out.push(decoded);
          i += 2;
          if (lastInvalidPercent >= out.length - 3) {
            checkNestedEscapes(input, i + 1, end, lastInvalidPercent, out);
          }
        } else {
          // Kept exactly as written (hex case included); NUL makes the path invalid.
          out.push(0x25);
          out.push(input[i + 1] as number);
          out.push(input[i + 2] as number);
          i += 2;
          if (cls === INVALID) ok = false;
        }
      } else {
        lastInvalidPercent = out.length;
        out.push(0x25);
      }
      continue;
    }
    const cls = CHAR_CLASS[b] as number;
    if (cls === INVALID) {
      pushEscaped(out, b);
      ok = false;
    } else if (cls === ESCAPE) {
      pushEscaped(out, b);
    } else {
      out.push(b);
    }
  }
  if (!ok) return undefined;
  // Every byte is ASCII now (everything else was escaped); convert in chunks to bound the argument count.
  let text = '';
  for (let start = 0; start < out.bytes.length; start += 8192) {
    text += String.fromCharCode(...out.bytes.slice(start, start + 8192));
  }
  return text;
}

// The common case needs no rewriting: starts with '/', only characters that pass through unchanged, and no
// segment starting with a dot.
function isAlreadyCanonical(path: string): boolean {
  if (path.charCodeAt(0) !== 0x2f) return false;
  let previous = 0;
  for (let i = 0; i < path.length; i++) {
    const c = path.charCodeAt(i);
    if (c >= 0x80 || c === 0x25 || c === 0x5c) return false;
    if (c === 0x2e) {
      if (previous === 0x2f) return false;
    } else {
      const cls = CHAR_CLASS[c] as number;
      if (cls === ESCAPE || cls === INVALID) return false;
    }
    previous = c;
  }
  return true;
}

/**
 * Envoy `stripParametersFromDotSegments` (runtime `strip_dotdot_segments_with_parameters`, on by default):
 * a `.` or `..` segment followed by `;parameters` is a dot segment, so `/a/..;x/b` cannot dodge
 * normalization.
 *
 * @param path - A path without query.
 * @returns The path with parameters removed from dot segments only.
 * @example
 * ```ts
 * stripDotSegmentParameters('/xyz/..;foo=bar/abc'); // '/xyz/../abc'
 * ```
 */
export function stripDotSegmentParameters(path: string): string {
  if (!path.includes(';')) return path;
  return path.replace(/(^|\/)(\.\.?);[^/]*/g, '$1$2');
}

/**
 * Envoy `merge_slashes`: runs of `/` collapse into one.
 *
 * @param path - A path without query.
 * @returns The path with merged slashes.
 * @example
 * ```ts
 * mergeSlashes('//a///b/'); // '/a/b/'
 * ```
 */
export function mergeSlashes(path: string): string {
  return path.replace(/\/{2,}/g, '/');
}

/**
 * Envoy `UNESCAPE_AND_FORWARD`: `%2F`/`%2f` become `/` and `%5C`/`%5c` become `\` (then normalization turns
 * the backslash into `/`).
 *
 * @param path - A path without query.
 * @returns The path with escaped slashes decoded.
 * @example
 * ```ts
 * unescapeSlashes('/a%2Fb%5cc'); // '/a/b\\c'
 * ```
 */
export function unescapeSlashes(path: string): string {
  return path.replace(/%2[fF]|%5[cC]/g, (m) => (m[1] === '2' ? '/' : '\\'));
}

/**
 * Envoy `PathUtil::removeQueryAndFragment`: what RBAC `url_path` and `uri_template` compare.
 *
 * @param path - A `:path` value.
 * @returns The part before the first `?` or `#`.
 * @example
 * ```ts
 * stripQueryAndFragment('/allow?param=value'); // '/allow'
 * ```
 */
export function stripQueryAndFragment(path: string): string {
  let end = path.length;
  const q = path.indexOf('?');
  if (q !== -1) end = q;
  const h = path.indexOf('#');
  if (h !== -1 && h < end) end = h;
  return end === path.length ? path : path.slice(0, end);
}

/** Paths longer than this are refused before normalization (Envoy's default `max_request_headers_kb` is 60). */
export const MAX_PATH_BYTES: number = 60 * 1024;

/**
 * Applies MeshConfig path normalization to a raw `:path` (with query) the way the proxy would.
 *
 * @param rawPath - The request target as received, e.g. `/a/../b?x=1`.
 * @param mode - MeshConfig `pathNormalization`.
 * @returns The normalized `:path`, the `url_path` RBAC compares, or why the proxy answers 400.
 * @example
 * ```ts
 * normalizeRequestPath('/public/%2E%2E/private?x=1', 'BASE');
 * // { ok: true, path: '/private?x=1', urlPath: '/private' }
 * ```
 */
export function normalizeRequestPath(rawPath: string, mode: PathNormalization): NormalizedPath {
  // Requests repeat the same few paths: remember recent results (bounded).
  const key = `${mode}\u0000${rawPath}`;
  const cached = NORMALIZED.get(key);
  if (cached !== undefined) return cached;
  const result = normalizeUncached(rawPath, mode);
  if (NORMALIZED.size >= NORMALIZED_MAX) NORMALIZED.clear();
  if (rawPath.length <= 2048) NORMALIZED.set(key, result);
  return result;
}

const NORMALIZED = new Map<string, NormalizedPath>();
const NORMALIZED_MAX = 4096;

function normalizeUncached(rawPath: string, mode: PathNormalization): NormalizedPath {
  if (rawPath.length > MAX_PATH_BYTES) return { ok: false, reason: 'path exceeds the header size limit' };
  // The fragment never reaches the proxy's path matching; the query is carried along untouched.
  const hash = rawPath.indexOf('#');
  const withoutFragment = hash === -1 ? rawPath : rawPath.slice(0, hash);
  const q = withoutFragment.indexOf('?');
  let pathPart = q === -1 ? withoutFragment : withoutFragment.slice(0, q);
  const query = q === -1 ? '' : withoutFragment.slice(q);
  if (mode === 'NONE') {
    return { ok: true, path: withoutFragment, urlPath: pathPart };
  }
  if (mode === 'DECODE_AND_MERGE_SLASHES') pathPart = unescapeSlashes(pathPart);
  const canonical = canonicalizePath(stripDotSegmentParameters(pathPart));
  if (canonical === undefined) {
    return { ok: false, reason: 'path contains a NUL byte (Envoy answers 400 Bad Request)' };
  }
  const merged = mode === 'BASE' ? canonical : mergeSlashes(canonical);
  return { ok: true, path: merged + query, urlPath: merged };
}
