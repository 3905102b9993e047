/**
 * PeerAuthentication as istiod turns it into ztunnel Authorization resources in ambient mode
 * (istio/istio@86c9f01f:pilot/pkg/serviceregistry/ambient/policies.go `PolicyCollections`,
 * authorization.go `convertPeerAuthentication` and `convertedSelectorPeerAuthentications`, workloads.go
 * `buildWorkloadPolicies` / `fetchPeerAuthentications`):
 *
 * - whenever any PeerAuthentication exists, istiod sends one static policy,
 *   `<rootNamespace>/istio_converted_static_strict`: DENY when the peer has no identity
 *   (`notPrincipals: [presence]`), which is how STRICT rejects plaintext arriving on 15006;
 * - it is attached to each workload whose effective mode (mesh → namespace → workload) is STRICT;
 * - a selector PeerAuthentication outside the root namespace with `portLevelMtls` that changes something
 *   becomes `<ns>/converted_peer_authentication_<name>`: per-port STRICT groups, or (workload STRICT with
 *   PERMISSIVE/DISABLE ports) one DENY group "no identity and not one of these ports", attached instead of the
 *   static policy.
 * @module
 */

import type {
  Authorization,
  AuthorizationGroup,
  AuthorizationMatch,
  AuthorizationRules,
} from '@ambient-kit/workload-api/codec';
import {
  comparePeerAuthentications,
  isNamespaceWide,
  type MutualTls,
  type PeerAuthentication,
} from './peer-authentication.js';
import { selects } from './selection.js';

/** istiod's name of the static STRICT policy (`staticStrictPolicyName`; `_` keeps it out of Kubernetes names). */
export const STATIC_STRICT_POLICY_NAME = 'istio_converted_static_strict';

/** istiod's prefix for a converted PeerAuthentication (`convertedPeerAuthenticationPrefix`). */
export const CONVERTED_PEER_AUTHENTICATION_PREFIX = 'converted_peer_authentication_';

const EMPTY: readonly never[] = Object.freeze([]);

function match(fields: Partial<AuthorizationMatch>): AuthorizationMatch {
  return {
    namespaces: EMPTY,
    notNamespaces: EMPTY,
    serviceAccounts: EMPTY,
    notServiceAccounts: EMPTY,
    principals: EMPTY,
    notPrincipals: EMPTY,
    sourceIps: EMPTY,
    notSourceIps: EMPTY,
    destinationIps: EMPTY,
    notDestinationIps: EMPTY,
    destinationPorts: EMPTY,
    notDestinationPorts: EMPTY,
    ...fields,
  };
}

// istiod builds both kinds of policy as WORKLOAD_SELECTOR DENY policies, attached per workload.
function denyPolicy(name: string, namespace: string, groups: readonly AuthorizationGroup[]): Authorization {
  return {
    kind: 'policy',
    name,
    namespace,
    key: `${namespace}/${name}`,
    scope: 'WorkloadSelector',
    action: 'Deny',
    groups,
    dryRun: false,
    extensions: EMPTY,
  };
}

const NO_IDENTITY: AuthorizationRules = { matches: [match({ notPrincipals: [{ presence: true }] })] };

/**
 * The static STRICT policy istiod sends whenever any PeerAuthentication exists.
 *
 * @param rootNamespace - MeshConfig `rootNamespace`.
 * @returns `<root>/istio_converted_static_strict`: `WorkloadSelector` scope, `Deny` without a peer identity.
 * @example
 * ```ts
 * staticStrictPolicy('istio-system').groups[0]?.rules[0]?.matches[0]?.notPrincipals; // [{ presence: true }]
 * ```
 */
export function staticStrictPolicy(rootNamespace: string): Authorization {
  return denyPolicy(STATIC_STRICT_POLICY_NAME, rootNamespace, [{ rules: [NO_IDENTITY] }]);
}

const mode = (mtls: MutualTls | undefined): string => mtls?.mode ?? 'UNSET';
const isStrict = (mtls: MutualTls | undefined): boolean => mode(mtls) === 'STRICT';
const isUnset = (mtls: MutualTls | undefined): boolean => mode(mtls) === 'UNSET';

/**
 * istiod's `convertPeerAuthentication`: a selector PeerAuthentication outside the root namespace with
 * `portLevelMtls`, merged with its namespace and mesh policies, as the ztunnel DENY policy that enforces its
 * per-port modes; `undefined` when the static STRICT policy (or nothing) already says it all.
 *
 * @param pa - The workload-level policy.
 * @param namespacePolicy - The oldest selector-less policy of its namespace, if any.
 * @param rootPolicy - The oldest selector-less policy of the root namespace, if any.
 * @param rootNamespace - MeshConfig `rootNamespace`.
 * @returns The Authorization, or `undefined`.
 * @example
 * ```ts
 * convertPeerAuthentication(pa, undefined, meshStrict, 'istio-system')?.name;
 * // 'converted_peer_authentication_web-ports'
 * ```
 */
