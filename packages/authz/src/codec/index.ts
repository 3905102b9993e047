/**
 * `@ambient-kit/authz/codec`: the pure AuthorizationPolicy engine, without any Node runtime (no `node:`
 * imports, no I/O, no timers). Parse and validate policies, translate them for ztunnel, and decide requests
 * exactly as ztunnel (L4) and Envoy (sidecar, gateway, waypoint) do.
 * @module
 */

export {
  createPolicyEngine,
  type ExplainEntry,
  type Explanation,
  type PolicyEngine,
  type PolicyEngineOptions,
} from '../engine/engine.js';
export {
  AUTHZ_ERROR_CODES,
  type AuthzErrorCode,
  PolicyError,
  type PolicyErrorOptions,
} from '../engine/errors.js';
export {
  canonicalIp,
  compilePrefix,
  type IpAddress,
  type IpPrefix,
  ipBytes,
  parseIp,
  parseIpBlock,
  parsePrefix,
  prefixContains,
} from '../engine/ip.js';
export {
  type ExtensionProvider,
  type MeshConfig,
  type ResolvedMeshConfig,
  resolveMeshConfig,
} from '../engine/mesh.js';
export {
  DEFAULT_MAX_POLICY_BYTES,
  type ParsePoliciesOptions,
  parsePolicies,
  parsePolicyObjects,
} from '../engine/parse.js';
export {
  canonicalizePath,
  mergeSlashes,
  type NormalizedPath,
  normalizeRequestPath,
  type PathNormalization,
  stripQueryAndFragment,
  unescapeSlashes,
} from '../engine/path.js';
export { checkPathTemplate, compilePathTemplate, containsPathTemplate } from '../engine/path-template.js';
export {
  AUTHORIZATION_ACTIONS,
  type AuthorizationAction,
  type AuthorizationPolicy,
  type AuthorizationPolicySpec,
  type Condition,
  DRY_RUN_ANNOTATION,
  GATEWAY_NAME_LABEL,
  isDryRun,
  type Operation,
  type PolicyMetadata,
  type PolicyTargetReference,
  parseGoBool,
  policyKey,
  type Rule,
  type RuleFrom,
  type RuleTo,
  type Source,
  targetRefsOf,
  type WorkloadSelector,
} from '../engine/policy.js';
export type {
  AuthzRequest,
  Decision,
  DestinationService,
  EvaluateHooks,
  EvaluateInput,
  ExtAuthzAnswer,
  Workload,
  WorkloadKind,
} from '../engine/request.js';
export {
  type Attachment,
  attachment,
  lookupNamespaces,
  type NotAttachedReason,
  selects,
} from '../engine/selection.js';
export { expandTrustDomainAliases, replaceTrustDomainAliases } from '../engine/trust-domain.js';
export {
  POLICY_API_VERSIONS,
  type ValidateOptions,
  validatePolicies,
  validatePolicy,
} from '../engine/validate.js';
export { type CompiledL4Policy, compileL4Policy, type L4Connection } from '../engine/ztunnel-match.js';
export {
  isZtunnelMatchEmpty,
  L4_WHEN_KEYS,
  translateForZtunnel,
  type ZtunnelAddress,
  type ZtunnelAuthorization,
  type ZtunnelGroup,
  type ZtunnelMatch,
  type ZtunnelRules,
  type ZtunnelScope,
  type ZtunnelServiceAccountMatch,
  type ZtunnelSkipReason,
  type ZtunnelStringMatch,
  type ZtunnelTranslateOptions,
  type ZtunnelTranslation,
} from '../engine/ztunnel-translate.js';
