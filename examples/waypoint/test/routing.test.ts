/**
 * Traffic management at the waypoint over real HBONE: VirtualService and HTTPRoute routing (weights, header
 * matches, rewrites, header modifiers seen by the backend, redirects, direct responses), fault injection,
 * timeouts (504 `UT`), retries (counted), circuit breakers (503 `UO`), outlier ejection, mirrors, and each
 * Envoy response flag in the access log.
 */
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { echo, h1, requestsOver, seededRandom, startTestMesh, type TestMesh } from './support/mesh.js';

const reviewsPorts = { reviews: { 9080: 9080 } };
let mesh: TestMesh;

const DR = `apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata: {name: reviews, namespace: default}
spec:
  host: reviews
  subsets:
  - {name: v1, labels: {version: v1}}
  - {name: v2, labels: {version: v2}}
  - {name: v3, labels: {version: v3}}
`;
const vs = (http: string): string => `${DR}---
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: reviews, namespace: default}
spec:
  hosts: [reviews]
  http:
${http}`;

beforeAll(async () => {
  mesh = await startTestMesh({
    subnet: 42,
    pods: [
      {
        name: 'reviews-v1',
        octet: 20,
        app: 'reviews',
        version: 'v1',
        services: { ...reviewsPorts, 'reviews-v1': { 9080: 9080 } },
      },
      {
        name: 'reviews-v2',
        octet: 21,
        app: 'reviews',
        version: 'v2',
        services: { ...reviewsPorts, 'reviews-v2': { 9080: 9080 } },
      },
      { name: 'reviews-v3', octet: 22, app: 'reviews', version: 'v3', services: reviewsPorts },
      { name: 'mirror-1', octet: 40, app: 'mirror', version: 'v1', services: { mirror: { 9080: 9080 } } },
    ],
    services: [
      { name: 'reviews', vipOctet: 20, ports: { 9080: 9080 } },
      { name: 'reviews-v1', vipOctet: 21, ports: { 9080: 9080 } },
      { name: 'reviews-v2', vipOctet: 22, ports: { 9080: 9080 } },
      { name: 'mirror', vipOctet: 40, ports: { 9080: 9080 } },
      { name: 'nothing', vipOctet: 50, ports: { 9080: 9080 } },
    ],
    config: DR,
    waypoint: { routeRandom: seededRandom(42), random: seededRandom(7) },
  });
  // A pod whose node runs no ztunnel: nothing answers on its :15008 (Envoy: connection failure, UF).
  const { createService, createWorkload } = await import('@ambient-kit/workload-api');
  mesh.store.apply({
    resources: [
      createWorkload({
        uid: 'Kubernetes//Pod/default/dead',
        name: 'dead',
        namespace: 'default',
        serviceAccount: 'dead',
        workloadIps: ['127.31.42.60'],
        protocol: 'HBONE',
        node: 'node-gone',
        services: [
          {
            key: 'default/dead.default.svc.cluster.local',
            namespace: 'default',
            hostname: 'dead.default.svc.cluster.local',
            ports: [],
          },
        ],
      }),
      createService({
        name: 'dead',
        namespace: 'default',
        hostname: 'dead.default.svc.cluster.local',
        vips: [{ network: '', address: '10.96.42.60' }],
        ports: [{ servicePort: 9080, targetPort: 9080, appProtocol: 'UNKNOWN' }],
      }),
    ],
  });
});
afterAll(async () => {
  await mesh?.close();
});

const lastLog = (path: string) => [...mesh.logs].reverse().find((l) => l.path === path);
const byPod = (answers: readonly { body: string; status: number }[]): Record<string, number> => {
  const counts: Record<string, number> = {};
  for (const a of answers) {
    const pod = a.status === 200 ? echo(a).pod : `status-${a.status}`;
    counts[pod] = (counts[pod] ?? 0) + 1;
  }
  return counts;
};

