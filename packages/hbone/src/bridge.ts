/**
 * The server's data path: an accepted CONNECT stream joined directly to its upstream socket, both ways, with
 * the byte semantics of `docs/hbone.md` "Byte semantics" (the same as {@link TunnelStream}, without a Duplex
 * in between: this is the hot path of every inbound byte).
 *
 * - Client END_STREAM → `upstream.end()` (TCP FIN); upstream FIN → END_STREAM. Each direction runs to its own
 *   end (join, not race), as ztunnel's `copy_bidirectional` (istio/ztunnel@62d82653:src/copy.rs).
 * - Backpressure: bytes written to the upstream are handed back to flow control only while the upstream
 *   keeps up (the client stops after the 4 MiB stream window); the upstream socket is paused while the
 *   stream's send queue is over its mark (a client that does not read stops the upstream being read).
 * - Resets: a client reset with NO_ERROR or CANCEL is an EOF for the upstream; any other code, or the
 *   connection failing, resets the upstream (TCP RST, RFC 9113 §8.5). An upstream that fails (a reset, an
 *   error) resets the stream with CONNECT_ERROR; one that closes early without an error, with CANCEL.
 * @module
 */
import type { Duplex } from 'node:stream';
import { H2_ERROR } from './codec/h2-constants.js';
import type { H2HeaderMap } from './codec/h2-header-fields.js';
import type { H2Stream, H2StreamEvents } from './h2-stream.js';
import type { TunnelClose } from './hbone-stream.js';
import { isEofReset, lostError, resetError } from './stream-close.js';

// While the upstream's write buffer holds less than this, received bytes go straight back to flow control.
const UPSTREAM_BUFFER_BYTES = 1024 * 1024;

/** A running bridge. */
export interface Bridge {
  /** Resolves when both the stream and the upstream are closed, with the byte counts and any error. */
  readonly done: Promise<TunnelClose>;
  /** Tears both sides down (the server's drain deadline). */
  destroy(error: Error): void;
}

/** What arrived on the stream before the bridge took it over (while the CONNECT was authorized). */
export interface EarlyInput {
  readonly chunks: readonly Uint8Array[];
  readonly ended: boolean;
}

/** Resets a TCP upstream (RST) when it is a socket that can; otherwise destroys it. */
function resetUpstream(upstream: Duplex, error: Error): void {
  const socket = upstream as Duplex & { resetAndDestroy?: () => void };
  if (typeof socket.resetAndDestroy === 'function' && !upstream.destroyed) {
    try {
      socket.resetAndDestroy();
      return;
    } catch {
      // Not connected (any more): fall through to a plain destroy.
    }
  }
  upstream.destroy(error);
}

/**
 * Joins `stream` (after its 200 was sent) and `upstream`.
 *
 * @param stream - The server-side CONNECT stream.
 * @param upstream - The connected upstream, e.g. a `net.Socket` with `allowHalfOpen`.
 * @param early - What arrived on the stream before now.
 * @returns The bridge.
 * @example
 * ```ts
 * stream.respond([[':status', '200']], false);
 * const { done } = bridge(stream, socket, { chunks: [], ended: false });
 * const { bytesSent, bytesReceived, error } = await done;
 * ```
 */
