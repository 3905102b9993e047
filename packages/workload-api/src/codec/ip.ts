/**
 * IP address text and bytes, written for the WDS wire format: `bytes` fields hold raw 4- or 16-byte
 * addresses (workload.proto `Workload.addresses`, `NetworkAddress.address`), and the model keeps their
 * canonical text (RFC 5952 for IPv6, as ztunnel prints them with Rust's `IpAddr` Display), which is
 * also the key of every by-address index.
 * @module
 */

/** The canonical text of an IP address, an IP prefix and a socket address. */
export interface SocketAddress {
  /** Canonical IP text (`10.0.0.1`, `fd00::1`). */
  readonly ip: string;
  /** 0-65535. */
  readonly port: number;
}

/** An IP prefix: canonical network address text and its length. */
export interface IpPrefix {
  /** Canonical IP text. */
  readonly address: string;
  /** 0-32 for IPv4, 0-128 for IPv6. */
  readonly length: number;
}

const DECIMAL_OCTET = /^(?:0|[1-9][0-9]{0,2})$/;
const HEX_GROUP = /^[0-9a-fA-F]{1,4}$/;

/**
 * Formats raw address bytes as canonical text.
 *
 * @param bytes - 4 bytes (IPv4) or 16 bytes (IPv6).
 * @returns The text, or `undefined` for any other length (ztunnel `byte_to_ip` rejects those).
 * @example
 * ```ts
 * ipFromBytes(new Uint8Array([10, 0, 0, 1])); // '10.0.0.1'
 * ```
 */
export function ipFromBytes(bytes: Uint8Array): string | undefined {
  if (bytes.length === 4) {
    return `${bytes[0]}.${bytes[1]}.${bytes[2]}.${bytes[3]}`;
  }
  if (bytes.length !== 16) return undefined;
  const groups: number[] = [];
  for (let i = 0; i < 16; i += 2) groups.push(((bytes[i] as number) << 8) | (bytes[i + 1] as number));
  // IPv4-mapped addresses print with a dotted tail, as Rust's Ipv6Addr and inet_ntop do.
  if (groups.slice(0, 5).every((g) => g === 0) && groups[5] === 0xffff) {
    return `::ffff:${bytes[12]}.${bytes[13]}.${bytes[14]}.${bytes[15]}`;
  }
  // RFC 5952 §4.2: compress the longest run of two or more zero groups, the first one on a tie.
  let bestStart = -1;
  let bestLen = 0;
  for (let i = 0; i < 8; ) {
    if (groups[i] !== 0) {
      i++;
      continue;
    }
    let j = i;
    while (j < 8 && groups[j] === 0) j++;
    if (j - i > bestLen && j - i >= 2) {
      bestStart = i;
      bestLen = j - i;
    }
    i = j;
  }
  const hex = groups.map((g) => g.toString(16));
  if (bestStart < 0) return hex.join(':');
  return `${hex.slice(0, bestStart).join(':')}::${hex.slice(bestStart + bestLen).join(':')}`;
}

function parseIpv4(text: string, out: Uint8Array, offset: number): boolean {
  const parts = text.split('.');
  if (parts.length !== 4) return false;
  for (let i = 0; i < 4; i++) {
    const part = parts[i] as string;
    // Leading zeros are rejected: `010` is octal in inet_aton and decimal elsewhere.
    if (!DECIMAL_OCTET.test(part)) return false;
    const n = Number(part);
    if (n > 255) return false;
    out[offset + i] = n;
  }
  return true;
}

/**
 * Parses IP text into raw bytes.
 *
 * @param text - Dotted-quad IPv4 or RFC 4291 IPv6 text (with `::` and an optional dotted IPv4 tail); no
 *   zone index, no brackets.
 * @returns 4 or 16 bytes, or `undefined` when the text is not an IP address.
 * @example
 * ```ts
 * ipToBytes('fd00::1'); // Uint8Array(16) [253, 0, ..., 1]
 * ```
 */
export function ipToBytes(text: string): Uint8Array | undefined {
  if (!text.includes(':')) {
    const out = new Uint8Array(4);
    return parseIpv4(text, out, 0) ? out : undefined;
  }
  const out = new Uint8Array(16);
  const halves = text.split('::');
  if (halves.length > 2) return undefined;
  const parseGroups = (part: string): number[] | undefined => {
    if (part === '') return [];
    const items = part.split(':');
    const result: number[] = [];
    for (let i = 0; i < items.length; i++) {
      const item = items[i] as string;
      if (i === items.length - 1 && item.includes('.')) {
        const v4 = new Uint8Array(4);
        if (!parseIpv4(item, v4, 0)) return undefined;
        result.push(
          ((v4[0] as number) << 8) | (v4[1] as number),
          ((v4[2] as number) << 8) | (v4[3] as number),
        );
        continue;
      }
      if (!HEX_GROUP.test(item)) return undefined;
      result.push(Number.parseInt(item, 16));
    }
    return result;
  };
  const head = parseGroups(halves[0] as string);
  const tail = halves.length === 2 ? parseGroups(halves[1] as string) : [];
  if (head === undefined || tail === undefined) return undefined;
  if (halves.length === 2 ? head.length + tail.length > 7 : head.length !== 8) return undefined;
  const groups = [...head, ...new Array<number>(8 - head.length - tail.length).fill(0), ...tail];
  for (let i = 0; i < 8; i++) {
    const g = groups[i] as number;
    out[i * 2] = g >> 8;
    out[i * 2 + 1] = g & 0xff;
  }
  return out;
}

