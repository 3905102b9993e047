/**
 * `router.pickEndpoint`: DestinationRule load balancers, subsets, outlier ejection and return, circuit
 * breakers (503 UO). Semantics: Envoy load balancing and outlier detection docs, Istio's DestinationRule
 * reference (defaults: LEAST_REQUEST, consecutive5xxErrors 5, interval 10 s, baseEjectionTime 30 s,
 * maxEjectionPercent 10).
 */
import { describe, expect, it } from 'vitest';
import type { Backend, EndpointPick, Router, WorkloadInput } from '../src/index.js';
import { routerFrom, seeded, services, tally } from './support/helpers.js';

const pods = (n: number, labels: (i: number) => Record<string, string> = () => ({})): WorkloadInput[] =>
  Array.from({ length: n }, (_, i) => ({
    name: `web-${i}`,
    namespace: 'default',
    ip: `10.0.0.${i + 1}`,
    labels: { app: 'web', ...labels(i) },
  }));

const backend = (subset?: string, port = 80): Backend => ({
  service: 'web',
  namespace: 'default',
  port,
  hostname: 'web.default.svc.cluster.local',
  ...(subset === undefined ? {} : { subset }),
});

const withDr = (
  trafficPolicy: string,
  subsets = '',
): string => `${services('default', 'web:80,8080')}apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata: { name: web }
spec:
  host: web
  trafficPolicy: ${trafficPolicy}
${subsets}
`;

const chosen = (p: EndpointPick): string => {
  if (p.kind !== 'endpoint' || p.endpoint === undefined) throw new Error(`no endpoint: ${JSON.stringify(p)}`);
  p.lease.release({ status: 200 });
  return p.endpoint.id;
};

describe('load balancers', () => {
  it('ROUND_ROBIN cycles through the endpoints', () => {
    const router = routerFrom(withDr('{ loadBalancer: { simple: ROUND_ROBIN } }'), { workloads: pods(3) });
    const ids = Array.from({ length: 6 }, () => chosen(router.pickEndpoint(backend())));
    expect(ids).toEqual([
      'default/web-0',
      'default/web-1',
      'default/web-2',
      'default/web-0',
      'default/web-1',
      'default/web-2',
    ]);
  });

  it('RANDOM spreads evenly', () => {
    const router = routerFrom(withDr('{ loadBalancer: { simple: RANDOM } }'), { workloads: pods(4) });
    const random = seeded(4);
    const counts = tally(4000, () => chosen(router.pickEndpoint(backend(), { random })));
    for (const n of counts.values()) expect(Math.abs(n / 4000 - 0.25)).toBeLessThan(0.05);
  });

  it('LEAST_REQUEST (the default) prefers less loaded hosts', () => {
    const router = routerFrom(services('default', 'web'), { workloads: pods(2) });
    expect(router.policyFor(backend()).loadBalancer.kind).toBe('LEAST_REQUEST');
    const random = seeded(8);
    // Keep one request open on whichever host the first pick lands on.
    const busy = router.pickEndpoint(backend(), { random });
    if (busy.kind !== 'endpoint' || busy.endpoint === undefined) throw new Error('no endpoint');
    const counts = tally(1000, () => chosen(router.pickEndpoint(backend(), { random })));
    // Power of two choices: the busy host is chosen only when both draws land on it (about 1 in 4).
    expect((counts.get(busy.endpoint.id) ?? 0) / 1000).toBeLessThan(0.32);
    busy.lease.release({ status: 200 });
  });

  it('consistent hash on a header, a cookie, the source IP: the same key gets the same host', () => {
    for (const key of [
      '{ httpHeaderName: x-user }',
      '{ useSourceIp: true }',
      '{ httpCookie: { name: user, ttl: 0s } }',
      '{ httpQueryParameterName: u }',
    ]) {
      const router = routerFrom(withDr(`{ loadBalancer: { consistentHash: ${key} } }`), {
        workloads: pods(5),
      });
      const random = seeded(9);
      const hosts = new Set<string>();
      for (let u = 0; u < 40; u++) {
        const request = { headers: { 'x-user': `u${u}`, cookie: `a=b; user=u${u}` }, path: `/?u=u${u}` };
        const first = chosen(router.pickEndpoint(backend(), { request, sourceIp: `10.1.0.${u}`, random }));
        for (let i = 0; i < 5; i++)
          expect(chosen(router.pickEndpoint(backend(), { request, sourceIp: `10.1.0.${u}`, random }))).toBe(
            first,
          );
        hosts.add(first);
      }
      expect(hosts.size).toBeGreaterThanOrEqual(3);
    }
  });

  it('consistent hash: a missing key picks at random; a missing cookie with a TTL is created (Set-Cookie)', () => {
    const router = routerFrom(
      withDr('{ loadBalancer: { consistentHash: { httpCookie: { name: user, ttl: 60s, path: / } } } }'),
      { workloads: pods(5) },
    );
    const pick = router.pickEndpoint(backend(), { sourceIp: '10.9.9.9' });
    expect(pick.kind === 'endpoint' && pick.setCookie).toMatch(
      /^user="[0-9a-f]{8}"; Max-Age=60; Path=\/; HttpOnly$/,
    );
    const header = routerFrom(withDr('{ loadBalancer: { consistentHash: { httpHeaderName: x-user } } }'), {
      workloads: pods(5),
    });
    const random = seeded(2);
    expect(tally(200, () => chosen(header.pickEndpoint(backend(), { random }))).size).toBeGreaterThan(3);
  });
});

