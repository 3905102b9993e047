/**
 * A mesh file of Kubernetes objects only (two namespaces, pods on two nodes, Services with a named
 * targetPort, waypoint Gateways bound by `istio.io/use-waypoint`, a WorkloadEntry) yields, field by field,
 * the Workloads and Services istiod's ambient index sends ztunnel
 * (istio/istio@86c9f01f:pilot/pkg/serviceregistry/ambient/workloads.go podWorkloadBuilder,
 * workloadEntryWorkloadBuilder, constructServices; services.go constructService; waypoints.go
 * fetchWaypointForTarget, getGatewayAddress), and a client receives them over real gRPC delta xDS.
 */
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createWorkloadStore } from '@ambient-kit/workload-api';
import {
  ipToBytes,
  ServiceSchema,
  serviceToProto,
  WorkloadSchema,
  workloadToProto,
} from '@ambient-kit/workload-api/codec';
import { createXdsClient, createXdsServer } from '@ambient-kit/workload-api/xds';
import { type JsonObject, toJson } from '@bufbuild/protobuf';
import { afterEach, describe, expect, it } from 'vitest';
import { parseMeshFile, watchMeshFile } from '../src/index.js';

const KUBERNETES = `
apiVersion: v1
kind: Namespace
metadata:
  name: shop
  labels: {istio.io/dataplane-mode: ambient, istio.io/use-waypoint: waypoint}
---
apiVersion: v1
kind: Namespace
metadata: {name: legacy}
---
# The namespace waypoint: for services (no istio.io/waypoint-for), reachable by its Service's hostname.
apiVersion: gateway.networking.k8s.io/v1
kind: Gateway
metadata: {name: waypoint, namespace: shop}
spec:
  gatewayClassName: istio-waypoint
  listeners: [{name: mesh, port: 15008, protocol: HBONE}]
status:
  addresses: [{type: Hostname, value: waypoint.shop.svc.cluster.local}]
  conditions: [{type: Programmed, status: "True"}]
---
# A workload waypoint with only an IP address.
apiVersion: gateway.networking.k8s.io/v1
kind: Gateway
metadata:
  name: wl-waypoint
  namespace: shop
  labels: {istio.io/waypoint-for: workload}
spec:
  gatewayClassName: istio-waypoint
  listeners: [{name: mesh, port: 15008, protocol: HBONE}]
status:
  addresses: [{type: IPAddress, value: 10.96.0.200}]
---
apiVersion: v1
kind: Service
metadata:
  name: waypoint
  namespace: shop
  labels: {gateway.istio.io/managed: istio.io-mesh-controller, gateway.networking.k8s.io/gateway-name: waypoint}
spec:
  selector: {gateway.networking.k8s.io/gateway-name: waypoint}
  clusterIP: 10.96.0.100
  ports: [{name: mesh, port: 15008}]
---
apiVersion: v1
kind: Service
metadata:
  name: reviews
  namespace: shop
  labels: {istio.io/ingress-use-waypoint: "true"}
spec:
  selector: {app: reviews}
  clusterIP: 10.96.0.20
  clusterIPs: [10.96.0.20]
  ipFamilies: [IPv4]
  ports: [{name: http, port: 9080, targetPort: http-api}]
---
apiVersion: v1
kind: Service
metadata: {name: ratings, namespace: shop}
spec:
  selector: {app: ratings}
  clusterIP: 10.96.0.30
  ports: [{name: grpc, port: 50051, targetPort: grpc-port}]
---
apiVersion: v1
kind: Pod
metadata:
  name: waypoint-5d8f7c6b4-kq2xz
  namespace: shop
  labels:
    gateway.networking.k8s.io/gateway-name: waypoint
    gateway.istio.io/managed: istio.io-mesh-controller
    istio.io/dataplane-mode: none
spec:
  nodeName: node-a
  serviceAccountName: waypoint
  containers: [{name: istio-proxy, ports: [{name: mesh, containerPort: 15008}]}]
status:
  phase: Running
  podIP: 10.244.1.9
  conditions: [{type: Ready, status: "True"}]
---
apiVersion: v1
kind: Pod
metadata:
  name: reviews-v1-7d8f9b6c5d-lm4wp
  generateName: reviews-v1-7d8f9b6c5d-
  namespace: shop
  labels: {app: reviews, version: v1, pod-template-hash: 7d8f9b6c5d}
  ownerReferences:
  - {apiVersion: apps/v1, kind: ReplicaSet, name: reviews-v1-7d8f9b6c5d, uid: 1b2c, controller: true, blockOwnerDeletion: true}
  uid: 6b1e0c2a-0000-4000-8000-000000000001
  creationTimestamp: "2026-12-01T10:00:00Z"
spec:
  nodeName: node-a
  serviceAccountName: bookinfo-reviews
  containers:
  - name: reviews
    image: docker.io/istio/examples-bookinfo-reviews-v1:1.20.2
    ports: [{name: http-api, containerPort: 9081, protocol: TCP}]
status:
  phase: Running
  hostIP: 172.18.0.3
  podIP: 10.244.1.5
  podIPs: [{ip: 10.244.1.5}]
  conditions: [{type: Ready, status: "True"}, {type: ContainersReady, status: "True"}]
---
apiVersion: v1
kind: Pod
metadata:
  name: reviews-v2-56f7d8c9b4-pq7rt
  namespace: shop
  labels: {app: reviews, version: v2, istio.io/use-waypoint: wl-waypoint}
spec:
  nodeName: node-b
  serviceAccountName: bookinfo-reviews
  containers: [{name: reviews, ports: [{name: http-api, containerPort: 9082}]}]
status:
  phase: Running
  podIPs: [{ip: 10.244.2.6}, {ip: "fd00::6"}]
  conditions: [{type: Ready, status: "False"}]
---
apiVersion: v1
kind: Pod
metadata:
  name: ratings-0
  namespace: shop
  labels: {app: ratings, istio.io/dataplane-mode: none, app.kubernetes.io/version: "2.1"}
spec:
  nodeName: node-b
  serviceAccountName: ratings
  containers: [{name: ratings, ports: [{name: http, containerPort: 9080}]}]
status: {phase: Running, podIP: 10.244.2.8}
---
# Finished, and not yet scheduled: no workload.
apiVersion: v1
kind: Pod
metadata: {name: migrate-29012345-abcde, namespace: shop, labels: {app: reviews}}
spec: {nodeName: node-a, restartPolicy: Never}
status: {phase: Succeeded, podIP: 10.244.1.77}
---
apiVersion: v1
kind: Pod
metadata: {name: pending, namespace: shop}
spec: {}
status: {phase: Pending}
---
apiVersion: v1
kind: Service
metadata: {name: db, namespace: legacy}
spec:
  selector: {app: db}
  clusterIPs: [10.96.1.5]
  internalTrafficPolicy: Local
  ports: [{name: tcp-postgres, port: 5432}]
---
apiVersion: v1
kind: Pod
metadata: {name: db-0, namespace: legacy, labels: {app: db}}
spec:
  nodeName: node-b
  containers: [{name: postgres, ports: [{containerPort: 5432}]}]
status: {phase: Running, podIP: 10.244.2.7, conditions: [{type: Ready, status: "True"}]}
---
# Sidecar-injected: istio-cni does not enrol it, whatever its labels say.
apiVersion: v1
kind: Pod
metadata:
  name: db-1
  namespace: legacy
  labels: {app: db, istio.io/dataplane-mode: ambient}
  annotations: {sidecar.istio.io/status: '{"containers":["istio-proxy"]}'}
spec: {nodeName: node-a, serviceAccountName: db}
status: {phase: Running, podIP: 10.244.1.8}
---
apiVersion: networking.istio.io/v1
kind: WorkloadEntry
metadata: {name: vm-1, namespace: legacy}
spec:
  address: 192.168.10.5
  labels: {app: db}
  serviceAccount: vm
  ports: {tcp-postgres: 15432}
  locality: us-east1/us-east1-b
`;

