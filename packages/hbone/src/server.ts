/**
 * The HBONE server: terminates HTTP/2 CONNECT over SPIFFE mTLS like ztunnel's inbound listener on 15008
 * (hbone.md §1.2-§1.7): the client must present a certificate in the server's trust domain; each CONNECT is
 * parsed, checked, authorized (401), connected upstream (503) and only then answered 200; the bytes are
 * joined both ways with half-close and backpressure (`bridge.ts`).
 * @module
 */
import http2, {
  type Http2Session,
  type IncomingHttpHeaders,
  type ServerHttp2Session,
  type ServerHttp2Stream,
} from 'node:http2';
import net, { type AddressInfo } from 'node:net';
import type { Duplex } from 'node:stream';
import tls, { type TLSSocket } from 'node:tls';
import type { BundleSource } from '@ambient-kit/spiffe';
import { type Bridge, bridge } from './bridge.js';
import { formatAuthority, type HboneAddress } from './codec/authority.js';
import type { Baggage } from './codec/baggage.js';
import { parseConnectRequest } from './codec/connect-request.js';
import { buildConnectResponse } from './codec/connect-response.js';
import { HboneError } from './codec/errors.js';
import { checkTarget, ILLEGAL_TARGET_PORTS } from './codec/target.js';
import type { ConnectUpstream, HboneAuthorize, HboneRequestContext } from './context.js';
import { HBONE_DEFAULTS, positiveOption } from './defaults.js';
import { type HboneStreamEvent, newConnectionId, publish } from './diagnostics.js';
import { hostPort } from './host-port.js';
import { startKeepalive } from './keepalive.js';
import { abortError } from './pool.js';
import {
  bindServerTls,
  currentIdentity,
  peerIdentityOf,
  type SvidInput,
  serverTlsOptions,
  toSvidSource,
} from './tls.js';
import { tcpUpstream } from './upstream.js';

/** Options of {@link createHboneServer}. Every default is ztunnel's. */
export interface HboneServerOptions {
  /** This workload's X.509-SVID (an `SvidSource` rotates without a restart, or a fixed `X509Svid`). */
  readonly svid: SvidInput;
  /** Trust bundles for verifying clients. */
  readonly bundles: BundleSource;
  /**
   * Authorizes each CONNECT (peer ID, target, headers, addresses); `false` answers 401. Default: allow.
   * `@ambient-kit/authz` plugs in here.
   */
  readonly authorize?: HboneAuthorize;
  /** Connects the upstream of each authorized CONNECT; failure answers 503. Default {@link tcpUpstream}(). */
  readonly connectUpstream?: ConnectUpstream;
  /**
   * Which client certificates pass the TLS handshake, by SPIFFE ID. Default: any ID in the server's own
   * trust domain (ztunnel's `TrustDomainVerifier`).
   */
  readonly authorizePeer?: (peerIdentity: string) => boolean;
  /** `baggage` of 200 answers: this workload's metadata (ztunnel `ENABLE_RESPONSE_BAGGAGE`). */
  readonly baggage?: Baggage | ((context: HboneRequestContext) => Baggage | undefined);
  /**
   * Answer 400 when a socket-address `:authority` does not name the IP the client connected to (ztunnel's
   * `validate_destination`). Default `true`; turn off in a waypoint or gateway that forwards elsewhere.
   */
  readonly checkDestinationIp?: boolean;
  /** Target ports answered 503. Default 15001, 15006, 15008, 15080. */
  readonly illegalPorts?: readonly number[];
  /** Advertised SETTINGS_MAX_CONCURRENT_STREAMS. Default 200. */
  readonly maxConcurrentStreams?: number;
  /** SETTINGS_INITIAL_WINDOW_SIZE. Default 4 MiB. */
  readonly streamWindowBytes?: number;
  /** Connection window. Default 16 MiB. */
  readonly connectionWindowBytes?: number;
  /** SETTINGS_MAX_FRAME_SIZE. Default 1 MiB. */
  readonly maxFrameBytes?: number;
  /** SETTINGS_MAX_HEADER_LIST_SIZE. Default 64 KiB. */
  readonly maxHeaderListBytes?: number;
  /** node:http2 `maxSessionMemory`, MB. Default 256. */
  readonly maxSessionMemoryMb?: number;
  /** PING interval. Default 10 s. */
  readonly pingIntervalMs?: number;
  /** Close a connection whose PING is unanswered this long. Default 20 s. */
  readonly pingTimeoutMs?: number;
  /** Default grace period of {@link HboneServer.close}. Default 5 s (`CONNECTION_TERMINATION_DEADLINE`). */
  readonly drainDeadlineMs?: number;
  /** Default listen port. Default 15008. */
  readonly port?: number;
  /** Default listen address. Default `::` (all addresses, dual-stack). */
  readonly host?: string;
}

