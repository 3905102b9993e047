/**
 * IP address text <-> bytes, without `node:net` (the codec stays pure), on `@ambient-kit/ip` (docs/ip.md).
 *
 * Rule text must print addresses exactly as istio-cni does: Go's `netip.Addr.String()`, which is
 * dotted quad for IPv4 and RFC 5952 for IPv6 (lower case, longest run of two or more zero groups
 * compressed, the first on a tie, IPv4-mapped addresses as `::ffff:a.b.c.d`); `@ambient-kit/ip` prints
 * exactly that.
 */
import { canonicalIp, ipTextFromBytes, ipToBytes, parseIp } from '@ambient-kit/ip';

/**
 * A parsed IP address.
 *
 * @example
 * ```ts
 * const addr: IpAddress = { family: 4, bytes: new Uint8Array([127, 0, 0, 1]) };
 * ```
 */
export interface IpAddress {
  /** 4 or 6. */
  readonly family: 4 | 6;
  /** 4 or 16 bytes, network order. */
  readonly bytes: Uint8Array;
}

/**
 * Parses an IPv4 or IPv6 address (no prefix length, no zone).
 *
 * @param text - `10.0.0.1`, `::1`, `fd16:9254::1`, `::ffff:10.0.0.1`.
 * @returns The address, or `undefined` when `text` is not an IP address.
 * @example
 * ```ts
 * parseIpAddress('::1'); // { family: 6, bytes: Uint8Array(16) [0, …, 1] }
 * ```
 */
export function parseIpAddress(text: string): IpAddress | undefined {
  const ip = parseIp(text);
  return ip === undefined ? undefined : { family: ip.v6 ? 6 : 4, bytes: ipToBytes(ip) };
}

/**
 * Prints an address the way Go's `netip.Addr.String()` does, which is what istio-cni writes into rules.
 *
 * @param address - A parsed address.
 * @returns Dotted quad, or RFC 5952 IPv6 text.
 * @throws {RangeError} When `bytes` has the wrong length for `family`.
 * @example
 * ```ts
 * formatIpAddress(parseIpAddress('FD16:0:0:0:0:0:0:1')!); // 'fd16::1'
 * ```
 */
export function formatIpAddress(address: IpAddress): string {
  const { family, bytes } = address;
  const expected = family === 4 ? 4 : 16;
  if (bytes.length !== expected) {
    throw new RangeError(`address.bytes: IPv${family} needs ${expected} bytes, got ${bytes.length}`);
  }
  return ipTextFromBytes(bytes) as string;
}

/**
 * Parses and re-prints an address in canonical form.
 *
 * @param text - Any form {@link parseIpAddress} accepts.
 * @returns The canonical text, or `undefined` when `text` is not an IP address.
 * @example
 * ```ts
 * canonicalIpAddress('fd16:9254:7127:1337:FFFF:ffff:ffff:ffff'); // 'fd16:9254:7127:1337:ffff:ffff:ffff:ffff'
 * ```
 */
export function canonicalIpAddress(text: string): string | undefined {
  return canonicalIp(text);
}
