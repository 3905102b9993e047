/**
 * IP addresses as Istio's components read and print them. istiod validates and converts with Go's `net/netip`
 * (`netip.ParseAddr`, `Addr.String`); ztunnel parses `:authority` and prints addresses with Rust's `std::net`
 * (`IpAddr::from_str`, `Display`). Both accept exactly one spelling per IPv4 address (four decimal octets, no
 * leading zeros: no octal, hex, shortened or single-number forms) and print IPv6 as RFC 5952 §4 says, with an
 * IPv4-mapped address as `::ffff:a.b.c.d`. An address is four 32-bit words so that prefix checks are a few
 * integer operations.
 * @module
 */

/**
 * A parsed IPv4 or IPv6 address in four 32-bit words, most significant first. IPv4 uses `w0` only; the other
 * words are 0.
 */
export interface IpAddress {
  /** `true` for IPv6 (an IPv4-mapped IPv6 address included), `false` for IPv4. */
  readonly v6: boolean;
  readonly w0: number;
  readonly w1: number;
  readonly w2: number;
  readonly w3: number;
}

/** What to do with an IPv6 zone (`fe80::1%eth0`). */
export type ZoneHandling = 'reject' | 'drop';

/** Options of {@link parseIp}. */
export interface ParseIpOptions {
  /**
   * `reject` (the default) refuses an address with a zone, as Rust's `IpAddr::from_str` and every socket
   * address we build do; `drop` accepts a non-empty zone and discards it, as Go's `netip.ParseAddr` accepts it
   * (istio `pkg/config/security` validation).
   */
  readonly zone?: ZoneHandling;
}

const DOT = 0x2e;
const COLON = 0x3a;
const PERCENT = 0x25;

/**
 * Reads `text[start, end)` as a strict dotted quad.
 * @returns The address as an unsigned 32-bit number, or -1.
 */
function readIpv4(text: string, start: number, end: number): number {
  // 1.2.3.4 to 255.255.255.255.
  if (end - start < 7 || end - start > 15) return -1;
  let word = 0;
  let octets = 0;
  let value = 0;
  let digits = 0;
  for (let i = start; i <= end; i++) {
    const c = i < end ? text.charCodeAt(i) : DOT;
    if (c === DOT) {
      if (digits === 0 || octets === 4) return -1;
      word = word * 256 + value;
      octets++;
      value = 0;
      digits = 0;
      continue;
    }
    const d = c - 0x30;
    if (d < 0 || d > 9) return -1;
    // A leading zero is only the octet `0` itself: `010` is octal to inet_aton and refused by Go and Rust.
    if (digits === 1 && value === 0) return -1;
    value = value * 10 + d;
    digits++;
    if (value > 255) return -1;
  }
  return octets === 4 ? word : -1;
}

function hexDigit(c: number): number {
  if (c >= 0x30 && c <= 0x39) return c - 0x30;
  const lower = c | 0x20;
  if (lower >= 0x61 && lower <= 0x66) return lower - 0x61 + 10;
  return -1;
}

// Scratch space for the eight groups of one IPv6 parse; parsing is synchronous, so one buffer serves all.
const groups = new Uint16Array(8);

function readIpv6(text: string, start: number, end: number): IpAddress | undefined {
  // `::` to `0000:0000:0000:0000:0000:ffff:255.255.255.255`.
  if (end - start < 2 || end - start > 45) return undefined;
  let count = 0;
  let gap = -1;
  let i = start;
  if (text.charCodeAt(i) === COLON) {
    if (text.charCodeAt(i + 1) !== COLON) return undefined;
    gap = 0;
    i += 2;
  }
  while (i < end) {
    if (count === 8) return undefined;
    const groupStart = i;
    let value = 0;
    let digits = 0;
    for (; i < end; i++) {
      const h = hexDigit(text.charCodeAt(i));
      if (h < 0) break;
      if (++digits > 4) return undefined;
      value = value * 16 + h;
    }
    if (i < end && text.charCodeAt(i) === DOT) {
      // An embedded dotted quad ends the address and fills two groups (RFC 4291 §2.2 form 3).
      if (count > 6) return undefined;
      const v4 = readIpv4(text, groupStart, end);
      if (v4 < 0) return undefined;
      groups[count++] = v4 >>> 16;
      groups[count++] = v4 & 0xffff;
      i = end;
      break;
    }
    if (digits === 0) return undefined;
    groups[count++] = value;
    if (i === end) break;
    if (text.charCodeAt(i) !== COLON) return undefined;
    i++;
    if (i === end) return undefined;
    if (text.charCodeAt(i) === COLON) {
      if (gap >= 0) return undefined;
      gap = count;
      i++;
    }
  }
  if (gap < 0) {
    if (count !== 8) return undefined;
  } else {
    // `::` stands for one or more zero groups.
    if (count > 7) return undefined;
    const tail = count - gap;
    for (let k = 0; k < tail; k++) groups[7 - k] = groups[count - 1 - k] as number;
    for (let k = gap; k < 8 - tail; k++) groups[k] = 0;
  }
  const g = groups;
  return {
    v6: true,
    w0: (((g[0] as number) << 16) | (g[1] as number)) >>> 0,
    w1: (((g[2] as number) << 16) | (g[3] as number)) >>> 0,
    w2: (((g[4] as number) << 16) | (g[5] as number)) >>> 0,
    w3: (((g[6] as number) << 16) | (g[7] as number)) >>> 0,
  };
}

