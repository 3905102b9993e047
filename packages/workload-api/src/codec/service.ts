/**
 * The service model ztunnel keeps and its conversion from and to `istio.workload.Service`
 * (istio/ztunnel@62d82653:src/state/service.rs `TryFrom<&XdsService>`; field meanings: istio/ztunnel@62d82653:proto/workload.proto).
 * @module
 */
import { create } from '@bufbuild/protobuf';
import type { Result } from 'neverthrow';
import {
  IPFamilies,
  LoadBalancing_HealthPolicy,
  LoadBalancing_Mode,
  LoadBalancing_Scope,
  LoadBalancingSchema,
  NetworkAddressSchema,
  Service_Visibility,
  type Service as ServiceProto,
  ServiceSchema,
  WeightedWaypointSchema,
} from '../gen/workload_pb.js';
import type { WorkloadApiError } from './errors.js';
import { ipToBytes, isIpv6 } from './ip.js';
import { collectIssues, type IssueList } from './issues.js';
import type { ModelParts } from './model-parts.js';
import {
  type ConvertOptions,
  checkIp,
  EMPTY,
  type ExtensionConfig,
  extensionsFromProto,
  extensionsToProto,
  type GatewayAddress,
  gatewayFromProto,
  gatewayToProto,
  type NetworkAddress,
  type NetworkCidr,
  type PortMapping,
  portsFromProto,
  portsToProto,
} from './network.js';

/** A routing preference of a load-balancing policy (workload.proto `LoadBalancing.Scope`). */
export type LoadBalancerScope = 'Region' | 'Zone' | 'Subzone' | 'Node' | 'Cluster' | 'Network';
/** `Standard` is the proto's UNSPECIFIED_MODE: plain capacity-weighted random choice. */
export type LoadBalancerMode = 'Standard' | 'Strict' | 'Failover' | 'Passthrough';
/** Which endpoints a service keeps (workload.proto `LoadBalancing.HealthPolicy`). */
export type LoadBalancerHealthPolicy = 'OnlyHealthy' | 'AllowAll';
/** Address families a service accepts; absent means AUTOMATIC. */
export type IpFamily = 'IPv4' | 'IPv6' | 'Dual';
/** `Namespace` services are visible only to clients in their own namespace. */
export type Visibility = 'Public' | 'Namespace';

/** A service's endpoint selection policy (ztunnel `LoadBalancer`). */
export interface LoadBalancer {
  readonly routingPreferences: readonly LoadBalancerScope[];
  readonly mode: LoadBalancerMode;
  readonly healthPolicy: LoadBalancerHealthPolicy;
}

/** One of a service's weighted waypoints. */
export interface WeightedWaypoint {
  readonly destination: GatewayAddress;
  /** Share is weight / sum(weights); 0 never receives traffic. */
  readonly weight: number;
}

/** A validated service, as ztunnel's `Service` (its endpoints live in the store, not here). */
export interface Service {
  readonly kind: 'service';
  readonly name: string;
  readonly namespace: string;
  readonly hostname: string;
  /** `namespace/hostname`: the primary key and xDS resource name. */
  readonly key: string;
  /** Host VIPs (an address without a prefix length, or with /32 or /128). */
  readonly vips: readonly NetworkAddress[];
  /** CIDR VIPs (an address with a shorter prefix length). */
  readonly cidrVips: readonly NetworkCidr[];
  readonly ports: readonly PortMapping[];
  readonly subjectAltNames: readonly string[];
  readonly waypoint?: GatewayAddress;
  readonly weightedWaypoints: readonly WeightedWaypoint[];
  readonly loadBalancer?: LoadBalancer;
  readonly ipFamilies?: IpFamily;
  readonly canonical: boolean;
  readonly ingressUseWaypoint: boolean;
  readonly visibility: Visibility;
  readonly extensions: readonly ExtensionConfig[];
}

/**
 * Routing preference scopes by wire value (`UNSPECIFIED_SCOPE` is absent: it is rejected).
 *
 * @example
 * ```ts
 * SCOPES[LoadBalancing_Scope.ZONE]; // 'Zone'
 * ```
 */
export const SCOPES: Readonly<Record<number, LoadBalancerScope>> = {
  [LoadBalancing_Scope.REGION]: 'Region',
  [LoadBalancing_Scope.ZONE]: 'Zone',
  [LoadBalancing_Scope.SUBZONE]: 'Subzone',
  [LoadBalancing_Scope.NODE]: 'Node',
  [LoadBalancing_Scope.CLUSTER]: 'Cluster',
  [LoadBalancing_Scope.NETWORK]: 'Network',
};
/**
 * Load balancing modes by wire value.
 *
 * @example
 * ```ts
 * MODES[LoadBalancing_Mode.UNSPECIFIED_MODE]; // 'Standard'
 * ```
 */
