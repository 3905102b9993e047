/**
 * The loopback demo's story in real network namespaces (docs/examples.md "The demo in network namespaces"):
 * every pod is a namespace of its own behind its node's bridge, a node agent per node installs istio-cni's
 * rules in its pods and hands them to its node's ztunnel over ZDS, and apps inside pods call services by name
 * with plain HTTP clients. So every piece of in-pod redirection is on the path: DNS capture to ztunnel's DNS
 * proxy, the outbound capture on 15001, HBONE with ztunnel's mark out of the source pod, 15008 (and 15006)
 * into the destination pod, and the waypoint for L7. Then what only real namespaces can show: the app sees
 * the caller's pod IP, DNS answers come from ztunnel, a pod added at run time is captured within 2 s, a pod
 * deleted loses its rules, and a ztunnel restart is survived.
 *
 * Everything it makes (namespaces, veths, rules, sockets, the waypoint process, the temporary directory) is
 * removed at the end, on failure, and on Ctrl-C.
 * @module
 */
import { type ChildProcess, execFile, spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { mkdir, writeFile } from 'node:fs/promises';
import http from 'node:http';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { type MeshFileWatcher, watchMeshFile } from '@ambient-kit/control-plane';
import { createNodeAgent, type NodeAgent, type NodeAgentEvent } from '@ambient-kit/example-node-agent';
import {
  type AccessLogEntry,
  caClientFromIstioCa,
  createZtunnel,
  formatLogRecord,
  type LogRecord,
  type Ztunnel,
} from '@ambient-kit/example-ztunnel';
import { inspectInpodRedirect } from '@ambient-kit/redirect';
import { createWorkloadStore, type Workload, type WorkloadStore } from '@ambient-kit/workload-api';
import { ISTIOD_NAME, startDemoControlPlane } from '../demo-control-plane.js';
import { type ClusterDns, startClusterDns } from './cluster-dns.js';
import { type PodApp, startPodApp } from './pod-apps.js';
import { createNetnsReport, type NetnsReport } from './report.js';
import { createNetnsTopology, type NetnsPod, type NetnsTopology } from './topology.js';

const execFileAsync = promisify(execFile);
const PATH = `${process.env['PATH'] ?? ''}:/usr/local/sbin:/usr/sbin:/sbin`;
const CLIENT = fileURLToPath(new URL('./pod-client.mjs', import.meta.url));
const WAYPOINT_DIR = fileURLToPath(new URL('../../../waypoint/', import.meta.url));
const ECHO = 'http://echo.default.svc.cluster.local/hello';
const REVIEWS = 'http://reviews.default.svc.cluster.local:9080/reviews/1';
/** A name outside the mesh that the cluster's DNS knows. */
const EXTERNAL = { name: 'db.example.internal', ip: '192.0.2.7' } as const;
const HELM_RULES = { backend: 'iptables', redirectDns: true, enableIpv6: true } as const;

/** Options of {@link runNetnsDemo}. */
export interface NetnsDemoOptions {
  /** Every component's log on stdout as it happens. */
  readonly verbose: boolean;
  /** Aborted on Ctrl-C: the demo stops and cleans up. */
  readonly signal: AbortSignal;
}

/** What a client in a pod got. */
interface CallResult {
  readonly status?: number;
  readonly body?: string;
  readonly error?: string;
  readonly addresses?: string[];
}

interface DemoNodeRuntime {
  readonly name: string;
  agent: NodeAgent;
  ztunnel: Ztunnel;
  readonly zdsPath: string;
  readonly dns: ClusterDns;
  adminUrl: string;
}

/** A captured access log line. */
interface Captured {
  readonly node: string;
  readonly entry: AccessLogEntry;
}

const delay = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

async function waitFor<T>(read: () => T | undefined | false, timeoutMs: number, what: string): Promise<T> {
  const deadline = performance.now() + timeoutMs;
  for (;;) {
    const value = read();
    if (value !== undefined && value !== false) return value;
    if (performance.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await delay(20);
  }
}

function httpGet(url: string): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    http
      .get(url, (res) => {
        let body = '';
        res.setEncoding('utf8').on('data', (d: string) => {
          body += d;
        });
        res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
      })
      .on('error', reject);
  });
}

/** A metric's value (summed over the lines that contain every filter). */
function metric(text: string, name: string, ...filters: string[]): number {
  let sum = 0;
  for (const line of text.split('\n')) {
    if (!line.startsWith(`${name}{`) || !filters.every((f) => line.includes(f))) continue;
    sum += Number(line.slice(line.lastIndexOf(' ') + 1));
  }
  return sum;
}