/**
 * Builds an IPv4 address from its 32-bit value.
 *
 * @param word - The address as an unsigned 32-bit number (`0x0a000001` for `10.0.0.1`).
 * @returns The address.
 * @throws {RangeError} When `word` is not an integer in [0, 2^32).
 * @example
 * ```ts
 * formatIp(ipv4(0x7f000001)); // '127.0.0.1'
 * ```
 */
export function ipv4(word: number): IpAddress {
  if (!Number.isInteger(word) || word < 0 || word > 0xffffffff) {
    throw new RangeError(`ipv4: "word" must be an unsigned 32-bit integer, got ${word}`);
  }
  return { v6: false, w0: word, w1: 0, w2: 0, w3: 0 };
}

/**
 * Parses an IP address strictly: a dotted quad of decimal octets without leading zeros, or IPv6 in one of the
 * RFC 4291 §2.2 text forms (at most one `::`, groups of 1–4 hex digits, an optional dotted-quad tail). This is
 * the intersection of Go's `netip.ParseAddr` and Rust's `IpAddr::from_str`: `127.0.0.02`, `2130706434`,
 * `0x7f000002` and `127.2` are not addresses, whatever `inet_aton` or `getaddrinfo` would make of them.
 *
 * @param text - The address text, without brackets.
 * @param options - Zone handling; see {@link ParseIpOptions}.
 * @returns The address, or `undefined` when `text` is not one.
 * @example
 * ```ts
 * parseIp('10.0.0.1');       // { v6: false, w0: 0x0a000001, w1: 0, w2: 0, w3: 0 }
 * parseIp('::ffff:1.2.3.4'); // IPv6 (IPv4-mapped)
 * parseIp('127.0.0.02');     // undefined
 * ```
 */
export function parseIp(text: string, options?: ParseIpOptions): IpAddress | undefined {
  let end = text.length;
  let hasColon = false;
  for (let i = 0; i < end; i++) {
    const c = text.charCodeAt(i);
    if (c === COLON) {
      hasColon = true;
    } else if (c === PERCENT) {
      if (options?.zone !== 'drop' || !hasColon || i === end - 1) return undefined;
      end = i;
      break;
    }
  }
  if (!hasColon) {
    const word = readIpv4(text, 0, end);
    return word < 0 ? undefined : { v6: false, w0: word, w1: 0, w2: 0, w3: 0 };
  }
  return readIpv6(text, 0, end);
}

function hex(group: number): string {
  return group.toString(16);
}

/**
 * Prints an address as Go's `netip.Addr.String` and Rust's `IpAddr` `Display` do: a dotted quad for IPv4;
 * for IPv6 lower-case hex without leading zeros, the longest run of two or more zero groups as `::` (the
 * first on a tie: RFC 5952 §4.2), and an IPv4-mapped address as `::ffff:a.b.c.d`.
 *
 * @param ip - The address.
 * @returns Its canonical text.
 * @example
 * ```ts
 * formatIp(parseIp('FD00:0:0:0:0:0:0:1')!); // 'fd00::1'
 * ```
 */
export function formatIp(ip: IpAddress): string {
  if (!ip.v6) {
    const w = ip.w0;
    return `${w >>> 24}.${(w >>> 16) & 0xff}.${(w >>> 8) & 0xff}.${w & 0xff}`;
  }
  if (ip.w0 === 0 && ip.w1 === 0 && ip.w2 === 0xffff) {
    const w = ip.w3;
    return `::ffff:${w >>> 24}.${(w >>> 16) & 0xff}.${(w >>> 8) & 0xff}.${w & 0xff}`;
  }
  const g = [
    ip.w0 >>> 16,
    ip.w0 & 0xffff,
    ip.w1 >>> 16,
    ip.w1 & 0xffff,
    ip.w2 >>> 16,
    ip.w2 & 0xffff,
    ip.w3 >>> 16,
    ip.w3 & 0xffff,
  ];
  let bestStart = -1;
  let bestLength = 1;
  for (let i = 0; i < 8; ) {
    if (g[i] !== 0) {
      i++;
      continue;
    }
    let j = i;
    while (j < 8 && g[j] === 0) j++;
    if (j - i > bestLength) {
      bestStart = i;
      bestLength = j - i;
    }
    i = j;
  }
  if (bestStart < 0) return g.map(hex).join(':');
  const head = g.slice(0, bestStart).map(hex).join(':');
  const tail = g
    .slice(bestStart + bestLength)
    .map(hex)
    .join(':');
  return `${head}::${tail}`;
}

