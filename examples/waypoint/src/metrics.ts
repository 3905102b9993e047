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
 * Recording a request adds to its label set's series (found from the peers' metadata objects and a few short
 * values, without building the labels); prom-client gets the sums when it is read, added to its histogram
 * buckets directly (its `observe` hashes and validates the label set on every call, which a request should not
 * pay for; `plainObserve` keeps that path, and a property test pins the two to the same output).
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

/** The parts of a prom-client `Histogram` the recorder adds to directly (prom-client 15's own fields). */
interface HistogramInternals {
  hashMap: Record<
    string,
    { labels: object; bucketValues: Record<number, number>; sum: number; count: number }
  >;
  readonly sortedLabelNames: readonly string[];
  readonly upperBounds: readonly number[];
  zero(labels: object): void;
}

/** One histogram's observations for one label set since prom-client last saw them. */
interface Pending {
  count: number;
  sum: number;
  /** Per bucket (not cumulative), in `ENVOY_DEFAULT_BUCKETS` order; values above the last bound only count. */
  readonly buckets: Float64Array;
  /** The raw values, kept only when prom-client's internals are not as expected (then replayed with `observe`). */
  readonly values: number[];
}

/** One label set's series, and what was recorded for it since prom-client last saw it. */
interface Series {
  readonly labels: RequestLabels;
  /** prom-client's key for the label set (its `hashObject` over the sorted label names). */
  readonly hash: string;
  count: number;
  readonly durations: Pending;
  readonly requestBytes: Pending;
  readonly responseBytes: Pending;
}

const MAX_SERIES = 10_000;
const SORTED_LABEL_NAMES: readonly string[] = [...REQUEST_LABEL_NAMES].sort();
const NONE = '\u0001';

const newPending = (): Pending => ({
  count: 0,
  sum: 0,
  buckets: new Float64Array(ENVOY_DEFAULT_BUCKETS.length),
  values: [],
});

// prom-client's `findBound`: the first upper bound the value does not exceed.
function bucketIndex(value: number): number {
  for (let i = 0; i < ENVOY_DEFAULT_BUCKETS.length; i++)
    if (value <= (ENVOY_DEFAULT_BUCKETS[i] as number)) return i;
  return -1;
}

function add(p: Pending, value: number, direct: boolean): void {
  if (!direct) {
    p.values.push(value);
    return;
  }
  // prom-client's `observe` rejects what is not finite; so does this (durations and sizes always are).
  if (!Number.isFinite(value)) throw new TypeError(`Value is not a valid number: ${value}`);
  p.count++;
  p.sum += value;
  const i = bucketIndex(value);
  if (i >= 0) (p.buckets[i] as number)++;
}

