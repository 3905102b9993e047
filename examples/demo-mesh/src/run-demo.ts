/**
 * The demo after its flags were read: checks the mesh file, starts the mesh, runs the scenario, prints the
 * summary, and with `--keep-running` stays up logging every denial. Its number is the exit code.
 * @module
 */
import { oneLine } from '@ambient-kit/example-ztunnel/program';
import type { Cast } from './cast.js';
import { ISTIOD_NAME } from './demo-control-plane.js';
import { describeOutcome, expectedOutcome } from './expected-outcome.js';
import { runL7Scenario } from './l7-scenario.js';
import { createLogView, type LogView } from './log-view.js';
import { checkDemoMeshFile } from './mesh-check.js';
import { liveModel } from './mesh-model.js';
import { type CapturedLog, type DemoMesh, startDemoMesh } from './mesh-runtime.js';
import { runNativeScenario } from './native-scenario.js';
import { callUrl, label } from './probe.js';
import { createReport, type Report } from './report.js';
import { runScenario, type ScenarioRun } from './scenario.js';

// The waypoints draw route weights from a generator with this seed, so the traffic-shifting counts of step 6
// repeat run to run (each draw is uniform; only the sequence is fixed).
const ROUTE_SEED = 20250701;

/** A seeded uniform random source (mulberry32). */
function seeded(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** Options of {@link runDemo}. */
export interface RunDemoOptions {
  /** The mesh file's text. */
  readonly meshText: string;
  /** What to call the file in messages: its path, or "the built-in mesh file". */
  readonly source: string;
  readonly verbose: boolean;
  readonly keepRunning: boolean;
  /** ztunnel's own port numbers on each node address (else free ones). */
  readonly standardPorts: boolean;
}

/**
 * Runs the demo.
 *
 * @param options - The file and the flags.
 * @returns The exit code: 0 every check passed, 1 one failed (or the scenario stopped), 2 the mesh did not
 *   start (the problems are printed on stderr, one line each).
 * @example
 * ```ts
 * process.exitCode = await runDemo({ meshText, source: 'mesh.yaml', verbose: false, keepRunning: false, standardPorts: true });
 * ```
 */
export async function runDemo(options: RunDemoOptions): Promise<number> {
  const { meshText, source } = options;
  // Everything is checked up front, so a mistake is reported against the user's file, once.
  const checked = checkDemoMeshFile(meshText);
  if (!checked.ok) {
    for (const problem of checked.problems) process.stderr.write(`${source}: ${problem}\n`);
    return 2;
  }
  for (const warning of checked.warnings) process.stderr.write(`${source}: warning: ${warning}\n`);

  const print = (line: string): void => {
    process.stdout.write(`${line}\n`);
  };
  const report = createReport(print, process.stdout.isTTY === true);
  const logs = createLogView(print, (text) => report.line(text));
  const started = performance.now();
  report.raw('ambient-kit demo mesh: an Istio ambient data plane on loopback (no cluster, no root)');
  let mesh: DemoMesh;
  try {
    mesh = await startDemoMesh({
      meshText,
      verbose: options.verbose,
      standardPorts: options.standardPorts,
      routeRandom: seeded(ROUTE_SEED),
    });
  } catch (error) {
    process.stderr.write(`the mesh did not start: ${oneLine(error)}\n`);
    return 2;
  }
  try {
    if (options.verbose) mesh.onLog((log) => logs.live(log));
    describeMesh(mesh, report);
    let run: ScenarioRun;
    try {
      run = await runScenario(mesh, checked.cast, report, logs);
      await runL7Scenario(mesh, checked.cast, report, logs);
      await runNativeScenario(mesh, report, logs);
    } catch (error) {
      process.stderr.write(`the scenario stopped: ${oneLine(error)}\n`);
      return 1;
    }
    const failed = report.checks.filter((c) => !c.ok);
    const seconds = ((performance.now() - started) / 1000).toFixed(1);
    report.raw('');
    if (failed.length === 0) {
      report.raw(`All ${report.checks.length} checks passed in ${seconds} s.`);
    } else {
      report.raw(`${failed.length} of ${report.checks.length} checks FAILED (${seconds} s):`);
      for (const c of failed)
        report.raw(`  [${c.step}] ${c.name}${c.detail === undefined ? '' : `: ${c.detail}`}`);
    }
    if (options.keepRunning) await keepRunning(mesh, checked.cast, run, report, logs);
    return failed.length === 0 ? 0 : 1;
  } finally {
    await mesh.close();
  }
}

/** The header: what runs where. */
function describeMesh(mesh: DemoMesh, report: Report): void {
  const stats = mesh.meshStore.stats();
  const skipped = mesh.meshWatcher.current().skippedPolicies;
  report.raw('');
  const cp = mesh.controlPlane;
  report.raw(
    `control plane  delta xDS + Istio CA on ${cp.caAddress} (TLS as ${ISTIOD_NAME}, bearer tokens), mesh file ${mesh.meshFile}`,
  );
  report.raw(
    `               ${stats.workloads} workloads, ${stats.services} services, ${stats.policies} L4 policies for ztunnels` +
      (skipped.length > 0
        ? `, ${skipped.map((p) => `${p.namespace}/${p.name}`).join(', ')} for waypoints (targetRefs)`
        : ''),
  );
  report.raw(
    `CA             plug-in CA ${cp.ca.dir} (${cp.ca.signingSubject}), trust domain cluster.local; the ztunnels ` +
      `(istio-system/ztunnel) ask by CSR for their workloads (ImpersonatedIdentity), the waypoint for itself:`,
  );
  for (const line of mesh.certificateLog) report.raw(`               ${line}`);
  const workloads = [...mesh.meshStore.workloads()];
  for (const node of mesh.nodes.values()) {
    const a = node.addresses;
    const pods = workloads
      .filter((w) => w.node === node.name && !w.nativeTunnel)
      .map((w) => `${label(w)} ${w.workloadIps[0]}`)
      .join(', ');
    report.raw(
      `ztunnel ${node.name.padEnd(6)} admin ${a.admin}  metrics ${a.metrics}  ready ${a.readiness}  socks5 ${a.socks5}`,
    );
    report.raw(`               inbound HBONE :15008 on ${pods}`);
  }
  for (const w of mesh.waypoints) {
    const a = w.waypoint.addresses();
    report.raw(`waypoint       ${w.address} as ${w.workload.identity}`);
    report.raw(`               admin ${a.admin}  metrics ${a.metrics}  ready ${a.readiness}`);
    const config = w.config.current();
    const kinds = [...config.routeObjects, ...config.securityObjects].map((o) => {
      const v = o as { kind?: string; metadata?: { name?: string } };
      return `${v.kind} ${v.metadata?.name}`;
    });
    report.raw(`               L7 configuration from the mesh file: ${kinds.join(', ')}`);
    report.raw(
      `               route weights drawn from a generator seeded ${ROUTE_SEED}, so step 6's counts repeat`,
    );
  }
  const apps = [...mesh.apps.listening].map(([podName, addrs]) => {
    const w = workloads.find((x) => x.name === podName);
    return `${w === undefined ? podName : label(w)} ${addrs.join(' ')}`;
  });
  report.raw(`apps           HTTP echo on ${apps.join(', ')}`);
}

/** A denial, seen where it is enforced: a ztunnel refusing by policy, or a waypoint's 403. */
function isDenial(log: CapturedLog): boolean {
  return log.kind === 'ztunnel'
    ? log.entry.direction === 'inbound' &&
        log.entry.error?.startsWith('connection closed due to policy') === true
    : log.entry.responseCode === 403;
}

/**
 * `--keep-running`: the mesh stays in the state the scenario left it in (step 4's policies), so the calls
 * to try are printed with what the mesh file now says about each, and every denial is logged as it happens.
 */
async function keepRunning(
  mesh: DemoMesh,
  cast: Cast,
  run: ScenarioRun,
  report: Report,
  logs: LogView,
): Promise<void> {
  report.raw('');
  report.raw(
    `The mesh keeps running (Ctrl-C to stop), with the policies of step 4: ${label(cast.allowedClient)} is now ` +
      `denied where ${label(cast.deniedClient)} is allowed. Try, for instance:`,
  );
  const first = [...mesh.nodes.values()][0];
  if (first !== undefined) {
    report.raw(`  curl -s http://${first.addresses.admin}/config_dump | head -40`);
    report.raw(`  curl -s http://${first.addresses.metrics}/metrics | grep istio_tcp_connections_opened`);
  }
  const model = liveModel(mesh);
  for (const call of run.calls) {
    const socks5 = mesh.nodes.get(call.client.node)?.addresses.socks5;
    if (socks5 === undefined) continue;
    // --socks5-hostname: the ztunnel resolves mesh hostnames itself; --interface: the pod's own IP.
    const method = call.method === 'GET' ? '' : ` -X ${call.method}`;
    report.raw(
      `  curl --socks5-hostname ${socks5} --interface ${call.client.workloadIps[0]}${method} ${callUrl(call)}`,
    );
    report.raw(`      # ${label(call.client)}: ${describeOutcome(expectedOutcome(model, call))}`);
  }
  report.raw(`  edit ${mesh.meshFile}: the next connection sees the change`);
  report.raw('Denials are logged below as they happen.');
  const off = mesh.onLog((log) => {
    if (isDenial(log)) logs.live(log);
  });
  await new Promise<void>((resolve) => {
    process.once('SIGINT', () => resolve());
    process.once('SIGTERM', () => resolve());
  });
  off();
}
