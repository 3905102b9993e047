/**
 * Kubernetes objects → the `istio.workload` Workload and Service messages istiod sends ztunnel, computed as
 * istiod's ambient index computes them (istio/istio@86c9f01f:pilot/pkg/serviceregistry/ambient/workloads.go,
 * services.go, waypoints.go, helpers.go), for one cluster on one network. Pure: typed objects in, protobuf
 * messages out (docs/control-plane.md "Kubernetes objects").
 * @module
 */
import {
  ApplicationTunnel_Protocol,
  ApplicationTunnelSchema,
  AppProtocol,
  type GatewayAddressProto,
  GatewayAddressSchema,
  IPFamilies,
  ipToBytes,
  LoadBalancing_HealthPolicy,
  LoadBalancing_Mode,
  LoadBalancing_Scope,
  type LoadBalancingProto,
  LoadBalancingSchema,
  LocalitySchema,
  NamespacedHostnameSchema,
  NetworkAddressSchema,
  NetworkMode,
  PortListSchema,
  type PortProto,
  PortSchema,
  type ServiceProto,
  ServiceSchema,
  TunnelProtocol,
  type WorkloadProto,
  WorkloadSchema,
  WorkloadStatus,
  WorkloadType,
} from '@ambient-kit/workload-api/codec';
import { create } from '@bufbuild/protobuf';
import type {
  GatewayClassObject,
  GatewayObject,
  KubernetesObject,
  LabelSelector,
  Meta,
  NamespaceObject,
  PodObject,
  ServiceObject,
  ServicePortObject,
  StringMap,
  WorkloadEntryObject,
} from './kubernetes-objects.js';
import { selectorMatches } from './kubernetes-objects.js';

/** How the cluster is seen (istiod's own settings). */
export interface AmbientIndexOptions {
  /** istiod `--domain` / `DOMAIN_SUFFIX`. Default `cluster.local`. */
  readonly domainSuffix?: string;
  /** istiod `CLUSTER_ID`. Default `Kubernetes`. */
  readonly clusterId?: string;
  /** The local network (istiod `--network` / the `topology.istio.io/network` label). Default empty. */
  readonly network?: string;
  /** MeshConfig `trustDomain`. Default `cluster.local` (sent as empty, as istiod elides it). */
  readonly trustDomain?: string;
  /** MeshConfig `rootNamespace`, for selector policies. Default `istio-system`. */
  readonly rootNamespace?: string;
  /** Where ztunnel runs (istio-cni never enrols ztunnel itself). Default `istio-system`. */
  readonly systemNamespace?: string;
}

/** A selector-scoped Authorization istiod sends, for attaching to the workloads it selects. */
export interface SelectorPolicy {
  /** `namespace/name`. */
  readonly key: string;
  readonly namespace: string;
  readonly matchLabels: StringMap;
}

/** An object with where it was in the file. */
export interface Located<T> {
  readonly object: T;
  readonly path: string;
}

/** What the index produced. */
export interface AmbientIndexResult {
  /** Each with the path of the object it came from. */
  readonly workloads: readonly Located<WorkloadProto>[];
  readonly services: readonly Located<ServiceProto>[];
  /** istiod's waypoint-binding status messages (a waypoint that is not ready, refused, ...). */
  readonly warnings: readonly string[];
}

// Label and annotation names (istio/api@b8f8791d:label/labels.yaml, annotation/annotations.yaml).
const DATAPLANE_MODE = 'istio.io/dataplane-mode';
const USE_WAYPOINT = 'istio.io/use-waypoint';
const USE_WAYPOINT_NAMESPACE = 'istio.io/use-waypoint-namespace';
const WAYPOINT_FOR = 'istio.io/waypoint-for';
const INGRESS_USE_WAYPOINT = 'istio.io/ingress-use-waypoint';
const GATEWAY_NAME = 'gateway.networking.k8s.io/gateway-name';
const GATEWAY_MANAGED = 'gateway.istio.io/managed';
const SIDECAR_STATUS = 'sidecar.istio.io/status';
const AMBIENT_REDIRECTION = 'ambient.istio.io/redirection';
const INBOUND_BINDING = 'ambient.istio.io/waypoint-inbound-binding';
const TUNNEL = 'networking.istio.io/tunnel';
const TRAFFIC_DISTRIBUTION = 'networking.istio.io/traffic-distribution';
const WORKLOAD_NAME = 'service.istio.io/workload-name';
const AUTO_REGISTRATION_GROUP = 'istio.io/autoRegistrationGroup';

