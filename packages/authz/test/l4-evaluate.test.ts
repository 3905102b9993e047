// evaluateL4, the public L4 decision: ztunnel's assert_rbac (istio/ztunnel@62d82653:src/state.rs, its tests
// assert_rbac_logic_deny_allow and assert_rbac_dry_run_with_real_policies) on workload-api's Authorization
// model, with a real WorkloadStore as the policy source.
import {
  type Authorization,
  type AuthorizationInit,
  createAuthorization,
  createWorkload,
  createWorkloadStore,
} from '@ambient-kit/workload-api';
import { describe, expect, it } from 'vitest';
import { compileL4Policies, evaluateL4, type L4Connection, selectL4Policies } from '../src/l4/index.js';

const workload = (n: number) =>
  createWorkload({
    uid: `${n}`,
    name: 'test',
    namespace: `ns${n}`,
    serviceAccount: 'defaultacct',
    workloadIps: [`192.168.0.${n}`],
    protocol: 'HBONE',
  });

// get_rbac_context: from spiffe://cluster.local/ns/default/sa/<sa> at 192.168.1.1 to the workload on 8080.
const ctx = (n: number, sa: string | undefined): L4Connection => ({
  srcIdentity: sa === undefined ? undefined : `spiffe://cluster.local/ns/default/sa/${sa}`,
  srcIp: '192.168.1.1',
  dstIp: `192.168.0.${n}`,
  dstPort: 8080,
});

const principalRule = (sa: string) => ({
  rules: [{ matches: [{ principals: [{ exact: `cluster.local/ns/default/sa/${sa}` }] }] }],
});
const policy = (init: Partial<AuthorizationInit> & { name: string }): Authorization =>
  createAuthorization({ namespace: 'ns1', scope: 'Namespace', ...init });

