/**
 * The scenario's L7 steps at the waypoint, as Istio's traffic-management and security tasks walk through
 * them (request routing, traffic shifting, fault injection, request timeouts, circuit breaking, JWT), each
 * applied live to the mesh file the way `kubectl apply` would and checked against real traffic from the
 * allowed client's pod:
 *
 * 6. traffic shifting with a VirtualService: 90/10, then 50/50 (200 requests each), then everything to the
 *    second version for the header `end-user: jason`;
 * 7. resilience: a 2 s delay for jason (measured), an abort (500) for another route, a route timeout shorter
 *    than the backend (504), retries that hide a failing pod, a circuit breaker that trips (503 `UO`);
 * 8. a route that needs a JWT (RequestAuthentication + AuthorizationPolicy);
 * 9. gRPC through the waypoint with a real `@grpc/grpc-js` client and server;
 * 10. the waypoint's `istio_requests_total`, its readiness and `/config_dump`.
 *
 * Steps 7 to 9 run at the same time (step 7's delay is 2 s of waiting); each writes into its own section of
 * the report, printed in order once done. The parts are the cast's (cast.ts): the allowed client calls the
 * L7 service, whose versions are its pods' canonical revisions.
 * @module
 */
import { readFile, rename, writeFile } from 'node:fs/promises';
import net from 'node:net';
import { servicePortProtocol } from '@ambient-kit/example-waypoint';
import { connectSocks5 } from '@ambient-kit/example-ztunnel';
import type { Service, Workload } from '@ambient-kit/workload-api';
import { exportJWK, generateKeyPair, SignJWT } from 'jose';
import type { EchoReply } from './apps.js';
import type { Cast } from './cast.js';
import { describeOutcome, expectedOutcome } from './expected-outcome.js';
import { greeterClient } from './greeter.js';
import type { LogView } from './log-view.js';
import { liveModel } from './mesh-model.js';
import type { CapturedLog, DemoMesh, DemoWaypoint } from './mesh-runtime.js';
import { parseSamples } from './metrics-text.js';
import { type PodRequest, type PodResponse, podRequests } from './pod-client.js';
import { applyDocuments } from './policy-edit.js';
import { label } from './probe.js';
import type { Report } from './report.js';

/** What the L7 steps share. */
interface L7Context {
  readonly mesh: DemoMesh;
  readonly logs: LogView;
  readonly client: Workload;
  readonly socks5: string;
  readonly waypoint: DemoWaypoint;
  readonly service: Service;
  readonly port: number;
  /** The service's versions (its pods' canonical revisions), sorted. */
  readonly versions: readonly string[];
}

const ISSUER = 'https://login.example.com';
const pct = (n: number, of: number): string => `${((100 * n) / of).toFixed(1)} %`;

function echoOf(r: PodResponse): EchoReply | undefined {
  if (r.kind !== 'http' || r.status !== 200) return undefined;
  try {
    return JSON.parse(r.body) as EchoReply;
  } catch {
    return undefined;
  }
}

const describe = (r: PodResponse): string =>
  r.kind === 'http' ? `HTTP ${r.status}${r.status === 200 ? '' : ` "${r.body}"`}` : `${r.kind}: ${r.message}`;

/** Sends requests from the client's pod to the L7 service. */
function send(ctx: L7Context, requests: readonly PodRequest[], connections?: number): Promise<PodResponse[]> {
  return podRequests(
    {
      podIp: ctx.client.workloadIps[0] ?? '',
      socks5: ctx.socks5,
      host: ctx.service.hostname,
      port: ctx.port,
    },
    requests,
    connections,
  );
}

/** The waypoint's access log lines whose path starts with `prefix`. */
function waypointLines(mesh: DemoMesh, prefix: string): (CapturedLog & { kind: 'waypoint' })[] {
  return mesh.logs.filter(
    (l): l is CapturedLog & { kind: 'waypoint' } => l.kind === 'waypoint' && l.entry.path.startsWith(prefix),
  );
}

