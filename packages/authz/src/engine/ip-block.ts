/**
 * The IP values of an AuthorizationPolicy (`ipBlocks`, `remoteIpBlocks`, the `source.ip`, `remote.ip` and
 * `destination.ip` conditions) as istiod reads them, on top of `@ambient-kit/ip` (docs/ip.md): a value with a
 * `/` is a CIDR range (Go `netip.ParsePrefix`: no zone), one without is a single address (Go
 * `netip.ParseAddr`, which accepts and drops a zone) covering its full length
 * (istio/istio@86c9f01f:pkg/config/security/security.go `ValidateIPs`;
 * istio/istio@86c9f01f:pilot/pkg/serviceregistry/ambient/authorization.go `stringToIP`).
 * @module
 */

import {
  type CompiledPrefix,
  type IpAddress,
  type IpPrefix,
  parseIp,
  parsePrefix,
  prefixContains,
  unmapIpv4,
} from '@ambient-kit/ip';

/**
 * Parses an `ipBlocks`-style value: an address (a full-length range) or a CIDR range, told apart by a `/`.
 *
 * @param text - `10.1.2.3`, `10.1.0.0/16`, `fd00::/8`.
 * @returns The range (the address as written, host bits kept), or `undefined` when istiod would reject it.
 * @example
 * ```ts
 * parseIpBlock('10.1.2.3');     // { address: 10.1.2.3, bits: 32 }
 * parseIpBlock('10.1.0.0/16');  // { address: 10.1.0.0, bits: 16 }
 * parseIpBlock('010.1.2.3');    // undefined (Go refuses leading zeros)
 * ```
 */
export function parseIpBlock(text: string): IpPrefix | undefined {
  if (typeof text !== 'string') return undefined;
  if (text.includes('/')) return parsePrefix(text);
  const address = parseIp(text, { zone: 'drop' });
  return address === undefined ? undefined : { address, bits: address.v6 ? 128 : 32 };
}

/**
 * Reads a request or connection address: Go's address syntax (a zone is dropped), and an IPv4-mapped IPv6
 * address as the IPv4 address it maps, the form a dual-stack socket reports for an IPv4 peer (ztunnel
 * `to_canonical()`, Envoy's `v4_mapped` handling).
 *
 * @param text - The address text.
 * @returns The address, or `undefined` when `text` is not one.
 * @example
 * ```ts
 * readPeerIp('::ffff:10.0.0.1'); // 10.0.0.1 as IPv4
 * ```
 */
export function readPeerIp(text: string): IpAddress | undefined {
  const ip = parseIp(text, { zone: 'drop' });
  return ip === undefined ? undefined : unmapIpv4(ip);
}

/**
 * One predicate for a list of ranges (OR): whether an address, when there is one, lies in any of them. The
 * CIDR matcher behind Envoy's (`ipBlocks`, `source.ip`, `destination.ip`) and ztunnel's (`sourceIps`,
 * `destinationIps`) checks when a list is too short to be worth a trie.
 *
 * @param nets - The compiled ranges.
 * @returns The predicate; an absent address is in no range.
 * @example
 * ```ts
 * const inPrivate = inAnyPrefix(['10.0.0.0/8', '192.168.0.0/16'].map((t) => compilePrefix(parsePrefix(t)!)));
 * inPrivate(parseIp('192.168.1.1')); // true
 * ```
 */
export function inAnyPrefix(nets: readonly CompiledPrefix[]): (ip: IpAddress | undefined) => boolean {
  return (ip) => {
    if (ip === undefined) return false;
    for (const net of nets) if (prefixContains(net, ip)) return true;
    return false;
  };
}
