/**
 * ztunnel's connection metrics on prom-client: the same names, label sets and label rules as
 * `istio/ztunnel@62d82653:src/proxy/metrics.rs`. The registry renders OpenMetrics text, as ztunnel's
 * prometheus-client encoder always does: counters are declared without `_total` on the `# TYPE` line and
 * sampled with it (`istio_tcp_connections_opened_total{...}`).
 * @module
 */
import type { Service, Workload } from '@ambient-kit/workload-api';
import { Counter, Gauge, type OpenMetricsContentType, Registry } from 'prom-client';
import { createDnsMetrics, type DnsMetrics } from './dns-metrics.js';

/** `reporter`: `source` on outbound, `destination` on inbound. */
export type Reporter = 'source' | 'destination';

/** ztunnel's `response_flags` values (`istio/ztunnel@62d82653:src/proxy/metrics.rs` `ResponseFlags`). */
export type ResponseFlag =
  | '-'
  | 'DENY'
  | 'CONNECT'
  | 'TLS_FAILURE'
  | 'H2_HANDSHAKE_FAILURE'
  | 'NETWORK_POLICY'
  | 'IDENTITY_ERROR'
  | 'CERT_REVOKED';

/** Source workload metadata learnt from the peer (mTLS identity, `baggage`): ztunnel's `DerivedWorkload`. */
export interface DerivedWorkload {
  readonly identity?: string;
  readonly workloadName?: string;
  readonly app?: string;
  readonly revision?: string;
  readonly namespace?: string;
  readonly clusterId?: string;
  readonly region?: string;
  readonly zone?: string;
}

/** What ztunnel knows about a connection when it opens it (`ConnectionOpen`). */
export interface ConnectionOpen {
  readonly reporter: Reporter;
  /** The source workload from the store (by IP), if known. */
  readonly source?: Workload;
  /** The source as the peer described itself; its `identity` is the only source of `source_principal`. */
  readonly derivedSource?: DerivedWorkload;
  /** The workload actually connected to (the waypoint, on a waypoint hop). */
  readonly destination?: Workload;
  /** The service the client addressed. */
  readonly destinationService?: Service;
  /** `mutual_tls` when HBONE carries the connection, else `unknown`. */
  readonly mtls: boolean;
}

/**
 * The label names of the four `istio_tcp_*` traffic metrics, in ztunnel's order (`CommonTrafficLabels`).
 *
 * @example
 * ```ts
 * TRAFFIC_LABEL_NAMES[0]; // 'reporter'
 * ```
 */
export const TRAFFIC_LABEL_NAMES = [
  'reporter',
  'source_workload',
  'source_canonical_service',
  'source_canonical_revision',
  'source_workload_namespace',
  'source_principal',
  'source_app',
  'source_version',
  'source_cluster',
  'destination_service',
  'destination_service_namespace',
  'destination_service_name',
  'destination_workload',
  'destination_canonical_service',
  'destination_canonical_revision',
  'destination_workload_namespace',
  'destination_principal',
  'destination_app',
  'destination_version',
  'destination_cluster',
  'request_protocol',
  'response_flags',
  'connection_security_policy',
  // Present only when a source or destination workload is known (ztunnel `OptionallyEncode`).
  'source_region',
  'source_zone',
  'destination_region',
  'destination_zone',
] as const;

/** One traffic metric label set. */
export type TrafficLabels = Partial<Record<(typeof TRAFFIC_LABEL_NAMES)[number], string>>;

// DefaultedUnknown: a missing or empty value renders as "unknown".
const known = (value: string | undefined): string =>
  value === undefined || value === '' ? 'unknown' : value;

/**
 * Builds the labels of a connection as ztunnel's `CommonTrafficLabels::from(ConnectionOpen)` does: derived
 * source first, then the store's source workload over it (more reliable), then the destination workload and
 * service. `source_principal` comes only from the derived (mTLS) identity.
 *
 * @param open - What is known about the connection.
 * @param flag - `response_flags`.
 * @returns The label set.
 * @example
 * ```ts
 * trafficLabels({ reporter: 'source', source: sleep, derivedSource: { identity: sleep.identity }, mtls: true }, '-');
 * ```
 */
