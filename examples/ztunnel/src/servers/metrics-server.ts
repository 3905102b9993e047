/**
 * The metrics server (port 15020, `istio/ztunnel@62d82653:src/metrics/server.rs`): `/metrics` and `/stats/prometheus`, the
 * OpenMetrics text ztunnel's encoder writes, labelled `application/openmetrics-text` when the scraper asks
 * for it and `text/plain` otherwise.
 * @module
 */
import http from 'node:http';
import type { OpenMetricsContentType, Registry } from 'prom-client';

const OPENMETRICS = 'application/openmetrics-text;charset=utf-8;version=1.0.0';
const PLAIN = 'text/plain; charset=utf-8';

/**
 * The content type ztunnel answers for an `Accept` header.
 *
 * @param accept - The request's `Accept` header(s).
 * @returns OpenMetrics if any entry's media type is `application/openmetrics-text`, else plain text.
 * @example
 * ```ts
 * metricsContentType('application/openmetrics-text; version=1.0.0'); // application/openmetrics-text;charset=utf-8;version=1.0.0
 * ```
 */
export function metricsContentType(accept: string | readonly string[] | undefined): string {
  const entries = (Array.isArray(accept) ? accept : [accept ?? '']).flatMap((a: string) => a.split(','));
  const open = entries.some((e) => e.split(';')[0]?.trim().toLowerCase() === 'application/openmetrics-text');
  return open ? OPENMETRICS : PLAIN;
}

/**
 * Creates the metrics HTTP server (not listening yet).
 *
 * @param registry - The ztunnel's prom-client registry.
 * @returns The server.
 * @example
 * ```ts
 * await listen(createMetricsServer(metrics.registry), '0.0.0.0', 15020);
 * ```
 */
export function createMetricsServer(registry: Registry<OpenMetricsContentType>): http.Server {
  return http.createServer((req, res) => {
    const path = new URL(req.url ?? '/', 'http://metrics').pathname;
    if (path !== '/metrics' && path !== '/stats/prometheus') {
      res.writeHead(404).end();
      return;
    }
    registry.metrics().then(
      (text) => res.writeHead(200, { 'content-type': metricsContentType(req.headers.accept) }).end(text),
      (error: Error) => res.writeHead(500, { 'content-type': PLAIN }).end(`${error.message}\n`),
    );
  });
}
