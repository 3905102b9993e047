/**
 * `@ambient-kit/workload-api/codec`: the pure layer. The generated protobuf schemas for `istio.workload`,
 * `istio.security` and delta xDS (ZDS, istio-cni's protocol, is `@ambient-kit/redirect`'s); decode -> validate -> model for workloads,
 * services and policies (ztunnel's defaults and rejects, every problem collected); IP helpers; resource
 * names and type URLs. No `node:` imports, no timers, no sockets.
 *
 * @example
 * ```ts
 * import { fromBinary, toBinary } from '@bufbuild/protobuf';
 * import { AddressSchema, decodeAddress } from '@ambient-kit/workload-api/codec';
 *
 * const res = decodeAddress(bytesFromIstiod);
 * if (res.isOk() && res.value.kind === 'workload') console.log(res.value.identity);
 * const raw = fromBinary(AddressSchema, bytesFromIstiod); // the generated message, unvalidated
 * toBinary(AddressSchema, raw);
 * ```
 * @module
 */
export {
  type Authorization,
  type AuthorizationAction,
  type AuthorizationGroup,
  type AuthorizationInit,
  type AuthorizationMatch,
  type AuthorizationRules,
  type AuthorizationScope,
  createAuthorization,
  type ServiceAccountMatch,
  type StringMatch,
} from './authorization.js';
export {
  addressFromProto,
  addressToProto,
  DEFAULT_MAX_RESOURCE_BYTES,
  type DecodeOptions,
  decodeAddress,
  decodeAuthorization,
  decodeResource,
  encodeAddress,
  encodeAuthorization,
} from './decode.js';
export {
  type RouteError,
  type RouteErrorCode,
  type ValidationIssue,
  WORKLOAD_API_ERROR_CODES,
  WorkloadApiError,
  type WorkloadApiErrorCode,
} from './errors.js';
export {
  canonicalIp,
  cidrContains,
  formatSocketAddress,
  type IpPrefix,
  ipFromBytes,
  ipToBytes,
  isIpv6,
  isLoopback,
  parseCidr,
  parseSocketAddress,
  type SocketAddress,
} from './ip.js';
export { createInterner, createIssueList, type IssueList } from './issues.js';
export {
  type AppProtocolName,
  type ConvertOptions,
  type ExtensionConfig,
  type GatewayAddress,
  type GatewayDestination,
  type NamespacedHostname,
  type NetworkAddress,
  type NetworkCidr,
  networkAddressKey,
  type PortMapping,
  parseNamespacedHostname,
} from './network.js';
export {
  ADDRESS_TYPE_URL,
  type AddressResource,
  AUTHORIZATION_TYPE_URL,
  type MeshResource,
  resourceAliases,
  resourceName,
  WORKLOAD_TYPE_URL,
} from './resource.js';
export * from './schemas.js';
export {
  createService,
  type IpFamily,
  type LoadBalancer,
  type LoadBalancerHealthPolicy,
  type LoadBalancerMode,
  type LoadBalancerScope,
  type Service,
  type ServiceInit,
  serviceFromProto,
  serviceToProto,
  type Visibility,
  type WeightedWaypoint,
} from './service.js';
export {
  type ApplicationTunnel,
  createWorkload,
  type HealthStatus,
  type InboundProtocol,
  type Locality,
  type NetworkModeName,
  WORKLOAD_DEFAULTS,
  type Workload,
  type WorkloadInit,
  type WorkloadKind,
  type WorkloadService,
  workloadFromProto,
  workloadIdentity,
  workloadToProto,
} from './workload.js';
export {
  authorizationToJson,
  type EndpointJsonInput,
  endpointToJson,
  type JsonObject,
  type JsonValue,
  type LocalConfigModels,
  localConfigFromJson,
  localConfigToJson,
  serviceToJson,
  workloadToJson,
} from './ztunnel-json.js';
