/**
 * Istio VirtualService at a waypoint: first match wins; matches; faults; rewrites; redirects; direct
 * responses; headers; mirrors; CORS. Expected values come from istio/api networking/v1alpha3
 * virtual_service.proto field docs and istiod's translation
 * (istio/istio@86c9f01f:pilot/pkg/networking/core/route/route.go).
 */
import { describe, expect, it } from 'vitest';
import type { ForwardDecision, RouteDecision } from '../src/index.js';
import { req, routerFrom, seeded, services, tally } from './support/helpers.js';

const fwd = (d: RouteDecision): ForwardDecision => {
  if (d.kind !== 'forward') throw new Error(`expected forward, got ${JSON.stringify(d)}`);
  return d;
};

const vs = (
  http: string,
  name = 'reviews',
  ns = 'bookinfo',
  hosts = '[reviews]',
): string => `apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: { name: ${name}, namespace: ${ns} }
spec:
  hosts: ${hosts}
  http:
${http}
---
`;

const DR = `apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata: { name: reviews, namespace: bookinfo }
spec:
  host: reviews
  subsets:
  - { name: v1, labels: { version: v1 } }
  - { name: v2, labels: { version: v2 } }
  - { name: v3, labels: { version: v3 } }
---
`;
const SVCS = services('bookinfo', 'reviews:9080', 'ratings:9080', 'details:9080', 'httpbin:8000');
const R = (overrides = {}) =>
  req('reviews.bookinfo', { port: 9080, authority: 'reviews:9080', ...overrides });

