/**
 * PROXY protocol v2 decoding: a one-shot decoder over a buffer and a streaming decoder for headers split
 * across chunks. Both check the length cap as soon as the 16 fixed bytes are in, before buffering the rest.
 * @module
 */
import { ipTextFromBytes } from '@ambient-kit/ip';
import { err, ok, type Result } from 'neverthrow';
import { copyBytes } from './bytes.js';
import { crc32c } from './crc32c.js';
import { HboneError } from './errors.js';
import {
  PROXY_V2_ADDRESS_BYTES,
  PROXY_V2_MAX_BYTES,
  PROXY_V2_SIGNATURE,
  PROXY_V2_TLV,
  type ProxyV2Endpoint,
  type ProxyV2Header,
  type ProxyV2Tlv,
} from './proxy-v2.js';

/** Options of {@link decodeProxyV2} and {@link createProxyV2Decoder}. */
export interface ProxyV2DecodeOptions {
  /**
   * The largest header accepted, in bytes, fixed part included. A longer declared length fails with
   * `HBONE_ERR_PROXY_V2_TOO_LARGE` before any of it is buffered. Default: 4096 (ztunnel's headers are
   * about 100 bytes). At most 65,551.
   */
  readonly maxHeaderBytes?: number;
}

/** What {@link decodeProxyV2} made of the bytes so far. */
export type ProxyV2Decoded =
  | {
      readonly complete: false;
      /** At least this many more bytes are needed. */
      readonly bytesNeeded: number;
    }
  | {
      readonly complete: true;
      readonly header: ProxyV2Header;
      /** The header's length: payload starts at this offset. */
      readonly headerBytes: number;
    };

/**

 * The default of {@link ProxyV2DecodeOptions.maxHeaderBytes}.

 *
 * @example
 * ```ts
 * createProxyV2Decoder({ maxHeaderBytes: 4 * DEFAULT_PROXY_V2_MAX_HEADER_BYTES });
 * ```
 */
export const DEFAULT_PROXY_V2_MAX_HEADER_BYTES = 4096;

const strictUtf8 = /* @__PURE__ */ new TextDecoder('utf-8', { fatal: true });

function malformed(why: string): Result<never, HboneError> {
  return err(new HboneError('HBONE_ERR_PROXY_V2_MALFORMED', `malformed PROXY v2 header: ${why}`));
}

function maxBytesOf(options: ProxyV2DecodeOptions | undefined): number {
  const max = options?.maxHeaderBytes ?? DEFAULT_PROXY_V2_MAX_HEADER_BYTES;
  if (!Number.isInteger(max) || max < 16 || max > PROXY_V2_MAX_BYTES) {
    throw new RangeError(`"maxHeaderBytes" must be an integer in 16..${PROXY_V2_MAX_BYTES}, got ${max}`);
  }
  return max;
}

// Families/protocols proxy-protocol.txt §2.2 defines; "other values ... must be rejected as invalid".
const FAMILY_BYTES = new Set([0x00, 0x11, 0x12, 0x21, 0x22, 0x31, 0x32]);

/**
 * Reads the fixed 16 bytes: signature, version/command, family/protocol, length.
 *
 * @returns the declared total length, or how many more bytes the fixed part needs, or an error.
 */
function readPrefix(
  bytes: Uint8Array,
  maxBytes: number,
): Result<{ total: number } | { need: number }, HboneError> {
  const sig = Math.min(bytes.length, PROXY_V2_SIGNATURE.length);
  for (let i = 0; i < sig; i++) {
    if (bytes[i] !== PROXY_V2_SIGNATURE[i]) {
      return err(
        new HboneError(
          'HBONE_ERR_PROXY_V2_SIGNATURE',
          `not a PROXY v2 header (byte ${i} differs from the signature)`,
        ),
      );
    }
  }
  if (bytes.length < 16) return ok({ need: 16 - bytes.length });
  const verCmd = bytes[12] as number;
  if (verCmd >> 4 !== 2) return malformed(`version ${verCmd >> 4}, expected 2`);
  if ((verCmd & 0x0f) > 1) return malformed(`command ${verCmd & 0x0f}, expected LOCAL (0) or PROXY (1)`);
  if (!FAMILY_BYTES.has(bytes[13] as number))
    return malformed(`family/protocol byte 0x${(bytes[13] as number).toString(16)}`);
  const total = 16 + (((bytes[14] as number) << 8) | (bytes[15] as number));
  if (total > maxBytes) {
    return err(
      new HboneError(
        'HBONE_ERR_PROXY_V2_TOO_LARGE',
        `PROXY v2 header of ${total} bytes exceeds the ${maxBytes}-byte cap`,
      ),
    );
  }
  return ok({ total });
}

