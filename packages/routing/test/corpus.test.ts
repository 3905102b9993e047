/**
 * A corpus of cases written from the Gateway API mesh (GAMMA) conformance suite
 * (kubernetes-sigs/gateway-api@8bb74df0, tag v1.6.1, conformance/tests/mesh/*.go and their manifests) and
 * from Istio's VirtualService/DestinationRule documentation (istio.io tasks: request routing, traffic
 * shifting, fault injection, request timeouts, circuit breaking, mirroring; the VirtualService and
 * DestinationRule reference pages). Each case is run through `createRouter` and `route` (and `execute`
 * where the behaviour is about time or retries). The conformance echo Services are `echo`, `echo-v1`,
 * `echo-v2` in `gateway-conformance-mesh`; Bookinfo lives in `default`.
 */
import { describe, expect, it } from 'vitest';
import { createVirtualClock, type RouteRequest } from '../src/index.js';
import { routerFrom, seeded, services, tally } from './support/helpers.js';

const NS = 'gateway-conformance-mesh';
const ECHO = services(NS, 'echo:80,8080', 'echo-v1:80,8080', 'echo-v2:80,8080');
const BOOKINFO = services(
  'default',
  'productpage:9080',
  'reviews:9080',
  'ratings:9080',
  'details:9080',
  'httpbin:8000',
);
const BOOKINFO_DRS = ['productpage', 'reviews', 'ratings', 'details']
  .map(
    (name) => `apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata: { name: ${name} }
spec:
  host: ${name}
  subsets:
  - { name: v1, labels: { version: v1 } }
  - { name: v2, labels: { version: v2 } }
  - { name: v3, labels: { version: v3 } }
---
`,
  )
  .join('');

const echo = (overrides: Partial<RouteRequest> = {}): RouteRequest => ({
  service: `echo.${NS}.svc.cluster.local`,
  port: 80,
  authority: 'echo',
  method: 'GET',
  path: '/',
  headers: {},
  protocol: 'http',
  ...overrides,
});
const bookinfo = (service: string, overrides: Partial<RouteRequest> = {}): RouteRequest => ({
  service: `${service}.default.svc.cluster.local`,
  port: 9080,
  authority: `${service}:9080`,
  method: 'GET',
  path: '/',
  headers: {},
  protocol: 'http',
  ...overrides,
});

const meshRoute = (
  name: string,
  rules: string,
  parent = 'echo',
  port = '',
): string => `apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata: { name: ${name}, namespace: ${NS} }
spec:
  parentRefs: [{ group: "", kind: Service, name: ${parent}${port} }]
  rules:
${rules}
---
`;

type Expectation = Record<string, unknown>;
interface Case {
  readonly name: string;
  readonly yaml: string;
  readonly checks: readonly (readonly [RouteRequest, Expectation])[];
}

const backend = (service: string, port: number, subset?: string) => ({
  kind: 'forward',
  backend: { service, port, ...(subset === undefined ? {} : { subset }) },
});
const status = (s: number) => ({ kind: 'direct', status: s });

