/**
 * What a tunnel's first bytes say about its protocol, as Envoy decides at a waypoint:
 *
 * - on an HTTP port the HTTP connection manager's `AUTO` codec picks HTTP/2 when the bytes are the
 *   client connection preface (`PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n`, RFC 9113 §3.4: HTTP/2 with prior
 *   knowledge, h2c) and HTTP/1.1 otherwise (envoyproxy/envoy@35db8c47:source/common/http/conn_manager_utility.cc
 *   `determineNextProtocol`; Envoy decides on the bytes it has, this waits while they are a prefix of the
 *   preface);
 * - on a port of unknown protocol the HTTP inspector decides first: the preface is HTTP/2, a request line
 *   `<method> <target> HTTP/1.x` is HTTP/1, anything else TCP
 *   (envoyproxy/envoy@8bf03f12:source/extensions/filters/listener/http_inspector/http_inspector.cc).
 *
 * Pure: bytes in, a verdict out; `more` asks for more bytes. Nothing is buffered here beyond what the caller
 * holds, and {@link MAX_SNIFF_BYTES} bounds what it needs to hold.
 * @module
 */

const PREFACE = 'PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n';

/**
 * The HTTP/2 client connection preface (RFC 9113 §3.4), as bytes.
 *
 * @example
 * ```ts
 * H2_PREFACE.length; // 24
 * ```
 */
export const H2_PREFACE: Uint8Array = Uint8Array.from(PREFACE, (c) => c.charCodeAt(0));

/**
 * The most bytes the detection reads before it decides: the HTTP inspector's buffer (64 KiB in Envoy; a
 * request line longer than this is not treated as HTTP).
 *
 * @example
 * ```ts
 * sniffProtocol(new Uint8Array(MAX_SNIFF_BYTES).fill(0x41), 'sniff'); // 'tcp'
 * ```
 */
export const MAX_SNIFF_BYTES: number = 64 * 1024;

/** The verdict on the first bytes of a tunnel. */
export type SniffResult = 'h2' | 'http1' | 'tcp' | 'more';

// RFC 9110 §5.6.2 tchar.
function isTchar(c: number): boolean {
  return (
    (c >= 0x30 && c <= 0x39) ||
    (c >= 0x41 && c <= 0x5a) ||
    (c >= 0x61 && c <= 0x7a) ||
    c === 0x21 ||
    (c >= 0x23 && c <= 0x27) ||
    c === 0x2a ||
    c === 0x2b ||
    c === 0x2d ||
    c === 0x2e ||
    c === 0x5e ||
    c === 0x5f ||
    c === 0x60 ||
    c === 0x7c ||
    c === 0x7e
  );
}

/** How far `bytes` agrees with the preface: `full`, `prefix` (so far so good) or `no`. */
function prefaceMatch(bytes: Uint8Array): 'full' | 'prefix' | 'no' {
  const n = Math.min(bytes.length, H2_PREFACE.length);
  for (let i = 0; i < n; i++) if (bytes[i] !== H2_PREFACE[i]) return 'no';
  return bytes.length >= H2_PREFACE.length ? 'full' : 'prefix';
}

const HTTP1_VERSION = [0x48, 0x54, 0x54, 0x50, 0x2f, 0x31, 0x2e]; // "HTTP/1."

/** The HTTP inspector's HTTP/1 check: `method SP target SP HTTP/1.x` up to the first CRLF. */
function http1RequestLine(bytes: Uint8Array): 'http1' | 'tcp' | 'more' {
  let i = 0;
  // method: one or more tchars
  while (i < bytes.length && isTchar(bytes[i] as number)) i++;
  if (i === bytes.length) return bytes.length >= MAX_SNIFF_BYTES ? 'tcp' : 'more';
  if (i === 0 || bytes[i] !== 0x20) return 'tcp';
  i++;
  const targetStart = i;
  // request target: visible ASCII
  while (i < bytes.length && (bytes[i] as number) > 0x20 && (bytes[i] as number) < 0x7f) i++;
  if (i === bytes.length) return bytes.length >= MAX_SNIFF_BYTES ? 'tcp' : 'more';
  if (i === targetStart || bytes[i] !== 0x20) return 'tcp';
  i++;
  for (const c of HTTP1_VERSION) {
    if (i === bytes.length) return 'more';
    if (bytes[i] !== c) return 'tcp';
    i++;
  }
  if (i === bytes.length) return 'more';
  const minor = bytes[i] as number;
  if (minor !== 0x30 && minor !== 0x31) return 'tcp';
  i++;
  if (i === bytes.length) return 'more';
  if (bytes[i] !== 0x0d) return 'tcp';
  i++;
  if (i === bytes.length) return 'more';
  return bytes[i] === 0x0a ? 'http1' : 'tcp';
}

/**
 * Decides a tunnel's protocol from its first bytes.
 *
 * @param bytes - Everything received so far (at most {@link MAX_SNIFF_BYTES} is looked at).
 * @param mode - `http`: an HTTP port (HTTP/2 on the preface, else HTTP/1.1); `sniff`: a port of unknown
 *   protocol (HTTP/2, HTTP/1 or TCP).
 * @returns The verdict, or `more` when the bytes so far cannot tell.
 * @example
 * ```ts
 * sniffProtocol(new TextEncoder().encode('GET / HTTP/1.1\r\n'), 'sniff'); // 'http1'
 * sniffProtocol(H2_PREFACE, 'http'); // 'h2'
 * sniffProtocol(new TextEncoder().encode('\x16\x03\x01'), 'sniff'); // 'tcp'
 * ```
 */
export function sniffProtocol(bytes: Uint8Array, mode: 'http' | 'sniff'): SniffResult {
  const view = bytes.length > MAX_SNIFF_BYTES ? bytes.subarray(0, MAX_SNIFF_BYTES) : bytes;
  const preface = prefaceMatch(view);
  if (preface === 'full') return 'h2';
  if (preface === 'prefix') return 'more';
  if (mode === 'http') return 'http1';
  return http1RequestLine(view);
}
