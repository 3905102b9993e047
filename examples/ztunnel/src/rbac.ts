/**
 * L4 authorization at the destination ztunnel: ztunnel's `assert_rbac` (`zt:src/state.rs`) over the
 * `istio.security.Authorization` resources the ztunnel received over xDS, matched with
 * `@ambient-kit/authz`'s `compileL4Policy` (ztunnel `src/rbac.rs` `Authorization::matches`; authz.md §10).
 *
 * Why the translated resources and not the AuthorizationPolicy CRDs: a ztunnel never sees the CRDs. istiod
 * translates them (dropping HTTP rules, narrowing ALLOWs, keeping only the L4 part of DENYs) and pushes the
 * result over the workload API; policies written in ztunnel's own form (a `LOCAL_XDS_PATH` file) exist only
 * that way. Enforcing what arrived over xDS is what makes a policy edit take effect on the next connection,
 * and is exactly what ztunnel does.
 * @module
 */
import {
  type CompiledL4Policy,
  compileL4Policy,
  type IpAddress,
  type L4Connection,
  parseIp,
  type ZtunnelAddress,
  type ZtunnelAuthorization,
} from '@ambient-kit/authz';
import {
  ipToBytes,
  type Authorization as Policy,
  type IpPrefix as PolicyIpPrefix,
  type Workload,
  type WorkloadStore,
} from '@ambient-kit/workload-api';
import { unmappedIp } from './unmapped-ip.js';

/** A connection as the destination ztunnel's RBAC sees it (ztunnel `rbac::Connection`). */
export interface RbacConnection {
  /** The client's SPIFFE ID from its verified certificate; `undefined` for plaintext (15006). */
  readonly srcIdentity: string | undefined;
  /** The client IP (the HBONE peer's address). */
  readonly srcIp: string;
  /** The destination workload IP. */
  readonly dstIp: string;
  /** The destination (target) port. */
  readonly dstPort: number;
}

/** The outcome of {@link assertRbac}. */
export type RbacDecision =
  | { readonly allow: true; readonly policy?: string }
  | {
      readonly allow: false;
      /** ztunnel's `AuthorizationRejectionError` text: `explicitly denied by: ns/name` or `allow policies exist, but none allowed`. */
      readonly reason: string;
      readonly policy?: string;
    };

const compiled = new WeakMap<Policy, CompiledL4Policy>();

// The model keeps canonical IP text; the Authorization carries the bytes (istio.security.Address).
function addresses(list: readonly PolicyIpPrefix[]): ZtunnelAddress[] {
  const out: ZtunnelAddress[] = [];
  for (const prefix of list) {
    const address = ipToBytes(prefix.address);
    if (address !== undefined) out.push({ address, length: prefix.length });
  }
  return out;
}

/**
 * The store's policy model in authz's `istio.security.Authorization` shape (same nesting and names; IPs as
 * bytes).
 *
 * @param policy - A policy from the workload store.
 * @returns The Authorization `compileL4Policy` takes.
 * @example
 * ```ts
 * compileL4Policy(toZtunnelAuthorization(store.policy('default/allow-sleep')!));
 * ```
 */
export function toZtunnelAuthorization(policy: Policy): ZtunnelAuthorization {
  return {
    name: policy.name,
    namespace: policy.namespace,
    scope:
      policy.scope === 'Global' ? 'GLOBAL' : policy.scope === 'Namespace' ? 'NAMESPACE' : 'WORKLOAD_SELECTOR',
    action: policy.action === 'Deny' ? 'DENY' : 'ALLOW',
    dryRun: policy.dryRun,
    groups: policy.groups.map((group) => ({
      rules: group.rules.map((rule) => ({
        matches: rule.matches.map((m) => ({
          namespaces: m.namespaces,
          notNamespaces: m.notNamespaces,
          serviceAccounts: m.serviceAccounts,
          notServiceAccounts: m.notServiceAccounts,
          principals: m.principals,
          notPrincipals: m.notPrincipals,
          sourceIps: addresses(m.sourceIps),
          notSourceIps: addresses(m.notSourceIps),
          destinationIps: addresses(m.destinationIps),
          notDestinationIps: addresses(m.notDestinationIps),
          destinationPorts: m.destinationPorts,
          notDestinationPorts: m.notDestinationPorts,
        })),
      })),
    })),
  };
}

// A store replaces a policy object when the policy changes, so caching by object never goes stale.
function matcherOf(policy: Policy): CompiledL4Policy {
  let m = compiled.get(policy);
  if (m === undefined) {
    m = compileL4Policy(toZtunnelAuthorization(policy));
    compiled.set(policy, m);
  }
  return m;
}

const ISTIO_IDENTITY = /^spiffe:\/\/[^/]+\/ns\/([^/]+)\/sa\/([^/]+)$/;

/**
 * The connection in the form authz's matcher reads.
 *
 * @param conn - The connection.
 * @returns An `L4Connection`.
 * @example
 * ```ts
 * l4Connection({ srcIdentity: 'spiffe://cluster.local/ns/default/sa/sleep', srcIp: '10.0.0.1', dstIp: '10.0.0.2', dstPort: 8080 });
 * ```
 */
export function l4Connection(conn: RbacConnection): L4Connection {
  const id = conn.srcIdentity;
  const parts = id === undefined ? null : ISTIO_IDENTITY.exec(id);
  const ip = (text: string): IpAddress | undefined => parseIp(unmappedIp(text));
  return {
    srcIp: ip(conn.srcIp),
    dstIp: ip(conn.dstIp),
    dstPort: conn.dstPort,
    principalWithoutScheme: id?.startsWith('spiffe://') ? id.slice('spiffe://'.length) : undefined,
    identityNamespace: parts?.[1] ?? '',
    identityServiceAccount: parts?.[2] ?? '',
    identityParsed: parts !== null && parts !== undefined,
  };
}

/**
 * ztunnel's `assert_rbac`: the policies of the destination's namespace, the global ones and the workload's
 * own; DENY first ("if any DENY policy matches, deny"), then "no ALLOW policy: allow", then "any ALLOW
 * matches: allow", else deny. Dry-run policies never decide.
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
  const policies = store.policiesFor(workload).filter((p) => !p.dryRun);
  const l4 = l4Connection(conn);
  for (const policy of policies) {
    if (policy.action === 'Deny' && matcherOf(policy).matchGroup(l4) >= 0) {
      return { allow: false, reason: `explicitly denied by: ${policy.key}`, policy: policy.key };
    }
  }
  const allows = policies.filter((p) => p.action === 'Allow');
  if (allows.length === 0) return { allow: true };
  for (const policy of allows) {
    if (matcherOf(policy).matchGroup(l4) >= 0) return { allow: true, policy: policy.key };
  }
  return { allow: false, reason: 'allow policies exist, but none allowed' };
}
