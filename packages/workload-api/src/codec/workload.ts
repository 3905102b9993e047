/**
 * The workload model ztunnel keeps and its conversion from and to `istio.workload.Workload`
 * (istio/ztunnel@62d82653:src/state/workload.rs `TryFrom<XdsWorkload>`; field meanings: istio/ztunnel@62d82653:proto/workload.proto).
 * @module
 */
import { create } from '@bufbuild/protobuf';
import type { Result } from 'neverthrow';
import {
  ApplicationTunnel_Protocol,
  ApplicationTunnelSchema,
  LocalitySchema,
  NetworkMode,
  type PortList as PortListProto,
  PortListSchema,
  TunnelProtocol,
  type Workload as WorkloadProto,
  WorkloadSchema,
  WorkloadStatus,
  WorkloadType,
} from '../gen/workload_pb.js';
import type { WorkloadApiError } from './errors.js';
import { ipFromBytes, ipToBytes } from './ip.js';
import { collectIssues, type IssueList } from './issues.js';
import {
  type ConvertOptions,
  checkPort,
  EMPTY,
  type ExtensionConfig,
  extensionsFromProto,
  extensionsToProto,
  type GatewayAddress,
  gatewayFromProto,
  gatewayToProto,
  type PortMapping,
  parseNamespacedHostname,
  portsFromProto,
  portsToProto,
} from './network.js';
import { setOwnKey } from './own-key.js';

/**
 * ztunnel's defaults for elided Workload fields (istio/ztunnel@62d82653:src/state/workload.rs:431-537).
 *
 * @example
 * ```ts
 * workload.trustDomain === WORKLOAD_DEFAULTS.trustDomain; // elided on the wire
 * ```
 */
export const WORKLOAD_DEFAULTS: {
  readonly trustDomain: 'cluster.local';
  readonly serviceAccount: 'default';
  readonly clusterId: 'Kubernetes';
  readonly capacity: 1;
} = Object.freeze({
  trustDomain: 'cluster.local',
  serviceAccount: 'default',
  clusterId: 'Kubernetes',
  capacity: 1,
});

/** How a workload receives traffic: `HBONE` (in the mesh, port 15008) or plain `TCP` (`NONE` on the wire). */
export type InboundProtocol = 'HBONE' | 'TCP';
/** `HostNetwork` workloads share their node's IP and are never indexed by address. */
export type NetworkModeName = 'Standard' | 'HostNetwork';
/** Workload health (workload.proto `WorkloadStatus`). */
export type HealthStatus = 'Healthy' | 'Unhealthy';
/** Kind of the owning controller, lowercase as ztunnel reports it. */
export type WorkloadKind = 'deployment' | 'cronjob' | 'pod' | 'job';

/** Where a workload runs (workload.proto `Locality`). */
export interface Locality {
  readonly region: string;
  readonly zone: string;
  readonly subzone: string;
}

/** A PROXY-protocol-capable target such as a sandwiched waypoint (workload.proto `ApplicationTunnel`). */
export interface ApplicationTunnel {
  readonly protocol: 'NONE' | 'PROXY';
  /** Port to deliver to after the last ztunnel hop; absent when the proto's port is 0. */
  readonly port?: number;
}

/** One service a workload backs, with the workload's own port mapping for it. */
export interface WorkloadService {
  /** `namespace/hostname`, the service's xDS name. */
  readonly key: string;
  readonly namespace: string;
  readonly hostname: string;
  /** Service port -> target port overrides for this workload (workload.proto `PortList`). */
  readonly ports: readonly PortMapping[];
}

/**
 * A validated workload, as ztunnel's `Workload` plus what is needed to re-encode it. Defaults are
 * already applied: `trustDomain`, `serviceAccount`, `clusterId` and `capacity` are never empty.
 */
