/**
 * The far side of the soak test, in a worker thread (its own event loop and core, as the peer proxy on
 * another node would be): an HBONE server with default settings in front of a TCP echo.
 * @module
 */
import net from 'node:net';
import v8 from 'node:v8';
import vm from 'node:vm';
import { parentPort, workerData } from 'node:worker_threads';
import { createBundleSet, svidSourceFromPem, x509BundleFromPem } from '@ambient-kit/spiffe';
import { createHboneServer } from '../../src/index.js';

/** What the test thread sends: the server's SVID and the trust bundle, as PEM. */
export interface SoakInit {
  readonly trustDomain: string;
  readonly rootPem: string;
  readonly serverChainPem: string;
  readonly serverKeyPem: string;
}

v8.setFlagsFromString('--expose-gc');
const gc = vm.runInNewContext('gc') as () => void;
const init = workerData as SoakInit;
const echo = net.createServer({ allowHalfOpen: true }, (socket) => {
  socket.on('error', () => {});
  socket.pipe(socket);
});
await new Promise<void>((resolve) => echo.listen({ port: 0, host: '127.0.0.1', backlog: 1024 }, resolve));
const bundles = createBundleSet([x509BundleFromPem(init.trustDomain, init.rootPem)._unsafeUnwrap()]);
const server = createHboneServer({
  svid: svidSourceFromPem(init.serverChainPem, init.serverKeyPem),
  bundles,
});
const { port } = await server.listen({ port: 0, host: '127.0.0.1' });

function memory(): { heap: number; arrayBuffers: number } {
  gc();
  gc();
  const usage = process.memoryUsage();
  return { heap: usage.heapUsed, arrayBuffers: usage.arrayBuffers };
}

parentPort?.postMessage({ hbonePort: port, echoPort: (echo.address() as net.AddressInfo).port });
parentPort?.on('message', async (message: unknown) => {
  if (message === 'stats') parentPort?.postMessage({ stats: server.stats(), memory: memory() });
  if (message === 'stop') {
    await server.close({ deadlineMs: 100 });
    echo.close();
    parentPort?.close();
  }
});