interface Waypoint {
  readonly namespace: string;
  readonly name: string;
  readonly address: GatewayAddressProto | undefined;
  readonly trafficType: string;
  readonly binding: { readonly protocol: ApplicationTunnel_Protocol; readonly port: number } | undefined;
  readonly from: string;
  readonly selector: LabelSelector | undefined;
}

/** A waypoint binding that failed, as istiod's status message says it. */
type Binding = { readonly waypoint: Waypoint | undefined; readonly warning?: string };

/**
 * Computes the Workload and Service messages istiod would send for these objects.
 *
 * @param objects - Validated objects with their paths.
 * @param selectorPolicies - The selector-scoped policies sent to ztunnel.
 * @param options - Cluster settings.
 * @returns The messages, with istiod's binding warnings.
 * @example
 * ```ts
 * const { workloads, services } = buildAmbientIndex(objects, [], { clusterId: 'Kubernetes' });
 * ```
 */
export function buildAmbientIndex(
  objects: readonly Located<KubernetesObject>[],
  selectorPolicies: readonly SelectorPolicy[],
  options: AmbientIndexOptions = {},
): AmbientIndexResult {
  const domain = options.domainSuffix ?? 'cluster.local';
  const clusterId = options.clusterId ?? 'Kubernetes';
  const network = options.network ?? '';
  const td = options.trustDomain ?? 'cluster.local';
  // istio/istio@86c9f01f:pilot/pkg/serviceregistry/ambient/workloads.go pickTrustDomain.
  const trustDomain = td === 'cluster.local' ? '' : td;
  const rootNamespace = options.rootNamespace ?? 'istio-system';
  const systemNamespace = options.systemNamespace ?? 'istio-system';
  const warnings: string[] = [];

  const of = <T extends KubernetesObject>(kind: T['kind']): Located<T>[] =>
    objects.filter((o): o is Located<T> => o.object.kind === kind);
  const namespaces = new Map<string, NamespaceObject>();
  for (const n of of<NamespaceObject>('Namespace')) namespaces.set(n.object.metadata.name, n.object);
  const classes = new Map<string, GatewayClassObject>();
  for (const c of of<GatewayClassObject>('GatewayClass')) classes.set(c.object.metadata.name, c.object);
  const nsLabels = (ns: string): StringMap => namespaces.get(ns)?.metadata.labels ?? {};

  const waypoints = new Map<string, Waypoint>();
  for (const { object: gw } of of<GatewayObject>('Gateway')) {
    const w = makeWaypoint(gw, classes.get(gw.gatewayClassName), network);
    if (w !== undefined) waypoints.set(`${gw.metadata.namespace}/${gw.metadata.name}`, w);
  }
  const gateways = new Set(
    of<GatewayObject>('Gateway').map((g) => `${g.object.metadata.namespace}/${g.object.metadata.name}`),
  );

  // waypoints.go fetchWaypointForTarget: the object's own label, else its namespace's; `none` opts out.
  const waypointForTarget = (meta: Meta): Binding => {
    const own = useWaypoint(meta.labels, meta.namespace);
    if (own === 'none') return { waypoint: undefined };
    const ns = namespaces.get(meta.namespace);
    const ref = own ?? (ns === undefined ? undefined : useWaypoint(ns.metadata.labels, meta.namespace));
    if (ref === undefined || ref === 'none') return { waypoint: undefined };
    const w = waypoints.get(ref);
    if (w === undefined)
      return {
        waypoint: undefined,
        warning: gateways.has(ref)
          ? `waypoint ${ref} is not ready (its Gateway has no status.addresses)`
          : `waypoint ${ref} not found`,
      };
    if (!allowsAttachment(w, meta.namespace, nsLabels(meta.namespace)))
      return {
        waypoint: undefined,
        warning: `waypoint ${ref} does not allow attachment from namespace ${meta.namespace}`,
      };
    return { waypoint: w };
  };
  // waypoints.go fetchWaypointForService.
  const waypointForService = (meta: Meta): Binding => {
    const managed = meta.labels[GATEWAY_MANAGED];
    if (managed === 'istio.io-mesh-controller' || managed === 'istio.io-eastwest-controller')
      return { waypoint: undefined };
    const b = waypointForTarget(meta);
    if (b.waypoint === undefined) return b;
    if (b.waypoint.trafficType !== 'service' && b.waypoint.trafficType !== 'all')
      return {
        waypoint: undefined,
        warning: `waypoint ${b.waypoint.namespace}/${b.waypoint.name} does not accept service traffic (${WAYPOINT_FOR}: ${b.waypoint.trafficType})`,
      };
    return b;
  };
  // waypoints.go fetchWaypointForWorkload: a namespace-inherited mismatch is not an error.
  const waypointForWorkload = (meta: Meta): Binding => {
    const b = waypointForTarget(meta);
    if (b.waypoint === undefined) return b;
    if (b.waypoint.trafficType === 'workload' || b.waypoint.trafficType === 'all') return b;
    if (!Object.hasOwn(meta.labels, USE_WAYPOINT)) return { waypoint: undefined };
    return {
      waypoint: undefined,
      warning: `waypoint ${b.waypoint.namespace}/${b.waypoint.name} does not accept workload traffic (${WAYPOINT_FOR}: ${b.waypoint.trafficType})`,
    };
  };
  // workloads.go computeWaypoint: an instance of a waypoint gets its inbound binding, never a waypoint.
  const computeWaypoint = (
    meta: Meta,
  ): { appTunnel?: WorkloadProto['applicationTunnel']; waypoint: Waypoint | undefined; warning?: string } => {
    const instanceOf = meta.labels[GATEWAY_NAME];
    const instance = instanceOf === undefined ? undefined : waypoints.get(`${meta.namespace}/${instanceOf}`);
    if (instance !== undefined) {
      if (instance.binding === undefined) return { waypoint: undefined };
      return {
        appTunnel: create(ApplicationTunnelSchema, {
          protocol: instance.binding.protocol,
          port: instance.binding.port,
        }),
        waypoint: undefined,
      };
    }
    return waypointForWorkload(meta);
  };

  // --- services (services.go serviceServiceBuilder, constructService) ---
  interface ServiceInfo {
    readonly object: ServiceObject;
    readonly proto: ServiceProto;
    readonly key: string;
  }
  const services: ServiceInfo[] = [];
  const serviceOut: Located<ServiceProto>[] = [];
  for (const { object: svc, path } of of<ServiceObject>('Service')) {
    // ExternalName services are not implemented by ambient.
    if (svc.spec.type === 'ExternalName') continue;
    const b = waypointForService(svc.metadata);
    if (b.warning !== undefined)
      warnings.push(`Service ${svc.metadata.namespace}/${svc.metadata.name}: ${b.warning}`);
    const proto = constructService(svc, b.waypoint, domain, network, namespaces.get(svc.metadata.namespace));
    services.push({ object: svc, proto, key: `${proto.namespace}/${proto.hostname}` });
    serviceOut.push({ object: proto, path });
  }
  // krt.FilterIndex(namespace) + krt.FilterSelectsNonEmpty(labels): same namespace, a non-empty selector
  // that matches.
  const byNamespace = new Map<string, ServiceInfo[]>();
  for (const s of services) {
    const list = byNamespace.get(s.object.metadata.namespace);
    if (list === undefined) byNamespace.set(s.object.metadata.namespace, [s]);
    else list.push(s);
  }
  const selecting = (meta: Meta): ServiceInfo[] =>
    (byNamespace.get(meta.namespace) ?? []).filter((s) => {
      const sel = s.object.spec.selector;
      const keys = Object.keys(sel);
      return keys.length > 0 && keys.every((key) => meta.labels[key] === sel[key]);
    });
  // workloads.go buildWorkloadPolicies: selector policies of the workload's namespace or the root namespace
  // that select its labels, sorted by name.
  const policiesFor = (meta: Meta): string[] =>
    selectorPolicies
      .filter(
        (p) =>
          (p.namespace === meta.namespace || p.namespace === rootNamespace) &&
          Object.entries(p.matchLabels).every(([key, value]) => meta.labels[key] === value),
      )
      .map((p) => p.key)
      .sort();

  // --- pods (workloads.go podWorkloadBuilder) ---
  const workloadOut: Located<WorkloadProto>[] = [];
  for (const { object: pod, path } of of<PodObject>('Pod')) {
    const m = pod.metadata;
    // kubeutil.CheckPodTerminal: no workload for a finished pod; none either without an IP.
    if (pod.status.phase === 'Succeeded' || pod.status.phase === 'Failed') continue;
    if (pod.status.podIPs.length === 0) continue;
    const addresses = pod.status.podIPs.map((ip) => ipToBytes(ip) ?? new Uint8Array());
    // IsPodReady (the Ready condition; a file that lists none: a Running pod is ready) and not terminating.
    const ready = pod.status.ready ?? (pod.status.phase === undefined || pod.status.phase === 'Running');
    const healthy = ready && m.deletionTimestamp === undefined;
    const cw = computeWaypoint(m);
    if (cw.warning !== undefined) warnings.push(`Pod ${m.namespace}/${m.name}: ${cw.warning}`);
    const workloadName = podWorkloadName(pod);
    const [canonicalName, canonicalRevision] = canonicalService(m.labels, workloadName);
    const w = create(WorkloadSchema, {
      uid: `${clusterId}//Pod/${m.namespace}/${m.name}`,
      name: m.name,
      namespace: m.namespace,
      network,
      clusterId,
      addresses,
      serviceAccount: pod.spec.serviceAccountName,
      ...(cw.waypoint?.address === undefined ? {} : { waypoint: cw.waypoint.address }),
      node: pod.spec.nodeName,
      ...(cw.appTunnel === undefined ? {} : { applicationTunnel: cw.appTunnel }),
      services: constructServices(selecting(m), (name) => findPortName(pod, name), 'pod'),
      authorizationPolicies: policiesFor(m),
      status: healthy ? WorkloadStatus.HEALTHY : WorkloadStatus.UNHEALTHY,
      trustDomain,
      networkMode: pod.spec.hostNetwork ? NetworkMode.HOST_NETWORK : NetworkMode.STANDARD,
      workloadName,
      workloadType: WorkloadType.POD,
      canonicalName,
      canonicalRevision,
    });
    // istio-cni enrols the pod and annotates it `ambient.istio.io/redirection: enabled`
    // (istio/istio@86c9f01f:cni/pkg/util/enablement_selector.go Matches, with the default selectors of
    // manifests/charts/istio-cni/values.yaml): the mesh file has no CNI, so the enrolment is computed here.
    const enrolled =
      m.annotations[AMBIENT_REDIRECTION] === 'enabled' ||
      cniWouldEnrol(pod, nsLabels(m.namespace), systemNamespace);
    setTunnelProtocol(w, m.labels, enrolled);
    workloadOut.push({ object: w, path });
  }

  // --- workload entries (workloads.go workloadEntryWorkloadBuilder) ---
  for (const { object: we, path } of of<WorkloadEntryObject>('WorkloadEntry')) {
    const m = we.metadata;
    const cw = computeWaypoint(m);
    if (cw.warning !== undefined) warnings.push(`WorkloadEntry ${m.namespace}/${m.name}: ${cw.warning}`);
    const workloadName = m.annotations[AUTO_REGISTRATION_GROUP] ?? m.labels[WORKLOAD_NAME] ?? m.name;
    const [canonicalName, canonicalRevision] = canonicalService(m.labels, workloadName);
    const bytes = ipToBytes(we.spec.address);
    const locality = splitLocality(we.spec.locality);
    const w = create(WorkloadSchema, {
      uid: `${clusterId}/networking.istio.io/WorkloadEntry/${m.namespace}/${m.name}`,
      name: m.name,
      namespace: m.namespace,
      network: we.spec.network === '' ? network : we.spec.network,
      clusterId,
      serviceAccount: we.spec.serviceAccount,
      services: constructServices(
        selecting(m),
        (name) => (Object.hasOwn(we.spec.ports, name) ? we.spec.ports[name] : undefined),
        'workloadEntry',
      ),
      authorizationPolicies: policiesFor(m),
      status: WorkloadStatus.HEALTHY,
      ...(cw.waypoint?.address === undefined ? {} : { waypoint: cw.waypoint.address }),
      ...(cw.appTunnel === undefined ? {} : { applicationTunnel: cw.appTunnel }),
      trustDomain,
      ...(locality === undefined ? {} : { locality: create(LocalitySchema, locality) }),
      ...(we.spec.weight > 0 ? { capacity: we.spec.weight } : {}),
      ...(bytes === undefined ? { hostname: we.spec.address } : { addresses: [bytes] }),
      workloadName,
      workloadType: WorkloadType.POD,
      canonicalName,
      canonicalRevision,
    });
    setTunnelProtocol(w, m.labels, m.annotations[AMBIENT_REDIRECTION] === 'enabled');
    workloadOut.push({ object: w, path });
  }
  return { workloads: workloadOut, services: serviceOut, warnings };
}

