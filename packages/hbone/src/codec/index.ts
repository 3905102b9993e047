/**
 * The pure HBONE codec: CONNECT request and answer headers, `:authority`, `baggage`, `forwarded`,
 * `traceparent`, status mapping, inbound target checks, PROXY protocol v2, and the HTTP/2 layer under them
 * (frames, SETTINGS, flow-control accounting, the stream state machine, HPACK). No `node:` imports, no I/O,
 * no timers; parsers return neverthrow `Result`s whose error is an {@link HboneError} (HTTP/2 parsers: an
 * {@link H2Failure} saying whether a mistake ends the stream or the connection).
 *
 * Everything here reproduces what ztunnel writes and accepts (`docs/hbone.md`).
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
export { copyBytes } from './bytes.js';
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
  H2_CLIENT_PREFACE,
  H2_ERROR,
  H2_FLAG,
  H2_FRAME,
  H2_LIMIT,
  H2_SETTING,
  type H2ErrorCode,
  h2ErrorName,
} from './h2-constants.js';
export { connectionFailure, type H2Failure, streamFailure } from './h2-failure.js';
export { H2ReceiveWindow, H2SendWindow } from './h2-flow.js';
export { createH2FrameDecoder, type H2FrameDecoder, type H2FrameHandler } from './h2-frame-decoder.js';
export {
  encodeFrame,
  encodeFrameHeader,
  encodeGoaway,
  encodeHeaders,
  encodePing,
  encodeRstStream,
  encodeSettings,
  encodeWindowUpdate,
} from './h2-frame-encode.js';
export {
  checkPriority,
  type H2Goaway,
  type H2SettingsUpdate,
  headersFragment,
  parseGoaway,
  parsePing,
  parseRstStream,
  parseSettings,
  parseWindowUpdate,
} from './h2-frame-parse.js';
export { type H2HeaderMap, headerMap } from './h2-header-fields.js';
export { createTokenBucket, type TokenBucket } from './h2-rate-limit.js';
export {
  canReceive,
  canSend,
  type H2StreamEvent,
  type H2StreamState,
  nextStreamState,
} from './h2-stream-state.js';
export {
  type HeaderMap,
  type HeaderValue,
  headerLines,
  isToken,
  isValidHeaderName,
  isValidHeaderValue,
} from './headers.js';
export {
  createHpackDecoder,
  type HpackDecoded,
  type HpackDecoder,
  type HpackDecoderOptions,
  type HpackField,
} from './hpack-decoder.js';
export { createHpackEncoder, type HpackEncoder } from './hpack-encoder.js';
export { decodeHuffman, HPACK_HUFFMAN_CODE_LENGTHS } from './hpack-huffman.js';
export { HPACK_STATIC_INDEX, HPACK_STATIC_TABLE, type HpackStaticName } from './hpack-static-table.js';
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
