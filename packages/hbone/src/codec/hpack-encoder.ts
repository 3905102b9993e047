/**
 * The HPACK encoder (RFC 7541) of one HTTP/2 connection, deliberately simple: a field that is in the static
 * table whole is sent as its index (`:status: 200` is one byte); every other field is a literal without
 * indexing, its name indexed when the static table has it, strings as plain octets. The dynamic table is
 * never used, so there is no encoder state for a peer to get out of step with. A CONNECT block is small and
 * sent once per tunnel; what matters is the cost of building it (about 1 µs here, 45-60 µs with hpack.js:
 * see the `bench/hbone` "HPACK" row).
 * @module
 */
import { HPACK_STATIC_INDEX } from './hpack-static-table.js';

/** The encoder of one connection's header blocks. */
export interface HpackEncoder {
  /**
   * Encodes one header block.
   *
   * @param fields - `[name, value]` pairs in order; names lower-case; strings of octets (latin-1).
   * @returns The block.
   * @throws {RangeError} When a name or value has a character above U+00FF.
   */
  encode(fields: readonly (readonly [string, string])[]): Uint8Array;
  /**
   * The peer changed SETTINGS_HEADER_TABLE_SIZE: when that lowers the table this encoder may assume, the
   * next block starts with a dynamic table size update (RFC 7541 §4.2), as decoders such as nghttp2 require.
   *
   * @param bytes - The peer's new SETTINGS_HEADER_TABLE_SIZE.
   */
  setMaxTableBytes(bytes: number): void;
}

function intLength(value: number, prefixBits: number): number {
  const max = (1 << prefixBits) - 1;
  if (value < max) return 1;
  let length = 2;
  for (let rest = value - max; rest >= 128; rest = Math.floor(rest / 128)) length++;
  return length;
}

function writeInt(
  out: Uint8Array,
  start: number,
  value: number,
  prefixBits: number,
  firstBits: number,
): number {
  const max = (1 << prefixBits) - 1;
  if (value < max) {
    out[start] = firstBits | value;
    return start + 1;
  }
  let at = start;
  out[at++] = firstBits | max;
  let rest = value - max;
  while (rest >= 128) {
    out[at++] = (rest % 128) | 0x80;
    rest = Math.floor(rest / 128);
  }
  out[at++] = rest;
  return at;
}

function writeString(out: Uint8Array, at: number, text: string): number {
  let next = writeInt(out, at, text.length, 7, 0);
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (c > 0xff) throw new RangeError(`HPACK: character U+${c.toString(16)} is not an octet`);
    out[next++] = c;
  }
  return next;
}

/**
 * Creates the encoder of one connection.
 *
 * @returns The encoder.
 * @example
 * ```ts
 * const encoder = createHpackEncoder();
 * const block = encoder.encode([[':method', 'CONNECT'], [':authority', '10.0.0.2:8080']]);
 * ```
 */
export function createHpackEncoder(): HpackEncoder {
  // RFC 7541 §4.2: the table size every encoder starts from (SETTINGS_HEADER_TABLE_SIZE's initial value).
  let assumed = 4096;
  let pendingUpdate = -1;
  return {
    setMaxTableBytes(bytes: number): void {
      if (bytes < assumed) {
        assumed = bytes;
        pendingUpdate = bytes;
      }
    },
    encode(fields: readonly (readonly [string, string])[]): Uint8Array {
      const count = fields.length;
      // Per field: > 0 an exact static index; <= 0 the negated static index of its name (0: a new name).
      const plan = new Int32Array(count);
      let length = pendingUpdate >= 0 ? intLength(pendingUpdate, 5) : 0;
      for (let i = 0; i < count; i++) {
        const field = fields[i] as readonly [string, string];
        const name = field[0];
        const value = field[1];
        const known = HPACK_STATIC_INDEX.get(name);
        if (known !== undefined) {
          const exact = known.values.get(value);
          if (exact !== undefined) {
            plan[i] = exact;
            length += intLength(exact, 7);
            continue;
          }
          plan[i] = -known.index;
          length += intLength(known.index, 4) + intLength(value.length, 7) + value.length;
        } else {
          length += 1 + intLength(name.length, 7) + name.length + intLength(value.length, 7) + value.length;
        }
      }
      const out = new Uint8Array(length);
      let at = 0;
      if (pendingUpdate >= 0) {
        at = writeInt(out, at, pendingUpdate, 5, 0x20);
        pendingUpdate = -1;
      }
      for (let i = 0; i < count; i++) {
        const field = fields[i] as readonly [string, string];
        const step = plan[i] as number;
        if (step > 0) {
          at = writeInt(out, at, step, 7, 0x80);
          continue;
        }
        // §6.2.2 literal without indexing: 0000 + 4-bit name index (0: the name follows as a string).
        at = writeInt(out, at, -step, 4, 0x00);
        if (step === 0) at = writeString(out, at, field[0]);
        at = writeString(out, at, field[1]);
      }
      return out;
    },
  };
}
