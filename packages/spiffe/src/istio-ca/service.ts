/**
 * The Istio CA's one gRPC method, `istio.v1.auth.IstioCertificateService/CreateCertificate` (istio/api
 * security/v1alpha1/ca.proto, as vendored by istio/ztunnel@62d82653:proto/citadel.proto), for
 * @grpc/grpc-js, with protobuf-es (de)serializers. Both ends use it: {@link createIstioCaClient} here, and
 * the CA service of `@ambient-kit/control-plane`.
 * @module
 */
import { fromBinary, toBinary } from '@bufbuild/protobuf';
import type { MethodDefinition, ServiceDefinition } from '@grpc/grpc-js';
import {
  type IstioCertificateRequest,
  IstioCertificateRequestSchema,
  type IstioCertificateResponse,
  IstioCertificateResponseSchema,
} from '../gen/security/v1alpha1/ca_pb.js';

export type { IstioCertificateRequest, IstioCertificateResponse };
export { IstioCertificateRequestSchema, IstioCertificateResponseSchema };

/**
 * The full gRPC path of `CreateCertificate`.
 *
 * @example
 * ```ts
 * client.makeUnaryRequest(CREATE_CERTIFICATE_PATH, serialize, deserialize, request, metadata, callback);
 * ```
 */
export const CREATE_CERTIFICATE_PATH = '/istio.v1.auth.IstioCertificateService/CreateCertificate';

/**
 * The key of the request's metadata Struct that names the identity a node proxy asks for on behalf of a
 * workload of its node (istio/istio@86c9f01f:pkg/security/security.go `ImpersonatedIdentity`; ztunnel sets it
 * in istio/ztunnel@62d82653:src/identity/caclient.rs). Exact spelling.
 *
 * @example
 * ```ts
 * request.metadata = { [IMPERSONATED_IDENTITY_KEY]: 'spiffe://cluster.local/ns/default/sa/sleep' };
 * ```
 */
export const IMPERSONATED_IDENTITY_KEY = 'ImpersonatedIdentity';

/**
 * The gRPC metadata key carrying the caller's cluster (ztunnel `ISTIO_META_CLUSTER_ID`, sent with the token:
 * istio/ztunnel@62d82653:src/identity/auth.rs; read by istiod as `clusterid`,
 * istio/istio@00af2c55:security/pkg/server/ca/authenticate/kubeauth/kube_jwt.go).
 *
 * @example
 * ```ts
 * metadata.set(CLUSTER_ID_METADATA_KEY, 'Kubernetes');
 * ```
 */
export const CLUSTER_ID_METADATA_KEY = 'clusterid';

/**
 * `CreateCertificate` as a grpc-js method definition, for `Client.makeUnaryRequest` and `Server.addService`.
 *
 * @example
 * ```ts
 * server.addService(istioCertificateService, { CreateCertificate: handler });
 * ```
 */
export const createCertificateMethod: MethodDefinition<IstioCertificateRequest, IstioCertificateResponse> = {
  path: CREATE_CERTIFICATE_PATH,
  requestStream: false,
  responseStream: false,
  requestSerialize: (m) => Buffer.from(toBinary(IstioCertificateRequestSchema, m)),
  requestDeserialize: (b) => fromBinary(IstioCertificateRequestSchema, b),
  responseSerialize: (m) => Buffer.from(toBinary(IstioCertificateResponseSchema, m)),
  responseDeserialize: (b) => fromBinary(IstioCertificateResponseSchema, b),
  originalName: 'createCertificate',
};

/**
 * The service definition to `addService` on a grpc-js `Server`: one method, `CreateCertificate`.
 *
 * @example
 * ```ts
 * grpcServer.addService(istioCertificateService, { CreateCertificate: handler });
 * ```
 */
export const istioCertificateService: ServiceDefinition = {
  CreateCertificate: createCertificateMethod,
};