function unixPath(bytes: Uint8Array): Result<string, HboneError> {
  const end = bytes.indexOf(0);
  try {
    return ok(strictUtf8.decode(end < 0 ? bytes : bytes.subarray(0, end)));
  } catch {
    return malformed('a UNIX path is not UTF-8');
  }
}

function parseBody(header: Uint8Array): Result<ProxyV2Header, HboneError> {
  const view = new DataView(header.buffer, header.byteOffset, header.byteLength);
  const command = (header[12] as number) & 0x0f ? 'proxy' : 'local';
  const familyByte = header[13] as number;
  const family = familyByte >> 4;
  const addressBytes =
    family === 1
      ? PROXY_V2_ADDRESS_BYTES.inet
      : family === 2
        ? PROXY_V2_ADDRESS_BYTES.inet6
        : family === 3
          ? PROXY_V2_ADDRESS_BYTES.unix
          : 0;
  if (header.length < 16 + addressBytes) {
    return malformed(`length ${header.length - 16} is shorter than the ${addressBytes}-byte address block`);
  }
  const out: { -readonly [K in keyof ProxyV2Header]: ProxyV2Header[K] } = { command };
  // A LOCAL header's address block is skipped: the receiver uses the real endpoints (§2.2).
  if (command === 'proxy' && family !== 0) {
    let source: ProxyV2Endpoint;
    let destination: ProxyV2Endpoint;
    if (family === 3) {
      const s = unixPath(header.subarray(16, 16 + 108));
      const d = unixPath(header.subarray(16 + 108, 16 + 216));
      if (s.isErr()) return err(s.error);
      if (d.isErr()) return err(d.error);
      source = { path: s.value };
      destination = { path: d.value };
    } else {
      const n = family === 1 ? 4 : 16;
      // n is 4 or 16, so the text is always defined.
      source = {
        ip: ipTextFromBytes(header.subarray(16, 16 + n)) as string,
        port: view.getUint16(16 + 2 * n),
      };
      destination = {
        ip: ipTextFromBytes(header.subarray(16 + n, 16 + 2 * n)) as string,
        port: view.getUint16(16 + 2 * n + 2),
      };
    }
    out.transport = (familyByte & 0x0f) === 1 ? 'stream' : 'dgram';
    out.source = source;
    out.destination = destination;
  }

  // Walk the TLV structure first, so that a checksum failure is reported as such rather than as whatever
  // the corruption happens to break.
  const raw: { type: number; start: number; length: number }[] = [];
  let offset = 16 + addressBytes;
  while (offset < header.length) {
    if (offset + 3 > header.length) return malformed('a TLV is cut short');
    const type = header[offset] as number;
    const length = view.getUint16(offset + 1);
    const start = offset + 3;
    if (start + length > header.length) return malformed(`TLV 0x${type.toString(16)} overruns the header`);
    raw.push({ type, start, length });
    offset = start + length;
  }
  const checksums = raw.filter((t) => t.type === PROXY_V2_TLV.crc32c);
  if (checksums.length > 0) {
    const crc = checksums[0] as { start: number; length: number };
    if (checksums.length > 1 || crc.length !== 4)
      return malformed('a CRC32C TLV must appear once, 4 bytes long');
    const expected = view.getUint32(crc.start);
    // A copy: the caller's bytes are never written to (decoding the same bytes twice must work).
    const zeroed = copyBytes(header);
    zeroed.fill(0, crc.start, crc.start + 4);
    if (crc32c(zeroed) !== expected) {
      return err(new HboneError('HBONE_ERR_PROXY_V2_CHECKSUM', 'PROXY v2 header fails its CRC32C check'));
    }
    out.checksum = true;
  }
  const tlvs: ProxyV2Tlv[] = [];
  for (const { type, start, length } of raw) {
    if (type === PROXY_V2_TLV.crc32c) continue;
    // Owned copies: a TLV outlives the buffer it was read from (which may be a reused socket buffer).
    const value = copyBytes(header, start, start + length);
    if (type === PROXY_V2_TLV.sourceIdentity || type === PROXY_V2_TLV.serviceHostname) {
      const field = type === PROXY_V2_TLV.sourceIdentity ? 'sourceIdentity' : 'serviceHostname';
      // Two identities in one header are ambiguous: refuse rather than pick one.
      if (out[field] !== undefined) return malformed(`TLV 0x${type.toString(16)} appears twice`);
      try {
        out[field] = strictUtf8.decode(value);
      } catch {
        return malformed(`TLV 0x${type.toString(16)} is not UTF-8`);
      }
    } else {
      tlvs.push({ type, value });
    }
  }
  if (tlvs.length > 0) out.tlvs = tlvs;
  return ok(out);
}

