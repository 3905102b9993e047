/**
 * ztunnel's access log (`istio/ztunnel@62d82653:src/proxy/metrics.rs` `ConnectionResult::record_internal` and
 * `log_early_deny`): one `connection complete` record per connection when it ends (`INFO`, or `ERROR` with
 * `error=`), and a short `WARN connection failed` when a connection fails before ztunnel knows enough to say more.
 * @module
 */
import { formatLogRecord, type LogRecord, type LogValue } from './logger.js';

/** One access log record, with ztunnel's field names. */
export interface AccessLogEntry {
  readonly timeMs: number;
  /** `connection complete` (with the full set of fields) or `connection failed` (early failure). */
  readonly message: 'connection complete' | 'connection failed';
  readonly level: 'info' | 'warn' | 'error';
  readonly direction: 'outbound' | 'inbound';
  readonly src: {
    /** `ip:port` of the client. */
    readonly addr: string;
    readonly workload?: string;
    readonly namespace?: string;
    /** Only with mTLS. */
    readonly identity?: string;
    readonly cluster?: string;
  };
  readonly dst: {
    /** The TCP next hop: `podIP:15008` or `waypointIP:15008` with HBONE, the target itself with TCP. */
    readonly addr: string;
    /** The `:authority` of the HBONE CONNECT. */
    readonly hboneAddr?: string;
    readonly service?: string;
    readonly workload?: string;
    readonly namespace?: string;
    /** Only with mTLS. */
    readonly identity?: string;
    readonly cluster?: string;
  };
  /** Bytes from the application's point of view (ztunnel un-flips the metric convention for logs). */
  readonly bytesSent?: number;
  readonly bytesRecv?: number;
  readonly durationMs?: number;
  /** ztunnel's error text, e.g. `http status: 401 Unauthorized`. */
  readonly error?: string;
  /** The `response_flags` label the connection was counted with (not printed; for programs). */
  readonly responseFlags?: string;
}

const display = (value: string | undefined): LogValue | undefined =>
  value === undefined ? undefined : { display: value };

/**
 * The log record of an access log entry, fields in ztunnel's order.
 *
 * @param entry - The entry.
 * @returns A record for any {@link ZtunnelLogger}.
 * @example
 * ```ts
 * logger(accessLogRecord(entry));
 * ```
 */
export function accessLogRecord(entry: AccessLogEntry): LogRecord {
  return {
    timeMs: entry.timeMs,
    level: entry.level,
    target: 'access',
    message: entry.message,
    fields: [
      ['src.addr', display(entry.src.addr)],
      ['src.workload', entry.src.workload],
      ['src.namespace', entry.src.namespace],
      ['src.identity', entry.src.identity],
      ['src.cluster', entry.src.cluster],
      ['dst.addr', display(entry.dst.addr)],
      ['dst.hbone_addr', display(entry.dst.hboneAddr)],
      ['dst.service', entry.dst.service],
      ['dst.workload', entry.dst.workload],
      ['dst.namespace', entry.dst.namespace],
      ['dst.identity', entry.dst.identity],
      ['dst.cluster', entry.dst.cluster],
      ['direction', entry.direction],
      ['bytes_sent', entry.bytesSent],
      ['bytes_recv', entry.bytesRecv],
      ['duration', entry.durationMs === undefined ? undefined : `${Math.floor(entry.durationMs)}ms`],
      ['error', entry.error],
    ],
  };
}

/**
 * Formats an access log entry as ztunnel prints it.
 *
 * @param entry - The entry.
 * @returns One line, e.g. `2024-04-11T15:38:42.182974Z  INFO access: connection complete src.addr=... direction="outbound" bytes_sent=67 bytes_recv=490 duration="13ms"`.
 * @example
 * ```ts
 * console.log(formatAccessLog(entry));
 * ```
 */
export function formatAccessLog(entry: AccessLogEntry): string {
  return formatLogRecord(accessLogRecord(entry));
}
