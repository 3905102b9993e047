/**
 * The HPACK decoder (RFC 7541) of one HTTP/2 connection: the static and dynamic tables, integers, plain
 * and Huffman strings, every representation, with caps.
 *
 * Hand-written rather than taken from `hpack.js` because the measurement justifies it: decoding a CONNECT
 * header block costs hpack.js about 30 µs and this about 1 µs, on a path every tunnel takes (the
 * `bench/hbone` "HPACK" row keeps the comparison).
 *
 * - Decoding never stops halfway through a block that parses, so the dynamic table stays in step with the
 *   peer's; a header list over `maxHeaderListBytes` (RFC 9113 §6.5.2 SETTINGS_MAX_HEADER_LIST_SIZE: name +
 *   value + 32 per field) is reported as `oversize`, its fields dropped, so one request can be refused
 *   without ending the connection (RFC 9113 §10.5.1).
 * - Anything malformed is a COMPRESSION_ERROR, which ends the connection (RFC 9113 §4.3).
 * @module
 */
import { err, ok, type Result } from 'neverthrow';
import { H2_ERROR } from './h2-constants.js';
import { connectionFailure, type H2Failure } from './h2-failure.js';
import { decodeHuffman } from './hpack-huffman.js';
import { HPACK_STATIC_TABLE } from './hpack-static-table.js';

/** One decoded header field. Names and values are latin-1 strings, one character per octet. */
export type HpackField = readonly [name: string, value: string];

/** A decoded header block. */
export interface HpackDecoded {
  /** The fields in order; empty when `oversize`. */
  readonly fields: readonly HpackField[];
  /** The list's size as SETTINGS_MAX_HEADER_LIST_SIZE counts it. */
  readonly listBytes: number;
  /** The list exceeded `maxHeaderListBytes`: refuse the request or response it belongs to. */
  readonly oversize: boolean;
}

/** Options of {@link createHpackDecoder}. */
export interface HpackDecoderOptions {
  /** The SETTINGS_HEADER_TABLE_SIZE this side advertised: the largest dynamic table the peer may use. */
  readonly maxTableBytes: number;
  /** The SETTINGS_MAX_HEADER_LIST_SIZE this side advertised. */
  readonly maxHeaderListBytes: number;
}

/** The decoder of one connection's header blocks, in the order the peer sent them. */
export interface HpackDecoder {
  /**
   * Decodes one complete header block (HEADERS plus its CONTINUATIONs, joined).
   *
   * @param block - The block.
   * @returns The fields; or a COMPRESSION_ERROR connection failure.
   */
  decode(block: Uint8Array): Result<HpackDecoded, H2Failure>;
}

class Malformed extends Error {}

interface Entry {
  readonly name: string;
  readonly value: string;
  readonly size: number;
}

const ascii = /* @__PURE__ */ new TextDecoder('utf-8');

function latin1(bytes: Uint8Array, start: number, end: number): string {
  let plain = true;
  for (let at = start; at < end; at++) {
    if ((bytes[at] as number) >= 0x80) {
      plain = false;
      break;
    }
  }
  // ASCII is the same in UTF-8 and latin-1, and TextDecoder is the fast way to make a string of it.
  if (plain) return ascii.decode(bytes.subarray(start, end));
  let out = '';
  for (let at = start; at < end; at += 4096) {
    out += String.fromCharCode.apply(
      null,
      bytes.subarray(at, Math.min(end, at + 4096)) as unknown as number[],
    );
  }
  return out;
}

/**
 * Creates the decoder of one connection.
 *
 * @param options - The table size and header list size this side advertised.
 * @returns The decoder.
 * @example
 * ```ts
 * const decoder = createHpackDecoder({ maxTableBytes: 4096, maxHeaderListBytes: 65_536 });
 * const { fields } = decoder.decode(block)._unsafeUnwrap();
 * ```
 */
