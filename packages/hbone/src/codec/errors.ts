/**
 * The package's single error class and its closed list of codes (contributing.md "Errors").
 *
 * Every code is documented in `docs/hbone.md` "## Error codes"; `errors.test.ts` keeps the two in sync.
 * @module
 */

const BRAND = Symbol.for('@ambient-kit/hbone.error');

/**
 * Every code an {@link HboneError} can carry. Stable: documented in `docs/hbone.md`.
 *
 * The first group names why a server refuses a CONNECT, the second what a client makes of a refusal it
 * received, the third malformed headers and PROXY v2 input, the last transport failures.
 *
 * @example
 * ```ts
 * HBONE_ERROR_CODES.includes(error.code); // true for every HboneError
 * ```
 */
export const HBONE_ERROR_CODES = [
  // Refusals decided by an HBONE server (docs/hbone.md "The server"); each maps to one HTTP status.
  'HBONE_ERR_NOT_CONNECT',
  'HBONE_ERR_BAD_REQUEST',
  'HBONE_ERR_BAD_AUTHORITY',
  'HBONE_ERR_IP_MISMATCH',
  'HBONE_ERR_POLICY_DENIED',
  'HBONE_ERR_ILLEGAL_PORT',
  'HBONE_ERR_UNKNOWN_TARGET',
  'HBONE_ERR_UPSTREAM_REFUSED',
  'HBONE_ERR_UPSTREAM_TIMEOUT',
  // A non-200 answer seen by a client, when the status alone does not say more.
  'HBONE_ERR_UNAVAILABLE',
  'HBONE_ERR_UNEXPECTED_STATUS',
  // Malformed input at the wire boundary.
  'HBONE_ERR_BAD_BAGGAGE',
  'HBONE_ERR_BAD_FORWARDED',
  'HBONE_ERR_BAD_TRACEPARENT',
  'HBONE_ERR_PROXY_V2_SIGNATURE',
  'HBONE_ERR_PROXY_V2_MALFORMED',
  'HBONE_ERR_PROXY_V2_TOO_LARGE',
  'HBONE_ERR_PROXY_V2_CHECKSUM',
  'HBONE_ERR_PROXY_V2_TRUNCATED',
  // Transport failures of the Node runtime.
  'HBONE_ERR_CONNECT_TIMEOUT',
  'HBONE_ERR_CONNECTION_FAILED',
  'HBONE_ERR_TLS_HANDSHAKE',
  'HBONE_ERR_PEER_IDENTITY',
  'HBONE_ERR_NO_SVID',
  'HBONE_ERR_PROTOCOL',
  'HBONE_ERR_RESPONSE_TIMEOUT',
  'HBONE_ERR_PING_TIMEOUT',
  'HBONE_ERR_GOAWAY',
  'HBONE_ERR_STREAM_RESET',
  'HBONE_ERR_CONNECTION_CLOSED',
  'HBONE_ERR_DRAIN_TIMEOUT',
  'HBONE_ERR_ABORTED',
  'HBONE_ERR_CLOSED',
] as const;

/** One of {@link HBONE_ERROR_CODES}. */
export type HboneErrorCode = (typeof HBONE_ERROR_CODES)[number];

/** Options of the {@link HboneError} constructor. */
export interface HboneErrorOptions {
  /** The underlying error, kept for diagnosis. */
  readonly cause?: unknown;
  /**
   * The HTTP status this error answers with (server side) or was answered with (client side).
   * Default: the status {@link statusForCode} gives the code, if any.
   */
  readonly status?: number;
}

