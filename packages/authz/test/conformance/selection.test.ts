// Policy selection (docs/authz.md "Who enforces: workloads and selection"). Cases from
// istio/istio@86c9f01f:pilot/pkg/model/authorization_test.go
// (TestAuthorizationPolicies_ListAuthorizationPolicies), the api doc's examples, and the ambient integration
// tests (istio/istio@86c9f01f:tests/integration/ambient/baseline_test.go).
import { describe, expect, it } from 'vitest';
import type { Workload } from '../../src/index.js';
import { allows, engineFrom, policy, sidecar, waypoint, ztunnel } from '../support.js';

const RULE = `rules:
- from: [{source: {principals: ["sleep"]}}]
  to: [{operation: {methods: ["GET"]}}]`;
const WITH_SELECTOR = `selector: {matchLabels: {app: httpbin, version: v1}}\n${RULE}`;

describe('applicablePolicies (istio authorization_test.go ListAuthorizationPolicies)', () => {
  it('"no policies in namespace foo"', () => {
    const e = engineFrom(policy('bar/authz-1', RULE) + policy('bar/authz-2', RULE));
    expect(e.applicablePolicies(sidecar('foo'))).toEqual([]);
  });

  it('"two policies": only the workload namespace', () => {
    const e = engineFrom(
      policy('foo/authz-1', RULE) + policy('bar/authz-1', RULE) + policy('bar/authz-2', RULE),
    );
    expect(e.applicablePolicies(sidecar('bar'))).toEqual(['bar/authz-1', 'bar/authz-2']);
  });

  it('"selector exact match" and "selector subset match"', () => {
    const e = engineFrom(policy('bar/authz-1', WITH_SELECTOR));
    expect(e.applicablePolicies(sidecar('bar', { app: 'httpbin', version: 'v1' }))).toEqual(['bar/authz-1']);
    expect(e.applicablePolicies(sidecar('bar', { app: 'httpbin', version: 'v1', env: 'dev' }))).toEqual([
      'bar/authz-1',
    ]);
  });

  it('"selector not match" and "namespace not match"', () => {
    const e = engineFrom(policy('bar/authz-1', WITH_SELECTOR));
    expect(e.applicablePolicies(sidecar('bar', { app: 'httpbin', version: 'v2' }))).toEqual([]);
    expect(e.applicablePolicies(sidecar('foo', { app: 'httpbin', version: 'v1' }))).toEqual([]);
    expect(e.applicablePolicies(sidecar('bar', { app: 'httpbin' }))).toEqual([]);
  });

  it('"root namespace", "root namespace equals config namespace", "root namespace and config namespace"', () => {
    const mesh = { rootNamespace: 'istio-config' };
    const e1 = engineFrom(policy('istio-config/authz-1', RULE), mesh);
    expect(e1.applicablePolicies(sidecar('bar'))).toEqual(['istio-config/authz-1']);
    expect(e1.applicablePolicies(sidecar('istio-config'))).toEqual(['istio-config/authz-1']);
    const e2 = engineFrom(policy('istio-config/authz-1', RULE) + policy('bar/authz-2', RULE), mesh);
    expect(e2.applicablePolicies(sidecar('bar'))).toEqual(['bar/authz-2', 'istio-config/authz-1']);
  });

  it('a configurable root namespace: istio-system is then an ordinary namespace', () => {
    const e = engineFrom(policy('istio-system/p', RULE), { rootNamespace: 'istio-config' });
    expect(e.applicablePolicies(sidecar('bar'))).toEqual([]);
    expect(e.applicablePolicies(sidecar('istio-system'))).toEqual(['istio-system/p']);
  });

  it('api doc: a root-namespace policy with selector version: v1 applies to matching workloads in every namespace', () => {
    const e = engineFrom(policy('istio-system/allow-nothing', 'selector: {matchLabels: {version: v1}}'));
    expect(e.applicablePolicies(sidecar('foo', { app: 'a', version: 'v1' }))).toEqual([
      'istio-system/allow-nothing',
    ]);
    expect(e.applicablePolicies(ztunnel('bar', { version: 'v1' }))).toEqual(['istio-system/allow-nothing']);
    expect(e.applicablePolicies(sidecar('foo', { version: 'v2' }))).toEqual([]);
  });

  it('an empty selector selects every workload of the namespace', () => {
    const e = engineFrom(
      policy('foo/p', `selector: {matchLabels: {}}\n${RULE}`) + policy('foo/q', `selector: {}\n${RULE}`),
    );
    expect(e.applicablePolicies(sidecar('foo', { anything: 'x' }))).toEqual(['foo/p', 'foo/q']);
    expect(e.applicablePolicies(ztunnel('foo'))).toEqual(['foo/p', 'foo/q']);
  });

  const gwRef = (name: string) =>
    `targetRefs: [{group: gateway.networking.k8s.io, kind: Gateway, name: ${name}}]\n${RULE}`;
  const gatewayApiWorkload = (ns: string, name: string): Workload => ({
    kind: 'gateway',
    namespace: ns,
    labels: { 'gateway.networking.k8s.io/gateway-name': name },
  });

  it('"targetRef is an exact match" / "targetRef is not a match" (Gateway API gateway)', () => {
    const e = engineFrom(policy('bar/authz-1', gwRef('my-gateway')));
    expect(e.applicablePolicies(gatewayApiWorkload('bar', 'my-gateway'))).toEqual(['bar/authz-1']);
    expect(e.applicablePolicies(gatewayApiWorkload('bar', 'my-gateway2'))).toEqual([]);
    // "no policies with a targetRef in namespace foo": refs never cross namespaces.
    expect(e.applicablePolicies(gatewayApiWorkload('foo', 'my-gateway'))).toEqual([]);
  });

  it('sidecars, classic gateways and ztunnel ignore targetRef policies entirely (ShouldAttachPolicy, amb)', () => {
    const e = engineFrom(
      policy('bar/authz-1', gwRef('my-gateway')) +
        policy('bar/svc', `targetRef: {kind: Service, name: web}\n${RULE}`),
    );
    expect(e.applicablePolicies(sidecar('bar', { app: 'web' }))).toEqual([]);
    expect(
      e.applicablePolicies({ kind: 'gateway', namespace: 'bar', labels: { istio: 'ingressgateway' } }),
    ).toEqual([]);
    expect(e.applicablePolicies(ztunnel('bar'))).toEqual([]);
  });

  it('a Gateway API gateway uses selector policies (ENABLE_SELECTOR_BASED_K8S_GATEWAY_POLICY defaults to true)', () => {
    const e = engineFrom(policy('bar/ns-wide', RULE) + policy('istio-system/mesh', RULE));
    expect(e.applicablePolicies(gatewayApiWorkload('bar', 'gw'))).toEqual([
      'bar/ns-wide',
      'istio-system/mesh',
    ]);
  });

  it('"waypoint service attached": Service refs apply for that service; selector policies are ignored at waypoints', () => {
    const e = engineFrom(
      policy('foo/authz-1', `targetRef: {kind: Service, name: foo-svc}\n${RULE}`) +
        policy('foo/authz-2', WITH_SELECTOR) +
        policy('foo/ns-wide', RULE) +
        policy('istio-system/mesh-wide', RULE),
    );
    const wp: Workload = {
      ...waypoint('foo', 'foo-waypoint'),
      labels: { ...waypoint('foo', 'foo-waypoint').labels, app: 'httpbin', version: 'v1' },
    };
    expect(e.applicablePolicies(wp, { kind: 'Service', name: 'foo-svc', namespace: 'foo' })).toEqual([
      'foo/authz-1',
    ]);
    // ait TestAuthorizationServiceAttached: "non-authz target allow": another service is unaffected.
    expect(e.applicablePolicies(wp, { kind: 'Service', name: 'other', namespace: 'foo' })).toEqual([]);
    // A Service ref only matches a Kubernetes Service; a ServiceEntry of the same name does not.
    expect(e.applicablePolicies(wp, { kind: 'ServiceEntry', name: 'foo-svc', namespace: 'foo' })).toEqual([]);
  });

  it('ServiceEntry refs (group networking.istio.io) attach at the waypoint for that ServiceEntry', () => {
    const e = engineFrom(
      policy('foo/se', `targetRefs: [{group: networking.istio.io, kind: ServiceEntry, name: ext}]\n${RULE}`),
    );
    expect(
      e.applicablePolicies(waypoint('foo'), { kind: 'ServiceEntry', name: 'ext', namespace: 'foo' }),
    ).toEqual(['foo/se']);
    expect(e.applicablePolicies(waypoint('foo'), { kind: 'Service', name: 'ext', namespace: 'foo' })).toEqual(
      [],
    );
  });

  it('a service in another namespace than its waypoint: the policy lives with the service (lookup includes it)', () => {
    const e = engineFrom(policy('shop/web', `targetRef: {kind: Service, name: web}\n${RULE}`));
    expect(
      e.applicablePolicies(waypoint('mesh'), { kind: 'Service', name: 'web', namespace: 'shop' }),
    ).toEqual(['shop/web']);
  });

  it('"waypoint with default policies": GatewayClass istio-waypoint in the root namespace reaches every waypoint', () => {
    const ref = `targetRefs: [{group: gateway.networking.k8s.io, kind: GatewayClass, name: istio-waypoint}]\n${RULE}`;
    const e = engineFrom(policy('istio-system/default', ref) + policy('foo/not-root', ref));
    expect(e.applicablePolicies(waypoint('foo'))).toEqual(['istio-system/default']);
    expect(e.applicablePolicies(waypoint('bar'))).toEqual(['istio-system/default']);
    // Not for ordinary Gateway API gateways.
    expect(e.applicablePolicies(gatewayApiWorkload('bar', 'gw'))).toEqual([]);
  });

  it('a Gateway ref in the waypoint namespace attaches to the waypoint of that name', () => {
    const e = engineFrom(policy('foo/wp', gwRef('waypoint')));
    expect(e.applicablePolicies(waypoint('foo', 'waypoint'))).toEqual(['foo/wp']);
    expect(e.applicablePolicies(waypoint('foo', 'other'))).toEqual([]);
  });

  it('ait TestAuthorizationWaypointDefaultDeny: namespace-wide allow-nothing does not apply at a waypoint', () => {
    const e = engineFrom(policy('foo/allow-nothing', '{}') + policy('istio-system/allow-nothing', '{}'));
    expect(
      allows(e, waypoint('foo'), {
        destination: { service: { kind: 'Service', name: 'a', namespace: 'foo' } },
      }),
    ).toBe(true);
    // ... but it does at the destination ztunnel.
    expect(allows(e, ztunnel('foo'))).toBe(false);
  });
});

describe('ztunnel scopes (amb convertAuthorizationPolicy, workloads.go buildWorkloadPolicies)', () => {
  it('GLOBAL policies apply in every namespace; NAMESPACE ones in theirs; WORKLOAD_SELECTOR in root or own namespace', () => {
    const e = engineFrom(
      policy('istio-system/global', RULE) +
        policy('foo/ns', RULE) +
        policy('foo/sel', `selector: {matchLabels: {app: a}}\n${RULE}`) +
        policy('istio-system/root-sel', `selector: {matchLabels: {app: a}}\n${RULE}`) +
        policy('bar/other-sel', `selector: {matchLabels: {app: a}}\n${RULE}`),
    );
    expect(e.applicablePolicies(ztunnel('foo', { app: 'a' }))).toEqual([
      'foo/ns',
      'foo/sel',
      'istio-system/global',
      'istio-system/root-sel',
    ]);
    expect(e.applicablePolicies(ztunnel('baz', { app: 'b' }))).toEqual(['istio-system/global']);
  });
});
