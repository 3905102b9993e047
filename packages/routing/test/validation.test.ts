/**
 * Resources are refused as the Kubernetes API server (CRD schema and CEL rules) and istiod's validating
 * webhook refuse them, each problem with its resource, field path and a stable code; valid configuration
 * this engine cannot apply is refused too (fail closed).
 */
import { describe, expect, it } from 'vitest';
import { createRouter, parseRouteResources, type RoutingError } from '../src/index.js';
import { services } from './support/helpers.js';

const issues = (yaml: string): string[] => {
  const r = parseRouteResources(yaml);
  if (r.isOk()) {
    const router = createRouter({ resources: r.value });
    if (router.isOk()) return [];
    return router.error.issues.map((e) => `${e.code} ${e.path ?? ''}: ${e.message}`);
  }
  return r.error.issues.map((e) => `${e.code} ${e.path ?? ''}: ${e.message}`);
};

const httpRoute = (spec: string): string => `apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata: { name: r, namespace: default }
spec:
  parentRefs: [{ group: "", kind: Service, name: echo }]
${spec}
`;
const vs = (spec: string): string => `apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: { name: v, namespace: default }
spec:
${spec}
`;
const dr = (spec: string): string => `apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata: { name: d, namespace: default }
spec:
${spec}
`;

describe('unknown fields are errors with their path, at every depth', () => {
  it.each([
    [
      httpRoute('  rules: [{ matches: [{ path: { type: Exact, value: /a, bogus: 1 } }] }]'),
      'spec.rules[0].matches[0].path.bogus',
    ],
    [
      httpRoute(
        '  rules: [{ backendRefs: [{ name: echo, port: 80, filters: [{ type: RequestHeaderModifier, requestHeaderModifier: { sett: [] } }] }] }]',
      ),
      'spec.rules[0].backendRefs[0].filters[0].requestHeaderModifier.sett',
    ],
    [httpRoute('  rules: [{ retry: { attempts: 2, backoffs: 1s } }]'), 'spec.rules[0].retry.backoffs'],
    [
      vs('  hosts: [echo]\n  http: [{ route: [{ destination: { host: echo, hostt: x } }] }]'),
      'spec.http[0].route[0].destination.hostt',
    ],
    [
      vs(
        '  hosts: [echo]\n  http: [{ retries: { attempts: 1, retry_on: 5xx }, route: [{ destination: { host: echo } }] }]',
      ),
      'spec.http[0].retries.retry_on',
    ],
    [
      vs(
        '  hosts: [echo]\n  http: [{ match: [{ headers: { a: { exactly: b } } }], route: [{ destination: { host: echo } }] }]',
      ),
      'spec.http[0].match[0].headers[a].exactly',
    ],
    [
      dr('  host: echo\n  trafficPolicy: { connectionPool: { http: { maxRetriess: 1 } } }'),
      'spec.trafficPolicy.connectionPool.http.maxRetriess',
    ],
    [
      dr(
        '  host: echo\n  subsets: [{ name: v1, trafficPolicy: { outlierDetection: { baseEjectionTim: 1s } } }]',
      ),
      'spec.subsets[0].trafficPolicy.outlierDetection.baseEjectionTim',
    ],
    ['apiVersion: v1\nkind: Service\nmetadata: { name: echo }\nspec: { portz: [] }', 'spec.portz'],
    ['apiVersion: v1\nkind: Service\nmetadata: { name: echo, labelz: {} }', 'metadata.labelz'],
  ])('%#: %s', (yaml, path) => {
    expect(issues(yaml)).toContain(`ROUTING_ERR_SCHEMA ${path}: unknown field`);
  });
});