export interface Workload {
  readonly kind: 'workload';
  /** The primary key and xDS resource name. */
  readonly uid: string;
  readonly name: string;
  readonly namespace: string;
  /** Canonical IP text, in wire order. */
  readonly workloadIps: readonly string[];
  /** Resolved via DNS when the workload has no IP; empty otherwise. */
  readonly hostname: string;
  /** Empty for the default network. */
  readonly network: string;
  readonly protocol: InboundProtocol;
  readonly networkMode: NetworkModeName;
  readonly trustDomain: string;
  readonly serviceAccount: string;
  /** `spiffe://<trustDomain>/ns/<namespace>/sa/<serviceAccount>` (workload.proto line 248). */
  readonly identity: string;
  readonly waypoint?: GatewayAddress;
  readonly networkGateway?: GatewayAddress;
  readonly node: string;
  readonly clusterId: string;
  readonly canonicalName: string;
  readonly canonicalRevision: string;
  readonly workloadType: WorkloadKind;
  readonly workloadName: string;
  readonly nativeTunnel: boolean;
  readonly applicationTunnel?: ApplicationTunnel;
  readonly services: readonly WorkloadService[];
  /** `namespace/name` of selector-scoped policies only. */
  readonly authorizationPolicies: readonly string[];
  readonly status: HealthStatus;
  readonly locality: Locality;
  /** Relative weight in endpoint choice; 1 when unset. */
  readonly capacity: number;
  readonly extensions: readonly ExtensionConfig[];
}

const NO_LOCALITY: Locality = Object.freeze({ region: '', zone: '', subzone: '' });
const WORKLOAD_KINDS: readonly WorkloadKind[] = ['deployment', 'cronjob', 'pod', 'job'];
const identity = (td: string, ns: string, sa: string): string => `spiffe://${td}/ns/${ns}/sa/${sa}`;

/**
 * The SPIFFE identity of a workload.
 *
 * @param workload - Trust domain, namespace and service account.
 * @returns `spiffe://<trustDomain>/ns/<namespace>/sa/<serviceAccount>`.
 * @example
 * ```ts
 * workloadIdentity({ trustDomain: 'cluster.local', namespace: 'default', serviceAccount: 'sleep' });
 * // 'spiffe://cluster.local/ns/default/sa/sleep'
 * ```
 */
export function workloadIdentity(workload: {
  readonly trustDomain: string;
  readonly namespace: string;
  readonly serviceAccount: string;
}): string {
  return identity(workload.trustDomain, workload.namespace, workload.serviceAccount);
}

/** Fields a caller may set when building a workload by hand with {@link createWorkload}. */
export type WorkloadInit = Partial<Omit<Workload, 'kind' | 'identity' | 'uid'>> & { readonly uid: string };

/**
 * Builds a {@link Workload} from a partial description, applying ztunnel's defaults. Handy in tests and
 * for control planes that do not start from protobuf.
 *
 * @param init - At least `uid`; IPs must already be canonical text.
 * @returns The workload.
 * @throws {TypeError} When `uid` is empty.
 * @example
 * ```ts
 * const w = createWorkload({ uid: 'Kubernetes//Pod/default/sleep', namespace: 'default', workloadIps: ['10.0.0.1'] });
 * w.identity; // 'spiffe://cluster.local/ns/default/sa/default'
 * ```
 */
