// Every Source, Operation and Condition field at an Envoy proxy, with its not-form and absent attributes
// (docs/authz.md "Semantics in brief"). Sources named per test:
// istio/istio@86c9f01f:tests/integration/security/authz_test.go (+ testdata/authz templates),
// istio/istio@86c9f01f:pilot/pkg/security/authz/model/generator_test.go, matcher/*_test.go, and the api doc.
import { describe, expect, it } from 'vitest';
import { allows, decide, engineFrom, policy, sidecar, spiffe } from '../support.js';

const w = sidecar('foo', { app: 'b' });
const allowRule = (rule: string) =>
  engineFrom(policy('foo/p', `selector: {matchLabels: {app: b}}\nrules:\n- ${rule}`));

describe('rule structure (api Rule/Source/Operation docs; docs/authz.md "Semantics in brief")', () => {
  it('api example: principal OR namespace, AND (GET /info* OR POST /data), AND the iss claim', () => {
    const e = engineFrom(
      policy(
        'foo/httpbin',
        `action: ALLOW
rules:
- from:
  - source: {principals: ["cluster.local/ns/default/sa/sleep"]}
  - source: {namespaces: ["test"]}
  to:
  - operation: {methods: ["GET"], paths: ["/info*"]}
  - operation: {methods: ["POST"], paths: ["/data"]}
  when:
  - key: request.auth.claims[iss]
    values: ["https://accounts.google.com"]`,
      ),
    );
    const jwt = { iss: 'https://accounts.google.com', sub: 'x' };
    const sleep = { principal: spiffe('default', 'sleep') };
    expect(allows(e, w, { source: sleep, method: 'GET', path: '/info/a', jwt })).toBe(true);
    expect(
      allows(e, w, { source: { principal: spiffe('test', 'any') }, method: 'POST', path: '/data', jwt }),
    ).toBe(true);
    expect(allows(e, w, { source: sleep, method: 'POST', path: '/info', jwt })).toBe(false);
    expect(allows(e, w, { source: sleep, method: 'GET', path: '/info' })).toBe(false);
    expect(
      allows(e, w, { source: { principal: spiffe('other', 'sleep') }, method: 'GET', path: '/info', jwt }),
    ).toBe(false);
  });

  it('fields of one Operation are AND-ed, entries of `to` OR-ed (docs/authz.md "Semantics in brief"; it TestAuthz_IngressGateway rule 2)', () => {
    const e = engineFrom(
      policy(
        'istio-system/deny',
        `selector: {matchLabels: {app: istio-ingressgateway}}
action: DENY
rules:
- to:
  - operation: {hosts: ["internal.a.com"]}
  - operation: {paths: ["/private"]}`,
      ),
    );
    const gw = {
      kind: 'gateway',
      namespace: 'istio-system',
      labels: { app: 'istio-ingressgateway' },
    } as const;
    expect(allows(e, gw, { host: 'internal.a.com', path: '/' })).toBe(false);
    expect(allows(e, gw, { host: 'www.a.com', path: '/private' })).toBe(false);
    expect(allows(e, gw, { host: 'www.a.com', path: '/public' })).toBe(true);
  });

  it('X and notX may be set together: (any X) AND NOT (any notX)', () => {
    const e = allowRule('to: [{operation: {paths: ["/api/*"], notPaths: ["/api/admin*"]}}]');
    expect(allows(e, w, { path: '/api/users' })).toBe(true);
    expect(allows(e, w, { path: '/api/admin/x' })).toBe(false);
    expect(allows(e, w, { path: '/other' })).toBe(false);
  });
});

describe('principals / notPrincipals (it TestAuthz_Principal, TestAuthz_DenyPlaintext; model srcPrincipalGenerator)', () => {
  it('exact, prefix, suffix and * against the peer URI with spiffe:// prepended', () => {
    const e = allowRule(
      'from: [{source: {principals: ["cluster.local/ns/a/sa/exact", "cluster.local/ns/b/*", "*/sa/suffix"]}}]',
    );
    expect(allows(e, w, { source: { principal: spiffe('a', 'exact') } })).toBe(true);
    expect(allows(e, w, { source: { principal: spiffe('a', 'exactly') } })).toBe(false);
    expect(allows(e, w, { source: { principal: spiffe('b', 'anything') } })).toBe(true);
    expect(allows(e, w, { source: { principal: spiffe('c', 'suffix', 'other.td') } })).toBe(true);
    expect(allows(e, w, { source: { principal: null } })).toBe(false);
  });

  it('"*" matches any authenticated peer and never plaintext', () => {
    const e = allowRule('from: [{source: {principals: ["*"]}}]');
    expect(allows(e, w, { source: { principal: spiffe('x', 'y', 'any.td') } })).toBe(true);
    expect(allows(e, w, { source: { principal: null } })).toBe(false);
  });

  it('a principal written with spiffe:// never matches (Envoy compares spiffe://spiffe://...)', () => {
    const e = allowRule('from: [{source: {principals: ["spiffe://cluster.local/ns/foo/sa/sleep"]}}]');
    expect(allows(e, w)).toBe(false);
  });

  it('DENY notPrincipals: ["*"] denies plaintext only (it TestAuthz_DenyPlaintext, plaintext.yaml.tmpl)', () => {
    const e = engineFrom(
      policy(
        'foo/p',
        'selector: {matchLabels: {app: b}}\naction: DENY\nrules: [{from: [{source: {notPrincipals: ["*"]}}]}]',
      ),
    );
    expect(allows(e, w, { source: { principal: null } })).toBe(false);
    expect(allows(e, w)).toBe(true);
  });

  it('a suffix value with regex characters is literal (regex spiffe://.*<QuoteMeta(v)>)', () => {
    const e = allowRule('from: [{source: {principals: ["*/sa/a.b"]}}]');
    expect(allows(e, w, { source: { principal: spiffe('x', 'a.b') } })).toBe(true);
    expect(allows(e, w, { source: { principal: spiffe('x', 'aXb') } })).toBe(false);
  });
});

