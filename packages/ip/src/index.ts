/**
 * `@ambient-kit/ip`: IP addresses, prefixes and socket addresses as Istio's components read and print them.
 * Pure (no `node:` imports), allocation-light, strict: one spelling per IPv4 address, RFC 5952 output.
 *
 * @example
 * ```ts
 * import { canonicalIp, compilePrefix, parseIp, parsePrefix, prefixContains } from '@ambient-kit/ip';
 *
 * canonicalIp('FD00:0::1');   // 'fd00::1'
 * canonicalIp('0x7f000001'); // undefined: not an address, whatever getaddrinfo says
 * prefixContains(compilePrefix(parsePrefix('10.0.0.0/8')!), parseIp('10.1.2.3')!); // true
 * ```
 * @module
 */
export {
  canonicalIp,
  formatIp,
  type IpAddress,
  ipEquals,
  ipv4,
  isIpv4Mapped,
  isLoopback,
  type ParseIpOptions,
  parseIp,
  unmapIpv4,
  unmappedIpText,
  type ZoneHandling,
} from './ip-address.js';
export { ipFromBytes, ipTextFromBytes, ipToBytes } from './ip-bytes.js';
export {
  type CompiledPrefix,
  compilePrefix,
  formatPrefix,
  type IpPrefix,
  type ParsePrefixOptions,
  parsePrefix,
  prefixContains,
} from './ip-prefix.js';
export {
  canonicalSocketAddress,
  formatSocketAddress,
  parseSocketAddress,
  type SocketAddress,
} from './socket-address.js';
