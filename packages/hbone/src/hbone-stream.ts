/**
 * The byte stream of one tunnel: a `Duplex` over an HTTP/2 CONNECT stream with ztunnel's byte semantics
 * (`docs/hbone.md` "Byte semantics"; istio/ztunnel@62d82653:src/proxy/h2.rs).
 *
 * - `end()` sends END_STREAM; the peer's END_STREAM ends the readable side; both directions close
 *   independently (half-close).
 * - RST_STREAM `NO_ERROR` or `CANCEL` from the peer reads as a clean EOF; any other code destroys the tunnel
 *   with `HBONE_ERR_STREAM_RESET`, and never after an `'end'` (a truncated stream must not look complete).
 * - `destroy()` resets the stream with CANCEL (the peer reads EOF); `destroy(error)` with CONNECT_ERROR
 *   (RFC 9113 §8.5: the TCP side failed), which the server turns into a TCP RST towards the upstream.
 * - Backpressure end to end: what the reader has not consumed is not handed back as flow-control window,
 *   so the peer stops once the 4 MiB stream window is used; a write's callback fires once its bytes left
 *   through the socket, so a slow peer holds writers back.
 * @module
 */
import { Duplex } from 'node:stream';
import type { Baggage } from './codec/baggage.js';
import { copyBytes } from './codec/bytes.js';
import { HboneError } from './codec/errors.js';
import { H2_ERROR } from './codec/h2-constants.js';
import type { H2HeaderMap } from './codec/h2-header-fields.js';
import type { H2Stream, H2StreamEvents } from './h2-stream.js';
import { isEofReset, lostError, resetError } from './stream-close.js';

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
  /** Called once, when the HTTP/2 stream is closed (its connection's stream slot is free again). */
  readonly onStreamClosed?: () => void;
}

// Writes up to this size are copied and acknowledged at once; larger ones are sent from the writer's buffer.
const COPY_BYTES = 16 * 1024;

// 256 KiB buffers on our side of the wrapper, as ztunnel's copy loop grows to after 10 MiB
// (istio/ztunnel@62d82653:src/copy.rs): big enough to keep a connection busy, small against the 4 MiB
// window that bounds memory.
const HIGH_WATER_MARK_BYTES = 256 * 1024;

/**
 * The {@link HboneStream} implementation, internal: `connect()` returns one (the server joins streams to
 * upstreams directly, in `bridge.ts`). State: open → (each side independently) ended → closed; a reset or an
 * error goes straight to destroyed.
 *
 * @example
 * ```ts
 * const tunnel = new TunnelStream(stream, { authority: '10.0.0.2:8080', peerIdentity, peerBaggage: undefined });
 * tunnel.end('bytes');
 * ```
 */
export class TunnelStream extends Duplex implements HboneStream, H2StreamEvents {
  readonly authority: string;
  readonly peerIdentity: string | undefined;
  readonly peerBaggage: Baggage | undefined;
  readonly #stream: H2Stream;
  #sent = 0;
  #received = 0;
  // Bytes pushed while the readable buffer was over its mark: handed back to flow control on _read.
  #owed = 0;
  #readableDone = false;
  #h2Closed = false;
  #closeError: Error | undefined;
  #onClose: ((close: TunnelClose) => void) | undefined;
  #onStreamClosed: (() => void) | undefined;
  // The callback of a small write held back while the queues are over their marks.
  #pendingCallback: ((error?: Error | null) => void) | undefined;
  // setTimeout(): the idle limit and when a byte last went either way.
  #idleMs = 0;
  #idleTimer: NodeJS.Timeout | undefined;
  #lastActivity = 0;