/** `ns/name` from `istio.io/use-waypoint` (+ `-namespace`), `none`, or undefined (waypoints.go GetUseWaypoint). */
function useWaypoint(labels: StringMap, defaultNamespace: string): string | undefined {
  const name = labels[USE_WAYPOINT];
  if (name === undefined) return undefined;
  if (name === 'none') return 'none';
  return `${labels[USE_WAYPOINT_NAMESPACE] ?? defaultNamespace}/${name}`;
}

// waypoints.go gatewayToWaypointTransform / makeWaypoint: every Gateway with status.addresses is a
// waypoint candidate; `istio.io/waypoint-for` on the Gateway, else its GatewayClass, else `service`.
function makeWaypoint(
  gw: GatewayObject,
  cls: GatewayClassObject | undefined,
  network: string,
): Waypoint | undefined {
  if (gw.addresses.length === 0) return undefined;
  const trafficType = gw.metadata.labels[WAYPOINT_FOR] ?? cls?.metadata.labels[WAYPOINT_FOR] ?? 'service';
  const binding = inboundBinding(
    gw.metadata.annotations[INBOUND_BINDING] ?? cls?.metadata.annotations[INBOUND_BINDING],
  );
  // makeAllowedRoutes: the bound listener, else the HBONE listener on 15008, else Same.
  const bound =
    binding === undefined
      ? undefined
      : gw.listeners.find((l) =>
          binding.port !== 0
            ? l.port === binding.port
            : binding.protocol === ApplicationTunnel_Protocol.PROXY && l.protocol === 'istio.io/PROXY',
        );
  const listener = bound ?? gw.listeners.find((l) => l.protocol === 'HBONE' && l.port === 15008);
  return {
    namespace: gw.metadata.namespace,
    name: gw.metadata.name,
    address: gatewayAddress(gw, network),
    trafficType,
    binding,
    from: listener?.from ?? 'Same',
    selector: listener?.selector,
  };
}

