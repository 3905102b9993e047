/**
 * `@ambient-kit/routing/codec`: the pure routing layer, without any Node runtime (no `node:` imports, no
 * I/O, no timers). Parse and validate HTTPRoute, GRPCRoute, VirtualService, DestinationRule and Service
 * resources as the Kubernetes API server and istiod do, compile them into indexed route tables, and decide
 * requests exactly as an Istio waypoint's Envoy routes them.
 * @module
 */

export { type CompileOptions, compileRouting, resolveHost, splitHostname } from './compile.js';
export type {
  Action,
  BackendTarget,
  CompiledRouting,
  Entry,
  GroupTables,
  RoutingConflict,
  ServiceInfo,
  ServiceRouting,
  Table,
} from './compiled.js';
export {
  decide,
  defaultForward,
  findEntry,
  httpToGrpcStatus,
  replacePrefixMatch,
  selectTable,
  shadowAuthority,
  splitAuthority,
} from './decide.js';
export { checkIstioDuration, parseGatewayDuration, parseGoDuration } from './duration.js';
export {
  collectIssues,
  ROUTING_ERROR_CODES,
  RoutingError,
  type RoutingErrorCode,
  type RoutingErrorOptions,
} from './errors.js';
export type { GrpcRouteResource, HttpRouteResource, ParentReference } from './gateway-api.js';
export {
  type DestinationRuleResource,
  GRPC_STATUS,
  hostMatches,
  RETRY_ON_POLICIES,
  type VirtualServiceResource,
} from './istio-networking.js';
export type { ObjectMeta, ServiceResource } from './kubernetes.js';
export { headerValue, type MatchContext, matchContext, parseQuery, segmentPrefixMatches } from './match.js';
export { buildPathIndex, type IndexKey, type PathIndex } from './path-index.js';
export { compileRe2, MAX_REGEX_LENGTH, type Re2 } from './regex.js';
export {
  DEFAULT_MAX_RESOURCE_BYTES,
  DEFAULT_MAX_RESOURCES,
  type ParseRouteResourcesOptions,
  parseRouteResources,
  type RouteResource,
  validateRouteResources,
} from './resources.js';
export {
  type AttemptResult,
  backoffMs,
  DEFAULT_BACKOFF_BASE_MS,
  ISTIO_DEFAULT_RETRY_ON,
  ISTIO_DEFAULT_RETRY_POLICY,
  parseRetryOn,
  wouldRetry,
} from './retry-policy.js';
export {
  type ConnectionPoolPolicy,
  type EffectivePolicy,
  effectivePolicy,
  type LoadBalancerPolicy,
  type OutlierPolicy,
  UNLIMITED,
} from './traffic-policy.js';
export type {
  Backend,
  DirectDecision,
  ForwardDecision,
  MirrorTarget,
  RandomSource,
  RedirectDecision,
  RequestHeaders,
  ResponseFlag,
  ResponseHeaderOps,
  RetryPolicy,
  RouteDecision,
  RouteRequest,
  RouteSource,
} from './types.js';
