/**
 * Gateway API HTTPRoute and GRPCRoute attached to Services (GAMMA), as Istio's waypoint applies them.
 * Expected values cite the Gateway API (kubernetes-sigs/gateway-api v1.6.1 apis/v1/httproute_types.go and
 * conformance/tests/mesh/*) and istiod (istio/istio@86c9f01f:pilot/pkg/config/kube/gateway/conversion.go).
 */
import { describe, expect, it } from 'vitest';
import type { ForwardDecision, RouteDecision } from '../src/index.js';
import { req, routerFrom, seeded, services, tally } from './support/helpers.js';

const fwd = (d: RouteDecision): ForwardDecision => {
  if (d.kind !== 'forward') throw new Error(`expected forward, got ${JSON.stringify(d)}`);
  return d;
};

function route(
  name: string,
  rules: string,
  extra: { ns?: string; parent?: string; created?: string; port?: number } = {},
): string {
  const ns = extra.ns ?? 'default';
  const created = extra.created === undefined ? '' : `, creationTimestamp: "${extra.created}"`;
  const port = extra.port === undefined ? '' : `\n    port: ${extra.port}`;
  return `apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata: { name: ${name}, namespace: ${ns}${created} }
spec:
  parentRefs:
  - group: ""
    kind: Service
    name: ${extra.parent ?? 'echo'}${port}
  rules:
${rules}
---
`;
}

const SVCS = services('default', 'echo', 'echo-v1', 'echo-v2', 'echo-v3');

describe('attachment (GAMMA)', () => {
  it('passes traffic unchanged to a Service no route is attached to', () => {
    const router = routerFrom(SVCS);
    const d = fwd(router.route(req('echo', { path: '/x?y=1', headers: { 'X-A': 'b' } })));
    expect(d.backend).toEqual({
      service: 'echo',
      namespace: 'default',
      port: 80,
      hostname: 'echo.default.svc.cluster.local',
    });
    expect(d.request).toEqual({ path: '/x?y=1', authority: 'echo', headers: { 'x-a': 'b' } });
    expect(d.source?.kind).toBe('default');
  });

  it('answers 404 with flag NR when routes are attached and none matches', () => {
    const router = routerFrom(
      SVCS +
        route(
          'r',
          '  - matches: [{ path: { type: Exact, value: /only } }]\n    backendRefs: [{ name: echo-v1, port: 80 }]',
        ),
    );
    const d = router.route(req('echo', { path: '/other' }));
    expect(d).toMatchObject({ kind: 'direct', status: 404, flags: ['NR'] });
    expect(fwd(router.route(req('echo', { path: '/only' }))).backend.service).toBe('echo-v1');
  });

  it('matches by the Service addressed, not by Host (mesh-frontend-hostname)', () => {
    const router = routerFrom(
      SVCS +
        route(
          'r',
          '  - filters: [{ type: ResponseHeaderModifier, responseHeaderModifier: { set: [{ name: X-Header-Set, value: set }] } }]\n    backendRefs: [{ name: echo-v1, port: 80 }]',
          {
            parent: 'echo-v1',
          },
        ),
    );
    expect(fwd(router.route(req('echo-v2', { authority: 'echo-v1' }))).responseHeaders.set).toEqual({});
    expect(fwd(router.route(req('echo-v1', { authority: 'echo-v2' }))).responseHeaders.set).toEqual({
      'x-header-set': 'set',
    });
  });

  it('applies a route with a parent port only to that port (mesh-ports)', () => {
    const yaml =
      services('default', 'echo-v1:80,8080', 'echo-v2:80,8080') +
      route(
        'v1',
        '  - filters: [{ type: ResponseHeaderModifier, responseHeaderModifier: { set: [{ name: X-Header-Set, value: v1 }] } }]\n    backendRefs: [{ name: echo-v1, port: 80 }]',
        {
          parent: 'echo-v1',
          port: 80,
        },
      ) +
      route(
        'v2',
        '  - filters: [{ type: ResponseHeaderModifier, responseHeaderModifier: { set: [{ name: X-Header-Set, value: v2 }] } }]\n    backendRefs: [{ name: echo-v2, port: 80 }]',
        {
          parent: 'echo-v2',
        },
      );
    const router = routerFrom(yaml);
    expect(fwd(router.route(req('echo-v1'))).responseHeaders.set).toEqual({ 'x-header-set': 'v1' });
    const other = fwd(router.route(req('echo-v1', { port: 8080, authority: 'echo-v1:8080' })));
    expect(other.responseHeaders.set).toEqual({});
    expect(other.backend.port).toBe(8080);
    expect(fwd(router.route(req('echo-v2', { port: 8080 }))).responseHeaders.set).toEqual({
      'x-header-set': 'v2',
    });
  });

  it('applies consumer routes only to clients of their namespace, instead of the producer routes (GEP-1294)', () => {
    const yaml =
      services('mesh', 'echo-v1', 'echo-v2') +
      route('producer', '  - backendRefs: [{ name: echo-v2, port: 80 }]', { ns: 'mesh', parent: 'echo-v1' }) +
      `apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata: { name: consumer, namespace: client }
spec:
  parentRefs: [{ group: "", kind: Service, name: echo-v1, namespace: mesh }]
  rules:
  - filters: [{ type: ResponseHeaderModifier, responseHeaderModifier: { set: [{ name: X-Header-Set, value: set }] } }]
    backendRefs: [{ name: echo-v1, namespace: mesh, port: 80 }]
`;
    const router = routerFrom(yaml);
    const fromClient = fwd(router.route(req('echo-v1.mesh', { sourceNamespace: 'client' })));
    expect(fromClient.backend.service).toBe('echo-v1');
    expect(fromClient.responseHeaders.set).toEqual({ 'x-header-set': 'set' });
    const fromMesh = fwd(router.route(req('echo-v1.mesh', { sourceNamespace: 'mesh' })));
    expect(fromMesh.backend.service).toBe('echo-v2');
    expect(fromMesh.responseHeaders.set).toEqual({});
  });
});

