/**
 * Benchmarks for the example waypoint (issue 12): requests per second and the latency it adds, HTTP/1.1 and
 * HTTP/2 (prior knowledge), next to a plain Node HTTP reverse proxy on the same path in the same run.
 *
 * The path, for both proxies: a client (worker thread) → HBONE (mTLS, HTTP/2 CONNECT) → the proxy on
 * `127.0.70.x:15008` → HTTP → HBONE to the pod's `:15008` (worker thread) → the app (128-byte answers). The
 * plain proxy terminates HBONE, parses HTTP with node:http / node:http2 and forwards each request with
 * `http.request` over pooled HBONE tunnels: no policy, no routing, no telemetry. The waypoint does what it
 * does for every request: RequestAuthentication, AuthorizationPolicy (one ALLOW policy), routing (one
 * VirtualService route), endpoint choice with the DestinationRule, Istio's metrics and an access log line
 * (formatted, not printed). "direct" is the client going to the pod without a proxy: added latency is a
 * proxy's p50 (or p99) minus direct's, measured in the same round.
 *
 * Targets: the waypoint's requests/s ≥ 0.7 × the plain proxy's; added p50 ≤ 1 ms. Each figure is min /
 * median / max over 5 rounds; the modes alternate within each round so they see the same machine load.
 *
 * Run: `npm run bench:waypoint -w @ambient-kit/bench` (`BENCH_WAYPOINT_MS` per measurement, default 1500).
 */
import { once } from 'node:events';
import { readFileSync } from 'node:fs';
import http from 'node:http';
import http2 from 'node:http2';
import { cpus, loadavg } from 'node:os';
import type { Duplex } from 'node:stream';
import { Worker } from 'node:worker_threads';
import {
  createWaypoint,
  createWaypointLogger,
  formatWaypointAccessLog,
  parseL7Config,
  sniffProtocol,
  staticL7Config,
} from '@ambient-kit/example-waypoint';
import { createDuplexPair, createHboneClient, createHboneServer, type PairEnd } from '@ambient-kit/hbone';
import { createBundleSet, createCertificateAuthority } from '@ambient-kit/spiffe';
import { createService, createWorkload, createWorkloadStore } from '@ambient-kit/workload-api';
import { printRows, type Row, type Spread } from '../support/rounds.js';
import type { BackendInit } from './backend.js';
import type { LoadJob, LoadResult } from './load.js';

type Mode = 'direct' | 'plain' | 'waypoint';
const ROUNDS = 5;
const MS = Number(process.env['BENCH_WAYPOINT_MS'] ?? 1500);
const CONNECTIONS = Number(process.env['BENCH_WAYPOINT_CONNECTIONS'] ?? 8);
const TD = 'cluster.local';
const NET = '127.0.70';
const POD = `${NET}.20`;
const WAYPOINT = `${NET}.100`;
const PLAIN = `${NET}.101`;
const VIP = '10.96.70.20';
// For profiling one side: BENCH_WAYPOINT_MODES=waypoint (comma-separated; default all three).
const MODES = (process.env['BENCH_WAYPOINT_MODES'] ?? 'direct,plain,waypoint').split(',') as Mode[];
const VERSIONS = (process.env['BENCH_WAYPOINT_VERSIONS'] ?? '1.1,2').split(',') as ('1.1' | '2')[];
const id = (sa: string): string => `spiffe://${TD}/ns/bench/sa/${sa}`;

const load0 = loadavg();
const ca = await createCertificateAuthority({ trustDomain: TD });
const bundles = createBundleSet([ca.bundle]);
const pem = async (sa: string) => {
  const svid = await ca.issue(id(sa));
  return { chainPem: svid.certChainPem, keyPem: svid.privateKeyPem, svid };
};
const pod = await pem('reviews');
const sleep = await pem('sleep');
const waypointSvid = (await pem('waypoint')).svid;

