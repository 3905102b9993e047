/**
 * A request body that can be sent more than once: to a retry, to a mirror. Envoy's router buffers the
 * request body for retries and shadows up to the connection's buffer limit and gives up retrying beyond it
 * (envoyproxy/envoy@35db8c47:source/common/router/router.cc, `retry_shadow_buffer_limit`); the same here:
 *
 * - up to `maxBufferBytes` (1 MiB, Envoy's default buffer limit) the body is kept in memory as it arrives,
 *   and every {@link RequestBody.open} replays it from the start, then follows the live stream;
 * - beyond it the copy is dropped: the first reader goes on with backpressure (the client is read only as
 *   fast as the upstream takes it), later readers are refused (`replayable` turns false) and readers other
 *   than the first that are still behind are ended with an error.
 * @module
 */
import { Readable } from 'node:stream';

/**
 * Envoy's default per-connection buffer limit, which bounds the body kept for retries and mirrors: 1 MiB.
 *
 * @example
 * ```ts
 * createRequestBody(req, { maxBufferBytes: DEFAULT_BODY_BUFFER_BYTES });
 * ```
 */
export const DEFAULT_BODY_BUFFER_BYTES: number = 1024 * 1024;

// Beyond the buffer limit, the client is paused once the first reader lags this far behind.
const HIGH_WATER_BYTES = 64 * 1024;

/** A request body that can be opened more than once. */
export interface RequestBody {
  /**
   * A stream of the whole body from its first byte. The latest reader opened for an attempt is the one
   * that goes on beyond the buffer limit.
   *
   * @param purpose - `attempt` (the request or a retry) or `mirror`.
   * @returns The stream; it fails at once when the body can no longer be replayed.
   */
  open(purpose?: 'attempt' | 'mirror'): Readable;
  /** Whether another {@link RequestBody.open} will replay the whole body. */
  readonly replayable: boolean;
  /** Bytes received from the client so far. */
  readonly bytesReceived: number;
  /** Whether the client's body ended. */
  readonly complete: boolean;
  /** Stops reading the client and ends every reader. */
  destroy(error?: Error): void;
}

class BodyReader extends Readable {
  index: number;
  /** The consumer asked for data (`_read`) and was not given a full buffer since. */
  wanting = false;
  readonly purpose: 'attempt' | 'mirror';
  readonly #body: BufferedBody;
  constructor(body: BufferedBody, start: number, purpose: 'attempt' | 'mirror') {
    super();
    this.#body = body;
    this.index = start;
    this.purpose = purpose;
  }
  override _read(): void {
    this.wanting = true;
    this.#body.pump(this);
  }
  override _destroy(error: Error | null, callback: (error?: Error | null) => void): void {
    this.#body.detach(this);
    callback(error);
  }
}

const tooLarge = (max: number): Error =>
  new Error(`a request body larger than ${max} bytes cannot be replayed`);

class BufferedBody implements RequestBody {
  // Chunks by absolute index; `base` is the index of chunks[0] (earlier ones were dropped).
  #chunks: Buffer[] = [];
  #base = 0;
  #kept = 0;
  #received = 0;
  #ended = false;
  #failure: Error | undefined;
  #overflowed = false;
  #latest: BodyReader | undefined;
  readonly #readers = new Set<BodyReader>();
  #paused = false;
  #discarded = false;
  readonly #source: Readable;
  readonly #max: number;

