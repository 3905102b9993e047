/**
 * `router.execute`: fault delay, timeouts (504 UT), retries (retryOn, attempts, per-try timeout, backoff,
 * retry circuit breaker), mirrors and response header changes around a scripted fake backend, on a virtual
 * clock so every timing is exact. Retry semantics:
 * envoyproxy/envoy@e78906c5:source/common/router/retry_state_impl.cc.
 */
import { describe, expect, it } from 'vitest';
import {
  createVirtualClock,
  type SendFunction,
  type SendTarget,
  type UpstreamRequest,
  type UpstreamResponse,
  upstreamFailure,
} from '../src/index.js';
import { req, routerFrom, services } from './support/helpers.js';

const SVCS = services('default', 'web', 'mirror');

const vs = (http: string, extraYaml = ''): string => `${SVCS}${extraYaml}apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: { name: web }
spec:
  hosts: [web]
  http:
${http}
`;

type Step = number | 'hang' | 'connect-failure' | 'reset' | { status: number; delayMs: number };

/** A backend that answers each attempt with the next scripted step, recording what it was sent. */
function scripted(steps: Step[], clock: ReturnType<typeof createVirtualClock>) {
  const calls: { target: SendTarget; request: UpstreamRequest; at: number }[] = [];
  let i = 0;
  const send: SendFunction = async (target, request, signal): Promise<UpstreamResponse> => {
    calls.push({ target, request, at: clock.now() });
    if (target.mirror) throw new Error('mirror backend is down');
    const step = steps[Math.min(i++, steps.length - 1)] as Step;
    if (step === 'hang')
      return new Promise((_, reject) =>
        signal.addEventListener('abort', () => reject(new Error('aborted')), { once: true }),
      );
    if (step === 'connect-failure') throw upstreamFailure('connect-failure', 'ECONNREFUSED');
    if (step === 'reset') throw upstreamFailure('reset', 'ECONNRESET');
    if (typeof step === 'object') {
      await clock.sleep(step.delayMs, signal);
      return { status: step.status, headers: {} };
    }
    return {
      status: step,
      headers: { 'content-type': 'text/plain', server: 'backend' },
      body: `answer ${step}`,
    };
  };
  return {
    send,
    calls: () => calls.filter((c) => !c.target.mirror),
    mirrors: () => calls.filter((c) => c.target.mirror),
  };
}

const run = async (yaml: string, steps: Step[], request = req('web')) => {
  const router = routerFrom(yaml);
  const clock = createVirtualClock();
  const backend = scripted(steps, clock);
  const result = await router.execute(request, {
    send: backend.send,
    now: clock.now,
    sleep: clock.sleep,
    random: () => 0.5,
  });
  return { result, calls: backend.calls(), mirrors: backend.mirrors(), clock };
};

