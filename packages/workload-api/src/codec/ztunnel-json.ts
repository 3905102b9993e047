/**
 * The JSON shape ztunnel uses for its model: what `/config_dump` prints and what a `LOCAL_XDS_PATH` file
 * holds (serde, camelCase; ztunnel src/state/workload.rs, src/state/service.rs, src/rbac.rs, src/xds.rs
 * `LocalConfig`; spec hbone.md §3.3). Writing follows serde's skip rules field for field; reading is
 * lenient where ztunnel is strict (missing lists default to empty, the trust domain / service account /
 * cluster defaults apply) and collects every problem.
 * @module
 */
import { canonicalIp, isIpv6, parseCidr } from './ip.js';
import { createIssueList, type IssueList } from './issues.js';
import {
  EMPTY,
  type GatewayAddress,
  type NetworkAddress,
  type NetworkCidr,
  type PortMapping,
  parseNamespacedHostname,
} from './network.js';
import { setOwnKey } from './own-key.js';
import {
  createPolicy,
  type Policy,
  type PolicyIpPrefix,
  type PolicyMatch,
  type StringMatch,
} from './policy.js';
import { createService, type LoadBalancer, type LoadBalancerScope, type Service } from './service.js';
import {
  createWorkload,
  type HealthStatus,
  type Workload,
  type WorkloadKind,
  type WorkloadService,
} from './workload.js';

/** A JSON value. */
export type JsonValue = string | number | boolean | null | JsonValue[] | { [key: string]: JsonValue };
/** A JSON object. */
export type JsonObject = { [key: string]: JsonValue };

/** An endpoint as ztunnel prints it. */
export interface EndpointJsonInput {
  readonly workloadUid: string;
  readonly ports: readonly PortMapping[];
  readonly status: HealthStatus;
}

function portMap(ports: readonly PortMapping[]): JsonObject {
  const out: JsonObject = {};
  for (const p of [...ports].sort((a, b) => a.servicePort - b.servicePort))
    out[String(p.servicePort)] = p.targetPort;
  return out;
}

function gatewayJson(gw: GatewayAddress): JsonObject {
  const d = gw.destination;
  // serde untagged enum of two string-serialized types: `network/ip` or `namespace/hostname`.
  return {
    destination: d.kind === 'address' ? `${d.network}/${d.address}` : `${d.namespace}/${d.hostname}`,
    hboneMtlsPort: gw.hboneMtlsPort,
  };
}

/**
 * A workload in ztunnel's JSON shape (serde of `Workload`, fields with defaults skipped as ztunnel skips
 * them).
 *
 * @param w - The workload.
 * @returns The JSON object.
 * @example
 * ```ts
 * workloadToJson(createWorkload({ uid: 'u', workloadIps: ['10.0.0.1'] })).workloadIps; // ['10.0.0.1']
 * ```
 */
export function workloadToJson(w: Workload): JsonObject {
  const l = w.locality;
  const at = w.applicationTunnel;
  const opt = (skip: boolean, key: string, value: JsonValue): JsonObject => (skip ? {} : { [key]: value });
  // Field order and skip rules of ztunnel's `Workload` serde (src/state/workload.rs:229-295).
  return {
    workloadIps: [...w.workloadIps],
    ...opt(w.waypoint === undefined, 'waypoint', w.waypoint === undefined ? null : gatewayJson(w.waypoint)),
    ...opt(
      w.networkGateway === undefined,
      'networkGateway',
      w.networkGateway === undefined ? null : gatewayJson(w.networkGateway),
    ),
    protocol: w.protocol,
    networkMode: w.networkMode,
    ...opt(w.uid === '', 'uid', w.uid),
    name: w.name,
    namespace: w.namespace,
    ...opt(w.trustDomain === '', 'trustDomain', w.trustDomain),
    ...opt(w.serviceAccount === '', 'serviceAccount', w.serviceAccount),
    ...opt(w.network === '', 'network', w.network),
    ...opt(w.workloadName === '', 'workloadName', w.workloadName),
    workloadType: w.workloadType,
    ...opt(w.canonicalName === '', 'canonicalName', w.canonicalName),
    ...opt(w.canonicalRevision === '', 'canonicalRevision', w.canonicalRevision),
    ...opt(w.hostname === '', 'hostname', w.hostname),
    ...opt(w.node === '', 'node', w.node),
    ...opt(!w.nativeTunnel, 'nativeTunnel', true),
    ...opt(
      at === undefined,
      'applicationTunnel',
      at === undefined ? null : { protocol: at.protocol, port: at.port ?? null },
    ),
    ...opt(w.authorizationPolicies.length === 0, 'authorizationPolicies', [...w.authorizationPolicies]),
    status: w.status,
    clusterId: w.clusterId,
    ...opt(l.region === '' && l.zone === '' && l.subzone === '', 'locality', { ...l }),
    ...opt(
      w.services.length === 0,
      'services',
      w.services.map((s) => s.key),
    ),
    capacity: w.capacity,
  };
}

