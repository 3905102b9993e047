/**
 * The Kubernetes objects the mesh file translates into the workload model, and their schemas: `Namespace`,
 * `Pod`, `Service` (core/v1), `WorkloadEntry` (networking.istio.io), `Gateway` and `GatewayClass`
 * (gateway.networking.k8s.io). Every field of what is read is typed and checked; an unknown field is an
 * issue at any depth of `metadata` and `spec`; `status` is the API server's, so only the fields istiod reads
 * from it are checked and the rest is accepted unchecked (docs/control-plane.md "Kubernetes objects"). Pure.
 * @module
 */
import { ipToBytes } from '@ambient-kit/workload-api/codec';
import { k, type Schema } from './object-schema.js';

/** Labels or annotations. */
export type StringMap = Readonly<Record<string, string>>;

/** The ObjectMeta fields the translation reads. */
export interface Meta {
  readonly name: string;
  /** Defaulted to `default` (kubectl's namespace) when the file names none. */
  readonly namespace: string;
  readonly generateName?: string;
  readonly labels: StringMap;
  readonly annotations: StringMap;
  readonly deletionTimestamp?: string;
  readonly ownerReferences: readonly {
    readonly kind: string;
    readonly name: string;
    readonly apiVersion?: string;
    readonly controller?: boolean;
  }[];
}

/** A container port. */
export interface ContainerPort {
  readonly name?: string;
  readonly containerPort: number;
  /** Defaulted to `TCP` as the API server does. */
  readonly protocol: string;
}

/** A core/v1 Pod, as read. */
export interface PodObject {
  readonly kind: 'Pod';
  readonly metadata: Meta;
  readonly spec: {
    readonly nodeName: string;
    /** Defaulted to `default` as the ServiceAccount admission plugin does. */
    readonly serviceAccountName: string;
    readonly hostNetwork: boolean;
    readonly containers: readonly { readonly ports: readonly ContainerPort[] }[];
    readonly initContainers: readonly {
      readonly ports: readonly ContainerPort[];
      readonly restartPolicy?: string;
    }[];
  };
  readonly status: {
    readonly phase?: string;
    readonly podIPs: readonly string[];
    readonly ready?: boolean;
  };
}

/** A core/v1 Service port, with the API server's defaults applied. */
export interface ServicePortObject {
  readonly name: string;
  readonly port: number;
  readonly protocol: string;
  readonly appProtocol?: string;
  /** A number, or a container port name. Defaulted to `port`. */
  readonly targetPort: number | string;
}

/** A core/v1 Service, as read. */
export interface ServiceObject {
  readonly kind: 'Service';
  readonly metadata: Meta;
  readonly spec: {
    readonly type: string;
    readonly selector: StringMap;
    readonly ports: readonly ServicePortObject[];
    readonly clusterIP?: string;
    readonly clusterIPs: readonly string[];
    readonly ipFamilies: readonly string[];
    readonly internalTrafficPolicy?: string;
    readonly trafficDistribution?: string;
    readonly publishNotReadyAddresses: boolean;
  };
}

/** A networking.istio.io WorkloadEntry, as read (labels already merged as istiod merges them). */
export interface WorkloadEntryObject {
  readonly kind: 'WorkloadEntry';
  readonly metadata: Meta;
  readonly spec: {
    readonly address: string;
    readonly ports: Readonly<Record<string, number>>;
    readonly network: string;
    readonly locality: string;
    readonly weight: number;
    readonly serviceAccount: string;
  };
}

/** A Gateway API listener's route attachment. */
export interface ListenerObject {
  readonly port: number;
  readonly protocol: string;
  readonly from?: string;
  readonly selector?: LabelSelector;
}

/** A label selector (`matchLabels` and `matchExpressions`). */
export interface LabelSelector {
  readonly matchLabels: StringMap;
  readonly matchExpressions: readonly {
    readonly key: string;
    readonly operator: string;
    readonly values: readonly string[];
  }[];
}

