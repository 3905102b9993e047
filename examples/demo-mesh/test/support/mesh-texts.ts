/**
 * Pieces of mesh files the demo's tests add to the built-in one.
 */

/**
 * A `selector` policy that no workload lists in `authorizationPolicies`: valid, and applies to nothing
 * (the demo warns about it).
 */
export const ORPHAN_SELECTOR_POLICY = `---
apiVersion: security.istio.io/v1
kind: AuthorizationPolicy
metadata: { name: orphan, namespace: default }
spec:
  selector: { matchLabels: { app: nothing } }
  action: DENY
  rules: [{ from: [{ source: { principals: ["cluster.local/ns/default/sa/sleep"] } }] }]
`;

/** The warning the demo prints for {@link ORPHAN_SELECTOR_POLICY}. */
export const ORPHAN_WARNING =
  'policy default/orphan has a selector but no workload lists it in authorizationPolicies: it applies to nothing';
