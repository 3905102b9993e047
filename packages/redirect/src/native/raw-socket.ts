/**
 * Thin, throwing wrappers over the socket syscalls the helpers need, turning `-1`/errno into
 * `REDIRECT_ERR_SOCKET` errors that say what was attempted.
 */
import { formatSocketAddress } from '@ambient-kit/ip';
import { RedirectError } from '../codec/errors.js';
import { encodeSockaddr, SOCKADDR } from '../codec/sockaddr.js';
import { type NetnsHandle, runInNetns } from '../netns.js';
import { LINUX, libc } from './libc.js';

/**
 * Creates a non-blocking, close-on-exec socket, inside `netns` when given. Only the `socket(2)` call
 * runs inside the namespace: a socket belongs to the namespace it was created in for its whole life.
 *
 * @param domain - `AF_INET`, `AF_INET6` or `AF_UNIX` (see `ipDomain`).
 * @param type - `SOCK_STREAM` or `SOCK_SEQPACKET`.
 * @param netns - Namespace to create it in; default the caller's.
 * @returns The descriptor.
 * @throws {RedirectError} `REDIRECT_ERR_SOCKET`, or the netns errors of `runInNetns`.
 * @example
 * ```ts
 * const fd = openSocket(ipDomain(6), LINUX.SOCK_STREAM, podNetns);
 * ```
 */
export function openSocket(domain: number, type: number, netns: NetnsHandle | undefined): number {
  const c = libc();
  const flags = type | LINUX.SOCK_NONBLOCK | LINUX.SOCK_CLOEXEC;
  const create = (): number => c.socket(domain, flags, 0);
  const fd = netns === undefined ? create() : runInNetns(netns, create);
  if (fd < 0) {
    const where = netns === undefined ? '' : ` in ${netns.path}`;
    throw new RedirectError('REDIRECT_ERR_SOCKET', `socket(${domain}, ${type})${where}: ${c.errnoName()}`);
  }
  return fd;
}

/**
 * The address family number for an IP family.
 * @example
 * ```ts
 * ipDomain(6); // 10 (AF_INET6)
 * ```
 */
export function ipDomain(family: 4 | 6): number {
  return family === 4 ? SOCKADDR.afInet : SOCKADDR.afInet6;
}

/**
 * Sets an `int` socket option or throws.
 *
 * @param fd - Socket.
 * @param level - `SOL_*`.
 * @param name - Option number.
 * @param value - Value.
 * @param label - For the message, e.g. `SO_MARK`.
 * @example
 * ```ts
 * setIntOption(fd, LINUX.SOL_SOCKET, LINUX.SO_MARK, 0x539, 'SO_MARK');
 * ```
 */
export function setIntOption(fd: number, level: number, name: number, value: number, label: string): void {
  const c = libc();
  if (c.setsockoptInt(fd, level, name, value) !== 0) {
    const code = c.errnoName();
    const hint = code === 'EPERM' ? ' (needs CAP_NET_ADMIN)' : '';
    throw new RedirectError('REDIRECT_ERR_SOCKET', `setsockopt(${label}=${value}): ${code}${hint}`);
  }
}

/**
 * Binds to an IP literal and port or throws.
 *
 * @param fd - Socket.
 * @param address - IP literal.
 * @param port - Port (0: ephemeral).
 * @example
 * ```ts
 * bindAddress(fd, '::', 15001);
 * ```
 */
export function bindAddress(fd: number, address: string, port: number): void {
  const c = libc();
  const sa = encodeSockaddr(address, port);
  if (c.bind(fd, sa, sa.length) !== 0) {
    throw new RedirectError(
      'REDIRECT_ERR_SOCKET',
      `bind ${formatSocketAddress(address, port)}: ${c.errnoName()}`,
    );
  }
}

/**
 * Closes a descriptor, ignoring errors (cleanup paths).
 * @example
 * ```ts
 * closeQuietly(fd);
 * ```
 */
export function closeQuietly(fd: number): void {
  libc().close(fd);
}