export function createWorkload(init: WorkloadInit): Workload {
  if (typeof init.uid !== 'string' || init.uid === '')
    throw new TypeError('uid: expected a non-empty string');
  const trustDomain = init.trustDomain || WORKLOAD_DEFAULTS.trustDomain;
  const serviceAccount = init.serviceAccount || WORKLOAD_DEFAULTS.serviceAccount;
  const namespace = init.namespace ?? '';
  const w: Workload = {
    kind: 'workload',
    uid: init.uid,
    name: init.name ?? '',
    namespace,
    workloadIps: init.workloadIps ?? EMPTY,
    hostname: init.hostname ?? '',
    network: init.network ?? '',
    protocol: init.protocol ?? 'TCP',
    networkMode: init.networkMode ?? 'Standard',
    trustDomain,
    serviceAccount,
    identity: identity(trustDomain, namespace, serviceAccount),
    ...(init.waypoint === undefined ? {} : { waypoint: init.waypoint }),
    ...(init.networkGateway === undefined ? {} : { networkGateway: init.networkGateway }),
    node: init.node ?? '',
    clusterId: init.clusterId || WORKLOAD_DEFAULTS.clusterId,
    canonicalName: init.canonicalName ?? '',
    canonicalRevision: init.canonicalRevision ?? '',
    workloadType: init.workloadType ?? 'deployment',
    workloadName: init.workloadName ?? '',
    nativeTunnel: init.nativeTunnel ?? false,
    ...(init.applicationTunnel === undefined ? {} : { applicationTunnel: init.applicationTunnel }),
    services: init.services ?? EMPTY,
    authorizationPolicies: init.authorizationPolicies ?? EMPTY,
    status: init.status ?? 'Healthy',
    locality: init.locality ?? NO_LOCALITY,
    capacity: init.capacity ?? WORKLOAD_DEFAULTS.capacity,
    extensions: init.extensions ?? EMPTY,
  };
  return w;
}

/**
 * Validates an `istio.workload.Workload` message and converts it to the model, collecting every problem.
 *
 * Defaults (istio/ztunnel@62d82653:src/state/workload.rs:431-537): empty trust domain -> `cluster.local`, empty service
 * account -> `default`, empty cluster id -> `Kubernetes`, unset capacity -> 1. Rejects: an address that
 * is not 4 or 16 bytes, a `services` key without `/`, tunnel protocol `LEGACY_ISTIO_MTLS`, unknown enum
 * values, a gateway without a destination, a port above 65535, an empty uid.
 *
 * @param msg - The decoded message.
 * @param options - Optional string interner.
 * @returns The workload, or a {@link WorkloadApiError} listing every issue.
 * @example
 * ```ts
 * const res = workloadFromProto(create(WorkloadSchema, { uid: 'u1', addresses: [new Uint8Array([10, 0, 0, 1])] }));
 * res._unsafeUnwrap().workloadIps; // ['10.0.0.1']
 * ```
 */
export function workloadFromProto(
  msg: WorkloadProto,
  options?: ConvertOptions,
): Result<Workload, WorkloadApiError> {
  return collectIssues(convertWorkload, msg, options);
}

/**
 * The conversion behind {@link workloadFromProto}, recording into a caller's issue list.
 *
 * @example
 * ```ts
 * const workload = convertWorkload(msg, createIssueList().at('workload'), (s) => s);
 * ```
 */
