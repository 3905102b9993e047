/**
 * The scripted scenario: real requests between the demo's pods, and what the mesh did with them, each held
 * to what the mesh file says should happen (expected-outcome.ts). The parts are played by the workloads
 * the cast picked from the file (cast.ts); with the built-in file: sleep, notsleep, echo, reviews and the
 * waypoint.
 *
 * 1. mTLS between pods on different nodes, with the SPIFFE IDs each ztunnel verified.
 * 2. An L4 deny at the destination ztunnel (401 on the HBONE CONNECT).
 * 3. Traffic through the waypoint: L7 allows and 403s, and an attempt to bypass the waypoint.
 * 4. A policy change in the mesh file, pushed live over xDS: the next connections get the new answers.
 * 5. Metrics scraped from each ztunnel, access log counts, readiness and `/config_dump`.
 * @module
 */
import { readFile, rename, writeFile } from 'node:fs/promises';
import { parseMeshFile } from '@ambient-kit/control-plane';
import type { Workload } from '@ambient-kit/workload-api';
import type { Cast } from './cast.js';
import { type Call, type ExpectedOutcome, expectedOutcome, type MeshModel } from './expected-outcome.js';
import type { LogView } from './log-view.js';
import { liveModel, meshModelOf } from './mesh-model.js';
import type { DemoMesh, DemoNode } from './mesh-runtime.js';
import { parseSamples, sumBy } from './metrics-text.js';
import { applyPolicyChange, type PolicyChange } from './policy-edit.js';
import { label, type ProbeContext, type ProbeResult, probe } from './probe.js';
import type { Report } from './report.js';

