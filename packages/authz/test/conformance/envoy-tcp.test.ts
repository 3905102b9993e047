// Envoy on a TCP filter chain (docs/authz.md "Semantics in brief"): istio model `rule.checkError` and builder testdata
// (tcp/allow-both-http-tcp, tcp/allow-only-http, tcp/deny-both-http-tcp, tcp/audit-both-http-tcp), and
// https://istio.io/latest/docs/tasks/security/authorization/authz-tcp/.
import { describe, expect, it } from 'vitest';
import { allows, decide, engineFrom, policy, sidecar, spiffe } from '../support.js';

const w = sidecar('foo', { app: 'tcp-echo' });
const tcp = (port: number, principal = spiffe('foo', 'sleep')) => ({
  protocol: 'tcp' as const,
  destination: { port },
  source: { principal },
});

describe('authz-tcp task (tcp-echo on 9000, 9001, 9002)', () => {
  it('ALLOW ports 9000, 9001: 9000 and 9001 allowed, 9002 denied', () => {
    const e = engineFrom(
      policy(
        'foo/tcp-policy',
        'selector: {matchLabels: {app: tcp-echo}}\nrules: [{to: [{operation: {ports: ["9000", "9001"]}}]}]',
      ),
    );
    expect([9000, 9001, 9002].map((p) => allows(e, w, tcp(p)))).toEqual([true, true, false]);
  });

  it('ALLOW methods GET + port 9000: the rule is skipped on TCP, so 9000 and 9001 are both rejected', () => {
    const e = engineFrom(
      policy(
        'foo/tcp-policy',
        'selector: {matchLabels: {app: tcp-echo}}\nrules: [{to: [{operation: {methods: ["GET"], ports: ["9000"]}}]}]',
      ),
    );
    expect([9000, 9001].map((p) => allows(e, w, tcp(p)))).toEqual([false, false]);
    expect(decide(e, w, tcp(9000)).reason).toContain('no ALLOW policy matched');
  });

  it('DENY methods GET: the method is dropped, so every TCP port is rejected', () => {
    const e = engineFrom(
      policy(
        'foo/tcp-policy',
        'selector: {matchLabels: {app: tcp-echo}}\naction: DENY\nrules: [{to: [{operation: {methods: ["GET"]}}]}]',
      ),
    );
    expect([9000, 9001].map((p) => allows(e, w, tcp(p)))).toEqual([false, false]);
  });

  it('DENY methods GET + port 9000: only 9000 is rejected', () => {
    const e = engineFrom(
      policy(
        'foo/tcp-policy',
        'selector: {matchLabels: {app: tcp-echo}}\naction: DENY\nrules: [{to: [{operation: {methods: ["GET"], ports: ["9000"]}}]}]',
      ),
    );
    expect([9000, 9001].map((p) => allows(e, w, tcp(p)))).toEqual([false, true]);
  });
});

