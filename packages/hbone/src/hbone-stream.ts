/**
 * The byte stream of one tunnel: a `Duplex` over an HTTP/2 CONNECT stream with ztunnel's byte semantics
 * (hbone.md §1.8, checklist S1).
 *
 * - `end()` sends an empty DATA frame with END_STREAM; the peer's END_STREAM ends the readable side; both
 *   directions close independently (half-close).
 * - RST_STREAM `NO_ERROR` or `CANCEL` from the peer reads as a clean EOF; any other code destroys the stream
 *   with `HBONE_ERR_STREAM_RESET`.
 * - Backpressure end to end: a slow reader pauses the HTTP/2 stream, so Node stops returning flow-control
 *   window and the peer stops sending once the 4 MiB stream window is used; a slow peer leaves writes
 *   unacknowledged, so `write()` returns `false`.
 * @module
 */
import { type Http2Session, type Http2Stream, constants as h2constants } from 'node:http2';
import { Duplex } from 'node:stream';
import type { Baggage } from './codec/baggage.js';
import { HboneError } from './codec/errors.js';

/** A tunnel: a `Duplex` of the user connection's bytes, plus what is known about its two ends. */
export interface HboneStream extends Duplex {
  /** The `:authority` of the CONNECT, e.g. `10.0.0.2:8080`. */
  readonly authority: string;
  /** The peer's SPIFFE ID (the server's for a client, the client's for a server). */
  readonly peerIdentity: string | undefined;
  /** The baggage the peer sent: the 200's on a client, the request's on a server. */
  readonly peerBaggage: Baggage | undefined;
  /** The HTTP/2 stream id. */
  readonly streamId: number | undefined;
  /** DATA payload bytes written into the tunnel so far. */
  readonly bytesSent: number;
  /** DATA payload bytes read from the tunnel so far. */
  readonly bytesReceived: number;
  /**
   * A no-op, for code written against `net.Socket` (`http.Agent`'s `createConnection` users): the HBONE
   * connection under the tunnel already has `TCP_NODELAY` on, and it is shared by every tunnel on it.
   *
   * @param noDelay - Ignored.
   * @returns This tunnel.
   * @example
   * ```ts
   * tunnel.setNoDelay(true);
   * ```
   */
  setNoDelay(noDelay?: boolean): this;
  /**
   * A no-op, for code written against `net.Socket`: the HBONE connection under the tunnel already runs TCP
   * keepalive (180 s) and HTTP/2 PINGs (every 10 s), for every tunnel on it.
   *
   * @param enable - Ignored.
   * @param initialDelayMs - Ignored.
   * @returns This tunnel.
   * @example
   * ```ts
   * tunnel.setKeepAlive(true, 1000);
   * ```
   */
  setKeepAlive(enable?: boolean, initialDelayMs?: number): this;
  /**
   * An idle timer, as `net.Socket`'s: emits `'timeout'` once no byte went either way through this tunnel for
   * `timeoutMs`. The tunnel stays open: the listener decides (`http` destroys it). `0` turns it off.
   *
   * @param timeoutMs - Idle time before `'timeout'`; `0` disables.
   * @param callback - Added as a one-time `'timeout'` listener (removed when `timeoutMs` is `0`).
   * @returns This tunnel.
   * @throws {RangeError} When `timeoutMs` is negative or not finite.
   * @example
   * ```ts
   * tunnel.setTimeout(30_000, () => tunnel.destroy());
   * ```
   */
  setTimeout(timeoutMs: number, callback?: () => void): this;
  /**
   * A no-op, for code written against `net.Socket`: what keeps the process alive is the pooled HBONE
   * connection, which other tunnels share; close the client to let the process exit.
   *
   * @returns This tunnel.
   * @example
   * ```ts
   * tunnel.ref();
   * ```
   */
  ref(): this;
  /**
   * A no-op, for code written against `net.Socket` (see {@link HboneStream.ref}).
   *
   * @returns This tunnel.
   * @example
   * ```ts
   * tunnel.unref();
   * ```
   */
  unref(): this;
}

