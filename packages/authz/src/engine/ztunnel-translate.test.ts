import { ipToBytes, parseIp } from '@ambient-kit/ip';
import type { AuthorizationMatch } from '@ambient-kit/workload-api/codec';
import { describe, expect, it } from 'vitest';
import { parsePolicies } from './parse.js';
import type { AuthorizationPolicy } from './policy.js';
import { translateForZtunnel, type ZtunnelTranslation } from './ztunnel-translate.js';

function one(yaml: string): AuthorizationPolicy {
  const r = parsePolicies(yaml);
  if (r.isErr()) throw new Error(r.error.map(String).join('\n'));
  return r.value[0] as AuthorizationPolicy;
}

// Renders a translation (workload-api's Authorization model) like istio's golden files (protomarshal.ToYAML):
// empty lists omitted, enums by their proto names, addresses as the base64 of their bytes, presence as {}.
const SCOPE = { Global: 'GLOBAL', Namespace: 'NAMESPACE', WorkloadSelector: 'WORKLOAD_SELECTOR' } as const;
function golden(t: ZtunnelTranslation): unknown {
  if (!t.sent) return { skipped: t.reason };
  const a = t.authorization;
  const match = (m: AuthorizationMatch): Record<string, unknown> => {
    const out: Record<string, unknown> = {};
    for (const [k, v] of Object.entries(m) as [string, unknown[]][]) {
      if (v.length === 0) continue;
      out[k] = v.map((x) => {
        if (typeof x === 'number') return x;
        if (typeof x === 'object' && x !== null && 'address' in x) {
          const addr = x as { address: string; length: number };
          const ip = parseIp(addr.address);
          if (ip === undefined) throw new Error(`not canonical IP text: ${addr.address}`);
          return { address: Buffer.from(ipToBytes(ip)).toString('base64'), length: addr.length };
        }
        if (typeof x === 'object' && x !== null && 'presence' in x) return { presence: {} };
        return x;
      });
    }
    return out;
  };
  return {
    name: a.name,
    namespace: a.namespace,
    scope: SCOPE[a.scope],
    action: a.action.toUpperCase(),
    dryRun: a.dryRun,
    groups: a.groups.map((g) => ({ rules: g.rules.map((r) => ({ matches: r.matches.map(match) })) })),
  };
}

const header = (name: string, ns = 'cfg'): string =>
  `apiVersion: security.istio.io/v1\nkind: AuthorizationPolicy\nmetadata:\n  name: ${name}\n  namespace: ${ns}\n`;