/**
 * An endpoint in ztunnel's JSON shape.
 *
 * @param ep - The endpoint.
 * @returns `{ workloadUid, port: { "<servicePort>": targetPort }, status }`.
 * @example
 * ```ts
 * endpointToJson({ workloadUid: 'u', ports: [], status: 'Healthy' });
 * ```
 */
export function endpointToJson(ep: EndpointJsonInput): JsonObject {
  return { workloadUid: ep.workloadUid, port: portMap(ep.ports), status: ep.status };
}

/**
 * A service in ztunnel's JSON shape, with its endpoints keyed by workload uid.
 *
 * @param s - The service.
 * @param endpoints - Its endpoints.
 * @returns The JSON object.
 * @example
 * ```ts
 * serviceToJson(service, store.endpoints(service.key).values());
 * ```
 */
export function serviceToJson(s: Service, endpoints: Iterable<EndpointJsonInput>): JsonObject {
  const eps: JsonObject = {};
  for (const ep of endpoints) setOwnKey(eps, ep.workloadUid, endpointToJson(ep));
  const lb = s.loadBalancer;
  const opt = (skip: boolean, key: string, value: () => JsonValue): JsonObject =>
    skip ? {} : { [key]: value() };
  // Field order and skip rules of ztunnel's `Service` serde (src/state/service.rs:36-75).
  return {
    name: s.name,
    namespace: s.namespace,
    hostname: s.hostname,
    vips: s.vips.map((v) => `${v.network}/${v.address}`),
    ...opt(s.cidrVips.length === 0, 'cidrVips', () =>
      s.cidrVips.map((c) => ({ network: c.network, cidr: `${c.address}/${c.length}` })),
    ),
    ports: portMap(s.ports),
    endpoints: eps,
    subjectAltNames: [...s.subjectAltNames],
    ...opt(s.waypoint === undefined, 'waypoint', () => gatewayJson(s.waypoint as GatewayAddress)),
    ...opt(s.weightedWaypoints.length === 0, 'weightedWaypoints', () =>
      s.weightedWaypoints.map((w) => ({ destination: gatewayJson(w.destination), weight: w.weight })),
    ),
    ...opt(lb === undefined, 'loadBalancer', () => ({
      routingPreferences: [...(lb?.routingPreferences ?? [])],
      mode: lb?.mode ?? 'Standard',
      healthPolicy: lb?.healthPolicy ?? 'OnlyHealthy',
    })),
    ...opt(s.ipFamilies === undefined, 'ipFamilies', () => s.ipFamilies ?? null),
    canonical: s.canonical,
    visibility: s.visibility,
  };
}

function stringMatchJson(m: StringMatch): JsonObject {
  // serde's externally tagged enum: `{"Exact": "..."}`; the unit-like tuple variant is `{"Presence": []}`.
  if ('exact' in m) return { Exact: m.exact };
  if ('prefix' in m) return { Prefix: m.prefix };
  if ('suffix' in m) return { Suffix: m.suffix };
  return { Presence: [] };
}

