// L4 enforcement at the destination ztunnel (docs/authz.md "ztunnel translation"): istiod's translation
// (istio istio/istio@86c9f01f:pilot/pkg/serviceregistry/ambient/authorization.go) plus ztunnel's matching
// (istio/ztunnel@62d82653:src/rbac.rs, src/state.rs). Cases from the ambient controller tests
// (authorization_test.go), ambient integration tests (tests/integration/ambient/baseline_test.go) and
// https://istio.io/latest/docs/ambient/usage/l4-policy/.
import { describe, expect, it } from 'vitest';
import { allows, decide, engineFrom, policy, sidecar, spiffe, ztunnel } from '../support.js';

const w = ztunnel('foo', { app: 'b' });

describe('ALLOW rules with L7 attributes are dropped (amb handleRule: "L7 policies never match for ALLOW")', () => {
  it('l4-policy doc: an ALLOW policy with only HTTP rules becomes allow-nothing ("drop all traffic as a defensive move")', () => {
    const e = engineFrom(policy('foo/p', 'rules: [{to: [{operation: {methods: ["GET"]}}]}]'));
    expect(allows(e, w, { method: 'GET' })).toBe(false);
    expect(allows(e, w)).toBe(false);
    // The same policy at a sidecar is an ordinary method rule.
    expect(allows(e, sidecar('foo'), { method: 'GET' })).toBe(true);
  });

  it('a rule with any L7 attribute is dropped entirely, even if another from/to entry is pure L4', () => {
    const e = engineFrom(
      policy(
        'foo/p',
        `rules:
- from: [{source: {namespaces: ["foo"]}}, {source: {requestPrincipals: ["iss/sub"]}}]
- from: [{source: {principals: ["cluster.local/ns/bar/sa/x"]}}]`,
      ),
    );
    expect(decide(e, w)).toMatchObject({ allow: false });
    expect(decide(e, w, { source: { principal: spiffe('bar', 'x') } })).toMatchObject({
      allow: true,
      policy: 'foo/p',
      rule: 1,
    });
  });

  it('a when condition on an L7 key drops the ALLOW rule; L4 keys translate (l4WhenAttributes)', () => {
    const e = engineFrom(
      policy(
        'foo/p',
        `rules:
- when: [{key: source.ip, values: ["10.0.0.1"]}, {key: connection.sni, values: ["x"]}]
- when: [{key: destination.port, values: ["9000"]}]`,
      ),
    );
    expect(allows(e, w, { destination: { port: 8000 } })).toBe(false);
    expect(allows(e, w, { destination: { port: 9000 } })).toBe(true);
  });

  it('remoteIpBlocks, source.serviceAccount and source.trustDomain are L7 for ztunnel', () => {
    for (const rule of [
      'from: [{source: {remoteIpBlocks: ["10.0.0.0/8"]}}]',
      'when: [{key: source.serviceAccount, values: ["foo/sleep"]}]',
      'when: [{key: source.trustDomain, values: ["cluster.local"]}]',
      'when: [{key: remote.ip, values: ["10.0.0.1"]}]',
    ]) {
      expect([rule, allows(engineFrom(policy('foo/p', `rules:\n- ${rule}`)), w)]).toEqual([rule, false]);
    }
  });
});

describe('DENY rules keep their L4 part (amb handleRule; istio #61166, releasenotes 61126)', () => {
  it('"DENY policy with mixed L4 and L7 attributes is enforced without HTTP rules" (more restrictive)', () => {
    const e = engineFrom(
      policy(
        'foo/p',
        'action: DENY\nrules: [{from: [{source: {principals: ["cluster.local/ns/foo/sa/bar"], notRequestPrincipals: ["example.com/sub-1"]}}]}]',
      ),
    );
    expect(allows(e, w, { source: { principal: spiffe('foo', 'bar') } })).toBe(false);
    expect(allows(e, w, { source: { principal: spiffe('foo', 'other') } })).toBe(true);
  });

  it('"DENY policy with only L7 attributes results in no effect at ztunnel"', () => {
    const e = engineFrom(
      policy(
        'foo/p',
        'action: DENY\nrules: [{from: [{source: {notRequestPrincipals: ["example.com/sub-1"]}}]}]',
      ),
    );
    expect(allows(e, w)).toBe(true);
    expect(allows(e, w, { source: { principal: null } })).toBe(true);
  });

  it('"DENY policy with L4 From and L7 When is a no-op due to AND empty clause"', () => {
    const e = engineFrom(
      policy(
        'foo/p',
        'action: DENY\nrules: [{from: [{source: {principals: ["cluster.local/ns/foo/sa/bar"]}}], when: [{key: "request.headers[x-token]", values: ["secret"]}]}]',
      ),
    );
    expect(allows(e, w, { source: { principal: spiffe('foo', 'bar') } })).toBe(true);
  });

  it('"DENY policy with L4 From and L7-only To methods is a no-op due to AND empty clause"', () => {
    const e = engineFrom(
      policy(
        'foo/p',
        'action: DENY\nrules: [{from: [{source: {principals: ["cluster.local/ns/foo/sa/bar"]}}], to: [{operation: {methods: ["GET"]}}]}]',
      ),
    );
    expect(allows(e, w, { source: { principal: spiffe('foo', 'bar') } })).toBe(true);
  });

  it('"DENY policy with L7-only and separate L4 rule is still enforced"', () => {
    const e = engineFrom(
      policy(
        'foo/p',
        'action: DENY\nrules:\n- from: [{source: {notRequestPrincipals: ["example.com/sub-1"]}}]\n- from: [{source: {principals: ["cluster.local/ns/foo/sa/bar"]}}]',
      ),
    );
    expect(decide(e, w, { source: { principal: spiffe('foo', 'bar') } })).toMatchObject({
      allow: false,
      rule: 1,
    });
    expect(allows(e, w)).toBe(true);
  });

  it('"DENY policy with empty catch-all rule and L7-only rule is still enforced" (deny-all stays deny-all)', () => {
    const e = engineFrom(
      policy(
        'foo/p',
        'action: DENY\nrules:\n- {}\n- from: [{source: {notRequestPrincipals: ["example.com/sub-1"]}}]',
      ),
    );
    expect(decide(e, w)).toMatchObject({ allow: false, policy: 'foo/p', rule: 0 });
  });

  it('DENY methods + ports denies the whole port at L4 (deny-groups "Has mix of L4 and L7 in to")', () => {
    const e = engineFrom(
      policy('foo/p', 'action: DENY\nrules: [{to: [{operation: {methods: ["POST"], ports: ["9000"]}}]}]'),
    );
    expect(allows(e, w, { destination: { port: 9000 } })).toBe(false);
    expect(allows(e, w, { destination: { port: 9001 } })).toBe(true);
  });

  it('an ALLOW policy that lost every rule is allow-nothing, not "no policy"', () => {
    const e = engineFrom(policy('foo/p', 'rules: [{to: [{operation: {paths: ["/x"]}}]}]'));
    expect(decide(e, w)).toMatchObject({
      allow: false,
      reason: expect.stringContaining('no ALLOW policy matched'),
    });
  });
});

