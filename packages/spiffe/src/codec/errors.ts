/**
 * The package's one error class and its closed list of stable codes (`docs/contributing.md` "Errors").
 * @module
 */

const BRAND = Symbol.for('@ambient-kit/spiffe.error');

/**
 * Every code a {@link SpiffeError} can carry. Stable: each one is documented in `docs/spiffe.md`
 * ("## Error codes"), and a unit test keeps the two lists equal.
 */
export const SPIFFE_ERROR_CODES = [
  // SPIFFE IDs (spiffe/spiffe@665a28f:standards/SPIFFE-ID.md)
  'SPIFFE_ERR_ID_EMPTY',
  'SPIFFE_ERR_ID_SCHEME',
  'SPIFFE_ERR_ID_TOO_LONG',
  'SPIFFE_ERR_TRUST_DOMAIN_MISSING',
  'SPIFFE_ERR_TRUST_DOMAIN_CHAR',
  'SPIFFE_ERR_TRUST_DOMAIN_TOO_LONG',
  'SPIFFE_ERR_PATH_LEADING_SLASH',
  'SPIFFE_ERR_PATH_SEGMENT_CHAR',
  'SPIFFE_ERR_PATH_EMPTY_SEGMENT',
  'SPIFFE_ERR_PATH_DOT_SEGMENT',
  'SPIFFE_ERR_PATH_TRAILING_SLASH',
  'SPIFFE_ERR_NOT_ISTIO_IDENTITY',
  // authorization (matchers and authorizers)
  'SPIFFE_ERR_UNEXPECTED_ID',
  'SPIFFE_ERR_TRUST_DOMAIN_MISMATCH',
  // encodings
  'SPIFFE_ERR_TOO_LARGE',
  'SPIFFE_ERR_PEM',
  'SPIFFE_ERR_DER',
  'SPIFFE_ERR_JSON',
  'SPIFFE_ERR_PRIVATE_KEY',
  'SPIFFE_ERR_KEY_MISMATCH',
  'SPIFFE_ERR_UNSUPPORTED_ALGORITHM',
  // X509-SVID profile (spiffe/spiffe@665a28f:standards/X509-SVID.md)
  'SPIFFE_ERR_EMPTY_CHAIN',
  'SPIFFE_ERR_CHAIN_TOO_LONG',
  'SPIFFE_ERR_NO_URI_SAN',
  'SPIFFE_ERR_MULTIPLE_URI_SANS',
  'SPIFFE_ERR_LEAF_IS_CA',
  'SPIFFE_ERR_LEAF_KEY_USAGE',
  'SPIFFE_ERR_LEAF_ID_NO_PATH',
  'SPIFFE_ERR_EXTENDED_KEY_USAGE',
  'SPIFFE_ERR_UNHANDLED_CRITICAL_EXTENSION',
  // chain validation (spiffe/spiffe@665a28f:standards/X509-SVID.md §5, RFC 5280 §6)
  'SPIFFE_ERR_NO_BUNDLE',
  'SPIFFE_ERR_UNKNOWN_AUTHORITY',
  'SPIFFE_ERR_ISSUER_NOT_CA',
  'SPIFFE_ERR_ISSUER_KEY_USAGE',
  'SPIFFE_ERR_PATH_LENGTH',
  'SPIFFE_ERR_NAME_CONSTRAINTS',
  'SPIFFE_ERR_CERT_EXPIRED',
  'SPIFFE_ERR_CERT_NOT_YET_VALID',
  'SPIFFE_ERR_BAD_SIGNATURE',
  // trust bundles (spiffe/spiffe@665a28f:standards/SPIFFE_Trust_Domain_and_Bundle.md)
  'SPIFFE_ERR_BUNDLE',
  'SPIFFE_ERR_DUPLICATE_TRUST_DOMAIN',
  // the CA (`docs/spiffe.md` "A CA that issues like istiod")
  'SPIFFE_ERR_CSR',
  'SPIFFE_ERR_CSR_SIGNATURE',
  'SPIFFE_ERR_TTL_TOO_LONG',
  'SPIFFE_ERR_CA_EXPIRED',
  'SPIFFE_ERR_CA_CERTIFICATE',
  // JWT-SVIDs (spiffe/spiffe@665a28f:standards/JWT-SVID.md)
  'SPIFFE_ERR_JWT_MALFORMED',
  'SPIFFE_ERR_JWT_ALGORITHM',
  'SPIFFE_ERR_JWT_HEADER',
  'SPIFFE_ERR_JWT_MISSING_CLAIM',
  'SPIFFE_ERR_JWT_AUDIENCE',
  'SPIFFE_ERR_JWT_EXPIRED',
  'SPIFFE_ERR_JWT_NOT_YET_VALID',
  'SPIFFE_ERR_JWT_KEY_NOT_FOUND',
  // SVID sources, rotation and TLS
  'SPIFFE_ERR_FETCH_FAILED',
  'SPIFFE_ERR_SOURCE_CLOSED',
  'SPIFFE_ERR_NO_PEER_CERTIFICATE',
  // the Istio CA client (`./istio-ca`, docs/identity.md): one code per gRPC status class, the token, the answer
  'SPIFFE_ERR_CA_UNAUTHENTICATED',
  'SPIFFE_ERR_CA_PERMISSION_DENIED',
  'SPIFFE_ERR_CA_INVALID_REQUEST',
  'SPIFFE_ERR_CA_UNAVAILABLE',
  'SPIFFE_ERR_CA_TIMEOUT',
  'SPIFFE_ERR_CA_UNIMPLEMENTED',
  'SPIFFE_ERR_CA_CANCELLED',
  'SPIFFE_ERR_CA_SERVER_ERROR',
  'SPIFFE_ERR_CA_TOKEN',
  'SPIFFE_ERR_CA_BAD_RESPONSE',
  // the SPIFFE Workload API (`./workload-api`, docs/identity.md): the endpoint, one code per gRPC status
  // class (spiffe/spiffe@665a28f3:standards/SPIFFE_Workload_Endpoint.md, Appendix A), the answer
  'SPIFFE_ERR_WORKLOAD_API_ADDRESS',
  'SPIFFE_ERR_WORKLOAD_API_INVALID_ARGUMENT',
  'SPIFFE_ERR_WORKLOAD_API_PERMISSION_DENIED',
  'SPIFFE_ERR_WORKLOAD_API_UNAVAILABLE',
  'SPIFFE_ERR_WORKLOAD_API_UNIMPLEMENTED',
  'SPIFFE_ERR_WORKLOAD_API_TIMEOUT',
  'SPIFFE_ERR_WORKLOAD_API_CANCELLED',
  'SPIFFE_ERR_WORKLOAD_API_SERVER_ERROR',
  'SPIFFE_ERR_WORKLOAD_API_BAD_RESPONSE',
] as const;