  /**
   * @param stream - The CONNECT stream, after a 200 was received; its events are taken over.
   * @param init - What is known about the tunnel.
   */
  constructor(stream: H2Stream, init: TunnelStreamInit) {
    super({
      allowHalfOpen: true,
      readableHighWaterMark: HIGH_WATER_MARK_BYTES,
      writableHighWaterMark: HIGH_WATER_MARK_BYTES,
    });
    this.#stream = stream;
    this.authority = init.authority;
    this.peerIdentity = init.peerIdentity;
    this.peerBaggage = init.peerBaggage;
    this.#onClose = init.onClose;
    this.#onStreamClosed = init.onStreamClosed;
    this.once('close', () => this.#maybeReport());
    stream.setEvents(this);
  }

  get streamId(): number | undefined {
    return this.#stream.id;
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
    this.#idleMs = timeoutMs;
    if (this.#idleTimer !== undefined) clearTimeout(this.#idleTimer);
    this.#idleTimer = undefined;
    if (timeoutMs > 0 && !this.destroyed) {
      this.#lastActivity = performance.now();
      this.#armIdle(timeoutMs);
    }
    return this;
  }

  #armIdle(delayMs: number): void {
    this.#idleTimer = setTimeout(() => {
      this.#idleTimer = undefined;
      if (this.#idleMs === 0 || this.destroyed) return;
      const idle = performance.now() - this.#lastActivity;
      if (idle >= this.#idleMs - 1) {
        this.emit('timeout');
        // As net.Socket: the timer keeps running; the listener decides what to do.
        this.#lastActivity = performance.now();
        this.#armIdle(this.#idleMs);
      } else {
        this.#armIdle(this.#idleMs - idle);
      }
    }, delayMs);
    this.#idleTimer.unref();
  }

  ref(): this {
    return this;
  }

  unref(): this {
    return this;
  }

  // ---- H2StreamEvents: what the connection tells the tunnel ----

  onHeaders(_headers: H2HeaderMap, _endStream: boolean): void {}

