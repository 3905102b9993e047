/**
 * IP addresses as raw bytes in network order: the form of `bytes` address fields in Istio's protos
 * (istio/ztunnel@62d82653:proto/workload.proto `Workload.addresses`, `NetworkAddress.address`), of a
 * `sockaddr`, and of PROXY protocol v2 address blocks.
 * @module
 */
import { formatIp, type IpAddress } from './ip-address.js';

function word(bytes: Uint8Array, offset: number): number {
  return (
    (((bytes[offset] as number) << 24) |
      ((bytes[offset + 1] as number) << 16) |
      ((bytes[offset + 2] as number) << 8) |
      (bytes[offset + 3] as number)) >>>
    0
  );
}

/**
 * Reads an address from its bytes.
 *
 * @param bytes - 4 bytes (IPv4) or 16 bytes (IPv6), network order.
 * @returns The address, or `undefined` for any other length (ztunnel `byte_to_ip` refuses those).
 * @example
 * ```ts
 * ipFromBytes(new Uint8Array([10, 0, 0, 1])); // { v6: false, w0: 0x0a000001, ... }
 * ```
 */
export function ipFromBytes(bytes: Uint8Array): IpAddress | undefined {
  if (bytes.length === 4) return { v6: false, w0: word(bytes, 0), w1: 0, w2: 0, w3: 0 };
  if (bytes.length !== 16) return undefined;
  return { v6: true, w0: word(bytes, 0), w1: word(bytes, 4), w2: word(bytes, 8), w3: word(bytes, 12) };
}

/**
 * Writes an address's bytes in network order (Go's `Addr.AsSlice`, Rust's `octets()`).
 *
 * @param ip - The address.
 * @returns A fresh array: 4 bytes for IPv4, 16 for IPv6.
 * @example
 * ```ts
 * ipToBytes(parseIp('1.2.3.4')!); // Uint8Array [1, 2, 3, 4]
 * ```
 */
export function ipToBytes(ip: IpAddress): Uint8Array {
  const out = new Uint8Array(ip.v6 ? 16 : 4);
  const view = new DataView(out.buffer);
  view.setUint32(0, ip.w0);
  if (ip.v6) {
    view.setUint32(4, ip.w1);
    view.setUint32(8, ip.w2);
    view.setUint32(12, ip.w3);
  }
  return out;
}

/**
 * The canonical text of an address given as bytes, with a fast path for IPv4 (the common case of an index key).
 *
 * @param bytes - 4 or 16 bytes.
 * @returns The text (see {@link formatIp}), or `undefined` for any other length.
 * @example
 * ```ts
 * ipTextFromBytes(new Uint8Array([10, 0, 0, 1])); // '10.0.0.1'
 * ```
 */
export function ipTextFromBytes(bytes: Uint8Array): string | undefined {
  if (bytes.length === 4) return `${bytes[0]}.${bytes[1]}.${bytes[2]}.${bytes[3]}`;
  const ip = ipFromBytes(bytes);
  return ip === undefined ? undefined : formatIp(ip);
}
