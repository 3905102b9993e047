/**
 * Istio's standard request metrics as a waypoint reports them, on prom-client
 * (istio/proxy@00aaa6e7:source/extensions/filters/http/istio_stats/istio_stats.cc, reporter `ServerGateway`):
 *
 * - `istio_requests_total` (counter), `istio_request_duration_milliseconds`, `istio_request_bytes`,
 *   `istio_response_bytes` (histograms), each with the same labels, in the order the filter adds them;
 * - `reporter="waypoint"`; the source from the downstream peer (its SAN for `source_principal` and the
 *   namespace, the rest from its metadata: `unknown` when missing, `latest` for a missing canonical
 *   revision); the destination from the endpoint the request went to (`unknown` when none was reached);
 *   `destination_service` and `destination_service_name` from the service's host and name;
 *   `destination_service_namespace` and `destination_cluster` are the waypoint's own (the filter's
 *   `ServerGateway` branch takes them from its node); `request_protocol` `grpc` or `http`; `response_code`;
 *   `grpc_response_status` for gRPC (from trailers, else headers), empty otherwise; `response_flags` Envoy's
 *   short string; `connection_security_policy` `mutual_tls` (HBONE always is);
 * - histogram buckets: Envoy's default buckets, which Istio does not override
 *   (envoyproxy/envoy@35db8c47:source/common/stats/histogram_impl.cc `defaultBuckets`): 0.5, 1, 5, 10, 25, 50,
 *   100, 250, 500, 1000, 2500, 5000, 10000, 30000, 60000, 300000, 600000, 1800000, 3600000;
 * - `istio_build{component="proxy",tag=...}` 1, as the filter's `recordVersion`.
 *
 * Recording a request appends to its label set's series; prom-client gets the observations when it is read
 * (its `observe` hashes and validates the label set on every call, which a request should not pay for).
 * @module
 */
import { Counter, Gauge, Histogram, Registry } from 'prom-client';

/**
 * Envoy's default histogram buckets (milliseconds for durations, bytes for sizes).
 *
 * @example
 * ```ts
 * ENVOY_DEFAULT_BUCKETS[0]; // 0.5
 * ```
 */
export const ENVOY_DEFAULT_BUCKETS: readonly number[] = [
  0.5, 1, 5, 10, 25, 50, 100, 250, 500, 1000, 2500, 5000, 10000, 30000, 60000, 300000, 600000, 1800000,
  3600000,
];

/**
 * The label names, in the order istio_stats adds them for a waypoint.
 *
 * @example
 * ```ts
 * REQUEST_LABEL_NAMES[0]; // 'reporter'
 * ```
 */
export const REQUEST_LABEL_NAMES = [
  'reporter',
  'source_workload',
  'source_canonical_service',
  'source_canonical_revision',
  'source_workload_namespace',
  'source_principal',
  'source_app',
  'source_version',
  'source_cluster',
  'destination_workload',
  'destination_workload_namespace',
  'destination_principal',
  'destination_app',
  'destination_version',
  'destination_service',
  'destination_canonical_service',
  'destination_canonical_revision',
  'destination_service_name',
  'destination_service_namespace',
  'destination_cluster',
  'request_protocol',
  'response_code',
  'grpc_response_status',
  'response_flags',
  'connection_security_policy',
] as const;

/** One label set. */
export type RequestLabels = Record<(typeof REQUEST_LABEL_NAMES)[number], string>;

/** A workload as the metrics name it. */
export interface PeerMetadata {
  readonly workload: string;
  readonly namespace: string;
  /** The SPIFFE ID. */
  readonly principal: string;
  readonly app: string;
  readonly version: string;
  readonly canonicalService: string;
  readonly canonicalRevision: string;
  readonly cluster: string;
}

/** One finished request. */
export interface RequestRecord {
  readonly source: PeerMetadata | undefined;
  /** The endpoint's workload, when the request reached one. */
  readonly destination: PeerMetadata | undefined;
  /** The service host and name, when the request was addressed to a service. */
  readonly service: { readonly host: string; readonly name: string } | undefined;
  readonly grpc: boolean;
  readonly responseCode: number;
  /** `undefined` when not gRPC or no status was seen. */
  readonly grpcStatus: string | undefined;
  /** Envoy's `%RESPONSE_FLAGS%`, `-` for none. */
  readonly responseFlags: string;
  readonly durationMs: number;
  readonly requestBytes: number;
  readonly responseBytes: number;
}

/** The waypoint's registry and its recorder. */
export interface WaypointMetrics {
  readonly registry: Registry;
  record(r: RequestRecord): void;
  /** The Prometheus text (`/stats/prometheus`). */
  text(): Promise<string>;
}

/** One label set's series, and what was recorded for it since prom-client last saw it. */
interface Series {
  readonly labels: RequestLabels;
  count: number;
  readonly durations: number[];
  readonly requestBytes: number[];
  readonly responseBytes: number[];
}

const MAX_SERIES = 10_000;
// Observations are handed to prom-client at scrape time (its `observe` hashes the label set on every call),
// or sooner when this many are waiting for one series.
const MAX_PENDING = 256;