/** The mesh file of the demo with step 4's policy edit applied. */
function withPolicyChange(text: string): string {
  const allow =
    'principals: ["cluster.local/ns/default/sa/sleep"] } }]\n---\napiVersion: security.istio.io/v1\nkind: AuthorizationPolicy\nmetadata: { name: reviews-allow-waypoint';
  if (!text.includes(allow)) throw new Error('the demo mesh file does not hold the policy the demo edits');
  return `${text.replace(
    allow,
    allow.replace(
      '["cluster.local/ns/default/sa/sleep"]',
      '["cluster.local/ns/default/sa/sleep", "cluster.local/ns/default/sa/notsleep"]',
    ),
  )}---
apiVersion: security.istio.io/v1
kind: AuthorizationPolicy
metadata: { name: deny-sleep-8080, namespace: default }
spec:
  action: DENY
  rules:
    - from: [{ source: { principals: ["cluster.local/ns/default/sa/sleep"] } }]
      to: [{ operation: { ports: ["8080"] } }]
`;
}

/**
 * Runs the demo.
 *
 * @param options - Verbosity and the Ctrl-C signal.
 * @returns The exit code: 0 every check passed, 1 one failed or the scenario stopped.
 * @throws {Error} When the network or a component cannot be set up (everything made is removed first).
 * @example
 * ```ts
 * process.exitCode = await runNetnsDemo({ verbose: false, signal: AbortSignal.timeout(60_000) });
 * ```
 */