// Worker threads load TypeScript through tsx's API (Node 20 does not hand a parent's loader hooks to a worker).
function worker(file: string, data: unknown): Worker {
  const url = new URL(file, import.meta.url).href;
  return new Worker(
    `import('tsx/esm/api').then((tsx) => { tsx.register(); return import(${JSON.stringify(url)}); });`,
    { eval: true, workerData: data },
  );
}
const backend = worker('./backend.ts', {
  trustDomain: TD,
  rootPem: ca.rootCertificatePem,
  chainPem: pod.chainPem,
  keyPem: pod.keyPem,
  podIp: POD,
} satisfies BackendInit);
const loader = worker('./load.ts', {
  trustDomain: TD,
  rootPem: ca.rootCertificatePem,
  chainPem: sleep.chainPem,
  keyPem: sleep.keyPem,
});
await Promise.all([once(backend, 'message'), once(loader, 'message')]);

// ---- the waypoint ----
const store = createWorkloadStore();
const host = 'reviews.bench.svc.cluster.local';
store.apply({
  resources: [
    createWorkload({
      uid: 'Kubernetes//Pod/bench/reviews-1',
      name: 'reviews-1',
      namespace: 'bench',
      serviceAccount: 'reviews',
      canonicalName: 'reviews',
      canonicalRevision: 'v1',
      workloadIps: [POD],
      protocol: 'HBONE',
      services: [{ key: `bench/${host}`, namespace: 'bench', hostname: host, ports: [] }],
    }),
    createWorkload({
      uid: 'Kubernetes//Pod/bench/waypoint',
      name: 'waypoint',
      namespace: 'bench',
      serviceAccount: 'waypoint',
      workloadIps: [WAYPOINT],
      protocol: 'HBONE',
      nativeTunnel: true,
    }),
    createService({
      name: 'reviews',
      namespace: 'bench',
      hostname: host,
      vips: [{ network: '', address: VIP }],
      ports: [{ servicePort: 9080, targetPort: 8080, appProtocol: 'UNKNOWN' }],
      waypoint: { destination: { kind: 'address', network: '', address: WAYPOINT }, hboneMtlsPort: 15008 },
    }),
  ],
});
const config = parseL7Config(`apiVersion: v1
kind: Service
metadata: {name: reviews, namespace: bench}
spec: {ports: [{name: http, port: 9080, targetPort: 8080}]}
---
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: reviews, namespace: bench}
spec:
  hosts: [reviews]
  http: [{name: all, route: [{destination: {host: reviews}}]}]
---
apiVersion: security.istio.io/v1
kind: AuthorizationPolicy
metadata: {name: reviews, namespace: bench}
spec:
  targetRefs: [{kind: Service, group: "", name: reviews}]
  rules: [{from: [{source: {principals: ["cluster.local/ns/bench/sa/sleep"]}}], to: [{operation: {methods: [GET]}}]}]
`);
if (config.isErr()) throw config.error;
let logged = 0;
const waypoint = createWaypoint({
  workloadUid: 'Kubernetes//Pod/bench/waypoint',
  workloads: { store },
  svid: waypointSvid,
  bundles,
  config: staticL7Config(config.value),
  ports: { admin: false, metrics: false, readiness: false },
  logger: createWaypointLogger({ level: 'critical' }),
  // The access log line is built as for stdout, then dropped.
  accessLog: (entry) => {
    logged += formatWaypointAccessLog(entry).length > 0 ? 1 : 0;
  },
});
await waypoint.start();

