/**
 * Watching a Workload API stream: keep one server stream open, hand every decoded message to the caller, and
 * when the stream fails or ends, open it again after a backoff (spiffe/spiffe@665a28f3:standards/
 * SPIFFE_Workload_API.md, section 4.2: clients keep the stream open and reconnect at once when it closes;
 * SPIFFE_Workload_Endpoint.md, Appendix A: retry UNAVAILABLE and PERMISSION_DENIED with backoff, give up on
 * INVALID_ARGUMENT and UNIMPLEMENTED). The backoff restarts after every received message, as go-spiffe's
 * watchers do (spiffe/go-spiffe@e9973f63:workloadapi/client.go `watchX509Context`).
 * @module
 */
import type { ClientReadableStream, ServiceError } from '@grpc/grpc-js';
import type { Result } from 'neverthrow';
import { SpiffeError } from '../codec/errors.js';
import { debug } from '../diagnostics.js';
import { type BackoffOptions, createBackoff } from '../svid/backoff.js';
import { isTerminalWorkloadApiError, workloadApiCallError } from './status.js';

/** Options of a watch. */
export interface WatchOptions {
  /**
   * Told about every failure: a stream that failed or ended (then retried after the backoff, unless the
   * error is terminal), or a message that was discarded because it broke the profile
   * (`SPIFFE_ERR_WORKLOAD_API_BAD_RESPONSE`; the stream stays open).
   */
  readonly onError?: (error: SpiffeError) => void;
  /** Closes the watch when aborted. */
  readonly signal?: AbortSignal;
}

/** A running watch. */
export interface Watch {
  /** Stops the watch (cancels the stream, clears a pending retry). Idempotent. */
  close(): void;
  /**
   * Settles when the watch stops for good: with `undefined` after {@link Watch.close}, or with the terminal
   * error (INVALID_ARGUMENT, UNIMPLEMENTED, or the client being closed). Never rejects.
   */
  readonly done: Promise<SpiffeError | undefined>;
}

/** The default retry backoff of watches: from 1 s, doubling, ±20 %, capped at 30 s (go-spiffe's cap). */
export const DEFAULT_WATCH_BACKOFF: Readonly<BackoffOptions> = Object.freeze({
  initialMs: 1000,
  maxMs: 30_000,
  multiplier: 2,
  jitter: 0.2,
});

/** What {@link startWatch} needs. */
export interface WatchSpec<M, T> {
  /** The endpoint URI and the method, for messages. */
  readonly endpoint: string;
  readonly method: string;
  /** Opens the stream (one call per attempt). */
  readonly open: () => ClientReadableStream<M>;
  /** Turns a message into the caller's value. */
  readonly decode: (message: M) => Result<T, SpiffeError>;
  /** Receives every decoded value. */
  readonly onUpdate: (value: T) => void;
  /** The retry backoff. */
  readonly backoff?: BackoffOptions | undefined;
  /** Whether the owning client is closed (then the watch stops instead of retrying). */
  readonly clientClosed: () => boolean;
}

function surface(error: unknown): void {
  // A throwing callback is a programmer error; surface it as an EventEmitter listener's would be, without
  // tearing down the gRPC stream it was called from.
  queueMicrotask(() => {
    throw error;
  });
}

/**
 * Starts a watch.
 *
 * @param spec - The stream, the decoder, the callback, the backoff.
 * @param options - Error callback and abort signal.
 * @returns The watch.
 * @example
 * ```ts
 * const watch = startWatch(
 *   { endpoint, method: 'FetchX509SVID', open: openStream, decode, onUpdate, clientClosed },
 *   {},
 * );
 * ```
 */
export function startWatch<M, T>(spec: WatchSpec<M, T>, options: WatchOptions = {}): Watch {
  const backoff = createBackoff(spec.backoff ?? DEFAULT_WATCH_BACKOFF);
  let call: ClientReadableStream<M> | undefined;
  let timer: NodeJS.Timeout | undefined;
  let stopped = false;
  let settle: (value: SpiffeError | undefined) => void = () => {};
  const done = new Promise<SpiffeError | undefined>((resolve) => {
    settle = resolve;
  });

  const report = (error: SpiffeError): void => {
    try {
      options.onError?.(error);
    } catch (thrown) {
      surface(thrown);
    }
  };

  const stop = (error: SpiffeError | undefined): void => {
    if (stopped) return;
    stopped = true;
    options.signal?.removeEventListener('abort', close);
    if (timer !== undefined) clearTimeout(timer);
    timer = undefined;
    const current = call;
    call = undefined;
    current?.cancel();
    settle(error);
  };

  const failed = (attempt: ClientReadableStream<M>, error: SpiffeError): void => {
    if (stopped || call !== attempt) return;
    call = undefined;
    if (spec.clientClosed()) {
      stop(new SpiffeError('SPIFFE_ERR_WORKLOAD_API_CANCELLED', 'the Workload API client is closed'));
      return;
    }
    report(error);
    if (isTerminalWorkloadApiError(error)) {
      debug('Workload API %s %s: giving up: %s', spec.endpoint, spec.method, error.message);
      stop(error);
      return;
    }
    const delayMs = backoff.next();
    debug('Workload API %s %s: %s; retrying in %d ms', spec.endpoint, spec.method, error.message, delayMs);
    timer = setTimeout(() => {
      timer = undefined;
      connect();
    }, delayMs);
  };

  function connect(): void {
    if (stopped) return;
    if (spec.clientClosed()) {
      stop(new SpiffeError('SPIFFE_ERR_WORKLOAD_API_CANCELLED', 'the Workload API client is closed'));
      return;
    }
    const attempt = spec.open();
    call = attempt;
    attempt.on('data', (message: M) => {
      if (stopped || call !== attempt) return;
      backoff.reset();
      const value = spec.decode(message);
      if (value.isErr()) {
        // SPIFFE_Workload_API.md, section 4.5: report and discard the message; the stream stays.
        report(value.error);
        return;
      }
      try {
        spec.onUpdate(value.value);
      } catch (thrown) {
        surface(thrown);
      }
    });
    attempt.on('error', (error: ServiceError) => {
      failed(attempt, workloadApiCallError(spec.endpoint, spec.method, error));
    });
    attempt.on('status', (status: { code: number }) => {
      // A stream the server ended with OK: not an error of ours, but the state is no longer followed.
      if (status.code === 0) {
        failed(
          attempt,
          new SpiffeError(
            'SPIFFE_ERR_WORKLOAD_API_SERVER_ERROR',
            `Workload API ${spec.endpoint} ${spec.method}: the server ended the stream`,
          ),
        );
      }
    });
  }

  function close(): void {
    stop(undefined);
  }

  if (options.signal?.aborted) stop(undefined);
  else {
    options.signal?.addEventListener('abort', close, { once: true });
    connect();
  }
  return { close, done };
}
