// Evaluation order and empty cases (docs/authz.md "Semantics in brief", "CUSTOM (ext_authz)"). Sources: the
// api top-level doc (the five rules,
// allow-nothing / allow-all examples), istio/ztunnel@62d82653:src/state.rs tests
// (assert_rbac_logic_deny_allow, assert_rbac_dry_run_with_real_policies), istio builder testdata
// (http/deny-and-allow, http/dry-run-*, http/audit-full-rule, http/custom-*), istio.io tasks authz-dry-run
// and authz-custom.
import { describe, expect, it } from 'vitest';
import { allows, decide, engineFrom, policy, sidecar, spiffe, waypoint, ztunnel } from '../support.js';

const DRY = { 'istio.io/dry-run': 'true' };
const from = (ns: string, sa: string) => ({ source: { principal: spiffe(ns, sa) } });

describe('the five rules (api AuthorizationPolicy doc), at Envoy and at ztunnel', () => {
  for (const kind of ['sidecar', 'ztunnel'] as const) {
    const w = kind === 'sidecar' ? sidecar('ns1') : ztunnel('ns1');
    // ztunnel state.rs assert_rbac_logic_deny_allow: allow defaultacct, deny denyacct, dry-run wildcards.
    const e = engineFrom(
      policy(
        'ns1/foo',
        'rules: [{from: [{source: {principals: ["cluster.local/ns/default/sa/defaultacct"]}}]}]',
      ) +
        policy(
          'ns1/deny',
          'action: DENY\nrules: [{from: [{source: {principals: ["cluster.local/ns/default/sa/denyacct"]}}]}]',
        ) +
        policy('ns1/wildcard-allow', 'rules: [{}]', DRY) +
        policy('ns1/wildcard-deny', 'action: DENY\nrules: [{}]', DRY),
      { enableAmbientDryRun: true },
    );

    it(`${kind}: 3. no ALLOW policies for the workload → allow (a namespace without policies)`, () => {
      expect(
        decide(e, kind === 'sidecar' ? sidecar('ns2') : ztunnel('ns2'), from('default', 'not-defaultacct')),
      ).toMatchObject({
        allow: true,
        reason: 'no policies apply',
      });
    });

    it(`${kind}: 4. an ALLOW policy matches → allow`, () => {
      expect(decide(e, w, from('default', 'defaultacct'))).toMatchObject({
        allow: true,
        policy: 'ns1/foo',
        rule: 0,
      });
    });

    it(`${kind}: 5. ALLOW policies exist but none matches → deny`, () => {
      const d = decide(e, w, from('default', 'not-defaultacct'));
      expect(d.allow).toBe(false);
      expect(d.policy).toBeUndefined();
    });

    it(`${kind}: 2. a DENY policy matches → deny, whatever ALLOW says; dry-run policies have no effect`, () => {
      const d = decide(e, w, from('default', 'denyacct'));
      expect(d).toMatchObject({ allow: false, policy: 'ns1/deny' });
      expect(d.dryRunMatched).toEqual(['ns1/wildcard-deny']);
    });
  }

  it('DENY wins over an ALLOW that matches the same request (builder http/deny-and-allow)', () => {
    const e = engineFrom(
      policy('foo/allow', 'rules: [{to: [{operation: {paths: ["/x"]}}]}]') +
        policy('foo/deny', 'action: DENY\nrules: [{to: [{operation: {paths: ["/x"]}}]}]'),
    );
    expect(decide(e, sidecar('foo'), { path: '/x' })).toMatchObject({ allow: false, policy: 'foo/deny' });
    expect(allows(e, sidecar('foo'), { path: '/y' })).toBe(false);
  });
});

