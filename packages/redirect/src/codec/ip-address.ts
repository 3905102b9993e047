/**
 * IP address text <-> bytes, without `node:net` (the codec stays pure).
 *
 * Rule text must print addresses exactly as istio-cni does: Go's `netip.Addr.String()`, which is
 * dotted quad for IPv4 and RFC 5952 for IPv6 (lower case, longest run of two or more zero groups
 * compressed, the first on a tie, IPv4-mapped addresses as `::ffff:a.b.c.d`).
 */

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

const IPV4_PART = /^(25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)$/;
const HEX_GROUP = /^[0-9a-fA-F]{1,4}$/;

function parseIpv4Bytes(text: string): Uint8Array | undefined {
  const parts = text.split('.');
  if (parts.length !== 4) return undefined;
  const out = new Uint8Array(4);
  for (let i = 0; i < 4; i++) {
    const part = parts[i] as string;
    // Leading zeros are rejected (as Go's netip does): "010" is ambiguous between octal and decimal.
    if (!IPV4_PART.test(part)) return undefined;
    out[i] = Number(part);
  }
  return out;
}

function parseGroups(text: string, out: number[]): boolean {
  if (text === '') return true;
  for (const group of text.split(':')) {
    if (!HEX_GROUP.test(group)) return false;
    out.push(Number.parseInt(group, 16));
  }
  return true;
}

function parseIpv6Bytes(text: string): Uint8Array | undefined {
  // Zones (`fe80::1%eth0`) have no meaning in rule text or a sockaddr we build: reject them.
  if (text.length < 2 || text.length > 45 || text.includes('%')) return undefined;
  let body = text;
  let tail: Uint8Array | undefined;
  const lastColon = body.lastIndexOf(':');
  if (body.includes('.', lastColon)) {
    tail = parseIpv4Bytes(body.slice(lastColon + 1));
    if (tail === undefined) return undefined;
    // Keep the colon so "::1.2.3.4" still splits around "::".
    body = `${body.slice(0, lastColon + 1)}0:0`;
  }
  const doubleColon = body.indexOf('::');
  if (doubleColon !== body.lastIndexOf('::')) return undefined;
  const head: number[] = [];
  const rest: number[] = [];
  if (doubleColon === -1) {
    if (!parseGroups(body, head) || head.length !== 8) return undefined;
  } else {
    if (!parseGroups(body.slice(0, doubleColon), head)) return undefined;
    if (!parseGroups(body.slice(doubleColon + 2), rest)) return undefined;
    // "::" stands for at least one zero group.
    if (head.length + rest.length > 7) return undefined;
  }
  const groups = [...head, ...new Array<number>(8 - head.length - rest.length).fill(0), ...rest];
  const out = new Uint8Array(16);
  for (let i = 0; i < 8; i++) {
    const g = groups[i] as number;
    out[i * 2] = g >> 8;
    out[i * 2 + 1] = g & 0xff;
  }
  if (tail !== undefined) out.set(tail, 12);
  return out;
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
  if (text.includes(':')) {
    const bytes = parseIpv6Bytes(text);
    return bytes === undefined ? undefined : { family: 6, bytes };
  }
  const bytes = parseIpv4Bytes(text);
  return bytes === undefined ? undefined : { family: 4, bytes };
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
  const { bytes } = address;
  if (address.family === 4) {
    if (bytes.length !== 4) throw new RangeError(`address.bytes: IPv4 needs 4 bytes, got ${bytes.length}`);
    return `${bytes[0]}.${bytes[1]}.${bytes[2]}.${bytes[3]}`;
  }
  if (bytes.length !== 16) throw new RangeError(`address.bytes: IPv6 needs 16 bytes, got ${bytes.length}`);
  const groups: number[] = [];
  for (let i = 0; i < 16; i += 2) groups.push(((bytes[i] as number) << 8) | (bytes[i + 1] as number));
  if (groups.slice(0, 5).every((g) => g === 0) && groups[5] === 0xffff) {
    return `::ffff:${bytes[12]}.${bytes[13]}.${bytes[14]}.${bytes[15]}`;
  }
  // RFC 5952 §4.2: compress the longest run (length >= 2) of zero groups, the first one on a tie.
  let bestStart = -1;
  let bestLength = 1;
  for (let i = 0; i < 8; ) {
    if (groups[i] !== 0) {
      i++;
      continue;
    }
    let j = i;
    while (j < 8 && groups[j] === 0) j++;
    if (j - i > bestLength) {
      bestStart = i;
      bestLength = j - i;
    }
    i = j;
  }
  const hex = (from: number, to: number): string =>
    groups
      .slice(from, to)
      .map((g) => g.toString(16))
      .join(':');
  if (bestStart === -1) return hex(0, 8);
  return `${hex(0, bestStart)}::${hex(bestStart + bestLength, 8)}`;
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
  const parsed = parseIpAddress(text);
  return parsed === undefined ? undefined : formatIpAddress(parsed);
}