describe('evaluateL4 (ztunnel assert_rbac)', () => {
  it('assert_rbac_logic_deny_allow: no ALLOW policy allows; an ALLOW must match; a DENY match denies first', () => {
    const store = createWorkloadStore();
    store.apply({
      resources: [
        workload(1),
        workload(2),
        // Dry-run policies have no effect.
        policy({ name: 'wildcard-allow', action: 'Allow', dryRun: true, groups: [{ rules: [] }] }),
        policy({ name: 'wildcard-deny', action: 'Deny', dryRun: true, groups: [{ rules: [] }] }),
        policy({ name: 'foo', action: 'Allow', groups: [principalRule('defaultacct')] }),
        policy({ name: 'deny', action: 'Deny', groups: [principalRule('denyacct')] }),
      ],
    });
    const w1 = store.workload('1');
    const w2 = store.workload('2');
    if (w1 === undefined || w2 === undefined) throw new Error('workloads missing');
    // 3. If there are no ALLOW policies for the workload, allow the request.
    expect(evaluateL4({ store, workload: w2, connection: ctx(2, 'not-defaultacct') })).toMatchObject({
      allow: true,
      result: 'no-allow-policies',
      reason: 'no allow policies, allow',
    });
    // 4. If any of the ALLOW policies match the request, allow the request.
    expect(evaluateL4({ store, workload: w1, connection: ctx(1, 'defaultacct') })).toMatchObject({
      allow: true,
      result: 'allowed-by-policy',
      reason: 'allow policy match',
      policy: 'ns1/foo',
      group: 0,
    });
    // 5. Deny the request (AuthorizationRejectionError::NotAllowed).
    expect(evaluateL4({ store, workload: w1, connection: ctx(1, 'not-defaultacct') })).toMatchObject({
      allow: false,
      result: 'not-allowed',
      reason: 'allow policies exist, but none allowed',
    });
    // 2. If there are any DENY policies that match the request, deny the request (ExplicitlyDenied).
    expect(evaluateL4({ store, workload: w1, connection: ctx(1, 'denyacct') })).toMatchObject({
      allow: false,
      result: 'explicitly-denied',
      reason: 'explicitly denied by: ns1/deny',
      policy: 'ns1/deny',
    });
    // Plaintext has no principal: the ALLOW policy cannot match.
    expect(evaluateL4({ store, workload: w1, connection: ctx(1, undefined) }).result).toBe('not-allowed');
  });

  it('assert_rbac_dry_run_with_real_policies: dry-run matches are reported, never enforced', () => {
    const policies = [
      policy({ name: 'real-deny', action: 'Deny', groups: [principalRule('denyacct')] }),
      policy({
        name: 'dry-run-deny',
        action: 'Deny',
        dryRun: true,
        groups: [principalRule('defaultacct'), principalRule('denyacct')],
      }),
      policy({ name: 'real-allow', action: 'Allow', groups: [principalRule('defaultacct')] }),
      policy({
        name: 'dry-run-allow',
        action: 'Allow',
        dryRun: true,
        groups: [principalRule('defaultacct')],
      }),
    ];
    expect(evaluateL4({ policies, connection: ctx(1, 'defaultacct') })).toMatchObject({
      allow: true,
      policy: 'ns1/real-allow',
      dryRun: { deny: ['ns1/dry-run-deny'], allow: ['ns1/dry-run-allow'], noAllowMatched: false },
    });
    // Denied before the dry-run ALLOW policies are looked at (ztunnel returns first).
    expect(evaluateL4({ policies, connection: ctx(1, 'denyacct') })).toMatchObject({
      allow: false,
      policy: 'ns1/real-deny',
      dryRun: { deny: ['ns1/dry-run-deny'], allow: [] },
    });
    // Only dry-run ALLOW policies, none matching: allowed, and "dry-run: no allow policies match".
    const onlyDry = [policies[3] as Authorization];
    expect(evaluateL4({ policies: onlyDry, connection: ctx(1, 'other') })).toMatchObject({
      allow: true,
      result: 'no-allow-policies',
      dryRun: { deny: [], allow: [], noAllowMatched: true },
    });
  });

  it('reads the identity with the spiffe parser: namespaces and service accounts only from Istio identities', () => {
    const ns = [
      policy({
        name: 'ns',
        action: 'Allow',
        groups: [{ rules: [{ matches: [{ namespaces: [{ exact: 'default' }] }] }] }],
      }),
    ];
    const sa = [
      policy({
        name: 'sa',
        action: 'Allow',
        groups: [
          { rules: [{ matches: [{ serviceAccounts: [{ namespace: 'default', serviceAccount: 'x' }] }] }] },
        ],
      }),
    ];
    const principal = [
      policy({
        name: 'p',
        action: 'Allow',
        groups: [{ rules: [{ matches: [{ principals: [{ prefix: 'example.org/' }] }] }] }],
      }),
    ];
    const conn = (srcIdentity: string): L4Connection => ({ ...ctx(1, undefined), srcIdentity });
    expect(
      evaluateL4({ policies: ns, connection: conn('spiffe://cluster.local/ns/default/sa/x') }).allow,
    ).toBe(true);
    expect(
      evaluateL4({ policies: sa, connection: conn('spiffe://cluster.local/ns/default/sa/x') }).allow,
    ).toBe(true);
    // A SPIFFE ID outside Istio's form: a principal, but no namespace or service account.
    const other = conn('spiffe://example.org/ns/default/workload/x');
    expect(evaluateL4({ policies: ns, connection: other }).allow).toBe(false);
    expect(evaluateL4({ policies: sa, connection: other }).allow).toBe(false);
    expect(evaluateL4({ policies: principal, connection: other }).allow).toBe(true);
  });

  it('fails closed on what it cannot read, and never throws', () => {
    const deny = [
      policy({ name: 'd', action: 'Deny', groups: [{ rules: [{ matches: [{ destinationPorts: [1] }] }] }] }),
    ];
    const bad: unknown[] = [
      { ...ctx(1, 'a'), srcIp: '010.0.0.1' },
      { ...ctx(1, 'a'), dstIp: 'localhost' },
      { ...ctx(1, 'a'), dstPort: 70000 },
      { ...ctx(1, 'a'), dstPort: 1.5 },
      { ...ctx(1, 'a'), srcIdentity: 'spiffe://Cluster Local/ns/a/sa/b' },
      { ...ctx(1, 'a'), srcIdentity: 42 },
      null,
    ];
    for (const connection of bad) {
      const d = evaluateL4({ policies: deny, connection: connection as L4Connection });
      expect([connection, d.allow, d.result]).toEqual([connection, false, 'invalid']);
    }
    // Even with no policies at all, an unreadable connection is not allowed.
    expect(evaluateL4({ policies: [], connection: { ...ctx(1, 'a'), srcIp: 'x' } }).allow).toBe(false);
    expect(evaluateL4(null as never).allow).toBe(false);
    expect(evaluateL4({ policies: 'nope' } as never).allow).toBe(false);
    // A hand-built policy with an address that is not one is not evaluated (it could be a negative list).
    const broken = [
      policy({
        name: 'b',
        action: 'Deny',
        groups: [{ rules: [{ matches: [{ notSourceIps: [{ address: 'nope', length: 8 }] }] }] }],
      }),
    ];
    expect(evaluateL4({ policies: broken, connection: ctx(1, 'a') })).toMatchObject({
      allow: false,
      result: 'invalid',
    });
  });

  it('follows a store: a replaced policy object is compiled again', () => {
    const store = createWorkloadStore();
    store.apply({
      resources: [workload(1), policy({ name: 'deny', action: 'Deny', groups: [principalRule('a')] })],
    });
    const w = store.workload('1');
    if (w === undefined) throw new Error('missing');
    expect(evaluateL4({ store, workload: w, connection: ctx(1, 'a') }).allow).toBe(false);
    store.apply({ resources: [policy({ name: 'deny', action: 'Deny', groups: [principalRule('b')] })] });
    expect(evaluateL4({ store, workload: w, connection: ctx(1, 'a') }).allow).toBe(true);
    expect(evaluateL4({ store, workload: w, connection: ctx(1, 'b') }).allow).toBe(false);
  });

  it("selectL4Policies collects as assert_rbac does: namespace, global, then the workload's own", () => {
    const all = [
      createAuthorization({ name: 'sel', namespace: 'ns1', scope: 'WorkloadSelector' }),
      createAuthorization({ name: 'global', namespace: 'istio-system', scope: 'Global' }),
      createAuthorization({ name: 'ns', namespace: 'ns1', scope: 'Namespace' }),
      createAuthorization({ name: 'other', namespace: 'ns2', scope: 'Namespace' }),
    ];
    const chosen = selectL4Policies(all, {
      namespace: 'ns1',
      authorizationPolicies: ['ns1/sel', 'ns1/missing'],
    });
    expect(chosen.map((p) => p.key)).toEqual(['ns1/ns', 'istio-system/global', 'ns1/sel']);
  });

  it('compileL4Policies: the indexed and the linear evaluation agree on a large blocklist', () => {
    const groups = Array.from({ length: 300 }, (_, i) => ({
      rules: [
        {
          matches: [
            i % 2 === 0
              ? { sourceIps: [{ address: `10.${i >> 8}.${i & 255}.0`, length: 24 }] }
              : { principals: [{ exact: `cluster.local/ns/default/sa/blocked-${i}` }] },
          ],
        },
      ],
    }));
    const policies = [policy({ name: 'block', action: 'Deny', groups })];
    const indexed = compileL4Policies(policies);
    const linear = compileL4Policies(policies, { evaluation: 'linear' });
    for (const [sa, ip] of [
      ['blocked-3', '192.168.1.1'],
      ['ok', '10.0.4.9'],
      ['ok', '10.0.5.9'],
      ['blocked-299', '10.1.44.1'],
    ] as const) {
      const c = { ...ctx(1, sa), srcIp: ip };
      expect(indexed.evaluate(c)).toEqual(linear.evaluate(c));
    }
    expect(indexed.evaluate({ ...ctx(1, 'blocked-3') })).toMatchObject({ allow: false, group: 3 });
  });
});
