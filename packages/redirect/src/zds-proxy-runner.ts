/**
 * The proxy's side of ZDS kept up for the proxy's whole life, as ztunnel's `WorkloadProxyManager` keeps it
 * (istio/ztunnel@62d82653:src/inpod/workloadmanager.rs): connect to the node agent, retrying with an
 * exponential backoff while it is not there (ztunnel: 10 ms doubling to at most 15 s, a warning each time);
 * serve the connection; when it ends (the agent restarted, a protocol error, a NACKed hello) connect again
 * and take the agent's fresh snapshot. The backoff starts over once a connection delivered its snapshot.
 *
 * {@link connectZdsProxy} is one connection; this is the loop around it that a proxy runs.
 */
import { RedirectError } from './codec/errors.js';
import { connectZdsProxy, type ZdsProxyConnection, type ZdsProxyHandlers } from './zds-proxy.js';

/**
 * What happens to the ZDS connection, for logs and readiness.
 *
 * @example
 * ```ts
 * const onEvent = (e: ZdsProxyRunnerEvent) => {
 *   if (e.type === 'connect-failed') console.warn(`${e.error.message}, retrying in ${e.retryInMs} ms`);
 * };
 * ```
 */
export type ZdsProxyRunnerEvent =
  /** No agent listens (or the connect failed otherwise); the next attempt is in `retryInMs`. */
  | {
      readonly type: 'connect-failed';
      readonly attempt: number;
      readonly error: RedirectError;
      readonly retryInMs: number;
    }
  /** Connected (hello sent). `reconnect` when an earlier connection existed. */
  | { readonly type: 'connected'; readonly attempt: number; readonly reconnect: boolean }
  /** The agent's `SnapshotSent` arrived on this connection, was handled and acknowledged. */
  | { readonly type: 'snapshot-received' }
  /** The connection ended (`error` says why unless the agent just went away); reconnecting in `retryInMs`. */
  | { readonly type: 'disconnected'; readonly error?: RedirectError; readonly retryInMs: number };

/**
 * Options of {@link runZdsProxy}.
 *
 * @example
 * ```ts
 * const options: RunZdsProxyOptions = { handlers, onEvent: (e) => console.log(e.type) };
 * ```
 */
export interface RunZdsProxyOptions {
  /** Socket path. Default `/var/run/ztunnel/ztunnel.sock` (ztunnel `INPOD_UDS`). */
  readonly path?: string;
  readonly handlers: ZdsProxyHandlers;
  /** Connection events. */
  readonly onEvent?: (event: ZdsProxyRunnerEvent) => void;
  /** First retry delay after a failed connect. Default 10 ms (ztunnel). */
  readonly initialBackoffMs?: number;
  /** Longest retry delay; the delay doubles up to it. Default 15000 ms (ztunnel `CONNECTION_FAILURE_RETRY_DELAY_MAX_INTERVAL`). */
  readonly maxBackoffMs?: number;
  /** Stops the loop and closes the connection. */
  readonly signal?: AbortSignal;
}

/**
 * A running ZDS client loop.
 *
 * @example
 * ```ts
 * const zds = runZdsProxy({ handlers });
 * await zds.waitForSnapshot({ timeoutMs: 10_000 }); // ztunnel is ready once the snapshot arrived
 * ```
 */
export interface ZdsProxyRunner {
  /** A connection to the agent is open. */
  readonly connected: boolean;
  /** The current connection delivered its snapshot (ztunnel's readiness for in-pod mode). */
  readonly snapshotReceived: boolean;
  /**
   * Waits until the current (or next) connection delivered its snapshot.
   *
   * @throws {RedirectError} `REDIRECT_ERR_CONNECT_TIMEOUT` after `timeoutMs` (default 10 s),
   *   `REDIRECT_ERR_ZDS_CLOSED` when the runner is closed first.
   */
  waitForSnapshot(options?: { readonly timeoutMs?: number }): Promise<void>;
  /** Stops reconnecting and closes the connection. Idempotent. */
  close(): Promise<void>;
}

function positive(name: string, value: number | undefined, fallback: number): number {
  if (value === undefined) return fallback;
  if (!Number.isFinite(value) || value <= 0)
    throw new RangeError(`options.${name}: expected a positive number`);
  return value;
}

/**
 * Runs the proxy's side of ZDS until closed: connect, serve, reconnect.
 *
 * @param options - Socket path, handlers, backoff, events.
 * @returns The runner (connecting starts at once).
 * @throws {RangeError} On a bad backoff value.
 * @example
 * ```ts
 * const zds = runZdsProxy({
 *   handlers: {
 *     addWorkload: async ({ uid, netns }) => startServing(uid, netns),
 *     deleteWorkload: (uid) => stopServing(uid),
 *     snapshotSent: (seen) => stopAllBut(seen),
 *   },
 *   onEvent: (e) => e.type === 'connect-failed' && console.warn(e.error.message),
 * });
 * ```
 */