const b64 = (ip: string): string => Buffer.from(ipToBytes(ip) ?? new Uint8Array()).toString('base64');
const waypointHost = {
  hostname: { namespace: 'shop', hostname: 'waypoint.shop.svc.cluster.local' },
  hboneMtlsPort: 15008,
};

// What istiod sends, as protojson (default values omitted, bytes in base64). Where istiod's message and
// ours differ on the wire, the difference is named.
const WORKLOADS: Record<string, JsonObject> = {
  'Kubernetes//Pod/shop/waypoint-5d8f7c6b4-kq2xz': {
    uid: 'Kubernetes//Pod/shop/waypoint-5d8f7c6b4-kq2xz',
    name: 'waypoint-5d8f7c6b4-kq2xz',
    namespace: 'shop',
    addresses: [b64('10.244.1.9')],
    serviceAccount: 'waypoint',
    node: 'node-a',
    // An instance of the waypoint (gateway-name label): never a waypoint of its own (computeWaypoint).
    // Labelled dataplane-mode none, so not redirected: TCP (tunnelProtocol NONE, omitted).
    canonicalName: 'waypoint-5d8f7c6b4-kq2xz',
    canonicalRevision: 'latest',
    workloadType: 'POD',
    workloadName: 'waypoint-5d8f7c6b4-kq2xz',
    services: {
      'shop/waypoint.shop.svc.cluster.local': { ports: [{ servicePort: 15008, targetPort: 15008 }] },
    },
    clusterId: 'Kubernetes',
  },
  'Kubernetes//Pod/shop/reviews-v1-7d8f9b6c5d-lm4wp': {
    uid: 'Kubernetes//Pod/shop/reviews-v1-7d8f9b6c5d-lm4wp',
    name: 'reviews-v1-7d8f9b6c5d-lm4wp',
    namespace: 'shop',
    addresses: [b64('10.244.1.5')],
    tunnelProtocol: 'HBONE',
    serviceAccount: 'bookinfo-reviews',
    node: 'node-a',
    // The namespace's waypoint is for services only: a namespace-inherited mismatch is no waypoint.
    canonicalName: 'reviews',
    canonicalRevision: 'v1',
    workloadType: 'POD',
    // The ReplicaSet owner minus the pod-template-hash: the Deployment (GetDeployMetaFromPod).
    workloadName: 'reviews-v1',
    // The named targetPort resolved from the pod's container port.
    services: { 'shop/reviews.shop.svc.cluster.local': { ports: [{ servicePort: 9080, targetPort: 9081 }] } },
    clusterId: 'Kubernetes',
  },
  'Kubernetes//Pod/shop/reviews-v2-56f7d8c9b4-pq7rt': {
    uid: 'Kubernetes//Pod/shop/reviews-v2-56f7d8c9b4-pq7rt',
    name: 'reviews-v2-56f7d8c9b4-pq7rt',
    namespace: 'shop',
    addresses: [b64('10.244.2.6'), b64('fd00::6')],
    tunnelProtocol: 'HBONE',
    serviceAccount: 'bookinfo-reviews',
    waypoint: { address: { address: b64('10.96.0.200') }, hboneMtlsPort: 15008 },
    node: 'node-b',
    canonicalName: 'reviews',
    canonicalRevision: 'v2',
    workloadType: 'POD',
    workloadName: 'reviews-v2-56f7d8c9b4-pq7rt',
    services: { 'shop/reviews.shop.svc.cluster.local': { ports: [{ servicePort: 9080, targetPort: 9082 }] } },
    // Ready condition False.
    status: 'UNHEALTHY',
    clusterId: 'Kubernetes',
  },
  'Kubernetes//Pod/shop/ratings-0': {
    uid: 'Kubernetes//Pod/shop/ratings-0',
    name: 'ratings-0',
    namespace: 'shop',
    addresses: [b64('10.244.2.8')],
    serviceAccount: 'ratings',
    node: 'node-b',
    canonicalName: 'ratings',
    canonicalRevision: '2.1',
    workloadType: 'POD',
    workloadName: 'ratings-0',
    // No container port named grpc-port: the port is left out, the service stays.
    services: { 'shop/ratings.shop.svc.cluster.local': {} },
    clusterId: 'Kubernetes',
  },
  'Kubernetes//Pod/legacy/db-0': {
    uid: 'Kubernetes//Pod/legacy/db-0',
    name: 'db-0',
    namespace: 'legacy',
    addresses: [b64('10.244.2.7')],
    // istiod sends `serviceAccount: default` (the admission default); workload-api's encoder elides the
    // default, which ztunnel reads back as `default` (istio/ztunnel@62d82653:src/state/workload.rs).
    node: 'node-b',
    canonicalName: 'db',
    canonicalRevision: 'latest',
    workloadType: 'POD',
    workloadName: 'db-0',
    services: { 'legacy/db.legacy.svc.cluster.local': { ports: [{ servicePort: 5432, targetPort: 5432 }] } },
    clusterId: 'Kubernetes',
  },
  'Kubernetes//Pod/legacy/db-1': {
    uid: 'Kubernetes//Pod/legacy/db-1',
    name: 'db-1',
    namespace: 'legacy',
    addresses: [b64('10.244.1.8')],
    serviceAccount: 'db',
    node: 'node-a',
    canonicalName: 'db',
    canonicalRevision: 'latest',
    workloadType: 'POD',
    workloadName: 'db-1',
    services: { 'legacy/db.legacy.svc.cluster.local': { ports: [{ servicePort: 5432, targetPort: 5432 }] } },
    clusterId: 'Kubernetes',
  },
  'Kubernetes/networking.istio.io/WorkloadEntry/legacy/vm-1': {
    uid: 'Kubernetes/networking.istio.io/WorkloadEntry/legacy/vm-1',
    name: 'vm-1',
    namespace: 'legacy',
    addresses: [b64('192.168.10.5')],
    serviceAccount: 'vm',
    canonicalName: 'db',
    canonicalRevision: 'latest',
    workloadType: 'POD',
    workloadName: 'vm-1',
    // The entry's port named like the Service port overrides the target port.
    services: { 'legacy/db.legacy.svc.cluster.local': { ports: [{ servicePort: 5432, targetPort: 15432 }] } },
    clusterId: 'Kubernetes',
    locality: { region: 'us-east1', zone: 'us-east1-b' },
  },
};

