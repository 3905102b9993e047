/**
 * One outbound HBONE connection: TCP → TLS 1.3 (ALPN `h2`, SPIFFE mTLS) → HTTP/2 with ztunnel's client
 * settings (istio/ztunnel@62d82653:src/proxy/h2/client.rs: 4 MiB stream and 16 MiB connection windows, 1 MiB
 * frames, no push, 16 KiB header lists), PING keepalive, and the bookkeeping the pool needs.
 *
 * State machine: `ready` (takes new streams while below its stream limit) → `draining` (GOAWAY received,
 * evicted as idle, or the client closing: no new streams, closes once its streams are done) → `closed`.
 * @module
 */
import type { Duplex } from 'node:stream';
import tls from 'node:tls';
import type { ClientConnectionSettings } from './client-options.js';
import type { HboneClock } from './clock.js';
import { HboneError } from './codec/errors.js';
import { connectTcp, type HboneSocketFactory, openSocket } from './connect-socket.js';
import { HBONE_DEFAULTS } from './defaults.js';
import { newConnectionId, publish } from './diagnostics.js';
import { H2Session } from './h2-session.js';
import type { H2Stream } from './h2-stream.js';
import { hostPort } from './host-port.js';
import { describeTlsFailure, peerIdentityOf } from './tls.js';

export type { ClientConnectionSettings } from './client-options.js';

/** Where and how to dial. */
export interface DialTarget {
  /** The HBONE hop: host (an IP) and port. */
  readonly host: string;
  readonly port: number;
  /** Bind the local end to this IP (the pool key's source IP). */
  readonly sourceIp: string | undefined;
  /**
   * Makes TLS options (`@ambient-kit/spiffe`'s `mtlsClientOptions`, bound to the expected identities). Called
   * once per dial: the builder records the verified peer per options object, and reads the current SVID.
   */
  readonly tlsOptions: () => tls.ConnectionOptions;
  /** Carry the connection over this stream instead of dialing TCP (the inner hop of double HBONE). */
  readonly transport?: Duplex;
  /** Makes the TCP socket when there is no `transport`. Default {@link connectTcp}. */
  readonly connectSocket?: HboneSocketFactory;
  /** Gives up the dial when aborted (the client closing), with the signal's reason. */
  readonly signal?: AbortSignal;
}

type ConnectionState = 'ready' | 'draining' | 'closed';

/**
 * A connected HBONE client connection. Built by {@link dialClientConnection}.
 *
 * @example
 * ```ts
 * const connection = await dialClientConnection(target, settings, systemClock);
 * connection.reserve();
 * const stream = connection.request(fields);
 * ```
 */
export class ClientConnection {
  readonly id: number;
  readonly session: H2Session;
  /** The server's SPIFFE ID, from its verified certificate. */
  readonly peerIdentity: string | undefined;
  readonly localAddress: string;
  readonly remoteAddress: string;
  readonly #limit: number;
  #state: ConnectionState = 'ready';
  #active = 0;
  #total = 0;
  #lastUsedAt: number;
  #clock: HboneClock;
  #openedAt: number;
  #onGone: Set<(connection: ClientConnection) => void> = new Set();

  /**
   * @param session - A session whose peer SETTINGS arrived.
   * @param init - Identity, limits, the clock and the socket's addresses.
   */
  constructor(
    session: H2Session,
    init: {
      peerIdentity: string | undefined;
      maxStreamsPerConnection: number;
      clock: HboneClock;
      localAddress: string;
      remoteAddress: string;
    },
  ) {
    this.id = newConnectionId();
    this.session = session;
    this.peerIdentity = init.peerIdentity;
    this.#limit = init.maxStreamsPerConnection;
    this.#clock = init.clock;
    this.#lastUsedAt = init.clock.now();
    this.#openedAt = performance.now();
    this.localAddress = init.localAddress;
    this.remoteAddress = init.remoteAddress;
    publish('connectionOpened', () => ({
      direction: 'outbound',
      connectionId: this.id,
      localAddress: this.localAddress,
      remoteAddress: this.remoteAddress,
      peerIdentity: this.peerIdentity,
    }));
  }

  /** @internal The session's GOAWAY: no new streams here (a GOAWAY'd connection is never reused). */
  onGoaway(): void {
    this.retire();
  }