export function runZdsProxy(options: RunZdsProxyOptions): ZdsProxyRunner {
  const initialBackoffMs = positive('initialBackoffMs', options.initialBackoffMs, 10);
  const maxBackoffMs = positive('maxBackoffMs', options.maxBackoffMs, 15_000);
  const abort = new AbortController();
  const onOuterAbort = (): void => void close();
  options.signal?.addEventListener('abort', onOuterAbort, { once: true });
  let connection: ZdsProxyConnection | undefined;
  let snapshotReceived = false;
  let closed = false;
  const waiters = new Set<{ resolve: () => void; reject: (error: Error) => void }>();
  const emit = (event: ZdsProxyRunnerEvent): void => {
    try {
      options.onEvent?.(event);
    } catch {
      // An observer's bug must not stop the loop.
    }
  };
  const handlers: ZdsProxyHandlers = {
    addWorkload: (w) => options.handlers.addWorkload(w),
    deleteWorkload: (uid) => options.handlers.deleteWorkload(uid),
    ...(options.handlers.keepWorkload === undefined
      ? {}
      : { keepWorkload: (uid: string) => options.handlers.keepWorkload?.(uid) }),
    ...(options.handlers.snapshotSent === undefined
      ? {}
      : { snapshotSent: (seen: ReadonlySet<string>) => options.handlers.snapshotSent?.(seen) }),
  };
  // In sync once the snapshot's ACK went out (the agent then sends updates on this connection).
  const onSnapshotAcked = (): void => {
    snapshotReceived = true;
    emit({ type: 'snapshot-received' });
    for (const w of waiters) w.resolve();
    waiters.clear();
  };
  const sleep = (ms: number): Promise<void> =>
    new Promise((resolve) => {
      if (abort.signal.aborted) return resolve();
      const timer = setTimeout(done, ms);
      function done(): void {
        clearTimeout(timer);
        abort.signal.removeEventListener('abort', done);
        resolve();
      }
      abort.signal.addEventListener('abort', done, { once: true });
    });

  const loop = async (): Promise<void> => {
    let backoffMs = initialBackoffMs;
    let attempt = 0;
    let connectedBefore = false;
    while (!closed) {
      attempt++;
      try {
        connection = await connectZdsProxy({
          ...(options.path === undefined ? {} : { path: options.path }),
          handlers,
          signal: abort.signal,
          onSnapshotAcked,
        });
      } catch (error) {
        if (closed) return;
        // ztunnel doubles first, then sleeps (workloadmanager.rs `connect`).
        backoffMs = Math.min(maxBackoffMs, backoffMs * 2);
        const cause =
          error instanceof RedirectError
            ? error
            : new RedirectError('REDIRECT_ERR_CONNECT', String((error as Error)?.message ?? error), {
                cause: error,
              });
        emit({ type: 'connect-failed', attempt, error: cause, retryInMs: backoffMs });
        await sleep(backoffMs);
        continue;
      }
      emit({ type: 'connected', attempt, reconnect: connectedBefore });
      connectedBefore = true;
      attempt = 0;
      const { error } = await connection.closed;
      const hadSnapshot = snapshotReceived;
      connection = undefined;
      snapshotReceived = false;
      if (closed) return;
      // A connection that worked starts the backoff over (ztunnel resets it once ready).
      if (hadSnapshot) backoffMs = initialBackoffMs;
      else backoffMs = Math.min(maxBackoffMs, backoffMs * 2);
      emit({ type: 'disconnected', ...(error === undefined ? {} : { error }), retryInMs: backoffMs });
      await sleep(backoffMs);
    }
  };
  const running = loop();

  async function close(): Promise<void> {
    if (!closed) {
      closed = true;
      options.signal?.removeEventListener('abort', onOuterAbort);
      abort.abort();
      connection?.close();
      const error = new RedirectError('REDIRECT_ERR_ZDS_CLOSED', 'the ZDS runner is closed');
      for (const w of waiters) w.reject(error);
      waiters.clear();
    }
    await running;
  }

  return {
    get connected() {
      return connection !== undefined;
    },
    get snapshotReceived() {
      return snapshotReceived;
    },
    waitForSnapshot(waitOptions) {
      if (snapshotReceived) return Promise.resolve();
      if (closed)
        return Promise.reject(new RedirectError('REDIRECT_ERR_ZDS_CLOSED', 'the ZDS runner is closed'));
      const timeoutMs = waitOptions?.timeoutMs ?? 10_000;
      return new Promise<void>((resolve, reject) => {
        const waiter = {
          resolve: () => {
            clearTimeout(timer);
            resolve();
          },
          reject: (error: Error) => {
            clearTimeout(timer);
            reject(error);
          },
        };
        const timer = setTimeout(() => {
          waiters.delete(waiter);
          reject(
            new RedirectError(
              'REDIRECT_ERR_CONNECT_TIMEOUT',
              `no ZDS snapshot from the node agent within ${timeoutMs} ms`,
            ),
          );
        }, timeoutMs);
        waiters.add(waiter);
      });
    },
    close,
  };
}
