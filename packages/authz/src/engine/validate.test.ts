// Validation cases carried over from istio/istio@86c9f01f:pkg/config/validation/validation_test.go
// (TestValidateAuthorizationPolicy, by case name) and pkg/config/security/security_test.go, plus the CRD
// schema in istio/api (MaxItems, CEL rules, PolicyTargetReference patterns).
import { describe, expect, it } from 'vitest';
import { PolicyError } from './errors.js';
import { validatePolicies, validatePolicy } from './validate.js';

const meta = { name: 'p', namespace: 'foo' };
const ap = (spec: unknown, extra: Record<string, unknown> = {}) => ({
  apiVersion: 'security.istio.io/v1',
  kind: 'AuthorizationPolicy',
  metadata: meta,
  spec,
  ...extra,
});
const errorsOf = (value: unknown): PolicyError[] => {
  const r = validatePolicy(value);
  return r.isErr() ? r.error : [];
};
const valid = (spec: unknown, extra?: Record<string, unknown>): boolean =>
  validatePolicy(ap(spec, extra)).isOk();

describe('TestValidateAuthorizationPolicy cases', () => {
  const cases: [string, unknown, boolean][] = [
    [
      'good',
      {
        selector: { matchLabels: { app: 'httpbin', version: 'v1' } },
        rules: [
          {
            from: [
              {
                source: {
                  principals: ['sa1'],
                  requestPrincipals: ['rp1'],
                  namespaces: ['ns1'],
                  ipBlocks: ['1.2.3.4'],
                },
              },
            ],
            to: [{ operation: { methods: ['GET'], paths: ['/path1'], hosts: ['host1'], ports: ['80'] } }],
            when: [
              { key: 'source.ip', values: ['1.2.3.4', '5.6.7.0/24'] },
              { key: 'request.headers[:authority]', values: ['v1'] },
            ],
          },
        ],
      },
      true,
    ],
    ['good serviceAccounts', { rules: [{ from: [{ source: { serviceAccounts: ['ns/sa', 'sa'] } }] }] }, true],
    [
      'serviceAccounts and namespaces',
      { rules: [{ from: [{ source: { serviceAccounts: ['sa'], namespaces: ['ns'] } }] }] },
      false,
    ],
    [
      'serviceAccounts and principals',
      { rules: [{ from: [{ source: { notServiceAccounts: ['sa'], principals: ['p'] } }] }] },
      false,
    ],
    [
      'serviceAccounts with wildcard',
      { rules: [{ from: [{ source: { serviceAccounts: ['ns/*'] } }] }] },
      false,
    ],
    [
      'serviceAccounts with two slashes',
      { rules: [{ from: [{ source: { serviceAccounts: ['a/b/c'] } }] }] },
      false,
    ],
    [
      'serviceAccounts more than 16',
      {
        rules: [{ from: [{ source: { serviceAccounts: Array.from({ length: 17 }, (_, i) => `sa${i}`) } }] }],
      },
      false,
    ],
    [
      'serviceAccounts longer than 320',
      { rules: [{ from: [{ source: { serviceAccounts: ['x'.repeat(321)] } }] }] },
      false,
    ],
    ['custom-good', { action: 'CUSTOM', provider: { name: 'my-custom-authz' }, rules: [{}] }, true],
    ['custom-empty-provider', { action: 'CUSTOM', provider: { name: '' }, rules: [{}] }, false],
    ['custom-nil-provider', { action: 'CUSTOM', rules: [{}] }, false],
    [
      'custom-invalid-rule',
      {
        action: 'CUSTOM',
        provider: { name: 'my-custom-authz' },
        rules: [
          {
            from: [
              {
                source: {
                  namespaces: ['ns'],
                  notNamespaces: ['ns'],
                  principals: ['id'],
                  notPrincipals: ['id'],
                  requestPrincipals: ['req'],
                  notRequestPrincipals: ['req'],
                },
              },
            ],
            when: [
              { key: 'source.namespace', values: ['source.namespace1'], notValues: ['source.namespace2'] },
              { key: 'source.principal', values: ['source.principal1'], notValues: ['source.principal2'] },
              { key: 'request.auth.claims[a]', values: ['claims1'], notValues: ['claims2'] },
            ],
          },
        ],
      },
      false,
    ],
    ['custom without rules', { action: 'CUSTOM', provider: { name: 'x' } }, false],
    ['provider-wrong-action', { action: 'ALLOW', provider: { name: 'x' }, rules: [{}] }, false],
    ['allow-rules-nil', { action: 'ALLOW' }, true],
    ['deny-rules-nil', { action: 'DENY' }, false],
    ['deny-rules-empty-list', { action: 'DENY', rules: [] }, false],
    ['audit without rules', { action: 'AUDIT' }, true],
    ['selector-empty-value', { selector: { matchLabels: { app: '', version: 'v1' } } }, true],
    ['selector-empty-key', { selector: { matchLabels: { app: 'httpbin', '': 'v1' } } }, false],
    ['selector-empty-labels (a warning, not an error)', { selector: { matchLabels: {} } }, true],
    ['selector-wildcard-value', { selector: { matchLabels: { app: 'httpbin-*' } } }, false],
    ['selector-wildcard-key', { selector: { matchLabels: { 'app*': 'httpbin' } } }, false],
    [
      'target-ref-good',
      { targetRef: { group: 'gateway.networking.k8s.io', kind: 'Gateway', name: 'foo' } },
      true,
    ],
    [
      'target-refs-good',
      { targetRefs: [{ group: 'gateway.networking.k8s.io', kind: 'Gateway', name: 'foo' }] },
      true,
    ],
    ['target-refs-good-service', { targetRefs: [{ group: '', kind: 'Service', name: 'foo' }] }, true],
    [
      'target-refs-good-gatewayclass',
      { targetRefs: [{ group: 'gateway.networking.k8s.io', kind: 'GatewayClass', name: 'istio-waypoint' }] },
      true,
    ],
    [
      'target-refs-good-serviceentry',
      { targetRefs: [{ group: 'networking.istio.io', kind: 'ServiceEntry', name: 'foo' }] },
      true,
    ],
    [
      'target-ref-non-empty-namespace',
      { targetRef: { group: 'gateway.networking.k8s.io', kind: 'Gateway', name: 'foo', namespace: 'bar' } },
      false,
    ],
    [
      'target-ref-empty-name',
      { targetRef: { group: 'gateway.networking.k8s.io', kind: 'Gateway', name: '' } },
      false,
    ],
    ['target-ref-wrong-group', { targetRef: { group: 'wrong-group', kind: 'Gateway', name: 'foo' } }, false],
    [
      'target-ref-wrong-kind',
      { targetRef: { group: 'gateway.networking.k8s.io', kind: 'WrongKind', name: 'foo' } },
      false,
    ],
    [
      'target-refs more than 16',
      { targetRefs: Array.from({ length: 17 }, (_, i) => ({ kind: 'Service', name: `s${i}` })) },
      false,
    ],
    [
      'target-ref-and-selector-cannot-both-be-set',
      { selector: { matchLabels: { app: 'a' } }, targetRef: { kind: 'Service', name: 'a' } },
      false,
    ],
    [
      'target-refs-and-selector-cannot-both-be-set',
      { selector: { matchLabels: { app: 'a' } }, targetRefs: [{ kind: 'Service', name: 'a' }] },
      false,
    ],
    ['from-empty', { rules: [{ from: [] }] }, false],
    ['source-nil', { rules: [{ from: [{}] }] }, false],
    ['source-empty', { rules: [{ from: [{ source: {} }] }] }, false],
    ['to-empty', { rules: [{ to: [] }] }, false],
    ['operation-nil', { rules: [{ to: [{}] }] }, false],
    ['operation-empty', { rules: [{ to: [{ operation: {} }] }] }, false],
    ['rule-nil', { rules: [null] }, false],
    [
      'value-empty',
      { rules: [{ when: [{ key: 'request.headers[:authority]', values: ['v1', ''] }] }] },
      false,
    ],
    [
      'invalid ip and port in ipBlocks',
      {
        rules: [
          {
            from: [{ source: { ipBlocks: ['1.2.3.4', 'ip1'], notIpBlocks: ['5.6.7.8', 'ip2'] } }],
            to: [{ operation: { ports: ['80', 'port1'], notPorts: ['90', 'port2'] } }],
          },
        ],
      },
      false,
    ],
    [
      'invalid ip and port in remoteIpBlocks',
      { rules: [{ from: [{ source: { remoteIpBlocks: ['1.2.3.4', 'ip1'] } }] }] },
      false,
    ],
    ['condition-key-missing', { rules: [{ when: [{ values: ['v1'] }] }] }, false],
    ['condition-key-empty', { rules: [{ when: [{ key: '', values: ['v1'] }] }] }, false],
    ['condition-value-missing', { rules: [{ when: [{ key: 'source.principal' }] }] }, false],
    ['condition-value-invalid', { rules: [{ when: [{ key: 'source.ip', values: ['a.b.c.d'] }] }] }, false],
    [
      'condition-notValue-invalid',
      { rules: [{ when: [{ key: 'source.ip', notValues: ['a.b.c.d'] }] }] },
      false,
    ],
    [
      'condition-unknown',
      { selector: { matchLabels: { app: 'httpbin' } }, rules: [{ when: [{ key: 'key1', values: ['v1'] }] }] },
      false,
    ],
    [
      'L7DenyWithFrom (valid, with a warning)',
      { action: 'DENY', rules: [{ from: [{ source: { requestPrincipals: ['example.com/sub-1'] } }] }] },
      true,
    ],
    [
      'L7DenyWithTo (valid, with a warning)',
      { action: 'DENY', rules: [{ to: [{ operation: { methods: ['GET'] } }] }] },
      true,
    ],
    ['port out of range', { rules: [{ to: [{ operation: { ports: ['65536'] } }] }] }, false],
    [
      'port 0 and leading zeros are what ParseUint accepts',
      { rules: [{ to: [{ operation: { ports: ['0', '080'] } }] }] },
      true,
    ],
    [
      'destination.port condition',
      { rules: [{ when: [{ key: 'destination.port', values: ['-1'] }] }] },
      false,
    ],
    ['trust domain with slash', { rules: [{ from: [{ source: { trustDomains: ['a/b'] } }] }] }, false],
    [
      'trust domain with two wildcards',
      { rules: [{ from: [{ source: { trustDomains: ['*a*'] } }] }] },
      false,
    ],
    [
      'trust domain with a middle wildcard',
      { rules: [{ from: [{ source: { notTrustDomains: ['a*b'] } }] }] },
      false,
    ],
    [
      'source.trustDomain middle wildcard',
      { rules: [{ when: [{ key: 'source.trustDomain', values: ['a*b'] }] }] },
      false,
    ],
    [
      'source.serviceAccount wildcard',
      { rules: [{ when: [{ key: 'source.serviceAccount', values: ['*'] }] }] },
      false,
    ],
    [
      'destination.namespace is replaced by metadata.namespace',
      { rules: [{ when: [{ key: 'destination.namespace', values: ['a'] }] }] },
      false,
    ],
    [
      'destination.labels is replaced by the selector',
      { rules: [{ when: [{ key: 'destination.labels[app]', values: ['a'] }] }] },
      false,
    ],
    [
      'destination.name is v1alpha1 only',
      { rules: [{ when: [{ key: 'destination.name', values: ['a'] }] }] },
      false,
    ],
    [
      'request.headers without a name',
      { rules: [{ when: [{ key: 'request.headers[]', values: ['a'] }] }] },
      false,
    ],
    [
      'request.headers without brackets',
      { rules: [{ when: [{ key: 'request.headers', values: ['a'] }] }] },
      false,
    ],
    [
      'request.auth.claims nested',
      { rules: [{ when: [{ key: 'request.auth.claims[a][b]', values: ['x'] }] }] },
      true,
    ],
    [
      'experimental envoy filter key',
      { rules: [{ when: [{ key: 'experimental.envoy.filters.a.b[c]', values: ['x'] }] }] },
      true,
    ],
    [
      'experimental envoy filter key without brackets',
      { rules: [{ when: [{ key: 'experimental.envoy.filters.a', values: ['x'] }] }] },
      false,
    ],
    [
      'path template {**} not last',
      { rules: [{ to: [{ operation: { paths: ['/foo/{**}/bar/{*}'] } }] }] },
      false,
    ],
    [
      'path template with stray brace',
      { rules: [{ to: [{ operation: { paths: ['/foo/{bar}'] } }] }] },
      false,
    ],
    [
      'path template with invalid literal',
      { rules: [{ to: [{ operation: { notPaths: ['/foo/{*}/b*r'] } }] }] },
      false,
    ],
    [
      'path template good',
      { rules: [{ to: [{ operation: { paths: ['/foo/{*}/bar/{**}', '/store/{**}/cart'] } }] }] },
      true,
    ],
    ['rules more than 512', { rules: Array.from({ length: 513 }, () => ({})) }, false],
  ];
  for (const [name, spec, expected] of cases) {
    it(`"${name}" → ${expected ? 'valid' : 'invalid'}`, () => expect(valid(spec)).toBe(expected));
  }

  it('dry-run-valid-allow / -deny, dry-run-invalid-value, dry-run-invalid-action-custom / -audit', () => {
    const withAnnotation = (value: string, spec: unknown) =>
      validatePolicy({
        ...ap(spec),
        metadata: { ...meta, annotations: { 'istio.io/dry-run': value } },
      }).isOk();
    expect(withAnnotation('true', { action: 'ALLOW', rules: [{}] })).toBe(true);
    expect(withAnnotation('false', { action: 'DENY', rules: [{}] })).toBe(true);
    expect(withAnnotation('foo', { action: 'DENY', rules: [{}] })).toBe(false);
    expect(withAnnotation('true', { action: 'CUSTOM', provider: { name: 'p' }, rules: [{}] })).toBe(false);
    expect(withAnnotation('true', { action: 'AUDIT', rules: [{}] })).toBe(false);
  });
});

