/**
 * The HBONE client: opens tunnels (HTTP/2 CONNECT over SPIFFE mTLS) through a ztunnel-style connection
 * pool, single or double HBONE (hbone.md §1.6-§1.10).
 * @module
 */
import { type ClientHttp2Stream, constants as h2constants } from 'node:http2';
import { isIP } from 'node:net';
import type { Duplex } from 'node:stream';
import type { BundleSource, SpiffeId } from '@ambient-kit/spiffe';
import {
  type ClientConnection,
  type ClientConnectionSettings,
  type DialTarget,
  dialClientConnection,
} from './client-connection.js';
import { type HboneClock, systemClock } from './clock.js';
import { formatAuthority, type HboneAddress, parseAuthority } from './codec/authority.js';
import type { Baggage } from './codec/baggage.js';
import { buildConnectRequest } from './codec/connect-request.js';
import { parseConnectResponse } from './codec/connect-response.js';
import { HboneError } from './codec/errors.js';
import type { Forwarded } from './codec/forwarded.js';
import { canonicalIp } from './codec/ip.js';
import { randomTraceparent, type TraceParent } from './codec/traceparent.js';
import type { HboneSocketFactory } from './connect-socket.js';
import { HBONE_DEFAULTS, positiveOption } from './defaults.js';
import { type HboneStreamEvent, publish } from './diagnostics.js';
import { type HboneStream, TunnelStream } from './hbone-stream.js';
import { abortError, ConnectionPool, type HbonePool, type HbonePoolKey } from './pool.js';
import { clientTlsOptions, currentIdentity, type SvidInput, toSvidSource } from './tls.js';

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
  /** node:http2 `maxSessionMemory`, in MB. Default 256 (Node's 10 is too small for 16 MiB windows). */
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
   * from inside that pod (`zt:src/proxy/pool.rs`: in-pod mode has one pool per pod).
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

/** Options of {@link HboneClient.connect}. */
export interface HboneConnectOptions {
  /** The HBONE hop, `ip:port` (`[v6]:port`): a pod's or a waypoint's `:15008`, or the E/W gateway. */
  readonly via: string;
  /** The target, `:authority`: `10.0.0.2:8080`, `[ff06::c3]:80` or `svc.ns.svc.cluster.local:80`. */
  readonly authority: string | HboneAddress;
  /**
   * The SPIFFE IDs the server may present; the handshake fails unless its certificate carries one
   * (`zt:src/tls/workload.rs` verify_server_cert). With `doubleHbone`, the final destination's (inner) IDs.
   */
  readonly expectedIdentities: readonly (string | SpiffeId)[];
  /** Extra request headers (e.g. `x-istio-source`); names lower-case. */
  readonly headers?: Readonly<Record<string, string>>;
  /** Bind the connection to this local IP; part of the pool key (ztunnel spoofs the source IP). */
  readonly sourceIp?: string;
  /** Abort the connect. Once the tunnel is up, destroy the stream instead. */
  readonly signal?: AbortSignal;
  /** Overrides the client's `baggage` for this tunnel. */
  readonly baggage?: Baggage;
  /** `forwarded`: ztunnel sends `for="<app client ip:port>"` and `host=<service>` when it knows them. */
  readonly forwarded?: Forwarded;
  /** The trace context; default a fresh random one, as ztunnel makes per outbound connection. */
  readonly traceparent?: TraceParent;
  /**
   * Double HBONE (hbone.md §1.10): `via` is an east-west gateway; the outer CONNECT (pooled, checked against
   * `gatewayIdentities`) carries an inner TLS handshake and CONNECT (not pooled, checked against
   * `expectedIdentities`, with `x-forwarded-network: network`), both to the same `authority`.
   */
  readonly doubleHbone?: {
    readonly gatewayIdentities: readonly (string | SpiffeId)[];
    /** This side's network, sent as `x-forwarded-network` on the inner CONNECT. */
    readonly network: string;
  };
}

