/**
 * An incremental HTTP/2 frame decoder (RFC 9113 §4.1), sans-IO: bytes in, handler calls out.
 *
 * - The frame length is checked against the advertised SETTINGS_MAX_FRAME_SIZE as soon as the 9-byte
 *   header is in, before anything is buffered (§4.2: FRAME_SIZE_ERROR).
 * - DATA payloads are never buffered: each piece is handed over as a view of the input chunk, with the
 *   padding stripped (§6.1), so a 1 MiB frame costs no copy and no 1 MiB allocation.
 * - Frames of unknown types are skipped without buffering (§5.5).
 * - Other frames are handed over whole: as a view of the chunk when they sit in one, else copied into a
 *   buffer of exactly their length (bounded by the frame size cap).
 * @module
 */
import { H2_ERROR, H2_FLAG, H2_FRAME, H2_LIMIT } from './h2-constants.js';
import { connectionFailure, type H2Failure } from './h2-failure.js';

/** What the decoder calls as frames arrive. Views passed in are valid until the call returns. */
export interface H2FrameHandler {
  /**
   * A complete frame of a known type other than DATA.
   *
   * @param type - HEADERS, PRIORITY, RST_STREAM, SETTINGS, PUSH_PROMISE, PING, GOAWAY, WINDOW_UPDATE or
   *   CONTINUATION.
   * @param flags - The flag byte.
   * @param streamId - The stream (reserved bit cleared).
   * @param payload - The payload.
   * @returns A failure to stop decoding with, or nothing.
   */
  onFrame(type: number, flags: number, streamId: number, payload: Uint8Array): H2Failure | undefined;
  /**
   * A DATA frame header: `length` is the whole payload, padding included (what flow control counts, §6.1).
   *
   * @returns A failure to stop decoding with (flow control, stream state), or nothing.
   */
  onDataStart(streamId: number, flags: number, length: number): H2Failure | undefined;
  /** A piece of DATA payload, padding excluded; a view of the input chunk. */
  onData(streamId: number, bytes: Uint8Array): void;
  /**
   * The end of a DATA frame.
   *
   * @param paddingBytes - The Pad Length byte and the padding: flow-controlled bytes nobody reads.
   * @returns A failure to stop decoding with, or nothing.
   */
  onDataEnd(streamId: number, flags: number, paddingBytes: number): H2Failure | undefined;
  /** A frame of an unknown type, skipped. */
  onUnknown?(type: number, length: number): H2Failure | undefined;
}

/** A running decoder. */
export interface H2FrameDecoder {
  /**
   * Feeds bytes as they arrive.
   *
   * @param chunk - The next bytes.
   * @returns The first failure (the decoder then stops for good), or `undefined`.
   */
  push(chunk: Uint8Array): H2Failure | undefined;
  /** Stops decoding: later `push` calls do nothing (the connection is going away). */
  halt(): void;
  /** The frame size cap in force (the SETTINGS_MAX_FRAME_SIZE this side advertised). */
  maxFrameBytes: number;
}

const STATE_HEADER = 0;
const STATE_BUFFER = 1;
const STATE_DATA = 2;
const STATE_SKIP = 3;

/**
 * Creates a decoder.
 *
 * @param handler - Receives frames.
 * @param maxFrameBytes - The SETTINGS_MAX_FRAME_SIZE this side advertised (16,384..2^24-1).
 * @returns The decoder.
 * @throws {RangeError} When `maxFrameBytes` is out of range.
 * @example
 * ```ts
 * const decoder = createH2FrameDecoder(session, 1024 * 1024);
 * socket.on('data', (chunk) => {
 *   const failure = decoder.push(chunk);
 *   if (failure !== undefined) goaway(failure);
 * });
 * ```
 */
