/**
 * The scripted scenario: real requests between the demo's pods, and what the mesh did with them, checked.
 *
 * 1. mTLS between pods on different nodes, with the SPIFFE IDs each ztunnel verified.
 * 2. An L4 deny at the destination ztunnel (401 on the HBONE CONNECT).
 * 3. Traffic through the waypoint: an L7 allow, two L7 403s, and an attempt to bypass the waypoint.
 * 4. A policy change in the mesh file, pushed live over xDS: the next connections get the new answers.
 * 5. Metrics scraped from each ztunnel, access log counts, readiness and `/config_dump`.
 * @module
 */
import { readFile, rename, writeFile } from 'node:fs/promises';
import type { AccessLogEntry } from '@ambient-kit/example-ztunnel';
import type { Workload } from '@ambient-kit/workload-api';
import type { EchoReply } from './apps.js';
import type { CapturedLog, DemoMesh, DemoNode } from './mesh-runtime.js';
import { parseSamples, sumBy } from './metrics-text.js';
import { type PodResponse, podRequest } from './pod-client.js';
import { applyPolicyChange, type PolicyChange } from './policy-edit.js';
import type { Report } from './report.js';

const TD = 'cluster.local';
const sa = (name: string): string => `spiffe://${TD}/ns/default/sa/${name}`;

/**
 * The live change of step 4: let notsleep reach echo, and shut sleep out of port 8080.
 *
 * @example
 * ```ts
 * await writeFile(path, applyPolicyChange(await readFile(path, 'utf8'), LIVE_CHANGE));
 * ```
 */
export const LIVE_CHANGE: PolicyChange = {
  allowPolicy: 'default/echo-allow-sleep',
  addPrincipal: `${TD}/ns/default/sa/notsleep`,
  addDocument: `# Added live by the demo (step 4): a namespace-wide DENY, so no workload needs to list it.
apiVersion: security.istio.io/v1
kind: AuthorizationPolicy
metadata: { name: deny-sleep-8080, namespace: default }
spec:
  action: DENY
  rules:
    - from: [{ source: { principals: ["${TD}/ns/default/sa/sleep"] } }]
      to: [{ operation: { ports: ["8080"] } }]
`,
};

interface Pod {
  readonly workload: Workload;
  readonly ip: string;
  readonly node: DemoNode;
}

function describe(r: PodResponse): string {
  if (r.kind === 'http') return `HTTP ${r.status}`;
  if (r.kind === 'refused')
    return `refused by the ztunnel: ${r.message.replace('SOCKS5 server refused: ', '')}`;
  return `error: ${r.message}`;
}

function echoOf(r: PodResponse): EchoReply | undefined {
  if (r.kind !== 'http' || r.status !== 200) return undefined;
  try {
    return JSON.parse(r.body) as EchoReply;
  } catch {
    return undefined;
  }
}

/** ztunnel's access log line, folded like its README ("with newlines for readability"). */
function folded(log: CapturedLog | undefined): string {
  if (log === undefined) return '(no access log line)';
  if (log.kind === 'waypoint') return `${log.from}: ${log.line}`;
  const line = log.line;
  const dst = line.indexOf(' dst.addr=');
  const dir = line.indexOf(' direction=');
  if (dst < 0 || dir < 0) return `${log.from}: ${line}`;
  return `${log.from}: ${line.slice(0, dst)}\n    ${line.slice(dst + 1, dir)}\n    ${line.slice(dir + 1)}`;
}

const ztunnelLog =
  (node: string, direction: 'inbound' | 'outbound', test: (e: AccessLogEntry) => boolean) =>
  (log: CapturedLog): boolean =>
    log.kind === 'ztunnel' && log.from === node && log.entry.direction === direction && test(log.entry);

/**
 * Runs the scenario against a running mesh.
 *
 * @param mesh - From `startDemoMesh`.
 * @param report - Where output and checks go.
 * @returns Resolves when every step ran (failed checks are in `report.checks`).
 * @example
 * ```ts
 * await runScenario(mesh, report);
 * const ok = report.checks.every((c) => c.ok);
 * ```
 */
