/**
 * One HTTP/2 stream of an {@link H2Session}: a CONNECT tunnel's frames. Its owner (the client's
 * `TunnelStream`, the server's bridge) writes bytes into it and hears about what arrives through its
 * {@link H2StreamEvents}; the session does the framing, flow control and scheduling.
 *
 * Buffering is bounded both ways: what arrives is limited by the windows this side advertised and handed
 * back (WINDOW_UPDATE) only as the owner calls {@link H2Stream.release}; what is written waits in a queue
 * whose size {@link H2Stream.write} reports, so the owner stops its source when the peer does not drain.
 * @module
 */

import type { H2ReceiveWindow, H2SendWindow } from './codec/h2-flow.js';
import type { H2HeaderMap } from './codec/h2-header-fields.js';
import { canReceive, canSend, type H2StreamState, nextStreamState } from './codec/h2-stream-state.js';

/** What a stream tells its owner. Every callback runs inside the session's I/O; none may throw. */
export interface H2StreamEvents {
  /** A header block arrived: the request (server) or the response (client). */
  onHeaders(headers: H2HeaderMap, endStream: boolean): void;
  /** Payload arrived; call {@link H2Stream.release} once it is consumed. */
  onData(chunk: Uint8Array): void;
  /** The peer's END_STREAM: no more data will come. */
  onEnd(): void;
  /**
   * The peer reset the stream (RST_STREAM), or a GOAWAY refused it.
   *
   * @param code - The RFC 9113 §7 error code.
   * @param refused - The peer never processed the stream (REFUSED_STREAM, or above the GOAWAY's last
   *   stream id): it is safe to retry elsewhere.
   */
  onReset(code: number, refused: boolean): void;
  /** The send queue went back under its mark after {@link H2Stream.write} returned `false`. */
  onWritable(): void;
  /**
   * The connection's send queue reached its mark (the peer is not draining): stop writing until
   * `onWritable`, even though this stream's last write was accepted.
   */
  onBlocked?(): void;
  /**
   * The stream is gone from the session: both END_STREAMs, a reset, or the connection ending. Called once,
   * last.
   *
   * @param error - Why, when the connection failed or closed under a stream that was not done.
   */
  onClose(error: Error | undefined): void;
}

/** Told when a written chunk has left through the socket, or with an error when it never will. */
export type WriteCallback = (error?: Error | null) => void;

/** What a stream needs from its session (the session implements it; owners never call it). */
export interface H2StreamHost {
  /** `bytes` more are queued on `stream` (0 for END_STREAM alone): schedule it. */
  queueData(stream: H2Stream, bytes: number): void;
  sendHeaders(stream: H2Stream, fields: readonly (readonly [string, string])[], endStream: boolean): void;
  sendReset(stream: H2Stream, code: number): void;
  release(stream: H2Stream, bytes: number): void;
  /** Whether the connection-wide send queue is under its mark. */
  readonly connectionWritable: boolean;
  /** A stream whose state became `closed`. */
  retire(stream: H2Stream, error: Error | undefined): void;
}

/**
 * The events of a stream whose owner is not there yet (a server's stream while its CONNECT is authorized and
 * its upstream dialed): what arrives is kept, bounded by the stream window, and replayed to the owner.
 */
function bufferingEvents(): H2StreamEvents & { replay(to: H2StreamEvents): void } {
  const log: (() => void)[] = [];
  let target: H2StreamEvents | undefined;
  const record =
    <A extends unknown[]>(name: keyof H2StreamEvents) =>
    (...args: A): void => {
      log.push(() => (target?.[name] as ((...a: A) => void) | undefined)?.(...args));
    };
  return {
    onHeaders: record('onHeaders'),
    onData: record('onData'),
    onEnd: record('onEnd'),
    onReset: record('onReset'),
    onWritable: () => {},
    onClose: record('onClose'),
    replay(to: H2StreamEvents): void {
      target = to;
      for (const event of log.splice(0)) event();
    },
  };
}

/**
 * A stream. Built by the session (`request()` on a client, a peer's HEADERS on a server).
 *
 * State machine: RFC 9113 §5.1 (`codec/h2-stream-state.ts`); the stream leaves its session when it reaches
 * `closed`, and `onClose` is the last event.
 *
 * @example
 * ```ts
 * const stream = session.request(fields);
 * stream.setEvents({ ...handlers });
 * if (!stream.write(bytes)) pauseSource();
 * stream.end();
 * ```
 */
export class H2Stream {
  readonly id: number;
  /** @internal The session. */
  readonly host: H2StreamHost;
  /** @internal Flow control: what the peer lets us send on this stream. */
  readonly sendWindow: H2SendWindow;
  /** @internal Flow control: what we let the peer send on this stream. */
  readonly recvWindow: H2ReceiveWindow;
  /** @internal The state (RFC 9113 §5.1). */
  state: H2StreamState = 'idle';
  /** @internal The owner's callbacks (until the owner is there: a recorder, replayed to it). */
  events: H2StreamEvents = bufferingEvents();
  /** @internal Chunks written and not yet framed; `queueHead`/`queueOffset` mark where sending resumes. */
  queue: Uint8Array[] = [];
  /** @internal Per chunk of `queue`: called once its last byte is out of the socket (or dropped). */
  sent: (WriteCallback | undefined)[] = [];
  queueHead = 0;
  queueOffset = 0;
  /** @internal Bytes in `queue` not yet framed. */
  queuedBytes = 0;
  /** @internal `end()` was called: END_STREAM goes out after the queue. */
  endPending = false;
  /** @internal In the session's list of streams with something to send. */
  scheduled = false;
  /** @internal `write()` returned false; `onWritable` is owed. */
  waitingWritable = false;
  /** @internal Bytes received and not yet released by the owner. */
  unreleased = 0;
  /** @internal The RST_STREAM code, sent or received. */
  resetCode: number | undefined;
  /** @internal The peer's END_STREAM arrived. */
  endReceived = false;
  /** @internal Our END_STREAM went out. */
  endSent = false;
  /** @internal A header block arrived already (later ones are trailers). */
  headersReceived = false;
  /** @internal Our header block went out. */
  headersSent = false;