describe('namespaces / notNamespaces (it TestAuthz_Namespace, TestAuthz_NotNamespace; generator_test TestNamespaceMatcherRegex_Match)', () => {
  it('matches the /ns/<ns>/ segment of the peer URI; plaintext never matches, notNamespaces does', () => {
    const e = allowRule('from: [{source: {namespaces: ["ns1"]}}]');
    expect(allows(e, w, { source: { principal: spiffe('ns1', 'a') } })).toBe(true);
    expect(allows(e, w, { source: { principal: spiffe('ns2', 'a') } })).toBe(false);
    expect(allows(e, w, { source: { principal: null, namespace: 'ns1' } })).toBe(false);
    const not = allowRule('from: [{source: {notNamespaces: ["ns2"]}}]');
    expect(allows(not, w, { source: { principal: spiffe('ns1', 'a') } })).toBe(true);
    expect(allows(not, w, { source: { principal: spiffe('ns2', 'a') } })).toBe(false);
    expect(allows(not, w, { source: { principal: null } })).toBe(true);
  });

  it('"exact-match-with-dot" and "wildcard-match-with-dot": every * is .* and dots are literal', () => {
    const exact = allowRule('from: [{source: {namespaces: ["ns.prod"]}}]');
    expect(allows(exact, w, { source: { principal: 'spiffe://cluster.local/ns/ns.prod/sa/admin' } })).toBe(
      true,
    );
    expect(allows(exact, w, { source: { principal: 'spiffe://cluster.local/ns/nsXprod/sa/admin' } })).toBe(
      false,
    );
    const wild = allowRule('from: [{source: {namespaces: ["ns.*.prod"]}}]');
    expect(allows(wild, w, { source: { principal: 'spiffe://cluster.local/ns/ns.any.prod/sa/admin' } })).toBe(
      true,
    );
    expect(allows(wild, w, { source: { principal: 'spiffe://cluster.local/ns/nsXanyXprod/sa/admin' } })).toBe(
      false,
    );
  });

  it('prefix and suffix forms ("ns-*", "*-prod")', () => {
    const e = allowRule('from: [{source: {namespaces: ["team-*", "*-prod"]}}]');
    expect(allows(e, w, { source: { principal: spiffe('team-a', 'x') } })).toBe(true);
    expect(allows(e, w, { source: { principal: spiffe('shop-prod', 'x') } })).toBe(true);
    expect(allows(e, w, { source: { principal: spiffe('shop-dev', 'x') } })).toBe(false);
  });
});

