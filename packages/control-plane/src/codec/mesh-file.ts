/**
 * The mesh file: what istiod would know about a cluster, in one YAML (or JSON) file. Each document is
 * ztunnel's local config (`workloads`, `services`, `policies`; istio/ztunnel@62d82653:src/xds.rs
 * `LocalConfig`), a Kubernetes object, or a `List` of them. Namespaces, Pods, Services, WorkloadEntries and
 * waypoint Gateways are translated into Workloads and Services as istiod's ambient index does
 * (`./ambient-index.ts`); AuthorizationPolicies and PeerAuthentications are translated with
 * `@ambient-kit/authz` to the `istio.security.Authorization` istiod sends ztunnel
 * (istio/istio@86c9f01f:pilot/pkg/serviceregistry/ambient/authorization.go, policies.go); the networking and
 * L7 kinds are validated (`@ambient-kit/routing`, `@ambient-kit/authz`) and listed as outside ztunnel's view.
 * The result is the workload model a ztunnel would receive over WDS. Pure: text in, models out
 * (docs/control-plane.md).
 * @module
 */
import {
  groupSecurityPolicies,
  type PeerAuthentication,
  type PolicyError,
  parsePolicyObjects,
} from '@ambient-kit/authz/codec';
import {
  translateForZtunnel,
  translatePeerAuthenticationsForZtunnel,
  type ZtunnelSkipReason,
} from '@ambient-kit/authz/l4';
import { validateRouteResources } from '@ambient-kit/routing/codec';
import {
  type Authorization,
  createIssueList,
  localConfigFromJson,
  type Service,
  serviceFromProto,
  type Workload,
  workloadFromProto,
} from '@ambient-kit/workload-api/codec';
import { err, ok, type Result } from 'neverthrow';
import { type Document, isScalar, LineCounter, parseAllDocuments, visit } from 'yaml';
import {
  type AmbientIndexOptions,
  buildAmbientIndex,
  type Located,
  type SelectorPolicy,
} from './ambient-index.js';
import { ControlPlaneError, type ControlPlaneErrorCode, type ControlPlaneIssue } from './errors.js';
import {
  KUBERNETES_API_VERSIONS,
  type KubernetesObject,
  kubernetesSchema,
  readKubernetesObject,
  untranslatedSchema,
} from './kubernetes-objects.js';
import { checkValue } from './object-schema.js';

/** A Kubernetes policy istiod would not send to ztunnel, and why (authz `translateForZtunnel`). */
export interface SkippedPolicy {
  readonly name: string;
  readonly namespace: string;
  /** `targetRefs`, `unsupported-action` or `dry-run-disabled`. */
  readonly reason: ZtunnelSkipReason;
  readonly message: string;
}

/** A Kubernetes object of a kind the mesh file does not translate, skipped by name. */
export interface SkippedDocument {
  /** Where it is, e.g. `document[2]` or `document[0].items[3]`. */
  readonly path: string;
  readonly kind: string;
  readonly apiVersion?: string;
  readonly name?: string;
  readonly namespace?: string;
}

/** What a mesh file holds. */
export interface MeshFileContents {
  readonly workloads: readonly Workload[];
  readonly services: readonly Service[];
  /** ztunnel-shaped policies and translated Kubernetes AuthorizationPolicies. */
  readonly policies: readonly Authorization[];
  /** Kubernetes AuthorizationPolicies that are not sent to ztunnel. */
  readonly skippedPolicies: readonly SkippedPolicy[];
  /** istiod's status warnings for translated policies (e.g. HTTP attributes dropped). */
  readonly warnings: readonly string[];
  /** Objects of kinds not translated, when `skipUnsupportedKinds` is set (otherwise they are errors). */
  readonly skippedDocuments: readonly SkippedDocument[];
  /**
   * Valid objects of the networking and L7 kinds, which are not part of what istiod sends ztunnel:
   * VirtualService, DestinationRule, HTTPRoute, GRPCRoute, RequestAuthentication, ServiceEntry, and Gateways
   * that are not of class `istio-waypoint` (a waypoint Gateway is read for its address).
   */
  readonly notForZtunnel: readonly SkippedDocument[];
}