export function bridge(stream: H2Stream, upstream: Duplex, early: EarlyInput): Bridge {
  let sent = 0;
  let received = 0;
  let error: Error | undefined;
  let streamClosed = false;
  let upstreamClosed = false;
  let upstreamFailed = false;
  // Received bytes the upstream has not taken yet: handed back to flow control on 'drain'.
  let owed = 0;
  let resolveDone: (close: TunnelClose) => void = () => {};
  const done = new Promise<TunnelClose>((resolve) => {
    resolveDone = resolve;
  });
  const maybeDone = (): void => {
    if (streamClosed && upstreamClosed) resolveDone({ bytesSent: sent, bytesReceived: received, error });
  };

  // client → upstream. A TLS read yields 16 KiB and a burst of them arrives in one tick: cork the upstream
  // for the rest of the tick so they leave in one writev.
  let corked = false;
  const uncork = (): void => {
    corked = false;
    upstream.uncork();
  };
  const toUpstream = (chunk: Uint8Array): void => {
    received += chunk.length;
    if (upstream.destroyed || upstream.writableEnded) {
      stream.release(chunk.length);
      return;
    }
    if (!corked) {
      corked = true;
      upstream.cork();
      process.nextTick(uncork);
    }
    upstream.write(chunk);
    if (upstream.writableLength < UPSTREAM_BUFFER_BYTES) stream.release(chunk.length);
    else owed += chunk.length;
  };
  upstream.on('drain', () => {
    // Our own release, and the stream's send queue going under its mark, both resume things here.
    const n = owed;
    owed = 0;
    stream.release(n);
  });

  const events: H2StreamEvents = {
    onHeaders: (_headers: H2HeaderMap) => {},
    onData: toUpstream,
    onEnd: () => {
      if (!upstream.destroyed && !upstream.writableEnded) upstream.end();
    },
    onReset: (code: number) => {
      if (isEofReset(code)) {
        // An EOF: FIN to the upstream. Nothing from it can reach the client any more, so close it once the
        // FIN is out rather than wait on it.
        if (upstream.destroyed) return;
        if (!upstream.writableEnded) upstream.end();
        if (upstream.writableFinished) upstream.destroy();
        else upstream.once('finish', () => upstream.destroy());
        return;
      }
      error ??= resetError(code, 'client');
      resetUpstream(upstream, error);
    },
    onWritable: () => {
      if (!upstream.destroyed) upstream.resume();
    },
    onBlocked: () => {
      if (!upstream.destroyed) upstream.pause();
    },
    onClose: (why: Error | undefined) => {
      streamClosed = true;
      if (why !== undefined && !stream.endReceived && stream.resetCode === undefined) {
        // The connection went away under the tunnel: the upstream must not see a clean FIN.
        error ??= lostError(why);
        resetUpstream(upstream, error);
      } else if (stream.resetCode === undefined && !upstream.destroyed && upstream.writableFinished) {
        // Both END_STREAMs exchanged and the upstream's FIN is out: nothing more can happen on it.
        if (upstream.readableEnded) upstream.destroy();
      }
      maybeDone();
    },
  };

  // upstream → client: the stream's queue is what flow control or the socket has not let out yet.
  upstream.on('data', (chunk: Buffer) => {
    if (streamClosed || !stream.writable) return;
    sent += chunk.length;
    if (!stream.write(chunk)) upstream.pause();
  });
  upstream.on('end', () => stream.end());
  upstream.on('error', (failure: Error) => {
    upstreamFailed = true;
    error ??= failure;
  });
  upstream.once('close', () => {
    upstreamClosed = true;
    if (!streamClosed && !stream.closed) {
      if (upstreamFailed) {
        // A TCP error (a reset, a timeout): RFC 9113 §8.5's CONNECT_ERROR, which the client does not read
        // as an EOF.
        stream.reset(H2_ERROR.CONNECT_ERROR);
      } else if (!upstream.readableEnded) {
        // Closed without its FIN having been read: dropped, as ztunnel drops a stream (CANCEL, an EOF).
        stream.reset(H2_ERROR.CANCEL);
      }
      // Otherwise both directions are done on the upstream side; the stream closes when the client's
      // END_STREAM arrives.
    }
    maybeDone();
  });

  // Anything that arrived while the CONNECT was being authorized goes first.
  for (const chunk of early.chunks) toUpstream(chunk);
  stream.setEvents(events);
  if (early.ended) events.onEnd();

  return {
    done,
    destroy(reason: Error): void {
      error ??= reason;
      if (!stream.closed) stream.reset(H2_ERROR.CONNECT_ERROR);
      resetUpstream(upstream, reason);
    },
  };
}
