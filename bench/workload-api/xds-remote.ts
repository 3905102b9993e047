/**
 * The control plane of the xDS rows, in a worker thread (its own event loop and heap, as istiod is its own
 * process): the realistic mesh in a store, served by `createXdsServer` on loopback. The main thread asks
 * for a fresh server (`serve`: the mesh is encoded then, once, as when it changed) and stops it (`stop`).
 * @module
 */
import { parentPort } from 'node:worker_threads';
import { createWorkloadStore } from '@ambient-kit/workload-api';
import { createXdsServer, type XdsServer } from '@ambient-kit/workload-api/xds';
import { realisticMesh } from './mesh.js';

/** A request from the main thread. */
export type RemoteRequest = { readonly cmd: 'serve' } | { readonly cmd: 'stop' };
/** The answer to `serve`: where, and how long encoding the mesh took. */
export interface RemoteServing {
  readonly port: number;
  readonly encodeMs: number;
}

const port = parentPort;
if (port === null) throw new Error('xds-remote.ts runs in a worker thread');
const store = createWorkloadStore();
store.apply({ resources: realisticMesh().resources });
let server: XdsServer | undefined;

port.on('message', async (req: RemoteRequest) => {
  if (req.cmd === 'serve') {
    await server?.close();
    const t0 = performance.now();
    server = createXdsServer({ store });
    const encodeMs = performance.now() - t0;
    const bound = await server.listen('127.0.0.1:0');
    port.postMessage({ port: bound, encodeMs } satisfies RemoteServing);
  } else {
    await server?.close();
    server = undefined;
    port.postMessage('stopped');
  }
});
port.postMessage('ready');