/** Where {@link HboneServer.listen} binds, or which listening socket it serves. */
export interface HboneListenOptions {
  /** Default: the server's `port` option, else 15008. `0` picks a free port. */
  readonly port?: number;
  /** Default: the server's `host` option, else `::`. */
  readonly host?: string;
  /**
   * Serve the connections this plain TCP `net.Server` accepts, instead of binding a socket: a listener made
   * elsewhere, such as `listenInNetns` opening 15008 inside a pod's network namespace, as ztunnel does in
   * in-pod mode. It is served from its next `'connection'` on (it may still be about to listen). Call `listen`
   * once per listener: one server serves any number of them. The server owns it from then on:
   * {@link HboneServer.close} closes it; closing it yourself stops serving it (its tunnels stay open).
   * Not with `port` or `host`.
   */
  readonly server?: net.Server;
}

/** Counts describing a server at this instant. */
export interface HboneServerStats {
  /** Open HBONE connections. */
  readonly connections: number;
  /** Open tunnels. */
  readonly streams: number;
  /** TLS handshakes accepted since creation. */
  readonly handshakes: number;
  /** CONNECTs refused since creation, by status. */
  readonly refused: Readonly<Record<number, number>>;
}

/** An HBONE server. */
export interface HboneServer {
  /**
   * Starts listening: binds a socket (once per server), or serves a listener made elsewhere
   * (`{ server }`, any number of times).
   *
   * @param port - A port, `{ port, host }`, or `{ server }`. Defaults: the options' `port` (15008) and `host`
   *   (`::`).
   * @param host - The address when `port` is a number.
   * @returns The bound address (of `server`, once it listens).
   * @throws {TypeError} When `server` is not a listening-capable `net.Server` (a `tls.Server` would do TLS
   *   itself), is given with `port` or `host`, or listens on a path rather than a TCP port.
   * @throws {RangeError} When `port` is out of range.
   * @throws {HboneError} `HBONE_ERR_CLOSED` after {@link close}.
   * @example
   * ```ts
   * await server.listen({ port: 15008 });
   * // ztunnel in-pod: each pod's 15008, opened inside its network namespace
   * await server.listen({ server: await listenInNetns('/var/run/netns/echo', { port: 15008 }) });
   * ```
   */
  listen(port?: number | HboneListenOptions, host?: string): Promise<AddressInfo>;
  /**
   * Serves one raw TCP connection accepted elsewhere: the TLS handshake, HTTP/2 and each CONNECT, exactly as
   * for the server's own listeners. For a proxy that accepts connections itself (one process serving many
   * pods' listeners, a port shared with another protocol). The socket must be fresh: nothing read from it
   * yet. {@link close} treats it as any other connection (GOAWAY, then a hard close at the deadline); once
   * the server is closing, new sockets are destroyed.
   *
   * @param socket - An accepted, connected `net.Socket` (not a `tls.TLSSocket`).
   * @throws {TypeError} When `socket` is not a plain `net.Socket`.
   * @example
   * ```ts
   * const listener = net.createServer((socket) => server.handleConnection(socket));
   * listener.listen(15008);
   * ```
   */
  handleConnection(socket: net.Socket): void;
  /** @returns The address of the first listener (the server's own, else the first `{ server }`), or `null`. */
  address(): AddressInfo | null;
  /**
   * Graceful shutdown as ztunnel drains (hbone.md §1.5): stop accepting on every listener (its own and each
   * `{ server }`), send GOAWAY on every connection (from any listener or {@link handleConnection}) so clients
   * open no new streams, let open tunnels finish, and force-close what is left after the deadline, TLS
   * handshakes still in progress included.
   *
   * @param options - `deadlineMs`, default the server's `drainDeadlineMs` (5 s).
   * @returns Resolves once every connection is closed.
   */
  close(options?: { readonly deadlineMs?: number }): Promise<void>;
  /** @returns Counts at this instant. */
  stats(): HboneServerStats;
}

