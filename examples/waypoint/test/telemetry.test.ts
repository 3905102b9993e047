/**
 * The waypoint's telemetry and operation over real sockets: Istio's standard metrics with their label values
 * and counts after a scripted run (as Prometheus scrapes them from 15020 and the admin port), the access log,
 * the admin endpoints (`/config_dump`, `/ready`, `/logging`, `/server_info`) and readiness on 15021.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { formatWaypointAccessLog, REQUEST_LABEL_NAMES } from '../src/index.js';
import { h1, startTestMesh, type TestMesh } from './support/mesh.js';

const NET = '127.31.46';
let mesh: TestMesh;

beforeAll(async () => {
  mesh = await startTestMesh({
    subnet: 46,
    pods: [
      {
        name: 'reviews-v1-abc',
        octet: 20,
        app: 'reviews',
        version: 'v1',
        services: { reviews: { 9080: 9080 } },
      },
      // The calling pod: the waypoint finds it by the peer's address and identity.
      {
        name: 'sleep-xyz',
        octet: 10,
        app: 'sleep',
        version: 'v7',
        serviceAccount: 'sleep',
        appKind: 'none',
        services: {},
      },
    ],
    services: [{ name: 'reviews', vipOctet: 20, ports: { 9080: 9080 } }],
    config: `apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: reviews, namespace: default}
spec:
  hosts: [reviews]
  http:
  - name: reviews-route
    match: [{uri: {prefix: /reviews}}]
    route: [{destination: {host: reviews}}]
---
apiVersion: security.istio.io/v1
kind: AuthorizationPolicy
metadata: {name: deny-secret, namespace: default}
spec:
  targetRefs: [{kind: Service, group: "", name: reviews}]
  action: DENY
  rules: [{to: [{operation: {paths: ["/reviews/secret"]}}]}]
`,
  });
});
afterAll(async () => {
  await mesh?.close();
});

/** Prometheus text samples: name, labels, value. */
function samples(text: string): { name: string; labels: Record<string, string>; value: number }[] {
  const out: { name: string; labels: Record<string, string>; value: number }[] = [];
  for (const line of text.split('\n')) {
    const m = /^([a-z_]+)(?:\{(.*)\})? (\S+)$/.exec(line);
    if (m === null) continue;
    const labels: Record<string, string> = {};
    for (const l of (m[2] ?? '').matchAll(/([a-z_]+)="((?:[^"\\]|\\.)*)"/g))
      labels[l[1] as string] = l[2] as string;
    out.push({ name: m[1] as string, labels, value: Number(m[3]) });
  }
  return out;
}

describe('Istio standard metrics, reporter="waypoint"', () => {
  it('counts a scripted run with the expected labels', async () => {
    const from = `${NET}.10`;
    const ask = async (path: string) => h1(await mesh.tunnel('reviews', 9080, 'sleep', from), { path });
    for (const path of ['/reviews/1', '/reviews/2', '/reviews/3']) expect((await ask(path)).status).toBe(200);
    for (const path of ['/reviews/secret', '/reviews/secret']) expect((await ask(path)).status).toBe(403);
    expect((await ask('/ratings/1')).status).toBe(404);

    const text = await (await fetch(`http://${mesh.waypoint.addresses().metrics}/stats/prometheus`)).text();
    const all = samples(text);
    const total = all.filter((s) => s.name === 'istio_requests_total');
    const ok = total.find((s) => s.labels['response_code'] === '200');
    expect(ok?.value).toBe(3);
    expect(ok?.labels).toEqual({
      reporter: 'waypoint',
      source_workload: 'sleep-xyz',
      source_canonical_service: 'sleep',
      source_canonical_revision: 'v7',
      source_workload_namespace: 'default',
      source_principal: 'spiffe://cluster.local/ns/default/sa/sleep',
      source_app: 'sleep',
      source_version: 'v7',
      source_cluster: 'Kubernetes',
      destination_workload: 'reviews-v1-abc',
      destination_workload_namespace: 'default',
      destination_principal: 'spiffe://cluster.local/ns/default/sa/reviews',
      destination_app: 'reviews',
      destination_version: 'v1',
      destination_service: 'reviews.default.svc.cluster.local',
      destination_canonical_service: 'reviews',
      destination_canonical_revision: 'v1',
      destination_service_name: 'reviews',
      destination_service_namespace: 'default',
      destination_cluster: 'Kubernetes',
      request_protocol: 'http',
      response_code: '200',
      grpc_response_status: '',
      response_flags: '-',
      connection_security_policy: 'mutual_tls',
    });
    // Label order as istio_stats adds them.
    expect(Object.keys(ok?.labels ?? {})).toEqual([...REQUEST_LABEL_NAMES]);
    const denied = total.find((s) => s.labels['response_code'] === '403');
    expect(denied?.value).toBe(2);
    expect(denied?.labels).toMatchObject({
      destination_workload: 'unknown',
      destination_version: 'unknown',
      response_flags: '-',
    });
    expect(total.find((s) => s.labels['response_code'] === '404')?.labels['response_flags']).toBe('NR');

    // The histograms: Envoy's default buckets, a sample per request.
    const buckets = all.filter(
      (s) => s.name === 'istio_request_duration_milliseconds_bucket' && s.labels['response_code'] === '200',
    );
    expect(buckets.map((b) => b.labels['le'])).toEqual([
      '0.5',
      '1',
      '5',
      '10',
      '25',
      '50',
      '100',
      '250',
      '500',
      '1000',
      '2500',
      '5000',
      '10000',
      '30000',
      '60000',
      '300000',
      '600000',
      '1800000',
      '3600000',
      '+Inf',
    ]);
    expect(buckets.at(-1)?.value).toBe(3);
    const count = (name: string) =>
      all.find((s) => s.name === name && s.labels['response_code'] === '200')?.value;
    expect(count('istio_request_bytes_count')).toBe(3);
    expect(count('istio_response_bytes_count')).toBe(3);
    expect(count('istio_response_bytes_sum')).toBeGreaterThan(3 * 100);
    expect(all.find((s) => s.name === 'istio_build')).toMatchObject({
      labels: { component: 'proxy', tag: 'unknown' },
      value: 1,
    });
    // The admin port serves the same registry.
    const admin = await (await fetch(`http://${mesh.waypoint.addresses().admin}/stats/prometheus`)).text();
    expect(
      samples(admin).find((s) => s.name === 'istio_requests_total' && s.labels['response_code'] === '200')
        ?.value,
    ).toBe(3);
  });

  it("logs each request in Istio's default format", () => {
    const entry = mesh.logs.find((l) => l.path === '/reviews/1');
    if (entry === undefined) throw new Error('no log line');
    const line = formatWaypointAccessLog(entry);
    expect(line).toMatch(
      new RegExp(
        `^\\[\\d{4}-\\d\\d-\\d\\dT[\\d:.]+Z\\] "GET /reviews/1 HTTP/1\\.1" 200 - via_upstream - "-" 0 \\d+ \\d+ \\d+ "-" "-" "[0-9a-f-]{36}" "svc" "${NET.replaceAll('.', '\\.')}\\.20:9080" inbound-vip\\|9080\\|http\\|reviews\\.default\\.svc\\.cluster\\.local - 10\\.96\\.46\\.20:9080 ${NET.replaceAll('.', '\\.')}\\.10:\\d+ - reviews-route$`,
      ),
    );
  });
});

