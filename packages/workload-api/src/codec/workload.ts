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
import { ipToBytes } from './ip.js';
import { collectIssues, type IssueList } from './issues.js';
import type { ModelParts } from './model-parts.js';
import {
  type ConvertOptions,
  checkIp,
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

/**
 * The shared empty locality.
 *
 * @example
 * ```ts
 * workload.locality === NO_LOCALITY; // no locality was sent
 * ```
 */
export const NO_LOCALITY: Locality = Object.freeze({ region: '', zone: '', subzone: '' });
const WORKLOAD_KINDS: readonly WorkloadKind[] = ['deployment', 'cronjob', 'pod', 'job'];

/**
 * The workload kind of a wire `WorkloadType`; an unknown value is DEPLOYMENT, as prost's enum getter reads it.
 *
 * @example
 * ```ts
 * workloadKind(2); // 'pod'
 * ```
 */
export function workloadKind(value: number): WorkloadKind {
  return WORKLOAD_KINDS[value] ?? 'deployment';
}
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
  // Through the same builder as decoding: one object shape for every workload, whoever made it.
  return workloadModel(
    {
      uid: init.uid,
      name: init.name ?? '',
      namespace: init.namespace ?? '',
      hostname: init.hostname ?? '',
      network: init.network ?? '',
      trustDomain: init.trustDomain ?? '',
      serviceAccount: init.serviceAccount ?? '',
      clusterId: init.clusterId ?? '',
      node: init.node ?? '',
      canonicalName: init.canonicalName ?? '',
      canonicalRevision: init.canonicalRevision ?? '',
      workloadName: init.workloadName ?? '',
      workloadIps: init.workloadIps ?? EMPTY,
      protocol: init.protocol ?? 'TCP',
      networkMode: init.networkMode ?? 'Standard',
      status: init.status ?? 'Healthy',
      workloadType: init.workloadType ?? 'deployment',
      nativeTunnel: init.nativeTunnel ?? false,
      waypoint: init.waypoint,
      networkGateway: init.networkGateway,
      applicationTunnel: init.applicationTunnel,
      services: init.services ?? EMPTY,
      authorizationPolicies: init.authorizationPolicies ?? EMPTY,
      region: init.locality?.region ?? '',
      zone: init.locality?.zone ?? '',
      subzone: init.locality?.subzone ?? '',
      capacity: init.capacity,
      extensions: init.extensions ?? EMPTY,
    },
    undefined,
  );
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
 * What a workload model is made of, once a decoder has read and checked it: {@link workloadModel} applies
 * ztunnel's defaults and builds the model. Strings that repeat across workloads come interned. Internal
 * to the package: the message conversion and the direct decoder (`address-decoder.ts`) both end here, so
 * they build the same model.
 */
export interface WorkloadFields {
  uid: string;
  name: string;
  namespace: string;
  hostname: string;
  network: string;
  /** As sent: empty means the default. */
  trustDomain: string;
  /** As sent: empty means the default. */
  serviceAccount: string;
  /** As sent: empty means the default. */
  clusterId: string;
  node: string;
  canonicalName: string;
  canonicalRevision: string;
  workloadName: string;
  workloadIps: readonly string[];
  protocol: InboundProtocol;
  networkMode: NetworkModeName;
  status: HealthStatus;
  workloadType: WorkloadKind;
  nativeTunnel: boolean;
  waypoint: GatewayAddress | undefined;
  networkGateway: GatewayAddress | undefined;
  applicationTunnel: ApplicationTunnel | undefined;
  services: readonly WorkloadService[];
  authorizationPolicies: readonly string[];
  region: string;
  zone: string;
  subzone: string;
  /** Unset means the default. */
  capacity: number | undefined;
  extensions: readonly ExtensionConfig[];
}

/**
 * Builds the model from checked fields: defaults (istio/ztunnel@62d82653:src/state/workload.rs:431-537),
 * the identity, and parts shared with other workloads of the same decoding context.
 *
 * @param f - The fields.
 * @param parts - The context's shared parts, if any.
 * @returns The workload.
 * @example
 * ```ts
 * const workload = workloadModel(fields, modelParts(intern));
 * ```
 */
export function workloadModel(f: WorkloadFields, parts: ModelParts | undefined): Workload {
  const trustDomain = f.trustDomain || WORKLOAD_DEFAULTS.trustDomain;
  const serviceAccount = f.serviceAccount || WORKLOAD_DEFAULTS.serviceAccount;
  const noLocality = f.region === '' && f.zone === '' && f.subzone === '';
  const w: { -readonly [K in keyof Workload]: Workload[K] } = {
    kind: 'workload',
    uid: f.uid,
    name: f.name,
    namespace: f.namespace,
    workloadIps: f.workloadIps,
    hostname: f.hostname,
    network: f.network,
    protocol: f.protocol,
    networkMode: f.networkMode,
    trustDomain,
    serviceAccount,
    identity:
      parts === undefined
        ? identity(trustDomain, f.namespace, serviceAccount)
        : parts.identity(trustDomain, f.namespace, serviceAccount),
    node: f.node,
    clusterId: f.clusterId || WORKLOAD_DEFAULTS.clusterId,
    canonicalName: f.canonicalName,
    canonicalRevision: f.canonicalRevision,
    workloadType: f.workloadType,
    workloadName: f.workloadName,
    nativeTunnel: f.nativeTunnel,
    services: parts === undefined ? f.services : parts.services(f.services),
    authorizationPolicies: f.authorizationPolicies,
    status: f.status,
    locality: noLocality
      ? NO_LOCALITY
      : parts === undefined
        ? { region: f.region, zone: f.zone, subzone: f.subzone }
        : parts.locality(f.region, f.zone, f.subzone),
    capacity: f.capacity === undefined ? WORKLOAD_DEFAULTS.capacity : f.capacity,
    extensions: f.extensions,
  };
  // Optional fields are added only when present (no `undefined` values, no object spreads on this path).
  if (f.waypoint !== undefined) w.waypoint = f.waypoint;
  if (f.networkGateway !== undefined) w.networkGateway = f.networkGateway;
  if (f.applicationTunnel !== undefined) w.applicationTunnel = f.applicationTunnel;
  return w;
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
  parts?: ModelParts,
): Workload | undefined {
  const before = issues.issues.length;
  if (msg.uid === '')
    issues.add('uid', 'WORKLOAD_API_ERR_MISSING_FIELD', 'uid is empty (it is the primary key)');

  const workloadIps: readonly string[] =
    msg.addresses.length === 0
      ? EMPTY
      : msg.addresses.map((bytes, i) => checkIp(bytes, issues, `addresses[${i}]`) ?? '');

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
    applicationTunnel = applicationTunnelModel(at.protocol === ApplicationTunnel_Protocol.PROXY, port);
  }

  const services: WorkloadService[] = [];
  for (const key of Object.keys(msg.services)) {
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
      '',
      parts,
    );
    services.push(
      parts === undefined
        ? { key, namespace: nh.namespace, hostname: nh.hostname, ports }
        : parts.service(intern(key), ports),
    );
  }

  if (issues.issues.length > before) return undefined;
  const loc = msg.locality;
  return workloadModel(
    {
      uid: msg.uid,
      name: msg.name,
      namespace: intern(msg.namespace),
      hostname: msg.hostname,
      network: intern(msg.network),
      trustDomain: intern(msg.trustDomain),
      serviceAccount: intern(msg.serviceAccount),
      clusterId: intern(msg.clusterId),
      node: intern(msg.node),
      canonicalName: intern(msg.canonicalName),
      canonicalRevision: intern(msg.canonicalRevision),
      workloadName: intern(msg.workloadName),
      workloadIps,
      protocol,
      networkMode,
      status,
      // prost's enum getter maps an unknown value to the default (DEPLOYMENT); ztunnel lowercases the name.
      workloadType: workloadKind(msg.workloadType),
      nativeTunnel: msg.nativeTunnel,
      waypoint,
      networkGateway,
      applicationTunnel,
      services: services.length === 0 ? EMPTY : services.slice(),
      authorizationPolicies:
        msg.authorizationPolicies.length === 0 ? EMPTY : msg.authorizationPolicies.map(intern),
      region: intern(loc?.region ?? ''),
      zone: intern(loc?.zone ?? ''),
      subzone: intern(loc?.subzone ?? ''),
      capacity: msg.capacity,
      extensions: extensionsFromProto(msg.extensions),
    },
    parts,
  );
}

/**
 * The application tunnel model: a port of 0 means none.
 *
 * @example
 * ```ts
 * applicationTunnelModel(true, 15088); // { protocol: 'PROXY', port: 15088 }
 * ```
 */
export function applicationTunnelModel(proxy: boolean, port: number): ApplicationTunnel {
  const protocol = proxy ? 'PROXY' : 'NONE';
  return port === 0 ? { protocol } : { protocol, port };
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
