/**
 * How a CONNECT stream's end reads on the TCP side, the same on both ends of a tunnel
 * (`docs/hbone.md` "Byte semantics"):
 *
 * - END_STREAM is a FIN. RST_STREAM with NO_ERROR or CANCEL is an EOF too, as ztunnel reads it
 *   (istio/ztunnel@62d82653:src/proxy/h2.rs).
 * - Any other reset code is an error: the TCP side is reset (RST) and the tunnel fails, never ends as if
 *   complete (RFC 9113 §8.5: "a TCP segment with the RST bit set" for a stream error, RST_STREAM with
 *   CONNECT_ERROR for a TCP error).
 * - The connection failing under a stream whose END_STREAM had not arrived is an error as well.
 * @module
 */

import { HboneError } from './codec/errors.js';
import { H2_ERROR, h2ErrorName } from './codec/h2-constants.js';

/**
 * Whether a RST_STREAM code reads as a clean EOF.
 *
 * @param code - The reset's code; `undefined` when the stream was not reset.
 * @returns `true` for none, NO_ERROR and CANCEL.
 * @example
 * ```ts
 * isEofReset(H2_ERROR.CANCEL); // true
 * isEofReset(H2_ERROR.INTERNAL_ERROR); // false
 * ```
 */
export function isEofReset(code: number | undefined): boolean {
  return code === undefined || code === H2_ERROR.NO_ERROR || code === H2_ERROR.CANCEL;
}

/**
 * The error a tunnel fails with when its stream is reset with an error code.
 *
 * @param code - The reset's code.
 * @param by - Who reset it, for the message.
 * @returns `HBONE_ERR_STREAM_RESET`.
 * @example
 * ```ts
 * tunnel.destroy(resetError(H2_ERROR.INTERNAL_ERROR, 'peer'));
 * ```
 */
export function resetError(code: number, by: 'peer' | 'client'): HboneError {
  return new HboneError(
    'HBONE_ERR_STREAM_RESET',
    `the ${by} reset the tunnel with HTTP/2 error code ${h2ErrorName(code)} (${code})`,
  );
}

/**
 * The error of a tunnel whose connection went away before the peer's END_STREAM.
 *
 * @param cause - Why the connection ended, if known.
 * @returns `HBONE_ERR_CONNECTION_CLOSED` with `cause` (a PING timeout, a protocol error, a reset socket), or
 *   `cause` itself when it already is `HBONE_ERR_CONNECTION_CLOSED` or `HBONE_ERR_DRAIN_TIMEOUT`.
 * @example
 * ```ts
 * stream.setEvents({ ...events, onClose: (error) => error && tunnel.destroy(lostError(error)) });
 * ```
 */
export function lostError(cause: Error | undefined): HboneError {
  if (
    cause instanceof HboneError &&
    (cause.code === 'HBONE_ERR_CONNECTION_CLOSED' || cause.code === 'HBONE_ERR_DRAIN_TIMEOUT')
  ) {
    return cause;
  }
  return new HboneError('HBONE_ERR_CONNECTION_CLOSED', 'the HBONE connection failed under the tunnel', {
    cause,
  });
}