describe('precedence across rules and routes (httproute_types.go HTTPRouteRule.Matches)', () => {
  const rule = (match: string, backend: string): string =>
    `  - matches: [${match}]\n    backendRefs: [{ name: ${backend}, port: 80 }]`;
  const pick = (yaml: string, r = req('echo')): string =>
    fwd(routerFrom(SVCS + yaml).route(r)).backend.service;

  it('prefers an Exact path over a PathPrefix, whatever the order', () => {
    const yaml = route(
      'a',
      `${rule('{ path: { type: PathPrefix, value: /foo } }', 'echo-v1')}\n${rule('{ path: { type: Exact, value: /foo } }', 'echo-v2')}`,
    );
    expect(pick(yaml, req('echo', { path: '/foo' }))).toBe('echo-v2');
    expect(pick(yaml, req('echo', { path: '/foo/x' }))).toBe('echo-v1');
  });

  it('prefers the longest prefix', () => {
    const yaml = route(
      'a',
      `${rule('{ path: { value: /foo } }', 'echo-v1')}\n${rule('{ path: { value: /foo/bar } }', 'echo-v2')}`,
    );
    expect(pick(yaml, req('echo', { path: '/foo/bar/baz' }))).toBe('echo-v2');
    expect(pick(yaml, req('echo', { path: '/foo/barbaz' }))).toBe('echo-v1');
  });

  it('then a method match, then more header matches, then more query matches', () => {
    const yaml = route(
      'a',
      [
        rule('{ path: { value: /p } }', 'echo-v1'),
        rule(
          '{ path: { value: /p }, headers: [{ name: a, value: "1" }], queryParams: [{ name: q, value: "1" }, { name: r, value: "1" }] }',
          'echo-v2',
        ),
        rule(
          '{ path: { value: /p }, headers: [{ name: a, value: "1" }, { name: b, value: "1" }] }',
          'echo-v3',
        ),
        rule('{ path: { value: /p }, method: GET }', 'echo'),
      ].join('\n'),
    );
    const h = { a: '1', b: '1' };
    expect(pick(yaml, req('echo', { path: '/p?q=1&r=1', headers: h }))).toBe('echo');
    expect(pick(yaml, req('echo', { path: '/p?q=1&r=1', headers: h, method: 'POST' }))).toBe('echo-v3');
    expect(pick(yaml, req('echo', { path: '/p?q=1&r=1', headers: { a: '1' }, method: 'POST' }))).toBe(
      'echo-v2',
    );
    expect(pick(yaml, req('echo', { path: '/p', headers: { a: '1' }, method: 'POST' }))).toBe('echo-v1');
  });

  it('breaks ties by creation time (oldest first), then by namespace/name', () => {
    const same = '  - matches: [{ path: { value: /t } }]\n    backendRefs: [{ name: BACKEND, port: 80 }]';
    const older = route('zzz', same.replace('BACKEND', 'echo-v1'), { created: '2024-01-01T00:00:00Z' });
    const newer = route('aaa', same.replace('BACKEND', 'echo-v2'), { created: '2024-06-01T00:00:00Z' });
    expect(pick(newer + older, req('echo', { path: '/t' }))).toBe('echo-v1');
    const a = route('aaa', same.replace('BACKEND', 'echo-v1'), { created: '2024-01-01T00:00:00Z' });
    const b = route('bbb', same.replace('BACKEND', 'echo-v2'), { created: '2024-01-01T00:00:00Z' });
    expect(pick(b + a, req('echo', { path: '/t' }))).toBe('echo-v1');
  });

  it('keeps rule order inside one route on a full tie', () => {
    const yaml = route(
      'a',
      `${rule('{ path: { value: /t } }', 'echo-v2')}\n${rule('{ path: { value: /t } }', 'echo-v1')}`,
    );
    expect(pick(yaml, req('echo', { path: '/t' }))).toBe('echo-v2');
  });

  it('ranks RegularExpression paths after prefixes, as istiod does', () => {
    const yaml = route(
      'a',
      `${rule('{ path: { type: RegularExpression, value: "/r/[0-9]+" } }', 'echo-v1')}\n${rule('{ path: { value: / } }', 'echo-v2')}`,
    );
    expect(pick(yaml, req('echo', { path: '/r/12' }))).toBe('echo-v2');
  });

  it('matches PathPrefix on path segments, and regexes as a full match', () => {
    const yaml = route(
      'a',
      `${rule('{ path: { value: /abc/ } }', 'echo-v1')}\n${rule('{ path: { type: RegularExpression, value: "/x[0-9]" } }', 'echo-v2')}`,
    );
    const router = routerFrom(SVCS + yaml);
    expect(fwd(router.route(req('echo', { path: '/abc' }))).backend.service).toBe('echo-v1');
    expect(fwd(router.route(req('echo', { path: '/abc/d' }))).backend.service).toBe('echo-v1');
    expect(router.route(req('echo', { path: '/abcd' })).kind).toBe('direct');
    expect(fwd(router.route(req('echo', { path: '/x1' }))).backend.service).toBe('echo-v2');
    expect(router.route(req('echo', { path: '/x12' })).kind).toBe('direct');
  });
});

