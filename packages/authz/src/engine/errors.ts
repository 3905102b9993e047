/**
 * The package's single error class and its closed list of codes (contributing.md "Errors").
 *
 * Every code is documented in `docs/authz.md` "## Error codes"; `errors.test.ts` keeps the two in sync.
 * @module
 */

const BRAND = Symbol.for('@ambient-kit/authz.error');

/**
 * Every code a {@link PolicyError} can carry. Stable: documented in `docs/authz.md`.
 *
 * The first group is about reading policy text, the second about what istiod's validation
 * (`ValidateAuthorizationPolicy`) rejects, the third about engine options, the last about the Node runtime (files, CLI arguments).
 */
export const AUTHZ_ERROR_CODES = [
  // Reading policy documents.
  'AUTHZ_ERR_INPUT_TOO_LARGE',
  'AUTHZ_ERR_SYNTAX',
  'AUTHZ_ERR_NOT_A_POLICY',
  // The shape of a policy: types, unknown fields, required fields, CRD limits.
  'AUTHZ_ERR_SCHEMA',
  // istiod's ValidateAuthorizationPolicy rules.
  'AUTHZ_ERR_INVALID_POLICY',
  'AUTHZ_ERR_DUPLICATE_POLICY',
  // Engine options.
  'AUTHZ_ERR_INVALID_MESH_CONFIG',
  // Node runtime.
  'AUTHZ_ERR_IO',
  'AUTHZ_ERR_USAGE',
  'AUTHZ_ERR_CLAIMS_HOOK',
  'AUTHZ_ERR_JWKS_FETCH',
] as const;

/** One of {@link AUTHZ_ERROR_CODES}. */
export type AuthzErrorCode = (typeof AUTHZ_ERROR_CODES)[number];

/** Options of the {@link PolicyError} constructor. */
export interface PolicyErrorOptions {
  /** The policy the error is about, as `namespace/name` (or `name`, or `document #n` when unnamed). */
  readonly policy?: string;
  /** The field path inside the document, e.g. `spec.rules[0].from[0].source.ipBlocks[1]`. */
  readonly path?: string;
  /** The document's kind (`AuthorizationPolicy`, `RequestAuthentication`, `PeerAuthentication`, or another). */
  readonly kind?: string;
  /** The underlying error, kept for diagnosis. */
  readonly cause?: unknown;
}

/**
 * The error of `@ambient-kit/authz`: a stable {@link AuthzErrorCode}, a message, and for policy errors the
 * policy and field path it is about. It is the `E` of every `Result` the package returns and what the Node
 * runtime rejects or emits.
 *
 * `instanceof` holds across two installed copies of the package (the class checks a global brand).
 *
 * @example
 * ```ts
 * const result = parsePolicies('kind: AuthorizationPolicy\nmetadata: {name: x}\nspec: {action: NOPE}');
 * if (result.isErr()) {
 *   for (const e of result.error) console.log(e.code, e.policy, e.path, e.message);
 *   // AUTHZ_ERR_SCHEMA default/x spec.action `action` must be one of ALLOW, DENY, AUDIT, CUSTOM
 * }
 * ```
 */
export class PolicyError extends Error {
  override readonly name = 'PolicyError';
  /** The stable code; see {@link AUTHZ_ERROR_CODES}. */
  readonly code: AuthzErrorCode;
  /** The policy the error is about (`namespace/name`), when there is one. */
  readonly policy: string | undefined;
  /** The field path inside the policy document, when there is one. */
  readonly path: string | undefined;
  /** The document's kind, when the error is about a document of a known kind. */
  readonly kind: string | undefined;

  /**
   * @param code - The stable error code.
   * @param message - What is wrong, for a human.
   * @param options - The policy and field path, and the cause.
   */
  constructor(code: AuthzErrorCode, message: string, options: PolicyErrorOptions = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.code = code;
    this.policy = options.policy;
    this.path = options.path;
    this.kind = options.kind;
    Object.defineProperty(this, BRAND, { value: true });
  }

  /**
   * `instanceof` across duplicate installs of the package (connect, undici do the same).
   *
   * @param value - Anything.
   * @returns Whether `value` is a PolicyError from any copy of this package.
   */
  static override [Symbol.hasInstance](value: unknown): boolean {
    return typeof value === 'object' && value !== null && BRAND in value;
  }

  /**
   * A one-line rendering: `policy: path: message [CODE]`, omitting what is absent.
   *
   * @returns The line.
   */
  override toString(): string {
    const where = [this.policy, this.path].filter((part) => part !== undefined && part !== '').join(': ');
    return `${where === '' ? '' : `${where}: `}${this.message} [${this.code}]`;
  }
}