/** Waits (up to 2 s) until the waypoint logged `n` lines under `prefix`: it logs once the answer is out. */
async function waitLines(ctx: L7Context, prefix: string, n: number): Promise<void> {
  const deadline = Date.now() + 2000;
  while (waypointLines(ctx.mesh, prefix).length < n && Date.now() < deadline)
    await new Promise((resolve) => setTimeout(resolve, 10));
}

/**
 * Applies objects to the mesh file (write, then rename, as editors and ConfigMap updates do) and waits until
 * the waypoint runs the new configuration.
 */
async function apply(
  ctx: L7Context,
  report: Report,
  what: string,
  documents: readonly string[],
): Promise<void> {
  const file = ctx.mesh.meshFile;
  const text = applyDocuments(await readFile(file, 'utf8'), documents);
  const config = ctx.waypoint.config;
  const before = config.generation;
  const t0 = performance.now();
  const applied = new Promise<boolean>((resolve) => {
    const timer = setTimeout(() => {
      off();
      resolve(false);
    }, 5000);
    const off = config.onReload(() => {
      clearTimeout(timer);
      off();
      resolve(true);
    });
  });
  await writeFile(`${file}.tmp`, text);
  await rename(`${file}.tmp`, file);
  const ok = await applied;
  report.line(`kubectl apply: ${what}`);
  report.check(
    `the waypoint runs it (configuration generation ${config.generation}, after ${Math.round(performance.now() - t0)} ms)`,
    ok && config.generation > before,
    config.lastError?.message,
  );
}

/** Counts answers by the version of the pod that answered. */
function byVersion(ctx: L7Context, answers: readonly PodResponse[]): Map<string, number> {
  const counts = new Map<string, number>();
  const pods = new Map([...ctx.mesh.meshStore.workloads()].map((w) => [w.name, w.canonicalRevision]));
  for (const a of answers) {
    const e = echoOf(a);
    const key = e === undefined ? describe(a) : (pods.get(e.pod) ?? e.pod);
    counts.set(key, (counts.get(key) ?? 0) + 1);
  }
  return counts;
}

const yaml = {
  destinationRule: (ctx: L7Context, extraSubset = ''): string => `apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata: { name: ${ctx.service.name}, namespace: ${ctx.service.namespace} }
spec:
  host: ${ctx.service.name}
  subsets:
${ctx.versions.map((v) => `    - { name: ${v}, labels: { version: ${v} } }`).join('\n')}${extraSubset}`,
  virtualService: (ctx: L7Context, http: string): string => `apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: { name: ${ctx.service.name}, namespace: ${ctx.service.namespace} }
spec:
  hosts: [${ctx.service.name}]
  http:
${http}`,
};