/**
 * Decodes a PROXY v2 header at the start of `bytes`. Streaming-safe: a prefix of a header yields
 * `{ complete: false }` rather than an error, and the signature is checked byte by byte so that non-PROXY
 * input fails as early as possible.
 *
 * @param bytes - Bytes read so far from the start of the connection.
 * @param options - The length cap.
 * @returns The header and its length, or how many more bytes are needed; or an error coded
 *   `HBONE_ERR_PROXY_V2_SIGNATURE` (not a v2 header), `HBONE_ERR_PROXY_V2_TOO_LARGE`,
 *   `HBONE_ERR_PROXY_V2_CHECKSUM` or `HBONE_ERR_PROXY_V2_MALFORMED`.
 * @throws {RangeError} When `maxHeaderBytes` is not an integer in 16..65551.
 * @example
 * ```ts
 * const result = decodeProxyV2(bytes)._unsafeUnwrap();
 * if (result.complete) console.log(result.header.sourceIdentity, bytes.subarray(result.headerBytes));
 * ```
 */
export function decodeProxyV2(
  bytes: Uint8Array,
  options?: ProxyV2DecodeOptions,
): Result<ProxyV2Decoded, HboneError> {
  const maxBytes = maxBytesOf(options);
  const prefix = readPrefix(bytes, maxBytes);
  if (prefix.isErr()) return err(prefix.error);
  if ('need' in prefix.value) return ok({ complete: false, bytesNeeded: prefix.value.need });
  const { total } = prefix.value;
  if (bytes.length < total) return ok({ complete: false, bytesNeeded: total - bytes.length });
  const header = parseBody(bytes.subarray(0, total));
  if (header.isErr()) return err(header.error);
  return ok({ complete: true, header: header.value, headerBytes: total });
}

/** One step of a {@link ProxyV2Decoder}. */
export type ProxyV2DecoderStep =
  | { readonly done: false }
  | {
      readonly done: true;
      readonly header: ProxyV2Header;
      /** The bytes of the last chunk after the header: the start of the payload. */
      readonly rest: Uint8Array;
    };

/** An incremental PROXY v2 decoder (sans-IO, as connect-es's envelope decoder). */
export interface ProxyV2Decoder {
  /**
   * Feeds the next chunk.
   *
   * @param chunk - Bytes as they arrive.
   * @returns `{ done: true }` with the header and the left-over payload once the header is complete; the same
   *   error on every call once one has occurred.
   * @throws {Error} When called again after the header was complete.
   */
  push(chunk: Uint8Array): Result<ProxyV2DecoderStep, HboneError>;
  /** How many bytes are buffered; never more than the cap. */
  readonly bufferedBytes: number;
}

/**
 * Creates an incremental decoder: it buffers at most the declared header length (checked against the cap
 * when the 16 fixed bytes are in), never any payload.
 *
 * @param options - The length cap.
 * @returns A decoder to {@link ProxyV2Decoder.push} chunks into.
 * @throws {RangeError} When `maxHeaderBytes` is not an integer in 16..65551.
 * @example
 * ```ts
 * const decoder = createProxyV2Decoder({ maxHeaderBytes: 1024 });
 * socket.on('data', (chunk) => {
 *   const step = decoder.push(chunk);
 *   if (step.isErr()) return socket.destroy(step.error);
 *   if (step.value.done) console.log(step.value.header, step.value.rest);
 * });
 * ```
 */
export function createProxyV2Decoder(options?: ProxyV2DecodeOptions): ProxyV2Decoder {
  const maxBytes = maxBytesOf(options);
  let buffer = new Uint8Array(16);
  let filled = 0;
  let total = 0;
  let failure: HboneError | undefined;
  let finished = false;
  return {
    get bufferedBytes(): number {
      return filled;
    },
    push(chunk: Uint8Array): Result<ProxyV2DecoderStep, HboneError> {
      if (finished) throw new Error('ProxyV2Decoder.push: the header is already decoded');
      if (failure !== undefined) return err(failure);
      let used = 0;
      while (used < chunk.length) {
        const want = (total === 0 ? 16 : total) - filled;
        const take = Math.min(want, chunk.length - used);
        buffer.set(chunk.subarray(used, used + take), filled);
        filled += take;
        used += take;
        if (total === 0) {
          const prefix = readPrefix(buffer.subarray(0, filled), maxBytes);
          if (prefix.isErr()) {
            failure = prefix.error;
            return err(failure);
          }
          if ('total' in prefix.value) {
            total = prefix.value.total;
            const grown = new Uint8Array(total);
            grown.set(buffer.subarray(0, filled));
            buffer = grown;
          }
        }
        if (total !== 0 && filled === total) {
          const header = parseBody(buffer);
          if (header.isErr()) {
            failure = header.error;
            return err(failure);
          }
          finished = true;
          return ok({ done: true, header: header.value, rest: chunk.subarray(used) });
        }
      }
      return ok({ done: false });
    },
  };
}
