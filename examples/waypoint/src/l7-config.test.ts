import { describe, expect, it } from 'vitest';
import { parseL7Config } from './l7-config.js';

const MESH = `workloads:
  - uid: Kubernetes//Pod/default/a
    workloadIps: ["10.0.0.1"]
---
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: reviews, namespace: default}
spec:
  hosts: [reviews]
  http: [{route: [{destination: {host: reviews}}]}]
---
apiVersion: security.istio.io/v1
kind: AuthorizationPolicy
metadata: {name: p, namespace: default}
spec: {targetRefs: [{kind: Service, group: "", name: reviews}], rules: [{}]}
---
apiVersion: v1
kind: List
items:
- apiVersion: v1
  kind: Service
  metadata: {name: reviews, namespace: default}
  spec: {ports: [{name: http, port: 9080}]}
- apiVersion: v1
  kind: ConfigMap
  metadata: {name: cm, namespace: default}
`;

describe('parseL7Config', () => {
  it('compiles the networking and security kinds, leaves the workload document, lists other kinds', () => {
    const config = parseL7Config(MESH)._unsafeUnwrap();
    expect(config.routeObjects).toHaveLength(2);
    expect(config.securityObjects).toHaveLength(1);
    expect(config.skipped).toEqual([
      { path: 'document[3].items[1]', kind: 'ConfigMap', name: 'cm', namespace: 'default' },
    ]);
    expect(config.router.compiled.serviceInfo.get('reviews.default.svc.cluster.local')?.ports[0]?.name).toBe(
      'http',
    );
    expect(
      config.engine.applicablePolicies(
        { kind: 'waypoint', namespace: 'default', name: 'w' },
        { kind: 'Service', name: 'reviews', namespace: 'default' },
      ),
    ).toEqual(['default/p']);
    expect(config.sha256).toMatch(/^[0-9a-f]{64}$/);
  });

  it("rejects the whole file for one bad object, every problem with its path and its layer's code", () => {
    const result = parseL7Config(`${MESH}---
apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata: {name: d, namespace: default}
spec: {host: reviews, trafficPolicy: {loadBalancer: {simple: FASTEST}}}
---
apiVersion: security.istio.io/v1
kind: AuthorizationPolicy
metadata: {name: q, namespace: default}
spec: {action: DENY, rules: [{from: [{source: {principles: [x]}}]}]}
`);
    expect(result.isErr()).toBe(true);
    const error = result._unsafeUnwrapErr();
    expect(error.code).toBe('WAYPOINT_ERR_CONFIG');
    const codes = error.issues.map((i) => i.code);
    expect(codes.some((c) => c.startsWith('ROUTING_ERR_'))).toBe(true);
    expect(codes.some((c) => c.startsWith('AUTHZ_ERR_'))).toBe(true);
    expect(error.issues.some((i) => /principles/.test(`${i.path} ${i.message}`))).toBe(true);
    expect(error.message).toMatch(/\(\+\d+ more\)$/);
  });

  it('refuses bad YAML with its line, a kind-less object in a list, and text over the cap', () => {
    const yaml = parseL7Config('a: [1\n')._unsafeUnwrapErr();
    expect(yaml.issues[0]?.message).toMatch(/^line \d+, column \d+: /);
    const kindless = parseL7Config(
      'apiVersion: v1\nkind: List\nitems: [{metadata: {name: x}}]\n',
    )._unsafeUnwrapErr();
    expect(kindless.issues[0]).toMatchObject({
      path: 'document[0].items[0].kind',
      message: 'kind is required',
    });
    expect(parseL7Config('x'.repeat(101), { maxBytes: 100 })._unsafeUnwrapErr().code).toBe(
      'WAYPOINT_ERR_CONFIG_TOO_LARGE',
    );
  });
});
