/**
 * CRC-32C (Castagnoli), the checksum of the PROXY protocol v2 `PP2_TYPE_CRC32C` TLV (proxy-protocol.txt
 * §2.2.5). Table-driven, reflected polynomial 0x82F63B78.
 * @module
 */

const TABLE = /* @__PURE__ */ (() => {
  const table = new Uint32Array(256);
  for (let n = 0; n < 256; n++) {
    let c = n;
    for (let k = 0; k < 8; k++) c = c & 1 ? 0x82f63b78 ^ (c >>> 1) : c >>> 1;
    table[n] = c >>> 0;
  }
  return table;
})();

/**
 * Computes the CRC-32C of `bytes`.
 *
 * @param bytes - The input.
 * @returns The checksum as an unsigned 32-bit integer.
 * @example
 * ```ts
 * crc32c(new TextEncoder().encode('123456789')); // 0xe3069283 (the standard check value)
 * ```
 */
export function crc32c(bytes: Uint8Array): number {
  let crc = 0xffffffff;
  for (let i = 0; i < bytes.length; i++) {
    crc = (TABLE[(crc ^ (bytes[i] as number)) & 0xff] as number) ^ (crc >>> 8);
  }
  return (crc ^ 0xffffffff) >>> 0;
}
