/**
 * One inbound HBONE connection after its TLS handshake: the checks ztunnel's TLS layer makes (ALPN `h2`, a
 * verified SPIFFE ID the server accepts), then an HTTP/2 server session with ztunnel's SETTINGS
 * (istio/ztunnel@62d82653:src/proxy/h2/server.rs: 200 streams, 4 MiB stream and 16 MiB connection windows,
 * 1 MiB frames, 64 KiB header lists) whose every CONNECT goes to `serveConnect`.
 * @module
 */
import type { TLSSocket } from 'node:tls';
import { unmappedIpText } from '@ambient-kit/ip';
import { HboneError } from './codec/errors.js';
import { HBONE_DEFAULTS } from './defaults.js';
import { debug, newConnectionId, publish } from './diagnostics.js';
import { H2Session } from './h2-session.js';
import { hostPort } from './host-port.js';
import { refuseOversize, serveConnect } from './serve-connect.js';
import type { ServerConnectionInfo, ServerState } from './server-state.js';
import { peerIdentityOf } from './tls.js';

/**
 * Serves a TLS socket whose handshake just finished. The HTTP/2 preface and the client's SETTINGS must
 * follow within the handshake timeout.
 *
 * @param state - The server.
 * @param socket - The socket, from `'secureConnection'` (after the SPIFFE check of the TLS binding).
 * @example
 * ```ts
 * tlsServer.on('secureConnection', (socket) => serveTlsConnection(state, socket));
 * ```
 */
export function serveTlsConnection<State extends object>(state: ServerState<State>, socket: TLSSocket): void {
  // The TLS binding destroyed a client it refused; a client that left is gone too.
  if (socket.destroyed) return;
  const peerIdentity = peerIdentityOf(socket);
  // HBONE is HTTP/2 only (ALPN exactly `h2`); and defense in depth on the identity the TLS layer checked.
  if (socket.alpnProtocol !== 'h2' || peerIdentity === undefined || !state.authorizePeer(peerIdentity)) {
    state.counters.handshakeFailures++;
    debug('refusing %s: ALPN %s, identity %s', socket.remoteAddress, socket.alpnProtocol, peerIdentity);
    publish('connectionRejected', () => ({
      reason: 'handshake-failed',
      remoteAddress: hostPort(socket.remoteAddress, socket.remotePort),
      localAddress: hostPort(socket.localAddress, socket.localPort),
    }));
    socket.destroy();
    return;
  }
  state.counters.handshakes++;
  socket.setNoDelay(true);
  socket.setKeepAlive(true, HBONE_DEFAULTS.tcpKeepaliveMs);
  // A dual-stack listener reports IPv4 addresses as ::ffff:a.b.c.d.
  const localAddress = unmappedIpText(socket.localAddress ?? '');
  const localPort = socket.localPort ?? 0;
  const remoteAddress = unmappedIpText(socket.remoteAddress ?? '');
  const remotePort = socket.remotePort ?? 0;
  const config = state.config;
  const remote = hostPort(remoteAddress, remotePort);
  let info: ServerConnectionInfo | undefined;
  let closedError: Error | undefined;
  let ready = false;
  // The HTTP/2 preface and SETTINGS are part of the handshake: a client that completes TLS and then says
  // nothing is held no longer than one that stalls inside TLS.
  const prefaceTimer = setTimeout(() => {
    if (session.ready) return;
    state.counters.handshakeTimeouts++;
    publish('connectionRejected', () => ({
      reason: 'handshake-timeout',
      remoteAddress: remote,
      localAddress: hostPort(localAddress, localPort),
    }));
    session.destroy(new HboneError('HBONE_ERR_PROTOCOL', `${remote} sent no HTTP/2 preface in time`));
  }, config.handshakeTimeoutMs);
  prefaceTimer.unref();
  const session: H2Session = new H2Session(socket, {
    role: 'server',
    settings: {
      maxConcurrentStreams: config.maxConcurrentStreams,
      initialWindowSize: config.streamWindowBytes,
      maxFrameSize: config.maxFrameBytes,
      maxHeaderListSize: config.maxHeaderListBytes,
    },
    connectionWindowBytes: config.connectionWindowBytes,
    pingIntervalMs: config.pingIntervalMs,
    pingTimeoutMs: config.pingTimeoutMs,
    peer: remote,
    events: {
      onRemoteSettings: (_settings, first) => {
        if (!first) return;
        clearTimeout(prefaceTimer);
        ready = true;
        state.counters.readyConnections++;
      },
      onStream: (stream, headers) => {
        if (info === undefined) return;
        info.streams++;
        void serveConnect(state, stream, headers, info);
      },
      onOversizeRequest: (stream) => refuseOversize(state, stream),
      onClose: (error) => {
        clearTimeout(prefaceTimer);
        if (ready) state.counters.readyConnections--;
        ready = false;
        closedError = error;
        if (info === undefined) return;
        const closed = info;
        state.connections.delete(session);
        publish('connectionClosed', () => ({
          direction: 'inbound',
          connectionId: closed.id,
          localAddress: closed.local,
          remoteAddress: closed.remote,
          peerIdentity: closed.peerIdentity,
          streams: closed.streams,
          durationMs: performance.now() - closed.openedAt,
          ...(closedError === undefined ? {} : { error: closedError }),
        }));
      },
    },
  });
  if (session.state === 'closed') return;
  info = {
    id: newConnectionId(),
    session,
    peerIdentity,
    localAddress,
    localPort,
    remoteAddress,
    remotePort,
    local: hostPort(localAddress, localPort),
    remote,
    openedAt: performance.now(),
    streams: 0,
  };
  state.connections.set(session, info);
  const opened = info;
  publish('connectionOpened', () => ({
    direction: 'inbound',
    connectionId: opened.id,
    localAddress: opened.local,
    remoteAddress: opened.remote,
    peerIdentity: opened.peerIdentity,
  }));
  // A handshake that finished while the server drains: GOAWAY at once, as every other connection got.
  if (state.closing()) void session.close(Number.POSITIVE_INFINITY);
}