describe('VirtualService routing', () => {
  it('splits 90/10, then 50/50, and sends end-user jason to v2 (200 requests each, within ±7 %)', async () => {
    const weighted = (v1: number, v2: number) =>
      vs(`  - route:
    - {destination: {host: reviews, subset: v1}, weight: ${v1}}
    - {destination: {host: reviews, subset: v2}, weight: ${v2}}
`);
    const get = (n: number, headers = {}) =>
      requestsOver(
        mesh,
        'reviews',
        9080,
        Array.from({ length: n }, (_, i) => ({ path: `/reviews/${i}`, headers })),
        {
          connections: 4,
        },
      );
    await mesh.setConfig(weighted(90, 10));
    const first = byPod(await get(200));
    expect(Math.abs((first['reviews-v1'] ?? 0) / 200 - 0.9)).toBeLessThanOrEqual(0.07);
    expect((first['reviews-v1'] ?? 0) + (first['reviews-v2'] ?? 0)).toBe(200);
    await mesh.setConfig(weighted(50, 50));
    const second = byPod(await get(200));
    expect(Math.abs((second['reviews-v1'] ?? 0) / 200 - 0.5)).toBeLessThanOrEqual(0.07);
    await mesh.setConfig(
      vs(`  - match: [{headers: {end-user: {exact: jason}}}]
    route: [{destination: {host: reviews, subset: v2}}]
  - route: [{destination: {host: reviews, subset: v1}}]
`),
    );
    expect(byPod(await get(20, { 'end-user': 'jason' }))).toEqual({ 'reviews-v2': 20 });
    expect(byPod(await get(20, { 'end-user': 'bob' }))).toEqual({ 'reviews-v1': 20 });
    expect(lastLog('/reviews/19')?.upstreamCluster).toBe(
      'inbound-vip|9080|http/v1|reviews.default.svc.cluster.local',
    );
  });

  it('applies header modifiers and rewrites: the backend sees them, the client sees the response changes', async () => {
    await mesh.setConfig(
      vs(`  - match: [{uri: {prefix: /old/}}]
    rewrite: {uri: /new/, authority: reviews.example}
    headers:
      request: {set: {x-set: one}, add: {x-add: two}, remove: [x-remove]}
      response: {set: {x-resp-set: three}, add: {x-resp-add: four}, remove: [x-app-pod]}
    route: [{destination: {host: reviews, subset: v1}}]
`),
    );
    const tunnel = await mesh.tunnel('reviews', 9080);
    const answer = await h1(tunnel, {
      path: '/old/path?q=1',
      headers: {
        'x-set': 'zero',
        'x-add': 'one',
        'x-remove': 'gone',
        traceparent: '00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01',
        tracestate: 'a=b',
        b3: '80f198ee56343ba864fe8b2a57d3eff7-e457b5a2e4d86bd1-1',
        'x-request-id': 'given-id',
      },
    });
    const e = echo(answer);
    expect(e.path).toBe('/new/path?q=1');
    expect(e.headers).toMatchObject({
      host: 'reviews.example',
      'x-set': 'one',
      'x-add': 'one,two',
      // W3C trace context and b3 are propagated untouched; an x-request-id the client sent is kept.
      traceparent: '00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01',
      tracestate: 'a=b',
      b3: '80f198ee56343ba864fe8b2a57d3eff7-e457b5a2e4d86bd1-1',
      'x-request-id': 'given-id',
      'x-forwarded-proto': 'http',
    });
    expect(e.headers['x-remove']).toBeUndefined();
    expect(answer.headers).toMatchObject({
      'x-resp-set': 'three',
      'x-resp-add': 'four',
      server: 'istio-envoy',
    });
    expect(answer.headers['x-app-pod']).toBeUndefined();
    expect(answer.headers['x-envoy-upstream-service-time']).toMatch(/^\d+$/);
  });

  it('answers redirects and direct responses itself', async () => {
    await mesh.setConfig(
      vs(`  - match: [{uri: {exact: /moved}}]
    redirect: {uri: /here, authority: example.com, redirectCode: 301}
  - match: [{uri: {exact: /teapot}}]
    directResponse: {status: 418, body: {string: "short and stout"}}
  - route: [{destination: {host: reviews}}]
`),
    );
    const tunnel = await mesh.tunnel('reviews', 9080);
    const moved = await h1(tunnel, { path: '/moved' });
    expect(moved.status).toBe(301);
    expect(moved.headers.location).toBe('http://example.com/here');
    const teapot = await h1(await mesh.tunnel('reviews', 9080), { path: '/teapot' });
    expect([teapot.status, teapot.body]).toEqual([418, 'short and stout']);
    expect(lastLog('/teapot')).toMatchObject({
      responseCode: 418,
      responseFlags: '-',
      responseCodeDetails: 'direct_response',
    });
  });
});

