import { describe, expect, it } from 'vitest';
import { parseMeshFile } from './mesh-file.js';

const parse = (text: string) => {
  const res = parseMeshFile(text);
  if (res.isErr()) throw res.error;
  return res.value;
};
const pod = (name: string, extra = '', ip = '10.0.0.1', ns = 'a'): string => `---
apiVersion: v1
kind: Pod
metadata: {name: ${name}, namespace: ${ns}${extra}}
status: {podIP: ${ip}}
`;

describe('ambient index: services', () => {
  it('reads the app protocol as istiod ConvertProtocol does', () => {
    const got = parse(`
apiVersion: v1
kind: Service
metadata: {name: s, namespace: a}
spec:
  ports:
  - {name: http2-api, port: 1}
  - {name: grpc-web, port: 2}
  - {name: x, port: 3, appProtocol: kubernetes.io/h2c}
  - {name: dns, port: 53, protocol: UDP}
  - {name: db, port: 3306}
  - {name: weird, port: 4}
  - {name: https, port: 5}
  - {name: tcp-x, port: 6, appProtocol: HTTP}
  - {name: y, port: 7, appProtocol: kubernetes.io/wss}
`);
    expect(got.services[0]?.ports.map((p) => p.appProtocol)).toEqual([
      'HTTP2',
      'UNKNOWN',
      'HTTP2',
      'UNKNOWN',
      'TCP',
      'UNKNOWN',
      'TLS',
      'HTTP11',
      'TLS',
    ]);
  });

  it('sets load balancing from traffic distribution (namespace annotation) and publishNotReadyAddresses', () => {
    const got = parse(`
apiVersion: v1
kind: Namespace
metadata: {name: a, annotations: {networking.istio.io/traffic-distribution: PreferSameNode}}
---
apiVersion: v1
kind: Service
metadata: {name: s, namespace: a}
spec: {publishNotReadyAddresses: true, ports: [{port: 80}]}
---
apiVersion: v1
kind: Service
metadata: {name: t, namespace: a}
spec: {trafficDistribution: PreferClose, ports: [{port: 80}]}
`);
    const [s, t] = got.services;
    expect(s?.loadBalancer).toEqual({
      routingPreferences: ['Network', 'Region', 'Zone', 'Subzone', 'Node'],
      mode: 'Failover',
      healthPolicy: 'AllowAll',
    });
    expect(t?.loadBalancer?.routingPreferences).toEqual(['Network', 'Region', 'Zone']);
    expect(t?.loadBalancer?.healthPolicy).toBe('OnlyHealthy');
  });
});

