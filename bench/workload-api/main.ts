/**
 * Benchmarks for @ambient-kit/workload-api. Every row is measured in 5 rounds (min / median / max) next to a
 * baseline measured in the same run, like for like, with the ratio ours ÷ baseline oriented so that higher
 * is better, the target and PASS/MISS (bench/support/rounds.ts):
 *
 * - apply 100,000 workloads and 10,000 services from xDS bytes (decode + validate + index) against
 *   protobuf-es `fromBinary` of the same bytes into a plain `Map` (no validation, no indexes); target < 2 s;
 * - decode an Address: the hand-written `readAddress` against `fromBinary(AddressSchema)`, which produce the
 *   same message (a property test in src/codec/decode.test.ts holds them equal). This row is why
 *   `codec/address-reader.ts` exists: if the ratio falls under 2×, delete the reader and use `fromBinary`;
 * - lookup by IP against `Map.get` on a `Map<ip, Workload>` of the same workloads; target >= 5 M/s;
 * - resolveUpstream (no like-for-like baseline exists: absolute target >= 500 k/s);
 * - heap per workload (model + indexes + endpoint) against the decoded protobuf messages alone in a `Map`;
 *   target <= 1.5 KiB.
 *
 * Run: `npm run bench:workload-api -w @ambient-kit/bench` (after `npm run build`).
 */
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import {
  AddressSchema,
  createInterner,
  createService,
  createWorkload,
  createWorkloadStore,
  decodeAddress,
  encodeAddress,
  type MeshResource,
  readAddress,
  seededRandom,
  type Workload,
} from '@ambient-kit/workload-api';
import { fromBinary } from '@bufbuild/protobuf';
import { printRows, type Row, rounds, type Spread } from '../support/rounds.js';

const WORKLOADS = 100_000;
const SERVICES = 10_000;
const PER_SERVICE = WORKLOADS / SERVICES;
const ROUNDS = 5;

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

const spreadOf = (values: readonly number[]): Spread => {
  const sorted = [...values].sort((a, b) => a - b);
  return {
    min: sorted[0] ?? Number.NaN,
    median: sorted[sorted.length >> 1] ?? Number.NaN,
    max: sorted.at(-1) ?? Number.NaN,
  };
};

/**
 * Ours and the baseline in alternating rounds (so load on a shared machine hits both alike), each a tight
 * loop of `n` operations in its own function, so no call site is shared (and made polymorphic) between
 * them. Returns ops/s spreads.
 */
function alternate(
  ours: (n: number) => number,
  baseline: ((n: number) => number) | undefined,
  n: number,
): { ours: Spread; baseline?: Spread } {
  const rate = (loop: (n: number) => number): number => {
    const start = process.hrtime.bigint();
    if (loop(n) < 0) console.log('unreachable');
    return (n / Number(process.hrtime.bigint() - start)) * 1e9;
  };
  rate(ours); // warm up
  if (baseline !== undefined) rate(baseline);
  const a: number[] = [];
  const b: number[] = [];
  for (let r = 0; r < ROUNDS; r++) {
    a.push(rate(ours));
    if (baseline !== undefined) b.push(rate(baseline));
  }
  return baseline === undefined ? { ours: spreadOf(a) } : { ours: spreadOf(a), baseline: spreadOf(b) };
}

console.log(
  `@ambient-kit/workload-api bench: ${WORKLOADS} workloads, ${SERVICES} services (${PER_SERVICE} endpoints each), node ${process.version}`,
);
const rows: Row[] = [];

// --- apply ------------------------------------------------------------------------------------------
const encoded = buildResources().map(encodeAddress as (r: MeshResource) => Uint8Array);
let store = createWorkloadStore();

function applyOurs(): number {
  const t0 = performance.now();
  const next = createWorkloadStore();
  const intern = createInterner();
  const decoded: MeshResource[] = [];
  for (const bytes of encoded) {
    const r = decodeAddress(bytes, { intern });
    if (r.isErr()) throw r.error;
    decoded.push(r.value);
  }
  next.apply({ resources: decoded });
  const ms = performance.now() - t0;
  if (next.stats().workloads !== WORKLOADS || next.stats().services !== SERVICES)
    throw new Error('store is incomplete');
  store = next;
  return ms;
}

function applyBaseline(): number {
  const t0 = performance.now();
  const plain = new Map<string, unknown>();
  for (const bytes of encoded) {
    const m = fromBinary(AddressSchema, bytes);
    const key =
      m.type.case === 'workload' ? m.type.value.uid : `${m.type.value?.namespace}/${m.type.value?.hostname}`;
    plain.set(key, m);
  }
  const ms = performance.now() - t0;
  if (plain.size !== WORKLOADS + SERVICES) throw new Error('baseline is incomplete');
  return ms;
}