export function createH2FrameDecoder(handler: H2FrameHandler, maxFrameBytes: number): H2FrameDecoder {
  if (
    !Number.isInteger(maxFrameBytes) ||
    maxFrameBytes < H2_LIMIT.MIN_MAX_FRAME_SIZE ||
    maxFrameBytes > H2_LIMIT.MAX_MAX_FRAME_SIZE
  ) {
    throw new RangeError(`"maxFrameBytes" must be an integer in 16384..2^24-1, got ${maxFrameBytes}`);
  }
  const header = new Uint8Array(H2_LIMIT.FRAME_HEADER_BYTES);
  let headerFilled = 0;
  let state = STATE_HEADER;
  let halted = false;
  let type = 0;
  let flags = 0;
  let streamId = 0;
  let length = 0;
  // STATE_BUFFER: the frame being assembled. STATE_SKIP: bytes left to skip.
  let buffer = new Uint8Array(0);
  let filled = 0;
  let remaining = 0;
  // STATE_DATA: the pad length byte still to read, data bytes left, padding bytes left.
  let needPadLength = false;
  let padding = 0;
  let dataLeft = 0;
  let paddingLeft = 0;

  const decoder: H2FrameDecoder = {
    maxFrameBytes,
    halt(): void {
      halted = true;
    },
    push(chunk: Uint8Array): H2Failure | undefined {
      let offset = 0;
      const end = chunk.length;
      while (offset < end && !halted) {
        if (state === STATE_HEADER) {
          if (headerFilled === 0 && end - offset >= H2_LIMIT.FRAME_HEADER_BYTES) {
            // The common case: the whole header is in this chunk.
            length =
              (chunk[offset] as number) * 65536 +
              ((chunk[offset + 1] as number) << 8) +
              (chunk[offset + 2] as number);
            type = chunk[offset + 3] as number;
            flags = chunk[offset + 4] as number;
            streamId =
              ((chunk[offset + 5] as number) & 0x7f) * 16777216 +
              ((chunk[offset + 6] as number) << 16) +
              ((chunk[offset + 7] as number) << 8) +
              (chunk[offset + 8] as number);
            offset += H2_LIMIT.FRAME_HEADER_BYTES;
          } else {
            const take = Math.min(H2_LIMIT.FRAME_HEADER_BYTES - headerFilled, end - offset);
            header.set(chunk.subarray(offset, offset + take), headerFilled);
            headerFilled += take;
            offset += take;
            if (headerFilled < H2_LIMIT.FRAME_HEADER_BYTES) break;
            headerFilled = 0;
            length = (header[0] as number) * 65536 + ((header[1] as number) << 8) + (header[2] as number);
            type = header[3] as number;
            flags = header[4] as number;
            streamId =
              ((header[5] as number) & 0x7f) * 16777216 +
              ((header[6] as number) << 16) +
              ((header[7] as number) << 8) +
              (header[8] as number);
          }
          if (length > decoder.maxFrameBytes) {
            halted = true;
            return connectionFailure(
              H2_ERROR.FRAME_SIZE_ERROR,
              `frame of ${length} bytes exceeds SETTINGS_MAX_FRAME_SIZE ${decoder.maxFrameBytes}`,
            );
          }
          const failure = startFrame();
          if (failure !== undefined) {
            halted = true;
            return failure;
          }
          continue;
        }
        if (state === STATE_DATA) {
          if (needPadLength) {
            padding = chunk[offset] as number;
            offset++;
            needPadLength = false;
            // §6.1: padding as long as the payload or longer is a connection PROTOCOL_ERROR.
            if (padding >= length) {
              halted = true;
              return connectionFailure(
                H2_ERROR.PROTOCOL_ERROR,
                `DATA padding of ${padding} bytes in a ${length}-byte payload`,
              );
            }
            dataLeft = length - 1 - padding;
            paddingLeft = padding;
          }
          if (dataLeft > 0 && offset < end) {
            const take = Math.min(dataLeft, end - offset);
            handler.onData(streamId, chunk.subarray(offset, offset + take));
            dataLeft -= take;
            offset += take;
          }
          if (dataLeft === 0 && paddingLeft > 0 && offset < end) {
            const take = Math.min(paddingLeft, end - offset);
            paddingLeft -= take;
            offset += take;
          }
          if (dataLeft === 0 && paddingLeft === 0 && !needPadLength) {
            const failure = finishData();
            if (failure !== undefined) {
              halted = true;
              return failure;
            }
          }
          continue;
        }
        if (state === STATE_SKIP) {
          const take = Math.min(remaining, end - offset);
          remaining -= take;
          offset += take;
          if (remaining === 0) state = STATE_HEADER;
          continue;
        }
        // STATE_BUFFER
        if (filled === 0 && end - offset >= length) {
          // The whole payload is in this chunk: hand over a view, no copy.
          const payload = chunk.subarray(offset, offset + length);
          offset += length;
          state = STATE_HEADER;
          const failure = handler.onFrame(type, flags, streamId, payload);
          if (failure !== undefined) {
            halted = true;
            return failure;
          }
          continue;
        }
        if (filled === 0) buffer = new Uint8Array(length);
        const take = Math.min(length - filled, end - offset);
        buffer.set(chunk.subarray(offset, offset + take), filled);
        filled += take;
        offset += take;
        if (filled === length) {
          const payload = buffer;
          buffer = new Uint8Array(0);
          filled = 0;
          state = STATE_HEADER;
          const failure = handler.onFrame(type, flags, streamId, payload);
          if (failure !== undefined) {
            halted = true;
            return failure;
          }
        }
      }
      return undefined;
    },
  };

  function startFrame(): H2Failure | undefined {
    if (type === H2_FRAME.DATA) {
      const failure = handler.onDataStart(streamId, flags, length);
      if (failure !== undefined) return failure;
      const padded = (flags & H2_FLAG.PADDED) !== 0;
      if (padded && length === 0) {
        return connectionFailure(H2_ERROR.FRAME_SIZE_ERROR, 'a PADDED DATA frame without a Pad Length');
      }
      needPadLength = padded;
      padding = 0;
      dataLeft = padded ? 0 : length;
      paddingLeft = 0;
      state = STATE_DATA;
      // An empty DATA frame ends right here.
      if (length === 0) return finishData();
      return undefined;
    }
    if (type > H2_FRAME.CONTINUATION) {
      // §5.5: unknown frame types are ignored.
      const failure = handler.onUnknown?.(type, length);
      if (failure !== undefined) return failure;
      remaining = length;
      state = length === 0 ? STATE_HEADER : STATE_SKIP;
      return undefined;
    }
    if (length === 0) {
      state = STATE_HEADER;
      return handler.onFrame(type, flags, streamId, new Uint8Array(0));
    }
    filled = 0;
    state = STATE_BUFFER;
    return undefined;
  }

  function finishData(): H2Failure | undefined {
    state = STATE_HEADER;
    const paddingBytes = (flags & H2_FLAG.PADDED) !== 0 ? padding + 1 : 0;
    return handler.onDataEnd(streamId, flags, paddingBytes);
  }

  return decoder;
}
