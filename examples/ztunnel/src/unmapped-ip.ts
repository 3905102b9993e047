/**
 * IPv4-mapped IPv6 text (`::ffff:10.0.0.1`, what a dual-stack listener reports for an IPv4 peer) back to
 * IPv4, as ztunnel's `to_canonical` does before it looks a workload up or matches policy by address.
 * @module
 */

/**
 * The IPv4 address inside an IPv4-mapped IPv6 address; any other text unchanged.
 *
 * @param ip - IP text, e.g. `socket.remoteAddress`.
 * @returns `10.0.0.1` for `::ffff:10.0.0.1`, else `ip`.
 * @example
 * ```ts
 * unmappedIp('::ffff:127.0.1.10'); // '127.0.1.10'
 * ```
 */
export function unmappedIp(ip: string): string {
  return ip.startsWith('::ffff:') && ip.includes('.') ? ip.slice(7) : ip;
}
