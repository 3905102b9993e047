/**
 * Safe writes of untrusted keys (resource names, uids, service keys) into plain objects.
 * @module
 */

/**
 * Sets `o[key] = value` as an own, enumerable property even when `key` is `__proto__`, which a plain
 * assignment would turn into a prototype change.
 *
 * @param o - The object (a JSON map or a protobuf map field).
 * @param key - Any string, possibly from the network.
 * @param value - The value.
 * @example
 * ```ts
 * const map: Record<string, string> = {};
 * setOwnKey(map, '__proto__', 'v1');
 * Object.keys(map); // ['__proto__']
 * ```
 */
export function setOwnKey<T>(o: Record<string, T>, key: string, value: T): void {
  if (key === '__proto__')
    Object.defineProperty(o, key, { value, enumerable: true, configurable: true, writable: true });
  else o[key] = value;
}