describe('translateForZtunnel: istio pilot/pkg/serviceregistry/ambient/testdata (TestRBACConvert)', () => {
  it('allow-full-in.yaml → allow-full.yaml: every field, L7 rules dropped from an ALLOW policy', () => {
    const policy = one(`${header('allow')}spec:
  action: ALLOW
  rules:
  - from:
    - source:
        principals: [ "principal", "principal-prefix-*", "*-suffix-principal", "*" ]
        notPrincipals: [ "not-principal", "not-principal-prefix-*", "*-suffix-not-principal", "*" ]
  - from:
    - source:
        serviceAccounts: [ "ns/sa", "sa-only" ]
        notServiceAccounts: [ "ns/sa-not", "sa-not-only" ]
  - from:
    - source:
        requestPrincipals: [ "requestPrincipals", "*" ]
        notRequestPrincipals: [ "not-requestPrincipals", "*" ]
  - from:
    - source:
        namespaces: [ "ns", "ns-prefix-*", "*-ns-suffix", "*" ]
        notNamespaces: [ "not-ns", "not-ns-prefix-*", "*-not-ns-suffix", "*" ]
  - from:
    - source:
        ipBlocks: [ "1.2.3.4", "5.6.0.0/16" ]
        notIpBlocks: [ "2.2.3.4", "6.6.0.0/16" ]
  - from:
    - source:
        remoteIpBlocks: [ "1.2.3.4", "5.6.0.0/16" ]
        notRemoteIpBlocks: [ "2.2.3.4", "6.6.0.0/16" ]
  - to:
    - operation:
        methods: ["method", "method-prefix-*", "*-suffix-method", "*"]
  - to:
    - operation:
        hosts: ["exact.com", "*.suffix.com", "prefix.*", "*"]
  - to:
    - operation:
        ports: ["80", "90"]
        notPorts: ["800", "900"]
  - to:
    - operation:
        paths: ["/exact", "/prefix/*", "*/suffix", "*"]
  - when:
    - key: "request.headers[X-header]"
      values: ["header", "*"]
  - when:
    - key: "source.ip"
      values: ["10.10.10.10", "192.168.10.0/24"]
      notValues: ["90.10.10.10", "90.168.10.0/24"]
  - when:
    - key: "remote.ip"
      values: ["10.10.10.10"]
  - when:
    - key: "source.namespace"
      values: ["ns", "ns-prefix-*", "*-ns-suffix", "*"]
      notValues: ["not-ns", "not-ns-prefix-*", "*-not-ns-suffix", "*"]
  - when:
    - key: "source.principal"
      values: ["principal", "principal-prefix-*", "*-suffix-principal", "*"]
      notValues: ["not-principal", "not-principal-prefix-*", "*-not-suffix-principal", "*"]
  - when:
    - key: "request.auth.claims[iss]"
      values: ["iss"]
  - when:
    - key: "destination.ip"
      values: ["10.10.10.10", "192.168.10.0/24"]
      notValues: ["90.10.10.10", "90.168.10.0/24"]
  - when:
    - key: "destination.port"
      values: ["91", "92"]
      notValues: ["9001", "9002"]
  - when:
    - key: "connection.sni"
      values: ["exact.com"]
  - when:
    - key: "experimental.envoy.filters.a.b[c]"
      values: ["exact"]
`);
    const sm = (p: string, x: string) => [
      { exact: p },
      { prefix: `${p}-prefix-` },
      { suffix: x },
      { presence: {} },
    ];
    expect(golden(translateForZtunnel(policy, { rootNamespace: 'test-system' }))).toEqual({
      name: 'allow',
      namespace: 'cfg',
      scope: 'NAMESPACE',
      action: 'ALLOW',
      dryRun: false,
      groups: [
        {
          rules: [
            {
              matches: [
                {
                  principals: sm('principal', '-suffix-principal'),
                  notPrincipals: sm('not-principal', '-suffix-not-principal'),
                },
              ],
            },
          ],
        },
        {
          rules: [
            {
              matches: [
                {
                  serviceAccounts: [
                    { namespace: 'ns', serviceAccount: 'sa' },
                    { namespace: 'cfg', serviceAccount: 'sa-only' },
                  ],
                  notServiceAccounts: [
                    { namespace: 'ns', serviceAccount: 'sa-not' },
                    { namespace: 'cfg', serviceAccount: 'sa-not-only' },
                  ],
                },
              ],
            },
          ],
        },
        {
          rules: [
            {
              matches: [
                {
                  namespaces: [
                    { exact: 'ns' },
                    { prefix: 'ns-prefix-' },
                    { suffix: '-ns-suffix' },
                    { presence: {} },
                  ],
                  notNamespaces: [
                    { exact: 'not-ns' },
                    { prefix: 'not-ns-prefix-' },
                    { suffix: '-not-ns-suffix' },
                    { presence: {} },
                  ],
                },
              ],
            },
          ],
        },
        {
          rules: [
            {
              matches: [
                {
                  sourceIps: [
                    { address: 'AQIDBA==', length: 32 },
                    { address: 'BQYAAA==', length: 16 },
                  ],
                  notSourceIps: [
                    { address: 'AgIDBA==', length: 32 },
                    { address: 'BgYAAA==', length: 16 },
                  ],
                },
              ],
            },
          ],
        },
        { rules: [{ matches: [{ destinationPorts: [80, 90], notDestinationPorts: [800, 900] }] }] },
        {
          rules: [
            {
              matches: [
                {
                  sourceIps: [
                    { address: 'CgoKCg==', length: 32 },
                    { address: 'wKgKAA==', length: 24 },
                  ],
                  notSourceIps: [
                    { address: 'WgoKCg==', length: 32 },
                    { address: 'WqgKAA==', length: 24 },
                  ],
                },
              ],
            },
          ],
        },
        {
          rules: [
            {
              matches: [
                {
                  namespaces: [
                    { exact: 'ns' },
                    { prefix: 'ns-prefix-' },
                    { suffix: '-ns-suffix' },
                    { presence: {} },
                  ],
                  notNamespaces: [
                    { exact: 'not-ns' },
                    { prefix: 'not-ns-prefix-' },
                    { suffix: '-not-ns-suffix' },
                    { presence: {} },
                  ],
                },
              ],
            },
          ],
        },
        {
          rules: [
            {
              matches: [
                {
                  principals: sm('principal', '-suffix-principal'),
                  notPrincipals: sm('not-principal', '-not-suffix-principal'),
                },
              ],
            },
          ],
        },
        {
          rules: [
            {
              matches: [
                {
                  destinationIps: [
                    { address: 'CgoKCg==', length: 32 },
                    { address: 'wKgKAA==', length: 24 },
                  ],
                  notDestinationIps: [
                    { address: 'WgoKCg==', length: 32 },
                    { address: 'WqgKAA==', length: 24 },
                  ],
                },
              ],
            },
          ],
        },
        { rules: [{ matches: [{ destinationPorts: [91, 92], notDestinationPorts: [9001, 9002] }] }] },
      ],
    });
  });

  const groupsIn = (action: string): string => `${header('groups')}spec:
  action: ${action}
  rules:
  # Has mix of L4 and L7 in from
  - from:
    - source:
        principals: ["from-mix-principal"]
        requestPrincipals: ["from-mix-requestPrincipals"]
        namespaces: ["from-mix-ns"]
    to:
    - operation:
        ports: ["80"]
  # Has mix of L4 and L7 in to
  - from:
    - source:
        principals: ["to-mix-principal"]
        namespaces: ["to-mix-ns"]
    to:
    - operation:
        ports: ["80"]
        methods: ["to-mix-method"]
  # Only L4
  - from:
    - source:
        principals: ["only-l4-principals"]
        namespaces: ["only-l4-ns"]
    to:
    - operation:
        ports: ["80"]
  # Only L7
  - from:
    - source:
        requestPrincipals: ["l7-principal"]
    to:
    - operation:
        paths: ["/l7-foo"]
        methods: ["l7-method"]
  # L4 and L7 when
  - when:
    - key: "source.namespace"
      values: ["when-l4-l7-ns"]
    - key: "connection.sni"
      values: [ "when-l7-sni"]
  # L4 only when
  - when:
    - key: "source.namespace"
      values: ["when-l4-ns"]
    - key: "source.ip"
      values: ["10.10.10.10"]
      ${action === 'DENY' ? 'notValues: ["20.20.20.20"]' : ''}
  # L7 only when
  - when:
    - key: "connection.sni"
      values: [ "when-l7-sni"]
    - key: "request.headers[X-header]"
      values: ["when-l7-header"]
`;

  it('allow-groups-in.yaml → allow-groups.yaml: only the L4-only rules survive', () => {
    expect(golden(translateForZtunnel(one(groupsIn('ALLOW'))))).toEqual({
      name: 'groups',
      namespace: 'cfg',
      scope: 'NAMESPACE',
      action: 'ALLOW',
      dryRun: false,
      groups: [
        {
          rules: [
            { matches: [{ destinationPorts: [80] }] },
            {
              matches: [
                { namespaces: [{ exact: 'only-l4-ns' }], principals: [{ exact: 'only-l4-principals' }] },
              ],
            },
          ],
        },
        {
          rules: [
            { matches: [{ namespaces: [{ exact: 'when-l4-ns' }] }] },
            { matches: [{ sourceIps: [{ address: 'CgoKCg==', length: 32 }] }] },
          ],
        },
      ],
    });
  });

  it('deny-groups-in.yaml → deny-groups.yaml: DENY keeps the L4 part, L7-only entries become empty matches', () => {
    expect(golden(translateForZtunnel(one(groupsIn('DENY'))))).toEqual({
      name: 'groups',
      namespace: 'cfg',
      scope: 'NAMESPACE',
      action: 'DENY',
      dryRun: false,
      groups: [
        {
          rules: [
            { matches: [{ destinationPorts: [80] }] },
            {
              matches: [
                { namespaces: [{ exact: 'from-mix-ns' }], principals: [{ exact: 'from-mix-principal' }] },
              ],
            },
          ],
        },
        {
          rules: [
            { matches: [{ destinationPorts: [80] }] },
            {
              matches: [
                { namespaces: [{ exact: 'to-mix-ns' }], principals: [{ exact: 'to-mix-principal' }] },
              ],
            },
          ],
        },
        {
          rules: [
            { matches: [{ destinationPorts: [80] }] },
            {
              matches: [
                { namespaces: [{ exact: 'only-l4-ns' }], principals: [{ exact: 'only-l4-principals' }] },
              ],
            },
          ],
        },
        { rules: [{ matches: [{}] }, { matches: [{}] }] },
        { rules: [{ matches: [{ namespaces: [{ exact: 'when-l4-l7-ns' }] }] }, { matches: [{}] }] },
        {
          rules: [
            { matches: [{ namespaces: [{ exact: 'when-l4-ns' }] }] },
            {
              matches: [
                {
                  sourceIps: [{ address: 'CgoKCg==', length: 32 }],
                  notSourceIps: [{ address: 'FBQUFA==', length: 32 }],
                },
              ],
            },
          ],
        },
        { rules: [{ matches: [{}] }, { matches: [{}] }] },
      ],
    });
  });

  it('groupRuleIndex maps each group back to its spec.rules entry', () => {
    const t = translateForZtunnel(one(groupsIn('ALLOW')));
    expect(t.sent && t.groupRuleIndex).toEqual([2, 5]);
  });
});

