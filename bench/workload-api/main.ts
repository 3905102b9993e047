/**
 * Benchmarks for @ambient-kit/workload-api on the realistic mesh of issue 15 (./mesh.ts: 100,000 dual-stack
 * workloads and 10,000 services, two ports each, SANs, 5 % of the services behind waypoints). Every row is
 * measured in 5 rounds (min / median / max) next to a baseline measured in the same run, with the ratio
 * ours ÷ baseline oriented so that higher is better, the target and PASS/MISS (bench/support/rounds.ts).
 *
 * The realistic shape:
 * - apply: decode + validate + apply the mesh from xDS bytes in batches of 5,000, against protobuf-es
 *   `fromBinary` into a plain `Map` (no validation, no indexes); target < 2 s (issue 15);
 * - heap per workload of the store, against the decoded messages in a `Map`; target <= 1.5 KiB;
 * - `resolveUpstream` over 1,024 sources and 4,096 services on every destination kind and on the realistic
 *   mix (./traffic.ts), against the general algorithm without the store's fast paths (`resolveUpstream(store,
 *   request)`); target >= 500 k/s each;
 * - xDS over loopback, the server in a worker thread: the first and later clients ready, against the
 *   obvious client (grpc-js, protobuf-es `fromBinary` of the response and of each resource into a `Map`);
 *   targets <= 2 s and <= 1.5 s; the client's heap against the store's own; target <= 1.5x.
 *
 * And the rows that keep hand-written code honest (docs/contributing.md: hand-write only what a measurement
 * justifies): the direct Address decoder, the direct Address encoder and the response reader, each against
 * protobuf-es doing the same job.
 *
 * Run: `npm run bench:workload-api -w @ambient-kit/bench` (after `npm run build`), on a quiet machine: the
 * load average is printed first. `BENCH_WORKLOAD_API_ROWS` picks groups of rows (comma-separated, default
 * all): `apply`, `resolve`, `lookup`, `codecs`, `heap`, `xds`.
 */