const SERVICES: Record<string, JsonObject> = {
  'shop/waypoint.shop.svc.cluster.local': {
    name: 'waypoint',
    namespace: 'shop',
    hostname: 'waypoint.shop.svc.cluster.local',
    addresses: [{ address: b64('10.96.0.100') }],
    // port name `mesh` is no protocol: UNKNOWN (omitted). The waypoint's own Service gets no waypoint.
    ports: [{ servicePort: 15008, targetPort: 15008 }],
    canonical: true,
  },
  'shop/reviews.shop.svc.cluster.local': {
    name: 'reviews',
    namespace: 'shop',
    hostname: 'reviews.shop.svc.cluster.local',
    addresses: [{ address: b64('10.96.0.20') }],
    // A named targetPort is 0 on the Service; each workload carries the resolved port.
    ports: [{ servicePort: 9080, appProtocol: 'HTTP11' }],
    waypoint: waypointHost,
    ipFamilies: 'IPV4_ONLY',
    canonical: true,
    ingressUseWaypoint: true,
  },
  'shop/ratings.shop.svc.cluster.local': {
    name: 'ratings',
    namespace: 'shop',
    hostname: 'ratings.shop.svc.cluster.local',
    addresses: [{ address: b64('10.96.0.30') }],
    ports: [{ servicePort: 50051, appProtocol: 'GRPC' }],
    waypoint: waypointHost,
    canonical: true,
  },
  'legacy/db.legacy.svc.cluster.local': {
    name: 'db',
    namespace: 'legacy',
    hostname: 'db.legacy.svc.cluster.local',
    addresses: [{ address: b64('10.96.1.5') }],
    ports: [{ servicePort: 5432, targetPort: 5432, appProtocol: 'TCP' }],
    // internalTrafficPolicy: Local.
    loadBalancing: { routingPreference: ['NODE'], mode: 'STRICT' },
    canonical: true,
  },
};