describe('ambient index: workloads', () => {
  it('names the workload from its controller, as GetDeployMetaFromPod', () => {
    const got = parse(
      pod(
        'nightly-29012345-x7k2p',
        ', generateName: nightly-29012345-, ownerReferences: [{kind: Job, name: nightly-29012345, controller: true}]',
      ) +
        pod(
          'web-5d8f7-abcde',
          ', generateName: web-5d8f7-, labels: {pod-template-hash: 5d8f7}, ownerReferences: [{kind: ReplicaSet, name: web-5d8f7, controller: true}]',
          '10.0.0.2',
        ) +
        pod('named', ', labels: {service.istio.io/workload-name: custom, app: shop}', '10.0.0.3') +
        pod(
          'no-generate-name',
          ', ownerReferences: [{kind: ReplicaSet, name: rs-1, controller: true}]',
          '10.0.0.4',
        ),
    );
    expect(got.workloads.map((w) => [w.workloadName, w.canonicalName])).toEqual([
      ['nightly', 'nightly'],
      ['web', 'web'],
      ['custom', 'shop'],
      ['no-generate-name', 'no-generate-name'],
    ]);
  });

  it('tunnels as istio-cni and setTunnelProtocol decide', () => {
    const got = parse(
      `apiVersion: v1
kind: Namespace
metadata: {name: a, labels: {istio.io/dataplane-mode: ambient}}
` +
        pod('in-ns') +
        pod('host', '', '10.0.0.2').replace('status:', 'spec: {hostNetwork: true}\nstatus:') +
        pod(
          'native',
          ', labels: {istio.io/dataplane-mode: none, networking.istio.io/tunnel: http}',
          '10.0.0.3',
        ) +
        pod('annotated', ', annotations: {ambient.istio.io/redirection: enabled}', '10.0.0.4', 'b') +
        pod('ztunnel-x', ', labels: {app: ztunnel}', '10.0.0.5', 'istio-system') +
        pod('own-label', ', labels: {istio.io/dataplane-mode: ambient}', '10.0.0.6', 'b'),
    );
    expect(got.workloads.map((w) => [w.name, w.protocol, w.nativeTunnel, w.networkMode])).toEqual([
      ['in-ns', 'HBONE', false, 'Standard'],
      ['host', 'TCP', false, 'HostNetwork'],
      ['native', 'HBONE', true, 'Standard'],
      ['annotated', 'HBONE', false, 'Standard'],
      ['ztunnel-x', 'TCP', false, 'Standard'],
      ['own-label', 'HBONE', false, 'Standard'],
    ]);
  });

  it('gives a waypoint pod its inbound binding and never a waypoint', () => {
    const got = parse(
      `apiVersion: v1
kind: Namespace
metadata: {name: a, labels: {istio.io/use-waypoint: wp}}
---
apiVersion: gateway.networking.k8s.io/v1
kind: Gateway
metadata: {name: wp, namespace: a, labels: {istio.io/waypoint-for: all}, annotations: {ambient.istio.io/waypoint-inbound-binding: PROXY/15088}}
spec: {gatewayClassName: istio-waypoint, listeners: [{name: mesh, port: 15008, protocol: HBONE}, {name: proxy, port: 15088, protocol: istio.io/PROXY}]}
status: {addresses: [{type: Hostname, value: wp.a.svc.cluster.local}]}
` +
        pod('wp-1', ', labels: {gateway.networking.k8s.io/gateway-name: wp}') +
        pod('app', '', '10.0.0.2'),
    );
    const [wp, app] = got.workloads;
    expect(wp?.applicationTunnel).toEqual({ protocol: 'PROXY', port: 15088 });
    expect(wp?.waypoint).toBeUndefined();
    expect(app?.waypoint?.destination).toEqual({
      kind: 'hostname',
      namespace: 'a',
      hostname: 'wp.a.svc.cluster.local',
    });
  });

  it('binds a waypoint in another namespace only when its listener allows it', () => {
    const gateway = (name: string, allowed: string): string => `---
apiVersion: gateway.networking.k8s.io/v1
kind: Gateway
metadata: {name: ${name}, namespace: infra, labels: {istio.io/waypoint-for: workload}}
spec: {gatewayClassName: istio-waypoint, listeners: [{name: mesh, port: 15008, protocol: HBONE${allowed}}]}
status: {addresses: [{value: 10.96.0.${name.length}}]}
`;
    const uses = (wp: string) =>
      `, labels: {istio.io/use-waypoint: ${wp}, istio.io/use-waypoint-namespace: infra}`;
    const got = parse(
      `apiVersion: v1
kind: Namespace
metadata: {name: a, labels: {team: x}}
` +
        gateway('same', '') +
        gateway('all-ns', ', allowedRoutes: {namespaces: {from: All}}') +
        gateway(
          'by-label',
          ', allowedRoutes: {namespaces: {from: Selector, selector: {matchLabels: {team: x}}}}',
        ) +
        gateway(
          'by-expr',
          ', allowedRoutes: {namespaces: {from: Selector, selector: {matchExpressions: [{key: team, operator: NotIn, values: [x]}]}}}',
        ) +
        pod('p1', uses('same')) +
        pod('p2', uses('all-ns'), '10.0.0.2') +
        pod('p3', uses('by-label'), '10.0.0.3') +
        pod('p4', uses('by-expr'), '10.0.0.4'),
    );
    expect(got.workloads.map((w) => w.waypoint !== undefined)).toEqual([false, true, true, false]);
    expect(got.warnings).toEqual([
      'Pod a/p1: waypoint infra/same does not allow attachment from namespace a',
      'Pod a/p4: waypoint infra/by-expr does not allow attachment from namespace a',
    ]);
  });

  it('marks a terminating pod unhealthy, and a pending one with an IP', () => {
    const got = parse(
      pod('leaving', ', deletionTimestamp: "2026-12-07T10:00:00Z"') +
        pod('starting', '', '10.0.0.2').replace('status: {', 'status: {phase: Pending, '),
    );
    expect(got.workloads.map((w) => w.status)).toEqual(['Unhealthy', 'Unhealthy']);
  });

  it('attaches a selector PeerAuthentication to the pods it selects, as convertedSelectorPeerAuthentications', () => {
    const got = parse(
      `apiVersion: security.istio.io/v1
kind: PeerAuthentication
metadata: {name: web-strict, namespace: a}
spec: {selector: {matchLabels: {app: web}}, mtls: {mode: STRICT}}
` +
        pod('web', ', labels: {app: web}') +
        pod('other', '', '10.0.0.2'),
    );
    expect(got.workloads.map((w) => [w.name, w.authorizationPolicies])).toEqual([
      ['web', ['istio-system/istio_converted_static_strict']],
      ['other', []],
    ]);
    expect(got.policies.map((p) => p.key)).toEqual(['istio-system/istio_converted_static_strict']);
  });

  it('looks up a WorkloadEntry port by its own names only (a port named like an Object member)', () => {
    const got = parse(`
apiVersion: v1
kind: Service
metadata: {name: s, namespace: a}
spec: {selector: {app: vm}, ports: [{name: constructor, port: 80, targetPort: 8080}, {name: x, port: 81, targetPort: tostring}]}
---
apiVersion: networking.istio.io/v1
kind: WorkloadEntry
metadata: {name: vm, namespace: a}
spec: {address: 192.168.0.9, labels: {app: vm}}
`);
    expect(
      got.workloads[0]?.services.map((x) => [x.key, x.ports.map((p) => [p.servicePort, p.targetPort])]),
    ).toEqual([['a/s.a.svc.cluster.local', [[80, 8080]]]]);
  });
});