describe('serviceAccounts / notServiceAccounts (it TestAuthz_ServiceAccount; generator_test TestServiceAccount)', () => {
  const cases: [string, string, boolean][] = [
    ['standard', 'spiffe://cluster.local/ns/my-ns/sa/my-sa', true],
    ['suffix attributes', 'spiffe://cluster.local/ns/my-ns/sa/my-sa/k/v', true],
    ['prefix attributes', 'spiffe://cluster.local/k/v/ns/my-ns/sa/my-sa', true],
    ['middle attributes', 'spiffe://cluster.local/ns/my-ns/k/v/sa/my-sa', true],
    ['all attributes', 'spiffe://cluster.local/k1/v1/ns/my-ns/k2/v2/sa/my-sa/k3/v3', true],
    ['sa suffix string', 'spiffe://cluster.local/ns/my-ns/sa/my-sa-suffix', false],
    ['ns suffix string', 'spiffe://cluster.local/ns/my-ns-suffix/sa/my-sa', false],
    ['not spiffe', 'cluster.local/ns/my-ns/sa/my-sa', false],
    ['invalid spiffe', 'spiffe://ns/my-ns/sa/my-sa', false],
    ['missing sa', 'spiffe://cluster.local/ns/my-ns', false],
    ['missing ns', 'spiffe://cluster.local/sa/my-sa', false],
    ['weird keys', 'spiffe://cluster.local/k/ns/my-ns/something/bar/sa/my-sa/baz', true],
  ];
  const e = allowRule('from: [{source: {serviceAccounts: ["my-ns/my-sa"]}}]');
  for (const [name, principal, expected] of cases) {
    it(`"${name}": ${expected}`, () => expect(allows(e, w, { source: { principal } })).toBe(expected));
  }

  it('"regex metachars": dots are literal in ns and sa', () => {
    const dots = allowRule('from: [{source: {serviceAccounts: ["my.ns/my.sa"]}}]');
    expect(allows(dots, w, { source: { principal: 'spiffe://cluster.local/ns/my.ns/sa/my.sa' } })).toBe(true);
    expect(allows(dots, w, { source: { principal: 'spiffe://cluster.local/ns/myXns/sa/my.sa' } })).toBe(
      false,
    );
    expect(allows(dots, w, { source: { principal: 'spiffe://cluster.local/ns/my.ns/sa/myXsa' } })).toBe(
      false,
    );
  });

  it('a bare name means the policy namespace; notServiceAccounts matches plaintext', () => {
    const e2 = allowRule('from: [{source: {serviceAccounts: ["sleep"]}}]');
    expect(allows(e2, w, { source: { principal: spiffe('foo', 'sleep') } })).toBe(true);
    expect(allows(e2, w, { source: { principal: spiffe('bar', 'sleep') } })).toBe(false);
    const not = allowRule('from: [{source: {notServiceAccounts: ["foo/sleep"]}}]');
    expect(allows(not, w, { source: { principal: null } })).toBe(true);
    expect(allows(not, w)).toBe(false);
  });
});

describe('trustDomains / notTrustDomains (it TestAuthz_TrustDomain, allow-trust-domain.yaml.tmpl; generator_test srcTrustDomainGenerator)', () => {
  const e = engineFrom(
    policy(
      'foo/p',
      `rules:
- to: [{operation: {paths: ["/allow"]}}]
  from: [{source: {trustDomains: ["cluster.local"]}}]
- to: [{operation: {paths: ["/deny"]}}]
  from: [{source: {trustDomains: ["bad.example.com"]}}]
- to: [{operation: {paths: ["/not-trust-domain"]}}]
  from: [{source: {notTrustDomains: ["cluster.local"]}}]
- to: [{operation: {paths: ["/not-deny"]}}]
  from: [{source: {notTrustDomains: ["bad.example.com"]}}]`,
    ),
  );
  it('/allow allowed, /deny denied, /not-trust-domain denied, /not-deny allowed', () => {
    expect(allows(e, w, { path: '/allow' })).toBe(true);
    expect(allows(e, w, { path: '/deny' })).toBe(false);
    expect(allows(e, w, { path: '/not-trust-domain' })).toBe(false);
    expect(allows(e, w, { path: '/not-deny' })).toBe(true);
  });

  it('wildcards match within the trust domain only ("cluster.*", "*local", "*")', () => {
    const x = allowRule('from: [{source: {trustDomains: ["cluster.*", "*.example.org"]}}]');
    expect(allows(x, w, { source: { principal: spiffe('a', 'b', 'cluster.local') } })).toBe(true);
    expect(allows(x, w, { source: { principal: spiffe('a', 'b', 'td.example.org') } })).toBe(true);
    expect(allows(x, w, { source: { principal: spiffe('a', 'b', 'example.org') } })).toBe(false);
    // [^/]* keeps a wildcard inside the trust domain: "cluster.*" does not reach into the path.
    expect(allows(x, w, { source: { principal: 'spiffe://cluster/ns/cluster.x/sa/b' } })).toBe(false);
    const any = allowRule('from: [{source: {trustDomains: ["*"]}}]');
    expect(allows(any, w)).toBe(true);
    expect(allows(any, w, { source: { principal: null } })).toBe(false);
  });
});