// ---- the plain reverse proxy on the same path ----
const upstreamClient = createHboneClient({ svid: waypointSvid, bundles });
const agent = new http.Agent({ keepAlive: true, maxFreeSockets: 256 });
(agent as unknown as { createConnection: unknown }).createConnection = (
  _o: unknown,
  cb: (e: Error | null, s?: Duplex) => void,
) => {
  upstreamClient
    .connect({
      via: `${POD}:15008`,
      authority: `${POD}:8080`,
      expectedIdentities: [id('reviews')],
      sourceIp: PLAIN,
    })
    .then(
      (s) => cb(null, s),
      (e: Error) => cb(e),
    );
  return undefined;
};
function forward(
  method: string,
  path: string,
  headers: http.OutgoingHttpHeaders,
  body: NodeJS.ReadableStream | undefined,
  answer: (status: number, headers: http.IncomingHttpHeaders, res: http.IncomingMessage) => void,
  fail: () => void,
): void {
  const req = http.request({ agent, host: POD, port: 8080, method, path, headers, setHost: false }, (res) =>
    answer(res.statusCode ?? 502, res.headers, res),
  );
  req.on('error', fail);
  if (body === undefined) req.end();
  else body.pipe(req);
}
const plainH1 = http.createServer((req, res) => {
  const { connection: _c, 'keep-alive': _k, ...headers } = req.headers;
  forward(
    req.method ?? 'GET',
    req.url ?? '/',
    headers,
    req.headers['content-length'] === undefined ? undefined : req,
    (status, h, upstream) => {
      res.writeHead(status, h);
      upstream.pipe(res);
    },
    () => res.writeHead(502).end(),
  );
});
const plain = createHboneServer({
  svid: waypointSvid,
  bundles,
  checkDestinationIp: false,
  connectUpstream: () => {
    const [inner, outer] = createDuplexPair();
    inner.once('readable', function peek(this: PairEnd) {
      const first = inner.read() as Buffer | null;
      if (first === null) {
        inner.once('readable', peek);
        return;
      }
      inner.unshift(first);
      if (sniffProtocol(first, 'http') === 'h2') {
        http2.performServerHandshake(inner).on('stream', (stream, h) => {
          const headers: http.OutgoingHttpHeaders = { host: String(h[':authority'] ?? '') };
          for (const [k, v] of Object.entries(h)) if (!k.startsWith(':')) headers[k] = v;
          forward(
            String(h[':method']),
            String(h[':path']),
            headers,
            undefined,
            (status, rh, upstream) => {
              const { connection: _c, 'keep-alive': _k, 'transfer-encoding': _t, ...out } = rh;
              stream.respond({ ':status': status, ...out });
              upstream.pipe(stream);
            },
            () => stream.close(http2.constants.NGHTTP2_INTERNAL_ERROR),
          );
        });
      } else plainH1.emit('connection', inner);
    });
    return outer;
  },
});
await plain.listen({ port: 15008, host: PLAIN });

// ---- measurements ----
const targets: Record<Mode, Pick<LoadJob, 'via' | 'authority' | 'identities'>> = {
  direct: { via: `${POD}:15008`, authority: `${POD}:8080`, identities: [id('reviews')] },
  plain: { via: `${PLAIN}:15008`, authority: `${VIP}:9080`, identities: [id('waypoint')] },
  waypoint: { via: `${WAYPOINT}:15008`, authority: `${VIP}:9080`, identities: [id('waypoint')] },
};
async function measure(mode: Mode, version: '1.1' | '2', durationMs: number): Promise<LoadResult> {
  const target = targets[mode];
  // Without a proxy, an HTTP/2 client needs an HTTP/2 app: the pod's 8081.
  const authority = mode === 'direct' && version === '2' ? `${POD}:8081` : target.authority;
  const job: LoadJob = { ...target, authority, version, connections: CONNECTIONS, durationMs };
  loader.postMessage(job);
  const [result] = (await once(loader, 'message')) as [LoadResult];
  if (result.errors > 0) throw new Error(`${mode} HTTP/${version}: ${result.errors} requests failed`);
  return result;
}
const quantile = (sorted: Float64Array, q: number): number =>
  sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))] ?? Number.NaN;

interface Figures {
  rps: number[];
  p50: number[];
  p99: number[];
  /** The proxy thread's CPU time per request (the proxies run on this thread; the client and the pod do not). */
  cpuUs: number[];
}
// The proxy thread's own CPU time: `process.cpuUsage()` counts every thread of the process, the load generator
// and the pod included. Linux has it per thread in /proc (clock ticks of 10 ms: fine over a measurement).
const TICK_US = 10_000;
function threadCpuUs(): number {
  try {
    const stat = readFileSync('/proc/thread-self/stat', 'utf8');
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    // utime and stime are fields 14 and 15 of the line, 12 and 13 after the state.
    return (Number(fields[11]) + Number(fields[12])) * TICK_US;
  } catch {
    const u = process.cpuUsage();
    return u.user + u.system;
  }
}
const results = new Map<string, Figures>();
const figures = (version: string, mode: Mode): Figures => {
  const key = `${version}/${mode}`;
  let f = results.get(key);
  if (f === undefined) {
    f = { rps: [], p50: [], p99: [], cpuUs: [] };
    results.set(key, f);
  }
  return f;
};