interface SessionInfo {
  readonly id: number;
  readonly peerIdentity: string;
  readonly localAddress: string;
  readonly localPort: number;
  readonly remoteAddress: string;
  readonly remotePort: number;
  /** `localAddress:localPort` and `remoteAddress:remotePort` as text, for events and messages. */
  readonly local: string;
  readonly remote: string;
  readonly openedAt: number;
  streams: number;
  error: Error | undefined;
}

const RAW_SOCKET = Symbol('ambient-kit.hbone.rawSocket');

function unmapped(address: string): string {
  // A dual-stack listener reports IPv4 peers as ::ffff:a.b.c.d.
  return address.startsWith('::ffff:') && address.includes('.') ? address.slice(7) : address;
}

function positive(name: string, value: number | undefined, fallback: number): number {
  return positiveOption('createHboneServer', name, value, fallback, true);
}

/**
 * Creates an HBONE server. Call `listen()` to start it.
 *
 * @param options - The identity, trust bundles, policy and upstream hooks, and optional overrides.
 * @returns The server.
 * @throws {RangeError} When a numeric option is out of range.
 * @example
 * ```ts
 * const server = createHboneServer({
 *   svid,
 *   bundles,
 *   authorize: (ctx) => ctx.peerIdentity.endsWith('/sa/sleep'),
 * });
 * const { port } = await server.listen({ port: 15008 });
 * // ... later
 * await server.close();
 * ```
 */
