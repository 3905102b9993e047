import { describe, expect, it } from 'vitest';
import {
  type AttemptResult,
  backoffMs,
  ISTIO_DEFAULT_RETRY_POLICY,
  parseRetryOn,
  wouldRetry,
} from './retry-policy.js';
import type { RetryPolicy } from './types.js';

const policy = (retryOn: string): RetryPolicy => ({
  ...ISTIO_DEFAULT_RETRY_POLICY,
  ...parseRetryOn(retryOn),
  retriableStatusCodes: parseRetryOn(retryOn).codes,
});
const r = (status: number, grpcStatus?: number): AttemptResult => ({
  kind: 'response',
  status,
  ...(grpcStatus === undefined ? {} : { grpcStatus }),
});

describe("Envoy's retryOn meanings", () => {
  it.each([
    ['5xx', r(500), true],
    ['5xx', r(503), true],
    ['5xx', r(404), false],
    ['5xx', { kind: 'per-try-timeout' }, true],
    ['5xx', { kind: 'reset' }, true],
    ['5xx', { kind: 'connect-failure' }, true],
    ['gateway-error', r(500), false],
    ['gateway-error', r(502), true],
    ['gateway-error', r(504), true],
    ['gateway-error', { kind: 'per-try-timeout' }, true],
    ['reset', { kind: 'reset' }, true],
    ['reset', { kind: 'per-try-timeout' }, false],
    ['reset', r(503), false],
    ['connect-failure', { kind: 'connect-failure' }, true],
    ['connect-failure', { kind: 'reset' }, false],
    ['refused-stream', { kind: 'refused-stream' }, true],
    ['retriable-4xx', r(409), true],
    ['retriable-4xx', r(404), false],
    ['retriable-status-codes,503', r(503), true],
    ['503', r(503), true],
    ['retriable-status-codes', r(503), false],
    ['unavailable', r(200, 14), true],
    ['cancelled', r(200, 14), false],
    ['5xx', { kind: 'overflow' }, false],
  ] as const)('%s on %j → %s', (retryOn, result, expected) => {
    expect(wouldRetry(policy(retryOn), result as AttemptResult)).toBe(expected);
  });

  it("Istio's default retries connection failures and refused streams, not a 503 from the app", () => {
    expect(wouldRetry(ISTIO_DEFAULT_RETRY_POLICY, { kind: 'connect-failure' })).toBe(true);
    expect(wouldRetry(ISTIO_DEFAULT_RETRY_POLICY, { kind: 'refused-stream' })).toBe(true);
    expect(wouldRetry(ISTIO_DEFAULT_RETRY_POLICY, r(503))).toBe(false);
    expect(wouldRetry(ISTIO_DEFAULT_RETRY_POLICY, { kind: 'per-try-timeout' })).toBe(false);
  });

  it('backs off with full jitter under min(base * 2^(n-1), max)', () => {
    const p = ISTIO_DEFAULT_RETRY_POLICY;
    expect([1, 2, 3, 4, 5, 6].map((n) => backoffMs(p, n, () => 0.999999))).toEqual([
      24, 49, 99, 199, 249, 249,
    ]);
    expect(backoffMs(p, 3, () => 0)).toBe(0);
  });
});
