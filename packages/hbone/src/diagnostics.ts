/**
 * Telemetry through `node:diagnostics_channel`, as undici does it: connection and tunnel events carrying what
 * ztunnel's access log and `istio_tcp_*` metrics need (istio/ztunnel@62d82653:src/proxy/metrics.rs;
 * `docs/hbone.md` "Telemetry"), with no logger or metrics dependency, plus `util.debuglog('ambient-kit:hbone')`
 * (`NODE_DEBUG=ambient-kit:hbone`). Subscribe with `diagnostics_channel.subscribe(HBONE_CHANNELS.streamClosed, fn)`.
 * @module
 */
import diagnosticsChannel from 'node:diagnostics_channel';
import { debuglog } from 'node:util';
import type { Baggage } from './codec/baggage.js';
import type { HboneError } from './codec/errors.js';

/**
 * The channel names, `ambient-kit:hbone:<event>`. Stable.
 *
 * @example
 * ```ts
 * diagnosticsChannel.subscribe(HBONE_CHANNELS.streamFailed, (message) => {
 *   const { error, authority } = message as HboneStreamFailedEvent;
 *   console.warn(`tunnel to ${authority} failed: ${error.code} (${error.status ?? '-'})`);
 * });
 * ```
 */
export const HBONE_CHANNELS = {
  /** An mTLS + HTTP/2 connection is up (after the handshake and the peer's SETTINGS). */
  connectionOpened: 'ambient-kit:hbone:connection:opened',
  /** A connection closed. */
  connectionClosed: 'ambient-kit:hbone:connection:closed',
  /** A tunnel is up: the client saw 200, or the server sent it. */
  streamOpened: 'ambient-kit:hbone:stream:opened',
  /** A tunnel that was opened has closed, with its byte counts and duration. */
  streamClosed: 'ambient-kit:hbone:stream:closed',
  /** A tunnel could not be opened: dial, handshake, refusal (400/401/503) or upstream failure. */
  streamFailed: 'ambient-kit:hbone:stream:failed',
  /**
   * A server closed a TCP connection before serving it: over `maxConnections`, TLS handshake or HTTP/2
   * preface not done within `handshakeTimeoutMs`, or a handshake that failed (no `h2`, an identity refused).
   */
  connectionRejected: 'ambient-kit:hbone:connection:rejected',
} as const;

/** `outbound` on the client (ztunnel `reporter=source`), `inbound` on the server (`reporter=destination`). */
export type HboneDirection = 'outbound' | 'inbound';

/** The message of {@link HBONE_CHANNELS.connectionOpened}. */
export interface HboneConnectionEvent {
  readonly direction: HboneDirection;
  /** Unique per process, shared by the connection's stream events. */
  readonly connectionId: number;
  /** This side's address, `ip:port`. */
  readonly localAddress: string;
  /** The peer's address, `ip:port`. */
  readonly remoteAddress: string;
  /** The peer's SPIFFE ID, from its verified certificate. */
  readonly peerIdentity: string | undefined;
}

/** The message of {@link HBONE_CHANNELS.connectionClosed}. */
export interface HboneConnectionClosedEvent extends HboneConnectionEvent {
  /** How many tunnels the connection carried. */
  readonly streams: number;
  readonly durationMs: number;
  /** Why it closed abnormally (ping timeout, reset, drain deadline); absent for a clean close. */
  readonly error?: Error;
}

/**
 * The fields of ztunnel's access log (istio/ztunnel@62d82653:src/proxy/metrics.rs): `src.addr`, `src.identity`, `dst.addr` (the HBONE
 * hop, `:15008`), `dst.hbone_addr` (the `:authority`), `dst.identity`, `direction`.
 */
