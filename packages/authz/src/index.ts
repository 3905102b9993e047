/**
 * `@ambient-kit/authz`: Istio AuthorizationPolicy, RequestAuthentication and PeerAuthentication for Node. The
 * pure engine (also at `./codec`), plus the Node runtime: an HTTP middleware that applies all three as Envoy
 * does (mTLS peer, JWT, RBAC), `authenticateRequest` for other proxies, a JWKS resolver with istiod's
 * refresh semantics, and a policy file that reloads itself.
 * @module
 */

export * from './codec/index.js';
export {
  type AuthenticateRequestOptions,
  type AuthenticateRequestResult,
  authenticateRequest,
  type HttpRequestHead,
  type RequestAuthn,
  requestAuthnFromClaims,
} from './http/authenticate-request.js';
export {
  type AuthzMiddleware,
  type AuthzMiddlewareOptions,
  createAuthzMiddleware,
  type FastifyLikeReply,
  type FastifyLikeRequest,
  getRequestAuthn,
  type NodeHttpResponse,
  RBAC_DENIED_BODY,
} from './http/middleware.js';
export {
  authzRequestFromHttp,
  type HttpRequestOptions,
  type NodeHttpRequest,
  requestTargetOf,
} from './http/request-from-http.js';
export { createJwksResolver, type JwksResolver, type JwksResolverOptions } from './runtime/jwks-resolver.js';
export {
  type PolicyFileWatcher,
  type PolicySource,
  type WatchPolicyFileOptions,
  watchPolicyFile,
} from './runtime/policy-file.js';
