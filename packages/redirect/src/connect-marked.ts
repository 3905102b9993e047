/**
 * Upstream connections the way ztunnel makes them from inside a pod (istio/ztunnel@62d82653:src/socket.rs;
 * rule numbers are those of docs/redirect.md, "What the rules do"):
 *
 * - `SO_MARK` 0x539 on the socket before `connect`, so the pod's rules let it out instead of redirecting
 *   it back to 15001 (rule 19), and so the connection gets connmark 0x111 (rule 8);
 * - when preserving the client's address (inbound, ztunnel `freebind_connect`, src/socket.rs:29-44,
 *   120-135): `IP_TRANSPARENT` + `IP_FREEBIND` (v6: `IPV6_TRANSPARENT` + `IPV6_FREEBIND`) and `bind` to
 *   the original source with port 0 before `connect`. The app's replies then carry the restored 0x111 mark
 *   and the `fwmark → table 100 → local … dev lo` route delivers them to this socket.
 *
 * Node creates its socket only inside `connect()`, too late for options that must precede `bind` and the
 * SYN, so we create and connect the descriptor ourselves (waiting for the handshake on the event loop) and
 * wrap the connected descriptor in a `net.Socket`.
 */
import net from 'node:net';
import { formatSocketAddress } from '@ambient-kit/ip';
import { INPOD } from './codec/constants.js';
import { RedirectError } from './codec/errors.js';
import { parseIpAddress } from './codec/ip-address.js';
import { encodeSockaddr } from './codec/sockaddr.js';
import { waitForFd } from './native/fd-watcher.js';
import { LINUX, libc } from './native/libc.js';
import { bindAddress, closeQuietly, ipDomain, openSocket, setIntOption } from './native/raw-socket.js';
import { type NetnsHandle, type NetnsRef, openNetns } from './netns.js';

/**
 * Options of {@link connectMarked} and {@link connectInNetns}.
 *
 * @example
 * ```ts
 * const options: ConnectMarkedOptions = { host: '10.0.0.7', port: 8080, sourceAddress: '10.0.0.9' };
 * ```
 */
export interface ConnectMarkedOptions {
  /** Destination IP literal. */
  readonly host: string;
  /** Destination port. */
  readonly port: number;
  /** `SO_MARK`. Default for `connectMarked`: `1337` (0x539, ztunnel's in-pod mark); `connectInNetns`: none. */
  readonly mark?: number;
  /**
   * Spoof this source address (same family as `host`): transparent + freebind socket bound to
   * `sourceAddress:sourcePort` before connecting. Default: the kernel's choice.
   */
  readonly sourceAddress?: string;
  /** With `sourceAddress`: the source port. Default `0` (ephemeral), as ztunnel. */
  readonly sourcePort?: number;
  /** Create the socket inside this namespace (a pod's). Default: the caller's. */
  readonly netns?: NetnsRef;
  /** Handshake timeout. Default `10_000` (ztunnel's upstream connect timeout). */
  readonly timeoutMs?: number;
  /** Aborts the connect. */
  readonly signal?: AbortSignal;
}

/**
 * Throws a `RangeError` unless `mark` is undefined or a 32-bit unsigned integer.
 *
 * @param mark - Candidate `SO_MARK`.
 * @example
 * ```ts
 * checkMark(0x539);
 * ```
 */
export function checkMark(mark: number | undefined): void {
  if (mark !== undefined && (!Number.isInteger(mark) || mark < 0 || mark > 0xffffffff)) {
    throw new RangeError(`options.mark: expected an integer in [0, 0xffffffff], got ${String(mark)}`);
  }
}

