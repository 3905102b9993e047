// JWT attributes (docs/authz.md "JWT with RequestAuthentication") and trust-domain aliases
// (docs/authz.md "Identity values and regular expressions"). Sources: istio
// istio/istio@86c9f01f:pilot/pkg/security/authz/model/generator_test.go (TestRequestPrincipal),
// istio/istio@86c9f01f:tests/integration/security TestAuthz_JWT (testdata/authz/jwt.yaml.tmpl),
// istio/istio@86c9f01f:pilot/pkg/security/trustdomain/bundle_test.go, builder testdata
// http/simple-policy-td-aliases, and istio.io tasks authz-jwt and authz-td-migration.
import { describe, expect, it } from 'vitest';
import { allows, engineFrom, policy, sidecar, spiffe, ztunnel } from '../support.js';

const w = sidecar('foo', { app: 'httpbin' });

describe('requestPrincipals: split at the last "/", iss and sub matched separately (TestRequestPrincipal)', () => {
  const cases: [string, { iss?: unknown; sub?: unknown }, boolean][] = [
    ['*', { iss: 'a', sub: 'b' }, true],
    ['*', { iss: 'a' }, false],
    ['foo*', { iss: 'foobar', sub: 'x' }, true],
    ['foo*', { iss: 'barfoo', sub: 'x' }, false],
    ['foo/*', { iss: 'foo', sub: 'anything' }, true],
    ['foo/*', { iss: 'foo/x', sub: 'anything' }, false],
    ['foo/bar*', { iss: 'foo', sub: 'barista' }, true],
    ['foo/bar*', { iss: 'foo', sub: 'xbar' }, false],
    ['*foo', { iss: 'anything', sub: 'xfoo' }, true],
    ['*foo', { iss: 'anything', sub: 'foox' }, false],
    ['*/foo', { iss: 'anything', sub: 'foo' }, true],
    ['*/foo', { iss: 'anything', sub: 'foo2' }, false],
    ['*bar/foo', { iss: 'xbar', sub: 'foo' }, true],
    ['*bar/foo', { iss: 'barx', sub: 'foo' }, false],
    ['foo/bar', { iss: 'foo', sub: 'bar' }, true],
    ['foo/bar', { iss: 'foo', sub: 'baz' }, false],
    // The issuer may itself contain slashes: only the last one splits.
    ['https://example.com/user-1', { iss: 'https://example.com', sub: 'user-1' }, true],
    ['https://example.com/*', { iss: 'https://example.com', sub: 'x' }, true],
    ['https://example.com/*', { iss: 'https://example.com/realm', sub: 'x' }, false],
    // Claims must be strings.
    ['foo/bar', { iss: 'foo', sub: ['bar'] }, false],
  ];
  for (const [value, jwt, expected] of cases) {
    it(`${value} with ${JSON.stringify(jwt)} → ${expected}`, () => {
      const e = engineFrom(
        policy('foo/p', `rules: [{from: [{source: {requestPrincipals: [${JSON.stringify(value)}]}}]}]`),
      );
      expect(allows(e, w, { jwt: jwt as Record<string, unknown> })).toBe(expected);
    });
  }

  it('no JWT: positive matchers fail, negative ones match (authz-jwt task: DENY notRequestPrincipals "*" requires a token)', () => {
    const e = engineFrom(
      policy('foo/require-jwt', 'action: DENY\nrules: [{from: [{source: {notRequestPrincipals: ["*"]}}]}]'),
    );
    expect(allows(e, w, { jwt: null })).toBe(false);
    expect(allows(e, w, {})).toBe(false);
    expect(allows(e, w, { jwt: { iss: 'testing@secure.istio.io', sub: 'testing@secure.istio.io' } })).toBe(
      true,
    );
  });

  it('request.auth.principal condition behaves like requestPrincipals', () => {
    const e = engineFrom(
      policy('foo/p', 'rules: [{when: [{key: request.auth.principal, values: ["iss/sub"]}]}]'),
    );
    expect(allows(e, w, { jwt: { iss: 'iss', sub: 'sub' } })).toBe(true);
    expect(allows(e, w, { jwt: { iss: 'iss', sub: 'other' } })).toBe(false);
  });
});

