/**
 * Which policies apply to a workload (docs/authz.md "Who enforces: workloads and selection"): the policy's namespace and the root namespace,
 * `selector` subset matching, and `targetRefs` that only waypoints and Gateway API gateways honour (istio
 * `istio/istio@86c9f01f:pilot/pkg/model/policyattachment.go` `ShouldAttachPolicy`, `authorization.go`
 * `ListAuthorizationPolicies`; for ztunnel the ambient controller's scopes, `workloads.go`
 * `buildWorkloadPolicies`).
 * @module
 */

import { GATEWAY_NAME_LABEL, type PolicyTargetReference } from './policy.js';
import type { DestinationService, Workload } from './request.js';

/** What selection needs to know about a policy. */
export interface SelectablePolicy {
  readonly namespace: string;
  /** `undefined`: no selector; otherwise the labels to match (possibly none). */
  readonly selector: Readonly<Record<string, string>> | undefined;
  readonly targetRefs: readonly PolicyTargetReference[];
}

/** Why a policy does not apply, for explanations. */
export type NotAttachedReason =
  | 'other-namespace'
  | 'selector-mismatch'
  | 'target-refs-ignored'
  | 'waypoint-ignores-selector'
  | 'target-ref-mismatch';

/** The result of {@link attachment}. */
export type Attachment =
  | { readonly attached: true }
  | { readonly attached: false; readonly reason: NotAttachedReason };

const ATTACHED: Attachment = { attached: true };
const WAYPOINT_CLASS = 'istio-waypoint';

function canonicalGroup(group: string | undefined): string {
  return group === undefined || group === '' ? 'core' : group;
}

/**
 * Whether `selector ⊆ labels` (istio `labels.Instance.SubsetOf`); no selector selects everything.
 *
 * @param selector - `matchLabels`, or `undefined` for no selector.
 * @param labels - The workload's labels.
 * @returns Whether the selector selects the workload.
 * @example
 * ```ts
 * selects({ app: 'httpbin' }, { app: 'httpbin', version: 'v1' }); // true
 * ```
 */
export function selects(
  selector: Readonly<Record<string, string>> | undefined,
  labels: Readonly<Record<string, string>> | undefined,
): boolean {
  if (selector === undefined) return true;
  for (const key in selector) {
    if (!Object.hasOwn(selector, key)) continue;
    if (labels === undefined || !Object.hasOwn(labels, key) || labels[key] !== selector[key]) return false;
  }
  return true;
}

/**
 * Decides whether a policy attaches to a workload, for the request's destination service (waypoints).
 *
 * - ztunnel: namespace (or root namespace) and selector; targetRef policies never reach ztunnel.
 * - Envoy without the `gateway.networking.k8s.io/gateway-name` label (sidecars, classic gateways): the same,
 *   and targetRef policies are ignored.
 * - Gateway API gateways and waypoints: without targetRefs, gateways use the selector
 *   (`ENABLE_SELECTOR_BASED_K8S_GATEWAY_POLICY`, on by default) and waypoints ignore the policy; with targetRefs,
 *   a `Service`/`ServiceEntry` ref attaches at a waypoint for that service (same namespace), a `GatewayClass`
 *   `istio-waypoint` ref in the root namespace attaches to every waypoint, a `Gateway` ref attaches to the
 *   gateway of that name in the policy's namespace.
 *
 * @param policy - The policy's namespace, selector and target references.
 * @param workload - The enforcing workload.
 * @param service - The request's destination service, if known.
 * @param rootNamespace - MeshConfig `rootNamespace`.
 * @returns Attached, or why not.
 * @example
 * ```ts
 * attachment({ namespace: 'foo', selector: undefined, targetRefs: [] },
 *   { kind: 'sidecar', namespace: 'foo' }, undefined, 'istio-system'); // { attached: true }
 * ```
 */
export function attachment(
  policy: SelectablePolicy,
  workload: Workload,
  service: DestinationService | undefined,
  rootNamespace: string,
): Attachment {
  const inScope = policy.namespace === workload.namespace || policy.namespace === rootNamespace;
  const labels = workload.labels;
  const isWaypoint = workload.kind === 'waypoint';
  const gatewayLabel =
    labels !== undefined && Object.hasOwn(labels, GATEWAY_NAME_LABEL)
      ? labels[GATEWAY_NAME_LABEL]
      : undefined;
  const isGatewayApi = workload.kind !== 'ztunnel' && (isWaypoint || gatewayLabel !== undefined);
  const refs = policy.targetRefs;

  if (!isGatewayApi) {
    if (refs.length > 0) return { attached: false, reason: 'target-refs-ignored' };
    if (!inScope) return { attached: false, reason: 'other-namespace' };
    return selects(policy.selector, labels) ? ATTACHED : { attached: false, reason: 'selector-mismatch' };
  }
  if (refs.length === 0) {
    if (isWaypoint) return { attached: false, reason: 'waypoint-ignores-selector' };
    if (!inScope) return { attached: false, reason: 'other-namespace' };
    return selects(policy.selector, labels) ? ATTACHED : { attached: false, reason: 'selector-mismatch' };
  }
  const gatewayName = gatewayLabel ?? workload.name;
  for (const ref of refs) {
    const group = canonicalGroup(ref.group);
    if (
      isWaypoint &&
      service !== undefined &&
      ref.name === service.name &&
      policy.namespace === service.namespace
    ) {
      if (group === 'core' && ref.kind === 'Service' && service.kind === 'Service') return ATTACHED;
      if (group === 'networking.istio.io' && ref.kind === 'ServiceEntry' && service.kind === 'ServiceEntry') {
        return ATTACHED;
      }
    }
    if (
      isWaypoint &&
      policy.namespace === rootNamespace &&
      group === 'gateway.networking.k8s.io' &&
      ref.kind === 'GatewayClass' &&
      ref.name === WAYPOINT_CLASS
    ) {
      return ATTACHED;
    }
    if (policy.namespace !== workload.namespace) continue;
    if (ref.namespace !== undefined && ref.namespace !== '' && ref.namespace !== workload.namespace) continue;
    if (group === 'gateway.networking.k8s.io' && ref.kind === 'Gateway' && ref.name === gatewayName)
      return ATTACHED;
  }
  return { attached: false, reason: 'target-ref-mismatch' };
}

/**
 * The namespaces whose policies can apply (istio `ListAuthorizationPolicies`: root, workload, and for a
 * waypoint the destination service's namespace), without duplicates.
 *
 * @param workload - The enforcing workload.
 * @param service - The destination service, if any.
 * @param rootNamespace - MeshConfig `rootNamespace`.
 * @returns Namespaces to look in.
 * @example
 * ```ts
 * lookupNamespaces({ kind: 'waypoint', namespace: 'mesh' }, { kind: 'Service', name: 'web', namespace: 'shop' }, 'istio-system');
 * // ['istio-system', 'mesh', 'shop']
 * ```
 */
export function lookupNamespaces(
  workload: Workload,
  service: DestinationService | undefined,
  rootNamespace: string,
): string[] {
  const out = [rootNamespace];
  if (!out.includes(workload.namespace)) out.push(workload.namespace);
  if (workload.kind === 'waypoint' && service !== undefined && !out.includes(service.namespace)) {
    out.push(service.namespace);
  }
  return out;
}