const GAMMA: readonly Case[] = [
  {
    name: 'MeshBasic: a Service without routes passes through',
    yaml: ECHO,
    checks: [[echo({ path: '/anything' }), backend('echo', 80)]],
  },
  {
    name: 'MeshSplit: Exact paths split between Services',
    yaml:
      ECHO +
      meshRoute(
        'mesh-split',
        '  - matches: [{ path: { type: Exact, value: /v1 } }]\n    backendRefs: [{ name: echo-v1, port: 80 }]\n  - matches: [{ path: { type: Exact, value: /v2 } }]\n    backendRefs: [{ name: echo-v2, port: 80 }]',
      ),
    checks: [
      [echo({ path: '/v1' }), backend('echo-v1', 80)],
      [echo({ path: '/v2' }), backend('echo-v2', 80)],
      [echo({ path: '/v3' }), { kind: 'direct', status: 404, flags: ['NR'] }],
    ],
  },
  {
    name: 'MeshHTTPRouteMatching: path prefix OR header, longest prefix wins',
    yaml:
      ECHO +
      meshRoute(
        'mesh-matching',
        '  - matches: [{ path: { type: PathPrefix, value: / } }, { headers: [{ name: version, value: one }] }]\n    backendRefs: [{ name: echo-v1, port: 8080 }]\n  - matches: [{ path: { type: PathPrefix, value: /v2 } }, { headers: [{ name: version, value: two }] }]\n    backendRefs: [{ name: echo-v2, port: 8080 }]',
        'echo',
        ', port: 80',
      ),
    checks: [
      [echo({ path: '/' }), backend('echo-v1', 8080)],
      [echo({ path: '/example' }), backend('echo-v1', 8080)],
      [echo({ path: '/', headers: { Version: 'one' } }), backend('echo-v1', 8080)],
      [echo({ path: '/v2' }), backend('echo-v2', 8080)],
      [echo({ path: '/v2/example' }), backend('echo-v2', 8080)],
      [echo({ path: '/', headers: { Version: 'two' } }), backend('echo-v2', 8080)],
      [echo({ path: '/v2/' }), backend('echo-v2', 8080)],
      [echo({ path: '/v2example' }), backend('echo-v1', 8080)],
      [echo({ path: '/foo/v2/example' }), backend('echo-v1', 8080)],
    ],
  },
  {
    name: 'MeshHTTPRouteQueryParamMatching',
    yaml:
      ECHO +
      meshRoute(
        'mesh-query-param-matching',
        [
          '  - matches: [{ queryParams: [{ name: animal, value: whale }] }]\n    backendRefs: [{ name: echo-v1, port: 8080 }]',
          '  - matches: [{ queryParams: [{ name: animal, value: dolphin }] }]\n    backendRefs: [{ name: echo-v2, port: 8080 }]',
          '  - matches: [{ path: { type: PathPrefix, value: /path1 }, queryParams: [{ name: animal, value: whale }] }]\n    backendRefs: [{ name: echo-v1, port: 8080 }]',
          '  - matches: [{ headers: [{ name: version, value: one }], queryParams: [{ name: animal, value: whale }] }]\n    backendRefs: [{ name: echo-v2, port: 8080 }]',
          '  - matches:\n    - { path: { type: PathPrefix, value: /path3 }, queryParams: [{ name: animal, value: shark }] }\n    - { path: { type: PathPrefix, value: /path4 }, headers: [{ name: version, value: three }], queryParams: [{ name: animal, value: kraken }] }\n    backendRefs: [{ name: echo-v1, port: 8080 }]',
          '  - matches: [{ path: { type: PathPrefix, value: /path5 } }]\n    backendRefs: [{ name: echo-v1, port: 8080 }]',
          '  - matches: [{ queryParams: [{ name: animal, value: hydra }] }]\n    backendRefs: [{ name: echo-v2, port: 8080 }]',
        ].join('\n'),
      ),
    checks: [
      [echo({ path: '/?animal=whale' }), backend('echo-v1', 8080)],
      [echo({ path: '/?animal=dolphin' }), backend('echo-v2', 8080)],
      [echo({ path: '/?animal=whale&otherparam=irrelevant' }), backend('echo-v1', 8080)],
      [echo({ path: '/?animal=dolphin&color=yellow' }), backend('echo-v2', 8080)],
      [echo({ path: '/?color=blue' }), status(404)],
      [echo({ path: '/?animal=dog' }), status(404)],
      [echo({ path: '/?animal=whaledolphin' }), status(404)],
      [echo({ path: '/' }), status(404)],
      [echo({ path: '/path1?animal=whale' }), backend('echo-v1', 8080)],
      [echo({ path: '/?animal=whale', headers: { version: 'one' } }), backend('echo-v2', 8080)],
      [echo({ path: '/path3?animal=shark' }), backend('echo-v1', 8080)],
      [echo({ path: '/path4?animal=kraken', headers: { version: 'three' } }), backend('echo-v1', 8080)],
      [echo({ path: '/?animal=shark' }), status(404)],
      [echo({ path: '/path4?animal=kraken' }), status(404)],
      [echo({ path: '/path5?animal=hydra' }), backend('echo-v1', 8080)],
    ],
  },
  {
    name: 'MeshHTTPRouteSimpleSameNamespace',
    yaml:
      ECHO + meshRoute('mesh-simple', '  - backendRefs: [{ name: echo-v1, port: 80 }]', 'echo', ', port: 80'),
    checks: [[echo(), backend('echo-v1', 80)]],
  },
  {
    name: 'MeshHTTPRouteRedirectHostAndStatus',
    yaml:
      ECHO +
      meshRoute(
        'mesh-redirect-host-and-status',
        '  - matches: [{ path: { type: PathPrefix, value: /hostname-redirect } }]\n    filters: [{ type: RequestRedirect, requestRedirect: { hostname: example.org } }]\n  - matches: [{ path: { type: PathPrefix, value: /host-and-status } }]\n    filters: [{ type: RequestRedirect, requestRedirect: { statusCode: 301, hostname: example.org } }]',
        'echo',
        ', port: 80',
      ),
    checks: [
      [
        echo({ path: '/hostname-redirect' }),
        { kind: 'redirect', status: 302, location: 'http://example.org/hostname-redirect' },
      ],
      [
        echo({ path: '/host-and-status' }),
        { kind: 'redirect', status: 301, location: 'http://example.org/host-and-status' },
      ],
    ],
  },
  {
    name: 'MeshHTTPRoute303/307/308Redirect',
    yaml:
      ECHO +
      meshRoute(
        'mesh-redirects',
        [303, 307, 308]
          .map(
            (c) =>
              `  - matches: [{ path: { value: /s${c} } }]\n    filters: [{ type: RequestRedirect, requestRedirect: { statusCode: ${c} } }]`,
          )
          .join('\n'),
      ),
    checks: [303, 307, 308].map(
      (c) =>
        [echo({ path: `/s${c}` }), { kind: 'redirect', status: c, location: `http://echo/s${c}` }] as const,
    ),
  },
  {
    name: 'MeshHTTPRouteRequestHeaderModifier (set, add, remove)',
    yaml:
      ECHO +
      meshRoute(
        'mesh-request-header-modifier',
        '  - matches: [{ path: { value: /set } }]\n    filters: [{ type: RequestHeaderModifier, requestHeaderModifier: { set: [{ name: X-Header-Set, value: set-overwrites-values }] } }]\n    backendRefs: [{ name: echo, port: 80 }]\n  - matches: [{ path: { value: /add } }]\n    filters: [{ type: RequestHeaderModifier, requestHeaderModifier: { add: [{ name: X-Header-Add, value: add-appends-values }] } }]\n    backendRefs: [{ name: echo, port: 80 }]\n  - matches: [{ path: { value: /remove } }]\n    filters: [{ type: RequestHeaderModifier, requestHeaderModifier: { remove: [X-Header-Remove] } }]\n    backendRefs: [{ name: echo, port: 80 }]',
      ),
    checks: [
      [
        echo({ path: '/set', headers: { 'Some-Other-Header': 'val', 'X-Header-Set': 'some-other-value' } }),
        { request: { headers: { 'some-other-header': 'val', 'x-header-set': 'set-overwrites-values' } } },
      ],
      [
        echo({ path: '/add', headers: { 'X-Header-Add': 'some-other-value' } }),
        { request: { headers: { 'x-header-add': 'some-other-value,add-appends-values' } } },
      ],
      [
        echo({ path: '/remove', headers: { 'X-Header-Remove': 'val', keep: '1' } }),
        { request: { headers: { keep: '1' } } },
      ],
    ],
  },
  {
    name: 'MeshHTTPRouteRewritePath',
    yaml:
      ECHO +
      meshRoute(
        'mesh-rewrite-path',
        [
          ['/prefix/one', 'ReplacePrefixMatch', 'replacePrefixMatch: /one'],
          ['/strip-prefix', 'ReplacePrefixMatch', 'replacePrefixMatch: /'],
          ['/full/one', 'ReplaceFullPath', 'replaceFullPath: /one'],
        ]
          .map(
            ([p, t, v]) =>
              `  - matches: [{ path: { type: PathPrefix, value: ${p} } }]\n    filters: [{ type: URLRewrite, urlRewrite: { path: { type: ${t}, ${v} } } }]\n    backendRefs: [{ name: echo-v1, port: 80 }]`,
          )
          .join('\n'),
        'echo',
        ', port: 80',
      ),
    checks: [
      [echo({ path: '/prefix/one/two' }), { backend: { service: 'echo-v1' }, request: { path: '/one/two' } }],
      [echo({ path: '/strip-prefix/three' }), { request: { path: '/three' } }],
      [echo({ path: '/strip-prefix' }), { request: { path: '/' } }],
      [echo({ path: '/full/one/two' }), { request: { path: '/one' } }],
    ],
  },
  {
    name: 'MeshHTTPRouteNamedRule',
    yaml:
      ECHO +
      meshRoute(
        'mesh-named-rule',
        '  - name: named-rule\n    matches: [{ path: { value: /named } }]\n    backendRefs: [{ name: echo-v1, port: 80 }]\n  - backendRefs: [{ name: echo-v2, port: 80 }]',
      ),
    checks: [
      [echo({ path: '/named' }), { backend: { service: 'echo-v1' }, source: { routeName: 'named-rule' } }],
      [echo({ path: '/unnamed' }), { backend: { service: 'echo-v2' } }],
    ],
  },
];