/** How a mesh file is read (the cluster settings are istiod's, for Kubernetes objects). */
export interface MeshFileOptions extends AmbientIndexOptions {
  /** MeshConfig `rootNamespace` for policy scope. Default `istio-system`. */
  readonly rootNamespace?: string;
  /** istiod `AMBIENT_ENABLE_DRY_RUN_AUTHORIZATION_POLICY`: send dry-run policies. Default false. */
  readonly enableDryRun?: boolean;
  /** Largest file accepted; checked before parsing (and before reading, for a file). Default 64 MiB. */
  readonly maxBytes?: number;
  /**
   * Skip a Kubernetes object of a kind the file does not know (a `Deployment`, a `ConfigMap`, ...) and
   * list it in `skippedDocuments`, instead of rejecting the file. A document without `kind` is still
   * ztunnel's local config, and everything of a supported kind is still strict. Default false.
   */
  readonly skipUnsupportedKinds?: boolean;
}

/**
 * The default cap on a mesh file: 64 MiB.
 *
 * @example
 * ```ts
 * parseMeshFile(text, { maxBytes: DEFAULT_MAX_MESH_FILE_BYTES / 4 });
 * ```
 */
export const DEFAULT_MAX_MESH_FILE_BYTES: number = 64 * 1024 * 1024;

const LIST_KINDS = new Set(['List', 'AuthorizationPolicyList', 'PeerAuthenticationList']);
// The Kubernetes security kinds, validated by @ambient-kit/authz: AuthorizationPolicy and PeerAuthentication
// are translated to ztunnel policies (PeerAuthentication as istiod converts it:
// istio/istio@86c9f01f:pilot/pkg/serviceregistry/ambient/policies.go); RequestAuthentication is a waypoint's.
const POLICY_KINDS = new Set(['AuthorizationPolicy', 'PeerAuthentication', 'RequestAuthentication']);
// The routing kinds, validated by @ambient-kit/routing, never part of ztunnel's view.
const ROUTE_KINDS = new Set(['VirtualService', 'DestinationRule', 'HTTPRoute', 'GRPCRoute']);
const SERVICE_ENTRY_VERSIONS = [
  'networking.istio.io/v1',
  'networking.istio.io/v1beta1',
  'networking.istio.io/v1alpha3',
];
const WAYPOINT_CLASS = 'istio-waypoint';
const LIST_FIELDS = new Set(['apiVersion', 'kind', 'metadata', 'items']);
// Alias expansion is bounded ("billion laughs").
const MAX_ALIAS_COUNT = 100;

type Obj = { readonly [key: string]: unknown };
const isObj = (v: unknown): v is Obj => typeof v === 'object' && v !== null && !Array.isArray(v);

/** A Kubernetes policy found in the file, with where it was. */
interface FoundPolicy {
  readonly value: Obj;
  readonly path: string;
}

/**
 * YAML problems the `yaml` library would print as process warnings (a collection used as a map key is
 * stringified, an unresolved tag is read as a string) are problems in the file: reported as issues,
 * never printed. The library's own printing is off (`logLevel: 'error'`).
 */
function yamlIssues(doc: Document, at: string, lines: LineCounter, issues: ControlPlaneIssue[]): void {
  const where = (offset: number | undefined): string => {
    if (offset === undefined) return '';
    const pos = lines.linePos(offset);
    return `line ${pos.line}, column ${pos.col}: `;
  };
  for (const w of doc.warnings) {
    issues.push({
      path: at,
      code: 'CONTROL_PLANE_ERR_BAD_YAML',
      message: `${where(w.pos[0])}${w.message.split('\n')[0]}`,
    });
  }
  visit(doc, {
    Pair(_, pair) {
      // Map keys are field names, ports or `namespace/hostname`: always scalars. A collection (or an alias
      // to one) as a key is something the file author did not mean.
      const key = pair.key;
      if (key !== null && !isScalar(key)) {
        const range = (key as { readonly range?: readonly number[] | null }).range ?? undefined;
        issues.push({
          path: at,
          code: 'CONTROL_PLANE_ERR_BAD_YAML',
          message: `${where(range?.[0])}a map key must be a plain value, not a collection or an alias`,
        });
      }
    },
  });
}

