/**
 * Observability, as every ambient-kit runtime package does it (after undici's `lib/core/diagnostics.js`):
 * `node:diagnostics_channel` channels named `ambient-kit:control-plane:<event>`, and
 * `util.debuglog('ambient-kit:control-plane')` (`NODE_DEBUG=ambient-kit:control-plane`). Nothing is
 * printed unless asked for.
 * @module
 */
import diagnosticsChannel from 'node:diagnostics_channel';
import { debuglog } from 'node:util';
import type { ControlPlaneError } from './codec/errors.js';
import type { MeshFileContents } from './codec/mesh-file.js';

/**
 * The channel names. Stable.
 *
 * @example
 * ```ts
 * import diagnosticsChannel from 'node:diagnostics_channel';
 * diagnosticsChannel.subscribe(CONTROL_PLANE_CHANNELS.meshFileError, (message) => {
 *   const { path, error } = message as MeshFileErrorEvent;
 *   console.warn(`${path}: ${error.message} (the previous contents stay applied)`);
 * });
 * ```
 */
export const CONTROL_PLANE_CHANNELS = {
  /** A mesh file was (re)loaded and applied. */
  meshFileLoaded: 'ambient-kit:control-plane:mesh-file:loaded',
  /** A reload failed; the previous contents stay applied. */
  meshFileError: 'ambient-kit:control-plane:mesh-file:error',
  /** A `MeshFileWatcher.on` listener or an `onError` callback threw. */
  callbackError: 'ambient-kit:control-plane:callback-error',
  /** The token file was read again after a change. */
  tokensLoaded: 'ambient-kit:control-plane:tokens:loaded',
  /** A changed token file cannot be used; the previous tokens stay. */
  tokensError: 'ambient-kit:control-plane:tokens:error',
  /** The CA signed a certificate. */
  caIssued: 'ambient-kit:control-plane:ca:issued',
  /** The CA refused a request; the reason is here, the caller got an opaque status. */
  caRefused: 'ambient-kit:control-plane:ca:refused',
  /** A call other than `CreateCertificate` (delta xDS) was refused for its token. */
  callRefused: 'ambient-kit:control-plane:call:refused',
} as const;

/** The message of {@link CONTROL_PLANE_CHANNELS.meshFileLoaded}. */
export interface MeshFileLoadedEvent {
  /** The absolute path. */
  readonly path: string;
  readonly contents: MeshFileContents;
}

/** The message of {@link CONTROL_PLANE_CHANNELS.meshFileError}. */
export interface MeshFileErrorEvent {
  readonly path: string;
  readonly error: ControlPlaneError;
}

/** The message of {@link CONTROL_PLANE_CHANNELS.callbackError}. */
export interface CallbackErrorEvent {
  /** The event the listener was called for: `loaded`, `error` or `onError`. */
  readonly callback: string;
  readonly error: unknown;
}

/** The message of {@link CONTROL_PLANE_CHANNELS.tokensLoaded}. */
export interface TokensLoadedEvent {
  /** The absolute path of the token file. */
  readonly path: string;
  /** How many tokens it accepts now. */
  readonly tokens: number;
}

/** The message of {@link CONTROL_PLANE_CHANNELS.tokensError}. */
export interface TokensErrorEvent {
  readonly path: string;
  readonly error: ControlPlaneError;
}

/** The message of {@link CONTROL_PLANE_CHANNELS.caIssued}. */
export interface CaIssuedEvent {
  /** The identity in the certificate. */
  readonly id: string;
  /** The caller's identity (differs from `id` when it impersonated). */
  readonly caller: string;
  /** Whether the caller asked for `ImpersonatedIdentity`. */
  readonly impersonated: boolean;
  /** The leaf's notAfter. */
  readonly notAfter: Date;
  /** The peer address. */
  readonly peer: string;
}

/** The message of {@link CONTROL_PLANE_CHANNELS.caRefused}. */
export interface CaRefusedEvent {
  /** The gRPC status sent. */
  readonly code: number;
  /** Why, in full (the caller saw only istiod's opaque message). */
  readonly reason: string;
  /** The caller's identity, once authenticated. */
  readonly caller?: string;
  /** The identity it asked to impersonate, if any. */
  readonly impersonate?: string;
  readonly peer: string;
}

/** The message of {@link CONTROL_PLANE_CHANNELS.callRefused}. */
export interface CallRefusedEvent {
  /** The gRPC method path. */
  readonly method: string;
  readonly reason: string;
  readonly peer: string;
}

interface MessageByChannel {
  meshFileLoaded: MeshFileLoadedEvent;
  meshFileError: MeshFileErrorEvent;
  callbackError: CallbackErrorEvent;
  tokensLoaded: TokensLoadedEvent;
  tokensError: TokensErrorEvent;
  caIssued: CaIssuedEvent;
  caRefused: CaRefusedEvent;
  callRefused: CallRefusedEvent;
}

const channels = {
  meshFileLoaded: diagnosticsChannel.channel(CONTROL_PLANE_CHANNELS.meshFileLoaded),
  meshFileError: diagnosticsChannel.channel(CONTROL_PLANE_CHANNELS.meshFileError),
  callbackError: diagnosticsChannel.channel(CONTROL_PLANE_CHANNELS.callbackError),
  tokensLoaded: diagnosticsChannel.channel(CONTROL_PLANE_CHANNELS.tokensLoaded),
  tokensError: diagnosticsChannel.channel(CONTROL_PLANE_CHANNELS.tokensError),
  caIssued: diagnosticsChannel.channel(CONTROL_PLANE_CHANNELS.caIssued),
  caRefused: diagnosticsChannel.channel(CONTROL_PLANE_CHANNELS.caRefused),
  callRefused: diagnosticsChannel.channel(CONTROL_PLANE_CHANNELS.callRefused),
};

/**
 * `util.debuglog('ambient-kit:control-plane')`.
 *
 * @example
 * ```ts
 * debug('mesh file %s: %d workloads', path, contents.workloads.length);
 * ```
 */
export const debug: ReturnType<typeof debuglog> = debuglog('ambient-kit:control-plane');

/**
 * Publishes on a channel when it has subscribers; builds the message lazily.
 *
 * @param name - The channel key.
 * @param make - Builds the message.
 * @example
 * ```ts
 * publish('meshFileLoaded', () => ({ path, contents }));
 * ```
 */
export function publish<K extends keyof MessageByChannel>(name: K, make: () => MessageByChannel[K]): void {
  const channel = channels[name];
  if (channel.hasSubscribers) channel.publish(make());
}