describe('weighted backends', () => {
  const split = (w1: number, w2: number): Map<string, number> => {
    const router = routerFrom(
      SVCS +
        route(
          'split',
          `  - backendRefs:\n    - { name: echo-v1, port: 80, weight: ${w1} }\n    - { name: echo-v2, port: 80, weight: ${w2} }`,
        ),
    );
    const random = seeded(42);
    return tally(1000, () => fwd(router.route(req('echo'), { random })).backend.service);
  };

  it('splits 90/10 and 80/20 within ±5 % over 1,000 seeded requests', () => {
    const a = split(90, 10);
    expect(Math.abs((a.get('echo-v1') ?? 0) / 1000 - 0.9)).toBeLessThanOrEqual(0.05);
    expect(Math.abs((a.get('echo-v2') ?? 0) / 1000 - 0.1)).toBeLessThanOrEqual(0.05);
    const b = split(80, 20);
    expect(Math.abs((b.get('echo-v1') ?? 0) / 1000 - 0.8)).toBeLessThanOrEqual(0.05);
    expect(Math.abs((b.get('echo-v2') ?? 0) / 1000 - 0.2)).toBeLessThanOrEqual(0.05);
  });

  it('never chooses a backend of weight 0', () => {
    const counts = split(0, 1);
    expect(counts.get('echo-v1')).toBeUndefined();
    expect(counts.get('echo-v2')).toBe(1000);
  });

  it('answers 500 when all weights are 0 or no backend is given', () => {
    const router = routerFrom(
      SVCS +
        route(
          'zero',
          '  - matches: [{ path: { value: /zero } }]\n    backendRefs: [{ name: echo-v1, port: 80, weight: 0 }]\n  - matches: [{ path: { value: /none } }]',
        ),
    );
    expect(router.route(req('echo', { path: '/zero' }))).toMatchObject({ kind: 'direct', status: 500 });
    expect(router.route(req('echo', { path: '/none' }))).toMatchObject({ kind: 'direct', status: 500 });
  });

  it("answers 500 for an invalid backend's share of traffic", () => {
    const router = routerFrom(
      SVCS +
        route(
          'bad',
          '  - backendRefs:\n    - { name: echo-v1, port: 80 }\n    - { name: missing, port: 80 }',
        ),
    );
    const random = seeded(7);
    const counts = tally(1000, () => {
      const d = router.route(req('echo'), { random });
      return d.kind === 'forward' ? d.backend.service : String(d.kind === 'direct' ? d.status : d.kind);
    });
    expect(Math.abs((counts.get('500') ?? 0) / 1000 - 0.5)).toBeLessThanOrEqual(0.05);
    expect(counts.get('echo-v1')).toBeGreaterThan(400);
  });
});