/**
 * Parses a mesh file. Each YAML document is ztunnel's local config (`workloads`, `services`, `policies`),
 * a Kubernetes object, or a `List` of them; empty documents are skipped. Namespaces, Pods, Services,
 * WorkloadEntries, Gateways and GatewayClasses become Workloads and Services as istiod's ambient index
 * computes them; AuthorizationPolicies and PeerAuthentications become Authorizations; VirtualService,
 * DestinationRule, HTTPRoute, GRPCRoute, RequestAuthentication and ServiceEntry are validated and listed in
 * `notForZtunnel`. Every object at every depth is strict: an unknown field is an issue with its path
 * (`document[0].policies[0].rules[0][0][0].sourceIP: unknown field (did you mean sourceIps?)`,
 * `document[3].spec.ports[0].targetPort: expected an integer or a string`). Every problem is collected;
 * any problem rejects the whole file. Nothing is printed: YAML warnings are issues.
 *
 * @param text - The file content.
 * @param options - Policy translation options and the size cap.
 * @returns The contents, or a {@link ControlPlaneError} listing every issue.
 * @example
 * ```ts
 * const res = parseMeshFile(readFileSync('mesh.yaml', 'utf8'));
 * if (res.isOk()) store.apply({ resources: [...res.value.workloads, ...res.value.services, ...res.value.policies] });
 * ```
 */