/** What a {@link TunnelStream} reports when it closes. */
export interface TunnelClose {
  readonly bytesSent: number;
  readonly bytesReceived: number;
  /** Set when the tunnel ended abnormally. */
  readonly error: Error | undefined;
}

/** Construction parameters of a {@link TunnelStream}. */
export interface TunnelStreamInit {
  readonly authority: string;
  readonly peerIdentity: string | undefined;
  readonly peerBaggage: Baggage | undefined;
  /** Called once, when both the tunnel and the HTTP/2 stream are closed. */
  readonly onClose?: (close: TunnelClose) => void;
}

const { NGHTTP2_NO_ERROR, NGHTTP2_CANCEL } = h2constants;

/**
 * Whether a CONNECT stream's RST_STREAM code reads as a clean EOF: none, `NO_ERROR` or `CANCEL`
 * (`zt:src/proxy/h2.rs` L215-243).
 *
 * @param code - The stream's `rstCode`.
 * @returns `false` for any other error code.
 * @example
 * ```ts
 * h2.on('end', () => {
 *   if (isEofReset(h2.rstCode)) upstream.end();
 * });
 * ```
 */
export function isEofReset(code: number | undefined): boolean {
  return code === undefined || code === NGHTTP2_NO_ERROR || code === NGHTTP2_CANCEL;
}

/**
 * Why a CONNECT stream's close was not a clean end, the same on both sides of a tunnel: a reset with an error
 * code, an error the stream reported, or the connection failing under it before the peer's END_STREAM.
 *
 * @param code - The stream's `rstCode` when it closed.
 * @param lost - Whether the connection went away before the peer's END_STREAM arrived.
 * @param cause - An error the stream reported, kept as the cause.
 * @param resetBy - Who reset it, for the message: `peer` or `client`.
 * @returns `HBONE_ERR_STREAM_RESET` or `HBONE_ERR_CONNECTION_CLOSED`; `undefined` for a clean close.
 * @example
 * ```ts
 * const error = streamCloseError(h2.rstCode, session.destroyed && !endStreamReceived, undefined, 'peer');
 * if (error !== undefined) tunnel.destroy(error);
 * ```
 */
export function streamCloseError(
  code: number | undefined,
  lost: boolean,
  cause: Error | undefined,
  resetBy: 'peer' | 'client',
): HboneError | undefined {
  if (!isEofReset(code)) {
    return new HboneError(
      'HBONE_ERR_STREAM_RESET',
      `the ${resetBy} reset the tunnel with HTTP/2 error code ${code}`,
      { cause },
    );
  }
  if (cause === undefined && !lost) return undefined;
  return new HboneError('HBONE_ERR_CONNECTION_CLOSED', 'the HBONE connection failed under the tunnel', {
    cause,
  });
}

// 256 KiB buffers on our side of the wrapper, as ztunnel's copy loop grows to after 10 MiB (hbone.md §1.8):
// big enough to keep a 1 MiB-frame connection busy, small against the 4 MiB window that bounds memory.
const HIGH_WATER_MARK_BYTES = 256 * 1024;

/**
 * The {@link HboneStream} implementation, internal: `connect()` returns one (the server joins streams to
 * upstreams directly, in `bridge.ts`). State: open → (each side independently) ended → closed; a reset or an
 * error goes straight to destroyed.
 *
 * @example
 * ```ts
 * const tunnel = new TunnelStream(h2stream, { authority: '10.0.0.2:8080', peerIdentity, peerBaggage: undefined });
 * tunnel.end('bytes');
 * ```
 */
