/**
 * The package's single coded error class (contributing.md "Errors").
 *
 * It lives in the pure layer so the codec's `Result`s and the runtime's rejections share one type.
 */

const BRAND = Symbol.for('@ambient-kit/redirect.error');

/**
 * Every code a {@link RedirectError} can carry. Stable: each one is documented in `docs/redirect.md`
 * ("Error codes"), and a unit test keeps the two lists equal.
 *
 * @example
 * ```ts
 * if (REDIRECT_ERROR_CODES.includes(code)) console.log('known code');
 * ```
 */
export const REDIRECT_ERROR_CODES = [
  'REDIRECT_ERR_NETNS_NOT_FOUND',
  'REDIRECT_ERR_NETNS_ENTER',
  'REDIRECT_ERR_NETNS_RESTORE',
  'REDIRECT_ERR_NATIVE_UNAVAILABLE',
  'REDIRECT_ERR_TOOL_MISSING',
  'REDIRECT_ERR_TOOL_FAILED',
  'REDIRECT_ERR_TOOL_TIMEOUT',
  'REDIRECT_ERR_UNEXPECTED_OUTPUT',
  'REDIRECT_ERR_APPLY_FAILED',
  'REDIRECT_ERR_ROLLBACK_FAILED',
  'REDIRECT_ERR_ABORTED',
  'REDIRECT_ERR_SOCKET',
  'REDIRECT_ERR_CONNECT',
  'REDIRECT_ERR_CONNECT_TIMEOUT',
  'REDIRECT_ERR_BAD_SOCKADDR',
  'REDIRECT_ERR_BAD_ANNOTATION',
  'REDIRECT_ERR_ZDS_DECODE',
  'REDIRECT_ERR_ZDS_TRUNCATED',
  'REDIRECT_ERR_ZDS_FD',
  'REDIRECT_ERR_ZDS_PROTOCOL',
  'REDIRECT_ERR_ZDS_NACK',
  'REDIRECT_ERR_ZDS_ACK_TIMEOUT',
  'REDIRECT_ERR_ZDS_CLOSED',
  'REDIRECT_ERR_ZDS_NO_CONNECTION',
] as const;

/**
 * One of {@link REDIRECT_ERROR_CODES}.
 *
 * @example
 * ```ts
 * const code: RedirectErrorCode = 'REDIRECT_ERR_TOOL_MISSING';
 * ```
 */
export type RedirectErrorCode = (typeof REDIRECT_ERROR_CODES)[number];

/**
 * The error every failure of `@ambient-kit/redirect` carries: the `E` of the codec's `Result`s and what the
 * runtime's promises reject with. Match on {@link RedirectError.code}; the message is for humans.
 *
 * `instanceof` holds across two installed copies of the package (the brand is a global symbol).
 *
 * @example
 * ```ts
 * try {
 *   await applyInpodRedirect({ netns: 'pod-a', backend: 'iptables' });
 * } catch (error) {
 *   if (error instanceof RedirectError && error.code === 'REDIRECT_ERR_TOOL_MISSING') {
 *     console.error('install iptables first');
 *   }
 * }
 * ```
 */
export class RedirectError extends Error {
  override readonly name = 'RedirectError';
  /** The stable code; see docs/redirect.md "Error codes". */
  readonly code: RedirectErrorCode;

  /**
   * @param code - The stable code.
   * @param message - A human-readable explanation naming the namespace, tool or address involved.
   * @param options - `cause`: the underlying error, when there is one.
   */
  constructor(code: RedirectErrorCode, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.code = code;
    Object.defineProperty(this, BRAND, { value: true });
  }

  /**
   * Brand check instead of prototype identity, so two installed copies recognise each other's errors.
   *
   * @param value - Anything.
   * @returns Whether `value` is a `RedirectError` from any copy of this package.
   */
  static override [Symbol.hasInstance](value: unknown): boolean {
    return typeof value === 'object' && value !== null && BRAND in value;
  }
}
