/**
 * ztunnel's copy loop (`istio/ztunnel@62d82653:src/copy.rs` `copy_bidirectional`) for two Node streams: the
 * counterpart of the server's own stream-to-upstream bridge for a proxy that joins two streams itself: an
 * accepted app socket to a client tunnel (outbound), or a tunnel to an upstream socket it dialled (inbound).
 * Both directions run to completion independently (join, not try-join), an EOF on one side half-closes the
 * other, backpressure holds (`pipe`), bytes are counted per direction, and resets, broken pipes and premature
 * closes count as a normal end rather than an error, as `docs/hbone.md` "Byte semantics" says.
 * @module
 */
import type { Duplex } from 'node:stream';

/** Byte counters of a {@link splice}. */
export interface SpliceCounters {
  /** Called with the size of every chunk read from the downstream and written upstream. */
  readonly fromDownstream?: (bytes: number) => void;
  /** Called with the size of every chunk read from the upstream and written downstream. */
  readonly fromUpstream?: (bytes: number) => void;
}

// ztunnel `ignore_io_errors` (istio/ztunnel@62d82653:src/copy.rs): the peer going away is how TCP connections
// end, not a proxy failure.
const BENIGN = new Set([
  'ECONNRESET',
  'EPIPE',
  'ERR_STREAM_PREMATURE_CLOSE',
  'ERR_STREAM_DESTROYED',
  'ERR_STREAM_WRITE_AFTER_END',
  'HBONE_ERR_CONNECTION_CLOSED',
]);

/**
 * Copies bytes both ways until both directions are done and both streams closed.
 *
 * @param downstream - The side that opened the connection (the app on outbound, the tunnel on inbound).
 * @param upstream - The other side.
 * @param counters - Called with every chunk's size.
 * @returns Resolves once both streams closed: `undefined` for a normal end, else the first real error.
 * @example
 * ```ts
 * const tunnel = await client.connect({ via: '10.0.0.2:15008', authority: '10.0.0.2:8080' });
 * let sent = 0;
 * const error = await splice(appSocket, tunnel, { fromDownstream: (n) => (sent += n) });
 * ```
 */
export function splice(
  downstream: Duplex,
  upstream: Duplex,
  counters: SpliceCounters = {},
): Promise<Error | undefined> {
  return new Promise((resolve) => {
    let failure: Error | undefined;
    let open = 2;
    const onClose = (): void => {
      if (--open === 0) resolve(failure);
    };
    const onError = (other: Duplex) => (error: Error & { code?: string }) => {
      if (failure === undefined && !BENIGN.has(error.code ?? '')) failure = error;
      // One side failing ends the other: there is nobody left to deliver its bytes to.
      other.destroy();
    };
    for (const [from, to, count] of [
      [downstream, upstream, counters.fromDownstream],
      [upstream, downstream, counters.fromUpstream],
    ] as const) {
      if (count !== undefined) from.on('data', (chunk: Buffer) => count(chunk.length));
      from.on('error', onError(to));
      if (from.destroyed) onClose();
      else from.once('close', onClose);
      // A stream that closed without ending (reset) must still release the other side.
      from.once('close', () => {
        if (!from.readableEnded && !to.destroyed && !to.writableEnded) to.destroy();
      });
      from.pipe(to);
    }
  });
}