export async function runScenario(mesh: DemoMesh, report: Report): Promise<void> {
  const pod = (workloadName: string): Pod => {
    for (const w of mesh.meshStore.workloads()) {
      if (w.workloadName !== workloadName) continue;
      const node = mesh.nodes.get(w.node);
      const ip = w.workloadIps[0];
      if (node !== undefined && ip !== undefined) return { workload: w, ip, node };
    }
    throw new Error(`the mesh file has no workload named ${workloadName} on a node (the scenario needs it)`);
  };
  const request = (
    from: Pod,
    host: string,
    port: number,
    method = 'GET',
    path = '/',
  ): Promise<PodResponse> => {
    const socks5 = from.node.addresses.socks5;
    if (socks5 === undefined) throw new Error(`${from.node.name} has no SOCKS5 listener`);
    return podRequest({ podIp: from.ip, socks5, host, port, method, path });
  };

  const sleep = pod('sleep');
  const notsleep = pod('notsleep');
  const echo = pod('echo');
  const reviewsV1 = pod('reviews-v1');
  const waypoint = mesh.waypoints[0];
  if (waypoint === undefined)
    throw new Error('the mesh file has no waypoint (a workload with nativeTunnel: true)');
  const echoHost = 'echo.default.svc.cluster.local';
  const reviewsHost = 'reviews.default.svc.cluster.local';

  // 1 -----------------------------------------------------------------------------------------------------
  report.step('1. mTLS between pods on different nodes');
  report.line(
    `${sleep.workload.workloadName} (${sleep.node.name}, ${sleep.ip}) -> http://${echoHost}/hello via ${sleep.node.name}'s SOCKS5 ${sleep.node.addresses.socks5}`,
  );
  let mark = mesh.logs.length;
  const r1 = await request(sleep, echoHost, 80, 'GET', '/hello');
  const e1 = echoOf(r1);
  report.line(`<- ${describe(r1)}${e1 ? ` from ${e1.pod}, which saw the client as ${e1.client}` : ''}`);
  const [out1, in1] = await mesh.waitForLogs(mark, [
    ztunnelLog(sleep.node.name, 'outbound', (e) => e.error === undefined),
    ztunnelLog(echo.node.name, 'inbound', (e) => e.error === undefined),
  ]);
  report.line(folded(out1));
  report.line(folded(in1));
  report.check(
    `HTTP 200 from ${echo.workload.name}`,
    r1.kind === 'http' && r1.status === 200 && e1?.pod === echo.workload.name,
    describe(r1),
  );
  report.check(
    `pods on different nodes (${sleep.node.name} -> ${echo.node.name})`,
    sleep.node.name !== echo.node.name,
  );
  report.check(
    `${sleep.node.name} verified the server's SPIFFE ID ${sa('echo')} over HBONE to ${echo.ip}:15008`,
    out1?.kind === 'ztunnel' &&
      out1.entry.dst.identity === sa('echo') &&
      out1.entry.dst.addr === `${echo.ip}:15008`,
    out1?.line,
  );
  report.check(
    `${echo.node.name} verified the client's SPIFFE ID ${sa('sleep')}`,
    in1?.kind === 'ztunnel' &&
      in1.entry.src.identity === sa('sleep') &&
      in1.entry.dst.hboneAddr === `${echo.ip}:8080`,
    in1?.line,
  );
  report.check(
    `the app saw the caller's own pod IP ${sleep.ip}`,
    e1?.client.startsWith(`${sleep.ip}:`) === true,
    e1?.client,
  );

  // 2 -----------------------------------------------------------------------------------------------------
  report.step('2. L4 deny at the destination ztunnel');
  report.line(`policy default/echo-allow-sleep (ALLOW, selector app=echo): only ${sa('sleep')} may connect`);
  report.line(`${notsleep.workload.workloadName} (${notsleep.node.name}) -> http://${echoHost}/hello`);
  mark = mesh.logs.length;
  const r2 = await request(notsleep, echoHost, 80, 'GET', '/hello');
  report.line(`<- ${describe(r2)}`);
  const [in2, out2] = await mesh.waitForLogs(mark, [
    ztunnelLog(echo.node.name, 'inbound', (e) => e.error !== undefined),
    ztunnelLog(notsleep.node.name, 'outbound', (e) => e.error !== undefined),
  ]);
  report.line(folded(in2));
  report.line(folded(out2));
  report.check(
    'the SOCKS5 CONNECT was refused: not allowed (2)',
    r2.kind === 'refused' && r2.reply === 2,
    describe(r2),
  );
  report.check(
    `${echo.node.name} rejected it by policy: "allow policies exist, but none allowed"`,
    in2?.kind === 'ztunnel' &&
      in2.entry.error ===
        'connection closed due to policy rejection: allow policies exist, but none allowed' &&
      in2.entry.src.identity === sa('notsleep'),
    in2?.line,
  );
  report.check(
    `${notsleep.node.name} got 401 on the HBONE CONNECT`,
    out2?.kind === 'ztunnel' && out2.entry.error === 'http status: 401 Unauthorized',
    out2?.line,
  );

  // 3 -----------------------------------------------------------------------------------------------------
  report.step('3. L7 policy at the waypoint');
  report.line(
    `service reviews uses waypoint ${waypoint.workload.name} at ${waypoint.address} (${waypoint.workload.identity})`,
  );
  report.line('policy default/reviews-viewer (targetRefs Service reviews): sleep may GET /reviews/*');
  report.line(
    'policy default/reviews-allow-waypoint (L4, at the reviews pods): only the waypoint may connect',
  );
  for (let i = 1; i <= 2; i++) {
    mark = mesh.logs.length;
    const r = await request(sleep, reviewsHost, 9080, 'GET', `/reviews/${i}`);
    const e = echoOf(r);
    report.line(
      `sleep GET http://${reviewsHost}:9080/reviews/${i} <- ${describe(r)}${e ? ` from ${e.pod}` : ''}`,
    );
    const answering = [...mesh.meshStore.workloads()].find((w) => w.name === e?.pod);
    const answeringNode = answering?.node ?? '';
    const [out, wp, inbound] = await mesh.waitForLogs(mark, [
      ztunnelLog(sleep.node.name, 'outbound', (x) => x.error === undefined),
      (l) => l.kind === 'waypoint' && l.entry.responseCode === 200,
      ztunnelLog(answeringNode, 'inbound', (x) => x.error === undefined),
    ]);
    if (i === 1) {
      report.line(folded(out));
      report.line(folded(wp));
      report.line(folded(inbound));
    }
    report.check(
      `GET /reviews/${i} allowed by the waypoint: HTTP 200 from a reviews pod`,
      r.kind === 'http' && r.status === 200 && e?.pod.startsWith('reviews') === true,
      describe(r),
    );
    report.check(
      `${sleep.node.name} sent it to the waypoint (dst.addr ${waypoint.address}, :authority 10.96.0.20:9080)`,
      out?.kind === 'ztunnel' &&
        out.entry.dst.addr === waypoint.address &&
        out.entry.dst.hboneAddr === '10.96.0.20:9080' &&
        out.entry.dst.identity === waypoint.workload.identity,
      out?.line,
    );
    report.check(
      `${answeringNode || 'the destination ztunnel'} saw the waypoint's identity as the source`,
      inbound?.kind === 'ztunnel' && inbound.entry.src.identity === waypoint.workload.identity,
      inbound?.line,
    );
  }
  mark = mesh.logs.length;
  const r3b = await request(sleep, reviewsHost, 9080, 'DELETE', '/reviews/1');
  report.line(
    `sleep DELETE http://${reviewsHost}:9080/reviews/1 <- ${describe(r3b)}${r3b.kind === 'http' ? `: "${r3b.body}"` : ''}`,
  );
  const [wp3b] = await mesh.waitForLogs(mark, [(l) => l.kind === 'waypoint' && l.entry.responseCode === 403]);
  report.line(folded(wp3b));
  report.check(
    'DELETE denied at L7: 403 "RBAC: access denied"',
    r3b.kind === 'http' && r3b.status === 403 && r3b.body === 'RBAC: access denied',
    describe(r3b),
  );
  report.check(
    'the waypoint logged rbac_access_denied_matched_policy[none]',
    wp3b?.kind === 'waypoint' && wp3b.entry.responseCodeDetails === 'rbac_access_denied_matched_policy[none]',
    wp3b?.line,
  );
  const r3c = await request(notsleep, reviewsHost, 9080, 'GET', '/reviews/1');
  report.line(`notsleep GET http://${reviewsHost}:9080/reviews/1 <- ${describe(r3c)}`);
  report.check(
    'notsleep denied at L7 by its principal: 403',
    r3c.kind === 'http' && r3c.status === 403,
    describe(r3c),
  );
  mark = mesh.logs.length;
  const r3d = await request(sleep, reviewsV1.ip, 9080, 'GET', '/reviews/1');
  report.line(
    `sleep GET http://${reviewsV1.ip}:9080/reviews/1 (the pod IP: no waypoint on this path) <- ${describe(r3d)}`,
  );
  const [in3d] = await mesh.waitForLogs(mark, [
    ztunnelLog(reviewsV1.node.name, 'inbound', (e) => e.error !== undefined),
  ]);
  report.line(folded(in3d));
  report.check(
    `bypassing the waypoint is denied at L4 by ${reviewsV1.node.name}`,
    r3d.kind === 'refused' &&
      r3d.reply === 2 &&
      in3d?.kind === 'ztunnel' &&
      in3d.entry.src.identity === sa('sleep'),
    describe(r3d),
  );

  // 4 -----------------------------------------------------------------------------------------------------
  report.step('4. A policy change, pushed live over xDS');
  report.line(`editing ${mesh.meshFile}:`);
  report.line(`  default/echo-allow-sleep: also allow ${LIVE_CHANGE.addPrincipal}`);
  report.line('  + default/deny-sleep-8080: DENY sleep on port 8080 (namespace-wide)');
  const nodes = [...mesh.nodes.values()];
  const arrived = nodes.map(
    (node) =>
      new Promise<number>((resolve) => {
        const t0 = performance.now();
        const check = (): boolean => {
          const deny = node.ztunnel.store.policy('default/deny-sleep-8080');
          const allow = node.ztunnel.store.policy('default/echo-allow-sleep');
          const widened = allow?.groups[0]?.rules[0]?.matches.some((m) =>
            m.principals.some((p) => 'exact' in p && p.exact === LIVE_CHANGE.addPrincipal),
          );
          return deny !== undefined && widened === true;
        };
        const off = node.ztunnel.store.on('change', () => {
          if (check()) {
            off();
            resolve(performance.now() - t0);
          }
        });
        setTimeout(() => {
          off();
          resolve(Number.NaN);
        }, 5000).unref();
      }),
  );
  const text = applyPolicyChange(await readFile(mesh.meshFile, 'utf8'), LIVE_CHANGE);
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
  mark = mesh.logs.length;
  const r4a = await request(notsleep, echoHost, 80, 'GET', '/hello');
  const e4a = echoOf(r4a);
  report.line(`notsleep -> http://${echoHost}/hello <- ${describe(r4a)}${e4a ? ` from ${e4a.pod}` : ''}`);
  report.check(
    'notsleep is now allowed (it was denied in step 2)',
    r4a.kind === 'http' && r4a.status === 200,
    describe(r4a),
  );
  const r4b = await request(sleep, echoHost, 80, 'GET', '/hello');
  report.line(`sleep -> http://${echoHost}/hello <- ${describe(r4b)}`);
  const [in4b] = await mesh.waitForLogs(mark, [
    ztunnelLog(echo.node.name, 'inbound', (e) => e.error?.includes('explicitly denied') === true),
  ]);
  report.line(folded(in4b));
  report.check(
    'sleep is now denied by the new DENY policy (it was allowed in step 1)',
    r4b.kind === 'refused' &&
      r4b.reply === 2 &&
      in4b?.kind === 'ztunnel' &&
      in4b.entry.error ===
        'connection closed due to policy rejection: explicitly denied by: default/deny-sleep-8080',
    describe(r4b),
  );

  // 5 -----------------------------------------------------------------------------------------------------
  report.step('5. Metrics, access logs, readiness and config_dump');
  const total = (m: Map<string, number>): number => [...m.values()].reduce((a, b) => a + b, 0);
  for (const node of nodes) {
    // A connection is counted closed when both of its ends have closed, a moment after the client got its
    // answer: scrape until the counts settle (at most 2 s).
    let res: Response;
    let samples: ReturnType<typeof parseSamples>;
    const deadline = Date.now() + 2000;
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
      total(opened) > 0 && total(opened) === total(closed),
      `opened ${total(opened)}, closed ${total(closed)}`,
    );
    if (node.name === echo.node.name) {
      const denied = failed.get('destination,DENY') ?? 0;
      report.check(
        `${node.name}: 3 connections failed by policy (istio_tcp_connections_failed_total DENY)`,
        denied === 3,
        `got ${denied}`,
      );
    }
    const ready = await fetch(`http://${node.addresses.readiness}/healthz/ready`);
    const readyText = (await ready.text()).trim();
    report.check(
      `${node.name}: GET /healthz/ready -> ${ready.status} ${readyText}`,
      ready.status === 200 && readyText === 'ready',
    );
  }
  const dumpNode = echo.node;
  const dump = (await (await fetch(`http://${dumpNode.addresses.admin}/config_dump`)).json()) as {
    workloads: unknown[];
    services: unknown[];
    policies: { name: string }[];
    certificates: { identity: string; state: string }[];
  };
  report.line(
    `${dumpNode.name} http://${dumpNode.addresses.admin}/config_dump: ${dump.workloads.length} workloads, ${dump.services.length} services, policies [${dump.policies.map((p) => p.name).join(', ')}]`,
  );
  report.line(`  certificates: ${dump.certificates.map((c) => `${c.identity} (${c.state})`).join(', ')}`);
  report.check(
    'config_dump holds the mesh, the three L4 policies and Available certificates',
    dump.workloads.length === mesh.meshStore.stats().workloads &&
      dump.policies.length === 3 &&
      dump.certificates.length > 0 &&
      dump.certificates.every((c) => c.state === 'Available'),
  );
  const waypointLines = mesh.logs.filter((l) => l.kind === 'waypoint');
  const byCode = new Map<number, number>();
  for (const l of waypointLines)
    if (l.kind === 'waypoint') byCode.set(l.entry.responseCode, (byCode.get(l.entry.responseCode) ?? 0) + 1);
  report.line(
    `waypoint access log: ${waypointLines.length} requests (${[...byCode].map(([code, n]) => `${code}: ${n}`).join(', ')})`,
  );
  report.check('the waypoint served 2 requests and denied 2', byCode.get(200) === 2 && byCode.get(403) === 2);
}