/** One of {@link SPIFFE_ERROR_CODES}. */
export type SpiffeErrorCode = (typeof SPIFFE_ERROR_CODES)[number];

/**
 * The package's single error class: the `E` of every `Result` it returns, and what its promises reject with
 * and its sockets fail with. `code` is stable and documented; `message` is for people.
 *
 * `instanceof` holds across two installed copies of the package (a `Symbol.for` brand, as undici and connect
 * do).
 *
 * @example
 * ```ts
 * const result = parseSpiffeId('spiffe://example.org/a/');
 * if (result.isErr() && result.error instanceof SpiffeError) {
 *   console.log(result.error.code); // 'SPIFFE_ERR_PATH_TRAILING_SLASH'
 * }
 * ```
 */
export class SpiffeError extends Error {
  override readonly name = 'SpiffeError';
  /** The stable code: one of {@link SPIFFE_ERROR_CODES}. */
  readonly code: SpiffeErrorCode;

  /**
   * @param code - The stable code.
   * @param message - What went wrong, for people (quote the offending input, capped).
   * @param options - `cause`: the underlying error, if any.
   */
  constructor(code: SpiffeErrorCode, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.code = code;
    Object.defineProperty(this, BRAND, { value: true });
  }

  /**
   * Brand check instead of prototype identity, so `instanceof` works across duplicate installs.
   *
   * @param value - Anything.
   * @returns Whether `value` is a `SpiffeError` from any copy of this package.
   */
  static override [Symbol.hasInstance](value: unknown): boolean {
    return typeof value === 'object' && value !== null && BRAND in value;
  }
}

/**
 * Whether `value` is a {@link SpiffeError}, optionally with a given code.
 *
 * @param value - Anything, e.g. a caught error.
 * @param code - When given, the code it must carry.
 * @returns `true` for a `SpiffeError` (with that code).
 * @example
 * ```ts
 * socket.on('error', (error) => {
 *   if (isSpiffeError(error, 'SPIFFE_ERR_UNEXPECTED_ID')) console.log('wrong peer');
 * });
 * ```
 */
export function isSpiffeError(value: unknown, code?: SpiffeErrorCode): value is SpiffeError {
  return value instanceof SpiffeError && (code === undefined || value.code === code);
}

/**
 * Quotes untrusted input for an error message: JSON-escaped and capped, so a message never carries control
 * characters or megabytes of attacker data.
 *
 * @param text - The input.
 * @param maxChars - Cap on the characters shown (default 96).
 * @returns The quoted, possibly truncated, text.
 * @example
 * ```ts
 * quote('spiffe://x\n'); // '"spiffe://x\\n"'
 * ```
 */
export function quote(text: string, maxChars = 96): string {
  return text.length > maxChars ? `${JSON.stringify(text.slice(0, maxChars))}…` : JSON.stringify(text);
}
