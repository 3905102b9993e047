/**
 * The HPACK static table (RFC 7541 Appendix A): 61 header fields every HTTP/2 endpoint knows by index.
 * @module
 */

/**
 * The static table, index 1 first (`HPACK_STATIC_TABLE[0]` is entry 1).
 *
 * @example
 * ```ts
 * HPACK_STATIC_TABLE[7]; // [':status', '200'], entry 8
 * ```
 */
export const HPACK_STATIC_TABLE: readonly (readonly [string, string])[] = [
  [':authority', ''],
  [':method', 'GET'],
  [':method', 'POST'],
  [':path', '/'],
  [':path', '/index.html'],
  [':scheme', 'http'],
  [':scheme', 'https'],
  [':status', '200'],
  [':status', '204'],
  [':status', '206'],
  [':status', '304'],
  [':status', '400'],
  [':status', '404'],
  [':status', '500'],
  ['accept-charset', ''],
  ['accept-encoding', 'gzip, deflate'],
  ['accept-language', ''],
  ['accept-ranges', ''],
  ['accept', ''],
  ['access-control-allow-origin', ''],
  ['age', ''],
  ['allow', ''],
  ['authorization', ''],
  ['cache-control', ''],
  ['content-disposition', ''],
  ['content-encoding', ''],
  ['content-language', ''],
  ['content-length', ''],
  ['content-location', ''],
  ['content-range', ''],
  ['content-type', ''],
  ['cookie', ''],
  ['date', ''],
  ['etag', ''],
  ['expect', ''],
  ['expires', ''],
  ['from', ''],
  ['host', ''],
  ['if-match', ''],
  ['if-modified-since', ''],
  ['if-none-match', ''],
  ['if-range', ''],
  ['if-unmodified-since', ''],
  ['last-modified', ''],
  ['link', ''],
  ['location', ''],
  ['max-forwards', ''],
  ['proxy-authenticate', ''],
  ['proxy-authorization', ''],
  ['range', ''],
  ['referer', ''],
  ['refresh', ''],
  ['retry-after', ''],
  ['server', ''],
  ['set-cookie', ''],
  ['strict-transport-security', ''],
  ['transfer-encoding', ''],
  ['user-agent', ''],
  ['vary', ''],
  ['via', ''],
  ['www-authenticate', ''],
];

/** One name of the static table: its first index, and the index of each value it is listed with. */
export interface HpackStaticName {
  readonly index: number;
  readonly values: ReadonlyMap<string, number>;
}

/**
 * For the encoder: each name of {@link HPACK_STATIC_TABLE} with its first index and its listed values.
 *
 * @example
 * ```ts
 * HPACK_STATIC_INDEX.get(':status')?.values.get('200'); // 8
 * ```
 */
export const HPACK_STATIC_INDEX: ReadonlyMap<string, HpackStaticName> = /* @__PURE__ */ (() => {
  const byName = new Map<string, { index: number; values: Map<string, number> }>();
  HPACK_STATIC_TABLE.forEach(([name, value], i) => {
    let entry = byName.get(name);
    if (entry === undefined) {
      entry = { index: i + 1, values: new Map() };
      byName.set(name, entry);
    }
    if (value !== '') entry.values.set(value, i + 1);
  });
  return byName;
})();
