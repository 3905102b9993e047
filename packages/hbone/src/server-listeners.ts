/**
 * Where an HBONE server's TCP connections come from: its own listener (bound once), listeners made elsewhere
 * and adopted (ztunnel's in-pod mode opens 15008 inside each pod's network namespace:
 * istio/ztunnel@62d82653:src/inpod), and sockets handed in one by one. All of them go to one `accept`.
 * @module
 */
import net, { type AddressInfo } from 'node:net';
import tls from 'node:tls';

/** Where {@link HboneServer.listen} binds, or which listening socket it serves. */
export interface HboneListenOptions {
  /** Default: the server's `port` option, else 15008. `0` picks a free port. */
  readonly port?: number;
  /** Default: the server's `host` option, else `::`. */
  readonly host?: string;
  /**
   * Serve the connections this plain TCP `net.Server` accepts, instead of binding a socket: a listener made
   * elsewhere, such as `listenInNetns` opening 15008 inside a pod's network namespace, as ztunnel does in
   * in-pod mode. It is served from its next `'connection'` on (it may still be about to listen). Call `listen`
   * once per listener: one server serves any number of them. The server owns it from then on:
   * {@link HboneServer.close} closes it; closing it yourself stops serving it (its tunnels stay open).
   * Not with `port` or `host`.
   */
  readonly server?: net.Server;
}

/** The listeners of one server. */
export interface ServerListeners {
  /** Binds the server's own listener, or adopts `{ server }`. */
  listen(port: number | HboneListenOptions | undefined, host: string | undefined): Promise<AddressInfo>;
  /** The first listener's address. */
  address(): AddressInfo | null;
  /** Closes every listener; resolves once each stopped accepting. */
  closeAll(): Promise<void>;
}

/**
 * Creates the listeners of a server.
 *
 * @param defaults - The options' `port` and `host`.
 * @param accept - Takes every accepted TCP socket.
 * @returns The listeners.
 * @example
 * ```ts
 * const listeners = createServerListeners({ port: 15008 }, (socket) => accept(socket));
 * await listeners.listen({ port: 0, host: '127.0.0.1' }, undefined);
 * ```
 */
export function createServerListeners(
  defaults: { readonly port?: number | undefined; readonly host?: string | undefined },
  accept: (socket: net.Socket) => void,
): ServerListeners {
  // The server's own listener: plain TCP; TLS is run by the server on each accepted socket.
  const own = net.createServer({ noDelay: true }, accept);
  const adopted = new Set<net.Server>();

  function bind(listenOptions: HboneListenOptions, extraHost: string | undefined): Promise<AddressInfo> {
    if (listenOptions.server !== undefined) {
      if (listenOptions.port !== undefined || listenOptions.host !== undefined || extraHost !== undefined) {
        throw new TypeError('listen: "server" cannot be combined with "port" or "host"');
      }
      return adopt(listenOptions.server);
    }
    const bindPort = listenOptions.port ?? defaults.port ?? 15008;
    const bindHost = listenOptions.host ?? defaults.host ?? '::';
    if (!Number.isInteger(bindPort) || bindPort < 0 || bindPort > 65535) {
      throw new RangeError(`listen: "port" must be an integer in 0..65535, got ${bindPort}`);
    }
    const attempt = (hostToBind: string): Promise<AddressInfo> =>
      new Promise((resolve, reject) => {
        const onError = (error: Error): void => reject(error);
        own.once('error', onError);
        own.listen({ port: bindPort, host: hostToBind }, () => {
          own.removeListener('error', onError);
          resolve(own.address() as AddressInfo);
        });
      });
    const explicit = listenOptions.host !== undefined || defaults.host !== undefined;
    return attempt(bindHost).catch((error: NodeJS.ErrnoException) => {
      // The default `::` needs IPv6; on an IPv4-only host fall back to all IPv4 addresses.
      if (explicit || (error.code !== 'EAFNOSUPPORT' && error.code !== 'EADDRNOTAVAIL')) throw error;
      return attempt('0.0.0.0');
    });
  }

  function adopt(listener: net.Server): Promise<AddressInfo> {
    if (!(listener instanceof net.Server) || listener instanceof tls.Server) {
      throw new TypeError('listen: "server" must be a plain TCP net.Server (TLS is done here)');
    }
    if (!adopted.has(listener)) {
      adopted.add(listener);
      listener.on('connection', accept);
      // Closed by its owner: stop serving it; connections it accepted carry on until they end.
      listener.once('close', () => {
        listener.removeListener('connection', accept);
        adopted.delete(listener);
      });
    }
    return new Promise<AddressInfo>((resolve, reject) => {
      const done = (): void => {
        listener.removeListener('listening', done);
        listener.removeListener('error', onError);
        const address = listener.address();
        if (address === null || typeof address !== 'object') {
          reject(new TypeError('listen: "server" must listen on a TCP port, not a path'));
        } else {
          resolve(address);
        }
      };
      const onError = (error: Error): void => {
        listener.removeListener('listening', done);
        reject(error);
      };
      if (listener.listening) {
        done();
      } else {
        listener.once('listening', done);
        listener.once('error', onError);
      }
    });
  }

  return {
    listen(port, host): Promise<AddressInfo> {
      const listenOptions =
        typeof port === 'object'
          ? port
          : { ...(port === undefined ? {} : { port }), ...(host === undefined ? {} : { host }) };
      return bind(listenOptions, typeof port === 'object' ? host : undefined);
    },
    address(): AddressInfo | null {
      for (const listener of [own, ...adopted]) {
        const address = listener.address();
        if (address !== null && typeof address === 'object') return address;
      }
      return null;
    },
    closeAll(): Promise<void> {
      return Promise.all(
        [own, ...adopted].map(
          (listener) =>
            new Promise<void>((resolve) => {
              if (!listener.listening) resolve();
              else listener.close(() => resolve());
            }),
        ),
      ).then(() => undefined);
    },
  };
}
