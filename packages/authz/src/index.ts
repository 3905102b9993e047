/**
 * `@ambient-kit/authz`: Istio AuthorizationPolicy for Node. The pure engine (also at `./codec`), plus the
 * Node runtime: an HTTP middleware that authorizes by the mTLS peer, and a policy file that reloads itself.
 * @module
 */

export * from './codec/index.js';
export {
  type AuthzMiddleware,
  type AuthzMiddlewareOptions,
  createAuthzMiddleware,
  type FastifyLikeReply,
  type FastifyLikeRequest,
  type NodeHttpResponse,
  RBAC_DENIED_BODY,
} from './http/middleware.js';
export {
  authzRequestFromHttp,
  type HttpRequestOptions,
  type NodeHttpRequest,
} from './http/request-from-http.js';
export {
  type PolicyFileWatcher,
  type PolicySource,
  type WatchPolicyFileOptions,
  watchPolicyFile,
} from './runtime/policy-file.js';
