/**
 * The gRPC method `envoy.service.discovery.v3.AggregatedDiscoveryService/DeltaAggregatedResources` for
 * @grpc/grpc-js, with protobuf-es (de)serializers: what istiod serves and ztunnel calls
 * (istio/istio@86c9f01f:pilot/pkg/xds/delta.go, istio/ztunnel@62d82653:src/xds/client.rs; envoyproxy/envoy api/envoy/service/discovery/v3/ads.proto).
 * @module
 */
import { fromBinary, toBinary } from '@bufbuild/protobuf';
import type { MethodDefinition, ServiceDefinition } from '@grpc/grpc-js';
import {
  type DeltaDiscoveryRequest,
  DeltaDiscoveryRequestSchema,
  type DeltaDiscoveryResponse,
  DeltaDiscoveryResponseSchema,
} from '../gen/envoy/service/discovery/v3/discovery_pb.js';

/**
 * The full gRPC path of the delta ADS method.
 *
 * @example
 * ```ts
 * client.makeBidiStreamRequest(DELTA_ADS_PATH, serialize, deserialize);
 * ```
 */
export const DELTA_ADS_PATH =
  '/envoy.service.discovery.v3.AggregatedDiscoveryService/DeltaAggregatedResources';

/**
 * The delta ADS bidirectional-streaming method, for `Client.makeBidiStreamRequest` and
 * `Server.addService`.
 *
 * @example
 * ```ts
 * const call = client.makeBidiStreamRequest(DELTA_ADS_PATH, deltaAdsMethod.requestSerialize, deltaAdsMethod.responseDeserialize);
 * ```
 */
export const deltaAdsMethod: MethodDefinition<DeltaDiscoveryRequest, DeltaDiscoveryResponse> = {
  path: DELTA_ADS_PATH,
  requestStream: true,
  responseStream: true,
  requestSerialize: (m) => Buffer.from(toBinary(DeltaDiscoveryRequestSchema, m)),
  requestDeserialize: (b) => fromBinary(DeltaDiscoveryRequestSchema, b),
  responseSerialize: (m) => Buffer.from(toBinary(DeltaDiscoveryResponseSchema, m)),
  responseDeserialize: (b) => fromBinary(DeltaDiscoveryResponseSchema, b),
  originalName: 'deltaAggregatedResources',
};

/**
 * The service definition to `addService` on a grpc-js `Server`. Only the delta method: ztunnel never
 * uses state-of-the-world ADS, and grpc-js answers UNIMPLEMENTED for it.
 *
 * @example
 * ```ts
 * grpcServer.addService(aggregatedDiscoveryService, { DeltaAggregatedResources: handler });
 * ```
 */
export const aggregatedDiscoveryService: ServiceDefinition = {
  DeltaAggregatedResources: deltaAdsMethod,
};