export interface HboneStreamEvent {
  readonly direction: HboneDirection;
  readonly connectionId: number | undefined;
  /** The HTTP/2 stream id. */
  readonly streamId: number | undefined;
  /** The source: the client's address, `ip:port` (outbound: the local end of the HBONE connection). */
  readonly sourceAddress: string | undefined;
  /** The source workload's SPIFFE ID. */
  readonly sourceIdentity: string | undefined;
  /** The HBONE hop, `ip:port` (ztunnel `dst.addr`, e.g. `10.244.0.42:15008`). */
  readonly destinationAddress: string | undefined;
  /** The destination's SPIFFE ID. */
  readonly destinationIdentity: string | undefined;
  /** The `:authority` (ztunnel `dst.hbone_addr`). */
  readonly authority: string;
  /** The source's `baggage` (request header). */
  readonly requestBaggage?: Baggage;
  /** The destination's `baggage` (200 answer). */
  readonly responseBaggage?: Baggage;
}

/** The message of {@link HBONE_CHANNELS.streamClosed}. Bytes are counted at this end of the tunnel. */
export interface HboneStreamClosedEvent extends HboneStreamEvent {
  /** DATA payload bytes this side sent into the tunnel. */
  readonly bytesSent: number;
  /** DATA payload bytes this side received from the tunnel. */
  readonly bytesReceived: number;
  /** From the start of the CONNECT to the close. */
  readonly durationMs: number;
  /** Why the tunnel ended abnormally (a reset with an error code, a broken connection); absent when clean. */
  readonly error?: Error;
}

/** The message of {@link HBONE_CHANNELS.connectionRejected}. */
export interface HboneConnectionRejectedEvent {
  /** `limit` (over `maxConnections`), `handshake-timeout`, or `handshake-failed`. */
  readonly reason: 'limit' | 'handshake-timeout' | 'handshake-failed';
  /** The client's address, `ip:port`. */
  readonly remoteAddress: string;
  /** The server's address the client connected to, `ip:port`. */
  readonly localAddress: string;
  /** The TLS error, when there was one. */
  readonly error?: Error;
}

/** The message of {@link HBONE_CHANNELS.streamFailed}. */
export interface HboneStreamFailedEvent extends HboneStreamEvent {
  /** The failure; `error.code` is the reason and `error.status` the HTTP status, if any. */
  readonly error: HboneError;
  readonly durationMs: number;
}

const channels = {
  connectionOpened: diagnosticsChannel.channel(HBONE_CHANNELS.connectionOpened),
  connectionClosed: diagnosticsChannel.channel(HBONE_CHANNELS.connectionClosed),
  streamOpened: diagnosticsChannel.channel(HBONE_CHANNELS.streamOpened),
  streamClosed: diagnosticsChannel.channel(HBONE_CHANNELS.streamClosed),
  streamFailed: diagnosticsChannel.channel(HBONE_CHANNELS.streamFailed),
  connectionRejected: diagnosticsChannel.channel(HBONE_CHANNELS.connectionRejected),
};

interface EventByChannel {
  connectionOpened: HboneConnectionEvent;
  connectionClosed: HboneConnectionClosedEvent;
  streamOpened: HboneStreamEvent;
  streamClosed: HboneStreamClosedEvent;
  streamFailed: HboneStreamFailedEvent;
  connectionRejected: HboneConnectionRejectedEvent;
}

/**
 * Publishes an event when someone listens; builds the message lazily so an unobserved tunnel pays nothing.
 *
 * @param name - The channel key.
 * @param make - Builds the message.
 *
 * @example
 * ```ts
 * publish('streamOpened', () => ({ ...opened, responseBaggage })); // opened: the HboneStreamEvent so far
 * ```
 */
export function publish<K extends keyof EventByChannel>(name: K, make: () => EventByChannel[K]): void {
  const channel = channels[name];
  if (channel.hasSubscribers) channel.publish(make());
}

let nextConnectionId = 1;

/**
 * A fresh connection id.
 *
 * @returns A process-unique positive integer.
 *
 * @example
 * ```ts
 * const info = { id: newConnectionId(), peerIdentity };
 * ```
 */
export function newConnectionId(): number {
  return nextConnectionId++;
}

/**
 * Debug output for `NODE_DEBUG=ambient-kit:hbone`, as `util.debuglog` formats it.
 *
 * @example
 * ```ts
 * debug('refusing %s: %s', remote, reason);
 * ```
 */
export const debug: (format: string, ...args: unknown[]) => void = debuglog('ambient-kit:hbone');
