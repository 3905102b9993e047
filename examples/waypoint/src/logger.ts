/**
 * The waypoint's operational log, with Envoy's levels and named loggers, so `/logging` on the admin port
 * works as Envoy's does (`GET` lists the loggers, `POST /logging?level=debug` sets all,
 * `POST /logging?router=trace` one). Lines look like Envoy's default format:
 * `[2026-01-01T00:00:00.000Z][info][config] message`.
 * @module
 */

/**
 * Envoy's log levels, least to most severe.
 *
 * @example
 * ```ts
 * LOG_LEVELS.indexOf('info') < LOG_LEVELS.indexOf('error'); // true
 * ```
 */
export const LOG_LEVELS = ['trace', 'debug', 'info', 'warning', 'error', 'critical', 'off'] as const;

/** One of {@link LOG_LEVELS}. */
export type LogLevel = (typeof LOG_LEVELS)[number];

/**
 * The waypoint's loggers (a subset of Envoy's names, those this waypoint has parts for).
 *
 * @example
 * ```ts
 * LOGGER_NAMES.includes('rbac'); // true
 * ```
 */
export const LOGGER_NAMES = [
  'admin',
  'config',
  'connection',
  'http',
  'jwt',
  'main',
  'rbac',
  'router',
  'upstream',
] as const;

/** One of {@link LOGGER_NAMES}. */
export type LoggerName = (typeof LOGGER_NAMES)[number];

/** A leveled, named logger. */
export interface WaypointLogger {
  /** Writes `message` when `name` is at `level` or more verbose. */
  log(name: LoggerName, level: Exclude<LogLevel, 'off'>, message: string): void;
  /** Whether `log(name, level, ...)` would write. */
  enabled(name: LoggerName, level: Exclude<LogLevel, 'off'>): boolean;
  /** Every logger's level. */
  levels(): Readonly<Record<LoggerName, LogLevel>>;
  /**
   * Sets the level of one logger, or of all.
   *
   * @param level - The level.
   * @param name - One logger; all when absent.
   */
  setLevel(level: LogLevel, name?: LoggerName): void;
}

/**
 * Whether a text is a log level.
 *
 * @param text - E.g. `debug`.
 * @returns True for one of {@link LOG_LEVELS}.
 * @example
 * ```ts
 * isLogLevel('warn'); // false: Envoy says `warning`
 * ```
 */
export function isLogLevel(text: string): text is LogLevel {
  return (LOG_LEVELS as readonly string[]).includes(text);
}

/**
 * Creates a logger.
 *
 * @param options - Where lines go (default stderr), the starting level of every logger (default `info`).
 * @returns The logger.
 * @example
 * ```ts
 * const logger = createWaypointLogger({ level: 'warning' });
 * logger.log('config', 'info', 'loaded generation 2'); // not written
 * ```
 */
export function createWaypointLogger(
  options: { readonly write?: (line: string) => void; readonly level?: LogLevel } = {},
): WaypointLogger {
  const write = options.write ?? ((line: string) => process.stderr.write(`${line}\n`));
  const levels = Object.fromEntries(LOGGER_NAMES.map((n) => [n, options.level ?? 'info'])) as Record<
    LoggerName,
    LogLevel
  >;
  const rank = (l: LogLevel): number => LOG_LEVELS.indexOf(l);
  const enabled = (name: LoggerName, level: LogLevel): boolean => rank(level) >= rank(levels[name]);
  return {
    enabled,
    log(name, level, message) {
      if (enabled(name, level)) write(`[${new Date().toISOString()}][${level}][${name}] ${message}`);
    },
    levels: () => ({ ...levels }),
    setLevel(level, name) {
      if (name !== undefined) levels[name] = level;
      else for (const n of LOGGER_NAMES) levels[n] = level;
    },
  };
}