// waypoints.go makeInboundBinding: `<protocol>` or `<protocol>/<port>`, protocol NONE or PROXY.
function inboundBinding(
  value: string | undefined,
): { readonly protocol: ApplicationTunnel_Protocol; readonly port: number } | undefined {
  if (value === undefined) return undefined;
  const parts = value.split('/');
  if (parts.length > 2) return undefined;
  const protocol =
    parts[0] === 'NONE'
      ? ApplicationTunnel_Protocol.NONE
      : parts[0] === 'PROXY'
        ? ApplicationTunnel_Protocol.PROXY
        : undefined;
  if (protocol === undefined) return undefined;
  const port = parts[1] === undefined ? 0 : Number(parts[1]);
  return { protocol, port: Number.isInteger(port) && port >= 0 && port <= 0xffffffff ? port : 0 };
}

// waypoints.go getGatewayAddress: a Hostname address first, else the first valid IP; HBONE port 15008.
function gatewayAddress(gw: GatewayObject, network: string): GatewayAddressProto | undefined {
  const host = gw.addresses.find((a) => a.type === 'Hostname');
  if (host !== undefined)
    return create(GatewayAddressSchema, {
      destination: {
        case: 'hostname',
        value: create(NamespacedHostnameSchema, { namespace: gw.metadata.namespace, hostname: host.value }),
      },
      hboneMtlsPort: 15008,
    });
  for (const a of gw.addresses) {
    if (a.type !== 'IPAddress') continue;
    const bytes = ipToBytes(a.value);
    if (bytes === undefined) continue;
    return create(GatewayAddressSchema, {
      destination: { case: 'address', value: create(NetworkAddressSchema, { network, address: bytes }) },
      hboneMtlsPort: 15008,
    });
  }
  return undefined;
}

