/**
 * A `dgram.Socket` that lives in a pod's network namespace, opened from outside it: what ztunnel's DNS proxy
 * binds on `localhost:15053` in every enrolled pod, and what it forwards upstream queries from (ztunnel's
 * in-pod socket factory makes every socket of the pod, UDP included, inside it with the mark:
 * istio/ztunnel@62d82653:src/inpod/config.rs, src/dns/forwarder.rs `bind_udp`).
 *
 * As for {@link listenInNetns}, only `socket(2)` runs inside the namespace; the options and `bind` follow on
 * the descriptor synchronously, and Node adopts the bound descriptor with `socket.bind({ fd })`.
 */
import dgram from 'node:dgram';
import { isIP } from 'node:net';
import { RedirectError } from './codec/errors.js';
import { checkMark } from './connect-marked.js';
import { LINUX } from './native/libc.js';
import { bindAddress, closeQuietly, ipDomain, openSocket, setIntOption } from './native/raw-socket.js';
import { type NetnsRef, openNetns } from './netns.js';

/**
 * Options of {@link bindUdpInNetns}.
 *
 * @example
 * ```ts
 * const options: BindUdpInNetnsOptions = { host: '127.0.0.1', port: 15053, mark: 0x539 };
 * ```
 */
export interface BindUdpInNetnsOptions {
  /** IP literal to bind. `::` is dual stack. */
  readonly host: string;
  /** Port; `0` for an ephemeral one (an upstream query's source port). */
  readonly port: number;
  /** `SO_MARK` (ztunnel marks every in-pod socket with 1337). Default: unmarked. */
  readonly mark?: number;
  /** `SO_REUSEPORT` (ztunnel `INPOD_PORT_REUSE`), so an old and a new proxy can share the port. Default `false`. */
  readonly reusePort?: boolean;
}

/**
 * Binds a UDP socket inside a network namespace and returns it as a `dgram.Socket` (already listening).
 *
 * @param netns - The pod's namespace: name, absolute path or handle.
 * @param options - Address, port and socket options.
 * @returns The bound socket; `send` and `'message'` work as usual and the traffic is the pod's.
 * @throws {RedirectError} `REDIRECT_ERR_NETNS_NOT_FOUND`, `REDIRECT_ERR_NETNS_ENTER`, `REDIRECT_ERR_SOCKET`
 *   (e.g. `bind 127.0.0.1:15053: EADDRNOTAVAIL` when the pod's loopback is down).
 * @throws {RangeError} On a bad port or a host that is not an IP literal.
 * @example
 * ```ts
 * const dns = await bindUdpInNetns('/var/run/netns/sleep', { host: '127.0.0.1', port: 15053, mark: 0x539 });
 * dns.on('message', (query, peer) => dns.send(answer(query), peer.port, peer.address));
 * ```
 */
export async function bindUdpInNetns(netns: NetnsRef, options: BindUdpInNetnsOptions): Promise<dgram.Socket> {
  const { port, host } = options;
  if (!Number.isInteger(port) || port < 0 || port > 65535) {
    throw new RangeError(`options.port: expected an integer in [0, 65535], got ${String(port)}`);
  }
  const family = isIP(host);
  if (family !== 4 && family !== 6) {
    throw new RangeError(`options.host: ${JSON.stringify(host)} is not an IP literal (no name lookups here)`);
  }
  checkMark(options.mark);
  const handle = typeof netns === 'string' ? openNetns(netns) : netns;
  let fd: number;
  try {
    fd = openSocket(ipDomain(family), LINUX.SOCK_DGRAM, handle);
  } finally {
    // The socket pins the namespace now; a handle we opened from a path is no longer needed.
    if (typeof netns === 'string') handle.close();
  }
  try {
    if (options.reusePort === true) setIntOption(fd, LINUX.SOL_SOCKET, LINUX.SO_REUSEPORT, 1, 'SO_REUSEPORT');
    if (family === 6 && host === '::') setIntOption(fd, LINUX.SOL_IPV6, LINUX.IPV6_V6ONLY, 0, 'IPV6_V6ONLY');
    if (options.mark !== undefined)
      setIntOption(fd, LINUX.SOL_SOCKET, LINUX.SO_MARK, options.mark, 'SO_MARK');
    bindAddress(fd, host, port);
  } catch (error) {
    closeQuietly(fd);
    throw error;
  }
  const socket = dgram.createSocket(family === 6 ? 'udp6' : 'udp4');
  await new Promise<void>((resolve, reject) => {
    const onError = (error: Error): void => {
      closeQuietly(fd);
      reject(
        new RedirectError('REDIRECT_ERR_SOCKET', `adopting UDP socket fd ${fd}: ${error.message}`, {
          cause: error,
        }),
      );
    };
    socket.once('error', onError);
    socket.bind({ fd }, () => {
      socket.off('error', onError);
      resolve();
    });
  });
  return socket;
}