export function parseMeshFile(
  text: string,
  options: MeshFileOptions = {},
): Result<MeshFileContents, ControlPlaneError> {
  const max = options.maxBytes ?? DEFAULT_MAX_MESH_FILE_BYTES;
  if (text.length > max) {
    return err(new ControlPlaneError('CONTROL_PLANE_ERR_TOO_LARGE', `mesh file is larger than ${max} bytes`));
  }
  const issues: ControlPlaneIssue[] = [];
  const add = (path: string, code: ControlPlaneErrorCode, message: string): void => {
    issues.push({ path, code, message });
  };
  const workloads: Workload[] = [];
  const services: Service[] = [];
  const policies: Authorization[] = [];
  const found: FoundPolicy[] = [];
  const skippedDocuments: SkippedDocument[] = [];
  const notForZtunnel: SkippedDocument[] = [];
  const kubernetes: Located<KubernetesObject>[] = [];
  // Where each ztunnel-shaped workload and service came from, to tell a Kubernetes object that gives the same one.
  const localKeys = new Set<string>();
  const lines = new LineCounter();
  const parsed = parseAllDocuments(text, { prettyErrors: true, logLevel: 'error', lineCounter: lines });
  const docs = Array.isArray(parsed) ? parsed : [];
  docs.forEach((doc, i) => {
    const at = `document[${i}]`;
    if (doc.errors.length > 0) {
      for (const e of doc.errors) {
        const pos = e.linePos?.[0];
        add(
          at,
          'CONTROL_PLANE_ERR_BAD_YAML',
          `${pos === undefined ? '' : `line ${pos.line}, column ${pos.col}: `}${e.message.split('\n')[0]}`,
        );
      }
      return;
    }
    const before = issues.length;
    yamlIssues(doc, at, lines, issues);
    if (issues.length > before) return;
    let value: unknown;
    try {
      value = doc.toJS({ maxAliasCount: MAX_ALIAS_COUNT });
    } catch (e) {
      add(at, 'CONTROL_PLANE_ERR_BAD_YAML', e instanceof Error ? e.message : String(e));
      return;
    }
    const visitValue = (v: unknown, path: string, inList: boolean): void => {
      if (v === null || v === undefined) return;
      if (!isObj(v)) {
        add(path, 'CONTROL_PLANE_ERR_BAD_DOCUMENT', 'expected a map');
        return;
      }
      const kind = v['kind'];
      if (kind === undefined && !inList) {
        const local = createIssueList(path);
        const models = localConfigFromJson(v, local);
        for (const issue of local.issues) issues.push(issue);
        workloads.push(...models.workloads);
        services.push(...models.services);
        policies.push(...models.policies);
        for (const w of models.workloads) localKeys.add(`workload ${w.uid}`);
        for (const s of models.services) localKeys.add(`service ${s.key}`);
      } else if (typeof kind === 'string' && Object.hasOwn(KUBERNETES_API_VERSIONS, kind)) {
        const k = kind as KubernetesObject['kind'];
        if (!apiVersionOk(v, KUBERNETES_API_VERSIONS[k], path)) return;
        if (!checkValue(kubernetesSchema(k), v, path, issues)) return;
        const object = readKubernetesObject(k, v);
        kubernetes.push({ object, path });
        if (object.kind === 'Gateway' && object.gatewayClassName !== WAYPOINT_CLASS)
          notForZtunnel.push(describe(v, kind, path));
      } else if (typeof kind === 'string' && ROUTE_KINDS.has(kind)) {
        const routed = validateRouteResources([v]);
        if (routed.isErr()) {
          for (const e of routed.error.issues.length > 0 ? routed.error.issues : [routed.error])
            issues.push({
              path: e.path === undefined || e.path === '' ? path : `${path}.${e.path}`,
              code: e.code,
              message: e.message,
            });
          return;
        }
        notForZtunnel.push(describe(v, kind, path));
      } else if (kind === 'ServiceEntry') {
        if (!apiVersionOk(v, SERVICE_ENTRY_VERSIONS, path)) return;
        if (!checkValue(untranslatedSchema(), v, path, issues)) return;
        notForZtunnel.push(describe(v, kind, path));
      } else if (typeof kind === 'string' && POLICY_KINDS.has(kind)) {
        found.push({ value: v, path });
      } else if (typeof kind === 'string' && LIST_KINDS.has(kind) && !inList) {
        for (const key of Object.keys(v))
          if (!LIST_FIELDS.has(key))
            add(path === '' ? key : `${path}.${key}`, 'CONTROL_PLANE_ERR_BAD_DOCUMENT', 'unknown field');
        const items = v['items'];
        if (!Array.isArray(items)) {
          add(`${path}.items`, 'CONTROL_PLANE_ERR_BAD_DOCUMENT', `a ${kind} needs an items list`);
          return;
        }
        for (const [j, item] of items.entries()) visitValue(item, `${path}.items[${j}]`, true);
      } else if (typeof kind === 'string' && kind !== '' && options.skipUnsupportedKinds === true) {
        skippedDocuments.push(describe(v, kind, path));
      } else {
        add(
          `${path}.kind`,
          'CONTROL_PLANE_ERR_BAD_DOCUMENT',
          kind === undefined ? 'kind is required' : `unsupported kind ${JSON.stringify(kind)}`,
        );
      }
    };
    visitValue(value, at, false);
  });

  function apiVersionOk(v: Obj, versions: readonly string[], path: string): boolean {
    const apiVersion = v['apiVersion'];
    if (typeof apiVersion === 'string' && versions.includes(apiVersion)) return true;
    add(
      `${path}.apiVersion`,
      'CONTROL_PLANE_ERR_BAD_OBJECT',
      `a ${String(v['kind'])} has apiVersion ${versions.join(' or ')}, got ${JSON.stringify(apiVersion)}`,
    );
    return false;
  }

  const skippedPolicies: SkippedPolicy[] = [];
  const warnings: string[] = [];
  const selectorPolicies: SelectorPolicy[] = [];
  let peerKeys:
    | ((w: { namespace: string; labels?: Readonly<Record<string, string>> | undefined }) => string[])
    | undefined;
  if (found.length > 0) {
    const parsedPolicies = parsePolicyObjects(found.map((f) => f.value));
    if (parsedPolicies.isErr()) {
      for (const e of parsedPolicies.error) issues.push(policyIssue(e, found));
    } else {
      const documents = groupSecurityPolicies(parsedPolicies.value);
      for (const p of documents.authorizationPolicies) {
        const t = translateForZtunnel(p, {
          ...(options.rootNamespace === undefined ? {} : { rootNamespace: options.rootNamespace }),
          ...(options.enableDryRun === undefined ? {} : { enableDryRun: options.enableDryRun }),
        });
        if (t.sent) {
          policies.push(t.authorization);
          if (t.authorization.scope === 'WorkloadSelector')
            selectorPolicies.push({
              key: t.authorization.key,
              namespace: t.authorization.namespace,
              matchLabels: p.spec.selector?.matchLabels ?? {},
            });
          if (t.warning !== undefined)
            warnings.push(`${p.metadata.namespace}/${p.metadata.name}: ${t.warning}`);
        } else {
          skippedPolicies.push({
            name: p.metadata.name,
            namespace: p.metadata.namespace ?? '',
            reason: t.reason,
            message: t.message,
          });
        }
      }
      for (const ra of documents.requestAuthentications) {
        const origin = found.find((f) => {
          const m = isObj(f.value['metadata']) ? (f.value['metadata'] as Obj) : {};
          return (
            f.value['kind'] === 'RequestAuthentication' &&
            m['name'] === ra.metadata.name &&
            (m['namespace'] ?? undefined) === (ra.metadata.namespace ?? undefined)
          );
        });
        notForZtunnel.push({
          path: origin?.path ?? '',
          kind: 'RequestAuthentication',
          name: ra.metadata.name,
          ...(ra.metadata.namespace === undefined ? {} : { namespace: ra.metadata.namespace }),
        });
      }
      const localNamespaces = new Set(workloads.map((w) => w.namespace));
      const peer = peerAuthenticationPolicies(
        documents.peerAuthentications,
        found,
        issues,
        options,
        localNamespaces,
      );
      if (peer !== undefined) {
        peerKeys = peer.policiesForWorkload;
        policies.push(...peer.authorizations);
        // istiod lists the PeerAuthentication-derived policies in each workload's `authorizationPolicies`.
        workloads.forEach((w, i) => {
          const keys = peer
            .policiesForWorkload({ namespace: w.namespace })
            .filter((k) => !w.authorizationPolicies.includes(k));
          if (keys.length > 0)
            workloads[i] = { ...w, authorizationPolicies: [...w.authorizationPolicies, ...keys] };
        });
      }
    }
  }
  if (issues.length === 0 && kubernetes.length > 0)
    translateKubernetes(kubernetes, selectorPolicies, peerKeys, options, localKeys, {
      workloads,
      services,
      warnings,
      issues,
      notForZtunnel,
    });
  if (issues.length > 0) return err(ControlPlaneError.fromIssues(issues));
  return ok({ workloads, services, policies, skippedPolicies, warnings, skippedDocuments, notForZtunnel });
}