describe('builder testdata tcp/*', () => {
  it('allow-only-http: every rule uses HTTP fields → an ALLOW filter with no rules: deny all', () => {
    const e = engineFrom(
      policy(
        'foo/httpbin-deny',
        `action: ALLOW
rules:
- from: [{source: {requestPrincipals: ["id-1"]}}]
  to: [{operation: {methods: ["GET"]}}]
- from: [{source: {namespaces: ["ns-1"]}}]
  to: [{operation: {hosts: ["example.com"]}}]`,
      ),
    );
    expect(allows(e, w, tcp(80, spiffe('ns-1', 'a')))).toBe(false);
  });

  it('allow-both-http-tcp: only the pure-TCP rule (ns-1 to port 80) survives', () => {
    const e = engineFrom(
      policy(
        'foo/httpbin-deny',
        `action: ALLOW
rules:
- from: [{source: {requestPrincipals: ["id-1"]}}]
  to: [{operation: {methods: ["GET"]}}]
- from: [{source: {namespaces: ["ns-1"]}}]
  to: [{operation: {ports: ["8080"], methods: ["GET"]}}]
- from: [{source: {namespaces: ["ns-2"], requestPrincipals: ["id-2"]}}]
  to: [{operation: {ports: ["9090"]}}]
- from: [{source: {namespaces: ["ns-1"]}}]
  to: [{operation: {ports: ["80"]}}]`,
      ),
    );
    expect(decide(e, w, tcp(80, spiffe('ns-1', 'a')))).toMatchObject({ allow: true, rule: 3 });
    expect(allows(e, w, tcp(8080, spiffe('ns-1', 'a')))).toBe(false);
    expect(allows(e, w, tcp(9090, spiffe('ns-2', 'a')))).toBe(false);
  });

  const denyBoth = engineFrom(
    policy(
      'foo/httpbin-deny',
      `action: DENY
rules:
- from: [{source: {requestPrincipals: ["id-1"]}}]
  to: [{operation: {methods: ["GET"]}}]
- to: [{operation: {methods: ["GET"]}}]
- from: [{source: {requestPrincipals: ["id-1"]}}]
- from: [{source: {namespaces: ["ns-1"]}}]
  to: [{operation: {methods: ["GET"]}}]
- from: [{source: {requestPrincipals: ["id-1"]}}]
  to: [{operation: {ports: ["80"]}}]
- from: [{source: {requestPrincipals: ["id-1"]}}]
  to: [{operation: {ports: ["8080"], methods: ["GET"]}}]
- from: [{source: {namespaces: ["ns-2"], requestPrincipals: ["id-1"]}}]
  to: [{operation: {ports: ["8080"], methods: ["GET"]}}]
- from: [{source: {namespaces: ["ns-1"]}}]
  to: [{operation: {ports: ["80"]}}]
- when: [{key: "request.headers[:method]", values: ["GET"]}]
- when: [{key: "destination.port", values: ["80"]}]`,
    ),
  );

  it('deny-both-http-tcp: rule 0 (HTTP from and to) becomes any/any and denies everything', () => {
    const d = decide(denyBoth, w, tcp(12345, spiffe('elsewhere', 'x')));
    expect(d).toMatchObject({ allow: false, policy: 'foo/httpbin-deny', rule: 0 });
  });

  it('deny-both-http-tcp: without rule 0-2 and 8, only the L4 remainders act', () => {
    const e = engineFrom(
      policy(
        'foo/p',
        `action: DENY
rules:
- from: [{source: {namespaces: ["ns-1"]}}]
  to: [{operation: {methods: ["GET"]}}]
- from: [{source: {namespaces: ["ns-2"], requestPrincipals: ["id-1"]}}]
  to: [{operation: {ports: ["8080"], methods: ["GET"]}}]`,
      ),
    );
    // rule 0 → from ns-1 to anything; rule 1 → from ns-2 to port 8080.
    expect(allows(e, w, tcp(1, spiffe('ns-1', 'a')))).toBe(false);
    expect(allows(e, w, tcp(8080, spiffe('ns-2', 'a')))).toBe(false);
    expect(allows(e, w, tcp(8081, spiffe('ns-2', 'a')))).toBe(true);
    expect(allows(e, w, tcp(8080, spiffe('ns-3', 'a')))).toBe(true);
  });

  it('the same policies on HTTP keep their HTTP semantics', () => {
    expect(
      allows(denyBoth, w, {
        method: 'POST',
        destination: { port: 9 },
        source: { principal: spiffe('x', 'y') },
      }),
    ).toBe(true);
    expect(allows(denyBoth, w, { method: 'GET', destination: { port: 9 } })).toBe(false);
  });

  it('audit-both-http-tcp: AUDIT drops HTTP fields like DENY (broader), and still only marks', () => {
    const e = engineFrom(
      policy(
        'foo/audit',
        'action: AUDIT\nrules: [{to: [{operation: {methods: ["method"], ports: ["80"]}}]}]',
      ),
    );
    expect(decide(e, w, tcp(80))).toMatchObject({ allow: true, audit: true });
    expect(decide(e, w, tcp(81))).toMatchObject({ allow: true, audit: false });
  });

  it('notX HTTP fields are dropped too on TCP DENY (not kept as "not matched")', () => {
    const e = engineFrom(
      policy('foo/p', 'action: DENY\nrules: [{to: [{operation: {notPaths: ["/healthz"], ports: ["80"]}}]}]'),
    );
    expect(allows(e, w, tcp(80))).toBe(false);
    expect(allows(e, w, tcp(81))).toBe(true);
  });

  it('connection.sni, remote.ip and experimental metadata work on TCP (not HTTP-only generators)', () => {
    const e = engineFrom(
      policy(
        'foo/p',
        'rules: [{when: [{key: connection.sni, values: ["*.example.com"]}, {key: remote.ip, values: ["10.0.0.0/8"]}]}]',
      ),
    );
    expect(allows(e, w, { ...tcp(1), sni: 'a.example.com' })).toBe(true);
    expect(allows(e, w, { ...tcp(1), sni: 'a.example.org' })).toBe(false);
  });
});
