/**
 * The options of an HBONE client and their checked, defaulted form.
 * @module
 */
import type { BundleSource } from '@ambient-kit/spiffe';
import type { HboneClock } from './clock.js';
import type { Baggage } from './codec/baggage.js';
import type { HboneSocketFactory } from './connect-socket.js';
import { HBONE_DEFAULTS, h2Options, positiveOption } from './defaults.js';
import type { SvidInput } from './tls.js';

/** Options of {@link createHboneClient}. Every default is ztunnel's (`HBONE_DEFAULTS`). */
export interface HboneClientOptions {
  /** This workload's X.509-SVID: an `SvidSource` (rotation-aware) or a fixed `X509Svid`. */
  readonly svid: SvidInput;
  /** Trust bundles for verifying servers (federation: each server against its own trust domain's roots). */
  readonly bundles: BundleSource;
  /** Streams per pooled connection before another is opened. Default 100 (`POOL_MAX_STREAMS_PER_CONNECTION`). */
  readonly maxStreamsPerConnection?: number;
  /** Close pooled connections without streams after this long. Default 5 min (`POOL_UNUSED_RELEASE_TIMEOUT`). */
  readonly idleTimeoutMs?: number;
  /** The pool's time source, for idle eviction. Default `performance.now()`. */
  readonly clock?: HboneClock;
  /** TCP + TLS + HTTP/2 setup timeout. Default 10 s (`CONNECTION_TIMEOUT`). */
  readonly connectTimeoutMs?: number;
  /** How long to wait for the CONNECT answer. Default 30 s. */
  readonly responseTimeoutMs?: number;
  /** PING interval. Default 10 s. */
  readonly pingIntervalMs?: number;
  /** Drop a connection whose PING is unanswered this long. Default 20 s. */
  readonly pingTimeoutMs?: number;
  /** SETTINGS_INITIAL_WINDOW_SIZE. Default 4 MiB (`HTTP2_STREAM_WINDOW_SIZE`). */
  readonly streamWindowBytes?: number;
  /** Connection flow-control window. Default 16 MiB (`HTTP2_CONNECTION_WINDOW_SIZE`). */
  readonly connectionWindowBytes?: number;
  /** SETTINGS_MAX_FRAME_SIZE. Default 1 MiB (`HTTP2_FRAME_SIZE`). */
  readonly maxFrameBytes?: number;
  /** SETTINGS_MAX_HEADER_LIST_SIZE. Default 16 KiB. */
  readonly maxHeaderListBytes?: number;
  /**
   * @deprecated Ignored: the HTTP/2 layer is no longer `node:http2`, and what a connection buffers is bounded
   * by its flow-control windows (`docs/hbone.md` "Design"). Still checked, so a typo stays an error.
   */
  readonly maxSessionMemoryMb?: number;
  /** This workload's metadata, sent as `baggage` on every CONNECT (ztunnel always sends the header). */
  readonly baggage?: Baggage;
  /**
   * Makes every TCP connection the client opens: each pooled connection, and the outer connection of double
   * HBONE (the inner one runs inside the outer tunnel). It gets the hop's `host` and `port`, the connect's
   * `sourceIp`, and a `signal` aborted when `connectTimeoutMs` passes or the client closes. Its failures
   * reject with `HBONE_ERR_CONNECTION_FAILED` (an `HboneError` it throws is passed on as it is), and a dial
   * that outlives `connectTimeoutMs` rejects with `HBONE_ERR_CONNECT_TIMEOUT`.
   *
   * One factory per client: the pool shares a connection between every tunnel with the same key (source and
   * destination identities, `via`, `sourceIp`), so the sockets of one client must be interchangeable for a
   * key. A ztunnel serving several pods in-pod makes one client per pod, each with a factory that dials
   * from inside that pod (istio/ztunnel@62d82653:src/proxy/pool.rs: in-pod mode has one pool per pod).
   *
   * Default: `net.connect`, bound to `sourceIp` when set.
   *
   * @example
   * ```ts
   * import { connectMarked } from '@ambient-kit/redirect';
   *
   * const client = createHboneClient({
   *   svid,
   *   bundles,
   *   connectSocket: ({ host, port, signal }) =>
   *     connectMarked({ netns: '/var/run/netns/sleep', host, port, mark: 0x539, signal }),
   * });
   * ```
   */
  readonly connectSocket?: HboneSocketFactory;
}

/** The HTTP/2 and transport settings of a client connection. */
export interface ClientConnectionSettings {
  readonly streamWindowBytes: number;
  readonly connectionWindowBytes: number;
  readonly maxFrameBytes: number;
  readonly maxHeaderListBytes: number;
  readonly maxStreamsPerConnection: number;
  readonly connectTimeoutMs: number;
  readonly pingIntervalMs: number;
  readonly pingTimeoutMs: number;
}

/** The client's options, checked and with every default applied. */
export interface ClientConfig {
  readonly settings: ClientConnectionSettings;
  readonly responseTimeoutMs: number;
  readonly idleTimeoutMs: number;
}

const OWNER = 'createHboneClient';

/**
 * Checks the options and applies the defaults.
 *
 * @param options - As given to `createHboneClient`.
 * @returns The configuration.
 * @throws {RangeError} When a numeric option is out of range.
 * @throws {TypeError} When `connectSocket` is not a function.
 * @example
 * ```ts
 * resolveClientConfig({ svid, bundles }).settings.streamWindowBytes; // 4194304
 * ```
 */
export function resolveClientConfig(options: HboneClientOptions): ClientConfig {
  if (options.connectSocket !== undefined && typeof options.connectSocket !== 'function') {
    throw new TypeError(`${OWNER}: "connectSocket" must be a function`);
  }
  const int = (name: keyof HboneClientOptions & string, value: number | undefined, fallback: number) =>
    positiveOption(OWNER, name, value, fallback, true);
  const real = (name: keyof HboneClientOptions & string, value: number | undefined, fallback: number) =>
    positiveOption(OWNER, name, value, fallback, false);
  real('maxSessionMemoryMb', options.maxSessionMemoryMb, 1);
  return {
    settings: {
      ...h2Options(OWNER, options, HBONE_DEFAULTS.clientMaxHeaderListBytes),
      maxStreamsPerConnection: int(
        'maxStreamsPerConnection',
        options.maxStreamsPerConnection,
        HBONE_DEFAULTS.maxStreamsPerConnection,
      ),
      connectTimeoutMs: real('connectTimeoutMs', options.connectTimeoutMs, HBONE_DEFAULTS.connectTimeoutMs),
      pingIntervalMs: real('pingIntervalMs', options.pingIntervalMs, HBONE_DEFAULTS.pingIntervalMs),
      pingTimeoutMs: real('pingTimeoutMs', options.pingTimeoutMs, HBONE_DEFAULTS.pingTimeoutMs),
    },
    responseTimeoutMs: real('responseTimeoutMs', options.responseTimeoutMs, HBONE_DEFAULTS.responseTimeoutMs),
    idleTimeoutMs: real('idleTimeoutMs', options.idleTimeoutMs, HBONE_DEFAULTS.idleTimeoutMs),
  };
}