/** Where an object is and what it is called, for the lists of objects not translated. */
function describe(v: Obj, kind: string, path: string): SkippedDocument {
  const meta = isObj(v['metadata']) ? (v['metadata'] as Obj) : {};
  const text = (x: unknown): string | undefined => (typeof x === 'string' ? x : undefined);
  const apiVersion = text(v['apiVersion']);
  const name = text(meta['name']);
  const namespace = text(meta['namespace']);
  return {
    path,
    kind,
    ...(apiVersion === undefined ? {} : { apiVersion }),
    ...(name === undefined ? {} : { name }),
    ...(namespace === undefined ? {} : { namespace }),
  };
}

/**
 * The Kubernetes objects' Workloads and Services, added to the ztunnel-shaped ones. Two objects of one kind
 * and name are an issue; a Kubernetes object whose result has the xDS name of a ztunnel-shaped entry gives
 * way to it (the file's author spelled that one out) and is listed in `notForZtunnel`.
 */
function translateKubernetes(
  objects: readonly Located<KubernetesObject>[],
  selectorPolicies: readonly SelectorPolicy[],
  peerKeys:
    | ((w: { namespace: string; labels?: Readonly<Record<string, string>> | undefined }) => string[])
    | undefined,
  options: MeshFileOptions,
  localKeys: ReadonlySet<string>,
  out: {
    workloads: Workload[];
    services: Service[];
    warnings: string[];
    issues: ControlPlaneIssue[];
    notForZtunnel: SkippedDocument[];
  },
): void {
  const seen = new Map<string, string>();
  for (const { object, path } of objects) {
    const id = `${object.kind} ${object.metadata.namespace}/${object.metadata.name}`;
    const first = seen.get(id);
    if (first !== undefined)
      out.issues.push({
        path: `${path}.metadata.name`,
        code: 'CONTROL_PLANE_ERR_BAD_OBJECT',
        message: `${id} is given twice (first at ${first})`,
      });
    else seen.set(id, path);
  }
  if (out.issues.length > 0) return;
  const index = buildAmbientIndex(objects, selectorPolicies, options);
  out.warnings.push(...index.warnings);
  const labelsOf = new Map<string, Readonly<Record<string, string>>>();
  for (const { object } of objects)
    if (object.kind === 'Pod' || object.kind === 'WorkloadEntry')
      labelsOf.set(
        `${object.kind} ${object.metadata.namespace}/${object.metadata.name}`,
        object.metadata.labels,
      );
  for (const { object: proto, path } of index.services) {
    const res = serviceFromProto(proto);
    if (res.isErr()) {
      for (const i of res.error.issues) out.issues.push({ path, code: i.code, message: i.message });
      continue;
    }
    if (localKeys.has(`service ${res.value.key}`)) {
      out.notForZtunnel.push({ path, kind: 'Service', name: res.value.name, namespace: res.value.namespace });
      continue;
    }
    out.services.push(res.value);
  }
  for (const { object: proto, path } of index.workloads) {
    const res = workloadFromProto(proto);
    if (res.isErr()) {
      for (const i of res.error.issues) out.issues.push({ path, code: i.code, message: i.message });
      continue;
    }
    let w = res.value;
    if (localKeys.has(`workload ${w.uid}`)) {
      const kind = w.uid.includes('/WorkloadEntry/') ? 'WorkloadEntry' : 'Pod';
      out.notForZtunnel.push({ path, kind, name: w.name, namespace: w.namespace });
      continue;
    }
    const kind = w.uid.includes('/WorkloadEntry/') ? 'WorkloadEntry' : 'Pod';
    const labels = labelsOf.get(`${kind} ${w.namespace}/${w.name}`);
    // istiod appends the PeerAuthentication-derived keys after the selector policies (buildWorkloadPolicies).
    const extra = (peerKeys?.({ namespace: w.namespace, labels }) ?? []).filter(
      (key) => !w.authorizationPolicies.includes(key),
    );
    if (extra.length > 0) w = { ...w, authorizationPolicies: [...w.authorizationPolicies, ...extra] };
    out.workloads.push(w);
  }
}

