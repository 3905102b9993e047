/**
 * Benchmarks for `@ambient-kit/native-hbone` (issue 17): `fetch` over the mesh dispatcher against plain
 * undici to the same app on loopback, in the same run.
 *
 * The app is one `node:http` server on `127.0.78.2`: it listens on `:8080` for plain undici, and the mesh
 * server hands it each HBONE tunnel from `:15008` (TLS 1.3, HTTP/2 CONNECT, L4 policy evaluation against a
 * store with one ALLOW policy). The mesh side resolves `http://app/` through the workload store (service
 * name → VIP → endpoint) for each new connection. Both clients are undici `Agent`s with keep-alive, driven
 * by the global `fetch`; client and server share this process, on both sides alike.
 *
 * Rows: requests/s with 16 requests in flight (target: mesh ≥ 0.6 × plain); p50 latency of sequential
 * requests on warm connections, and the p50 the mesh adds (mesh p50 − plain p50 of the same round;
 * target ≤ 1 ms). Each figure is min / median / max over 5 rounds; the sides alternate within each round.
 *
 * Why the mesh can match plain undici here: the 16 plain connections are 16 loopback sockets (a syscall per
 * read and write on each end), while the 16 tunnels share one TLS connection whose HTTP/2 frames batch many
 * requests per syscall, and the server side of each tunnel is an in-memory stream. TLS, HTTP/2 framing, the
 * store lookup per new connection and L4 policy per tunnel are the mesh's extra work.
 *
 * Run: `npm run bench:native-hbone -w @ambient-kit/bench` (1 s per measurement).
 */
import http from 'node:http';
import { createMeshDispatcher, createMeshServer } from '@ambient-kit/native-hbone';
import { createBundleSet, createCertificateAuthority } from '@ambient-kit/spiffe';
import {
  createAuthorization,
  createService,
  createWorkload,
  createWorkloadStore,
} from '@ambient-kit/workload-api';
import { Agent, type Dispatcher } from 'undici';
import { printRows, type Row, type Spread } from '../support/rounds.js';

const ROUNDS = 5;
const MS = 1000;
const CONCURRENCY = 16;
const CLIENT_IP = '127.0.78.1';
const APP_IP = '127.0.78.2';
const host = 'app.bench.svc.cluster.local';
const id = (sa: string): string => `spiffe://cluster.local/ns/bench/sa/${sa}`;

const ca = await createCertificateAuthority({ trustDomain: 'cluster.local' });
const bundles = createBundleSet([ca.bundle]);
const store = createWorkloadStore();
const pod = (
  name: string,
  ip: string,
  services: { key: string; namespace: string; hostname: string; ports: [] }[],
) =>
  createWorkload({
    uid: `Kubernetes//Pod/bench/${name}`,
    name,
    namespace: 'bench',
    serviceAccount: name,
    workloadIps: [ip],
    protocol: 'HBONE',
    nativeTunnel: true,
    services,
  });
store.apply({
  resources: [
    pod('client', CLIENT_IP, []),
    pod('app', APP_IP, [{ key: `bench/${host}`, namespace: 'bench', hostname: host, ports: [] }]),
    createService({
      name: 'app',
      namespace: 'bench',
      hostname: host,
      vips: [{ network: '', address: '10.96.78.2' }],
      ports: [{ servicePort: 80, targetPort: 8080, appProtocol: 'HTTP11' }],
    }),
    createAuthorization({
      name: 'allow-client',
      namespace: 'bench',
      scope: 'Namespace',
      groups: [{ rules: [{ matches: [{ principals: [{ exact: 'cluster.local/ns/bench/sa/client' }] }] }] }],
    }),
  ],
});

