/**
 * IP address text ↔ bytes, pure (no `node:net`), with the textual forms Rust's `std::net` reads and writes,
 * because ztunnel parses and prints `:authority` with `SocketAddr` (istio/ztunnel@62d82653:src/proxy.rs L854-892).
 * @module
 */

/** An IPv4 (4 bytes) or IPv6 (16 bytes) address in network order. */
export type IpBytes = Uint8Array;

/**
 * Parses dotted-quad IPv4 as Rust's `Ipv4Addr::from_str` does: four decimal octets, no leading zeros, no
 * other syntax (no octal, hex or shortened forms).
 *
 * @param text - e.g. `10.0.0.1`.
 * @returns 4 bytes, or `undefined` when `text` is not an IPv4 address.
 * @example
 * ```ts
 * parseIpv4('10.0.0.1'); // Uint8Array [10, 0, 0, 1]
 * parseIpv4('010.0.0.1'); // undefined
 * ```
 */
export function parseIpv4(text: string): IpBytes | undefined {
  if (text.length < 7 || text.length > 15) return undefined;
  const out = new Uint8Array(4);
  let octet = 0;
  let value = 0;
  let digits = 0;
  for (let i = 0; i <= text.length; i++) {
    const c = i < text.length ? text.charCodeAt(i) : 0x2e;
    if (c === 0x2e) {
      if (digits === 0 || octet > 3) return undefined;
      out[octet++] = value;
      value = 0;
      digits = 0;
    } else if (c >= 0x30 && c <= 0x39) {
      // A leading zero is only allowed as the whole octet.
      if (digits === 1 && value === 0) return undefined;
      value = value * 10 + (c - 0x30);
      digits++;
      if (value > 255) return undefined;
    } else {
      return undefined;
    }
  }
  return octet === 4 ? out : undefined;
}

function hexValue(c: number): number {
  if (c >= 0x30 && c <= 0x39) return c - 0x30;
  if (c >= 0x61 && c <= 0x66) return c - 0x61 + 10;
  if (c >= 0x41 && c <= 0x46) return c - 0x41 + 10;
  return -1;
}

/**
 * Parses an IPv6 address (RFC 4291 §2.2 text forms: `::` compression, an embedded dotted quad at the end).
 * Zone identifiers (`%eth0`) are refused: an HBONE authority never carries one.
 *
 * @param text - e.g. `ff06::c3` or `::ffff:10.0.0.1`, without brackets.
 * @returns 16 bytes, or `undefined` when `text` is not an IPv6 address.
 * @example
 * ```ts
 * parseIpv6('ff06::c3')?.length; // 16
 * ```
 */
export function parseIpv6(text: string): IpBytes | undefined {
  if (text.length < 2 || text.length > 45) return undefined;
  const groups: number[] = [];
  let gap = -1;
  let i = 0;
  if (text.startsWith('::')) {
    gap = 0;
    i = 2;
    if (text.length === 2) return new Uint8Array(16);
  } else if (text.charCodeAt(0) === 0x3a) {
    return undefined;
  }
  while (i < text.length) {
    // Try an embedded IPv4 tail: it must be the last piece and leave room for two groups.
    const rest = text.slice(i);
    if (rest.includes('.') && !rest.includes(':')) {
      const v4 = parseIpv4(rest);
      if (v4 === undefined) return undefined;
      groups.push(((v4[0] as number) << 8) | (v4[1] as number), ((v4[2] as number) << 8) | (v4[3] as number));
      i = text.length;
      break;
    }
    let value = 0;
    let digits = 0;
    while (i < text.length && digits < 5) {
      const h = hexValue(text.charCodeAt(i));
      if (h < 0) break;
      value = (value << 4) | h;
      digits++;
      i++;
    }
    if (digits === 0 || digits > 4) return undefined;
    groups.push(value);
    if (i === text.length) break;
    if (text.charCodeAt(i) !== 0x3a) return undefined;
    i++;
    if (i < text.length && text.charCodeAt(i) === 0x3a) {
      if (gap >= 0) return undefined;
      gap = groups.length;
      i++;
      if (i === text.length) break;
    } else if (i === text.length) {
      // A single trailing colon.
      return undefined;
    }
  }
  if (gap < 0 ? groups.length !== 8 : groups.length > 7) return undefined;
  const out = new Uint8Array(16);
  const tail = gap < 0 ? 0 : groups.length - gap;
  for (let g = 0; g < groups.length; g++) {
    const slot = gap < 0 || g < gap ? g : 8 - tail + (g - gap);
    const v = groups[g] as number;
    out[slot * 2] = v >> 8;
    out[slot * 2 + 1] = v & 0xff;
  }
  return out;
}

/**
 * Formats 4 or 16 address bytes the way Rust's `Display` for `IpAddr` does: dotted quad, or RFC 5952
 * (lower-case, longest run of two or more zero groups as `::`, leftmost on a tie) with `::ffff:a.b.c.d`
 * for IPv4-mapped addresses.
 *
 * @param bytes - 4 or 16 bytes.
 * @returns The canonical text.
 * @throws {RangeError} When `bytes` is neither 4 nor 16 bytes long.
 * @example
 * ```ts
 * formatIp(parseIpv6('FF06:0:0:0:0:0:0:C3')!); // 'ff06::c3'
 * ```
 */
export function formatIp(bytes: IpBytes): string {
  if (bytes.length === 4) return `${bytes[0]}.${bytes[1]}.${bytes[2]}.${bytes[3]}`;
  if (bytes.length !== 16)
    throw new RangeError(`formatIp: "bytes" must be 4 or 16 bytes, got ${bytes.length}`);
  const groups: number[] = [];
  for (let g = 0; g < 8; g++) groups.push(((bytes[g * 2] as number) << 8) | (bytes[g * 2 + 1] as number));
  if (groups.slice(0, 5).every((g) => g === 0) && groups[5] === 0xffff) {
    return `::ffff:${bytes[12]}.${bytes[13]}.${bytes[14]}.${bytes[15]}`;
  }
  let bestStart = -1;
  let bestLength = 1;
  for (let g = 0; g < 8; ) {
    if (groups[g] !== 0) {
      g++;
      continue;
    }
    let end = g;
    while (end < 8 && groups[end] === 0) end++;
    if (end - g > bestLength) {
      bestStart = g;
      bestLength = end - g;
    }
    g = end;
  }
  const hex = (from: number, to: number): string =>
    groups
      .slice(from, to)
      .map((g) => g.toString(16))
      .join(':');
  if (bestStart < 0) return hex(0, 8);
  return `${hex(0, bestStart)}::${hex(bestStart + bestLength, 8)}`;
}

/**
 * Parses IPv4 or IPv6 text (IPv6 without brackets) and returns its canonical form.
 *
 * @param text - An address.
 * @returns The canonical text and family, or `undefined` when `text` is not an IP address.
 * @example
 * ```ts
 * canonicalIp('FF06::00C3'); // { ip: 'ff06::c3', family: 6 }
 * ```
 */
export function canonicalIp(text: string): { readonly ip: string; readonly family: 4 | 6 } | undefined {
  const v4 = parseIpv4(text);
  if (v4 !== undefined) return { ip: formatIp(v4), family: 4 };
  const v6 = parseIpv6(text);
  if (v6 !== undefined) return { ip: formatIp(v6), family: 6 };
  return undefined;
}
