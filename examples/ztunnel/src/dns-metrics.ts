/**
 * The DNS proxy's metrics, ztunnel's names, labels and help texts (istio/ztunnel@62d82653:src/dns/metrics.rs):
 * `istio_dns_requests_total`, `istio_dns_upstream_requests_total`, `istio_dns_upstream_failures_total` and the
 * histogram `istio_dns_upstream_request_duration_seconds` (buckets 0.5 ms, 1 ms, 10 ms, 100 ms, 1 s, 5 s), each
 * labelled `request_query_type` (the record type in lower case), `request_protocol` (`udp`, `tcp`) and the
 * source workload's `source_canonical_service` and `source_canonical_revision` (`unknown` when not known).
 * @module
 */
import type { Workload } from '@ambient-kit/workload-api';
import { Counter, Histogram, type OpenMetricsContentType, type Registry } from 'prom-client';

/** The label names of every DNS metric, in ztunnel's order (`DnsLabels`). */
export const DNS_LABEL_NAMES = [
  'request_query_type',
  'request_protocol',
  'source_canonical_service',
  'source_canonical_revision',
] as const;

/** One DNS request as the metrics see it. */
export interface DnsRequestLabels {
  /** The question's record type (`A`, `AAAA`, `TXT`, ...), any case. */
  readonly queryType: string | undefined;
  readonly protocol: 'udp' | 'tcp';
  /** The pod that asked, when known. */
  readonly source: Workload | undefined;
}

/** The DNS proxy's counters and histogram. */
export interface DnsMetrics {
  /** Counts a request answered here or forwarded (`istio_dns_requests_total`). */
  request(labels: DnsRequestLabels): void;
  /** Counts a forwarded request (`istio_dns_upstream_requests_total`). */
  upstreamRequest(labels: DnsRequestLabels): void;
  /** Counts a forwarded request that failed (`istio_dns_upstream_failures_total`). */
  upstreamFailure(labels: DnsRequestLabels): void;
  /** Observes how long the upstream took (`istio_dns_upstream_request_duration_seconds`). */
  upstreamDuration(labels: DnsRequestLabels, seconds: number): void;
}

const known = (value: string | undefined): string =>
  value === undefined || value === '' ? 'unknown' : value;

function labelsOf(l: DnsRequestLabels): Record<(typeof DNS_LABEL_NAMES)[number], string> {
  return {
    request_query_type: known(l.queryType?.toLowerCase()),
    request_protocol: l.protocol,
    source_canonical_service: known(l.source?.canonicalName),
    source_canonical_revision: known(l.source?.canonicalRevision),
  };
}

/**
 * Registers the DNS metrics in a ztunnel's registry.
 *
 * @param registry - The ztunnel's registry.
 * @returns The metrics.
 * @example
 * ```ts
 * const dns = createDnsMetrics(metrics.registry);
 * dns.request({ queryType: 'A', protocol: 'udp', source: sleep });
 * ```
 */
export function createDnsMetrics(registry: Registry<OpenMetricsContentType>): DnsMetrics {
  const labelNames = [...DNS_LABEL_NAMES];
  const requests = new Counter({
    name: 'istio_dns_requests',
    help: 'Total number of DNS requests (unstable).',
    labelNames,
    registers: [registry],
  });
  const upstreamRequests = new Counter({
    name: 'istio_dns_upstream_requests',
    help: 'Total number of DNS requests forwarded to upstream (unstable).',
    labelNames,
    registers: [registry],
  });
  const upstreamFailures = new Counter({
    name: 'istio_dns_upstream_failures',
    help: 'Total number of DNS requests that failed to forward upstream (unstable).',
    labelNames,
    registers: [registry],
  });
  const duration = new Histogram({
    name: 'istio_dns_upstream_request_duration_seconds',
    help: 'Total time in seconds Istio takes to get DNS response from upstream (unstable).',
    labelNames,
    buckets: [0.0005, 0.001, 0.01, 0.1, 1, 5],
    registers: [registry],
  });
  return {
    request: (l) => requests.inc(labelsOf(l)),
    upstreamRequest: (l) => upstreamRequests.inc(labelsOf(l)),
    upstreamFailure: (l) => upstreamFailures.inc(labelsOf(l)),
    upstreamDuration: (l, seconds) => duration.observe(labelsOf(l), seconds),
  };
}
