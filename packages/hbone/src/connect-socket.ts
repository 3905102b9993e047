/**
 * The TCP leg of an outbound HBONE connection: the socket that TLS and HTTP/2 run over. By default the client
 * dials it with `net.connect`; a `connectSocket` factory brings its own, as ztunnel's in-pod mode does when
 * it creates the socket inside the source pod's network namespace with `SO_MARK` 0x539 so the pod's own
 * redirection rules let it out (istio/ztunnel@62d82653:src/inpod/config.rs).
 * @module
 */
import net from 'node:net';

/**
 * What an {@link HboneSocketFactory} is asked to connect.
 *
 * @example
 * ```ts
 * const request: HboneSocketRequest = {
 *   host: '10.244.0.42',
 *   port: 15008,
 *   sourceIp: undefined,
 *   signal: AbortSignal.timeout(10_000),
 * };
 * ```
 */
export interface HboneSocketRequest {
  /** The HBONE hop's IP (the host of `via`): a pod's, a waypoint's or an east-west gateway's. */
  readonly host: string;
  /** The HBONE hop's port, usually 15008. */
  readonly port: number;
  /**
   * The local IP the socket must be bound to: the connect's `sourceIp`, which is part of the pool key
   * (ztunnel spoofs the source IP). `undefined`: the kernel's choice.
   */
  readonly sourceIp: string | undefined;
  /**
   * Aborted when the dial gives up: `connectTimeoutMs` passed, or the client was closed. A factory that
   * connects asynchronously should stop then; a socket it still hands over afterwards is destroyed.
   */
  readonly signal: AbortSignal;
}

/**
 * Makes the TCP connection under one pooled HBONE connection (or the outer connection of double HBONE).
 * It returns a `net.Socket` that is connected or still connecting (as `net.connect` returns one), or a
 * promise of one; TLS starts once it is connected. A throw or a rejection fails the dial with
 * `HBONE_ERR_CONNECTION_FAILED` (an `HboneError` is passed on as it is).
 *
 * @param request - Where to connect, from which source IP, and the dial's abort signal.
 * @returns The socket.
 * @example
 * ```ts
 * import { connectMarked } from '@ambient-kit/redirect';
 *
 * // ztunnel in-pod: dial from inside the source pod, marked so the pod's rules let the packets out.
 * const fromPod: HboneSocketFactory = ({ host, port, signal }) =>
 *   connectMarked({ netns: '/var/run/netns/sleep', host, port, mark: 0x539, signal });
 * ```
 */
export type HboneSocketFactory = (request: HboneSocketRequest) => net.Socket | Promise<net.Socket>;

/**
 * The default {@link HboneSocketFactory}: `net.connect`, bound to `sourceIp` when there is one.
 *
 * @param request - Where to connect and from which source IP.
 * @returns A connecting socket.
 * @example
 * ```ts
 * const socket = connectTcp({ host: '10.244.0.42', port: 15008, sourceIp: undefined, signal });
 * ```
 */
export function connectTcp(request: HboneSocketRequest): net.Socket {
  return net.connect({
    host: request.host,
    port: request.port,
    ...(request.sourceIp === undefined ? {} : { localAddress: request.sourceIp }),
  });
}

/**
 * Runs a factory and resolves once its socket is connected. Rejects with what went wrong (the factory's
 * error, the socket's `'error'`, a close before connecting) or with the signal's reason; a socket that
 * arrives after that is destroyed.
 *
 * @param factory - The client's factory, or {@link connectTcp}.
 * @param request - Passed to the factory.
 * @returns The connected socket.
 * @throws {TypeError} When the factory returns something that is not a socket (rejected, not thrown).
 * @example
 * ```ts
 * const socket = await openSocket(connectTcp, { host: '127.0.0.1', port: 15008, sourceIp: undefined, signal });
 * ```
 */
export async function openSocket(
  factory: HboneSocketFactory,
  request: HboneSocketRequest,
): Promise<net.Socket> {
  const { signal } = request;
  if (signal.aborted) throw signal.reason;
  const produced = factory(request);
  const socket = await new Promise<net.Socket>((resolve, reject) => {
    const onAbort = (): void => reject(signal.reason);
    signal.addEventListener('abort', onAbort, { once: true });
    Promise.resolve(produced).then(
      (value) => {
        signal.removeEventListener('abort', onAbort);
        // Given up on already: nobody will own this socket.
        if (signal.aborted) {
          if (isSocket(value)) value.destroy();
          return;
        }
        resolve(value);
      },
      (error: unknown) => {
        signal.removeEventListener('abort', onAbort);
        reject(error);
      },
    );
  });
  if (!isSocket(socket)) {
    throw new TypeError(`connectSocket must return a net.Socket (or a promise of one), got ${typeof socket}`);
  }
  if (socket.destroyed) throw new Error('connectSocket returned a destroyed socket');
  if (!socket.connecting) return socket;
  return new Promise<net.Socket>((resolve, reject) => {
    const settle = (error?: unknown): void => {
      socket.removeListener('connect', onConnect);
      socket.removeListener('error', onError);
      socket.removeListener('close', onClose);
      signal.removeEventListener('abort', onAbort);
      if (error === undefined) {
        resolve(socket);
      } else {
        socket.destroy();
        reject(error);
      }
    };
    const onConnect = (): void => settle();
    const onError = (error: Error): void => settle(error);
    const onClose = (): void => settle(new Error('the socket closed before it connected'));
    const onAbort = (): void => settle(signal.reason);
    socket.once('connect', onConnect);
    socket.once('error', onError);
    socket.once('close', onClose);
    signal.addEventListener('abort', onAbort, { once: true });
  });
}

function isSocket(value: unknown): value is net.Socket {
  return value instanceof net.Socket;
}
