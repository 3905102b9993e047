/**
 * The package's single error class and its closed list of codes (docs/contributing.md "Errors").
 *
 * Every code is documented in `docs/routing.md` "## Error codes"; `errors.test.ts` keeps the two in sync.
 * @module
 */

const BRAND = Symbol.for('@ambient-kit/routing.error');

/**
 * Every code a {@link RoutingError} can carry. Stable: documented in `docs/routing.md`.
 *
 * The first group is about reading resource text, the second about what the Kubernetes API server (CRD
 * schema and CEL rules) and istiod's validation reject, the third about valid configuration this engine
 * refuses to apply rather than apply wrongly, the fourth about options, the last about upstream failures a
 * `send` function reports to `execute`.
 */
export const ROUTING_ERROR_CODES = [
  // Reading resource documents.
  'ROUTING_ERR_INPUT_TOO_LARGE',
  'ROUTING_ERR_SYNTAX',
  'ROUTING_ERR_NOT_A_RESOURCE',
  'ROUTING_ERR_UNKNOWN_KIND',
  // Shape and semantics, as the API server and istiod check them.
  'ROUTING_ERR_SCHEMA',
  'ROUTING_ERR_INVALID',
  'ROUTING_ERR_INVALID_REGEX',
  'ROUTING_ERR_DUPLICATE',
  // Valid configuration that is refused (fail closed).
  'ROUTING_ERR_UNSUPPORTED',
  'ROUTING_ERR_CONFLICT',
  // Options.
  'ROUTING_ERR_INVALID_OPTIONS',
  // Upstream failures reported by a `send` function.
  'ROUTING_ERR_UPSTREAM_CONNECT_FAILURE',
  'ROUTING_ERR_UPSTREAM_RESET',
  'ROUTING_ERR_UPSTREAM_REFUSED_STREAM',
] as const;

/** One of {@link ROUTING_ERROR_CODES}. */
export type RoutingErrorCode = (typeof ROUTING_ERROR_CODES)[number];

/** Options of the {@link RoutingError} constructor. */
export interface RoutingErrorOptions {
  /** The resource the error is about, as `Kind namespace/name` (or `document #n` when unnamed). */
  readonly resource?: string;
  /** The field path inside the resource, e.g. `spec.rules[0].matches[1].path.value`. */
  readonly path?: string;
  /** Every individual problem, when this error summarises several (the first one is this error's own). */
  readonly issues?: readonly RoutingError[];
  /** The underlying error, kept for diagnosis. */
  readonly cause?: unknown;
}

/**
 * The error of `@ambient-kit/routing`: a stable {@link RoutingErrorCode}, a message, and for configuration
 * errors the resource and field path it is about. It is the `E` of every `Result` the package returns;
 * when a configuration has several problems the returned error is the first one and `issues` lists all.
 *
 * `instanceof` holds across two installed copies of the package (the class checks a global brand).
 *
 * @example
 * ```ts
 * const result = parseRouteResources('kind: HTTPRoute\napiVersion: gateway.networking.k8s.io/v1\nmetadata: {name: r}\nspec: {rulez: []}');
 * if (result.isErr()) console.log(String(result.error));
 * // HTTPRoute default/r: spec.rulez: unknown field [ROUTING_ERR_SCHEMA]
 * ```
 */
export class RoutingError extends Error {
  override readonly name = 'RoutingError';
  /** The stable code; see {@link ROUTING_ERROR_CODES}. */
  readonly code: RoutingErrorCode;
  /** The resource the error is about (`Kind namespace/name`), when there is one. */
  readonly resource: string | undefined;
  /** The field path inside the resource, when there is one. */
  readonly path: string | undefined;
  /** Every problem found (this error first); `[this]` when there was only one. */
  readonly issues: readonly RoutingError[];

  /**
   * @param code - The stable error code.
   * @param message - What is wrong, for a human.
   * @param options - The resource and field path, the other issues, and the cause.
   */
  constructor(code: RoutingErrorCode, message: string, options: RoutingErrorOptions = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.code = code;
    this.resource = options.resource;
    this.path = options.path;
    this.issues = options.issues ?? [this];
    Object.defineProperty(this, BRAND, { value: true });
  }

  /**
   * `instanceof` across duplicate installs of the package (connect, undici do the same).
   *
   * @param value - Anything.
   * @returns Whether `value` is a RoutingError from any copy of this package.
   */
  static override [Symbol.hasInstance](value: unknown): boolean {
    return typeof value === 'object' && value !== null && BRAND in value;
  }

  /**
   * A one-line rendering: `resource: path: message [CODE]`, omitting what is absent, plus `(+n more)` when
   * the error summarises several issues.
   *
   * @returns The line.
   */
  override toString(): string {
    const where = [this.resource, this.path].filter((p) => p !== undefined && p !== '').join(': ');
    const more = this.issues.length > 1 ? ` (+${this.issues.length - 1} more)` : '';
    return `${where === '' ? '' : `${where}: `}${this.message} [${this.code}]${more}`;
  }
}

/**
 * Folds a list of issues into one error: the first issue, carrying all of them in `issues`.
 *
 * @param issues - At least one issue.
 * @returns The summarising error.
 * @example
 * ```ts
 * const e = collectIssues([a, b]); // e.code === a.code, e.issues.length === 2
 * ```
 */
export function collectIssues(issues: readonly RoutingError[]): RoutingError {
  const first = issues[0];
  if (first === undefined) throw new RangeError('collectIssues: no issues');
  if (issues.length === 1) return first;
  return new RoutingError(first.code, first.message, {
    ...(first.resource === undefined ? {} : { resource: first.resource }),
    ...(first.path === undefined ? {} : { path: first.path }),
    issues,
  });
}