export function createHpackDecoder(options: HpackDecoderOptions): HpackDecoder {
  const settingsMax = options.maxTableBytes;
  const maxListBytes = options.maxHeaderListBytes;
  // Newest last; entry 62 is the newest (RFC 7541 §2.3.3).
  let table: Entry[] = [];
  let tableBytes = 0;
  let tableMax = settingsMax;
  let scratch = new Uint8Array(256);
  let block: Uint8Array = new Uint8Array(0);
  let pos = 0;

  function evict(limit: number): void {
    let drop = 0;
    while (tableBytes > limit && drop < table.length) {
      tableBytes -= (table[drop] as Entry).size;
      drop++;
    }
    if (drop > 0) table = table.slice(drop);
  }

  function readInt(prefixBits: number): number {
    if (pos >= block.length) throw new Malformed('truncated integer');
    const max = (1 << prefixBits) - 1;
    let value = (block[pos++] as number) & max;
    if (value < max) return value;
    let shift = 0;
    for (;;) {
      if (pos >= block.length) throw new Malformed('truncated integer');
      const byte = block[pos++] as number;
      value += (byte & 0x7f) * 2 ** shift;
      shift += 7;
      // Nothing in HPACK needs more than 2^31; longer encodings are an attack or a bug.
      if (value > 0x7fffffff || shift > 35) throw new Malformed('integer out of range');
      if ((byte & 0x80) === 0) return value;
    }
  }

  function readString(): string {
    if (pos >= block.length) throw new Malformed('truncated string');
    const huffman = ((block[pos] as number) & 0x80) !== 0;
    const length = readInt(7);
    if (length > block.length - pos) throw new Malformed('string longer than the block');
    const start = pos;
    pos += length;
    if (!huffman) return latin1(block, start, pos);
    const need = Math.ceil((length * 8) / 5) + 1;
    if (scratch.length < need) scratch = new Uint8Array(need);
    const written = decodeHuffman(block.subarray(start, pos), scratch);
    if (written < 0) throw new Malformed('invalid Huffman string');
    return latin1(scratch, 0, written);
  }

  function lookup(index: number): Entry | readonly [string, string] {
    if (index === 0) throw new Malformed('index 0');
    if (index <= HPACK_STATIC_TABLE.length) return HPACK_STATIC_TABLE[index - 1] as readonly [string, string];
    const dynamic = index - HPACK_STATIC_TABLE.length;
    if (dynamic > table.length) throw new Malformed(`index ${index} past the dynamic table`);
    return table[table.length - dynamic] as Entry;
  }

  function nameOf(entry: Entry | readonly [string, string]): string {
    return Array.isArray(entry) ? (entry as readonly [string, string])[0] : (entry as Entry).name;
  }

  function fieldValue(entry: Entry | readonly [string, string]): string {
    return Array.isArray(entry) ? (entry as readonly [string, string])[1] : (entry as Entry).value;
  }

  return {
    decode(input: Uint8Array): Result<HpackDecoded, H2Failure> {
      block = input;
      pos = 0;
      const fields: HpackField[] = [];
      let listBytes = 0;
      let oversize = false;
      let sawField = false;
      const add = (name: string, value: string): void => {
        sawField = true;
        listBytes += name.length + value.length + 32;
        if (listBytes > maxListBytes) {
          oversize = true;
          fields.length = 0;
        }
        if (!oversize) fields.push([name, value]);
      };
      try {
        while (pos < block.length) {
          const byte = block[pos] as number;
          if (byte & 0x80) {
            // §6.1 indexed field.
            const entry = lookup(readInt(7));
            add(nameOf(entry), fieldValue(entry));
          } else if (byte & 0x40) {
            // §6.2.1 literal with incremental indexing.
            const index = readInt(6);
            const name = index === 0 ? readString() : nameOf(lookup(index));
            const value = readString();
            add(name, value);
            const size = name.length + value.length + 32;
            if (size > tableMax) {
              // §4.4: an entry larger than the table empties it.
              table = [];
              tableBytes = 0;
            } else {
              evict(tableMax - size);
              table.push({ name, value, size });
              tableBytes += size;
            }
          } else if (byte & 0x20) {
            // §6.3 dynamic table size update: only before the first field (§4.2), within SETTINGS.
            if (sawField) throw new Malformed('a table size update after a header field');
            const size = readInt(5);
            if (size > settingsMax) {
              throw new Malformed(`table size ${size} over SETTINGS_HEADER_TABLE_SIZE ${settingsMax}`);
            }
            tableMax = size;
            evict(tableMax);
          } else {
            // §6.2.2 / §6.2.3 literal without indexing / never indexed (4-bit prefix either way).
            const index = readInt(4);
            const name = index === 0 ? readString() : nameOf(lookup(index));
            add(name, readString());
          }
        }
      } catch (error) {
        if (error instanceof Malformed) {
          return err(connectionFailure(H2_ERROR.COMPRESSION_ERROR, `HPACK: ${error.message}`));
        }
        throw error;
      } finally {
        block = new Uint8Array(0);
      }
      return ok({ fields, listBytes, oversize });
    },
  };
}
