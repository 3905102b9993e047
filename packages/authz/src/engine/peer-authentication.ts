/**
 * PeerAuthentication (`security.istio.io/v1`, the same schema as `v1beta1`,
 * istio/api@b8f8791d:security/v1beta1/peer_authentication.proto): the resource, its validation (CRD schema and
 * istiod `ValidatePeerAuthentication`, istio/istio@86c9f01f:pkg/config/validation/validation.go), and the mode a
 * workload ends up with: mesh (root namespace) → namespace → workload precedence, `UNSET` inheriting, the oldest
 * policy winning a tie at each level, `portLevelMtls` overriding per workload port
 * (istio/istio@86c9f01f:pilot/pkg/security/authn/policy_applier.go `ComposePeerAuthentication`,
 * pilot/pkg/model/authentication.go `getConfigsForWorkload`).
 * @module
 */

import { err, ok, type Result } from 'neverthrow';
import type { PolicyError } from './errors.js';
import type { PolicyMetadata, WorkloadSelector } from './policy.js';
import { selects } from './selection.js';
import {
  Collector,
  checkKnownFields,
  describe,
  get,
  isRecord,
  nameOf,
  readEnvelope,
  readMetadata,
  readSelector,
  type ValidateOptions,
} from './validate.js';

/** `mtls.mode` (istio/api `PeerAuthentication.MutualTLS.Mode`). `UNSET` inherits from the parent level. */
export type MutualTlsMode = 'UNSET' | 'DISABLE' | 'PERMISSIVE' | 'STRICT';

/** A mode after inheritance: `UNSET` at every level means `PERMISSIVE`. */
export type EffectiveMutualTlsMode = Exclude<MutualTlsMode, 'UNSET'>;

/** The modes in the proto's order. */
export const MUTUAL_TLS_MODES: readonly MutualTlsMode[] = ['UNSET', 'DISABLE', 'PERMISSIVE', 'STRICT'];

/** `mtls` / a `portLevelMtls` value. */
export interface MutualTls {
  readonly mode?: MutualTlsMode;
}

/** `spec` of a PeerAuthentication. */
export interface PeerAuthenticationSpec {
  readonly selector?: WorkloadSelector;
  readonly mtls?: MutualTls;
  /** Keyed by workload (target) port, `1`..`65535`; only with a selector. */
  readonly portLevelMtls?: Readonly<Record<string, MutualTls>>;
}

/** A whole PeerAuthentication resource. */
export interface PeerAuthentication {
  readonly apiVersion: string;
  readonly kind: 'PeerAuthentication';
  readonly metadata: PolicyMetadata;
  readonly spec: PeerAuthenticationSpec;
}

function readMtls(c: Collector, path: string, raw: unknown): MutualTls | undefined {
  if (raw === undefined || raw === null) return undefined;
  if (!isRecord(raw)) {
    c.schema(path, `must be an object, found ${describe(raw)}`);
    return undefined;
  }
  checkKnownFields(c, path, raw, ['mode']);
  const mode = get(raw, 'mode');
  if (mode === undefined || mode === null) return {};
  if (typeof mode !== 'string' || !(MUTUAL_TLS_MODES as readonly string[]).includes(mode)) {
    c.schema(`${path}.mode`, `must be one of ${MUTUAL_TLS_MODES.join(', ')}, found ${describe(mode)}`);
    return undefined;
  }
  return { mode: mode as MutualTlsMode };
}

/**
 * Validates one PeerAuthentication object and returns it normalized.
 *
 * @param raw - Anything, e.g. a parsed YAML document.
 * @param options - How to name an unnamed document in errors.
 * @returns The resource, or every error with its field path.
 * @example
 * ```ts
 * validatePeerAuthentication({
 *   apiVersion: 'security.istio.io/v1', kind: 'PeerAuthentication',
 *   metadata: { name: 'default', namespace: 'istio-system' }, spec: { mtls: { mode: 'STRICT' } },
 * }).isOk(); // true
 * ```
 */
