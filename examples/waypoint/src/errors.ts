/**
 * The example waypoint's one error class, with a stable code per failure. docs/examples.md ("The example
 * waypoint", "Error codes") lists every code; `errors.test.ts` keeps the two in sync.
 * @module
 */

/**
 * Every code a {@link WaypointError} carries.
 *
 * @example
 * ```ts
 * WAYPOINT_ERROR_CODES.includes('WAYPOINT_ERR_CONFIG'); // true
 * ```
 */
export const WAYPOINT_ERROR_CODES = [
  'WAYPOINT_ERR_CONFIG',
  'WAYPOINT_ERR_CONFIG_TOO_LARGE',
  'WAYPOINT_ERR_CONFIG_READ',
  'WAYPOINT_ERR_NOT_IN_MESH',
  'WAYPOINT_ERR_LISTEN',
  'WAYPOINT_ERR_NOT_STARTED',
  'WAYPOINT_ERR_OPTIONS',
] as const;

/** One of {@link WAYPOINT_ERROR_CODES}. */
export type WaypointErrorCode = (typeof WAYPOINT_ERROR_CODES)[number];

/** One problem of a rejected configuration, where it is and which layer found it. */
export interface WaypointConfigIssue {
  /** E.g. `document[3]` or `VirtualService default/reviews: spec.http[0].route`. */
  readonly path: string;
  /** The stable code of the layer that found it: `WAYPOINT_ERR_*`, `ROUTING_ERR_*` or `AUTHZ_ERR_*`. */
  readonly code: string;
  readonly message: string;
}

const BRAND: unique symbol = Symbol.for('ambient-kit.example-waypoint.error');

/**
 * A waypoint failure with a stable `code`; a rejected configuration lists every problem in `issues`.
 *
 * @example
 * ```ts
 * throw new WaypointError('WAYPOINT_ERR_NOT_STARTED', 'waypoint not started');
 * ```
 */
export class WaypointError extends Error {
  override readonly name = 'WaypointError';
  readonly code: WaypointErrorCode;
  readonly issues: readonly WaypointConfigIssue[];

  /**
   * @param code - The stable code.
   * @param message - One line.
   * @param options - The cause, and the issues of a rejected configuration.
   */
  constructor(
    code: WaypointErrorCode,
    message: string,
    options: { readonly cause?: unknown; readonly issues?: readonly WaypointConfigIssue[] } = {},
  ) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.code = code;
    this.issues = options.issues ?? [];
    Object.defineProperty(this, BRAND, { value: true });
  }

  /** `instanceof` that also holds across two copies of this package. */
  static override [Symbol.hasInstance](value: unknown): boolean {
    return typeof value === 'object' && value !== null && BRAND in value;
  }
}