describe('a mesh file of Kubernetes objects', () => {
  it('yields the Workloads and Services istiod sends, field by field', () => {
    const res = parseMeshFile(KUBERNETES);
    if (res.isErr()) throw res.error;
    const got = res.value;
    expect(got.warnings).toEqual([]);
    expect(got.notForZtunnel).toEqual([]);
    expect(
      Object.fromEntries(got.workloads.map((w) => [w.uid, toJson(WorkloadSchema, workloadToProto(w))])),
    ).toEqual(WORKLOADS);
    expect(
      Object.fromEntries(got.services.map((s) => [s.key, toJson(ServiceSchema, serviceToProto(s))])),
    ).toEqual(SERVICES);
    // The model (what a ztunnel's state holds): identity and defaults filled in.
    const db0 = got.workloads.find((w) => w.name === 'db-0');
    expect(db0?.identity).toBe('spiffe://cluster.local/ns/legacy/sa/default');
    expect(db0?.protocol).toBe('TCP');
  });

  it('honours istio.io/waypoint-for, use-waypoint none, and a waypoint that is not ready', () => {
    const text = `
apiVersion: v1
kind: Namespace
metadata: {name: a, labels: {istio.io/use-waypoint: all-wp}}
---
apiVersion: gateway.networking.k8s.io/v1
kind: Gateway
metadata: {name: all-wp, namespace: a, labels: {istio.io/waypoint-for: all}}
spec: {gatewayClassName: istio-waypoint, listeners: [{name: mesh, port: 15008, protocol: HBONE}]}
status: {addresses: [{value: 10.96.9.9}]}
---
apiVersion: gateway.networking.k8s.io/v1
kind: Gateway
metadata: {name: none-wp, namespace: a, labels: {istio.io/waypoint-for: none}}
spec: {gatewayClassName: istio-waypoint, listeners: [{name: mesh, port: 15008, protocol: HBONE}]}
status: {addresses: [{type: IPAddress, value: 10.96.9.10}]}
---
apiVersion: gateway.networking.k8s.io/v1
kind: Gateway
metadata: {name: pending-wp, namespace: a}
spec: {gatewayClassName: istio-waypoint, listeners: [{name: mesh, port: 15008, protocol: HBONE}]}
---
apiVersion: v1
kind: Pod
metadata: {name: inherits, namespace: a}
status: {podIP: 10.0.0.1}
---
apiVersion: v1
kind: Pod
metadata: {name: opts-out, namespace: a, labels: {istio.io/use-waypoint: none}}
status: {podIP: 10.0.0.2}
---
apiVersion: v1
kind: Pod
metadata: {name: wants-none-wp, namespace: a, labels: {istio.io/use-waypoint: none-wp}}
status: {podIP: 10.0.0.3}
---
apiVersion: v1
kind: Service
metadata: {name: s1, namespace: a, labels: {istio.io/use-waypoint: pending-wp}}
spec: {clusterIP: 10.96.1.1, ports: [{port: 80}]}
---
apiVersion: v1
kind: Service
metadata: {name: headless, namespace: a}
spec: {clusterIP: None, ports: [{port: 80}]}
---
apiVersion: v1
kind: Service
metadata: {name: ext, namespace: a}
spec: {type: ExternalName, externalName: example.com}
`;
    const res = parseMeshFile(text);
    if (res.isErr()) throw res.error;
    const w = (name: string) => res.value.workloads.find((x) => x.name === name);
    // The CRD defaults an address's type to IPAddress.
    expect(w('inherits')?.waypoint).toEqual({
      destination: { kind: 'address', network: '', address: '10.96.9.9' },
      hboneMtlsPort: 15008,
    });
    expect(w('opts-out')?.waypoint).toBeUndefined();
    expect(w('wants-none-wp')?.waypoint).toBeUndefined();
    const s = (name: string) => res.value.services.find((x) => x.name === name);
    expect(s('s1')?.waypoint).toBeUndefined();
    expect(s('headless')?.vips).toEqual([]);
    expect(s('headless')?.waypoint).toEqual(w('inherits')?.waypoint);
    expect(s('ext')).toBeUndefined();
    expect(res.value.warnings).toEqual([
      'Service a/s1: waypoint a/pending-wp is not ready (its Gateway has no status.addresses)',
      'Pod a/wants-none-wp: waypoint a/none-wp does not accept workload traffic (istio.io/waypoint-for: none)',
    ]);
  });

  it('attaches selector AuthorizationPolicies to the pods they select, sorted, root namespace included', () => {
    const text = `
apiVersion: v1
kind: Pod
metadata: {name: web, namespace: a, labels: {app: web, tier: front}}
status: {podIP: 10.0.0.1}
---
apiVersion: v1
kind: Pod
metadata: {name: other, namespace: a, labels: {app: other}}
status: {podIP: 10.0.0.2}
---
apiVersion: security.istio.io/v1
kind: AuthorizationPolicy
metadata: {name: z-web, namespace: a}
spec: {selector: {matchLabels: {app: web}}, action: DENY, rules: [{from: [{source: {namespaces: [b]}}]}]}
---
apiVersion: security.istio.io/v1
kind: AuthorizationPolicy
metadata: {name: front, namespace: istio-system}
spec: {selector: {matchLabels: {tier: front}}, action: ALLOW, rules: [{}]}
---
apiVersion: security.istio.io/v1
kind: AuthorizationPolicy
metadata: {name: elsewhere, namespace: c}
spec: {selector: {matchLabels: {app: web}}, action: ALLOW, rules: [{}]}
`;
    const res = parseMeshFile(text);
    if (res.isErr()) throw res.error;
    const byName = Object.fromEntries(res.value.workloads.map((w) => [w.name, w.authorizationPolicies]));
    expect(byName).toEqual({ web: ['a/z-web', 'istio-system/front'], other: [] });
  });

  it('accepts the networking and L7 kinds, validated, as not part of ztunnel view', () => {
    const text = `
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: reviews, namespace: shop}
spec: {hosts: [reviews], http: [{route: [{destination: {host: reviews}}]}]}
---
apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata: {name: r, namespace: shop}
spec:
  parentRefs: [{group: "", kind: Service, name: reviews, port: 9080}]
  rules: [{backendRefs: [{name: reviews, port: 9080}]}]
---
apiVersion: security.istio.io/v1
kind: RequestAuthentication
metadata: {name: jwt, namespace: shop}
spec: {jwtRules: [{issuer: "https://issuer.example", jwksUri: "https://issuer.example/jwks"}]}
---
apiVersion: gateway.networking.k8s.io/v1
kind: Gateway
metadata: {name: ingress, namespace: shop}
spec: {gatewayClassName: istio, listeners: [{name: http, port: 80, protocol: HTTP}]}
---
apiVersion: networking.istio.io/v1
kind: ServiceEntry
metadata: {name: ext, namespace: shop}
spec: {hosts: [api.example.com], ports: [{number: 443, name: tls, protocol: TLS}], resolution: DNS}
`;
    const res = parseMeshFile(text);
    if (res.isErr()) throw res.error;
    expect(res.value.notForZtunnel.map((d) => `${d.path} ${d.kind} ${d.namespace}/${d.name}`).sort()).toEqual(
      [
        'document[0] VirtualService shop/reviews',
        'document[1] HTTPRoute shop/r',
        'document[2] RequestAuthentication shop/jwt',
        'document[3] Gateway shop/ingress',
        'document[4] ServiceEntry shop/ext',
      ],
    );
    expect(res.value.workloads).toEqual([]);
  });

  it('rejects bad objects with a typed code and the path, at every depth', () => {
    const cases: [string, string, string][] = [
      [
        'apiVersion: v1\nkind: Service\nmetadata: {name: s}\nspec: {ports: [{port: 80, targetPort: true}]}',
        'document[0].spec.ports[0].targetPort',
        'CONTROL_PLANE_ERR_BAD_OBJECT',
      ],
      [
        'apiVersion: v1\nkind: Pod\nmetadata: {name: p}\nspec: {containers: [{name: c, ports: [{containerPort: 80, nmae: x}]}]}',
        'document[0].spec.containers[0].ports[0].nmae',
        'CONTROL_PLANE_ERR_BAD_OBJECT',
      ],
      [
        'apiVersion: v1\nkind: Pod\nmetadata: {name: p, labelz: {}}',
        'document[0].metadata.labelz',
        'CONTROL_PLANE_ERR_BAD_OBJECT',
      ],
      [
        'apiVersion: v1\nkind: Pod\nmetadata: {name: p}\nstatus: {podIP: 10.0.0.300}',
        'document[0].status.podIP',
        'CONTROL_PLANE_ERR_BAD_OBJECT',
      ],
      [
        'apiVersion: v2\nkind: Pod\nmetadata: {name: p}',
        'document[0].apiVersion',
        'CONTROL_PLANE_ERR_BAD_OBJECT',
      ],
      [
        'apiVersion: v1\nkind: Service\nmetadata: {name: S_1}',
        'document[0].metadata.name',
        'CONTROL_PLANE_ERR_BAD_OBJECT',
      ],
      [
        'apiVersion: networking.istio.io/v1\nkind: WorkloadEntry\nmetadata: {name: w}\nspec: {address: 1.2.3.4, ports: {http: 70000}}',
        'document[0].spec.ports.http',
        'CONTROL_PLANE_ERR_BAD_OBJECT',
      ],
      [
        'apiVersion: gateway.networking.k8s.io/v1\nkind: Gateway\nmetadata: {name: g}\nspec: {gatewayClassName: istio-waypoint, listeners: [{name: m, port: 15008, protocol: HBONE, allowedRoutes: {namespaces: {form: All}}}]}',
        'document[0].spec.listeners[0].allowedRoutes.namespaces.form',
        'CONTROL_PLANE_ERR_BAD_OBJECT',
      ],
      [
        'apiVersion: v1\nkind: Pod\nmetadata: {name: p}\n---\napiVersion: v1\nkind: Pod\nmetadata: {name: p, namespace: default}',
        'document[1].metadata.name',
        'CONTROL_PLANE_ERR_BAD_OBJECT',
      ],
      [
        'apiVersion: networking.istio.io/v1\nkind: VirtualService\nmetadata: {name: v}\nspec: {hosts: [a], htp: []}',
        'document[0].spec.htp',
        'CONTROL_PLANE_ERR_BAD_ROUTE',
      ],
    ];
    for (const [text, path, code] of cases) {
      const res = parseMeshFile(text);
      expect(res.isErr(), text).toBe(true);
      if (res.isOk()) continue;
      expect(res.error.code, text).toBe(code);
      expect(
        res.error.issues.map((i) => i.path),
        text,
      ).toContain(path);
    }
  });

  it('keeps the demo mesh file working: a ztunnel-shaped entry wins over a Kubernetes object of the same name', () => {
    const text = `
services:
- name: reviews
  namespace: default
  hostname: reviews.default.svc.cluster.local
  vips: ["/10.96.0.20"]
  ports: { 9080: 9080 }
---
apiVersion: v1
kind: Service
metadata: {name: reviews, namespace: default}
spec: {selector: {app: reviews}, ports: [{name: http, port: 9080}]}
`;
    const res = parseMeshFile(text);
    if (res.isErr()) throw res.error;
    expect(res.value.services).toHaveLength(1);
    expect(res.value.services[0]?.vips).toEqual([{ network: '', address: '10.96.0.20' }]);
    expect(res.value.notForZtunnel).toEqual([
      { path: 'document[1]', kind: 'Service', name: 'reviews', namespace: 'default' },
    ]);
  });
});

