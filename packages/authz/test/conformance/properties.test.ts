// Property tests (fast-check): no policy or request makes the engine throw; invalid policies give errors and
// never a silent allow; the engine's caches never change an answer.
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  type AuthorizationPolicy,
  type AuthzRequest,
  createPolicyEngine,
  parsePolicies,
  translateForZtunnel,
  validatePolicy,
  type Workload,
} from '../../src/index.js';

const ns = fc.constantFrom('foo', 'bar', 'istio-system');
const label = fc.constantFrom('app', 'version', 'gateway.networking.k8s.io/gateway-name');
const labelValue = fc.constantFrom('a', 'b', 'v1', 'waypoint');
const matchValue = fc.oneof(
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
const ipValue = fc.constantFrom('10.0.0.1', '10.0.0.0/8', '::1', '2001:db8::/32', '0.0.0.0/0', '192.168.1.1');
const portValue = fc.constantFrom('80', '8000', '9000', '0', '65535');
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

const policyArb: fc.Arbitrary<AuthorizationPolicy> = fc
  .record({
    name: fc.stringMatching(/^[a-z][a-z0-9]{0,6}$/),
    namespace: ns,
    action,
    rules: fc.array(rule, { minLength: 1, maxLength: 3 }),
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
        ...(dryRun && (a === 'ALLOW' || a === 'DENY') ? { annotations: { 'istio.io/dry-run': 'true' } } : {}),
      },
      spec: {
        ...attach,
        action: a,
        ...(custom ? { provider: { name: 'ext' } } : {}),
        rules: JSON.parse(JSON.stringify(cleaned)),
      },
    } as AuthorizationPolicy;
  });

const policySet = fc.uniqueArray(policyArb, {
  maxLength: 6,
  selector: (p) => `${p.metadata.namespace}/${p.metadata.name}`,
});

