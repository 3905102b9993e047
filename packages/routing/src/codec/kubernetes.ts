/**
 * Kubernetes object metadata and core/v1 `Service`, validated as the API server validates them
 * (kubernetes/kubernetes `pkg/apis/core/validation`, apimachinery `validation.IsDNS1123Subdomain` etc.):
 * only what routing needs is used, but every field the API defines is accepted and nothing else is.
 * @module
 */
import { type ObjectSchema, type Rule, type Schema, s } from './schema.js';

/** Object metadata as routing reads it. */
export interface ObjectMeta {
  readonly name: string;
  readonly namespace?: string;
  readonly labels?: Readonly<Record<string, string>>;
  readonly annotations?: Readonly<Record<string, string>>;
  /** RFC 3339 (`2024-01-02T03:04:05Z`); orders Gateway API route precedence. */
  readonly creationTimestamp?: string;
}

const DNS1123_LABEL = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/;
const DNS1123_SUBDOMAIN = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$/;
const DNS1035_LABEL = /^[a-z]([-a-z0-9]*[a-z0-9])?$/;
const QUALIFIED_NAME = /^([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]$/;
const LABEL_VALUE = /^(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?$/;
const IANA_SVC_NAME = /^[a-z0-9]([a-z0-9-]{0,13}[a-z0-9])?$/;

/**
 * `validation.IsDNS1123Label`: lower-case alphanumerics and `-`, at most 63 characters.
 *
 * @param value - The candidate.
 * @returns Whether it is a DNS-1123 label.
 * @example
 * ```ts
 * isDns1123Label('reviews'); // true
 * ```
 */
export function isDns1123Label(value: string): boolean {
  return value.length <= 63 && DNS1123_LABEL.test(value);
}

/**
 * `validation.IsDNS1123Subdomain`: dot-separated DNS-1123 labels, at most 253 characters.
 *
 * @param value - The candidate.
 * @returns Whether it is a DNS-1123 subdomain.
 * @example
 * ```ts
 * isDns1123Subdomain('reviews.default'); // true
 * ```
 */
export function isDns1123Subdomain(value: string): boolean {
  return value.length <= 253 && DNS1123_SUBDOMAIN.test(value);
}

/**
 * `validation.IsQualifiedName` (label and annotation keys): an optional DNS subdomain prefix and `/`, then
 * a name of at most 63 characters.
 *
 * @param key - The candidate key.
 * @returns An error message, or `undefined` when valid.
 * @example
 * ```ts
 * checkQualifiedName('app.kubernetes.io/name'); // undefined
 * ```
 */
export function checkQualifiedName(key: string): string | undefined {
  const slash = key.indexOf('/');
  const name = slash < 0 ? key : key.slice(slash + 1);
  if (slash >= 0) {
    const prefix = key.slice(0, slash);
    if (prefix === '' || !isDns1123Subdomain(prefix))
      return `key prefix ${JSON.stringify(prefix)} must be a DNS-1123 subdomain`;
  }
  if (name === '' || name.length > 63 || !QUALIFIED_NAME.test(name))
    return `key ${JSON.stringify(key)}: name part must be 63 characters or less, alphanumeric, '-', '_' or '.', starting and ending with an alphanumeric`;
  return undefined;
}

/**
 * Label values: at most 63 characters, alphanumeric with `-_.` inside, or empty.
 *
 * @param value - The candidate value.
 * @returns An error message, or `undefined` when valid.
 * @example
 * ```ts
 * checkLabelValue('v1'); // undefined
 * ```
 */
export function checkLabelValue(value: string): string | undefined {
  return value.length <= 63 && LABEL_VALUE.test(value)
    ? undefined
    : `invalid label value ${JSON.stringify(value)}`;
}

/** Schema of a label map (`metadata.labels`, selectors, subset labels). */
export const LABELS: Schema = s.map(s.str({ check: checkLabelValue }), {
  keys: s.str({ check: checkQualifiedName }),
});

const timestamp: Rule<string> = (v) =>
  Number.isNaN(Date.parse(v)) ? `${JSON.stringify(v)} is not an RFC 3339 timestamp` : undefined;

/**
 * The schema of `metadata` for a kind whose names follow `nameCheck`.
 *
 * @param nameCheck - `dns1123-subdomain` for custom resources, `dns1035-label` for Services.
 * @returns The schema.
 * @example
 * ```ts
 * const meta = metadataSchema('dns1123-subdomain');
 * ```
 */
export function metadataSchema(nameCheck: 'dns1123-subdomain' | 'dns1035-label'): ObjectSchema {
  const name =
    nameCheck === 'dns1035-label'
      ? s.str({
          check: (v) =>
            v.length <= 63 && DNS1035_LABEL.test(v)
              ? undefined
              : 'must be a DNS-1035 label (lower-case alphanumerics or "-", starting with a letter, at most 63 characters)',
        })
      : s.str({
          check: (v) =>
            isDns1123Subdomain(v)
              ? undefined
              : 'must be a DNS-1123 subdomain (lower-case alphanumerics, "-" and ".")',
        });
  return s.obj(
    {
      name,
      generateName: s.str(),
      namespace: s.str({ check: (v) => (isDns1123Label(v) ? undefined : 'must be a DNS-1123 label') }),
      selfLink: s.str(),
      uid: s.str(),
      resourceVersion: s.str(),
      generation: s.int({ min: Number.MIN_SAFE_INTEGER, max: Number.MAX_SAFE_INTEGER, allowString: true }),
      creationTimestamp: s.str({ check: timestamp }),
      deletionTimestamp: s.str({ check: timestamp }),
      deletionGracePeriodSeconds: s.int({ min: 0, max: Number.MAX_SAFE_INTEGER }),
      labels: LABELS,
      annotations: s.map(s.str(), { keys: s.str({ check: checkQualifiedName }) }),
      ownerReferences: s.arr(s.any()),
      finalizers: s.arr(s.str()),
      managedFields: s.arr(s.any()),
    },
    { required: ['name'] },
  );
}

/** A port of a core/v1 Service. */
export interface ServicePort {
  readonly name?: string;
  readonly protocol?: 'TCP' | 'UDP' | 'SCTP';
  readonly appProtocol?: string;
  readonly port: number;
  readonly targetPort?: number | string;
  readonly nodePort?: number;
}

/** A core/v1 Service as routing reads it. */
export interface ServiceResource {
  readonly apiVersion: 'v1';
  readonly kind: 'Service';
  readonly metadata: ObjectMeta;
  readonly spec?: {
    readonly ports?: readonly ServicePort[];
    readonly selector?: Readonly<Record<string, string>>;
    readonly clusterIP?: string;
    readonly type?: string;
  };
}

const port = s.int({ min: 1, max: 65535 });

const servicePortSchema = s.obj(
  {
    name: s.str({
      check: (v) => (v === '' || isDns1123Label(v) ? undefined : 'must be a DNS-1123 label'),
    }),
    protocol: s.str({ enum: ['TCP', 'UDP', 'SCTP'] }),
    appProtocol: s.str({ check: checkQualifiedName }),
    port,
    // targetPort is an IntOrString: a port number or an IANA service name.
    targetPort: { t: 'any' },
    nodePort: s.int({ min: 0, max: 65535 }),
  },
  {
    required: ['port'],
    rules: [
      (p) => {
        const t = p['targetPort'];
        if (t === undefined || t === null) return undefined;
        if (typeof t === 'number')
          return Number.isInteger(t) && t >= 1 && t <= 65535
            ? undefined
            : 'targetPort must be between 1 and 65535';
        if (typeof t === 'string')
          return IANA_SVC_NAME.test(t) && /[a-z]/.test(t)
            ? undefined
            : 'targetPort must be a port number or an IANA service name';
        return 'targetPort must be an integer or a string';
      },
    ],
    ruleCode: 'ROUTING_ERR_SCHEMA',
  },
);

/** The schema of a core/v1 Service (every `spec` field of the API, `status` left to the server). */
export const SERVICE_SCHEMA: ObjectSchema = s.obj(
  {
    apiVersion: s.str(),
    kind: s.str(),
    metadata: metadataSchema('dns1035-label'),
    spec: s.obj(
      {
        ports: s.arr(servicePortSchema, {
          rules: [
            (ports) => {
              const list = ports as readonly ServicePort[];
              if (list.length > 1 && list.some((p) => p.name === undefined || p.name === ''))
                return 'each port must have a name when a Service has more than one port';
              const names = new Set<string>();
              const numbers = new Set<string>();
              for (const p of list) {
                if (p.name !== undefined && p.name !== '') {
                  if (names.has(p.name)) return `duplicate port name ${p.name}`;
                  names.add(p.name);
                }
                const key = `${p.port}/${p.protocol ?? 'TCP'}`;
                if (numbers.has(key)) return `duplicate port ${key}`;
                numbers.add(key);
              }
              return undefined;
            },
          ],
        }),
        selector: LABELS,
        clusterIP: s.str(),
        clusterIPs: s.arr(s.str(), { maxItems: 2 }),
        type: s.str({ enum: ['ClusterIP', 'NodePort', 'LoadBalancer', 'ExternalName'] }),
        externalIPs: s.arr(s.str()),
        sessionAffinity: s.str({ enum: ['None', 'ClientIP'] }),
        loadBalancerIP: s.str(),
        loadBalancerSourceRanges: s.arr(s.str()),
        externalName: s.str(),
        externalTrafficPolicy: s.str({ enum: ['Cluster', 'Local'] }),
        healthCheckNodePort: s.int({ min: 0, max: 65535 }),
        publishNotReadyAddresses: s.bool(),
        sessionAffinityConfig: s.obj({
          clientIP: s.obj({ timeoutSeconds: s.int({ min: 1, max: 86400 }) }),
        }),
        ipFamilies: s.arr(s.str({ enum: ['IPv4', 'IPv6'] }), { maxItems: 2 }),
        ipFamilyPolicy: s.str({ enum: ['SingleStack', 'PreferDualStack', 'RequireDualStack'] }),
        allocateLoadBalancerNodePorts: s.bool(),
        loadBalancerClass: s.str(),
        internalTrafficPolicy: s.str({ enum: ['Cluster', 'Local'] }),
        trafficDistribution: s.str(),
      },
      { ruleCode: 'ROUTING_ERR_INVALID' },
    ),
    status: s.any(),
  },
  { required: ['metadata'] },
);