function matchJson(m: PolicyMatch): JsonObject {
  const o: JsonObject = {};
  const put = (key: string, value: JsonValue[]): void => {
    if (value.length > 0) o[key] = value;
  };
  const cidr = (p: PolicyIpPrefix): string => `${p.address}/${p.length}`;
  put('namespaces', m.namespaces.map(stringMatchJson));
  put('notNamespaces', m.notNamespaces.map(stringMatchJson));
  put(
    'serviceAccounts',
    m.serviceAccounts.map((s) => ({ ...s })),
  );
  put(
    'notServiceAccounts',
    m.notServiceAccounts.map((s) => ({ ...s })),
  );
  put('principals', m.principals.map(stringMatchJson));
  put('notPrincipals', m.notPrincipals.map(stringMatchJson));
  put('sourceIps', m.sourceIps.map(cidr));
  put('notSourceIps', m.notSourceIps.map(cidr));
  put('destinationIps', m.destinationIps.map(cidr));
  put('notDestinationIps', m.notDestinationIps.map(cidr));
  put('destinationPorts', [...m.destinationPorts]);
  put('notDestinationPorts', [...m.notDestinationPorts]);
  return o;
}

/**
 * A policy in ztunnel's JSON shape: `rules` is ztunnel's `Vec<Vec<Vec<RbacMatch>>>` (groups, rules,
 * matches).
 *
 * @param p - The policy.
 * @returns The JSON object.
 * @example
 * ```ts
 * policyToJson(createPolicy({ name: 'p', namespace: 'ns' })).rules; // []
 * ```
 */
export function policyToJson(p: Policy): JsonObject {
  return {
    name: p.name,
    namespace: p.namespace,
    scope: p.scope,
    action: p.action,
    rules: p.groups.map((g) => g.rules.map((r) => r.matches.map(matchJson))),
    dryRun: p.dryRun,
  };
}

/**
 * Workloads, services and policies in ztunnel's `LocalConfig` JSON shape, e.g. for the `staticConfig`
 * section of a config dump. Each workload's `services` is written as the local-file port map.
 *
 * @param models - The resources.
 * @returns `{ workloads, policies, services }`.
 * @example
 * ```ts
 * configDump(store, { staticConfig: localConfigToJson(meshFile.current()) });
 * ```
 */
export function localConfigToJson(models: LocalConfigModels): JsonObject {
  return {
    workloads: models.workloads.map((w) => {
      const services: JsonObject = {};
      for (const s of w.services) setOwnKey(services, s.key, portMap(s.ports));
      return { ...workloadToJson(w), services };
    }),
    policies: models.policies.map(policyToJson),
    services: models.services.map((s) => serviceToJson(s, [])),
  };
}

// ---- reading -------------------------------------------------------------------------------------

/** Workloads, services and policies read from ztunnel-shaped JSON. */
export interface LocalConfigModels {
  readonly workloads: readonly Workload[];
  readonly services: readonly Service[];
  readonly policies: readonly Policy[];
}

type Obj = { readonly [key: string]: unknown };
const isObj = (v: unknown): v is Obj => typeof v === 'object' && v !== null && !Array.isArray(v);
// Reads a field of a parsed document (a dynamic key keeps both tsc's index-signature rule and Biome happy).
const field = (o: Obj, key: string): unknown => o[key];
const textOf = (o: Obj, key: string): string | undefined => {
  const v = o[key];
  return typeof v === 'string' ? v : undefined;
};

function str(o: Obj, key: string, issues: IssueList, required = false): string {
  const v = o[key];
  if (v === undefined || v === null) {
    if (required) issues.add(key, 'WORKLOAD_API_ERR_MISSING_FIELD', `${key} is required`);
    return '';
  }
  if (typeof v !== 'string') {
    issues.add(key, 'WORKLOAD_API_ERR_BAD_FILE', `${key} must be a string`);
    return '';
  }
  return v;
}

function bool(o: Obj, key: string, issues: IssueList): boolean {
  const v = o[key];
  if (v === undefined || v === null) return false;
  if (typeof v !== 'boolean') issues.add(key, 'WORKLOAD_API_ERR_BAD_FILE', `${key} must be true or false`);
  return v === true;
}