describe('translateForZtunnel: scopes and skipped policies (istio ambient convertAuthorizationPolicy)', () => {
  it('GLOBAL in the root namespace, NAMESPACE elsewhere, WORKLOAD_SELECTOR with a selector', () => {
    const p = (ns: string, sel = '') => one(`${header('p', ns)}spec:\n${sel}  rules: [{}]\n`);
    const scope = (t: ZtunnelTranslation) => (t.sent ? SCOPE[t.authorization.scope] : t.reason);
    expect(scope(translateForZtunnel(p('istio-system')))).toBe('GLOBAL');
    expect(scope(translateForZtunnel(p('istio-system'), { rootNamespace: 'istio-config' }))).toBe(
      'NAMESPACE',
    );
    expect(scope(translateForZtunnel(p('istio-config'), { rootNamespace: 'istio-config' }))).toBe('GLOBAL');
    expect(scope(translateForZtunnel(p('foo')))).toBe('NAMESPACE');
    expect(scope(translateForZtunnel(p('foo', '  selector: {matchLabels: {app: a}}\n')))).toBe(
      'WORKLOAD_SELECTOR',
    );
    expect(scope(translateForZtunnel(p('istio-system', '  selector: {matchLabels: {app: a}}\n')))).toBe(
      'WORKLOAD_SELECTOR',
    );
  });

  it('"no status - targetRef is not for ztunnel": targetRef and targetRefs policies are not sent', () => {
    const t1 = translateForZtunnel(
      one(`${header('p', 'foo')}spec:\n  targetRef: {kind: Service, name: test-svc}\n  rules: [{}]\n`),
    );
    expect(t1).toMatchObject({ sent: false, reason: 'targetRefs' });
    const t2 = translateForZtunnel(
      one(
        `${header('p', 'foo')}spec:\n  targetRefs: [{kind: Gateway, group: gateway.networking.k8s.io, name: w}]\n`,
      ),
    );
    expect(t2).toMatchObject({ sent: false, reason: 'targetRefs' });
  });

  it('"unsupported AUDIT action" / "unsupported CUSTOM action": status "ztunnel does not support the X action"', () => {
    const audit = translateForZtunnel(one(`${header('p', 'foo')}spec:\n  action: AUDIT\n  rules: [{}]\n`));
    expect(audit).toEqual({
      sent: false,
      reason: 'unsupported-action',
      message: 'ztunnel does not support the AUDIT action',
    });
    const custom = translateForZtunnel(
      one(`${header('p', 'foo')}spec:\n  action: CUSTOM\n  provider: {name: ext}\n  rules: [{}]\n`),
    );
    expect(custom).toEqual({
      sent: false,
      reason: 'unsupported-action',
      message: 'ztunnel does not support the CUSTOM action',
    });
  });

  it('dry-run: not sent unless AMBIENT_ENABLE_DRY_RUN_AUTHORIZATION_POLICY; then sent with dryRun (releasenotes authz-dry-run-ambient)', () => {
    const p = one(
      `${header('dry', 'foo')}  annotations: {"istio.io/dry-run": "true"}\nspec:\n  action: DENY\n  rules: [{}]\n`,
    );
    expect(translateForZtunnel(p)).toEqual({
      sent: false,
      reason: 'dry-run-disabled',
      message:
        'found policy "foo/dry" using dry-run annotation, but support for ambient dry-run authorizationPolicies isn\'t enabled',
    });
    const on = translateForZtunnel(p, { enableDryRun: true });
    expect(on.sent && on.authorization.dryRun).toBe(true);
    // strconv.ParseBool: "False" is false, so the policy is an ordinary one.
    const notDry = one(
      `${header('x', 'foo')}  annotations: {"istio.io/dry-run": "False"}\nspec:\n  rules: [{}]\n`,
    );
    expect(translateForZtunnel(notDry)).toMatchObject({ sent: true, authorization: { dryRun: false } });
  });

  it('allow-all (rules: [{}]) is one group with no clauses; allow-nothing (spec: {}) has no groups', () => {
    const all = translateForZtunnel(one(`${header('all', 'foo')}spec:\n  rules: [{}]\n`));
    expect(all.sent && all.authorization.groups).toEqual([{ rules: [] }]);
    const nothing = translateForZtunnel(one(`${header('nothing', 'foo')}spec: {}\n`));
    expect(nothing.sent && nothing.authorization.groups).toEqual([]);
  });

  it('every Match list is present (possibly empty), with istio proto field names', () => {
    const t = translateForZtunnel(
      one(`${header('p', 'foo')}spec:\n  rules: [{to: [{operation: {ports: ["80"]}}]}]\n`),
    );
    const m = t.sent ? t.authorization.groups[0]?.rules[0]?.matches[0] : undefined;
    expect(Object.keys(m ?? {}).sort()).toEqual(
      [
        'namespaces',
        'notNamespaces',
        'serviceAccounts',
        'notServiceAccounts',
        'principals',
        'notPrincipals',
        'sourceIps',
        'notSourceIps',
        'destinationIps',
        'notDestinationIps',
        'destinationPorts',
        'notDestinationPorts',
      ].sort(),
    );
  });

  it('IPv6 addresses are kept canonical (RFC 5952), host bits as written; an address without / gets its full length (stringToIP)', () => {
    const t = translateForZtunnel(
      one(
        `${header('p', 'foo')}spec:\n  rules: [{from: [{source: {ipBlocks: ["2001:DB8:0::1", "2001:db8::5/32", "10.1.2.3/8"]}}]}]\n`,
      ),
    );
    const ips = t.sent ? t.authorization.groups[0]?.rules[0]?.matches[0]?.sourceIps : [];
    expect(ips).toEqual([
      { address: '2001:db8::1', length: 128 },
      { address: '2001:db8::5', length: 32 },
      { address: '10.1.2.3', length: 8 },
    ]);
  });

  it('principal values are copied verbatim: no spiffe:// and no trust-domain alias rewriting ("// TODO: TDA")', () => {
    const t = translateForZtunnel(
      one(
        `${header('p', 'foo')}spec:\n  rules: [{from: [{source: {principals: ["cluster.local/ns/a/sa/b"]}}]}]\n`,
      ),
    );
    expect(t.sent && t.authorization.groups[0]?.rules[0]?.matches[0]?.principals).toEqual([
      { exact: 'cluster.local/ns/a/sa/b' },
    ]);
  });

  it('trustDomains are neither translated nor flagged (istiod handleRule drops them silently): an ALLOW rule using only them has an empty match', () => {
    const t = translateForZtunnel(
      one(`${header('p', 'foo')}spec:\n  rules: [{from: [{source: {trustDomains: ["td"]}}]}]\n`),
    );
    expect(t.sent && t.warning).toBeUndefined();
    expect(golden(t)).toMatchObject({ groups: [{ rules: [{ matches: [{}] }] }] });
  });
});

