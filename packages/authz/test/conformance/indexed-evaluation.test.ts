// The rule index (src/engine/rule-index.ts) may change what a decision costs, never what it is: on random
// policies and requests, the indexed evaluation and the plain one (every rule tried in order) agree on the
// whole decision (allow, the policy and rule that decided, the reason, audit and dry-run marks), at L7 and at
// L4, and the matchers underneath agree rule by rule. A failure is reported without shrinking (its seed and
// path replay it): shrinking sets of a hundred rules recompiles them thousands of times.
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { RequestContext } from '../../src/engine/context.js';
import { compileEnvoyPolicy, ENVOY_READERS } from '../../src/engine/envoy-compile.js';
import { compileL4PolicySet } from '../../src/engine/l4-decision.js';
import { createRuleMatcher } from '../../src/engine/rule-index.js';
import { compileL4Policy } from '../../src/engine/ztunnel-match.js';
import {
  type AuthorizationPolicy,
  type AuthzRequest,
  createPolicyEngine,
  validatePolicy,
} from '../../src/index.js';
import { compileL4Policies, translateForZtunnel } from '../../src/l4/index.js';
import { policyArbitrary, workloadArb } from '../arbitraries.js';

// Requests built from the values the policies use, each as written or near it (without its `*`, one character
// more or less at either end, upper-cased), where an index that files or probes a key wrongly shows.
const ADDRESSES = ['10.0.0.1', '10.9.8.7', '192.168.1.1', '2001:db8::5', '::1', '8.8.8.8', '::ffff:10.0.0.1'];
function valuesOf(policies: readonly AuthorizationPolicy[]): Map<string, string[]> {
  const out = new Map<string, string[]>();
  const add = (kind: string, v: unknown): void => {
    if (typeof v !== 'string') return;
    const list = out.get(kind) ?? [];
    list.push(v);
    out.set(kind, list);
  };
  const walk = (node: unknown, key: string): void => {
    if (Array.isArray(node)) for (const item of node) walk(item, key);
    else if (typeof node === 'object' && node !== null) {
      const o = node as Record<string, unknown>;
      if (typeof o['key'] === 'string') {
        for (const v of [o['values'], o['notValues']]) walk(v, o['key'] as string);
        return;
      }
      for (const [k, v] of Object.entries(o))
        walk(
          v,
          k.replace(/^not(.)/, (_, c: string) => c.toLowerCase()),
        );
    } else add(key, node);
  };
  for (const p of policies) walk(p.spec.rules ?? [], '');
  return out;
}
function near(g: fc.GeneratorValue, v: string): string {
  const s = v.replaceAll('*', '');
  return g(() => fc.constantFrom(s, `${s}x`, `x${s}`, s.slice(1), s.slice(0, -1), s.toUpperCase(), v));
}
function requestFor(values: Map<string, string[]>, g: fc.GeneratorValue): AuthzRequest {
  const pick = (kinds: readonly string[], fallback: readonly string[]): string => {
    const pool = kinds.flatMap((k) => values.get(k) ?? []);
    return pool.length > 0 && g(() => fc.boolean())
      ? near(
          g,
          g(() => fc.constantFrom(...pool)),
        )
      : g(() => fc.constantFrom(...fallback));
  };
  const ip = (kinds: readonly string[]): string => {
    const pool = kinds.flatMap((k) => values.get(k) ?? []).map((v) => v.split('/')[0] as string);
    return g(() => fc.constantFrom(...pool, ...ADDRESSES));
  };
  const ns = pick(['namespaces', 'source.namespace'], ['foo', 'bar']);
  const principal = g(() =>
    fc.constantFrom(
      null,
      `spiffe://${pick(['principals', 'source.principal'], ['cluster.local/ns/foo/sa/sleep'])}`,
      `spiffe://cluster.local/ns/${ns}/sa/sleep`,
      `spiffe://td/ns/${ns}/ns/x/sa/y`,
      `spiffe://td/ns/ns/${ns}/sa/y`,
    ),
  );
  const port = Number(pick(['ports', 'destination.port'], ['80', '8000', '1234']));
  const path = pick(['paths'], ['/x', '/a/b']);
  return {
    source: { principal, ip: ip(['ipBlocks', 'source.ip']), remoteIp: ip(['remoteIpBlocks', 'remote.ip']) },
    destination: { ip: ip(['destination.ip']), port: Number.isInteger(port) ? port : 80 },
    protocol: g(() => fc.constantFrom('http' as const, 'tcp' as const)),
    host: pick(['hosts'], ['a.com', 'A.COM:80']),
    method: pick(['methods'], ['GET', 'POST']),
    path: path.startsWith('/') ? path : `/${path}`,
  };
}

