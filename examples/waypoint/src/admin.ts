/**
 * The waypoint's operational ports, as an Istio waypoint pod has them:
 *
 * - **15000**, Envoy's admin: `GET /config_dump` (see config-dump.ts), `GET /stats/prometheus` (and
 *   `/stats?format=prometheus`), `GET /ready` (`LIVE`, or 503 with the state while starting or draining),
 *   `GET /server_info`, `GET|POST /logging` (list, or `?level=<level>` / `?<logger>=<level>`), and the
 *   mutations Envoy keeps behind POST: `POST /drain_listeners` (graceful drain) and `POST /quitquitquit`;
 * - **15020**, pilot-agent's merged metrics: `GET /stats/prometheus` (also `/metrics`);
 * - **15021**, pilot-agent's readiness: `GET /healthz/ready`, 200 when Envoy is LIVE, 503 otherwise.
 * @module
 */
import http from 'node:http';
import { isLogLevel, LOGGER_NAMES, type LoggerName, type WaypointLogger } from './logger.js';

/** What the ports answer from. */
export interface AdminSource {
  configDump(): Record<string, unknown>;
  metricsText(): Promise<string>;
  state(): 'PRE_INITIALIZING' | 'LIVE' | 'DRAINING';
  serverInfo(): Record<string, unknown>;
  readonly logger: WaypointLogger;
  /** `POST /drain_listeners`. */
  drain(): void;
  /** `POST /quitquitquit`. */
  quit(): void;
}

const PROMETHEUS = 'text/plain; version=0.0.4; charset=utf-8';

function send(res: http.ServerResponse, status: number, type: string, body: string): void {
  res.writeHead(status, { 'content-type': type, 'content-length': Buffer.byteLength(body) });
  res.end(body);
}

function loggersText(logger: WaypointLogger): string {
  const levels = logger.levels();
  return `active loggers:\n${LOGGER_NAMES.map((n) => `  ${n}: ${levels[n]}`).join('\n')}\n`;
}

/**
 * The admin server (Envoy's port 15000).
 *
 * @param source - What it reports and controls.
 * @returns An `http.Server`, not yet listening.
 * @example
 * ```ts
 * createAdminServer(source).listen(15000, '127.0.0.1');
 * ```
 */
export function createAdminServer(source: AdminSource): http.Server {
  return http.createServer((req, res) => {
    const url = new URL(req.url ?? '/', 'http://admin');
    const post = req.method === 'POST';
    req.resume();
    switch (url.pathname) {
      case '/config_dump':
        send(res, 200, 'application/json', `${JSON.stringify(source.configDump(), null, 2)}\n`);
        return;
      case '/stats':
        if (url.searchParams.get('format') !== 'prometheus') {
          send(res, 404, 'text/plain', 'only ?format=prometheus is served here\n');
          return;
        }
        void source.metricsText().then((text) => send(res, 200, PROMETHEUS, text));
        return;
      case '/stats/prometheus':
        void source.metricsText().then((text) => send(res, 200, PROMETHEUS, text));
        return;
      case '/ready': {
        const state = source.state();
        send(res, state === 'LIVE' ? 200 : 503, 'text/plain', `${state}\n`);
        return;
      }
      case '/server_info':
        send(res, 200, 'application/json', `${JSON.stringify(source.serverInfo(), null, 2)}\n`);
        return;
      case '/logging': {
        if (!post) {
          if ([...url.searchParams.keys()].length > 0) {
            send(res, 405, 'text/plain', 'This endpoint requires POST\n');
            return;
          }
          send(res, 200, 'text/plain', loggersText(source.logger));
          return;
        }
        for (const [name, level] of url.searchParams) {
          if (!isLogLevel(level)) {
            send(res, 400, 'text/plain', `error: unknown log level ${JSON.stringify(level)}\n`);
            return;
          }
          if (name !== 'level' && !(LOGGER_NAMES as readonly string[]).includes(name)) {
            send(res, 400, 'text/plain', `error: unknown logger ${JSON.stringify(name)}\n`);
            return;
          }
        }
        for (const [name, level] of url.searchParams) {
          if (!isLogLevel(level)) continue;
          source.logger.setLevel(level, name === 'level' ? undefined : (name as LoggerName));
        }
        send(res, 200, 'text/plain', loggersText(source.logger));
        return;
      }
      case '/drain_listeners':
      case '/quitquitquit':
        if (!post) {
          send(res, 405, 'text/plain', 'This endpoint requires POST\n');
          return;
        }
        send(res, 200, 'text/plain', 'OK\n');
        if (url.pathname === '/quitquitquit') source.quit();
        else source.drain();
        return;
      default:
        send(
          res,
          404,
          'text/plain',
          'admin: /config_dump /stats/prometheus /ready /server_info /logging /drain_listeners /quitquitquit\n',
        );
    }
  });
}

/**
 * The merged metrics server (pilot-agent's port 15020).
 *
 * @param source - The metrics.
 * @returns An `http.Server`, not yet listening.
 * @example
 * ```ts
 * createMetricsServer(source).listen(15020, ip);
 * ```
 */
export function createMetricsServer(source: Pick<AdminSource, 'metricsText'>): http.Server {
  return http.createServer((req, res) => {
    req.resume();
    const path = new URL(req.url ?? '/', 'http://metrics').pathname;
    if (path !== '/stats/prometheus' && path !== '/metrics') {
      send(res, 404, 'text/plain', 'metrics: /stats/prometheus\n');
      return;
    }
    void source.metricsText().then((text) => send(res, 200, PROMETHEUS, text));
  });
}

/**
 * The readiness server (pilot-agent's port 15021).
 *
 * @param source - The state.
 * @returns An `http.Server`, not yet listening.
 * @example
 * ```ts
 * createReadinessServer(source).listen(15021, ip);
 * ```
 */
export function createReadinessServer(source: Pick<AdminSource, 'state'>): http.Server {
  return http.createServer((req, res) => {
    req.resume();
    const path = new URL(req.url ?? '/', 'http://ready').pathname;
    if (path !== '/healthz/ready') {
      send(res, 404, 'text/plain', 'readiness: /healthz/ready\n');
      return;
    }
    const state = source.state();
    if (state === 'LIVE') send(res, 200, 'text/plain', '');
    else send(res, 503, 'text/plain', `not ready: ${state}\n`);
  });
}
