/**
 * HTTP/2 flow-control accounting (RFC 9113 §5.2, §6.9), one object per window and direction.
 *
 * - {@link H2SendWindow}: what the peer lets us send. WINDOW_UPDATE and SETTINGS_INITIAL_WINDOW_SIZE
 *   changes move it; it may go negative after a SETTINGS shrink (§6.9.2) and must never pass 2^31-1.
 * - {@link H2ReceiveWindow}: what we let the peer send. DATA uses it up; it is handed back only as the
 *   consumer releases bytes, in batches, so what a connection buffers is bounded by the window it
 *   advertised and a reader that stops reading stops the sender.
 * @module
 */
import { H2_ERROR, H2_LIMIT } from './h2-constants.js';
import { connectionFailure, type H2Failure, streamFailure } from './h2-failure.js';

/**
 * The send side of one window (a stream's or the connection's).
 *
 * @example
 * ```ts
 * const window = new H2SendWindow(65_535, 'connection');
 * const n = Math.min(window.available, queued);
 * window.consume(n);
 * window.grow(increment); // on WINDOW_UPDATE
 * ```
 */
export class H2SendWindow {
  #available: number;
  readonly #scope: 'connection' | 'stream';

  /**
   * @param initial - The window at the start (the peer's SETTINGS_INITIAL_WINDOW_SIZE, or 65,535).
   * @param scope - Whether an overflow ends the connection or one stream (§6.9.1).
   */
  constructor(initial: number, scope: 'connection' | 'stream') {
    this.#available = initial;
    this.#scope = scope;
  }

  /** Bytes that may be sent now; negative after a SETTINGS shrink until WINDOW_UPDATEs catch up. */
  get available(): number {
    return this.#available;
  }

  /**
   * Uses up window for bytes sent.
   *
   * @param bytes - DATA payload bytes (padding included), at most {@link available}.
   * @throws {RangeError} When `bytes` is more than the window allows (a bug of the caller).
   */
  consume(bytes: number): void {
    if (bytes > this.#available) {
      throw new RangeError(`sending ${bytes} bytes with a window of ${this.#available}`);
    }
    this.#available -= bytes;
  }

  /**
   * Applies a WINDOW_UPDATE.
   *
   * @param increment - 1..2^31-1.
   * @returns FLOW_CONTROL_ERROR when the window would pass 2^31-1 (§6.9.1), else nothing.
   */
  grow(increment: number): H2Failure | undefined {
    return this.adjust(increment);
  }

  /**
   * Applies a change of SETTINGS_INITIAL_WINDOW_SIZE: `delta` = new − old, either sign (§6.9.2).
   *
   * @param delta - The change.
   * @returns FLOW_CONTROL_ERROR when the window would pass 2^31-1, else nothing.
   */
  adjust(delta: number): H2Failure | undefined {
    const next = this.#available + delta;
    if (next > H2_LIMIT.MAX_WINDOW) {
      const message = `flow-control window would reach ${next}, over 2^31-1`;
      return this.#scope === 'connection'
        ? connectionFailure(H2_ERROR.FLOW_CONTROL_ERROR, message)
        : streamFailure(H2_ERROR.FLOW_CONTROL_ERROR, message);
    }
    this.#available = next;
    return undefined;
  }
}

/**
 * The receive side of one window: how much the peer may still send, and how much the consumer released
 * since the last WINDOW_UPDATE.
 *
 * @example
 * ```ts
 * const window = new H2ReceiveWindow(4 * 1024 * 1024, 1024 * 1024, 'stream');
 * window.receive(frameLength); // on DATA: FLOW_CONTROL_ERROR past the window
 * const increment = window.release(n); // the consumer read n bytes
 * if (increment > 0) send(encodeWindowUpdate(streamId, increment));
 * ```
 */
export class H2ReceiveWindow {
  #open: number;
  #released = 0;
  readonly #thresholdBytes: number;
  readonly #scope: 'connection' | 'stream';

  /**
   * @param open - What the peer may send from the start (the window it believes in).
   * @param thresholdBytes - Send a WINDOW_UPDATE once this many bytes are released (a batch, so a busy
   *   stream does not cost one frame per DATA frame).
   * @param scope - Whether an overrun ends the connection or one stream.
   */
  constructor(open: number, thresholdBytes: number, scope: 'connection' | 'stream') {
    this.#open = open;
    this.#thresholdBytes = Math.max(1, thresholdBytes);
    this.#scope = scope;
  }

  /** Bytes the peer may still send. */
  get open(): number {
    return this.#open;
  }

  /** Bytes received and released but not yet handed back with a WINDOW_UPDATE. */
  get released(): number {
    return this.#released;
  }

  /**
   * Accounts for a DATA frame: its whole payload, padding included (§6.1).
   *
   * @param bytes - The frame's payload length.
   * @returns FLOW_CONTROL_ERROR when the peer sent more than the window allowed (§6.9.1), else nothing.
   */
  receive(bytes: number): H2Failure | undefined {
    if (bytes > this.#open) {
      const message = `peer sent ${bytes} bytes with ${this.#open} bytes of window left`;
      return this.#scope === 'connection'
        ? connectionFailure(H2_ERROR.FLOW_CONTROL_ERROR, message)
        : streamFailure(H2_ERROR.FLOW_CONTROL_ERROR, message);
    }
    this.#open -= bytes;
    return undefined;
  }

  /**
   * The consumer is done with `bytes`: hand them back once a batch is due.
   *
   * @param bytes - Bytes read by the consumer (or padding, which nobody reads).
   * @returns The WINDOW_UPDATE increment to send now, or 0.
   */
  release(bytes: number): number {
    this.#released += bytes;
    if (this.#released < this.#thresholdBytes) return 0;
    return this.flush();
  }

  /**
   * Hands back everything released so far, due or not.
   *
   * @returns The WINDOW_UPDATE increment to send, or 0.
   */
  flush(): number {
    const increment = this.#released;
    this.#released = 0;
    this.#open += increment;
    return increment;
  }

  /**
   * Raises the window to `bytes` (the connection window, which only a WINDOW_UPDATE can set, §6.9.2).
   *
   * @param bytes - The window wanted.
   * @returns The increment to send, or 0 when the window is already that large.
   */
  growTo(bytes: number): number {
    const increment = Math.min(bytes, H2_LIMIT.MAX_WINDOW) - this.#open - this.#released;
    if (increment <= 0) return 0;
    this.#open += increment;
    return increment;
  }
}
