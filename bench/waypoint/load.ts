/**
 * The load generator of the waypoint benchmark, in a worker thread: `connections` closed-loop clients, each an
 * HBONE tunnel as a source ztunnel opens it, sending requests one after the other for `durationMs` (HTTP/1.1
 * keep-alive), or one HTTP/2 session with prior knowledge carrying `connections` streams at a time. It reports
 * how many requests completed and each one's latency.
 * @module
 */
import http from 'node:http';
import http2 from 'node:http2';
import type { Duplex } from 'node:stream';
import { parentPort, workerData } from 'node:worker_threads';
import { createHboneClient } from '@ambient-kit/hbone';
import { createBundleSet, svidSourceFromPem, x509BundleFromPem } from '@ambient-kit/spiffe';

/** What the main thread sends once. */
export interface LoadInit {
  readonly trustDomain: string;
  readonly rootPem: string;
  readonly chainPem: string;
  readonly keyPem: string;
}

/** One measurement. */
export interface LoadJob {
  readonly via: string;
  readonly authority: string;
  readonly identities: readonly string[];
  readonly version: '1.1' | '2';
  readonly connections: number;
  readonly durationMs: number;
}

/** Its result. */
export interface LoadResult {
  readonly requests: number;
  readonly errors: number;
  readonly seconds: number;
  /** Latencies in milliseconds, sorted. */
  readonly latencies: Float64Array;
}

const init = workerData as LoadInit;
const client = createHboneClient({
  svid: svidSourceFromPem(init.chainPem, init.keyPem),
  bundles: createBundleSet([x509BundleFromPem(init.trustDomain, init.rootPem)._unsafeUnwrap()]),
});

function h1Get(agent: http.Agent): Promise<number> {
  return new Promise((resolve) => {
    const t0 = performance.now();
    const req = http.request(
      { path: '/bench', host: 'reviews', agent, headers: { host: 'reviews:9080' } },
      (res) => {
        res.resume();
        res.on('end', () => resolve(res.statusCode === 200 ? performance.now() - t0 : -1));
      },
    );
    req.on('error', () => resolve(-1));
    req.end();
  });
}

function h2Get(session: http2.ClientHttp2Session): Promise<number> {
  return new Promise((resolve) => {
    const t0 = performance.now();
    const stream = session.request({ ':path': '/bench', ':authority': 'reviews:9080' });
    let status = 0;
    stream.on('response', (h) => {
      status = Number(h[':status']);
    });
    stream.resume();
    stream.on('end', () => resolve(status === 200 ? performance.now() - t0 : -1));
    stream.on('error', () => resolve(-1));
  });
}

async function run(job: LoadJob): Promise<LoadResult> {
  const open = async (): Promise<Duplex> => {
    const t = await client.connect({
      via: job.via,
      authority: job.authority,
      expectedIdentities: job.identities,
    });
    t.on('error', () => {});
    return t;
  };
  const latencies: number[] = [];
  let errors = 0;
  const record = (ms: number): void => {
    if (ms < 0) errors++;
    else latencies.push(ms);
  };
  const end = () => performance.now() >= deadline;
  let deadline = 0;
  if (job.version === '1.1') {
    const agents = await Promise.all(
      Array.from({ length: job.connections }, async () => {
        const tunnel = await open();
        const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
        (agent as unknown as { createConnection: () => Duplex }).createConnection = () => tunnel;
        await h1Get(agent);
        return { agent, tunnel };
      }),
    );
    const t0 = performance.now();
    deadline = t0 + job.durationMs;
    await Promise.all(
      agents.map(async ({ agent }) => {
        while (!end()) record(await h1Get(agent));
      }),
    );
    const seconds = (performance.now() - t0) / 1000;
    for (const { agent, tunnel } of agents) {
      agent.destroy();
      tunnel.destroy();
    }
    return { requests: latencies.length, errors, seconds, latencies: Float64Array.from(latencies).sort() };
  }
  const tunnel = await open();
  const session = http2.connect('http://reviews', { createConnection: () => tunnel });
  session.on('error', () => {});
  await h2Get(session);
  const t0 = performance.now();
  deadline = t0 + job.durationMs;
  await Promise.all(
    Array.from({ length: job.connections }, async () => {
      while (!end()) record(await h2Get(session));
    }),
  );
  const seconds = (performance.now() - t0) / 1000;
  session.close();
  tunnel.destroy();
  return { requests: latencies.length, errors, seconds, latencies: Float64Array.from(latencies).sort() };
}

parentPort?.on('message', (job: LoadJob | 'close') => {
  if (job === 'close') {
    void client.close({ deadlineMs: 0 }).then(() => parentPort?.postMessage('closed'));
    return;
  }
  void run(job).then((result) => parentPort?.postMessage(result, [result.latencies.buffer as ArrayBuffer]));
});
parentPort?.postMessage('ready');