function list(o: Obj, key: string, issues: IssueList): readonly unknown[] {
  const v = o[key];
  if (v === undefined || v === null) return EMPTY;
  if (!Array.isArray(v)) {
    issues.add(key, 'WORKLOAD_API_ERR_BAD_FILE', `${key} must be a list`);
    return EMPTY;
  }
  return v;
}

function port(v: unknown, issues: IssueList, path: string): number {
  const n = typeof v === 'string' && /^[0-9]+$/.test(v) ? Number(v) : v;
  if (typeof n !== 'number' || !Number.isInteger(n) || n < 0 || n > 65535) {
    issues.add(path, 'WORKLOAD_API_ERR_BAD_PORT', `${JSON.stringify(v)} is not a port`);
    return 0;
  }
  return n;
}

function oneOf<T extends string>(
  o: Obj,
  key: string,
  allowed: readonly T[],
  fallback: T,
  issues: IssueList,
): T {
  const v = o[key];
  if (v === undefined || v === null) return fallback;
  if (typeof v === 'string' && (allowed as readonly string[]).includes(v)) return v as T;
  issues.add(key, 'WORKLOAD_API_ERR_UNKNOWN_ENUM', `${key} must be one of ${allowed.join(', ')}`);
  return fallback;
}

function portMapIn(v: unknown, issues: IssueList, path: string): readonly PortMapping[] {
  if (v === undefined || v === null) return EMPTY;
  if (!isObj(v)) {
    issues.add(path, 'WORKLOAD_API_ERR_BAD_FILE', 'ports must be a map of service port to target port');
    return EMPTY;
  }
  return Object.entries(v).map(([k, t]) => ({
    servicePort: port(k, issues, `${path}.${k}`),
    targetPort: port(t, issues, `${path}.${k}`),
    appProtocol: 'UNKNOWN',
  }));
}

function networkAddressIn(v: unknown, issues: IssueList, path: string): NetworkAddress | undefined {
  const text = typeof v === 'string' ? v : '';
  const slash = text.indexOf('/');
  const address = slash < 0 ? undefined : canonicalIp(text.slice(slash + 1));
  if (address === undefined) {
    issues.add(path, 'WORKLOAD_API_ERR_BAD_ADDRESS', `${JSON.stringify(v)} is not network/ip`);
    return undefined;
  }
  return { network: text.slice(0, slash), address };
}

function gatewayIn(v: unknown, issues: IssueList): GatewayAddress | undefined {
  if (v === undefined || v === null) return undefined;
  const dest = isObj(v) ? textOf(v, 'destination') : undefined;
  if (!isObj(v) || dest === undefined) {
    issues.add('', 'WORKLOAD_API_ERR_MISSING_GATEWAY_ADDRESS', 'a gateway needs a destination string');
    return undefined;
  }
  const hboneMtlsPort =
    field(v, 'hboneMtlsPort') === undefined
      ? 15008
      : port(field(v, 'hboneMtlsPort'), issues, 'hboneMtlsPort');
  // serde's untagged enum tries NetworkAddress (`network/ip`) first, then NamespacedHostname.
  const slash = dest.indexOf('/');
  const ip = slash < 0 ? undefined : canonicalIp(dest.slice(slash + 1));
  if (ip !== undefined)
    return { destination: { kind: 'address', network: dest.slice(0, slash), address: ip }, hboneMtlsPort };
  const nh = parseNamespacedHostname(dest);
  if (nh === undefined) {
    issues.add(
      'destination',
      'WORKLOAD_API_ERR_BAD_FILE',
      `${JSON.stringify(dest)} is neither network/ip nor namespace/hostname`,
    );
    return undefined;
  }
  return { destination: { kind: 'hostname', ...nh }, hboneMtlsPort };
}

const WORKLOAD_KINDS: readonly WorkloadKind[] = ['deployment', 'cronjob', 'pod', 'job'];