const withoutScheme = (identity: string): string => identity.replace(/^spiffe:\/\//, '');

/**
 * The live change of step 4, for a cast: the server's ALLOW policy also admits the denied client, and a
 * namespace-wide DENY shuts the allowed client out of the server's port.
 *
 * @param cast - The cast.
 * @returns The change.
 * @example
 * ```ts
 * await writeFile(path, applyPolicyChange(await readFile(path, 'utf8'), liveChangeFor(cast)));
 * ```
 */
export function liveChangeFor(cast: Cast): PolicyChange {
  const namespace = cast.server.backends[0]?.workload.namespace ?? cast.server.service.namespace;
  const ports = [...new Set(cast.server.backends.map((b) => String(b.targetPort)))];
  const name = `deny-${label(cast.allowedClient)}-${ports.join('-')}`;
  return {
    allowPolicy: cast.serverAllowPolicy,
    addPrincipal: withoutScheme(cast.deniedClient.identity),
    denyPolicy: `${namespace}/${name}`,
    addDocument: `# Added live by the demo (step 4): a namespace-wide DENY, so no workload needs to list it.
apiVersion: security.istio.io/v1
kind: AuthorizationPolicy
metadata: { name: ${name}, namespace: ${namespace} }
spec:
  action: DENY
  rules:
    - from: [{ source: { principals: ["${withoutScheme(cast.allowedClient.identity)}"] } }]
      to: [{ operation: { ports: [${ports.map((p) => `"${p}"`).join(', ')}] } }]
`,
  };
}

/** What the scenario did, for the summary and for `--keep-running`. */
export interface ScenarioRun {
  /** Every probe, in order. */
  readonly probes: readonly ProbeResult[];
  /** The calls worth trying by hand afterwards, one of each kind. */
  readonly calls: readonly Call[];
}

/**
 * Runs the scenario against a running mesh.
 *
 * @param mesh - From `startDemoMesh`.
 * @param cast - From `castScenario` on the same file.
 * @param report - Where output and checks go.
 * @param logs - Prints access log lines, each once.
 * @returns What ran (failed checks are in `report.checks`).
 * @example
 * ```ts
 * await runScenario(mesh, cast, report, createLogView(print, (t) => report.line(t)));
 * const ok = report.checks.every((c) => c.ok);
 * ```
 */
export async function runScenario(
  mesh: DemoMesh,
  cast: Cast,
  report: Report,
  logs: LogView,
): Promise<ScenarioRun> {
  const ctx: ProbeContext = { mesh, report, logs };
  const probes: ProbeResult[] = [];
  const run = async (model: MeshModel, call: Call, showLogs = true): Promise<ProbeResult> => {
    const result = await probe(ctx, call, expectedOutcome(model, call), { showLogs });
    probes.push(result);
    return result;
  };
  const { server, allowedClient, deniedClient, l7 } = cast;
  const toServer = (client: Workload, path = '/hello'): Call => ({
    client,
    target: { kind: 'service', service: server.service, port: server.port },
    method: 'GET',
    path,
  });
  const nodeOf = (w: Workload): DemoNode | undefined => mesh.nodes.get(w.node);
  const crossing = server.backends.every((b) => b.workload.node !== allowedClient.node);

  // 1 -----------------------------------------------------------------------------------------------------
  report.step(`1. mTLS between pods${crossing ? ' on different nodes' : ''}`);
  report.line(
    `${label(allowedClient)} (${allowedClient.node}, ${allowedClient.workloadIps[0]}) calls ${server.service.hostname} ` +
      `via ${allowedClient.node}'s SOCKS5 ${nodeOf(allowedClient)?.addresses.socks5}`,
  );
  const first = await run(liveModel(mesh), toServer(allowedClient));
  const answered = first.answered;
  const out1 = first.logs.outbound?.kind === 'ztunnel' ? first.logs.outbound.entry : undefined;
  const in1 = first.logs.inbound?.kind === 'ztunnel' ? first.logs.inbound.entry : undefined;
  if (first.expected.kind === 'allowed' && answered !== undefined) {
    const target = server.backends.find((b) => b.workload.uid === answered.uid);
    report.check(
      `${allowedClient.node} verified the server's SPIFFE ID ${answered.identity} over HBONE to ${answered.workloadIps[0]}:15008`,
      out1?.dst.identity === answered.identity && out1.dst.addr === `${answered.workloadIps[0]}:15008`,
      first.logs.outbound?.line,
    );
    report.check(
      `${answered.node} verified the client's SPIFFE ID ${allowedClient.identity}`,
      in1?.src.identity === allowedClient.identity &&
        in1.dst.hboneAddr === `${answered.workloadIps[0]}:${target?.targetPort}`,
      first.logs.inbound?.line,
    );
    report.check(
      `the app saw the caller's own pod IP ${allowedClient.workloadIps[0]}`,
      first.echo?.client.startsWith(`${allowedClient.workloadIps[0]}:`) === true,
      first.echo?.client,
    );
  }

  // 2 -----------------------------------------------------------------------------------------------------
  report.step('2. L4 deny at the destination ztunnel');
  report.line(
    `policy ${cast.serverAllowPolicy} (ALLOW) at ${server.service.name}'s pods; ${label(deniedClient)} (${deniedClient.node}) calls it`,
  );
  await run(liveModel(mesh), toServer(deniedClient));

  // 3 -----------------------------------------------------------------------------------------------------
  report.step('3. L7 policy at the waypoint');
  const waypoint = mesh.waypoints.find((w) => w.workload.uid === l7.waypoint.uid);
  report.line(
    `service ${l7.service.name} uses waypoint ${l7.waypoint.name} at ${waypoint?.address} (${l7.waypoint.identity})`,
  );
  const toL7 = (client: Workload, method: string, path: string): Call => ({
    client,
    target: { kind: 'service', service: l7.service, port: l7.port },
    method,
    path,
  });
  const resource = `/${l7.service.name}`;
  const l7Calls = [
    toL7(allowedClient, 'GET', `${resource}/1`),
    toL7(allowedClient, 'GET', `${resource}/2`),
    toL7(allowedClient, 'DELETE', `${resource}/1`),
    toL7(deniedClient, 'GET', `${resource}/1`),
  ];
  for (const [i, call] of l7Calls.entries()) await run(liveModel(mesh), call, i !== 1);
  const pod = l7.direct;
  report.line(
    `${label(allowedClient)} dials a ${l7.service.name} pod's IP directly: no waypoint on this path`,
  );
  const bypass: Call = {
    client: allowedClient,
    target: { kind: 'pod', workload: pod.workload, port: pod.targetPort },
    method: 'GET',
    path: `${resource}/1`,
  };
  await run(liveModel(mesh), bypass);

  // 4 -----------------------------------------------------------------------------------------------------
  report.step('4. A policy change, pushed live over xDS');
  const change = liveChangeFor(cast);
  report.line(`editing ${mesh.meshFile}:`);
  report.line(`  ${change.allowPolicy}: also allow ${change.addPrincipal}`);
  report.line(
    `  + ${change.denyPolicy}: DENY ${label(allowedClient)} on ${server.service.name}'s port (namespace-wide)`,
  );
  const text = applyPolicyChange(await readFile(mesh.meshFile, 'utf8'), change);
  const edited = parseMeshFile(text, { skipUnsupportedKinds: true });
  const nextModel = edited.isOk() ? meshModelOf(text, edited.value) : { error: edited.error.message };
  if ('error' in nextModel) throw new Error(`the edited mesh file is invalid: ${nextModel.error}`);
  const nodes = [...mesh.nodes.values()];
  const arrived = nodes.map((node) => changeArrived(node, change));
  // Write-then-rename, as editors and ConfigMap updates do: the watcher never reads half a file.
  await writeFile(`${mesh.meshFile}.tmp`, text);
  await rename(`${mesh.meshFile}.tmp`, mesh.meshFile);
  const times = await Promise.all(arrived);
  nodes.forEach((node, i) => {
    const ms = times[i] as number;
    report.line(
      `${node.name}: ${Number.isNaN(ms) ? 'did not receive the change' : `received the new Authorization resources after ${ms.toFixed(0)} ms`}`,
    );
  });
  report.check(
    'every ztunnel received the change over xDS',
    times.every((t) => !Number.isNaN(t)),
  );
  await run(nextModel, toServer(deniedClient));
  await run(nextModel, toServer(allowedClient));

  // 5 -----------------------------------------------------------------------------------------------------
  report.step('5. Metrics, access logs, readiness and config_dump');
  await checkTelemetry(mesh, report, probes);
  // One call of each kind: the server from both clients, the waypoint's allow and deny, the bypass.
  const [l7Get, , l7Delete] = l7Calls as [Call, Call, Call, Call];
  return { probes, calls: [toServer(allowedClient), toServer(deniedClient), l7Get, l7Delete, bypass] };
}

/** Resolves with the milliseconds until a node's ztunnel holds the change (NaN after 5 s). */
function changeArrived(node: DemoNode, change: PolicyChange): Promise<number> {
  return new Promise<number>((resolve) => {
    const t0 = performance.now();
    const check = (): boolean => {
      const deny = node.ztunnel.store.policy(change.denyPolicy);
      const allow = node.ztunnel.store.policy(change.allowPolicy);
      const widened = allow?.groups.some((g) =>
        g.rules.some((r) =>
          r.matches.some((m) => m.principals.some((p) => 'exact' in p && p.exact === change.addPrincipal)),
        ),
      );
      return deny !== undefined && widened === true;
    };
    const timer = setTimeout(() => {
      off();
      resolve(Number.NaN);
    }, 5000);
    const off = node.ztunnel.store.on('change', () => {
      if (!check()) return;
      off();
      clearTimeout(timer);
      resolve(performance.now() - t0);
    });
  });
}

/** Step 5: each ztunnel's metrics, readiness and `/config_dump`, and the waypoints' access log. */
async function checkTelemetry(mesh: DemoMesh, report: Report, probes: readonly ProbeResult[]): Promise<void> {
  const total = (m: Map<string, number>): number => [...m.values()].reduce((a, b) => a + b, 0);
  const deniedAt = (node: string): number =>
    probes.filter((p) => p.expected.kind === 'denied-l4' && p.expected.at.node === node).length;
  for (const node of mesh.nodes.values()) {
    // A connection is counted closed when both of its ends have closed, a moment after the client got its
    // answer: scrape until the counts settle (at most 2 s).
    let res: Response;
    let samples: ReturnType<typeof parseSamples>;
    // The waypoint's pooled connections to the pods close after 1 s idle: allow for that.
    const deadline = Date.now() + 3000;
    for (;;) {
      res = await fetch(`http://${node.addresses.metrics}/metrics`, {
        headers: { accept: 'application/openmetrics-text; version=1.0.0' },
      });
      samples = parseSamples(await res.text());
      const open = total(sumBy(samples, 'istio_tcp_connections_opened_total', []));
      const done = total(sumBy(samples, 'istio_tcp_connections_closed_total', []));
      if (open === done || Date.now() > deadline) break;
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
    const opened = sumBy(samples, 'istio_tcp_connections_opened_total', ['reporter']);
    const closed = sumBy(samples, 'istio_tcp_connections_closed_total', ['reporter', 'response_flags']);
    const failed = sumBy(samples, 'istio_tcp_connections_failed_total', ['reporter', 'response_flags']);
    const received = sumBy(samples, 'istio_tcp_received_bytes_total', ['reporter']);
    const sent = sumBy(samples, 'istio_tcp_sent_bytes_total', ['reporter']);
    report.line(
      `${node.name} http://${node.addresses.metrics}/metrics (${res.headers.get('content-type')}):`,
    );
    for (const [reporter, n] of opened) {
      const flags = [...closed]
        .filter(([k]) => k.startsWith(`${reporter},`))
        .map(([k, v]) => `${k.split(',')[1]}=${v}`)
        .join(' ');
      report.line(
        `  reporter=${reporter.padEnd(11)} opened ${n}, closed ${flags}; received ${received.get(reporter) ?? 0} B, sent ${sent.get(reporter) ?? 0} B`,
      );
    }
    const accessLines = mesh.logs.filter((l) => l.kind === 'ztunnel' && l.from === node.name).length;
    report.line(`  access log: ${accessLines} lines`);
    report.check(
      `${node.name}: every connection opened was closed (${total(opened)} opened)`,
      total(opened) === total(closed),
      `opened ${total(opened)}, closed ${total(closed)}`,
    );
    const denied = failed.get('destination,DENY') ?? 0;
    const expectedDenied = deniedAt(node.name);
    report.check(
      `${node.name}: ${expectedDenied} connections failed by policy (istio_tcp_connections_failed_total DENY)`,
      denied === expectedDenied,
      `got ${denied}`,
    );
    const ready = await fetch(`http://${node.addresses.readiness}/healthz/ready`);
    const readyText = (await ready.text()).trim();
    report.check(
      `${node.name}: GET /healthz/ready -> ${ready.status} ${readyText}`,
      ready.status === 200 && readyText === 'ready',
    );
  }
  // The waypoint's hops to the pods: pooled connections, each logged by the pod's ztunnel once it closed.
  for (const w of mesh.waypoints) {
    const hops = mesh.logs.filter(
      (l) =>
        l.kind === 'ztunnel' &&
        l.entry.direction === 'inbound' &&
        l.entry.src.identity === w.workload.identity,
    );
    const nodes = [...new Set(hops.map((l) => l.from))].sort();
    report.line(
      `${label(w.workload)}'s connections to the pods, logged when they closed: ${hops.length} (at ${nodes.join(', ') || 'no node'})`,
    );
    if (
      probes.some(
        (p) => p.expected.kind === 'allowed' && 'waypoint' in p.expected && p.expected.waypoint !== undefined,
      )
    )
      report.check(
        `the destination ztunnels saw the waypoint's identity ${w.workload.identity} as the source`,
        hops.length > 0 && hops.every((l) => l.kind === 'ztunnel' && l.entry.error === undefined),
      );
  }
  const stats = mesh.meshStore.stats();
  for (const node of mesh.nodes.values()) {
    const dump = (await (await fetch(`http://${node.addresses.admin}/config_dump`)).json()) as {
      workloads: unknown[];
      services: unknown[];
      policies: { name: string }[];
      certificates: { identity: string; state: string }[];
    };
    report.line(
      `${node.name} http://${node.addresses.admin}/config_dump: ${dump.workloads.length} workloads, ${dump.services.length} services, policies [${dump.policies.map((p) => p.name).join(', ')}]`,
    );
    report.line(`  certificates: ${dump.certificates.map((c) => `${c.identity} (${c.state})`).join(', ')}`);
    report.check(
      `${node.name}: config_dump holds the control plane's ${stats.workloads} workloads and ${stats.policies} L4 policies, certificates Available`,
      dump.workloads.length === stats.workloads &&
        dump.policies.length === stats.policies &&
        dump.certificates.length > 0 &&
        dump.certificates.every((c) => c.state === 'Available'),
    );
  }
  const waypointLines = mesh.logs.filter((l) => l.kind === 'waypoint');
  const byCode = new Map<number, number>();
  for (const l of waypointLines)
    if (l.kind === 'waypoint') byCode.set(l.entry.responseCode, (byCode.get(l.entry.responseCode) ?? 0) + 1);
  const expectedCodes = new Map<number, number>();
  for (const p of probes) {
    const code = waypointCode(p.expected);
    if (code !== undefined) expectedCodes.set(code, (expectedCodes.get(code) ?? 0) + 1);
  }
  const show = (m: Map<number, number>): string =>
    [...m]
      .sort(([a], [b]) => a - b)
      .map(([code, n]) => `${code}: ${n}`)
      .join(', ');
  report.line(`waypoint access log: ${waypointLines.length} requests (${show(byCode)})`);
  report.check(
    `the waypoint answered as the policies say (${show(expectedCodes)})`,
    show(byCode) === show(expectedCodes),
    show(byCode),
  );
}

/** The status a waypoint answers an expected outcome with, when the call goes through one. */
function waypointCode(expected: ExpectedOutcome): number | undefined {
  switch (expected.kind) {
    case 'allowed':
      return expected.waypoint === undefined ? undefined : 200;
    case 'denied-l7':
      return 403;
    case 'no-upstream':
      return 503;
    default:
      return undefined;
  }
}