/**
 * Creates the metrics.
 *
 * @param self - The waypoint's own namespace and cluster, and the Istio version it reports.
 * @returns The registry and a recorder.
 * @example
 * ```ts
 * const metrics = createWaypointMetrics({ namespace: 'default', cluster: 'Kubernetes' });
 * metrics.record(record);
 * ```
 */
export function createWaypointMetrics(self: {
  readonly namespace: string;
  readonly cluster: string;
  readonly istioVersion?: string;
}): WaypointMetrics {
  const registry = new Registry();
  const labelNames = [...REQUEST_LABEL_NAMES];
  const total = new Counter({
    name: 'istio_requests_total',
    help: 'Total requests',
    labelNames,
    registers: [registry],
  });
  const duration = new Histogram({
    name: 'istio_request_duration_milliseconds',
    help: 'Request duration in milliseconds',
    labelNames,
    buckets: [...ENVOY_DEFAULT_BUCKETS],
    registers: [registry],
  });
  const requestBytes = new Histogram({
    name: 'istio_request_bytes',
    help: 'Request size in bytes',
    labelNames,
    buckets: [...ENVOY_DEFAULT_BUCKETS],
    registers: [registry],
  });
  const responseBytes = new Histogram({
    name: 'istio_response_bytes',
    help: 'Response size in bytes',
    labelNames,
    buckets: [...ENVOY_DEFAULT_BUCKETS],
    registers: [registry],
  });
  const build = new Gauge({
    name: 'istio_build',
    help: 'Istio component build info',
    labelNames: ['component', 'tag'],
    registers: [registry],
  });
  build.set({ component: 'proxy', tag: self.istioVersion ?? 'unknown' }, 1);

  const cache = new Map<string, Series>();
  const pending = new Set<Series>();
  const flushSeries = (series: Series): void => {
    if (series.count > 0) total.inc(series.labels, series.count);
    for (const v of series.durations) duration.observe(series.labels, v);
    for (const v of series.requestBytes) requestBytes.observe(series.labels, v);
    for (const v of series.responseBytes) responseBytes.observe(series.labels, v);
    series.count = 0;
    series.durations.length = 0;
    series.requestBytes.length = 0;
    series.responseBytes.length = 0;
  };
  const flush = (): void => {
    for (const series of pending) flushSeries(series);
    pending.clear();
  };
  // Whoever reads the registry (text(), or registry.metrics() directly) sees everything recorded so far.
  for (const metric of [total, duration, requestBytes, responseBytes])
    (metric as unknown as { collect: () => void }).collect = flush;
  const or = (v: string | undefined, fallback: string): string =>
    v === undefined || v === '' ? fallback : v;

  return {
    registry,
    record(r) {
      const s = r.source;
      const d = r.destination;
      const labels: RequestLabels = {
        reporter: 'waypoint',
        source_workload: or(s?.workload, 'unknown'),
        source_canonical_service: or(s?.canonicalService, 'unknown'),
        source_canonical_revision: or(s?.canonicalRevision, 'latest'),
        source_workload_namespace: or(s?.namespace, 'unknown'),
        source_principal: or(s?.principal, 'unknown'),
        source_app: or(s?.app, 'unknown'),
        source_version: or(s?.version, 'unknown'),
        source_cluster: or(s?.cluster, 'unknown'),
        destination_workload: or(d?.workload, 'unknown'),
        destination_workload_namespace: or(d?.namespace, 'unknown'),
        destination_principal: or(d?.principal, 'unknown'),
        destination_app: or(d?.app, 'unknown'),
        // The filter prints the endpoint's version as it is (empty too), `unknown` only without an endpoint.
        destination_version: d === undefined ? 'unknown' : d.version,
        destination_service: r.service?.host ?? or(d?.canonicalService, 'unknown'),
        destination_canonical_service: or(d?.canonicalService, 'unknown'),
        destination_canonical_revision: d === undefined ? 'unknown' : d.canonicalRevision,
        destination_service_name: r.service?.name ?? or(d?.canonicalService, 'unknown'),
        destination_service_namespace: self.namespace,
        destination_cluster: self.cluster,
        request_protocol: r.grpc ? 'grpc' : 'http',
        response_code: String(r.responseCode),
        grpc_response_status: r.grpc ? (r.grpcStatus ?? '') : '',
        response_flags: r.responseFlags,
        connection_security_policy: 'mutual_tls',
      };
      let key = '';
      for (const name of REQUEST_LABEL_NAMES) key += `${labels[name]}\u0000`;
      let series = cache.get(key);
      if (series === undefined) {
        if (cache.size >= MAX_SERIES) {
          flush();
          cache.clear();
        }
        series = { labels, count: 0, durations: [], requestBytes: [], responseBytes: [] };
        cache.set(key, series);
      }
      series.count++;
      series.durations.push(r.durationMs);
      series.requestBytes.push(r.requestBytes);
      series.responseBytes.push(r.responseBytes);
      pending.add(series);
      if (series.durations.length >= MAX_PENDING) {
        flushSeries(series);
        pending.delete(series);
      }
    },
    text: () => registry.metrics(),
  };
}