describe('subsets and port-level settings', () => {
  it('selects the subset pods and applies the subset policy over the top-level one', () => {
    const yaml = withDr(
      '{ loadBalancer: { simple: RANDOM }, portLevelSettings: [{ port: { number: 8080 }, loadBalancer: { simple: LEAST_REQUEST } }] }',
      '  subsets:\n  - { name: v1, labels: { version: v1 } }\n  - { name: v2, labels: { version: v2 }, trafficPolicy: { loadBalancer: { simple: ROUND_ROBIN } } }',
    );
    const router = routerFrom(yaml, { workloads: pods(6, (i) => ({ version: i % 2 === 0 ? 'v1' : 'v2' })) });
    const v1 = new Set(Array.from({ length: 50 }, () => chosen(router.pickEndpoint(backend('v1')))));
    expect(v1).toEqual(new Set(['default/web-0', 'default/web-2', 'default/web-4']));
    expect(router.policyFor(backend('v1')).loadBalancer.kind).toBe('RANDOM');
    expect(router.policyFor(backend('v2')).loadBalancer.kind).toBe('ROUND_ROBIN');
    expect(router.policyFor(backend(undefined, 8080)).loadBalancer.kind).toBe('LEAST_REQUEST');
    expect(router.pickEndpoint(backend('v9'))).toMatchObject({
      kind: 'unavailable',
      status: 503,
      flags: ['NC'],
    });
  });

  it('answers 503 UH when the Service has no endpoints', () => {
    const router = routerFrom(services('default', 'web'), { workloads: [] });
    expect(router.pickEndpoint(backend())).toMatchObject({
      kind: 'unavailable',
      status: 503,
      flags: ['UH'],
      body: 'no healthy upstream',
    });
  });
});

describe('outlier detection', () => {
  const eject = (
    router: Router,
    id: string,
    times: number,
    status: number | 'connect-failure',
    nowMs: number,
  ): void => {
    for (let i = 0; i < times; i++) {
      let p = router.pickEndpoint(backend(), { nowMs });
      while (p.kind === 'endpoint' && p.endpoint?.id !== id) {
        p.lease.release({ status: 200 }, nowMs);
        p = router.pickEndpoint(backend(), { nowMs });
      }
      if (p.kind !== 'endpoint') throw new Error('unavailable');
      p.lease.release(status === 'connect-failure' ? { failure: 'connect-failure' } : { status }, nowMs);
    }
  };
  const statusOf = (router: Router, id: string, nowMs: number) =>
    router.clusterStatus(backend(), nowMs).endpoints.find((e) => e.endpoint.id === id);

  it('ejects a host after consecutive 5xx and returns it after baseEjectionTime, then for twice as long', () => {
    const router = routerFrom(
      withDr(
        '{ loadBalancer: { simple: ROUND_ROBIN }, outlierDetection: { consecutive5xxErrors: 3, interval: 1s, baseEjectionTime: 30s, maxEjectionPercent: 100 } }',
      ),
      { workloads: pods(3), now: () => 0 },
    );
    router.clusterStatus(backend(), 0);
    eject(router, 'default/web-1', 3, 503, 100);
    expect(statusOf(router, 'default/web-1', 100)).toMatchObject({
      ejected: true,
      ejections: 1,
      ejectedUntilMs: 30_100,
    });
    for (let i = 0; i < 30; i++)
      expect(chosen(router.pickEndpoint(backend(), { nowMs: 5000 }))).not.toBe('default/web-1');
    // It returns at the first 1 s interval tick at or after 30.1 s.
    expect(statusOf(router, 'default/web-1', 30_500)?.ejected).toBe(true);
    expect(statusOf(router, 'default/web-1', 31_000)?.ejected).toBe(false);
    expect(
      new Set(Array.from({ length: 6 }, () => chosen(router.pickEndpoint(backend(), { nowMs: 31_000 })))),
    ).toContain('default/web-1');
    // Ejected again at once: 2 × 30 s this time.
    eject(router, 'default/web-1', 3, 500, 31_100);
    expect(statusOf(router, 'default/web-1', 31_100)).toMatchObject({
      ejected: true,
      ejections: 2,
      ejectedUntilMs: 91_100,
    });
  });

  it('a success resets the count; gateway errors only count 502/503/504; local-origin failures count', () => {
    const router = routerFrom(
      withDr(
        '{ outlierDetection: { consecutive5xxErrors: 0, consecutiveGatewayErrors: 2, maxEjectionPercent: 100 } }',
      ),
      {
        workloads: pods(1),
      },
    );
    eject(router, 'default/web-0', 1, 502, 0);
    eject(router, 'default/web-0', 1, 200, 0);
    eject(router, 'default/web-0', 1, 503, 0);
    expect(statusOf(router, 'default/web-0', 0)?.ejected).toBe(false);
    eject(router, 'default/web-0', 3, 500, 0);
    expect(statusOf(router, 'default/web-0', 0)?.ejected).toBe(false);
    eject(router, 'default/web-0', 2, 'connect-failure', 0);
    expect(statusOf(router, 'default/web-0', 0)?.ejected).toBe(true);
    // Every host ejected: no healthy upstream.
    expect(router.pickEndpoint(backend(), { nowMs: 1 })).toMatchObject({
      kind: 'unavailable',
      flags: ['UH'],
    });
  });

  it('ejects at most maxEjectionPercent of the hosts, but always one (default 10 %)', () => {
    const router = routerFrom(withDr('{ outlierDetection: { consecutive5xxErrors: 1 } }'), {
      workloads: pods(3),
    });
    eject(router, 'default/web-0', 1, 500, 0);
    eject(router, 'default/web-1', 1, 500, 0);
    const ejected = router
      .clusterStatus(backend(), 0)
      .endpoints.filter((e) => e.ejected)
      .map((e) => e.endpoint.id);
    expect(ejected).toEqual(['default/web-0']);
  });
});