/**
 * The canonical text of an address given as text (see {@link parseIp} and {@link formatIp}). A valid IPv4
 * address is already canonical and comes back as the same string, without allocating.
 *
 * @param text - The address text.
 * @param options - Zone handling; see {@link ParseIpOptions}.
 * @returns The canonical text, or `undefined` when `text` is not an address.
 * @example
 * ```ts
 * canonicalIp('fd00:0::01'); // 'fd00::1'
 * canonicalIp('010.0.0.1');  // undefined
 * ```
 */
export function canonicalIp(text: string, options?: ParseIpOptions): string | undefined {
  const ip = parseIp(text, options);
  if (ip === undefined) return undefined;
  return ip.v6 ? formatIp(ip) : text;
}

/**
 * Whether an IPv6 address is IPv4-mapped (`::ffff:a.b.c.d`, RFC 4291 §2.5.5.2).
 *
 * @param ip - The address.
 * @returns `true` for a mapped address.
 * @example
 * ```ts
 * isIpv4Mapped(parseIp('::ffff:10.0.0.1')!); // true
 * ```
 */
export function isIpv4Mapped(ip: IpAddress): boolean {
  return ip.v6 && ip.w0 === 0 && ip.w1 === 0 && ip.w2 === 0xffff;
}

/**
 * An IPv4-mapped IPv6 address as the IPv4 address it maps; any other address unchanged. A dual-stack socket
 * reports an IPv4 peer as `::ffff:a.b.c.d`; policy, indexes and logs want `a.b.c.d` (ztunnel
 * `to_canonical()`, Envoy's `v4_mapped` handling).
 *
 * @param ip - The address.
 * @returns The unmapped address.
 * @example
 * ```ts
 * formatIp(unmapIpv4(parseIp('::ffff:10.0.0.1')!)); // '10.0.0.1'
 * ```
 */
export function unmapIpv4(ip: IpAddress): IpAddress {
  return isIpv4Mapped(ip) ? { v6: false, w0: ip.w3, w1: 0, w2: 0, w3: 0 } : ip;
}

/**
 * The text form of {@link unmapIpv4} for an address a socket reported (`socket.remoteAddress`), which Node
 * prints as `::ffff:a.b.c.d` for an IPv4 peer of a dual-stack listener. Anything else, addresses and non-addresses
 * alike, comes back unchanged.
 *
 * @param text - The address as the socket reported it.
 * @returns `a.b.c.d` for a mapped address, else `text`.
 * @example
 * ```ts
 * unmappedIpText('::ffff:127.0.0.1'); // '127.0.0.1'
 * unmappedIpText('fd00::1');          // 'fd00::1'
 * ```
 */
export function unmappedIpText(text: string): string {
  if (text.charCodeAt(0) !== COLON) return text;
  const ip = parseIp(text);
  return ip !== undefined && isIpv4Mapped(ip) ? formatIp(unmapIpv4(ip)) : text;
}

/**
 * Whether two addresses are the same address (an IPv4 address and its IPv4-mapped form are not: compare
 * {@link unmapIpv4} results for that).
 *
 * @param a - One address.
 * @param b - The other.
 * @returns Equality.
 * @example
 * ```ts
 * ipEquals(parseIp('fd00::1')!, parseIp('fd00:0::1')!); // true
 * ```
 */
export function ipEquals(a: IpAddress, b: IpAddress): boolean {
  return a.v6 === b.v6 && a.w0 === b.w0 && a.w1 === b.w1 && a.w2 === b.w2 && a.w3 === b.w3;
}

/**
 * Whether an address is a loopback address: 127.0.0.0/8, `::1`, or an IPv4-mapped 127.0.0.0/8.
 *
 * @param ip - The address.
 * @returns `true` for loopback.
 * @example
 * ```ts
 * isLoopback(parseIp('127.0.2.1')!); // true
 * ```
 */
export function isLoopback(ip: IpAddress): boolean {
  const v4 = unmapIpv4(ip);
  if (!v4.v6) return v4.w0 >>> 24 === 127;
  return v4.w0 === 0 && v4.w1 === 0 && v4.w2 === 0 && v4.w3 === 1;
}
