/**
 * `@ambient-kit/example-ztunnel`: an example ztunnel assembled from the ambient-kit packages, as a library
 * (`createZtunnel`) and a program (`main.ts`). Everything a node proxy needs is here in small pieces a
 * custom proxy can reuse: the L4 policy check, the outbound path, SOCKS5, ztunnel's metrics and access log.
 * @module
 */
export { type AccessLogEntry, accessLogRecord, formatAccessLog } from './access-log.js';
export { loadOrCreateCaDir } from './ca-dir.js';
export {
  type CaClient,
  type CertDump,
  type CertificateDump,
  type CertificateManager,
  type CertificateState,
  caClientFromAuthority,
  caClientFromIstioCa,
  createCertificateManager,
} from './certificates.js';
export {
  type ResolvedZtunnelConfig,
  resolveZtunnelConfig,
  type WorkloadSource,
  ZTUNNEL_PORTS,
  type ZtunnelConfig,
  type ZtunnelMode,
  type ZtunnelPorts,
} from './config.js';
export {
  type ConnectionFailure,
  type ConnectionResult,
  type ConnectionResultInit,
  logEarlyFailure,
  openConnection,
} from './connection-result.js';
export {
  type CaSource,
  CONTROL_PLANE_FLAG_OPTIONS,
  CONTROL_PLANE_HELP,
  type ControlPlaneSettings,
  DEFAULT_ROOT_CERT_PATH,
  DEFAULT_TOKEN_PATH,
  hostPortWithScheme,
  parseControlPlaneFlags,
  parseDurationMs,
  parseXdsEndpoint,
  type TokenSource,
  type XdsEndpoint,
} from './control-plane-flags.js';
export { openIdentity, type ProxyIdentity, xdsWorkloadSource } from './control-plane-identity.js';
export { type DialTcpOptions, dialTcp } from './dial.js';
export {
  type InboundContext,
  type InboundServer,
  startInboundServer,
  type TrackedConnection,
} from './inbound.js';
export { INPOD_MARK, type InpodContext, type InpodListeners, startInpodListeners } from './inpod.js';
export {
  formatLogRecord,
  type LogLevel,
  type LogRecord,
  type LogValue,
  nowMs,
  streamLogger,
  type ZtunnelLogger,
} from './logger.js';
export { resolveHostname, resolveMeshHostname, searchNames } from './mesh-dns.js';
export {
  type MeshFileShape,
  meshFileWarner,
  meshFileWarnings,
  unattachedSelectorPolicies,
} from './mesh-warnings.js';
export {
  type ConnectionOpen,
  createZtunnelMetrics,
  type DerivedWorkload,
  type Reporter,
  type ResponseFlag,
  TRAFFIC_LABEL_NAMES,
  type TrafficLabels,
  trafficLabels,
  type ZtunnelMetrics,
} from './metrics.js';
export {
  type OutboundContext,
  type OutboundHooks,
  type OutboundRefusal,
  type OutboundRequest,
  proxyOutbound,
} from './outbound.js';
export {
  defaultCaDir,
  oneLine,
  oneOf,
  parseFlags,
  type RunProgramOptions,
  runProgram,
  UsageError,
  userPath,
} from './program.js';
export { assertRbac, type RbacConnection, type RbacDecision } from './rbac.js';
export { type AdminHandlers, createAdminServer } from './servers/admin-server.js';
export { closeServer, listen } from './servers/listen.js';
export { createMetricsServer, metricsContentType } from './servers/metrics-server.js';
export { createReadinessServer } from './servers/readiness-server.js';
export { type ConnectSocks5Options, connectSocks5, replyText } from './socks5-client.js';
export {
  encodeSocks5Greeting,
  encodeSocks5Reply,
  encodeSocks5Request,
  MAX_SOCKS5_GREETING_BYTES,
  MAX_SOCKS5_REQUEST_BYTES,
  parseSocks5Greeting,
  parseSocks5Reply,
  parseSocks5Request,
  SOCKS5_REPLY,
  type Socks5Parse,
  type Socks5ReplyCode,
  type Socks5Target,
} from './socks5-codec.js';
export { readSocks5Message, Socks5Error } from './socks5-io.js';
export { type Socks5Context, serveSocks5 } from './socks5-server.js';
export { baggageOf, derivedSource } from './workload-meta.js';
export {
  createZtunnel,
  ZTUNNEL_EXAMPLE_VERSION,
  type Ztunnel,
  type ZtunnelAddresses,
} from './ztunnel.js';
