/**
 * A rotating SVID source: fetches an SVID, refreshes it at half-life, and on failure retries with exponential
 * backoff while it keeps serving the current SVID until that one expires (ztunnel `src/identity/manager.rs`,
 * `src/tls/certificate.rs` `refresh_at`, at istio/ztunnel@62d82653).
 * @module
 */
import { SpiffeError } from '../codec/errors.js';
import { debug, publish } from '../diagnostics.js';
import { parseX509Svid, type X509Svid } from '../x509/svid.js';
import { type BackoffOptions, createBackoff } from './backoff.js';
import type { SvidListener, SvidSource } from './svid-source.js';

/** Longest delay `setTimeout` honours (2^31 - 1 ms, ~24.8 days); longer waits are re-armed in steps. */
const MAX_TIMER_MS = 2 ** 31 - 1;

/** Options of {@link createRotatingSvidSource}. */
export interface RotatingSvidSourceOptions {
  /**
   * Gets a fresh SVID (from a CA, the Workload API, files…). It receives an `AbortSignal` that fires on timeout
   * or close. A rejected promise, an invalid SVID or an expired one counts as a failure and is retried.
   */
  readonly fetchSvid: (context: { readonly signal: AbortSignal }) => Promise<X509Svid>;
  /** An SVID to serve at once; without it the factory waits for the first successful fetch. */
  readonly initial?: X509Svid;
  /**
   * Where in the SVID's lifetime to refresh, from notBefore: 0.5 is ztunnel's exact half-life (default).
   * istio-agent uses 0.5 ± 0.01 from receipt time
   * (istio/istio@86c9f01f:security/pkg/nodeagent/cache/secretcache.go).
   */
  readonly refreshRatio?: number;
  /** Overrides `refreshRatio`: when to refresh a given SVID. */
  readonly refreshAt?: (svid: X509Svid) => Date;
  /** Retry backoff (defaults: ztunnel's 500 ms start, ×2, ±20 %, 150 s cap). */
  readonly backoff?: BackoffOptions;
  /** Per-fetch timeout (default 30 000 ms). */
  readonly fetchTimeoutMs?: number;
  /** How long the factory waits for a first SVID when no `initial` is given (default 60 000 ms). */
  readonly initialTimeoutMs?: number;
  /**
   * Told about every failed fetch of this source (`SPIFFE_ERR_FETCH_FAILED`, the cause attached). Every source
   * also publishes its failures on the `ambient-kit:spiffe:svid:refresh-failed` diagnostics channel; this hook
   * is for the one caller that owns the source (to log which identity failed, say).
   */
  readonly onError?: (error: SpiffeError) => void;
  /** The clock (default `Date.now`), for tests. Timers still run in real time. */
  readonly now?: () => number;
  /** Closes the source (and rejects a pending first fetch) when aborted. */
  readonly signal?: AbortSignal;
}

/** A {@link SvidSource} that rotates. */
export interface RotatingSvidSource extends SvidSource {
  /**
   * Fetches now (joining a fetch in flight). On success the new SVID becomes current and is emitted.
   * @returns The new SVID.
   * @throws {SpiffeError} (rejects) `SPIFFE_ERR_FETCH_FAILED` or `SPIFFE_ERR_SOURCE_CLOSED`.
   */
  refresh(): Promise<X509Svid>;
  /** When the next fetch is scheduled, if one is. */
  nextRefreshAt(): Date | undefined;
}

function validate(value: X509Svid, nowMs: number): X509Svid {
  if (typeof value !== 'object' || value === null) {
    throw new SpiffeError(
      'SPIFFE_ERR_FETCH_FAILED',
      'fetchSvid resolved to something that is not an X509Svid',
    );
  }
  // Re-parse: the SVID may come from outside our CA; a bad chain or a key that does not match must never reach
  // a SecureContext.
  const parsed = parseX509Svid(value.certChainPem, value.privateKeyPem);
  if (parsed.isErr()) throw parsed.error;
  if (parsed.value.notAfter.getTime() <= nowMs) {
    throw new SpiffeError(
      'SPIFFE_ERR_CERT_EXPIRED',
      `fetched SVID already expired at ${parsed.value.notAfter.toISOString()}`,
    );
  }
  return parsed.value;
}