export function validatePeerAuthentication(
  raw: unknown,
  options: ValidateOptions = {},
): Result<PeerAuthentication, PolicyError[]> {
  const c = new Collector(nameOf(raw, options.documentIndex), 'PeerAuthentication');
  if (!isRecord(raw) || get(raw, 'kind') !== 'PeerAuthentication') {
    c.add('AUTHZ_ERR_NOT_A_POLICY', 'kind', `expected kind PeerAuthentication, found ${describe(raw)}`);
    return err(c.errors);
  }
  const apiVersion = readEnvelope(c, raw);
  if (apiVersion === undefined) return err(c.errors);
  const md = readMetadata(c, get(raw, 'metadata'));
  const spec: { -readonly [K in keyof PeerAuthenticationSpec]: PeerAuthenticationSpec[K] } = {};
  const specRaw = get(raw, 'spec');
  if (specRaw !== undefined && specRaw !== null) {
    if (!isRecord(specRaw)) c.schema('spec', `must be an object, found ${describe(specRaw)}`);
    else {
      checkKnownFields(c, 'spec', specRaw, ['selector', 'mtls', 'portLevelMtls']);
      const selector = readSelector(c, 'spec.selector', get(specRaw, 'selector'));
      if (selector !== undefined) spec.selector = selector;
      const mtls = readMtls(c, 'spec.mtls', get(specRaw, 'mtls'));
      if (mtls !== undefined) spec.mtls = mtls;
      const ports = get(specRaw, 'portLevelMtls');
      if (ports !== undefined && ports !== null) {
        if (!isRecord(ports)) c.schema('spec.portLevelMtls', `must be a map, found ${describe(ports)}`);
        else {
          const out: Record<string, MutualTls> = {};
          const keys = Object.keys(ports);
          if (keys.length === 0) {
            c.invalid('spec.portLevelMtls', 'port level mTLS, if defined, must have at least one element');
          }
          for (const key of keys) {
            const at = `spec.portLevelMtls.${key}`;
            const port = /^[0-9]{1,5}$/.test(key) ? Number(key) : Number.NaN;
            if (!(port >= 1 && port <= 65535)) c.invalid(at, 'port must be in range 1..65535');
            const value = readMtls(c, at, ports[key]);
            out[String(port)] = value ?? {};
          }
          spec.portLevelMtls = out;
          const labels = spec.selector?.matchLabels;
          if (labels === undefined || Object.keys(labels).length === 0) {
            c.invalid('spec.portLevelMtls', 'mesh/namespace peer authentication cannot have port level mTLS');
          }
        }
      }
    }
  }
  if (c.errors.length > 0) return err(c.errors);
  return ok({
    apiVersion,
    kind: 'PeerAuthentication',
    metadata: {
      name: md.name,
      namespace: md.namespace,
      ...(md.annotations === undefined ? {} : { annotations: md.annotations }),
      ...(md.labels === undefined ? {} : { labels: md.labels }),
      ...(md.creationTimestamp === undefined ? {} : { creationTimestamp: md.creationTimestamp }),
    },
    spec,
  });
}

/**
 * istiod's order among competing PeerAuthentications: older creation time first, then name, then namespace
 * (istio/istio@86c9f01f:pilot/pkg/model/config.go `configCompareByCreationTime`); a document without a
 * creation time counts as the oldest (Go's zero time).
 *
 * @param a - A policy.
 * @param b - Another.
 * @returns Negative when `a` wins.
 * @example
 * ```ts
 * [...peerAuthentications].sort(comparePeerAuthentications)[0]; // the one istiod picks
 * ```
 */
export function comparePeerAuthentications(
  a: { readonly metadata: PolicyMetadata },
  b: { readonly metadata: PolicyMetadata },
): number {
  const ta = a.metadata.creationTimestamp === undefined ? 0 : Date.parse(a.metadata.creationTimestamp);
  const tb = b.metadata.creationTimestamp === undefined ? 0 : Date.parse(b.metadata.creationTimestamp);
  if (ta !== tb) return ta < tb ? -1 : 1;
  if (a.metadata.name !== b.metadata.name) return a.metadata.name < b.metadata.name ? -1 : 1;
  if (a.metadata.namespace === b.metadata.namespace) return 0;
  return a.metadata.namespace < b.metadata.namespace ? -1 : 1;
}

/** Whether a PeerAuthentication applies to a whole namespace (or, in the root namespace, the mesh). */
export function isNamespaceWide(pa: PeerAuthentication): boolean {
  const labels = pa.spec.selector?.matchLabels;
  return labels === undefined || Object.keys(labels).length === 0;
}

/** What {@link effectivePeerAuthentication} decides for a workload. */
export interface EffectivePeerAuthentication {
  /** The workload-wide mode. */
  readonly mode: EffectiveMutualTlsMode;
  /** Modes of the ports `portLevelMtls` names (an `UNSET` port inherits `mode`). */
  readonly perPort: ReadonlyMap<number, EffectiveMutualTlsMode>;
  /** `namespace/name` of the mesh-, namespace- and workload-level policies that took part. */
  readonly mesh?: string;
  readonly namespace?: string;
  readonly workload?: string;
}