// Whether a Histogram has the fields the direct path adds to, and they behave as `observe` does.
function directWorks(h: Histogram<string>): boolean {
  const x = h as unknown as Partial<HistogramInternals>;
  if (
    typeof x.hashMap !== 'object' ||
    !Array.isArray(x.sortedLabelNames) ||
    !Array.isArray(x.upperBounds) ||
    typeof x.zero !== 'function'
  )
    return false;
  return (
    x.sortedLabelNames.join(',') === SORTED_LABEL_NAMES.join(',') &&
    x.upperBounds.join(',') === ENVOY_DEFAULT_BUCKETS.join(',')
  );
}

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
  /**
   * `observe` every value instead of adding to prom-client's buckets directly (the plain path the direct one
   * is tested against). Default false.
   */
  readonly plainObserve?: boolean;
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
  const direct =
    self.plainObserve !== true && [duration, requestBytes, responseBytes].every((h) => directWorks(h));

  // Series by their full label key; and, in front of it, by what a request's labels are made of (the peers'
  // metadata objects, which the waypoint keeps per tunnel and per workload, and a few short values), so a
  // request neither builds the 25 labels nor their key when its series exists.
  let cache = new Map<string, Series>();
  let bySource = new WeakMap<object, Map<string, Series>>();
  const noSource = {};
  const peerIds = new WeakMap<PeerMetadata, number>();
  let nextPeerId = 1;
  const peerId = (p: PeerMetadata | undefined): number => {
    if (p === undefined) return 0;
    let id = peerIds.get(p);
    if (id === undefined) {
      id = nextPeerId++;
      peerIds.set(p, id);
    }
    return id;
  };
  const pending = new Set<Series>();

  const flushHistogram = (h: Histogram<string>, series: Series, p: Pending): void => {
    if (!direct) {
      for (const v of p.values) h.observe(series.labels, v);
      p.values.length = 0;
      return;
    }
    if (p.count === 0) return;
    const x = h as unknown as HistogramInternals;
    let entry = x.hashMap[series.hash];
    if (entry === undefined) {
      h.zero(series.labels);
      entry = x.hashMap[series.hash];
    }
    if (entry === undefined) throw new TypeError('prom-client: no histogram entry for a label set');
    entry.count += p.count;
    entry.sum += p.sum;
    for (let i = 0; i < p.buckets.length; i++) {
      const n = p.buckets[i] as number;
      if (n === 0) continue;
      const bound = ENVOY_DEFAULT_BUCKETS[i] as number;
      entry.bucketValues[bound] = (entry.bucketValues[bound] as number) + n;
    }
    p.count = 0;
    p.sum = 0;
    p.buckets.fill(0);
  };
  const flushSeries = (series: Series): void => {
    if (series.count > 0) total.inc(series.labels, series.count);
    flushHistogram(duration, series, series.durations);
    flushHistogram(requestBytes, series, series.requestBytes);
    flushHistogram(responseBytes, series, series.responseBytes);
    series.count = 0;
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

  const labelsOf = (r: RequestRecord): RequestLabels => {
    const s = r.source;
    const d = r.destination;
    return {
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
  };

  const seriesOf = (r: RequestRecord): Series => {
    let bySet = bySource.get(r.source ?? noSource);
    if (bySet === undefined) {
      bySet = new Map();
      bySource.set(r.source ?? noSource, bySet);
    }
    // Everything else a label comes from; the metadata objects are immutable, so their identity stands for them.
    const fast = `${peerId(r.destination)}\u0000${r.service?.host ?? NONE}\u0000${r.service?.name ?? NONE}\u0000${r.grpc ? 1 : 0}\u0000${r.responseCode}\u0000${r.grpcStatus ?? NONE}\u0000${r.responseFlags}`;
    let series = bySet.get(fast);
    if (series !== undefined) return series;
    // Metadata objects made per connection (upgrades) would each add a key: keep the front cache small.
    if (bySet.size >= 64) bySet.clear();
    const labels = labelsOf(r);
    let key = '';
    for (const name of REQUEST_LABEL_NAMES) key += `${labels[name]}\u0000`;
    series = cache.get(key);
    if (series === undefined) {
      if (cache.size >= MAX_SERIES) {
        flush();
        cache = new Map();
        bySource = new WeakMap();
        bySet = new Map();
        bySource.set(r.source ?? noSource, bySet);
      }
      let hash = '';
      for (const name of SORTED_LABEL_NAMES) hash += `${name}:${labels[name as keyof RequestLabels]},`;
      series = {
        labels,
        hash,
        count: 0,
        durations: newPending(),
        requestBytes: newPending(),
        responseBytes: newPending(),
      };
      cache.set(key, series);
    }
    bySet.set(fast, series);
    return series;
  };

  return {
    registry,
    record(r) {
      const series = seriesOf(r);
      series.count++;
      add(series.durations, r.durationMs, direct);
      add(series.requestBytes, r.requestBytes, direct);
      add(series.responseBytes, r.responseBytes, direct);
      pending.add(series);
      // The plain path keeps raw values: hand them over before they pile up.
      if (!direct && series.durations.values.length >= 256) {
        flushSeries(series);
        pending.delete(series);
      }
    },
    text: () => registry.metrics(),
  };
}