function workloadIn(o: Obj, issues: IssueList): Workload | undefined {
  const before = issues.issues.length;
  const uid = str(o, 'uid', issues, true);
  const workloadIps: string[] = [];
  list(o, 'workloadIps', issues).forEach((v, i) => {
    const ip = typeof v === 'string' ? canonicalIp(v) : undefined;
    if (ip === undefined)
      issues.add(`workloadIps[${i}]`, 'WORKLOAD_API_ERR_BAD_ADDRESS', `${JSON.stringify(v)} is not an IP`);
    else workloadIps.push(ip);
  });
  const services: WorkloadService[] = [];
  const svcs = field(o, 'services');
  if (isObj(svcs)) {
    for (const [key, ports] of Object.entries(svcs)) {
      const nh = parseNamespacedHostname(key);
      if (nh === undefined) {
        issues.add(
          `services[${JSON.stringify(key)}]`,
          'WORKLOAD_API_ERR_BAD_SERVICE_KEY',
          `failed to parse namespaced hostname: ${key}`,
        );
        continue;
      }
      services.push({ key, ...nh, ports: portMapIn(ports, issues, `services[${JSON.stringify(key)}]`) });
    }
  } else if (Array.isArray(svcs)) {
    // The config_dump form lists service keys without ports.
    svcs.forEach((key, i) => {
      const nh = typeof key === 'string' ? parseNamespacedHostname(key) : undefined;
      if (nh === undefined)
        issues.add(
          `services[${i}]`,
          'WORKLOAD_API_ERR_BAD_SERVICE_KEY',
          `failed to parse namespaced hostname: ${String(key)}`,
        );
      else services.push({ key: key as string, ...nh, ports: EMPTY });
    });
  } else if (svcs !== undefined && svcs !== null) {
    issues.add('services', 'WORKLOAD_API_ERR_BAD_FILE', 'services must map namespace/hostname to a port map');
  }
  let applicationTunnel: Workload['applicationTunnel'];
  const at = field(o, 'applicationTunnel');
  if (isObj(at)) {
    const protocol = oneOf(
      at,
      'protocol',
      ['NONE', 'PROXY'] as const,
      'NONE',
      issues.at('applicationTunnel'),
    );
    const p =
      field(at, 'port') === undefined || field(at, 'port') === null
        ? 0
        : port(field(at, 'port'), issues, 'applicationTunnel.port');
    applicationTunnel = p === 0 ? { protocol } : { protocol, port: p };
  }
  const loc = field(o, 'locality');
  const waypoint = gatewayIn(field(o, 'waypoint'), issues.at('waypoint'));
  const networkGateway = gatewayIn(field(o, 'networkGateway'), issues.at('networkGateway'));
  const capacity =
    field(o, 'capacity') === undefined || field(o, 'capacity') === null ? 1 : field(o, 'capacity');
  if (typeof capacity !== 'number' || !Number.isInteger(capacity) || capacity < 0 || capacity > 0xffffffff) {
    issues.add('capacity', 'WORKLOAD_API_ERR_BAD_FILE', 'capacity must be a 32-bit unsigned integer');
  }
  const w = {
    uid,
    name: str(o, 'name', issues),
    namespace: str(o, 'namespace', issues),
    workloadIps,
    hostname: str(o, 'hostname', issues),
    network: str(o, 'network', issues),
    protocol: oneOf(o, 'protocol', ['TCP', 'HBONE'] as const, 'TCP', issues),
    networkMode: oneOf(o, 'networkMode', ['Standard', 'HostNetwork'] as const, 'Standard', issues),
    trustDomain: str(o, 'trustDomain', issues),
    serviceAccount: str(o, 'serviceAccount', issues),
    node: str(o, 'node', issues),
    clusterId: str(o, 'clusterId', issues),
    canonicalName: str(o, 'canonicalName', issues),
    canonicalRevision: str(o, 'canonicalRevision', issues),
    workloadType: oneOf(o, 'workloadType', WORKLOAD_KINDS, 'deployment', issues),
    workloadName: str(o, 'workloadName', issues),
    nativeTunnel: bool(o, 'nativeTunnel', issues),
    services,
    authorizationPolicies: list(o, 'authorizationPolicies', issues).map((v) => String(v)),
    status: oneOf(o, 'status', ['Healthy', 'Unhealthy'] as const, 'Healthy', issues),
    capacity: typeof capacity === 'number' ? capacity : 1,
    ...(isObj(loc)
      ? {
          locality: {
            region: str(loc, 'region', issues),
            zone: str(loc, 'zone', issues),
            subzone: str(loc, 'subzone', issues),
          },
        }
      : {}),
    ...(waypoint === undefined ? {} : { waypoint }),
    ...(networkGateway === undefined ? {} : { networkGateway }),
    ...(applicationTunnel === undefined ? {} : { applicationTunnel }),
  };
  return issues.issues.length > before ? undefined : createWorkload(w);
}