/** Step 6: traffic shifting. */
async function trafficShifting(ctx: L7Context, report: Report): Promise<void> {
  report.step('6. Traffic shifting at the waypoint (VirtualService)');
  const [a, b] = ctx.versions as [string, string];
  const name = ctx.service.name;
  const split = (wa: number, wb: number): string =>
    yaml.virtualService(
      ctx,
      `    - route:
        - { destination: { host: ${name}, subset: ${a} }, weight: ${wa} }
        - { destination: { host: ${name}, subset: ${b} }, weight: ${wb} }`,
    );
  for (const [wa, wb] of [
    [90, 10],
    [50, 50],
  ] as const) {
    await apply(ctx, report, `VirtualService ${name}: ${wa} % to ${a}, ${wb} % to ${b}`, [
      yaml.destinationRule(ctx),
      split(wa, wb),
    ]);
    const answers = await send(
      ctx,
      Array.from({ length: 200 }, (_, i) => ({ path: `/${name}/${wa}-${i}` })),
    );
    const counts = byVersion(ctx, answers);
    const na = counts.get(a) ?? 0;
    const nb = counts.get(b) ?? 0;
    report.line(
      `200 requests from ${label(ctx.client)}: ${a} ${na} (${pct(na, 200)}), ${b} ${nb} (${pct(nb, 200)})` +
        (na + nb === 200
          ? ''
          : `, other ${[...counts]
              .filter(([k]) => k !== a && k !== b)
              .map(([k, v]) => `${k} ×${v}`)
              .join(', ')}`),
    );
    report.check(
      `${wa} % to ${a} within ±7 % (${pct(na, 200)}), every request answered`,
      na + nb === 200 && Math.abs(na / 200 - wa / 100) <= 0.07,
    );
  }
  await apply(ctx, report, `VirtualService ${name}: end-user jason to ${b}, everyone else to ${a}`, [
    yaml.virtualService(
      ctx,
      `    - name: jason
      match: [{ headers: { end-user: { exact: jason } } }]
      route: [{ destination: { host: ${name}, subset: ${b} } }]
    - route: [{ destination: { host: ${name}, subset: ${a} } }]`,
    ),
  ]);
  const jasonLines = waypointLines(ctx.mesh, `/${name}/jason-`).length;
  const jason = await send(
    ctx,
    Array.from({ length: 20 }, (_, i) => ({ path: `/${name}/jason-${i}`, headers: { 'end-user': 'jason' } })),
  );
  const others = await send(
    ctx,
    Array.from({ length: 20 }, (_, i) => ({ path: `/${name}/others-${i}` })),
  );
  const jasonCounts = byVersion(ctx, jason);
  const otherCounts = byVersion(ctx, others);
  report.line(
    `20 requests with end-user: jason: ${[...jasonCounts].map(([k, v]) => `${k} ${v}`).join(', ')}; 20 without: ${[...otherCounts].map(([k, v]) => `${k} ${v}`).join(', ')}`,
  );
  await waitLines(ctx, `/${name}/jason-`, jasonLines + 20);
  ctx.logs.show(waypointLines(ctx.mesh, `/${name}/jason-0`)[0], (t) => report.line(t));
  report.check(`end-user: jason: all 20 to ${b} (route "jason")`, jasonCounts.get(b) === 20);
  report.check(`everyone else: all 20 to ${a}`, otherCounts.get(a) === 20);
}