describe('connection pool (circuit breakers)', () => {
  it('answers 503 UO beyond http2MaxRequests active requests', () => {
    const router = routerFrom(withDr('{ connectionPool: { http: { http2MaxRequests: 2 } } }'), {
      workloads: pods(2),
    });
    const a = router.pickEndpoint(backend(), { protocol: 'grpc' });
    const b = router.pickEndpoint(backend(), { protocol: 'grpc' });
    expect(router.pickEndpoint(backend(), { protocol: 'grpc' })).toMatchObject({
      kind: 'unavailable',
      status: 503,
      flags: ['UO'],
      body: 'upstream connect error or disconnect/reset before headers. reset reason: overflow',
    });
    if (a.kind === 'endpoint') a.lease.release({ status: 200 });
    expect(router.pickEndpoint(backend(), { protocol: 'grpc' }).kind).toBe('endpoint');
    if (b.kind === 'endpoint') b.lease.release({ status: 200 });
  });

  it('queues HTTP/1.1 requests beyond maxConnections up to http1MaxPendingRequests, then overflows', async () => {
    const router = routerFrom(
      withDr('{ connectionPool: { tcp: { maxConnections: 1 }, http: { http1MaxPendingRequests: 1 } } }'),
      { workloads: pods(1) },
    );
    const first = router.pickEndpoint(backend());
    const second = router.pickEndpoint(backend());
    expect(first.kind === 'endpoint' && first.lease.ready).toBeUndefined();
    expect(second.kind === 'endpoint' && second.lease.ready).toBeInstanceOf(Promise);
    expect(router.pickEndpoint(backend())).toMatchObject({ kind: 'unavailable', flags: ['UO'] });
    expect(router.clusterStatus(backend())).toMatchObject({ activeRequests: 1, pendingRequests: 1 });
    let admitted = false;
    if (second.kind === 'endpoint') void second.lease.ready?.then(() => (admitted = true));
    if (first.kind === 'endpoint') first.lease.release({ status: 200 });
    await Promise.resolve();
    expect(admitted).toBe(true);
    expect(router.clusterStatus(backend())).toMatchObject({ activeRequests: 1, pendingRequests: 0 });
  });

  it('trips through execute under concurrency (the circuit-breaking task)', async () => {
    const router = routerFrom(
      `${withDr('{ connectionPool: { tcp: { maxConnections: 1 }, http: { http1MaxPendingRequests: 1, maxRequestsPerConnection: 1 } } }')}`,
      { workloads: pods(1) },
    );
    const send = async () => {
      await new Promise((r) => setTimeout(r, 20));
      return { status: 200, headers: {} };
    };
    const results = await Promise.all(
      Array.from({ length: 6 }, () =>
        router.execute(
          {
            service: 'web.default.svc.cluster.local',
            port: 80,
            authority: 'web',
            method: 'GET',
            path: '/',
            headers: {},
            protocol: 'http',
          },
          { send },
        ),
      ),
    );
    const codes = results.map((r) => `${r.status} ${r.responseFlags}`).sort();
    expect(codes).toEqual(['200 -', '200 -', '503 UO', '503 UO', '503 UO', '503 UO']);
    expect(results.filter((r) => r.status === 200).every((r) => r.upstream?.id === 'default/web-0')).toBe(
      true,
    );
  });
});