export const MODES: Readonly<Record<number, LoadBalancerMode>> = {
  [LoadBalancing_Mode.UNSPECIFIED_MODE]: 'Standard',
  [LoadBalancing_Mode.STRICT]: 'Strict',
  [LoadBalancing_Mode.FAILOVER]: 'Failover',
  [LoadBalancing_Mode.PASSTHROUGH]: 'Passthrough',
};
/**
 * IP families by wire value; `null` for AUTOMATIC (the model leaves the field out).
 *
 * @example
 * ```ts
 * FAMILIES[IPFamilies.DUAL]; // 'Dual'
 * ```
 */
export const FAMILIES: Readonly<Record<number, IpFamily | null>> = {
  [IPFamilies.AUTOMATIC]: null,
  [IPFamilies.IPV4_ONLY]: 'IPv4',
  [IPFamilies.IPV6_ONLY]: 'IPv6',
  [IPFamilies.DUAL]: 'Dual',
};

/** Fields a caller may set when building a service by hand with {@link createService}. */
export type ServiceInit = Partial<Omit<Service, 'kind' | 'key' | 'namespace' | 'hostname'>> & {
  readonly namespace: string;
  readonly hostname: string;
};

/**
 * Builds a {@link Service} from a partial description.
 *
 * @param init - At least `namespace` and `hostname`; VIPs must be canonical IP text.
 * @returns The service.
 * @throws {TypeError} When `hostname` is empty.
 * @example
 * ```ts
 * createService({
 *   namespace: 'default', hostname: 'echo.default.svc.cluster.local',
 *   vips: [{ network: '', address: '10.96.0.10' }],
 *   ports: [{ servicePort: 80, targetPort: 8080, appProtocol: 'UNKNOWN' }],
 * });
 * ```
 */
export function createService(init: ServiceInit): Service {
  if (typeof init.hostname !== 'string' || init.hostname === '') {
    throw new TypeError('hostname: expected a non-empty string');
  }
  // Through the same builder as decoding: one object shape for every service, whoever made it.
  return serviceModel({
    name: init.name ?? '',
    namespace: init.namespace,
    hostname: init.hostname,
    vips: init.vips ?? EMPTY,
    cidrVips: init.cidrVips ?? EMPTY,
    ports: init.ports ?? EMPTY,
    subjectAltNames: init.subjectAltNames ?? EMPTY,
    waypoint: init.waypoint,
    weightedWaypoints: init.weightedWaypoints ?? EMPTY,
    loadBalancer: init.loadBalancer,
    ipFamilies: init.ipFamilies,
    canonical: init.canonical ?? false,
    ingressUseWaypoint: init.ingressUseWaypoint ?? false,
    visibility: init.visibility ?? 'Public',
    extensions: init.extensions ?? EMPTY,
  });
}

/**
 * Validates an `istio.workload.Service` message and converts it to the model, collecting every problem.
 *
 * An address whose `length` is set and is not 32 (IPv4) / 128 (IPv6) becomes a CIDR VIP; a longer length
 * is rejected. `UNSPECIFIED_MODE` maps to `Standard`, an unknown visibility to `Public` (fail open, as
 * ztunnel); an `UNSPECIFIED_SCOPE` routing preference and unknown enum values are rejected.
 *
 * @param msg - The decoded message.
 * @param options - Optional string interner.
 * @returns The service, or a {@link WorkloadApiError} listing every issue.
 * @example
 * ```ts
 * serviceFromProto(create(ServiceSchema, { namespace: 'ns', hostname: 'a.ns.svc.cluster.local' }));
 * ```
 */
export function serviceFromProto(
  msg: ServiceProto,
  options?: ConvertOptions,
): Result<Service, WorkloadApiError> {
  return collectIssues(convertService, msg, options);
}

/**
 * The conversion behind {@link serviceFromProto}, recording into a caller's issue list.
 *
 * @example
 * ```ts
 * const service = convertService(msg, createIssueList().at('service'), (s) => s);
 * ```
 */
