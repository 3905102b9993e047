/**
 * The HBONE target carried in `:authority` (istio/ztunnel@62d82653:src/proxy.rs `HboneAddress`): a socket address, or a service hostname and port
 * for double HBONE (§1.10).
 * @module
 */
import { canonicalIp, formatIp, formatSocketAddress, parseIp } from '@ambient-kit/ip';
import { err, ok, type Result } from 'neverthrow';
import { HboneError } from './errors.js';

/**
 * An HBONE target. Mirrors ztunnel's `HboneAddress` (`istio/ztunnel@62d82653:src/proxy.rs` L819-866): either a socket address
 * (`ip` is canonical text, IPv6 without brackets) or a service hostname with a port.
 */
export type HboneAddress =
  | { readonly kind: 'socket'; readonly ip: string; readonly port: number }
  | { readonly kind: 'hostname'; readonly hostname: string; readonly port: number };

// RFC 7230 authority, the subset ztunnel's `http::Uri` accepts for a host: DNS-style labels. Underscores are
// allowed (Kubernetes never produces them, but SRV-style names do); percent-encoding is not.
const LABEL = /^[A-Za-z0-9_](?:[A-Za-z0-9_-]{0,61}[A-Za-z0-9_])?$/;

/**

 * The longest `:authority` value accepted: a 253-byte hostname, a colon and a 5-digit port.

 *
 * @example
 * ```ts
 * parseAuthority(`${'a'.repeat(MAX_AUTHORITY_BYTES)}:80`).isErr(); // true
 * ```
 */
export const MAX_AUTHORITY_BYTES = 259;

function badAuthority(text: string, why: string): Result<never, HboneError> {
  const shown = text.length > 64 ? `${text.slice(0, 64)}…` : text;
  return err(
    new HboneError('HBONE_ERR_BAD_AUTHORITY', `invalid :authority ${JSON.stringify(shown)}: ${why}`),
  );
}

function parsePort(text: string): number | undefined {
  // Rust's SocketAddr and http::Uri read the port as an unsigned decimal; leading zeros are accepted.
  if (text.length === 0 || text.length > 5) return undefined;
  let value = 0;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (c < 0x30 || c > 0x39) return undefined;
    value = value * 10 + (c - 0x30);
  }
  return value <= 65535 ? value : undefined;
}

/**
 * Whether `hostname` is a DNS-style name ztunnel would read as a service hostname.
 *
 * @param hostname - e.g. `reviews.bookinfo.svc.cluster.local`.
 * @returns `true` for 1-253 bytes of dot-separated labels of letters, digits, `-` and `_`.
 * @example
 * ```ts
 * isValidHostname('svc.ns.svc.cluster.local'); // true
 * isValidHostname('a..b'); // false
 * ```
 */
export function isValidHostname(hostname: string): boolean {
  if (hostname.length === 0 || hostname.length > 253) return false;
  return hostname.split('.').every((label) => LABEL.test(label));
}

/**
 * Parses `:authority` as ztunnel's inbound does (`istio/ztunnel@62d82653:src/proxy.rs` L875-892): first as a socket address
 * (`10.0.0.1:8080`, `[ff06::c3]:80`), else as `host:port` into a service hostname. A missing port, an
 * unbracketed IPv6 address or an invalid hostname is a 400 (`HBONE_ERR_BAD_AUTHORITY`).
 *
 * @param text - The `:authority` pseudo-header.
 * @returns The target, IPs in canonical form; or an `HBONE_ERR_BAD_AUTHORITY` error.
 * @example
 * ```ts
 * parseAuthority('[FF06:0::C3]:80'); // ok({ kind: 'socket', ip: 'ff06::c3', port: 80 })
 * parseAuthority('svc.ns.svc.cluster.local:80'); // ok({ kind: 'hostname', hostname: ..., port: 80 })
 * parseAuthority('10.0.0.1').isErr(); // true: no port
 * ```
 */
