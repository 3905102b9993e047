/**
 * The server's data path: an accepted CONNECT stream joined directly to its upstream socket, both ways, with
 * the byte semantics of hbone.md §1.8 (the same as {@link TunnelStream}, without a Duplex in between: this is
 * the hot path of every inbound byte, and each stream layer costs CPU per chunk).
 *
 * - Client END_STREAM → `upstream.end()` (TCP FIN); upstream FIN → END_STREAM. Each direction runs to its own
 *   end (join, not race), as ztunnel's `copy_bidirectional`.
 * - Backpressure: a full upstream pauses the HTTP/2 stream (no WINDOW_UPDATE, the client stops after the
 *   4 MiB stream window); a slow client pauses the upstream socket.
 * - A client reset with NO_ERROR or CANCEL is an EOF for the upstream; any other reset, or the connection
 *   failing, destroys the upstream. An upstream error resets the stream (CANCEL, as ztunnel dropping it).
 * @module
 */
import { type Http2Session, constants as h2constants, type ServerHttp2Stream } from 'node:http2';
import type { Duplex } from 'node:stream';
import { isEofReset, streamCloseError, type TunnelClose } from './hbone-stream.js';

const { NGHTTP2_CANCEL } = h2constants;

// How much either direction may hold in Node's buffers before it pauses its source: 1 MiB, a quarter of the
// stream window, so a slow side still stops the other one well within the window (hbone.md §1.8).
const BUFFER_BYTES = 1024 * 1024;

/** A running bridge. */
export interface Bridge {
  /** Resolves when both the stream and the upstream are closed, with the byte counts and any error. */
  readonly done: Promise<TunnelClose>;
  /** Tears both sides down (the server's drain deadline). */
  destroy(error: Error): void;
}

/**
 * Joins `stream` (after its 200 was sent) and `upstream`.
 *
 * @param stream - The server-side CONNECT stream.
 * @param upstream - The connected upstream, e.g. a `net.Socket` with `allowHalfOpen`.
 * @returns The bridge.
 * @example
 * ```ts
 * stream.respond({ ':status': 200 });
 * const { done } = bridge(stream, socket);
 * const { bytesSent, bytesReceived, error } = await done;
 * ```
 */
export function bridge(stream: ServerHttp2Stream, upstream: Duplex): Bridge {
  const session: Http2Session | undefined = stream.session;
  let sent = 0;
  let received = 0;
  let endStreamReceived = false;
  let error: Error | undefined;
  let streamClosed = false;
  let upstreamClosed = false;
  let resolveDone: (close: TunnelClose) => void = () => {};
  const done = new Promise<TunnelClose>((resolve) => {
    resolveDone = resolve;
  });
  const maybeDone = (): void => {
    if (streamClosed && upstreamClosed) resolveDone({ bytesSent: sent, bytesReceived: received, error });
  };
  const fail = (reason: Error): void => {
    error ??= reason;
  };

  // client → upstream. DATA frames are at most 16 KiB (node:http2 sends no larger) and one socket read yields
  // several: cork the upstream for the rest of the tick so they leave in one writev. Pause on the amount
  // buffered (BUFFER_BYTES) rather than on each write's return value: corked, every write is over the
  // socket's 16 KiB mark, and pausing per chunk would cost more than the writev saves.
  let corked = false;
  const uncork = (): void => {
    corked = false;
    upstream.uncork();
  };
  stream.on('data', (chunk: Buffer) => {
    received += chunk.length;
    if (!corked) {
      corked = true;
      upstream.cork();
      process.nextTick(uncork);
    }
    upstream.write(chunk);
    if (upstream.writableLength >= BUFFER_BYTES) stream.pause();
  });
  // A write over the socket's mark always precedes the buffer reaching BUFFER_BYTES, so 'drain' follows.
  upstream.on('drain', () => stream.resume());
  stream.on('end', () => {
    // node:http2 ends the readable side before it reports a reset with an error code; that is not an EOF.
    if (!isEofReset(stream.rstCode)) return;
    endStreamReceived = !stream.destroyed;
    upstream.end();
  });

  // upstream → client: what the stream holds is what flow control has not let out yet.
  upstream.on('data', (chunk: Buffer) => {
    // The client is gone (a reset): what the upstream still sends has nowhere to go.
    if (streamClosed || stream.destroyed) return;
    sent += chunk.length;
    stream.write(chunk);
    if (stream.writableLength >= BUFFER_BYTES) upstream.pause();
  });
  stream.on('drain', () => upstream.resume());
  upstream.on('end', () => {
    if (!stream.destroyed && !stream.closed) stream.end();
  });

  stream.on('error', fail);
  upstream.on('error', fail);

  stream.once('close', () => {
    streamClosed = true;
    const lost = session?.destroyed === true && !endStreamReceived;
    const failure = streamCloseError(stream.rstCode, lost, error, 'client');
    if (failure !== undefined) {
      fail(failure);
      upstream.destroy();
    } else if (!upstream.destroyed) {
      // A reset reads as EOF: FIN to the upstream. Nothing from it can reach the client any more, so close it
      // once the FIN is out rather than wait on it.
      if (!upstream.writableEnded) upstream.end();
      if (upstream.writableFinished) upstream.destroy();
      else upstream.once('finish', () => upstream.destroy());
    }
    maybeDone();
  });
  upstream.once('close', () => {
    upstreamClosed = true;
    const finished = upstream.readableEnded && upstream.writableFinished;
    if (!streamClosed && !stream.destroyed) {
      // An upstream that failed or was reset: drop the stream (RST_STREAM CANCEL) rather than leave it open.
      if (!finished) stream.close(NGHTTP2_CANCEL);
      // Both directions done on the upstream side; the stream closes when the client's END_STREAM arrives.
    }
    maybeDone();
  });

  return {
    done,
    destroy(reason: Error): void {
      fail(reason);
      if (!stream.destroyed) stream.destroy(reason);
      upstream.destroy();
    },
  };
}
