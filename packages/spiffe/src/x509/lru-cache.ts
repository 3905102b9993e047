/**
 * A size-bounded map that forgets its least recently used entry first: the bound of every process-global cache
 * in the package (`certificate-cache.ts`, `signature.ts`), so none of them grows with the traffic it sees. A
 * `Map` keeps insertion order, so a hit is moved to the end and the first key is the oldest.
 * @module
 */

/** A bounded LRU map. */
export interface LruCache<K, V> {
  /** The most entries it keeps. */
  readonly maxEntries: number;
  /** How many entries it holds now. */
  readonly size: number;
  /** The value for `key`, marking it as just used; `undefined` when absent. */
  get(key: K): V | undefined;
  /** Stores `value` under `key` as the most recently used entry, evicting the oldest one past the bound. */
  set(key: K, value: V): void;
  /** Forgets everything. */
  clear(): void;
}

/**
 * Creates a bounded LRU map.
 *
 * @param maxEntries - The bound, at least 1.
 * @returns The cache.
 * @throws {RangeError} For a bound that is not a positive integer.
 * @example
 * ```ts
 * const recent = createLruCache(2);
 * recent.set('a', 1);
 * recent.get('a'); // 1
 * ```
 */
export function createLruCache<K, V>(maxEntries: number): LruCache<K, V> {
  if (!Number.isInteger(maxEntries) || maxEntries < 1)
    throw new RangeError('createLruCache: maxEntries must be a positive integer');
  const map = new Map<K, V>();
  return {
    maxEntries,
    get size() {
      return map.size;
    },
    get(key) {
      const value = map.get(key);
      if (value !== undefined) {
        map.delete(key);
        map.set(key, value);
      }
      return value;
    },
    set(key, value) {
      map.delete(key);
      map.set(key, value);
      if (map.size > maxEntries) map.delete(map.keys().next().value as K);
    },
    clear() {
      map.clear();
    },
  };
}