export function parseAuthority(text: string): Result<HboneAddress, HboneError> {
  if (text.length === 0) return badAuthority(text, 'empty');
  if (text.length > MAX_AUTHORITY_BYTES)
    return badAuthority(text, `longer than ${MAX_AUTHORITY_BYTES} bytes`);
  if (text.startsWith('[')) {
    const close = text.indexOf(']');
    if (close < 0 || text.charCodeAt(close + 1) !== 0x3a) return badAuthority(text, 'expected [ipv6]:port');
    // Strict as Rust's `SocketAddr::from_str`: no zone, no IPv4 in brackets.
    const ip = parseIp(text.slice(1, close));
    if (ip === undefined || !ip.v6) return badAuthority(text, 'invalid IPv6 address');
    const port = parsePort(text.slice(close + 2));
    if (port === undefined) return badAuthority(text, 'invalid port');
    return ok({ kind: 'socket', ip: formatIp(ip), port });
  }
  const colon = text.lastIndexOf(':');
  if (colon < 0) return badAuthority(text, 'missing port');
  const host = text.slice(0, colon);
  if (host.includes(':')) return badAuthority(text, 'an IPv6 address must be in brackets');
  const port = parsePort(text.slice(colon + 1));
  if (port === undefined) return badAuthority(text, 'invalid port');
  // `127.0.0.02`, `0x7f000002` and `127.2` are not IPs here (Rust's `Ipv4Addr::from_str`); they fall through
  // to the hostname branch and never reach a resolver as an address.
  const ip = parseIp(host);
  if (ip !== undefined) return ok({ kind: 'socket', ip: formatIp(ip), port });
  if (!isValidHostname(host)) return badAuthority(text, 'invalid hostname');
  return ok({ kind: 'hostname', hostname: host, port });
}

/**
 * Formats a target as ztunnel's `HboneAddress` `Display` does: `10.0.0.1:8080`, `[ff06::c3]:80`,
 * `svc.ns.svc.cluster.local:80`.
 *
 * @param address - The target; a socket `ip` may be any valid text form, it is printed canonically.
 * @returns The `:authority` value.
 * @throws {RangeError} When the IP, hostname or port is invalid.
 * @example
 * ```ts
 * formatAuthority({ kind: 'socket', ip: 'ff06::c3', port: 80 }); // '[ff06::c3]:80'
 * ```
 */
export function formatAuthority(address: HboneAddress): string {
  if (!Number.isInteger(address.port) || address.port < 0 || address.port > 65535) {
    throw new RangeError(`formatAuthority: "port" must be an integer in 0..65535, got ${address.port}`);
  }
  if (address.kind === 'hostname') {
    if (!isValidHostname(address.hostname)) {
      throw new RangeError(`formatAuthority: invalid "hostname" ${JSON.stringify(address.hostname)}`);
    }
    return `${address.hostname}:${address.port}`;
  }
  const ip = parseIp(address.ip);
  if (ip === undefined) throw new RangeError(`formatAuthority: invalid "ip" ${JSON.stringify(address.ip)}`);
  return formatSocketAddress(ip, address.port);
}

/**
 * Builds a socket-address target from an IP and a port, with the IP in canonical form.
 *
 * @param ip - IPv4 or IPv6 text (IPv6 without brackets).
 * @param port - 0..65535.
 * @returns The target.
 * @throws {RangeError} When `ip` is not an IP address or `port` is out of range.
 * @example
 * ```ts
 * formatAuthority(socketAddress('10.0.0.2', 8080)); // '10.0.0.2:8080'
 * ```
 */
export function socketAddress(ip: string, port: number): HboneAddress {
  const canonical = canonicalIp(ip);
  if (canonical === undefined) throw new RangeError(`socketAddress: invalid "ip" ${JSON.stringify(ip)}`);
  if (!Number.isInteger(port) || port < 0 || port > 65535) {
    throw new RangeError(`socketAddress: "port" must be an integer in 0..65535, got ${port}`);
  }
  return { kind: 'socket', ip: canonical, port };
}
