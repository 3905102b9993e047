/**
 * Benchmarks for @ambient-kit/workload-api (issue 5). Each figure is printed next to a baseline measured
 * in the same run (a plain `Map`), the ratio, and the target:
 *
 * - apply 100,000 workloads and 10,000 services (decode + validate + apply, from xDS bytes) < 2 s;
 * - lookup by IP >= 5 M/s;
 * - resolveUpstream >= 500 k/s;
 * - heap per workload <= 1.5 KiB.
 *
 * Run: `npm run bench:workload-api -w @ambient-kit/bench`.
 */
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import {
  createInterner,
  createService,
  createWorkload,
  createWorkloadStore,
  decodeAddress,
  encodeAddress,
  type MeshResource,
  seededRandom,
  type Workload,
} from '@ambient-kit/workload-api';

const WORKLOADS = 100_000;
const SERVICES = 10_000;
const PER_SERVICE = WORKLOADS / SERVICES;

// A gc() for heap figures without a command-line flag.
setFlagsFromString('--expose-gc');
const gc = runInNewContext('gc') as () => void;
function heapUsed(): number {
  for (let i = 0; i < 3; i++) gc();
  return process.memoryUsage().heapUsed;
}

const podIp = (i: number): string => `10.${(i >> 16) & 255}.${(i >> 8) & 255}.${i & 255}`;
const vip = (i: number): string => `10.96.${(i >> 8) & 255}.${i & 255}`;
const host = (i: number): string => `svc-${i}.ns-${i % 100}.svc.cluster.local`;

function buildResources(): MeshResource[] {
  const out: MeshResource[] = [];
  for (let s = 0; s < SERVICES; s++) {
    out.push(
      createService({
        name: `svc-${s}`,
        namespace: `ns-${s % 100}`,
        hostname: host(s),
        vips: [{ network: '', address: vip(s) }],
        ports: [{ servicePort: 80, targetPort: 8080, appProtocol: 'HTTP11' }],
      }),
    );
  }
  for (let i = 0; i < WORKLOADS; i++) {
    const s = Math.floor(i / PER_SERVICE);
    const namespace = `ns-${s % 100}`;
    out.push(
      createWorkload({
        uid: `Kubernetes//Pod/${namespace}/svc-${s}-${i}`,
        name: `svc-${s}-${i}`,
        namespace,
        serviceAccount: `svc-${s}`,
        workloadIps: [podIp(i)],
        protocol: 'HBONE',
        node: `node-${i % 500}`,
        clusterId: 'Kubernetes',
        canonicalName: `svc-${s}`,
        canonicalRevision: 'v1',
        workloadName: `svc-${s}`,
        locality: { region: 'us-east1', zone: `us-east1-${'bcd'[i % 3]}`, subzone: '' },
        services: [
          {
            key: `${namespace}/${host(s)}`,
            namespace,
            hostname: host(s),
            ports: [{ servicePort: 80, targetPort: 8080, appProtocol: 'HTTP11' }],
          },
        ],
      }),
    );
  }
  return out;
}

function row(
  what: string,
  value: string,
  baseline: string,
  ratio: string,
  target: string,
  ok: boolean,
): void {
  console.log(
    `${what.padEnd(44)} ${value.padStart(14)}   baseline ${baseline.padStart(14)}   ratio ${ratio.padStart(7)}   target ${target.padEnd(12)} ${ok ? 'PASS' : 'MISS'}`,
  );
}

/**
 * Best of `rounds` timings of `loop(n)`, in operations per second. Each measured operation lives in its
 * own loop function so no call site is shared (and made polymorphic) between subject and baseline.
 */
function best(n: number, loop: (n: number) => number, rounds = 5): number {
  loop(Math.min(n, 200_000)); // warm up
  let rate = 0;
  for (let r = 0; r < rounds; r++) {
    const start = process.hrtime.bigint();
    const hits = loop(n);
    const ns = Number(process.hrtime.bigint() - start);
    if (hits < 0) console.log(hits);
    rate = Math.max(rate, (n / ns) * 1e9);
  }
  return rate;
}

const fmtRate = (r: number): string =>
  r >= 1e6 ? `${(r / 1e6).toFixed(2)} M/s` : `${(r / 1e3).toFixed(0)} k/s`;

console.log(
  `@ambient-kit/workload-api bench: ${WORKLOADS} workloads, ${SERVICES} services (${PER_SERVICE} endpoints each), node ${process.version}`,
);

// --- apply ------------------------------------------------------------------------------------------
const models = buildResources();
const encoded = models.map(encodeAddress as (r: MeshResource) => Uint8Array);

const baseline = new Map<string, Uint8Array>();
let t0 = performance.now();
for (let i = 0; i < encoded.length; i++) baseline.set(String(i), encoded[i] as Uint8Array);
const mapSetMs = performance.now() - t0;