/** Step 7, run with 8 and 9: the resilience routes. */
async function resilience(ctx: L7Context, report: Report, failing: Workload | undefined): Promise<void> {
  const name = ctx.service.name;
  const [a] = ctx.versions as [string];
  // 7a: the 2 s delay, measured; the abort; both in this section.
  const delayed = (async () => {
    const t0 = performance.now();
    const [answer] = await send(ctx, [{ path: `/${name}/delayed`, headers: { 'end-user': 'jason' } }], 1);
    return { answer: answer as PodResponse, ms: performance.now() - t0 };
  })();
  const [abort] = await send(ctx, [{ path: `/${name}/abort/1` }], 1);
  await waitLines(ctx, `/${name}/abort/1`, 1);
  report.line(
    'fault injection (route "jason-delay": 2 s delay for end-user jason; route "abort": abort 500 for 100 %):',
  );
  report.line(`  ${label(ctx.client)} GET /${name}/abort/1 <- ${describe(abort as PodResponse)}`);
  ctx.logs.show(waypointLines(ctx.mesh, `/${name}/abort/1`)[0], (t) => report.line(t));
  report.check(
    'the abort route answers 500 "fault filter abort" itself, flag FI',
    abort?.kind === 'http' &&
      abort.status === 500 &&
      abort.body === 'fault filter abort' &&
      waypointLines(ctx.mesh, `/${name}/abort/1`)[0]?.entry.responseFlags === 'FI',
  );

  // 7b: a route timeout shorter than the backend.
  const t1 = performance.now();
  const [late] = await send(ctx, [{ path: `/${name}/slow`, headers: { 'x-app-delay-ms': '1500' } }], 1);
  const lateMs = performance.now() - t1;
  await waitLines(ctx, `/${name}/slow`, 1);
  report.line(`timeout (route "slow": timeout 0.5 s; the request asks the echo app to take 1.5 s):`);
  report.line(
    `  ${label(ctx.client)} GET /${name}/slow <- ${describe(late as PodResponse)} after ${Math.round(lateMs)} ms`,
  );
  ctx.logs.show(waypointLines(ctx.mesh, `/${name}/slow`)[0], (t) => report.line(t));
  report.check(
    '504 "upstream request timeout" at the route timeout, flag UT',
    late?.kind === 'http' &&
      late.status === 504 &&
      late.body === 'upstream request timeout' &&
      lateMs < 1400 &&
      waypointLines(ctx.mesh, `/${name}/slow`)[0]?.entry.responseFlags === 'UT',
  );

  // 7c: retries hide a failing pod.
  if (failing !== undefined) {
    ctx.mesh.apps.setStatus(failing.name, 503);
    try {
      const plain = await send(
        ctx,
        Array.from({ length: 20 }, (_, i) => ({ path: `/${name}/noretry/${i}` })),
        4,
      );
      const shown = plain.filter((r) => r.kind === 'http' && r.status === 503).length;
      const retried = await send(
        ctx,
        Array.from({ length: 20 }, (_, i) => ({ path: `/${name}/retried-${i}` })),
        4,
      );
      const ok = retried.filter((r) => r.kind === 'http' && r.status === 200).length;
      await waitLines(ctx, `/${name}/retried-`, 20);
      const attempts = waypointLines(ctx.mesh, `/${name}/retried-`).filter(
        (l) => (l.entry.attempts ?? 0) > 1,
      ).length;
      report.line(`retries (${failing.name} now answers every request with 503):`);
      report.line(`  route "no-retries" (attempts: 0): 20 requests, ${shown} got the failing pod's 503`);
      report.line(
        `  the default route (attempts: 3, retryOn: 5xx): 20 requests, ${ok} answered 200, ${attempts} of them after a retry`,
      );
      report.check('without retries the failing pod shows (some 503s)', shown > 0);
      report.check('with retries every request succeeds, some only after a retry', ok === 20 && attempts > 0);
    } finally {
      ctx.mesh.apps.setStatus(failing.name, undefined);
    }
  }

  // 7d: the circuit breaker.
  const cb = await send(
    ctx,
    Array.from({ length: 10 }, (_, i) => ({
      path: `/${name}/cb/${i}`,
      headers: { 'x-app-delay-ms': '1000' },
    })),
    10,
  );
  const overflow = cb.filter((r) => r.kind === 'http' && r.status === 503);
  await waitLines(ctx, `/${name}/cb/`, 10);
  const flagged = waypointLines(ctx.mesh, `/${name}/cb/`).filter(
    (l) => l.entry.responseFlags === 'UO',
  ).length;
  report.line(
    `circuit breaking (route "circuit-breaker" to subset ${a}-limited: maxConnections 1, http1MaxPendingRequests 1):`,
  );
  report.line(
    `  10 concurrent requests that each take 1 s: ${cb.length - overflow.length} answered, ${overflow.length} got 503 "${overflow[0]?.kind === 'http' ? overflow[0].body : ''}"`,
  );
  ctx.logs.show(
    waypointLines(ctx.mesh, `/${name}/cb/`).find((l) => l.entry.responseFlags === 'UO'),
    (t) => report.line(t),
  );
  report.check(
    'the circuit breaker trips: overflow answered 503 with flag UO, the admitted requests succeed',
    overflow.length > 0 && flagged === overflow.length && cb.length - overflow.length > 0,
  );

  // 7a, measured.
  const { answer, ms } = await delayed;
  await waitLines(ctx, `/${name}/delayed`, 1);
  report.line(
    `  ${label(ctx.client)} GET /${name}/delayed (end-user: jason) <- ${describe(answer)} after ${Math.round(ms)} ms`,
  );
  ctx.logs.show(waypointLines(ctx.mesh, `/${name}/delayed`)[0], (t) => report.line(t));
  report.check(
    `the delay route holds jason's request 2 s (measured ${(ms / 1000).toFixed(2)} s), flag DI`,
    answer.kind === 'http' &&
      answer.status === 200 &&
      ms >= 2000 &&
      ms < 3500 &&
      waypointLines(ctx.mesh, `/${name}/delayed`)[0]?.entry.responseFlags === 'DI',
  );
}