// waypoints.go AllowsAttachmentFromNamespace(OrLookup).
function allowsAttachment(w: Waypoint, namespace: string, labels: StringMap): boolean {
  if (w.from === 'All') return true;
  if (w.from === 'Selector') return w.selector !== undefined && selectorMatches(w.selector, labels);
  return w.namespace === namespace;
}

// services.go constructService.
function constructService(
  svc: ServiceObject,
  waypoint: Waypoint | undefined,
  domain: string,
  network: string,
  ns: NamespaceObject | undefined,
): ServiceProto {
  const m = svc.metadata;
  // getVIPs: clusterIPs, else clusterIP; never "" or None.
  const cips = svc.spec.clusterIPs.length > 0 ? svc.spec.clusterIPs : [svc.spec.clusterIP ?? ''];
  const addresses = cips
    .filter((ip) => ip !== '' && ip !== 'None')
    .map((ip) => create(NetworkAddressSchema, { network, address: ipToBytes(ip) ?? new Uint8Array() }));
  let lb: LoadBalancingProto | undefined;
  if (svc.spec.internalTrafficPolicy === 'Local') {
    lb = create(LoadBalancingSchema, {
      routingPreference: [LoadBalancing_Scope.NODE],
      mode: LoadBalancing_Mode.STRICT,
    });
  } else {
    const td = trafficDistribution(
      svc.spec.trafficDistribution,
      m.annotations,
      ns?.metadata.annotations ?? {},
    );
    if (td === 'zone')
      lb = create(LoadBalancingSchema, {
        routingPreference: [
          LoadBalancing_Scope.NETWORK,
          LoadBalancing_Scope.REGION,
          LoadBalancing_Scope.ZONE,
        ],
        mode: LoadBalancing_Mode.FAILOVER,
      });
    else if (td === 'node')
      lb = create(LoadBalancingSchema, {
        routingPreference: [
          LoadBalancing_Scope.NETWORK,
          LoadBalancing_Scope.REGION,
          LoadBalancing_Scope.ZONE,
          LoadBalancing_Scope.SUBZONE,
          LoadBalancing_Scope.NODE,
        ],
        mode: LoadBalancing_Mode.FAILOVER,
      });
  }
  if (svc.spec.publishNotReadyAddresses) {
    lb ??= create(LoadBalancingSchema, {});
    lb.healthPolicy = LoadBalancing_HealthPolicy.ALLOW_ALL;
  }
  const families = svc.spec.ipFamilies;
  const ipFamilies =
    families.length === 2
      ? IPFamilies.DUAL
      : families.length === 1
        ? families[0] === 'IPv4'
          ? IPFamilies.IPV4_ONLY
          : IPFamilies.IPV6_ONLY
        : IPFamilies.AUTOMATIC;
  // services.go ingressUseWaypointFromLabels: only with a waypoint; the Service's label, else the namespace's.
  const ingress = m.labels[INGRESS_USE_WAYPOINT] ?? ns?.metadata.labels[INGRESS_USE_WAYPOINT];
  return create(ServiceSchema, {
    name: m.name,
    namespace: m.namespace,
    hostname: `${m.name}.${m.namespace}.svc.${domain}`,
    addresses,
    ports: svc.spec.ports.map((p) =>
      create(PortSchema, {
        servicePort: p.port,
        // TargetPort.IntVal: 0 for a named target port (resolved per workload).
        targetPort: typeof p.targetPort === 'number' ? p.targetPort : 0,
        appProtocol: appProtocol(p),
      }),
    ),
    ...(waypoint?.address === undefined ? {} : { waypoint: waypoint.address }),
    ...(lb === undefined ? {} : { loadBalancing: lb }),
    ipFamilies,
    canonical: true,
    ingressUseWaypoint: waypoint !== undefined && ingress !== undefined && parseGoBool(ingress),
  });
}

