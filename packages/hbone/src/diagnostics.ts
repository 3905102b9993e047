/**
 * Telemetry through `node:diagnostics_channel` (style.md §3.12, after undici): connection and tunnel events
 * carrying what ztunnel's access log and `istio_tcp_*` metrics need (hbone.md §3), with no logger or metrics
 * dependency. Subscribe with `diagnostics_channel.subscribe(HBONE_CHANNELS.streamClosed, fn)`.
 * @module
 */
import diagnosticsChannel from 'node:diagnostics_channel';
import type { Baggage } from './codec/baggage.js';
import type { HboneError } from './codec/errors.js';

/**

 * The channel names. Stable.

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
 * The fields of ztunnel's access log (hbone.md §3.2): `src.addr`, `src.identity`, `dst.addr` (the HBONE
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
};

interface EventByChannel {
  connectionOpened: HboneConnectionEvent;
  connectionClosed: HboneConnectionClosedEvent;
  streamOpened: HboneStreamEvent;
  streamClosed: HboneStreamClosedEvent;
  streamFailed: HboneStreamFailedEvent;
}

/**
 * Publishes an event when someone listens; builds the message lazily so an unobserved tunnel pays nothing.
 *
 * @param name - The channel key.
 * @param make - Builds the message.
 *
 * @example
 * ```ts
 * publish('streamOpened', () => ({ ...event, responseBaggage }));
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
