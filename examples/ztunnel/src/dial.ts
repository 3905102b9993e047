/**
 * A plain TCP connect with ztunnel's socket settings (`istio/ztunnel@62d82653:src/proxy.rs` `freebind_connect`): a timeout
 * (`CONNECTION_TIMEOUT`, 10 s), `TCP_NODELAY`, keepalive, half-close allowed, abortable, optionally bound to a
 * source address.
 * @module
 */
import net from 'node:net';

/** Options of {@link dialTcp}. */
export interface DialTcpOptions {
  readonly host: string;
  readonly port: number;
  /** Bind the local end to this IP. */
  readonly localAddress?: string;
  /** Default 10 s. */
  readonly timeoutMs?: number;
  readonly signal?: AbortSignal;
}

/**
 * Connects over TCP.
 *
 * @param options - Where to, from where, how long to wait.
 * @returns The connected socket.
 * @throws {Error} The connect error (`ECONNREFUSED`, ...), `ETIMEDOUT` after the timeout, or the abort reason.
 * @example
 * ```ts
 * const app = await dialTcp({ host: '127.0.2.10', port: 8080, localAddress: '127.0.1.10' });
 * ```
 */
export function dialTcp(options: DialTcpOptions): Promise<net.Socket> {
  return new Promise((resolve, reject) => {
    if (options.signal?.aborted) {
      reject(options.signal.reason);
      return;
    }
    const socket = net.connect({
      host: options.host,
      port: options.port,
      allowHalfOpen: true,
      noDelay: true,
      keepAlive: true,
      keepAliveInitialDelay: 180_000,
      ...(options.localAddress === undefined ? {} : { localAddress: options.localAddress }),
    });
    const done = (error?: Error): void => {
      clearTimeout(timer);
      options.signal?.removeEventListener('abort', onAbort);
      socket.removeListener('connect', onConnect);
      socket.removeListener('error', onError);
      if (error === undefined) {
        resolve(socket);
      } else {
        socket.destroy();
        reject(error);
      }
    };
    const onConnect = (): void => done();
    const onError = (error: Error): void => done(error);
    const onAbort = (): void => done(options.signal?.reason as Error);
    const timeoutMs = options.timeoutMs ?? 10_000;
    const timer = setTimeout(
      () =>
        done(
          Object.assign(
            new Error(`connect to ${options.host}:${options.port} timed out after ${timeoutMs} ms`),
            {
              code: 'ETIMEDOUT',
            },
          ),
        ),
      timeoutMs,
    );
    socket.once('connect', onConnect);
    socket.once('error', onError);
    options.signal?.addEventListener('abort', onAbort, { once: true });
  });
}