describe('rule order and matches', () => {
  it('evaluates http rules in order, first match wins, a rule without match takes the rest', () => {
    const router = routerFrom(
      SVCS +
        DR +
        vs(`  - match: [{ headers: { end-user: { exact: jason } } }]
    route: [{ destination: { host: reviews, subset: v2 } }]
  - match: [{ uri: { prefix: /reviews } }]
    route: [{ destination: { host: reviews, subset: v3 } }]
  - route: [{ destination: { host: reviews, subset: v1 } }]`),
    );
    expect(
      fwd(router.route(R({ path: '/reviews/1', headers: { 'end-user': 'jason' } }))).backend.subset,
    ).toBe('v2');
    expect(fwd(router.route(R({ path: '/reviews/1' }))).backend.subset).toBe('v3');
    // A plain string prefix: /reviewsfoo matches prefix /reviews.
    expect(fwd(router.route(R({ path: '/reviewsfoo' }))).backend.subset).toBe('v3');
    expect(fwd(router.route(R({ path: '/' }))).backend.subset).toBe('v1');
  });

  it('answers 404 NR when no http rule matches', () => {
    const router = routerFrom(
      SVCS +
        DR +
        vs(
          '  - match: [{ uri: { exact: /only } }]\n    route: [{ destination: { host: reviews, subset: v1 } }]',
        ),
    );
    expect(router.route(R({ path: '/other' }))).toMatchObject({ kind: 'direct', status: 404, flags: ['NR'] });
  });

  it('matches uri exact (query ignored), prefix, regex (RE2 full match), ignoreUriCase', () => {
    const router = routerFrom(
      SVCS +
        DR +
        vs(`  - match: [{ uri: { exact: /exact } }]
    route: [{ destination: { host: reviews, subset: v1 } }]
  - match: [{ uri: { regex: "/r/[0-9]+" } }]
    route: [{ destination: { host: reviews, subset: v2 } }]
  - match: [{ uri: { prefix: /Case }, ignoreUriCase: true }]
    route: [{ destination: { host: reviews, subset: v3 } }]`),
    );
    const subset = (path: string): string => {
      const d = router.route(R({ path }));
      return d.kind === 'forward' ? (d.backend.subset ?? '') : String(d.kind === 'direct' ? d.status : '');
    };
    expect(subset('/exact?x=1')).toBe('v1');
    expect(subset('/exact/')).toBe('404');
    expect(subset('/r/42')).toBe('v2');
    expect(subset('/r/42/x')).toBe('404');
    expect(subset('/CASE/x')).toBe('v3');
    expect(subset('/case')).toBe('v3');
  });

  it('matches headers (exact, prefix, regex, presence), withoutHeaders, queryParams, method, authority, port, source', () => {
    const router = routerFrom(
      SVCS +
        DR +
        vs(`  - match: [{ headers: { x-a: { prefix: pre }, x-b: { regex: "[a-z]+" } }, withoutHeaders: { x-debug: {} } }]
    route: [{ destination: { host: reviews, subset: v1 } }]
  - match: [{ queryParams: { q: { exact: "1" }, r: { regex: "[0-9]+" } } }]
    route: [{ destination: { host: reviews, subset: v2 } }]
  - match: [{ method: { exact: POST }, authority: { prefix: reviews } }]
    route: [{ destination: { host: reviews, subset: v3 } }]
  - match: [{ port: 9090 }]
    route: [{ destination: { host: ratings } }]
  - match: [{ sourceNamespace: frontend }, { sourceLabels: { app: productpage } }]
    route: [{ destination: { host: details } }]`),
    );
    const where = (o: object): string => {
      const d = router.route(R(o));
      return d.kind === 'forward'
        ? `${d.backend.service}/${d.backend.subset ?? ''}`
        : `${d.kind === 'direct' ? d.status : ''}`;
    };
    expect(where({ headers: { 'X-A': 'prefix', 'x-b': 'abc' } })).toBe('reviews/v1');
    expect(where({ headers: { 'x-a': 'prefix', 'x-b': 'abc', 'x-debug': 'on' } })).toBe('404');
    expect(where({ headers: { 'x-a': 'prefix', 'x-b': 'ABC' } })).toBe('404');
    expect(where({ path: '/?q=1&r=22' })).toBe('reviews/v2');
    expect(where({ path: '/?q=1&r=x' })).toBe('404');
    expect(where({ method: 'POST' })).toBe('reviews/v3');
    expect(where({ method: 'POST', authority: 'other' })).toBe('404');
    expect(where({ port: 9090 })).toBe('ratings/');
    expect(where({ sourceNamespace: 'frontend' })).toBe('details/');
    expect(where({ sourceLabels: { app: 'productpage', version: 'v1' } })).toBe('details/');
    expect(where({ sourceLabels: { app: 'other' } })).toBe('404');
  });

  it("drops sourceLabels matches as Istio's waypoint does, when asked to", () => {
    const router = routerFrom(
      SVCS +
        vs(
          '  - match: [{ sourceLabels: { app: productpage } }]\n    route: [{ destination: { host: details } }]',
        ),
      {
        sourceLabelMatches: 'ignore-match',
      },
    );
    expect(router.route(R({ sourceLabels: { app: 'productpage' } }))).toMatchObject({
      kind: 'direct',
      status: 404,
    });
  });

  it('ignores matches bound to gateways other than mesh, and VirtualServices bound to gateways only', () => {
    const router = routerFrom(
      SVCS +
        DR +
        vs(`  - match: [{ gateways: [bookinfo-gateway] }]
    route: [{ destination: { host: reviews, subset: v2 } }]
  - route: [{ destination: { host: reviews, subset: v1 } }]`) +
        `apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: { name: ingress-only, namespace: bookinfo }
spec:
  hosts: [ratings]
  gateways: [bookinfo-gateway]
  http: [{ route: [{ destination: { host: ratings, subset: v9 } }] }]
`,
    );
    expect(fwd(router.route(R())).backend.subset).toBe('v1');
    expect(fwd(router.route(req('ratings.bookinfo', { port: 9080 }))).source?.kind).toBe('default');
  });
});

