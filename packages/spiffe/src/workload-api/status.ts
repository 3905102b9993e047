/**
 * What a failed Workload API call means: each gRPC status becomes one stable {@link SpiffeError} code, and
 * each code says whether a watch retries (spiffe/spiffe@665a28f3:standards/SPIFFE_Workload_Endpoint.md,
 * Appendix A: INVALID_ARGUMENT and UNIMPLEMENTED are not retried; UNAVAILABLE and PERMISSION_DENIED are,
 * with backoff). The table is in docs/spiffe.md, "Error codes", and docs/identity.md.
 * @module
 */
import { status as GrpcStatus, type ServiceError } from '@grpc/grpc-js';
import { quote, SpiffeError, type SpiffeErrorCode } from '../codec/errors.js';

/**
 * The code for each gRPC status a Workload API can answer with. grpc-js reports an unreachable socket as
 * UNAVAILABLE and a passed deadline as DEADLINE_EXCEEDED.
 *
 * @example
 * ```ts
 * WORKLOAD_API_STATUS_CODES[3]; // gRPC INVALID_ARGUMENT: 'SPIFFE_ERR_WORKLOAD_API_INVALID_ARGUMENT'
 * ```
 */
export const WORKLOAD_API_STATUS_CODES: Readonly<Record<number, SpiffeErrorCode>> = Object.freeze({
  [GrpcStatus.CANCELLED]: 'SPIFFE_ERR_WORKLOAD_API_CANCELLED',
  [GrpcStatus.INVALID_ARGUMENT]: 'SPIFFE_ERR_WORKLOAD_API_INVALID_ARGUMENT',
  [GrpcStatus.DEADLINE_EXCEEDED]: 'SPIFFE_ERR_WORKLOAD_API_TIMEOUT',
  [GrpcStatus.PERMISSION_DENIED]: 'SPIFFE_ERR_WORKLOAD_API_PERMISSION_DENIED',
  [GrpcStatus.UNIMPLEMENTED]: 'SPIFFE_ERR_WORKLOAD_API_UNIMPLEMENTED',
  [GrpcStatus.UNAVAILABLE]: 'SPIFFE_ERR_WORKLOAD_API_UNAVAILABLE',
});

/**
 * Whether a watch gives up on this error rather than retrying: the endpoint said the request itself is
 * wrong (INVALID_ARGUMENT) or the method does not exist (UNIMPLEMENTED), or the caller cancelled. Everything
 * else (UNAVAILABLE, PERMISSION_DENIED, any other status, a stream that just ended) is retried with backoff.
 *
 * @param error - A failure of a Workload API call.
 * @returns `true` when retrying cannot help.
 * @example
 * ```ts
 * isTerminalWorkloadApiError(error); // true for SPIFFE_ERR_WORKLOAD_API_INVALID_ARGUMENT
 * ```
 */
export function isTerminalWorkloadApiError(error: SpiffeError): boolean {
  return (
    error.code === 'SPIFFE_ERR_WORKLOAD_API_INVALID_ARGUMENT' ||
    error.code === 'SPIFFE_ERR_WORKLOAD_API_UNIMPLEMENTED' ||
    error.code === 'SPIFFE_ERR_WORKLOAD_API_CANCELLED'
  );
}

/**
 * The {@link SpiffeError} for a failed call: the code from {@link WORKLOAD_API_STATUS_CODES} (any other
 * status is `SPIFFE_ERR_WORKLOAD_API_SERVER_ERROR`), a message naming the endpoint, the method and the
 * status, and the grpc-js `ServiceError` as `cause`.
 *
 * @param endpoint - The endpoint URI, for the message.
 * @param method - The method name, for the message.
 * @param error - What grpc-js reported.
 * @returns The typed error.
 * @example
 * ```ts
 * reject(workloadApiCallError('unix:///tmp/agent.sock', 'FetchJWTSVID', serviceError));
 * ```
 */
export function workloadApiCallError(endpoint: string, method: string, error: ServiceError): SpiffeError {
  const code = WORKLOAD_API_STATUS_CODES[error.code] ?? 'SPIFFE_ERR_WORKLOAD_API_SERVER_ERROR';
  const name = GrpcStatus[error.code] ?? `status ${error.code}`;
  return new SpiffeError(
    code,
    `Workload API ${endpoint} ${method} answered ${name}: ${quote(error.details ?? '', 300)}`,
    { cause: error },
  );
}