describe('fault injection, timeouts, retries', () => {
  it('delays (DI, measured) and aborts (FI) as the route says', async () => {
    await mesh.setConfig(
      vs(`  - match: [{headers: {end-user: {exact: jason}}}]
    fault: {delay: {fixedDelay: 400ms, percentage: {value: 100}}}
    route: [{destination: {host: reviews, subset: v2}}]
  - match: [{uri: {prefix: /abort}}]
    fault: {abort: {httpStatus: 500, percentage: {value: 100}}}
    route: [{destination: {host: reviews, subset: v1}}]
  - route: [{destination: {host: reviews, subset: v1}}]
`),
    );
    const t0 = performance.now();
    const delayed = await h1(await mesh.tunnel('reviews', 9080), {
      path: '/slowly',
      headers: { 'end-user': 'jason' },
    });
    const elapsed = performance.now() - t0;
    expect(delayed.status).toBe(200);
    expect(echo(delayed).pod).toBe('reviews-v2');
    expect(elapsed).toBeGreaterThanOrEqual(400);
    expect(lastLog('/slowly')).toMatchObject({ responseFlags: 'DI', responseCode: 200 });
    const hits = mesh.apps.get('reviews-v1')?.hits ?? 0;
    const aborted = await h1(await mesh.tunnel('reviews', 9080), { path: '/abort/1' });
    expect([aborted.status, aborted.body]).toEqual([500, 'fault filter abort']);
    expect(mesh.apps.get('reviews-v1')?.hits).toBe(hits);
    expect(lastLog('/abort/1')).toMatchObject({
      responseFlags: 'FI',
      responseCodeDetails: 'fault_filter_abort',
    });
  });

  it('times out a slow backend with 504 upstream request timeout (UT)', async () => {
    await mesh.setConfig(
      vs(`  - timeout: 200ms
    route: [{destination: {host: reviews, subset: v1}}]
`),
    );
    const t0 = performance.now();
    const answer = await h1(await mesh.tunnel('reviews', 9080), {
      path: '/slow',
      headers: { 'x-app-delay-ms': '1500' },
    });
    const elapsed = performance.now() - t0;
    expect([answer.status, answer.body]).toEqual([504, 'upstream request timeout']);
    expect(elapsed).toBeGreaterThanOrEqual(200);
    expect(elapsed).toBeLessThan(1400);
    expect(lastLog('/slow')).toMatchObject({
      responseCode: 504,
      responseFlags: 'UT',
      responseCodeDetails: 'upstream_response_timeout',
    });
  });

  it('retries hide a failing pod; without retries its 503s show; a budget used up is URX', async () => {
    const failing = mesh.apps.get('reviews-v3');
    if (failing === undefined) throw new Error('no reviews-v3 app');
    failing.status = 503;
    try {
      await mesh.setConfig(
        vs(`  - match: [{uri: {prefix: /noretry}}]
    retries: {attempts: 0}
    route: [{destination: {host: reviews}}]
  - match: [{uri: {prefix: /v3only}}]
    retries: {attempts: 2, retryOn: 5xx}
    route: [{destination: {host: reviews, subset: v3}}]
  - retries: {attempts: 3, retryOn: 5xx}
    route: [{destination: {host: reviews}}]
`),
      );
      const before = failing.hits;
      const hidden = await requestsOver(
        mesh,
        'reviews',
        9080,
        Array.from({ length: 30 }, (_, i) => ({ path: `/retried/${i}` })),
      );
      expect(hidden.every((a) => a.status === 200)).toBe(true);
      // The failing pod was chosen (and retried away from) at least once.
      expect(failing.hits).toBeGreaterThan(before);
      // Every 503 from the failing pod costs one retry, and a retry may land on that pod again (Envoy's default
      // host selection does not skip hosts already tried), so compare retries, not retried requests.
      const retries = () =>
        mesh.logs
          .filter((l) => l.path.startsWith('/retried/'))
          .reduce((sum, l) => sum + Math.max(0, (l.attempts ?? 1) - 1), 0);
      await vi.waitFor(() => expect(retries()).toBe(failing.hits - before));
      const shown = await requestsOver(
        mesh,
        'reviews',
        9080,
        Array.from({ length: 30 }, (_, i) => ({ path: `/noretry/${i}` })),
      );
      expect(shown.some((a) => a.status === 503)).toBe(true);
      const hitsBefore = failing.hits;
      const exhausted = await h1(await mesh.tunnel('reviews', 9080), { path: '/v3only' });
      expect(exhausted.status).toBe(503);
      // One try and two retries, all on the only v3 pod.
      expect(failing.hits - hitsBefore).toBe(3);
      expect(lastLog('/v3only')).toMatchObject({
        responseCode: 503,
        responseFlags: 'URX',
        attempts: 3,
        responseCodeDetails: 'via_upstream',
      });
    } finally {
      delete failing.status;
    }
  });

  it('trips the circuit breaker under concurrency: 503 with UO', async () => {
    await mesh.setConfig(`apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata: {name: reviews, namespace: default}
spec:
  host: reviews
  subsets:
  - name: v1
    labels: {version: v1}
    trafficPolicy:
      connectionPool:
        tcp: {maxConnections: 1}
        http: {http1MaxPendingRequests: 1, maxRequestsPerConnection: 1}
---
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: reviews, namespace: default}
spec:
  hosts: [reviews]
  http:
  - retries: {attempts: 0}
    route: [{destination: {host: reviews, subset: v1}}]
`);
    const answers = await requestsOver(
      mesh,
      'reviews',
      9080,
      Array.from({ length: 10 }, (_, i) => ({ path: `/cb/${i}`, headers: { 'x-app-delay-ms': '300' } })),
      { connections: 10 },
    );
    const overflow = answers.filter((a) => a.status === 503);
    // One request in flight and one pending are admitted; the other eight overflow at once.
    expect(answers.filter((a) => a.status === 200)).toHaveLength(2);
    expect(overflow).toHaveLength(8);
    expect(overflow[0]?.body).toBe(
      'upstream connect error or disconnect/reset before headers. reset reason: overflow',
    );
    const flagged = mesh.logs.filter((l) => l.path.startsWith('/cb/') && l.responseFlags === 'UO');
    expect(flagged).toHaveLength(8);
  });

  it('ejects an outlier: after its 5xx the failing pod gets no more traffic', async () => {
    const failing = mesh.apps.get('reviews-v3');
    if (failing === undefined) throw new Error('no reviews-v3 app');
    failing.status = 503;
    try {
      await mesh.setConfig(`apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata: {name: reviews, namespace: default}
spec:
  host: reviews
  trafficPolicy:
    loadBalancer: {simple: ROUND_ROBIN}
    outlierDetection: {consecutive5xxErrors: 1, interval: 1s, baseEjectionTime: 1m, maxEjectionPercent: 100}
---
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: reviews, namespace: default}
spec:
  hosts: [reviews]
  http:
  - retries: {attempts: 0}
    route: [{destination: {host: reviews}}]
`);
      const answers = await requestsOver(
        mesh,
        'reviews',
        9080,
        Array.from({ length: 12 }, (_, i) => ({ path: `/od/${i}` })),
        { connections: 1 },
      );
      // Round robin reaches v3 once; its 503 ejects it; the rest go to v1 and v2.
      expect(answers.filter((a) => a.status === 503)).toHaveLength(1);
      expect(answers.slice(6).every((a) => a.status === 200)).toBe(true);
    } finally {
      delete failing.status;
    }
  });
});