/** Step 8: a route that needs a JWT. */
async function jwt(
  ctx: L7Context,
  report: Report,
  sign: (key: 'issuer' | 'forged') => Promise<string>,
): Promise<void> {
  const name = ctx.service.name;
  report.step('8. A route that needs a JWT (RequestAuthentication + AuthorizationPolicy)');
  report.line(
    `RequestAuthentication ${name}-jwt: issuer ${ISSUER}, audience ${name}; AuthorizationPolicy ${name}-require-jwt: DENY /${name}/private* without a request principal`,
  );
  const [none, forged, valid] = await Promise.all([
    send(ctx, [{ path: `/${name}/private/none` }], 1),
    sign('forged').then((t) =>
      send(ctx, [{ path: `/${name}/private/forged`, headers: { authorization: `Bearer ${t}` } }], 1),
    ),
    sign('issuer').then((t) =>
      send(ctx, [{ path: `/${name}/private/valid`, headers: { authorization: `Bearer ${t}` } }], 1),
    ),
  ]);
  const [n, f, v] = [none[0], forged[0], valid[0]] as [PodResponse, PodResponse, PodResponse];
  report.line(`no token <- ${describe(n)}`);
  report.line(`a token signed by another key <- ${describe(f)}`);
  const e = echoOf(v);
  report.line(
    `a valid token <- ${describe(v)}${e === undefined ? '' : `; the app saw x-user: ${e.headers['x-user']}, authorization: ${e.headers['authorization'] ?? '(stripped)'}`}`,
  );
  report.line(
    '(Istio lets a request without a token pass RequestAuthentication; the policy that requires a principal answers it 403. A token that fails verification is the 401.)',
  );
  report.check(
    'no token: 403 "RBAC: access denied"',
    n.kind === 'http' && n.status === 403 && n.body === 'RBAC: access denied',
  );
  report.check(
    'a bad token: 401 "Jwt verification fails"',
    f.kind === 'http' && f.status === 401 && f.body === 'Jwt verification fails',
  );
  report.check(
    'a valid token: 200, its subject forwarded as x-user, the token stripped',
    e !== undefined && e.headers['x-user'] === 'alice' && e.headers['authorization'] === undefined,
  );
}

/** Step 9: gRPC through the waypoint. */
async function grpcStep(
  ctx: L7Context,
  report: Report,
  greeter: { service: Service; port: number },
): Promise<void> {
  report.step('9. gRPC through the waypoint (@grpc/grpc-js client and server)');
  const host = greeter.service.hostname;
  // The app's connection, carried into its ztunnel as the pod's redirection would (SOCKS5 here, no root).
  const forwarder = net.createServer((socket) => {
    socket.on('error', () => {});
    connectSocks5({
      proxy: { host: ctx.socks5.split(':')[0] as string, port: Number(ctx.socks5.split(':')[1]) },
      target: { host, port: greeter.port },
      localAddress: ctx.client.workloadIps[0] ?? '',
      timeoutMs: 10_000,
    }).then(
      (upstream) => {
        upstream.on('error', () => socket.destroy());
        socket.pipe(upstream).pipe(socket);
        socket.on('close', () => upstream.destroy());
      },
      () => socket.destroy(),
    );
  });
  await new Promise<void>((resolve) => forwarder.listen(0, '127.0.0.1', resolve));
  const client = greeterClient(`127.0.0.1:${(forwarder.address() as net.AddressInfo).port}`);
  try {
    const reply = await new Promise<{ message: string; pod: string } | Error>((resolve) =>
      client.SayHello({ name: 'mesh' }, { deadline: Date.now() + 10_000 }, (error, r) =>
        resolve(error ?? r ?? new Error('no reply')),
      ),
    );
    const counted: number[] = [];
    const streamed = await new Promise<Error | undefined>((resolve) => {
      const call = client.CountTo({ n: 5 }, { deadline: Date.now() + 10_000 });
      call.on('data', (m: { i: number }) => counted.push(m.i));
      call.on('end', () => resolve(undefined));
      call.on('error', (error: Error) => resolve(error));
    });
    report.line(
      `${label(ctx.client)} calls ${host}:${greeter.port} /demo.Greeter/SayHello <- ${reply instanceof Error ? reply.message : `"${reply.message}" from ${reply.pod}`}`,
    );
    report.line(
      `${label(ctx.client)} calls /demo.Greeter/CountTo (server streaming) <- ${streamed?.message ?? `[${counted.join(', ')}]`}`,
    );
    await waitLines(ctx, '/demo.Greeter/', 2);
    const lines = waypointLines(ctx.mesh, '/demo.Greeter/');
    for (const l of lines.slice(-2)) ctx.logs.show(l, (t) => report.line(t));
    report.check(
      'a unary call through the waypoint',
      !(reply instanceof Error) && reply.message === 'hello mesh',
    );
    report.check(
      'a server-streaming call through the waypoint',
      streamed === undefined && counted.join(',') === '1,2,3,4,5',
    );
    report.check(
      'the waypoint spoke HTTP/2 and saw grpc-status 0 on both',
      lines.length >= 2 &&
        lines.slice(-2).every((l) => l.entry.protocol === 'HTTP/2' && l.entry.grpcStatus === '0'),
    );
  } finally {
    client.close();
    forwarder.close();
  }
}