export function trafficLabels(open: ConnectionOpen, flag: ResponseFlag): TrafficLabels {
  const l: { -readonly [K in keyof TrafficLabels]: TrafficLabels[K] } = {};
  let locality = false;
  const d = open.derivedSource;
  if (d !== undefined) {
    l.source_workload = known(d.workloadName);
    l.source_canonical_service = known(d.app);
    l.source_canonical_revision = known(d.revision);
    l.source_workload_namespace = known(d.namespace);
    l.source_app = known(d.workloadName);
    l.source_version = known(d.revision);
    l.source_cluster = known(d.clusterId);
    l.source_principal = known(d.identity);
    l.source_region = known(d.region);
    l.source_zone = known(d.zone);
    locality = true;
  }
  const s = open.source;
  if (s !== undefined) {
    l.source_workload = known(s.workloadName);
    l.source_canonical_service = known(s.canonicalName);
    l.source_canonical_revision = known(s.canonicalRevision);
    l.source_workload_namespace = known(s.namespace);
    l.source_app = known(s.canonicalName);
    l.source_version = known(s.canonicalRevision);
    l.source_cluster = known(s.clusterId);
    l.source_region = known(s.locality.region);
    l.source_zone = known(s.locality.zone);
    locality = true;
  }
  const w = open.destination;
  if (w !== undefined) {
    l.destination_workload = known(w.workloadName);
    l.destination_canonical_service = known(w.canonicalName);
    l.destination_canonical_revision = known(w.canonicalRevision);
    l.destination_workload_namespace = known(w.namespace);
    l.destination_principal = known(w.identity);
    l.destination_app = known(w.canonicalName);
    l.destination_version = known(w.canonicalRevision);
    l.destination_cluster = known(w.clusterId);
    l.destination_region = known(w.locality.region);
    l.destination_zone = known(w.locality.zone);
    locality = true;
  }
  const svc = open.destinationService;
  const out: Record<string, string> = { reporter: open.reporter };
  for (const name of TRAFFIC_LABEL_NAMES) {
    if (name === 'reporter') continue;
    if (name === 'destination_service') out[name] = known(svc?.hostname);
    else if (name === 'destination_service_name') out[name] = known(svc?.name);
    else if (name === 'destination_service_namespace') out[name] = known(svc?.namespace);
    else if (name === 'request_protocol') out[name] = 'tcp';
    else if (name === 'response_flags') out[name] = flag;
    else if (name === 'connection_security_policy') out[name] = open.mtls ? 'mutual_tls' : 'unknown';
    else if (name.endsWith('_region') || name.endsWith('_zone')) {
      if (locality) out[name] = l[name] ?? 'unknown';
    } else {
      out[name] = l[name] ?? 'unknown';
    }
  }
  return out;
}

/** The metrics of one ztunnel. */
export interface ZtunnelMetrics {
  /** The registry, in OpenMetrics format: serve `await registry.metrics()`. */
  readonly registry: Registry<OpenMetricsContentType>;
  /** Counts a connection opened (`istio_tcp_connections_opened_total`). */
  opened(labels: TrafficLabels): void;
  /** Counts a connection closed, and a failure when the flag says so. */
  closed(labels: TrafficLabels, flag: ResponseFlag): void;
  /** Adds bytes from the downstream (client side) to `istio_tcp_received_bytes_total`. */
  received(labels: TrafficLabels, bytes: number): void;
  /** Adds bytes from the upstream to `istio_tcp_sent_bytes_total`. */
  sent(labels: TrafficLabels, bytes: number): void;
  /** The DNS proxy's metrics (`istio_dns_*`). */
  readonly dns: DnsMetrics;
}

/**
 * Creates a ztunnel's metrics in a registry of its own (several ztunnels may share a process).
 *
 * @param options - `version` for `istio_build{component="ztunnel",tag}`.
 * @returns The metrics.
 * @example
 * ```ts
 * const metrics = createZtunnelMetrics({ version: '1.0.0' });
 * const text = await metrics.registry.metrics(); // # TYPE istio_tcp_connections_opened counter ...
 * ```
 */
export function createZtunnelMetrics(options: { readonly version: string }): ZtunnelMetrics {
  const registry = new Registry<OpenMetricsContentType>();
  registry.setContentType(Registry.OPENMETRICS_CONTENT_TYPE);
  const labelNames = [...TRAFFIC_LABEL_NAMES];
  const traffic = (name: string, help: string) =>
    new Counter({ name, help, labelNames, registers: [registry] });
  // Help texts are ztunnel's (istio/ztunnel@62d82653:src/proxy/metrics.rs Metrics::new).
  const opened = traffic('istio_tcp_connections_opened', 'The total number of TCP connections opened.');
  const closed = traffic('istio_tcp_connections_closed', 'The total number of TCP connections closed.');
  const received = traffic(
    'istio_tcp_received_bytes',
    'The size of total bytes received during request in case of a TCP connection.',
  );
  const sent = traffic(
    'istio_tcp_sent_bytes',
    'The size of total bytes sent during response in case of a TCP connection.',
  );
  const failed = traffic(
    'istio_tcp_connections_failed',
    'The total number of TCP connections that failed to establish (unstable).',
  );
  const build = new Gauge({
    name: 'istio_build',
    help: 'Istio component build info.',
    labelNames: ['component', 'tag'],
    registers: [registry],
  });
  build.set({ component: 'ztunnel', tag: options.version }, 1);
  return {
    registry,
    dns: createDnsMetrics(registry),
    opened: (labels) => opened.inc(labels),
    closed(labels, flag) {
      closed.inc(labels);
      // Every flag but `-` is a failure.
      if (flag !== '-') failed.inc(labels);
    },
    received: (labels, bytes) => {
      if (bytes > 0) received.inc(labels, bytes);
    },
    sent: (labels, bytes) => {
      if (bytes > 0) sent.inc(labels, bytes);
    },
  };
}