// Go strconv.ParseBool.
const parseGoBool = (v: string): boolean => ['1', 't', 'T', 'TRUE', 'true', 'True'].includes(v);

// istio/istio@86c9f01f:pilot/pkg/model/service.go GetTrafficDistribution: spec, then the Service's
// annotation, then the namespace's.
function trafficDistribution(
  spec: string | undefined,
  svc: StringMap,
  ns: StringMap,
): 'zone' | 'node' | 'any' {
  if (spec === 'PreferSameZone' || spec === 'PreferClose') return 'zone';
  if (spec === 'PreferSameNode') return 'node';
  for (const source of [svc, ns]) {
    const v = (source[TRAFFIC_DISTRIBUTION] ?? '').toLowerCase();
    if (v === '') continue;
    if (v === 'preferclose' || v === 'prefersamezone') return 'zone';
    if (v === 'prefersamenode') return 'node';
    return 'any';
  }
  return 'any';
}

// istio/istio@86c9f01f:pkg/config/kube/conversion.go ConvertProtocol, then workloads.go
// toAppProtocolFromProtocol.
function appProtocol(p: ServicePortObject): AppProtocol {
  if (p.protocol === 'UDP') return AppProtocol.UNKNOWN;
  let name = p.name;
  if (p.appProtocol !== undefined) {
    name = p.appProtocol;
    if (name === 'kubernetes.io/h2c') return AppProtocol.HTTP2;
    if (name === 'kubernetes.io/ws') return AppProtocol.HTTP11;
    if (name === 'kubernetes.io/wss') return AppProtocol.TLS;
  }
  if (name.slice(0, 8).toLowerCase() === 'grpc-web') return AppProtocol.UNKNOWN;
  const dash = name.indexOf('-');
  const prefix = (dash >= 0 ? name.slice(0, dash) : name).toLowerCase();
  switch (prefix) {
    case 'http':
      return AppProtocol.HTTP11;
    case 'http2':
      return AppProtocol.HTTP2;
    case 'grpc':
      return AppProtocol.GRPC;
    case 'tls':
    case 'https':
      return AppProtocol.TLS;
    case 'tcp':
      return AppProtocol.TCP;
    case '':
    case 'udp':
    case 'http_proxy':
    case 'mongo':
    case 'redis':
    case 'mysql':
      return AppProtocol.UNKNOWN;
    default:
      // Unsupported names on the well-known ports (SMTP, DNS, MySQL, MongoDB) are TCP.
      return [25, 53, 3306, 27017].includes(p.port) ? AppProtocol.TCP : AppProtocol.UNKNOWN;
  }
}

