/**
 * IP prefixes (CIDR ranges) as istiod validates them with Go's `netip.ParsePrefix` and as ztunnel and Envoy
 * match them: families never mix, the address is kept as written (Go's `Prefix.Addr`) and masked only to
 * match.
 * @module
 */
import { formatIp, type IpAddress, parseIp } from './ip-address.js';

/** A prefix: the address as written and the prefix length. */
export interface IpPrefix {
  readonly address: IpAddress;
  /** 0–32 for IPv4, 0–128 for IPv6. */
  readonly bits: number;
}

/** Options of {@link parsePrefix}. */
export interface ParsePrefixOptions {
  /**
   * Accept a bare address as a host prefix (/32 or /128), as istio does for `ipBlocks` and WDS `sourceIps`
   * (istio/istio@86c9f01f:pilot/pkg/security/authz/model/generator.go). Default `false`.
   */
  readonly bareAddress?: boolean;
}

/**
 * Parses `address/bits`. The address follows {@link parseIp} (no zone: Go's `ParsePrefix` refuses one); `bits`
 * is decimal without a sign or leading zeros and at most the family's width.
 *
 * @param text - e.g. `10.0.0.0/8`, `fd00::/64`.
 * @param options - Whether a bare address is a host prefix.
 * @returns The prefix, or `undefined` when `text` is not one.
 * @example
 * ```ts
 * parsePrefix('10.1.2.3/8');                       // { address: 10.1.2.3, bits: 8 }
 * parsePrefix('10.1.2.3', { bareAddress: true });  // { address: 10.1.2.3, bits: 32 }
 * ```
 */
export function parsePrefix(text: string, options?: ParsePrefixOptions): IpPrefix | undefined {
  const slash = text.indexOf('/');
  if (slash < 0) {
    if (options?.bareAddress !== true) return undefined;
    const address = parseIp(text);
    return address === undefined ? undefined : { address, bits: address.v6 ? 128 : 32 };
  }
  const address = parseIp(text.slice(0, slash));
  if (address === undefined) return undefined;
  const bitsText = text.slice(slash + 1);
  if (bitsText.length === 0 || bitsText.length > 3) return undefined;
  if (bitsText.length > 1 && bitsText.charCodeAt(0) === 0x30) return undefined;
  let bits = 0;
  for (let i = 0; i < bitsText.length; i++) {
    const d = bitsText.charCodeAt(i) - 0x30;
    if (d < 0 || d > 9) return undefined;
    bits = bits * 10 + d;
  }
  return bits > (address.v6 ? 128 : 32) ? undefined : { address, bits };
}

/**
 * Prints a prefix as Go's `Prefix.String` does: the address as written, a slash and the length.
 *
 * @param prefix - The prefix.
 * @returns e.g. `10.1.2.3/8`.
 * @example
 * ```ts
 * formatPrefix(parsePrefix('FD00::1/64')!); // 'fd00::1/64'
 * ```
 */
export function formatPrefix(prefix: IpPrefix): string {
  return `${formatIp(prefix.address)}/${prefix.bits}`;
}

/** A prefix prepared for fast membership tests: network words and masks. */
export interface CompiledPrefix {
  readonly v6: boolean;
  readonly n0: number;
  readonly n1: number;
  readonly n2: number;
  readonly n3: number;
  readonly m0: number;
  readonly m1: number;
  readonly m2: number;
  readonly m3: number;
}

function mask(bits: number, wordIndex: number): number {
  const remaining = bits - wordIndex * 32;
  if (remaining >= 32) return 0xffffffff;
  if (remaining <= 0) return 0;
  return (0xffffffff << (32 - remaining)) >>> 0;
}

/**
 * Precomputes a prefix's network and mask words for {@link prefixContains}.
 *
 * @param prefix - The prefix.
 * @returns The compiled prefix.
 * @example
 * ```ts
 * const net = compilePrefix(parsePrefix('10.0.0.0/8')!);
 * prefixContains(net, parseIp('10.9.9.9')!); // true
 * ```
 */
export function compilePrefix(prefix: IpPrefix): CompiledPrefix {
  const { address: a, bits } = prefix;
  const m0 = mask(bits, 0);
  const m1 = a.v6 ? mask(bits, 1) : 0;
  const m2 = a.v6 ? mask(bits, 2) : 0;
  const m3 = a.v6 ? mask(bits, 3) : 0;
  return {
    v6: a.v6,
    n0: (a.w0 & m0) >>> 0,
    n1: (a.w1 & m1) >>> 0,
    n2: (a.w2 & m2) >>> 0,
    n3: (a.w3 & m3) >>> 0,
    m0,
    m1,
    m2,
    m3,
  };
}

/**
 * Whether an address lies in a prefix. Families never mix: an IPv4 address is in no IPv6 prefix, an IPv4-mapped
 * address in no IPv4 prefix (Envoy `CidrRange::isInRange`, ztunnel's `IpNet::contains`); unmap first where a
 * caller wants otherwise.
 *
 * @param prefix - The compiled prefix.
 * @param ip - The address.
 * @returns Membership.
 * @example
 * ```ts
 * prefixContains(compilePrefix(parsePrefix('::1/128')!), parseIp('::1')!); // true
 * ```
 */
export function prefixContains(prefix: CompiledPrefix, ip: IpAddress): boolean {
  if (prefix.v6 !== ip.v6) return false;
  if ((ip.w0 & prefix.m0) >>> 0 !== prefix.n0) return false;
  if (!prefix.v6) return true;
  return (
    (ip.w1 & prefix.m1) >>> 0 === prefix.n1 &&
    (ip.w2 & prefix.m2) >>> 0 === prefix.n2 &&
    (ip.w3 & prefix.m3) >>> 0 === prefix.n3
  );
}