describe('TestAuthz_JWT (jwt.yaml.tmpl)', () => {
  const e = engineFrom(
    policy(
      'foo/jwt',
      `selector: {matchLabels: {app: httpbin}}
rules:
- to: [{operation: {paths: ["/token1"], methods: ["GET"]}}]
  from: [{source: {requestPrincipals: ["test-issuer-1@istio.io/sub-1"]}}]
- to: [{operation: {paths: ["/token2"], methods: ["GET"]}}]
  when: [{key: "request.auth.claims[groups]", values: ["group-2"]}]
- to: [{operation: {paths: ["/tokenAny"], methods: ["GET"]}}]
  from: [{source: {requestPrincipals: ["*"]}}]
- to: [{operation: {paths: ["/permission"], methods: ["GET"]}}]
  when: [{key: "request.auth.claims[permission]", values: ["write", "append"]}]
- to: [{operation: {paths: ["/scope"], methods: ["GET"]}}]
  when: [{key: "request.auth.claims[scope]", values: ["append", "write"]}]
- to: [{operation: {paths: ["/custom-scope-admin"], methods: ["GET"]}}]
  when: [{key: "request.auth.claims[custom_scope]", values: ["admin"]}]
- to: [{operation: {paths: ["/nested-key1"], methods: ["GET"]}}]
  when: [{key: "request.auth.claims[nested][key1]", values: ["valueB"]}]
- to: [{operation: {paths: ["/nested-2-key1"], methods: ["GET"]}}]
  when: [{key: "request.auth.claims[nested][nested-2][key1]", values: ["valueA"]}]
- to: [{operation: {paths: ["/nested-non-exist"], methods: ["GET"]}}]
  when: [{key: "request.auth.claims[nested][non-exist]", values: ["valueC"]}]
- to: [{operation: {paths: ["/presenter"], methods: ["GET"]}}]
  when: [{key: request.auth.presenter, values: ["bar"]}]
- to: [{operation: {paths: ["/audiences"], methods: ["GET"]}}]
  when: [{key: request.auth.audiences, values: ["foo"]}]`,
    ),
    { spaceDelimitedClaims: ['custom_scope'] },
  );
  const token1 = { iss: 'test-issuer-1@istio.io', sub: 'sub-1', groups: ['group-1'] };
  const token2 = {
    iss: 'test-issuer-2@istio.io',
    sub: 'sub-2',
    groups: ['group-1', 'group-2'],
    azp: 'bar',
    aud: ['foo', 'baz'],
    nested: { key1: 'valueB', 'nested-2': { key1: 'valueA' } },
  };
  const get = (path: string, jwt?: Record<string, unknown>) =>
    allows(e, w, { method: 'GET', path, ...(jwt ? { jwt } : {}) });

  it('[No JWT] /token1 and /token2 denied', () => {
    expect(get('/token1')).toBe(false);
    expect(get('/token2')).toBe(false);
  });
  it('[Token1] /token1 allowed, /token2 denied; [Token2] the reverse', () => {
    expect(get('/token1', token1)).toBe(true);
    expect(get('/token2', token1)).toBe(false);
    expect(get('/token1', token2)).toBe(false);
    expect(get('/token2', token2)).toBe(true);
  });
  it('/tokenAny allowed with either token', () => {
    expect(get('/tokenAny', token1)).toBe(true);
    expect(get('/tokenAny', token2)).toBe(true);
    expect(get('/tokenAny')).toBe(false);
  });
  it('space-delimited permission/scope claims are split (TokenIssuer2WithSpaceDelimitedPermission)', () => {
    expect(get('/permission', { ...token2, permission: 'read write' })).toBe(true);
    expect(get('/permission', { ...token2, permission: 'read' })).toBe(false);
    expect(get('/scope', { ...token2, scope: 'openid append' })).toBe(true);
    expect(get('/custom-scope-admin', { ...token2, custom_scope: 'user admin' })).toBe(true);
    expect(get('/custom-scope-admin', { ...token2, custom_scope: 'user' })).toBe(false);
  });
  it('nested claims walk objects; a missing key never matches', () => {
    expect(get('/nested-key1', token2)).toBe(true);
    expect(get('/nested-2-key1', token2)).toBe(true);
    expect(get('/nested-non-exist', token2)).toBe(false);
  });
  it('presenter reads azp, audiences reads aud (string or list)', () => {
    expect(get('/presenter', token2)).toBe(true);
    expect(get('/audiences', token2)).toBe(true);
    expect(get('/audiences', { ...token2, aud: 'foo' })).toBe(true);
    expect(get('/audiences', { ...token2, aud: 'baz' })).toBe(false);
  });
  it('JWT attributes are HTTP-only: an ALLOW rule using them is dropped at ztunnel', () => {
    expect(allows(e, ztunnel('foo', { app: 'httpbin' }), { jwt: token1 })).toBe(false);
  });
});

