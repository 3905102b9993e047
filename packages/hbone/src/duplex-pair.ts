/**
 * Two in-memory `Duplex` ends wired to each other (what Node 22's `stream.duplexPair()` gives, for Node
 * 20): bytes written to one are read from the other, `end()` half-closes one direction, backpressure holds
 * (a write completes once the peer's reader asked for more), and destroying one end destroys the other.
 * An HBONE server that serves HTTP itself returns one end as the tunnel's upstream and hands the other to
 * an `http.Server` or `http2` server as a connection (the waypoint example, `@ambient-kit/native-hbone`).
 * @module
 */
import { Duplex } from 'node:stream';

/**
 * One end of a {@link createDuplexPair}, with the socket-like surface `node:http` uses.
 *
 * @example
 * ```ts
 * const [end] = createDuplexPair();
 * end.remoteAddress = '10.0.0.1'; // what node:http reports as req.socket.remoteAddress
 * ```
 */
export class PairEnd extends Duplex {
  /** Reported as the peer's address to `node:http`: the HBONE client's. */
  remoteAddress: string | undefined;
  remotePort: number | undefined;
  localAddress: string | undefined;
  localPort: number | undefined;
  #peer: PairEnd | undefined;
  #pendingWrite: ((error?: Error | null) => void) | undefined;
  #timer: NodeJS.Timeout | undefined;

  /** @param peer - Set by {@link createDuplexPair}. */
  link(peer: PairEnd): void {
    this.#peer = peer;
  }

  override _read(): void {
    // Our reader wants more: release the peer's blocked write.
    this.#peer?.releaseWrite();
  }

  /** Completes a write the peer's reader was not ready for. */
  releaseWrite(): void {
    const callback = this.#pendingWrite;
    this.#pendingWrite = undefined;
    callback?.();
  }

  override _write(chunk: Buffer, _encoding: BufferEncoding, callback: (error?: Error | null) => void): void {
    const peer = this.#peer;
    if (peer === undefined || peer.destroyed) {
      callback(Object.assign(new Error('the other end is closed'), { code: 'EPIPE' }));
      return;
    }
    if (peer.push(chunk)) callback();
    else this.#pendingWrite = callback;
  }

  override _final(callback: (error?: Error | null) => void): void {
    this.#peer?.push(null);
    callback();
  }

  override _destroy(error: Error | null, callback: (error?: Error | null) => void): void {
    clearTimeout(this.#timer);
    const pending = this.#pendingWrite;
    this.#pendingWrite = undefined;
    pending?.(error ?? Object.assign(new Error('destroyed'), { code: 'ERR_STREAM_DESTROYED' }));
    const peer = this.#peer;
    if (peer !== undefined && !peer.destroyed) {
      // The peer reads EOF if we ended cleanly, else it is reset with us.
      if (error === null && this.writableFinished) peer.end();
      else peer.destroy();
    }
    callback(error);
  }

  /**
   * `net.Socket#setTimeout`: emits `timeout` after `ms` of no call (`0` cancels). `node:http` uses it for
   * keep-alive.
   *
   * @param ms - Milliseconds, `0` to cancel.
   * @param callback - Added as a `timeout` listener.
   * @returns This end.
   * @example
   * ```ts
   * end.setTimeout(5000, () => end.destroy());
   * ```
   */
  setTimeout(ms: number, callback?: () => void): this {
    clearTimeout(this.#timer);
    if (callback !== undefined) this.once('timeout', callback);
    if (ms > 0) {
      this.#timer = setTimeout(() => this.emit('timeout'), ms);
      this.#timer.unref();
    }
    return this;
  }

  /**
   * `net.Socket#setNoDelay`: nothing to do in memory.
   *
   * @returns This end.
   * @example
   * ```ts
   * end.setNoDelay();
   * ```
   */
  setNoDelay(): this {
    return this;
  }

  /**
   * `net.Socket#setKeepAlive`: nothing to do in memory.
   *
   * @returns This end.
   * @example
   * ```ts
   * end.setKeepAlive();
   * ```
   */
  setKeepAlive(): this {
    return this;
  }
}

/**
 * Creates two connected ends.
 *
 * @returns `[a, b]`: what is written to `a` is read from `b` and the other way round.
 * @example
 * ```ts
 * const [toHttp, toTunnel] = createDuplexPair();
 * httpServer.emit('connection', toHttp);
 * ```
 */
export function createDuplexPair(): [PairEnd, PairEnd] {
  const a = new PairEnd({ allowHalfOpen: true });
  const b = new PairEnd({ allowHalfOpen: true });
  a.link(b);
  b.link(a);
  return [a, b];
}
