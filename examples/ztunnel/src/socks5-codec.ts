/**
 * The subset of SOCKS5 (RFC 1928) ztunnel speaks on 15080 (`istio/ztunnel@62d82653:src/proxy/socks5.rs`): no authentication,
 * `CONNECT` only, IPv4, IPv6 and domain-name targets. Pure and incremental: each parser takes the bytes
 * received so far and says "incomplete", "done" (with how many bytes it used) or "error" (with the reply
 * code to send). Messages are bounded by the protocol (a greeting is at most 257 bytes, a request 262), so
 * nothing is buffered past that.
 * @module
 */
import { formatSocketAddress, ipFromBytes, ipToBytes } from '@ambient-kit/workload-api/codec';

/**
 * RFC 1928 §6 reply codes (ztunnel `SocksError` → `send_response`).
 *
 * @example
 * ```ts
 * socket.write(encodeSocks5Reply(SOCKS5_REPLY.notAllowed));
 * ```
 */
export const SOCKS5_REPLY = {
  succeeded: 0x00,
  generalFailure: 0x01,
  notAllowed: 0x02,
  networkUnreachable: 0x03,
  hostUnreachable: 0x04,
  connectionRefused: 0x05,
  ttlExpired: 0x06,
  commandNotSupported: 0x07,
  addressTypeNotSupported: 0x08,
} as const;

/** One of {@link SOCKS5_REPLY}. */
export type Socks5ReplyCode = (typeof SOCKS5_REPLY)[keyof typeof SOCKS5_REPLY];

/**
 * Longest greeting: version, method count, 255 methods.
 *
 * @example
 * ```ts
 * await readSocks5Message(socket, parseSocks5Greeting, { maxBytes: MAX_SOCKS5_GREETING_BYTES, timeoutMs: 10_000 });
 * ```
 */
export const MAX_SOCKS5_GREETING_BYTES = 257;
/**
 * Longest request: version, command, reserved, type, length, 255-byte domain, port.
 *
 * @example
 * ```ts
 * await readSocks5Message(socket, parseSocks5Request, { maxBytes: MAX_SOCKS5_REQUEST_BYTES, timeoutMs: 10_000 });
 * ```
 */
export const MAX_SOCKS5_REQUEST_BYTES = 262;

/** Where the client wants to go. */
export type Socks5Target =
  | { readonly kind: 'ip'; readonly ip: string; readonly port: number }
  | { readonly kind: 'domain'; readonly domain: string; readonly port: number };

/** The state of an incremental parse. */
export type Socks5Parse<T> =
  | { readonly status: 'incomplete' }
  | { readonly status: 'done'; readonly value: T; readonly bytes: number }
  | { readonly status: 'error'; readonly reply: Socks5ReplyCode; readonly message: string };

const INCOMPLETE = { status: 'incomplete' } as const;

// ztunnel answers every protocol violation with "command not supported" (`SocksError::invalid_protocol`).
const invalid = (message: string): Socks5Parse<never> => ({
  status: 'error',
  reply: SOCKS5_REPLY.commandNotSupported,
  message,
});

/**
 * Parses the client greeting: `VER=5, NMETHODS, METHODS...`. The client must offer "no authentication" (0).
 *
 * @param buf - The bytes received so far.
 * @returns The offered methods once complete.
 * @example
 * ```ts
 * parseSocks5Greeting(Uint8Array.of(5, 1, 0)); // { status: 'done', value: { methods: [0] }, bytes: 3 }
 * ```
 */
export function parseSocks5Greeting(buf: Uint8Array): Socks5Parse<{ readonly methods: readonly number[] }> {
  if (buf.length < 2) return INCOMPLETE;
  if (buf[0] !== 5) return invalid(`unsupported version ${buf[0]}`);
  const count = buf[1] as number;
  if (count === 0) return invalid('methods cannot be zero');
  if (buf.length < 2 + count) return INCOMPLETE;
  const methods = [...buf.subarray(2, 2 + count)];
  if (!methods.includes(0)) return invalid('only unauthenticated is supported');
  return { status: 'done', value: { methods }, bytes: 2 + count };
}

/**
 * Parses a request: `VER=5, CMD=1 (CONNECT), RSV, ATYP, DST.ADDR, DST.PORT`.
 *
 * @param buf - The bytes received after the greeting.
 * @returns The target once complete; a domain must be UTF-8 and non-empty.
 * @example
 * ```ts
 * parseSocks5Request(Uint8Array.of(5, 1, 0, 1, 10, 96, 0, 10, 0, 80)); // done: { kind: 'ip', ip: '10.96.0.10', port: 80 }
 * ```
 */
