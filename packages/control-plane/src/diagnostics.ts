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
  /** A `MeshFileWatcher.on` listener threw. */
  callbackError: 'ambient-kit:control-plane:callback-error',
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
  /** The event the listener was called for: `loaded` or `error`. */
  readonly callback: string;
  readonly error: unknown;
}

interface MessageByChannel {
  meshFileLoaded: MeshFileLoadedEvent;
  meshFileError: MeshFileErrorEvent;
  callbackError: CallbackErrorEvent;
}

const channels = {
  meshFileLoaded: diagnosticsChannel.channel(CONTROL_PLANE_CHANNELS.meshFileLoaded),
  meshFileError: diagnosticsChannel.channel(CONTROL_PLANE_CHANNELS.meshFileError),
  callbackError: diagnosticsChannel.channel(CONTROL_PLANE_CHANNELS.callbackError),
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