// Sets large enough for the index to engage (16 rules or more of one action on a workload). Rules istiod's
// validation would refuse are dropped, so that one bad rule does not void a whole set.
const validRules = (p: AuthorizationPolicy): AuthorizationPolicy => ({
  ...p,
  spec: {
    ...p.spec,
    rules: (p.spec.rules ?? []).filter((rule) =>
      validatePolicy({ ...p, spec: { ...p.spec, rules: [rule] } }).isOk(),
    ),
  },
});
const bigSet = fc
  .uniqueArray(policyArbitrary(32, 12), {
    minLength: 1,
    maxLength: 4,
    selector: (p) => `${p.metadata.namespace}/${p.metadata.name}`,
  })
  .map((set) => set.map(validRules).filter((p) => (p.spec.rules ?? []).length > 0));
const longestActionList = (policies: readonly AuthorizationPolicy[]): number => {
  const byAction = new Map<string, number>();
  for (const p of policies) {
    const a = p.spec.action ?? 'ALLOW';
    byAction.set(a, (byAction.get(a) ?? 0) + (p.spec.rules ?? []).length);
  }
  return Math.max(0, ...byAction.values());
};
const mesh = { extensionProviders: ['ext'], enableAmbientDryRun: true };

describe('indexed and plain evaluation agree', () => {
  it('createPolicyEngine: the same decision for every workload kind, L4 and L7, HTTP and TCP', () => {
    let indexedLists = 0;
    fc.assert(
      fc.property(
        bigSet,
        fc.array(workloadArb, { minLength: 1, maxLength: 4 }),
        fc.gen(),
        (policies, workloads, g) => {
          const values = valuesOf(policies);
          const cases = workloads.flatMap((w) => [0, 1].map(() => [w, requestFor(values, g)] as const));
          const indexed = createPolicyEngine({ policies, mesh });
          const linear = createPolicyEngine({ policies, mesh, evaluation: 'linear' });
          expect(indexed.isOk()).toBe(linear.isOk());
          if (indexed.isErr() || linear.isErr()) return;
          for (const [workload, request] of cases) {
            const hooks = { extAuthz: () => 'allow' as const };
            expect(indexed.value.evaluate({ workload, request }, hooks)).toEqual(
              linear.value.evaluate({ workload, request }, hooks),
            );
          }
          if (longestActionList(policies) >= 16) indexedLists++;
        },
      ),
      { numRuns: 120, endOnFailure: true },
    );
    // Many runs had enough rules of one action for the index to be built.
    expect(indexedLists).toBeGreaterThan(40);
  });

  it('Envoy rule matchers: first and every match, rule by rule, for each action and chain', () => {
    fc.assert(
      fc.property(bigSet, fc.gen(), (policies, g) => {
        const values = valuesOf(policies);
        const requests = Array.from({ length: 8 }, () => requestFor(values, g));
        const rules = policies.flatMap((p) => {
          const action = p.spec.action ?? 'ALLOW';
          return [false, true].flatMap(
            (forTcp) =>
              compileEnvoyPolicy(p.spec.rules ?? [], action, forTcp, {
                namespace: p.metadata.namespace,
                name: p.metadata.name,
                bundle: ['cluster.local', 'td'],
              }).rules,
          );
        });
        const always = createRuleMatcher(rules, ENVOY_READERS, 'always');
        const never = createRuleMatcher(rules, ENVOY_READERS, 'never');
        for (const request of requests) {
          const ctx = RequestContext.prepare(request, {
            l7: true,
            pathNormalization: 'BASE',
            spaceDelimitedClaims: [],
          });
          if (!(ctx instanceof RequestContext)) continue;
          const all = (m: typeof always): number[] => {
            const out: number[] = [];
            m.each(ctx, (i) => out.push(i));
            return out;
          };
          expect(always.first(ctx)).toBe(never.first(ctx));
          expect(all(always)).toEqual(all(never));
        }
      }),
      { numRuns: 150, endOnFailure: true },
    );
  });

  it('L4 (ztunnel): compiled policy sets and compileL4Policies, indexed and linear', () => {
    fc.assert(
      fc.property(bigSet, fc.gen(), (policies, g) => {
        const values = valuesOf(policies);
        const requests = Array.from({ length: 8 }, () => requestFor(values, g));
        const authorizations = policies.flatMap((p: AuthorizationPolicy) => {
          const t = translateForZtunnel(p, { enableDryRun: true });
          return t.sent ? [t.authorization] : [];
        });
        const entries = authorizations.map((a) => ({
          action: a.action,
          dryRun: a.dryRun,
          compiled: compileL4Policy(a),
        }));
        const always = compileL4PolicySet(entries, 'always');
        const never = compileL4PolicySet(entries, 'never');
        const indexed = compileL4Policies(authorizations);
        const linear = compileL4Policies(authorizations, { evaluation: 'linear' });
        for (const request of requests) {
          const ctx = RequestContext.prepare(request, {
            l7: false,
            pathNormalization: 'BASE',
            spaceDelimitedClaims: [],
          });
          if (!(ctx instanceof RequestContext)) continue;
          expect(always.decide(ctx)).toEqual(never.decide(ctx));
          const connection = {
            srcIdentity: request.source.principal,
            srcIp: request.source.ip as string,
            dstIp: request.destination.ip as string,
            dstPort: request.destination.port as number,
          };
          expect(indexed.evaluate(connection)).toEqual(linear.evaluate(connection));
        }
      }),
      { numRuns: 150, endOnFailure: true },
    );
  });
});