export function convertPeerAuthentication(
  pa: PeerAuthentication,
  namespacePolicy: PeerAuthentication | undefined,
  rootPolicy: PeerAuthentication | undefined,
  rootNamespace: string,
): Authorization | undefined {
  const spec = pa.spec;
  const ports = Object.entries(spec.portLevelMtls ?? {})
    .map(([port, mtls]) => [Number(port), mtls] as const)
    .sort((a, b) => a[0] - b[0]);
  if (pa.metadata.namespace === rootNamespace || spec.selector === undefined || ports.length === 0) {
    return undefined;
  }
  const top = mode(spec.mtls);
  const nsMtls = namespacePolicy?.spec.mtls;
  const rootMtls = rootPolicy?.spec.mtls;
  const rules: AuthorizationRules[] = [];
  const groups: AuthorizationGroup[] = [];
  if (top === 'STRICT') rules.push(NO_IDENTITY);
  let foundNonStrictPort = false;
  for (const [port, mtls] of ports) {
    const portMode = mode(mtls);
    if (portMode === 'STRICT') {
      // Enforced by the parent already (Go's && binds tighter than ||, as in istiod).
      if (
        isStrict(spec.mtls) ||
        (isUnset(spec.mtls) && namespacePolicy !== undefined && isStrict(nsMtls)) ||
        ((namespacePolicy === undefined || isUnset(nsMtls)) && rootPolicy !== undefined && isStrict(rootMtls))
      ) {
        continue;
      }
      groups.push({
        rules: [{ matches: [match({ notPrincipals: [{ presence: true }], destinationPorts: [port] })] }],
      });
    } else if (portMode === 'PERMISSIVE' || portMode === 'DISABLE') {
      if (top === 'PERMISSIVE' || top === 'DISABLE') continue;
      if (
        top === 'UNSET' &&
        ((namespacePolicy !== undefined && !isStrict(nsMtls)) ||
          (namespacePolicy === undefined && rootPolicy !== undefined && !isStrict(rootMtls)) ||
          (namespacePolicy === undefined && rootPolicy === undefined))
      ) {
        continue;
      }
      foundNonStrictPort = true;
      // "if the incoming connection does not match this port, deny (notice there's no principals requirement)"
      rules.push({ matches: [match({ notDestinationPorts: [port] })] });
    }
  }
  if (top === 'STRICT' && !foundNonStrictPort) return undefined;
  if (rules.length === 0 && groups.length === 0) return undefined;
  const mergeStrict =
    (rootPolicy !== undefined &&
      isStrict(rootMtls) &&
      (namespacePolicy === undefined || isUnset(nsMtls) || isStrict(nsMtls))) ||
    (namespacePolicy !== undefined && isStrict(nsMtls));
  if (mergeStrict && foundNonStrictPort) rules.push(NO_IDENTITY);
  if (rules.length > 0) groups.push({ rules });
  return denyPolicy(
    `${CONVERTED_PEER_AUTHENTICATION_PREFIX}${pa.metadata.name}`,
    pa.metadata.namespace,
    groups,
  );
}

// The oldest policy without a selector (not even an empty one) in a namespace: istiod's
// `namespaceWithSelector` index holds exactly those.
function oldestSelectorless(
  pas: readonly PeerAuthentication[],
  namespace: string,
): PeerAuthentication | undefined {
  let oldest: PeerAuthentication | undefined;
  for (const pa of pas) {
    if (pa.metadata.namespace !== namespace || pa.spec.selector !== undefined) continue;
    if (oldest === undefined || comparePeerAuthentications(pa, oldest) < 0) oldest = pa;
  }
  return oldest;
}

/** A converted PeerAuthentication with the selector it attaches by. */
export interface ConvertedPeerAuthentication {
  readonly authorization: Authorization;
  readonly selector: Readonly<Record<string, string>>;
  /** `namespace/name` of the PeerAuthentication it came from. */
  readonly source: string;
}

/** What {@link translatePeerAuthenticationsForZtunnel} returns. */
export interface ZtunnelPeerAuthentication {
  /** Every Authorization istiod sends for the PeerAuthentications: the static STRICT policy (when any exists) first. */
  readonly authorizations: readonly Authorization[];
  /** The converted per-port policies, with their selectors. */
  readonly converted: readonly ConvertedPeerAuthentication[];
  /**
   * The PeerAuthentication-derived keys (`namespace/name`) istiod lists in a workload's
   * `authorizationPolicies` (WDS `Workload.authorization_policies`).
   *
   * @param workload - The workload's namespace and labels.
   * @returns Keys, sorted, without duplicates.
   */
  policiesForWorkload(workload: {
    readonly namespace: string;
    readonly labels?: Readonly<Record<string, string>> | undefined;
  }): string[];
}

/**
 * Translates every PeerAuthentication for ztunnel as istiod's ambient controller does, and tells which of the
 * resulting policies a workload carries.
 *
 * @param peerAuthentications - All PeerAuthentications (validated).
 * @param options - `rootNamespace` (default `istio-system`).
 * @returns The Authorizations to send and the per-workload attachment.
 * @example
 * ```ts
 * const t = translatePeerAuthenticationsForZtunnel(pas, { rootNamespace: 'istio-system' });
 * t.policiesForWorkload({ namespace: 'foo', labels: { app: 'web' } });
 * // ['istio-system/istio_converted_static_strict'] under a STRICT mesh policy
 * ```
 */