describe('RequestRedirect: Location composition (mesh httproute-redirect-* conformance)', () => {
  const redirect = (filter: string, path = '/p'): string =>
    `  - matches: [{ path: { value: ${path} } }]\n    filters: [{ type: RequestRedirect, requestRedirect: ${filter} }]`;
  const router = routerFrom(
    SVCS +
      route(
        'redirects',
        [
          redirect('{ port: 8083 }', '/port'),
          redirect('{ port: 8083, hostname: example.org }', '/port-and-host'),
          redirect('{ port: 8083, statusCode: 301 }', '/port-and-status'),
          redirect('{ scheme: https }', '/scheme'),
          redirect('{ scheme: https, hostname: example.org, statusCode: 301 }', '/scheme-and-host'),
          redirect('{ scheme: https, port: 8443 }', '/scheme-and-port'),
          redirect('{ scheme: http, port: 80 }', '/http-80'),
          redirect('{ hostname: example.org }', '/host'),
          redirect(
            '{ path: { type: ReplacePrefixMatch, replacePrefixMatch: /replacement-prefix } }',
            '/original-prefix',
          ),
          redirect('{ path: { type: ReplaceFullPath, replaceFullPath: /full-path-replacement } }', '/full'),
          redirect('{ statusCode: 303 }', '/s303'),
          redirect('{ statusCode: 307 }', '/s307'),
          redirect('{ statusCode: 308 }', '/s308'),
        ].join('\n'),
      ),
  );
  const at = (path: string, extra = {}): RouteDecision => router.route(req('echo', { path, ...extra }));

  it.each([
    ['/port', 302, 'http://echo:8083/port'],
    ['/port-and-host', 302, 'http://example.org:8083/port-and-host'],
    ['/port-and-status', 301, 'http://echo:8083/port-and-status'],
    ['/scheme', 302, 'https://echo/scheme'],
    ['/scheme-and-host', 301, 'https://example.org/scheme-and-host'],
    ['/scheme-and-port', 302, 'https://echo:8443/scheme-and-port'],
    ['/http-80', 302, 'http://echo/http-80'],
    ['/host', 302, 'http://example.org/host'],
    ['/original-prefix/lemon', 302, 'http://echo/replacement-prefix/lemon'],
    ['/full/path/original', 302, 'http://echo/full-path-replacement'],
    ['/s303', 303, 'http://echo/s303'],
    ['/s307', 307, 'http://echo/s307'],
    ['/s308', 308, 'http://echo/s308'],
  ])('%s → %i %s', (path, status, location) => {
    expect(at(path)).toMatchObject({ kind: 'redirect', status, location });
  });

  it('keeps the request port when it is not the scheme default, and the query string', () => {
    expect(at('/host?a=b', { port: 8080, authority: 'echo:8080' })).toMatchObject({
      location: 'http://example.org:8080/host?a=b',
    });
    expect(at('/scheme', { port: 8080 })).toMatchObject({ location: 'https://echo/scheme' });
    expect(at('/s303', { port: 8080, authority: 'echo:8080' })).toMatchObject({
      location: 'http://echo:8080/s303',
    });
  });
});

