// Property tests (fast-check): no policy or request makes the engine throw; invalid policies give errors and
// never a silent allow; the engine's caches never change an answer.
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  type AuthorizationPolicy,
  createPolicyEngine,
  parsePolicies,
  validatePolicy,
} from '../../src/index.js';
import { translateForZtunnel } from '../../src/l4/index.js';
import { policySet, requestArb, workloadArb } from '../arbitraries.js';

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