const SCOPES: readonly LoadBalancerScope[] = ['Region', 'Zone', 'Subzone', 'Node', 'Cluster', 'Network'];

function serviceIn(
  o: Obj,
  issues: IssueList,
): { service: Service; endpoints: readonly EndpointJsonInput[] } | undefined {
  const before = issues.issues.length;
  const namespace = str(o, 'namespace', issues);
  const hostname = str(o, 'hostname', issues, true);
  const vips: NetworkAddress[] = [];
  list(o, 'vips', issues).forEach((v, i) => {
    const a = networkAddressIn(v, issues, `vips[${i}]`);
    if (a !== undefined) vips.push(a);
  });
  const cidrVips: NetworkCidr[] = [];
  list(o, 'cidrVips', issues).forEach((v, i) => {
    const text = isObj(v) ? textOf(v, 'cidr') : undefined;
    const c = text === undefined ? undefined : parseCidr(text);
    if (c === undefined || !isObj(v)) {
      issues.add(`cidrVips[${i}]`, 'WORKLOAD_API_ERR_BAD_PREFIX', 'expected { network, cidr: "ip/length" }');
      return;
    }
    const network = textOf(v, 'network') ?? '';
    if (c.length === (isIpv6(c.address) ? 128 : 32)) vips.push({ network, address: c.address });
    else cidrVips.push({ network, address: c.address, length: c.length });
  });
  let loadBalancer: LoadBalancer | undefined;
  const lb = field(o, 'loadBalancer');
  if (isObj(lb)) {
    const lbIssues = issues.at('loadBalancer');
    const prefs: LoadBalancerScope[] = [];
    list(lb, 'routingPreferences', lbIssues).forEach((v, i) => {
      if (typeof v === 'string' && (SCOPES as readonly string[]).includes(v))
        prefs.push(v as LoadBalancerScope);
      else
        lbIssues.add(
          `routingPreferences[${i}]`,
          'WORKLOAD_API_ERR_UNKNOWN_ENUM',
          `unknown scope ${JSON.stringify(v)}`,
        );
    });
    loadBalancer = {
      routingPreferences: prefs,
      mode: oneOf(
        lb,
        'mode',
        ['Standard', 'Strict', 'Failover', 'Passthrough'] as const,
        'Standard',
        lbIssues,
      ),
      healthPolicy: oneOf(lb, 'healthPolicy', ['OnlyHealthy', 'AllowAll'] as const, 'OnlyHealthy', lbIssues),
    };
  }
  const waypoint = gatewayIn(field(o, 'waypoint'), issues.at('waypoint'));
  const weightedWaypoints: { destination: GatewayAddress; weight: number }[] = [];
  list(o, 'weightedWaypoints', issues).forEach((v, i) => {
    const destination = isObj(v)
      ? gatewayIn(field(v, 'destination'), issues.at(`weightedWaypoints[${i}].destination`))
      : undefined;
    const w = isObj(v) ? field(v, 'weight') : undefined;
    const weight = typeof w === 'number' ? w : 0;
    if (destination !== undefined) weightedWaypoints.push({ destination, weight });
  });
  const endpoints: EndpointJsonInput[] = [];
  const eps = field(o, 'endpoints');
  if (isObj(eps)) {
    for (const [uid, ep] of Object.entries(eps)) {
      if (!isObj(ep)) continue;
      endpoints.push({
        workloadUid: textOf(ep, 'workloadUid') ?? uid,
        ports: portMapIn(field(ep, 'port'), issues, `endpoints[${JSON.stringify(uid)}].port`),
        status: oneOf(
          ep,
          'status',
          ['Healthy', 'Unhealthy'] as const,
          'Healthy',
          issues.at(`endpoints[${JSON.stringify(uid)}]`),
        ),
      });
    }
  }
  const ipFamilies =
    field(o, 'ipFamilies') === undefined || field(o, 'ipFamilies') === null
      ? undefined
      : oneOf(o, 'ipFamilies', ['IPv4', 'IPv6', 'Dual'] as const, 'Dual', issues);
  const init = {
    name: str(o, 'name', issues),
    namespace,
    hostname,
    vips,
    cidrVips,
    ports: portMapIn(field(o, 'ports'), issues, 'ports'),
    subjectAltNames: list(o, 'subjectAltNames', issues).map((v) => String(v)),
    weightedWaypoints,
    canonical: bool(o, 'canonical', issues),
    ingressUseWaypoint: bool(o, 'ingressUseWaypoint', issues),
    visibility: oneOf(o, 'visibility', ['Public', 'Namespace'] as const, 'Public', issues),
    ...(waypoint === undefined ? {} : { waypoint }),
    ...(loadBalancer === undefined ? {} : { loadBalancer }),
    ...(ipFamilies === undefined ? {} : { ipFamilies }),
  };
  return issues.issues.length > before ? undefined : { service: createService(init), endpoints };
}

