/**
 * HTTP/2 frame encoding (RFC 9113 §4.1, §6): the 9-byte frame header and every frame an HBONE endpoint
 * sends. DATA payloads are not copied: the caller writes {@link encodeFrameHeader}'s bytes and then the
 * payload pieces as they are.
 * @module
 */
import { H2_FLAG, H2_FRAME, H2_LIMIT } from './h2-constants.js';

function checkStreamId(streamId: number): void {
  if (!Number.isInteger(streamId) || streamId < 0 || streamId > H2_LIMIT.MAX_STREAM_ID) {
    throw new RangeError(`"streamId" must be an integer in 0..2^31-1, got ${streamId}`);
  }
}

function writeHeader(
  out: Uint8Array,
  length: number,
  type: number,
  flags: number,
  streamId: number,
): Uint8Array {
  out[0] = (length >>> 16) & 0xff;
  out[1] = (length >>> 8) & 0xff;
  out[2] = length & 0xff;
  out[3] = type;
  out[4] = flags;
  // The reserved bit stays 0 (§4.1).
  out[5] = (streamId >>> 24) & 0x7f;
  out[6] = (streamId >>> 16) & 0xff;
  out[7] = (streamId >>> 8) & 0xff;
  out[8] = streamId & 0xff;
  return out;
}

/**
 * The 9-byte header of a frame whose payload the caller writes separately (DATA, so that payloads are
 * never copied).
 *
 * @param length - Payload length, 0..2^24-1.
 * @param type - A frame type.
 * @param flags - The flag byte.
 * @param streamId - 0..2^31-1.
 * @returns 9 bytes.
 * @throws {RangeError} When `length` or `streamId` is out of range.
 * @example
 * ```ts
 * socket.write(encodeFrameHeader(payload.length, H2_FRAME.DATA, 0, 1));
 * socket.write(payload);
 * ```
 */
export function encodeFrameHeader(length: number, type: number, flags: number, streamId: number): Uint8Array {
  if (!Number.isInteger(length) || length < 0 || length > H2_LIMIT.MAX_MAX_FRAME_SIZE) {
    throw new RangeError(`frame "length" must be an integer in 0..2^24-1, got ${length}`);
  }
  checkStreamId(streamId);
  return writeHeader(new Uint8Array(H2_LIMIT.FRAME_HEADER_BYTES), length, type, flags, streamId);
}

/**
 * A whole frame: header and payload in one buffer (for control frames, which are small).
 *
 * @param type - A frame type.
 * @param flags - The flag byte.
 * @param streamId - 0..2^31-1.
 * @param payload - The payload, copied after the header.
 * @returns The frame.
 * @throws {RangeError} When the payload is longer than 2^24-1 or `streamId` is out of range.
 * @example
 * ```ts
 * encodeFrame(H2_FRAME.PRIORITY, 0, 3, new Uint8Array(5));
 * ```
 */
export function encodeFrame(
  type: number,
  flags: number,
  streamId: number,
  payload: Uint8Array = new Uint8Array(0),
): Uint8Array {
  if (payload.length > H2_LIMIT.MAX_MAX_FRAME_SIZE) {
    throw new RangeError(`frame payload of ${payload.length} bytes is over 2^24-1`);
  }
  checkStreamId(streamId);
  const out = new Uint8Array(H2_LIMIT.FRAME_HEADER_BYTES + payload.length);
  writeHeader(out, payload.length, type, flags, streamId);
  out.set(payload, H2_LIMIT.FRAME_HEADER_BYTES);
  return out;
}

/**
 * A SETTINGS frame (§6.5), or its acknowledgement.
 *
 * @param entries - `[identifier, value]` pairs in the order to send them; empty for an ACK.
 * @param ack - Send the ACK flag (then `entries` must be empty, §6.5).
 * @returns The frame.
 * @throws {RangeError} When a value is not a 32-bit unsigned integer, or an ACK carries entries.
 * @example
 * ```ts
 * encodeSettings([[H2_SETTING.MAX_CONCURRENT_STREAMS, 200]]);
 * encodeSettings([], true); // ACK
 * ```
 */
export function encodeSettings(entries: readonly (readonly [number, number])[], ack = false): Uint8Array {
  if (ack && entries.length > 0) throw new RangeError('a SETTINGS ACK carries no entries');
  const payload = new Uint8Array(entries.length * 6);
  const view = new DataView(payload.buffer);
  entries.forEach(([id, value], i) => {
    if (!Number.isInteger(id) || id < 0 || id > 0xffff) {
      throw new RangeError(`setting identifier must be a 16-bit integer, got ${id}`);
    }
    if (!Number.isInteger(value) || value < 0 || value > 0xffffffff) {
      throw new RangeError(`setting value must be a 32-bit unsigned integer, got ${value}`);
    }
    view.setUint16(i * 6, id);
    view.setUint32(i * 6 + 2, value);
  });
  return encodeFrame(H2_FRAME.SETTINGS, ack ? H2_FLAG.ACK : 0, 0, payload);
}

/**
 * A PING frame (§6.7).
 *
 * @param opaque - Exactly 8 bytes; an ACK echoes the PING's.
 * @param ack - Send the ACK flag.
 * @returns The frame.
 * @throws {RangeError} When `opaque` is not 8 bytes.
 * @example
 * ```ts
 * encodePing(new Uint8Array(8), false);
 * ```
 */
