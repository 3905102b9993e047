/**
 * Retry policies and Envoy's retry decisions (envoyproxy/envoy@e78906c5:source/common/router/retry_state_impl.cc
 * `wouldRetryFromHeaders`, `wouldRetryFromReset`, `shouldRetry`), with Istio's defaults
 * (istio/istio@86c9f01f:pilot/pkg/networking/core/route/retry/retry.go): a route without a retry policy
 * gets 2 retries on `connect-failure,refused-stream,unavailable,cancelled,retriable-status-codes` with no
 * status codes (so a 503 from the application is not retried), and the previous-hosts predicate.
 * @module
 */
import type { RetryPolicy } from './types.js';

/** Envoy's default backoff base (`upstream.base_retry_backoff_ms`, 25 ms); the cap defaults to 10 × base. */
export const DEFAULT_BACKOFF_BASE_MS = 25;

/** Istio's default `retryOn`. */
export const ISTIO_DEFAULT_RETRY_ON: readonly string[] = [
  'connect-failure',
  'refused-stream',
  'unavailable',
  'cancelled',
  'retriable-status-codes',
];

/** Istio's default policy, applied to routes that configure none. */
export const ISTIO_DEFAULT_RETRY_POLICY: RetryPolicy = Object.freeze({
  attempts: 2,
  retryOn: ISTIO_DEFAULT_RETRY_ON,
  retriableStatusCodes: [],
  perTryTimeoutMs: 0,
  backoffBaseMs: DEFAULT_BACKOFF_BASE_MS,
  backoffMaxMs: DEFAULT_BACKOFF_BASE_MS * 10,
  avoidPreviousHosts: true,
});

/**
 * Splits Istio's `retryOn` (`retry.ConvertPolicy` / `parseRetryOn`): integers are status codes retried under
 * `retriable-status-codes`, which is added when codes are given without it.
 *
 * @param retryOn - E.g. `gateway-error,connect-failure,503`.
 * @returns Envoy's policy names and the status codes.
 * @example
 * ```ts
 * parseRetryOn('5xx,409'); // { retryOn: ['5xx', 'retriable-status-codes'], codes: [409] }
 * ```
 */
export function parseRetryOn(retryOn: string): { retryOn: string[]; codes: number[] } {
  const names: string[] = [];
  const codes: number[] = [];
  for (const raw of retryOn.split(',')) {
    const part = raw.trim();
    if (part === '') continue;
    if (/^[0-9]+$/.test(part)) codes.push(Number(part));
    else names.push(part);
  }
  if (codes.length > 0 && !names.includes('retriable-status-codes')) names.push('retriable-status-codes');
  return { retryOn: names, codes };
}

/** What one attempt ended with, as the retry logic sees it. */
export type AttemptResult =
  | {
      readonly kind: 'response';
      readonly status: number;
      readonly grpcStatus?: number;
      readonly rateLimited?: boolean;
    }
  | { readonly kind: 'connect-failure' }
  | { readonly kind: 'reset' }
  | { readonly kind: 'refused-stream' }
  | { readonly kind: 'per-try-timeout' }
  | { readonly kind: 'overflow' };

const GRPC_RETRY: Readonly<Record<string, number>> = {
  cancelled: 1,
  'deadline-exceeded': 4,
  'resource-exhausted': 8,
  unavailable: 14,
  internal: 13,
};

/**
 * Whether Envoy would retry an attempt under a policy (before counting the retry budget).
 *
 * - `5xx`: any 5xx response, and resets, connect failures and per-try timeouts;
 * - `gateway-error`: 502/503/504, and resets, connect failures and per-try timeouts;
 * - `reset`: resets and connect failures; `connect-failure`, `refused-stream`: those only;
 * - `retriable-4xx`: 409; `retriable-status-codes`: the policy's codes;
 * - gRPC names: the response's `grpc-status`; `envoy-ratelimited`: responses with `x-envoy-ratelimited`.
 *
 * A per-try timeout is retried only under `5xx` and `gateway-error` (retry_state_impl.cc
 * `shouldHedgeRetryPerTryTimeout`: "non-hedged per try timeouts ... are only retried if the applicable
 * retry policy specifies either RETRY_ON_5XX or RETRY_ON_GATEWAY_ERROR"); an overflow never is.
 *
 * @param policy - The retry policy.
 * @param result - How the attempt ended.
 * @param startedRequest - Whether the request reached the upstream (`reset-before-request` only retries
 *   when it did not).
 * @returns Whether to retry.
 * @example
 * ```ts
 * wouldRetry(policy, { kind: 'response', status: 503 }); // true under 5xx or gateway-error
 * ```
 */
export function wouldRetry(policy: RetryPolicy, result: AttemptResult, startedRequest = true): boolean {
  const on = policy.retryOn;
  const has = (name: string): boolean => on.includes(name);
  switch (result.kind) {
    case 'overflow':
      return false;
    case 'per-try-timeout':
      return has('5xx') || has('gateway-error');
    case 'connect-failure':
      return (
        has('connect-failure') ||
        has('reset') ||
        has('5xx') ||
        has('gateway-error') ||
        has('reset-before-request')
      );
    case 'refused-stream':
      return (
        has('refused-stream') ||
        has('reset') ||
        has('5xx') ||
        has('gateway-error') ||
        (!startedRequest && has('reset-before-request'))
      );
    case 'reset':
      return (
        has('reset') || has('5xx') || has('gateway-error') || (!startedRequest && has('reset-before-request'))
      );
    case 'response': {
      if (result.rateLimited === true) return has('envoy-ratelimited');
      const st = result.status;
      if (has('5xx') && st >= 500 && st <= 599) return true;
      if (has('gateway-error') && st >= 502 && st <= 504) return true;
      if (has('retriable-4xx') && st === 409) return true;
      if (has('retriable-status-codes') && policy.retriableStatusCodes.includes(st)) return true;
      if (result.grpcStatus !== undefined) {
        for (const [name, code] of Object.entries(GRPC_RETRY))
          if (code === result.grpcStatus && has(name)) return true;
      }
      return false;
    }
  }
}

/**
 * Envoy's fully jittered exponential backoff (`JitteredExponentialBackOffStrategy`): the n-th retry waits a
 * uniform random time below `min(base × 2^(n-1), max)`.
 *
 * @param policy - The policy (base and cap).
 * @param retry - Which retry (1 for the first).
 * @param random - A [0,1) source.
 * @returns The wait in milliseconds.
 * @example
 * ```ts
 * backoffMs(policy, 1, Math.random); // in [0, 25)
 * ```
 */
export function backoffMs(policy: RetryPolicy, retry: number, random: () => number): number {
  const ceiling = Math.min(policy.backoffBaseMs * 2 ** Math.max(0, retry - 1), policy.backoffMaxMs);
  return Math.floor(random() * ceiling);
}