describe('trust-domain aliases (bundle_test TestReplaceTrustDomainAliases through the engine)', () => {
  const p = (principal: string) =>
    policy('foo/p', `rules: [{from: [{source: {principals: [${JSON.stringify(principal)}]}}]}]`);

  it('"One trust domain alias, one principal": td2 with alias td1 accepts both', () => {
    const e = engineFrom(p('td1/ns/foo/sa/bar'), { trustDomain: 'td2', trustDomainAliases: ['td1'] });
    expect(allows(e, w, { source: { principal: spiffe('foo', 'bar', 'td1') } })).toBe(true);
    expect(allows(e, w, { source: { principal: spiffe('foo', 'bar', 'td2') } })).toBe(true);
    expect(allows(e, w, { source: { principal: spiffe('foo', 'bar', 'td3') } })).toBe(false);
  });

  it('"cluster.local" points at the current trust domain: with td1 and no cluster.local alias, literal cluster.local no longer matches', () => {
    const e = engineFrom(p('cluster.local/ns/foo/sa/bar'), { trustDomain: 'td1' });
    expect(allows(e, w, { source: { principal: spiffe('foo', 'bar', 'td1') } })).toBe(true);
    expect(allows(e, w, { source: { principal: spiffe('foo', 'bar', 'cluster.local') } })).toBe(false);
  });

  it('authz-td-migration task: old-td with alias, and the workload trust domain overrides the mesh default', () => {
    const e = engineFrom(p('old-td/ns/default/sa/sleep'), { trustDomainAliases: ['old-td'] });
    const wTd = { ...w, trustDomain: 'new-td' };
    expect(allows(e, wTd, { source: { principal: spiffe('default', 'sleep', 'new-td') } })).toBe(true);
    expect(allows(e, wTd, { source: { principal: spiffe('default', 'sleep', 'old-td') } })).toBe(true);
    // Without the alias the old principal is kept as written and the new trust domain is refused.
    const strict = engineFrom(p('old-td/ns/default/sa/sleep'));
    expect(allows(strict, wTd, { source: { principal: spiffe('default', 'sleep', 'new-td') } })).toBe(false);
  });

  it('"Principals not match any trust domains" stay verbatim; "*" trust domains are not rewritten', () => {
    const e = engineFrom(p('some-td/ns/foo/sa/bar'), { trustDomain: 'td1', trustDomainAliases: ['td2'] });
    expect(allows(e, w, { source: { principal: spiffe('foo', 'bar', 'some-td') } })).toBe(true);
    expect(allows(e, w, { source: { principal: spiffe('foo', 'bar', 'td1') } })).toBe(false);
    const any = engineFrom(p('*/ns/foo/sa/bar'), { trustDomain: 'td1' });
    expect(allows(any, w, { source: { principal: spiffe('foo', 'bar', 'whatever') } })).toBe(true);
  });

  it('source.principal conditions and trustDomains are rewritten/expanded too (builder td-aliases-source-principal, trust-domains)', () => {
    const e = engineFrom(
      policy(
        'foo/p',
        `rules:
- when: [{key: source.principal, values: ["cluster.local/ns/foo/sa/a"]}]
- from: [{source: {trustDomains: ["td1"]}}]
  to: [{operation: {paths: ["/td"]}}]`,
      ),
      { trustDomain: 'td1', trustDomainAliases: ['td2'] },
    );
    expect(allows(e, w, { source: { principal: spiffe('foo', 'a', 'td2') } })).toBe(true);
    expect(allows(e, w, { path: '/td', source: { principal: spiffe('x', 'y', 'td2') } })).toBe(true);
    expect(allows(e, w, { path: '/td', source: { principal: spiffe('x', 'y', 'td3') } })).toBe(false);
  });
});

describe('builder testdata with trust-domain bundles (builder_test.go TestGenerator_GenerateHTTP)', () => {
  it('trust-domain-wildcard-in-principal: "*bar/..." with bundle [td1, foobar] → exact td1/... or suffix-regex *bar/...', () => {
    const e = engineFrom(
      policy(
        'foo/httpbin',
        'rules:\n- from:\n  - source: {principals: ["*/ns/foo/sa/p0", "*bar/ns/foo/sa/p1"]}',
      ),
      { trustDomain: 'td1', trustDomainAliases: ['foobar'] },
    );
    expect(allows(e, w, { source: { principal: 'spiffe://td1/ns/foo/sa/p1' } })).toBe(true);
    expect(allows(e, w, { source: { principal: 'spiffe://xbar/ns/foo/sa/p1' } })).toBe(true);
    expect(allows(e, w, { source: { principal: 'spiffe://td2/ns/foo/sa/p1' } })).toBe(false);
    expect(allows(e, w, { source: { principal: 'spiffe://any/ns/foo/sa/p0' } })).toBe(true);
  });

  it('trust-domains-in: trustDomains [cluster.local, another.local] OR notTrustDomains [bad*, untrusted]', () => {
    const e = engineFrom(
      policy(
        'foo/httpbin',
        'rules:\n- from:\n  - source: {trustDomains: ["cluster.local", "another.local"]}\n  - source: {notTrustDomains: ["bad*", "untrusted"]}',
      ),
    );
    expect(allows(e, w, { source: { principal: 'spiffe://another.local/ns/a/sa/b' } })).toBe(true);
    expect(allows(e, w, { source: { principal: 'spiffe://other/ns/a/sa/b' } })).toBe(true);
    expect(allows(e, w, { source: { principal: 'spiffe://badland/ns/a/sa/b' } })).toBe(false);
    expect(allows(e, w, { source: { principal: 'spiffe://untrusted/ns/a/sa/b' } })).toBe(false);
    // Plaintext: the first source needs an identity, the second (only not-forms) matches.
    expect(allows(e, w, { source: { principal: null } })).toBe(true);
  });
});