describe('ipBlocks vs remoteIpBlocks (istio.io authz-ingress "ipBlocks vs remoteIpBlocks"; it TestAuthz_IngressGateway)', () => {
  const gw = { kind: 'gateway', namespace: 'istio-system', labels: { app: 'istio-ingressgateway' } } as const;
  const e = engineFrom(
    policy(
      'istio-system/policy',
      `selector: {matchLabels: {app: istio-ingressgateway}}
action: DENY
rules:
- from: [{source: {remoteIpBlocks: ["172.17.72.46", "192.168.4.0/23"]}}]
  to: [{operation: {hosts: ["remoteipblocks.a.com"]}}]
- from: [{source: {notRemoteIpBlocks: ["172.23.240.0/22"]}}]
  to: [{operation: {hosts: ["notremoteipblocks.a.com"]}}]
- to: [{operation: {hosts: ["remoteipattr.a.com"]}}]
  when: [{key: remote.ip, values: ["10.242.5.7", "10.124.99.0/24"]}]`,
    ),
  );
  const cases: [string, string, boolean][] = [
    ['remoteipblocks.a.com', '172.17.72.46', false],
    ['remoteipblocks.a.com', '192.168.5.233', false],
    ['remoteipblocks.a.com', '10.4.5.6', true],
    ['notremoteipblocks.a.com', '10.2.3.4', false],
    ['notremoteipblocks.a.com', '172.23.242.188', true],
    ['remoteipattr.a.com', '10.242.5.7', false],
    ['remoteipattr.a.com', '10.124.99.10', false],
    ['remoteipattr.a.com', '10.4.5.6', true],
  ];
  for (const [host, remoteIp, expected] of cases) {
    it(`${host} from client ${remoteIp} → ${expected ? 'allow' : 'deny'}`, () => {
      // The peer (ipBlocks) is the load balancer; the client address comes from X-Forwarded-For.
      expect(allows(e, gw, { host, path: '/', source: { ip: '10.0.0.99', remoteIp } })).toBe(expected);
    });
  }

  it('ipBlocks reads the peer address, remoteIpBlocks the original client (defaulting to the peer)', () => {
    const peer = allowRule('from: [{source: {ipBlocks: ["10.0.0.0/8"]}}]');
    expect(allows(peer, w, { source: { ip: '10.1.1.1', remoteIp: '8.8.8.8' } })).toBe(true);
    expect(allows(peer, w, { source: { ip: '11.1.1.1', remoteIp: '10.1.1.1' } })).toBe(false);
    const remote = allowRule('from: [{source: {remoteIpBlocks: ["10.0.0.0/8"]}}]');
    expect(allows(remote, w, { source: { ip: '11.1.1.1', remoteIp: '10.1.1.1' } })).toBe(true);
    expect(allows(remote, w, { source: { ip: '10.1.1.1' } })).toBe(true);
  });

  it('IPv6 CIDRs, and families never mix', () => {
    const e6 = allowRule('from: [{source: {ipBlocks: ["2001:db8::/32", "::1"]}}]');
    expect(allows(e6, w, { source: { ip: '2001:db8:1::7' } })).toBe(true);
    expect(allows(e6, w, { source: { ip: '::1' } })).toBe(true);
    expect(allows(e6, w, { source: { ip: '2001:db9::1' } })).toBe(false);
    const all4 = allowRule('from: [{source: {ipBlocks: ["0.0.0.0/0"]}}]');
    expect(allows(all4, w, { source: { ip: '2001:db8::1' } })).toBe(false);
    // An IPv4-mapped IPv6 peer is the IPv4 address it carries.
    expect(allows(all4, w, { source: { ip: '::ffff:10.1.2.3' } })).toBe(true);
  });

  it('notIpBlocks', () => {
    const e2 = allowRule('from: [{source: {notIpBlocks: ["10.0.0.0/8"]}}]');
    expect(allows(e2, w, { source: { ip: '10.1.1.1' } })).toBe(false);
    expect(allows(e2, w, { source: { ip: '192.168.1.1' } })).toBe(true);
  });
});

describe('hosts / notHosts (it TestAuthz_IngressGateway, TestAuthz_NotHost; matcher HostMatcher)', () => {
  const gw = { kind: 'gateway', namespace: 'istio-system', labels: { app: 'istio-ingressgateway' } } as const;
  const e = engineFrom(
    policy(
      'istio-system/policy',
      'selector: {matchLabels: {app: istio-ingressgateway}}\naction: DENY\nrules: [{to: [{operation: {hosts: ["deny.a.com", "*.suffix.a.com", "prefix.a.*"]}}]}]',
    ),
  );
  for (const host of [
    'deny.a.com',
    'DENY.A.COM',
    'Deny.A.Com',
    'deny.suffix.a.com',
    'DENY.SUFFIX.A.COM',
    'prefix.a.com',
    'PREFIX.A.COM',
  ]) {
    it(`case-insensitive: ${host} denied`, () => expect(allows(e, gw, { host })).toBe(false));
  }
  it('www.a.com allowed', () => expect(allows(e, gw, { host: 'www.a.com', path: '/' })).toBe(true));

  it('the port is part of :authority: "httpbin.foo" does not match "httpbin.foo:8000" (docs/authz.md "Semantics in brief")', () => {
    const x = allowRule('to: [{operation: {hosts: ["httpbin.foo"]}}]');
    expect(allows(x, w, { host: 'httpbin.foo' })).toBe(true);
    expect(allows(x, w, { host: 'httpbin.foo:8000' })).toBe(false);
    const withPort = allowRule('to: [{operation: {hosts: ["httpbin.foo:*"]}}]');
    expect(allows(withPort, w, { host: 'httpbin.foo:8000' })).toBe(true);
  });

  it('notHosts: deny.a.com denied, allow.a.com allowed, no host allowed (not-host.yaml.tmpl)', () => {
    const x = allowRule('to: [{operation: {notHosts: ["deny.a.com"]}}]');
    expect(allows(x, w, { host: 'deny.a.com' })).toBe(false);
    expect(allows(x, w, { host: 'DENY.a.com' })).toBe(false);
    expect(allows(x, w, { host: 'allow.a.com' })).toBe(true);
    expect(allows(x, w, {})).toBe(true);
  });

  it('"*" means the header is present', () => {
    const x = allowRule('to: [{operation: {hosts: ["*"]}}]');
    expect(allows(x, w, { host: 'a' })).toBe(true);
    expect(allows(x, w, {})).toBe(false);
  });
});