/** An HBONE client. */
export interface HboneClient {
  /**
   * Opens a tunnel: checks out (or dials) a pooled connection to `via`, sends the CONNECT and resolves
   * once the server answered 200.
   *
   * @param options - Where to, whom to expect, and per-tunnel headers.
   * @returns The tunnel, a `Duplex` of the target connection's bytes.
   * @throws {HboneError} A non-200 answer (`status` set; `HBONE_ERR_BAD_REQUEST` 400,
   *   `HBONE_ERR_POLICY_DENIED` 401, `HBONE_ERR_UNAVAILABLE` 503), or a dial, handshake, identity or
   *   transport failure (see docs/hbone.md "Error codes").
   * @throws {TypeError} When an option is malformed (`via`, `authority`, `expectedIdentities`).
   */
  connect(options: HboneConnectOptions): Promise<HboneStream>;
  /** The connection pool, for observation. */
  readonly pool: HbonePool;
  /**
   * Closes every connection (GOAWAY, then a hard close after `deadlineMs`, default 5 s); later connects fail
   * with `HBONE_ERR_CLOSED`.
   *
   * @param options - The grace period.
   * @returns Resolves once every connection is closed.
   */
  close(options?: { readonly deadlineMs?: number }): Promise<void>;
}

function positive(name: string, value: number | undefined, fallback: number, integer = false): number {
  return positiveOption('createHboneClient', name, value, fallback, integer);
}

/**
 * Parses `via` into host and port.
 *
 * @param via - `ip:port` or `[v6]:port`.
 * @returns The canonical IP, the port and the canonical text.
 * @throws {TypeError} When `via` is not an IP socket address.
 */
function parseVia(via: string): { host: string; port: number; text: string } {
  const parsed = typeof via === 'string' ? parseAuthority(via) : undefined;
  if (parsed === undefined || parsed.isErr() || parsed.value.kind !== 'socket' || parsed.value.port === 0) {
    throw new TypeError(`connect: "via" must be "ip:port" or "[ipv6]:port", got ${JSON.stringify(via)}`);
  }
  return { host: parsed.value.ip, port: parsed.value.port, text: formatAuthority(parsed.value) };
}

function parseTarget(authority: string | HboneAddress): HboneAddress {
  if (typeof authority !== 'string') {
    // Validates and canonicalises (formatAuthority throws RangeError on a bad address).
    const text = formatAuthority(authority);
    return parseAuthority(text)._unsafeUnwrap();
  }
  const parsed = parseAuthority(authority);
  if (parsed.isErr()) throw new TypeError(`connect: invalid "authority": ${parsed.error.message}`);
  return parsed.value;
}

function identities(name: string, ids: readonly (string | SpiffeId)[] | undefined): string[] {
  if (!Array.isArray(ids) || ids.length === 0) {
    throw new TypeError(`connect: "${name}" must be a non-empty array of SPIFFE IDs`);
  }
  return [...new Set(ids.map((id) => String(id)))].sort();
}

const { NGHTTP2_CANCEL, NGHTTP2_REFUSED_STREAM } = h2constants;

/** What a failed dial or CONNECT rejects with: an `HboneError` as it is, anything else as a dial failure. */
function asHboneError(error: unknown): HboneError {
  return error instanceof HboneError
    ? error
    : new HboneError('HBONE_ERR_CONNECTION_FAILED', String(error), { cause: error });
}

/**
 * Creates an HBONE client. Connections are TLS 1.3 with ALPN `h2` and no SNI, authenticate with `svid`, and
 * accept a server only if its chain verifies against `bundles` and its SPIFFE ID is one of the connect's
 * `expectedIdentities`.
 *
 * @param options - The identity, the trust bundles, and optional overrides of ztunnel's defaults.
 * @returns The client.
 * @throws {RangeError} When a numeric option is out of range.
 * @throws {TypeError} When `connectSocket` is not a function.
 * @example
 * ```ts
 * const client = createHboneClient({ svid, bundles });
 * const tunnel = await client.connect({
 *   via: '10.244.0.42:15008',
 *   authority: '10.244.0.42:8080',
 *   expectedIdentities: ['spiffe://cluster.local/ns/default/sa/reviews'],
 * });
 * tunnel.end('hello');
 * for await (const chunk of tunnel) process.stdout.write(chunk);
 * ```
 */
