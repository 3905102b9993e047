/**
 * fast-check arbitraries for AuthorizationPolicies, workloads and requests, shared by the property tests
 * (test/conformance/properties.test.ts, test/conformance/indexed-evaluation.test.ts).
 * @module
 */
import fc from 'fast-check';
import type { AuthorizationPolicy, AuthzRequest, Workload } from '../src/index.js';

const ns = fc.constantFrom('foo', 'bar', 'istio-system');
const label = fc.constantFrom('app', 'version', 'gateway.networking.k8s.io/gateway-name');
const labelValue = fc.constantFrom('a', 'b', 'v1', 'waypoint');
export const matchValue: fc.Arbitrary<string> = fc.oneof(
  fc.constantFrom(
    '*',
    'foo',
    'bar*',
    '*baz',
    'cluster.local/ns/foo/sa/sleep',
    '*/sa/sleep',
    'a.b',
    '/x',
    '/x/*',
    'GET',
    'POST',
  ),
  fc.stringMatching(/^[a-z*/.]{1,8}$/),
);
export const ipValue: fc.Arbitrary<string> = fc.constantFrom(
  '10.0.0.1',
  '10.0.0.0/8',
  '::1',
  '2001:db8::/32',
  '0.0.0.0/0',
  '192.168.1.1',
);
export const portValue: fc.Arbitrary<string> = fc.constantFrom('80', '8000', '9000', '0', '65535');
const list = <T>(a: fc.Arbitrary<T>) => fc.array(a, { minLength: 1, maxLength: 3 });

const source = fc
  .record(
    {
      principals: list(matchValue),
      notPrincipals: list(matchValue),
      requestPrincipals: list(matchValue),
      notRequestPrincipals: list(matchValue),
      namespaces: list(matchValue),
      notNamespaces: list(matchValue),
      ipBlocks: list(ipValue),
      notIpBlocks: list(ipValue),
      remoteIpBlocks: list(ipValue),
      notRemoteIpBlocks: list(ipValue),
      trustDomains: list(fc.constantFrom('cluster.local', '*', 'td*', '*.example.com')),
      notTrustDomains: list(fc.constantFrom('cluster.local', 'other')),
    },
    { requiredKeys: [] },
  )
  .filter((s) => Object.keys(s).length > 0);
const saSource = fc.record({ serviceAccounts: list(fc.constantFrom('sleep', 'foo/sleep', 'bar/x')) });
const operation = fc
  .record(
    {
      hosts: list(matchValue),
      notHosts: list(matchValue),
      ports: list(portValue),
      notPorts: list(portValue),
      methods: list(matchValue),
      notMethods: list(matchValue),
      paths: list(fc.oneof(matchValue, fc.constantFrom('/a/{*}', '/a/{**}', '/{*}/b'))),
      notPaths: list(matchValue),
    },
    { requiredKeys: [] },
  )
  .filter((o) => Object.keys(o).length > 0);
const condition = fc.oneof(
  fc.record({ key: fc.constantFrom('source.ip', 'remote.ip', 'destination.ip'), values: list(ipValue) }),
  fc.record({ key: fc.constant('destination.port'), notValues: list(portValue) }),
  fc.record({
    key: fc.constantFrom(
      'source.namespace',
      'source.principal',
      'request.headers[x-a]',
      'request.auth.claims[groups]',
      'request.auth.claims[a][b]',
      'request.auth.principal',
      'request.auth.audiences',
      'request.auth.presenter',
      'connection.sni',
      'experimental.envoy.filters.a.b[c]',
    ),
    values: list(matchValue),
  }),
  fc.record({
    key: fc.constant('source.serviceAccount'),
    values: list(fc.constantFrom('sleep', 'foo/sleep')),
  }),
);
const rule = fc.record(
  {
    from: fc.array(fc.record({ source: fc.oneof(source, saSource) }), { minLength: 1, maxLength: 2 }),
    to: fc.array(fc.record({ operation }), { minLength: 1, maxLength: 2 }),
    when: fc.array(condition, { maxLength: 2 }),
  },
  { requiredKeys: [] },
);
const action = fc.constantFrom('ALLOW', 'DENY', 'AUDIT', 'CUSTOM');

/**
 * A random AuthorizationPolicy (most are valid; CUSTOM ones use provider `ext`).
 *
 * @param maxRules - The most rules it has.
 * @param minRules - The fewest.
 * @returns The arbitrary.
 */