export function createHboneServer(options: HboneServerOptions): HboneServer {
  const source = toSvidSource(options.svid);
  const ownTrustDomain = trustDomainOf(currentIdentity(source));
  const authorizePeer = options.authorizePeer ?? ((id: string) => trustDomainOf(id) === ownTrustDomain);
  const connectUpstream = options.connectUpstream ?? tcpUpstream();
  const authorize = options.authorize;
  const drainDeadlineMs = positive(
    'drainDeadlineMs',
    options.drainDeadlineMs,
    HBONE_DEFAULTS.drainDeadlineMs,
  );
  const connectionWindowBytes = positive(
    'connectionWindowBytes',
    options.connectionWindowBytes,
    HBONE_DEFAULTS.connectionWindowBytes,
  );
  const pingIntervalMs = positive('pingIntervalMs', options.pingIntervalMs, HBONE_DEFAULTS.pingIntervalMs);
  const pingTimeoutMs = positive('pingTimeoutMs', options.pingTimeoutMs, HBONE_DEFAULTS.pingTimeoutMs);
  const targetPolicy = {
    checkDestinationIp: options.checkDestinationIp ?? true,
    illegalPorts: options.illegalPorts ?? ILLEGAL_TARGET_PORTS,
  };

  const server = http2.createSecureServer({
    ...serverTlsOptions(source, options.bundles, authorizePeer),
    // Checklist H2: MAX_CONCURRENT_STREAMS 200, INITIAL_WINDOW_SIZE 4 MiB, MAX_FRAME_SIZE 1 MiB,
    // MAX_HEADER_LIST_SIZE 64 KiB.
    settings: {
      maxConcurrentStreams: positive(
        'maxConcurrentStreams',
        options.maxConcurrentStreams,
        HBONE_DEFAULTS.serverMaxConcurrentStreams,
      ),
      initialWindowSize: positive(
        'streamWindowBytes',
        options.streamWindowBytes,
        HBONE_DEFAULTS.streamWindowBytes,
      ),
      maxFrameSize: positive('maxFrameBytes', options.maxFrameBytes, HBONE_DEFAULTS.maxFrameBytes),
      maxHeaderListSize: positive(
        'maxHeaderListBytes',
        options.maxHeaderListBytes,
        HBONE_DEFAULTS.serverMaxHeaderListBytes,
      ),
    },
    maxSessionMemory: positive(
      'maxSessionMemoryMb',
      options.maxSessionMemoryMb,
      HBONE_DEFAULTS.maxSessionMemoryMb,
    ),
    // HBONE is HTTP/2 only (hbone.md §1.1).
    allowHTTP1: false,
  });
  const sessions = new Map<Http2Session, SessionInfo>();
  // Every raw TCP connection, from the moment it is accepted (or handed in) until it closes: close() waits
  // for them, and destroys those still in their TLS handshake at the deadline.
  const sockets = new Set<net.Socket>();
  // Listeners made elsewhere (`listen({ server })`).
  const adopted = new Set<net.Server>();
  const tunnels = new Set<Bridge>();
  const aborts = new Set<AbortController>();
  let handshakes = 0;
  const refused: Record<number, number> = {};
  let closing: Promise<void> | undefined;

  // Each raw socket, from our own listener or handed in (node:tls's 'connection' listener wraps it in TLS).
  server.on('connection', (socket: net.Socket) => {
    sockets.add(socket);
    socket.once('close', () => sockets.delete(socket));
  });

  // The raw TLS socket, reachable through the session's socket proxy (node:http2 forwards property reads but
  // refuses socket manipulation). Prepended before the TLS binding so that a verifier it prepends runs first.
  server.prependListener('secureConnection', (socket: TLSSocket) => {
    (socket as TLSSocket & { [RAW_SOCKET]?: TLSSocket })[RAW_SOCKET] = socket;
    socket.setNoDelay(true);
    socket.setKeepAlive(true, HBONE_DEFAULTS.tcpKeepaliveMs);
  });
  const tlsBinding = bindServerTls(server, source, options.bundles, authorizePeer);

  server.on('session', (session: ServerHttp2Session) => {
    const raw = (session.socket as unknown as { [RAW_SOCKET]?: TLSSocket })[RAW_SOCKET];
    // Every 'secureConnection' listener (the TLS binding's check among them) has run by the next tick, and no
    // stream can arrive before it.
    process.nextTick(() => setupSession(session, raw));
  });

  function setupSession(session: ServerHttp2Session, raw: TLSSocket | undefined): void {
    if (session.destroyed) return;
    const peerIdentity = raw === undefined || raw.destroyed ? undefined : peerIdentityOf(raw);
    // Defense in depth: the TLS layer already refused unverified or foreign clients.
    if (raw === undefined || peerIdentity === undefined || !authorizePeer(peerIdentity)) {
      session.destroy();
      return;
    }
    const socket = raw;
    handshakes++;
    const localAddress = unmapped(socket.localAddress ?? '');
    const localPort = socket.localPort ?? 0;
    const remoteAddress = unmapped(socket.remoteAddress ?? '');
    const remotePort = socket.remotePort ?? 0;
    const info: SessionInfo = {
      id: newConnectionId(),
      peerIdentity,
      localAddress,
      localPort,
      remoteAddress,
      remotePort,
      local: hostPort(localAddress, localPort),
      remote: hostPort(remoteAddress, remotePort),
      openedAt: performance.now(),
      streams: 0,
      error: undefined,
    };
    sessions.set(session, info);
    session.setLocalWindowSize(connectionWindowBytes);
    startKeepalive(session, {
      intervalMs: pingIntervalMs,
      timeoutMs: pingTimeoutMs,
      // zt:src/proxy/h2/server.rs: a ping timeout is an abrupt shutdown with NO_ERROR.
      onTimeout: () => {
        info.error = new HboneError('HBONE_ERR_PING_TIMEOUT', `no PING answer from ${info.remote}`);
        if (!session.destroyed) {
          session.goaway(http2.constants.NGHTTP2_NO_ERROR);
          session.destroy();
        }
      },
    });
    session.on('error', (error: Error) => {
      info.error ??= error;
    });
    session.once('close', () => {
      sessions.delete(session);
      publish('connectionClosed', () => ({
        direction: 'inbound',
        connectionId: info.id,
        localAddress: info.local,
        remoteAddress: info.remote,
        peerIdentity: info.peerIdentity,
        streams: info.streams,
        durationMs: performance.now() - info.openedAt,
        ...(info.error === undefined ? {} : { error: info.error }),
      }));
    });
    publish('connectionOpened', () => ({
      direction: 'inbound',
      connectionId: info.id,
      localAddress: info.local,
      remoteAddress: info.remote,
      peerIdentity: info.peerIdentity,
    }));
    // A handshake that finished while the server drains: GOAWAY at once, as every other connection got.
    if (closing !== undefined && !session.closed) session.close();
  }

  server.on('stream', (stream: ServerHttp2Stream, headers: IncomingHttpHeaders) => {
    const info = sessions.get(stream.session as Http2Session);
    if (info === undefined) {
      stream.close(http2.constants.NGHTTP2_REFUSED_STREAM);
      return;
    }
    info.streams++;
    void serveConnect(stream, headers, info);
  });

  async function serveConnect(
    stream: ServerHttp2Stream,
    headers: IncomingHttpHeaders,
    info: SessionInfo,
  ): Promise<void> {
    const startedAt = performance.now();
    const authorityHeader = headers[':authority'];
    const event: HboneStreamEvent = {
      direction: 'inbound',
      connectionId: info.id,
      streamId: stream.id,
      sourceAddress: info.remote,
      sourceIdentity: info.peerIdentity,
      destinationAddress: info.local,
      destinationIdentity: currentIdentity(source),
      authority: typeof authorityHeader === 'string' ? authorityHeader : '',
    };
    const abort = new AbortController();
    aborts.add(abort);
    const onStreamClose = (): void =>
      abort.abort(new HboneError('HBONE_ERR_ABORTED', 'the client reset the CONNECT'));
    stream.once('close', onStreamClose);
    // Errors on a stream we are about to refuse or that the client reset are reported through 'close'.
    stream.on('error', () => {});
    let upstream: Duplex | undefined;

    const refuse = (error: HboneError): void => {
      aborts.delete(abort);
      stream.removeListener('close', onStreamClose);
      const status = error.status ?? 503;
      refused[status] = (refused[status] ?? 0) + 1;
      // hbone.md §1.7: error answers carry END_STREAM on the HEADERS frame and no body.
      if (!stream.closed && !stream.destroyed && !stream.headersSent) {
        stream.respond(buildConnectResponse({ status }), { endStream: true });
      }
      publish('streamFailed', () => ({ ...event, error, durationMs: performance.now() - startedAt }));
    };

    // The order of ztunnel's inbound (zt:src/proxy/inbound.rs build_inbound_request, serve_connect): method
    // and authority (400), destination IP (400), illegal port (503), policy (401), upstream (503), then 200.
    const parsed = parseConnectRequest(headers);
    if (parsed.isErr()) return refuse(parsed.error);
    const request = parsed.value;
    const target = checkTarget(request.authority, { ...targetPolicy, localIp: info.localAddress });
    if (target.isErr()) return refuse(target.error);
    const context: HboneRequestContext = {
      peerIdentity: info.peerIdentity,
      authority: request.authority,
      authorityText: formatAuthority(request.authority),
      request,
      headers,
      localAddress: info.localAddress,
      localPort: info.localPort,
      remoteAddress: info.remoteAddress,
      remotePort: info.remotePort,
      signal: abort.signal,
    };
    const requestEvent =
      request.baggage === undefined ? event : { ...event, requestBaggage: request.baggage };

    if (authorize !== undefined) {
      let allowed = false;
      let cause: unknown;
      try {
        allowed = (await authorize(context)) === true;
      } catch (error) {
        cause = error;
      }
      if (!allowed) {
        return refuse(
          new HboneError(
            'HBONE_ERR_POLICY_DENIED',
            `${info.peerIdentity} may not connect to ${context.authorityText}`,
            {
              cause,
            },
          ),
        );
      }
    }
    if (abort.signal.aborted) return refuse(abortError(abort.signal));

    try {
      upstream = await connectUpstream(target.value, context);
    } catch (error) {
      return refuse(upstreamError(error, target.value));
    }
    if (abort.signal.aborted || stream.closed || stream.destroyed) {
      upstream.destroy();
      return refuse(abortError(abort.signal));
    }
    stream.removeListener('close', onStreamClose);
    aborts.delete(abort);

    // Checklist H6: 200 only now that the upstream is connected.
    const baggage = typeof options.baggage === 'function' ? options.baggage(context) : options.baggage;
    stream.respond(buildConnectResponse({ status: 200, ...(baggage === undefined ? {} : { baggage }) }), {
      endStream: false,
    });
    const openedEvent = (): HboneStreamEvent =>
      baggage === undefined ? requestEvent : { ...requestEvent, responseBaggage: baggage };
    publish('streamOpened', openedEvent);
    const tunnel = bridge(stream, upstream);
    tunnels.add(tunnel);
    const close = await tunnel.done;
    tunnels.delete(tunnel);
    publish('streamClosed', () => ({
      ...openedEvent(),
      bytesSent: close.bytesSent,
      bytesReceived: close.bytesReceived,
      durationMs: performance.now() - startedAt,
      ...(close.error === undefined ? {} : { error: close.error }),
    }));
  }

  return {
    listen(port?: number | HboneListenOptions, host?: string): Promise<AddressInfo> {
      if (closing !== undefined) throw new HboneError('HBONE_ERR_CLOSED', 'the HBONE server is closed');
      const listenOptions =
        typeof port === 'object'
          ? port
          : { ...(port === undefined ? {} : { port }), ...(host === undefined ? {} : { host }) };
      if (listenOptions.server !== undefined) {
        if (listenOptions.port !== undefined || listenOptions.host !== undefined || host !== undefined) {
          throw new TypeError('listen: "server" cannot be combined with "port" or "host"');
        }
        return adopt(listenOptions.server);
      }
      const bindPort = listenOptions.port ?? options.port ?? 15008;
      const bindHost = listenOptions.host ?? options.host ?? '::';
      if (!Number.isInteger(bindPort) || bindPort < 0 || bindPort > 65535) {
        throw new RangeError(`listen: "port" must be an integer in 0..65535, got ${bindPort}`);
      }
      const attempt = (hostToBind: string): Promise<AddressInfo> =>
        new Promise((resolve, reject) => {
          const onError = (error: Error): void => reject(error);
          server.once('error', onError);
          server.listen({ port: bindPort, host: hostToBind }, () => {
            server.removeListener('error', onError);
            resolve(server.address() as AddressInfo);
          });
        });
      const explicit = listenOptions.host !== undefined || options.host !== undefined;
      return attempt(bindHost).catch((error: NodeJS.ErrnoException) => {
        // The default `::` needs IPv6; on an IPv4-only host fall back to all IPv4 addresses.
        if (explicit || (error.code !== 'EAFNOSUPPORT' && error.code !== 'EADDRNOTAVAIL')) throw error;
        return attempt('0.0.0.0');
      });
    },
    handleConnection,
    address(): AddressInfo | null {
      for (const listener of [server, ...adopted]) {
        const address = listener.address();
        if (address !== null && typeof address === 'object') return address;
      }
      return null;
    },
    stats(): HboneServerStats {
      return { connections: sessions.size, streams: tunnels.size, handshakes, refused: { ...refused } };
    },
    close(closeOptions?: { readonly deadlineMs?: number }): Promise<void> {
      closing ??= drain(closeOptions?.deadlineMs ?? drainDeadlineMs);
      return closing;
    },
  };

  function handleConnection(socket: net.Socket): void {
    // A TLSSocket is a net.Socket too, but TLS on top of TLS is not what anyone means.
    if (!(socket instanceof net.Socket) || socket instanceof tls.TLSSocket) {
      throw new TypeError('handleConnection: "socket" must be a plain TCP net.Socket (TLS is done here)');
    }
    if (closing !== undefined) {
      socket.destroy();
      return;
    }
    // Closed before we got it (an accept racing a reset): nothing to serve.
    if (socket.destroyed) return;
    // What a listening node:tls server does with each accepted socket: its 'connection' listener wraps it in
    // TLS, then 'secureConnection' and node:http2 take over, exactly as for our own listener.
    server.emit('connection', socket);
  }

  function adopt(listener: net.Server): Promise<AddressInfo> {
    if (!(listener instanceof net.Server) || listener instanceof tls.Server) {
      throw new TypeError('listen: "server" must be a plain TCP net.Server (TLS is done here)');
    }
    if (!adopted.has(listener)) {
      const onConnection = (socket: net.Socket): void => handleConnection(socket);
      adopted.add(listener);
      listener.on('connection', onConnection);
      // Closed by its owner: stop serving it; connections it accepted carry on until they end.
      listener.once('close', () => {
        listener.removeListener('connection', onConnection);
        adopted.delete(listener);
      });
    }
    return new Promise<AddressInfo>((resolve, reject) => {
      const done = (): void => {
        listener.removeListener('listening', done);
        listener.removeListener('error', onError);
        const address = listener.address();
        if (address === null || typeof address !== 'object') {
          reject(new TypeError('listen: "server" must listen on a TCP port, not a path'));
        } else {
          resolve(address);
        }
      };
      const onError = (error: Error): void => {
        listener.removeListener('listening', done);
        reject(error);
      };
      if (listener.listening) {
        done();
      } else {
        listener.once('listening', done);
        listener.once('error', onError);
      }
    });
  }

  async function drain(deadlineMs: number): Promise<void> {
    const whenClosed = (listener: net.Server): Promise<void> =>
      new Promise<void>((resolve) => {
        if (!listener.listening) resolve();
        else listener.close(() => resolve());
      });
    // Stop accepting everywhere first; net.Server.close() resolves once the listener's connections ended.
    const listening = [server, ...adopted].map(whenClosed);
    for (const session of sessions.keys()) {
      // GOAWAY with the last processed stream id: clients open no new streams here; open ones finish.
      if (!session.closed && !session.destroyed) session.close();
    }
    const connections = [...sockets].map(
      (socket) =>
        new Promise<void>((resolve) => {
          if (socket.destroyed) resolve();
          else socket.once('close', () => resolve());
        }),
    );
    const open = [...sessions.keys()].map(
      (session) =>
        new Promise<void>((resolve) => {
          if (session.destroyed) resolve();
          else session.once('close', () => resolve());
        }),
    );
    const timer = setTimeout(() => {
      const error = new HboneError(
        'HBONE_ERR_DRAIN_TIMEOUT',
        `tunnels still open ${deadlineMs} ms after close()`,
      );
      for (const abort of aborts) abort.abort(error);
      for (const tunnel of tunnels) tunnel.destroy(error);
      for (const session of sessions.keys()) if (!session.destroyed) session.destroy();
      // Connections still in their TLS handshake have no session to close.
      for (const socket of sockets) socket.destroy();
    }, deadlineMs);
    timer.unref();
    await Promise.all([...listening, ...connections, ...open]);
    clearTimeout(timer);
    tlsBinding.close();
  }
}

function trustDomainOf(id: string): string {
  const rest = id.startsWith('spiffe://') ? id.slice(9) : id;
  const slash = rest.indexOf('/');
  return slash < 0 ? rest : rest.slice(0, slash);
}

function upstreamError(error: unknown, target: HboneAddress): HboneError {
  if (error instanceof HboneError) {
    // A connector may refuse with its own reason; anything without a status is a 503.
    if (error.status !== undefined) return error;
    return new HboneError('HBONE_ERR_UPSTREAM_REFUSED', error.message, { cause: error, status: 503 });
  }
  return new HboneError(
    'HBONE_ERR_UPSTREAM_REFUSED',
    `upstream connect to ${formatAuthority(target)} failed: ${String(error)}`,
    { cause: error },
  );
}