export function parseSocks5Request(buf: Uint8Array): Socks5Parse<Socks5Target> {
  if (buf.length < 2) return INCOMPLETE;
  if (buf[0] !== 5) return invalid(`unsupported version ${buf[0]}`);
  if (buf[1] !== 1) return invalid(`unsupported command ${buf[1]}`);
  if (buf.length < 4) return INCOMPLETE;
  const type = buf[3];
  let end: number;
  let host: { kind: 'ip'; ip: string } | { kind: 'domain'; domain: string };
  if (type === 0x01 || type === 0x04) {
    const size = type === 0x01 ? 4 : 16;
    end = 4 + size;
    if (buf.length < end + 2) return INCOMPLETE;
    host = { kind: 'ip', ip: ipFromBytes(buf.subarray(4, end)) as string };
  } else if (type === 0x03) {
    if (buf.length < 5) return INCOMPLETE;
    const length = buf[4] as number;
    end = 5 + length;
    if (buf.length < end + 2) return INCOMPLETE;
    let domain: string;
    try {
      domain = new TextDecoder('utf-8', { fatal: true }).decode(buf.subarray(5, end));
    } catch {
      return invalid('domain is not a valid utf8 string');
    }
    if (domain === '') return invalid('empty domain');
    host = { kind: 'domain', domain };
  } else {
    return invalid(`unsupported address type ${type}`);
  }
  const port = ((buf[end] as number) << 8) | (buf[end + 1] as number);
  return { status: 'done', value: { ...host, port }, bytes: end + 2 };
}

/**
 * Encodes a reply. ztunnel sends `0.0.0.0:0` as the bound address ("the client generally ignores it").
 *
 * @param code - The reply code.
 * @param bound - The bound address, `ip:port` parts; default `0.0.0.0:0`.
 * @returns The reply bytes (10 for IPv4, 22 for IPv6).
 * @example
 * ```ts
 * encodeSocks5Reply(SOCKS5_REPLY.notAllowed); // 05 02 00 01 00 00 00 00 00 00
 * ```
 */
export function encodeSocks5Reply(
  code: Socks5ReplyCode,
  bound: { readonly ip: string; readonly port: number } = { ip: '0.0.0.0', port: 0 },
): Uint8Array {
  const ip = ipToBytes(bound.ip) ?? new Uint8Array(4);
  const out = new Uint8Array(4 + ip.length + 2);
  out.set([5, code, 0, ip.length === 4 ? 0x01 : 0x04]);
  out.set(ip, 4);
  out[4 + ip.length] = bound.port >> 8;
  out[5 + ip.length] = bound.port & 0xff;
  return out;
}

/**
 * Encodes a client greeting (for clients and tests).
 *
 * @param methods - Offered methods; default `[0]` (no authentication).
 * @returns The bytes.
 * @example
 * ```ts
 * socket.write(encodeSocks5Greeting());
 * ```
 */
export function encodeSocks5Greeting(methods: readonly number[] = [0]): Uint8Array {
  if (methods.length === 0 || methods.length > 255) throw new RangeError('methods: 1 to 255 entries');
  return Uint8Array.of(5, methods.length, ...methods);
}

/**
 * Encodes a `CONNECT` request (for clients and tests).
 *
 * @param target - An IP literal or a domain (at most 255 bytes of UTF-8) and a port.
 * @returns The bytes.
 * @throws {RangeError} When the domain is empty or too long, or the port is out of range.
 * @example
 * ```ts
 * socket.write(encodeSocks5Request({ kind: 'domain', domain: 'echo.default.svc.cluster.local', port: 80 }));
 * ```
 */
export function encodeSocks5Request(target: Socks5Target): Uint8Array {
  if (!Number.isInteger(target.port) || target.port < 0 || target.port > 65535) {
    throw new RangeError(`port must be in 0..65535, got ${target.port}`);
  }
  let addr: Uint8Array;
  if (target.kind === 'ip') {
    const bytes = ipToBytes(target.ip);
    if (bytes === undefined) throw new RangeError(`not an IP address: ${target.ip}`);
    addr = Uint8Array.of(bytes.length === 4 ? 0x01 : 0x04, ...bytes);
  } else {
    const name = new TextEncoder().encode(target.domain);
    if (name.length === 0 || name.length > 255) throw new RangeError('domain must be 1 to 255 bytes');
    addr = Uint8Array.of(0x03, name.length, ...name);
  }
  return Uint8Array.of(5, 1, 0, ...addr, target.port >> 8, target.port & 0xff);
}

/**
 * Parses a server reply (for clients and tests).
 *
 * @param buf - The bytes received after the method selection.
 * @returns The reply code and bound address once complete.
 * @example
 * ```ts
 * parseSocks5Reply(encodeSocks5Reply(0)); // done: { code: 0, bound: '0.0.0.0:0' }
 * ```
 */
export function parseSocks5Reply(
  buf: Uint8Array,
): Socks5Parse<{ readonly code: number; readonly bound: string }> {
  if (buf.length < 4) return INCOMPLETE;
  if (buf[0] !== 5) return invalid(`unsupported version ${buf[0]}`);
  const type = buf[3];
  const size = type === 0x01 ? 4 : type === 0x04 ? 16 : undefined;
  if (size === undefined) return invalid(`unsupported bound address type ${type}`);
  if (buf.length < 4 + size + 2) return INCOMPLETE;
  const ip = ipFromBytes(buf.subarray(4, 4 + size)) as string;
  const port = ((buf[4 + size] as number) << 8) | (buf[5 + size] as number);
  return {
    status: 'done',
    value: { code: buf[1] as number, bound: formatSocketAddress(ip, port) },
    bytes: 6 + size,
  };
}
