/**
 * Exponential backoff with jitter, as ztunnel retries certificate fetches
 * (istio/ztunnel@62d82653:src/identity/manager.rs; `src/identity/manager.rs`: `backoff::ExponentialBackoff`
 * from 500 ms, multiplier 2, randomisation 0.2, interval capped at 150 s).
 * @module
 */

/** Options of {@link createBackoff}. */
export interface BackoffOptions {
  /** First delay (default 500 ms, ztunnel `initial_interval`). */
  readonly initialMs?: number;
  /** Cap on the delay (default 150 000 ms, ztunnel `CERT_REFRESH_FAILURE_RETRY_DELAY_MAX_INTERVAL`). */
  readonly maxMs?: number;
  /** Growth factor (default 2). */
  readonly multiplier?: number;
  /** Each delay is scaled by a uniform factor in [1 - jitter, 1 + jitter] (default 0.2). */
  readonly jitter?: number;
  /** The random source in [0, 1) (default `Math.random`), for tests. */
  readonly random?: () => number;
}

/** A backoff sequence. */
export interface Backoff {
  /** The next delay in milliseconds. */
  next(): number;
  /** Starts over from the initial delay (after a success). */
  reset(): void;
}

/**
 * Creates an exponential backoff sequence.
 *
 * @param options - Initial delay, cap, multiplier, jitter.
 * @returns The sequence.
 * @throws {RangeError} For non-positive delays, a multiplier below 1, or jitter outside [0, 1).
 * @example
 * ```ts
 * const backoff = createBackoff();
 * backoff.next(); // ~500 ms
 * backoff.next(); // ~1000 ms
 * ```
 */
export function createBackoff(options: BackoffOptions = {}): Backoff {
  const initialMs = options.initialMs ?? 500;
  const maxMs = options.maxMs ?? 150_000;
  const multiplier = options.multiplier ?? 2;
  const jitter = options.jitter ?? 0.2;
  const random = options.random ?? Math.random;
  if (!(initialMs > 0) || !(maxMs >= initialMs))
    throw new RangeError('createBackoff: need 0 < initialMs <= maxMs');
  if (!(multiplier >= 1)) throw new RangeError('createBackoff: multiplier must be >= 1');
  if (!(jitter >= 0 && jitter < 1)) throw new RangeError('createBackoff: jitter must be in [0, 1)');
  let interval = initialMs;
  return {
    next: () => {
      const delay = interval * (1 - jitter + 2 * jitter * random());
      interval = Math.min(interval * multiplier, maxMs);
      return Math.min(delay, maxMs);
    },
    reset: () => {
      interval = initialMs;
    },
  };
}