describe('weights', () => {
  it('splits 90/10 within ±5 % over 1,000 seeded requests and never picks weight 0', () => {
    const router = routerFrom(
      SVCS +
        DR +
        vs(`  - route:
    - { destination: { host: reviews, subset: v1 }, weight: 90 }
    - { destination: { host: reviews, subset: v2 }, weight: 10 }
    - { destination: { host: reviews, subset: v3 }, weight: 0 }`),
    );
    const random = seeded(90);
    const counts = tally(1000, () => fwd(router.route(R(), { random })).backend.subset);
    expect(Math.abs((counts.get('v1') ?? 0) / 1000 - 0.9)).toBeLessThanOrEqual(0.05);
    expect(Math.abs((counts.get('v2') ?? 0) / 1000 - 0.1)).toBeLessThanOrEqual(0.05);
    expect(counts.get('v3')).toBeUndefined();
  });
});

describe('fault injection', () => {
  const faulty = (fault: string): ReturnType<typeof routerFrom> =>
    routerFrom(
      SVCS + DR + vs(`  - fault: ${fault}\n    route: [{ destination: { host: reviews, subset: v1 } }]`),
    );

  it('delays and aborts the configured percentage of requests, within ±5 % over 1,000 seeded requests', () => {
    const random = seeded(5);
    const delay = faulty('{ delay: { fixedDelay: 7s, percentage: { value: 30 } } }');
    const delayed = tally(1000, () => delay.route(R(), { random }).delayMs ?? 0).get(7000) ?? 0;
    expect(Math.abs(delayed / 1000 - 0.3)).toBeLessThanOrEqual(0.05);
    const abort = faulty('{ abort: { httpStatus: 500, percentage: { value: 10 } } }');
    const aborted = tally(1000, () => abort.route(R(), { random }).kind).get('direct') ?? 0;
    expect(Math.abs(aborted / 1000 - 0.1)).toBeLessThanOrEqual(0.05);
  });

  it('never fires a fault without a percentage', () => {
    const random = seeded(1);
    const router = faulty('{ delay: { fixedDelay: 1s }, abort: { httpStatus: 500 } }');
    for (let i = 0; i < 200; i++)
      expect(router.route(R(), { random })).toMatchObject({ kind: 'forward', flags: [] });
  });

  it('aborts with the HTTP status and flag FI, or as gRPC for grpcStatus; delay+abort carry DI and FI', () => {
    const router = faulty(
      '{ delay: { fixedDelay: 2s, percentage: { value: 100 } }, abort: { httpStatus: 503, percentage: { value: 100 } } }',
    );
    expect(router.route(R())).toMatchObject({
      kind: 'direct',
      status: 503,
      body: 'fault filter abort',
      delayMs: 2000,
      flags: ['DI', 'FI'],
    });
    const grpc = faulty('{ abort: { grpcStatus: UNAVAILABLE, percentage: { value: 100 } } }');
    expect(grpc.route(R({ protocol: 'grpc' }))).toMatchObject({
      kind: 'direct',
      status: 200,
      grpcStatus: 14,
      flags: ['FI'],
    });
  });

  it('injects a fault for one user only (the Bookinfo jason example)', () => {
    const router = routerFrom(
      SVCS +
        DR +
        vs(`  - match: [{ headers: { end-user: { exact: jason } } }]
    fault: { delay: { percentage: { value: 100.0 }, fixedDelay: 7s } }
    route: [{ destination: { host: reviews, subset: v2 } }]
  - route: [{ destination: { host: reviews, subset: v1 } }]`),
    );
    expect(router.route(R({ headers: { 'end-user': 'jason' } }))).toMatchObject({
      kind: 'forward',
      delayMs: 7000,
      flags: ['DI'],
    });
    expect(router.route(R({ headers: { 'end-user': 'bob' } })).delayMs).toBeUndefined();
  });
});

