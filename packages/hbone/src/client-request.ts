/**
 * One CONNECT of the client: the request built as ztunnel builds it (istio/ztunnel@62d82653:
 * src/proxy/outbound.rs `create_hbone_request`), sent on a pooled connection, and the answer awaited: 200
 * makes a tunnel, anything else an `HboneError` carrying the status (istio/ztunnel@62d82653:
 * src/proxy/h2/client.rs: any non-200 is `Error::HttpStatus`).
 * @module
 */
import type { ClientConnection } from './client-connection.js';
import type { HboneAddress } from './codec/authority.js';
import type { Baggage } from './codec/baggage.js';
import { parseConnectResponse } from './codec/connect-response.js';
import { HboneError } from './codec/errors.js';
import { H2_ERROR } from './codec/h2-constants.js';
import { type HboneStreamEvent, publish } from './diagnostics.js';
import type { H2Stream } from './h2-stream.js';
import { TunnelStream } from './hbone-stream.js';
import { abortError } from './pool.js';

/** One CONNECT to send: where to, with which headers, and what telemetry says about it. */
export interface ConnectHop {
  readonly authority: HboneAddress;
  readonly authorityText: string;
  /** The HBONE hop, `ip:port`. */
  readonly via: string;
  /** The request header block, `:method` and `:authority` first. */
  readonly fields: readonly (readonly [string, string])[];
  readonly signal: AbortSignal | undefined;
  readonly startedAt: number;
  readonly requestBaggage: Baggage;
  /** This side's SPIFFE ID, for telemetry. */
  readonly sourceIdentity: string;
}

/**
 * The telemetry fields of a hop, before and after a connection is known.
 *
 * @param hop - The CONNECT.
 * @param connection - Its connection, once there is one.
 * @param streamId - Its stream, once there is one.
 * @returns The event fields.
 * @example
 * ```ts
 * publish('streamFailed', () => ({ ...hopEvent(hop, connection), error, durationMs }));
 * ```
 */
export function hopEvent(
  hop: ConnectHop,
  connection: ClientConnection | undefined,
  streamId?: number,
): HboneStreamEvent {
  return {
    direction: 'outbound',
    connectionId: connection?.id,
    streamId,
    sourceAddress: connection?.localAddress,
    sourceIdentity: hop.sourceIdentity,
    destinationAddress: connection?.remoteAddress ?? hop.via,
    destinationIdentity: connection?.peerIdentity,
    authority: hop.authorityText,
    requestBaggage: hop.requestBaggage,
  };
}

/**
 * Sends the CONNECT on a connection whose stream slot is reserved, and waits for the answer.
 *
 * @param connection - The connection; its slot is released when the stream closes (or at once on failure).
 * @param hop - The CONNECT.
 * @param responseTimeoutMs - How long to wait for the answer.
 * @returns The tunnel, once the server answered 200.
 * @throws {HboneError} The refusal (`status` set), `HBONE_ERR_GOAWAY` (a stream the server never processed:
 *   safe to retry), `HBONE_ERR_RESPONSE_TIMEOUT`, `HBONE_ERR_STREAM_RESET`, `HBONE_ERR_CONNECTION_CLOSED` or
 *   the connection's own failure, or the `signal`'s.
 * @example
 * ```ts
 * const tunnel = await sendConnect(await pool.acquire(key, dial), hop, 30_000);
 * ```
 */
export function sendConnect(
  connection: ClientConnection,
  hop: ConnectHop,
  responseTimeoutMs: number,
): Promise<TunnelStream> {
  let stream: H2Stream;
  try {
    stream = connection.request(hop.fields);
  } catch (error) {
    connection.release();
    return Promise.reject(
      error instanceof HboneError
        ? error
        : new HboneError('HBONE_ERR_GOAWAY', 'the connection stopped taking streams', { cause: error }),
    );
  }
  let released = false;
  const release = (): void => {
    if (released) return;
    released = true;
    connection.release();
  };
  return new Promise<TunnelStream>((resolve, reject) => {
    let settled = false;
    const settle = (error: HboneError | undefined, tunnel?: TunnelStream): void => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      hop.signal?.removeEventListener('abort', onAbort);
      if (error !== undefined) {
        // Given up on: reset what is still open (CANCEL reads as EOF at the server, which stops its dial).
        if (!stream.closed) stream.reset(H2_ERROR.CANCEL);
        reject(error);
      } else if (tunnel !== undefined) {
        resolve(tunnel);
      }
    };
    const onAbort = (): void => settle(abortError(hop.signal as AbortSignal));
    const timer = setTimeout(
      () =>
        settle(
          new HboneError('HBONE_ERR_RESPONSE_TIMEOUT', `no CONNECT answer within ${responseTimeoutMs} ms`),
        ),
      responseTimeoutMs,
    );
    timer.unref();
    stream.setEvents({
      onHeaders: (headers, endStream) => {
        const answer = parseConnectResponse(headers);
        if (answer.isErr()) {
          settle(answer.error);
          return;
        }
        if (endStream) {
          settle(new HboneError('HBONE_ERR_PROTOCOL', 'the server ended the tunnel with its 200'));
          return;
        }
        // Already given up on (aborted, timed out): the stream was reset; build no tunnel nobody would own.
        if (settled) return;
        const peerBaggage = answer.value.baggage;
        const event = {
          ...hopEvent(hop, connection, stream.id),
          ...(peerBaggage === undefined ? {} : { responseBaggage: peerBaggage }),
        };
        const tunnel = new TunnelStream(stream, {
          authority: hop.authorityText,
          peerIdentity: connection.peerIdentity,
          peerBaggage,
          onStreamClosed: release,
          onClose: (close) => {
            publish('streamClosed', () => ({
              ...event,
              bytesSent: close.bytesSent,
              bytesReceived: close.bytesReceived,
              durationMs: performance.now() - hop.startedAt,
              ...(close.error === undefined ? {} : { error: close.error }),
            }));
          },
        });
        publish('streamOpened', () => event);
        settle(undefined, tunnel);
      },
      onData: (chunk) => stream.release(chunk.length),
      onEnd: () => {},
      onReset: (code, refused) => {
        settle(
          refused
            ? new HboneError('HBONE_ERR_GOAWAY', 'the server refused the stream (GOAWAY)')
            : new HboneError(
                'HBONE_ERR_STREAM_RESET',
                `the server reset the CONNECT with HTTP/2 error code ${code}`,
              ),
        );
      },
      onWritable: () => {},
      onClose: (error) => {
        release();
        const cause = connection.error ?? error;
        settle(
          cause instanceof HboneError
            ? cause
            : new HboneError(
                'HBONE_ERR_CONNECTION_CLOSED',
                'the connection closed before the CONNECT was answered',
                {
                  cause,
                },
              ),
        );
      },
    });
    if (hop.signal?.aborted) {
      onAbort();
      return;
    }
    hop.signal?.addEventListener('abort', onAbort, { once: true });
  });
}
