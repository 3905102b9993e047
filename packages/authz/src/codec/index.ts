/**
 * `@ambient-kit/authz/codec`: the pure engine, without any Node runtime (no `node:` imports, no I/O, no
 * timers). Parse and validate AuthorizationPolicy, RequestAuthentication and PeerAuthentication documents,
 * check JWTs as Envoy's `jwt_authn` does (keys inline or from a {@link JwksSource}), and decide requests
 * exactly as ztunnel (L4) and Envoy (sidecar, gateway, waypoint) do. istiod's translation for ztunnel and the
 * L4 decision on `istio.security.Authorization` resources are at `@ambient-kit/authz/l4`.
 * @module
 */

export {
  type AppliedJwtRule,
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
  hasRe2Meta,
  IDENTITY_REGEX_MODES,
  type IdentityRegexMode,
  re2FullMatch,
} from '../engine/identity-regex.js';
export { parseIpBlock } from '../engine/ip-block.js';
export {
  hasUnknownKid,
  type JwksKeySet,
  MAX_JWKS_BYTES,
  PUBLIC_ONLY_JWKS,
  parseJwks,
  verifyJwtSignature,
} from '../engine/jwks.js';
export {
  type AuthenticateJwtOptions,
  authenticateJwt,
  type JwksSource,
  type JwtAuthnRequest,
  type JwtAuthnResult,
  removeQueryParam,
} from '../engine/jwt-authn.js';
export {
  JWT_STATUS_MESSAGES,
  type JwtStatus,
  jwtRealm,
  jwtStatusHttpCode,
  REALM_MAX_PATH_LENGTH,
  wwwAuthenticate,
} from '../engine/jwt-status.js';
export {
  audienceChecker,
  checkJwtTime,
  decodeBase64Url,
  IMPLEMENTED_JWT_ALGS,
  JWT_CLOCK_SKEW_SECONDS,
  MAX_JWT_LENGTH,
  type ParsedJwt,
  parseJwt,
} from '../engine/jwt-token.js';
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
  comparePeerAuthentications,
  type EffectiveMutualTlsMode,
  type EffectivePeerAuthentication,
  effectivePeerAuthentication,
  isNamespaceWide,
  MUTUAL_TLS_MODES,
  type MutualTls,
  type MutualTlsMode,
  mtlsModeForPort,
  type PeerAuthentication,
  type PeerAuthenticationSpec,
  validatePeerAuthentication,
} from '../engine/peer-authentication.js';
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
  type ClaimToHeader,
  type JwtHeaderLocation,
  type JwtRule,
  parseDurationMs,
  type RequestAuthentication,
  type RequestAuthenticationSpec,
  validateRequestAuthentication,
} from '../engine/request-authentication.js';
export { type OriginFormTarget, originFormTarget } from '../engine/request-target.js';
export {
  groupSecurityPolicies,
  isAuthorizationPolicy,
  isPeerAuthentication,
  isRequestAuthentication,
  SECURITY_POLICY_KINDS,
  type SecurityPolicies,
  type SecurityPolicy,
  validateSecurityPolicies,
  validateSecurityPolicy,
} from '../engine/security-policy.js';
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
export { L4_WHEN_KEYS, type ZtunnelSkipReason } from '../engine/ztunnel-translate.js';