console.log(
  `waypoint bench: ${CONNECTIONS} connections (HTTP/2: ${CONNECTIONS} streams on one), ${MS} ms per measurement, ${ROUNDS} rounds; ${cpus().length} CPUs, load average ${load0.map((l) => l.toFixed(2)).join(' ')}`,
);
// Warm-up: JIT, pools, TLS sessions.
for (const version of VERSIONS) for (const mode of MODES) await measure(mode, version, 300);
for (let round = 0; round < ROUNDS; round++) {
  for (const version of VERSIONS) {
    for (const mode of MODES) {
      const cpu0 = threadCpuUs();
      const r = await measure(mode, version, MS);
      const cpu = threadCpuUs() - cpu0;
      const f = figures(version, mode);
      f.cpuUs.push(cpu / r.requests);
      f.rps.push(r.requests / r.seconds);
      f.p50.push(quantile(r.latencies, 0.5));
      f.p99.push(quantile(r.latencies, 0.99));
    }
  }
  process.stdout.write(`round ${round + 1}/${ROUNDS} done\n`);
}

const spread = (values: readonly number[]): Spread => {
  const sorted = [...values].sort((a, b) => a - b);
  return {
    min: sorted[0] ?? Number.NaN,
    median: sorted[Math.floor(sorted.length / 2)] ?? Number.NaN,
    max: sorted[sorted.length - 1] ?? Number.NaN,
  };
};
const minus = (a: readonly number[], b: readonly number[]): number[] =>
  a.map((x, i) => x - (b[i] ?? Number.NaN));
const rows: Row[] = [];
for (const version of VERSIONS) {
  const d = figures(version, 'direct');
  const p = figures(version, 'plain');
  const w = figures(version, 'waypoint');
  const v = `HTTP/${version}`;
  rows.push(
    { name: `${v} requests/s, direct (no proxy)`, unit: 'req/s', ours: spread(d.rps) },
    {
      name: `${v} requests/s`,
      unit: 'req/s',
      ours: spread(w.rps),
      baseline: spread(p.rps),
      baselineName: 'plain proxy',
      target: { ratio: 0.7 },
    },
    {
      name: `${v} added latency p50`,
      unit: 'ms',
      ours: spread(minus(w.p50, d.p50)),
      baseline: spread(minus(p.p50, d.p50)),
      baselineName: 'plain proxy',
      target: { atMost: 1 },
    },
    {
      name: `${v} added latency p99`,
      unit: 'ms',
      ours: spread(minus(w.p99, d.p99)),
      baseline: spread(minus(p.p99, d.p99)),
      baselineName: 'plain proxy',
    },
    {
      name: `${v} proxy CPU per request`,
      unit: 'µs',
      ours: spread(w.cpuUs),
      baseline: spread(p.cpuUs),
      baselineName: 'plain proxy',
    },
  );
}
printRows('example waypoint vs a plain Node HTTP reverse proxy, same HBONE path', rows);
const upstream = waypoint.configDump()['upstream'] as { tunnelsOpened: number; http2Sessions: number };
console.log(`waypoint upstream: ${upstream.tunnelsOpened} HBONE tunnels opened for ${logged} requests`);
const load1 = loadavg();
console.log(
  `\nload average after: ${load1.map((l) => l.toFixed(2)).join(' ')} (before: ${load0.map((l) => l.toFixed(2)).join(' ')}); access log lines built: ${logged}`,
);

loader.postMessage('close');
backend.postMessage('close');
await Promise.all([once(loader, 'message'), once(backend, 'message')]);
await waypoint.close();
await plain.close({ deadlineMs: 0 });
agent.destroy();
await upstreamClient.close({ deadlineMs: 0 });
await loader.terminate();
await backend.terminate();