describe('admin, readiness', () => {
  it('answers /ready, /healthz/ready, /server_info and /config_dump', async () => {
    const a = mesh.waypoint.addresses();
    const ready = await fetch(`http://${a.admin}/ready`);
    expect([ready.status, await ready.text()]).toEqual([200, 'LIVE\n']);
    expect((await fetch(`http://${a.readiness}/healthz/ready`)).status).toBe(200);
    expect((await fetch(`http://${a.readiness}/other`)).status).toBe(404);
    const info = (await (await fetch(`http://${a.admin}/server_info`)).json()) as Record<string, unknown>;
    expect(info).toMatchObject({
      state: 'LIVE',
      node: { identity: 'spiffe://cluster.local/ns/default/sa/waypoint' },
    });
    const dump = (await (await fetch(`http://${a.admin}/config_dump`)).json()) as {
      config: { generation: number; resources: { routing: unknown[]; security: unknown[] } };
      services: {
        hostname: string;
        ports: { port: number; protocol: string; listener: string }[];
        routing: {
          mode: string;
          routes: { routeName: string; action: { backends: { hostname: string }[] } }[];
        };
        authorizationPolicies: string[];
      }[];
    };
    expect(dump.config.generation).toBe(1);
    expect(dump.config.resources.routing).toEqual([
      { kind: 'VirtualService', namespace: 'default', name: 'reviews' },
    ]);
    const reviews = dump.services.find((s) => s.hostname === 'reviews.default.svc.cluster.local');
    expect(reviews?.ports).toMatchObject([
      { port: 9080, protocol: 'UnsupportedProtocol', listener: 'sniff' },
    ]);
    expect(reviews?.routing.mode).toBe('VirtualService');
    expect(reviews?.routing.routes[0]).toMatchObject({
      routeName: 'reviews-route',
      action: { backends: [{ hostname: 'reviews.default.svc.cluster.local' }] },
    });
    expect(reviews?.authorizationPolicies).toEqual(['default/deny-secret']);
  });

  it('lists and sets log levels on /logging, as Envoy does', async () => {
    const admin = mesh.waypoint.addresses().admin;
    const list = await (await fetch(`http://${admin}/logging`)).text();
    expect(list).toMatch(/^active loggers:\n {2}admin: critical\n/);
    const all = await (await fetch(`http://${admin}/logging?level=debug`, { method: 'POST' })).text();
    expect(all).toContain('  router: debug\n');
    const one = await (await fetch(`http://${admin}/logging?rbac=trace`, { method: 'POST' })).text();
    expect(one).toContain('  rbac: trace\n');
    expect(one).toContain('  router: debug\n');
    expect(mesh.waypoint.logger.levels().rbac).toBe('trace');
    expect((await fetch(`http://${admin}/logging?level=debug`)).status).toBe(405);
    expect((await fetch(`http://${admin}/logging?level=loud`, { method: 'POST' })).status).toBe(400);
    expect((await fetch(`http://${admin}/logging?nosuch=info`, { method: 'POST' })).status).toBe(400);
    expect((await fetch(`http://${admin}/quitquitquit`)).status).toBe(405);
    await fetch(`http://${admin}/logging?level=critical`, { method: 'POST' });
  });
});