  /** @internal The session is gone. */
  onClosed(error: Error | undefined): void {
    if (this.#state === 'closed') return;
    this.#state = 'closed';
    for (const gone of this.#onGone) gone(this);
    this.#onGone.clear();
    publish('connectionClosed', () => ({
      direction: 'outbound',
      connectionId: this.id,
      localAddress: this.localAddress,
      remoteAddress: this.remoteAddress,
      peerIdentity: this.peerIdentity,
      streams: this.#total,
      durationMs: performance.now() - this.#openedAt,
      ...(error === undefined ? {} : { error }),
    }));
  }

  /** min(the client's per-connection limit, the server's SETTINGS_MAX_CONCURRENT_STREAMS now). */
  get maxStreams(): number {
    return Math.min(this.#limit, this.session.remoteSettings.maxConcurrentStreams);
  }

  /** `ready`, `draining` or `closed`. */
  get state(): ConnectionState {
    if (this.#state === 'ready' && this.session.state !== 'open') this.#state = 'draining';
    return this.#state;
  }

  /** Streams open on this connection. */
  get activeStreams(): number {
    return this.#active;
  }

  /** When a stream was last opened or closed, on the pool's clock. */
  get lastUsedAt(): number {
    return this.#lastUsedAt;
  }

  /** Whether a new stream may be opened now. */
  get hasCapacity(): boolean {
    return this.state === 'ready' && this.#active < this.maxStreams && this.session.canOpenStream;
  }

  /** Why the connection failed, if it did. */
  get error(): Error | undefined {
    return this.session.error;
  }

  /**
   * Registers a callback for when the connection closes.
   *
   * @param callback - Called once with this connection.
   */
  onGone(callback: (connection: ClientConnection) => void): void {
    if (this.#state === 'closed') callback(this);
    else this.#onGone.add(callback);
  }

  /** Reserves a stream slot; the caller must call {@link release} exactly once. */
  reserve(): void {
    this.#active++;
    this.#total++;
    this.#lastUsedAt = this.#clock.now();
  }

  /** Frees a stream slot; a draining connection closes once its last stream is gone. */
  release(): void {
    this.#active--;
    this.#lastUsedAt = this.#clock.now();
    if (this.#active === 0 && this.#state === 'draining') void this.session.close(Number.POSITIVE_INFINITY);
  }

  /**
   * Sends a CONNECT on this connection.
   *
   * @param fields - The request header block.
   * @returns The request stream.
   * @throws {HboneError} `HBONE_ERR_GOAWAY` when the connection takes no new streams.
   */
  request(fields: readonly (readonly [string, string])[]): H2Stream {
    return this.session.request(fields);
  }

  /** Stops taking new streams; closes the connection (with GOAWAY) once its streams are done. */
  retire(): void {
    if (this.#state !== 'ready') return;
    this.#state = 'draining';
    if (this.#active === 0) void this.session.close(Number.POSITIVE_INFINITY);
  }

  /**
   * Closes now: GOAWAY, then a hard close after `deadlineMs` if streams are still open.
   *
   * @param deadlineMs - Grace period for open streams.
   * @returns Resolves once the connection is closed.
   */
  close(deadlineMs: number): Promise<void> {
    if (this.#state === 'closed') return Promise.resolve();
    this.#state = 'draining';
    return new Promise((resolve) => {
      this.onGone(() => resolve());
      void this.session.close(deadlineMs);
    });
  }
}

/**
 * Dials an HBONE connection: the TCP socket (from `target.connectSocket`, or `target.transport`), the TLS
 * handshake, the HTTP/2 preface and the server's SETTINGS, all within `connectTimeoutMs`.
 *
 * @param target - Where, from which source IP, over which socket factory, with which TLS options.
 * @param settings - HTTP/2 settings and timers.
 * @param clock - The pool's clock.
 * @returns The ready connection.
 * @throws {HboneError} `HBONE_ERR_CONNECT_TIMEOUT`, `HBONE_ERR_CONNECTION_FAILED`, `HBONE_ERR_TLS_HANDSHAKE`,
 *   `HBONE_ERR_PEER_IDENTITY`, `HBONE_ERR_PROTOCOL`, or the reason of `target.signal`.
 *
 * @example
 * ```ts
 * const connection = await dialClientConnection(
 *   { host: '10.244.0.42', port: 15008, sourceIp: undefined, tlsOptions: () => clientTlsOptions(source, bundles, [serverId]) },
 *   settings,
 *   systemClock,
 * );
 * ```
 */
export async function dialClientConnection(
  target: DialTarget,
  settings: ClientConnectionSettings,
  clock: HboneClock,
): Promise<ClientConnection> {
  const where = hostPort(target.host, target.port);
  let tcpConnected = target.transport !== undefined;
  // One deadline for the whole setup (ztunnel's CONNECTION_TIMEOUT), shared with the socket factory.
  const deadline = new AbortController();
  const timer = setTimeout(() => {
    deadline.abort(
      tcpConnected
        ? new HboneError(
            'HBONE_ERR_CONNECT_TIMEOUT',
            `TLS/HTTP2 setup with ${where} timed out after ${settings.connectTimeoutMs} ms`,
          )
        : new HboneError(
            'HBONE_ERR_CONNECT_TIMEOUT',
            // istio/ztunnel@62d82653:src/proxy/pool.rs: the most common cause in a cluster.
            `connection to ${where} timed out, maybe a NetworkPolicy is blocking HBONE port 15008`,
          ),
    );
  }, settings.connectTimeoutMs);
  timer.unref();
  const signal =
    target.signal === undefined ? deadline.signal : AbortSignal.any([deadline.signal, target.signal]);
  try {
    let transport: Duplex;
    if (target.transport === undefined) {
      try {
        const raw = await openSocket(target.connectSocket ?? connectTcp, {
          host: target.host,
          port: target.port,
          sourceIp: target.sourceIp,
          signal,
        });
        // TCP_NODELAY on, keepalive 180 s (istio/ztunnel@62d82653:src/proxy.rs).
        raw.setNoDelay(true);
        raw.setKeepAlive(true, HBONE_DEFAULTS.tcpKeepaliveMs);
        transport = raw;
      } catch (error) {
        if (signal.aborted) throw signal.reason;
        if (error instanceof HboneError) throw error;
        throw new HboneError(
          'HBONE_ERR_CONNECTION_FAILED',
          `cannot connect to ${where}: ${(error as Error)?.message ?? String(error)}`,
          { cause: error },
        );
      }
      tcpConnected = true;
    } else {
      transport = target.transport;
    }
    return await secureSession(transport, target, settings, clock, where, signal);
  } finally {
    clearTimeout(timer);
  }
}

/** TLS and HTTP/2 over a connected transport, until the server's SETTINGS arrive or `signal` aborts. */
function secureSession(
  transport: Duplex,
  target: DialTarget,
  settings: ClientConnectionSettings,
  clock: HboneClock,
  where: string,
  signal: AbortSignal,
): Promise<ClientConnection> {
  const socket = tls.connect({ ...target.tlsOptions(), socket: transport });
  let session: H2Session | undefined;
  let connection: ClientConnection | undefined;
  let settled = false;
  return new Promise<ClientConnection>((resolve, reject) => {
    const fail = (error: HboneError): void => {
      if (settled) return;
      settled = true;
      signal.removeEventListener('abort', onAbort);
      reject(error);
      session?.destroy(error);
      socket.destroy();
      transport.destroy();
    };
    const onAbort = (): void => fail(signal.reason as HboneError);
    if (signal.aborted) {
      onAbort();
      return;
    }
    signal.addEventListener('abort', onAbort, { once: true });

    // Until the server's SETTINGS arrive, any socket failure fails the dial. TLS 1.3: the server checks our
    // certificate after our side of the handshake is done, so its refusal (an alert, a reset) comes here.
    socket.on('error', (error: Error) => fail(describeTlsFailure(error, where)));
    socket.once('close', () =>
      fail(new HboneError('HBONE_ERR_TLS_HANDSHAKE', `${where} closed the connection during setup`)),
    );
    socket.once('secureConnect', () => {
      if (socket.alpnProtocol !== 'h2') {
        fail(
          new HboneError(
            'HBONE_ERR_PROTOCOL',
            `${where} negotiated ALPN ${JSON.stringify(socket.alpnProtocol)}, not h2`,
          ),
        );
        return;
      }
      const peerIdentity = peerIdentityOf(socket);
      const s: H2Session = new H2Session(socket, {
        role: 'client',
        settings: {
          initialWindowSize: settings.streamWindowBytes,
          maxFrameSize: settings.maxFrameBytes,
          maxHeaderListSize: settings.maxHeaderListBytes,
        },
        connectionWindowBytes: settings.connectionWindowBytes,
        pingIntervalMs: settings.pingIntervalMs,
        pingTimeoutMs: settings.pingTimeoutMs,
        peer: where,
        events: {
          onRemoteSettings: (remote, first) => {
            if (!first || settled) return;
            if (remote.maxConcurrentStreams < 1) {
              fail(new HboneError('HBONE_ERR_PROTOCOL', `${where} allows no concurrent streams`));
              return;
            }
            settled = true;
            signal.removeEventListener('abort', onAbort);
            connection = new ClientConnection(s, {
              peerIdentity,
              maxStreamsPerConnection: settings.maxStreamsPerConnection,
              clock,
              localAddress: hostPort(socket.localAddress, socket.localPort),
              remoteAddress: hostPort(socket.remoteAddress, socket.remotePort),
            });
            resolve(connection);
          },
          onGoaway: () => connection?.onGoaway(),
          onClose: (error) => {
            if (!settled) {
              fail(
                error instanceof HboneError
                  ? error
                  : error !== undefined
                    ? describeTlsFailure(error, where)
                    : new HboneError(
                        'HBONE_ERR_TLS_HANDSHAKE',
                        `${where} closed the connection during setup`,
                      ),
              );
              return;
            }
            connection?.onClosed(error);
          },
        },
      });
      session = s;
    });
  });
}
