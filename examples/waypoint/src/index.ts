/**
 * `@ambient-kit/example-waypoint`: an Istio ambient waypoint assembled from the ambient-kit packages: HBONE
 * in; HTTP/1.1, HTTP/2 (h2c) and gRPC inside; RequestAuthentication, AuthorizationPolicy, routing and
 * DestinationRule policies; HBONE out to the chosen pod; Istio's access log, metrics, admin and readiness
 * ports; a graceful drain.
 * @module
 */
export { formatWaypointAccessLog, type WaypointAccessLogEntry } from './access-log.js';
export { type AdminSource, createAdminServer, createMetricsServer, createReadinessServer } from './admin.js';
export { buildConfigDump, type ConfigDumpInput } from './config-dump.js';
export {
  type L7ConfigSource,
  type L7ConfigWatcher,
  staticL7Config,
  type WatchL7ConfigOptions,
  watchL7Config,
} from './config-watcher.js';
export {
  createEndpointDirectory,
  type EndpointDirectory,
  endpointLabels,
  findDestination,
  type ResolvedEndpoint,
  servesDestination,
  usesWaypoint,
  type WaypointDestination,
} from './destination.js';
export {
  type Downstream,
  type DownstreamAnswer,
  type DownstreamOutcome,
  forwardableRequestHeaders,
  forwardableResponseHeaders,
  fromHttp1,
  fromHttp2,
} from './downstream.js';
export {
  WAYPOINT_ERROR_CODES,
  type WaypointConfigIssue,
  WaypointError,
  type WaypointErrorCode,
} from './errors.js';
export {
  DEFAULT_MAX_CONFIG_BYTES,
  type L7Config,
  type L7ConfigOptions,
  parseL7Config,
  type SkippedObject,
} from './l7-config.js';
export {
  createWaypointLogger,
  isLogLevel,
  LOG_LEVELS,
  LOGGER_NAMES,
  type LoggerName,
  type LogLevel,
  type WaypointLogger,
} from './logger.js';
export {
  createWaypointMetrics,
  ENVOY_DEFAULT_BUCKETS,
  type PeerMetadata,
  REQUEST_LABEL_NAMES,
  type RequestLabels,
  type RequestRecord,
  type WaypointMetrics,
} from './metrics.js';
export { createTcpHandler, createUpgradeHandler } from './passthrough.js';
export {
  convertProtocol,
  fromWdsAppProtocol,
  isHttpProtocol,
  type ListenerMode,
  listenerMode,
  parseProtocol,
  type ServiceProtocol,
  upstreamHttpVersion,
} from './protocol.js';
export { createRequestBody, DEFAULT_BODY_BUFFER_BYTES, type RequestBody } from './request-body.js';
export {
  createRequestHandler,
  grpcMessage,
  parseGrpcTimeout,
  type RequestHandler,
  type RequestHandlerDeps,
  rbacDetails,
  servicePortProtocol,
  type WaypointRequestInput,
  waypointAuthzRequest,
} from './request-handler.js';
export { H2_PREFACE, MAX_SNIFF_BYTES, type SniffResult, sniffProtocol } from './sniff.js';
export { namespaceOf, sourceMetadata, type TunnelInfo, tunnelInfo, workloadMetadata } from './tunnel.js';
export {
  createUpstreamPool,
  type UpstreamAnswer,
  type UpstreamEndpoint,
  type UpstreamPool,
  type UpstreamPoolOptions,
  type UpstreamPoolStats,
  type UpstreamRequestInit,
} from './upstream.js';
export {
  createWaypoint,
  type DrainResult,
  type Waypoint,
  type WaypointAddresses,
  type WaypointOptions,
  type WaypointState,
  waypointPolicyWorkload,
} from './waypoint.js';