describe('methods / notMethods (it TestAuthz_NotMethod; matcher HeaderMatcher :method)', () => {
  it('exact and case-sensitive; notMethods PUT', () => {
    const e = allowRule('to: [{operation: {methods: ["GET", "HEAD"]}}]');
    expect(allows(e, w, { method: 'GET' })).toBe(true);
    expect(allows(e, w, { method: 'get' })).toBe(false);
    expect(allows(e, w, { method: 'POST' })).toBe(false);
    const not = allowRule('to: [{operation: {notMethods: ["PUT"]}}]');
    expect(allows(not, w, { method: 'PUT' })).toBe(false);
    expect(allows(not, w, { method: 'GET' })).toBe(true);
  });

  it('gRPC is POST /pkg.Service/Method (allow-serviceaccount.yaml.tmpl GRPC rule)', () => {
    const e = allowRule('to: [{operation: {methods: ["POST"], paths: ["/proto.EchoTestService/Echo"]}}]');
    expect(allows(e, w, { method: 'POST', path: '/proto.EchoTestService/Echo' })).toBe(true);
    expect(allows(e, w, { method: 'POST', path: '/proto.EchoTestService/ForwardEcho' })).toBe(false);
  });
});

describe('ports / notPorts: the destination (target) port (it TestAuthz_NotPort; istio/api #3075)', () => {
  it('ports and notPorts compare the workload port, not the Host header port', () => {
    const e = allowRule('to: [{operation: {ports: ["8080"]}}]');
    expect(allows(e, w, { destination: { port: 8080 }, host: 'svc:80' })).toBe(true);
    expect(allows(e, w, { destination: { port: 80 }, host: 'svc:8080' })).toBe(false);
    const not = allowRule('to: [{operation: {notPorts: ["8081"]}}]');
    expect(allows(not, w, { destination: { port: 8081 } })).toBe(false);
    expect(allows(not, w, { destination: { port: 8080 } })).toBe(true);
  });
});

