/**
 * The life of one proxied connection in telemetry, as ztunnel's `ConnectionResultBuilder` /
 * `ConnectionResult` (`istio/ztunnel@62d82653:src/proxy/metrics.rs`): counted as opened when ztunnel knows who talks to whom,
 * bytes added as they flow, and exactly one close record (metrics plus the access log line) at the end.
 * @module
 */
import type { AccessLogEntry } from './access-log.js';
import { nowMs } from './logger.js';
import {
  type ConnectionOpen,
  type ResponseFlag,
  type TrafficLabels,
  trafficLabels,
  type ZtunnelMetrics,
} from './metrics.js';

/** What {@link openConnection} needs. */
export interface ConnectionResultInit {
  readonly metrics: ZtunnelMetrics;
  /** Where the access log entry goes. */
  readonly emit: (entry: AccessLogEntry) => void;
  /** The client, `ip:port`. */
  readonly src: string;
  /** The TCP next hop (`podIP:15008` with HBONE); on inbound, the `:15008` address the peer dialed. */
  readonly dst: string;
  /** The CONNECT `:authority`, when HBONE carries the connection. */
  readonly hboneAddr?: string;
  readonly open: ConnectionOpen;
}

/** How a connection ended badly: ztunnel's error text and the `response_flags` it is counted with. */
export interface ConnectionFailure {
  readonly error: string;
  readonly flag: ResponseFlag;
}

/** A connection being counted. */
export interface ConnectionResult {
  /** Bytes that went from the downstream (the side that opened the connection) to the upstream. */
  fromDownstream(bytes: number): void;
  /** Bytes that went from the upstream back to the downstream. */
  fromUpstream(bytes: number): void;
  /** Records the end: `istio_tcp_connections_closed_total` (+ failed) and the access log. Only the first call counts. */
  record(failure?: ConnectionFailure): void;
}

const unknownToUndefined = (value: string | undefined): string | undefined =>
  value === undefined || value === 'unknown' ? undefined : value;

/**
 * Opens a connection's telemetry: counts `istio_tcp_connections_opened_total` now.
 *
 * @param init - Metrics, log sink, addresses and what is known about both ends.
 * @returns The handle to add bytes and record the end with.
 * @example
 * ```ts
 * const result = openConnection({ metrics, emit, src: '10.0.0.1:41234', dst: '10.0.0.2:15008', hboneAddr: '10.0.0.2:8080', open });
 * result.fromDownstream(67);
 * result.record();
 * ```
 */
export function openConnection(init: ConnectionResultInit): ConnectionResult {
  const startedMs = performance.now();
  const labels: TrafficLabels = trafficLabels(init.open, '-');
  init.metrics.opened(labels);
  let recv = 0; // downstream -> upstream (ztunnel `increment_recv`)
  let send = 0; // upstream -> downstream (ztunnel `increment_send`)
  let recorded = false;
  // For names, ztunnel prefers the pod name and falls back to the canonical service (ConnectionResultBuilder::new).
  const srcName =
    init.open.source?.name ??
    init.open.derivedSource?.workloadName ??
    unknownToUndefined(labels.source_canonical_service);
  const dstName = init.open.destination?.name ?? unknownToUndefined(labels.destination_canonical_service);
  return {
    fromDownstream(bytes) {
      recv += bytes;
      init.metrics.received(labels, bytes);
    },
    fromUpstream(bytes) {
      send += bytes;
      init.metrics.sent(labels, bytes);
    },
    record(failure) {
      if (recorded) return;
      recorded = true;
      const flag = failure?.flag ?? '-';
      init.metrics.closed(flag === '-' ? labels : trafficLabels(init.open, flag), flag);
      const mtls = init.open.mtls;
      const source = init.open.reporter === 'source';
      init.emit({
        timeMs: nowMs(),
        message: 'connection complete',
        level: failure === undefined ? 'info' : 'error',
        direction: source ? 'outbound' : 'inbound',
        src: {
          addr: init.src,
          ...opt('workload', srcName),
          ...opt('namespace', unknownToUndefined(labels.source_workload_namespace)),
          ...opt('identity', mtls ? unknownToUndefined(labels.source_principal) : undefined),
          ...opt('cluster', unknownToUndefined(labels.source_cluster)),
        },
        dst: {
          addr: init.dst,
          ...opt('hboneAddr', init.hboneAddr),
          ...opt('service', unknownToUndefined(labels.destination_service)),
          ...opt('workload', dstName),
          ...opt('namespace', unknownToUndefined(labels.destination_workload_namespace)),
          ...opt('identity', mtls ? unknownToUndefined(labels.destination_principal) : undefined),
          ...opt('cluster', unknownToUndefined(labels.destination_cluster)),
        },
        // Istio flips the metric for the source reporter (istio/istio#32399); ztunnel un-flips it for logs.
        bytesSent: source ? recv : send,
        bytesRecv: source ? send : recv,
        durationMs: performance.now() - startedMs,
        ...opt('error', failure?.error),
        responseFlags: flag,
      });
    },
  };
}

function opt<K extends string>(key: K, value: string | undefined): { [P in K]?: string } {
  return (value === undefined ? {} : { [key]: value }) as { [P in K]?: string };
}

/**
 * ztunnel's `log_early_deny`: a connection failed before ztunnel knew enough for a full record (bad
 * request, unknown source, no route). Nothing is counted in the traffic metrics.
 *
 * @param emit - The access log sink.
 * @param fields - Client and destination addresses, direction, and the error text.
 * @example
 * ```ts
 * logEarlyFailure(emit, { src: '10.0.0.1:41234', dst: '10.0.0.2:15008', direction: 'inbound', error: 'ip mismatch' });
 * ```
 */
export function logEarlyFailure(
  emit: (entry: AccessLogEntry) => void,
  fields: {
    readonly src: string;
    readonly dst: string;
    readonly direction: 'outbound' | 'inbound';
    readonly error: string;
  },
): void {
  emit({
    timeMs: nowMs(),
    message: 'connection failed',
    level: 'warn',
    direction: fields.direction,
    src: { addr: fields.src },
    dst: { addr: fields.dst },
    error: fields.error,
  });
}