export class TunnelStream extends Duplex implements HboneStream {
  readonly authority: string;
  readonly peerIdentity: string | undefined;
  readonly peerBaggage: Baggage | undefined;
  #h2: Http2Stream;
  #session: Http2Session | undefined;
  #endStreamReceived = false;
  #sent = 0;
  #received = 0;
  #pendingWrite: ((error?: Error | null) => void) | undefined;
  #pendingFinal: (() => void) | undefined;
  #readableDone = false;
  #h2Closed = false;
  #closeError: Error | undefined;
  #onClose: ((close: TunnelClose) => void) | undefined;
  #forwardingTimeout = false;

  /**
   * @param h2 - The CONNECT stream, after a 200 was sent or received.
   * @param init - What is known about the tunnel.
   */
  constructor(h2: Http2Stream, init: TunnelStreamInit) {
    super({
      allowHalfOpen: true,
      readableHighWaterMark: HIGH_WATER_MARK_BYTES,
      writableHighWaterMark: HIGH_WATER_MARK_BYTES,
    });
    this.#h2 = h2;
    // node:http2 detaches the session from a stream when it closes; keep it to tell why the stream closed.
    this.#session = h2.session;
    this.authority = init.authority;
    this.peerIdentity = init.peerIdentity;
    this.peerBaggage = init.peerBaggage;
    this.#onClose = init.onClose;
    h2.on('data', (chunk: Buffer) => {
      this.#received += chunk.length;
      if (!this.push(chunk)) h2.pause();
    });
    h2.on('end', () => {
      // node:http2 ends the readable side before it reports a reset with an error code; that is not an EOF.
      if (isEofReset(h2.rstCode)) {
        this.#endStreamReceived = !h2.destroyed;
        this.#endReadable();
      }
    });
    h2.on('drain', () => this.#flushPendingWrite());
    // The stream's own 'error' is reported through 'close' and rstCode; keep it from being unhandled.
    h2.on('error', (error: Error) => {
      this.#closeError ??= error;
    });
    h2.once('close', () => this.#onH2Close());
    this.once('close', () => this.#maybeReport());
  }

  get streamId(): number | undefined {
    return this.#h2.id;
  }

  get bytesSent(): number {
    return this.#sent;
  }

  get bytesReceived(): number {
    return this.#received;
  }

  setNoDelay(_noDelay?: boolean): this {
    return this;
  }

  setKeepAlive(_enable?: boolean, _initialDelayMs?: number): this {
    return this;
  }

  setTimeout(timeoutMs: number, callback?: () => void): this {
    if (typeof timeoutMs !== 'number' || !Number.isFinite(timeoutMs) || timeoutMs < 0) {
      throw new RangeError(`setTimeout: "timeoutMs" must be a finite number >= 0, got ${timeoutMs}`);
    }
    if (callback !== undefined) {
      if (timeoutMs === 0) this.removeListener('timeout', callback);
      else this.once('timeout', callback);
    }
    // node:http2 keeps the idle timer of the stream itself, refreshed by every DATA frame either way.
    if (!this.#forwardingTimeout) {
      this.#forwardingTimeout = true;
      this.#h2.on('timeout', () => this.emit('timeout'));
    }
    if (!this.#h2.destroyed) this.#h2.setTimeout(timeoutMs);
    return this;
  }

  ref(): this {
    return this;
  }

  unref(): this {
    return this;
  }

  override _read(): void {
    if (this.#h2.isPaused()) this.#h2.resume();
  }

  override _write(chunk: Buffer, _encoding: BufferEncoding, callback: (error?: Error | null) => void): void {
    if (this.#h2Closed) {
      callback(new HboneError('HBONE_ERR_STREAM_RESET', 'write after the peer closed the tunnel'));
      return;
    }
    this.#sent += chunk.length;
    // The HTTP/2 stream acknowledges a write once nghttp2 has sent it, which flow control can delay: its
    // buffered length is what the peer has not granted yet. Wait for 'drain' when it is over its mark.
    if (this.#h2.write(chunk)) callback();
    else this.#pendingWrite = callback;
  }

  override _writev(chunks: { chunk: Buffer }[], callback: (error?: Error | null) => void): void {
    if (this.#h2Closed) {
      callback(new HboneError('HBONE_ERR_STREAM_RESET', 'write after the peer closed the tunnel'));
      return;
    }
    let ok = true;
    this.#h2.cork();
    for (const { chunk } of chunks) {
      this.#sent += chunk.length;
      ok = this.#h2.write(chunk);
    }
    this.#h2.uncork();
    if (ok) callback();
    else this.#pendingWrite = callback;
  }

  override _final(callback: (error?: Error | null) => void): void {
    // FIN from the app → an empty DATA frame with END_STREAM (zt:src/proxy/h2.rs poll_shutdown).
    if (this.#h2Closed) {
      callback();
      return;
    }
    this.#pendingFinal = () => callback();
    this.#h2.end(() => this.#finishFinal());
  }

  #finishFinal(): void {
    const pending = this.#pendingFinal;
    this.#pendingFinal = undefined;
    pending?.();
  }

  #endReadable(): void {
    if (this.#readableDone) return;
    this.#readableDone = true;
    this.push(null);
  }

  override _destroy(error: Error | null, callback: (error?: Error | null) => void): void {
    if (!this.#h2Closed && !this.#h2.destroyed) {
      if (error === null) {
        // Both END_STREAMs are out (the normal end of a tunnel): the stream closes by itself. A RST_STREAM here
        // would be noise, and nghttp2 servers (Node's among them) answer a burst of resets with
        // GOAWAY(INTERNAL_ERROR) as rapid-reset protection.
        // A local abort otherwise: CANCEL, which the peer reads as EOF (as ztunnel dropping a stream).
        if (!(this.#h2.writableEnded && this.#endStreamReceived)) this.#h2.close(NGHTTP2_CANCEL);
      } else {
        // A failure: RST_STREAM INTERNAL_ERROR, and no END_STREAM before it (close() would send one, and the
        // peer would take a truncated stream for a complete one).
        this.#h2.destroy(error);
      }
    }
    this.#flushPendingWrite(error ?? undefined);
    if (error !== null) this.#closeError ??= error;
    callback(error);
  }

  #flushPendingWrite(error?: Error): void {
    const pending = this.#pendingWrite;
    this.#pendingWrite = undefined;
    pending?.(error ?? null);
  }

  #onH2Close(): void {
    this.#h2Closed = true;
    this.#finishFinal();
    // Destroyed locally first: the local reason stands.
    if (this.destroyed) return;
    // A stream error, or the connection failing under the stream, is an error; a reset with NO_ERROR or
    // CANCEL is not.
    // The connection going away under an open stream (a hard close after GOAWAY, a dropped socket) closes it
    // with NO_ERROR too; unless the peer's END_STREAM had arrived, that is a failure, not an EOF.
    const lost = this.#session?.destroyed === true && !this.#endStreamReceived;
    const error = streamCloseError(this.#h2.rstCode, lost, this.#closeError, 'peer');
    if (error !== undefined) {
      this.#closeError = error;
      this.destroy(error);
      return;
    }
    // RST_STREAM NO_ERROR/CANCEL, or the session going away under us: zt:src/proxy/h2.rs L215-243 reads
    // NO_ERROR and CANCEL as a clean EOF. Bytes already received are still delivered.
    this.#endReadable();
    if (this.#pendingWrite !== undefined) {
      this.#flushPendingWrite(
        new HboneError('HBONE_ERR_STREAM_RESET', 'the peer closed the tunnel before reading all data'),
      );
    }
    if (this.writableFinished || this.destroyed) return;
    // The write side can no longer deliver anything: end it so 'close' follows once the reader is done.
    if (!this.writableEnded) this.end();
  }

  #maybeReport(): void {
    const report = this.#onClose;
    if (report === undefined) return;
    this.#onClose = undefined;
    const done = (): void =>
      report({ bytesSent: this.#sent, bytesReceived: this.#received, error: this.#closeError });
    if (this.#h2Closed) done();
    else this.#h2.once('close', done);
  }
}
