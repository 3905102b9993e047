/**
 * A token bucket, the flood guard of an HTTP/2 connection: frames that cost the receiver work but carry no
 * payload (PING, SETTINGS, PRIORITY, empty DATA, unknown types) and streams the peer resets (the "rapid
 * reset" attack, CVE-2023-44487) each take a token; a peer that empties the bucket gets GOAWAY
 * ENHANCE_YOUR_CALM. nghttp2 guards its RST_STREAM the same way (a burst of 1,000, 33 per second).
 * Pure: the caller passes the time.
 * @module
 */

/** A token bucket. */
export interface TokenBucket {
  /**
   * Takes `cost` tokens if there are that many.
   *
   * @param nowMs - The current time, monotonic, in milliseconds.
   * @param cost - Tokens to take; default 1.
   * @returns `false` when the bucket is empty: the flood limit is reached.
   */
  take(nowMs: number, cost?: number): boolean;
}

/**
 * Creates a full bucket.
 *
 * @param capacity - The burst allowed.
 * @param refillPerSecond - Tokens regained per second, up to `capacity`.
 * @param startMs - The time now.
 * @returns The bucket.
 * @throws {RangeError} When `capacity` or `refillPerSecond` is not a positive number.
 * @example
 * ```ts
 * const resets = createTokenBucket(1000, 33, performance.now());
 * if (!resets.take(performance.now())) goaway(H2_ERROR.ENHANCE_YOUR_CALM);
 * ```
 */
export function createTokenBucket(capacity: number, refillPerSecond: number, startMs: number): TokenBucket {
  if (!(capacity > 0) || !(refillPerSecond > 0)) {
    throw new RangeError(
      `a token bucket needs a positive capacity and rate, got ${capacity}, ${refillPerSecond}`,
    );
  }
  let tokens = capacity;
  let lastMs = startMs;
  return {
    take(nowMs: number, cost = 1): boolean {
      if (nowMs > lastMs) {
        tokens = Math.min(capacity, tokens + ((nowMs - lastMs) * refillPerSecond) / 1000);
        lastMs = nowMs;
      }
      if (tokens < cost) return false;
      tokens -= cost;
      return true;
    },
  };
}
