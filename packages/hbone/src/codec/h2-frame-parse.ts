/**
 * Payload parsers for HTTP/2 control frames, with the size and value checks RFC 9113 §6 requires of a
 * receiver. Each returns a neverthrow `Result` whose error is an {@link H2Failure} saying whether the
 * mistake ends the stream or the connection.
 * @module
 */
import { err, ok, type Result } from 'neverthrow';
import { copyBytes } from './bytes.js';
import { H2_ERROR, H2_FLAG, H2_LIMIT } from './h2-constants.js';
import { connectionFailure, type H2Failure, streamFailure } from './h2-failure.js';

function u32(bytes: Uint8Array, at: number): number {
  return (
    (bytes[at] as number) * 16777216 +
    ((bytes[at + 1] as number) << 16) +
    ((bytes[at + 2] as number) << 8) +
    (bytes[at + 3] as number)
  );
}

/**
 * The header block fragment of a HEADERS frame, its padding and priority fields removed (§6.2).
 *
 * @param flags - The frame's flags.
 * @param payload - The frame's payload.
 * @returns A view of the fragment; or PROTOCOL_ERROR (padding too long), FRAME_SIZE_ERROR (too short for
 *   its fields) as connection errors.
 * @example
 * ```ts
 * const fragment = headersFragment(flags, payload)._unsafeUnwrap();
 * ```
 */
export function headersFragment(flags: number, payload: Uint8Array): Result<Uint8Array, H2Failure> {
  let start = 0;
  let end = payload.length;
  if ((flags & H2_FLAG.PADDED) !== 0) {
    if (payload.length < 1) {
      return err(connectionFailure(H2_ERROR.FRAME_SIZE_ERROR, 'a PADDED HEADERS frame without a Pad Length'));
    }
    const padding = payload[0] as number;
    start = 1;
    end -= padding;
  }
  if ((flags & H2_FLAG.PRIORITY) !== 0) start += 5;
  if (end < start) {
    return err(connectionFailure(H2_ERROR.PROTOCOL_ERROR, 'HEADERS padding and priority exceed the payload'));
  }
  return ok(payload.subarray(start, end));
}

/**
 * Checks a PRIORITY frame (§6.3). The priority itself is ignored (RFC 9113 §5.3.2 deprecates the scheme).
 *
 * @param streamId - The frame's stream.
 * @param payload - The frame's payload.
 * @returns Nothing; or PROTOCOL_ERROR on stream 0 (connection), FRAME_SIZE_ERROR when not 5 bytes
 *   (stream error).
 * @example
 * ```ts
 * checkPriority(3, new Uint8Array(5)).isOk(); // true
 * ```
 */
export function checkPriority(streamId: number, payload: Uint8Array): Result<void, H2Failure> {
  if (streamId === 0) return err(connectionFailure(H2_ERROR.PROTOCOL_ERROR, 'PRIORITY on stream 0'));
  if (payload.length !== 5) {
    return err(streamFailure(H2_ERROR.FRAME_SIZE_ERROR, `PRIORITY of ${payload.length} bytes, not 5`));
  }
  return ok(undefined);
}

/**
 * Reads a RST_STREAM frame (§6.4).
 *
 * @param streamId - The frame's stream.
 * @param payload - The frame's payload.
 * @returns The error code; or PROTOCOL_ERROR on stream 0, FRAME_SIZE_ERROR when not 4 bytes (connection).
 * @example
 * ```ts
 * parseRstStream(1, Uint8Array.of(0, 0, 0, 8))._unsafeUnwrap(); // 8 (CANCEL)
 * ```
 */
export function parseRstStream(streamId: number, payload: Uint8Array): Result<number, H2Failure> {
  if (streamId === 0) return err(connectionFailure(H2_ERROR.PROTOCOL_ERROR, 'RST_STREAM on stream 0'));
  if (payload.length !== 4) {
    return err(connectionFailure(H2_ERROR.FRAME_SIZE_ERROR, `RST_STREAM of ${payload.length} bytes, not 4`));
  }
  return ok(u32(payload, 0));
}

/** The values a SETTINGS frame carries, by identifier. Unknown identifiers are dropped (§6.5.2). */
export interface H2SettingsUpdate {
  headerTableSize?: number;
  enablePush?: boolean;
  maxConcurrentStreams?: number;
  initialWindowSize?: number;
  maxFrameSize?: number;
  maxHeaderListSize?: number;
}

/**
 * Reads a SETTINGS frame (§6.5), checking every value's range (§6.5.2).
 *
 * @param flags - The frame's flags.
 * @param streamId - The frame's stream.
 * @param payload - The frame's payload.
 * @param maxEntries - Refuse frames with more entries than this (ENHANCE_YOUR_CALM): each one costs work,
 *   and a 1 MiB frame holds 174,762 of them.
 * @returns `'ack'` for an acknowledgement, else the values; or a connection error: PROTOCOL_ERROR (stream
 *   not 0, ENABLE_PUSH not 0/1, MAX_FRAME_SIZE out of range), FRAME_SIZE_ERROR (length not a multiple of 6,
 *   or an ACK with a payload), FLOW_CONTROL_ERROR (INITIAL_WINDOW_SIZE over 2^31-1).
 * @example
 * ```ts
 * parseSettings(0, 0, encodedPayload, 64)._unsafeUnwrap(); // { maxConcurrentStreams: 200, ... }
 * ```
 */
