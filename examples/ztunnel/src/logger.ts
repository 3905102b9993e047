/**
 * Log lines as ztunnel prints them with `tracing`'s default formatter: an RFC 3339 timestamp with
 * microseconds, the level padded to five characters, the target, the message, then `key=value` fields.
 * Strings are quoted (Rust `Debug`), numbers and `Display` values are not (`istio/ztunnel@62d82653:README.md` "Logging").
 * @module
 */

/** A log level, lowest first. */
export type LogLevel = 'debug' | 'info' | 'warn' | 'error';

/** A field value: strings print quoted, numbers and `{ display }` values print as they are. */
export type LogValue = string | number | boolean | { readonly display: string };

/** One log event. */
export interface LogRecord {
  /** When it happened, milliseconds since the epoch (fractional: microseconds are kept). */
  readonly timeMs: number;
  readonly level: LogLevel;
  /** `access` for access logs, else the component (`socks5`, `inbound`, `xds`, ...). */
  readonly target: string;
  readonly message: string;
  /** Fields in print order; `undefined` values are left out, as `tracing` leaves out `None`. */
  readonly fields: readonly (readonly [string, LogValue | undefined])[];
}

/** Receives every log record. */
export type ZtunnelLogger = (record: LogRecord) => void;

const LEVELS: Record<LogLevel, number> = { debug: 0, info: 1, warn: 2, error: 3 };

/**
 * The current time with sub-millisecond precision, for {@link LogRecord.timeMs}.
 *
 * @returns Milliseconds since the epoch.
 * @example
 * ```ts
 * const record = { timeMs: nowMs(), level: 'info', target: 'xds', message: 'ready', fields: [] };
 * ```
 */
export function nowMs(): number {
  return performance.timeOrigin + performance.now();
}

function timestamp(timeMs: number): string {
  const iso = new Date(Math.floor(timeMs)).toISOString(); // 2024-04-11T15:38:42.182Z
  const micros = Math.floor((timeMs % 1) * 1000)
    .toString()
    .padStart(3, '0');
  return `${iso.slice(0, -1)}${micros}Z`;
}

function value(v: LogValue): string {
  if (typeof v === 'object') return v.display;
  if (typeof v === 'string') return JSON.stringify(v);
  return String(v);
}

/**
 * Formats a record the way ztunnel's logs read.
 *
 * @param record - The event.
 * @returns One line, without a trailing newline.
 * @example
 * ```ts
 * formatLogRecord({ timeMs: Date.parse('2024-04-11T15:38:42.182Z'), level: 'info', target: 'access',
 *   message: 'connection complete', fields: [['src.addr', { display: '10.244.0.24:46238' }], ['direction', 'outbound']] });
 * // 2024-04-11T15:38:42.182000Z  INFO access: connection complete src.addr=10.244.0.24:46238 direction="outbound"
 * ```
 */
export function formatLogRecord(record: LogRecord): string {
  const parts = [
    `${timestamp(record.timeMs)} ${record.level.toUpperCase().padStart(5)} ${record.target}: ${record.message}`,
  ];
  for (const [key, v] of record.fields) if (v !== undefined) parts.push(`${key}=${value(v)}`);
  return parts.join(' ');
}

/**
 * A logger that writes formatted lines to a stream, dropping records below a level.
 *
 * @param options - `level` (default `info`) and `write` (default: `process.stdout`).
 * @returns The logger.
 * @example
 * ```ts
 * const logger = streamLogger({ level: 'warn' });
 * logger({ timeMs: nowMs(), level: 'warn', target: 'inbound', message: 'listener failed', fields: [] });
 * ```
 */
export function streamLogger(
  options: { readonly level?: LogLevel; readonly write?: (line: string) => void } = {},
): ZtunnelLogger {
  const min = LEVELS[options.level ?? 'info'];
  const write = options.write ?? ((line: string) => process.stdout.write(`${line}\n`));
  return (record) => {
    if (LEVELS[record.level] >= min) write(formatLogRecord(record));
  };
}
