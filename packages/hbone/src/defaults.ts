/**
 * ztunnel's HBONE defaults (istio/ztunnel@62d82653:src/config.rs; `docs/hbone.md` "What goes on the wire"),
 * in one place so the client, the server, the docs and the tests agree, and the one reader of numeric
 * options both factories use.
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
  /** The client's SETTINGS_MAX_HEADER_LIST_SIZE: 16 KiB (istio/ztunnel@62d82653:src/proxy/h2/client.rs). */
  clientMaxHeaderListBytes: 16_384,
  /** The server's SETTINGS_MAX_HEADER_LIST_SIZE: 64 KiB (istio/ztunnel@62d82653:src/proxy/h2/server.rs). */
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
  /** TCP keepalive idle time and interval (istio/ztunnel@62d82653:src/config.rs): 180 s. */
  tcpKeepaliveMs: 180_000,
  /**
   * The server's limit from TCP connect to a finished TLS handshake and HTTP/2 preface. Node's own TLS
   * default is 120 s, which lets a slowloris client hold a socket for two minutes with five bytes.
   */
  handshakeTimeoutMs: 10_000,
  /** The most TCP connections a server serves at once, handshakes included. */
  maxConnections: 10_000,
  /**
   * @deprecated The node:http2 `maxSessionMemory` of earlier versions; the HTTP/2 layer is no longer
   * node:http2 and the option is ignored.
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

/**
 * Reads a flow-control window option: a positive integer up to 2^31-1 (RFC 9113 §6.9.1).
 *
 * @param owner - The factory the option belongs to, for the message.
 * @param name - The option's name.
 * @param value - As given.
 * @param fallback - The default.
 * @returns The window.
 * @throws {RangeError} When out of range.
 * @example
 * ```ts
 * windowOption('createHboneClient', 'streamWindowBytes', undefined, HBONE_DEFAULTS.streamWindowBytes);
 * ```
 */
export function windowOption(
  owner: string,
  name: string,
  value: number | undefined,
  fallback: number,
): number {
  const window = positiveOption(owner, name, value, fallback, true);
  if (window > 2_147_483_647)
    throw new RangeError(`${owner}: "${name}" must be at most 2^31-1, got ${window}`);
  return window;
}

/**
 * Reads SETTINGS_MAX_FRAME_SIZE: an integer in 16,384..2^24-1 (RFC 9113 §6.5.2).
 *
 * @param owner - The factory the option belongs to, for the message.
 * @param value - As given.
 * @returns The frame size.
 * @throws {RangeError} When out of range.
 * @example
 * ```ts
 * frameSizeOption('createHboneServer', undefined); // 1048576
 * ```
 */
export function frameSizeOption(owner: string, value: number | undefined): number {
  const size = positiveOption(owner, 'maxFrameBytes', value, HBONE_DEFAULTS.maxFrameBytes, true);
  if (size < 16_384 || size > 16_777_215) {
    throw new RangeError(`${owner}: "maxFrameBytes" must be in 16384..16777215, got ${size}`);
  }
  return size;
}

/** The HTTP/2 options a client and a server share, read and defaulted. */
export interface H2Options {
  readonly streamWindowBytes: number;
  readonly connectionWindowBytes: number;
  readonly maxFrameBytes: number;
  readonly maxHeaderListBytes: number;
}

/**
 * Reads the HTTP/2 options both factories take: the two windows, the frame size and the header list size.
 *
 * @param owner - The factory, for messages.
 * @param options - As given.
 * @param maxHeaderListDefault - The side's default SETTINGS_MAX_HEADER_LIST_SIZE (16 KiB client, 64 KiB server).
 * @returns The values.
 * @throws {RangeError} When one is out of range.
 * @example
 * ```ts
 * const h2 = h2Options('createHboneServer', options, HBONE_DEFAULTS.serverMaxHeaderListBytes);
 * ```
 */
export function h2Options(
  owner: string,
  options: Partial<H2Options>,
  maxHeaderListDefault: number,
): H2Options {
  return {
    streamWindowBytes: windowOption(
      owner,
      'streamWindowBytes',
      options.streamWindowBytes,
      HBONE_DEFAULTS.streamWindowBytes,
    ),
    connectionWindowBytes: windowOption(
      owner,
      'connectionWindowBytes',
      options.connectionWindowBytes,
      HBONE_DEFAULTS.connectionWindowBytes,
    ),
    maxFrameBytes: frameSizeOption(owner, options.maxFrameBytes),
    maxHeaderListBytes: positiveOption(
      owner,
      'maxHeaderListBytes',
      options.maxHeaderListBytes,
      maxHeaderListDefault,
      true,
    ),
  };
}