describe('paths / notPaths (it TestAuthz_PathPrecedence, TestAuthz_PathNormalization; matcher PathMatcher)', () => {
  it('exact, prefix, suffix and "*"; the query is not part of the path', () => {
    const e = allowRule('to: [{operation: {paths: ["/exact", "/prefix/*", "*/suffix"]}}]');
    expect(allows(e, w, { path: '/exact' })).toBe(true);
    expect(allows(e, w, { path: '/exact?param=value' })).toBe(true);
    expect(allows(e, w, { path: '/exact/' })).toBe(false);
    expect(allows(e, w, { path: '/prefix/a/b' })).toBe(true);
    expect(allows(e, w, { path: '/a/suffix' })).toBe(true);
    expect(allows(e, w, { path: '/Exact' })).toBe(false);
    const any = allowRule('to: [{operation: {paths: ["*"]}}]');
    expect(allows(any, w, { path: '/' })).toBe(true);
    expect(allows(any, w, {})).toBe(false);
  });

  it('path-precedence.yaml.tmpl: DENY /allow/admin beats ALLOW /allow*', () => {
    const e = engineFrom(
      policy('foo/deny', 'action: DENY\nrules: [{to: [{operation: {paths: ["/allow/admin"]}}]}]') +
        policy('foo/allow', 'rules: [{to: [{operation: {paths: ["/allow*"]}}]}]'),
    );
    expect(allows(e, w, { path: '/allow' })).toBe(true);
    expect(allows(e, w, { path: '/allow/admin' })).toBe(false);
  });

  it('path-normalization.yaml.tmpl: ALLOW GET /public* against normalized paths (default BASE)', () => {
    const e = engineFrom(
      policy('foo/p', 'rules: [{to: [{operation: {paths: ["/public*"], methods: ["GET"]}}]}]'),
    );
    const cases: [string, boolean][] = [
      ['/public', true],
      ['/public/../public', true],
      ['/private', false],
      ['/public/../private', false],
      ['/public/./../private', false],
      ['/public/.././private', false],
      ['/public/%2E%2E/private', false],
      ['/public/%2e%2e/private', false],
      ['/public/%2E/%2E%2E/private', false],
      ['/public/%2e/%2e%2e/private', false],
      ['/public/%2E%2E/%2E/private', false],
      ['/public/%2e%2e/%2e/private', false],
    ];
    for (const [path, expected] of cases)
      expect([path, allows(e, w, { method: 'GET', path })]).toEqual([path, expected]);
  });

  it('pathNormalization NONE matches the raw path; MERGE_SLASHES merges; DECODE_AND_MERGE_SLASHES decodes %2F (best-practices doc)', () => {
    const yaml = policy('foo/deny', 'action: DENY\nrules: [{to: [{operation: {paths: ["/admin*"]}}]}]');
    const none = engineFrom(yaml, { pathNormalization: 'NONE' });
    expect(allows(none, w, { path: '/public/../admin' })).toBe(true);
    const base = engineFrom(yaml);
    expect(allows(base, w, { path: '/public/../admin' })).toBe(false);
    expect(allows(base, w, { path: '//admin' })).toBe(true);
    const merge = engineFrom(yaml, { pathNormalization: 'MERGE_SLASHES' });
    expect(allows(merge, w, { path: '//admin' })).toBe(false);
    expect(allows(merge, w, { path: '/x%2F..%2Fadmin' })).toBe(true);
    const decode = engineFrom(yaml, { pathNormalization: 'DECODE_AND_MERGE_SLASHES' });
    expect(allows(decode, w, { path: '/x%2F..%2Fadmin' })).toBe(false);
    expect(allows(decode, w, { path: '/x%5C..%5Cadmin' })).toBe(false);
  });

  it('a NUL in the path is a 400 before authorization (normalization doc: %00 rejected)', () => {
    const e = engineFrom(policy('foo/allow-all', 'rules: [{}]'));
    expect(decide(e, w, { path: '/a%00b' })).toMatchObject({ allow: false, badRequest: true });
  });

  it('notPaths matches when there is no path', () => {
    const e = allowRule('to: [{operation: {notPaths: ["/admin"]}}]');
    expect(allows(e, w, {})).toBe(true);
    expect(allows(e, w, { path: '/admin' })).toBe(false);
  });
});

describe('path templates (it TestAuthz_PathTemplating, path-templating.yaml.tmpl; docs/authz.md "Semantics in brief")', () => {
  const e = engineFrom(
    policy(
      'foo/p',
      `rules:
- to: [{operation: {paths: ["/allow/admin/{**}"]}}]
- to: [{operation: {paths: ["/foo/{*}/bar/{**}"]}}]
- to: [{operation: {paths: ["/store/{**}/cart"]}}]
- to: [{operation: {paths: ["/{*}/single"]}}]`,
    ),
  );
  const cases: [string, boolean][] = [
    ['/allow/admin/', true],
    ['/allow/admin/foo/temp.txt', true],
    ['/allow/admin', false],
    ['/allow/admin?param=value', false],
    ['/foo/buzz/bar/bat', true],
    ['/foo//bar/bat.txt', false],
    ['/store//cart', true],
    ['/store/foo/bar/cart', true],
    ['/store/cart', false],
    ['/x/single', true],
    ['/x/y/single', false],
  ];
  for (const [path, expected] of cases)
    it(`${path} → ${expected}`, () => expect(allows(e, w, { path })).toBe(expected));
});

