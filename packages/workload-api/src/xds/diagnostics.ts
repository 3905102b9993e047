/**
 * Observability of the delta xDS client and server, as every ambient-kit runtime package does it (after
 * undici's `lib/core/diagnostics.js`): `node:diagnostics_channel` channels named
 * `ambient-kit:workload-api:<event>`, and `util.debuglog('ambient-kit:workload-api')` for humans
 * (`NODE_DEBUG=ambient-kit:workload-api`). Nothing is printed unless asked for, and no message is built
 * unless a channel has subscribers.
 * @module
 */
import diagnosticsChannel from 'node:diagnostics_channel';
import { debuglog } from 'node:util';
import type { Node } from '../gen/envoy/config/core/v3/base_pb.js';
import type { RejectedResource } from './client.js';

/**
 * The channel names. Stable.
 *
 * @example
 * ```ts
 * import diagnosticsChannel from 'node:diagnostics_channel';
 * diagnosticsChannel.subscribe(WORKLOAD_API_CHANNELS.serverNack, (message) => {
 *   const { clientId, typeUrl, message: why } = message as XdsServerNackEvent;
 *   console.warn(`xDS client ${clientId} rejected ${typeUrl}: ${why}`);
 * });
 * ```
 */
export const WORKLOAD_API_CHANNELS = {
  /** The client's stream is open (its first response arrived). */
  clientConnected: 'ambient-kit:workload-api:xds-client:connected',
  /** The client's stream ended; it reconnects after `backoffMs` unless closed. */
  clientDisconnected: 'ambient-kit:workload-api:xds-client:disconnected',
  /**
   * A connection attempt failed before its stream opened (credentials, token file, refused, TLS,
   * UNAUTHENTICATED); the client tries again after `backoffMs`.
   */
  clientConnectFailed: 'ambient-kit:workload-api:xds-client:connect-failed',
  /** A new connection attempt starts; `reason` is why the previous stream or attempt ended. */
  clientReconnecting: 'ambient-kit:workload-api:xds-client:reconnecting',
  /** The client applied a response in full and ACKed it. */
  clientAck: 'ambient-kit:workload-api:xds-client:ack',
  /** The client NACKed a response (the good resources of it were applied). */
  clientNack: 'ambient-kit:workload-api:xds-client:nack',
  /** A listener (a store listener during an xDS apply, or an `XdsClient.on` listener) threw. */
  listenerError: 'ambient-kit:workload-api:listener-error',
  /** A client sent the server its first request. */
  serverConnected: 'ambient-kit:workload-api:xds-server:connected',
  /** A client's stream to the server ended. */
  serverDisconnected: 'ambient-kit:workload-api:xds-server:disconnected',
  /** The server sent a response. */
  serverPush: 'ambient-kit:workload-api:xds-server:push',
  /** A client ACKed a response. */
  serverAck: 'ambient-kit:workload-api:xds-server:ack',
  /** A client NACKed a response. */
  serverNack: 'ambient-kit:workload-api:xds-server:nack',
  /** A client asked for a type URL the server does not serve. */
  serverUnservedType: 'ambient-kit:workload-api:xds-server:unserved-type',
} as const;

/** Every client message names the server the client talks to. */
interface ClientEvent {
  /** The `address` the client was created with. */
  readonly address: string;
}

/** The message of {@link WORKLOAD_API_CHANNELS.clientConnected}. */
export interface XdsClientConnectedEvent extends ClientEvent {
  /** Connection attempts so far, this one included. */
  readonly attempt: number;
}

/** The message of {@link WORKLOAD_API_CHANNELS.clientDisconnected}. */
export interface XdsClientDisconnectedEvent extends ClientEvent {
  readonly error: Error;
  readonly backoffMs: number;
}

/** The message of {@link WORKLOAD_API_CHANNELS.clientConnectFailed}. */
export interface XdsClientConnectFailedEvent extends ClientEvent {
  /** The attempt that failed. */
  readonly attempt: number;
  readonly error: Error;
  readonly backoffMs: number;
}

/** The message of {@link WORKLOAD_API_CHANNELS.clientReconnecting}. */
export interface XdsClientReconnectingEvent extends ClientEvent {
  /** The attempt that starts. */
  readonly attempt: number;
  /** Why the previous stream or attempt ended. */
  readonly reason: Error;
}

