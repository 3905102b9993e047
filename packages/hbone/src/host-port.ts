/**
 * Socket addresses as text, for telemetry events and error messages.
 * @module
 */

/**
 * Formats a socket address as `ip:port`, brackets around an IPv6 address (`[::1]:15008`). Unlike the codec's
 * `formatAuthority` it neither validates nor canonicalises: it prints what a socket reports.
 *
 * @param address - An IP (or hostname) as a socket reports it; `undefined` when the socket has none.
 * @param port - The port.
 * @returns `ip:port`, or `unknown` without an address.
 * @example
 * ```ts
 * hostPort(socket.remoteAddress, socket.remotePort); // '[fd00::2]:15008'
 * ```
 */
export function hostPort(address: string | undefined, port: number | undefined): string {
  if (address === undefined) return 'unknown';
  return address.includes(':') ? `[${address}]:${port}` : `${address}:${port}`;
}