describe('when: request.headers (it TestAuthz_Conditions, conditions.yaml.tmpl; normalization doc)', () => {
  const e = engineFrom(
    policy(
      'foo/request-headers',
      `rules:
- to: [{operation: {paths: ["/request-headers"]}}]
  when: [{key: "request.headers[x-foo]", values: ["foo"]}]
- to: [{operation: {paths: ["/request-headers-notValues"]}}]
  when: [{key: "request.headers[x-foo]", notValues: ["bar"]}]`,
    ),
  );
  it('values: x-foo: foo allowed, bar denied, absent denied', () => {
    expect(allows(e, w, { path: '/request-headers', headers: { 'x-foo': 'foo' } })).toBe(true);
    expect(allows(e, w, { path: '/request-headers', headers: { 'x-foo': 'bar' } })).toBe(false);
    expect(allows(e, w, { path: '/request-headers' })).toBe(false);
  });
  it('notValues: foo allowed, bar denied, absent allowed', () => {
    expect(allows(e, w, { path: '/request-headers-notValues', headers: { 'x-foo': 'foo' } })).toBe(true);
    expect(allows(e, w, { path: '/request-headers-notValues', headers: { 'x-foo': 'bar' } })).toBe(false);
    expect(allows(e, w, { path: '/request-headers-notValues' })).toBe(true);
  });
  it('names are case-insensitive, values are not; repeated headers are joined with ","', () => {
    const x = allowRule('when: [{key: "request.headers[X-Foo]", values: ["foo,bar", "exact"]}]');
    expect(allows(x, w, { headers: { 'x-foo': ['foo', 'bar'] } })).toBe(true);
    expect(allows(x, w, { headers: { 'X-FOO': 'exact' } })).toBe(true);
    expect(allows(x, w, { headers: { 'x-foo': 'EXACT' } })).toBe(false);
    expect(allows(x, w, { headers: { 'x-foo': ['foo'] } })).toBe(false);
  });
  it('prefix, suffix and presence ("*" is present, even empty)', () => {
    const x = allowRule(
      'when: [{key: "request.headers[x-a]", values: ["pre*"]}, {key: "request.headers[x-b]", values: ["*suf"]}, {key: "request.headers[x-c]", values: ["*"]}]',
    );
    expect(allows(x, w, { headers: { 'x-a': 'prefix', 'x-b': 'a-suf', 'x-c': '' } })).toBe(true);
    expect(allows(x, w, { headers: { 'x-a': 'prefix', 'x-b': 'a-suf' } })).toBe(false);
  });
  it('pseudo-headers: request.headers[:method] reads the method (builder tcp/deny-both-http-tcp rule 8)', () => {
    const x = allowRule('when: [{key: "request.headers[:method]", values: ["GET"]}]');
    expect(allows(x, w, { method: 'GET' })).toBe(true);
    expect(allows(x, w, { method: 'POST' })).toBe(false);
  });
});

describe('when: source/destination attributes (it TestAuthz_Conditions)', () => {
  const allowed = spiffe('ns1', 'a');
  const denied = spiffe('ns2', 'a');
  const e = engineFrom(
    policy(
      'foo/conditions',
      `rules:
- to: [{operation: {paths: ["/source-ip"]}}]
  when: [{key: source.ip, values: ["10.1.0.1"]}]
- to: [{operation: {paths: ["/source-ip-notValues"]}}]
  when: [{key: source.ip, notValues: ["10.2.0.1"]}]
- to: [{operation: {paths: ["/source-namespace"]}}]
  when: [{key: source.namespace, values: ["ns1"]}]
- to: [{operation: {paths: ["/source-namespace-notValues"]}}]
  when: [{key: source.namespace, notValues: ["ns2"]}]
- to: [{operation: {paths: ["/source-principal"]}}]
  when: [{key: source.principal, values: ["cluster.local/ns/ns1/sa/a"]}]
- to: [{operation: {paths: ["/source-principal-notValues"]}}]
  when: [{key: source.principal, notValues: ["cluster.local/ns/ns2/sa/a"]}]
- to: [{operation: {paths: ["/source-trust-domain"]}}]
  when: [{key: source.trustDomain, values: ["cluster.local"]}]
- to: [{operation: {paths: ["/source-trust-domain-notValues"]}}]
  when: [{key: source.trustDomain, notValues: ["bad.example.com"]}]
- to: [{operation: {paths: ["/destination-ip-good"]}}]
  when: [{key: destination.ip, values: ["10.0.0.2"]}]
- to: [{operation: {paths: ["/destination-ip-bad"]}}]
  when: [{key: destination.ip, values: ["1.2.3.4"]}]
- to: [{operation: {paths: ["/destination-ip-notValues"]}}]
  when: [{key: destination.ip, notValues: ["10.0.0.2"]}]
- to: [{operation: {paths: ["/destination-port-good"]}}]
  when: [{key: destination.port, values: ["8000"]}]
- to: [{operation: {paths: ["/destination-port-bad"]}}]
  when: [{key: destination.port, values: ["1"]}]
- to: [{operation: {paths: ["/destination-port-notValues"]}}]
  when: [{key: destination.port, notValues: ["8000"]}]
- to: [{operation: {paths: ["/connection-sni-good"]}}]
  when: [{key: connection.sni, values: ["*.foo.svc.cluster.local"]}]
- to: [{operation: {paths: ["/connection-sni-bad"]}}]
  when: [{key: connection.sni, values: ["never-matched"]}]
- to: [{operation: {paths: ["/connection-sni-notValues"]}}]
  when: [{key: connection.sni, notValues: ["*.foo.svc.cluster.local"]}]
- to: [{operation: {paths: ["/service-account"]}}]
  when: [{key: source.serviceAccount, values: ["ns1/a"]}]`,
    ),
  );
  const from = (principal: string, ip: string) => ({ principal, ip });
  const sni = 'outbound_.8000_._.b.foo.svc.cluster.local';
  const table: [string, boolean, boolean][] = [
    // path, allowed-source result, denied-source result
    ['/source-ip', true, false],
    ['/source-ip-notValues', true, false],
    ['/source-namespace', true, false],
    ['/source-namespace-notValues', true, false],
    ['/source-principal', true, false],
    ['/source-principal-notValues', true, false],
    ['/source-trust-domain', true, true],
    ['/source-trust-domain-notValues', true, true],
    ['/destination-ip-good', true, true],
    ['/destination-ip-bad', false, false],
    ['/destination-ip-notValues', false, false],
    ['/destination-port-good', true, true],
    ['/destination-port-bad', false, false],
    ['/destination-port-notValues', false, false],
    ['/connection-sni-good', true, true],
    ['/connection-sni-bad', false, false],
    ['/connection-sni-notValues', false, false],
    ['/service-account', true, false],
    ['/other', false, false],
  ];
  for (const [path, a, d] of table) {
    it(`${path}: allowed source ${a}, denied source ${d}`, () => {
      expect(allows(e, w, { path, sni, source: from(allowed, '10.1.0.1') })).toBe(a);
      expect(allows(e, w, { path, sni, source: from(denied, '10.2.0.1') })).toBe(d);
    });
  }
  it('connection.sni notValues matches when there is no SNI (plaintext)', () => {
    expect(allows(e, w, { path: '/connection-sni-notValues' })).toBe(true);
    expect(allows(e, w, { path: '/connection-sni-good' })).toBe(false);
  });
});

