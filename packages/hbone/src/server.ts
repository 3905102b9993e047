/**
 * The HBONE server: terminates HTTP/2 CONNECT over SPIFFE mTLS like ztunnel's inbound listener on 15008
 * (istio/ztunnel@62d82653:src/proxy/inbound.rs; `docs/hbone.md` "The server"): the client must present a
 * certificate in the server's trust domain; each CONNECT is parsed, checked, authorized (401), connected
 * upstream (503) and only then answered 200; the bytes are joined both ways with half-close and
 * backpressure. The parts: `server-listeners.ts` (where sockets come from), `server-connection.ts` (TLS
 * checks and the HTTP/2 session), `serve-connect.ts` (one CONNECT), `bridge.ts` (the bytes).
 * @module
 */
import type net from 'node:net';
import { type AddressInfo, Socket } from 'node:net';
import tls, { type TLSSocket } from 'node:tls';
import type { Bridge } from './bridge.js';
import { HboneError } from './codec/errors.js';
import { debug, publish } from './diagnostics.js';
import type { H2Session } from './h2-session.js';
import { hostPort } from './host-port.js';
import { injectTlsConnection } from './node-internals.js';
import { serveTlsConnection } from './server-connection.js';
import { createServerListeners, type HboneListenOptions } from './server-listeners.js';
import { type HboneServerOptions, resolveServerConfig } from './server-options.js';
import type { ServerConnectionInfo, ServerState } from './server-state.js';
import { bindServerTls, currentIdentity, serverTlsOptions, toSvidSource } from './tls.js';
import { tcpUpstream } from './upstream.js';

export type { HboneListenOptions } from './server-listeners.js';
export type { HboneServerOptions } from './server-options.js';