describe('over real gRPC delta xDS', () => {
  const cleanups: (() => unknown)[] = [];
  afterEach(async () => {
    for (const c of cleanups.splice(0).reverse()) await c();
  });

  it('a client receives the translated Workloads and Services', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'cp-k8s-'));
    cleanups.push(() => rm(dir, { recursive: true, force: true }));
    const path = join(dir, 'mesh.yaml');
    await writeFile(path, KUBERNETES);
    const mesh = createWorkloadStore();
    const watcher = await watchMeshFile({ path, store: mesh });
    cleanups.push(() => watcher.close());
    const server = createXdsServer({ store: mesh });
    const port = await server.listen();
    cleanups.push(() => server.close());
    const replica = createWorkloadStore();
    const client = createXdsClient({ address: `127.0.0.1:${port}`, store: replica });
    cleanups.push(() => client.close());
    await client.ready({ timeoutMs: 10_000 });
    const parsed = parseMeshFile(KUBERNETES)._unsafeUnwrap();
    expect(replica.stats()).toMatchObject({ workloads: 7, services: 4 });
    for (const w of parsed.workloads) {
      const got = replica.workload(w.uid);
      expect(got, w.uid).toBeDefined();
      if (got !== undefined)
        expect(toJson(WorkloadSchema, workloadToProto(got)), w.uid).toEqual(WORKLOADS[w.uid]);
    }
    for (const s of parsed.services) {
      const got = replica.service(s.key);
      expect(got, s.key).toBeDefined();
      if (got !== undefined)
        expect(toJson(ServiceSchema, serviceToProto(got)), s.key).toEqual(SERVICES[s.key]);
    }
    expect(replica.workloadByAddress('fd00::6')?.name).toBe('reviews-v2-56f7d8c9b4-pq7rt');
  });
});
