/**
 * IP addresses and CIDR ranges with Go `net/netip` parsing rules, which is what istiod validates with
 * (`pkg/config/security` ValidateIPs: `netip.ParseAddr` / `netip.ParsePrefix`) and converts with
 * (ambient `stringToIP`). Addresses are four 32-bit words so a CIDR check is a few integer operations.
 * @module
 */

/** A parsed IPv4 or IPv6 address. IPv4 uses only `w0`. */
export interface IpAddress {
  readonly v6: boolean;
  readonly w0: number;
  readonly w1: number;
  readonly w2: number;
  readonly w3: number;
}

/** A parsed CIDR range: the address as written (not masked, like Go's `Prefix.Addr`) and its length. */
export interface IpPrefix {
  readonly addr: IpAddress;
  readonly bits: number;
}

const DIGITS = /^[0-9]+$/;
const HEX_GROUP = /^[0-9a-fA-F]{1,4}$/;

function parseIpv4Words(text: string): number | undefined {
  const parts = text.split('.');
  if (parts.length !== 4) return undefined;
  let value = 0;
  for (const part of parts) {
    // Go rejects empty fields, more than 3 digits and leading zeros ("netip.ParseAddr: IPv4 field has octet
    // with leading zero").
    if (part.length === 0 || part.length > 3 || !DIGITS.test(part)) return undefined;
    if (part.length > 1 && part.charCodeAt(0) === 48) return undefined;
    const octet = Number(part);
    if (octet > 255) return undefined;
    value = value * 256 + octet;
  }
  return value >>> 0;
}

function parseIpv6Words(text: string): [number, number, number, number] | undefined {
  // At most one "::"; groups of 1-4 hex digits; an IPv4 dotted quad may end the address.
  const double = text.indexOf('::');
  if (double !== -1 && text.indexOf('::', double + 1) !== -1) return undefined;
  const head = double === -1 ? text : text.slice(0, double);
  const tail = double === -1 ? '' : text.slice(double + 2);
  const headParts = head === '' ? [] : head.split(':');
  const tailParts = tail === '' ? [] : tail.split(':');
  const groups: number[] = [];
  const readGroups = (parts: string[], allowV4Last: boolean): number[] | undefined => {
    const out: number[] = [];
    for (let i = 0; i < parts.length; i++) {
      const part = parts[i] as string;
      if (allowV4Last && i === parts.length - 1 && part.includes('.')) {
        const v4 = parseIpv4Words(part);
        if (v4 === undefined) return undefined;
        out.push(v4 >>> 16, v4 & 0xffff);
      } else {
        if (!HEX_GROUP.test(part)) return undefined;
        out.push(Number.parseInt(part, 16));
      }
    }
    return out;
  };
  const headGroups = readGroups(headParts, double === -1);
  const tailGroups = readGroups(tailParts, true);
  if (headGroups === undefined || tailGroups === undefined) return undefined;
  if (double === -1) {
    if (headGroups.length !== 8) return undefined;
    groups.push(...headGroups);
  } else {
    // "::" stands for at least one zero group.
    const missing = 8 - headGroups.length - tailGroups.length;
    if (missing < 1) return undefined;
    groups.push(...headGroups, ...new Array<number>(missing).fill(0), ...tailGroups);
  }
  const word = (i: number): number => (((groups[i] as number) << 16) | (groups[i + 1] as number)) >>> 0;
  return [word(0), word(2), word(4), word(6)];
}

/**
 * Parses an address the way Go's `netip.ParseAddr` does: dotted-quad IPv4 without leading zeros, or IPv6
 * (optionally with an embedded IPv4 tail and a `%zone`, which is dropped).
 *
 * @param text - The address text.
 * @returns The address, or `undefined` when Go would reject it.
 * @example
 * ```ts
 * parseIp('10.0.0.1');      // { v6: false, w0: 0x0a000001, ... }
 * parseIp('::ffff:1.2.3.4'); // an IPv6 address (IPv4-mapped)
 * parseIp('010.0.0.1');     // undefined
 * ```
 */
