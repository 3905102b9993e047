/**
 * L4 authorization at the destination ztunnel: `@ambient-kit/authz`'s `evaluateL4`, which is ztunnel's
 * `assert_rbac` (istio/ztunnel@62d82653:src/state.rs) over the `istio.security.Authorization` resources this
 * ztunnel received over xDS (docs/authz.md "L4 decisions for a custom proxy").
 *
 * Why the translated resources and not the AuthorizationPolicy CRDs: a ztunnel never sees the CRDs. istiod
 * translates them (dropping HTTP rules, narrowing ALLOWs, keeping only the L4 part of DENYs) and pushes the
 * result over the workload API; policies written in ztunnel's own form (a `LOCAL_XDS_PATH` file) exist only
 * that way. Enforcing what arrived over xDS is what makes a policy edit take effect on the next connection,
 * and is exactly what ztunnel does.
 * @module
 */
import { evaluateL4, type L4Connection, type L4Decision } from '@ambient-kit/authz/l4';
import type { Workload, WorkloadStore } from '@ambient-kit/workload-api';

/** A connection as the destination ztunnel's RBAC sees it (ztunnel `rbac::Connection`). */
export type RbacConnection = L4Connection;

/** The outcome of {@link assertRbac}: `allow`, and ztunnel's rejection text as `reason` when denied. */
export type RbacDecision = L4Decision;

/**
 * Decides an inbound connection: the policies the store holds for the destination workload (its
 * namespace's, the global ones, its own), decided by `evaluateL4`.
 *
 * @param store - The workload store (policies arrive there over xDS).
 * @param workload - The destination workload.
 * @param conn - The connection.
 * @returns The decision, with ztunnel's rejection text.
 * @example
 * ```ts
 * const decision = assertRbac(store, echo, { srcIdentity: peer, srcIp, dstIp: '10.0.0.2', dstPort: 8080 });
 * if (!decision.allow) console.log(decision.reason); // allow policies exist, but none allowed
 * ```
 */
export function assertRbac(store: WorkloadStore, workload: Workload, conn: RbacConnection): RbacDecision {
  return evaluateL4({ store, workload, connection: conn });
}