describe('URLRewrite', () => {
  const rewrite = (prefix: string, replacement: string): string =>
    `  - matches: [{ path: { type: PathPrefix, value: "${prefix}" } }]\n    filters: [{ type: URLRewrite, urlRewrite: { path: { type: ReplacePrefixMatch, replacePrefixMatch: "${replacement}" } } }]\n    backendRefs: [{ name: echo-v1, port: 80 }]`;
  const one = (prefix: string, replacement: string, path: string): string =>
    fwd(routerFrom(SVCS + route('rw', rewrite(prefix, replacement))).route(req('echo', { path }))).request
      .path;

  // The table in httproute_types.go HTTPPathModifier.ReplacePrefixMatch.
  it.each([
    ['/foo/bar', '/foo', '/xyz', '/xyz/bar'],
    ['/foo/bar', '/foo', '/xyz/', '/xyz/bar'],
    ['/foo/bar', '/foo/', '/xyz', '/xyz/bar'],
    ['/foo/bar', '/foo/', '/xyz/', '/xyz/bar'],
    ['/foo', '/foo', '/xyz', '/xyz'],
    ['/foo/', '/foo', '/xyz', '/xyz/'],
    ['/foo/bar', '/foo', '', '/bar'],
    ['/foo/', '/foo', '', '/'],
    ['/foo', '/foo', '', '/'],
    ['/foo/', '/foo', '/', '/'],
    ['/foo', '/foo', '/', '/'],
  ])(
    'ReplacePrefixMatch: %s with prefix %s and replacement "%s" → %s',
    (path, prefix, replacement, expected) => {
      expect(one(prefix, replacement, path)).toBe(expected);
    },
  );

  it('rewrites as the mesh httproute-rewrite-path conformance expects, keeping the query', () => {
    const yaml =
      SVCS +
      route(
        'rw',
        [
          rewrite('/prefix/one', '/one'),
          rewrite('/strip-prefix', '/'),
          '  - matches: [{ path: { value: /full/one } }]\n    filters: [{ type: URLRewrite, urlRewrite: { path: { type: ReplaceFullPath, replaceFullPath: /one } } }]\n    backendRefs: [{ name: echo-v1, port: 80 }]',
          '  - matches: [{ path: { value: /host } }]\n    filters: [{ type: URLRewrite, urlRewrite: { hostname: example.org } }]\n    backendRefs: [{ name: echo-v1, port: 80 }]',
        ].join('\n'),
      );
    const router = routerFrom(yaml);
    const path = (p: string): string => fwd(router.route(req('echo', { path: p }))).request.path;
    expect(path('/prefix/one/two')).toBe('/one/two');
    expect(path('/strip-prefix/three')).toBe('/three');
    expect(path('/strip-prefix')).toBe('/');
    expect(path('/full/one/two')).toBe('/one');
    expect(path('/prefix/one/two?a=1')).toBe('/one/two?a=1');
    const host = fwd(router.route(req('echo', { path: '/host', headers: { host: 'echo' } })));
    expect(host.request.authority).toBe('example.org');
    expect(host.request.headers['host']).toBe('example.org');
  });
});

describe('header modifiers (mesh httproute-request-header-modifier conformance)', () => {
  const router = routerFrom(
    SVCS +
      route(
        'hm',
        `  - filters:
    - type: RequestHeaderModifier
      requestHeaderModifier:
        set: [{ name: X-Header-Set, value: set-overwrites-values }]
        add: [{ name: X-Header-Add, value: header-val-1 }, { name: X-Header-Add-Append, value: header-val-2 }]
        remove: [X-Header-Remove]
    - type: ResponseHeaderModifier
      responseHeaderModifier:
        set: [{ name: X-Resp-Set, value: s }]
        add: [{ name: X-Resp-Add, value: a }]
        remove: [X-Resp-Remove]
    backendRefs: [{ name: echo-v1, port: 80 }]`,
      ),
  );
  it('sets, appends (joined with ",") and removes request headers, names case-insensitive', () => {
    const d = fwd(
      router.route(
        req('echo', {
          headers: {
            'x-header-set': 'some-other-value',
            'X-Header-Add-Append': 'append-val-1',
            'X-HEADER-REMOVE': 'remove-val',
            other: 'kept',
          },
        }),
      ),
    );
    expect(d.request.headers).toEqual({
      'x-header-set': 'set-overwrites-values',
      'x-header-add': 'header-val-1',
      'x-header-add-append': 'append-val-1,header-val-2',
      other: 'kept',
    });
    expect(d.responseHeaders).toEqual({
      set: { 'x-resp-set': 's' },
      add: { 'x-resp-add': 'a' },
      remove: ['x-resp-remove'],
    });
  });
});