/** Counts describing a server at this instant. */
export interface HboneServerStats {
  /** Open HBONE connections (TLS and HTTP/2 preface done). */
  readonly connections: number;
  /** Open tunnels. */
  readonly streams: number;
  /** TLS handshakes accepted since creation. */
  readonly handshakes: number;
  /** CONNECTs refused since creation, by status. */
  readonly refused: Readonly<Record<number, number>>;
  /** TCP connections still in their TLS handshake or HTTP/2 preface. */
  readonly pendingHandshakes: number;
  /** Connections closed since creation for not finishing TLS and the preface within `handshakeTimeoutMs`. */
  readonly handshakeTimeouts: number;
  /** Handshakes that failed since creation (TLS errors, a refused identity, no ALPN `h2`). */
  readonly handshakeFailures: number;
  /** Connections closed at once since creation for being over `maxConnections`. */
  readonly rejectedConnections: number;
  /**
   * Bytes the open connections hold now: queued to send (bounded by the send queue marks) and received but
   * not yet taken by an upstream (bounded by the windows advertised).
   */
  readonly bufferedBytes: number;
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
   * Graceful shutdown as ztunnel drains (istio/ztunnel@62d82653:src/proxy/h2/server.rs): stop accepting on every listener (its own and each
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
export function createHboneServer<State extends object = Record<string, unknown>>(
  options: HboneServerOptions<State>,
): HboneServer {
  const config = resolveServerConfig(options);
  const source = toSvidSource(options.svid);
  const ownTrustDomain = trustDomainOf(currentIdentity(source));
  const authorizePeer = options.authorizePeer ?? ((id: string) => trustDomainOf(id) === ownTrustDomain);
  let closing: Promise<void> | undefined;
  const state: ServerState<State> = {
    config,
    source,
    authorizePeer,
    connectUpstream: tcpUpstream<State>(),
    sockets: new Set(),
    connections: new Map<H2Session, ServerConnectionInfo>(),
    tunnels: new Set<Bridge>(),
    aborts: new Set<AbortController>(),
    counters: {
      handshakes: 0,
      handshakeTimeouts: 0,
      handshakeFailures: 0,
      rejectedConnections: 0,
      readyConnections: 0,
      refused: {},
    },
    closing: () => closing !== undefined,
  };

  // The TLS server never listens: every TCP socket reaches it through accept(), which applies the limit.
  // Node's handshake timeout is 120 s by default; ours bounds a slowloris client (docs/hbone.md).
  const tlsServer = tls.createServer({
    ...serverTlsOptions(source, options.bundles, authorizePeer),
    handshakeTimeout: config.handshakeTimeoutMs,
  });
  const tlsBinding = bindServerTls(tlsServer, source, options.bundles, authorizePeer, () => {
    state.counters.handshakeFailures++;
  });
  tlsServer.on('secureConnection', (socket: TLSSocket) => serveTlsConnection(state, socket));
  tlsServer.on('tlsClientError', (error: Error & { code?: string }, socket: TLSSocket) => {
    const timedOut = error.code === 'ERR_TLS_HANDSHAKE_TIMEOUT';
    if (timedOut) state.counters.handshakeTimeouts++;
    else state.counters.handshakeFailures++;
    debug('TLS handshake from %s failed: %s', socket.remoteAddress, error.message);
    publish('connectionRejected', () => ({
      reason: timedOut ? 'handshake-timeout' : 'handshake-failed',
      remoteAddress: hostPort(socket.remoteAddress, socket.remotePort),
      localAddress: hostPort(socket.localAddress, socket.localPort),
      error,
    }));
    socket.destroy();
  });

  /** Every accepted TCP socket, whatever its listener: counted, limited, then TLS. */
  function accept(socket: net.Socket): void {
    if (closing !== undefined) {
      socket.destroy();
      return;
    }
    // Closed before we got it (an accept racing a reset): nothing to serve.
    if (socket.destroyed) return;
    if (state.sockets.size >= config.maxConnections) {
      state.counters.rejectedConnections++;
      publish('connectionRejected', () => ({
        reason: 'limit',
        remoteAddress: hostPort(socket.remoteAddress, socket.remotePort),
        localAddress: hostPort(socket.localAddress, socket.localPort),
      }));
      socket.destroy();
      return;
    }
    state.sockets.add(socket);
    socket.once('close', () => state.sockets.delete(socket));
    socket.on('error', () => {});
    socket.setNoDelay(true);
    // What node:tls's own listener does with each socket it accepts: wrap it in TLS.
    injectTlsConnection(tlsServer, socket);
  }

  const listeners = createServerListeners({ port: options.port, host: options.host }, accept);

  return {
    listen(port?: number | HboneListenOptions, host?: string): Promise<AddressInfo> {
      if (closing !== undefined) throw new HboneError('HBONE_ERR_CLOSED', 'the HBONE server is closed');
      return listeners.listen(port, host);
    },
    handleConnection(socket: net.Socket): void {
      // A TLSSocket is a net.Socket too, but TLS on top of TLS is not what anyone means.
      if (!(socket instanceof Socket) || socket instanceof tls.TLSSocket) {
        throw new TypeError('handleConnection: "socket" must be a plain TCP net.Socket (TLS is done here)');
      }
      accept(socket);
    },
    address: () => listeners.address(),
    stats(): HboneServerStats {
      let streams = 0;
      let bufferedBytes = 0;
      for (const connection of state.connections.values()) bufferedBytes += connection.session.bufferedBytes;
      streams = state.tunnels.size;
      return {
        connections: state.connections.size,
        streams,
        handshakes: state.counters.handshakes,
        refused: { ...state.counters.refused },
        pendingHandshakes: Math.max(0, state.sockets.size - state.counters.readyConnections),
        handshakeTimeouts: state.counters.handshakeTimeouts,
        handshakeFailures: state.counters.handshakeFailures,
        rejectedConnections: state.counters.rejectedConnections,
        bufferedBytes,
      };
    },
    close(closeOptions?: { readonly deadlineMs?: number }): Promise<void> {
      closing ??= drain(closeOptions?.deadlineMs ?? config.drainDeadlineMs);
      return closing;
    },
  };

  async function drain(deadlineMs: number): Promise<void> {
    // Stop accepting everywhere first.
    const listening = listeners.closeAll();
    // GOAWAY with the last processed stream id: clients open no new streams here; open ones finish.
    for (const session of state.connections.keys()) void session.close(Number.POSITIVE_INFINITY);
    const sockets = [...state.sockets].map(
      (socket) =>
        new Promise<void>((resolve) => {
          if (socket.destroyed) resolve();
          else socket.once('close', () => resolve());
        }),
    );
    const timer = setTimeout(() => {
      const error = new HboneError(
        'HBONE_ERR_DRAIN_TIMEOUT',
        `tunnels still open ${deadlineMs} ms after close()`,
      );
      for (const abort of state.aborts) abort.abort(error);
      // The connections go as ztunnel drops them at its termination deadline: the clients see their tunnels
      // fail (not end), and each bridge resets its upstream.
      for (const session of state.connections.keys()) session.destroy(error);
      for (const tunnel of state.tunnels) tunnel.destroy(error);
      // Connections still in their TLS handshake have no session to close.
      for (const socket of state.sockets) socket.destroy();
    }, deadlineMs);
    timer.unref();
    await Promise.all([listening, ...sockets]);
    // Every connection is gone; each bridge still closes its upstream (a reset at the deadline).
    await Promise.all([...state.tunnels].map((tunnel) => tunnel.done));
    clearTimeout(timer);
    tlsBinding.close();
  }
}

function trustDomainOf(id: string): string {
  const rest = id.startsWith('spiffe://') ? id.slice(9) : id;
  const slash = rest.indexOf('/');
  return slash < 0 ? rest : rest.slice(0, slash);
}
