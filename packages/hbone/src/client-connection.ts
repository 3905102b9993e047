/**
 * One outbound HBONE connection: TCP → TLS 1.3 (ALPN `h2`, SPIFFE mTLS) → HTTP/2 with ztunnel's client
 * settings (hbone.md §1.4, checklist H1), PING keepalive, and the bookkeeping the pool needs.
 *
 * State machine: `ready` (takes new streams while below its stream limit) → `draining` (GOAWAY received,
 * evicted as idle, or the client closing: no new streams, closes once its streams are done) → `closed`.
 * @module
 */
import http2, { type ClientHttp2Session, type ClientHttp2Stream } from 'node:http2';
import type { Duplex } from 'node:stream';
import tls from 'node:tls';
import type { HboneClock } from './clock.js';
import { HboneError } from './codec/errors.js';
import { connectTcp, type HboneSocketFactory, openSocket } from './connect-socket.js';
import { HBONE_DEFAULTS } from './defaults.js';
import { newConnectionId, publish } from './diagnostics.js';
import { hostPort } from './host-port.js';
import { startKeepalive } from './keepalive.js';
import { describeTlsFailure, peerIdentityOf } from './tls.js';

/** The HTTP/2 and transport settings of a client connection. */
export interface ClientConnectionSettings {
  readonly streamWindowBytes: number;
  readonly connectionWindowBytes: number;
  readonly maxFrameBytes: number;
  readonly maxHeaderListBytes: number;
  readonly maxStreamsPerConnection: number;
  readonly maxSessionMemoryMb: number;
  readonly connectTimeoutMs: number;
  readonly pingIntervalMs: number;
  readonly pingTimeoutMs: number;
}

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
 * const stream = connection.request(buildConnectRequest({ authority }));
 * stream.once('close', () => connection.release());
 * ```
 */
export class ClientConnection {
  readonly id: number;
  readonly session: ClientHttp2Session;
  /** The server's SPIFFE ID, from its verified certificate. */
  readonly peerIdentity: string | undefined;
  /** min(the client's per-connection limit, the server's SETTINGS_MAX_CONCURRENT_STREAMS). */
  readonly maxStreams: number;
  readonly localAddress: string;
  readonly remoteAddress: string;
  #state: ConnectionState = 'ready';
  #active = 0;
  #total = 0;
  #lastUsedAt: number;
  #clock: HboneClock;
  #openedAt: number;
  #error: Error | undefined;
  #onGone: Set<(connection: ClientConnection) => void> = new Set();

  /**
   * @param session - A connected session whose SETTINGS arrived.
   * @param init - Identity, limits and the clock.
   */
  constructor(
    session: ClientHttp2Session,
    init: {
      peerIdentity: string | undefined;
      maxStreams: number;
      clock: HboneClock;
      keepalive: ClientConnectionSettings;
      socket: tls.TLSSocket;
    },
  ) {
    this.id = newConnectionId();
    this.session = session;
    this.peerIdentity = init.peerIdentity;
    this.maxStreams = init.maxStreams;
    this.#clock = init.clock;
    this.#lastUsedAt = init.clock.now();
    this.#openedAt = performance.now();
    const socket = session.socket;
    this.localAddress = hostPort(socket.localAddress, socket.localPort);
    this.remoteAddress = hostPort(socket.remoteAddress, socket.remotePort);

    // hbone.md §1.9 / checklist P3: a GOAWAY'd connection is never used for a new stream.
    session.on('goaway', () => this.retire());
    session.on('error', (error: Error) => {
      this.#error ??= error;
    });
    const gone = (): void => {
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
        ...(this.#error === undefined ? {} : { error: this.#error }),
      }));
    };
    session.once('close', gone);
    // A socket that fails while node:http2 is busy may leave the session without a 'close' event: the
    // socket's own close is the backstop.
    init.socket.once('close', () => {
      if (!session.destroyed) session.destroy();
      gone();
    });
    startKeepalive(session, {
      intervalMs: init.keepalive.pingIntervalMs,
      timeoutMs: init.keepalive.pingTimeoutMs,
      onTimeout: () => {
        const error = new HboneError(
          'HBONE_ERR_PING_TIMEOUT',
          `no PING answer from ${this.remoteAddress} within ${init.keepalive.pingTimeoutMs} ms: dropping the connection`,
        );
        this.#error ??= error;
        this.#state = 'draining';
        session.destroy(error);
      },
    });
    publish('connectionOpened', () => ({
      direction: 'outbound',
      connectionId: this.id,
      localAddress: this.localAddress,
      remoteAddress: this.remoteAddress,
      peerIdentity: this.peerIdentity,
    }));
  }

  /** `ready`, `draining` or `closed`. */
  get state(): ConnectionState {
    if (this.#state === 'ready' && (this.session.closed || this.session.destroyed)) this.#state = 'draining';
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
    return this.state === 'ready' && this.#active < this.maxStreams;
  }

  /** Why the connection failed, if it did. */
  get error(): Error | undefined {
    return this.#error;
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
    if (this.#active === 0 && this.#state === 'draining' && !this.session.closed) this.session.close();
  }

  /**
   * Sends a CONNECT on this connection.
   *
   * @param headers - From `buildConnectRequest`.
   * @returns The request stream.
   * @throws {Error} Node's `ERR_HTTP2_GOAWAY_SESSION` / `ERR_HTTP2_INVALID_SESSION` when the session closed
   *   in the meantime.
   */
  request(headers: Record<string, string>): ClientHttp2Stream {
    return this.session.request(headers, { endStream: false });
  }

  /** Stops taking new streams; closes the connection (with GOAWAY) once its streams are done. */
  retire(): void {
    if (this.#state !== 'ready') return;
    this.#state = 'draining';
    if (this.#active === 0 && !this.session.closed && !this.session.destroyed) this.session.close();
  }

  /**
   * Closes now: GOAWAY, then a hard close after `deadlineMs` if streams are still open.
   *
   * @param deadlineMs - Grace period for open streams.
   * @returns Resolves once the connection is closed.
   */
  close(deadlineMs: number): Promise<void> {
    if (this.#state === 'closed') return Promise.resolve();
    return new Promise((resolve) => {
      this.onGone(() => resolve());
      this.#state = 'draining';
      if (!this.session.closed && !this.session.destroyed) this.session.close();
      const timer = setTimeout(() => {
        if (!this.session.destroyed) {
          this.session.destroy(
            new HboneError('HBONE_ERR_DRAIN_TIMEOUT', `streams still open after ${deadlineMs} ms`),
          );
        }
      }, deadlineMs);
      timer.unref();
      this.onGone(() => clearTimeout(timer));
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
            // zt:src/proxy/pool.rs L88-93: the most common cause in a cluster.
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
        // hbone.md §1.5: TCP_NODELAY on, keepalive 180 s.
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
  let session: ClientHttp2Session | undefined;
  let settled = false;
  return new Promise<ClientConnection>((resolve, reject) => {
    const fail = (error: HboneError): void => {
      if (settled) return;
      settled = true;
      signal.removeEventListener('abort', onAbort);
      reject(error);
      if (session !== undefined) session.destroy();
      socket.destroy();
      transport.destroy();
    };
    const onAbort = (): void => fail(signal.reason as HboneError);
    if (signal.aborted) {
      onAbort();
      return;
    }
    signal.addEventListener('abort', onAbort, { once: true });

    // Until the server's SETTINGS arrive, any socket failure fails the dial. Watch the socket itself: when
    // it fails while node:http2 is still setting the session up, the session may never report it.
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
      const s = http2.connect(`https://${where}`, {
        createConnection: () => socket,
        // Checklist H1: INITIAL_WINDOW_SIZE 4 MiB, MAX_FRAME_SIZE 1 MiB, ENABLE_PUSH 0, 16 KiB header list.
        settings: {
          enablePush: false,
          initialWindowSize: settings.streamWindowBytes,
          maxFrameSize: settings.maxFrameBytes,
          maxHeaderListSize: settings.maxHeaderListBytes,
        },
        maxSessionMemory: settings.maxSessionMemoryMb,
        // Until the server's SETTINGS arrive, assume ztunnel's own limit.
        peerMaxConcurrentStreams: settings.maxStreamsPerConnection,
      });
      session = s;
      // TLS 1.3: the server checks our certificate after our side of the handshake is done, so its refusal
      // (an alert, or a reset) arrives here, before its SETTINGS.
      const onSetupError = (error: Error): void => fail(describeTlsFailure(error, where));
      s.on('error', onSetupError);
      s.once('connect', () => {
        // The 16 MiB connection window is a WINDOW_UPDATE on stream 0, not a setting (checklist H1).
        if (!s.destroyed) s.setLocalWindowSize(settings.connectionWindowBytes);
      });
      s.once('remoteSettings', (remote) => {
        if (settled) return;
        const peerLimit = remote.maxConcurrentStreams ?? 2 ** 32 - 1;
        const maxStreams = Math.min(settings.maxStreamsPerConnection, peerLimit);
        if (maxStreams < 1) {
          fail(new HboneError('HBONE_ERR_PROTOCOL', `${where} allows no concurrent streams`));
          return;
        }
        settled = true;
        signal.removeEventListener('abort', onAbort);
        const connection = new ClientConnection(s, {
          peerIdentity,
          maxStreams,
          clock,
          keepalive: settings,
          socket,
        });
        s.removeListener('error', onSetupError);
        resolve(connection);
      });
    });
  });
}