export function encodePing(opaque: Uint8Array, ack: boolean): Uint8Array {
  if (opaque.length !== 8) throw new RangeError(`PING data must be 8 bytes, got ${opaque.length}`);
  return encodeFrame(H2_FRAME.PING, ack ? H2_FLAG.ACK : 0, 0, opaque);
}

/**
 * A WINDOW_UPDATE frame (§6.9).
 *
 * @param streamId - 0 for the connection window.
 * @param increment - 1..2^31-1.
 * @returns The frame.
 * @throws {RangeError} When `increment` is out of range.
 * @example
 * ```ts
 * encodeWindowUpdate(0, 16 * 1024 * 1024 - 65_535);
 * ```
 */
export function encodeWindowUpdate(streamId: number, increment: number): Uint8Array {
  if (!Number.isInteger(increment) || increment < 1 || increment > H2_LIMIT.MAX_WINDOW) {
    throw new RangeError(`WINDOW_UPDATE increment must be in 1..2^31-1, got ${increment}`);
  }
  const payload = new Uint8Array(4);
  new DataView(payload.buffer).setUint32(0, increment);
  return encodeFrame(H2_FRAME.WINDOW_UPDATE, 0, streamId, payload);
}

/**
 * A RST_STREAM frame (§6.4).
 *
 * @param streamId - 1..2^31-1.
 * @param code - An RFC 9113 §7 error code.
 * @returns The frame.
 * @throws {RangeError} When `streamId` is 0 or out of range.
 * @example
 * ```ts
 * encodeRstStream(1, H2_ERROR.CANCEL);
 * ```
 */
export function encodeRstStream(streamId: number, code: number): Uint8Array {
  if (streamId === 0) throw new RangeError('RST_STREAM needs a stream');
  const payload = new Uint8Array(4);
  new DataView(payload.buffer).setUint32(0, code >>> 0);
  return encodeFrame(H2_FRAME.RST_STREAM, 0, streamId, payload);
}

/**
 * A GOAWAY frame (§6.8).
 *
 * @param lastStreamId - The highest peer-initiated stream that was or may be processed.
 * @param code - An RFC 9113 §7 error code.
 * @param debug - Opaque debug data (a reason, for humans); cut at 256 bytes.
 * @returns The frame.
 * @example
 * ```ts
 * encodeGoaway(7, H2_ERROR.NO_ERROR);
 * ```
 */
export function encodeGoaway(lastStreamId: number, code: number, debug?: Uint8Array): Uint8Array {
  checkStreamId(lastStreamId);
  const extra = debug === undefined ? new Uint8Array(0) : debug.subarray(0, 256);
  const payload = new Uint8Array(8 + extra.length);
  const view = new DataView(payload.buffer);
  view.setUint32(0, lastStreamId);
  view.setUint32(4, code >>> 0);
  payload.set(extra, 8);
  return encodeFrame(H2_FRAME.GOAWAY, 0, 0, payload);
}

/**
 * A header block as HEADERS plus as many CONTINUATION frames as `maxFrameBytes` requires (§6.2, §6.10),
 * in one buffer.
 *
 * @param streamId - The stream.
 * @param block - The HPACK-encoded header block.
 * @param endStream - Set END_STREAM on the HEADERS frame.
 * @param maxFrameBytes - The peer's SETTINGS_MAX_FRAME_SIZE.
 * @returns The frames, back to back.
 * @throws {RangeError} When `streamId` is 0 or `maxFrameBytes` is below 16,384.
 * @example
 * ```ts
 * socket.write(encodeHeaders(1, encoder.encode(headers), false, peer.maxFrameSize));
 * ```
 */
export function encodeHeaders(
  streamId: number,
  block: Uint8Array,
  endStream: boolean,
  maxFrameBytes: number,
): Uint8Array {
  if (streamId === 0) throw new RangeError('HEADERS needs a stream');
  checkStreamId(streamId);
  if (maxFrameBytes < H2_LIMIT.MIN_MAX_FRAME_SIZE) {
    throw new RangeError(`"maxFrameBytes" must be at least 16384, got ${maxFrameBytes}`);
  }
  const frames = Math.max(1, Math.ceil(block.length / maxFrameBytes));
  const out = new Uint8Array(block.length + frames * H2_LIMIT.FRAME_HEADER_BYTES);
  let offset = 0;
  for (let i = 0; i < frames; i++) {
    const piece = block.subarray(i * maxFrameBytes, (i + 1) * maxFrameBytes);
    const last = i === frames - 1;
    const type = i === 0 ? H2_FRAME.HEADERS : H2_FRAME.CONTINUATION;
    const flags = (last ? H2_FLAG.END_HEADERS : 0) | (i === 0 && endStream ? H2_FLAG.END_STREAM : 0);
    writeHeader(out.subarray(offset), piece.length, type, flags, streamId);
    out.set(piece, offset + H2_LIMIT.FRAME_HEADER_BYTES);
    offset += H2_LIMIT.FRAME_HEADER_BYTES + piece.length;
  }
  return out;
}
