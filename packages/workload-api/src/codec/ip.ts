/**
 * IP addresses in the form the WDS model keeps them: canonical text (`10.0.0.1`, `fd00::1`), which is also
 * the key of every by-address index, and raw 4- or 16-byte strings on the wire
 * (istio/ztunnel@62d82653:proto/workload.proto `Workload.addresses`, `NetworkAddress.address`). Parsing and
 * printing are `@ambient-kit/ip`'s (docs/ip.md): these are the text-in, text-out forms of it the model and
 * its users need, nothing more.
 * @module
 */
import {
  compilePrefix,
  formatIp,
  formatSocketAddress as formatIpSocketAddress,
  ipToBytes as ipAddressToBytes,
  isLoopback as isLoopbackIp,
  parseIp,
  parseSocketAddress as parseIpSocketAddress,
  parsePrefix,
  prefixContains,
} from '@ambient-kit/ip';

export { canonicalIp, ipTextFromBytes as ipFromBytes } from '@ambient-kit/ip';

/** A socket address with its IP as canonical text. */
export interface SocketAddress {
  /** Canonical IP text (`10.0.0.1`, `fd00::1`). */
  readonly ip: string;
  /** 0-65535. */
  readonly port: number;
}

/** An IP prefix of the model (a policy's `sourceIps`, a CIDR in a file): canonical address text and length. */
export interface IpPrefix {
  /** Canonical IP text, host bits kept as sent. */
  readonly address: string;
  /** 0-32 for IPv4, 0-128 for IPv6. */
  readonly length: number;
}

/**
 * Parses IP text into its raw bytes, the form of the protos' `bytes` address fields.
 *
 * @param text - IPv4 or IPv6 text as `@ambient-kit/ip`'s `parseIp` reads it (strict: no zone, no octal).
 * @returns 4 or 16 bytes, or `undefined` when the text is not an IP address.
 * @example
 * ```ts
 * ipToBytes('fd00::1'); // Uint8Array(16) [253, 0, ..., 1]
 * ```
 */
export function ipToBytes(text: string): Uint8Array | undefined {
  const ip = parseIp(text);
  return ip === undefined ? undefined : ipAddressToBytes(ip);
}

/**
 * Whether canonical (or any valid) IP text is IPv6.
 *
 * @param ip - IP text.
 * @returns `true` for IPv6 text.
 * @example
 * ```ts
 * isIpv6('::1'); // true
 * ```
 */
export function isIpv6(ip: string): boolean {
  return ip.includes(':');
}

/**
 * Whether IP text is a loopback address: 127.0.0.0/8, `::1`, or an IPv4-mapped 127.0.0.0/8.
 *
 * @param ip - IP text.
 * @returns `true` for loopback; `false` for anything else, non-addresses included.
 * @example
 * ```ts
 * isLoopback('127.0.0.2'); // true
 * ```
 */
export function isLoopback(ip: string): boolean {
  const parsed = parseIp(ip);
  return parsed !== undefined && isLoopbackIp(parsed);
}

/**
 * {@link isLoopback} of canonical IP text (what {@link parseSocketAddress} gives), read from the text alone.
 *
 * @param ip - Canonical IP text.
 * @returns `true` for 127.0.0.0/8, `::1` and `::ffff:127.x.y.z`.
 * @example
 * ```ts
 * isCanonicalLoopback('::ffff:127.0.0.1'); // true
 * ```
 */
export function isCanonicalLoopback(ip: string): boolean {
  return ip.startsWith('127.') || ip === '::1' || ip.startsWith('::ffff:127.');
}

/**
 * Parses `ip:port` (IPv4) or `[ip]:port` (IPv6) as ztunnel's `SocketAddr` does (`@ambient-kit/ip`'s
 * `parseSocketAddress`), with the IP as canonical text: IPv4 text that parses is canonical already and is
 * kept as written; IPv6 is printed as RFC 5952 says.
 *
 * @param text - The socket address text.
 * @returns The canonical IP and the port, or `undefined` when the text is not a socket address.
 * @example
 * ```ts
 * parseSocketAddress('[fd00::1]:8080'); // { ip: 'fd00::1', port: 8080 }
 * ```
 */
export function parseSocketAddress(text: string): SocketAddress | undefined {
  const parsed = parseIpSocketAddress(text);
  if (parsed === undefined) return undefined;
  const ip = parsed.address.v6 ? formatIp(parsed.address) : text.slice(0, text.lastIndexOf(':'));
  return { ip, port: parsed.port };
}

/**
 * Formats a socket address the way ztunnel does: `ip:port`, `[ipv6]:port`.
 *
 * @param ip - Canonical IP text.
 * @param port - The port.
 * @returns The text.
 * @example
 * ```ts
 * formatSocketAddress('fd00::1', 15008); // '[fd00::1]:15008'
 * ```
 */
export function formatSocketAddress(ip: string, port: number): string {
  return formatIpSocketAddress(ip, port);
}

/**
 * Parses `address/length` CIDR text; a bare address is a host prefix (/32, /128), as istio reads policy
 * `ipBlocks`.
 *
 * @param text - e.g. `10.0.0.0/8`, `fd00::/64`, `10.0.0.1`.
 * @returns The prefix with canonical address text, or `undefined` when invalid.
 * @example
 * ```ts
 * parseCidr('10.1.2.3/8'); // { address: '10.1.2.3', length: 8 }
 * ```
 */
export function parseCidr(text: string): IpPrefix | undefined {
  const prefix = parsePrefix(text, { bareAddress: true });
  return prefix === undefined ? undefined : { address: formatIp(prefix.address), length: prefix.bits };
}

/**
 * Whether an address lies inside a prefix; families never mix.
 *
 * @param prefix - The prefix.
 * @param ip - IP text.
 * @returns `true` when `ip` is in `prefix`.
 * @example
 * ```ts
 * cidrContains({ address: '10.0.0.0', length: 8 }, '10.2.3.4'); // true
 * ```
 */
export function cidrContains(prefix: IpPrefix, ip: string): boolean {
  const net = parseIp(prefix.address);
  const address = parseIp(ip);
  if (net === undefined || address === undefined) return false;
  return prefixContains(compilePrefix({ address: net, bits: prefix.length }), address);
}