export function convertService(
  msg: ServiceProto,
  issues: IssueList,
  intern: (value: string) => string,
  parts?: ModelParts,
): Service | undefined {
  const before = issues.issues.length;
  if (msg.hostname === '') {
    issues.add(
      'hostname',
      'WORKLOAD_API_ERR_MISSING_FIELD',
      'hostname is empty (it is part of the primary key)',
    );
  }
  const vips: NetworkAddress[] = [];
  const cidrVips: NetworkCidr[] = [];
  msg.addresses.forEach((a, i) => {
    const address = checkIp(a.address, issues, `addresses[${i}].address`);
    if (address === undefined) return;
    const network = intern(a.network);
    const max = isIpv6(address) ? 128 : 32;
    if (a.length === undefined || a.length === max) {
      vips.push({ network, address });
    } else if (a.length > max) {
      issues.add(
        `addresses[${i}].length`,
        'WORKLOAD_API_ERR_BAD_PREFIX',
        `invalid cidr: prefix length ${a.length}`,
      );
    } else {
      cidrVips.push({ network, address, length: a.length });
    }
  });

  const waypoint =
    msg.waypoint === undefined ? undefined : gatewayFromProto(msg.waypoint, issues.at('waypoint'), intern);
  const weightedWaypoints: WeightedWaypoint[] = [];
  msg.weightedWaypoints.forEach((ww, i) => {
    const path = `weightedWaypoints[${i}]`;
    if (ww.destination === undefined) {
      issues.add(
        path,
        'WORKLOAD_API_ERR_MISSING_GATEWAY_ADDRESS',
        'nonempty gateway address is missing address',
      );
      return;
    }
    const destination = gatewayFromProto(ww.destination, issues.at(`${path}.destination`), intern);
    if (destination !== undefined) weightedWaypoints.push({ destination, weight: ww.weight });
  });

  let loadBalancer: LoadBalancer | undefined;
  if (msg.loadBalancing !== undefined) {
    const lb = msg.loadBalancing;
    const routingPreferences: LoadBalancerScope[] = [];
    lb.routingPreference.forEach((r, i) => {
      const scope = SCOPES[r];
      if (scope === undefined) {
        issues.add(
          `loadBalancing.routingPreference[${i}]`,
          'WORKLOAD_API_ERR_UNKNOWN_ENUM',
          `invalid target ${r}`,
        );
      } else {
        routingPreferences.push(scope);
      }
    });
    const mode = MODES[lb.mode];
    if (mode === undefined)
      issues.add('loadBalancing.mode', 'WORKLOAD_API_ERR_UNKNOWN_ENUM', `unknown mode ${lb.mode}`);
    let healthPolicy: LoadBalancerHealthPolicy = 'OnlyHealthy';
    if (lb.healthPolicy === LoadBalancing_HealthPolicy.ALLOW_ALL) healthPolicy = 'AllowAll';
    else if (lb.healthPolicy !== LoadBalancing_HealthPolicy.ONLY_HEALTHY) {
      issues.add(
        'loadBalancing.healthPolicy',
        'WORKLOAD_API_ERR_UNKNOWN_ENUM',
        `unknown policy ${lb.healthPolicy}`,
      );
    }
    loadBalancer = { routingPreferences: routingPreferences.slice(), mode: mode ?? 'Standard', healthPolicy };
  }

  const family = FAMILIES[msg.ipFamilies];
  if (family === undefined) {
    issues.add('ipFamilies', 'WORKLOAD_API_ERR_UNKNOWN_ENUM', `unknown ip families ${msg.ipFamilies}`);
  }
  const ports = portsFromProto(msg.ports, issues, '', parts);
  if (issues.issues.length > before) return undefined;

  return serviceModel({
    name: intern(msg.name),
    namespace: intern(msg.namespace),
    hostname: intern(msg.hostname),
    vips: vips.length === 0 ? EMPTY : vips.slice(),
    cidrVips: cidrVips.length === 0 ? EMPTY : cidrVips.slice(),
    ports,
    subjectAltNames: msg.subjectAltNames.length === 0 ? EMPTY : msg.subjectAltNames.map(intern),
    waypoint,
    weightedWaypoints: weightedWaypoints.length === 0 ? EMPTY : weightedWaypoints.slice(),
    loadBalancer,
    ipFamilies: family ?? undefined,
    canonical: msg.canonical,
    ingressUseWaypoint: msg.ingressUseWaypoint,
    // Unknown values fall back to PUBLIC rather than dropping the service (service.rs:426-429).
    visibility: msg.visibility === Service_Visibility.NAMESPACE ? 'Namespace' : 'Public',
    extensions: extensionsFromProto(msg.extensions),
  });
}

/**
 * What a service model is made of, once a decoder has read and checked it. Internal to the package: the
 * message conversion and the direct decoder (`address-decoder.ts`) both end in {@link serviceModel}.
 */
