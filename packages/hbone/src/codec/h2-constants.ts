/**
 * HTTP/2 wire constants (RFC 9113): frame types, flags, error codes, setting identifiers and the limits
 * the protocol puts on them. Only what an HBONE endpoint (CONNECT streams, no push) needs.
 * @module
 */

/**
 * Frame types (RFC 9113 §6). Types outside this table are ignored on receipt (§5.5).
 *
 * @example
 * ```ts
 * if (type === H2_FRAME.DATA) consumeData();
 * ```
 */
export const H2_FRAME = {
  DATA: 0x0,
  HEADERS: 0x1,
  PRIORITY: 0x2,
  RST_STREAM: 0x3,
  SETTINGS: 0x4,
  PUSH_PROMISE: 0x5,
  PING: 0x6,
  GOAWAY: 0x7,
  WINDOW_UPDATE: 0x8,
  CONTINUATION: 0x9,
} as const;

/**
 * Frame flags (RFC 9113 §6). The same bit means different things on different frame types.
 *
 * @example
 * ```ts
 * const endStream = (flags & H2_FLAG.END_STREAM) !== 0;
 * ```
 */
export const H2_FLAG = {
  /** DATA, HEADERS: the last frame the sender sends on the stream. */
  END_STREAM: 0x1,
  /** SETTINGS, PING: an acknowledgement. */
  ACK: 0x1,
  /** HEADERS, CONTINUATION: the header block is complete. */
  END_HEADERS: 0x4,
  /** DATA, HEADERS: a Pad Length byte leads the payload, padding trails it. */
  PADDED: 0x8,
  /** HEADERS: a 5-byte priority block follows the pad length. */
  PRIORITY: 0x20,
} as const;

/**
 * Error codes of RST_STREAM and GOAWAY (RFC 9113 §7).
 *
 * @example
 * ```ts
 * const clean = code === H2_ERROR.NO_ERROR || code === H2_ERROR.CANCEL;
 * ```
 */
export const H2_ERROR = {
  NO_ERROR: 0x0,
  PROTOCOL_ERROR: 0x1,
  INTERNAL_ERROR: 0x2,
  FLOW_CONTROL_ERROR: 0x3,
  SETTINGS_TIMEOUT: 0x4,
  STREAM_CLOSED: 0x5,
  FRAME_SIZE_ERROR: 0x6,
  REFUSED_STREAM: 0x7,
  CANCEL: 0x8,
  COMPRESSION_ERROR: 0x9,
  CONNECT_ERROR: 0xa,
  ENHANCE_YOUR_CALM: 0xb,
  INADEQUATE_SECURITY: 0xc,
  HTTP_1_1_REQUIRED: 0xd,
} as const;

/** One of the {@link H2_ERROR} values (a peer may send others; they read as INTERNAL_ERROR, §7). */
export type H2ErrorCode = (typeof H2_ERROR)[keyof typeof H2_ERROR];

/**
 * SETTINGS identifiers (RFC 9113 §6.5.2). Unknown identifiers are ignored on receipt.
 *
 * @example
 * ```ts
 * encodeSettings([[H2_SETTING.INITIAL_WINDOW_SIZE, 4 * 1024 * 1024]]);
 * ```
 */
export const H2_SETTING = {
  HEADER_TABLE_SIZE: 0x1,
  ENABLE_PUSH: 0x2,
  MAX_CONCURRENT_STREAMS: 0x3,
  INITIAL_WINDOW_SIZE: 0x4,
  MAX_FRAME_SIZE: 0x5,
  MAX_HEADER_LIST_SIZE: 0x6,
} as const;

/**
 * Protocol limits and initial values (RFC 9113 §4.2, §6.5.2, §6.9).
 *
 * @example
 * ```ts
 * if (increment > H2_LIMIT.MAX_WINDOW) fail(H2_ERROR.FLOW_CONTROL_ERROR);
 * ```
 */
export const H2_LIMIT = {
  /** Size of the fixed frame header. */
  FRAME_HEADER_BYTES: 9,
  /** SETTINGS_MAX_FRAME_SIZE lower bound and initial value. */
  MIN_MAX_FRAME_SIZE: 16_384,
  /** SETTINGS_MAX_FRAME_SIZE upper bound (2^24 - 1). */
  MAX_MAX_FRAME_SIZE: 16_777_215,
  /** The largest flow-control window (2^31 - 1), §6.9.1. */
  MAX_WINDOW: 2_147_483_647,
  /** Every window starts here until SETTINGS or WINDOW_UPDATE changes it, §6.9.2. */
  INITIAL_WINDOW: 65_535,
  /** SETTINGS_HEADER_TABLE_SIZE initial value, RFC 7541 §4.2. */
  INITIAL_HEADER_TABLE_SIZE: 4_096,
  /** The largest stream identifier (2^31 - 1). */
  MAX_STREAM_ID: 2_147_483_647,
} as const;

/**
 * The client connection preface, `PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n` (RFC 9113 §3.4).
 *
 * @example
 * ```ts
 * socket.write(H2_CLIENT_PREFACE);
 * ```
 */
export const H2_CLIENT_PREFACE: Uint8Array = /* @__PURE__ */ new TextEncoder().encode(
  'PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n',
);

/**
 * The name of an error code, for messages.
 *
 * @param code - An RST_STREAM or GOAWAY code.
 * @returns `PROTOCOL_ERROR`, …, or `0x…` for a code RFC 9113 does not define.
 * @example
 * ```ts
 * h2ErrorName(0x8); // 'CANCEL'
 * ```
 */
export function h2ErrorName(code: number): string {
  for (const [name, value] of Object.entries(H2_ERROR)) if (value === code) return name;
  return `0x${code.toString(16)}`;
}
