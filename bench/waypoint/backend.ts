/**
 * The far end of the waypoint benchmark, in a worker thread (its own event loop, like a pod on another node):
 * a pod's HBONE listener (`podIP:15008`, as its ztunnel has it, with the default TCP upstream) in front of
 * an HTTP/1.1 app on `podIP:8080` that answers every request with 128 bytes, and the same app over HTTP/2 with
 * prior knowledge on `podIP:8081` (for the HTTP/2 client going to the pod without a proxy).
 * @module
 */
import http from 'node:http';
import http2 from 'node:http2';
import { parentPort, workerData } from 'node:worker_threads';
import { createHboneServer } from '@ambient-kit/hbone';
import { createBundleSet, svidSourceFromPem, x509BundleFromPem } from '@ambient-kit/spiffe';

/** What the main thread sends. */
export interface BackendInit {
  readonly trustDomain: string;
  readonly rootPem: string;
  readonly chainPem: string;
  readonly keyPem: string;
  readonly podIp: string;
}

const init = workerData as BackendInit;
const body = Buffer.alloc(128, 'x');
const app = http.createServer({ keepAliveTimeout: 60_000 }, (req, res) => {
  req.resume();
  req.on('end', () =>
    res.writeHead(200, { 'content-type': 'text/plain', 'content-length': body.length }).end(body),
  );
});
await new Promise<void>((resolve) => app.listen(8080, init.podIp, resolve));
const app2 = http2.createServer((req, res) => {
  req.resume();
  req.on('end', () =>
    res.writeHead(200, { 'content-type': 'text/plain', 'content-length': body.length }).end(body),
  );
});
await new Promise<void>((resolve) => app2.listen(8081, init.podIp, resolve));
const hbone = createHboneServer({
  svid: svidSourceFromPem(init.chainPem, init.keyPem),
  bundles: createBundleSet([x509BundleFromPem(init.trustDomain, init.rootPem)._unsafeUnwrap()]),
});
await hbone.listen({ port: 15008, host: init.podIp });
parentPort?.postMessage('ready');
parentPort?.on('message', (m) => {
  if (m === 'close') {
    void hbone.close({ deadlineMs: 0 }).then(() => {
      app.closeAllConnections();
      app.close();
      app2.close();
      parentPort?.postMessage('closed');
    });
  }
});