describe('mirrors, HTTPRoute, and the local failures', () => {
  it('mirrors a request to another service and drops its answer', async () => {
    await mesh.setConfig(
      vs(`  - mirror: {host: mirror}
    mirrorPercentage: {value: 100}
    route: [{destination: {host: reviews, subset: v1}}]
`),
    );
    const mirror = mesh.apps.get('mirror-1');
    if (mirror === undefined) throw new Error('no mirror app');
    const before = mirror.hits;
    mirror.status = 500;
    try {
      const answer = await h1(await mesh.tunnel('reviews', 9080), {
        path: '/mirrored',
        method: 'POST',
        body: 'payload',
      });
      expect(answer.status).toBe(200);
      expect(echo(answer).pod).toBe('reviews-v1');
      expect(echo(answer).body).toBe('payload');
      const deadline = Date.now() + 3000;
      while (mirror.hits === before && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
      expect(mirror.hits).toBe(before + 1);
    } finally {
      delete mirror.status;
    }
  });

  it('routes an HTTPRoute by weight to version services; a path no rule matches is 404 NR', async () => {
    await mesh.setConfig(`apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata: {name: reviews, namespace: default}
spec:
  parentRefs: [{group: "", kind: Service, name: reviews, port: 9080}]
  rules:
  - name: only
    matches: [{path: {type: PathPrefix, value: /only}}]
    backendRefs:
    - {name: reviews-v1, port: 9080, weight: 0}
    - {name: reviews-v2, port: 9080, weight: 100}
`);
    const answers = await requestsOver(
      mesh,
      'reviews',
      9080,
      Array.from({ length: 10 }, (_, i) => ({ path: `/only/${i}` })),
    );
    expect(byPod(answers)).toEqual({ 'reviews-v2': 10 });
    expect(lastLog('/only/9')).toMatchObject({
      routeName: 'only',
      upstreamCluster: 'inbound-vip|9080|http|reviews-v2.default.svc.cluster.local',
    });
    const none = await h1(await mesh.tunnel('reviews', 9080), { path: '/elsewhere' });
    expect(none.status).toBe(404);
    expect(lastLog('/elsewhere')).toMatchObject({
      responseFlags: 'NR',
      responseCodeDetails: 'route_not_found',
    });
  });

  it('logs UH (no endpoint), UF and URX (connection failures), NC (no such subset)', async () => {
    await mesh.setConfig(
      vs(`  - match: [{uri: {prefix: /nothing}}]
    route: [{destination: {host: nothing}}]
  - match: [{uri: {prefix: /dead-once}}]
    retries: {attempts: 0}
    route: [{destination: {host: dead}}]
  - match: [{uri: {prefix: /dead}}]
    route: [{destination: {host: dead}}]
  - match: [{uri: {prefix: /nosubset}}]
    route: [{destination: {host: reviews, subset: v9}}]
`),
    );
    const ask = async (path: string) => h1(await mesh.tunnel('reviews', 9080), { path });
    const nothing = await ask('/nothing');
    expect([nothing.status, nothing.body]).toEqual([503, 'no healthy upstream']);
    expect(lastLog('/nothing')).toMatchObject({
      responseFlags: 'UH',
      responseCodeDetails: 'no_healthy_upstream',
    });
    const once = await ask('/dead-once');
    expect(once.status).toBe(503);
    expect(once.body).toMatch(
      /^upstream connect error or disconnect\/reset before headers\. reset reason: connection failure/,
    );
    expect(lastLog('/dead-once')).toMatchObject({ responseFlags: 'UF', attempts: 1 });
    // Istio's default retry policy retries connect failures twice, then gives up.
    await ask('/dead');
    expect(lastLog('/dead')).toMatchObject({ responseFlags: 'UF,URX', attempts: 3 });
    const nosubset = await ask('/nosubset');
    expect(nosubset.status).toBe(503);
    expect(lastLog('/nosubset')?.responseFlags).toBe('NC');
  });
});
