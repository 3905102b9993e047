/**
 * The demo mesh: an Istio ambient data plane assembled from ambient-kit, on loopback, with no cluster and
 * no root. Starts a control plane, a CA, a ztunnel per node, a waypoint and the apps, runs the scripted
 * scenario (docs/examples.md), prints what happened, and exits 0 when every check passed.
 *
 * Run from the repository root: `npm start`. Flags: `--config <file>` (a mesh file instead of the
 * built-in one; `--print-config` prints the built-in one to start from), `--keep-running` (stay up after
 * the scenario, until Ctrl-C), `--verbose` (every access log and component log line), `--ephemeral-ports`
 * (free ports instead of ztunnel's 15000/15020/15021/15080 on each node address).
 * @module
 */
import { readFile } from 'node:fs/promises';
import { parseArgs } from 'node:util';
import { parseMeshFile } from '@ambient-kit/workload-api/xds';
import { type DemoMesh, startDemoMesh } from './mesh-runtime.js';
import { createReport } from './report.js';
import { runScenario } from './scenario.js';

const HELP = `Usage: npm start [-- options]   (or: npm start -w @ambient-kit/example-demo-mesh -- options)

  --config <file>     mesh file to run instead of the built-in one (docs/workload-api.md "Mesh file format")
  --print-config      print the built-in mesh file and exit
  --keep-running      keep the mesh up after the scenario (Ctrl-C to stop)
  --verbose           print every access log and component log line
  --ephemeral-ports   bind ztunnels' node-level listeners on free ports instead of 15000/15020/15021/15080
  --help              this text
`;

async function main(): Promise<number> {
  const { values } = parseArgs({
    options: {
      config: { type: 'string' },
      'print-config': { type: 'boolean', default: false },
      'keep-running': { type: 'boolean', default: false },
      verbose: { type: 'boolean', default: false },
      'ephemeral-ports': { type: 'boolean', default: false },
      help: { type: 'boolean', default: false },
    },
    strict: true,
  });
  if (values.help) {
    process.stdout.write(HELP);
    return 0;
  }
  const builtIn = new URL('./mesh.yaml', import.meta.url);
  const meshText = await readFile(values.config ?? builtIn, 'utf8');
  if (values['print-config']) {
    process.stdout.write(meshText);
    return 0;
  }
  // Check the file up front, so a mistake is reported against the user's file rather than the demo's copy.
  const parsed = parseMeshFile(meshText);
  if (parsed.isErr()) {
    process.stderr.write(`${values.config ?? 'the built-in mesh file'}: ${parsed.error.message}\n`);
    return 2;
  }
  const report = createReport((line) => process.stdout.write(`${line}\n`), process.stdout.isTTY === true);
  const started = performance.now();
  report.raw('ambient-kit demo mesh: an Istio ambient data plane on loopback (no cluster, no root)');

  let mesh: DemoMesh;
  try {
    mesh = await startDemoMesh({
      meshText,
      verbose: values.verbose,
      standardPorts: !values['ephemeral-ports'],
    });
  } catch (error) {
    process.stderr.write(`the mesh did not start: ${(error as Error).message}\n`);
    return 2;
  }
  try {
    const stats = mesh.meshStore.stats();
    const skipped = mesh.meshWatcher.current().skippedPolicies;
    report.raw('');
    report.raw(`control plane  delta xDS on ${mesh.xdsAddress}, mesh file ${mesh.meshFile}`);
    report.raw(
      `               ${stats.workloads} workloads, ${stats.services} services, ${stats.policies} L4 policies for ztunnels` +
        (skipped.length > 0
          ? `, ${skipped.map((p) => `${p.namespace}/${p.name}`).join(', ')} for waypoints (targetRefs)`
          : ''),
    );
    report.raw(`CA             trust domain cluster.local (root + intermediate); ztunnels get SVIDs by CSR`);
    for (const node of mesh.nodes.values()) {
      const a = node.addresses;
      const pods = [...mesh.meshStore.workloads()]
        .filter((w) => w.node === node.name && !w.nativeTunnel)
        .map((w) => `${w.workloadName} ${w.workloadIps[0]}`)
        .join(', ');
      report.raw(
        `ztunnel ${node.name.padEnd(6)} admin ${a.admin}  metrics ${a.metrics}  ready ${a.readiness}  socks5 ${a.socks5}`,
      );
      report.raw(`               inbound HBONE :15008 on ${pods}`);
    }
    for (const w of mesh.waypoints) {
      report.raw(`waypoint       ${w.address} as ${w.workload.identity}`);
    }
    const apps = [...mesh.apps.listening].map(
      ([podName, addrs]) => `${podName.split('-')[0]} ${addrs.join(' ')}`,
    );
    report.raw(`apps           HTTP echo on ${apps.join(', ')}`);

    await runScenario(mesh, report);

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
    if (values['keep-running']) {
      report.raw('');
      report.raw('The mesh keeps running (Ctrl-C to stop). Try, for instance:');
      const first = [...mesh.nodes.values()][0];
      const sleep = [...mesh.meshStore.workloads()].find((w) => w.workloadName === 'sleep');
      if (first !== undefined) {
        report.raw(`  curl -s http://${first.addresses.admin}/config_dump | head -40`);
        report.raw(`  curl -s http://${first.addresses.metrics}/metrics | grep istio_tcp_connections_opened`);
      }
      const sleepNode = sleep === undefined ? undefined : mesh.nodes.get(sleep.node);
      if (sleep !== undefined && sleepNode?.addresses.socks5 !== undefined) {
        // --socks5-hostname: the ztunnel resolves mesh hostnames itself; --interface: the pod's own IP.
        const via = `--socks5-hostname ${sleepNode.addresses.socks5} --interface ${sleep.workloadIps[0]}`;
        report.raw(`  curl ${via} http://reviews.default.svc.cluster.local:9080/reviews/1`);
        report.raw(`  curl ${via} -X DELETE http://reviews.default.svc.cluster.local:9080/reviews/1`);
      }
      report.raw(`  edit ${mesh.meshFile}: the next connection sees the change`);
      await new Promise<void>((resolve) => {
        process.once('SIGINT', () => resolve());
        process.once('SIGTERM', () => resolve());
      });
    }
    return failed.length === 0 ? 0 : 1;
  } catch (error) {
    process.stderr.write(`the scenario stopped: ${(error as Error).stack ?? String(error)}\n`);
    return 1;
  } finally {
    await mesh.close();
  }
}

process.exitCode = await main();