const vs = (name: string, spec: string): string => `apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: { name: ${name} }
spec:
${spec}
---
`;

const ISTIO: readonly Case[] = [
  {
    name: 'request routing: everything to v1 (virtual-service-all-v1)',
    yaml:
      BOOKINFO +
      BOOKINFO_DRS +
      ['productpage', 'reviews', 'ratings', 'details']
        .map((s) =>
          vs(s, `  hosts: [${s}]\n  http: [{ route: [{ destination: { host: ${s}, subset: v1 } }] }]`),
        )
        .join(''),
    checks: [
      [bookinfo('reviews'), backend('reviews', 9080, 'v1')],
      [bookinfo('ratings'), backend('ratings', 9080, 'v1')],
      [bookinfo('details'), backend('details', 9080, 'v1')],
    ],
  },
  {
    name: 'request routing: jason to v2 (virtual-service-reviews-test-v2)',
    yaml:
      BOOKINFO +
      BOOKINFO_DRS +
      vs(
        'reviews',
        '  hosts: [reviews]\n  http:\n  - match: [{ headers: { end-user: { exact: jason } } }]\n    route: [{ destination: { host: reviews, subset: v2 } }]\n  - route: [{ destination: { host: reviews, subset: v1 } }]',
      ),
    checks: [
      [bookinfo('reviews', { headers: { 'end-user': 'jason' } }), backend('reviews', 9080, 'v2')],
      [bookinfo('reviews', { headers: { 'end-user': 'Jason' } }), backend('reviews', 9080, 'v1')],
      [bookinfo('reviews'), backend('reviews', 9080, 'v1')],
    ],
  },
  {
    name: 'traffic shifting: all to v3 (virtual-service-reviews-v3)',
    yaml:
      BOOKINFO +
      BOOKINFO_DRS +
      vs(
        'reviews',
        '  hosts: [reviews]\n  http: [{ route: [{ destination: { host: reviews, subset: v3 } }] }]',
      ),
    checks: [[bookinfo('reviews'), backend('reviews', 9080, 'v3')]],
  },
  {
    name: 'fault injection: 7s delay for jason (virtual-service-ratings-test-delay)',
    yaml:
      BOOKINFO +
      BOOKINFO_DRS +
      vs(
        'ratings',
        '  hosts: [ratings]\n  http:\n  - match: [{ headers: { end-user: { exact: jason } } }]\n    fault: { delay: { percentage: { value: 100.0 }, fixedDelay: 7s } }\n    route: [{ destination: { host: ratings, subset: v1 } }]\n  - route: [{ destination: { host: ratings, subset: v1 } }]',
      ),
    checks: [
      [
        bookinfo('ratings', { headers: { 'end-user': 'jason' } }),
        { kind: 'forward', delayMs: 7000, flags: ['DI'] },
      ],
      [bookinfo('ratings'), { kind: 'forward', flags: [] }],
    ],
  },
  {
    name: 'fault injection: abort 500 for jason (virtual-service-ratings-test-abort)',
    yaml:
      BOOKINFO +
      BOOKINFO_DRS +
      vs(
        'ratings',
        '  hosts: [ratings]\n  http:\n  - match: [{ headers: { end-user: { exact: jason } } }]\n    fault: { abort: { percentage: { value: 100.0 }, httpStatus: 500 } }\n    route: [{ destination: { host: ratings, subset: v1 } }]\n  - route: [{ destination: { host: ratings, subset: v1 } }]',
      ),
    checks: [
      [
        bookinfo('ratings', { headers: { 'end-user': 'jason' } }),
        { kind: 'direct', status: 500, body: 'fault filter abort', flags: ['FI'] },
      ],
      [bookinfo('ratings'), backend('ratings', 9080, 'v1')],
    ],
  },
  {
    name: 'request timeouts: reviews v2 with 0.5s timeout',
    yaml:
      BOOKINFO +
      BOOKINFO_DRS +
      vs(
        'reviews',
        '  hosts: [reviews]\n  http:\n  - route: [{ destination: { host: reviews, subset: v2 } }]\n    timeout: 0.5s',
      ),
    checks: [[bookinfo('reviews'), { kind: 'forward', timeoutMs: 500, backend: { subset: 'v2' } }]],
  },
  {
    name: 'VirtualService reference: uri prefix match with rewrite',
    yaml:
      BOOKINFO +
      BOOKINFO_DRS +
      vs(
        'reviews-route',
        '  hosts: [reviews.default.svc.cluster.local]\n  http:\n  - name: reviews-v2-routes\n    match: [{ uri: { prefix: /wpcatalog } }, { uri: { prefix: /consumercatalog } }]\n    rewrite: { uri: /newcatalog }\n    route: [{ destination: { host: reviews.default.svc.cluster.local, subset: v2 } }]\n  - name: reviews-v1-route\n    route: [{ destination: { host: reviews.default.svc.cluster.local, subset: v1 } }]',
      ),
    checks: [
      [
        bookinfo('reviews', { path: '/wpcatalog/item' }),
        {
          backend: { subset: 'v2' },
          request: { path: '/newcatalog/item' },
          source: { routeName: 'reviews-v2-routes', match: 0 },
        },
      ],
      [
        bookinfo('reviews', { path: '/consumercatalog' }),
        { request: { path: '/newcatalog' }, source: { match: 1 } },
      ],
      [
        bookinfo('reviews', { path: '/other' }),
        { backend: { subset: 'v1' }, source: { routeName: 'reviews-v1-route' } },
      ],
    ],
  },
  {
    name: 'VirtualService reference: redirect',
    yaml:
      BOOKINFO +
      vs(
        'ratings-route',
        '  hosts: [ratings.prod.svc.cluster.local, ratings]\n  http:\n  - match: [{ uri: { exact: /v1/getProductRatings } }]\n    redirect: { uri: /v1/bookRatings, authority: newratings.default.svc.cluster.local }',
      ),
    checks: [
      [
        bookinfo('ratings', { path: '/v1/getProductRatings' }),
        {
          kind: 'redirect',
          status: 301,
          location: 'http://newratings.default.svc.cluster.local/v1/bookRatings',
        },
      ],
    ],
  },
  {
    name: 'VirtualService reference: header operations',
    yaml:
      BOOKINFO +
      BOOKINFO_DRS +
      vs(
        'reviews-route',
        '  hosts: [reviews.default.svc.cluster.local]\n  http:\n  - headers: { request: { set: { test: "true" } } }\n    route:\n    - destination: { host: reviews.default.svc.cluster.local, subset: v2 }\n      weight: 25\n    - destination: { host: reviews.default.svc.cluster.local, subset: v1 }\n      headers: { response: { remove: [foo] } }\n      weight: 75',
      ),
    checks: [[bookinfo('reviews'), { kind: 'forward', request: { headers: { test: 'true' } } }]],
  },
  {
    name: 'VirtualService reference: retries',
    yaml:
      BOOKINFO +
      BOOKINFO_DRS +
      vs(
        'ratings-route',
        '  hosts: [ratings.default.svc.cluster.local]\n  http:\n  - route: [{ destination: { host: ratings.default.svc.cluster.local, subset: v1 } }]\n    retries: { attempts: 3, perTryTimeout: 2s, retryOn: "gateway-error,connect-failure,refused-stream" }',
      ),
    checks: [
      [
        bookinfo('ratings'),
        {
          retries: {
            attempts: 3,
            perTryTimeoutMs: 2000,
            retryOn: ['gateway-error', 'connect-failure', 'refused-stream'],
          },
        },
      ],
    ],
  },
  {
    name: 'VirtualService reference: regex uri rewrite',
    yaml:
      BOOKINFO +
      vs(
        'productpage',
        '  hosts: [productpage]\n  http:\n  - match: [{ uri: { regex: "^/service/([^/]+)(/.*)$" } }]\n    rewrite: { uriRegexRewrite: { match: "^/service/([^/]+)(/.*)$", rewrite: "\\\\2/instance/\\\\1" } }\n    route: [{ destination: { host: productpage } }]',
      ),
    checks: [
      [
        bookinfo('productpage', { path: '/service/foo/v1/api' }),
        { request: { path: '/v1/api/instance/foo' } },
      ],
    ],
  },
  {
    name: 'mirroring: httpbin v1 mirrored to v2 at 100%',
    yaml:
      BOOKINFO +
      vs(
        'httpbin',
        '  hosts: [httpbin]\n  http:\n  - route: [{ destination: { host: httpbin, subset: v1 }, weight: 100 }]\n    mirror: { host: httpbin, subset: v2 }\n    mirrorPercentage: { value: 100.0 }',
      ),
    checks: [
      [
        bookinfo('httpbin', { port: 8000, authority: 'httpbin:8000' }),
        {
          backend: { subset: 'v1' },
          mirrors: [{ service: 'httpbin', subset: 'v2', request: { authority: 'httpbin-shadow:8000' } }],
        },
      ],
    ],
  },
];

