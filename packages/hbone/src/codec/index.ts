/**
 * The pure HBONE codec: CONNECT request and answer headers, `:authority`, `baggage`, `forwarded`,
 * `traceparent`, status mapping, inbound target checks and PROXY protocol v2. No `node:` imports, no I/O,
 * no timers; parsers return neverthrow `Result`s whose error is an {@link HboneError}.
 *
 * Everything here reproduces what ztunnel writes and accepts (`docs/hbone.md`, spec hbone.md §1, §8).
 * @module
 */
export {
  formatAuthority,
  type HboneAddress,
  isValidHostname,
  MAX_AUTHORITY_BYTES,
  parseAuthority,
  socketAddress,
} from './authority.js';
export {
  type Baggage,
  formatBaggage,
  MAX_BAGGAGE_BYTES,
  parseBaggage,
  WORKLOAD_TYPES,
  type WorkloadType,
} from './baggage.js';
export {
  buildConnectHeaders,
  buildConnectRequest,
  type ConnectRequest,
  HBONE_HEADER,
  parseConnectRequest,
} from './connect-request.js';
export { buildConnectResponse, type ConnectResponse, parseConnectResponse } from './connect-response.js';
export { crc32c } from './crc32c.js';
export {
  codeForStatus,
  HBONE_ERROR_CODES,
  HboneError,
  type HboneErrorCode,
  type HboneErrorOptions,
  statusForCode,
} from './errors.js';
export { type Forwarded, formatForwarded, MAX_FORWARDED_BYTES, parseForwarded } from './forwarded.js';
export {
  type HeaderMap,
  type HeaderValue,
  headerLines,
  isToken,
  isValidHeaderName,
  isValidHeaderValue,
} from './headers.js';
export { canonicalIp, formatIp, type IpBytes, parseIpv4, parseIpv6 } from './ip.js';
export {
  encodeProxyV2,
  PROXY_V2_ADDRESS_BYTES,
  PROXY_V2_MAX_BYTES,
  PROXY_V2_SIGNATURE,
  PROXY_V2_TLV,
  type ProxyV2Endpoint,
  type ProxyV2Header,
  type ProxyV2IpEndpoint,
  type ProxyV2Tlv,
  type ProxyV2UnixEndpoint,
} from './proxy-v2.js';
export {
  createProxyV2Decoder,
  DEFAULT_PROXY_V2_MAX_HEADER_BYTES,
  decodeProxyV2,
  type ProxyV2Decoded,
  type ProxyV2DecodeOptions,
  type ProxyV2Decoder,
  type ProxyV2DecoderStep,
} from './proxy-v2-decode.js';
export { checkTarget, HBONE_PORT, ILLEGAL_TARGET_PORTS, type TargetPolicy } from './target.js';
export {
  formatTraceparent,
  parseTraceparent,
  randomTraceparent,
  TRACEPARENT_LENGTH,
  type TraceParent,
} from './traceparent.js';