describe('allow-nothing vs allow-all (api doc examples; zt-rbac rules.is_empty(); builder rbacPolicyMatchNever)', () => {
  for (const w of [sidecar('foo', { app: 'httpbin' }), ztunnel('foo', { app: 'httpbin' })]) {
    it(`${w.kind}: spec: {} denies everything (it is an ALLOW policy that matches nothing)`, () => {
      const e = engineFrom(policy('foo/allow-nothing', '{}'));
      expect(decide(e, w)).toMatchObject({
        allow: false,
        reason: expect.stringContaining('no ALLOW policy matched'),
      });
      expect(allows(e, w, { source: { principal: null } })).toBe(false);
    });

    it(`${w.kind}: rules: [{}] allows everything, even plaintext`, () => {
      const e = engineFrom(policy('foo/allow-nothing', '{}') + policy('foo/allow-all', 'rules: [{}]'));
      expect(decide(e, w, { source: { principal: null } })).toMatchObject({
        allow: true,
        policy: 'foo/allow-all',
      });
    });

    it(`${w.kind}: rules: [] is the same as no rules (allow-nothing)`, () => {
      const e = engineFrom(policy('foo/p', 'rules: []'));
      expect(allows(e, w)).toBe(false);
    });

    it(`${w.kind}: DENY rules: [{}] is deny-all`, () => {
      const e = engineFrom(
        policy('foo/deny-all', 'action: DENY\nrules: [{}]') + policy('foo/allow-all', 'rules: [{}]'),
      );
      expect(decide(e, w)).toMatchObject({ allow: false, policy: 'foo/deny-all' });
    });

    it(`${w.kind}: a selector allow-nothing only affects the selected workload (api doc "allow-nothing" in bar)`, () => {
      const e = engineFrom(policy('foo/allow-nothing', 'selector: {matchLabels: {app: httpbin}}'));
      expect(allows(e, w)).toBe(false);
      expect(allows(e, { ...w, labels: { app: 'other' } })).toBe(true);
    });
  }
});

describe('AUDIT (api Action.AUDIT; builder http/audit-full-rule)', () => {
  const e = engineFrom(
    policy(
      'ns1/anyname',
      'selector: {matchLabels: {app: myapi}}\naction: AUDIT\nrules: [{to: [{operation: {methods: ["GET"], paths: ["/user/profile/*"]}}]}]',
    ),
  );
  const w = sidecar('ns1', { app: 'myapi' });

  it('marks the request and never decides: an AUDIT policy is not an ALLOW policy', () => {
    expect(decide(e, w, { method: 'GET', path: '/user/profile/1' })).toMatchObject({
      allow: true,
      audit: true,
    });
    expect(decide(e, w, { method: 'POST', path: '/user/profile/1' })).toMatchObject({
      allow: true,
      audit: false,
    });
  });

  it('is marked even when the request is then denied, and ignored at ztunnel', () => {
    const e2 = engineFrom(
      policy('ns1/audit', 'action: AUDIT\nrules: [{}]') +
        policy('ns1/deny', 'action: DENY\nrules: [{to: [{operation: {paths: ["/x"]}}]}]'),
    );
    expect(decide(e2, w, { path: '/x' })).toMatchObject({ allow: false, audit: true });
    expect(decide(e2, ztunnel('ns1'), {})).toMatchObject({ allow: true, audit: false });
  });
});

describe('dry-run (istio.io authz-dry-run task; builder http/dry-run-*; ztunnel state.rs)', () => {
  it('a dry-run DENY is reported, not enforced (task: deny path /headers in dry-run, request still 200)', () => {
    const e = engineFrom(
      policy(
        'foo/deny-path-headers',
        'selector: {matchLabels: {app: httpbin}}\naction: DENY\nrules: [{to: [{operation: {paths: ["/headers"]}}]}]',
        DRY,
      ),
    );
    const d = decide(e, sidecar('foo', { app: 'httpbin' }), { path: '/headers' });
    expect(d).toMatchObject({ allow: true, dryRunMatched: ['foo/deny-path-headers'] });
    expect(decide(e, sidecar('foo', { app: 'httpbin' }), { path: '/ip' }).dryRunMatched).toEqual([]);
  });

  it('only dry-run ALLOW policies: the ALLOW filter has shadow rules only, so requests are allowed', () => {
    const e = engineFrom(policy('foo/p', 'rules: [{to: [{operation: {paths: ["/x"]}}]}]', DRY));
    expect(decide(e, sidecar('foo'), { path: '/y' })).toMatchObject({ allow: true, dryRunMatched: [] });
    expect(decide(e, sidecar('foo'), { path: '/x' })).toMatchObject({
      allow: true,
      dryRunMatched: ['foo/p'],
    });
  });

  it('dry-run ALLOW does not count as an ALLOW policy next to enforced ones (builder dry-run-mix)', () => {
    const e = engineFrom(
      policy('foo/real', 'rules: [{to: [{operation: {paths: ["/a"]}}]}]') +
        policy('foo/dry', 'rules: [{to: [{operation: {paths: ["/b"]}}]}]', DRY),
    );
    expect(decide(e, sidecar('foo'), { path: '/b' })).toMatchObject({
      allow: false,
      dryRunMatched: ['foo/dry'],
    });
  });

  it('ztunnel assert_rbac_dry_run_with_real_policies: dry-run deny and allow both logged, real allow decides', () => {
    const e = engineFrom(
      policy(
        'ns1/real-deny',
        'action: DENY\nrules: [{from: [{source: {principals: ["cluster.local/ns/default/sa/denyacct"]}}]}]',
      ) +
        policy(
          'ns1/dry-run-deny',
          'action: DENY\nrules:\n- from: [{source: {principals: ["cluster.local/ns/default/sa/defaultacct"]}}]\n- from: [{source: {principals: ["cluster.local/ns/default/sa/denyacct"]}}]',
          DRY,
        ) +
        policy(
          'ns1/real-allow',
          'rules: [{from: [{source: {principals: ["cluster.local/ns/default/sa/defaultacct"]}}]}]',
        ) +
        policy(
          'ns1/dry-run-allow',
          'rules: [{from: [{source: {principals: ["cluster.local/ns/default/sa/defaultacct"]}}]}]',
          DRY,
        ),
      { enableAmbientDryRun: true },
    );
    const d = decide(e, ztunnel('ns1'), from('default', 'defaultacct'));
    expect(d).toMatchObject({ allow: true, policy: 'ns1/real-allow' });
    expect([...d.dryRunMatched].sort()).toEqual(['ns1/dry-run-allow', 'ns1/dry-run-deny']);
  });

  it('ztunnel without AMBIENT_ENABLE_DRY_RUN_AUTHORIZATION_POLICY: dry-run policies are not sent (and never enforced)', () => {
    const e = engineFrom(policy('ns1/dry-deny', 'action: DENY\nrules: [{}]', DRY));
    expect(decide(e, ztunnel('ns1'))).toMatchObject({ allow: true, dryRunMatched: [] });
  });

  it('"istio.io/dry-run: false" is an ordinary policy (strconv.ParseBool)', () => {
    const e = engineFrom(policy('ns1/deny', 'action: DENY\nrules: [{}]', { 'istio.io/dry-run': 'false' }));
    expect(allows(e, sidecar('ns1'))).toBe(false);
    expect(allows(e, ztunnel('ns1'))).toBe(false);
  });
});

