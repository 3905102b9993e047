/**
 * What an HTTP/2 endpoint does about a peer's mistake (RFC 9113 §5.4): a connection error ends the whole
 * connection with GOAWAY, a stream error ends one stream with RST_STREAM. The codec reports either as an
 * {@link H2Failure}; the runtime sends the frame and turns it into an `HboneError` for its users.
 * @module
 */

/** A protocol failure and how far it reaches. */
export interface H2Failure {
  /** `connection`: GOAWAY and close (§5.4.1). `stream`: RST_STREAM on `streamId` (§5.4.2). */
  readonly scope: 'connection' | 'stream';
  /** The RFC 9113 §7 error code to send. */
  readonly code: number;
  /** What was wrong, for logs and the GOAWAY debug data. */
  readonly message: string;
}

/**
 * A connection error (RFC 9113 §5.4.1).
 *
 * @param code - The GOAWAY error code.
 * @param message - What was wrong.
 * @returns The failure.
 * @example
 * ```ts
 * const failure = connectionFailure(H2_ERROR.FRAME_SIZE_ERROR, 'PING payload must be 8 bytes');
 * ```
 */
export function connectionFailure(code: number, message: string): H2Failure {
  return { scope: 'connection', code, message };
}

/**
 * A stream error (RFC 9113 §5.4.2).
 *
 * @param code - The RST_STREAM error code.
 * @param message - What was wrong.
 * @returns The failure.
 * @example
 * ```ts
 * const failure = streamFailure(H2_ERROR.PROTOCOL_ERROR, 'WINDOW_UPDATE increment of 0');
 * ```
 */
export function streamFailure(code: number, message: string): H2Failure {
  return { scope: 'stream', code, message };
}