const PERMISSIVE: EffectivePeerAuthentication = { mode: 'PERMISSIVE', perPort: new Map() };

function modeOf(mtls: MutualTls | undefined): MutualTlsMode {
  return mtls?.mode ?? 'UNSET';
}

function keyOf(pa: PeerAuthentication): string {
  return `${pa.metadata.namespace}/${pa.metadata.name}`;
}

/**
 * The mTLS mode istiod configures for a workload's inbound listener (sidecar): the PeerAuthentications of the
 * workload's namespace and of the root namespace whose selector matches; the oldest namespace-wide policy of
 * the root namespace is the mesh level, the oldest namespace-wide one of the workload's namespace the namespace
 * level, the oldest selecting one outside the root namespace the workload level; each level that is not
 * `UNSET` overrides the one above, starting from `PERMISSIVE`; the workload level's `portLevelMtls` then set
 * per-port modes (`UNSET` inheriting the workload mode). A root-namespace policy with a selector takes no part
 * (istiod ignores it here).
 *
 * @param peerAuthentications - All PeerAuthentications.
 * @param workload - The workload's namespace and labels.
 * @param rootNamespace - MeshConfig `rootNamespace`.
 * @returns The effective modes and the policies that decided them.
 * @example
 * ```ts
 * effectivePeerAuthentication(pas, { namespace: 'foo', labels: { app: 'web' } }, 'istio-system').mode; // 'STRICT'
 * ```
 */
export function effectivePeerAuthentication(
  peerAuthentications: readonly PeerAuthentication[],
  workload: { readonly namespace: string; readonly labels?: Readonly<Record<string, string>> | undefined },
  rootNamespace: string,
): EffectivePeerAuthentication {
  let meshCfg: PeerAuthentication | undefined;
  let namespaceCfg: PeerAuthentication | undefined;
  let workloadCfg: PeerAuthentication | undefined;
  const older = (a: PeerAuthentication, b: PeerAuthentication | undefined): boolean =>
    b === undefined || comparePeerAuthentications(a, b) < 0;
  for (const pa of peerAuthentications) {
    const ns = pa.metadata.namespace;
    if (ns !== workload.namespace && ns !== rootNamespace) continue;
    if (!selects(pa.spec.selector?.matchLabels, workload.labels ?? undefined)) continue;
    if (isNamespaceWide(pa)) {
      if (ns === rootNamespace) {
        if (older(pa, meshCfg)) meshCfg = pa;
      } else if (older(pa, namespaceCfg)) namespaceCfg = pa;
    } else if (ns !== rootNamespace && older(pa, workloadCfg)) workloadCfg = pa;
  }
  if (meshCfg === undefined && namespaceCfg === undefined && workloadCfg === undefined) return PERMISSIVE;
  let mode: EffectiveMutualTlsMode = 'PERMISSIVE';
  for (const level of [meshCfg, namespaceCfg, workloadCfg]) {
    const m = modeOf(level?.spec.mtls);
    if (level !== undefined && m !== 'UNSET') mode = m;
  }
  const perPort = new Map<number, EffectiveMutualTlsMode>();
  for (const [port, mtls] of Object.entries(workloadCfg?.spec.portLevelMtls ?? {})) {
    const m = modeOf(mtls);
    perPort.set(Number(port), m === 'UNSET' ? mode : m);
  }
  return {
    mode,
    perPort,
    ...(meshCfg === undefined ? {} : { mesh: keyOf(meshCfg) }),
    ...(namespaceCfg === undefined ? {} : { namespace: keyOf(namespaceCfg) }),
    ...(workloadCfg === undefined ? {} : { workload: keyOf(workloadCfg) }),
  };
}

/**
 * The mode of one workload port (istiod `GetMutualTLSModeForPort`).
 *
 * @param effective - From {@link effectivePeerAuthentication}.
 * @param port - The workload (target) port.
 * @returns The mode for that port.
 * @example
 * ```ts
 * mtlsModeForPort(effective, 8080); // 'PERMISSIVE' when portLevelMtls says so
 * ```
 */
export function mtlsModeForPort(
  effective: EffectivePeerAuthentication,
  port: number,
): EffectiveMutualTlsMode {
  return effective.perPort.get(port) ?? effective.mode;
}