function stringMatchIn(v: unknown, issues: IssueList, path: string): StringMatch | undefined {
  if (isObj(v)) {
    const exact = textOf(v, 'Exact');
    if (exact !== undefined) return { exact };
    const prefix = textOf(v, 'Prefix');
    if (prefix !== undefined) return { prefix };
    const suffix = textOf(v, 'Suffix');
    if (suffix !== undefined) return { suffix };
    if ('Presence' in v) return { presence: true };
  }
  issues.add(path, 'WORKLOAD_API_ERR_BAD_FILE', 'expected {Exact|Prefix|Suffix: "..."} or {Presence: []}');
  return undefined;
}

function matchIn(v: unknown, issues: IssueList): Partial<PolicyMatch> {
  if (!isObj(v)) {
    issues.add('', 'WORKLOAD_API_ERR_BAD_FILE', 'a match must be a map');
    return {};
  }
  const strings = (key: string): StringMatch[] =>
    list(v, key, issues).flatMap((m, i) => stringMatchIn(m, issues, `${key}[${i}]`) ?? []);
  const cidrs = (key: string): PolicyIpPrefix[] =>
    list(v, key, issues).flatMap((m, i) => {
      const c = typeof m === 'string' ? parseCidr(m) : undefined;
      if (c === undefined)
        issues.add(`${key}[${i}]`, 'WORKLOAD_API_ERR_BAD_PREFIX', `${JSON.stringify(m)} is not a CIDR`);
      return c ?? [];
    });
  const ports = (key: string): number[] =>
    list(v, key, issues).map((p, i) => port(p, issues, `${key}[${i}]`));
  const sas = (key: string): { namespace: string; serviceAccount: string }[] =>
    list(v, key, issues).flatMap((s) =>
      isObj(s)
        ? [
            {
              namespace: String(field(s, 'namespace') ?? ''),
              serviceAccount: String(field(s, 'serviceAccount') ?? ''),
            },
          ]
        : [],
    );
  return {
    namespaces: strings('namespaces'),
    notNamespaces: strings('notNamespaces'),
    principals: strings('principals'),
    notPrincipals: strings('notPrincipals'),
    sourceIps: cidrs('sourceIps'),
    notSourceIps: cidrs('notSourceIps'),
    destinationIps: cidrs('destinationIps'),
    notDestinationIps: cidrs('notDestinationIps'),
    destinationPorts: ports('destinationPorts'),
    notDestinationPorts: ports('notDestinationPorts'),
    serviceAccounts: sas('serviceAccounts'),
    notServiceAccounts: sas('notServiceAccounts'),
  };
}

