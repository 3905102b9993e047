/**
 * Reading one SOCKS5 message off a socket with an incremental parser, a byte cap and a timeout; bytes that
 * arrived after the message are put back for whoever reads next.
 * @module
 */
import type { Socket } from 'node:net';
import type { Socks5Parse } from './socks5-codec.js';

/**
 * Why a SOCKS5 exchange failed. `reply` is the code to answer (server) or that was answered (client).
 *
 * @example
 * ```ts
 * try {
 *   await connectSocks5(options);
 * } catch (error) {
 *   if (error instanceof Socks5Error && error.reply === 2) console.log('the ztunnel refused: policy');
 * }
 * ```
 */
export class Socks5Error extends Error {
  override readonly name = 'Socks5Error';
  /** `SOCKS5_ERR_PROTOCOL`, `SOCKS5_ERR_TIMEOUT`, `SOCKS5_ERR_CLOSED` or `SOCKS5_ERR_REPLY` (the server refused). */
  readonly code: 'SOCKS5_ERR_PROTOCOL' | 'SOCKS5_ERR_TIMEOUT' | 'SOCKS5_ERR_CLOSED' | 'SOCKS5_ERR_REPLY';
  readonly reply: number | undefined;
  constructor(code: Socks5Error['code'], message: string, reply?: number) {
    super(message);
    this.code = code;
    this.reply = reply;
  }
}

/**
 * Reads until `parse` completes.
 *
 * @param socket - The socket; afterwards it is back in its initial (not flowing) state.
 * @param parse - An incremental parser.
 * @param options - `maxBytes` (the message's protocol bound) and `timeoutMs`.
 * @returns The parsed value.
 * @throws {Socks5Error} On a protocol error, a timeout, or the socket closing first.
 * @example
 * ```ts
 * const { methods } = await readSocks5Message(socket, parseSocks5Greeting, { maxBytes: 257, timeoutMs: 10_000 });
 * ```
 */
export function readSocks5Message<T>(
  socket: Socket,
  parse: (buf: Uint8Array) => Socks5Parse<T>,
  options: { readonly maxBytes: number; readonly timeoutMs: number },
): Promise<T> {
  return new Promise<T>((resolve, reject) => {
    // Paused mode ('readable' + read()): once the listener is removed the socket is back in its initial
    // state, so the next consumer's 'data' listener or pipe starts the flow, leftover bytes first.
    let buffered = Buffer.alloc(0);
    let settled = false;
    const cleanup = (): void => {
      settled = true;
      clearTimeout(timer);
      socket.removeListener('readable', onReadable);
      socket.removeListener('end', onEnd);
      socket.removeListener('close', onEnd);
      socket.removeListener('error', onError);
    };
    const fail = (error: Socks5Error): void => {
      cleanup();
      reject(error);
    };
    const onReadable = (): void => {
      for (;;) {
        if (settled) return;
        const chunk = socket.read() as Buffer | null;
        if (chunk === null) return;
        buffered = Buffer.concat([buffered, chunk]);
        const result = parse(buffered.subarray(0, options.maxBytes));
        if (result.status === 'incomplete') {
          if (buffered.length >= options.maxBytes) {
            fail(new Socks5Error('SOCKS5_ERR_PROTOCOL', `message longer than ${options.maxBytes} bytes`));
          }
          continue;
        }
        if (result.status === 'error') {
          fail(new Socks5Error('SOCKS5_ERR_PROTOCOL', result.message, result.reply));
          return;
        }
        cleanup();
        const rest = buffered.subarray(result.bytes);
        if (rest.length > 0) socket.unshift(rest);
        resolve(result.value);
        return;
      }
    };
    const onEnd = (): void =>
      fail(new Socks5Error('SOCKS5_ERR_CLOSED', 'connection closed during the SOCKS5 handshake'));
    const onError = (error: Error): void =>
      fail(
        new Socks5Error(
          'SOCKS5_ERR_CLOSED',
          `connection failed during the SOCKS5 handshake: ${error.message}`,
        ),
      );
    const timer = setTimeout(
      () =>
        fail(
          new Socks5Error('SOCKS5_ERR_TIMEOUT', `SOCKS5 handshake timed out after ${options.timeoutMs} ms`),
        ),
      options.timeoutMs,
    );
    timer.unref();
    socket.on('readable', onReadable);
    socket.once('end', onEnd);
    socket.once('close', onEnd);
    socket.once('error', onError);
  });
}