describe('index keys at their edges', () => {
  const blocklist = (field: string, values: readonly string[]): AuthorizationPolicy => ({
    apiVersion: 'security.istio.io/v1',
    kind: 'AuthorizationPolicy',
    metadata: { name: 'blocklist', namespace: 'foo' },
    spec: {
      action: 'DENY',
      rules: values.map((v) =>
        field === 'paths'
          ? { to: [{ operation: { paths: [v] } }] }
          : { from: [{ source: { [field]: [v] } }] },
      ),
    },
  });
  const decideBoth = (policy: AuthorizationPolicy, request: AuthzRequest) => {
    const workload = { kind: 'sidecar', namespace: 'foo' } as const;
    const indexed = createPolicyEngine({ policies: [policy] })
      ._unsafeUnwrap()
      .evaluate({ workload, request });
    const linear = createPolicyEngine({ policies: [policy], evaluation: 'linear' })
      ._unsafeUnwrap()
      .evaluate({ workload, request });
    expect(indexed).toEqual(linear);
    return indexed;
  };
  const req = (principal: string, path = '/x'): AuthzRequest => ({
    source: { principal, ip: '10.0.0.1' },
    destination: { ip: '10.0.0.2', port: 80 },
    method: 'GET',
    path,
  });

  it('namespaces: every /ns/ of the peer URI is looked up, overlapping ones too (`.*/ns/<v>/.*`)', () => {
    const p = blocklist(
      'namespaces',
      Array.from({ length: 20 }, (_, i) => `n${i}`),
    );
    expect(decideBoth(p, req('spiffe://td/ns/ns/n7/sa/y'))).toMatchObject({ allow: false, rule: 7 });
    expect(decideBoth(p, req('spiffe://td/ns/a/sa/y/ns/n3/'))).toMatchObject({ allow: false, rule: 3 });
    expect(decideBoth(p, req('spiffe://td/ns/n70/sa/y')).allow).toBe(true);
  });

  it('prefixes and suffixes as long as the value itself, and exact paths', () => {
    const prefixes = blocklist(
      'principals',
      Array.from({ length: 20 }, (_, i) => `td/ns/p${i}*`),
    );
    expect(decideBoth(prefixes, req('spiffe://td/ns/p4'))).toMatchObject({ allow: false, rule: 4 });
    const paths = blocklist('paths', [
      ...Array.from({ length: 18 }, (_, i) => `/admin${i}`),
      '*/secret',
      '/api/*',
    ]);
    expect(decideBoth(paths, req('spiffe://td/ns/a/sa/b', '/secret'))).toMatchObject({
      allow: false,
      rule: 18,
    });
    expect(decideBoth(paths, req('spiffe://td/ns/a/sa/b', '/api/'))).toMatchObject({
      allow: false,
      rule: 19,
    });
    expect(decideBoth(paths, req('spiffe://td/ns/a/sa/b', '/admin1'))).toMatchObject({
      allow: false,
      rule: 1,
    });
    expect(decideBoth(paths, req('spiffe://td/ns/a/sa/b', '/admin1x')).allow).toBe(true);
  });
});