export function translatePeerAuthenticationsForZtunnel(
  peerAuthentications: readonly PeerAuthentication[],
  options: { readonly rootNamespace?: string } = {},
): ZtunnelPeerAuthentication {
  const rootNamespace = options.rootNamespace ?? 'istio-system';
  const converted: ConvertedPeerAuthentication[] = [];
  for (const pa of peerAuthentications) {
    const authorization = convertPeerAuthentication(
      pa,
      oldestSelectorless(peerAuthentications, pa.metadata.namespace),
      oldestSelectorless(peerAuthentications, rootNamespace),
      rootNamespace,
    );
    if (authorization === undefined) continue;
    converted.push({
      authorization,
      selector: pa.spec.selector?.matchLabels ?? {},
      source: `${pa.metadata.namespace}/${pa.metadata.name}`,
    });
  }
  const authorizations =
    peerAuthentications.length === 0
      ? []
      : [staticStrictPolicy(rootNamespace), ...converted.map((c) => c.authorization)];
  return {
    authorizations,
    converted,
    policiesForWorkload: (workload) =>
      peerAuthenticationKeysForWorkload(peerAuthentications, converted, workload, rootNamespace),
  };
}

/**
 * istiod `convertedSelectorPeerAuthentications` plus the converted policies a workload's selector picks up in
 * `buildWorkloadPolicies`.
 */
function peerAuthenticationKeysForWorkload(
  peerAuthentications: readonly PeerAuthentication[],
  converted: readonly ConvertedPeerAuthentication[],
  workload: { readonly namespace: string; readonly labels?: Readonly<Record<string, string>> | undefined },
  rootNamespace: string,
): string[] {
  const keys = new Set<string>();
  const labels = workload.labels ?? undefined;
  // buildWorkloadPolicies: label-selector policies of the workload's (or the root) namespace that select it.
  for (const c of converted) {
    const ns = c.authorization.namespace;
    if ((ns === workload.namespace || ns === rootNamespace) && selects(c.selector, labels)) {
      keys.add(`${ns}/${c.authorization.name}`);
    }
  }
  // fetchPeerAuthentications: the workload's namespace (no selector, or a matching one), and the root
  // namespace's policies without a selector.
  const applicable = peerAuthentications.filter((pa) =>
    pa.metadata.namespace === workload.namespace
      ? selects(pa.spec.selector?.matchLabels, labels)
      : pa.metadata.namespace === rootNamespace && pa.spec.selector === undefined,
  );
  let meshCfg: PeerAuthentication | undefined;
  let namespaceCfg: PeerAuthentication | undefined;
  let workloadCfg: PeerAuthentication | undefined;
  const older = (a: PeerAuthentication, b: PeerAuthentication | undefined): boolean =>
    b === undefined || comparePeerAuthentications(a, b) < 0;
  for (const pa of applicable) {
    if (isNamespaceWide(pa)) {
      if (pa.metadata.namespace === rootNamespace) {
        if (older(pa, meshCfg)) meshCfg = pa;
      } else if (older(pa, namespaceCfg)) namespaceCfg = pa;
    } else if (pa.metadata.namespace !== rootNamespace && older(pa, workloadCfg)) workloadCfg = pa;
  }
  let strict = meshCfg !== undefined && isStrict(meshCfg.spec.mtls);
  if (namespaceCfg !== undefined && !isUnset(namespaceCfg.spec.mtls))
    strict = isStrict(namespaceCfg.spec.mtls);
  let portKey: string | undefined;
  if (workloadCfg !== undefined) {
    const spec = workloadCfg.spec;
    const key = `${workloadCfg.metadata.namespace}/${CONVERTED_PEER_AUTHENTICATION_PREFIX}${workloadCfg.metadata.name}`;
    if (isStrict(spec.mtls)) strict = true;
    if (mode(spec.mtls) === 'PERMISSIVE' || mode(spec.mtls) === 'DISABLE') strict = false;
    const portModes = Object.values(spec.portLevelMtls ?? {}).map(mode);
    if (spec.portLevelMtls !== undefined) {
      switch (mode(spec.mtls)) {
        case 'STRICT':
          if (portModes.some((m) => m === 'PERMISSIVE' || m === 'DISABLE')) {
            portKey = key;
            strict = false;
          }
          break;
        case 'PERMISSIVE':
        case 'DISABLE':
          if (portModes.includes('STRICT')) portKey = key;
          break;
        default:
          if (strict) {
            // Only PERMISSIVE ports count here (istiod's `foundPermissive`).
            if (portModes.includes('PERMISSIVE')) {
              portKey = key;
              strict = false;
            }
          } else {
            strict = false;
            if (portModes.includes('STRICT')) portKey = key;
          }
      }
    }
  }
  if (strict) keys.add(`${rootNamespace}/${STATIC_STRICT_POLICY_NAME}`);
  if (portKey !== undefined) keys.add(portKey);
  return [...keys].sort();
}
