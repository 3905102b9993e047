/**
 * Observability, as every runtime package of the kit does it (after undici): `node:diagnostics_channel`
 * channels named `ambient-kit:spiffe:<event>`, and `util.debuglog('ambient-kit:spiffe')` lines for people
 * (`NODE_DEBUG=ambient-kit:spiffe`). No logger or metrics dependency; an event nobody subscribes to costs one
 * `hasSubscribers` check. The callbacks some factories take (`onError` of a rotating source, `onReject` of a
 * bound server) stay: they tell one caller about its own object, while the channels tell the whole process.
 * @module
 */
import diagnosticsChannel from 'node:diagnostics_channel';
import type { TLSSocket } from 'node:tls';
import { debuglog } from 'node:util';
import type { SpiffeError } from './codec/errors.js';
import type { SpiffeId } from './codec/spiffe-id.js';
import type { TlsPeerRole } from './codec/x509/purpose.js';
import type { VerifiedSvid } from './codec/x509/verify-chain.js';
import type { X509Svid } from './x509/svid.js';

/**
 * The channel names. Stable.
 *
 * @example
 * ```ts
 * import diagnosticsChannel from 'node:diagnostics_channel';
 * diagnosticsChannel.subscribe(SPIFFE_CHANNELS.peerRejected, (message) => {
 *   const { error, peerRole } = message as SpiffePeerRejectedEvent;
 *   console.warn(`refused a ${peerRole === 'clientAuth' ? 'client' : 'server'}: ${error.code}`);
 * });
 * ```
 */
export const SPIFFE_CHANNELS = {
  /** A rotating SVID source took a new SVID. */
  svidRotated: 'ambient-kit:spiffe:svid:rotated',
  /** A rotating SVID source failed to get one; it keeps the current SVID while it is valid and retries. */
  svidRefreshFailed: 'ambient-kit:spiffe:svid:refresh-failed',
  /** A TLS peer's chain verified and the authorizer accepted its ID. */
  peerVerified: 'ambient-kit:spiffe:peer:verified',
  /**
   * A TLS peer was refused: no certificate, a chain that does not verify, or an ID the authorizer refused.
   */
  peerRejected: 'ambient-kit:spiffe:peer:rejected',
  /** A CA issued an X509-SVID (`issue` or `signCsr`). */
  svidIssued: 'ambient-kit:spiffe:ca:issued',
} as const;

/** The message of {@link SPIFFE_CHANNELS.svidRotated}. */
export interface SpiffeSvidRotatedEvent {
  /** The new SVID. */
  readonly svid: X509Svid;
  /** When the source plans its next refresh. */
  readonly nextRefreshAt: Date | undefined;
}

/** The message of {@link SPIFFE_CHANNELS.svidRefreshFailed}. */
export interface SpiffeSvidRefreshFailedEvent {
  /** `SPIFFE_ERR_FETCH_FAILED`, with the cause attached. */
  readonly error: SpiffeError;
  /** The SVID still served, if any. */
  readonly current: X509Svid | undefined;
  /** When the source retries. */
  readonly retryAt: Date | undefined;
}

/** The message of {@link SPIFFE_CHANNELS.peerVerified}. */
export interface SpiffePeerVerifiedEvent {
  /**
   * The role the peer played: `serverAuth` for a server this side connected to, `clientAuth` for a client.
   */
  readonly peerRole: TlsPeerRole | undefined;
  /** The verified peer. */
  readonly peer: VerifiedSvid;
  /** The socket, when known (the client-side check runs before Node hands it out). */
  readonly socket: TLSSocket | undefined;
}

/** The message of {@link SPIFFE_CHANNELS.peerRejected}. */
export interface SpiffePeerRejectedEvent {
  /** As in {@link SpiffePeerVerifiedEvent}. */
  readonly peerRole: TlsPeerRole | undefined;
  /** Why: the code names the rule. */
  readonly error: SpiffeError;
  /** The socket, when known. */
  readonly socket: TLSSocket | undefined;
}

/** The message of {@link SPIFFE_CHANNELS.svidIssued}. */
export interface SpiffeSvidIssuedEvent {
  /** The identity. */
  readonly id: SpiffeId;
  /** The leaf's serial number, hex. */
  readonly serialNumber: string;
  /** The leaf's validity. */
  readonly notBefore: Date;
  readonly notAfter: Date;
  /** `issue` (the CA made the key) or `csr` (`signCsr`). */
  readonly via: 'issue' | 'csr';
}

interface EventByChannel {
  svidRotated: SpiffeSvidRotatedEvent;
  svidRefreshFailed: SpiffeSvidRefreshFailedEvent;
  peerVerified: SpiffePeerVerifiedEvent;
  peerRejected: SpiffePeerRejectedEvent;
  svidIssued: SpiffeSvidIssuedEvent;
}

const channels: { readonly [K in keyof EventByChannel]: diagnosticsChannel.Channel } = {
  svidRotated: diagnosticsChannel.channel(SPIFFE_CHANNELS.svidRotated),
  svidRefreshFailed: diagnosticsChannel.channel(SPIFFE_CHANNELS.svidRefreshFailed),
  peerVerified: diagnosticsChannel.channel(SPIFFE_CHANNELS.peerVerified),
  peerRejected: diagnosticsChannel.channel(SPIFFE_CHANNELS.peerRejected),
  svidIssued: diagnosticsChannel.channel(SPIFFE_CHANNELS.svidIssued),
};

/**
 * Publishes an event when someone listens; the message is built only then.
 *
 * @param name - The channel key.
 * @param make - Builds the message.
 * @example
 * ```ts
 * publish('svidRotated', () => ({ svid, nextRefreshAt }));
 * ```
 */
export function publish<K extends keyof EventByChannel>(name: K, make: () => EventByChannel[K]): void {
  const channel = channels[name];
  if (channel.hasSubscribers) channel.publish(make());
}

/**
 * Debug output for `NODE_DEBUG=ambient-kit:spiffe`, formatted by `util.debuglog`.
 *
 * @example
 * ```ts
 * debug('refused a client: %s', error.code);
 * ```
 */
export const debug: (format: string, ...args: unknown[]) => void = debuglog('ambient-kit:spiffe');