describe('RequestMirror', () => {
  it('mirrors the share given by percent or fraction, within a 3-sigma binomial band, to the -shadow host', () => {
    const yaml = (filter: string): string =>
      SVCS +
      route(
        'm',
        `  - filters: [{ type: RequestMirror, requestMirror: { backendRef: { name: echo-v2, port: 80 }, ${filter} } }]\n    backendRefs: [{ name: echo-v1, port: 80 }]`,
      );
    for (const [filter, p] of [
      ['percent: 30', 0.3],
      ['fraction: { numerator: 1, denominator: 4 }', 0.25],
      ['fraction: { numerator: 50 }', 0.5],
    ] as const) {
      const router = routerFrom(yaml(filter));
      const random = seeded(3);
      const n = 1000;
      const mirrored =
        tally(
          n,
          () => fwd(router.route(req('echo', { authority: 'echo:80' }), { random })).mirrors.length,
        ).get(1) ?? 0;
      const sigma = Math.sqrt(n * p * (1 - p));
      expect(Math.abs(mirrored - n * p)).toBeLessThanOrEqual(3 * sigma);
    }
    const always = fwd(
      routerFrom(yaml('percent: 100')).route(req('echo', { authority: 'echo:80', path: '/m?x=1' })),
    );
    expect(always.mirrors).toEqual([
      {
        service: 'echo-v2',
        namespace: 'default',
        port: 80,
        hostname: 'echo-v2.default.svc.cluster.local',
        request: { path: '/m?x=1', authority: 'echo-shadow:80' },
      },
    ]);
    expect(fwd(routerFrom(yaml('percent: 0')).route(req('echo'))).mirrors).toEqual([]);
  });
});

describe('timeouts and retry (GEP-1731, experimental since v1.2.0)', () => {
  it('carries timeouts.request, timeouts.backendRequest and retry into the decision', () => {
    const router = routerFrom(
      SVCS +
        route(
          't',
          '  - timeouts: { request: 10s, backendRequest: 1500ms }\n    retry: { attempts: 3, codes: [503, 504], backoff: 100ms }\n    backendRefs: [{ name: echo-v1, port: 80 }]',
        ),
    );
    const d = fwd(router.route(req('echo')));
    expect(d.timeoutMs).toBe(10_000);
    expect(d.backendRequestTimeoutMs).toBe(1500);
    expect(d.retries).toEqual({
      attempts: 3,
      retryOn: ['connect-failure', 'refused-stream', 'unavailable', 'cancelled', 'retriable-status-codes'],
      retriableStatusCodes: [503, 504],
      perTryTimeoutMs: 1500,
      backoffBaseMs: 100,
      backoffMaxMs: 1000,
      avoidPreviousHosts: true,
    });
  });

  it("keeps Istio's default retry policy when a rule sets none", () => {
    const d = fwd(
      routerFrom(SVCS + route('t', '  - backendRefs: [{ name: echo-v1, port: 80 }]')).route(req('echo')),
    );
    expect(d.retries?.attempts).toBe(2);
    expect(d.retries?.retriableStatusCodes).toEqual([]);
    expect(d.timeoutMs).toBe(0);
  });
});