export function createHboneClient(options: HboneClientOptions): HboneClient {
  const source = toSvidSource(options.svid);
  const connectSocket = options.connectSocket;
  if (connectSocket !== undefined && typeof connectSocket !== 'function') {
    throw new TypeError('createHboneClient: "connectSocket" must be a function');
  }
  // Aborts dials in progress when the client closes; aborted = closed.
  const closing = new AbortController();
  const bundles = options.bundles;
  const clock = options.clock ?? systemClock;
  const settings: ClientConnectionSettings = {
    streamWindowBytes: positive(
      'streamWindowBytes',
      options.streamWindowBytes,
      HBONE_DEFAULTS.streamWindowBytes,
      true,
    ),
    connectionWindowBytes: positive(
      'connectionWindowBytes',
      options.connectionWindowBytes,
      HBONE_DEFAULTS.connectionWindowBytes,
      true,
    ),
    maxFrameBytes: positive('maxFrameBytes', options.maxFrameBytes, HBONE_DEFAULTS.maxFrameBytes, true),
    maxHeaderListBytes: positive(
      'maxHeaderListBytes',
      options.maxHeaderListBytes,
      HBONE_DEFAULTS.clientMaxHeaderListBytes,
      true,
    ),
    maxStreamsPerConnection: positive(
      'maxStreamsPerConnection',
      options.maxStreamsPerConnection,
      HBONE_DEFAULTS.maxStreamsPerConnection,
      true,
    ),
    maxSessionMemoryMb: positive(
      'maxSessionMemoryMb',
      options.maxSessionMemoryMb,
      HBONE_DEFAULTS.maxSessionMemoryMb,
    ),
    connectTimeoutMs: positive('connectTimeoutMs', options.connectTimeoutMs, HBONE_DEFAULTS.connectTimeoutMs),
    pingIntervalMs: positive('pingIntervalMs', options.pingIntervalMs, HBONE_DEFAULTS.pingIntervalMs),
    pingTimeoutMs: positive('pingTimeoutMs', options.pingTimeoutMs, HBONE_DEFAULTS.pingTimeoutMs),
  };
  const responseTimeoutMs = positive(
    'responseTimeoutMs',
    options.responseTimeoutMs,
    HBONE_DEFAULTS.responseTimeoutMs,
  );
  const pool = new ConnectionPool({
    clock,
    idleTimeoutMs: positive('idleTimeoutMs', options.idleTimeoutMs, HBONE_DEFAULTS.idleTimeoutMs),
  });

  interface Hop {
    readonly authority: HboneAddress;
    readonly authorityText: string;
    readonly via: string;
    readonly headers: Record<string, string>;
    readonly signal: AbortSignal | undefined;
    readonly startedAt: number;
    readonly requestBaggage: Baggage;
  }

  function baseEvent(
    hop: Hop,
    connection: ClientConnection | undefined,
    streamId?: number,
  ): HboneStreamEvent {
    return {
      direction: 'outbound',
      connectionId: connection?.id,
      streamId,
      sourceAddress: connection?.localAddress,
      sourceIdentity: currentIdentity(source),
      destinationAddress: connection?.remoteAddress ?? hop.via,
      destinationIdentity: connection?.peerIdentity,
      authority: hop.authorityText,
      requestBaggage: hop.requestBaggage,
    };
  }

  /** Publishes a tunnel that could not be opened; returns the error to throw. */
  function reportFailure(
    hop: Hop,
    connection: ClientConnection | undefined,
    failure: HboneError,
  ): HboneError {
    publish('streamFailed', () => ({
      ...baseEvent(hop, connection),
      error: failure,
      durationMs: performance.now() - hop.startedAt,
    }));
    return failure;
  }

  /**
   * Sends the CONNECT on a connection whose slot is reserved, and waits for the answer.
   */
  function request(connection: ClientConnection, hop: Hop): Promise<TunnelStream> {
    let h2: ClientHttp2Stream;
    try {
      h2 = connection.request(hop.headers);
    } catch (error) {
      connection.release();
      throw new HboneError('HBONE_ERR_GOAWAY', 'the connection stopped taking streams', { cause: error });
    }
    let released = false;
    const release = (): void => {
      if (released) return;
      released = true;
      connection.release();
    };
    h2.once('close', release);
    return new Promise<TunnelStream>((resolve, reject) => {
      let settled = false;
      const settle = (error: HboneError | undefined, stream?: TunnelStream): void => {
        if (settled) return;
        settled = true;
        clearTimeout(timer);
        hop.signal?.removeEventListener('abort', onAbort);
        h2.removeListener('close', onEarlyClose);
        // On failure the early 'error' listener stays: the reset stream may still report an error, and an
        // 'error' without a listener would crash the process.
        if (error !== undefined) {
          if (!h2.closed && !h2.destroyed) h2.close(NGHTTP2_CANCEL);
          reject(error);
        } else if (stream !== undefined) {
          resolve(stream);
        }
      };
      let streamError: Error | undefined;
      const onEarlyError = (error: Error): void => {
        streamError = error;
      };
      const onEarlyClose = (): void => {
        if (h2.rstCode === NGHTTP2_REFUSED_STREAM) {
          settle(new HboneError('HBONE_ERR_GOAWAY', 'the server refused the stream (GOAWAY)'));
          return;
        }
        const cause = connection.error ?? streamError;
        if (cause instanceof HboneError) {
          settle(cause);
          return;
        }
        settle(
          connection.state === 'ready' && h2.rstCode !== undefined && h2.rstCode !== 0
            ? new HboneError(
                'HBONE_ERR_STREAM_RESET',
                `the server reset the CONNECT with HTTP/2 error code ${h2.rstCode}`,
                {
                  cause,
                },
              )
            : new HboneError(
                'HBONE_ERR_CONNECTION_CLOSED',
                'the connection closed before the CONNECT was answered',
                {
                  cause,
                },
              ),
        );
      };
      const onAbort = (): void => settle(abortError(hop.signal as AbortSignal));
      const timer = setTimeout(
        () =>
          settle(
            new HboneError('HBONE_ERR_RESPONSE_TIMEOUT', `no CONNECT answer within ${responseTimeoutMs} ms`),
          ),
        responseTimeoutMs,
      );
      timer.unref();
      if (hop.signal?.aborted) {
        onAbort();
        return;
      }
      hop.signal?.addEventListener('abort', onAbort, { once: true });
      h2.on('error', onEarlyError);
      h2.once('close', onEarlyClose);
      h2.once('response', (headers) => {
        // Already given up on (aborted, timed out): the stream was reset; build no tunnel nobody would own.
        if (settled) return;
        const answer = parseConnectResponse(headers);
        if (answer.isErr()) {
          settle(answer.error);
          return;
        }
        const peerBaggage = answer.value.baggage;
        const event = {
          ...baseEvent(hop, connection, h2.id),
          ...(peerBaggage === undefined ? {} : { responseBaggage: peerBaggage }),
        };
        const stream = new TunnelStream(h2, {
          authority: hop.authorityText,
          peerIdentity: connection.peerIdentity,
          peerBaggage,
          onClose: (close) =>
            publish('streamClosed', () => ({
              ...event,
              bytesSent: close.bytesSent,
              bytesReceived: close.bytesReceived,
              durationMs: performance.now() - hop.startedAt,
              ...(close.error === undefined ? {} : { error: close.error }),
            })),
        });
        // The tunnel swallows the stream's own errors from now on; drop the early listener.
        h2.removeListener('error', onEarlyError);
        publish('streamOpened', () => event);
        settle(undefined, stream);
      });
    });
  }

  function buildHop(
    connect: HboneConnectOptions,
    authority: HboneAddress,
    via: string,
    extra: { forwardedNetwork?: string },
  ): Hop {
    const requestBaggage = connect.baggage ?? options.baggage ?? {};
    const headers = buildConnectRequest({
      authority,
      baggage: requestBaggage,
      ...(connect.forwarded === undefined ? {} : { forwarded: connect.forwarded }),
      traceparent: connect.traceparent ?? randomTraceparent(),
      ...(extra.forwardedNetwork === undefined ? {} : { forwardedNetwork: extra.forwardedNetwork }),
      ...(connect.headers === undefined ? {} : { headers: connect.headers }),
    });
    return {
      authority,
      authorityText: formatAuthority(authority),
      via,
      headers,
      signal: connect.signal,
      startedAt: performance.now(),
      requestBaggage,
    };
  }

  async function openPooled(
    connect: HboneConnectOptions,
    hop: Hop,
    via: { host: string; port: number; text: string },
    expected: string[],
  ): Promise<TunnelStream> {
    const sourceIp = connect.sourceIp === undefined ? undefined : canonicalIp(connect.sourceIp)?.ip;
    const key: HbonePoolKey = {
      sourceIdentity: currentIdentity(source),
      destinationIdentities: expected,
      destinationAddress: via.text,
      sourceIp,
    };
    const target: DialTarget = {
      host: via.host,
      port: via.port,
      sourceIp,
      tlsOptions: () => clientTlsOptions(source, bundles, expected),
      ...(connectSocket === undefined ? {} : { connectSocket }),
      signal: closing.signal,
    };
    // A stream refused by a GOAWAY never reached the server: retry it on another connection (twice at most).
    for (let attempt = 0; ; attempt++) {
      let connection: ClientConnection | undefined;
      try {
        connection = await pool.acquire(key, () => dialClientConnection(target, settings, clock), hop.signal);
        return await request(connection, hop);
      } catch (error) {
        const failure = asHboneError(error);
        if (failure.code === 'HBONE_ERR_GOAWAY' && attempt < 2) continue;
        throw reportFailure(hop, connection, failure);
      }
    }
  }

  async function openOver(
    transport: Duplex,
    hop: Hop,
    via: { host: string; port: number },
    expected: string[],
  ): Promise<TunnelStream> {
    let connection: ClientConnection | undefined;
    try {
      // The inner connection of double HBONE is never pooled: one per user connection, "otherwise we would
      // only ever reach one workload in the remote cluster" (zt:src/proxy/outbound.rs).
      connection = await dialClientConnection(
        {
          host: via.host,
          port: via.port,
          sourceIp: undefined,
          tlsOptions: () => clientTlsOptions(source, bundles, expected),
          transport,
        },
        settings,
        clock,
      );
      const inner = connection;
      inner.onGone(() => transport.destroy());
      inner.reserve();
      const stream = await request(inner, hop);
      stream.once('close', () => void inner.close(HBONE_DEFAULTS.drainDeadlineMs));
      return stream;
    } catch (error) {
      if (connection !== undefined) void connection.close(0);
      transport.destroy();
      throw reportFailure(hop, connection, asHboneError(error));
    }
  }

  return {
    pool,
    async connect(connect: HboneConnectOptions): Promise<HboneStream> {
      if (typeof connect !== 'object' || connect === null)
        throw new TypeError('connect: "options" must be an object');
      if (closing.signal.aborted) throw new HboneError('HBONE_ERR_CLOSED', 'the HBONE client is closed');
      const via = parseVia(connect.via);
      const authority = parseTarget(connect.authority);
      const expected = identities('expectedIdentities', connect.expectedIdentities);
      if (connect.sourceIp !== undefined && isIP(connect.sourceIp) === 0) {
        throw new TypeError(
          `connect: "sourceIp" must be an IP address, got ${JSON.stringify(connect.sourceIp)}`,
        );
      }
      if (connect.doubleHbone === undefined) {
        return openPooled(connect, buildHop(connect, authority, via.text, {}), via, expected);
      }
      const gateway = identities('doubleHbone.gatewayIdentities', connect.doubleHbone.gatewayIdentities);
      // Outer: the same authority to the gateway, pooled, checked against the gateway's identities.
      const outer = await openPooled(connect, buildHop(connect, authority, via.text, {}), via, gateway);
      // Inner: TLS + HTTP/2 + CONNECT over the outer tunnel, checked against the destination's identities.
      return openOver(
        outer,
        buildHop(connect, authority, via.text, { forwardedNetwork: connect.doubleHbone.network }),
        via,
        expected,
      );
    },
    async close(closeOptions?: { readonly deadlineMs?: number }): Promise<void> {
      if (!closing.signal.aborted) {
        closing.abort(new HboneError('HBONE_ERR_CLOSED', 'the HBONE client is closed'));
      }
      await pool.close(closeOptions?.deadlineMs ?? HBONE_DEFAULTS.drainDeadlineMs);
    },
  };
}
