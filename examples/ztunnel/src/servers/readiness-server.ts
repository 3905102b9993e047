/**
 * The readiness server (port 15021, `istio/ztunnel@62d82653:src/readiness/server.rs`): `GET /healthz/ready` answers
 * `200 ready` once nothing is pending, else `500 not ready, pending: a, b`; other methods get 405.
 * @module
 */
import http from 'node:http';

/**
 * Creates the readiness HTTP server (not listening yet).
 *
 * @param pending - What the ztunnel still waits for (e.g. `xds`, a certificate's identity), in any order.
 * @returns The server.
 * @example
 * ```ts
 * await listen(createReadinessServer(() => ztunnel.pending()), '0.0.0.0', 15021);
 * ```
 */
export function createReadinessServer(pending: () => readonly string[]): http.Server {
  return http.createServer((req, res) => {
    const path = new URL(req.url ?? '/', 'http://readiness').pathname;
    if (path !== '/healthz/ready') {
      res.writeHead(404).end();
      return;
    }
    if (req.method !== 'GET') {
      res.writeHead(405).end();
      return;
    }
    const waiting = [...pending()].sort();
    if (waiting.length === 0) {
      res.writeHead(200, { 'content-type': 'text/plain' }).end('ready\n');
    } else {
      res.writeHead(500, { 'content-type': 'text/plain' }).end(`not ready, pending: ${waiting.join(', ')}\n`);
    }
  });
}