// workloads.go constructServices (pods) and constructServicesFromWorkloadEntry (Kubernetes Services).
function constructServices(
  services: readonly { readonly object: ServiceObject; readonly key: string }[],
  lookup: (name: string) => number | undefined,
  source: 'pod' | 'workloadEntry',
): Record<string, ReturnType<typeof create<typeof PortListSchema>>> {
  const out: Record<string, ReturnType<typeof create<typeof PortListSchema>>> = {};
  for (const s of services) {
    const ports: PortProto[] = [];
    for (const p of s.object.spec.ports) {
      let targetPort = typeof p.targetPort === 'number' ? p.targetPort : 0;
      if (typeof p.targetPort === 'string') {
        // A named target port: the workload's port of that name, else the port is left out.
        const found = lookup(p.targetPort);
        if (found === undefined) continue;
        targetPort = found;
      } else if (source === 'workloadEntry' && p.name !== '') {
        // A WorkloadEntry's port named like the Service port overrides the target port.
        const found = lookup(p.name);
        if (found !== undefined) targetPort = found;
      }
      ports.push(create(PortSchema, { servicePort: p.port, targetPort }));
    }
    Object.defineProperty(out, s.key, {
      value: create(PortListSchema, { ports }),
      enumerable: true,
      writable: true,
      configurable: true,
    });
  }
  return out;
}

