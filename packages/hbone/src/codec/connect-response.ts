/**
 * The answer to an HBONE CONNECT (istio/ztunnel@62d82653:src/proxy/inbound.rs `build_response`): 200 with the destination's `baggage` once the upstream is
 * connected, otherwise 400, 401 or 503 with END_STREAM on the HEADERS frame and no body.
 * @module
 */
import { err, ok, type Result } from 'neverthrow';
import { type Baggage, formatBaggage, parseBaggage } from './baggage.js';
import { HBONE_HEADER } from './connect-request.js';
import { codeForStatus, HboneError } from './errors.js';
import { type HeaderMap, headerLines } from './headers.js';

/** A CONNECT answer as the codec models it. */
export interface ConnectResponse {
  /** The HTTP status; 200 means the tunnel is up. */
  readonly status: number;
  /** The destination workload's metadata (ztunnel `ENABLE_RESPONSE_BAGGAGE`, on by default). */
  readonly baggage?: Baggage;
}

/**
 * Builds the header block of a CONNECT answer, as ztunnel's `build_response` does
 * (`istio/ztunnel@62d82653:src/proxy/inbound.rs` L786-805): `:status` and, when given, `baggage`.
 *
 * @param response - The status (100..599) and the optional baggage.
 * @returns Headers for `ServerHttp2Stream.respond()`.
 * @throws {RangeError} When the status is not an integer in 200..599 or the baggage is invalid.
 * @example
 * ```ts
 * buildConnectResponse({ status: 200, baggage: { namespace: 'default' } });
 * // { ':status': 200, baggage: 'k8s.namespace.name=default' }
 * ```
 */
export function buildConnectResponse(response: ConnectResponse): Record<string, string | number> {
  if (!Number.isInteger(response.status) || response.status < 200 || response.status > 599) {
    throw new RangeError(
      `buildConnectResponse: "status" must be an integer in 200..599, got ${response.status}`,
    );
  }
  const out: Record<string, string | number> = { ':status': response.status };
  if (response.baggage !== undefined) out[HBONE_HEADER.baggage] = formatBaggage(response.baggage);
  return out;
}

/**
 * Reads a CONNECT answer as ztunnel's client does (`istio/ztunnel@62d82653:src/proxy/h2/client.rs` L136-150): any status but
 * 200 is an error (`Error::HttpStatus`), and the `baggage` of a 200 is parsed, ignored when malformed.
 *
 * @param headers - The response headers.
 * @returns The status and baggage of a 200; otherwise an error whose `status` is the answer's and whose code
 *   is {@link codeForStatus}'s (`HBONE_ERR_PROTOCOL` when `:status` is missing or not a number).
 * @example
 * ```ts
 * parseConnectResponse({ ':status': 401 })._unsafeUnwrapErr(); // HboneError HBONE_ERR_POLICY_DENIED, status 401
 * ```
 */
export function parseConnectResponse(headers: HeaderMap): Result<ConnectResponse, HboneError> {
  const raw = headers[':status'];
  const status = typeof raw === 'number' ? raw : typeof raw === 'string' ? Number(raw) : Number.NaN;
  if (!Number.isInteger(status) || status < 100 || status > 999) {
    return err(new HboneError('HBONE_ERR_PROTOCOL', 'CONNECT answer without a valid :status'));
  }
  if (status !== 200) {
    return err(
      new HboneError(codeForStatus(status), `HBONE CONNECT refused with status ${status}`, { status }),
    );
  }
  const lines = headerLines(headers, HBONE_HEADER.baggage);
  if (lines.length === 0) return ok({ status });
  const baggage = parseBaggage(lines);
  return ok(baggage.isOk() ? { status, baggage: baggage.value } : { status });
}