export interface ServiceFields {
  name: string;
  namespace: string;
  hostname: string;
  vips: readonly NetworkAddress[];
  cidrVips: readonly NetworkCidr[];
  ports: readonly PortMapping[];
  subjectAltNames: readonly string[];
  waypoint: GatewayAddress | undefined;
  weightedWaypoints: readonly WeightedWaypoint[];
  loadBalancer: LoadBalancer | undefined;
  /** `undefined` for AUTOMATIC. */
  ipFamilies: IpFamily | undefined;
  canonical: boolean;
  ingressUseWaypoint: boolean;
  visibility: Visibility;
  extensions: readonly ExtensionConfig[];
}

/**
 * Builds the model from checked fields.
 *
 * @param f - The fields.
 * @returns The service.
 * @example
 * ```ts
 * const service = serviceModel(fields);
 * ```
 */
export function serviceModel(f: ServiceFields): Service {
  const s: { -readonly [K in keyof Service]: Service[K] } = {
    kind: 'service',
    name: f.name,
    namespace: f.namespace,
    hostname: f.hostname,
    key: `${f.namespace}/${f.hostname}`,
    vips: f.vips,
    cidrVips: f.cidrVips,
    ports: f.ports,
    subjectAltNames: f.subjectAltNames,
    weightedWaypoints: f.weightedWaypoints,
    canonical: f.canonical,
    ingressUseWaypoint: f.ingressUseWaypoint,
    visibility: f.visibility,
    extensions: f.extensions,
  };
  if (f.waypoint !== undefined) s.waypoint = f.waypoint;
  if (f.loadBalancer !== undefined) s.loadBalancer = f.loadBalancer;
  if (f.ipFamilies !== undefined) s.ipFamilies = f.ipFamilies;
  return s;
}

/**
 * Converts a {@link Service} back to its message.
 *
 * @param s - The service.
 * @returns The `istio.workload.Service` message.
 * @example
 * ```ts
 * toBinary(ServiceSchema, serviceToProto(createService({ namespace: 'ns', hostname: 'a.ns.svc.cluster.local' })));
 * ```
 */
export function serviceToProto(s: Service): ServiceProto {
  const lb = s.loadBalancer;
  return create(ServiceSchema, {
    name: s.name,
    namespace: s.namespace,
    hostname: s.hostname,
    addresses: [
      ...s.vips.map((v) =>
        create(NetworkAddressSchema, {
          network: v.network,
          address: ipToBytes(v.address) ?? new Uint8Array(),
        }),
      ),
      ...s.cidrVips.map((c) =>
        create(NetworkAddressSchema, {
          network: c.network,
          address: ipToBytes(c.address) ?? new Uint8Array(),
          length: c.length,
        }),
      ),
    ],
    ports: portsToProto(s.ports),
    subjectAltNames: [...s.subjectAltNames],
    ...(s.waypoint === undefined ? {} : { waypoint: gatewayToProto(s.waypoint) }),
    ...(lb === undefined
      ? {}
      : {
          loadBalancing: create(LoadBalancingSchema, {
            routingPreference: lb.routingPreferences.map(
              (r) => LoadBalancing_Scope[r.toUpperCase() as 'REGION'],
            ),
            mode: LoadBalancing_Mode[
              lb.mode === 'Standard' ? 'UNSPECIFIED_MODE' : (lb.mode.toUpperCase() as 'STRICT')
            ],
            healthPolicy:
              lb.healthPolicy === 'AllowAll'
                ? LoadBalancing_HealthPolicy.ALLOW_ALL
                : LoadBalancing_HealthPolicy.ONLY_HEALTHY,
          }),
        }),
    ipFamilies:
      s.ipFamilies === undefined
        ? IPFamilies.AUTOMATIC
        : s.ipFamilies === 'Dual'
          ? IPFamilies.DUAL
          : s.ipFamilies === 'IPv4'
            ? IPFamilies.IPV4_ONLY
            : IPFamilies.IPV6_ONLY,
    extensions: extensionsToProto(s.extensions),
    canonical: s.canonical,
    ingressUseWaypoint: s.ingressUseWaypoint,
    weightedWaypoints: s.weightedWaypoints.map((w) =>
      create(WeightedWaypointSchema, { destination: gatewayToProto(w.destination), weight: w.weight }),
    ),
    visibility: s.visibility === 'Namespace' ? Service_Visibility.NAMESPACE : Service_Visibility.PUBLIC,
  });
}