async function connectRaw(options: ConnectMarkedOptions, mark: number | undefined): Promise<net.Socket> {
  const target = parseIpAddress(options.host);
  if (target === undefined) {
    throw new RangeError(
      `options.host: ${JSON.stringify(options.host)} is not an IP literal (no name lookups here)`,
    );
  }
  const { port } = options;
  const destination = encodeSockaddr(options.host, port);
  checkMark(mark);
  const source = options.sourceAddress === undefined ? undefined : parseIpAddress(options.sourceAddress);
  if (options.sourceAddress !== undefined && source?.family !== target.family) {
    throw new RangeError(
      `options.sourceAddress: expected an IPv${target.family} literal to match options.host`,
    );
  }
  const timeoutMs = options.timeoutMs ?? 10_000;
  let handle: NetnsHandle | undefined;
  if (options.netns !== undefined)
    handle = typeof options.netns === 'string' ? openNetns(options.netns) : options.netns;
  let fd: number;
  try {
    fd = openSocket(ipDomain(target.family), LINUX.SOCK_STREAM, handle);
  } finally {
    if (typeof options.netns === 'string') handle?.close();
  }
  const what = `connect ${formatSocketAddress(options.host, port)}`;
  try {
    if (mark !== undefined) setIntOption(fd, LINUX.SOL_SOCKET, LINUX.SO_MARK, mark, 'SO_MARK');
    if (options.sourceAddress !== undefined) {
      if (target.family === 4) {
        setIntOption(fd, LINUX.SOL_IP, LINUX.IP_TRANSPARENT, 1, 'IP_TRANSPARENT');
        setIntOption(fd, LINUX.SOL_IP, LINUX.IP_FREEBIND, 1, 'IP_FREEBIND');
      } else {
        setIntOption(fd, LINUX.SOL_IPV6, LINUX.IPV6_TRANSPARENT, 1, 'IPV6_TRANSPARENT');
        setIntOption(fd, LINUX.SOL_IPV6, LINUX.IPV6_FREEBIND, 1, 'IPV6_FREEBIND');
      }
      bindAddress(fd, options.sourceAddress, options.sourcePort ?? 0);
    }
    const c = libc();
    if (c.connect(fd, destination, destination.length) !== 0) {
      const code = c.errnoName();
      if (code !== 'EINPROGRESS') throw new RedirectError('REDIRECT_ERR_CONNECT', `${what}: ${code}`);
      // Non-blocking connect: the socket turns writable when the handshake finishes, either way.
      await waitForFd(fd, { writable: true }, { timeoutMs, signal: options.signal, what });
      const soError = c.getsockoptInt(fd, LINUX.SOL_SOCKET, LINUX.SO_ERROR) ?? -1;
      if (soError !== 0) {
        const name = soError === -1 ? c.errnoName() : c.errnoName(soError);
        throw new RedirectError('REDIRECT_ERR_CONNECT', `${what}: ${name}`);
      }
    }
  } catch (error) {
    closeQuietly(fd);
    throw error;
  }
  // A connected TCP descriptor: Node adopts it as a normal socket (and closes it on destroy).
  return new net.Socket({ fd, readable: true, writable: true });
}

/**
 * Connects to `host:port` with ztunnel's mark (0x539 unless `mark` says otherwise), optionally from
 * inside a pod's namespace and from a spoofed client address.
 *
 * @param options - Destination, mark, optional source address and namespace.
 * @returns A connected `net.Socket`.
 * @throws {RedirectError} `REDIRECT_ERR_CONNECT` (refused, unreachable), `REDIRECT_ERR_CONNECT_TIMEOUT`,
 * `REDIRECT_ERR_ABORTED`, `REDIRECT_ERR_SOCKET` (e.g. `EPERM` for `SO_MARK`/`IP_TRANSPARENT` without
 * CAP_NET_ADMIN), and the namespace errors.
 * @throws {RangeError} When `host`/`sourceAddress` is not an IP literal of the same family, or on a bad port.
 * @example
 * ```ts
 * // ztunnel inbound: deliver to the app in the pod, from the original client's address
 * const upstream = await connectMarked({ netns: pod, host: '10.0.0.7', port: 8080, sourceAddress: clientIp });
 * ```
 */
export function connectMarked(options: ConnectMarkedOptions): Promise<net.Socket> {
  return connectRaw(options, options.mark ?? INPOD.mark);
}

/**
 * Connects from inside a namespace without a mark by default: what an application in the pod does.
 * Same options and errors as {@link connectMarked}.
 *
 * @param netns - The namespace to connect from.
 * @param options - Destination and optional mark/source.
 * @returns A connected `net.Socket`.
 * @throws {RedirectError} As {@link connectMarked}.
 * @example
 * ```ts
 * const socket = await connectInNetns('pod-a', { host: '192.0.2.10', port: 80 });
 * ```
 */
export function connectInNetns(
  netns: NetnsRef,
  options: Omit<ConnectMarkedOptions, 'netns'>,
): Promise<net.Socket> {
  return connectRaw({ ...options, netns }, options.mark);
}