t0 = performance.now();
const store = createWorkloadStore();
const intern = createInterner();
const decoded: MeshResource[] = [];
for (const bytes of encoded) {
  const r = decodeAddress(bytes, { intern });
  if (r.isErr()) throw r.error;
  decoded.push(r.value);
}
const decodeMs = performance.now() - t0;
t0 = performance.now();
store.apply({ resources: decoded });
const applyMs = performance.now() - t0;
const totalMs = decodeMs + applyMs;
row(
  'apply 100k workloads + 10k services (bytes)',
  `${totalMs.toFixed(0)} ms`,
  `${mapSetMs.toFixed(1)} ms`,
  `${(totalMs / mapSetMs).toFixed(0)}x`,
  '< 2000 ms',
  totalMs < 2000,
);
console.log(
  `  of which decode + validate ${decodeMs.toFixed(0)} ms, store.apply ${applyMs.toFixed(0)} ms (baseline: Map.set of the same count)`,
);
if (store.stats().workloads !== WORKLOADS || store.stats().services !== SERVICES)
  throw new Error('store is incomplete');

// --- lookups ----------------------------------------------------------------------------------------
const ips = Array.from({ length: 1 << 16 }, (_, i) => podIp((i * 7919) % WORKLOADS));
const byIp = new Map<string, Workload>();
for (const w of store.workloads()) byIp.set(w.workloadIps[0] as string, w);
const N = 2_000_000;
function mapLookups(n: number): number {
  let hits = 0;
  for (let i = 0; i < n; i++) if (byIp.get(ips[i & 0xffff] as string) !== undefined) hits++;
  return hits;
}
function storeLookups(n: number): number {
  let hits = 0;
  for (let i = 0; i < n; i++) if (store.workloadByAddress(ips[i & 0xffff] as string) !== undefined) hits++;
  return hits;
}
const mapRate = best(N, mapLookups);
const lookupRate = best(N, storeLookups);
row(
  'workloadByAddress(ip)',
  fmtRate(lookupRate),
  fmtRate(mapRate),
  `${(mapRate / lookupRate).toFixed(2)}x`,
  '>= 5 M/s',
  lookupRate >= 5e6,
);

// --- resolveUpstream --------------------------------------------------------------------------------
const source = store.workloadByAddress(podIp(0)) as Workload;
const destinations = Array.from({ length: 1 << 14 }, (_, i) => `${vip((i * 31) % SERVICES)}:80`);
const random = seededRandom(42);
function resolves(n: number): number {
  let hits = 0;
  for (let i = 0; i < n; i++) {
    if (store.resolveUpstream({ source, destination: destinations[i & 0x3fff] as string, random }).isOk())
      hits++;
  }
  return hits;
}
const resolveRate = best(500_000, resolves);
row(
  'resolveUpstream(VIP:80) -> HBONE endpoint',
  fmtRate(resolveRate),
  fmtRate(mapRate),
  `${(mapRate / resolveRate).toFixed(1)}x`,
  '>= 500 k/s',
  resolveRate >= 5e5,
);
console.log('  baseline for both: Map.get(ip) on a Map<ip, Workload> of the same workloads');

// --- heap per workload ------------------------------------------------------------------------------
// Everything but the inputs is dropped, then one store is rebuilt from freshly decoded bytes.
models.length = 0;
decoded.length = 0;
byIp.clear();
baseline.clear();
const workloadBytes = encoded.slice(SERVICES);
const serviceBytes = encoded.slice(0, SERVICES);
encoded.length = 0;
const services = serviceBytes.map((b) => decodeAddress(b)._unsafeUnwrap());
const before = heapUsed();
const measured = createWorkloadStore();
const intern2 = createInterner();
const batch: MeshResource[] = [];
for (const b of workloadBytes) batch.push(decodeAddress(b, { intern: intern2 })._unsafeUnwrap());
measured.apply({ resources: batch });
batch.length = 0;
measured.apply({ resources: services }); // endpoints attach to their services
const after = heapUsed();
const perWorkload = (after - before) / WORKLOADS;

// Baseline: the decoded protobuf-es messages alone, in a plain Map keyed by uid.
const { fromBinary } = await import('@bufbuild/protobuf');
const { AddressSchema } = await import('@ambient-kit/workload-api/codec');
const before2 = heapUsed();
const raw = new Map<string, unknown>();
for (let i = 0; i < workloadBytes.length; i++)
  raw.set(String(i), fromBinary(AddressSchema, workloadBytes[i] as Uint8Array));
const after2 = heapUsed();
const perRaw = (after2 - before2) / WORKLOADS;
row(
  'heap per workload (model + indexes + endpoint)',
  `${(perWorkload / 1024).toFixed(2)} KiB`,
  `${(perRaw / 1024).toFixed(2)} KiB`,
  `${(perWorkload / perRaw).toFixed(2)}x`,
  '<= 1.5 KiB',
  perWorkload <= 1536,
);
console.log('  baseline: the decoded protobuf messages alone in a Map<uid, message>');
if (measured.stats().workloads !== WORKLOADS || raw.size !== WORKLOADS) throw new Error('unexpected sizes');