/**
 * Creates a rotating SVID source. Refresh happens at `notBefore + (notAfter - notBefore) × refreshRatio`;
 * failures are retried with exponential backoff, never later than the current SVID's expiry, and the current
 * SVID keeps being served while it is valid. Timers are unref'd: the source never keeps a process alive.
 *
 * @param options - The fetch function and timing policy.
 * @returns The source, once it has an SVID.
 * @throws {SpiffeError} (rejects) `SPIFFE_ERR_FETCH_FAILED` when no first SVID arrives within
 * `initialTimeoutMs`, `SPIFFE_ERR_SOURCE_CLOSED` when `signal` aborts first.
 * @throws {RangeError} (rejects) For a `refreshRatio` outside (0, 1] or non-positive timeouts.
 * @example
 * ```ts
 * const svid = await createRotatingSvidSource({
 *   fetchSvid: () => ca.issue('spiffe://cluster.local/ns/default/sa/sleep', { ttlMs: 3_600_000 }),
 * });
 * svid.subscribe((next) => console.log('rotated, valid until', next.notAfter));
 * ```
 */
export async function createRotatingSvidSource(
  options: RotatingSvidSourceOptions,
): Promise<RotatingSvidSource> {
  const ratio = options.refreshRatio ?? 0.5;
  const fetchTimeoutMs = options.fetchTimeoutMs ?? 30_000;
  const initialTimeoutMs = options.initialTimeoutMs ?? 60_000;
  if (!(ratio > 0 && ratio <= 1))
    throw new RangeError('createRotatingSvidSource: refreshRatio must be in (0, 1]');
  if (!(fetchTimeoutMs > 0) || !(initialTimeoutMs > 0)) {
    throw new RangeError('createRotatingSvidSource: timeouts must be positive');
  }
  if (typeof options.fetchSvid !== 'function')
    throw new TypeError('createRotatingSvidSource: fetchSvid must be a function');
  const now = options.now ?? Date.now;
  const backoff = createBackoff(options.backoff);
  const minDelayMs = options.backoff?.initialMs ?? 500;
  const listeners = new Set<SvidListener>();
  const closer = new AbortController();

  let current: X509Svid | undefined;
  let closed = false;
  let timer: NodeJS.Timeout | undefined;
  let dueAtMs: number | undefined;
  let inflight: Promise<X509Svid> | undefined;
  let lastFailure: SpiffeError | undefined;

  const refreshDueMs = (svid: X509Svid): number => {
    if (options.refreshAt !== undefined) return options.refreshAt(svid).getTime();
    const from = svid.notBefore.getTime();
    return from + (svid.notAfter.getTime() - from) * ratio;
  };

  const arm = (atMs: number): void => {
    if (closed) return;
    if (timer !== undefined) clearTimeout(timer);
    dueAtMs = atMs;
    const wait = Math.max(0, Math.min(atMs - now(), MAX_TIMER_MS));
    timer = setTimeout(() => {
      timer = undefined;
      if (dueAtMs !== undefined && now() < dueAtMs - 1) arm(dueAtMs);
      else void attempt().catch(() => {});
    }, wait);
    timer.unref();
  };

  const emit = (svid: X509Svid): void => {
    for (const listener of [...listeners]) {
      try {
        listener(svid);
      } catch (error) {
        // A throwing listener is a programmer error; surface it like an EventEmitter listener would.
        queueMicrotask(() => {
          throw error;
        });
      }
    }
  };

  const fetchOnce = async (): Promise<X509Svid> => {
    const controller = new AbortController();
    const onClose = (): void => controller.abort(closer.signal.reason);
    closer.signal.addEventListener('abort', onClose, { once: true });
    let timeout: NodeJS.Timeout | undefined;
    try {
      const timedOut = new Promise<never>((_, reject) => {
        timeout = setTimeout(() => {
          const error = new SpiffeError(
            'SPIFFE_ERR_FETCH_FAILED',
            `fetchSvid did not settle within ${fetchTimeoutMs} ms`,
          );
          controller.abort(error);
          reject(error);
        }, fetchTimeoutMs);
        timeout.unref();
      });
      const fetched = await Promise.race([options.fetchSvid({ signal: controller.signal }), timedOut]);
      return validate(fetched, now());
    } finally {
      if (timeout !== undefined) clearTimeout(timeout);
      closer.signal.removeEventListener('abort', onClose);
    }
  };

  const attempt = (): Promise<X509Svid> => {
    if (closed)
      return Promise.reject(new SpiffeError('SPIFFE_ERR_SOURCE_CLOSED', 'the SVID source is closed'));
    if (inflight !== undefined) return inflight;
    inflight = (async () => {
      try {
        const svid = await fetchOnce();
        if (closed) throw new SpiffeError('SPIFFE_ERR_SOURCE_CLOSED', 'the SVID source is closed');
        current = svid;
        backoff.reset();
        arm(Math.max(refreshDueMs(svid), now() + minDelayMs));
        debug('SVID %s rotated, valid until %s', svid.id.toString(), svid.notAfter.toISOString());
        publish('svidRotated', () => ({
          svid,
          nextRefreshAt: dueAtMs === undefined ? undefined : new Date(dueAtMs),
        }));
        emit(svid);
        return svid;
      } catch (cause) {
        if (closed) throw new SpiffeError('SPIFFE_ERR_SOURCE_CLOSED', 'the SVID source is closed', { cause });
        const error =
          cause instanceof SpiffeError && cause.code === 'SPIFFE_ERR_FETCH_FAILED'
            ? cause
            : new SpiffeError(
                'SPIFFE_ERR_FETCH_FAILED',
                `SVID fetch failed: ${cause instanceof Error ? cause.message : String(cause)}`,
                { cause },
              );
        lastFailure = error;
        // ztunnel `src/identity/manager.rs`: retry after the backoff, but never later than the current
        // certificate's expiry.
        let retryAt = now() + backoff.next();
        if (current !== undefined && current.notAfter.getTime() > now())
          retryAt = Math.min(retryAt, current.notAfter.getTime());
        arm(retryAt);
        debug('SVID refresh failed (%s), retrying at %s', error.message, new Date(retryAt).toISOString());
        const served = current;
        publish('svidRefreshFailed', () => ({ error, current: served, retryAt: new Date(retryAt) }));
        options.onError?.(error);
        throw error;
      } finally {
        inflight = undefined;
      }
    })();
    return inflight;
  };

  const close = (): void => {
    if (closed) return;
    closed = true;
    if (timer !== undefined) clearTimeout(timer);
    timer = undefined;
    dueAtMs = undefined;
    listeners.clear();
    closer.abort(new SpiffeError('SPIFFE_ERR_SOURCE_CLOSED', 'the SVID source is closed'));
  };
  if (options.signal?.aborted) close();
  options.signal?.addEventListener('abort', close, { once: true });

  const source: RotatingSvidSource = {
    current: () => {
      if (closed || current === undefined)
        throw new SpiffeError('SPIFFE_ERR_SOURCE_CLOSED', 'the SVID source is closed');
      return current;
    },
    subscribe: (listener) => {
      listeners.add(listener);
      return () => {
        listeners.delete(listener);
      };
    },
    close,
    refresh: attempt,
    nextRefreshAt: () => (dueAtMs === undefined ? undefined : new Date(dueAtMs)),
  };

  if (closed)
    throw new SpiffeError('SPIFFE_ERR_SOURCE_CLOSED', 'the SVID source was aborted before it started');
  if (options.initial !== undefined) {
    current = validate(options.initial, now());
    arm(Math.max(refreshDueMs(current), now() + minDelayMs));
    return source;
  }
  // Wait for the first SVID: the failure path above already re-arms with backoff; we wait for an emit.
  // The deadline timer stays referenced: a process awaiting its first SVID must not exit mid-backoff.
  return new Promise<RotatingSvidSource>((resolve, reject) => {
    const deadline = setTimeout(() => {
      finish();
      close();
      reject(
        new SpiffeError('SPIFFE_ERR_FETCH_FAILED', `no SVID within ${initialTimeoutMs} ms`, {
          cause: lastFailure,
        }),
      );
    }, initialTimeoutMs);
    const unsubscribe = source.subscribe(() => {
      finish();
      resolve(source);
    });
    const onAbort = (): void => {
      finish();
      reject(new SpiffeError('SPIFFE_ERR_SOURCE_CLOSED', 'the SVID source was closed before its first SVID'));
    };
    closer.signal.addEventListener('abort', onAbort, { once: true });
    function finish(): void {
      clearTimeout(deadline);
      unsubscribe();
      closer.signal.removeEventListener('abort', onAbort);
    }
    attempt().catch(() => {});
  });
}