describe('ztunnel matching details', () => {
  it('principals are matched verbatim: no trust-domain aliases, cluster.local is literal', () => {
    const e = engineFrom(
      policy('foo/p', 'rules: [{from: [{source: {principals: ["cluster.local/ns/foo/sa/sleep"]}}]}]'),
      {
        trustDomain: 'td1',
        trustDomainAliases: ['cluster.local'],
      },
    );
    expect(allows(e, w, { source: { principal: 'spiffe://td1/ns/foo/sa/sleep' } })).toBe(false);
    expect(allows(e, w, { source: { principal: 'spiffe://cluster.local/ns/foo/sa/sleep' } })).toBe(true);
  });

  it('namespaces use only a leading or trailing * (a middle * is literal), unlike Envoy', () => {
    const e = engineFrom(policy('foo/p', 'rules: [{from: [{source: {namespaces: ["ns.*.prod"]}}]}]'));
    expect(allows(e, w, { source: { principal: spiffe('ns.any.prod', 'a') } })).toBe(false);
    expect(allows(e, sidecar('foo'), { source: { principal: spiffe('ns.any.prod', 'a') } })).toBe(true);
    const prefix = engineFrom(policy('foo/p', 'rules: [{from: [{source: {namespaces: ["team-*"]}}]}]'));
    expect(allows(prefix, w, { source: { principal: spiffe('team-x', 'a') } })).toBe(true);
  });

  it('serviceAccounts compare namespace and name of the identity (trust domain ignored)', () => {
    const e = engineFrom(
      policy('foo/p', 'rules: [{from: [{source: {serviceAccounts: ["sleep", "bar/client"]}}]}]'),
    );
    expect(allows(e, w, { source: { principal: spiffe('foo', 'sleep', 'any.td') } })).toBe(true);
    expect(allows(e, w, { source: { principal: spiffe('bar', 'client') } })).toBe(true);
    expect(allows(e, w, { source: { principal: spiffe('bar', 'sleep') } })).toBe(false);
    expect(allows(e, w, { source: { principal: null } })).toBe(false);
  });

  it('plaintext: principals/namespaces never match, not-forms do (zt-rbac plaintext_conn)', () => {
    const deny = engineFrom(
      policy('foo/p', 'action: DENY\nrules: [{from: [{source: {notPrincipals: ["*"]}}]}]'),
    );
    expect(allows(deny, w, { source: { principal: null } })).toBe(false);
    expect(allows(deny, w)).toBe(true);
    const ns = engineFrom(policy('foo/p', 'rules: [{from: [{source: {namespaces: ["*"]}}]}]'));
    expect(allows(ns, w, { source: { principal: null } })).toBe(false);
  });

  it('ports are destination (target) ports; ipBlocks the connection source; destination.ip conditions', () => {
    const e = engineFrom(
      policy(
        'foo/p',
        `rules:
- from: [{source: {ipBlocks: ["10.0.0.0/24"]}}]
  to: [{operation: {ports: ["8000"]}}]
- when: [{key: destination.ip, values: ["192.168.0.0/16"]}]`,
      ),
    );
    expect(allows(e, w, { source: { ip: '10.0.0.9' }, destination: { port: 8000 } })).toBe(true);
    expect(allows(e, w, { source: { ip: '10.0.1.9' }, destination: { port: 8000 } })).toBe(false);
    expect(allows(e, w, { source: { ip: '10.0.1.9' }, destination: { ip: '192.168.3.4', port: 1 } })).toBe(
      true,
    );
  });

  it('with a waypoint in the path the source identity is the waypoint (l4-policy doc table; ait TestAuthorizationL7)', () => {
    const e = engineFrom(
      policy('foo/p', 'rules: [{from: [{source: {principals: ["cluster.local/ns/foo/sa/waypoint"]}}]}]'),
    );
    expect(allows(e, w, { source: { principal: spiffe('foo', 'waypoint') } })).toBe(true);
    expect(allows(e, w, { source: { principal: spiffe('foo', 'sleep') } })).toBe(false);
  });

  it('HTTP attributes of the request are ignored at L4', () => {
    const e = engineFrom(policy('foo/p', 'action: DENY\nrules: [{to: [{operation: {ports: ["8000"]}}]}]'));
    expect(allows(e, w, { method: 'GET', path: '/anything', headers: { x: 'y' } })).toBe(false);
  });
});