export function policyArbitrary(maxRules = 3, minRules = 1): fc.Arbitrary<AuthorizationPolicy> {
  return fc
    .record({
      name: fc.stringMatching(/^[a-z][a-z0-9]{0,6}$/),
      namespace: ns,
      action,
      rules: fc.array(rule, { minLength: minRules, maxLength: maxRules }),
      attach: fc.oneof(
        fc.constant({}),
        fc.record({ selector: fc.record({ matchLabels: fc.dictionary(label, labelValue, { maxKeys: 2 }) }) }),
        fc.record({
          targetRefs: fc.array(
            fc.oneof(
              fc.record({ kind: fc.constant('Service'), name: fc.constantFrom('web', 'api') }),
              fc.record({
                group: fc.constant('gateway.networking.k8s.io'),
                kind: fc.constantFrom('Gateway', 'GatewayClass'),
                name: fc.constantFrom('waypoint', 'istio-waypoint'),
              }),
            ),
            { minLength: 1, maxLength: 2 },
          ),
        }),
      ),
      dryRun: fc.boolean(),
    })
    .map(({ name, namespace, action: a, rules, attach, dryRun }) => {
      const custom = a === 'CUSTOM';
      // CUSTOM may not use identity fields (istiod validation); strip them so most generated policies are valid.
      const cleaned = custom
        ? rules.map((r) => ({
            ...r,
            from: undefined,
            when: r.when?.filter((c) => !c.key.startsWith('source.') && !c.key.startsWith('request.auth')),
          }))
        : rules;
      return {
        apiVersion: 'security.istio.io/v1',
        kind: 'AuthorizationPolicy',
        metadata: {
          name,
          namespace,
          ...(dryRun && (a === 'ALLOW' || a === 'DENY')
            ? { annotations: { 'istio.io/dry-run': 'true' } }
            : {}),
        },
        spec: {
          ...attach,
          action: a,
          ...(custom ? { provider: { name: 'ext' } } : {}),
          rules: JSON.parse(JSON.stringify(cleaned)),
        },
      } as AuthorizationPolicy;
    });
}

/** Up to six random policies with distinct names. */
export const policySet: fc.Arbitrary<AuthorizationPolicy[]> = fc.uniqueArray(policyArbitrary(), {
  maxLength: 6,
  selector: (p) => `${p.metadata.namespace}/${p.metadata.name}`,
});

export const workloadArb: fc.Arbitrary<Workload> = fc.record({
  kind: fc.constantFrom('ztunnel', 'sidecar', 'gateway', 'waypoint'),
  namespace: ns,
  labels: fc.dictionary(label, labelValue, { maxKeys: 3 }),
  name: fc.constantFrom('waypoint', 'w'),
});

const weird = fc.oneof(
  fc.string(),
  fc.integer(),
  fc.constant(null),
  fc.constant(undefined),
  fc.boolean(),
  fc.object(),
);
export const requestArb: fc.Arbitrary<AuthzRequest> = fc.record({
  source: fc.record({
    principal: fc.oneof(
      fc.constantFrom('spiffe://cluster.local/ns/foo/sa/sleep', 'spiffe://td/ns/bar/sa/x', 'garbage'),
      fc.constant(null),
      weird,
    ),
    ip: fc.oneof(fc.ipV4(), fc.ipV6(), weird),
    remoteIp: fc.oneof(fc.ipV4(), fc.constant(undefined), weird),
  }),
  destination: fc.record({
    ip: fc.oneof(fc.ipV4(), weird),
    port: fc.oneof(fc.integer({ min: 0, max: 65535 }), weird),
    service: fc.oneof(
      fc.constant(undefined),
      fc.record({
        kind: fc.constantFrom('Service', 'ServiceEntry'),
        name: fc.constantFrom('web', 'api'),
        namespace: ns,
      }),
    ),
  }),
  protocol: fc.oneof(fc.constantFrom('http', 'tcp', undefined), weird),
  host: fc.oneof(fc.constantFrom('a.com', 'A.COM:80'), weird),
  method: fc.oneof(fc.constantFrom('GET', 'POST'), weird),
  path: fc.oneof(fc.constantFrom('/', '/x', '/a/../b', '/%00', '/a/b/c?x'), fc.string(), weird),
  headers: fc.oneof(
    fc.dictionary(fc.constantFrom('x-a', 'X-A', ':method'), fc.oneof(fc.string(), fc.array(fc.string()))),
    weird,
  ),
  jwt: fc.oneof(
    fc.constant(null),
    fc.record({
      iss: fc.string(),
      sub: fc.string(),
      groups: fc.array(fc.string()),
      a: fc.record({ b: fc.string() }),
    }),
    weird,
  ),
  sni: fc.oneof(fc.string(), weird),
  metadata: fc.oneof(
    fc.constant(undefined),
    fc.record({ 'envoy.filters.a.b': fc.record({ c: fc.oneof(fc.string(), fc.array(fc.string())) }) }),
    weird,
  ),
}) as fc.Arbitrary<AuthzRequest>;