export function parseSettings(
  flags: number,
  streamId: number,
  payload: Uint8Array,
  maxEntries: number,
): Result<H2SettingsUpdate | 'ack', H2Failure> {
  if (streamId !== 0) return err(connectionFailure(H2_ERROR.PROTOCOL_ERROR, 'SETTINGS on a stream'));
  if ((flags & H2_FLAG.ACK) !== 0) {
    if (payload.length !== 0) {
      return err(connectionFailure(H2_ERROR.FRAME_SIZE_ERROR, 'a SETTINGS ACK with a payload'));
    }
    return ok('ack');
  }
  if (payload.length % 6 !== 0) {
    return err(
      connectionFailure(
        H2_ERROR.FRAME_SIZE_ERROR,
        `SETTINGS of ${payload.length} bytes, not a multiple of 6`,
      ),
    );
  }
  if (payload.length / 6 > maxEntries) {
    return err(connectionFailure(H2_ERROR.ENHANCE_YOUR_CALM, `SETTINGS with ${payload.length / 6} entries`));
  }
  const out: H2SettingsUpdate = {};
  for (let at = 0; at < payload.length; at += 6) {
    const id = ((payload[at] as number) << 8) | (payload[at + 1] as number);
    const value = u32(payload, at + 2);
    switch (id) {
      case 0x1:
        out.headerTableSize = value;
        break;
      case 0x2:
        if (value > 1) {
          return err(connectionFailure(H2_ERROR.PROTOCOL_ERROR, `SETTINGS_ENABLE_PUSH of ${value}`));
        }
        out.enablePush = value === 1;
        break;
      case 0x3:
        out.maxConcurrentStreams = value;
        break;
      case 0x4:
        if (value > H2_LIMIT.MAX_WINDOW) {
          return err(
            connectionFailure(H2_ERROR.FLOW_CONTROL_ERROR, `SETTINGS_INITIAL_WINDOW_SIZE of ${value}`),
          );
        }
        out.initialWindowSize = value;
        break;
      case 0x5:
        if (value < H2_LIMIT.MIN_MAX_FRAME_SIZE || value > H2_LIMIT.MAX_MAX_FRAME_SIZE) {
          return err(connectionFailure(H2_ERROR.PROTOCOL_ERROR, `SETTINGS_MAX_FRAME_SIZE of ${value}`));
        }
        out.maxFrameSize = value;
        break;
      case 0x6:
        out.maxHeaderListSize = value;
        break;
      default:
        // §6.5.2: an unknown or unsupported identifier MUST be ignored.
        break;
    }
  }
  return ok(out);
}

/**
 * Reads a PING frame (§6.7).
 *
 * @param streamId - The frame's stream.
 * @param payload - The frame's payload.
 * @returns The 8 opaque bytes (a view); or PROTOCOL_ERROR (a stream), FRAME_SIZE_ERROR (not 8 bytes).
 * @example
 * ```ts
 * parsePing(0, new Uint8Array(8)).isOk(); // true
 * ```
 */
export function parsePing(streamId: number, payload: Uint8Array): Result<Uint8Array, H2Failure> {
  if (streamId !== 0) return err(connectionFailure(H2_ERROR.PROTOCOL_ERROR, 'PING on a stream'));
  if (payload.length !== 8) {
    return err(connectionFailure(H2_ERROR.FRAME_SIZE_ERROR, `PING of ${payload.length} bytes, not 8`));
  }
  return ok(payload);
}

/** What a GOAWAY frame says. */
export interface H2Goaway {
  /** The highest stream the sender may have processed; higher ones were not and can be retried. */
  readonly lastStreamId: number;
  readonly code: number;
  /** The first 256 bytes of the debug data. */
  readonly debug: Uint8Array;
}

/**
 * Reads a GOAWAY frame (§6.8).
 *
 * @param streamId - The frame's stream.
 * @param payload - The frame's payload.
 * @returns The frame's fields (the debug data copied, 256 bytes at most); or PROTOCOL_ERROR (a stream),
 *   FRAME_SIZE_ERROR (under 8 bytes).
 * @example
 * ```ts
 * parseGoaway(0, new Uint8Array(8))._unsafeUnwrap().lastStreamId; // 0
 * ```
 */
export function parseGoaway(streamId: number, payload: Uint8Array): Result<H2Goaway, H2Failure> {
  if (streamId !== 0) return err(connectionFailure(H2_ERROR.PROTOCOL_ERROR, 'GOAWAY on a stream'));
  if (payload.length < 8) {
    return err(connectionFailure(H2_ERROR.FRAME_SIZE_ERROR, `GOAWAY of ${payload.length} bytes`));
  }
  return ok({
    lastStreamId: u32(payload, 0) & 0x7fffffff,
    code: u32(payload, 4),
    debug: copyBytes(payload, 8, Math.min(payload.length, 8 + 256)),
  });
}

/**
 * Reads a WINDOW_UPDATE frame (§6.9).
 *
 * @param streamId - The frame's stream (0: the connection).
 * @param payload - The frame's payload.
 * @returns The increment; or FRAME_SIZE_ERROR (not 4 bytes, connection error), PROTOCOL_ERROR for an
 *   increment of 0 (a connection error on stream 0, a stream error otherwise).
 * @example
 * ```ts
 * parseWindowUpdate(0, Uint8Array.of(0, 1, 0, 0))._unsafeUnwrap(); // 65536
 * ```
 */
export function parseWindowUpdate(streamId: number, payload: Uint8Array): Result<number, H2Failure> {
  if (payload.length !== 4) {
    return err(
      connectionFailure(H2_ERROR.FRAME_SIZE_ERROR, `WINDOW_UPDATE of ${payload.length} bytes, not 4`),
    );
  }
  const increment = u32(payload, 0) & 0x7fffffff;
  if (increment === 0) {
    const message = 'WINDOW_UPDATE with an increment of 0';
    return err(
      streamId === 0
        ? connectionFailure(H2_ERROR.PROTOCOL_ERROR, message)
        : streamFailure(H2_ERROR.PROTOCOL_ERROR, message),
    );
  }
  return ok(increment);
}