describe('rewrite, redirect, direct response, headers, mirror', () => {
  const router = routerFrom(
    SVCS +
      DR +
      vs(`  - match: [{ uri: { prefix: /old } }]
    rewrite: { uri: /new, authority: ratings.bookinfo }
    route: [{ destination: { host: reviews, subset: v1 } }]
  - match: [{ uri: { prefix: /re } }]
    rewrite: { uriRegexRewrite: { match: "^/re/([^/]+)(/.*)$", rewrite: "\\\\2/instance/\\\\1" } }
    route: [{ destination: { host: reviews, subset: v1 } }]
  - match: [{ uri: { exact: /v1/getProductRatings } }]
    redirect: { uri: /v1/bookRatings, authority: newratings.default.svc.cluster.local }
  - match: [{ uri: { prefix: /moved } }]
    redirect: { prefixRewrite: /here, derivePort: FROM_REQUEST_PORT, redirectCode: 308 }
  - match: [{ uri: { prefix: /secure } }]
    redirect: { scheme: https }
  - match: [{ uri: { exact: /teapot } }]
    directResponse: { status: 418, body: { string: "I'm a teapot" } }
  - match: [{ uri: { exact: /bytes } }]
    directResponse: { status: 200, body: { bytes: aGVsbG8= } }
  - match: [{ uri: { prefix: /h } }]
    headers:
      request: { set: { x-set: a }, add: { x-add: b }, remove: [x-remove] }
      response: { set: { x-resp: c }, remove: [server] }
    route:
    - destination: { host: reviews, subset: v1 }
      headers: { request: { set: { x-dest: d } }, response: { add: { x-dest-resp: e } } }
  - mirror: { host: reviews, subset: v2 }
    mirrorPercentage: { value: 100 }
    route: [{ destination: { host: reviews, subset: v1 } }]`),
  );

  it('rewrites the matched prefix and the authority (Envoy prefix_rewrite, host_rewrite_literal)', () => {
    const d = fwd(router.route(R({ path: '/old/x?y=1' })));
    expect(d.request.path).toBe('/new/x?y=1');
    expect(d.request.authority).toBe('ratings.bookinfo');
  });

  it('rewrites with uriRegexRewrite (RE2, \\1 substitutions)', () => {
    expect(fwd(router.route(R({ path: '/re/foo/v1/api' }))).request.path).toBe('/v1/api/instance/foo');
  });

  it('redirects: uri + authority (default code 301), prefixRewrite with the request port, scheme', () => {
    expect(router.route(R({ path: '/v1/getProductRatings' }))).toMatchObject({
      kind: 'redirect',
      status: 301,
      location: 'http://newratings.default.svc.cluster.local/v1/bookRatings',
    });
    expect(router.route(R({ path: '/moved/a?b=c' }))).toMatchObject({
      kind: 'redirect',
      status: 308,
      location: 'http://reviews:9080/here/a?b=c',
    });
    expect(router.route(R({ path: '/secure/x' }))).toMatchObject({ location: 'https://reviews/secure/x' });
  });

  it('answers direct responses (string and base64 bytes bodies)', () => {
    expect(router.route(R({ path: '/teapot' }))).toMatchObject({
      kind: 'direct',
      status: 418,
      body: "I'm a teapot",
    });
    expect(router.route(R({ path: '/bytes' }))).toMatchObject({ kind: 'direct', status: 200, body: 'hello' });
  });

  it('applies route and destination header operations', () => {
    const d = fwd(router.route(R({ path: '/h', headers: { 'x-remove': '1', 'x-add': 'a' } })));
    expect(d.request.headers).toEqual({ 'x-set': 'a', 'x-add': 'a,b', 'x-dest': 'd' });
    expect(d.responseHeaders).toEqual({
      set: { 'x-resp': 'c' },
      add: { 'x-dest-resp': 'e' },
      remove: ['server'],
    });
  });

  it('mirrors to the subset with -shadow appended to the host', () => {
    const d = fwd(router.route(R({ path: '/m' })));
    expect(d.mirrors).toEqual([
      {
        service: 'reviews',
        namespace: 'bookinfo',
        port: 9080,
        subset: 'v2',
        hostname: 'reviews.bookinfo.svc.cluster.local',
        request: { path: '/m', authority: 'reviews-shadow:9080' },
      },
    ]);
  });
});