  /**
   * @param id - The stream id.
   * @param host - The session.
   * @param sendWindow - Starts at the peer's SETTINGS_INITIAL_WINDOW_SIZE.
   * @param recvWindow - Starts at ours.
   */
  constructor(id: number, host: H2StreamHost, sendWindow: H2SendWindow, recvWindow: H2ReceiveWindow) {
    this.id = id;
    this.host = host;
    this.sendWindow = sendWindow;
    this.recvWindow = recvWindow;
  }

  /**
   * Sets the owner's callbacks (once the owner exists: a server's stream is born before its tunnel).
   *
   * @param events - The callbacks.
   */
  setEvents(events: H2StreamEvents): void {
    const previous = this.events as H2StreamEvents & { replay?: (to: H2StreamEvents) => void };
    this.events = events;
    previous.replay?.(events);
  }

  /** Whether `write()` and `end()` still do something. */
  get writable(): boolean {
    return canSend(this.state) && !this.endPending;
  }

  /** Whether the peer may still send data. */
  get readable(): boolean {
    return canReceive(this.state);
  }

  /** Whether the stream has left its session. */
  get closed(): boolean {
    return this.state === 'closed';
  }

  /**
   * Sends the response (a server) as HEADERS.
   *
   * @param fields - `[name, value]` pairs, `:status` first.
   * @param endStream - Close our side with it (an error answer).
   */
  respond(fields: readonly (readonly [string, string])[], endStream: boolean): void {
    if (this.headersSent || this.state === 'closed') return;
    this.host.sendHeaders(this, fields, endStream);
  }

  /**
   * Queues payload. Never refuses bytes while the stream is writable; the return value says whether the
   * owner should keep writing (`false`: wait for `onWritable`).
   *
   * @param chunk - Bytes; kept by reference (never copied) until written to the socket.
   * @param sent - Called once the chunk's last byte has left through the socket, so the caller may reuse
   *   the buffer (as `net.Socket`'s write callback); with an error when the stream or connection ends
   *   first. Called at once for an empty chunk.
   * @returns `true` while the stream's and the connection's send queues are under their marks.
   */
  write(chunk: Uint8Array, sent?: WriteCallback): boolean {
    if (!this.writable) {
      sent?.(new Error('the stream is not writable'));
      return false;
    }
    if (chunk.length > 0) {
      this.queue.push(chunk);
      this.sent.push(sent);
      this.queuedBytes += chunk.length;
      this.host.queueData(this, chunk.length);
    } else {
      sent?.();
    }
    return this.checkWritable();
  }

  /** @internal Whether the owner may write more; records that `onWritable` is owed otherwise. */
  checkWritable(): boolean {
    const ok = this.queuedBytes < STREAM_QUEUE_MARK_BYTES && this.host.connectionWritable;
    if (!ok) this.waitingWritable = true;
    return ok;
  }

  /** Sends END_STREAM once the queue is out (half-close, RFC 9113 §8.5: the tunnel's FIN). */
  end(): void {
    if (!this.writable) return;
    this.endPending = true;
    this.host.queueData(this, 0);
  }

  /**
   * Resets the stream (RST_STREAM): queued bytes are dropped. Nothing happens once it is closed.
   *
   * @param code - The RFC 9113 §7 error code: CANCEL for an abort the peer reads as EOF, CONNECT_ERROR
   *   for a broken TCP side (RFC 9113 §8.5).
   */
  reset(code: number): void {
    if (this.state === 'closed' || this.state === 'idle') return;
    this.host.sendReset(this, code);
  }

  /**
   * The owner consumed `bytes` of what `onData` gave it: flow-control window goes back to the peer.
   *
   * @param bytes - How many.
   */
  release(bytes: number): void {
    if (bytes > 0) this.host.release(this, bytes);
  }

  /**
   * @internal Applies a state event and retires the stream when it reaches `closed`.
   *
   * @returns `false` when the event is not allowed in the current state.
   */
  transition(event: Parameters<typeof nextStreamState>[1], error?: Error): boolean {
    const next = nextStreamState(this.state, event);
    if (next === undefined) return false;
    this.state = next;
    if (next === 'closed') this.host.retire(this, error);
    return true;
  }
}

/**
 * How many bytes a stream's send queue holds before `write()` says stop: enough to keep a connection busy
 * between two of the owner's writes, small against the 4 MiB window that bounds what the peer buffers.
 */
export const STREAM_QUEUE_MARK_BYTES: number = 256 * 1024;
