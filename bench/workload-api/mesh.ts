/**
 * The realistic mesh of issue 15, as istiod would describe it: 100 namespaces, 10,000 services and 100,000
 * workloads, dual-stack (an IPv4 and an IPv6 address per pod, two VIPs per service), two ports per service
 * (80 -> 8080 HTTP, 443 -> 8443 TLS), a SPIFFE SAN per service, one waypoint per namespace (a Service and two
 * pods) fronting 5 % of the services, and 1 % of the services scaled to zero (no endpoints). Resources come
 * in a fixed pseudo-random order, so some workloads arrive before their service (staged endpoints), as they
 * do from a real control plane.
 * @module
 */
import {
  createService,
  createWorkload,
  type MeshResource,
  type PortMapping,
  type Service,
  seededRandom,
  type Workload,
} from '@ambient-kit/workload-api';

export const NAMESPACES = 100;
export const SERVICES = 10_000;
export const WORKLOADS = 100_000;
const WAYPOINT_PODS = 2;

const PORTS: readonly PortMapping[] = [
  { servicePort: 80, targetPort: 8080, appProtocol: 'HTTP11' },
  { servicePort: 443, targetPort: 8443, appProtocol: 'TLS' },
];
const WAYPOINT_PORTS: readonly PortMapping[] = [
  { servicePort: 15008, targetPort: 15008, appProtocol: 'UNKNOWN' },
  { servicePort: 15021, targetPort: 15021, appProtocol: 'HTTP11' },
];

/** Service `s` (0..SERVICES) lives in namespace `s % NAMESPACES`; index `s < NAMESPACES` is that namespace's waypoint. */
const namespaceOf = (s: number): string => `ns-${s % NAMESPACES}`;
const nameOf = (s: number): string => (s < NAMESPACES ? 'waypoint' : `svc-${s}`);
export const hostOf = (s: number): string => `${nameOf(s)}.${namespaceOf(s)}.svc.cluster.local`;
/** The service's VIPs. */
export const vip4 = (s: number): string => `10.96.${s >> 8}.${s & 255}`;
export const vip6 = (s: number): string => `fd00:96::${s.toString(16)}`;
/** Workload `i`'s addresses. */
export const pod4 = (i: number): string => `10.${64 + (i >> 16)}.${(i >> 8) & 255}.${i & 255}`;
export const pod6 = (i: number): string => `fd00:10:${(i >> 16).toString(16)}::${(i & 0xffff).toString(16)}`;

/** Whether service `s` (a regular one) sits behind its namespace's waypoint: 5 % of all services. */
export const behindWaypoint = (s: number): boolean => s >= NAMESPACES && s % 20 === 1;
/** Whether service `s` is scaled to zero: 1 % of all services. */
export const scaledToZero = (s: number): boolean => s >= NAMESPACES && s % 100 === 7;

/** What the benchmarks need besides the resources. */
export interface RealisticMesh {
  /** Every resource, in the order a control plane sends them. */
  readonly resources: readonly MeshResource[];
  /** Regular services with endpoints and no waypoint. */
  readonly plainServices: readonly number[];
  readonly waypointServices: readonly number[];
  readonly emptyServices: readonly number[];
  /** Regular workloads, by index. */
  readonly pods: readonly number[];
}

function service(s: number): Service {
  const namespace = namespaceOf(s);
  const waypoint = s < NAMESPACES;
  return createService({
    name: nameOf(s),
    namespace,
    hostname: hostOf(s),
    vips: [
      { network: '', address: vip4(s) },
      { network: '', address: vip6(s) },
    ],
    ports: waypoint ? WAYPOINT_PORTS : PORTS,
    subjectAltNames: [`spiffe://cluster.local/ns/${namespace}/sa/${nameOf(s)}`],
    ipFamilies: 'Dual',
    ...(behindWaypoint(s)
      ? {
          waypoint: {
            destination: { kind: 'hostname', namespace, hostname: hostOf(s % NAMESPACES) },
            hboneMtlsPort: 15008,
          },
        }
      : {}),
  });
}

function workload(i: number, s: number, ordinal: number): Workload {
  const namespace = namespaceOf(s);
  const name = `${nameOf(s)}-7f9c${(s % 97).toString(16)}-${ordinal.toString(36)}`;
  return createWorkload({
    uid: `Kubernetes//Pod/${namespace}/${name}`,
    name,
    namespace,
    serviceAccount: nameOf(s),
    workloadIps: [pod4(i), pod6(i)],
    protocol: 'HBONE',
    node: `node-${i % 500}`,
    clusterId: 'Kubernetes',
    canonicalName: nameOf(s),
    canonicalRevision: 'v1',
    workloadName: nameOf(s),
    workloadType: 'deployment',
    locality: { region: 'us-east1', zone: `us-east1-${'bcd'[i % 3]}`, subzone: '' },
    services: [
      {
        key: `${namespace}/${hostOf(s)}`,
        namespace,
        hostname: hostOf(s),
        ports: s < NAMESPACES ? WAYPOINT_PORTS : PORTS,
      },
    ],
  });
}

/**
 * Builds the mesh.
 *
 * @example
 * ```ts
 * const mesh = realisticMesh();
 * store.apply({ resources: mesh.resources });
 * ```
 */
export function realisticMesh(): RealisticMesh {
  const resources: MeshResource[] = [];
  const plainServices: number[] = [];
  const waypointServices: number[] = [];
  const emptyServices: number[] = [];
  const pods: number[] = [];
  for (let s = 0; s < SERVICES; s++) {
    resources.push(service(s));
    if (s < NAMESPACES) continue;
    if (behindWaypoint(s)) waypointServices.push(s);
    else if (scaledToZero(s)) emptyServices.push(s);
    else plainServices.push(s);
  }
  let i = 0;
  // Two pods per waypoint, then the rest spread evenly over the services that have endpoints.
  for (let s = 0; s < NAMESPACES; s++)
    for (let k = 0; k < WAYPOINT_PODS; k++) resources.push(workload(i++, s, k));
  const backed = [...plainServices, ...waypointServices].sort((a, b) => a - b);
  for (let k = 0; i < WORKLOADS; k++) {
    const s = backed[k % backed.length] as number;
    pods.push(i);
    resources.push(workload(i++, s, Math.floor(k / backed.length)));
  }
  // A fixed shuffle (Fisher-Yates on a seeded generator).
  const random = seededRandom(15);
  for (let k = resources.length - 1; k > 0; k--) {
    const j = Math.floor(random() * (k + 1));
    [resources[k], resources[j]] = [resources[j] as MeshResource, resources[k] as MeshResource];
  }
  return { resources, plainServices, waypointServices, emptyServices, pods };
}
