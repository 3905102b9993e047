/**
 * What the Workload API sources share: a client of their own unless one is given, and the wait for the first
 * state, bounded by a timeout and cut short by a terminal error or a close.
 * @module
 */
import { SpiffeError } from '../codec/errors.js';
import type { BackoffOptions } from '../svid/backoff.js';
import { createWorkloadApiClient, type WorkloadApiClient } from './client.js';

/** The client options a source takes. */
export interface SourceClientOptions {
  /** A client to use (it stays open when the source closes). Without it the source makes its own. */
  readonly client?: WorkloadApiClient;
  /** The endpoint of the source's own client (see `createWorkloadApiClient`). */
  readonly socketPath?: string;
  /** The retry backoff of the source's own client. */
  readonly backoff?: BackoffOptions;
}

/**
 * The client a source uses: the given one, or one of its own that it closes with itself.
 *
 * @param options - The source's options.
 * @returns The client, and whether the source owns it.
 * @throws {SpiffeError} `SPIFFE_ERR_WORKLOAD_API_ADDRESS` for a bad or missing endpoint.
 * @example
 * ```ts
 * const { client, owned } = sourceClient(options);
 * ```
 */
export function sourceClient(options: SourceClientOptions): { client: WorkloadApiClient; owned: boolean } {
  if (options.client !== undefined) return { client: options.client, owned: false };
  return {
    client: createWorkloadApiClient({
      ...(options.socketPath === undefined ? {} : { socketPath: options.socketPath }),
      ...(options.backoff === undefined ? {} : { backoff: options.backoff }),
    }),
    owned: true,
  };
}

/** The wait for a source's first state. */
export interface FirstState {
  /** The first state arrived. */
  ready(): void;
  /** The wait failed (a terminal error, a close); later calls do nothing. */
  fail(error: SpiffeError): void;
  /**
   * Waits for {@link FirstState.ready}, at most `timeoutMs`.
   * @throws {SpiffeError} (rejects) What `fail` was given, or `SPIFFE_ERR_WORKLOAD_API_TIMEOUT`.
   */
  wait(): Promise<void>;
}

/**
 * Creates the wait for a source's first state.
 *
 * @param timeoutMs - How long to wait.
 * @param what - Says what did not arrive from where, for the timeout's message (called only then).
 * @returns The wait.
 * @throws {RangeError} For a timeout that is not positive.
 * @example
 * ```ts
 * const first = firstState(30_000, () => `no X.509 context from ${client.address}`);
 * const watch = client.watchX509Context(() => first.ready());
 * await first.wait();
 * ```
 */
export function firstState(timeoutMs: number, what: () => string): FirstState {
  if (!(timeoutMs > 0)) throw new RangeError('initialTimeoutMs must be positive');
  let settled = false;
  let resolve: () => void = () => {};
  let reject: (error: SpiffeError) => void = () => {};
  const arrived = new Promise<void>((res, rej) => {
    resolve = res;
    reject = rej;
  });
  // Nobody may be waiting yet when it fails; the rejection is observed by `wait`.
  arrived.catch(() => {});
  const settle = (error?: SpiffeError): void => {
    if (settled) return;
    settled = true;
    if (error === undefined) resolve();
    else reject(error);
  };
  return {
    ready: () => settle(),
    fail: (error) => settle(error),
    wait: async () => {
      const timer = setTimeout(
        () => settle(new SpiffeError('SPIFFE_ERR_WORKLOAD_API_TIMEOUT', `${what()} within ${timeoutMs} ms`)),
        timeoutMs,
      );
      try {
        await arrived;
      } finally {
        clearTimeout(timer);
      }
    },
  };
}