const workloadArb: fc.Arbitrary<Workload> = fc.record({
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
const requestArb: fc.Arbitrary<AuthzRequest> = fc.record({
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

describe('no input makes anything throw', () => {
  it('most generated policy sets are valid (so the properties below exercise the engine)', () => {
    const samples = fc.sample(policySet, 300);
    const valid = samples.filter((policies) =>
      createPolicyEngine({ policies, mesh: { extensionProviders: ['ext'] } }).isOk(),
    );
    expect(valid.length).toBeGreaterThan(samples.length * 0.8);
  });

  it('parsePolicies on arbitrary text', () => {
    fc.assert(
      fc.property(fc.string({ maxLength: 300 }), (text) => {
        parsePolicies(text);
      }),
    );
  });

  it('validatePolicy on arbitrary values, and on arbitrary values dressed as policies', () => {
    fc.assert(
      fc.property(fc.anything(), fc.anything(), (spec, meta) => {
        validatePolicy(spec);
        validatePolicy({ kind: 'AuthorizationPolicy', metadata: meta, spec });
        validatePolicy({ kind: 'AuthorizationPolicy', metadata: { name: 'x' }, spec: { rules: [spec] } });
      }),
    );
  });

  it('generated policies, workloads and requests: createPolicyEngine, evaluate, explain, translateForZtunnel', () => {
    fc.assert(
      fc.property(policySet, workloadArb, requestArb, (policies, workload, request) => {
        const engine = createPolicyEngine({
          policies,
          mesh: { extensionProviders: ['ext'], enableAmbientDryRun: true },
        });
        for (const p of policies) translateForZtunnel(p, { enableDryRun: true });
        if (engine.isErr()) return;
        const d = engine.value.evaluate({ workload, request }, { extAuthz: () => 'allow' });
        expect(typeof d.allow).toBe('boolean');
        expect(typeof d.reason).toBe('string');
        engine.value.explain({ workload, request });
      }),
      { numRuns: 300 },
    );
  });

  it('evaluate with garbage workloads and inputs denies instead of throwing', () => {
    const engine = createPolicyEngine({ policies: [] })._unsafeUnwrap();
    fc.assert(
      fc.property(fc.anything(), fc.anything(), (workload, request) => {
        const d = engine.evaluate({ workload, request } as never);
        expect(typeof d.allow).toBe('boolean');
      }),
    );
    expect(engine.evaluate(null as never).allow).toBe(false);
    expect(
      engine.evaluate({ workload: { kind: 'sidecar', namespace: 'x' }, request: null } as never).allow,
    ).toBe(false);
  });
});

describe('invalid policies give errors, never a silent allow', () => {
  const denyAll: AuthorizationPolicy = {
    apiVersion: 'security.istio.io/v1',
    kind: 'AuthorizationPolicy',
    metadata: { name: 'deny-all', namespace: 'foo' },
    spec: { action: 'DENY', rules: [{ from: [{ source: { ipBlocks: ['0.0.0.0/0'] } }] }] },
  };
  const corruptions: ((p: Record<string, unknown>) => unknown)[] = [
    (p) => ({ ...p, spec: { ...(denyAll.spec as object), acton: 'DENY' } }),
    (p) => ({ ...p, spec: { action: 'DENY', rules: [{ from: [{ source: { ipBlock: ['0.0.0.0/0'] } }] }] } }),
    (p) => ({
      ...p,
      spec: { action: 'DENY', rules: [{ from: [{ source: { ipBlocks: ['0.0.0.0/33'] } }] }] },
    }),
    (p) => ({ ...p, spec: { action: 'DENY', rules: [{ from: [{ source: { ipBlocks: [''] } }] }] } }),
    (p) => ({ ...p, spec: { action: 'DENY', rules: [{ to: [{ operation: { ports: [80] } }] }] } }),
    (p) => ({
      ...p,
      spec: { action: 'DENY', rules: [{ when: [{ key: 'source.ipp', values: ['1.2.3.4'] }] }] },
    }),
    (p) => ({ ...p, spec: { action: 'DENY' } }),
    (p) => ({ ...p, spec: { action: 'deny', rules: [{}] } }),
    (p) => ({ ...p, kind: 'AuthorisationPolicy' }),
    (p) => ({ ...p, spec: { action: 'DENY', rules: [{}], selector: { matchLabels: { app: 'a*' } } } }),
    (p) => ({
      ...p,
      metadata: { name: 'deny-all', namespace: 'foo', annotations: { 'istio.io/dry-run': 'maybe' } },
    }),
  ];

  it('each corruption of a DENY policy is rejected, together with any set of valid policies', () => {
    fc.assert(
      fc.property(policySet, fc.constantFrom(...corruptions), (valid, corrupt) => {
        const bad = corrupt(denyAll as unknown as Record<string, unknown>) as AuthorizationPolicy;
        const result = createPolicyEngine({ policies: [...valid, bad] });
        expect(result.isErr()).toBe(true);
        const errors = result.isErr() ? result.error : [];
        expect(errors.length).toBeGreaterThan(0);
        for (const e of errors) expect(e.code).toMatch(/^AUTHZ_ERR_/);
      }),
    );
  });
});

describe('semantic properties', () => {
  it('a deny-all DENY policy in the workload namespace denies every request at every proxy except a waypoint', () => {
    fc.assert(
      fc.property(policySet, workloadArb, requestArb, (policies, workload, request) => {
        const denyAll = {
          apiVersion: 'security.istio.io/v1',
          kind: 'AuthorizationPolicy',
          metadata: { name: 'zz-deny-all', namespace: workload.namespace },
          spec: { action: 'DENY', rules: [{}] },
        } as AuthorizationPolicy;
        const engine = createPolicyEngine({
          policies: [...policies, denyAll],
          mesh: { extensionProviders: ['ext'] },
        });
        if (engine.isErr()) return;
        const d = engine.value.evaluate({ workload, request }, { extAuthz: () => 'allow' });
        if (workload.kind !== 'waypoint') expect(d.allow).toBe(false);
      }),
      { numRuns: 200 },
    );
  });

  it('dry-run policies never change a decision', () => {
    fc.assert(
      fc.property(policySet, workloadArb, requestArb, (policies, workload, request) => {
        const enforced = policies.filter((p) => p.metadata.annotations?.['istio.io/dry-run'] === undefined);
        const a = createPolicyEngine({
          policies,
          mesh: { extensionProviders: ['ext'], enableAmbientDryRun: true },
        });
        const b = createPolicyEngine({ policies: enforced, mesh: { extensionProviders: ['ext'] } });
        if (a.isErr() || b.isErr()) return;
        const hooks = { extAuthz: () => 'allow' as const };
        expect(a.value.evaluate({ workload, request }, hooks).allow).toBe(
          b.value.evaluate({ workload, request }, hooks).allow,
        );
      }),
      { numRuns: 200 },
    );
  });

  it('caches never change an answer: a reused, a copied and a mutated workload object agree with a fresh engine', () => {
    fc.assert(
      fc.property(policySet, workloadArb, workloadArb, requestArb, (policies, w1, w2, request) => {
        const engine = createPolicyEngine({ policies });
        const fresh = () => createPolicyEngine({ policies })._unsafeUnwrap();
        if (engine.isErr()) return;
        const e = engine.value;
        const mutable = { ...w1, labels: { ...w1.labels } };
        const first = e.evaluate({ workload: mutable, request });
        expect(e.evaluate({ workload: mutable, request })).toEqual(first);
        expect(e.evaluate({ workload: { ...w1, labels: { ...w1.labels } }, request })).toEqual(first);
        // Mutate in place to w2's shape: the engine must notice.
        Object.assign(mutable, { kind: w2.kind, namespace: w2.namespace, name: w2.name });
        for (const k of Object.keys(mutable.labels)) delete (mutable.labels as Record<string, string>)[k];
        Object.assign(mutable.labels, w2.labels);
        expect(e.evaluate({ workload: mutable, request })).toEqual(
          fresh().evaluate({ workload: w2, request }),
        );
      }),
      { numRuns: 150 },
    );
  });
});
