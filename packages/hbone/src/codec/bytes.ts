/**
 * Byte-array helpers that behave the same whether the input is a `Uint8Array` or a Node `Buffer`.
 * `Buffer.prototype.slice` returns a view, not a copy, so `bytes.slice()` on a caller's Buffer aliases it:
 * the codec never uses it on input.
 * @module
 */

/**
 * A copy of `bytes` that shares no memory with it.
 *
 * @param bytes - Any byte array, a `Buffer` included.
 * @param start - First index copied; default 0.
 * @param end - Index after the last one copied; default the end.
 * @returns A new `Uint8Array`.
 * @example
 * ```ts
 * const owned = copyBytes(buffer, 3, 7); // changing `buffer` later leaves `owned` alone
 * ```
 */
export function copyBytes(bytes: Uint8Array, start = 0, end: number = bytes.length): Uint8Array {
  const view = bytes.subarray(start, end);
  const out = new Uint8Array(view.length);
  out.set(view);
  return out;
}
