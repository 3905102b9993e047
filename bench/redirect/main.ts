/**
 * Benchmarks for @ambient-kit/redirect (issue 6). Issue 6 names no performance target; each figure is
 * printed next to a baseline measured in the same run and the ratio:
 *
 * - rule text: `buildInpodIptablesRules` / `buildInpodNftablesRules` vs joining the same lines precomputed;
 * - apply into a fresh namespace vs one raw `iptables-nft-restore` of the same text (the tool's own cost),
 *   and a no-op re-apply;
 * - `listenInNetns` vs `net.createServer().listen(0)`;
 * - `connectMarked` (inside a namespace, SO_MARK) vs `net.connect` (host loopback);
 * - `originalDestination` vs reading `socket.localAddress`;
 * - a ZDS `AddWorkload` round trip (fd passing + ack) vs a request/response over a Node unix stream socket.
 *
 * Needs root (namespaces, SO_MARK). Everything runs in scratch namespaces: the host is never touched.
 * Run: `npx tsx --conditions=@ambient-kit/source bench/redirect/main.ts` (or `npm run bench:redirect -w
 * @ambient-kit/bench` once the script is wired).
 */
import { mkdtempSync, rmSync } from 'node:fs';
import net from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  applyInpodRedirect,
  buildInpodIptablesRules,
  buildInpodNftablesRules,
  connectMarked,
  connectZdsProxy,
  createScratchNetns,
  createZdsNodeAgent,
  listenInNetns,
  type NetnsHandle,
  originalDestination,
  runTool,
} from '@ambient-kit/redirect';
import { Bench } from 'tinybench';

if (process.getuid?.() !== 0) throw new Error('bench/redirect needs root (namespaces, SO_MARK)');

type Row = { name: string; ours: number; baseline: number; unit: 'ops/s' | 'ms' };
const rows: Row[] = [];

async function measure(
  name: string,
  unit: Row['unit'],
  ours: () => unknown,
  baseline: () => unknown,
  timeMs = 500,
) {
  const bench = new Bench({ time: timeMs, warmupTime: 100 });
  bench.add('ours', ours).add('baseline', baseline);
  await bench.run();
  const [a, b] = bench.tasks.map((t) => t.result);
  const figure = (r: typeof a): number => {
    const latency = (r as { latency?: { mean?: number } } | undefined)?.latency?.mean ?? Number.NaN;
    return unit === 'ms' ? latency : 1000 / latency;
  };
  rows.push({ name, unit, ours: figure(a), baseline: figure(b) });
}

const options = { redirectDns: true, enableIpv6: true, virtualInterfaces: ['tap0'] } as const;
const precomputed = buildInpodIptablesRules(options).ipv4.split('\n');
const precomputedNft = buildInpodNftablesRules(options).split('\n');
await measure(
  'buildInpodIptablesRules (DNS, IPv6, 1 virtual if)',
  'ops/s',
  () => buildInpodIptablesRules(options),
  () => precomputed.join('\n'),
);
await measure(
  'buildInpodNftablesRules (DNS, IPv6, 1 virtual if)',
  'ops/s',
  () => buildInpodNftablesRules(options),
  () => precomputedNft.join('\n'),
);

// Apply: a fresh namespace per iteration (created outside the timed part would need per-iteration setup;
// both sides pay the same namespace creation, so the ratio is fair).
const fresh = (): NetnsHandle => createScratchNetns();
const text = buildInpodIptablesRules({ redirectDns: true }).ipv4;
await measure(
  'apply into a fresh netns (iptables-nft, IPv4, DNS) [ms]',
  'ms',
  async () => {
    const netns = fresh();
    try {
      await runTool('ip', ['link', 'set', 'lo', 'up'], { netns });
      await applyInpodRedirect({ netns, backend: 'iptables', iptablesVariant: 'nft', redirectDns: true });
    } finally {
      netns.close();
    }
  },
  async () => {
    const netns = fresh();
    try {
      await runTool('ip', ['link', 'set', 'lo', 'up'], { netns });
      await runTool('iptables-nft-restore', ['--noflush'], { netns, stdin: text });
    } finally {
      netns.close();
    }
  },
  2000,
);