// helpers.go FindPortName: a TCP container port of that name, or one of a native sidecar init container.
function findPortName(pod: PodObject, name: string): number | undefined {
  for (const c of pod.spec.containers)
    for (const p of c.ports) if (p.name === name && p.protocol === 'TCP') return p.containerPort;
  for (const c of pod.spec.initContainers) {
    if (c.restartPolicy !== 'Always') continue;
    for (const p of c.ports) if (p.name === name && p.protocol === 'TCP') return p.containerPort;
  }
  return undefined;
}

// istio/istio@86c9f01f:pkg/kube/util.go GetWorkloadMetaFromPod / GetDeployMetaFromPod.
function podWorkloadName(pod: PodObject): string {
  const m = pod.metadata;
  const override = m.labels[WORKLOAD_NAME];
  if (override !== undefined) return override;
  let name = m.name;
  if ((m.generateName ?? '') !== '') {
    const ref = m.ownerReferences.find((r) => r.controller === true);
    if (ref !== undefined) {
      name = ref.name;
      const hash = m.labels['pod-template-hash'] ?? '';
      const rollout = m.labels['rollouts-pod-template-hash'] ?? '';
      if (ref.kind === 'ReplicaSet' && hash !== '' && ref.name.endsWith(hash))
        name = ref.name.endsWith(`-${hash}`) ? ref.name.slice(0, -(hash.length + 1)) : ref.name;
      else if (ref.kind === 'ReplicaSet' && rollout !== '' && ref.name.endsWith(rollout))
        name = ref.name.endsWith(`-${rollout}`) ? ref.name.slice(0, -(rollout.length + 1)) : ref.name;
      else if (ref.kind === 'ReplicationController' && (m.labels['deploymentconfig'] ?? '') !== '')
        name = m.labels['deploymentconfig'] ?? name;
      else if (ref.kind === 'Job') {
        // cronJobNameRegexp: a `-<8 to 10 digits>` suffix is a CronJob's.
        const cron = /^(.+)-\d{8,10}$/.exec(ref.name);
        if (cron?.[1] !== undefined) name = cron[1];
      }
    }
  }
  return name === '' ? m.name : name;
}

// istio/istio@86c9f01f:pkg/kube/labels/labels.go CanonicalService.
function canonicalService(labels: StringMap, workloadName: string): [string, string] {
  const first = (keys: readonly string[]): string | undefined => {
    for (const key of keys) if (Object.hasOwn(labels, key)) return labels[key];
    return undefined;
  };
  return [
    first(['service.istio.io/canonical-name', 'app.kubernetes.io/name', 'app']) ?? workloadName,
    first(['service.istio.io/canonical-revision', 'app.kubernetes.io/version', 'version']) ?? 'latest',
  ];
}

// istio-cni's enablement selectors (defaults): the pod labelled ambient, or its namespace labelled ambient
// and the pod not labelled none; never a host-network pod, a sidecar-injected pod or ztunnel itself.
function cniWouldEnrol(pod: PodObject, nsLabels: StringMap, systemNamespace: string): boolean {
  const m = pod.metadata;
  if (pod.spec.hostNetwork) return false;
  if (Object.hasOwn(m.annotations, SIDECAR_STATUS)) return false;
  if (m.namespace === systemNamespace && m.labels['app'] === 'ztunnel') return false;
  const mode = m.labels[DATAPLANE_MODE];
  if (mode === 'ambient') return true;
  return nsLabels[DATAPLANE_MODE] === 'ambient' && mode !== 'none';
}

// workloads.go setTunnelProtocol (PILOT_ENABLE_MTLS_TRANSPORT_PROTOCOL off by default).
function setTunnelProtocol(w: WorkloadProto, labels: StringMap, redirected: boolean): void {
  if (redirected) w.tunnelProtocol = TunnelProtocol.HBONE;
  const tunnel = labels[TUNNEL];
  if (tunnel?.split(',').includes('http') === true) {
    w.tunnelProtocol = TunnelProtocol.HBONE;
    w.nativeTunnel = true;
  }
}

// istio/istio@86c9f01f:pilot/pkg/serviceregistry/util/label/label.go SplitLocalityLabel: region/zone/subzone.
function splitLocality(value: string): { region: string; zone: string; subzone: string } | undefined {
  if (value === '') return undefined;
  const [region = '', zone = '', subzone = ''] = value.split('/');
  if (region === '' && zone === '' && subzone === '') return undefined;
  return { region, zone, subzone };
}