export function convertWorkload(
  msg: WorkloadProto,
  issues: IssueList,
  intern: (value: string) => string,
): Workload | undefined {
  const before = issues.issues.length;
  if (msg.uid === '')
    issues.add('uid', 'WORKLOAD_API_ERR_MISSING_FIELD', 'uid is empty (it is the primary key)');

  let workloadIps: readonly string[] = EMPTY;
  if (msg.addresses.length > 0) {
    const ips: string[] = [];
    for (let i = 0; i < msg.addresses.length; i++) {
      const bytes = msg.addresses[i] as Uint8Array;
      const ip = ipFromBytes(bytes);
      if (ip !== undefined) ips.push(ip);
      else
        issues.add(
          `addresses[${i}]`,
          'WORKLOAD_API_ERR_BAD_ADDRESS',
          `failed to parse address, had ${bytes.length} bytes`,
        );
    }
    workloadIps = ips;
  }

  let protocol: InboundProtocol = 'TCP';
  switch (msg.tunnelProtocol) {
    case TunnelProtocol.NONE:
      break;
    case TunnelProtocol.HBONE:
      protocol = 'HBONE';
      break;
    case TunnelProtocol.LEGACY_ISTIO_MTLS:
      // ztunnel cannot send legacy Istio mTLS (src/state/workload.rs:66-78).
      issues.add(
        'tunnelProtocol',
        'WORKLOAD_API_ERR_UNSUPPORTED_TUNNEL',
        'unsupported tunnel protocol: legacy istio mtls',
      );
      break;
    default:
      issues.add(
        'tunnelProtocol',
        'WORKLOAD_API_ERR_UNKNOWN_ENUM',
        `unknown tunnel protocol ${msg.tunnelProtocol}`,
      );
  }

  let networkMode: NetworkModeName = 'Standard';
  if (msg.networkMode === NetworkMode.HOST_NETWORK) networkMode = 'HostNetwork';
  else if (msg.networkMode !== NetworkMode.STANDARD) {
    issues.add('networkMode', 'WORKLOAD_API_ERR_UNKNOWN_ENUM', `unknown network mode ${msg.networkMode}`);
  }

  let status: HealthStatus = 'Healthy';
  if (msg.status === WorkloadStatus.UNHEALTHY) status = 'Unhealthy';
  else if (msg.status !== WorkloadStatus.HEALTHY) {
    issues.add('status', 'WORKLOAD_API_ERR_UNKNOWN_ENUM', `unknown workload status ${msg.status}`);
  }

  const waypoint =
    msg.waypoint === undefined ? undefined : gatewayFromProto(msg.waypoint, issues.at('waypoint'), intern);
  const networkGateway =
    msg.networkGateway === undefined
      ? undefined
      : gatewayFromProto(msg.networkGateway, issues.at('networkGateway'), intern);

  let applicationTunnel: ApplicationTunnel | undefined;
  if (msg.applicationTunnel !== undefined) {
    const at = msg.applicationTunnel;
    const port = checkPort(at.port, issues, 'applicationTunnel.port');
    if (at.protocol !== ApplicationTunnel_Protocol.NONE && at.protocol !== ApplicationTunnel_Protocol.PROXY) {
      issues.add(
        'applicationTunnel.protocol',
        'WORKLOAD_API_ERR_UNKNOWN_ENUM',
        `unknown protocol ${at.protocol}`,
      );
    }
    const protocolName = at.protocol === ApplicationTunnel_Protocol.PROXY ? 'PROXY' : 'NONE';
    applicationTunnel = port === 0 ? { protocol: protocolName } : { protocol: protocolName, port };
  }

  let services: readonly WorkloadService[] = EMPTY;
  const keys = Object.keys(msg.services);
  if (keys.length > 0) {
    const list: WorkloadService[] = [];
    for (const key of keys) {
      const nh = parseNamespacedHostname(key);
      if (nh === undefined) {
        issues.add(
          `services[${key}]`,
          'WORKLOAD_API_ERR_BAD_SERVICE_KEY',
          `failed to parse namespaced hostname: ${key}`,
        );
        continue;
      }
      const ports = portsFromProto(
        msg.services[key]?.ports ?? EMPTY,
        issues.at(`services[${JSON.stringify(key)}]`),
      );
      list.push({ key: intern(key), namespace: intern(nh.namespace), hostname: intern(nh.hostname), ports });
    }
    services = list;
  }

  if (issues.issues.length > before) return undefined;

  const namespace = intern(msg.namespace);
  const trustDomain = intern(msg.trustDomain || WORKLOAD_DEFAULTS.trustDomain);
  const serviceAccount = intern(msg.serviceAccount || WORKLOAD_DEFAULTS.serviceAccount);
  const loc = msg.locality;
  const w: { -readonly [K in keyof Workload]: Workload[K] } = {
    kind: 'workload',
    uid: msg.uid,
    name: msg.name,
    namespace,
    workloadIps,
    hostname: msg.hostname,
    network: intern(msg.network),
    protocol,
    networkMode,
    trustDomain,
    serviceAccount,
    identity: identity(trustDomain, namespace, serviceAccount),
    node: intern(msg.node),
    clusterId: intern(msg.clusterId || WORKLOAD_DEFAULTS.clusterId),
    canonicalName: intern(msg.canonicalName),
    canonicalRevision: intern(msg.canonicalRevision),
    // prost's enum getter maps an unknown value to the default (DEPLOYMENT); ztunnel lowercases the name.
    workloadType: WORKLOAD_KINDS[msg.workloadType] ?? 'deployment',
    workloadName: intern(msg.workloadName),
    nativeTunnel: msg.nativeTunnel,
    services,
    authorizationPolicies:
      msg.authorizationPolicies.length === 0 ? EMPTY : msg.authorizationPolicies.map(intern),
    status,
    locality:
      loc === undefined || (loc.region === '' && loc.zone === '' && loc.subzone === '')
        ? NO_LOCALITY
        : { region: intern(loc.region), zone: intern(loc.zone), subzone: intern(loc.subzone) },
    capacity: msg.capacity === undefined ? WORKLOAD_DEFAULTS.capacity : msg.capacity,
    extensions: extensionsFromProto(msg.extensions),
  };
  // Optional fields are added only when present (no `undefined` values, no object spreads on this path).
  if (waypoint !== undefined) w.waypoint = waypoint;
  if (networkGateway !== undefined) w.networkGateway = networkGateway;
  if (applicationTunnel !== undefined) w.applicationTunnel = applicationTunnel;
  return w;
}