/** A gateway.networking.k8s.io Gateway, as read. */
export interface GatewayObject {
  readonly kind: 'Gateway';
  readonly metadata: Meta;
  readonly gatewayClassName: string;
  readonly listeners: readonly ListenerObject[];
  /** `status.addresses`, `type` defaulted to `IPAddress` as the CRD does. */
  readonly addresses: readonly { readonly type: string; readonly value: string }[];
}

/** A gateway.networking.k8s.io GatewayClass (cluster-scoped), as read. */
export interface GatewayClassObject {
  readonly kind: 'GatewayClass';
  readonly metadata: Meta;
}

/** A core/v1 Namespace, as read. */
export interface NamespaceObject {
  readonly kind: 'Namespace';
  readonly metadata: Meta;
}

/** An object the translation reads. */
export type KubernetesObject =
  | NamespaceObject
  | PodObject
  | ServiceObject
  | WorkloadEntryObject
  | GatewayObject
  | GatewayClassObject;

// --- validation rules (k8s.io/apimachinery/pkg/util/validation, the rules the API server applies) ---

const DNS1123_LABEL = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/;
const DNS1035_LABEL = /^[a-z]([-a-z0-9]*[a-z0-9])?$/;
const QUALIFIED_NAME = /^([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]$/;
const LABEL_VALUE = /^(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?$/;
const IANA_SVC_NAME = /^[a-z0-9]([a-z0-9-]*[a-z0-9])?$/;

const dns1123Label = (v: string): string | undefined =>
  v.length <= 63 && DNS1123_LABEL.test(v) ? undefined : 'must be a DNS-1123 label';
const dns1123Subdomain = (v: string): string | undefined =>
  v.length <= 253 && v.split('.').every((p) => DNS1123_LABEL.test(p))
    ? undefined
    : 'must be a DNS-1123 subdomain';
const dns1035Label = (v: string): string | undefined =>
  v.length <= 63 && DNS1035_LABEL.test(v) ? undefined : 'must be a DNS-1035 label';
const qualifiedName = (v: string): string | undefined => {
  const slash = v.indexOf('/');
  const name = slash < 0 ? v : v.slice(slash + 1);
  if (slash >= 0 && dns1123Subdomain(v.slice(0, slash)) !== undefined)
    return `${JSON.stringify(v)}: the prefix must be a DNS-1123 subdomain`;
  return name.length <= 63 && QUALIFIED_NAME.test(name)
    ? undefined
    : `${JSON.stringify(v)} is not a qualified name`;
};
const labelValue = (v: string): string | undefined =>
  v.length <= 63 && LABEL_VALUE.test(v) ? undefined : `${JSON.stringify(v)} is not a valid label value`;
const ip = (v: string): string | undefined =>
  ipToBytes(v) === undefined ? `${JSON.stringify(v)} is not an IP address` : undefined;
const clusterIp = (v: string): string | undefined => (v === '' || v === 'None' ? undefined : ip(v));
const timestamp = (v: string): string | undefined =>
  Number.isNaN(Date.parse(v)) ? `${JSON.stringify(v)} is not an RFC 3339 timestamp` : undefined;

const PORT = k.int(1, 65535);
const LABELS = k.map(k.str({ check: labelValue }), qualifiedName);
const ANNOTATIONS = k.map(k.str(), qualifiedName);

/** ObjectMeta: every field of the API (metav1.ObjectMeta), names checked by the kind's rule. */
function metadata(name: (v: string) => string | undefined, namespaced = true): Schema {
  return k.obj(
    {
      name: k.str({ check: name }),
      generateName: k.str(),
      ...(namespaced ? { namespace: k.str({ check: dns1123Label }) } : {}),
      selfLink: k.str(),
      uid: k.str(),
      resourceVersion: k.str(),
      generation: k.int(0),
      creationTimestamp: k.str({ check: timestamp }),
      deletionTimestamp: k.str({ check: timestamp }),
      deletionGracePeriodSeconds: k.int(0),
      labels: LABELS,
      annotations: ANNOTATIONS,
      ownerReferences: k.arr(
        k.obj(
          {
            apiVersion: k.str(),
            kind: k.str(),
            name: k.str(),
            uid: k.str(),
            controller: k.bool(),
            blockOwnerDeletion: k.bool(),
          },
          ['kind', 'name'],
        ),
      ),
      finalizers: k.arr(k.str()),
      managedFields: k.arr(k.any()),
    },
    ['name'],
  );
}

const CONTAINER_PORT = k.obj(
  {
    name: k.str({
      check: (v) => (v.length <= 15 && IANA_SVC_NAME.test(v) ? undefined : 'must be an IANA service name'),
    }),
    containerPort: PORT,
    protocol: k.str({ oneOf: ['TCP', 'UDP', 'SCTP'] }),
    hostPort: k.int(0, 65535),
    hostIP: k.str({ check: ip }),
  },
  ['containerPort'],
);

// core/v1 Container: every field of the API; the ones the translation reads are checked.
const CONTAINER = k.obj(
  {
    name: k.str({ check: dns1123Label }),
    image: k.str(),
    command: k.arr(k.str()),
    args: k.arr(k.str()),
    workingDir: k.str(),
    ports: k.arr(CONTAINER_PORT),
    env: k.arr(k.any()),
    envFrom: k.arr(k.any()),
    resources: k.any(),
    resizePolicy: k.arr(k.any()),
    restartPolicy: k.str({ oneOf: ['Always'] }),
    restartPolicyRules: k.arr(k.any()),
    volumeMounts: k.arr(k.any()),
    volumeDevices: k.arr(k.any()),
    livenessProbe: k.any(),
    readinessProbe: k.any(),
    startupProbe: k.any(),
    lifecycle: k.any(),
    terminationMessagePath: k.str(),
    terminationMessagePolicy: k.str(),
    imagePullPolicy: k.str({ oneOf: ['Always', 'Never', 'IfNotPresent'] }),
    securityContext: k.any(),
    stdin: k.bool(),
    stdinOnce: k.bool(),
    tty: k.bool(),
  },
  ['name'],
);

const POD_SPEC = k.obj({
  containers: k.arr(CONTAINER),
  initContainers: k.arr(CONTAINER),
  ephemeralContainers: k.arr(k.any()),
  nodeName: k.str(),
  serviceAccountName: k.str(),
  serviceAccount: k.str(),
  hostNetwork: k.bool(),
  hostPID: k.bool(),
  hostIPC: k.bool(),
  hostUsers: k.bool(),
  hostname: k.str(),
  hostnameOverride: k.str(),
  subdomain: k.str(),
  setHostnameAsFQDN: k.bool(),
  shareProcessNamespace: k.bool(),
  automountServiceAccountToken: k.bool(),
  enableServiceLinks: k.bool(),
  volumes: k.arr(k.any()),
  restartPolicy: k.str({ oneOf: ['Always', 'OnFailure', 'Never'] }),
  terminationGracePeriodSeconds: k.int(0),
  activeDeadlineSeconds: k.int(1),
  dnsPolicy: k.str(),
  dnsConfig: k.any(),
  nodeSelector: k.map(k.str()),
  affinity: k.any(),
  tolerations: k.arr(k.any()),
  topologySpreadConstraints: k.arr(k.any()),
  schedulerName: k.str(),
  schedulingGates: k.arr(k.any()),
  priorityClassName: k.str(),
  priority: k.int(-2147483648, 2147483647),
  preemptionPolicy: k.str(),
  runtimeClassName: k.str(),
  overhead: k.any(),
  readinessGates: k.arr(k.any()),
  resourceClaims: k.arr(k.any()),
  resources: k.any(),
  securityContext: k.any(),
  imagePullSecrets: k.arr(k.any()),
  hostAliases: k.arr(k.any()),
  os: k.any(),
});

// status is the API server's: only what istiod reads is checked (phase, podIP(s), the Ready condition).
const POD_STATUS = k.obj(
  {
    phase: k.str({ oneOf: ['Pending', 'Running', 'Succeeded', 'Failed', 'Unknown'] }),
    podIP: k.str({ check: ip }),
    podIPs: k.arr(k.obj({ ip: k.str({ check: ip }) }, ['ip'])),
    conditions: k.arr(
      k.obj(
        { type: k.str(), status: k.str({ oneOf: ['True', 'False', 'Unknown'] }) },
        ['type', 'status'],
        true,
      ),
    ),
  },
  [],
  true,
);

const TYPE_FIELDS = { apiVersion: k.str(), kind: k.str() };

const SCHEMAS: Readonly<Record<KubernetesObject['kind'], Schema>> = {
  Namespace: k.obj(
    {
      ...TYPE_FIELDS,
      metadata: metadata(dns1123Label, false),
      spec: k.obj({ finalizers: k.arr(k.str()) }),
      status: k.any(),
    },
    ['metadata'],
  ),
  Pod: k.obj({ ...TYPE_FIELDS, metadata: metadata(dns1123Subdomain), spec: POD_SPEC, status: POD_STATUS }, [
    'metadata',
  ]),
  Service: k.obj(
    {
      ...TYPE_FIELDS,
      metadata: metadata(dns1035Label),
      spec: k.obj({
        ports: k.arr(
          k.obj(
            {
              name: k.str({ check: (v) => (v === '' ? undefined : dns1123Label(v)) }),
              protocol: k.str({ oneOf: ['TCP', 'UDP', 'SCTP'] }),
              appProtocol: k.str({ check: qualifiedName }),
              port: PORT,
              targetPort: k.intOrStr(),
              nodePort: k.int(0, 65535),
            },
            ['port'],
          ),
        ),
        selector: LABELS,
        clusterIP: k.str({ check: clusterIp }),
        clusterIPs: k.arr(k.str({ check: clusterIp }), 2),
        type: k.str({ oneOf: ['ClusterIP', 'NodePort', 'LoadBalancer', 'ExternalName'] }),
        externalIPs: k.arr(k.str()),
        sessionAffinity: k.str({ oneOf: ['None', 'ClientIP'] }),
        loadBalancerIP: k.str(),
        loadBalancerSourceRanges: k.arr(k.str()),
        externalName: k.str(),
        externalTrafficPolicy: k.str({ oneOf: ['Cluster', 'Local'] }),
        healthCheckNodePort: k.int(0, 65535),
        publishNotReadyAddresses: k.bool(),
        sessionAffinityConfig: k.obj({ clientIP: k.obj({ timeoutSeconds: k.int(1, 86400) }) }),
        ipFamilies: k.arr(k.str({ oneOf: ['IPv4', 'IPv6'] }), 2),
        ipFamilyPolicy: k.str({ oneOf: ['SingleStack', 'PreferDualStack', 'RequireDualStack'] }),
        allocateLoadBalancerNodePorts: k.bool(),
        loadBalancerClass: k.str(),
        internalTrafficPolicy: k.str({ oneOf: ['Cluster', 'Local'] }),
        trafficDistribution: k.str(),
      }),
      status: k.any(),
    },
    ['metadata'],
  ),
  WorkloadEntry: k.obj(
    {
      ...TYPE_FIELDS,
      metadata: metadata(dns1123Subdomain),
      // istio/api networking/v1alpha3/workload_entry.proto WorkloadEntry (v1 serves the same message).
      spec: k.obj(
        {
          address: k.str({ check: (v) => (v.length <= 256 ? undefined : 'at most 256 characters') }),
          ports: k.map(PORT, (name) =>
            dns1123Label(name) === undefined
              ? undefined
              : `port name ${JSON.stringify(name)} must be a DNS-1123 label`,
          ),
          labels: LABELS,
          network: k.str(),
          locality: k.str(),
          weight: k.int(0, 4294967295),
          serviceAccount: k.str(),
        },
        [],
      ),
      status: k.any(),
    },
    ['metadata', 'spec'],
  ),
  Gateway: k.obj(
    {
      ...TYPE_FIELDS,
      metadata: metadata(dns1123Subdomain),
      spec: k.obj(
        {
          gatewayClassName: k.str({ check: dns1123Subdomain }),
          listeners: k.arr(
            k.obj(
              {
                name: k.str({ check: dns1123Subdomain }),
                hostname: k.str(),
                port: PORT,
                protocol: k.str(),
                tls: k.any(),
                allowedRoutes: k.obj({
                  namespaces: k.obj({
                    from: k.str({ oneOf: ['All', 'Same', 'Selector', 'None'] }),
                    selector: k.obj({
                      matchLabels: LABELS,
                      matchExpressions: k.arr(
                        k.obj(
                          {
                            key: k.str({ check: qualifiedName }),
                            operator: k.str({ oneOf: ['In', 'NotIn', 'Exists', 'DoesNotExist'] }),
                            values: k.arr(k.str()),
                          },
                          ['key', 'operator'],
                        ),
                      ),
                    }),
                  }),
                  kinds: k.arr(k.obj({ group: k.str(), kind: k.str() }, ['kind'])),
                }),
              },
              ['name', 'port', 'protocol'],
            ),
            64,
          ),
          addresses: k.arr(k.obj({ type: k.str(), value: k.str() }, ['value'])),
          infrastructure: k.any(),
          backendTLS: k.any(),
          allowedListeners: k.any(),
          tls: k.any(),
          defaultScope: k.str(),
        },
        ['gatewayClassName'],
      ),
      // status is the controller's: only `addresses` (what istiod reads) is checked.
      status: k.obj({ addresses: k.arr(k.obj({ type: k.str(), value: k.str() }, ['value'])) }, [], true),
    },
    ['metadata', 'spec'],
  ),
  GatewayClass: k.obj(
    { ...TYPE_FIELDS, metadata: metadata(dns1123Subdomain, false), spec: k.any(), status: k.any() },
    ['metadata'],
  ),
};

/**
 * The schema of a kind that is validated but not translated and has no parser elsewhere (ServiceEntry):
 * `metadata` is checked as every object's, `spec` is accepted as a map.
 *
 * @returns The schema.
 * @example
 * ```ts
 * checkValue(untranslatedSchema(), serviceEntry, 'document[0]', issues);
 * ```
 */
export function untranslatedSchema(): Schema {
  return k.obj(
    { ...TYPE_FIELDS, metadata: metadata(dns1123Subdomain), spec: k.obj({}, [], true), status: k.any() },
    ['metadata'],
  );
}

/** The apiVersions accepted for each translated kind (the versions the API server serves). */
export const KUBERNETES_API_VERSIONS: Readonly<Record<KubernetesObject['kind'], readonly string[]>> = {
  Namespace: ['v1'],
  Pod: ['v1'],
  Service: ['v1'],
  WorkloadEntry: ['networking.istio.io/v1', 'networking.istio.io/v1beta1', 'networking.istio.io/v1alpha3'],
  Gateway: ['gateway.networking.k8s.io/v1', 'gateway.networking.k8s.io/v1beta1'],
  GatewayClass: ['gateway.networking.k8s.io/v1', 'gateway.networking.k8s.io/v1beta1'],
};

/**
 * The schema of a translated kind.
 *
 * @param kind - A key of {@link KUBERNETES_API_VERSIONS}.
 * @returns Its schema.
 * @example
 * ```ts
 * checkValue(kubernetesSchema('Pod'), pod, 'document[0]', issues);
 * ```
 */
export function kubernetesSchema(kind: KubernetesObject['kind']): Schema {
  return SCHEMAS[kind];
}

type Obj = { readonly [key: string]: unknown };
const isObj = (v: unknown): v is Obj => typeof v === 'object' && v !== null && !Array.isArray(v);
const obj = (v: unknown): Obj => (isObj(v) ? v : {});
const arr = (v: unknown): readonly unknown[] => (Array.isArray(v) ? v : []);
const str = (v: unknown): string | undefined => (typeof v === 'string' ? v : undefined);
const strMap = (v: unknown): StringMap => {
  const out: Record<string, string> = {};
  for (const [key, value] of Object.entries(obj(v))) if (typeof value === 'string') out[key] = value;
  return out;
};
const optional = <K extends string, V>(key: K, v: V | undefined): { [P in K]?: V } =>
  (v === undefined ? {} : { [key]: v }) as { [P in K]?: V };

function readMeta(v: unknown): Meta {
  const m = obj(v);
  return {
    name: str(m['name']) ?? '',
    namespace: str(m['namespace']) ?? 'default',
    ...optional('generateName', str(m['generateName'])),
    ...optional('deletionTimestamp', str(m['deletionTimestamp'])),
    labels: strMap(m['labels']),
    annotations: strMap(m['annotations']),
    ownerReferences: arr(m['ownerReferences']).map((r) => {
      const o = obj(r);
      return {
        kind: str(o['kind']) ?? '',
        name: str(o['name']) ?? '',
        ...optional('apiVersion', str(o['apiVersion'])),
        ...optional('controller', typeof o['controller'] === 'boolean' ? o['controller'] : undefined),
      };
    }),
  };
}

const readPorts = (v: unknown): ContainerPort[] =>
  arr(v).map((p) => {
    const o = obj(p);
    return {
      ...optional('name', str(o['name'])),
      containerPort: o['containerPort'] as number,
      protocol: str(o['protocol']) ?? 'TCP',
    };
  });

/**
 * Reads a validated object (see {@link kubernetesSchema}) into its typed form, applying the API server's
 * defaults the translation depends on.
 *
 * @param kind - The object's kind.
 * @param v - The object, already checked.
 * @returns The typed object.
 * @example
 * ```ts
 * const pod = readKubernetesObject('Pod', value) as PodObject;
 * ```
 */
export function readKubernetesObject(kind: KubernetesObject['kind'], v: Obj): KubernetesObject {
  const metadata = readMeta(v['metadata']);
  const spec = obj(v['spec']);
  const status = obj(v['status']);
  switch (kind) {
    case 'Namespace':
      return { kind, metadata: { ...metadata, namespace: '' } };
    case 'GatewayClass':
      return { kind, metadata: { ...metadata, namespace: '' } };
    case 'Pod': {
      const podIPs = arr(status['podIPs']).map((p) => str(obj(p)['ip']) ?? '');
      const podIP = str(status['podIP']);
      const ready = arr(status['conditions'])
        .map(obj)
        .find((c) => c['type'] === 'Ready');
      return {
        kind,
        metadata,
        spec: {
          nodeName: str(spec['nodeName']) ?? '',
          serviceAccountName: str(spec['serviceAccountName']) ?? str(spec['serviceAccount']) ?? 'default',
          hostNetwork: spec['hostNetwork'] === true,
          containers: arr(spec['containers']).map((c) => ({ ports: readPorts(obj(c)['ports']) })),
          initContainers: arr(spec['initContainers']).map((c) => ({
            ports: readPorts(obj(c)['ports']),
            ...optional('restartPolicy', str(obj(c)['restartPolicy'])),
          })),
        },
        status: {
          ...optional('phase', str(status['phase'])),
          // istio/istio@86c9f01f:pilot/pkg/serviceregistry/ambient/workloads.go getPodIPs: podIPs, else podIP.
          podIPs: podIPs.length > 0 ? podIPs : podIP === undefined || podIP === '' ? [] : [podIP],
          ...optional('ready', ready === undefined ? undefined : ready['status'] === 'True'),
        },
      };
    }
    case 'Service':
      return {
        kind,
        metadata,
        spec: {
          type: str(spec['type']) ?? 'ClusterIP',
          selector: strMap(spec['selector']),
          ports: arr(spec['ports']).map((p) => {
            const o = obj(p);
            const port = o['port'] as number;
            const target = o['targetPort'];
            return {
              name: str(o['name']) ?? '',
              port,
              protocol: str(o['protocol']) ?? 'TCP',
              ...optional('appProtocol', str(o['appProtocol'])),
              // The API server defaults targetPort to port.
              targetPort: typeof target === 'number' || typeof target === 'string' ? target : port,
            };
          }),
          ...optional('clusterIP', str(spec['clusterIP'])),
          clusterIPs: arr(spec['clusterIPs']).map((x) => str(x) ?? ''),
          ipFamilies: arr(spec['ipFamilies']).map((x) => str(x) ?? ''),
          ...optional('internalTrafficPolicy', str(spec['internalTrafficPolicy'])),
          ...optional('trafficDistribution', str(spec['trafficDistribution'])),
          publishNotReadyAddresses: spec['publishNotReadyAddresses'] === true,
        },
      };
    case 'WorkloadEntry': {
      // istio/istio@86c9f01f:pilot/pkg/serviceregistry/serviceentry/conversion.go ConvertClientWorkloadEntry:
      // spec.labels and metadata.labels merged, metadata winning.
      const labels = { ...strMap(spec['labels']), ...metadata.labels };
      const ports: Record<string, number> = {};
      for (const [name, p] of Object.entries(obj(spec['ports']))) if (typeof p === 'number') ports[name] = p;
      return {
        kind,
        metadata: { ...metadata, labels },
        spec: {
          address: str(spec['address']) ?? '',
          ports,
          network: str(spec['network']) ?? '',
          locality: str(spec['locality']) ?? '',
          weight: typeof spec['weight'] === 'number' ? spec['weight'] : 0,
          serviceAccount: str(spec['serviceAccount']) ?? '',
        },
      };
    }
    case 'Gateway':
      return {
        kind,
        metadata,
        gatewayClassName: str(spec['gatewayClassName']) ?? '',
        listeners: arr(spec['listeners']).map((l) => {
          const o = obj(l);
          const ns = obj(obj(o['allowedRoutes'])['namespaces']);
          const sel = ns['selector'];
          return {
            port: o['port'] as number,
            protocol: str(o['protocol']) ?? '',
            ...optional('from', str(ns['from'])),
            ...optional(
              'selector',
              isObj(sel)
                ? {
                    matchLabels: strMap(sel['matchLabels']),
                    matchExpressions: arr(sel['matchExpressions']).map((e) => {
                      const x = obj(e);
                      return {
                        key: str(x['key']) ?? '',
                        operator: str(x['operator']) ?? '',
                        values: arr(x['values']).map((y) => str(y) ?? ''),
                      };
                    }),
                  }
                : undefined,
            ),
          };
        }),
        // The CRD defaults an address's type to IPAddress.
        addresses: arr(status['addresses']).map((a) => ({
          type: str(obj(a)['type']) ?? 'IPAddress',
          value: str(obj(a)['value']) ?? '',
        })),
      };
  }
}

/**
 * Whether a label selector matches labels (metav1.LabelSelectorAsSelector semantics; an empty selector
 * matches everything).
 *
 * @param selector - The selector.
 * @param labels - The labels.
 * @returns Whether they match.
 * @example
 * ```ts
 * selectorMatches({ matchLabels: { app: 'a' }, matchExpressions: [] }, { app: 'a', v: '1' }); // true
 * ```
 */
export function selectorMatches(selector: LabelSelector, labels: StringMap): boolean {
  for (const [key, value] of Object.entries(selector.matchLabels)) if (labels[key] !== value) return false;
  for (const e of selector.matchExpressions) {
    const has = Object.hasOwn(labels, e.key);
    const value = labels[e.key];
    if (e.operator === 'In' && !(has && e.values.includes(value ?? ''))) return false;
    if (e.operator === 'NotIn' && has && e.values.includes(value ?? '')) return false;
    if (e.operator === 'Exists' && !has) return false;
    if (e.operator === 'DoesNotExist' && has) return false;
  }
  return true;
}