const body = Buffer.alloc(128, 'x');
const app = http.createServer((_req, res) => {
  res.setHeader('content-type', 'text/plain');
  res.end(body);
});
app.keepAliveTimeout = 60_000;
await new Promise<void>((resolve) => app.listen(8080, APP_IP, resolve));
const mesh = createMeshServer({ svid: await ca.issue(id('app')), bundles, store, server: app });
await mesh.listen(15008, APP_IP);

const plain = new Agent({ connections: CONCURRENCY, keepAliveTimeout: 60_000 });
const meshClient = createMeshDispatcher({
  svid: await ca.issue(id('client')),
  bundles,
  store,
  source: 'Kubernetes//Pod/bench/client',
  bindSourceIp: true,
  agent: { connections: CONCURRENCY, keepAliveTimeout: 60_000 },
});

type Side = { readonly url: string; readonly dispatcher: Dispatcher };
const sides: Record<'plain' | 'mesh', Side> = {
  plain: { url: `http://${APP_IP}:8080/`, dispatcher: plain },
  mesh: { url: 'http://app/', dispatcher: meshClient },
};

async function once(side: Side): Promise<void> {
  const res = await fetch(side.url, { dispatcher: side.dispatcher } as RequestInit);
  if (res.status !== 200) throw new Error(`${side.url}: ${res.status}`);
  await res.arrayBuffer();
}

async function throughput(side: Side): Promise<number> {
  let done = 0;
  const until = performance.now() + MS;
  const loop = async (): Promise<void> => {
    while (performance.now() < until) {
      await once(side);
      done++;
    }
  };
  const started = performance.now();
  await Promise.all(Array.from({ length: CONCURRENCY }, loop));
  return done / ((performance.now() - started) / 1000);
}

async function p50(side: Side): Promise<number> {
  const times: number[] = [];
  const until = performance.now() + MS / 2;
  while (performance.now() < until) {
    const t0 = performance.now();
    await once(side);
    times.push(performance.now() - t0);
  }
  times.sort((a, b) => a - b);
  return times[Math.floor(times.length / 2)] ?? Number.NaN;
}

function spread(values: number[]): Spread {
  const sorted = [...values].sort((a, b) => a - b);
  return {
    min: sorted[0] ?? Number.NaN,
    median: sorted[Math.floor(sorted.length / 2)] ?? Number.NaN,
    max: sorted[sorted.length - 1] ?? Number.NaN,
  };
}

// Warm up both paths (TLS handshakes, JIT).
for (const side of Object.values(sides)) await throughput(side);

const rps = { plain: [] as number[], mesh: [] as number[] };
const lat = { plain: [] as number[], mesh: [] as number[], added: [] as number[] };
for (let round = 0; round < ROUNDS; round++) {
  const order = round % 2 === 0 ? (['plain', 'mesh'] as const) : (['mesh', 'plain'] as const);
  for (const name of order) rps[name].push(await throughput(sides[name]));
  const p = { plain: 0, mesh: 0 };
  for (const name of order) p[name] = await p50(sides[name]);
  lat.plain.push(p.plain);
  lat.mesh.push(p.mesh);
  lat.added.push(p.mesh - p.plain);
}

const rows: Row[] = [
  {
    name: `fetch req/s, ${CONCURRENCY} in flight: mesh dispatcher vs plain undici`,
    unit: 'req/s',
    ours: spread(rps.mesh),
    baseline: spread(rps.plain),
    baselineName: 'plain undici',
    target: { ratio: 0.6 },
  },
  {
    name: 'fetch p50 latency, sequential: mesh vs plain',
    unit: 'ms',
    ours: spread(lat.mesh),
    baseline: spread(lat.plain),
    baselineName: 'plain undici',
  },
  { name: 'p50 latency the mesh adds', unit: 'ms', ours: spread(lat.added), target: { atMost: 1 } },
];
printRows('@ambient-kit/native-hbone: fetch over HBONE vs plain undici, loopback', rows);

await meshClient.close();
await plain.close();
await mesh.close({ deadlineMs: 100 });
app.closeAllConnections();
app.close();