describe('Gateway API CRD limits and CEL rules (v1.6.1)', () => {
  it.each([
    [
      httpRoute(
        '  rules: [{ matches: [{ path: { type: Exact, value: /a } }], filters: [{ type: URLRewrite, urlRewrite: { path: { type: ReplacePrefixMatch, replacePrefixMatch: /b } } }] }]',
      ),
      'exactly one PathPrefix match',
    ],
    [
      httpRoute(
        '  rules: [{ filters: [{ type: RequestRedirect, requestRedirect: { port: 81 } }], backendRefs: [{ name: echo, port: 80 }] }]',
      ),
      'must not be used together with backendRefs',
    ],
    [
      httpRoute('  rules: [{ timeouts: { request: 1s, backendRequest: 2s } }]'),
      'backendRequest timeout cannot be longer than request timeout',
    ],
    [httpRoute('  rules: [{ timeouts: { request: 1.5s } }]'), 'must match'],
    [httpRoute('  rules: [{ retry: { attempts: 0 } }]'), 'must be >= 1'],
    [httpRoute('  rules: [{ retry: { codes: [200] } }]'), 'must be >= 400'],
    [
      httpRoute(
        '  rules: [{ filters: [{ type: RequestMirror, requestMirror: { backendRef: { name: echo, port: 80 }, percent: 5, fraction: { numerator: 1 } } }] }]',
      ),
      'Only one of percent or fraction',
    ],
    [
      httpRoute(
        '  rules: [{ filters: [{ type: RequestMirror, requestMirror: { backendRef: { name: echo, port: 80 }, fraction: { numerator: 5, denominator: 4 } } }] }]',
      ),
      'numerator must be less than or equal to denominator',
    ],
    [
      httpRoute('  rules: [{ filters: [{ type: RequestHeaderModifier }] }]'),
      'filter.requestHeaderModifier must be specified',
    ],
    [
      httpRoute(
        '  rules: [{ filters: [{ type: URLRewrite, urlRewrite: {} }, { type: RequestRedirect, requestRedirect: {} }] }]',
      ),
      'May specify either',
    ],
    [httpRoute('  rules: [{ matches: [{ path: { value: "/a//b" } }] }]'), "must not contain '//'"],
    [httpRoute('  rules: [{ matches: [{ path: { value: "a" } }] }]'), 'must be an absolute path'],
    [httpRoute('  rules: [{ backendRefs: [{ name: echo }] }]'), 'Must have port for Service reference'],
    [
      httpRoute('  rules: [{ backendRefs: [{ name: echo, port: 80, weight: 1000001 }] }]'),
      'must be <= 1000000',
    ],
    [httpRoute('  rules: [{ name: a }, { name: a }]'), 'Rule name must be unique'],
    [httpRoute('  rules: [{ matches: [{ headers: [{ name: "bad name", value: x }] }] }]'), 'must match'],
    [httpRoute('  rules: [{ matches: [{ method: FETCH }] }]'), 'must be one of'],
    [httpRoute('  rules: []'), 'must have at least 1 items'],
    [
      httpRoute(`  rules: [${Array.from({ length: 17 }, () => '{}').join(', ')}]`),
      'must have at most 16 items',
    ],
    [
      httpRoute('  rules: [{ filters: [{ type: RequestRedirect, requestRedirect: { statusCode: 305 } }] }]'),
      'statusCode must be one of',
    ],
  ])('%#: %s', (yaml, message) => {
    expect(issues(yaml).join('\n')).toContain(message);
  });

  it('refuses parentRefs naming one parent twice without distinct ports', () => {
    const yaml = `apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata: { name: r }
spec:
  parentRefs: [{ group: "", kind: Service, name: echo }, { group: "", kind: Service, name: echo }]
`;
    expect(issues(yaml).join('\n')).toContain('sectionName or port must be unique');
  });
});

