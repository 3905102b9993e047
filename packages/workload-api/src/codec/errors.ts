/**
 * The package's single error class and its closed list of codes (docs/contributing.md, "Errors").
 * @module
 */

const BRAND = Symbol.for('@ambient-kit/workload-api.error');

/**
 * Every code a {@link WorkloadApiError} can carry. Stable: each one is documented in the "Error codes"
 * table of docs/workload-api.md, and a unit test keeps the two in sync.
 *
 * @example
 * ```ts
 * WORKLOAD_API_ERROR_CODES.includes(err.code); // true for every WorkloadApiError
 * ```
 */
export const WORKLOAD_API_ERROR_CODES = [
  // decode -> validate (istio/ztunnel@62d82653:src/state/workload.rs, src/state/service.rs, src/rbac.rs)
  'WORKLOAD_API_ERR_DECODE',
  'WORKLOAD_API_ERR_TOO_LARGE',
  'WORKLOAD_API_ERR_WRONG_TYPE',
  'WORKLOAD_API_ERR_MISSING_RESOURCE',
  'WORKLOAD_API_ERR_MISSING_FIELD',
  'WORKLOAD_API_ERR_BAD_ADDRESS',
  'WORKLOAD_API_ERR_BAD_PREFIX',
  'WORKLOAD_API_ERR_BAD_PORT',
  'WORKLOAD_API_ERR_BAD_SERVICE_KEY',
  'WORKLOAD_API_ERR_UNSUPPORTED_TUNNEL',
  'WORKLOAD_API_ERR_UNKNOWN_ENUM',
  'WORKLOAD_API_ERR_MISSING_GATEWAY_ADDRESS',
  'WORKLOAD_API_ERR_BAD_FILE',
  // upstream choice (istio/ztunnel@62d82653:src/proxy/outbound.rs `build_request`)
  'WORKLOAD_API_ERR_BAD_DESTINATION',
  'WORKLOAD_API_ERR_SELF_CALL',
  'WORKLOAD_API_ERR_NO_HEALTHY_UPSTREAM',
  'WORKLOAD_API_ERR_UNKNOWN_WAYPOINT',
  'WORKLOAD_API_ERR_UNKNOWN_NETWORK_GATEWAY',
  'WORKLOAD_API_ERR_NO_VALID_DESTINATION',
  'WORKLOAD_API_ERR_NO_SERVICE',
  // delta xDS runtime
  'WORKLOAD_API_ERR_XDS_STREAM',
  'WORKLOAD_API_ERR_XDS_CREDENTIALS',
  'WORKLOAD_API_ERR_CLOSED',
  'WORKLOAD_API_ERR_TIMEOUT',
  'WORKLOAD_API_ERR_ABORTED',
] as const;

/** One of {@link WORKLOAD_API_ERROR_CODES}. */
export type WorkloadApiErrorCode = (typeof WORKLOAD_API_ERROR_CODES)[number];

/**
 * One problem found while validating a resource. Validation collects every problem instead of stopping
 * at the first (after grpc-js-xds `ValidationResult`, grpc/grpc-node packages/grpc-js-xds).
 */
export interface ValidationIssue {
  /** Where the problem is, as a dotted path into the message, e.g. `workload.addresses[1]`. */
  readonly path: string;
  /** What kind of problem it is. */
  readonly code: WorkloadApiErrorCode;
  /** A sentence for humans; becomes part of an xDS NACK's `error_detail.message`. */
  readonly message: string;
}

/**
 * The error of every `Result` this package returns and of every rejected promise or `'error'` event.
 *
 * `code` is the first (or only) problem's code; `issues` lists every problem when validation found
 * several. `instanceof` holds across two installed copies of the package.
 *
 * @example
 * ```ts
 * const res = decodeAddress(bytes);
 * if (res.isErr()) {
 *   console.log(res.error.code, res.error.issues.map((i) => `${i.path}: ${i.message}`));
 * }
 * ```
 */
export class WorkloadApiError extends Error {
  override readonly name = 'WorkloadApiError';
  /** The stable code, documented in docs/workload-api.md. */
  readonly code: WorkloadApiErrorCode;
  /** Every problem found; a single-issue list for errors that are not validation results. */
  readonly issues: readonly ValidationIssue[];

  /**
   * @param code - The stable code.
   * @param message - What went wrong, for humans.
   * @param options - `cause` for a wrapped error; `issues` when validation found several problems.
   */
  constructor(
    code: WorkloadApiErrorCode,
    message: string,
    options?: { cause?: unknown; issues?: readonly ValidationIssue[] },
  ) {
    super(message, options?.cause === undefined ? undefined : { cause: options.cause });
    this.code = code;
    this.issues = options?.issues ?? [{ path: '', code, message }];
  }

  /**
   * An error for an expected outcome rather than a fault (an upstream choice that failed, for instance):
   * built without a stack trace, which is most of what an `Error` costs and tells nothing here.
   *
   * @param code - The stable code.
   * @param message - What happened.
   * @returns The error; its `stack` is the first line only.
   * @example
   * ```ts
   * WorkloadApiError.outcome('WORKLOAD_API_ERR_NO_HEALTHY_UPSTREAM', 'service echo has no healthy upstream');
   * ```
   */
  static outcome(code: WorkloadApiErrorCode, message: string): WorkloadApiError {
    const limit = Error.stackTraceLimit;
    Error.stackTraceLimit = 0;
    try {
      return new WorkloadApiError(code, message);
    } finally {
      Error.stackTraceLimit = limit;
    }
  }

  /**
   * Builds the error for a failed validation from its issues; the message joins them with `; `.
   *
   * @param issues - At least one issue.
   * @returns The error, with `code` taken from the first issue.
   * @throws {RangeError} When `issues` is empty.
   * @example
   * ```ts
   * WorkloadApiError.fromIssues([{ path: 'uid', code: 'WORKLOAD_API_ERR_MISSING_FIELD', message: 'empty' }]);
   * ```
   */
  static fromIssues(issues: readonly ValidationIssue[]): WorkloadApiError {
    const first = issues[0];
    if (first === undefined) throw new RangeError('issues: expected at least one issue');
    const message = issues.map((i) => (i.path === '' ? i.message : `${i.path}: ${i.message}`)).join('; ');
    return new WorkloadApiError(first.code, message, { issues });
  }

  // `instanceof` must hold across two installed copies of the package (undici, connect).
  static override [Symbol.hasInstance](value: unknown): boolean {
    return typeof value === 'object' && value !== null && BRAND in value;
  }
}
// The brand lives on the prototype: every instance carries it without a property of its own.
Object.defineProperty(WorkloadApiError.prototype, BRAND, { value: true });

/**
 * The errors {@link resolveUpstream} can return (ztunnel's outbound `build_request` failures).
 */
export type RouteErrorCode = Extract<
  WorkloadApiErrorCode,
  | 'WORKLOAD_API_ERR_BAD_DESTINATION'
  | 'WORKLOAD_API_ERR_SELF_CALL'
  | 'WORKLOAD_API_ERR_NO_HEALTHY_UPSTREAM'
  | 'WORKLOAD_API_ERR_UNKNOWN_WAYPOINT'
  | 'WORKLOAD_API_ERR_UNKNOWN_NETWORK_GATEWAY'
  | 'WORKLOAD_API_ERR_NO_VALID_DESTINATION'
  | 'WORKLOAD_API_ERR_NO_SERVICE'
>;

/** A {@link WorkloadApiError} whose code is a {@link RouteErrorCode}. */
export type RouteError = WorkloadApiError & { readonly code: RouteErrorCode };
