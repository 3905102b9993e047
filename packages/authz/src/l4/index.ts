/**
 * `@ambient-kit/authz/l4`: Istio authorization at L4, on the `istio.security.Authorization` resources istiod
 * sends ztunnel, in `@ambient-kit/workload-api`'s `Authorization` model. istiod's translation of
 * AuthorizationPolicy and PeerAuthentication into those resources, and ztunnel's decision per connection
 * (`evaluateL4`), for a custom proxy that enforces L4 policy as ztunnel does. Pure: no `node:` imports.
 *
 * This entry point needs the optional peer `@ambient-kit/workload-api` for its types (nothing of it is loaded
 * at run time); the engine and the HTTP middleware (`.` and `./codec`) do not.
 *
 * @example
 * ```ts
 * import { evaluateL4 } from '@ambient-kit/authz/l4';
 *
 * const decision = evaluateL4({
 *   store, workload, // a workload-api WorkloadStore fed over xDS, and the destination workload
 *   connection: { srcIdentity: peerId, srcIp: '10.0.0.1', dstIp: '10.0.0.2', dstPort: 8080 },
 * });
 * if (!decision.allow) console.log(decision.reason); // 'explicitly denied by: default/deny-sleep'
 * ```
 * @module
 */

export {
  type CompileL4Options,
  compileL4Policies,
  type EvaluateL4Input,
  evaluateL4,
  type L4Authorizer,
  type L4Connection,
  type L4Decision,
  type L4PolicySource,
  type L4Result,
  selectL4Policies,
} from '../engine/evaluate-l4.js';
export {
  CONVERTED_PEER_AUTHENTICATION_PREFIX,
  type ConvertedPeerAuthentication,
  convertPeerAuthentication,
  STATIC_STRICT_POLICY_NAME,
  staticStrictPolicy,
  translatePeerAuthenticationsForZtunnel,
  type ZtunnelPeerAuthentication,
} from '../engine/peer-authentication-ztunnel.js';
export {
  isEmptyMatch,
  L4_WHEN_KEYS,
  translateForZtunnel,
  type ZtunnelSkipReason,
  type ZtunnelTranslateOptions,
  type ZtunnelTranslation,
} from '../engine/ztunnel-translate.js';