applyOurs(); // warm up both
applyBaseline();
const applyOursMs: number[] = [];
const applyBaselineMs: number[] = [];
for (let r = 0; r < ROUNDS; r++) {
  applyOursMs.push(applyOurs());
  applyBaselineMs.push(applyBaseline());
}
const apply = { ours: spreadOf(applyOursMs), baseline: spreadOf(applyBaselineMs) };
rows.push({
  name: 'apply 100k workloads + 10k services (xDS bytes)',
  unit: 'ms',
  ...apply,
  baselineName: 'fromBinary + Map.set',
  target: { atMost: 2000 },
});

// --- the hand-written reader ------------------------------------------------------------------------
const sample = encoded.filter((_, i) => i % 97 === 0);
function readLoop(n: number): number {
  let hits = 0;
  for (let i = 0; i < n; i++)
    if (readAddress(sample[i % sample.length] as Uint8Array).type.case !== undefined) hits++;
  return hits;
}
function fromBinaryLoop(n: number): number {
  let hits = 0;
  for (let i = 0; i < n; i++)
    if (fromBinary(AddressSchema, sample[i % sample.length] as Uint8Array).type.case !== undefined) hits++;
  return hits;
}
rows.push({
  name: 'decode Address: readAddress (same message)',
  unit: 'ops/s',
  ...alternate(readLoop, fromBinaryLoop, 100_000),
  baselineName: 'fromBinary(AddressSchema)',
  target: { ratio: 2 },
});

// --- lookups ----------------------------------------------------------------------------------------
const ips = Array.from({ length: 1 << 16 }, (_, i) => podIp((i * 7919) % WORKLOADS));
const byIp = new Map<string, Workload>();
for (const w of store.workloads()) byIp.set(w.workloadIps[0] as string, w);
function storeLookups(n: number): number {
  let hits = 0;
  for (let i = 0; i < n; i++) if (store.workloadByAddress(ips[i & 0xffff] as string) !== undefined) hits++;
  return hits;
}
function mapLookups(n: number): number {
  let hits = 0;
  for (let i = 0; i < n; i++) if (byIp.get(ips[i & 0xffff] as string) !== undefined) hits++;
  return hits;
}
rows.push({
  name: 'workloadByAddress(ip)',
  unit: 'ops/s',
  ...alternate(storeLookups, mapLookups, 2_000_000),
  baselineName: 'Map.get(ip) on the same workloads',
  target: { atLeast: 5e6 },
});

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
rows.push({
  name: 'resolveUpstream(VIP:80) -> HBONE endpoint',
  unit: 'ops/s',
  ...alternate(resolves, undefined, 500_000),
  target: { atLeast: 5e5 },
});

// --- heap per workload ------------------------------------------------------------------------------
// Everything but the inputs is dropped, then stores are rebuilt from freshly decoded bytes.
byIp.clear();
store = createWorkloadStore();
const workloadBytes = encoded.slice(SERVICES);
const serviceBytes = encoded.slice(0, SERVICES);
const services = serviceBytes.map((b) => decodeAddress(b)._unsafeUnwrap());
/**
 * The heap a structure holds, per workload: measured when it is released (heap with it, then without it,
 * both after full GCs), which is stable where "after minus before" is not (V8 may still hold the previous
 * round's garbage when "before" is read).
 */
function footprintKiB(build: () => { readonly size: number }): number {
  let held: { readonly size: number } | undefined = build();
  const withIt = heapUsed();
  if (held.size !== WORKLOADS) throw new Error(`unexpected size ${held.size}`);
  held = undefined;
  const without = heapUsed();
  return (withIt - without) / WORKLOADS / 1024;
}
function buildStore(): { readonly size: number } {
  const measured = createWorkloadStore();
  const intern = createInterner();
  const batch: MeshResource[] = [];
  for (const b of workloadBytes) batch.push(decodeAddress(b, { intern })._unsafeUnwrap());
  measured.apply({ resources: batch });
  batch.length = 0;
  measured.apply({ resources: services }); // endpoints attach to their services
  return { size: measured.stats().workloads, ...{ measured } };
}
function buildRaw(): { readonly size: number } {
  const raw = new Map<string, unknown>();
  for (let i = 0; i < workloadBytes.length; i++)
    raw.set(String(i), fromBinary(AddressSchema, workloadBytes[i] as Uint8Array));
  return raw;
}
footprintKiB(buildStore); // warm up: the first build also allocates code
const perWorkload = await rounds(ROUNDS, () => footprintKiB(buildStore));
const perRaw = await rounds(ROUNDS, () => footprintKiB(buildRaw));
rows.push({
  name: 'heap per workload (model + indexes + endpoint)',
  unit: 'KiB',
  ours: perWorkload,
  baseline: perRaw,
  baselineName: 'decoded messages in a Map',
  target: { atMost: 1.5 },
});

printRows('@ambient-kit/workload-api', rows);