import { once } from 'node:events';
import { loadavg } from 'node:os';
import { getHeapStatistics, setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { Worker } from 'node:worker_threads';
import {
  ADDRESS_TYPE_URL,
  AddressSchema,
  AUTHORIZATION_TYPE_URL,
  addressFromProto,
  addressToProto,
  createInterner,
  createWorkloadStore,
  DeltaDiscoveryRequestSchema,
  DeltaDiscoveryResponseSchema,
  decodeAddress,
  encodeAddress,
  type MeshResource,
  type RandomSource,
  ResourceSchema,
  resolveUpstream,
  seededRandom,
  type UpstreamRequest,
  type Workload,
  type WorkloadStore,
} from '@ambient-kit/workload-api';
import {
  createXdsClient,
  DELTA_ADS_PATH,
  deltaAdsMethod,
  readDeltaResponse,
} from '@ambient-kit/workload-api/xds';
import { create, fromBinary, toBinary } from '@bufbuild/protobuf';
import { Client, credentials, Metadata } from '@grpc/grpc-js';
import { compareOps, printRows, type Row, rounds, rowGroups, type Spread } from '../support/rounds.js';
import { pod4, realisticMesh, SERVICES, WORKLOADS } from './mesh.js';
import { type Kind, trafficLists } from './traffic.js';
import type { RemoteServing } from './xds-remote.js';

const ROUNDS = 5;
const BATCH = 5000;
const GROUPS = ['apply', 'resolve', 'lookup', 'codecs', 'heap', 'xds'] as const;
const want = rowGroups('BENCH_WORKLOAD_API_ROWS', GROUPS);

// A gc() for heap figures without a command-line flag.
setFlagsFromString('--expose-gc');
const gc = runInNewContext('gc') as () => void;
function heapUsed(): number {
  for (let i = 0; i < 3; i++) gc();
  return getHeapStatistics().used_heap_size;
}

const spreadOf = (values: readonly number[]): Spread => {
  const sorted = [...values].sort((a, b) => a - b);
  return {
    min: sorted[0] ?? Number.NaN,
    median: sorted[sorted.length >> 1] ?? Number.NaN,
    max: sorted.at(-1) ?? Number.NaN,
  };
};

const load = (): string =>
  loadavg()
    .map((l) => l.toFixed(2))
    .join(' ');
console.log(
  `@ambient-kit/workload-api bench: ${WORKLOADS} workloads, ${SERVICES} services (realistic mix), node ${process.version}, load average ${load()}`,
);
const rows: Row[] = [];
const mesh = realisticMesh();
const encoded = mesh.resources.map((r) => encodeAddress(r as Exclude<MeshResource, { kind: 'policy' }>));

// --- apply: decode + validate + apply in batches of 5,000 --------------------------------------------------
function applyOurs(): { ms: number; store: WorkloadStore } {
  const t0 = performance.now();
  const store = createWorkloadStore();
  const intern = createInterner();
  for (let i = 0; i < encoded.length; i += BATCH) {
    const batch: MeshResource[] = [];
    for (let j = i; j < Math.min(i + BATCH, encoded.length); j++) {
      const r = decodeAddress(encoded[j] as Uint8Array, { intern });
      if (r.isErr()) throw r.error;
      batch.push(r.value);
    }
    store.apply({ resources: batch });
  }
  const ms = performance.now() - t0;
  const stats = store.stats();
  if (stats.workloads !== WORKLOADS || stats.services !== SERVICES) throw new Error('store is incomplete');
  return { ms, store };
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
let store = createWorkloadStore();
if (want('apply')) {
  applyOurs(); // warm up both
  applyBaseline();
  const applyMs: number[] = [];
  const applyBaselineMs: number[] = [];
  for (let r = 0; r < ROUNDS; r++) {
    const ours = applyOurs();
    applyMs.push(ours.ms);
    store = ours.store;
    applyBaselineMs.push(applyBaseline());
  }
  rows.push({
    name: 'apply 100k + 10k (decode + validate + apply, batches of 5,000)',
    unit: 'ms',
    ours: spreadOf(applyMs),
    baseline: spreadOf(applyBaselineMs),
    baselineName: 'fromBinary + Map.set',
    target: { atMost: 2000 },
  });
} else if (want('resolve') || want('lookup')) {
  store = applyOurs().store;
}

// --- resolveUpstream: every destination kind, and the realistic mix --------------------------------------
if (want('resolve')) {
  const random: RandomSource = seededRandom(42);
  const lists = trafficLists(mesh, store, random);
  function resolveRate(list: readonly UpstreamRequest[], plain: boolean, n: number): number {
    const t0 = process.hrtime.bigint();
    let answers = 0;
    if (plain) {
      for (let i = 0; i < n; i++)
        if (resolveUpstream(store, list[i & 0xffff] as UpstreamRequest).isOk()) answers++;
    } else {
      for (let i = 0; i < n; i++)
        if (store.resolveUpstream(list[i & 0xffff] as UpstreamRequest).isOk()) answers++;
    }
    const rate = (n / Number(process.hrtime.bigint() - t0)) * 1e9;
    return answers < 0 ? 0 : rate;
  }
  for (const kind of [...(Object.keys(lists) as (Kind | 'realistic mix')[])].reverse()) {
    const list = lists[kind];
    // Warm: every request of the list once, on both paths.
    resolveRate(list, false, list.length);
    resolveRate(list, true, list.length);
    const ours: number[] = [];
    const plain: number[] = [];
    for (let r = 0; r < ROUNDS; r++) {
      ours.push(resolveRate(list, false, 200_000));
      plain.push(resolveRate(list, true, 50_000));
    }
    rows.push({
      name: `resolveUpstream: ${kind}`,
      unit: 'ops/s',
      ours: spreadOf(ours),
      baseline: spreadOf(plain),
      baselineName: 'general algorithm',
      target: { atLeast: 500_000 },
    });
  }
}

// --- lookup by IP ------------------------------------------------------------------------------------------
if (want('lookup')) {
  const ips = Array.from({ length: 1 << 16 }, (_, i) =>
    pod4(mesh.pods[(i * 7919) % mesh.pods.length] as number),
  );
  const byIp = new Map<string, Workload>();
  for (const w of store.workloads()) for (const ip of w.workloadIps) byIp.set(ip, w);
  let k = 0;
  const lookups = await compareOps(
    () => store.workloadByAddress(ips[k++ & 0xffff] as string),
    () => byIp.get(ips[k++ & 0xffff] as string),
  );
  rows.push({
    name: 'workloadByAddress(ip)',
    unit: 'ops/s',
    ...lookups,
    baselineName: 'Map.get(ip) on the same workloads',
    target: { ratio: 0.5 },
  });
  byIp.clear();
}

// --- the hand-written codecs against protobuf-es ---------------------------------------------------------
if (want('codecs')) {
  const sample = encoded.filter((_, i) => i % 97 === 0);
  const sampleModels = mesh.resources.filter((_, i) => i % 97 === 0) as Exclude<
    MeshResource,
    { kind: 'policy' }
  >[];
  const decodeIntern = createInterner();
  let d = 0;
  rows.push({
    name: 'decode Address to the model (direct decoder)',
    unit: 'ops/s',
    ...(await compareOps(
      () => decodeAddress(sample[d++ % sample.length] as Uint8Array, { intern: decodeIntern }),
      () =>
        addressFromProto(fromBinary(AddressSchema, sample[d++ % sample.length] as Uint8Array), {
          intern: decodeIntern,
        }),
    )),
    baselineName: 'fromBinary + addressFromProto',
    target: { ratio: 2 },
  });
  let e = 0;
  rows.push({
    name: 'encode Address (direct encoder)',
    unit: 'ops/s',
    ...(await compareOps(
      () => encodeAddress(sampleModels[e++ % sampleModels.length] as (typeof sampleModels)[number]),
      () =>
        toBinary(
          AddressSchema,
          addressToProto(sampleModels[e++ % sampleModels.length] as (typeof sampleModels)[number]),
        ),
    )),
    baselineName: 'toBinary(addressToProto)',
    target: { ratio: 2 },
  });
  // A response of 1,000 resources, read as the client reads it (in place) and by fromBinary.
  const responseBytes = toBinary(
    DeltaDiscoveryResponseSchema,
    create(DeltaDiscoveryResponseSchema, {
      typeUrl: ADDRESS_TYPE_URL,
      nonce: '1-1',
      resources: encoded.slice(0, 1000).map((value, i) =>
        create(ResourceSchema, {
          name: `resource-${i}`,
          version: 'Xq3Jdl9w0PSu2wq8dHXjWA',
          aliases: [`/10.64.0.${i & 255}`, `/fd00:10::${i.toString(16)}`],
          resource: { typeUrl: ADDRESS_TYPE_URL, value },
        }),
      ),
    }),
  );
  const responseReader = deltaAdsMethod.responseDeserialize;
  rows.push({
    name: 'read a response of 1,000 resources (xDS client)',
    unit: 'ops/s',
    ...(await compareOps(
      () => readDeltaResponse(responseBytes),
      () =>
        responseReader(Buffer.from(responseBytes.buffer, responseBytes.byteOffset, responseBytes.byteLength)),
    )),
    baselineName: 'fromBinary(DeltaDiscoveryResponse)',
    target: { ratio: 1.5 },
  });
}

// --- heap per workload --------------------------------------------------------------------------------------
store = createWorkloadStore();
// The store's own footprint is also the xDS client heap row's baseline.
let storeBytes: Spread = { min: Number.NaN, median: Number.NaN, max: Number.NaN };
/**
 * The heap a structure holds, per workload: measured when it is released (heap with it, then without it,
 * both after full GCs), which is stable where "after minus before" is not.
 */
function footprint(build: () => unknown): number {
  const held = [build()];
  const withIt = heapUsed();
  held.length = 0;
  return withIt - heapUsed();
}
if (want('heap') || want('xds')) storeBytes = await rounds(ROUNDS, () => footprint(() => applyOurs().store));
if (want('heap')) {
  const messageBytes = await rounds(ROUNDS, () =>
    footprint(() => {
      const raw = new Map<string, unknown>();
      for (let i = 0; i < encoded.length; i++)
        raw.set(String(i), fromBinary(AddressSchema, encoded[i] as Uint8Array));
      return raw;
    }),
  );
  const perWorkload = (s: Spread): Spread => ({
    min: s.min / WORKLOADS / 1024,
    median: s.median / WORKLOADS / 1024,
    max: s.max / WORKLOADS / 1024,
  });
  rows.push({
    name: 'heap per workload (models + indexes + endpoints)',
    unit: 'KiB',
    ours: perWorkload(storeBytes),
    baseline: perWorkload(messageBytes),
    baselineName: 'decoded messages in a Map',
    target: { atMost: 1.5 },
  });
}

// --- xDS over loopback -------------------------------------------------------------------------------------
if (want('xds')) {
  // The worker loads TypeScript through tsx's API and inherits --conditions=@ambient-kit/source.
  const remote = new URL('./xds-remote.ts', import.meta.url).href;
  const worker = new Worker(
    `import('tsx/esm/api').then((tsx) => { tsx.register(); return import(${JSON.stringify(remote)}); });`,
    { eval: true },
  );
  await once(worker, 'message');
  async function ask<T>(message: object): Promise<T> {
    worker.postMessage(message);
    const [answer] = (await once(worker, 'message')) as [T];
    return answer;
  }

  /** Our client: from creation to ready (both types ACKed); returns the time and the client's store. */
  async function ourClient(
    port: number,
  ): Promise<{ ms: number; done: () => Promise<void>; store: WorkloadStore }> {
    const t0 = performance.now();
    const proxy = createWorkloadStore();
    const client = createXdsClient({ address: `127.0.0.1:${port}`, store: proxy });
    await client.ready({ timeoutMs: 120_000 });
    const ms = performance.now() - t0;
    if (proxy.stats().workloads !== WORKLOADS) throw new Error('xDS client is incomplete');
    return { ms, store: proxy, done: () => client.close() };
  }

  /** The obvious client: protobuf-es for the response and each resource, a Map, ACKs; ready when both types are ACKed. */
  async function plainClient(port: number): Promise<number> {
    const t0 = performance.now();
    const grpc = new Client(`127.0.0.1:${port}`, credentials.createInsecure(), {
      'grpc.max_receive_message_length': 200 * 1024 * 1024,
    });
    const call = grpc.makeBidiStreamRequest(
      DELTA_ADS_PATH,
      deltaAdsMethod.requestSerialize,
      deltaAdsMethod.responseDeserialize,
      new Metadata(),
    );
    const held = new Map<string, unknown>();
    const waiting = new Set([ADDRESS_TYPE_URL, AUTHORIZATION_TYPE_URL]);
    await new Promise<void>((resolve, reject) => {
      call.on('error', reject);
      call.on('data', (res) => {
        for (const r of res.resources)
          held.set(r.name, fromBinary(AddressSchema, r.resource?.value ?? new Uint8Array()));
        call.write(create(DeltaDiscoveryRequestSchema, { typeUrl: res.typeUrl, responseNonce: res.nonce }));
        waiting.delete(res.typeUrl);
        if (waiting.size === 0) resolve();
      });
      for (const typeUrl of [ADDRESS_TYPE_URL, AUTHORIZATION_TYPE_URL]) {
        call.write(create(DeltaDiscoveryRequestSchema, { typeUrl, node: { id: 'bench' } }));
      }
    });
    const ms = performance.now() - t0;
    if (held.size !== WORKLOADS + SERVICES) throw new Error('plain client is incomplete');
    call.cancel();
    grpc.close();
    return ms;
  }

  const encodeMs: number[] = [];
  const firstMs: number[] = [];
  const firstPlainMs: number[] = [];
  for (let r = 0; r < ROUNDS; r++) {
    const serving = await ask<RemoteServing>({ cmd: 'serve' });
    encodeMs.push(serving.encodeMs);
    const first = await ourClient(serving.port);
    firstMs.push(first.ms);
    await first.done();
    firstPlainMs.push(await plainClient(serving.port));
  }
  const laterMs: number[] = [];
  const laterPlainMs: number[] = [];
  const serving = await ask<RemoteServing>({ cmd: 'serve' });
  await (await ourClient(serving.port)).done();
  for (let r = 0; r < ROUNDS; r++) {
    const later = await ourClient(serving.port);
    laterMs.push(later.ms);
    await later.done();
    laterPlainMs.push(await plainClient(serving.port));
  }
  rows.push({
    name: 'xDS: server encodes the mesh (once, at change)',
    unit: 'ms',
    ours: spreadOf(encodeMs),
    target: { atMost: 2000 },
  });
  rows.push({
    name: 'xDS: first client ready (loopback)',
    unit: 'ms',
    ours: spreadOf(firstMs),
    baseline: spreadOf(firstPlainMs),
    baselineName: 'grpc-js + fromBinary into a Map',
    target: { atMost: 2000 },
  });
  rows.push({
    name: 'xDS: later client ready (loopback)',
    unit: 'ms',
    ours: spreadOf(laterMs),
    baseline: spreadOf(laterPlainMs),
    baselineName: 'grpc-js + fromBinary into a Map',
    target: { atMost: 1500 },
  });

  // The client's heap (its store, its known versions, its channel) against the same mesh applied directly.
  const clientBytes: number[] = [];
  for (let r = 0; r < ROUNDS; r++) {
    const held = [await ourClient(serving.port)];
    const withIt = heapUsed();
    await held[0]?.done();
    held.length = 0;
    await new Promise((resolve) => setTimeout(resolve, 50));
    clientBytes.push(withIt - heapUsed());
  }
  const MB = (s: Spread): Spread => ({ min: s.min / 1e6, median: s.median / 1e6, max: s.max / 1e6 });
  const storeMB = MB(storeBytes);
  rows.push({
    name: "xDS: client heap (store + client) vs the store's own",
    unit: 'MB',
    ours: MB(spreadOf(clientBytes)),
    baseline: storeMB,
    baselineName: "the store's own",
    target: { atMost: 1.5 * storeMB.median },
  });
  await ask({ cmd: 'stop' });
  await worker.terminate();
}

printRows(`@ambient-kit/workload-api (load average at the end ${load()})`, rows);
