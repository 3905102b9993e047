/**
 * `@ambient-kit/control-plane`: istiod's role for an ambient mesh, as a library and a program
 * (`ambient-control-plane`). A mesh file (ztunnel's local config plus Kubernetes AuthorizationPolicies) is
 * parsed, translated as istiod translates it, applied to a `@ambient-kit/workload-api` store and watched;
 * {@link startControlPlane} serves that store over delta xDS and the Istio CA
 * (`istio.v1.auth.IstioCertificateService`) on one TLS port, every call authenticated by a bearer token.
 * Everything in `./codec` is re-exported.
 *
 * @example
 * ```ts
 * import { createTokenFileAuthenticator, loadPluggedCa, startControlPlane, watchMeshFile } from '@ambient-kit/control-plane';
 * import { createWorkloadStore } from '@ambient-kit/workload-api';
 *
 * const store = createWorkloadStore();
 * await watchMeshFile({ path: 'mesh.yaml', store });
 * const cp = await startControlPlane({
 *   listen: '0.0.0.0:15012',
 *   ca: await loadPluggedCa('/etc/cacerts'),
 *   authenticators: [await createTokenFileAuthenticator({ path: 'tokens', trustDomain: 'cluster.local' })],
 *   store,
 * });
 * ```
 * @module
 */
export {
  type AuthenticationRequest,
  type Authenticator,
  bearerToken,
  type CaCaller,
  clusterIdOf,
  createTokenAuthenticator,
  type TokenAuthenticator,
  type TokenAuthenticatorOptions,
} from './ca/authenticator.js';
export { type BearerTokenInterceptorOptions, bearerTokenInterceptor } from './ca/bearer-interceptor.js';
export {
  createIstioCertificateService,
  type IstioCertificateService,
  type IstioCertificateServiceOptions,
} from './ca/ca-service.js';
export {
  type CreateIstioCaOptions,
  createIstioCa,
  ISTIOD_DNS_NAMES,
  type IstioCa,
  type IstioCaSigned,
  type IstioCaSignOptions,
  type ServingCertificate,
  type ServingCertificateOptions,
  splitCertificates,
} from './ca/istio-ca.js';
export {
  createNodeAuthorizer,
  type NodeAuthorizer,
  type NodeAuthorizerOptions,
  type NodeWorkloadLookup,
  type ServiceAccountRef,
} from './ca/node-authorizer.js';
export { loadPluggedCa, PLUGGED_CA_FILES, type PluggedCa, type PluggedCaOptions } from './ca/plugged-ca.js';
export {
  createTokenFileAuthenticator,
  type TokenFileAuthenticator,
  type TokenFileAuthenticatorOptions,
} from './ca/token-file-authenticator.js';
export {
  CONTROL_PLANE_HELP,
  type ControlPlaneCliOptions,
  parseControlPlaneArgs,
  parseDuration,
  UsageError,
} from './cli/options.js';
export {
  type ControlPlaneCliIo,
  describeMesh,
  PROGRAM,
  runControlPlaneCli,
} from './cli/run-control-plane.js';
export * from './codec/index.js';
export {
  type CaIssuedEvent,
  type CallbackErrorEvent,
  type CallRefusedEvent,
  type CaRefusedEvent,
  CONTROL_PLANE_CHANNELS,
  type MeshFileErrorEvent,
  type MeshFileLoadedEvent,
  type TokensErrorEvent,
  type TokensLoadedEvent,
} from './diagnostics.js';
export {
  loadMeshFile,
  type MeshFileEvents,
  type MeshFileWatcher,
  type WatchMeshFileOptions,
  watchMeshFile,
} from './mesh-file-watcher.js';
export {
  type ControlPlane,
  type ControlPlaneOptions,
  DEFAULT_TLS_LISTEN,
  startControlPlane,
} from './server/control-plane.js';
export {
  createServingCertificateProvider,
  type ServingCertificateInfo,
  type ServingCertificateProvider,
  type ServingCertificateSource,
} from './server/serving-certificate.js';
