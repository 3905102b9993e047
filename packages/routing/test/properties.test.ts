/**
 * Property tests (fast-check): the parsers never throw and always point at the field they refuse; the
 * indexed router picks exactly the rule a plain linear router written from the specifications picks, on
 * random route tables and requests.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  createRouter,
  type HttpRouteResource,
  parseRouteResources,
  type RouteDecision,
  type RouteRequest,
  type VirtualServiceResource,
  validateRouteResources,
} from '../src/index.js';
import { linearGateway, linearVirtualService } from './support/linear-router.js';

const choiceOf = (d: RouteDecision): string => {
  const s = d.source;
  if (s === undefined) return 'none';
  if (s.kind === 'default') return 'unattached';
  return `${s.kind} ${s.namespace}/${s.name} ${s.rule} ${s.match ?? '-'}`;
};

describe('parsers', () => {
  it('never throw on arbitrary text', () => {
    fc.assert(
      fc.property(fc.string({ maxLength: 400 }), (text) => {
        const r = parseRouteResources(text);
        expect(r.isOk() || r.error.issues.length > 0).toBe(true);
      }),
      { numRuns: 500 },
    );
  });

  it('never throw on arbitrary JSON values shaped like resources', () => {
    const kinds = fc.constantFrom('HTTPRoute', 'GRPCRoute', 'VirtualService', 'DestinationRule', 'Service');
    const versions = fc.constantFrom('gateway.networking.k8s.io/v1', 'networking.istio.io/v1', 'v1');
    fc.assert(
      fc.property(
        kinds,
        versions,
        fc.jsonValue({ maxDepth: 5 }),
        fc.jsonValue({ maxDepth: 3 }),
        (kind, apiVersion, spec, meta) => {
          const r = validateRouteResources([{ apiVersion, kind, metadata: meta, spec }]);
          if (r.isErr()) for (const e of r.error.issues) expect(typeof e.code).toBe('string');
          const router = createRouter({ resources: [{ apiVersion, kind, metadata: { name: 'x' }, spec }] });
          expect(router.isOk() || router.error.issues.length > 0).toBe(true);
        },
      ),
      { numRuns: 500 },
    );
  });

  it('reject an unknown field added anywhere in a valid resource, with its path', () => {
    const base: Record<string, unknown> = {
      apiVersion: 'networking.istio.io/v1',
      kind: 'VirtualService',
      metadata: { name: 'v', namespace: 'default' },
      spec: {
        hosts: ['reviews'],
        http: [
          {
            match: [{ uri: { prefix: '/a' }, headers: { x: { exact: '1' } } }],
            route: [{ destination: { host: 'reviews', subset: 'v1', port: { number: 9080 } }, weight: 100 }],
            retries: { attempts: 2, retryOn: '5xx' },
            fault: { delay: { fixedDelay: '1s', percentage: { value: 5 } } },
          },
        ],
      },
    };
    // Every object node (not map values, whose keys are free) and its path.
    const nodes: { path: string; get: (o: Record<string, unknown>) => Record<string, unknown> }[] = [];
    const MAPS = new Set(['headers']);
    const walk = (value: unknown, path: string, get: (o: Record<string, unknown>) => unknown): void => {
      if (Array.isArray(value)) {
        value.forEach((v, i) => {
          walk(v, `${path}[${i}]`, (o) => (get(o) as unknown[])[i]);
        });
      } else if (typeof value === 'object' && value !== null) {
        nodes.push({ path, get: get as (o: Record<string, unknown>) => Record<string, unknown> });
        for (const [k, v] of Object.entries(value)) {
          if (MAPS.has(k)) {
            for (const [mk, mv] of Object.entries(v as object))
              walk(
                mv,
                `${path === '' ? '' : `${path}.`}${k}[${mk}]`,
                (o) => (get(o) as Record<string, Record<string, unknown>>)[k]?.[mk],
              );
          } else walk(v, path === '' ? k : `${path}.${k}`, (o) => (get(o) as Record<string, unknown>)[k]);
        }
      }
    };
    walk(base, '', (o) => o);
    fc.assert(
      fc.property(
        fc.integer({ min: 0, max: nodes.length - 1 }),
        fc.stringMatching(/^[a-z][a-zA-Z]{2,8}Zz$/),
        (i, field) => {
          const copy = structuredClone(base);
          const node = nodes[i] as (typeof nodes)[number];
          node.get(copy)[field] = 1;
          const r = validateRouteResources([copy]);
          const path = node.path === '' ? field : `${node.path}.${field}`;
          expect(
            r.isErr() && r.error.issues.some((e) => e.code === 'ROUTING_ERR_SCHEMA' && e.path === path),
          ).toBe(true);
        },
      ),
      { numRuns: 300 },
    );
  });
});

// Generators restricted to values both RE2 and JavaScript read alike.
const segment = fc.constantFrom('a', 'b', 'ab', 'c');
const pathArb = fc.array(segment, { minLength: 0, maxLength: 3 }).map((s) => `/${s.join('/')}`);
const prefixArb = fc.tuple(pathArb, fc.boolean()).map(([p, slash]) => (slash && p !== '/' ? `${p}/` : p));
const regexArb = fc.constantFrom('/a.*', '/[ab]+/c', '/a/b?', '.*', '/(a|c)/?b*');
const headerArb = fc.record({ name: fc.constantFrom('x', 'Y', 'x-z'), value: fc.constantFrom('1', '2') });
const matchArb = fc.record(
  {
    path: fc.oneof(
      fc.record({ type: fc.constant('Exact' as const), value: pathArb }),
      fc.record({ type: fc.constant('PathPrefix' as const), value: prefixArb }),
      fc.record({ type: fc.constant('RegularExpression' as const), value: regexArb }),
    ),
    method: fc.constantFrom('GET', 'POST'),
    headers: fc.uniqueArray(headerArb, { maxLength: 2, selector: (h) => h.name.toLowerCase() }),
    queryParams: fc.uniqueArray(
      fc.record({ name: fc.constantFrom('q', 'r'), value: fc.constantFrom('1', '2') }),
      { maxLength: 2, selector: (q) => q.name },
    ),
  },
  { requiredKeys: [] },
);
const routeArb = (i: number) =>
  fc
    .record({
      name: fc.constantFrom('r-a', 'r-b', 'r-c', 'r-d'),
      ns: fc.constantFrom('default', 'other'),
      created: fc.option(fc.constantFrom('2024-01-01T00:00:00Z', '2024-02-01T00:00:00Z'), { nil: undefined }),
      rules: fc.array(fc.record({ matches: fc.array(matchArb, { maxLength: 3 }) }), {
        minLength: 1,
        maxLength: 4,
      }),
    })
    .map(
      (r): HttpRouteResource => ({
        apiVersion: 'gateway.networking.k8s.io/v1',
        kind: 'HTTPRoute',
        metadata: {
          name: `${r.name}-${i}`,
          namespace: r.ns,
          ...(r.created === undefined ? {} : { creationTimestamp: r.created }),
        },
        spec: {
          parentRefs: [{ group: '', kind: 'Service', name: 'svc', namespace: 'default' }],
          rules: r.rules.map((rule) => ({
            ...rule,
            backendRefs: [{ name: 'svc', namespace: 'default', port: 80 }],
          })),
        },
      }),
    );
const requestArb = fc
  .record({
    path: pathArb,
    trailing: fc.boolean(),
    query: fc.constantFrom('', '?q=1', '?q=2&r=1', '?r=2&q=1&q=2'),
    method: fc.constantFrom('GET', 'POST'),
    headers: fc.dictionary(fc.constantFrom('x', 'X', 'y', 'x-z'), fc.constantFrom('1', '2'), { maxKeys: 3 }),
    source: fc.constantFrom(undefined, 'default', 'other'),
  })
  .map(
    (r): RouteRequest => ({
      service: 'svc.default.svc.cluster.local',
      port: 80,
      authority: 'svc',
      method: r.method,
      path: `${r.path}${r.trailing && r.path !== '/' ? '/' : ''}${r.query}`,
      headers: r.headers,
      protocol: 'http',
      ...(r.source === undefined ? {} : { sourceNamespace: r.source }),
    }),
  );

describe('route', () => {
  it('never throws on arbitrary paths, headers and methods', () => {
    const router = createRouter({
      resources: parseRouteResources(`
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: { name: v }
spec:
  hosts: [svc]
  http:
  - match: [{ uri: { regex: "/a.*" }, queryParams: { q: { exact: "1" } } }]
    rewrite: { uriRegexRewrite: { match: "a+", rewrite: "\\\\0-\\\\1" } }
    route: [{ destination: { host: svc } }]
  - match: [{ uri: { prefix: /r } }]
    redirect: { prefixRewrite: /x, derivePort: FROM_REQUEST_PORT }
  - route: [{ destination: { host: svc } }]
    corsPolicy: { allowOrigins: [{ regex: ".*" }] }
`)._unsafeUnwrap(),
    })._unsafeUnwrap();
    fc.assert(
      fc.property(
        fc.string({ maxLength: 80 }),
        fc.string({ maxLength: 20 }),
        fc.dictionary(
          fc.string({ maxLength: 10 }),
          fc.oneof(fc.string({ maxLength: 20 }), fc.array(fc.string({ maxLength: 5 }), { maxLength: 3 })),
        ),
        (path, authority, headers) => {
          const d = router.route({
            service: 'svc.default.svc.cluster.local',
            port: 80,
            authority,
            method: 'OPTIONS',
            path: `/${path}`,
            headers,
            protocol: 'http',
          });
          expect(['forward', 'redirect', 'direct']).toContain(d.kind);
        },
      ),
      { numRuns: 1000 },
    );
  });
});

describe('the indexed router agrees with a linear reference router', () => {
  it('on random HTTPRoute tables (Gateway API precedence)', () => {
    fc.assert(
      fc.property(
        fc
          .integer({ min: 1, max: 6 })
          .chain((n) => fc.tuple(...Array.from({ length: n }, (_, i) => routeArb(i)))),
        fc.array(requestArb, { minLength: 1, maxLength: 25 }),
        (routes, requests) => {
          const router = createRouter({ resources: routes })._unsafeUnwrap();
          for (const r of requests) {
            // Header names that differ only in case are one header; keep the request unambiguous.
            const lower = new Set(Object.keys(r.headers).map((k) => k.toLowerCase()));
            if (lower.size !== Object.keys(r.headers).length) continue;
            expect(choiceOf(router.route(r))).toBe(linearGateway(routes, r));
          }
        },
      ),
      { numRuns: 300 },
    );
  });

  it('on random VirtualServices (first match wins)', () => {
    const sm = fc.oneof(
      fc.record({ exact: pathArb }),
      fc.record({ prefix: fc.constantFrom('/', '/a', '/ab', '/b/') }),
      fc.record({ regex: regexArb }),
    );
    const vsMatch = fc.record(
      {
        uri: sm,
        method: fc.record({ exact: fc.constantFrom('GET', 'POST') }),
        headers: fc.dictionary(
          fc.constantFrom('x', 'y'),
          fc.oneof(
            fc.record({ exact: fc.constantFrom('1', '2') }),
            fc.record({ prefix: fc.constant('1') }),
            fc.constant({}),
          ),
          { maxKeys: 2 },
        ),
        withoutHeaders: fc.dictionary(fc.constantFrom('x-z'), fc.constant({}), { maxKeys: 1 }),
        queryParams: fc.dictionary(
          fc.constantFrom('q', 'r'),
          fc.record({ exact: fc.constantFrom('1', '2') }),
          { maxKeys: 2 },
        ),
      },
      { requiredKeys: [] },
    );
    const vsArb = fc.array(fc.array(vsMatch, { maxLength: 3 }), { minLength: 1, maxLength: 8 }).map(
      (rules): VirtualServiceResource => ({
        apiVersion: 'networking.istio.io/v1',
        kind: 'VirtualService',
        metadata: { name: 'v', namespace: 'default' },
        spec: {
          hosts: ['svc'],
          http: rules.map((match) => ({
            ...(match.length === 0 ? {} : { match }),
            route: [{ destination: { host: 'svc' } }],
          })),
        },
      }),
    );
    fc.assert(
      fc.property(vsArb, fc.array(requestArb, { minLength: 1, maxLength: 25 }), (vs, requests) => {
        const router = createRouter({ resources: [vs] })._unsafeUnwrap();
        for (const r of requests) {
          const lower = new Set(Object.keys(r.headers).map((k) => k.toLowerCase()));
          if (lower.size !== Object.keys(r.headers).length) continue;
          expect(choiceOf(router.route(r))).toBe(linearVirtualService(vs, r));
        }
      }),
      { numRuns: 300 },
    );
  });
});
