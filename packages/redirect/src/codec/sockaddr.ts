/**
 * Linux `struct sockaddr_in`, `sockaddr_in6` and `sockaddr_un` as bytes, so the runtime can hand them to
 * `bind`/`connect` and read what `getsockopt(SO_ORIGINAL_DST)` returns (linux/in.h, linux/in6.h,
 * linux/un.h). `sa_family` and `sin6_scope_id` are host order; ports, addresses and the flow label are
 * network order.
 */
import { err, ok, type Result } from 'neverthrow';
import { RedirectError } from './errors.js';
import { formatIpAddress, type IpAddress, parseIpAddress } from './ip-address.js';

/**
 * Linux address-family numbers and structure sizes (linux/socket.h, linux/in.h, linux/in6.h, linux/un.h).
 *
 * @example
 * ```ts
 * libc.socket(SOCKADDR.afInet6, SOCK_STREAM, 0);
 * ```
 */
export const SOCKADDR = {
  afUnix: 1,
  afInet: 2,
  afInet6: 10,
  /** `sizeof(struct sockaddr_in)`. */
  inBytes: 16,
  /** `sizeof(struct sockaddr_in6)`. */
  in6Bytes: 28,
  /** `sizeof(sun_path)`: a unix socket path and its terminating NUL must fit. */
  unixPathMaxBytes: 108,
} as const;

const {
  afUnix: AF_UNIX,
  afInet: AF_INET,
  afInet6: AF_INET6,
  unixPathMaxBytes: UNIX_PATH_MAX_BYTES,
} = SOCKADDR;

// `sa_family` is a host-order u16; probe the platform once instead of assuming little endian.
const HOST_LITTLE_ENDIAN = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1;

// Where each IP family keeps what (linux/in.h, linux/in6.h); the port is at offset 2 in both.
const INET_LAYOUT = {
  4: {
    af: AF_INET,
    struct: 'sockaddr_in',
    family: 'IPv4',
    bytes: SOCKADDR.inBytes,
    addressAt: 4,
    addressEnd: 8,
  },
  6: {
    af: AF_INET6,
    struct: 'sockaddr_in6',
    family: 'IPv6',
    bytes: SOCKADDR.in6Bytes,
    addressAt: 8,
    addressEnd: 24,
  },
} as const;

/**
 * A decoded IP socket address.
 *
 * @example
 * ```ts
 * const dst: SocketAddress = { family: 'IPv4', address: '10.0.0.7', port: 8080 };
 * ```
 */
export interface SocketAddress {
  /** `IPv4` or `IPv6`, as Node's `net` module names them. */
  readonly family: 'IPv4' | 'IPv6';
  /** Canonical text (`::ffff:a.b.c.d` for IPv4-mapped IPv6). */
  readonly address: string;
  /** 0-65535. */
  readonly port: number;
}

/**
 * Encodes an IP address and port as a `sockaddr_in` (IPv4) or `sockaddr_in6` (IPv6).
 *
 * @param address - An IPv4 or IPv6 literal (no hostnames: the encoding is synchronous).
 * @param port - 0-65535 (0: let the kernel choose, for `bind`).
 * @returns The structure's bytes.
 * @throws {RangeError} When `address` is not an IP literal or `port` is out of range.
 * @example
 * ```ts
 * const sa = encodeSockaddr('127.0.0.1', 15001); // 16 bytes
 * ```
 */
export function encodeSockaddr(address: string, port: number): Uint8Array {
  const parsed = parseIpAddress(address);
  if (parsed === undefined) throw new RangeError(`address: ${JSON.stringify(address)} is not an IP literal`);
  if (!Number.isInteger(port) || port < 0 || port > 65535) {
    throw new RangeError(`port: expected an integer in [0, 65535], got ${String(port)}`);
  }
  const layout = INET_LAYOUT[parsed.family];
  const out = new Uint8Array(layout.bytes);
  const view = new DataView(out.buffer);
  view.setUint16(0, layout.af, HOST_LITTLE_ENDIAN);
  view.setUint16(2, port, false);
  out.set(parsed.bytes, layout.addressAt);
  return out;
}

/**
 * Encodes a filesystem path as a `sockaddr_un`.
 *
 * @param path - The socket path; its UTF-8 bytes plus a NUL must fit in 108 bytes.
 * @returns The structure's bytes, trimmed to `2 + path bytes + 1` (what `bind`/`connect` expect).
 * @throws {RangeError} When the path is empty, too long, or contains a NUL.
 * @example
 * ```ts
 * encodeUnixSockaddr('/var/run/ztunnel/ztunnel.sock');
 * ```
 */
export function encodeUnixSockaddr(path: string): Uint8Array {
  const bytes = new TextEncoder().encode(path);
  if (bytes.length === 0 || bytes.length >= UNIX_PATH_MAX_BYTES || bytes.includes(0)) {
    throw new RangeError(
      `path: a unix socket path needs 1-${UNIX_PATH_MAX_BYTES - 1} bytes without NUL, got ${bytes.length}`,
    );
  }
  const out = new Uint8Array(2 + bytes.length + 1);
  new DataView(out.buffer).setUint16(0, AF_UNIX, HOST_LITTLE_ENDIAN);
  out.set(bytes, 2);
  return out;
}

/**
 * Decodes a `sockaddr_in`/`sockaddr_in6` (as returned by `getsockopt(SO_ORIGINAL_DST)`, `getsockname`).
 *
 * @param bytes - The structure; only the length the kernel reported.
 * @returns The address, or `REDIRECT_ERR_BAD_SOCKADDR` for an unknown family or a short buffer.
 * @example
 * ```ts
 * decodeSockaddr(encodeSockaddr('10.0.0.1', 80))._unsafeUnwrap(); // { family: 'IPv4', address: '10.0.0.1', port: 80 }
 * ```
 */
export function decodeSockaddr(bytes: Uint8Array): Result<SocketAddress, RedirectError> {
  if (bytes.length < 2) {
    return err(
      new RedirectError('REDIRECT_ERR_BAD_SOCKADDR', `sockaddr of ${bytes.length} bytes has no family`),
    );
  }
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const af = view.getUint16(0, HOST_LITTLE_ENDIAN);
  const ipFamily: IpAddress['family'] | undefined = af === AF_INET ? 4 : af === AF_INET6 ? 6 : undefined;
  if (ipFamily === undefined) {
    return err(new RedirectError('REDIRECT_ERR_BAD_SOCKADDR', `unsupported address family ${af}`));
  }
  const layout = INET_LAYOUT[ipFamily];
  const { addressAt, addressEnd } = layout;
  if (bytes.length < addressEnd) {
    return err(
      new RedirectError(
        'REDIRECT_ERR_BAD_SOCKADDR',
        `${layout.struct} needs ${addressEnd} bytes, got ${bytes.length}`,
      ),
    );
  }
  return ok({
    family: layout.family,
    address: formatIpAddress({ family: ipFamily, bytes: bytes.subarray(addressAt, addressEnd) }),
    port: view.getUint16(2, false),
  });
}