function policyIn(o: Obj, issues: IssueList): Policy | undefined {
  const before = issues.issues.length;
  const name = str(o, 'name', issues, true);
  const groups = list(o, 'rules', issues).map((g, gi) => ({
    rules: (Array.isArray(g) ? g : []).map((r, ri) => ({
      matches: (Array.isArray(r) ? r : []).map((m, mi) =>
        matchIn(m, issues.at(`rules[${gi}][${ri}][${mi}]`)),
      ),
    })),
  }));
  const init = {
    name,
    namespace: str(o, 'namespace', issues),
    scope: oneOf(o, 'scope', ['Global', 'Namespace', 'WorkloadSelector'] as const, 'Global', issues),
    action: oneOf(o, 'action', ['Allow', 'Deny'] as const, 'Allow', issues),
    dryRun: bool(o, 'dryRun', issues),
    groups,
  };
  return issues.issues.length > before ? undefined : createPolicy(init);
}

/**
 * Reads ztunnel's `LocalConfig` shape — `{ workloads, services, policies }`, the `LOCAL_XDS_PATH` file
 * format (see ztunnel examples/localhost.yaml) — into models, collecting every problem. Each local
 * workload's `services` map (`namespace/hostname` -> service port -> target port) becomes its endpoints;
 * a service's `endpoints` entries are merged into the workloads they name.
 *
 * @param doc - The parsed YAML or JSON document.
 * @param issues - Where problems go (paths are prefixed `workloads[i]` etc.).
 * @returns The models that were valid.
 * @example
 * ```ts
 * const issues = createIssueList();
 * const models = localConfigFromJson(YAML.parse(text), issues);
 * ```
 */
export function localConfigFromJson(doc: unknown, issues: IssueList = createIssueList()): LocalConfigModels {
  if (!isObj(doc)) {
    issues.add('', 'WORKLOAD_API_ERR_BAD_FILE', 'expected a map with workloads, services and policies');
    return { workloads: EMPTY, services: EMPTY, policies: EMPTY };
  }
  for (const key of Object.keys(doc)) {
    if (key !== 'workloads' && key !== 'services' && key !== 'policies') {
      issues.add(
        key,
        'WORKLOAD_API_ERR_BAD_FILE',
        `unknown field ${key} (expected workloads, services, policies)`,
      );
    }
  }
  const workloads: Workload[] = [];
  list(doc, 'workloads', issues).forEach((v, i) => {
    const w = isObj(v) ? workloadIn(v, issues.at(`workloads[${i}]`)) : undefined;
    if (!isObj(v)) issues.add(`workloads[${i}]`, 'WORKLOAD_API_ERR_BAD_FILE', 'a workload must be a map');
    if (w !== undefined) workloads.push(w);
  });
  const services: Service[] = [];
  list(doc, 'services', issues).forEach((v, i) => {
    const s = isObj(v) ? serviceIn(v, issues.at(`services[${i}]`)) : undefined;
    if (!isObj(v)) issues.add(`services[${i}]`, 'WORKLOAD_API_ERR_BAD_FILE', 'a service must be a map');
    if (s === undefined) return;
    services.push(s.service);
    // Explicit endpoints become entries in the named workloads' services maps.
    for (const ep of s.endpoints) {
      const wi = workloads.findIndex((w) => w.uid === ep.workloadUid);
      const w = workloads[wi];
      if (w === undefined) {
        issues.add(
          `services[${i}].endpoints`,
          'WORKLOAD_API_ERR_BAD_FILE',
          `endpoint workload ${ep.workloadUid} is not in this file`,
        );
        continue;
      }
      const entry: WorkloadService = {
        key: s.service.key,
        namespace: s.service.namespace,
        hostname: s.service.hostname,
        ports: ep.ports,
      };
      workloads[wi] = createWorkload({
        ...w,
        services: [...w.services.filter((x) => x.key !== entry.key), entry],
      });
    }
  });
  const policies: Policy[] = [];
  list(doc, 'policies', issues).forEach((v, i) => {
    const p = isObj(v) ? policyIn(v, issues.at(`policies[${i}]`)) : undefined;
    if (!isObj(v)) issues.add(`policies[${i}]`, 'WORKLOAD_API_ERR_BAD_FILE', 'a policy must be a map');
    if (p !== undefined) policies.push(p);
  });
  return { workloads, services, policies };
}