describe('GAMMA conformance corpus', () => {
  for (const c of GAMMA) {
    it(c.name, () => {
      const router = routerFrom(c.yaml);
      for (const [request, expected] of c.checks)
        expect(router.route(request), `${request.path} ${JSON.stringify(request.headers)}`).toMatchObject(
          expected,
        );
    });
  }

  it('MeshHTTPRouteWeight: 70/30 within ±5 % (conformance/utils/weight)', () => {
    const router = routerFrom(
      ECHO +
        meshRoute(
          'mesh-weighted',
          '  - backendRefs:\n    - { name: echo-v1, port: 8080, weight: 70 }\n    - { name: echo-v2, port: 8080, weight: 30 }',
          'echo',
          ', port: 80',
        ),
    );
    const random = seeded(1731);
    const counts = tally(1000, () => {
      const d = router.route(echo(), { random });
      return d.kind === 'forward' ? d.backend.service : 'other';
    });
    expect(Math.abs((counts.get('echo-v1') ?? 0) / 1000 - 0.7)).toBeLessThanOrEqual(0.05);
    expect(Math.abs((counts.get('echo-v2') ?? 0) / 1000 - 0.3)).toBeLessThanOrEqual(0.05);
  });
});

describe("Istio's VirtualService / DestinationRule documentation corpus", () => {
  for (const c of ISTIO) {
    it(c.name, () => {
      const router = routerFrom(c.yaml);
      for (const [request, expected] of c.checks)
        expect(router.route(request), request.path).toMatchObject(expected);
    });
  }

  it('traffic shifting: 50/50 v1/v3 (virtual-service-reviews-50-v3)', () => {
    const router = routerFrom(
      BOOKINFO +
        BOOKINFO_DRS +
        vs(
          'reviews',
          '  hosts: [reviews]\n  http:\n  - route:\n    - { destination: { host: reviews, subset: v1 }, weight: 50 }\n    - { destination: { host: reviews, subset: v3 }, weight: 50 }',
        ),
    );
    const random = seeded(50);
    const counts = tally(1000, () => {
      const d = router.route(bookinfo('reviews'), { random });
      return d.kind === 'forward' ? d.backend.subset : 'other';
    });
    expect(Math.abs((counts.get('v1') ?? 0) / 1000 - 0.5)).toBeLessThanOrEqual(0.05);
  });

  it('request timeouts: ratings delayed 2s behind a 0.5s reviews timeout answers 504 UT', async () => {
    const router = routerFrom(
      BOOKINFO +
        BOOKINFO_DRS +
        vs(
          'reviews',
          '  hosts: [reviews]\n  http:\n  - route: [{ destination: { host: reviews, subset: v2 } }]\n    timeout: 0.5s',
        ),
    );
    const clock = createVirtualClock();
    const result = await router.execute(bookinfo('reviews'), {
      now: clock.now,
      sleep: clock.sleep,
      send: async (_t, _r, signal) => {
        await clock.sleep(2000, signal);
        return { status: 200, headers: {} };
      },
    });
    expect(result).toMatchObject({ status: 504, responseFlags: 'UT', durationMs: 500 });
  });

  it('circuit breaking: the httpbin DestinationRule of the task', () => {
    const router = routerFrom(
      `${BOOKINFO}apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata: { name: httpbin }
spec:
  host: httpbin
  trafficPolicy:
    connectionPool:
      tcp: { maxConnections: 1 }
      http: { http1MaxPendingRequests: 1, maxRequestsPerConnection: 1 }
    outlierDetection: { consecutive5xxErrors: 1, interval: 1s, baseEjectionTime: 3m, maxEjectionPercent: 100 }
`,
      {
        workloads: [{ name: 'httpbin-1', namespace: 'default', ip: '10.0.0.9', labels: { app: 'httpbin' } }],
      },
    );
    const b = {
      service: 'httpbin',
      namespace: 'default',
      port: 8000,
      hostname: 'httpbin.default.svc.cluster.local',
    };
    const policy = router.policyFor(b);
    expect(policy.connectionPool).toMatchObject({
      maxConnections: 1,
      maxPendingRequests: 1,
      maxRequestsPerConnection: 1,
    });
    expect(policy.outlierDetection).toMatchObject({
      consecutive5xx: 1,
      intervalMs: 1000,
      baseEjectionMs: 180_000,
      maxEjectionPercent: 100,
    });
    const a = router.pickEndpoint(b, { nowMs: 0 });
    const q = router.pickEndpoint(b, { nowMs: 0 });
    expect(router.pickEndpoint(b, { nowMs: 0 })).toMatchObject({ kind: 'unavailable', flags: ['UO'] });
    if (a.kind === 'endpoint') a.lease.release({ status: 503 }, 0);
    if (q.kind === 'endpoint') q.lease.release({ cancelled: true }, 0);
    expect(router.pickEndpoint(b, { nowMs: 10 })).toMatchObject({ kind: 'unavailable', flags: ['UH'] });
  });

  it('DestinationRule reference: LEAST_REQUEST at the top, ROUND_ROBIN for subset testversion', () => {
    const router = routerFrom(`${BOOKINFO}apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata: { name: bookinfo-ratings }
spec:
  host: ratings.default.svc.cluster.local
  trafficPolicy: { loadBalancer: { simple: LEAST_REQUEST } }
  subsets:
  - name: testversion
    labels: { version: v3 }
    trafficPolicy: { loadBalancer: { simple: ROUND_ROBIN } }
`);
    const base = {
      service: 'ratings',
      namespace: 'default',
      port: 9080,
      hostname: 'ratings.default.svc.cluster.local',
    };
    expect(router.policyFor(base).loadBalancer.kind).toBe('LEAST_REQUEST');
    expect(router.policyFor({ ...base, subset: 'testversion' })).toMatchObject({
      loadBalancer: { kind: 'ROUND_ROBIN' },
      subsetLabels: { version: 'v3' },
    });
  });

  it('DestinationRule reference: consistent hash on cookie "user" with ttl 0s, and port-level settings', () => {
    const router = routerFrom(`${BOOKINFO}apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata: { name: bookinfo-ratings-port }
spec:
  host: ratings.default.svc.cluster.local
  trafficPolicy:
    loadBalancer: { consistentHash: { httpCookie: { name: user, ttl: 0s } } }
    portLevelSettings:
    - port: { number: 80 }
      loadBalancer: { simple: LEAST_REQUEST }
    - port: { number: 9080 }
      loadBalancer: { simple: ROUND_ROBIN }
`);
    const at = (port: number) =>
      router.policyFor({
        service: 'ratings',
        namespace: 'default',
        port,
        hostname: 'ratings.default.svc.cluster.local',
      }).loadBalancer;
    expect(at(80).kind).toBe('LEAST_REQUEST');
    expect(at(9080).kind).toBe('ROUND_ROBIN');
    expect(at(8080)).toMatchObject({
      kind: 'CONSISTENT_HASH',
      key: { kind: 'cookie', name: 'user', ttlMs: 0 },
    });
  });
});