describe("istiod's VirtualService and DestinationRule validation", () => {
  it.each([
    [
      vs('  hosts: ["*"]\n  http: [{ route: [{ destination: { host: echo } }] }]'),
      'wildcard host * is not allowed',
    ],
    [vs('  hosts: [echo]'), 'http, tcp or tls must be provided'],
    [
      vs(
        '  hosts: [echo]\n  http: [{ match: [{ uri: { regex: "(a)\\\\1" } }], route: [{ destination: { host: echo } }] }]',
      ),
      'ROUTING_ERR_INVALID_REGEX',
    ],
    [
      vs(
        '  hosts: [echo]\n  http: [{ match: [{ headers: { x: { regex: "(?=x)" } } }], route: [{ destination: { host: echo } }] }]',
      ),
      'invalid or unsupported Perl syntax',
    ],
    [
      vs(
        '  hosts: [echo]\n  http: [{ retries: { attempts: 2, retryOn: "5xx,sometimes" }, route: [{ destination: { host: echo } }] }]',
      ),
      '"sometimes" is not a valid retryOn policy',
    ],
    [
      vs(
        '  hosts: [echo]\n  http: [{ retries: { retryOn: 5xx }, route: [{ destination: { host: echo } }] }]',
      ),
      'attempts are set to 0',
    ],
    [
      vs('  hosts: [echo]\n  http: [{ timeout: 0.5ms, route: [{ destination: { host: echo } }] }]'),
      'duration must be greater than 1ms',
    ],
    [
      vs(
        '  hosts: [echo]\n  http: [{ fault: { abort: { httpStatus: 500, percentage: { value: 150 } } }, route: [{ destination: { host: echo } }] }]',
      ),
      'is neither 0.0, nor in range',
    ],
    [
      vs(
        '  hosts: [echo]\n  http: [{ fault: { abort: { grpcStatus: NOPE } }, route: [{ destination: { host: echo } }] }]',
      ),
      'gRPC status "NOPE" is not supported',
    ],
    [
      vs('  hosts: [echo]\n  http: [{ fault: {}, route: [{ destination: { host: echo } }] }]'),
      'must have an abort and/or a delay',
    ],
    [
      vs('  hosts: [echo]\n  http: [{ redirect: { uri: /x }, route: [{ destination: { host: echo } }] }]'),
      'cannot contain both route and redirect',
    ],
    [
      vs(
        '  hosts: [echo]\n  http: [{ mirror: { host: a }, mirrors: [{ destination: { host: b } }], route: [{ destination: { host: echo } }] }]',
      ),
      'both mirror and mirrors',
    ],
    [
      vs(
        '  hosts: [echo]\n  http: [{ route: [{ destination: { host: a }, weight: 0 }, { destination: { host: b }, weight: 0 }] }]',
      ),
      'total destination weight = 0',
    ],
    [
      vs('  hosts: [echo]\n  http: [{ route: [{ destination: { host: echo, subset: V1 } }] }]'),
      'subset name is invalid',
    ],
    [vs('  hosts: [echo]\n  http: [{}]'), 'HTTP route, redirect or direct_response is required'],
    [
      vs(
        '  hosts: [echo]\n  http: [{ match: [{ headers: { "@request.auth.claims.groups": { exact: x } } }], route: [{ destination: { host: echo } }] }]',
      ),
      'only supported for gateway',
    ],
    [
      vs(
        '  hosts: [echo]\n  http: [{ headers: { response: { set: { Host: x } } }, route: [{ destination: { host: echo } }] }]',
      ),
      'cannot set Host header',
    ],
    [dr('  host: echo\n  subsets: [{ name: v1 }, { name: v1 }]'), 'duplicate entry v1'],
    [
      dr(
        '  host: echo\n  trafficPolicy: { loadBalancer: { consistentHash: { maglev: { tableSize: 100 } } } }',
      ),
      'tableSize must be a prime number',
    ],
    [
      dr('  host: echo\n  trafficPolicy: { outlierDetection: { consecutiveLocalOriginFailures: 3 } }'),
      'split external local origin errors is set to false',
    ],
    [
      dr(
        '  host: echo\n  trafficPolicy: { loadBalancer: { simple: ROUND_ROBIN, consistentHash: { useSourceIp: true } } }',
      ),
      'only one of simple, consistentHash',
    ],
    [dr('  host: echo\n  trafficPolicy: {}'), 'traffic policy must have at least one field'],
    [
      dr('  host: echo\n  trafficPolicy: { connectionPool: {} }'),
      'connection pool must have at least one field',
    ],
  ])('%#: %s', (yaml, message) => {
    expect(issues(yaml).join('\n')).toContain(message);
  });
});