/**
 * Converts a {@link Workload} back to its message. Trust domain and service account are elided when they
 * are the defaults, as istiod does; everything else is written as is.
 *
 * @param w - The workload.
 * @returns The `istio.workload.Workload` message.
 * @example
 * ```ts
 * toBinary(WorkloadSchema, workloadToProto(createWorkload({ uid: 'u1' })));
 * ```
 */
export function workloadToProto(w: Workload): WorkloadProto {
  const services: Record<string, PortListProto> = {};
  for (const s of w.services)
    setOwnKey(services, s.key, create(PortListSchema, { ports: portsToProto(s.ports) }));
  return create(WorkloadSchema, {
    uid: w.uid,
    name: w.name,
    namespace: w.namespace,
    addresses: w.workloadIps.map((ip) => ipToBytes(ip) ?? new Uint8Array()),
    hostname: w.hostname,
    network: w.network,
    tunnelProtocol: w.protocol === 'HBONE' ? TunnelProtocol.HBONE : TunnelProtocol.NONE,
    trustDomain: w.trustDomain === WORKLOAD_DEFAULTS.trustDomain ? '' : w.trustDomain,
    serviceAccount: w.serviceAccount === WORKLOAD_DEFAULTS.serviceAccount ? '' : w.serviceAccount,
    ...(w.waypoint === undefined ? {} : { waypoint: gatewayToProto(w.waypoint) }),
    ...(w.networkGateway === undefined ? {} : { networkGateway: gatewayToProto(w.networkGateway) }),
    node: w.node,
    canonicalName: w.canonicalName,
    canonicalRevision: w.canonicalRevision,
    workloadType: WorkloadType[w.workloadType.toUpperCase() as keyof typeof WorkloadType],
    workloadName: w.workloadName,
    nativeTunnel: w.nativeTunnel,
    ...(w.applicationTunnel === undefined
      ? {}
      : {
          applicationTunnel: create(ApplicationTunnelSchema, {
            protocol: ApplicationTunnel_Protocol[w.applicationTunnel.protocol],
            port: w.applicationTunnel.port ?? 0,
          }),
        }),
    services,
    authorizationPolicies: [...w.authorizationPolicies],
    status: w.status === 'Unhealthy' ? WorkloadStatus.UNHEALTHY : WorkloadStatus.HEALTHY,
    clusterId: w.clusterId,
    ...(w.locality === NO_LOCALITY ||
    (w.locality.region === '' && w.locality.zone === '' && w.locality.subzone === '')
      ? {}
      : { locality: create(LocalitySchema, { ...w.locality }) }),
    networkMode: w.networkMode === 'HostNetwork' ? NetworkMode.HOST_NETWORK : NetworkMode.STANDARD,
    extensions: extensionsToProto(w.extensions),
    ...(w.capacity === WORKLOAD_DEFAULTS.capacity ? {} : { capacity: w.capacity }),
  });
}
