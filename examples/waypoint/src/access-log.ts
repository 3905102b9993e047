/**
 * The waypoint's access log in Istio's default Envoy text format (MeshConfig `accessLogFormat` unset:
 * istio/istio@86c9f01f:pilot/pkg/model/telemetry_logging.go `EnvoyTextLogFormat`):
 *
 * `[%START_TIME%] "%REQ(:METHOD)% %REQ(X-ENVOY-ORIGINAL-PATH?:PATH)% %PROTOCOL%" %RESPONSE_CODE% %RESPONSE_FLAGS%
 * %RESPONSE_CODE_DETAILS% %CONNECTION_TERMINATION_DETAILS% "%UPSTREAM_TRANSPORT_FAILURE_REASON%" %BYTES_RECEIVED%
 * %BYTES_SENT% %DURATION% %RESP(X-ENVOY-UPSTREAM-SERVICE-TIME)% "%REQ(X-FORWARDED-FOR)%" "%REQ(USER-AGENT)%"
 * "%REQ(X-REQUEST-ID)%" "%REQ(:AUTHORITY)%" "%UPSTREAM_HOST%" %UPSTREAM_CLUSTER_RAW% %UPSTREAM_LOCAL_ADDRESS%
 * %DOWNSTREAM_LOCAL_ADDRESS% %DOWNSTREAM_REMOTE_ADDRESS% %REQUESTED_SERVER_NAME% %ROUTE_NAME%`
 *
 * A TCP connection (a port that is not HTTP) prints `"- - -"` and `0` for the request line and code, as
 * Envoy's TCP proxy does.
 * @module
 */

/** One request (or TCP connection) as the waypoint saw it. */
export interface WaypointAccessLogEntry {
  readonly startTime: Date;
  /** `-` for TCP. */
  readonly method: string;
  /** `-` for TCP. */
  readonly path: string;
  /** `HTTP/1.1`, `HTTP/2`, or `-` for TCP. */
  readonly protocol: string;
  /** 0 for TCP. */
  readonly responseCode: number;
  /** Envoy response flags (`NR`, `UH`, `UF`, `URX`, `UT`, `UO`, `DI`, `FI`, `NC`, ...) joined with `,`; `-` for none. */
  readonly responseFlags: string;
  /** `via_upstream`, `rbac_access_denied_matched_policy[...]`, `route_not_found`, ... */
  readonly responseCodeDetails: string;
  readonly upstreamTransportFailureReason?: string;
  readonly bytesReceived: number;
  readonly bytesSent: number;
  readonly durationMs: number;
  readonly upstreamServiceTimeMs?: number;
  readonly forwardedFor?: string;
  readonly userAgent?: string;
  readonly requestId?: string;
  readonly authority?: string;
  /** The chosen endpoint, `podIP:targetPort`. */
  readonly upstreamHost?: string;
  /** `inbound-vip|9080|http/v1|reviews.default.svc.cluster.local`. */
  readonly upstreamCluster?: string;
  /** The CONNECT `:authority` (service VIP and port). */
  readonly downstreamLocalAddress: string;
  /** The HBONE peer. */
  readonly downstreamRemoteAddress: string;
  /** Envoy's `%ROUTE_NAME%`; `default` when no route is configured. */
  readonly routeName?: string;
  /** The peer's SPIFFE ID (not printed by the default format; for programs). */
  readonly sourcePrincipal?: string;
  /** The policy decision's reason (not printed; for programs). */
  readonly policyReason?: string;
  /** Upstream attempts made (not printed; for programs). */
  readonly attempts?: number;
  /** The gRPC status of the answer (not printed; for programs). */
  readonly grpcStatus?: string;
}

const dash = (value: string | number | undefined): string =>
  value === undefined || value === '' ? '-' : String(value);
const quoted = (value: string | undefined): string => `"${dash(value)}"`;

/**
 * Formats an entry as Istio's default access log line.
 *
 * @param e - The entry.
 * @returns One line.
 * @example
 * ```ts
 * formatWaypointAccessLog(entry);
 * // [2024-04-11T15:38:42.182Z] "GET /reviews/1 HTTP/1.1" 200 - via_upstream - "-" 0 295 3 2 "-" "curl/8.5.0" "…" "reviews:9080" "10.244.1.7:9080" inbound-vip|9080|http|reviews.default.svc.cluster.local - 10.96.0.20:9080 10.244.0.5:40000 - default
 * ```
 */
export function formatWaypointAccessLog(e: WaypointAccessLogEntry): string {
  // One template, no intermediate array: this runs for every request.
  const serviceTime =
    e.upstreamServiceTimeMs === undefined ? '-' : String(Math.round(e.upstreamServiceTimeMs));
  return `[${e.startTime.toISOString()}] "${e.method} ${e.path} ${e.protocol}" ${e.responseCode} ${e.responseFlags} ${e.responseCodeDetails} - ${quoted(e.upstreamTransportFailureReason)} ${e.bytesReceived} ${e.bytesSent} ${Math.round(e.durationMs)} ${serviceTime} ${quoted(e.forwardedFor)} ${quoted(e.userAgent)} ${quoted(e.requestId)} ${quoted(e.authority)} ${quoted(e.upstreamHost)} ${dash(e.upstreamCluster)} - ${e.downstreamLocalAddress} ${e.downstreamRemoteAddress} - ${dash(e.routeName)}`;
}