/** Step 10: the waypoint's telemetry. */
async function telemetry(ctx: L7Context, report: Report): Promise<void> {
  report.step("10. The waypoint's metrics, readiness and config_dump");
  const a = ctx.waypoint.waypoint.addresses();
  const text = await (await fetch(`http://${a.metrics}/stats/prometheus`)).text();
  const samples = parseSamples(text).filter((s) => s.name === 'istio_requests_total');
  const byCode = new Map<string, number>();
  for (const s of samples)
    byCode.set(s.labels['response_code'] ?? '', (byCode.get(s.labels['response_code'] ?? '') ?? 0) + s.value);
  const logged = new Map<string, number>();
  for (const l of ctx.mesh.logs)
    if (l.kind === 'waypoint')
      logged.set(String(l.entry.responseCode), (logged.get(String(l.entry.responseCode)) ?? 0) + 1);
  const show = (m: Map<string, number>): string =>
    [...m]
      .sort(([x], [y]) => Number(x) - Number(y))
      .map(([k, v]) => `${k}: ${v}`)
      .join(', ');
  report.line(`http://${a.metrics}/stats/prometheus istio_requests_total by response_code: ${show(byCode)}`);
  report.check(
    'istio_requests_total counts every request the waypoint logged, by response code',
    show(byCode) === show(logged),
    `access log: ${show(logged)}`,
  );
  const first = ctx.versions[0];
  const sample = samples.find(
    (s) =>
      s.labels['response_code'] === '200' &&
      s.labels['destination_service'] === ctx.service.hostname &&
      s.labels['destination_canonical_revision'] === first,
  );
  if (sample !== undefined) {
    const keys = [
      'reporter',
      'source_workload',
      'source_principal',
      'destination_workload',
      'destination_version',
      'destination_service',
      'request_protocol',
      'response_flags',
      'connection_security_policy',
    ];
    report.line(
      `istio_requests_total{${keys.map((k) => `${k}="${sample.labels[k]}"`).join(',')},...} ${sample.value}`,
    );
  }
  const grpc = samples.find((s) => s.labels['request_protocol'] === 'grpc');
  if (grpc !== undefined)
    report.line(
      `istio_requests_total{request_protocol="grpc",grpc_response_status="${grpc.labels['grpc_response_status']}",destination_service="${grpc.labels['destination_service']}",...} ${grpc.value}`,
    );
  report.check(
    `labelled as Istio labels them: reporter="waypoint", the client's workload and principal, the destination's workload, version and service`,
    sample !== undefined &&
      sample.labels['reporter'] === 'waypoint' &&
      sample.labels['source_principal'] === ctx.client.identity &&
      sample.labels['source_workload'] === (ctx.client.workloadName || ctx.client.name) &&
      sample.labels['connection_security_policy'] === 'mutual_tls' &&
      sample.labels['destination_version'] === first,
  );
  const ready = await fetch(`http://${a.readiness}/healthz/ready`);
  const dump = (await (await fetch(`http://${a.admin}/config_dump`)).json()) as {
    config: { generation: number };
    services: { hostname: string; routing: { mode: string } }[];
  };
  const served = dump.services.map((s) => `${s.hostname} (${s.routing.mode})`).join(', ');
  report.line(
    `http://${a.admin}/config_dump: configuration generation ${dump.config.generation}; serves ${served}`,
  );
  report.check(`readiness ${a.readiness}/healthz/ready -> ${ready.status}`, ready.status === 200);
}