export function parseIp(text: string): IpAddress | undefined {
  if (typeof text !== 'string' || text.length === 0 || text.length > 64) return undefined;
  if (text.includes(':')) {
    const percent = text.indexOf('%');
    let body = text;
    if (percent !== -1) {
      // A zone must be non-empty (Go: "zone must be a non-empty string").
      if (percent === text.length - 1) return undefined;
      body = text.slice(0, percent);
    }
    const words = parseIpv6Words(body);
    if (words === undefined) return undefined;
    return { v6: true, w0: words[0], w1: words[1], w2: words[2], w3: words[3] };
  }
  const v4 = parseIpv4Words(text);
  return v4 === undefined ? undefined : { v6: false, w0: v4, w1: 0, w2: 0, w3: 0 };
}

/**
 * Parses a CIDR range the way Go's `netip.ParsePrefix` does: no zone, a decimal length without leading
 * zeros, at most 32 (IPv4) or 128 (IPv6). Host bits may be set, as Go allows.
 *
 * @param text - The range text, e.g. `10.0.0.0/8`.
 * @returns The prefix, or `undefined` when Go would reject it.
 * @example
 * ```ts
 * parsePrefix('192.168.10.0/24'); // { addr: ..., bits: 24 }
 * parsePrefix('1.2.3.4/33');      // undefined
 * ```
 */
export function parsePrefix(text: string): IpPrefix | undefined {
  if (typeof text !== 'string') return undefined;
  const slash = text.lastIndexOf('/');
  if (slash === -1) return undefined;
  const addrText = text.slice(0, slash);
  const bitsText = text.slice(slash + 1);
  if (addrText.includes('%')) return undefined;
  if (bitsText.length === 0 || bitsText.length > 3 || !DIGITS.test(bitsText)) return undefined;
  if (bitsText.length > 1 && bitsText.charCodeAt(0) === 48) return undefined;
  const addr = parseIp(addrText);
  if (addr === undefined) return undefined;
  const bits = Number(bitsText);
  if (bits > (addr.v6 ? 128 : 32)) return undefined;
  return { addr, bits };
}

/**
 * Parses what an AuthorizationPolicy accepts in `ipBlocks`, `source.ip` and friends: an address (a full-length
 * range) or a CIDR, told apart by a `/` like istiod's `ValidateIPs` and `stringToIP`.
 *
 * @param text - `10.1.2.3` or `10.1.0.0/16`.
 * @returns The range, or `undefined` when istiod would reject it.
 * @example
 * ```ts
 * parseIpBlock('10.1.2.3'); // { addr: 10.1.2.3, bits: 32 }
 * ```
 */
export function parseIpBlock(text: string): IpPrefix | undefined {
  if (typeof text !== 'string') return undefined;
  if (text.includes('/')) return parsePrefix(text);
  const addr = parseIp(text);
  return addr === undefined ? undefined : { addr, bits: addr.v6 ? 128 : 32 };
}

function maskWord(bits: number, wordIndex: number): number {
  const remaining = bits - wordIndex * 32;
  if (remaining >= 32) return 0xffffffff;
  if (remaining <= 0) return 0;
  return (0xffffffff << (32 - remaining)) >>> 0;
}

/** A prefix prepared for fast membership tests. */
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

/**
 * Precomputes a prefix's network words and masks.
 *
 * @param prefix - The parsed prefix.
 * @returns The compiled prefix for {@link prefixContains}.
 * @example
 * ```ts
 * const net = compilePrefix(parsePrefix('10.0.0.0/8')!);
 * prefixContains(net, parseIp('10.9.9.9')!); // true
 * ```
 */