describe('retries', () => {
  const retrying = vs(
    '  - retries: { attempts: 3, retryOn: 5xx }\n    route: [{ destination: { host: web } }]',
  );

  it('stop on success', async () => {
    const { result, calls } = await run(retrying, [503, 500, 200, 503]);
    expect(result).toMatchObject({ status: 200, attempts: 3, flags: [], responseFlags: '-' });
    expect(calls.map((c) => c.target.attempt)).toEqual([1, 2, 3]);
  });

  it('stop when the attempts are used up, with flag URX and the last answer', async () => {
    const { result, calls } = await run(retrying, [503]);
    expect(result).toMatchObject({
      status: 503,
      attempts: 4,
      flags: ['URX'],
      responseFlags: 'URX',
      body: 'answer 503',
    });
    expect(calls).toHaveLength(4);
  });

  it('stop on codes retryOn does not cover', async () => {
    const gateway = vs(
      '  - retries: { attempts: 3, retryOn: gateway-error }\n    route: [{ destination: { host: web } }]',
    );
    expect((await run(gateway, [500, 200])).result).toMatchObject({ status: 500, attempts: 1, flags: [] });
    expect((await run(gateway, [502, 504, 200])).result).toMatchObject({ status: 200, attempts: 3 });
    expect((await run(retrying, [404, 200])).result).toMatchObject({ status: 404, attempts: 1 });
    const codes = vs(
      '  - retries: { attempts: 2, retryOn: "retriable-status-codes,409" }\n    route: [{ destination: { host: web } }]',
    );
    expect((await run(codes, [409, 200])).result).toMatchObject({ status: 200, attempts: 2 });
    expect((await run(codes, [503, 200])).result).toMatchObject({ status: 503, attempts: 1 });
  });

  it("keep Istio's default policy: a 503 from the app is not retried, a connect failure is (twice)", async () => {
    const plain = vs('  - route: [{ destination: { host: web } }]');
    expect((await run(plain, [503, 200])).result).toMatchObject({ status: 503, attempts: 1 });
    expect((await run(plain, ['connect-failure', 'connect-failure', 200])).result).toMatchObject({
      status: 200,
      attempts: 3,
    });
    const failed = (await run(plain, ['connect-failure'])).result;
    expect(failed).toMatchObject({ status: 503, attempts: 3, flags: ['UF', 'URX'] });
    expect(String(failed.body)).toContain('reset reason: connection failure');
  });

  it('retry a per-try timeout under 5xx (and not under retriable-status-codes)', async () => {
    const perTry = vs(
      '  - retries: { attempts: 2, perTryTimeout: 1s, retryOn: 5xx }\n    route: [{ destination: { host: web } }]',
    );
    const a = await run(perTry, ['hang', 200]);
    expect(a.result).toMatchObject({ status: 200, attempts: 2 });
    expect(a.calls[1]?.at).toBeGreaterThanOrEqual(1000);
    const codesOnly = vs(
      '  - retries: { attempts: 2, perTryTimeout: 1s, retryOn: "retriable-status-codes,503" }\n    route: [{ destination: { host: web } }]',
    );
    const b = await run(codesOnly, ['hang', 200]);
    expect(b.result).toMatchObject({
      status: 504,
      attempts: 1,
      flags: ['UT'],
      body: 'upstream request timeout',
    });
    expect(b.result.durationMs).toBe(1000);
  });

  it('back off with jitter under the Envoy defaults (25 ms base, cap 10x), or the configured base', async () => {
    // random() = 0.5: the n-th retry waits floor(0.5 * min(base * 2^(n-1), 10 * base)).
    const { calls } = await run(retrying, [503, 503, 503, 200]);
    expect(calls.map((c) => c.at)).toEqual([0, 12, 12 + 25, 12 + 25 + 50]);
    const slow = vs(
      '  - retries: { attempts: 2, retryOn: 5xx, backoff: 1s }\n    route: [{ destination: { host: web } }]',
    );
    expect((await run(slow, [503, 503, 200])).calls.map((c) => c.at)).toEqual([0, 500, 1500]);
  });

  it('answer 503 UO when the retry circuit breaker (maxRetries) is full', async () => {
    const dr = `apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata: { name: web }
spec: { host: web, trafficPolicy: { connectionPool: { http: { maxRetries: 1 } } } }
---
`;
    const router = routerFrom(
      vs('  - retries: { attempts: 3, retryOn: 5xx }\n    route: [{ destination: { host: web } }]', dr),
    );
    const clock = createVirtualClock();
    let n = 0;
    const send: SendFunction = async () => {
      n++;
      await clock.sleep(n <= 2 ? 10 : 100);
      return { status: n <= 2 ? 503 : 200, headers: {} };
    };
    const opts = { send, now: clock.now, sleep: clock.sleep, random: () => 0.5 };
    const [a, b] = await Promise.all([router.execute(req('web'), opts), router.execute(req('web'), opts)]);
    expect([a.status, b.status].sort()).toEqual([200, 503]);
    expect([a, b].find((r) => r.status === 503)?.flags).toEqual(['UO']);
  });
});

describe('timeouts', () => {
  it('answer 504 UT when the route timeout passes, counting retries and backoff', async () => {
    const timed = vs('  - timeout: 500ms\n    route: [{ destination: { host: web } }]');
    const slow = await run(timed, [{ status: 200, delayMs: 2000 }]);
    expect(slow.result).toMatchObject({ status: 504, flags: ['UT'], body: 'upstream request timeout' });
    expect(slow.result.durationMs).toBe(500);
    const fast = await run(timed, [{ status: 200, delayMs: 499 }]);
    expect(fast.result.status).toBe(200);
    const gw = `${SVCS}apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata: { name: web }
spec:
  parentRefs: [{ group: "", kind: Service, name: web }]
  rules:
  - timeouts: { request: 1s, backendRequest: 300ms }
    retry: { attempts: 5, codes: [503] }
    backendRefs: [{ name: web, port: 80 }]
`;
    // backendRequest bounds each attempt; a timed-out attempt is not retried without 5xx/gateway-error.
    const attempt = await run(gw, [{ status: 200, delayMs: 400 }]);
    expect(attempt.result).toMatchObject({ status: 504, attempts: 1, durationMs: 300 });
    const retried = await run(gw, [503, 503, 503, 503, 503, 503]);
    expect(retried.result).toMatchObject({ status: 503, attempts: 6, flags: ['URX'] });
  });

  it('answer gRPC requests that time out as gRPC UNAVAILABLE', async () => {
    const timed = vs('  - timeout: 100ms\n    route: [{ destination: { host: web } }]');
    const { result } = await run(
      timed,
      ['hang'],
      req('web', { protocol: 'grpc', method: 'POST', path: '/a.B/C' }),
    );
    expect(result).toMatchObject({
      status: 200,
      grpcStatus: 14,
      flags: ['UT'],
      headers: { 'grpc-status': '14' },
    });
  });
});