describe('translateForZtunnel: status messages (istio TestConvertAuthorizationPolicyStatus)', () => {
  const warning = (yaml: string): string | undefined => {
    const t = translateForZtunnel(one(yaml));
    return t.sent ? t.warning : `not sent: ${t.reason}`;
  };
  const prefix = (found: string) =>
    `ztunnel does not support HTTP attributes (found: ${found}). In ambient mode you must use a waypoint proxy to enforce HTTP rules. `;

  it('"no status - policy is fine"', () => {
    expect(
      warning(
        `${header('p', 'foo')}spec:\n  rules: [{from: [{source: {principals: ["trust/ns/echo-1234/"]}}], to: [{operation: {ports: ["80"]}}]}]\n`,
      ),
    ).toBeUndefined();
  });

  it('"unsupported HTTP methods": ALLOW with requestPrincipals, methods and request.auth.presenter', () => {
    expect(
      warning(`${header('p', 'foo')}spec:
  rules:
  - from: [{source: {requestPrincipals: ["example.com/sub-1"]}}]
    to: [{operation: {methods: ["GET"]}}]
    when: [{key: request.auth.presenter, values: ["presenter.example.com"]}]
`),
    ).toBe(
      `${prefix('methods, request.auth.presenter, requestPrincipals')}Within an ALLOW policy, rules matching HTTP attributes are omitted. This will be more restrictive than requested.`,
    );
  });

  it('"DENY policy with only L4 attributes - no status warning"', () => {
    expect(
      warning(
        `${header('p', 'foo')}spec:\n  action: DENY\n  rules: [{from: [{source: {principals: ["cluster.local/ns/foo/sa/bar"]}}]}]\n`,
      ),
    ).toBeUndefined();
  });

  const noEffect =
    'After omitting unsupported HTTP attributes, this DENY policy has no enforceable rules at ztunnel and will have no effect. Deploy a waypoint proxy and use a targetRef to enforce this policy.';
  const mixed =
    'DENY policy with HTTP attributes is enforced without the HTTP rules. This will be more restrictive than requested.';

  it('"DENY policy with only L7 attributes results in no effect at ztunnel"', () => {
    expect(
      warning(
        `${header('p', 'foo')}spec:\n  action: DENY\n  rules: [{from: [{source: {notRequestPrincipals: ["example.com/sub-1"]}}]}]\n`,
      ),
    ).toBe(`${prefix('notRequestPrincipals')}${noEffect}`);
  });

  it('"DENY policy with mixed L4 and L7 attributes is enforced without HTTP rules"', () => {
    expect(
      warning(
        `${header('p', 'foo')}spec:\n  action: DENY\n  rules: [{from: [{source: {principals: ["cluster.local/ns/foo/sa/bar"], notRequestPrincipals: ["example.com/sub-1"]}}]}]\n`,
      ),
    ).toBe(`${prefix('notRequestPrincipals')}${mixed}`);
  });

  it('"DENY policy with L7-only and separate L4 rule is still enforced"', () => {
    expect(
      warning(`${header('p', 'foo')}spec:
  action: DENY
  rules:
  - from: [{source: {notRequestPrincipals: ["example.com/sub-1"]}}]
  - from: [{source: {principals: ["cluster.local/ns/foo/sa/bar"]}}]
`),
    ).toBe(`${prefix('notRequestPrincipals')}${mixed}`);
  });

  it('"DENY policy with empty catch-all rule and L7-only rule is still enforced"', () => {
    expect(
      warning(`${header('p', 'foo')}spec:
  action: DENY
  rules:
  - {}
  - from: [{source: {notRequestPrincipals: ["example.com/sub-1"]}}]
`),
    ).toBe(`${prefix('notRequestPrincipals')}${mixed}`);
  });

  it('"DENY policy with L4 From and L7 When is a no-op due to AND empty clause"', () => {
    expect(
      warning(`${header('p', 'foo')}spec:
  action: DENY
  rules:
  - from: [{source: {principals: ["cluster.local/ns/foo/sa/bar"]}}]
    when: [{key: "request.headers[x-token]", values: ["secret"]}]
`),
    ).toBe(`${prefix('request.headers[x-token]')}${noEffect}`);
  });

  it('"DENY policy with L4 From and L7-only To methods is a no-op due to AND empty clause"', () => {
    expect(
      warning(`${header('p', 'foo')}spec:
  action: DENY
  rules:
  - from: [{source: {principals: ["cluster.local/ns/foo/sa/bar"]}}]
    to: [{operation: {methods: ["GET"]}}]
`),
    ).toBe(`${prefix('methods')}${noEffect}`);
  });
});
