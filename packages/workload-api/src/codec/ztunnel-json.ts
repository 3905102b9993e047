/**
 * The JSON shape ztunnel uses for its model: what `/config_dump` prints and what a `LOCAL_XDS_PATH` file
 * holds (serde, camelCase; istio/ztunnel@62d82653:src/state/workload.rs, src/state/service.rs, src/rbac.rs,
 * src/xds.rs `LocalConfig`, src/admin.rs). Writing follows serde's skip rules field for field. Reading
 * rejects every field it does not know, at every depth, with its path; it is lenient only where leniency
 * cannot widen what a policy allows (missing lists default to empty, the trust domain / service account /
 * cluster defaults apply), and collects every problem.
 * @module
 */

import {
  type Authorization,
  type AuthorizationMatch,
  createAuthorization,
  type StringMatch,
} from './authorization.js';
import { canonicalIp, type IpPrefix, isIpv6, parseCidr } from './ip.js';
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
 * workloadToJson(createWorkload({ uid: 'u', workloadIps: ['10.0.0.1'] }))['workloadIps']; // ['10.0.0.1']
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

function matchJson(m: AuthorizationMatch): JsonObject {
  const o: JsonObject = {};
  const put = (key: string, value: JsonValue[]): void => {
    if (value.length > 0) o[key] = value;
  };
  const cidr = (p: IpPrefix): string => `${p.address}/${p.length}`;
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
 * authorizationToJson(createAuthorization({ name: 'p', namespace: 'ns' }))['rules']; // []
 * ```
 */
export function authorizationToJson(p: Authorization): JsonObject {
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
    policies: models.policies.map(authorizationToJson),
    services: models.services.map((s) => serviceToJson(s, [])),
  };
}

// ---- reading -------------------------------------------------------------------------------------

/** Workloads, services and policies read from ztunnel-shaped JSON. */
export interface LocalConfigModels {
  readonly workloads: readonly Workload[];
  readonly services: readonly Service[];
  readonly policies: readonly Authorization[];
}

type Obj = { readonly [key: string]: unknown };
const isObj = (v: unknown): v is Obj => typeof v === 'object' && v !== null && !Array.isArray(v);
// Reads a field of a parsed document (a dynamic key keeps both tsc's index-signature rule and Biome happy).
const field = (o: Obj, key: string): unknown => o[key];
const absent = (v: unknown): boolean => v === undefined || v === null;

// The fields of every object a local config holds. ztunnel's serde structs deny unknown fields
// (istio/ztunnel@62d82653:src/state/workload.rs:229-230, src/state/service.rs:36-37, src/xds.rs:551-560,
// src/rbac.rs:34-35) except `RbacMatch` (src/rbac.rs:211-213), where a misspelt key silently drops a
// constraint; here every object at every depth rejects a field it does not know, so a typo is an error
// with its path rather than a DENY that matches nothing or an identity that falls back to a default.
const fields = (...names: string[]): ReadonlySet<string> => new Set(names);
const CONFIG_FIELDS = fields('workloads', 'services', 'policies');
const WORKLOAD_FIELDS = fields(
  'uid',
  'name',
  'namespace',
  'workloadIps',
  'hostname',
  'network',
  'protocol',
  'networkMode',
  'trustDomain',
  'serviceAccount',
  'node',
  'clusterId',
  'canonicalName',
  'canonicalRevision',
  'workloadType',
  'workloadName',
  'nativeTunnel',
  'services',
  'authorizationPolicies',
  'status',
  'capacity',
  'locality',
  'waypoint',
  'networkGateway',
  'applicationTunnel',
);
const LOCALITY_FIELDS = fields('region', 'zone', 'subzone');
const APPLICATION_TUNNEL_FIELDS = fields('protocol', 'port');
const GATEWAY_FIELDS = fields('destination', 'hboneMtlsPort');
const SERVICE_FIELDS = fields(
  'name',
  'namespace',
  'hostname',
  'vips',
  'cidrVips',
  'ports',
  'endpoints',
  'subjectAltNames',
  'waypoint',
  'weightedWaypoints',
  'loadBalancer',
  'ipFamilies',
  'canonical',
  'ingressUseWaypoint',
  'visibility',
);
const CIDR_VIP_FIELDS = fields('network', 'cidr');
const WEIGHTED_WAYPOINT_FIELDS = fields('destination', 'weight');
const LOAD_BALANCER_FIELDS = fields('routingPreferences', 'mode', 'healthPolicy');
const ENDPOINT_FIELDS = fields('workloadUid', 'port', 'status');
const POLICY_FIELDS = fields('name', 'namespace', 'scope', 'action', 'rules', 'dryRun');
const MATCH_FIELDS = fields(
  'namespaces',
  'notNamespaces',
  'serviceAccounts',
  'notServiceAccounts',
  'principals',
  'notPrincipals',
  'sourceIps',
  'notSourceIps',
  'destinationIps',
  'notDestinationIps',
  'destinationPorts',
  'notDestinationPorts',
);
const SERVICE_ACCOUNT_FIELDS = fields('namespace', 'serviceAccount');
const STRING_MATCH_FORMS = fields('Exact', 'Prefix', 'Suffix', 'Presence');

/** Edit distance, stopping early once it exceeds `max` (only small distances are ever suggested). */
function distance(a: string, b: string, max: number): number {
  if (Math.abs(a.length - b.length) > max) return max + 1;
  let prev = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    const row = [i];
    let best = i;
    for (let j = 1; j <= b.length; j++) {
      const cost = a[i - 1] === b[j - 1] ? 0 : 1;
      const d = Math.min((prev[j] ?? 0) + 1, (row[j - 1] ?? 0) + 1, (prev[j - 1] ?? 0) + cost);
      row.push(d);
      if (d < best) best = d;
    }
    if (best > max) return max + 1;
    prev = row;
  }
  return prev[b.length] ?? max + 1;
}

/** The known field a misspelt one most likely meant: same letters in another case, or 1-2 edits away. */
function suggestion(key: string, known: ReadonlySet<string>): string | undefined {
  const lower = key.toLowerCase();
  let best: string | undefined;
  let bestDistance = key.length < 5 ? 1 : 2;
  for (const k of known) {
    const d = distance(lower, k.toLowerCase(), bestDistance);
    if (d === 0) return k;
    if (d < bestDistance || (d === bestDistance && best === undefined)) {
      best = k;
      bestDistance = d;
    }
  }
  return best;
}

/** A path segment for a map key: `.key` for identifiers, `["key"]` otherwise. */
const keyPath = (key: string): string =>
  /^[A-Za-z_][A-Za-z0-9_]*$/.test(key) ? key : `[${JSON.stringify(key)}]`;

/** Records `<path>.<key>: unknown field` for every key of `o` that is not in `known`. */
function onlyKnown(o: Obj, known: ReadonlySet<string>, issues: IssueList): void {
  for (const key of Object.keys(o)) {
    if (known.has(key)) continue;
    const hint = suggestion(key, known);
    issues.add(
      keyPath(key),
      'WORKLOAD_API_ERR_BAD_FILE',
      hint === undefined ? 'unknown field' : `unknown field (did you mean ${hint}?)`,
    );
  }
}

/** `v` as a map, recording an issue at `path` when it is something else. */
function asMap(v: unknown, issues: IssueList, path: string, what: string): Obj | undefined {
  if (isObj(v)) return v;
  issues.add(path, 'WORKLOAD_API_ERR_BAD_FILE', `${what} must be a map`);
  return undefined;
}

function str(o: Obj, key: string, issues: IssueList, required = false): string {
  const v = o[key];
  if (absent(v)) {
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
  if (absent(v)) return false;
  if (typeof v !== 'boolean') issues.add(key, 'WORKLOAD_API_ERR_BAD_FILE', `${key} must be true or false`);
  return v === true;
}

function list(o: Obj, key: string, issues: IssueList, required = false): readonly unknown[] {
  const v = o[key];
  if (absent(v)) {
    if (required) issues.add(key, 'WORKLOAD_API_ERR_MISSING_FIELD', `${key} is required`);
    return EMPTY;
  }
  if (!Array.isArray(v)) {
    issues.add(key, 'WORKLOAD_API_ERR_BAD_FILE', `${key} must be a list`);
    return EMPTY;
  }
  return v;
}

function strings(o: Obj, key: string, issues: IssueList): string[] {
  const out: string[] = [];
  list(o, key, issues).forEach((v, i) => {
    if (typeof v === 'string') out.push(v);
    else issues.add(`${key}[${i}]`, 'WORKLOAD_API_ERR_BAD_FILE', 'must be a string');
  });
  return out;
}

function port(v: unknown, issues: IssueList, path: string): number {
  const n = typeof v === 'string' && /^[0-9]+$/.test(v) ? Number(v) : v;
  if (typeof n !== 'number' || !Number.isInteger(n) || n < 0 || n > 65535) {
    issues.add(path, 'WORKLOAD_API_ERR_BAD_PORT', `${JSON.stringify(v)} is not a port`);
    return 0;
  }
  return n;
}

function uint32(v: unknown, issues: IssueList, path: string, what: string): number | undefined {
  if (typeof v !== 'number' || !Number.isInteger(v) || v < 0 || v > 0xffffffff) {
    issues.add(path, 'WORKLOAD_API_ERR_BAD_FILE', `${what} must be a 32-bit unsigned integer`);
    return undefined;
  }
  return v;
}

function oneOf<T extends string>(
  o: Obj,
  key: string,
  allowed: readonly T[],
  fallback: T,
  issues: IssueList,
  required = false,
): T {
  const v = o[key];
  if (absent(v)) {
    if (required) issues.add(key, 'WORKLOAD_API_ERR_MISSING_FIELD', `${key} is required`);
    return fallback;
  }
  if (typeof v === 'string' && (allowed as readonly string[]).includes(v)) return v as T;
  issues.add(key, 'WORKLOAD_API_ERR_UNKNOWN_ENUM', `${key} must be one of ${allowed.join(', ')}`);
  return fallback;
}

function portMapIn(v: unknown, issues: IssueList, path: string): readonly PortMapping[] {
  if (absent(v)) return EMPTY;
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

function gatewayIn(v: unknown, issues: IssueList, required = false): GatewayAddress | undefined {
  if (absent(v)) {
    if (required)
      issues.add('', 'WORKLOAD_API_ERR_MISSING_GATEWAY_ADDRESS', 'a gateway needs a destination string');
    return undefined;
  }
  if (!isObj(v)) {
    issues.add('', 'WORKLOAD_API_ERR_BAD_FILE', 'a gateway must be a map with destination and hboneMtlsPort');
    return undefined;
  }
  onlyKnown(v, GATEWAY_FIELDS, issues);
  const dest = field(v, 'destination');
  if (typeof dest !== 'string') {
    issues.add(
      'destination',
      'WORKLOAD_API_ERR_MISSING_GATEWAY_ADDRESS',
      'a gateway needs a destination string',
    );
    return undefined;
  }
  const hboneMtlsPort = absent(field(v, 'hboneMtlsPort'))
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

function workloadServicesIn(v: unknown, issues: IssueList): WorkloadService[] {
  const services: WorkloadService[] = [];
  if (isObj(v)) {
    for (const [key, ports] of Object.entries(v)) {
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
  } else if (Array.isArray(v)) {
    // The config_dump form lists service keys without ports.
    v.forEach((key, i) => {
      const nh = typeof key === 'string' ? parseNamespacedHostname(key) : undefined;
      if (nh === undefined)
        issues.add(
          `services[${i}]`,
          'WORKLOAD_API_ERR_BAD_SERVICE_KEY',
          `failed to parse namespaced hostname: ${String(key)}`,
        );
      else services.push({ key: key as string, ...nh, ports: EMPTY });
    });
  } else if (!absent(v)) {
    issues.add('services', 'WORKLOAD_API_ERR_BAD_FILE', 'services must map namespace/hostname to a port map');
  }
  return services;
}

function workloadIn(o: Obj, issues: IssueList): Workload | undefined {
  const before = issues.issues.length;
  onlyKnown(o, WORKLOAD_FIELDS, issues);
  const uid = str(o, 'uid', issues, true);
  const workloadIps: string[] = [];
  list(o, 'workloadIps', issues).forEach((v, i) => {
    const ip = typeof v === 'string' ? canonicalIp(v) : undefined;
    if (ip === undefined)
      issues.add(`workloadIps[${i}]`, 'WORKLOAD_API_ERR_BAD_ADDRESS', `${JSON.stringify(v)} is not an IP`);
    else workloadIps.push(ip);
  });
  const services = workloadServicesIn(field(o, 'services'), issues);
  let applicationTunnel: Workload['applicationTunnel'];
  const atValue = field(o, 'applicationTunnel');
  const at = absent(atValue) ? undefined : asMap(atValue, issues, 'applicationTunnel', 'applicationTunnel');
  if (at !== undefined) {
    const atIssues = issues.at('applicationTunnel');
    onlyKnown(at, APPLICATION_TUNNEL_FIELDS, atIssues);
    const protocol = oneOf(at, 'protocol', ['NONE', 'PROXY'] as const, 'NONE', atIssues);
    const p = absent(field(at, 'port')) ? 0 : port(field(at, 'port'), atIssues, 'port');
    applicationTunnel = p === 0 ? { protocol } : { protocol, port: p };
  }
  const locValue = field(o, 'locality');
  const loc = absent(locValue) ? undefined : asMap(locValue, issues, 'locality', 'locality');
  if (loc !== undefined) onlyKnown(loc, LOCALITY_FIELDS, issues.at('locality'));
  const waypoint = gatewayIn(field(o, 'waypoint'), issues.at('waypoint'));
  const networkGateway = gatewayIn(field(o, 'networkGateway'), issues.at('networkGateway'));
  const capacity = absent(field(o, 'capacity'))
    ? 1
    : uint32(field(o, 'capacity'), issues, 'capacity', 'capacity');
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
    authorizationPolicies: strings(o, 'authorizationPolicies', issues),
    status: oneOf(o, 'status', ['Healthy', 'Unhealthy'] as const, 'Healthy', issues),
    capacity: capacity ?? 1,
    ...(loc === undefined
      ? {}
      : {
          locality: {
            region: str(loc, 'region', issues.at('locality')),
            zone: str(loc, 'zone', issues.at('locality')),
            subzone: str(loc, 'subzone', issues.at('locality')),
          },
        }),
    ...(waypoint === undefined ? {} : { waypoint }),
    ...(networkGateway === undefined ? {} : { networkGateway }),
    ...(applicationTunnel === undefined ? {} : { applicationTunnel }),
  };
  return issues.issues.length > before ? undefined : createWorkload(w);
}

const SCOPES: readonly LoadBalancerScope[] = ['Region', 'Zone', 'Subzone', 'Node', 'Cluster', 'Network'];

function loadBalancerIn(v: unknown, issues: IssueList): LoadBalancer | undefined {
  if (absent(v)) return undefined;
  const lb = asMap(v, issues, 'loadBalancer', 'loadBalancer');
  if (lb === undefined) return undefined;
  const lbIssues = issues.at('loadBalancer');
  onlyKnown(lb, LOAD_BALANCER_FIELDS, lbIssues);
  const prefs: LoadBalancerScope[] = [];
  list(lb, 'routingPreferences', lbIssues).forEach((p, i) => {
    if (typeof p === 'string' && (SCOPES as readonly string[]).includes(p))
      prefs.push(p as LoadBalancerScope);
    else
      lbIssues.add(
        `routingPreferences[${i}]`,
        'WORKLOAD_API_ERR_UNKNOWN_ENUM',
        `unknown scope ${JSON.stringify(p)}`,
      );
  });
  return {
    routingPreferences: prefs,
    mode: oneOf(lb, 'mode', ['Standard', 'Strict', 'Failover', 'Passthrough'] as const, 'Standard', lbIssues),
    healthPolicy: oneOf(lb, 'healthPolicy', ['OnlyHealthy', 'AllowAll'] as const, 'OnlyHealthy', lbIssues),
  };
}

function endpointsIn(v: unknown, issues: IssueList): EndpointJsonInput[] {
  const endpoints: EndpointJsonInput[] = [];
  if (absent(v)) return endpoints;
  const eps = asMap(v, issues, 'endpoints', 'endpoints');
  if (eps === undefined) return endpoints;
  for (const [uid, value] of Object.entries(eps)) {
    const path = `endpoints[${JSON.stringify(uid)}]`;
    const ep = asMap(value, issues, path, 'an endpoint');
    if (ep === undefined) continue;
    const epIssues = issues.at(path);
    onlyKnown(ep, ENDPOINT_FIELDS, epIssues);
    const workloadUid = absent(field(ep, 'workloadUid')) ? uid : str(ep, 'workloadUid', epIssues);
    endpoints.push({
      workloadUid,
      ports: portMapIn(field(ep, 'port'), issues, `${path}.port`),
      status: oneOf(ep, 'status', ['Healthy', 'Unhealthy'] as const, 'Healthy', epIssues),
    });
  }
  return endpoints;
}

function serviceIn(
  o: Obj,
  issues: IssueList,
): { service: Service; endpoints: readonly EndpointJsonInput[] } | undefined {
  const before = issues.issues.length;
  onlyKnown(o, SERVICE_FIELDS, issues);
  const namespace = str(o, 'namespace', issues);
  const hostname = str(o, 'hostname', issues, true);
  const vips: NetworkAddress[] = [];
  list(o, 'vips', issues).forEach((v, i) => {
    const a = networkAddressIn(v, issues, `vips[${i}]`);
    if (a !== undefined) vips.push(a);
  });
  const cidrVips: NetworkCidr[] = [];
  list(o, 'cidrVips', issues).forEach((v, i) => {
    const entry = asMap(v, issues, `cidrVips[${i}]`, 'a CIDR VIP');
    if (entry === undefined) return;
    const at = issues.at(`cidrVips[${i}]`);
    onlyKnown(entry, CIDR_VIP_FIELDS, at);
    const text = field(entry, 'cidr');
    const c = typeof text === 'string' ? parseCidr(text) : undefined;
    if (c === undefined) {
      at.add('cidr', 'WORKLOAD_API_ERR_BAD_PREFIX', 'expected "ip/length"');
      return;
    }
    const network = str(entry, 'network', at);
    if (c.length === (isIpv6(c.address) ? 128 : 32)) vips.push({ network, address: c.address });
    else cidrVips.push({ network, address: c.address, length: c.length });
  });
  const loadBalancer = loadBalancerIn(field(o, 'loadBalancer'), issues);
  const waypoint = gatewayIn(field(o, 'waypoint'), issues.at('waypoint'));
  const weightedWaypoints: { destination: GatewayAddress; weight: number }[] = [];
  list(o, 'weightedWaypoints', issues).forEach((v, i) => {
    const path = `weightedWaypoints[${i}]`;
    const entry = asMap(v, issues, path, 'a weighted waypoint');
    if (entry === undefined) return;
    onlyKnown(entry, WEIGHTED_WAYPOINT_FIELDS, issues.at(path));
    const destination = gatewayIn(field(entry, 'destination'), issues.at(`${path}.destination`), true);
    const weight = uint32(field(entry, 'weight'), issues, `${path}.weight`, 'weight');
    if (destination !== undefined && weight !== undefined) weightedWaypoints.push({ destination, weight });
  });
  const endpoints = endpointsIn(field(o, 'endpoints'), issues);
  const ipFamilies = absent(field(o, 'ipFamilies'))
    ? undefined
    : oneOf(o, 'ipFamilies', ['IPv4', 'IPv6', 'Dual'] as const, 'Dual', issues);
  const init = {
    name: str(o, 'name', issues),
    namespace,
    hostname,
    vips,
    cidrVips,
    ports: portMapIn(field(o, 'ports'), issues, 'ports'),
    subjectAltNames: strings(o, 'subjectAltNames', issues),
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
  // serde's externally tagged enum (istio/ztunnel@62d82653:src/rbac.rs:257-263): exactly one key.
  if (!isObj(v)) {
    issues.add(path, 'WORKLOAD_API_ERR_BAD_FILE', 'expected {Exact|Prefix|Suffix: "..."} or {Presence: []}');
    return undefined;
  }
  onlyKnown(v, STRING_MATCH_FORMS, issues.at(path));
  const forms = Object.keys(v).filter((k) => STRING_MATCH_FORMS.has(k));
  const form = forms[0];
  if (forms.length !== 1 || form === undefined) {
    if (forms.length !== 0 || Object.keys(v).length === 0)
      issues.add(
        path,
        'WORKLOAD_API_ERR_BAD_FILE',
        'expected exactly one of Exact, Prefix, Suffix, Presence',
      );
    return undefined;
  }
  const value = field(v, form);
  if (form === 'Presence') {
    if (Array.isArray(value) && value.length === 0) return { presence: true };
    issues.add(
      `${path}.Presence`,
      'WORKLOAD_API_ERR_BAD_FILE',
      'Presence takes no value: write {Presence: []}',
    );
    return undefined;
  }
  if (typeof value !== 'string') {
    issues.add(`${path}.${form}`, 'WORKLOAD_API_ERR_BAD_FILE', `${form} must be a string`);
    return undefined;
  }
  return form === 'Exact' ? { exact: value } : form === 'Prefix' ? { prefix: value } : { suffix: value };
}

function matchIn(v: unknown, issues: IssueList): Partial<AuthorizationMatch> {
  if (!isObj(v)) {
    issues.add('', 'WORKLOAD_API_ERR_BAD_FILE', 'a match must be a map');
    return {};
  }
  onlyKnown(v, MATCH_FIELDS, issues);
  const stringMatches = (key: string): StringMatch[] =>
    list(v, key, issues).flatMap((m, i) => stringMatchIn(m, issues, `${key}[${i}]`) ?? []);
  const cidrs = (key: string): IpPrefix[] =>
    list(v, key, issues).flatMap((m, i) => {
      const c = typeof m === 'string' ? parseCidr(m) : undefined;
      if (c === undefined)
        issues.add(`${key}[${i}]`, 'WORKLOAD_API_ERR_BAD_PREFIX', `${JSON.stringify(m)} is not a CIDR`);
      return c ?? [];
    });
  const ports = (key: string): number[] =>
    list(v, key, issues).map((p, i) => port(p, issues, `${key}[${i}]`));
  const sas = (key: string): { namespace: string; serviceAccount: string }[] =>
    list(v, key, issues).flatMap((s, i) => {
      const sa = asMap(s, issues, `${key}[${i}]`, 'a service account match');
      if (sa === undefined) return [];
      const at = issues.at(`${key}[${i}]`);
      onlyKnown(sa, SERVICE_ACCOUNT_FIELDS, at);
      return [
        { namespace: str(sa, 'namespace', at, true), serviceAccount: str(sa, 'serviceAccount', at, true) },
      ];
    });
  return {
    namespaces: stringMatches('namespaces'),
    notNamespaces: stringMatches('notNamespaces'),
    principals: stringMatches('principals'),
    notPrincipals: stringMatches('notPrincipals'),
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

/** A list that must be a list: anything else is recorded, never read as empty (which would widen a DENY). */
function nested(v: unknown, issues: IssueList, path: string, what: string): readonly unknown[] {
  if (Array.isArray(v)) return v;
  issues.add(path, 'WORKLOAD_API_ERR_BAD_FILE', `${what} must be a list`);
  return EMPTY;
}

function policyIn(o: Obj, issues: IssueList): Authorization | undefined {
  const before = issues.issues.length;
  onlyKnown(o, POLICY_FIELDS, issues);
  const name = str(o, 'name', issues, true);
  // ztunnel's `Authorization` has no serde defaults (src/rbac.rs:34-42): name, namespace, scope, action
  // and rules are required here too (dryRun defaults to false, which enforces).
  const groups = list(o, 'rules', issues, true).map((g, gi) => ({
    rules: nested(g, issues, `rules[${gi}]`, 'a rule (list of clauses)').map((r, ri) => ({
      matches: nested(r, issues, `rules[${gi}][${ri}]`, 'a clause (list of matches)').map((m, mi) =>
        matchIn(m, issues.at(`rules[${gi}][${ri}][${mi}]`)),
      ),
    })),
  }));
  const init = {
    name,
    namespace: str(o, 'namespace', issues, true),
    scope: oneOf(o, 'scope', ['Global', 'Namespace', 'WorkloadSelector'] as const, 'Global', issues, true),
    action: oneOf(o, 'action', ['Allow', 'Deny'] as const, 'Allow', issues, true),
    dryRun: bool(o, 'dryRun', issues),
    groups,
  };
  return issues.issues.length > before ? undefined : createAuthorization(init);
}

/**
 * Reads ztunnel's `LocalConfig` shape — `{ workloads, services, policies }`, the `LOCAL_XDS_PATH` file
 * format (istio/ztunnel@62d82653:src/xds.rs:551-568, examples/localhost.yaml) — into models, collecting
 * every problem. Every object at every depth rejects fields it does not know (`<path>: unknown field`,
 * with a suggestion for a likely typo). Each local workload's `services` map (`namespace/hostname` ->
 * service port -> target port) becomes its endpoints; a service's `endpoints` entries are merged into the
 * workloads they name.
 *
 * @param doc - The parsed YAML or JSON document.
 * @param issues - Where problems go (paths are prefixed `workloads[i]` etc.).
 * @returns The models that were valid.
 * @example
 * ```ts
 * const issues = createIssueList();
 * const models = localConfigFromJson({ workloads: [{ uid: 'u', serviceaccount: 'sleep' }] }, issues);
 * issues.issues[0]; // { path: 'workloads[0].serviceaccount', message: 'unknown field (did you mean serviceAccount?)', ... }
 * ```
 */
export function localConfigFromJson(doc: unknown, issues: IssueList = createIssueList()): LocalConfigModels {
  if (!isObj(doc)) {
    issues.add('', 'WORKLOAD_API_ERR_BAD_FILE', 'expected a map with workloads, services and policies');
    return { workloads: EMPTY, services: EMPTY, policies: EMPTY };
  }
  onlyKnown(doc, CONFIG_FIELDS, issues);
  const workloads: Workload[] = [];
  list(doc, 'workloads', issues).forEach((v, i) => {
    const o = asMap(v, issues, `workloads[${i}]`, 'a workload');
    const w = o === undefined ? undefined : workloadIn(o, issues.at(`workloads[${i}]`));
    if (w !== undefined) workloads.push(w);
  });
  const services: Service[] = [];
  list(doc, 'services', issues).forEach((v, i) => {
    const o = asMap(v, issues, `services[${i}]`, 'a service');
    const s = o === undefined ? undefined : serviceIn(o, issues.at(`services[${i}]`));
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
  const policies: Authorization[] = [];
  list(doc, 'policies', issues).forEach((v, i) => {
    const o = asMap(v, issues, `policies[${i}]`, 'a policy');
    const p = o === undefined ? undefined : policyIn(o, issues.at(`policies[${i}]`));
    if (p !== undefined) policies.push(p);
  });
  return { workloads, services, policies };
}