describe('CUSTOM (istio.io authz-custom task; builder custom-*; docs/authz.md "CUSTOM (ext_authz)")', () => {
  const ext = { extensionProviders: ['sample-ext-authz-http', 'other-provider'] };
  const customPolicy = policy(
    'foo/ext-authz',
    'selector: {matchLabels: {app: httpbin}}\naction: CUSTOM\nprovider: {name: sample-ext-authz-http}\nrules: [{to: [{operation: {paths: ["/headers"]}}]}]',
  );
  const w = sidecar('foo', { app: 'httpbin' });

  it('matching rules call the provider; its deny denies (task: /headers with x-ext-authz: deny → 403)', () => {
    const e = engineFrom(customPolicy, ext);
    const calls: string[] = [];
    const d = decide(
      e,
      w,
      { path: '/headers' },
      {
        extAuthz: (p) => {
          calls.push(p);
          return 'deny';
        },
      },
    );
    expect(d).toMatchObject({
      allow: false,
      policy: 'foo/ext-authz',
      extAuthzCalled: 'sample-ext-authz-http',
    });
    expect(calls).toEqual(['sample-ext-authz-http']);
  });

  it('rules that do not match never call the provider (task: /ip "does not trigger the external authorization")', () => {
    const e = engineFrom(customPolicy, ext);
    let called = false;
    const d = decide(
      e,
      w,
      { path: '/ip' },
      {
        extAuthz: () => {
          called = true;
          return 'deny';
        },
      },
    );
    expect(d.allow).toBe(true);
    expect(d.extAuthzCalled).toBeUndefined();
    expect(called).toBe(false);
  });

  it('an allow from the provider cannot bypass DENY or ALLOW ("allowed if and only if all the actions return allow")', () => {
    const e = engineFrom(
      customPolicy + policy('foo/deny', 'action: DENY\nrules: [{to: [{operation: {paths: ["/headers"]}}]}]'),
      ext,
    );
    expect(decide(e, w, { path: '/headers' }, { extAuthz: () => 'allow' })).toMatchObject({
      allow: false,
      policy: 'foo/deny',
      extAuthzCalled: 'sample-ext-authz-http',
    });
    const e2 = engineFrom(customPolicy + policy('foo/allow-nothing', '{}'), ext);
    expect(decide(e2, w, { path: '/headers' }, { extAuthz: () => 'allow' }).allow).toBe(false);
  });

  it('fails closed when no hook is given or the hook throws (ext_authz failure_mode_allow is false)', () => {
    const e = engineFrom(customPolicy, ext);
    expect(decide(e, w, { path: '/headers' }).allow).toBe(false);
    const boom = () => {
      throw new Error('down');
    };
    expect(decide(e, w, { path: '/headers' }, { extAuthz: boom }).allow).toBe(false);
  });

  it('an undefined provider turns the CUSTOM rules into DENY rules (releasenotes 46968): only matching requests denied', () => {
    const e = engineFrom(customPolicy, { extensionProviders: ['something-else'] });
    expect(decide(e, w, { path: '/headers' }, { extAuthz: () => 'allow' })).toMatchObject({
      allow: false,
      policy: 'foo/ext-authz',
    });
    expect(decide(e, w, { path: '/ip' }).allow).toBe(true);
  });

  it('two providers on one workload without PILOT_ENABLE_MULTIPLE_CUSTOM_AUTHZ_PROVIDERS: all CUSTOM rules deny', () => {
    const second = policy(
      'foo/other',
      'action: CUSTOM\nprovider: {name: other-provider}\nrules: [{to: [{operation: {paths: ["/other"]}}]}]',
    );
    const e = engineFrom(customPolicy + second, ext);
    expect(decide(e, w, { path: '/other' }, { extAuthz: () => 'allow' })).toMatchObject({
      allow: false,
      policy: 'foo/other',
    });
    expect(decide(e, w, { path: '/ip' }).allow).toBe(true);
    // With the flag, each provider decides for its own rules, in provider-name order.
    const flagged = engineFrom(customPolicy + second, { ...ext, multipleCustomProviders: true });
    expect(
      decide(
        flagged,
        w,
        { path: '/other' },
        { extAuthz: (p) => (p === 'other-provider' ? 'allow' : 'deny') },
      ),
    ).toMatchObject({
      allow: true,
      extAuthzCalled: 'other-provider',
    });
  });

  it('CUSTOM runs before AUDIT: a CUSTOM deny leaves audit unmarked', () => {
    const e = engineFrom(customPolicy + policy('foo/audit', 'action: AUDIT\nrules: [{}]'), ext);
    expect(decide(e, w, { path: '/headers' }, { extAuthz: () => 'deny' })).toMatchObject({
      allow: false,
      audit: false,
    });
    expect(decide(e, w, { path: '/headers' }, { extAuthz: () => 'allow' })).toMatchObject({
      allow: true,
      audit: true,
    });
  });

  it('an HTTP provider is ignored on a TCP filter chain; ztunnel ignores CUSTOM altogether', () => {
    const e = engineFrom(
      policy('foo/c', 'action: CUSTOM\nprovider: {name: sample-ext-authz-http}\nrules: [{}]'),
      ext,
    );
    expect(decide(e, w, { protocol: 'tcp' }, { extAuthz: () => 'deny' })).toMatchObject({ allow: true });
    expect(decide(e, ztunnel('foo'), {}, { extAuthz: () => 'deny' })).toMatchObject({ allow: true });
    // A gRPC provider applies on TCP too.
    const grpc = engineFrom(policy('foo/c', 'action: CUSTOM\nprovider: {name: g}\nrules: [{}]'), {
      extensionProviders: [{ name: 'g', kind: 'envoyExtAuthzGrpc' }],
    });
    expect(decide(grpc, w, { protocol: 'tcp' }, { extAuthz: () => 'deny' })).toMatchObject({
      allow: false,
      extAuthzCalled: 'g',
    });
  });

  it('a waypoint runs CUSTOM policies attached to the service', () => {
    const e = engineFrom(
      policy(
        'foo/c',
        'targetRefs: [{kind: Service, name: web}]\naction: CUSTOM\nprovider: {name: sample-ext-authz-http}\nrules: [{}]',
      ),
      ext,
    );
    const service = { kind: 'Service', name: 'web', namespace: 'foo' } as const;
    expect(decide(e, waypoint('foo'), { destination: { service } }, { extAuthz: () => 'deny' }).allow).toBe(
      false,
    );
  });
});

describe('reporting: Envoy reports the first matching RBAC policy by name (ns[..]-policy[..]-rule[..])', () => {
  it('names the policy and the rule that decided', () => {
    const e = engineFrom(
      policy(
        'foo/b-deny',
        'action: DENY\nrules: [{to: [{operation: {paths: ["/a"]}}]}, {to: [{operation: {paths: ["/x"]}}]}]',
      ) + policy('foo/a-deny', 'action: DENY\nrules: [{to: [{operation: {paths: ["/z"]}}]}]'),
    );
    expect(decide(e, sidecar('foo'), { path: '/x' })).toMatchObject({ policy: 'foo/b-deny', rule: 1 });
  });
});