describe('reading and limits', () => {
  it('refuses input over the byte cap before parsing, YAML syntax errors, non-objects, unknown kinds and duplicates', () => {
    const big = parseRouteResources('a'.repeat(100), { maxBytes: 50 });
    expect(big.isErr() && big.error.code).toBe('ROUTING_ERR_INPUT_TOO_LARGE');
    const syntax = parseRouteResources('a: [b');
    expect(syntax.isErr() && syntax.error.code).toBe('ROUTING_ERR_SYNTAX');
    const scalar = parseRouteResources('just a string');
    expect(scalar.isErr() && scalar.error.code).toBe('ROUTING_ERR_NOT_A_RESOURCE');
    const other =
      'apiVersion: security.istio.io/v1\nkind: AuthorizationPolicy\nmetadata: { name: p }\nspec: {}';
    const unknown = parseRouteResources(other);
    expect(unknown.isErr() && unknown.error.code).toBe('ROUTING_ERR_UNKNOWN_KIND');
    expect(parseRouteResources(other, { ignoreOtherKinds: true })._unsafeUnwrap()).toEqual([]);
    const dup = parseRouteResources(`${services('default', 'echo')}${services('default', 'echo')}`);
    expect(dup.isErr() && dup.error.code).toBe('ROUTING_ERR_DUPLICATE');
    const aliases = parseRouteResources(
      `a: &a [x, x, x]\nb: &b [*a, *a, *a, *a]\nc: &c [*b, *b, *b, *b]\nd: [${Array.from({ length: 200 }, () => '*c').join(', ')}]`,
    );
    expect(aliases.isErr() && aliases.error.code).toBe('ROUTING_ERR_SYNTAX');
  });

  it('lists every issue, each with its resource', () => {
    const r = parseRouteResources(
      `${httpRoute('  rules: [{ bogus: 1 }]')}---\n${vs('  hosts: [echo]\n  http: [{ nope: 1 }]')}`,
    );
    const error = r._unsafeUnwrapErr() as RoutingError;
    expect(error.issues.map(String)).toEqual([
      'HTTPRoute default/r: spec.rules[0].bogus: unknown field [ROUTING_ERR_SCHEMA]',
      'VirtualService default/v: spec.http[0].nope: unknown field [ROUTING_ERR_SCHEMA]',
    ]);
    expect(String(error)).toContain('(+1 more)');
  });

  it('refuses bad createRouter options', () => {
    expect(createRouter({ resources: 'x' as unknown as [] })._unsafeUnwrapErr().code).toBe(
      'ROUTING_ERR_INVALID_OPTIONS',
    );
    expect(createRouter({ resources: [], workloads: [{ name: 'a' } as never] })._unsafeUnwrapErr().code).toBe(
      'ROUTING_ERR_INVALID_OPTIONS',
    );
  });
});

describe('fail closed on what cannot be applied', () => {
  it.each([
    [
      httpRoute(
        '  rules: [{ filters: [{ type: ExtensionRef, extensionRef: { group: x.io, kind: F, name: f } }] }]',
      ),
      'filter type ExtensionRef is not supported',
    ],
    [httpRoute('  rules: [{ sessionPersistence: { type: Cookie } }]'), 'sessionPersistence is not supported'],
    [
      vs('  hosts: [echo]\n  http: [{ delegate: { name: d } }]'),
      'delegate VirtualServices are not supported',
    ],
    [
      vs(
        '  hosts: [echo]\n  http: [{ headers: { request: { set: { x-ip: "%DOWNSTREAM_REMOTE_ADDRESS%" } } }, route: [{ destination: { host: echo } }] }]',
      ),
      'Envoy substitution operators',
    ],
    [
      vs(
        '  hosts: [echo]\n  http: [{ fault: { abort: { http2Error: REFUSED_STREAM } }, route: [{ destination: { host: echo } }] }]',
      ),
      'HTTP/2 abort fault injection not supported yet',
    ],
    [dr('  host: echo\n  trafficPolicy: { loadBalancer: { simple: PASSTHROUGH } }'), 'PASSTHROUGH'],
  ])('%#: %s', (yaml, message) => {
    expect(issues(yaml).join('\n')).toContain(message);
  });
});

describe('createRouter conveniences', () => {
  it('takes the Result of parseRouteResources directly (and returns its error)', () => {
    const ok = createRouter({ resources: parseRouteResources(services('default', 'echo')) });
    expect(ok.isOk()).toBe(true);
    const bad = createRouter({ resources: parseRouteResources('a: [') });
    expect(bad._unsafeUnwrapErr().code).toBe('ROUTING_ERR_SYNTAX');
  });

  it('routes a request that leaves out headers, method, protocol and authority', () => {
    const router = createRouter({
      resources: parseRouteResources(services('default', 'echo')),
    })._unsafeUnwrap();
    const partial = { service: 'echo.default.svc.cluster.local', port: 80, path: '/' } as Parameters<
      typeof router.route
    >[0];
    expect(router.route(partial)).toMatchObject({
      kind: 'forward',
      request: { authority: 'echo.default.svc.cluster.local', headers: {} },
    });
    expect(() => router.route({} as Parameters<typeof router.route>[0])).toThrow(TypeError);
  });
});
