/**
 * The package's single error class and its closed list of codes (docs/contributing.md, "Errors").
 * @module
 */

const BRAND = Symbol.for('@ambient-kit/control-plane.error');

/**
 * Every code a {@link ControlPlaneError} can carry. Stable: each one is documented in the "Error codes"
 * table of docs/control-plane.md, and a unit test keeps the two in sync.
 *
 * @example
 * ```ts
 * CONTROL_PLANE_ERROR_CODES.includes(error.code); // true for every ControlPlaneError
 * ```
 */
export const CONTROL_PLANE_ERROR_CODES = [
  'CONTROL_PLANE_ERR_READ',
  'CONTROL_PLANE_ERR_TOO_LARGE',
  'CONTROL_PLANE_ERR_BAD_YAML',
  'CONTROL_PLANE_ERR_BAD_DOCUMENT',
  'CONTROL_PLANE_ERR_BAD_RESOURCE',
  'CONTROL_PLANE_ERR_BAD_POLICY',
  'CONTROL_PLANE_ERR_BAD_OBJECT',
  'CONTROL_PLANE_ERR_BAD_ROUTE',
  'CONTROL_PLANE_ERR_BAD_TOKEN_FILE',
  'CONTROL_PLANE_ERR_BAD_CA',
  'CONTROL_PLANE_ERR_BAD_OPTION',
  'CONTROL_PLANE_ERR_LISTEN',
] as const;

/** One of {@link CONTROL_PLANE_ERROR_CODES}. */
export type ControlPlaneErrorCode = (typeof CONTROL_PLANE_ERROR_CODES)[number];

/**
 * One problem found in a mesh file. `code` is the stable code of the layer that found it: a
 * `CONTROL_PLANE_ERR_*` code for the file and its documents, a `WORKLOAD_API_ERR_*` code for a
 * ztunnel-shaped workload, service or policy (`@ambient-kit/workload-api`), an `AUTHZ_ERR_*` code for a
 * Kubernetes security policy (`@ambient-kit/authz`), a `ROUTING_ERR_*` code for a routing object
 * (`@ambient-kit/routing`).
 */
export interface ControlPlaneIssue {
  /** Where, e.g. `document[0].policies[0].rules[0][0][0].sourceIP`. */
  readonly path: string;
  readonly code: string;
  readonly message: string;
}

/**
 * The error of every `Result` this package returns and of every rejected promise or `error` event.
 * `code` classifies the first problem; `issues` lists every problem; the message joins them as
 * `<path>: <message>; ...`. `instanceof` holds across two installed copies of the package.
 *
 * @example
 * ```ts
 * const res = parseMeshFile(text);
 * if (res.isErr()) for (const i of res.error.issues) console.log(`${i.path}: ${i.message} (${i.code})`);
 * ```
 */
export class ControlPlaneError extends Error {
  override readonly name = 'ControlPlaneError';
  /** The stable code, documented in docs/control-plane.md. */
  readonly code: ControlPlaneErrorCode;
  /** Every problem found; a single-issue list for errors that are not validation results. */
  readonly issues: readonly ControlPlaneIssue[];

  /**
   * @param code - The stable code.
   * @param message - What went wrong, for humans.
   * @param options - `cause` for a wrapped error; `issues` when several problems were found.
   */
  constructor(
    code: ControlPlaneErrorCode,
    message: string,
    options?: { cause?: unknown; issues?: readonly ControlPlaneIssue[] },
  ) {
    super(message, options?.cause === undefined ? undefined : { cause: options.cause });
    this.code = code;
    this.issues = options?.issues ?? [{ path: '', code, message }];
    Object.defineProperty(this, BRAND, { value: true });
  }

  /**
   * Builds the error for a failed parse from its issues. The code is the first issue's own when it is a
   * control-plane code, `CONTROL_PLANE_ERR_BAD_POLICY` for an authz code and
   * `CONTROL_PLANE_ERR_BAD_RESOURCE` for a workload-api code.
   *
   * @param issues - At least one issue.
   * @returns The error.
   * @throws {RangeError} When `issues` is empty.
   * @example
   * ```ts
   * ControlPlaneError.fromIssues([{ path: 'document[0]', code: 'CONTROL_PLANE_ERR_BAD_DOCUMENT', message: 'expected a map' }]);
   * ```
   */
  static fromIssues(issues: readonly ControlPlaneIssue[]): ControlPlaneError {
    const first = issues[0];
    if (first === undefined) throw new RangeError('issues: expected at least one issue');
    const message = issues.map((i) => (i.path === '' ? i.message : `${i.path}: ${i.message}`)).join('; ');
    return new ControlPlaneError(categoryOf(first.code), message, { issues });
  }

  // `instanceof` must hold across two installed copies of the package (undici, connect).
  static override [Symbol.hasInstance](value: unknown): boolean {
    return typeof value === 'object' && value !== null && BRAND in value;
  }
}

function categoryOf(code: string): ControlPlaneErrorCode {
  if ((CONTROL_PLANE_ERROR_CODES as readonly string[]).includes(code)) return code as ControlPlaneErrorCode;
  if (code.startsWith('AUTHZ_')) return 'CONTROL_PLANE_ERR_BAD_POLICY';
  if (code.startsWith('ROUTING_')) return 'CONTROL_PLANE_ERR_BAD_ROUTE';
  return 'CONTROL_PLANE_ERR_BAD_RESOURCE';
}
