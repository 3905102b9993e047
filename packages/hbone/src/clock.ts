/**
 * The time source of the connection pool, injectable so idle eviction can be tested without waiting.
 * @module
 */

/**
 * Reads the current time in milliseconds. `Date` and `performance` both fit, and a test can pass
 * `{ now: () => fakeNow }`.
 */
export interface HboneClock {
  /** The current time in milliseconds; only differences are used. */
  now(): number;
}

/**

 * The default clock: `performance.now()`, monotonic.

 *
 * @example
 * ```ts
 * const client = createHboneClient({ svid, bundles, clock: systemClock });
 * ```
 */
export const systemClock: HboneClock = { now: () => performance.now() };
