/**
 * Socket addresses (`ip:port`, `[ipv6]:port`) as ztunnel parses and prints them with Rust's `SocketAddr`
 * (istio/ztunnel@62d82653:src/proxy.rs, `HboneAddress`): the HBONE `:authority`, WDS `ip:port` keys, log fields.
 * @module
 */
import { formatIp, type IpAddress, parseIp } from './ip-address.js';

/** A parsed socket address. */
export interface SocketAddress {
  readonly address: IpAddress;
  /** 0–65535. */
  readonly port: number;
}

/**
 * Parses a socket address as Rust's `SocketAddr::from_str` does: `a.b.c.d:port` or `[ipv6]:port`, the address
 * strict as in {@link parseIp}, the port decimal (leading zeros allowed, as Rust's parser allows them) and at
 * most 65535. IPv6 scope ids (`[fe80::1%2]:80`) are refused: no HBONE authority carries one.
 *
 * @param text - The socket address text.
 * @returns The address and port, or `undefined` when `text` is not a socket address.
 * @example
 * ```ts
 * parseSocketAddress('[fd00::1]:8080'); // { address: fd00::1, port: 8080 }
 * parseSocketAddress('127.2:80');       // undefined
 * ```
 */
export function parseSocketAddress(text: string): SocketAddress | undefined {
  const colon = text.lastIndexOf(':');
  if (colon <= 0 || colon === text.length - 1) return undefined;
  let port = 0;
  for (let i = colon + 1; i < text.length; i++) {
    const d = text.charCodeAt(i) - 0x30;
    if (d < 0 || d > 9) return undefined;
    port = port * 10 + d;
    if (port > 65535) return undefined;
  }
  let address: IpAddress | undefined;
  if (text.charCodeAt(0) === 0x5b) {
    if (text.charCodeAt(colon - 1) !== 0x5d) return undefined;
    address = parseIp(text.slice(1, colon - 1));
    if (address === undefined || !address.v6) return undefined;
  } else {
    address = parseIp(text.slice(0, colon));
    if (address === undefined || address.v6) return undefined;
  }
  return { address, port };
}

/**
 * Prints a socket address as Rust's `SocketAddr` `Display` does: `ip:port`, brackets around IPv6.
 *
 * @param address - The address, parsed or as canonical text.
 * @param port - The port.
 * @returns e.g. `10.0.0.1:80`, `[fd00::1]:15008`.
 * @example
 * ```ts
 * formatSocketAddress('fd00::1', 15008); // '[fd00::1]:15008'
 * ```
 */
export function formatSocketAddress(address: IpAddress | string, port: number): string {
  const text = typeof address === 'string' ? address : formatIp(address);
  return text.includes(':') ? `[${text}]:${port}` : `${text}:${port}`;
}

/**
 * The canonical text of a socket address given as text, or `undefined` when it is not one.
 *
 * @param text - e.g. `[FD00:0::1]:80`.
 * @returns e.g. `[fd00::1]:80`.
 * @example
 * ```ts
 * canonicalSocketAddress('[FD00:0::1]:080'); // '[fd00::1]:80'
 * ```
 */
export function canonicalSocketAddress(text: string): string | undefined {
  const parsed = parseSocketAddress(text);
  return parsed === undefined ? undefined : formatSocketAddress(parsed.address, parsed.port);
}
