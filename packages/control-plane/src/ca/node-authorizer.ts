/**
 * Who may ask for a certificate on behalf of someone else: istiod's node authorizer
 * (istio/istio@0c1bd353:security/pkg/server/ca/node_auth.go). A node proxy (ztunnel) holds the
 * certificates of the workloads on its node, so it asks for them with `ImpersonatedIdentity`; istiod allows
 * that only for the accounts in `CA_TRUSTED_NODE_ACCOUNTS`, only for a well-formed Istio identity, and only
 * for an identity that has a pod on the caller's node. Every refusal reaches the caller as the same opaque
 * UNAUTHENTICATED; the reason is for the server's log.
 * @module
 */
import { parseIstioIdentity } from '@ambient-kit/spiffe/codec';
import { err, ok, type Result } from 'neverthrow';
import type { CaCaller } from './authenticator.js';

/** A Kubernetes service account. */
export interface ServiceAccountRef {
  readonly namespace: string;
  readonly serviceAccount: string;
}

/**
 * Whether a workload of this service account runs on this node (istiod asks its pod index, keyed by
 * node and service account).
 */
export type NodeWorkloadLookup = (node: string, account: ServiceAccountRef) => boolean;

/** Options of {@link createNodeAuthorizer}. */
export interface NodeAuthorizerOptions {
  /** `CA_TRUSTED_NODE_ACCOUNTS`. Empty: nobody may impersonate (istiod without the setting). */
  readonly trustedNodeAccounts: readonly ServiceAccountRef[];
  /** The CA's trust domain: an identity of another trust domain is never impersonated. */
  readonly trustDomain: string;
  /**
   * The per-node check. Applied when the caller's node is known (a token-file line with a node); without
   * a lookup, or for a caller whose node is unknown, a trusted account may impersonate any identity of the
   * trust domain. istiod always knows the node (from the pod the token is bound to).
   */
  readonly workloadOnNode?: NodeWorkloadLookup;
}

/** Decides whether a caller may ask for another identity. */
export interface NodeAuthorizer {
  /**
   * @param caller - The authenticated caller.
   * @param requested - The `ImpersonatedIdentity` value.
   * @returns The identity to issue, or why not.
   */
  authorize(caller: CaCaller, requested: string): Result<string, string>;
}

/**
 * Creates the node authorizer.
 *
 * @param options - Trusted accounts, trust domain, per-node lookup.
 * @returns The authorizer.
 * @example
 * ```ts
 * const nodes = createNodeAuthorizer({
 *   trustedNodeAccounts: [{ namespace: 'istio-system', serviceAccount: 'ztunnel' }],
 *   trustDomain: 'cluster.local',
 *   workloadOnNode: (node, sa) => [...store.workloads()].some((w) => w.node === node && w.namespace === sa.namespace && w.serviceAccount === sa.serviceAccount),
 * });
 * ```
 */
export function createNodeAuthorizer(options: NodeAuthorizerOptions): NodeAuthorizer {
  const trusted = new Set(options.trustedNodeAccounts.map((a) => `${a.namespace}/${a.serviceAccount}`));
  return {
    authorize(caller, requested) {
      if (trusted.size === 0)
        return err(
          'impersonation is not allowed: no trusted node accounts (CA_TRUSTED_NODE_ACCOUNTS) are set',
        );
      const account = `${caller.namespace}/${caller.serviceAccount}`;
      if (!trusted.has(account)) return err(`caller ${account} is not a trusted node account`);
      const id = parseIstioIdentity(requested);
      if (id.isErr())
        return err(`impersonated identity ${JSON.stringify(requested.slice(0, 300))}: ${id.error.message}`);
      if (id.value.trustDomain.name !== options.trustDomain)
        return err(`impersonated identity ${requested} is not in trust domain ${options.trustDomain}`);
      if (caller.node !== undefined && options.workloadOnNode !== undefined) {
        const wanted = { namespace: id.value.namespace, serviceAccount: id.value.serviceAccount };
        if (!options.workloadOnNode(caller.node, wanted))
          return err(
            `no instances of ${wanted.namespace}/${wanted.serviceAccount} found on node ${caller.node} (caller ${account})`,
          );
      }
      return ok(requested);
    },
  };
}