/**
 * PeerAuthentications as istiod converts them for ztunnel (authz `translatePeerAuthenticationsForZtunnel`).
 * ztunnel-shaped workloads carry no labels (WDS has none), so a PeerAuthentication that selects workloads by
 * label in a namespace that has such workloads cannot be attached: it is an issue, not dropped, since
 * dropping a workload-level STRICT would let plaintext through. Pods and WorkloadEntries carry their labels.
 */
function peerAuthenticationPolicies(
  pas: readonly PeerAuthentication[],
  found: readonly FoundPolicy[],
  issues: ControlPlaneIssue[],
  options: MeshFileOptions,
  localNamespaces: ReadonlySet<string>,
): ReturnType<typeof translatePeerAuthenticationsForZtunnel> | undefined {
  if (pas.length === 0) return undefined;
  let selected = false;
  for (const pa of pas) {
    if (Object.keys(pa.spec.selector?.matchLabels ?? {}).length === 0) continue;
    if (!localNamespaces.has(pa.metadata.namespace ?? 'default')) continue;
    selected = true;
    const origin = found.find((f) => {
      const m = isObj(f.value['metadata']) ? (f.value['metadata'] as Obj) : {};
      return f.value['kind'] === 'PeerAuthentication' && m['name'] === pa.metadata.name;
    });
    issues.push({
      path: `${origin?.path ?? ''}${origin === undefined ? '' : '.'}spec.selector`,
      code: 'CONTROL_PLANE_ERR_BAD_DOCUMENT',
      message:
        `PeerAuthentication ${pa.metadata.namespace}/${pa.metadata.name} selects workloads by label, and ` +
        "the namespace's ztunnel-shaped workloads carry no labels: use a namespace-wide PeerAuthentication, " +
        'or Pods',
    });
  }
  if (selected) return undefined;
  return translatePeerAuthenticationsForZtunnel(
    pas,
    options.rootNamespace === undefined ? {} : { rootNamespace: options.rootNamespace },
  );
}

/** An authz validation error, placed at the document it came from. */
function policyIssue(e: PolicyError, found: readonly FoundPolicy[]): ControlPlaneIssue {
  const meta = (f: FoundPolicy): Obj => (isObj(f.value['metadata']) ? (f.value['metadata'] as Obj) : {});
  const origin = found.find((f) => {
    const m = meta(f);
    return e.policy === `${String(m['namespace'])}/${String(m['name'])}` || e.policy === m['name'];
  });
  const index = /^document #(\d+)$/.exec(e.policy ?? '')?.[1];
  const base = origin?.path ?? (index === undefined ? undefined : found[Number(index) - 1]?.path) ?? '';
  const inner = e.path === undefined || e.path.startsWith('document #') ? '' : e.path;
  const path = base === '' ? inner : inner === '' ? base : `${base}.${inner}`;
  return { path, code: e.code, message: e.message };
}
