/**
 * The HTTP/2 connection under HBONE (RFC 9113), client or server, CONNECT streams only, driving a TLS
 * socket with the pure codec (`codec/h2-*.ts`, `codec/hpack-*.ts`). Why our own and not `node:http2`:
 * `docs/hbone.md` "Design"; in short, node:http2 stops reading its socket while one of its writes is
 * pending, so two ends that both have pending writes never read again (a deadlock under ordinary
 * bidirectional load), and it sends DATA frames of 16 KiB whatever the peer allows.
 *
 * Invariants:
 * - The socket is always read. Reading never waits for a write.
 * - What is buffered is bounded: received bytes by the windows this side advertised (WINDOW_UPDATE goes out
 *   only as owners release bytes), sent bytes by the stream and connection queue marks (owners stop their
 *   sources when `write()` says so) and by how much is left in the socket's write buffer — never by the
 *   peer's window, which may be 2^31-1.
 * - Nothing waits forever: a PING unanswered for `pingTimeoutMs` destroys the socket; a close ends the
 *   socket once the streams are done and destroys it if the peer does not close its side in time.
 * - What nghttp2 guards against is guarded here: frame size, header block and header list caps,
 *   CONTINUATION sequences, SETTINGS/PING/empty-frame floods and rapid resets (token buckets, GOAWAY
 *   ENHANCE_YOUR_CALM), MAX_CONCURRENT_STREAMS, stream id rules, flow-control overruns, padding.
 * @module
 */
import type { Duplex } from 'node:stream';
import { copyBytes } from './codec/bytes.js';
import { HboneError } from './codec/errors.js';
import {
  H2_CLIENT_PREFACE,
  H2_ERROR,
  H2_FLAG,
  H2_FRAME,
  H2_LIMIT,
  h2ErrorName,
} from './codec/h2-constants.js';
import { connectionFailure, type H2Failure, streamFailure } from './codec/h2-failure.js';
import { H2ReceiveWindow, H2SendWindow } from './codec/h2-flow.js';
import { createH2FrameDecoder, type H2FrameDecoder, type H2FrameHandler } from './codec/h2-frame-decoder.js';
import {
  encodeFrameHeader,
  encodeGoaway,
  encodeHeaders,
  encodePing,
  encodeRstStream,
  encodeSettings,
  encodeWindowUpdate,
} from './codec/h2-frame-encode.js';
import {
  checkPriority,
  type H2SettingsUpdate,
  headersFragment,
  parseGoaway,
  parsePing,
  parseRstStream,
  parseSettings,
  parseWindowUpdate,
} from './codec/h2-frame-parse.js';
import { type H2HeaderMap, headerMap } from './codec/h2-header-fields.js';
import { createTokenBucket, type TokenBucket } from './codec/h2-rate-limit.js';
import { canReceive } from './codec/h2-stream-state.js';
import { createHpackDecoder, type HpackDecoder } from './codec/hpack-decoder.js';
import { createHpackEncoder, type HpackEncoder } from './codec/hpack-encoder.js';
import { debug } from './diagnostics.js';
import { H2Stream, type H2StreamHost, type WriteCallback } from './h2-stream.js';

/** The SETTINGS this side advertises. */
export interface H2LocalSettings {
  /** SETTINGS_MAX_CONCURRENT_STREAMS; unset: not sent (unlimited), as ztunnel's client. */
  readonly maxConcurrentStreams?: number;
  /** SETTINGS_INITIAL_WINDOW_SIZE. */
  readonly initialWindowSize: number;
  /** SETTINGS_MAX_FRAME_SIZE. */
  readonly maxFrameSize: number;
  /** SETTINGS_MAX_HEADER_LIST_SIZE. */
  readonly maxHeaderListSize: number;
}

/** The peer's SETTINGS in force. */
export interface H2RemoteSettings {
  readonly maxConcurrentStreams: number;
  readonly initialWindowSize: number;
  readonly maxFrameSize: number;
  readonly maxHeaderListSize: number;
  readonly headerTableSize: number;
}

/** What a session tells its owner. */
export interface H2SessionEvents {
  /** The peer's SETTINGS arrived (the first time: the connection is usable). */
  onRemoteSettings?(settings: H2RemoteSettings, first: boolean): void;
  /** A server's new stream, with its request headers; malformed requests never get here. */
  onStream?(stream: H2Stream, headers: H2HeaderMap, endStream: boolean): void;
  /** A request refused before it became a stream (a header list over the cap): the server answers it. */
  onOversizeRequest?(stream: H2Stream): void;
  /** The peer sent GOAWAY: no new streams. */
  onGoaway?(lastStreamId: number, code: number): void;
  /** The connection is gone; called once. `error` when it did not end cleanly. */
  onClose?(error: Error | undefined): void;
}

/** Options of an {@link H2Session}. */
export interface H2SessionOptions {
  readonly role: 'client' | 'server';
  readonly settings: H2LocalSettings;
  /** The connection window to open (a WINDOW_UPDATE on stream 0 right after SETTINGS). */
  readonly connectionWindowBytes: number;
  /** PING interval; 0 turns keepalive off. */
  readonly pingIntervalMs: number;
  /** Destroy the connection when a PING is unanswered this long. */
  readonly pingTimeoutMs: number;
  /** The peer, for messages (`10.0.0.2:15008`). */
  readonly peer: string;
  readonly events: H2SessionEvents;
}

// How much may wait in the socket's own write buffer before framing stops: enough to keep TLS and TCP
// busy between two turns of the event loop, small enough that a peer that stops reading holds little.
const SOCKET_BUFFER_BYTES = 1024 * 1024;
// The most all streams' send queues hold together before every `write()` says stop.
const CONNECTION_QUEUE_MARK_BYTES = 4 * 1024 * 1024;
// The largest DATA frame sent in one turn of a stream (round-robin between busy streams). Smaller than the
// peer's SETTINGS_MAX_FRAME_SIZE (1 MiB for ztunnel), so that eight streams share a connection evenly.
const DATA_QUANTUM_BYTES = 256 * 1024;
// Frames up to this size are copied into one buffer with their header; larger ones are written as a
// header and payload views (no copy).
const COPY_FRAME_BYTES = 16 * 1024;
// Flood guards (nghttp2's rapid-reset guard is a burst of 1,000 and 33 per second).
const RESET_BURST = 1000;
const RESET_PER_SECOND = 33;
const CONTROL_BURST = 1000;
const CONTROL_PER_SECOND = 100;
const MAX_SETTINGS_ENTRIES = 64;
// A peer that makes us queue this much answering its PINGs and SETTINGS without reading is flooding.
const MAX_PENDING_CONTROL_BYTES = SOCKET_BUFFER_BYTES + 1024 * 1024;
// Streams we reset, remembered so that frames already in flight on them are ignored (RFC 9113 §5.4.2).
const RECENT_RESETS = 1024;
// After sending GOAWAY for an error, or ending the socket, how long the peer gets to close its side.
const CLOSE_GRACE_MS = 1000;

type SessionState = 'open' | 'closing' | 'closed';

