/**
 * What a failed `CreateCertificate` means: each gRPC status becomes one stable {@link SpiffeError} code, so
 * a caller can tell "my token was refused" (do not retry with it) from "istiod is unreachable" (retry with
 * backoff) without parsing messages. The table is in docs/spiffe.md, "Error codes", and docs/identity.md.
 * @module
 */
import { status as GrpcStatus, type ServiceError } from '@grpc/grpc-js';
import { quote, SpiffeError, type SpiffeErrorCode } from '../codec/errors.js';

/**
 * The code for each gRPC status an Istio CA can answer with. istiod answers UNAUTHENTICATED for a refused
 * token or impersonation and INVALID_ARGUMENT for a CSR or TTL it will not sign
 * (istio/istio@0098d99f:security/pkg/server/ca/server.go, security/pkg/pki/error/error.go); grpc-js reports
 * a connection or TLS failure as UNAVAILABLE and a passed deadline as DEADLINE_EXCEEDED.
 *
 * @example
 * ```ts
 * ISTIO_CA_STATUS_CODES[16]; // 'SPIFFE_ERR_CA_UNAUTHENTICATED' (16 is UNAUTHENTICATED)
 * ```
 */
export const ISTIO_CA_STATUS_CODES: Readonly<Record<number, SpiffeErrorCode>> = Object.freeze({
  [GrpcStatus.CANCELLED]: 'SPIFFE_ERR_CA_CANCELLED',
  [GrpcStatus.UNKNOWN]: 'SPIFFE_ERR_CA_SERVER_ERROR',
  [GrpcStatus.INVALID_ARGUMENT]: 'SPIFFE_ERR_CA_INVALID_REQUEST',
  [GrpcStatus.DEADLINE_EXCEEDED]: 'SPIFFE_ERR_CA_TIMEOUT',
  [GrpcStatus.NOT_FOUND]: 'SPIFFE_ERR_CA_SERVER_ERROR',
  [GrpcStatus.ALREADY_EXISTS]: 'SPIFFE_ERR_CA_SERVER_ERROR',
  [GrpcStatus.PERMISSION_DENIED]: 'SPIFFE_ERR_CA_PERMISSION_DENIED',
  [GrpcStatus.RESOURCE_EXHAUSTED]: 'SPIFFE_ERR_CA_SERVER_ERROR',
  [GrpcStatus.FAILED_PRECONDITION]: 'SPIFFE_ERR_CA_INVALID_REQUEST',
  [GrpcStatus.ABORTED]: 'SPIFFE_ERR_CA_SERVER_ERROR',
  [GrpcStatus.OUT_OF_RANGE]: 'SPIFFE_ERR_CA_INVALID_REQUEST',
  [GrpcStatus.UNIMPLEMENTED]: 'SPIFFE_ERR_CA_UNIMPLEMENTED',
  [GrpcStatus.INTERNAL]: 'SPIFFE_ERR_CA_SERVER_ERROR',
  [GrpcStatus.UNAVAILABLE]: 'SPIFFE_ERR_CA_UNAVAILABLE',
  [GrpcStatus.DATA_LOSS]: 'SPIFFE_ERR_CA_SERVER_ERROR',
  [GrpcStatus.UNAUTHENTICATED]: 'SPIFFE_ERR_CA_UNAUTHENTICATED',
});

/**
 * The {@link SpiffeError} for a failed call: the code from {@link ISTIO_CA_STATUS_CODES}, a message naming
 * the CA, the status and its details, and the grpc-js `ServiceError` (with its numeric `code`, `details`
 * and trailing `metadata`) as `cause`.
 *
 * @param address - The CA, for the message.
 * @param error - What grpc-js reported.
 * @returns The typed error.
 * @example
 * ```ts
 * client.makeUnaryRequest(path, ser, de, req, md, (e, res) => (e ? reject(caCallError(address, e)) : resolve(res)));
 * ```
 */
export function caCallError(address: string, error: ServiceError): SpiffeError {
  const code = ISTIO_CA_STATUS_CODES[error.code] ?? 'SPIFFE_ERR_CA_SERVER_ERROR';
  const name = GrpcStatus[error.code] ?? `status ${error.code}`;
  return new SpiffeError(
    code,
    `Istio CA ${quote(address)} answered ${name}: ${quote(error.details ?? '', 300)}`,
    { cause: error },
  );
}