describe('GRPCRoute', () => {
  const grpc = (rules: string): string => `apiVersion: gateway.networking.k8s.io/v1
kind: GRPCRoute
metadata: { name: g, namespace: default }
spec:
  parentRefs: [{ group: "", kind: Service, name: echo }]
  rules:
${rules}
`;
  const router = routerFrom(
    SVCS +
      grpc(
        [
          '  - matches: [{ method: { service: grpc.Echo, method: Echo } }]\n    backendRefs: [{ name: echo-v1, port: 80 }]',
          '  - matches: [{ method: { service: grpc.Echo } }]\n    backendRefs: [{ name: echo-v2, port: 80 }]',
          '  - matches: [{ method: { method: Ping } }]\n    backendRefs: [{ name: echo-v3, port: 80 }]',
          '  - matches: [{ headers: [{ name: x-canary, value: "1" }] }]\n    filters: [{ type: RequestHeaderModifier, requestHeaderModifier: { add: [{ name: x-seen, value: "1" }] } }]\n    backendRefs: [{ name: echo, port: 80 }]',
        ].join('\n'),
      ),
  );
  const at = (path: string, headers = {}): RouteDecision =>
    router.route(req('echo', { path, protocol: 'grpc', method: 'POST', headers }));

  it('matches service/method, service only, method only, headers', () => {
    expect(fwd(at('/grpc.Echo/Echo')).backend.service).toBe('echo-v1');
    expect(fwd(at('/grpc.Echo/Other')).backend.service).toBe('echo-v2');
    expect(fwd(at('/other.Svc/Ping')).backend.service).toBe('echo-v3');
    const h = fwd(at('/x.Y/Z', { 'x-canary': '1' }));
    expect(h.backend.service).toBe('echo');
    expect(h.request.headers['x-seen']).toBe('1');
  });

  it('answers a gRPC request no rule matches as gRPC UNIMPLEMENTED (Envoy local reply)', () => {
    expect(at('/x.Y/Z')).toMatchObject({
      kind: 'direct',
      status: 200,
      grpcStatus: 12,
      flags: ['NR'],
      headers: { 'grpc-status': '12' },
    });
  });

  it('splits by weight (mesh grpcroute-weight)', () => {
    const r = routerFrom(
      SVCS +
        grpc(
          '  - backendRefs:\n    - { name: echo-v1, port: 80, weight: 70 }\n    - { name: echo-v2, port: 80, weight: 30 }',
        ),
    );
    const random = seeded(11);
    const counts = tally(
      1000,
      () => fwd(r.route(req('echo', { protocol: 'grpc', path: '/a.B/C' }), { random })).backend.service,
    );
    expect(Math.abs((counts.get('echo-v1') ?? 0) / 1000 - 0.7)).toBeLessThanOrEqual(0.05);
  });
});

describe('named rules (mesh httproute-named-rule)', () => {
  it('uses the rule name as the route name, else namespace.name.index as istiod does', () => {
    const router = routerFrom(
      SVCS +
        route(
          'n',
          '  - name: named-rule\n    matches: [{ path: { value: /named } }]\n    backendRefs: [{ name: echo-v1, port: 80 }]\n  - backendRefs: [{ name: echo-v2, port: 80 }]',
        ),
    );
    expect(router.route(req('echo', { path: '/named' })).source?.routeName).toBe('named-rule');
    expect(router.route(req('echo', { path: '/other' })).source?.routeName).toBe('default.n.1');
  });
});

describe('per-backend filters (mesh httproute-request-header-modifier-backend)', () => {
  it('applies a backendRef’s own filters after the rule’s, only to requests sent to that backend', () => {
    const router = routerFrom(
      SVCS +
        route(
          'per-backend',
          `  - filters: [{ type: RequestHeaderModifier, requestHeaderModifier: { set: [{ name: X-Rule, value: rule }, { name: X-Both, value: rule }] } }]
    backendRefs:
    - name: echo-v1
      port: 80
      weight: 1
      filters:
      - type: RequestHeaderModifier
        requestHeaderModifier: { set: [{ name: X-Both, value: v1 }], add: [{ name: X-Backend, value: v1 }] }
      - type: ResponseHeaderModifier
        responseHeaderModifier: { set: [{ name: X-Served-By, value: v1 }] }
      - type: URLRewrite
        urlRewrite: { path: { type: ReplaceFullPath, replaceFullPath: /v1-only } }
    - name: echo-v2
      port: 80
      weight: 1`,
        ),
    );
    const v1 = fwd(router.route(req('echo', { path: '/x' }), { random: () => 0.1 }));
    expect(v1.backend.service).toBe('echo-v1');
    expect(v1.request).toEqual({
      path: '/v1-only',
      authority: 'echo',
      headers: { 'x-rule': 'rule', 'x-both': 'v1', 'x-backend': 'v1' },
    });
    expect(v1.responseHeaders.set).toEqual({ 'x-served-by': 'v1' });
    const v2 = fwd(router.route(req('echo', { path: '/x' }), { random: () => 0.9 }));
    expect(v2.backend.service).toBe('echo-v2');
    expect(v2.request).toEqual({
      path: '/x',
      authority: 'echo',
      headers: { 'x-rule': 'rule', 'x-both': 'rule' },
    });
    expect(v2.responseHeaders.set).toEqual({});
  });
});
