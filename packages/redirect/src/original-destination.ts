/**
 * Where a redirected connection was going before the pod's `REDIRECT` rule sent it to the proxy.
 *
 * ztunnel (istio/ztunnel@62d82653:src/socket.rs:52-80) asks conntrack with `getsockopt(SOL_IP,
 * SO_ORIGINAL_DST)`, then `getsockopt(SOL_IPV6, IP6T_SO_ORIGINAL_DST)`, and falls back to the socket's local
 * address (a connection that was not NATed, e.g. straight to 15008, or conntrack not loaded). IPv4-mapped
 * addresses come back as IPv4, as ztunnel's `to_canonical`.
 */
import type net from 'node:net';
import { unmappedIpText } from '@ambient-kit/ip';
import { RedirectError } from './codec/errors.js';
import { canonicalIpAddress } from './codec/ip-address.js';
import { decodeSockaddr, type SocketAddress } from './codec/sockaddr.js';
import { LINUX, libc } from './native/libc.js';

/**
 * The original destination and how it was learnt.
 *
 * @example
 * ```ts
 * const dst: OriginalDestination = { family: 'IPv4', address: '10.0.0.7', port: 80, source: 'SO_ORIGINAL_DST' };
 * ```
 */
export interface OriginalDestination extends SocketAddress {
  /** `SO_ORIGINAL_DST` / `IP6T_SO_ORIGINAL_DST` (conntrack answered) or `local-address` (fallback). */
  readonly source: 'SO_ORIGINAL_DST' | 'IP6T_SO_ORIGINAL_DST' | 'local-address';
}

/**
 * Node keeps a TCP socket's descriptor on its libuv handle (`socket._handle.fd`, Unix only); there is no
 * public accessor.
 *
 * @param socket - A connected socket.
 * @returns The descriptor.
 * @throws {RedirectError} `REDIRECT_ERR_SOCKET` when the socket has no descriptor (destroyed, or not TCP).
 * @example
 * ```ts
 * const fd = socketFd(socket);
 * ```
 */
export function socketFd(socket: net.Socket): number {
  const fd = (socket as unknown as { _handle?: { fd?: unknown } | null })._handle?.fd;
  if (typeof fd !== 'number' || fd < 0) {
    throw new RedirectError(
      'REDIRECT_ERR_SOCKET',
      'socket has no file descriptor (destroyed, or not a TCP socket)',
    );
  }
  return fd;
}

function mappedToV4(address: SocketAddress): SocketAddress {
  const v4 = unmappedIpText(address.address);
  return v4 === address.address ? address : { family: 'IPv4', address: v4, port: address.port };
}

/**
 * Reads a redirected connection's original destination.
 *
 * @param socket - An accepted socket (e.g. from a `listenInNetns` server on 15001 or 15006).
 * @returns The destination the peer dialled, or the local address when the connection was not NATed.
 * @throws {RedirectError} `REDIRECT_ERR_SOCKET` when the socket has no descriptor or no local address.
 * @example
 * ```ts
 * server.on('connection', (socket) => {
 *   const { address, port } = originalDestination(socket); // where the app was connecting to
 * });
 * ```
 */
export function originalDestination(socket: net.Socket): OriginalDestination {
  const fd = socketFd(socket);
  const c = libc();
  const attempts = [
    [LINUX.SOL_IP, LINUX.SO_ORIGINAL_DST, 'SO_ORIGINAL_DST'],
    [LINUX.SOL_IPV6, LINUX.IP6T_SO_ORIGINAL_DST, 'IP6T_SO_ORIGINAL_DST'],
  ] as const;
  for (const [level, name, source] of attempts) {
    const bytes = c.getsockoptBytes(fd, level, name, 128);
    if (bytes === undefined) continue;
    const decoded = decodeSockaddr(bytes);
    if (decoded.isOk()) return { ...mappedToV4(decoded.value), source };
  }
  const { localAddress, localPort } = socket;
  if (localAddress === undefined || localPort === undefined) {
    throw new RedirectError(
      'REDIRECT_ERR_SOCKET',
      'socket has neither an original destination nor a local address',
    );
  }
  const address = canonicalIpAddress(localAddress) ?? localAddress;
  const family = address.includes(':') ? 'IPv6' : 'IPv4';
  return { ...mappedToV4({ family, address, port: localPort }), source: 'local-address' };
}