// istio/ztunnel@62d82653:src/proxy/inbound.rs (build_inbound_request, serve_connect): the status a server
// answers each refusal with. 401, not 403, for a policy deny (§9.1).
const STATUS_BY_CODE: Partial<Record<HboneErrorCode, number>> = {
  HBONE_ERR_NOT_CONNECT: 400,
  HBONE_ERR_BAD_REQUEST: 400,
  HBONE_ERR_BAD_AUTHORITY: 400,
  HBONE_ERR_IP_MISMATCH: 400,
  HBONE_ERR_POLICY_DENIED: 401,
  HBONE_ERR_ILLEGAL_PORT: 503,
  HBONE_ERR_UNKNOWN_TARGET: 503,
  HBONE_ERR_UPSTREAM_REFUSED: 503,
  HBONE_ERR_UPSTREAM_TIMEOUT: 503,
  HBONE_ERR_UNAVAILABLE: 503,
};

/**
 * The HTTP status an HBONE server answers a refusal with, as ztunnel does (istio/ztunnel@62d82653:src/proxy/inbound.rs).
 *
 * @param code - A refusal code.
 * @returns 400, 401 or 503, or `undefined` for codes that are not CONNECT refusals.
 * @example
 * ```ts
 * statusForCode('HBONE_ERR_POLICY_DENIED'); // 401
 * statusForCode('HBONE_ERR_ILLEGAL_PORT'); // 503
 * ```
 */
export function statusForCode(code: HboneErrorCode): number | undefined {
  return STATUS_BY_CODE[code];
}

/**
 * The code a client gives a non-200 CONNECT answer. A status names a class of refusal, not its
 * exact reason: ztunnel sends no body, so a 400 may be a bad authority or an IP mismatch.
 *
 * @param status - The `:status` of the CONNECT response.
 * @returns `HBONE_ERR_BAD_REQUEST` for 400, `HBONE_ERR_POLICY_DENIED` for 401 (ztunnel's only use of it),
 *   `HBONE_ERR_UNAVAILABLE` for 503, `HBONE_ERR_UNEXPECTED_STATUS` for anything else.
 * @example
 * ```ts
 * codeForStatus(401); // 'HBONE_ERR_POLICY_DENIED'
 * ```
 */
export function codeForStatus(status: number): HboneErrorCode {
  switch (status) {
    case 400:
      return 'HBONE_ERR_BAD_REQUEST';
    case 401:
      return 'HBONE_ERR_POLICY_DENIED';
    case 503:
      return 'HBONE_ERR_UNAVAILABLE';
    default:
      return 'HBONE_ERR_UNEXPECTED_STATUS';
  }
}

/**
 * The one error class of `@ambient-kit/hbone`: the `E` of every codec `Result` and what the runtime rejects
 * with or destroys streams with.
 *
 * `instanceof` holds across two installed copies of the package (a `Symbol.for` brand, as undici and
 * connect do).
 *
 * @example
 * ```ts
 * try {
 *   await client.connect({ via: '10.0.0.2:15008', authority: '10.0.0.2:8080', expectedIdentities });
 * } catch (error) {
 *   if (error instanceof HboneError && error.code === 'HBONE_ERR_POLICY_DENIED') {
 *     console.log('denied with', error.status); // 401
 *   }
 * }
 * ```
 */
export class HboneError extends Error {
  override readonly name = 'HboneError';
  /** The stable code, one of {@link HBONE_ERROR_CODES}. */
  readonly code: HboneErrorCode;
  /** The HTTP status answered or received, when the error is about a CONNECT answer. */
  readonly status: number | undefined;

  /**
   * @param code - The stable code.
   * @param message - A sentence for humans; never parse it.
   * @param options - The cause and, when it differs from the code's own, the HTTP status.
   */
  constructor(code: HboneErrorCode, message: string, options?: HboneErrorOptions) {
    super(message, options?.cause === undefined ? undefined : { cause: options.cause });
    this.code = code;
    this.status = options?.status ?? statusForCode(code);
    Object.defineProperty(this, BRAND, { value: true });
  }

  /**
   * Brand check instead of prototype identity, so errors from another copy of the package still match.
   *
   * @param value - Anything.
   * @returns Whether `value` is an `HboneError` from any copy of this package.
   */
  static override [Symbol.hasInstance](value: unknown): boolean {
    return typeof value === 'object' && value !== null && BRAND in value;
  }
}
