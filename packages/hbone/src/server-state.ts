/**
 * The state one HBONE server shares between its parts (listeners, connections, CONNECT handling, drain):
 * what is open, what was counted, and the configuration.
 * @module
 */
import type net from 'node:net';
import type { SvidSource } from '@ambient-kit/spiffe';
import type { Bridge } from './bridge.js';
import type { ConnectUpstream } from './context.js';
import type { H2Session } from './h2-session.js';
import type { ServerConfig } from './server-options.js';

/** One accepted HBONE connection (after its TLS handshake). */
export interface ServerConnectionInfo {
  readonly id: number;
  readonly session: H2Session;
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
}

/** Counters since the server was created. */
export interface ServerCounters {
  handshakes: number;
  handshakeTimeouts: number;
  handshakeFailures: number;
  rejectedConnections: number;
  /** Connections open whose HTTP/2 preface is done (the rest of `sockets` is still handshaking). */
  readyConnections: number;
  readonly refused: Record<number, number>;
}

/** Everything one server's parts share. */
export interface ServerState<State extends object> {
  readonly config: ServerConfig<State>;
  readonly source: SvidSource;
  readonly authorizePeer: (peerIdentity: string) => boolean;
  /** The default upstream when the options have none. */
  readonly connectUpstream: ConnectUpstream<State>;
  /** Every TCP connection, from accept (or hand-over) to close. */
  readonly sockets: Set<net.Socket>;
  readonly connections: Map<H2Session, ServerConnectionInfo>;
  readonly tunnels: Set<Bridge>;
  /** CONNECTs being authorized or dialed, aborted when the server gives up on them. */
  readonly aborts: Set<AbortController>;
  readonly counters: ServerCounters;
  /** Whether `close()` was called. */
  closing(): boolean;
}