  onData(chunk: Uint8Array): void {
    this.#received += chunk.length;
    if (this.#idleMs > 0) this.#lastActivity = performance.now();
    if (this.#readableDone || this.destroyed) {
      this.#stream.release(chunk.length);
      return;
    }
    // What sits in the readable buffer up to its mark is as good as consumed; past it, the window waits
    // for the reader (_read), so a reader that stops reading stops the peer.
    if (this.push(chunk)) this.#stream.release(chunk.length);
    else this.#owed += chunk.length;
  }

  onEnd(): void {
    this.#endReadable();
  }

  onReset(code: number): void {
    if (this.destroyed) return;
    if (isEofReset(code)) {
      // istio/ztunnel@62d82653:src/proxy/h2.rs: NO_ERROR and CANCEL read as EOF; the bytes received so far are still delivered.
      this.#endReadable();
      return;
    }
    this.#closeError ??= resetError(code, 'peer');
    this.destroy(this.#closeError);
  }

  onWritable(): void {
    const pending = this.#pendingCallback;
    this.#pendingCallback = undefined;
    pending?.();
  }

  onClose(error: Error | undefined): void {
    this.#h2Closed = true;
    const pending = this.#pendingCallback;
    this.#pendingCallback = undefined;
    pending?.(
      error ?? new HboneError('HBONE_ERR_STREAM_RESET', 'the tunnel closed before its data was sent'),
    );
    const streamClosed = this.#onStreamClosed;
    this.#onStreamClosed = undefined;
    streamClosed?.();
    if (this.#idleTimer !== undefined) clearTimeout(this.#idleTimer);
    this.#idleTimer = undefined;
    if (this.destroyed) {
      this.#maybeReport();
      return;
    }
    if (error !== undefined && !this.#stream.endReceived && this.#stream.resetCode === undefined) {
      // The connection went away before the peer's END_STREAM: not an EOF.
      this.#closeError ??= lostError(error);
      this.destroy(this.#closeError);
      return;
    }
    this.#endReadable();
    // The write side can no longer deliver anything: end it so 'close' follows once the reader is done.
    if (!this.writableEnded) this.end();
  }

  // ---- Duplex ----

  override _read(): void {
    const owed = this.#owed;
    if (owed > 0) {
      this.#owed = 0;
      this.#stream.release(owed);
    }
  }

  override _write(chunk: Buffer, _encoding: BufferEncoding, callback: (error?: Error | null) => void): void {
    if (this.#h2Closed || !this.#stream.writable) {
      callback(new HboneError('HBONE_ERR_STREAM_RESET', 'write after the peer closed the tunnel'));
      return;
    }
    this.#sent += chunk.length;
    if (this.#idleMs > 0) this.#lastActivity = performance.now();
    if (chunk.length <= COPY_BYTES) {
      // A small write is copied now (it would be copied into its frame anyway), so the writer may go on at
      // once, while the queues have room: an `end(data)` then leaves as one DATA frame with END_STREAM.
      if (this.#stream.write(copyBytes(chunk))) callback();
      else this.#pendingCallback = callback;
      return;
    }
    // A large one is sent from the writer's buffer, not copied: the callback fires once its bytes left
    // through the socket, so the writer may then reuse the buffer, and a peer that does not drain holds the
    // writer back.
    this.#stream.write(chunk, callback);
  }

  override _writev(chunks: { chunk: Buffer }[], callback: (error?: Error | null) => void): void {
    if (this.#h2Closed || !this.#stream.writable) {
      callback(new HboneError('HBONE_ERR_STREAM_RESET', 'write after the peer closed the tunnel'));
      return;
    }
    if (this.#idleMs > 0) this.#lastActivity = performance.now();
    // As _write: small chunks are copied; the callback waits for the last large one to leave.
    let lastLarge = -1;
    for (let i = 0; i < chunks.length; i++) {
      if ((chunks[i] as { chunk: Buffer }).chunk.length > COPY_BYTES) lastLarge = i;
    }
    let room = true;
    for (let i = 0; i < chunks.length; i++) {
      const { chunk } = chunks[i] as { chunk: Buffer };
      this.#sent += chunk.length;
      if (chunk.length <= COPY_BYTES) room = this.#stream.write(copyBytes(chunk));
      else this.#stream.write(chunk, i === lastLarge ? callback : undefined);
    }
    if (lastLarge >= 0) return;
    if (room) callback();
    else this.#pendingCallback = callback;
  }

  override _final(callback: (error?: Error | null) => void): void {
    // FIN from the app → END_STREAM (istio/ztunnel@62d82653:src/proxy/h2.rs poll_shutdown), after what is queued.
    this.#stream.end();
    callback();
  }

  override _destroy(error: Error | null, callback: (error?: Error | null) => void): void {
    if (this.#idleTimer !== undefined) clearTimeout(this.#idleTimer);
    this.#idleTimer = undefined;
    const stream = this.#stream;
    if (!this.#h2Closed && !stream.closed) {
      if (error === null) {
        // Both END_STREAMs out (the normal end of a tunnel): the stream closes by itself. A RST_STREAM here
        // would be noise, and nghttp2 servers count resets (rapid-reset protection). Otherwise an abort:
        // CANCEL, which the peer reads as EOF (as ztunnel dropping a stream).
        if (!(stream.endPending && stream.endReceived)) stream.reset(H2_ERROR.CANCEL);
      } else {
        // A failure: CONNECT_ERROR (RFC 9113 §8.5), so the peer resets its TCP side rather than FIN it.
        stream.reset(H2_ERROR.CONNECT_ERROR);
      }
    }
    if (error !== null) this.#closeError ??= error;
    callback(error);
  }

  #endReadable(): void {
    if (this.#readableDone) return;
    this.#readableDone = true;
    this.push(null);
  }

  #maybeReport(): void {
    const report = this.#onClose;
    if (report === undefined || !this.destroyed || !this.#h2Closed) return;
    this.#onClose = undefined;
    report({ bytesSent: this.#sent, bytesReceived: this.#received, error: this.#closeError });
  }
}