/**
 * An HTTP/2 connection over a connected (TLS) socket. Starts immediately: the client preface (client),
 * SETTINGS and the connection WINDOW_UPDATE go out, and the socket is read from now on.
 *
 * State machine: `open` (streams may be opened) → `closing` (GOAWAY sent or received: no new streams;
 * ends the socket once the last stream is done) → `closed` (socket gone; every stream closed with the
 * error, if any).
 *
 * @example
 * ```ts
 * const session = new H2Session(tlsSocket, {
 *   role: 'client',
 *   settings: { initialWindowSize: 4 << 20, maxFrameSize: 1 << 20, maxHeaderListSize: 16 << 10 },
 *   connectionWindowBytes: 16 << 20,
 *   pingIntervalMs: 10_000,
 *   pingTimeoutMs: 20_000,
 *   peer: '10.0.0.2:15008',
 *   events: { onRemoteSettings: () => ready() },
 * });
 * const stream = session.request([[':method', 'CONNECT'], [':authority', '10.0.0.2:8080']]);
 * ```
 */
export class H2Session implements H2StreamHost, H2FrameHandler {
  readonly role: 'client' | 'server';
  readonly #socket: Duplex;
  readonly #options: H2SessionOptions;
  readonly #events: H2SessionEvents;
  readonly #decoder: H2FrameDecoder;
  readonly #hpackIn: HpackDecoder;
  readonly #hpackOut: HpackEncoder;
  readonly #streams = new Map<number, H2Stream>();
  readonly #sendWindow = new H2SendWindow(H2_LIMIT.INITIAL_WINDOW, 'connection');
  readonly #recvWindow: H2ReceiveWindow;
  readonly #resetBucket: TokenBucket;
  readonly #controlBucket: TokenBucket;
  #remote: H2RemoteSettings = {
    maxConcurrentStreams: Number.POSITIVE_INFINITY,
    initialWindowSize: H2_LIMIT.INITIAL_WINDOW,
    maxFrameSize: H2_LIMIT.MIN_MAX_FRAME_SIZE,
    maxHeaderListSize: Number.POSITIVE_INFINITY,
    headerTableSize: H2_LIMIT.INITIAL_HEADER_TABLE_SIZE,
  };
  #remoteSettingsSeen = false;
  #state: SessionState = 'open';
  #error: Error | undefined;
  // Stream ids.
  #nextLocalId: number;
  #lastPeerId = 0;
  #localOpen = 0;
  #peerOpen = 0;
  #goawaySent = false;
  #goawayReceived = false;
  #recentResets: number[] = [];
  // The server reads the client preface before any frame.
  #prefaceLeft: number;
  // A header block being assembled from HEADERS + CONTINUATION.
  #blockStream = 0;
  #blockFlags = 0;
  #blockParts: Uint8Array[] = [];
  #blockBytes = 0;
  readonly #maxBlockBytes: number;
  // The DATA frame being received: its stream, or undefined when it is discarded.
  #dataStream: H2Stream | undefined;
  #dataLength = 0;
  #dataDiscard = false;
  // Sending.
  #control: Uint8Array[] = [];
  #ready: H2Stream[] = [];
  #readyHead = 0;
  #queuedBytes = 0;
  #waitingWritable = new Set<H2Stream>();
  #flushScheduled = false;
  // Scratch list of payload views for the frame being written.
  readonly #pieces: Uint8Array[] = [];
  #awaitingDrain = false;
  // Keepalive and closing.
  #pingTimer: NodeJS.Timeout | undefined;
  #pingDeadline: NodeJS.Timeout | undefined;
  #pingCounter = 0;
  #pingOutstanding: bigint | undefined;
  #closeTimers: NodeJS.Timeout[] = [];
  #closed: Promise<void>;
  #resolveClosed: () => void = () => {};

  /**
   * @param socket - A connected socket, TLS done (ALPN `h2` checked by the caller).
   * @param options - Role, SETTINGS, timers and callbacks.
   */
  constructor(socket: Duplex, options: H2SessionOptions) {
    this.role = options.role;
    this.#socket = socket;
    this.#options = options;
    this.#events = options.events;
    this.#nextLocalId = options.role === 'client' ? 1 : 2;
    this.#prefaceLeft = options.role === 'server' ? H2_CLIENT_PREFACE.length : 0;
    const local = options.settings;
    this.#decoder = createH2FrameDecoder(this, local.maxFrameSize);
    this.#hpackIn = createHpackDecoder({
      maxTableBytes: H2_LIMIT.INITIAL_HEADER_TABLE_SIZE,
      maxHeaderListBytes: local.maxHeaderListSize,
    });
    this.#hpackOut = createHpackEncoder();
    // A compressed block is rarely larger than what it decodes to; twice the list cap is generous, and it
    // bounds what a CONTINUATION sequence can make us hold.
    this.#maxBlockBytes = Math.max(2 * local.maxHeaderListSize, 16_384);
    this.#recvWindow = new H2ReceiveWindow(
      H2_LIMIT.INITIAL_WINDOW,
      Math.max(1, Math.floor(options.connectionWindowBytes / 4)),
      'connection',
    );
    const now = performance.now();
    this.#resetBucket = createTokenBucket(RESET_BURST, RESET_PER_SECOND, now);
    this.#controlBucket = createTokenBucket(CONTROL_BURST, CONTROL_PER_SECOND, now);
    this.#closed = new Promise((resolve) => {
      this.#resolveClosed = resolve;
    });

    socket.on('data', (chunk: Uint8Array) => this.#onSocketData(chunk));
    socket.on('error', (error: Error) => this.#finish(this.#error ?? error));
    socket.on('end', () => this.#onSocketEnd());
    socket.on('close', () => {
      this.#finish(this.#error);
      this.#resolveClosed();
    });

    // RFC 9113 §3.4: the client preface, then SETTINGS from both ends; the connection window opens with a
    // WINDOW_UPDATE on stream 0 (§6.9.2: SETTINGS cannot change it).
    const entries: [number, number][] = [];
    if (options.role === 'client') entries.push([0x2, 0]); // SETTINGS_ENABLE_PUSH
    if (local.maxConcurrentStreams !== undefined) entries.push([0x3, local.maxConcurrentStreams]);
    entries.push([0x4, local.initialWindowSize], [0x5, local.maxFrameSize], [0x6, local.maxHeaderListSize]);
    if (options.role === 'client') this.#control.push(H2_CLIENT_PREFACE);
    this.#control.push(encodeSettings(entries));
    const increment = this.#recvWindow.growTo(options.connectionWindowBytes);
    if (increment > 0) this.#control.push(encodeWindowUpdate(0, increment));
    this.#flush();
    this.#startKeepalive();
  }

  /** The peer's SETTINGS in force. */
  get remoteSettings(): H2RemoteSettings {
    return this.#remote;
  }

  /** Whether the peer's first SETTINGS arrived. */
  get ready(): boolean {
    return this.#remoteSettingsSeen;
  }

  /** `open`, `closing` (GOAWAY either way) or `closed`. */
  get state(): SessionState {
    return this.#state;
  }

  /** Streams open on this connection. */
  get streamCount(): number {
    return this.#streams.size;
  }

  /** Why the connection failed, if it did. */
  get error(): Error | undefined {
    return this.#error;
  }

  /** Bytes this connection holds: queued to send, and received but not yet consumed. */
  get bufferedBytes(): number {
    let unreleased = 0;
    for (const stream of this.#streams.values()) unreleased += stream.unreleased;
    return this.#queuedBytes + unreleased;
  }

  /** Resolves once the socket is closed. */
  get closed(): Promise<void> {
    return this.#closed;
  }

  /** Whether a new local stream may be opened now (client). */
  get canOpenStream(): boolean {
    return (
      this.#state === 'open' &&
      this.#localOpen < this.#remote.maxConcurrentStreams &&
      this.#nextLocalId <= H2_LIMIT.MAX_STREAM_ID
    );
  }

  get connectionWritable(): boolean {
    return this.#queuedBytes < CONNECTION_QUEUE_MARK_BYTES;
  }

  /**
   * Opens a stream with a request (client).
   *
   * @param fields - The header block, pseudo-headers first.
   * @returns The stream, its HEADERS queued.
   * @throws {HboneError} `HBONE_ERR_GOAWAY` when the connection takes no new streams.
   */
  request(fields: readonly (readonly [string, string])[]): H2Stream {
    if (!this.canOpenStream) {
      throw new HboneError(
        'HBONE_ERR_GOAWAY',
        `the connection to ${this.#options.peer} takes no new streams`,
      );
    }
    const stream = this.#newStream(this.#nextLocalId);
    this.#nextLocalId += 2;
    this.#localOpen++;
    this.#streams.set(stream.id, stream);
    this.sendHeaders(stream, fields, false);
    return stream;
  }

  /**
   * Closes gracefully: GOAWAY (no new streams), the socket ended once the last stream is done.
   *
   * @param deadlineMs - After this, destroy whatever is left (`HBONE_ERR_DRAIN_TIMEOUT`); `Infinity` lets
   *   streams finish however long they take (the socket still never waits for the peer forever).
   * @returns Resolves once the socket is closed.
   */
  close(deadlineMs: number): Promise<void> {
    if (this.#state === 'closed') return this.#closed;
    this.#state = 'closing';
    if (!this.#goawaySent) this.#sendGoaway(H2_ERROR.NO_ERROR, '');
    this.#flush();
    if (Number.isFinite(deadlineMs)) {
      const timer = setTimeout(
        () =>
          this.destroy(
            new HboneError('HBONE_ERR_DRAIN_TIMEOUT', `streams still open ${deadlineMs} ms after close`),
          ),
        deadlineMs,
      );
      timer.unref();
      this.#closeTimers.push(timer);
    }
    this.#maybeEnd();
    return this.#closed;
  }

  /**
   * Destroys the connection now: the socket is destroyed, every stream closed with `error`.
   *
   * @param error - Why; streams report it.
   * @param goawayCode - Send a GOAWAY with this code first (best effort: the peer may not be reading).
   */
  destroy(error?: Error, goawayCode?: number): void {
    if (this.#state === 'closed') return;
    this.#error ??= error;
    if (goawayCode !== undefined && !this.#goawaySent) {
      this.#sendGoaway(goawayCode, error?.message ?? '');
      this.#writeControl();
    }
    this.#finish(this.#error);
  }

  // ---- stream host ----

  queueData(stream: H2Stream, bytes: number): void {
    const wasWritable = this.#queuedBytes < CONNECTION_QUEUE_MARK_BYTES;
    this.#queuedBytes += bytes;
    if (wasWritable && this.#queuedBytes >= CONNECTION_QUEUE_MARK_BYTES) this.#blockAll();
    if (!stream.scheduled && stream.state !== 'closed') {
      stream.scheduled = true;
      this.#ready.push(stream);
    }
    this.#scheduleFlush();
  }

  sendHeaders(stream: H2Stream, fields: readonly (readonly [string, string])[], endStream: boolean): void {
    if (this.#state === 'closed') return;
    const block = this.#hpackOut.encode(fields);
    this.#control.push(encodeHeaders(stream.id, block, endStream, this.#remote.maxFrameSize));
    stream.headersSent = true;
    if (endStream) {
      stream.endSent = true;
      stream.endPending = true;
    }
    stream.transition(endStream ? 'send-headers-end' : 'send-headers');
    this.#scheduleFlush();
  }

  sendReset(stream: H2Stream, code: number): void {
    if (this.#state !== 'closed') {
      this.#control.push(encodeRstStream(stream.id, code));
      this.#rememberReset(stream.id);
      this.#scheduleFlush();
    }
    stream.resetCode = code;
    stream.transition('send-reset');
  }

  release(stream: H2Stream, bytes: number): void {
    const n = Math.min(bytes, stream.unreleased);
    if (n <= 0) return;
    stream.unreleased -= n;
    this.#releaseConnection(n);
    if (canReceive(stream.state)) {
      const increment = stream.recvWindow.release(n);
      if (increment > 0) {
        this.#control.push(encodeWindowUpdate(stream.id, increment));
        this.#scheduleFlush();
      }
    }
  }

  retire(stream: H2Stream, error: Error | undefined): void {
    if (this.#streams.get(stream.id) !== stream) return;
    this.#streams.delete(stream.id);
    const local = (stream.id % 2 === 1) === (this.role === 'client');
    if (local) this.#localOpen--;
    else this.#peerOpen--;
    // Bytes the owner never consumed go back to the connection window, or it would shrink for good.
    if (stream.unreleased > 0) {
      this.#releaseConnection(stream.unreleased);
      stream.unreleased = 0;
    }
    this.#queuedBytes -= stream.queuedBytes;
    stream.queuedBytes = 0;
    const dropped = stream.sent.slice(stream.queueHead);
    stream.queue = [];
    stream.sent = [];
    stream.queueHead = 0;
    stream.queueOffset = 0;
    if (dropped.some((callback) => callback !== undefined)) {
      const why =
        error ??
        new HboneError('HBONE_ERR_STREAM_RESET', `stream ${stream.id} closed before its data was sent`);
      for (const callback of dropped) callback?.(why);
    }
    this.#waitingWritable.delete(stream);
    stream.events.onClose(error);
    this.#notifyWritable();
    this.#maybeEnd();
  }

  // ---- frame handler (the decoder calls these) ----

  onDataStart(streamId: number, flags: number, length: number): H2Failure | undefined {
    if (!this.#remoteSettingsSeen) return this.#settingsFirst();
    if (this.#blockStream !== 0) return this.#expectedContinuation();
    if (streamId === 0) return connectionFailure(H2_ERROR.PROTOCOL_ERROR, 'DATA on stream 0');
    const connection = this.#recvWindow.receive(length);
    if (connection !== undefined) return connection;
    this.#dataLength = length;
    this.#dataStream = undefined;
    this.#dataDiscard = true;
    if (length === 0 && (flags & H2_FLAG.END_STREAM) === 0 && !this.#allowControl()) {
      return this.#calm('empty DATA frames');
    }
    const stream = this.#streams.get(streamId);
    if (stream === undefined) {
      if (this.#isIdle(streamId))
        return connectionFailure(H2_ERROR.PROTOCOL_ERROR, `DATA on idle stream ${streamId}`);
      // A stream closed already: its bytes only count against the connection window (RFC 9113 §6.9).
      if (!this.#recentResets.includes(streamId)) {
        if (!this.#allowControl()) return this.#calm('DATA frames on closed streams');
        this.#resetUnknown(streamId, H2_ERROR.STREAM_CLOSED);
      }
      return undefined;
    }
    if (!canReceive(stream.state)) {
      this.#streamError(
        stream,
        streamFailure(H2_ERROR.STREAM_CLOSED, `DATA after END_STREAM on ${streamId}`),
      );
      return undefined;
    }
    const overrun = stream.recvWindow.receive(length);
    if (overrun !== undefined) {
      this.#streamError(stream, overrun);
      return undefined;
    }
    this.#dataStream = stream;
    this.#dataDiscard = false;
    return undefined;
  }

  onData(_streamId: number, bytes: Uint8Array): void {
    const stream = this.#dataStream;
    if (stream === undefined || stream.state === 'closed') return;
    stream.unreleased += bytes.length;
    stream.events.onData(bytes);
  }

  onDataEnd(_streamId: number, flags: number, paddingBytes: number): H2Failure | undefined {
    const stream = this.#dataStream;
    this.#dataStream = undefined;
    if (this.#dataDiscard || stream === undefined || stream.state === 'closed') {
      // Nobody reads these bytes: hand the connection window back at once.
      this.#releaseConnection(this.#dataDiscard ? this.#dataLength : paddingBytes);
      this.#dataDiscard = false;
      return undefined;
    }
    if (paddingBytes > 0) {
      stream.unreleased += paddingBytes;
      this.release(stream, paddingBytes);
    }
    if ((flags & H2_FLAG.END_STREAM) !== 0) {
      stream.endReceived = true;
      stream.events.onEnd();
      stream.transition('recv-end');
    }
    return undefined;
  }

  onUnknown(): H2Failure | undefined {
    if (!this.#remoteSettingsSeen) return this.#settingsFirst();
    if (this.#blockStream !== 0) return this.#expectedContinuation();
    return this.#allowControl() ? undefined : this.#calm('frames of unknown types');
  }

  onFrame(type: number, flags: number, streamId: number, payload: Uint8Array): H2Failure | undefined {
    // RFC 9113 §3.4: each side's preface ends with a SETTINGS frame, before anything else.
    if (!this.#remoteSettingsSeen && (type !== H2_FRAME.SETTINGS || (flags & H2_FLAG.ACK) !== 0)) {
      return this.#settingsFirst();
    }
    if (this.#blockStream !== 0 && type !== H2_FRAME.CONTINUATION) return this.#expectedContinuation();
    switch (type) {
      case H2_FRAME.HEADERS:
        return this.#onHeaders(flags, streamId, payload);
      case H2_FRAME.CONTINUATION:
        return this.#onContinuation(flags, streamId, payload);
      case H2_FRAME.SETTINGS:
        return this.#onSettings(flags, streamId, payload);
      case H2_FRAME.PING:
        return this.#onPing(flags, streamId, payload);
      case H2_FRAME.WINDOW_UPDATE:
        return this.#onWindowUpdate(streamId, payload);
      case H2_FRAME.RST_STREAM:
        return this.#onRstStream(streamId, payload);
      case H2_FRAME.GOAWAY:
        return this.#onGoaway(streamId, payload);
      case H2_FRAME.PRIORITY: {
        // RFC 9113 §5.3.2: priority signals are ignored; the frame is still checked and counted.
        const checked = checkPriority(streamId, payload);
        if (checked.isErr()) {
          if (checked.error.scope === 'connection') return checked.error;
          this.#resetById(streamId, checked.error.code);
          return undefined;
        }
        return this.#allowControl() ? undefined : this.#calm('PRIORITY frames');
      }
      case H2_FRAME.PUSH_PROMISE:
        // Push is off (our client sends SETTINGS_ENABLE_PUSH 0; a client never pushes), RFC 9113 §8.4.
        return connectionFailure(H2_ERROR.PROTOCOL_ERROR, 'PUSH_PROMISE with push disabled');
      default:
        return undefined;
    }
  }

  // ---- frames ----

  #onHeaders(flags: number, streamId: number, payload: Uint8Array): H2Failure | undefined {
    if (streamId === 0) return connectionFailure(H2_ERROR.PROTOCOL_ERROR, 'HEADERS on stream 0');
    const fragment = headersFragment(flags, payload);
    if (fragment.isErr()) return fragment.error;
    this.#blockStream = streamId;
    this.#blockFlags = flags;
    this.#blockParts = [];
    this.#blockBytes = 0;
    return this.#addFragment(fragment.value, flags);
  }

  #onContinuation(flags: number, streamId: number, payload: Uint8Array): H2Failure | undefined {
    if (this.#blockStream === 0 || streamId !== this.#blockStream) {
      return connectionFailure(H2_ERROR.PROTOCOL_ERROR, `CONTINUATION on stream ${streamId} without HEADERS`);
    }
    // Empty CONTINUATION frames are a classic flood: they cost a frame each and add nothing.
    if (payload.length === 0 && (flags & H2_FLAG.END_HEADERS) === 0 && !this.#allowControl()) {
      return this.#calm('empty CONTINUATION frames');
    }
    return this.#addFragment(payload, flags);
  }

  #addFragment(fragment: Uint8Array, flags: number): H2Failure | undefined {
    this.#blockBytes += fragment.length;
    if (this.#blockBytes > this.#maxBlockBytes) {
      // The block cannot be decoded without buffering it, and the HPACK state cannot be kept without
      // decoding it: the connection goes (RFC 9113 §10.5.1 allows closing it).
      return connectionFailure(
        H2_ERROR.ENHANCE_YOUR_CALM,
        `header block over ${this.#maxBlockBytes} bytes (HEADERS + CONTINUATION)`,
      );
    }
    // The decoder's view is only valid during the call: keep a copy until the block is complete.
    if ((flags & H2_FLAG.END_HEADERS) === 0 || this.#blockParts.length > 0) {
      this.#blockParts.push(copyBytes(fragment));
    } else {
      this.#blockParts.push(fragment);
    }
    if ((flags & H2_FLAG.END_HEADERS) === 0) return undefined;
    const parts = this.#blockParts;
    const block = parts.length === 1 ? (parts[0] as Uint8Array) : concat(parts, this.#blockBytes);
    const streamId = this.#blockStream;
    const headerFlags = this.#blockFlags;
    this.#blockStream = 0;
    this.#blockParts = [];
    this.#blockBytes = 0;
    return this.#onHeaderBlock(streamId, headerFlags, block);
  }

  #onHeaderBlock(streamId: number, flags: number, block: Uint8Array): H2Failure | undefined {
    // Always decode: the HPACK state must follow the peer's, even for a block we ignore (RFC 9113 §4.3).
    const decoded = this.#hpackIn.decode(block);
    if (decoded.isErr()) return decoded.error;
    const endStream = (flags & H2_FLAG.END_STREAM) !== 0;
    const existing = this.#streams.get(streamId);
    if (existing !== undefined) return this.#onLaterHeaders(existing, decoded.value, endStream);
    const peerInitiated = (streamId % 2 === 1) === (this.role === 'server');
    if (!peerInitiated || streamId <= this.#lastPeerId) {
      // Frames already in flight on a stream we reset are ignored (RFC 9113 §5.4.2).
      if (this.#recentResets.includes(streamId)) return undefined;
      if (peerInitiated) {
        // RFC 9113 §5.1.1: a new stream id must exceed every one the peer used before.
        return connectionFailure(
          H2_ERROR.PROTOCOL_ERROR,
          `HEADERS on stream ${streamId}, not above ${this.#lastPeerId}`,
        );
      }
      if (this.#isIdle(streamId)) {
        return connectionFailure(H2_ERROR.PROTOCOL_ERROR, `HEADERS on idle stream ${streamId}`);
      }
      return connectionFailure(H2_ERROR.STREAM_CLOSED, `HEADERS on closed stream ${streamId}`);
    }
    // A new stream from the peer (a server's request).
    this.#lastPeerId = streamId;
    const stream = this.#newStream(streamId);
    if (this.#goawaySent || this.#state !== 'open') {
      // After our GOAWAY, new streams are refused; the client may retry them elsewhere (RFC 9113 §6.8).
      this.#resetUnknown(streamId, H2_ERROR.REFUSED_STREAM);
      return undefined;
    }
    const limit = this.#options.settings.maxConcurrentStreams ?? Number.POSITIVE_INFINITY;
    if (this.#peerOpen >= limit) {
      this.#resetUnknown(streamId, H2_ERROR.REFUSED_STREAM);
      return undefined;
    }
    this.#streams.set(streamId, stream);
    this.#peerOpen++;
    stream.headersReceived = true;
    stream.transition(endStream ? 'recv-headers-end' : 'recv-headers');
    if (endStream) stream.endReceived = true;
    if (decoded.value.oversize) {
      this.#events.onOversizeRequest?.(stream);
      return undefined;
    }
    const headers = headerMap(decoded.value.fields, 'request');
    if (headers.isErr()) {
      this.#streamError(stream, headers.error);
      return undefined;
    }
    if (this.#events.onStream === undefined) {
      this.#streamError(stream, streamFailure(H2_ERROR.REFUSED_STREAM, 'this endpoint takes no streams'));
      return undefined;
    }
    this.#events.onStream(stream, headers.value, endStream);
    return undefined;
  }

  #onLaterHeaders(
    stream: H2Stream,
    decoded: { fields: readonly (readonly [string, string])[]; oversize: boolean },
    endStream: boolean,
  ): H2Failure | undefined {
    if (!canReceive(stream.state)) {
      this.#streamError(
        stream,
        streamFailure(H2_ERROR.STREAM_CLOSED, `HEADERS after END_STREAM on ${stream.id}`),
      );
      return undefined;
    }
    if (stream.headersReceived) {
      // Trailers: they must end the stream (RFC 9113 §8.1); HBONE gives them no meaning.
      if (!endStream) {
        this.#streamError(
          stream,
          streamFailure(H2_ERROR.PROTOCOL_ERROR, 'a second header block without END_STREAM'),
        );
        return undefined;
      }
    } else {
      if (decoded.oversize) {
        this.#streamError(
          stream,
          streamFailure(H2_ERROR.PROTOCOL_ERROR, 'response header list over the cap'),
        );
        return undefined;
      }
      const headers = headerMap(decoded.fields, this.role === 'client' ? 'response' : 'request');
      if (headers.isErr()) {
        this.#streamError(stream, headers.error);
        return undefined;
      }
      const status = headers.value[':status'];
      // 1xx answers are interim (RFC 9113 §8.1): the final one follows.
      const interim = typeof status === 'string' && status.length === 3 && status.startsWith('1');
      if (interim) {
        if (endStream) {
          this.#streamError(
            stream,
            streamFailure(H2_ERROR.PROTOCOL_ERROR, 'an interim response with END_STREAM'),
          );
        }
        return undefined;
      }
      stream.headersReceived = true;
      stream.events.onHeaders(headers.value, endStream);
      if (stream.state === 'closed') return undefined;
    }
    if (endStream) {
      stream.endReceived = true;
      stream.events.onEnd();
      stream.transition('recv-headers-end');
    }
    return undefined;
  }

  #onSettings(flags: number, streamId: number, payload: Uint8Array): H2Failure | undefined {
    const parsed = parseSettings(flags, streamId, payload, MAX_SETTINGS_ENTRIES);
    if (parsed.isErr()) return parsed.error;
    if (parsed.value === 'ack') return undefined;
    const first = !this.#remoteSettingsSeen;
    if (!first && !this.#allowControl()) return this.#calm('SETTINGS frames');
    const failure = this.#applySettings(parsed.value);
    if (failure !== undefined) return failure;
    const pendingTooLong = this.#queueAnswer(encodeSettings([], true));
    if (pendingTooLong !== undefined) return pendingTooLong;
    this.#remoteSettingsSeen = true;
    this.#events.onRemoteSettings?.(this.#remote, first);
    return undefined;
  }

  #applySettings(update: H2SettingsUpdate): H2Failure | undefined {
    if (update.enablePush === true && this.role === 'client') {
      // RFC 9113 §6.5.2: a server must not send ENABLE_PUSH 1.
      return connectionFailure(H2_ERROR.PROTOCOL_ERROR, 'a server sent SETTINGS_ENABLE_PUSH 1');
    }
    const previous = this.#remote;
    this.#remote = {
      maxConcurrentStreams: update.maxConcurrentStreams ?? previous.maxConcurrentStreams,
      initialWindowSize: update.initialWindowSize ?? previous.initialWindowSize,
      maxFrameSize: update.maxFrameSize ?? previous.maxFrameSize,
      maxHeaderListSize: update.maxHeaderListSize ?? previous.maxHeaderListSize,
      headerTableSize: update.headerTableSize ?? previous.headerTableSize,
    };
    if (update.headerTableSize !== undefined) this.#hpackOut.setMaxTableBytes(update.headerTableSize);
    const delta = this.#remote.initialWindowSize - previous.initialWindowSize;
    if (delta !== 0) {
      // RFC 9113 §6.9.2: every stream's send window moves by the difference.
      for (const stream of this.#streams.values()) {
        const failure = stream.sendWindow.adjust(delta);
        if (failure !== undefined) return connectionFailure(H2_ERROR.FLOW_CONTROL_ERROR, failure.message);
        if (delta > 0 && stream.queuedBytes > 0) this.queueData(stream, 0);
      }
    }
    return undefined;
  }

  #onPing(flags: number, streamId: number, payload: Uint8Array): H2Failure | undefined {
    const parsed = parsePing(streamId, payload);
    if (parsed.isErr()) return parsed.error;
    if ((flags & H2_FLAG.ACK) !== 0) {
      const opaque = new DataView(payload.buffer, payload.byteOffset, 8).getBigUint64(0);
      if (opaque === this.#pingOutstanding) {
        this.#pingOutstanding = undefined;
        if (this.#pingDeadline !== undefined) clearTimeout(this.#pingDeadline);
        this.#pingDeadline = undefined;
      }
      return undefined;
    }
    if (!this.#allowControl()) return this.#calm('PING frames');
    return this.#queueAnswer(encodePing(copyBytes(parsed.value), true));
  }

  #onWindowUpdate(streamId: number, payload: Uint8Array): H2Failure | undefined {
    const parsed = parseWindowUpdate(streamId, payload);
    if (parsed.isErr()) {
      if (parsed.error.scope === 'connection') return parsed.error;
      this.#resetById(streamId, parsed.error.code);
      return undefined;
    }
    if (streamId === 0) {
      const failure = this.#sendWindow.grow(parsed.value);
      if (failure !== undefined) return failure;
      if (this.#ready.length > this.#readyHead) this.#scheduleFlush();
      return undefined;
    }
    const stream = this.#streams.get(streamId);
    if (stream === undefined) {
      if (this.#isIdle(streamId)) {
        return connectionFailure(H2_ERROR.PROTOCOL_ERROR, `WINDOW_UPDATE on idle stream ${streamId}`);
      }
      return this.#allowControl() ? undefined : this.#calm('WINDOW_UPDATE frames on closed streams');
    }
    const failure = stream.sendWindow.grow(parsed.value);
    if (failure !== undefined) {
      this.#streamError(stream, failure);
      return undefined;
    }
    if (stream.queuedBytes > 0 || (stream.endPending && !stream.endSent)) this.queueData(stream, 0);
    return undefined;
  }

  #onRstStream(streamId: number, payload: Uint8Array): H2Failure | undefined {
    const parsed = parseRstStream(streamId, payload);
    if (parsed.isErr()) return parsed.error;
    if (this.#isIdle(streamId)) {
      return connectionFailure(H2_ERROR.PROTOCOL_ERROR, `RST_STREAM on idle stream ${streamId}`);
    }
    // Rapid reset (CVE-2023-44487): every reset costs a token, whoever's stream it was.
    if (!this.#resetBucket.take(performance.now())) return this.#calm('stream resets (rapid reset)');
    const stream = this.#streams.get(streamId);
    if (stream === undefined) return undefined;
    stream.resetCode = parsed.value;
    stream.events.onReset(parsed.value, parsed.value === H2_ERROR.REFUSED_STREAM);
    stream.transition('recv-reset');
    return undefined;
  }

  #onGoaway(streamId: number, payload: Uint8Array): H2Failure | undefined {
    const parsed = parseGoaway(streamId, payload);
    if (parsed.isErr()) return parsed.error;
    const { lastStreamId, code } = parsed.value;
    this.#goawayReceived = true;
    if (this.#state === 'open') this.#state = 'closing';
    // Our streams above lastStreamId were never processed: they may be retried elsewhere (RFC 9113 §6.8).
    for (const stream of [...this.#streams.values()]) {
      const local = (stream.id % 2 === 1) === (this.role === 'client');
      if (local && stream.id > lastStreamId) {
        stream.resetCode = H2_ERROR.REFUSED_STREAM;
        stream.events.onReset(H2_ERROR.REFUSED_STREAM, true);
        stream.transition('recv-reset');
      }
    }
    this.#events.onGoaway?.(lastStreamId, code);
    this.#maybeEnd();
    return undefined;
  }

  // ---- helpers ----

  #newStream(id: number): H2Stream {
    return new H2Stream(
      id,
      this,
      new H2SendWindow(this.#remote.initialWindowSize, 'stream'),
      new H2ReceiveWindow(
        this.#options.settings.initialWindowSize,
        Math.max(1, Math.floor(this.#options.settings.initialWindowSize / 4)),
        'stream',
      ),
    );
  }

  #isIdle(streamId: number): boolean {
    const peerInitiated = (streamId % 2 === 1) === (this.role === 'server');
    return peerInitiated ? streamId > this.#lastPeerId : streamId >= this.#nextLocalId;
  }

  #settingsFirst(): H2Failure {
    return connectionFailure(H2_ERROR.PROTOCOL_ERROR, 'the first frame of the preface must be SETTINGS');
  }

  #expectedContinuation(): H2Failure {
    return connectionFailure(
      H2_ERROR.PROTOCOL_ERROR,
      `a frame inside the header block of stream ${this.#blockStream}`,
    );
  }

  #allowControl(): boolean {
    return this.#controlBucket.take(performance.now());
  }

  #calm(what: string): H2Failure {
    return connectionFailure(H2_ERROR.ENHANCE_YOUR_CALM, `too many ${what}`);
  }

  /** Queues an answer the peer asked for (SETTINGS ACK, PING ACK), unless it is not reading them. */
  #queueAnswer(frame: Uint8Array): H2Failure | undefined {
    if (this.#socket.writableLength > MAX_PENDING_CONTROL_BYTES) {
      return this.#calm('frames needing an answer while not reading the answers');
    }
    this.#control.push(frame);
    return undefined;
  }

  #releaseConnection(bytes: number): void {
    const increment = this.#recvWindow.release(bytes);
    if (increment > 0) {
      this.#control.push(encodeWindowUpdate(0, increment));
      this.#scheduleFlush();
    }
  }

  #rememberReset(streamId: number): void {
    this.#recentResets.push(streamId);
    if (this.#recentResets.length > RECENT_RESETS)
      this.#recentResets.splice(0, this.#recentResets.length - RECENT_RESETS);
  }

  /** RST_STREAM for a stream that is not (or no longer) in the table. */
  #resetUnknown(streamId: number, code: number): void {
    this.#control.push(encodeRstStream(streamId, code));
    this.#rememberReset(streamId);
    this.#scheduleFlush();
  }

  #resetById(streamId: number, code: number): void {
    const stream = this.#streams.get(streamId);
    if (stream !== undefined) this.#streamError(stream, streamFailure(code, h2ErrorName(code)));
    else if (!this.#isIdle(streamId)) this.#resetUnknown(streamId, code);
  }

  /** A stream error (RFC 9113 §5.4.2): RST_STREAM to the peer, the owner told as for a reset. */
  #streamError(stream: H2Stream, failure: H2Failure): void {
    const error = new HboneError(
      'HBONE_ERR_PROTOCOL',
      `HTTP/2 stream error ${h2ErrorName(failure.code)} on stream ${stream.id}: ${failure.message}`,
    );
    this.#control.push(encodeRstStream(stream.id, failure.code));
    this.#rememberReset(stream.id);
    this.#scheduleFlush();
    stream.resetCode = failure.code;
    stream.events.onReset(failure.code, false);
    stream.transition('send-reset', error);
  }

  #sendGoaway(code: number, message: string): void {
    this.#goawaySent = true;
    if (this.#state === 'open') this.#state = 'closing';
    this.#control.push(encodeGoaway(this.#lastPeerId, code, new TextEncoder().encode(message)));
  }

  /** A connection error (RFC 9113 §5.4.1): GOAWAY with the code, every stream closed, the socket closed. */
  #fail(failure: H2Failure): void {
    this.#decoder.halt();
    const error = new HboneError(
      'HBONE_ERR_PROTOCOL',
      `HTTP/2 connection error ${h2ErrorName(failure.code)} with ${this.#options.peer}: ${failure.message}`,
    );
    this.#error ??= error;
    debug('%s', error.message);
    if (!this.#goawaySent) this.#sendGoaway(failure.code, failure.message);
    this.#writeControl();
    this.#closeStreams(error);
    this.#endSocket();
  }

  #closeStreams(error: Error | undefined): void {
    for (const stream of [...this.#streams.values()]) {
      if (stream.state === 'closed') continue;
      stream.state = 'closed';
      this.retire(stream, error);
    }
  }

  // ---- input ----

  #onSocketData(chunk: Uint8Array): void {
    if (this.#state === 'closed') return;
    let input = chunk;
    if (this.#prefaceLeft > 0) {
      const offset = H2_CLIENT_PREFACE.length - this.#prefaceLeft;
      const take = Math.min(this.#prefaceLeft, input.length);
      for (let i = 0; i < take; i++) {
        if (input[i] !== H2_CLIENT_PREFACE[offset + i]) {
          this.destroy(
            new HboneError('HBONE_ERR_PROTOCOL', `${this.#options.peer} did not send the HTTP/2 preface`),
          );
          return;
        }
      }
      this.#prefaceLeft -= take;
      input = input.subarray(take);
      if (input.length === 0) return;
    }
    const failure = this.#decoder.push(input);
    if (failure !== undefined) {
      this.#fail(failure);
      return;
    }
    this.#flush();
  }

  #onSocketEnd(): void {
    // The peer ended its side: nothing more can arrive. Streams still expecting data lost it.
    if (this.#state !== 'closed') {
      const error =
        this.#streams.size === 0
          ? this.#error
          : (this.#error ??
            new HboneError('HBONE_ERR_CONNECTION_CLOSED', `${this.#options.peer} closed the connection`));
      this.#finish(error);
    }
  }

  #finish(error: Error | undefined): void {
    if (this.#state === 'closed') return;
    this.#state = 'closed';
    this.#error ??= error;
    this.#decoder.halt();
    this.#stopKeepalive();
    for (const timer of this.#closeTimers) clearTimeout(timer);
    this.#closeTimers = [];
    const streamError =
      this.#error ??
      (this.#streams.size > 0
        ? new HboneError('HBONE_ERR_CONNECTION_CLOSED', `the connection to ${this.#options.peer} closed`)
        : undefined);
    this.#closeStreams(streamError);
    this.#control = [];
    this.#ready = [];
    this.#readyHead = 0;
    if (!this.#socket.destroyed) this.#socket.destroy();
    this.#events.onClose?.(this.#error);
    if (this.#socket.closed) this.#resolveClosed();
  }

  /** Ends the socket (after a flush) and destroys it if the peer does not close its side in time. */
  #endSocket(): void {
    if (this.#state === 'closed') return;
    this.#socket.end();
    const timer = setTimeout(() => this.#finish(this.#error), CLOSE_GRACE_MS);
    timer.unref();
    this.#closeTimers.push(timer);
  }

  #maybeEnd(): void {
    if (this.#state !== 'closing' || this.#streams.size > 0) return;
    // Nothing left: a graceful close (GOAWAY either way) ends the socket.
    if (this.#goawaySent || this.#goawayReceived) {
      this.#flush();
      this.#endSocket();
    }
  }

  // ---- output ----

  #scheduleFlush(): void {
    if (this.#flushScheduled || this.#state === 'closed') return;
    this.#flushScheduled = true;
    setImmediate(this.#flushNow);
  }

  // After every I/O callback of this turn of the event loop: what they all queued leaves in one write.
  readonly #flushNow = (): void => {
    this.#flushScheduled = false;
    this.#flush();
  };

  #writeControl(): void {
    const frames = this.#control;
    if (frames.length === 0 || this.#socket.destroyed || this.#socket.writableEnded) return;
    this.#control = [];
    this.#socket.write(frames.length === 1 ? (frames[0] as Uint8Array) : concat(frames));
  }

  #flush(): void {
    if (this.#state === 'closed') return;
    // Corked: the control frames and every DATA frame of this flush leave in one write, which the TLS
    // socket encrypts with one SSL_write (one record, one syscall) instead of one per frame.
    const socket = this.#socket;
    socket.cork();
    this.#writeControl();
    this.#pump();
    socket.uncork();
  }

  /** Frames queued stream data while the socket has room, round-robin, one quantum per stream per turn. */
  #pump(): void {
    const socket = this.#socket;
    while (this.#readyHead < this.#ready.length) {
      if (socket.destroyed || socket.writableEnded) return;
      if (socket.writableLength >= SOCKET_BUFFER_BYTES) {
        if (!this.#awaitingDrain) {
          this.#awaitingDrain = true;
          socket.once('drain', () => {
            this.#awaitingDrain = false;
            this.#flush();
          });
        }
        break;
      }
      const stream = this.#ready[this.#readyHead] as H2Stream;
      if (stream.state === 'closed' || stream.endSent) {
        this.#dequeueHead();
        continue;
      }
      const queued = stream.queuedBytes;
      if (queued > 0 && this.#sendWindow.available <= 0) {
        // The connection window is used up: the streams wait, in order, for a WINDOW_UPDATE on stream 0.
        break;
      }
      this.#dequeueHead();
      // false: the stream's own window is used up; a WINDOW_UPDATE for it schedules it again.
      this.#sendFrom(stream);
    }
    if (this.#readyHead === this.#ready.length) {
      this.#ready = [];
      this.#readyHead = 0;
    } else if (this.#readyHead > 1024 && this.#readyHead * 2 > this.#ready.length) {
      this.#ready = this.#ready.slice(this.#readyHead);
      this.#readyHead = 0;
    }
  }

  #dequeueHead(): void {
    const stream = this.#ready[this.#readyHead] as H2Stream;
    this.#ready[this.#readyHead] = undefined as unknown as H2Stream;
    this.#readyHead++;
    stream.scheduled = false;
  }

  /**
   * Sends one DATA frame from `stream`, or its END_STREAM.
   *
   * @returns `false` when flow control held it back.
   */
  #sendFrom(stream: H2Stream): boolean {
    const queued = stream.queuedBytes;
    if (queued === 0) {
      if (stream.endPending && !stream.endSent) this.#writeData(stream, 0, true);
      return true;
    }
    // A stream alone in the queue sends frames as large as the peer allows; several take turns.
    const alone = this.#ready.length - this.#readyHead === 0;
    const n = Math.min(
      queued,
      stream.sendWindow.available,
      this.#sendWindow.available,
      this.#remote.maxFrameSize,
      alone ? SOCKET_BUFFER_BYTES : DATA_QUANTUM_BYTES,
    );
    if (n <= 0) return false;
    const last = n === queued && stream.endPending;
    this.#writeData(stream, n, last);
    if (stream.state !== 'closed' && (stream.queuedBytes > 0 || (stream.endPending && !stream.endSent))) {
      this.queueData(stream, 0);
    }
    return true;
  }

  #writeData(stream: H2Stream, n: number, endStream: boolean): void {
    const socket = this.#socket;
    const header = encodeFrameHeader(n, H2_FRAME.DATA, endStream ? H2_FLAG.END_STREAM : 0, stream.id);
    let done: WriteCallback[] | undefined;
    if (n > 0) {
      stream.sendWindow.consume(n);
      this.#sendWindow.consume(n);
      stream.queuedBytes -= n;
      this.#queuedBytes -= n;
      done = takeFromQueue(stream, n, this.#pieces);
    }
    const pieces = this.#pieces;
    const after = done === undefined ? undefined : allOf(done);
    if (n <= COPY_FRAME_BYTES) {
      const frame = new Uint8Array(header.length + n);
      frame.set(header, 0);
      let at = header.length;
      for (const piece of pieces) {
        frame.set(piece, at);
        at += piece.length;
      }
      socket.write(frame, after);
    } else {
      socket.cork();
      socket.write(header);
      const last = pieces.length - 1;
      for (let i = 0; i < last; i++) socket.write(pieces[i] as Uint8Array);
      socket.write(pieces[last] as Uint8Array, after);
      socket.uncork();
    }
    pieces.length = 0;
    if (endStream) {
      stream.endSent = true;
      stream.transition('send-end');
    }
    if (stream.waitingWritable && stream.state !== 'closed') {
      if (stream.queuedBytes < STREAM_QUEUE_LOW_BYTES && this.connectionWritable) {
        stream.waitingWritable = false;
        stream.events.onWritable();
      } else if (!this.connectionWritable) {
        this.#waitingWritable.add(stream);
      }
    }
    this.#notifyWritable();
  }

  /**
   * The connection's send queue reached its mark: every stream's owner is told to stop its source now, not
   * only the one whose write crossed it (200 upstreams each adding a read would otherwise add 200 reads).
   */
  #blockAll(): void {
    for (const stream of this.#streams.values()) {
      if (stream.state === 'closed' || !stream.writable) continue;
      stream.waitingWritable = true;
      this.#waitingWritable.add(stream);
      stream.events.onBlocked?.();
    }
  }

  #notifyWritable(): void {
    if (this.#waitingWritable.size === 0 || this.#queuedBytes >= CONNECTION_QUEUE_LOW_BYTES) return;
    const waiting = [...this.#waitingWritable];
    this.#waitingWritable.clear();
    for (const stream of waiting) {
      if (stream.state === 'closed' || !stream.waitingWritable) continue;
      if (stream.queuedBytes < STREAM_QUEUE_LOW_BYTES) {
        stream.waitingWritable = false;
        stream.events.onWritable();
      }
    }
  }

  // ---- keepalive ----

  #startKeepalive(): void {
    const { pingIntervalMs, pingTimeoutMs } = this.#options;
    if (!(pingIntervalMs > 0)) return;
    this.#pingTimer = setInterval(() => {
      if (this.#state === 'closed' || this.#pingOutstanding !== undefined) return;
      this.#pingCounter++;
      const opaque = new Uint8Array(8);
      new DataView(opaque.buffer).setBigUint64(0, BigInt(this.#pingCounter));
      this.#pingOutstanding = BigInt(this.#pingCounter);
      this.#control.push(encodePing(opaque, false));
      this.#flush();
      this.#pingDeadline = setTimeout(() => this.#onPingTimeout(), pingTimeoutMs);
      this.#pingDeadline.unref();
    }, pingIntervalMs);
    this.#pingTimer.unref();
  }

  #onPingTimeout(): void {
    debug('no PING answer from %s: destroying the connection', this.#options.peer);
    const error = new HboneError(
      'HBONE_ERR_PING_TIMEOUT',
      `no PING answer from ${this.#options.peer} within ${this.#options.pingTimeoutMs} ms: dropping the connection`,
    );
    // ztunnel's server answers a ping timeout with an abrupt shutdown, GOAWAY NO_ERROR
    // (istio/ztunnel@62d82653:src/proxy/h2/server.rs); either way the socket goes now, whatever it holds.
    this.destroy(error, this.role === 'server' ? H2_ERROR.NO_ERROR : undefined);
  }

  #stopKeepalive(): void {
    if (this.#pingTimer !== undefined) clearInterval(this.#pingTimer);
    if (this.#pingDeadline !== undefined) clearTimeout(this.#pingDeadline);
    this.#pingTimer = undefined;
    this.#pingDeadline = undefined;
  }
}

// Writers are told to go on once their queue is half empty (hysteresis: not one event per frame).
const STREAM_QUEUE_LOW_BYTES = 128 * 1024;
const CONNECTION_QUEUE_LOW_BYTES = CONNECTION_QUEUE_MARK_BYTES / 2;

/**
 * Takes `n` bytes off the front of a stream's queue as views (no copy) into `pieces`.
 *
 * @returns The callbacks of the chunks whose last byte was taken, if any.
 */
function takeFromQueue(stream: H2Stream, n: number, pieces: Uint8Array[]): WriteCallback[] | undefined {
  let left = n;
  const queue = stream.queue;
  const sent = stream.sent;
  let done: WriteCallback[] | undefined;
  while (left > 0) {
    const head = queue[stream.queueHead] as Uint8Array;
    const available = head.length - stream.queueOffset;
    if (available <= left) {
      pieces.push(stream.queueOffset === 0 ? head : head.subarray(stream.queueOffset));
      left -= available;
      const callback = sent[stream.queueHead];
      if (callback !== undefined) {
        done ??= [];
        done.push(callback);
      }
      queue[stream.queueHead] = EMPTY;
      sent[stream.queueHead] = undefined;
      stream.queueHead++;
      stream.queueOffset = 0;
    } else {
      pieces.push(head.subarray(stream.queueOffset, stream.queueOffset + left));
      stream.queueOffset += left;
      left = 0;
    }
  }
  if (stream.queueHead === queue.length) {
    stream.queue = [];
    stream.sent = [];
    stream.queueHead = 0;
  } else if (stream.queueHead > 64 && stream.queueHead * 2 > queue.length) {
    stream.queue = queue.slice(stream.queueHead);
    stream.sent = sent.slice(stream.queueHead);
    stream.queueHead = 0;
  }
  return done;
}

function allOf(callbacks: WriteCallback[]): WriteCallback {
  if (callbacks.length === 1) return callbacks[0] as WriteCallback;
  return (error) => {
    for (const callback of callbacks) callback(error);
  };
}

const EMPTY = new Uint8Array(0);

function concat(parts: readonly Uint8Array[], total?: number): Uint8Array {
  let length = total ?? 0;
  if (total === undefined) for (const part of parts) length += part.length;
  const out = new Uint8Array(length);
  let at = 0;
  for (const part of parts) {
    out.set(part, at);
    at += part.length;
  }
  return out;
}