describe('schema (CRD structural schema, preserveUnknownFields: false)', () => {
  it('rejects unknown fields (a typo must not silently widen a rule)', () => {
    const errors = errorsOf(ap({ rules: [{ from: [{ source: { principles: ['x'] } }] }] }));
    expect(errors.map((e) => [e.code, e.path])).toContainEqual([
      'AUTHZ_ERR_SCHEMA',
      'spec.rules[0].from[0].source.principles',
    ]);
  });

  it('rejects numbers where the CRD wants strings, with a hint', () => {
    const errors = errorsOf(ap({ rules: [{ to: [{ operation: { ports: [80] } }] }] }));
    // Only the type error: no follow-up "`to.operation` must not be empty".
    expect(errors).toHaveLength(1);
    const [e] = errors;
    expect(e).toMatchObject({ code: 'AUTHZ_ERR_SCHEMA', path: 'spec.rules[0].to[0].operation.ports[0]' });
    expect(e?.message).toContain('quote it: "80"');
  });

  it('rejects an unknown action and a wrong kind or apiVersion', () => {
    expect(errorsOf(ap({ action: 'NOPE' }))[0]).toMatchObject({
      code: 'AUTHZ_ERR_SCHEMA',
      path: 'spec.action',
    });
    expect(errorsOf({ ...ap({}), kind: 'PeerAuthentication' })[0]?.code).toBe('AUTHZ_ERR_NOT_A_POLICY');
    expect(errorsOf({ ...ap({}), apiVersion: 'security.istio.io/v1alpha1' })[0]?.code).toBe(
      'AUTHZ_ERR_NOT_A_POLICY',
    );
    expect(errorsOf('text')[0]?.code).toBe('AUTHZ_ERR_NOT_A_POLICY');
  });

  it('requires metadata.name; defaults the namespace to "default" and apiVersion to v1', () => {
    expect(errorsOf({ kind: 'AuthorizationPolicy', metadata: {}, spec: {} })[0]).toMatchObject({
      path: 'metadata.name',
    });
    const r = validatePolicy({ kind: 'AuthorizationPolicy', metadata: { name: 'x' } });
    expect(r.isOk() && r.value).toMatchObject({
      apiVersion: 'security.istio.io/v1',
      metadata: { name: 'x', namespace: 'default' },
      spec: {},
    });
  });

  it('rejects invalid Kubernetes names', () => {
    expect(errorsOf({ ...ap({}), metadata: { name: 'Bad_Name', namespace: 'foo' } })[0]?.path).toBe(
      'metadata.name',
    );
    expect(errorsOf({ ...ap({}), metadata: { name: 'ok', namespace: 'a.b' } })[0]?.path).toBe(
      'metadata.namespace',
    );
  });

  it('reports every error at once, each with policy and path', () => {
    const errors = errorsOf(
      ap({
        action: 'DENY',
        rules: [
          {
            from: [{ source: { ipBlocks: ['bad'] } }],
            to: [{ operation: { ports: ['x'] } }],
            when: [{ key: 'nope', values: ['v'] }],
          },
        ],
      }),
    );
    expect(errors.map((e) => e.path)).toEqual([
      'spec.rules[0].from[0].source.ipBlocks[0]',
      'spec.rules[0].to[0].operation.ports[0]',
      'spec.rules[0].when[0].values',
    ]);
    expect(errors.every((e) => e.policy === 'foo/p' && e instanceof PolicyError)).toBe(true);
    expect(String(errors[0])).toBe(
      'foo/p: spec.rules[0].from[0].source.ipBlocks[0]: bad IP address (bad) [AUTHZ_ERR_INVALID_POLICY]',
    );
  });

  it('normalizes: null lists dropped, status ignored', () => {
    const r = validatePolicy(
      ap(
        { selector: null, rules: [{ from: null, to: [{ operation: { ports: ['80'], hosts: null } }] }] },
        { status: { x: 1 } },
      ),
    );
    expect(r.isOk() && r.value.spec).toEqual({ rules: [{ to: [{ operation: { ports: ['80'] } }] }] });
  });
});

describe('validatePolicies', () => {
  it('rejects duplicate namespace/name', () => {
    const r = validatePolicies([ap({}), ap({ rules: [{}] })]);
    expect(r.isErr() && r.error.map((e) => e.code)).toEqual(['AUTHZ_ERR_DUPLICATE_POLICY']);
  });
});