describe('timeouts and retries', () => {
  it('carries timeout, retries (attempts, perTryTimeout, retryOn with codes) into the decision', () => {
    const router = routerFrom(
      SVCS +
        DR +
        vs(`  - timeout: 0.5s
    retries: { attempts: 3, perTryTimeout: 2s, retryOn: "gateway-error,connect-failure,409" }
    route: [{ destination: { host: reviews, subset: v1 } }]`),
    );
    const d = fwd(router.route(R()));
    expect(d.timeoutMs).toBe(500);
    expect(d.backendRequestTimeoutMs).toBe(2000);
    expect(d.retries).toMatchObject({
      attempts: 3,
      perTryTimeoutMs: 2000,
      retryOn: ['gateway-error', 'connect-failure', 'retriable-status-codes'],
      retriableStatusCodes: [409],
      backoffBaseMs: 25,
      backoffMaxMs: 250,
    });
  });

  it('disables retries with attempts 0', () => {
    const router = routerFrom(
      SVCS +
        DR +
        vs('  - retries: { attempts: 0 }\n    route: [{ destination: { host: reviews, subset: v1 } }]'),
    );
    expect(fwd(router.route(R())).retries).toBeUndefined();
  });
});

describe('CORS (Envoy CORS filter)', () => {
  const router = routerFrom(
    SVCS +
      vs(
        `  - corsPolicy:
      allowOrigins: [{ exact: "https://example.com" }, { regex: "https://.*\\\\.example\\\\.org" }]
      allowMethods: [POST, GET]
      allowHeaders: [X-Foo-Bar]
      exposeHeaders: [X-Exposed]
      maxAge: 24h
      allowCredentials: true
    route: [{ destination: { host: httpbin } }]`,
        'httpbin',
        'bookinfo',
        '[httpbin]',
      ),
  );
  const H = (o = {}) => req('httpbin.bookinfo', { port: 8000, ...o });

  it('answers an allowed preflight itself', () => {
    expect(
      router.route(
        H({
          method: 'OPTIONS',
          headers: { origin: 'https://example.com', 'access-control-request-method': 'POST' },
        }),
      ),
    ).toMatchObject({
      kind: 'direct',
      status: 200,
      headers: {
        'access-control-allow-origin': 'https://example.com',
        'access-control-allow-methods': 'POST,GET',
        'access-control-allow-headers': 'X-Foo-Bar',
        'access-control-max-age': '86400',
        'access-control-allow-credentials': 'true',
      },
    });
  });

  it('adds CORS headers to allowed requests, nothing for other origins, and forwards unmatched preflights', () => {
    const ok = fwd(router.route(H({ headers: { origin: 'https://a.example.org' } })));
    expect(ok.responseHeaders.set).toMatchObject({
      'access-control-allow-origin': 'https://a.example.org',
      'access-control-expose-headers': 'X-Exposed',
    });
    expect(fwd(router.route(H({ headers: { origin: 'https://evil.com' } }))).responseHeaders.set).toEqual({});
    expect(
      router.route(
        H({
          method: 'OPTIONS',
          headers: { origin: 'https://evil.com', 'access-control-request-method': 'POST' },
        }),
      ).kind,
    ).toBe('forward');
  });
});

describe('hosts, namespaces and short names', () => {
  it('applies VirtualServices of the Service namespace, and of the waypoint namespace when given', () => {
    const yaml =
      SVCS +
      vs(
        '  - route: [{ destination: { host: reviews.bookinfo.svc.cluster.local, subset: v1 } }]',
        'elsewhere',
        'other',
        '[reviews.bookinfo.svc.cluster.local]',
      );
    expect(fwd(routerFrom(yaml).route(R())).source?.kind).toBe('default');
    expect(fwd(routerFrom(yaml, { waypointNamespace: 'other' }).route(R())).source?.kind).toBe(
      'VirtualService',
    );
  });

  it('matches wildcard hosts against known Services', () => {
    const router = routerFrom(
      SVCS +
        vs(
          '  - route: [{ destination: { host: details } }]',
          'wild',
          'bookinfo',
          '["*.bookinfo.svc.cluster.local"]',
        ),
    );
    expect(fwd(router.route(req('ratings.bookinfo', { port: 9080 }))).backend.service).toBe('details');
  });
});