export async function runNetnsDemo(options: NetnsDemoOptions): Promise<number> {
  const started = performance.now();
  const print = (line: string): void => {
    process.stdout.write(`${line}\n`);
  };
  const report: NetnsReport = createNetnsReport(print, process.stdout.isTTY === true);
  const componentLog = (line: string): void => {
    if (options.verbose) print(`   | ${line}`);
  };
  const cleanups: (() => Promise<void> | void)[] = [];
  const cleanup = async (): Promise<void> => {
    for (const fn of cleanups.splice(0).reverse()) {
      try {
        await fn();
      } catch {
        // Keep removing the rest.
      }
    }
  };
  const onAbort = (): void => void cleanup();
  options.signal.addEventListener('abort', onAbort, { once: true });
  const stopIfAborted = (): void => {
    if (options.signal.aborted) throw new Error('interrupted');
  };

  // With AMBIENT_DEMO_TIMINGS=1, how long each phase took (stderr), to see where the wall time goes.
  const phase = (what: string, since: number): void => {
    if (process.env['AMBIENT_DEMO_TIMINGS'] === '1')
      process.stderr.write(
        `[${((performance.now() - started) / 1000).toFixed(2)} s] ${what}: ${Math.round(performance.now() - since)} ms\n`,
      );
  };
  const meshText = readFileSync(new URL('./mesh.yaml', import.meta.url), 'utf8');
  const logs: Captured[] = [];
  const records: { node: string; record: LogRecord }[] = [];
  const agentEvents: { node: string; event: NodeAgentEvent }[] = [];

  try {
    // --- The network: a namespace per node and per pod (the parse also checks the file).
    const parsedStore = createWorkloadStore();
    const parse = await watchMeshFile({
      path: fileURLToPath(new URL('./mesh.yaml', import.meta.url)),
      store: parsedStore,
      watch: false,
      skipUnsupportedKinds: true,
    });
    await parse.close();
    const workloads = [...parsedStore.workloads()];
    const nodeNames = [...new Set(workloads.map((w) => w.node))].sort();
    let t = performance.now();
    const topo: NetnsTopology = await createNetnsTopology(
      nodeNames,
      workloads.map((w) => ({
        name: w.name,
        node: w.node,
        ip: w.workloadIps[0] as string,
        namespace: w.namespace,
      })),
    );
    cleanups.push(() => topo.destroy());
    phase('network namespaces', t);
    const destroyOnExit = (): void => topo.destroy();
    process.once('exit', destroyOnExit);
    cleanups.push(() => void process.off('exit', destroyOnExit));
    stopIfAborted();
    const meshFile = join(topo.dir, 'mesh.yaml');
    await writeFile(meshFile, meshText);
    const byName = new Map(workloads.map((w) => [w.name, w]));
    const label = (w: Workload | undefined): string => w?.workloadName || w?.name || '?';
    const podOf = (workloadName: string): { workload: Workload; pod: NetnsPod } => {
      const workload = workloads.find((w) => w.workloadName === workloadName) as Workload;
      return { workload, pod: topo.pods.get(workload.name) as NetnsPod };
    };

    // --- The cluster's DNS, one per node (what ztunnel forwards unknown names to).
    const clusterDns = new Map<string, ClusterDns>();
    for (const node of topo.nodes.values()) {
      const dns = await startClusterDns(node.path, node.gateway, new Map([[EXTERNAL.name, EXTERNAL.ip]]));
      cleanups.push(() => dns.close());
      clusterDns.set(node.name, dns);
    }

    // --- The control plane: the mesh file, a store, delta xDS and the Istio CA on one TLS port with bearer
    // tokens (as the demo on loopback: demo-control-plane.ts).
    const meshStore: WorkloadStore = createWorkloadStore();
    const meshWatcher: MeshFileWatcher = await watchMeshFile({
      path: meshFile,
      store: meshStore,
      debounceMs: 20,
      skipUnsupportedKinds: true,
    });
    cleanups.push(() => meshWatcher.close());
    const cp = await startDemoControlPlane({ dir: topo.dir, store: meshStore, serviceAccounts: [] });
    cleanups.push(() => cp.close());
    const { xdsAddress, bundles } = cp;
    // The waypoint runs in its own pod's network namespace, with no route to the control plane's loopback
    // port: it loads the same plug-in CA directory as the testing --ca-dir (root-cert.pem and ca-key.pem are
    // the names both read), so the ztunnels trust its certificate.
    const caDir = cp.ca.dir;

    // --- The waypoint: its own pod (not redirected: it terminates HBONE itself), its own process inside it.
    const waypointWorkload = workloads.find((w) => w.nativeTunnel) as Workload;
    const waypointPod = topo.pods.get(waypointWorkload.name) as NetnsPod;
    const waypointLines: string[] = [];
    const waypoint: ChildProcess = spawn(
      'nsenter',
      [
        `--net=${waypointPod.path}`,
        process.execPath,
        '--conditions=@ambient-kit/source',
        '--import',
        'tsx',
        'src/main.ts',
        '--uid',
        waypointWorkload.uid,
        '--config',
        meshFile,
        '--ca-dir',
        caDir,
        '--drain-ms',
        '500',
      ],
      { cwd: WAYPOINT_DIR, env: { ...process.env, PATH }, stdio: ['ignore', 'pipe', 'pipe'] },
    );
    cleanups.push(
      () =>
        new Promise<void>((resolve) => {
          if (waypoint.exitCode !== null) return resolve();
          waypoint.once('exit', () => resolve());
          waypoint.kill('SIGTERM');
          setTimeout(() => waypoint.kill('SIGKILL'), 2000).unref();
        }),
    );
    for (const stream of [waypoint.stdout, waypoint.stderr]) {
      stream?.setEncoding('utf8').on('data', (d: string) => {
        for (const line of d.split('\n').filter((l) => l !== '')) {
          waypointLines.push(line);
          componentLog(`waypoint ${line}`);
        }
      });
    }

    // --- Per node: a node agent (istio-cni) and a ztunnel, meeting on the node's ZDS socket.
    await mkdir(join(topo.dir, 'zds'));
    t = performance.now();
    const nodes = new Map<string, DemoNodeRuntime>();
    const makeZtunnel = (name: string, zdsPath: string): Ztunnel =>
      createZtunnel({
        nodeName: name,
        mode: 'inpod',
        workloads: {
          xdsAddress,
          tls: { rootCertificatesFile: cp.rootCertFile, altHostname: ISTIOD_NAME },
          tokenFile: cp.tokenFile('istio-system', 'ztunnel'),
        },
        ca: caClientFromIstioCa(cp.caClient('istio-system', 'ztunnel'), { impersonate: true }),
        bundles,
        nodeAddress: '127.0.0.1',
        ports: { admin: 0, metrics: 0, readiness: 0 },
        zdsPath,
        dnsUpstreams: [{ host: (topo.nodes.get(name) as { gateway: string }).gateway, port: 53 }],
        dnsUpstreamTimeoutMs: 2000,
        drainDeadlineMs: 1000,
        accessLog: (entry) => {
          logs.push({ node: name, entry });
          componentLog(
            `${name.padEnd(7)} ${formatLogRecord({
              timeMs: entry.timeMs,
              level: entry.level,
              target: 'access',
              message: entry.message,
              fields: [
                ['src.addr', { display: entry.src.addr }],
                ['dst.addr', { display: entry.dst.addr }],
                ['error', entry.error],
              ],
            })}`,
          );
        },
        logger: (record) => {
          records.push({ node: name, record });
          componentLog(`${name.padEnd(7)} ${formatLogRecord(record)}`);
        },
      });
    await Promise.all(
      nodeNames.map(async (name) => {
        const zdsPath = join(topo.dir, 'zds', `${name}.sock`);
        const ta = performance.now();
        const agent = await createNodeAgent({
          nodeName: name,
          meshFile,
          zdsPath,
          netnsDir: topo.netnsDir,
          ...HELM_RULES,
          retryIntervalMs: 200,
          logger: (record) => componentLog(`${`${name}/cni`.padEnd(7)} ${formatLogRecord(record)}`),
          onEvent: (event) => agentEvents.push({ node: name, event }),
        });
        cleanups.push(() => agent.close());
        phase(`${name} agent enrolled its pods`, ta);
        const ztunnel = makeZtunnel(name, zdsPath);
        const runtime: DemoNodeRuntime = {
          name,
          agent,
          ztunnel,
          zdsPath,
          dns: clusterDns.get(name) as ClusterDns,
          adminUrl: '',
        };
        // The node's current ztunnel (step 9 replaces it).
        cleanups.push(() => runtime.ztunnel.close());
        const addresses = await ztunnel.start();
        runtime.adminUrl = `http://${addresses.admin}`;
        nodes.set(name, runtime);
      }),
    );
    // In the nodes' order, whichever started first.
    for (const name of nodeNames) {
      const node = nodes.get(name) as DemoNodeRuntime;
      nodes.delete(name);
      nodes.set(name, node);
    }
    phase('agents and ztunnels', t);
    stopIfAborted();

    // --- The apps, in their pods, on the ports their services target.
    const apps = new Map<string, PodApp>();
    for (const w of workloads) {
      if (w.nativeTunnel) continue;
      const ports = [...new Set(w.services.flatMap((s) => s.ports.map((p) => p.targetPort)))];
      const app = await startPodApp(
        w.name,
        (topo.pods.get(w.name) as NetnsPod).path,
        ports.length > 0 ? ports : [8080],
      );
      cleanups.push(() => app.close());
      apps.set(w.name, app);
    }

    // Everything is up once each ztunnel has its pods from its agent, and the waypoint listens.
    t = performance.now();
    for (const node of nodes.values()) {
      await node.ztunnel.zdsSynced({ timeoutMs: 30_000 });
      await node.ztunnel.ready({ timeoutMs: 30_000 });
    }
    const waypointUp = async (): Promise<boolean> => {
      const { stdout } = await execFileAsync(
        'nsenter',
        [`--net=${waypointPod.path}`, 'ss', '-Hltn', 'sport = :15008'],
        { env: { ...process.env, PATH } },
      );
      return stdout.includes('LISTEN');
    };
    for (let i = 0; !(await waypointUp()); i++) {
      if (waypoint.exitCode !== null)
        throw new Error(`the waypoint exited (${waypoint.exitCode}): ${waypointLines.slice(-3).join(' | ')}`);
      if (i > 300) throw new Error('the waypoint did not listen on 15008 within 30 s');
      await delay(100);
    }
    phase('ztunnels synced, waypoint up', t);
    stopIfAborted();

    // --- The client: what an app in a pod does (plain HTTP, the name resolved with the pod's resolv.conf).
    const run = async (pod: NetnsPod, args: readonly string[]): Promise<CallResult> => {
      const { stdout } = await execFileAsync(
        'nsenter',
        [
          `--net=${pod.path}`,
          'unshare',
          '--mount',
          'sh',
          '-c',
          'mount --bind "$0" /etc/resolv.conf && exec "$@"',
          pod.resolvConf,
          process.execPath,
          CLIENT,
          ...args,
        ],
        { env: { ...process.env, PATH }, timeout: 15_000 },
      );
      return JSON.parse(stdout.trim().split('\n').at(-1) ?? '{}') as CallResult;
    };
    const describeResult = (r: CallResult): string =>
      r.status !== undefined
        ? `HTTP ${r.status}: ${JSON.stringify((r.body ?? '').trim())}`
        : r.addresses !== undefined
          ? r.addresses.join(', ')
          : `the connection failed (${r.error})`;
    const callFrom = async (who: string, pod: NetnsPod, method: string, url: string): Promise<CallResult> => {
      const t = performance.now();
      const result = await run(pod, [method, url]);
      phase(`call ${who} ${method} ${url}`, t);
      report.line(`${who} (${pod.ip}) ${method} ${url} <- ${describeResult(result)}`);
      return result;
    };
    const call = (workloadName: string, method: string, url: string): Promise<CallResult> =>
      callFrom(workloadName, podOf(workloadName).pod, method, url);
    const logsSince = (from: number, pred: (c: Captured) => boolean): Promise<Captured> =>
      waitFor(() => logs.slice(from).find(pred), 3000, 'an access log line');
    const metricsOf = async (node: string): Promise<string> =>
      (await httpGet(`http://${(nodes.get(node) as DemoNodeRuntime).ztunnel.addresses().metrics}/metrics`))
        .body;
    const sleep = podOf('sleep');
    const echo = podOf('echo');
    const reviewsV1 = podOf('reviews-v1');

    // ------------------------------------------------------------------------------------------------
    report.raw(
      "ambient-kit demo mesh in network namespaces: istio-cni's node agent, in-pod ztunnels, DNS capture (root)",
    );
    report.raw('');
    report.raw(
      `network        ${topo.dir} (private): a namespace per node and per pod; nothing on the host's network`,
    );
    for (const node of topo.nodes.values()) {
      const pods = [...topo.pods.values()]
        .filter((p) => p.node === node.name)
        .sort((a, b) => Number(a.ip.split('.')[3]) - Number(b.ip.split('.')[3]));
      report.raw(
        `${node.name.padEnd(14)} bridge ${node.gateway}/24, DNS ${node.gateway}:53; pods ${pods.map((p) => `${label(byName.get(p.name))} ${p.ip}`).join(', ')}`,
      );
    }
    report.raw(
      `control plane  delta xDS + Istio CA on ${cp.caAddress} (TLS, bearer tokens), mesh file ${meshFile}; plug-in CA ${caDir}`,
    );
    const issued = records.filter(
      (r) => r.record.target === 'identity' && r.record.message === 'certificate issued',
    );
    for (const { node, record } of issued)
      report.raw(`               ${node.padEnd(7)} ${formatLogRecord(record)}`);
    for (const node of nodes.values())
      report.raw(
        `${node.name.padEnd(14)} node agent + ztunnel over ZDS ${node.zdsPath}; ztunnel admin ${node.ztunnel.addresses().admin}`,
      );
    report.raw(`waypoint       ${waypointWorkload.workloadIps[0]}:15008 in its own pod, its own process`);

    // 0 ------------------------------------------------------------------------------------------------
    report.step('0. The node agents put the pods in the mesh');
    for (const w of workloads) {
      const pod = topo.pods.get(w.name) as NetnsPod;
      const inspection = await inspectInpodRedirect({ netns: pod.path, ...HELM_RULES });
      const served = nodes.get(w.node)?.ztunnel.inpodWorkloads().get(w.uid);
      if (w.nativeTunnel) {
        report.check(
          `${label(w)}: no redirection (the waypoint terminates HBONE itself)`,
          inspection.state === 'absent' && served === undefined,
        );
        continue;
      }
      report.line(
        `${label(w)} ${pod.ip}: istio-cni's rules ${inspection.state} (iptables, DNS capture, IPv6); ${w.node}'s ztunnel listens in it on 15001, 15006, 15008, DNS ${served?.dns.join(' ') ?? '-'}`,
      );
      report.check(
        `${label(w)} is redirected and served in-pod`,
        inspection.state === 'installed' && served !== undefined && served.dns.length > 0,
      );
    }

    // 1 ------------------------------------------------------------------------------------------------
    report.step('1. mTLS between pods on different nodes, by name, with a plain HTTP client');
    let from = logs.length;
    const dnsBefore = metric(
      await metricsOf('node-a'),
      'istio_dns_requests_total',
      'source_canonical_service="sleep"',
    );
    const hello = await call('sleep', 'GET', ECHO);
    report.check(
      `sleep reached echo by name: HTTP 200 from ${echo.workload.name}`,
      hello.status === 200 && (hello.body ?? '').startsWith(echo.workload.name),
      describeResult(hello),
    );
    const out1 = await logsSince(
      from,
      (c) =>
        c.node === 'node-a' &&
        c.entry.direction === 'outbound' &&
        c.entry.src.addr.startsWith(`${sleep.pod.ip}:`),
    ).catch(() => undefined);
    report.check(
      `node-a captured it on 15001 and verified ${out1?.entry.dst.identity ?? 'the server'} over HBONE to ${echo.pod.ip}:15008`,
      out1?.entry.dst.addr === `${echo.pod.ip}:15008` &&
        out1.entry.dst.identity === echo.workload.identity &&
        out1.entry.dst.hboneAddr === `${echo.pod.ip}:8080` &&
        out1.entry.error === undefined,
      JSON.stringify(out1?.entry.dst),
    );
    const in1 = await logsSince(
      from,
      (c) =>
        c.node === 'node-b' &&
        c.entry.direction === 'inbound' &&
        c.entry.src.identity === sleep.workload.identity,
    ).catch(() => undefined);
    report.check(
      `node-b took it on ${echo.pod.ip}:15008 and verified the client's ${sleep.workload.identity}`,
      in1?.entry.dst.addr === `${echo.pod.ip}:15008`,
    );
    report.check(
      `the app saw the caller's own pod IP ${sleep.pod.ip}`,
      (hello.body ?? '').includes(`from ${sleep.pod.ip}`),
      hello.body,
    );
    const dnsAfter = metric(
      await metricsOf('node-a'),
      'istio_dns_requests_total',
      'source_canonical_service="sleep"',
    );
    const leaked = (nodes.get('node-a') as DemoNodeRuntime).dns.queries.filter((q) =>
      q.name.startsWith('echo.default.svc.cluster.local'),
    );
    report.line(
      `DNS: node-a's ztunnel answered ${dnsAfter - dnsBefore} queries from sleep (istio_dns_requests_total); the cluster DNS got ${leaked.length} for echo`,
    );
    report.check(
      'the name was answered by ztunnel (DNS capture to 15053), not by the cluster DNS',
      dnsAfter > dnsBefore && leaked.length === 0,
    );

    // 2 ------------------------------------------------------------------------------------------------
    report.step('2. L4 deny at the destination ztunnel');
    report.line("policy default/echo-allow-sleep (ALLOW) at echo's pod; notsleep (node-a) calls it");
    from = logs.length;
    const denied = await call('notsleep', 'GET', ECHO);
    report.check('notsleep got no answer from echo', denied.status === undefined, describeResult(denied));
    const in2 = await logsSince(
      from,
      (c) => c.node === 'node-b' && c.entry.direction === 'inbound' && c.entry.error !== undefined,
    ).catch(() => undefined);
    report.check(
      'node-b rejected it by policy: "allow policies exist, but none allowed"',
      in2?.entry.error ===
        'connection closed due to policy rejection: allow policies exist, but none allowed',
      in2?.entry.error,
    );
    const out2 = await logsSince(
      from,
      (c) => c.node === 'node-a' && c.entry.direction === 'outbound' && c.entry.error !== undefined,
    ).catch(() => undefined);
    report.check(
      'node-a got 401 on the HBONE CONNECT',
      out2?.entry.error === 'http status: 401 Unauthorized',
      out2?.entry.error,
    );

    // 3 ------------------------------------------------------------------------------------------------
    report.step('3. L7 policy at the waypoint');
    from = logs.length;
    const review = await call('sleep', 'GET', REVIEWS);
    report.check(
      'sleep GET reviews through the waypoint: HTTP 200 from a reviews pod',
      review.status === 200 && /^reviews-v[12]-/.test(review.body ?? ''),
      describeResult(review),
    );
    const out3 = await logsSince(
      from,
      (c) =>
        c.node === 'node-a' &&
        c.entry.direction === 'outbound' &&
        c.entry.src.addr.startsWith(`${sleep.pod.ip}:`),
    ).catch(() => undefined);
    report.check(
      `node-a sent it to the waypoint (${waypointWorkload.workloadIps[0]}:15008, :authority 10.96.0.20:9080)`,
      out3?.entry.dst.addr === `${waypointWorkload.workloadIps[0]}:15008` &&
        out3.entry.dst.hboneAddr === '10.96.0.20:9080',
      JSON.stringify(out3?.entry.dst),
    );
    // The waypoint keeps its connection to the pod open (no access log line yet): the metrics count it at open.
    let fromWaypoint = 0;
    for (const node of nodes.keys())
      fromWaypoint += metric(
        await metricsOf(node),
        'istio_tcp_connections_opened_total',
        'reporter="destination"',
        `source_principal="${waypointWorkload.identity}"`,
      );
    report.check(
      `the reviews pod's ztunnel saw the waypoint's identity as the source (and the app its IP)`,
      fromWaypoint > 0 && (review.body ?? '').includes(`from ${waypointWorkload.workloadIps[0]}`),
    );
    const del = await call('sleep', 'DELETE', REVIEWS);
    report.check(
      'sleep DELETE reviews: 403 "RBAC: access denied" from the waypoint',
      del.status === 403 && (del.body ?? '').includes('RBAC: access denied'),
      describeResult(del),
    );
    const other = await call('notsleep', 'GET', REVIEWS);
    report.check('notsleep GET reviews: 403 from the waypoint', other.status === 403, describeResult(other));
    from = logs.length;
    const direct = await call('sleep', 'GET', `http://${reviewsV1.pod.ip}:9080/reviews/1`);
    const in3b = await logsSince(
      from,
      (c) => c.node === 'node-b' && c.entry.direction === 'inbound' && c.entry.error !== undefined,
    ).catch(() => undefined);
    report.check(
      'sleep dialing a reviews pod directly skips the waypoint and is denied at L4',
      direct.status === undefined &&
        (in3b?.entry.error ?? '').startsWith('connection closed due to policy rejection'),
      describeResult(direct),
    );

    // 4 ------------------------------------------------------------------------------------------------
    report.step('4. A policy change, pushed live over xDS');
    report.line(`editing ${meshFile}:`);
    report.line('  default/echo-allow-sleep: also allow cluster.local/ns/default/sa/notsleep');
    report.line('  + default/deny-sleep-8080: DENY sleep on port 8080 (namespace-wide)');
    const edited = performance.now();
    await writeFile(meshFile, withPolicyChange(meshText));
    for (const node of nodes.values()) {
      await waitFor(
        () => node.ztunnel.store.policy('default/deny-sleep-8080'),
        5000,
        `${node.name} to get the new policy`,
      );
      report.line(
        `${node.name}: received the new Authorization resources after ${Math.round(performance.now() - edited)} ms`,
      );
    }
    const allowedNow = await call('notsleep', 'GET', ECHO);
    report.check('notsleep is allowed now: HTTP 200', allowedNow.status === 200, describeResult(allowedNow));
    from = logs.length;
    const deniedNow = await call('sleep', 'GET', ECHO);
    const in4 = await logsSince(from, (c) => c.node === 'node-b' && c.entry.error !== undefined).catch(
      () => undefined,
    );
    report.check(
      'sleep is denied now: "explicitly denied by: default/deny-sleep-8080"',
      deniedNow.status === undefined &&
        in4?.entry.error ===
          'connection closed due to policy rejection: explicitly denied by: default/deny-sleep-8080',
      in4?.entry.error,
    );

    // 5 ------------------------------------------------------------------------------------------------
    report.step('5. Metrics, readiness and config_dump');
    for (const node of nodes.values()) {
      const text = await metricsOf(node.name);
      const opened = metric(text, 'istio_tcp_connections_opened_total');
      const deny = metric(text, 'istio_tcp_connections_failed_total', 'response_flags="DENY"');
      report.line(
        `${node.name} metrics: ${opened} connections opened, ${deny} denied by policy; ${metric(text, 'istio_dns_requests_total')} DNS requests, ${metric(text, 'istio_dns_upstream_requests_total')} forwarded`,
      );
      const ready = await httpGet(`http://${node.ztunnel.addresses().readiness}/healthz/ready`);
      const dump = JSON.parse((await httpGet(`${node.adminUrl}/config_dump`)).body) as {
        workloadState?: Record<string, { state: string }>;
      };
      const up = Object.values(dump.workloadState ?? {}).filter((s) => s.state === 'Up').length;
      const pods = workloads.filter((w) => w.node === node.name && !w.nativeTunnel).length;
      report.check(
        `${node.name}: ready (${ready.status}), ${up} of its ${pods} pods Up in config_dump workloadState`,
        ready.status === 200 && up === pods && opened > 0,
      );
    }
    report.check(
      'node-b counted the denials (istio_tcp_connections_failed_total DENY)',
      metric(await metricsOf('node-b'), 'istio_tcp_connections_failed_total', 'response_flags="DENY"') >= 3,
    );

    // 6 ------------------------------------------------------------------------------------------------
    report.step('6. DNS: names outside the mesh are forwarded from inside the pod');
    const dnsA = nodes.get('node-a') as DemoNodeRuntime;
    dnsA.dns.queries.length = 0;
    const upstreamBefore = metric(await metricsOf('node-a'), 'istio_dns_upstream_requests_total');
    const looked = await call('sleep', 'lookup', EXTERNAL.name);
    report.check(
      `${EXTERNAL.name} resolved to ${EXTERNAL.ip} by the cluster DNS, through ztunnel`,
      looked.addresses?.[0] === EXTERNAL.ip,
      describeResult(looked),
    );
    const seen = dnsA.dns.queries.find((q) => q.name === EXTERNAL.name);
    report.line(
      `node-a's cluster DNS saw ${dnsA.dns.queries.length} queries, ${EXTERNAL.name} from ${seen?.from ?? '-'}`,
    );
    report.check(
      "ztunnel asked it from inside sleep's pod (the source is the pod IP), and counted it",
      seen?.from === sleep.pod.ip &&
        metric(await metricsOf('node-a'), 'istio_dns_upstream_requests_total') > upstreamBefore,
    );

    // 7 ------------------------------------------------------------------------------------------------
    report.step('7. A pod added at run time');
    const newPod = {
      name: 'notsleep-5c4f8b7d9-z7mwd',
      node: 'node-a',
      ip: '10.244.1.12',
      namespace: 'default',
    };
    const added = await topo.addPod(newPod);
    cleanups.push(() => topo.deletePod(newPod.name));
    const newUid = `Kubernetes//Pod/default/${newPod.name}`;
    const newWorkload = `  - { uid: "${newUid}", name: ${newPod.name}, namespace: default, serviceAccount: notsleep, workloadName: notsleep-2, canonicalName: notsleep, canonicalRevision: v1, workloadIps: ["${newPod.ip}"], protocol: HBONE, node: node-a }\n`;
    const withNew = withPolicyChange(meshText).replace('\nservices:\n', `${newWorkload}\nservices:\n`);
    const appNew = await startPodApp(newPod.name, added.path, [8080]);
    cleanups.push(() => appNew.close());
    report.line(`created its namespace (${newPod.ip} on node-a), then added it to the mesh file`);
    const t7 = performance.now();
    await writeFile(meshFile, withNew);
    const ztA = () => (nodes.get('node-a') as DemoNodeRuntime).ztunnel;
    const captured = await waitFor(
      () =>
        agentEvents.some(
          (e) =>
            e.event.type === 'enrolled' && e.event.pod.uid === newUid && e.event.pod.ztunnel === 'accepted',
        ) && ztA().inpodWorkloads().has(newUid),
      10_000,
      'the new pod to be captured',
    ).then(
      () => performance.now() - t7,
      () => undefined,
    );
    report.line(
      `the node agent installed its rules and node-a's ztunnel took it over ZDS ${captured === undefined ? '(not within 10 s)' : `${Math.round(captured)} ms after the edit`}`,
    );
    report.check(
      'the new pod was captured within 2 s',
      captured !== undefined && captured <= 2000,
      captured === undefined ? 'never' : `${Math.round(captured)} ms`,
    );
    from = logs.length;
    const fromNew = await callFrom('notsleep-2', added, 'GET', ECHO).catch(
      (error: Error) => ({ error: error.message }) as CallResult,
    );
    const out7 = await logsSince(
      from,
      (c) => c.node === 'node-a' && c.entry.src.addr.startsWith(`${newPod.ip}:`),
    ).catch(() => undefined);
    report.check(
      "its traffic goes through ztunnel: HTTP 200, node-a logged it from the new pod's IP",
      fromNew.status === 200 && out7 !== undefined,
      describeResult(fromNew),
    );

    // 8 ------------------------------------------------------------------------------------------------
    report.step('8. A pod deleted');
    const t8 = performance.now();
    await writeFile(meshFile, withPolicyChange(meshText));
    const removed = await waitFor(
      () => agentEvents.some((e) => e.event.type === 'removed' && e.event.uid === newUid),
      10_000,
      'the pod to be removed',
    ).then(
      () => true,
      () => false,
    );
    const afterRemove = await inspectInpodRedirect({ netns: added.path, ...HELM_RULES });
    const { stdout: listeners } = await execFileAsync('nsenter', [`--net=${added.path}`, 'ss', '-Hltn'], {
      env: { ...process.env, PATH },
    });
    report.line(
      `removed from the mesh file: rules ${afterRemove.state} ${Math.round(performance.now() - t8)} ms later; listeners left in its namespace: ${listeners.includes(':150') ? listeners.trim() : 'only its app'}`,
    );
    report.check(
      "its rules were removed and node-a's ztunnel let go of it (no 15001/15006/15008/15053 in the pod)",
      removed &&
        afterRemove.state === 'absent' &&
        !ztA().inpodWorkloads().has(newUid) &&
        !/:150(01|06|08|53)\b/.test(listeners),
    );
    await appNew.close();
    topo.deletePod(newPod.name);

    // 9 ------------------------------------------------------------------------------------------------
    report.step('9. A ztunnel restart');
    const nodeB = nodes.get('node-b') as DemoNodeRuntime;
    const connectionsBefore = agentEvents.filter(
      (e) => e.node === 'node-b' && e.event.type === 'zds' && e.event.event.type === 'snapshot-acked',
    ).length;
    const t9 = performance.now();
    await nodeB.ztunnel.drain({ deadlineMs: 500 });
    await nodeB.ztunnel.close();
    report.line("node-b's ztunnel drained and stopped; a new one starts on the same ZDS socket");
    nodeB.ztunnel = makeZtunnel('node-b', nodeB.zdsPath);
    const addressesB = await nodeB.ztunnel.start();
    nodeB.adminUrl = `http://${addressesB.admin}`;
    await nodeB.ztunnel.zdsSynced({ timeoutMs: 10_000 });
    await nodeB.ztunnel.ready({ timeoutMs: 10_000 });
    const acked = (): number =>
      agentEvents.filter(
        (e) => e.node === 'node-b' && e.event.type === 'zds' && e.event.event.type === 'snapshot-acked',
      ).length;
    const replayed = await waitFor(
      () => acked() > connectionsBefore && acked(),
      5000,
      'the agent to see the snapshot acked',
    ).catch(() => acked());
    report.line(
      `node-b's agent replayed its snapshot (${nodeB.ztunnel.inpodWorkloads().size} pods) ${Math.round(performance.now() - t9)} ms after the restart began`,
    );
    report.check(
      'the agent replayed its pods to the new ztunnel',
      replayed === connectionsBefore + 1 && nodeB.ztunnel.inpodWorkloads().has(echo.workload.uid),
    );
    const resumed = await call('notsleep', 'GET', ECHO);
    report.check(
      'traffic resumed: notsleep → echo HTTP 200 through the new ztunnel',
      resumed.status === 200,
      describeResult(resumed),
    );

    // ------------------------------------------------------------------------------------------------
    const failed = report.checks.filter((c) => !c.ok);
    const seconds = ((performance.now() - started) / 1000).toFixed(1);
    report.raw('');
    if (failed.length === 0)
      report.raw(`All ${report.checks.length} checks passed in ${seconds} s (wall time).`);
    else {
      report.raw(`${failed.length} of ${report.checks.length} checks FAILED (${seconds} s wall time):`);
      for (const c of failed)
        report.raw(`  [${c.step}] ${c.name}${c.detail === undefined ? '' : `: ${c.detail}`}`);
    }
    return failed.length === 0 ? 0 : 1;
  } finally {
    options.signal.removeEventListener('abort', onAbort);
    await cleanup();
  }
}