describe('when: experimental.envoy.filters.* (model envoyFilterGenerator)', () => {
  it('a string value, and [v] for an element of a list value', () => {
    const e = allowRule(
      'when: [{key: "experimental.envoy.filters.network.mysql_proxy[db.table]", values: ["[update]", "select"]}]',
    );
    const md = (value: unknown) => ({
      metadata: { 'envoy.filters.network.mysql_proxy': { 'db.table': value } },
    });
    expect(allows(e, w, md(['insert', 'update']))).toBe(true);
    expect(allows(e, w, md('select'))).toBe(true);
    expect(allows(e, w, md(['select']))).toBe(false);
    expect(allows(e, w, md('update'))).toBe(false);
    expect(allows(e, w, {})).toBe(false);
  });
});

describe('plaintext and absent identity: positive identity fields never match, negative ones do (docs/authz.md "Identity values and regular expressions")', () => {
  const positive = [
    'from: [{source: {principals: ["*"]}}]',
    'from: [{source: {namespaces: ["*"]}}]',
    'from: [{source: {serviceAccounts: ["foo/sleep"]}}]',
    'from: [{source: {trustDomains: ["*"]}}]',
    'when: [{key: source.principal, values: ["*"]}]',
    'when: [{key: source.namespace, values: ["foo"]}]',
    'when: [{key: source.serviceAccount, values: ["sleep"]}]',
    'when: [{key: source.trustDomain, values: ["cluster.local"]}]',
  ];
  for (const rule of positive) {
    it(`${rule}: mTLS yes, plaintext no`, () => {
      const e = allowRule(rule);
      expect(allows(e, w)).toBe(true);
      expect(allows(e, w, { source: { principal: null } })).toBe(false);
    });
  }
  const negative = [
    'from: [{source: {notPrincipals: ["cluster.local/ns/bar/sa/x"]}}]',
    'from: [{source: {notNamespaces: ["bar"]}}]',
    'from: [{source: {notServiceAccounts: ["bar/x"]}}]',
    'from: [{source: {notTrustDomains: ["other.td"]}}]',
    'when: [{key: source.principal, notValues: ["*"]}]',
  ];
  for (const rule of negative) {
    it(`${rule}: plaintext matches`, () =>
      expect(allows(allowRule(rule), w, { source: { principal: null } })).toBe(true));
  }
});

describe('request shapes', () => {
  it('a request principal without spiffe:// matches nothing (Envoy compares spiffe://<value>); a port may be a decimal string', () => {
    const e = allowRule(
      'from: [{source: {principals: ["cluster.local/ns/foo/sa/sleep"]}}]\n  to: [{operation: {ports: ["8000"]}}]',
    );
    expect(allows(e, w, { source: { principal: 'cluster.local/ns/foo/sa/sleep' } })).toBe(false);
    expect(allows(e, w, { destination: { port: '8000' as unknown as number } })).toBe(true);
    expect(decide(e, w, { destination: { port: 'http' as unknown as number } }).reason).toMatch(
      /^invalid request/,
    );
  });
});

describe('pseudo-headers stand in for absent request fields', () => {
  it('hosts match a Host header, methods a :method header, paths a :path header', () => {
    const e = allowRule('to: [{operation: {hosts: ["a.com"], methods: ["GET"], paths: ["/x"]}}]');
    expect(allows(e, w, { headers: { Host: 'A.com', ':method': 'GET', ':path': '/x?y=1' } })).toBe(true);
    expect(allows(e, w, { host: 'b.com', headers: { host: 'a.com', ':method': 'GET', ':path': '/x' } })).toBe(
      false,
    );
  });
});