const pod = fresh();
await runTool('ip', ['link', 'set', 'lo', 'up'], { netns: pod });
await applyInpodRedirect({ netns: pod, backend: 'nftables', redirectDns: true });
await measure(
  're-apply when already installed (nftables, no-op) [ms]',
  'ms',
  () => applyInpodRedirect({ netns: pod, backend: 'nftables', redirectDns: true }),
  () => runTool('nft', ['-s', 'list', 'ruleset'], { netns: pod }),
  2000,
);

await measure(
  'listenInNetns(port 0) + close',
  'ops/s',
  async () => {
    const s = await listenInNetns(pod, { port: 0, host: '127.0.0.1' });
    await new Promise((r) => s.close(r));
  },
  async () => {
    const s = net.createServer();
    await new Promise<void>((r) => s.listen(0, '127.0.0.1', r));
    await new Promise((r) => s.close(r));
  },
);

// Connect: a listener in the scratch namespace for ours, one on the host loopback for the baseline.
const inPod = await listenInNetns(pod, { port: 0, host: '127.0.0.1' });
inPod.on('connection', (s) => s.destroy());
const podPort = (inPod.address() as net.AddressInfo).port;
const onHost = net.createServer((s) => s.destroy());
await new Promise<void>((r) => onHost.listen(0, '127.0.0.1', r));
const hostPort = (onHost.address() as net.AddressInfo).port;
await measure(
  'connectMarked (in netns, SO_MARK 0x539)',
  'ops/s',
  async () => (await connectMarked({ netns: pod, host: '127.0.0.1', port: podPort })).destroy(),
  () =>
    new Promise<void>((resolve, reject) => {
      const s = net.connect(hostPort, '127.0.0.1', () => {
        s.destroy();
        resolve();
      });
      s.once('error', reject);
    }),
);

const probe = await connectMarked({ netns: pod, host: '127.0.0.1', port: podPort, mark: 0 });
await measure(
  'originalDestination(socket)',
  'ops/s',
  () => originalDestination(probe),
  () => [probe.localAddress, probe.localPort],
);
probe.destroy();

// ZDS: AddWorkload with a netns descriptor, handled and acked by the proxy.
const dir = mkdtempSync(join(tmpdir(), 'bench-zds-'));
const agent = createZdsNodeAgent({ path: join(dir, 'zds.sock'), snapshot: () => [] });
let acked!: () => void;
const ready = new Promise<void>((r) => {
  acked = r;
});
const proxy = await connectZdsProxy({
  path: join(dir, 'zds.sock'),
  handlers: {
    addWorkload: ({ netns }) => netns.close(),
    deleteWorkload: () => {},
    snapshotSent: () => acked(),
  },
});
await ready;
const echo = net.createServer((s) => s.on('data', (d) => s.write(d)));
await new Promise<void>((r) => echo.listen(join(dir, 'echo.sock'), r));
const echoClient = net.connect(join(dir, 'echo.sock'));
await new Promise((r) => echoClient.once('connect', r));
let uid = 0;
await measure(
  'ZDS AddWorkload round trip (SCM_RIGHTS + ack)',
  'ops/s',
  () => agent.addWorkload({ uid: `uid-${uid++}`, netns: pod }),
  () =>
    new Promise<void>((resolve) => {
      echoClient.once('data', () => resolve());
      echoClient.write('x'.repeat(60));
    }),
);

proxy.close();
await agent.close();
echoClient.destroy();
await new Promise((r) => echo.close(r));
await new Promise((r) => inPod.close(r));
await new Promise((r) => onHost.close(r));
pod.close();
rmSync(dir, { recursive: true, force: true });

const fmt = (v: number, unit: Row['unit']): string =>
  unit === 'ms'
    ? `${v.toFixed(2)} ms`
    : v >= 1e6
      ? `${(v / 1e6).toFixed(2)} M/s`
      : `${(v / 1e3).toFixed(1)} k/s`;
console.log('\n@ambient-kit/redirect (issue 6 names no performance target)\n');
for (const r of rows) {
  const ratio = r.unit === 'ms' ? r.ours / r.baseline : r.ours / r.baseline;
  const word = r.unit === 'ms' ? 'x baseline time' : 'x baseline rate';
  console.log(
    `${r.name.padEnd(58)} ours ${fmt(r.ours, r.unit).padStart(11)}  baseline ${fmt(r.baseline, r.unit).padStart(11)}  ${ratio.toFixed(2)} ${word}`,
  );
}