/**
 * Returns the canonical text of an IP address, the form every index in this package is keyed by.
 *
 * @param text - Any IPv4 or IPv6 text {@link ipToBytes} accepts.
 * @returns The canonical text, or `undefined` when `text` is not an IP address.
 * @example
 * ```ts
 * canonicalIp('FD00:0:0::0001'); // 'fd00::1'
 * ```
 */
export function canonicalIp(text: string): string | undefined {
  const bytes = ipToBytes(text);
  return bytes === undefined ? undefined : ipFromBytes(bytes);
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
 * Whether an IP is a loopback address (127.0.0.0/8, ::1), as Rust's `IpAddr::is_loopback`.
 *
 * @param ip - Canonical IP text.
 * @returns `true` for loopback.
 * @example
 * ```ts
 * isLoopback('127.0.0.2'); // true
 * ```
 */
export function isLoopback(ip: string): boolean {
  return ip === '::1' || ip.startsWith('127.');
}

/**
 * Parses `ip:port` (IPv4) or `[ip]:port` (IPv6), the form ztunnel prints socket addresses in.
 *
 * @param text - The socket address text.
 * @returns The canonical IP and the port, or `undefined` when the text is not a socket address.
 * @example
 * ```ts
 * parseSocketAddress('[fd00::1]:8080'); // { ip: 'fd00::1', port: 8080 }
 * ```
 */
export function parseSocketAddress(text: string): SocketAddress | undefined {
  const colon = text.lastIndexOf(':');
  if (colon <= 0) return undefined;
  const portText = text.slice(colon + 1);
  if (portText.length === 0 || portText.length > 5) return undefined;
  let port = 0;
  for (let i = 0; i < portText.length; i++) {
    const c = portText.charCodeAt(i) - 48;
    if (c < 0 || c > 9) return undefined;
    port = port * 10 + c;
  }
  if (port > 65535) return undefined;
  let host = text.slice(0, colon);
  if (host.startsWith('[')) {
    if (!host.endsWith(']')) return undefined;
    host = host.slice(1, -1);
    if (!host.includes(':')) return undefined;
  } else if (host.includes(':')) {
    return undefined;
  }
  const ip = canonicalIpFast(host);
  return ip === undefined ? undefined : { ip, port };
}

/**
 * Canonical IP text with a fast path for the common case: plain IPv4 text that is already canonical
 * is returned as is, without allocating.
 */
function canonicalIpFast(host: string): string | undefined {
  if (!host.includes(':')) {
    let dots = 0;
    let digits = 0;
    let value = 0;
    let leadingZero = false;
    for (let i = 0; i < host.length; i++) {
      const c = host.charCodeAt(i);
      if (c === 46) {
        if (digits === 0) return undefined;
        dots++;
        digits = 0;
        value = 0;
        continue;
      }
      const d = c - 48;
      if (d < 0 || d > 9) return undefined;
      if (digits === 1 && leadingZero) return undefined;
      leadingZero = digits === 0 && d === 0;
      value = value * 10 + d;
      digits++;
      if (value > 255) return undefined;
    }
    return dots === 3 && digits > 0 ? host : undefined;
  }
  return canonicalIp(host);
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
  return ip.includes(':') ? `[${ip}]:${port}` : `${ip}:${port}`;
}

/**
 * Parses `address/length` CIDR text.
 *
 * @param text - e.g. `10.0.0.0/8`, `fd00::/64`; a bare address means a host prefix (/32, /128).
 * @returns The prefix with canonical address text, or `undefined` when invalid.
 * @example
 * ```ts
 * parseCidr('10.1.2.3/8'); // { address: '10.1.2.3', length: 8 }
 * ```
 */
export function parseCidr(text: string): IpPrefix | undefined {
  const slash = text.indexOf('/');
  const address = canonicalIp(slash < 0 ? text : text.slice(0, slash));
  if (address === undefined) return undefined;
  const max = isIpv6(address) ? 128 : 32;
  if (slash < 0) return { address, length: max };
  const lengthText = text.slice(slash + 1);
  if (!/^(?:0|[1-9][0-9]{0,2})$/.test(lengthText)) return undefined;
  const length = Number(lengthText);
  return length > max ? undefined : { address, length };
}

/**
 * Whether an address lies inside a prefix (same family, first `length` bits equal).
 *
 * @param prefix - The prefix.
 * @param ip - Canonical IP text.
 * @returns `true` when `ip` is in `prefix`.
 * @example
 * ```ts
 * cidrContains({ address: '10.0.0.0', length: 8 }, '10.2.3.4'); // true
 * ```
 */
export function cidrContains(prefix: IpPrefix, ip: string): boolean {
  const a = ipToBytes(prefix.address);
  const b = ipToBytes(ip);
  if (a === undefined || b === undefined || a.length !== b.length) return false;
  return prefixBytesEqual(a, b, prefix.length);
}

/**
 * Whether the first `bits` bits of two same-length byte strings are equal.
 *
 * @example
 * ```ts
 * prefixBytesEqual(new Uint8Array([10, 1, 0, 0]), new Uint8Array([10, 1, 9, 9]), 16); // true
 * ```
 */
export function prefixBytesEqual(a: Uint8Array, b: Uint8Array, bits: number): boolean {
  const full = bits >> 3;
  for (let i = 0; i < full; i++) if (a[i] !== b[i]) return false;
  const rest = bits & 7;
  if (rest === 0) return true;
  const mask = (0xff << (8 - rest)) & 0xff;
  return ((a[full] as number) & mask) === ((b[full] as number) & mask);
}