export function compilePrefix(prefix: IpPrefix): CompiledPrefix {
  const { addr, bits } = prefix;
  const m0 = maskWord(bits, 0);
  const m1 = addr.v6 ? maskWord(bits, 1) : 0;
  const m2 = addr.v6 ? maskWord(bits, 2) : 0;
  const m3 = addr.v6 ? maskWord(bits, 3) : 0;
  return {
    v6: addr.v6,
    n0: (addr.w0 & m0) >>> 0,
    n1: (addr.w1 & m1) >>> 0,
    n2: (addr.w2 & m2) >>> 0,
    n3: (addr.w3 & m3) >>> 0,
    m0,
    m1,
    m2,
    m3,
  };
}

/**
 * Whether an address lies in a range. Families never mix: an IPv4 address is not in an IPv6 range, the
 * behaviour of Envoy's `CidrRange::isInRange` and ztunnel's `IpNet::contains`.
 *
 * @param net - The compiled range.
 * @param ip - The address.
 * @returns Membership.
 * @example
 * ```ts
 * prefixContains(compilePrefix(parseIpBlock('::1')!), parseIp('::1')!); // true
 * ```
 */
export function prefixContains(net: CompiledPrefix, ip: IpAddress): boolean {
  if (net.v6 !== ip.v6) return false;
  if ((ip.w0 & net.m0) >>> 0 !== net.n0) return false;
  if (!net.v6) return true;
  return (
    (ip.w1 & net.m1) >>> 0 === net.n1 &&
    (ip.w2 & net.m2) >>> 0 === net.n2 &&
    (ip.w3 & net.m3) >>> 0 === net.n3
  );
}

/**
 * One predicate for a list of ranges (OR): whether an address, when there is one, lies in any of them. The one
 * CIDR matcher behind both Envoy's (`ipBlocks`, `source.ip`, `destination.ip`) and ztunnel's (`sourceIps`,
 * `destinationIps`) checks.
 *
 * @param nets - The compiled ranges.
 * @returns The predicate; an absent address is in no range.
 * @example
 * ```ts
 * const inPrivate = inAnyPrefix(['10.0.0.0/8', '192.168.0.0/16'].map((t) => compilePrefix(parsePrefix(t)!)));
 * inPrivate(parseIp('192.168.1.1')); // true
 * inPrivate(undefined);              // false
 * ```
 */
export function inAnyPrefix(nets: readonly CompiledPrefix[]): (ip: IpAddress | undefined) => boolean {
  return (ip) => {
    if (ip === undefined) return false;
    for (const net of nets) if (prefixContains(net, ip)) return true;
    return false;
  };
}

/**
 * An IPv4-mapped IPv6 address (`::ffff:a.b.c.d`) as plain IPv4, the form a proxy sees for an IPv4 peer on
 * a dual-stack socket; every other address unchanged.
 *
 * @param ip - The address.
 * @returns The canonical address.
 * @example
 * ```ts
 * canonicalIp(parseIp('::ffff:10.0.0.1')!); // { v6: false, w0: 0x0a000001, ... }
 * ```
 */
export function canonicalIp(ip: IpAddress): IpAddress {
  if (ip.v6 && ip.w0 === 0 && ip.w1 === 0 && ip.w2 === 0xffff) {
    return { v6: false, w0: ip.w3, w1: 0, w2: 0, w3: 0 };
  }
  return ip;
}

/**
 * The address's bytes in network order (4 for IPv4, 16 for IPv6), Go's `Addr.AsSlice`.
 *
 * @param ip - The address.
 * @returns A fresh byte array.
 * @example
 * ```ts
 * ipBytes(parseIp('1.2.3.4')!); // Uint8Array [1, 2, 3, 4]
 * ```
 */
export function ipBytes(ip: IpAddress): Uint8Array {
  const words = ip.v6 ? [ip.w0, ip.w1, ip.w2, ip.w3] : [ip.w0];
  const out = new Uint8Array(words.length * 4);
  words.forEach((word, i) => {
    out[i * 4] = word >>> 24;
    out[i * 4 + 1] = (word >>> 16) & 0xff;
    out[i * 4 + 2] = (word >>> 8) & 0xff;
    out[i * 4 + 3] = word & 0xff;
  });
  return out;
}
