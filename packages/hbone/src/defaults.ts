/**
 * ztunnel's HBONE defaults (hbone.md §1.4, §1.5, §1.9; `zt:src/config.rs`), in one place so the client, the
 * server, the docs and the tests agree.
 * @module
 */

/**

 * Every default, named with its unit.

 *
 * @example
 * ```ts
 * createHboneClient({ svid, bundles, idleTimeoutMs: HBONE_DEFAULTS.idleTimeoutMs / 5 });
 * ```
 */
export const HBONE_DEFAULTS = {
  /** SETTINGS_INITIAL_WINDOW_SIZE, both ends: `HTTP2_STREAM_WINDOW_SIZE` = 4 MiB. */
  streamWindowBytes: 4_194_304, // 4 MiB
  /** The connection window (WINDOW_UPDATE on stream 0): `HTTP2_CONNECTION_WINDOW_SIZE` = 16 MiB. */
  connectionWindowBytes: 16_777_216, // 16 MiB
  /** SETTINGS_MAX_FRAME_SIZE: `HTTP2_FRAME_SIZE` = 1 MiB. */
  maxFrameBytes: 1_048_576, // 1 MiB
  /** The client's SETTINGS_MAX_HEADER_LIST_SIZE: 16 KiB (`zt:src/proxy/h2/client.rs` L171). */
  clientMaxHeaderListBytes: 16_384,
  /** The server's SETTINGS_MAX_HEADER_LIST_SIZE: 64 KiB (`zt:src/proxy/h2/server.rs` L117). */
  serverMaxHeaderListBytes: 65_536,
  /** SETTINGS_MAX_CONCURRENT_STREAMS the server advertises: 200. */
  serverMaxConcurrentStreams: 200,
  /** `POOL_MAX_STREAMS_PER_CONNECTION`: at most this many streams per pooled client connection. */
  maxStreamsPerConnection: 100,
  /** `POOL_UNUSED_RELEASE_TIMEOUT`: idle pooled connections are closed after 5 minutes. */
  idleTimeoutMs: 300_000,
  /** PING interval, both ends. */
  pingIntervalMs: 10_000,
  /** Drop the connection when a PING is unanswered this long. */
  pingTimeoutMs: 20_000,
  /** `CONNECTION_TIMEOUT`: TCP connect (and, here, TLS + HTTP/2 setup) to the HBONE port. */
  connectTimeoutMs: 10_000,
  /** Upstream TCP connect on the server. */
  upstreamConnectTimeoutMs: 10_000,
  /**
   * How long a client waits for the CONNECT answer. ztunnel has no such timer; the server's 10 s upstream
   * timeout bounds a well-behaved peer, this bounds a stuck one.
   */
  responseTimeoutMs: 30_000,
  /** `CONNECTION_TERMINATION_DEADLINE`: a graceful close force-closes what is left after 5 s. */
  drainDeadlineMs: 5_000,
  /** TCP keepalive idle time and interval (`zt:src/config.rs` L342-363): 180 s. */
  tcpKeepaliveMs: 180_000,
  /**
   * node:http2 `maxSessionMemory` in MB (Node's default is 10). A 16 MiB connection window alone can exceed
   * Node's default once streams buffer, and the session then refuses new streams (hbone.md §8 Node notes).
   */
  maxSessionMemoryMb: 256,
} as const;

/**
 * Reads a numeric option that overrides one of {@link HBONE_DEFAULTS}: the default when unset, else the value
 * once checked.
 *
 * @param owner - The factory the option belongs to, for the message (`createHboneClient`).
 * @param name - The option's name.
 * @param value - The option as given.
 * @param fallback - The default.
 * @param integer - Accept only integers.
 * @returns The value to use.
 * @throws {RangeError} When `value` is not a positive (integer) number.
 * @example
 * ```ts
 * positiveOption('createHboneServer', 'pingIntervalMs', options.pingIntervalMs, HBONE_DEFAULTS.pingIntervalMs, true);
 * ```
 */
export function positiveOption(
  owner: string,
  name: string,
  value: number | undefined,
  fallback: number,
  integer: boolean,
): number {
  if (value === undefined) return fallback;
  if (!Number.isFinite(value) || value <= 0 || (integer && !Number.isInteger(value))) {
    throw new RangeError(
      `${owner}: "${name}" must be a positive ${integer ? 'integer' : 'number'}, got ${value}`,
    );
  }
  return value;
}
