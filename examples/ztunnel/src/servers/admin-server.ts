/**
 * The admin server (port 15000, `istio/ztunnel@62d82653:src/admin.rs`): `/config_dump` in ztunnel's JSON shape, `/quitquitquit`,
 * and a plain-text index at `/`.
 * @module
 */
import http from 'node:http';

/** What the admin server serves. */
export interface AdminHandlers {
  /** The `/config_dump` document. */
  readonly configDump: () => unknown;
  /** `POST /quitquitquit`: shut down. */
  readonly quit?: () => void;
}

const INDEX =
  'ztunnel admin\n\n/config_dump    workloads, services, policies, certificates, config\n/quitquitquit  POST: shut down\n';

/**
 * Creates the admin HTTP server (not listening yet).
 *
 * @param handlers - Where the answers come from.
 * @returns The server.
 * @example
 * ```ts
 * await listen(createAdminServer({ configDump: () => ztunnel.configDump() }), '127.0.0.1', 15000);
 * ```
 */
export function createAdminServer(handlers: AdminHandlers): http.Server {
  return http.createServer((req, res) => {
    const path = new URL(req.url ?? '/', 'http://admin').pathname;
    if (path === '/config_dump' && req.method === 'GET') {
      const body = `${JSON.stringify(handlers.configDump(), null, 2)}\n`;
      res.writeHead(200, { 'content-type': 'application/json' }).end(body);
    } else if (path === '/quitquitquit' && req.method === 'POST') {
      res.writeHead(200, { 'content-type': 'text/plain' }).end('OK\n');
      handlers.quit?.();
    } else if (path === '/' && req.method === 'GET') {
      res.writeHead(200, { 'content-type': 'text/plain' }).end(INDEX);
    } else {
      res.writeHead(404).end();
    }
  });
}