/**
 * Runs steps 6 to 10.
 *
 * @param mesh - The running mesh.
 * @param cast - The cast.
 * @param report - Where output and checks go.
 * @param logs - Prints access log lines, each once.
 * @returns Resolves when every step is done (failed checks are in `report.checks`).
 * @example
 * ```ts
 * await runL7Scenario(mesh, cast, report, logs);
 * ```
 */
export async function runL7Scenario(
  mesh: DemoMesh,
  cast: Cast,
  report: Report,
  logs: LogView,
): Promise<void> {
  const client = cast.allowedClient;
  const socks5 = mesh.nodes.get(client.node)?.addresses.socks5;
  const waypoint = mesh.waypoints.find((w) => w.workload.uid === cast.l7.waypoint.uid);
  if (socks5 === undefined || waypoint === undefined) return;
  const versions = [...new Set(cast.l7.backends.map((b) => b.workload.canonicalRevision))]
    .filter((v) => v !== '')
    .sort();
  const ctx: L7Context = {
    mesh,
    logs,
    client,
    socks5,
    waypoint,
    service: cast.l7.service,
    port: cast.l7.port,
    versions,
  };
  const name = ctx.service.name;
  const allowed = expectedOutcome(liveModel(mesh), {
    client,
    target: { kind: 'service', service: ctx.service, port: ctx.port },
    method: 'GET',
    path: `/${name}/1`,
  });
  if (allowed.kind !== 'allowed') {
    report.step('6-10. Traffic management at the waypoint');
    report.line(
      `${label(client)} may not GET /${name}/… through the waypoint in this file (${describeOutcome(allowed)}): the L7 steps need it; skipped`,
    );
    return;
  }
  if (versions.length < 2) {
    report.step('6-8. Traffic management at the waypoint');
    report.line(
      `${name}'s pods have ${versions.length} version(s) (canonicalRevision): the L7 steps need two; skipped`,
    );
  } else {
    await trafficShifting(ctx, report);
    const [a, b] = versions as [string, string];
    // The pod that starts failing in step 7: one of the second version.
    const failing = cast.l7.backends.find((x) => x.workload.canonicalRevision === b)?.workload;
    const { publicKey, privateKey } = await generateKeyPair('ES256');
    const forgedKey = (await generateKeyPair('ES256')).privateKey;
    const jwks = JSON.stringify({ keys: [{ ...(await exportJWK(publicKey)), kid: 'demo', alg: 'ES256' }] });
    const sign = (key: 'issuer' | 'forged'): Promise<string> =>
      new SignJWT({})
        .setProtectedHeader({ alg: 'ES256', kid: 'demo' })
        .setIssuer(ISSUER)
        .setSubject('alice')
        .setAudience(name)
        .setExpirationTime(Math.floor(Date.now() / 1000) + 600)
        .sign(key === 'issuer' ? privateKey : forgedKey);

    report.step('7. Resilience at the waypoint: faults, timeouts, retries, circuit breaking');
    await apply(
      ctx,
      report,
      `DestinationRule ${name} (+ subset ${a}-limited), VirtualService ${name} (routes jason-delay, abort, slow, circuit-breaker, no-retries, default), RequestAuthentication ${name}-jwt, AuthorizationPolicy ${name}-require-jwt`,
      [
        yaml.destinationRule(
          ctx,
          `
    - name: ${a}-limited
      labels: { version: ${a} }
      trafficPolicy:
        connectionPool:
          tcp: { maxConnections: 1 }
          http: { http1MaxPendingRequests: 1, maxRequestsPerConnection: 1 }`,
        ),
        yaml.virtualService(
          ctx,
          `    - name: jason-delay
      match: [{ headers: { end-user: { exact: jason } } }]
      fault: { delay: { fixedDelay: 2s, percentage: { value: 100 } } }
      route: [{ destination: { host: ${name}, subset: ${a} } }]
    - name: abort
      match: [{ uri: { prefix: /${name}/abort/ } }]
      fault: { abort: { httpStatus: 500, percentage: { value: 100 } } }
      route: [{ destination: { host: ${name}, subset: ${a} } }]
    - name: slow
      match: [{ uri: { prefix: /${name}/slow } }]
      timeout: 0.5s
      route: [{ destination: { host: ${name}, subset: ${a} } }]
    - name: circuit-breaker
      match: [{ uri: { prefix: /${name}/cb/ } }]
      retries: { attempts: 0 }
      route: [{ destination: { host: ${name}, subset: ${a}-limited } }]
    - name: no-retries
      match: [{ uri: { prefix: /${name}/noretry/ } }]
      retries: { attempts: 0 }
      route: [{ destination: { host: ${name} } }]
    - name: default
      retries: { attempts: 3, retryOn: 5xx }
      route: [{ destination: { host: ${name} } }]`,
        ),
        `apiVersion: security.istio.io/v1
kind: RequestAuthentication
metadata: { name: ${name}-jwt, namespace: ${ctx.service.namespace} }
spec:
  targetRefs: [{ kind: Service, group: "", name: ${name} }]
  jwtRules:
    - issuer: ${ISSUER}
      audiences: [${name}]
      jwks: '${jwks}'
      outputClaimToHeaders: [{ header: x-user, claim: sub }]`,
        `apiVersion: security.istio.io/v1
kind: AuthorizationPolicy
metadata: { name: ${name}-require-jwt, namespace: ${ctx.service.namespace} }
spec:
  targetRefs: [{ kind: Service, group: "", name: ${name} }]
  action: DENY
  rules:
    - from: [{ source: { notRequestPrincipals: ["*"] } }]
      to: [{ operation: { paths: ["/${name}/private*"] } }]`,
      ],
    );
    report.line(
      "steps 7, 8 and 9 run at the same time (7's delay is 2 s of waiting); each is printed when done",
    );
    const s7 = report.section();
    const s8 = report.section();
    const s9 = report.section();
    const greeter = grpcService(mesh, waypoint);
    await Promise.all([
      resilience(ctx, s7, failing),
      jwt(ctx, s8, sign),
      greeter === undefined
        ? Promise.resolve(
            s9.step('9. gRPC through the waypoint: no gRPC service behind the waypoint here; skipped'),
          )
        : grpcStep(ctx, s9, greeter),
    ]);
    s7.flush();
    s8.flush();
    s9.flush();
  }
  await telemetry(ctx, report);
}

/** A gRPC service behind the waypoint whose pod runs the Greeter. */
function grpcService(mesh: DemoMesh, waypoint: DemoWaypoint): { service: Service; port: number } | undefined {
  const config = waypoint.config.current();
  for (const service of mesh.meshStore.services()) {
    if (service.waypoint === undefined) continue;
    for (const p of service.ports) {
      if (servicePortProtocol(config, service.hostname, service.ports, p.servicePort) !== 'GRPC') continue;
      const members = mesh.meshStore.members(service.key);
      const served = members?.workloads.some((w) =>
        (mesh.apps.listening.get(w?.name ?? '') ?? []).some((a) => a.endsWith('(gRPC)')),
      );
      if (served === true) return { service, port: p.servicePort };
    }
  }
  return undefined;
}