/** The message of {@link WORKLOAD_API_CHANNELS.clientAck}. */
export interface XdsClientAckEvent extends ClientEvent {
  readonly typeUrl: string;
  readonly nonce: string;
  readonly applied: number;
  readonly removed: number;
}

/** The message of {@link WORKLOAD_API_CHANNELS.clientNack}. */
export interface XdsClientNackEvent extends ClientEvent {
  readonly typeUrl: string;
  readonly nonce: string;
  readonly rejected: readonly RejectedResource[];
}

/** The message of {@link WORKLOAD_API_CHANNELS.listenerError}. */
export interface ListenerErrorEvent {
  /** What was being notified, e.g. `store` or `xds-client:nack`. */
  readonly event: string;
  readonly error: unknown;
}

/** Every server message names the server instance and the client stream. */
interface ServerEvent {
  /** Unique per server in this process. */
  readonly serverId: number;
  /** Unique per stream of that server. */
  readonly clientId: number;
}

/** The message of {@link WORKLOAD_API_CHANNELS.serverConnected}. */
export interface XdsServerConnectedEvent extends ServerEvent {
  readonly node?: Node;
}

/** The message of {@link WORKLOAD_API_CHANNELS.serverDisconnected}. */
export type XdsServerDisconnectedEvent = ServerEvent;

/** The message of {@link WORKLOAD_API_CHANNELS.serverPush}. */
export interface XdsServerPushEvent extends ServerEvent {
  readonly typeUrl: string;
  readonly nonce: string;
  /** Resource names sent. */
  readonly resources: readonly string[];
  /** Names sent in `removed_resources`. */
  readonly removed: readonly string[];
}

/** The message of {@link WORKLOAD_API_CHANNELS.serverAck}. */
export interface XdsServerAckEvent extends ServerEvent {
  readonly typeUrl: string;
  readonly nonce: string;
}

/** The message of {@link WORKLOAD_API_CHANNELS.serverNack}. */
export interface XdsServerNackEvent extends XdsServerAckEvent {
  /** The client's `error_detail.message`. */
  readonly message: string;
}

/** The message of {@link WORKLOAD_API_CHANNELS.serverUnservedType}. */
export interface XdsServerUnservedTypeEvent extends ServerEvent {
  readonly typeUrl: string;
  /** What the server did (see `XdsServerOptions.unservedTypes`). */
  readonly answer: 'empty' | 'unauthenticated';
}

interface MessageByChannel {
  clientConnected: XdsClientConnectedEvent;
  clientDisconnected: XdsClientDisconnectedEvent;
  clientConnectFailed: XdsClientConnectFailedEvent;
  clientReconnecting: XdsClientReconnectingEvent;
  clientAck: XdsClientAckEvent;
  clientNack: XdsClientNackEvent;
  listenerError: ListenerErrorEvent;
  serverConnected: XdsServerConnectedEvent;
  serverDisconnected: XdsServerDisconnectedEvent;
  serverPush: XdsServerPushEvent;
  serverAck: XdsServerAckEvent;
  serverNack: XdsServerNackEvent;
  serverUnservedType: XdsServerUnservedTypeEvent;
}

const channels = Object.fromEntries(
  Object.entries(WORKLOAD_API_CHANNELS).map(([k, name]) => [k, diagnosticsChannel.channel(name)]),
) as { readonly [K in keyof MessageByChannel]: diagnosticsChannel.Channel };

/**
 * `util.debuglog('ambient-kit:workload-api')`: prints only with `NODE_DEBUG=ambient-kit:workload-api`.
 *
 * @example
 * ```ts
 * debug('xDS client %s: NACK %s', address, nonce);
 * ```
 */
export const debug: ReturnType<typeof debuglog> = debuglog('ambient-kit:workload-api');

/**
 * Publishes on a channel when it has subscribers; builds the message lazily.
 *
 * @param name - The channel key.
 * @param make - Builds the message.
 * @example
 * ```ts
 * publish('serverAck', () => ({ serverId, clientId, typeUrl, nonce }));
 * ```
 */
export function publish<K extends keyof MessageByChannel>(name: K, make: () => MessageByChannel[K]): void {
  const channel = channels[name];
  if (channel.hasSubscribers) channel.publish(make());
}