  constructor(source: Readable, max: number) {
    this.#source = source;
    this.#max = max;
    source.on('data', (chunk: Buffer) => this.#onData(chunk));
    source.on('end', () => {
      this.#ended = true;
      this.#wakeAll();
    });
    source.on('error', (error) => this.#fail(error));
    source.on('close', () => {
      if (!this.#ended) this.#fail(new Error('the client closed the request before its body ended'));
    });
  }

  get replayable(): boolean {
    return !this.#overflowed && this.#failure === undefined;
  }

  get bytesReceived(): number {
    return this.#received;
  }

  get complete(): boolean {
    return this.#ended;
  }

  open(purpose: 'attempt' | 'mirror' = 'attempt'): Readable {
    const reader = new BodyReader(this, this.#base, purpose);
    if (this.#overflowed || this.#failure !== undefined) {
      const error = this.#failure ?? tooLarge(this.#max);
      process.nextTick(() => reader.destroy(error));
      return reader;
    }
    if (purpose === 'attempt') this.#latest = reader;
    this.#readers.add(reader);
    return reader;
  }

  destroy(error?: Error): void {
    // The client's bytes are read and dropped, not cut: an HTTP/1.1 connection stays usable.
    this.#fail(error ?? new Error('request body discarded'));
    this.#discarded = true;
    this.#chunks = [];
    this.#kept = 0;
    this.#paused = false;
    this.#source.resume();
  }

  pump(reader: BodyReader): void {
    if (!reader.wanting) return;
    for (;;) {
      const chunk = this.#chunks[reader.index - this.#base];
      if (chunk === undefined) break;
      reader.index++;
      if (this.#overflowed) this.#trim();
      if (!reader.push(chunk)) {
        reader.wanting = false;
        return;
      }
    }
    if (this.#ended) {
      reader.wanting = false;
      reader.push(null);
      return;
    }
    if (this.#paused && reader === this.#latest) {
      this.#paused = false;
      this.#source.resume();
    }
  }

  detach(reader: BodyReader): void {
    this.#readers.delete(reader);
    if (this.#overflowed) this.#trim();
    if (this.#paused && !this.#readers.has(this.#latest as BodyReader)) {
      // Nobody is left to take what comes: let the client's bytes drain away.
      this.#paused = false;
      this.#source.resume();
    }
  }

  #onData(chunk: Buffer): void {
    this.#received += chunk.length;
    if (this.#discarded) return;
    this.#chunks.push(chunk);
    this.#kept += chunk.length;
    if (!this.#overflowed && this.#received > this.#max) {
      this.#overflowed = true;
      // Only the latest attempt goes on: mirrors and earlier attempts cannot get a complete body any more.
      for (const r of this.#readers) if (r !== this.#latest) r.destroy(tooLarge(this.#max));
    }
    if (this.#overflowed) {
      this.#trim();
      if (this.#kept > HIGH_WATER_BYTES && !this.#paused && this.#readers.size > 0) {
        this.#paused = true;
        this.#source.pause();
      }
    }
    this.#wakeAll();
  }

  // Beyond the buffer limit, chunks every remaining reader has taken are dropped.
  #trim(): void {
    let low = this.#base + this.#chunks.length;
    for (const r of this.#readers) low = Math.min(low, r.index);
    while (this.#base < low && this.#chunks.length > 0) {
      this.#kept -= (this.#chunks.shift() as Buffer).length;
      this.#base++;
    }
  }

  #wakeAll(): void {
    for (const r of this.#readers) if (!r.destroyed) this.pump(r);
  }

  #fail(error: Error): void {
    if (this.#failure !== undefined || this.#ended) return;
    this.#failure = error;
    for (const r of this.#readers) r.destroy(error);
  }
}

/**
 * Wraps a request body so it can be replayed to retries and mirrors.
 *
 * @param source - The client's body (an `IncomingMessage`, an HTTP/2 stream).
 * @param options - `maxBufferBytes`: how much is kept for replays (default {@link DEFAULT_BODY_BUFFER_BYTES}).
 * @returns The replayable body; reading starts at once.
 * @example
 * ```ts
 * const body = createRequestBody(req);
 * body.open().pipe(upstreamRequest); // and again on a retry
 * ```
 */
export function createRequestBody(
  source: Readable,
  options: { readonly maxBufferBytes?: number } = {},
): RequestBody {
  return new BufferedBody(source, options.maxBufferBytes ?? DEFAULT_BODY_BUFFER_BYTES);
}
