/**
 * Random sources for endpoint and waypoint choice. `resolveUpstream` takes any `() => number` in [0, 1);
 * a seeded one makes the choice reproducible in tests and benchmarks.
 * @module
 */

/** A source of uniformly distributed numbers in [0, 1), like `Math.random`. */
export type RandomSource = () => number;

/**
 * A small, fast, seeded generator (mulberry32). Not for cryptography.
 *
 * @param seed - Any 32-bit integer.
 * @returns A function returning the next number in [0, 1).
 * @example
 * ```ts
 * const random = seededRandom(42);
 * store.resolveUpstream({ source, destination: '10.96.0.10:80', random });
 * ```
 */
export function seededRandom(seed: number): RandomSource {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/**
 * Picks an index with probability weight / sum(weights), as Rust rand's `choose_weighted` (cumulative
 * weights, first bucket above a uniform draw). Zero weights are never picked.
 *
 * @param weights - Non-negative weights.
 * @param random - The random source.
 * @returns The index, or -1 when the weights sum to zero.
 * @example
 * ```ts
 * chooseWeighted([1, 3], seededRandom(1)); // 0 or 1, 1 three times as often
 * ```
 */
export function chooseWeighted(weights: readonly number[], random: RandomSource): number {
  let total = 0;
  for (const w of weights) total += w;
  if (!(total > 0)) return -1;
  const x = random() * total;
  let cumulative = 0;
  for (let i = 0; i < weights.length; i++) {
    cumulative += weights[i] as number;
    if (x < cumulative) return i;
  }
  // Only reachable through floating-point rounding at the very top of the range.
  for (let i = weights.length - 1; i >= 0; i--) if ((weights[i] as number) > 0) return i;
  return -1;
}