describe('faults, mirrors, headers', () => {
  it('delays before sending (DI), and the timeout starts after the delay', async () => {
    const delayed = vs(
      '  - fault: { delay: { fixedDelay: 2s, percentage: { value: 100 } } }\n    timeout: 1s\n    route: [{ destination: { host: web } }]',
    );
    const { result, calls } = await run(delayed, [{ status: 200, delayMs: 900 }]);
    expect(result).toMatchObject({ status: 200, flags: ['DI'] });
    expect(calls[0]?.at).toBe(2000);
    expect(result.durationMs).toBe(2900);
  });

  it('answers aborts without calling the backend (FI)', async () => {
    const aborted = vs(
      '  - fault: { abort: { httpStatus: 503, percentage: { value: 100 } } }\n    route: [{ destination: { host: web } }]',
    );
    const { result, calls } = await run(aborted, [200]);
    expect(result).toMatchObject({ status: 503, body: 'fault filter abort', flags: ['FI'], attempts: 0 });
    expect(calls).toHaveLength(0);
  });

  it('sends mirrors fire-and-forget with the -shadow host, dropping their answers and failures', async () => {
    const mirrored = vs('  - mirror: { host: mirror }\n    route: [{ destination: { host: web } }]');
    const { result, mirrors } = await run(
      mirrored,
      [200],
      req('web', { authority: 'web:80', headers: { host: 'web:80' } }),
    );
    expect(result.status).toBe(200);
    expect(mirrors).toHaveLength(1);
    expect(mirrors[0]?.target).toMatchObject({ service: 'mirror', mirror: true });
    expect(mirrors[0]?.request).toMatchObject({
      authority: 'web-shadow:80',
      headers: { host: 'web-shadow:80' },
    });
  });

  it('applies response header changes to upstream answers and local replies', async () => {
    const headers = vs(
      '  - headers: { response: { set: { x-set: "1" }, add: { x-add: "2" }, remove: [server] } }\n    timeout: 1s\n    route: [{ destination: { host: web } }]',
    );
    const ok = await run(headers, [200]);
    expect(ok.result.headers).toEqual({ 'content-type': 'text/plain', 'x-set': '1', 'x-add': '2' });
    const local = await run(headers, ['hang']);
    expect(local.result).toMatchObject({ status: 504, headers: { 'x-set': '1', 'x-add': '2' } });
  });

  it('answers redirects and direct responses without sending', async () => {
    const r = vs(
      '  - match: [{ uri: { prefix: /r } }]\n    redirect: { uri: /n }\n  - directResponse: { status: 418, body: { string: teapot } }',
    );
    expect((await run(r, [200], req('web', { path: '/r' }))).result).toMatchObject({
      status: 301,
      headers: { location: 'http://web/n' },
      attempts: 0,
    });
    expect((await run(r, [200], req('web', { path: '/x' }))).result).toMatchObject({
      status: 418,
      body: 'teapot',
    });
  });
});

describe('the signal an attempt gets', () => {
  const signals = async (yaml: string): Promise<AbortSignal[]> => {
    const router = routerFrom(yaml);
    const seen: AbortSignal[] = [];
    for (let i = 0; i < 2; i++)
      await router.execute(req('web'), {
        send: async (_target, _request, signal) => {
          seen.push(signal);
          return { status: 200, headers: {} };
        },
        random: () => 0.5,
      });
    return seen;
  };

  it('without a timeout never aborts and is shared (a new AbortSignal per request is costly)', async () => {
    const [a, b] = await signals(vs('  - route: [{ destination: { host: web } }]'));
    expect(a?.aborted).toBe(false);
    expect(a).toBe(b);
  });

  it('with a route or per-try timeout is the attempt’s own, aborted when the time is up', async () => {
    const [a, b] = await signals(vs('  - timeout: 5s\n    route: [{ destination: { host: web } }]'));
    expect(a).not.toBe(b);
    const [c, d] = await signals(
      vs('  - retries: { attempts: 1, perTryTimeout: 1s }\n    route: [{ destination: { host: web } }]'),
    );
    expect(c).not.toBe(d);
    const { result, clock } = await run(vs('  - timeout: 1s\n    route: [{ destination: { host: web } }]'), [
      'hang',
    ]);
    expect(result).toMatchObject({ status: 504, flags: ['UT'] });
    expect(clock.now()).toBe(1000);
  });
});
