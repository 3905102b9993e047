/**
 * A `net.Server` whose listening socket lives in a pod's network namespace, opened from outside it, as
 * ztunnel opens 15001/15006/15008 in every enrolled pod (istio/ztunnel@62d82653:src/inpod/config.rs).
 *
 * Why not `server.listen(port, host)` inside `runInNetns`: Node resolves `host` asynchronously, so the
 * bind would happen after the thread is back home, in the wrong namespace. We create the socket
 * ourselves inside the namespace (the only call that must run there), set the options ztunnel sets
 * (`SO_MARK`, `IP_TRANSPARENT`, `SO_REUSEPORT`) before `bind`, bind and listen synchronously, and hand the
 * listening descriptor to Node with `server.listen({ fd })`.
 */
import net from 'node:net';
import { RedirectError } from './codec/errors.js';
import { parseIpAddress } from './codec/ip-address.js';
import { checkMark } from './connect-marked.js';
import { LINUX, libc } from './native/libc.js';
import { bindAddress, closeQuietly, ipDomain, openSocket, setIntOption } from './native/raw-socket.js';
import { type NetnsRef, openNetns } from './netns.js';

/**
 * Options of {@link listenInNetns}.
 *
 * @example
 * ```ts
 * const options: ListenInNetnsOptions = { port: 15001, transparent: true, mark: 0x539 };
 * ```
 */
export interface ListenInNetnsOptions {
  /** Port to listen on; `0` for an ephemeral one (read it from `server.address()`). */
  readonly port: number;
  /**
   * Local IP literal to bind. Default `::` (dual stack), falling back to `0.0.0.0` when the namespace has
   * no IPv6, like ztunnel's wildcard listeners (istio/ztunnel@62d82653:src/config.rs:569-573).
   */
  readonly host?: string;
  /**
   * `IP_TRANSPARENT`/`IPV6_TRANSPARENT` before bind: accept connections addressed to non-local IPs
   * (TPROXY-style). ztunnel sets it on its in-pod listeners, best effort. Default `false`.
   */
  readonly transparent?: boolean;
  /** `SO_MARK` on the listener (ztunnel marks every in-pod socket with 1337). Default: unmarked. */
  readonly mark?: number;
  /** `SO_REUSEPORT`, so an old and a new proxy can both listen during a handover (ztunnel `INPOD_PORT_REUSE`, default true there). Default `false`. */
  readonly reusePort?: boolean;
  /** `listen(2)` backlog. Default `511` (Node's). */
  readonly backlog?: number;
  /** Passed to `net.createServer`. */
  readonly serverOptions?: net.ServerOpts;
}

/**
 * Opens a listening TCP socket inside a network namespace and returns it as a `net.Server`.
 *
 * @param netns - The pod's namespace: name, absolute path or handle.
 * @param options - Port, bind address and socket options.
 * @returns A listening server (its `'connection'` sockets are ordinary `net.Socket`s).
 * @throws {RedirectError} `REDIRECT_ERR_NETNS_NOT_FOUND`, `REDIRECT_ERR_NETNS_ENTER`, `REDIRECT_ERR_SOCKET`
 * (e.g. `bind [::]:15001: EADDRINUSE`, or `EPERM` setting `SO_MARK` without CAP_NET_ADMIN).
 * @throws {RangeError} On a bad port or a host that is not an IP literal.
 * @example
 * ```ts
 * const server = await listenInNetns('pod-a', { port: 15001, transparent: true, mark: 0x539 });
 * server.on('connection', (socket) => console.log(originalDestination(socket)));
 * ```
 */
export async function listenInNetns(netns: NetnsRef, options: ListenInNetnsOptions): Promise<net.Server> {
  const { port } = options;
  if (!Number.isInteger(port) || port < 0 || port > 65535) {
    throw new RangeError(`options.port: expected an integer in [0, 65535], got ${String(port)}`);
  }
  const backlog = options.backlog ?? 511;
  if (!Number.isInteger(backlog) || backlog < 1)
    throw new RangeError('options.backlog: expected a positive integer');
  checkMark(options.mark);
  let host = options.host;
  let family = host === undefined ? undefined : parseIpAddress(host)?.family;
  if (host !== undefined && family === undefined) {
    throw new RangeError(`options.host: ${JSON.stringify(host)} is not an IP literal (no name lookups here)`);
  }
  const handle = typeof netns === 'string' ? openNetns(netns) : netns;
  let fd: number;
  try {
    if (host === undefined || family === undefined) {
      try {
        fd = openSocket(ipDomain(6), LINUX.SOCK_STREAM, handle);
        host = '::';
        family = 6;
      } catch (error) {
        if (!(error instanceof RedirectError && /EAFNOSUPPORT/.test(error.message))) throw error;
        fd = openSocket(ipDomain(4), LINUX.SOCK_STREAM, handle);
        host = '0.0.0.0';
        family = 4;
      }
    } else {
      fd = openSocket(ipDomain(family), LINUX.SOCK_STREAM, handle);
    }
  } finally {
    // The socket pins the namespace now; a handle we opened from a path is no longer needed.
    if (typeof netns === 'string') handle.close();
  }
  try {
    setIntOption(fd, LINUX.SOL_SOCKET, LINUX.SO_REUSEADDR, 1, 'SO_REUSEADDR');
    if (options.reusePort === true) setIntOption(fd, LINUX.SOL_SOCKET, LINUX.SO_REUSEPORT, 1, 'SO_REUSEPORT');
    // Node's own `::` listeners are dual stack; so are ztunnel's.
    if (family === 6 && host === '::') setIntOption(fd, LINUX.SOL_IPV6, LINUX.IPV6_V6ONLY, 0, 'IPV6_V6ONLY');
    if (options.transparent === true) {
      if (family === 6) setIntOption(fd, LINUX.SOL_IPV6, LINUX.IPV6_TRANSPARENT, 1, 'IPV6_TRANSPARENT');
      else setIntOption(fd, LINUX.SOL_IP, LINUX.IP_TRANSPARENT, 1, 'IP_TRANSPARENT');
    }
    if (options.mark !== undefined)
      setIntOption(fd, LINUX.SOL_SOCKET, LINUX.SO_MARK, options.mark, 'SO_MARK');
    bindAddress(fd, host, port);
    const c = libc();
    if (c.listen(fd, backlog) !== 0) {
      throw new RedirectError('REDIRECT_ERR_SOCKET', `listen on port ${port}: ${c.errnoName()}`);
    }
  } catch (error) {
    closeQuietly(fd);
    throw error;
  }
  const server = net.createServer(options.serverOptions ?? {});
  await new Promise<void>((resolve, reject) => {
    const onError = (error: Error): void => {
      closeQuietly(fd);
      reject(
        new RedirectError('REDIRECT_ERR_SOCKET', `adopting listener fd ${fd}: ${error.message}`, {
          cause: error,
        }),
      );
    };
    server.once('error', onError);
    server.listen({ fd, backlog }, () => {
      server.off('error', onError);
      resolve();
    });
  });
  return server;
}
