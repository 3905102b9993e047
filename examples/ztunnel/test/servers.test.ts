/**
 * The node-level servers, scraped over HTTP as Prometheus, kubelet and istioctl would: metrics (15020),
 * config_dump (15000), readiness (15021); and a ztunnel fed by a real delta xDS
 * server instead of a store.
 */
import { createBundleSet, createCertificateAuthority } from '@ambient-kit/spiffe';
import { createWorkloadStore } from '@ambient-kit/workload-api';
import { createXdsServer } from '@ambient-kit/workload-api/xds';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { caClientFromAuthority, createZtunnel, TRAFFIC_LABEL_NAMES } from '../src/index.js';
import {
  call,
  ECHO_HOST,
  eventually,
  meshResources,
  sa,
  startTestMesh,
  type TestMesh,
} from './support/mesh.js';

let mesh: TestMesh;
beforeAll(async () => {
  mesh = await startTestMesh(22);
  // Some traffic to count.
  expect(await call(mesh.a, mesh.ips.sleep, ECHO_HOST, 80)).toMatchObject({ status: 200 });
  await eventually(() => mesh.logs.b.length > 0 && mesh.logs.a.length > 0);
});
afterAll(async () => {
  await mesh.close();
});

interface Sample {
  /** Label names in the order the page printed them. */
  readonly names: readonly string[];
  readonly labels: ReadonlyMap<string, string>;
  readonly value: number;
}

function samples(text: string, name: string): Sample[] {
  return text
    .split('\n')
    .filter((l) => l.startsWith(`${name}{`))
    .map((l) => {
      const pairs = [
        ...l.slice(l.indexOf('{') + 1, l.lastIndexOf('}')).matchAll(/(\w+)="((?:[^"\\]|\\.)*)"/g),
      ].map((m) => [m[1] as string, m[2] as string] as const);
      return {
        names: pairs.map(([k]) => k),
        labels: new Map(pairs),
        value: Number(l.slice(l.lastIndexOf('}') + 2)),
      };
    });
}

const labelsOf = (sample: Sample | undefined): Record<string, string> =>
  Object.fromEntries(sample?.labels ?? []);

describe('metrics on :15020', () => {
  it('serves OpenMetrics text with ztunnel names, negotiating the content type like ztunnel', async () => {
    const url = `http://${mesh.b.addresses().metrics}/metrics`;
    const plain = await fetch(url);
    // istio/ztunnel@62d82653:src/metrics/server.rs: text/plain unless the scraper asks for OpenMetrics.
    expect(plain.headers.get('content-type')).toBe('text/plain; charset=utf-8');
    const open = await fetch(`http://${mesh.b.addresses().metrics}/stats/prometheus`, {
      headers: { accept: 'application/openmetrics-text; version=1.0.0,text/plain;q=0.5' },
    });
    expect(open.headers.get('content-type')).toBe('application/openmetrics-text;charset=utf-8;version=1.0.0');
    const text = await open.text();
    expect(text).toContain('# TYPE istio_tcp_connections_opened counter');
    expect(text.trimEnd().endsWith('# EOF')).toBe(true);
    expect(text).toMatch(/^istio_build\{component="ztunnel",tag="0\.1\.0"\} 1$/m);
    expect((await fetch(`http://${mesh.b.addresses().metrics}/other`)).status).toBe(404);
  });

  it('labels a connection as ztunnel does on both ends (reporter, principals, mutual_tls, response_flags)', async () => {
    const inbound = samples(
      await (await fetch(`http://${mesh.b.addresses().metrics}/metrics`)).text(),
      'istio_tcp_connections_opened_total',
    );
    const outbound = samples(
      await (await fetch(`http://${mesh.a.addresses().metrics}/metrics`)).text(),
      'istio_tcp_connections_opened_total',
    );
    const dst = inbound.find((s) => s.labels.get('reporter') === 'destination');
    const src = outbound.find((s) => s.labels.get('reporter') === 'source');
    expect(labelsOf(dst)).toMatchObject({
      source_workload: 'sleep',
      source_canonical_service: 'sleep',
      source_workload_namespace: 'default',
      source_principal: sa('sleep'),
      source_cluster: 'Kubernetes',
      destination_service: ECHO_HOST,
      destination_service_name: 'echo',
      destination_service_namespace: 'default',
      destination_workload: 'echo',
      destination_canonical_revision: 'v1',
      destination_principal: sa('echo'),
      request_protocol: 'tcp',
      response_flags: '-',
      connection_security_policy: 'mutual_tls',
    });
    // Every label of CommonTrafficLabels, in ztunnel's order (istio/ztunnel@62d82653:src/proxy/metrics.rs L258-311).
    expect(dst?.names).toEqual([...TRAFFIC_LABEL_NAMES]);
    // source_principal on outbound comes from our own identity, because mTLS is used.
    expect(labelsOf(src)).toMatchObject({
      source_principal: sa('sleep'),
      destination_principal: sa('echo'),
      response_flags: '-',
    });
    const closed = samples(
      await (await fetch(`http://${mesh.b.addresses().metrics}/metrics`)).text(),
      'istio_tcp_connections_closed_total',
    );
    expect(closed.reduce((n, s) => n + s.value, 0)).toBeGreaterThanOrEqual(1);
    const received = samples(
      await (await fetch(`http://${mesh.b.addresses().metrics}/metrics`)).text(),
      'istio_tcp_received_bytes_total',
    );
    expect(received[0]?.value).toBeGreaterThan(0);
  });
});

describe('admin on :15000', () => {
  it('serves /config_dump in ztunnel shape', async () => {
    const dump = (await (await fetch(`http://${mesh.b.addresses().admin}/config_dump`)).json()) as {
      readonly workloads: { readonly uid: string; readonly name: string }[];
      readonly certificates: {
        readonly identity: string;
        readonly state: string;
        readonly certChain: {
          pem: string;
          serialNumber: string;
          validFrom: string;
          expirationTime: string;
        }[];
        readonly rootCerts: { pem: string }[];
      }[];
    };
    expect(Object.keys(dump)).toEqual(
      expect.arrayContaining([
        'workloads',
        'services',
        'policies',
        'stagedServices',
        'staticConfig',
        'certificates',
        'version',
        'config',
      ]),
    );
    const uids = dump.workloads.map((w) => w.uid);
    expect(uids).toEqual([...uids].sort());
    expect(dump.workloads.find((w) => w.name === 'echo-1')).toMatchObject({
      workloadIps: [mesh.ips.echo],
      protocol: 'HBONE',
      serviceAccount: 'echo',
      node: 'node-b',
    });
    // Certificates (istio/ztunnel@62d82653:src/admin.rs dump_certs): base64 PEM, decimal serial, RFC 3339 times, sorted by identity.
    const echo = dump.certificates.find((c) => c.identity === sa('echo'));
    expect(echo?.state).toBe('Available');
    expect(echo?.certChain).toHaveLength(2); // leaf + intermediate; the root separately
    expect(echo?.rootCerts).toHaveLength(1);
    const leaf = echo?.certChain[0];
    expect(Buffer.from(leaf?.pem ?? '', 'base64').toString()).toMatch(/^-----BEGIN CERTIFICATE-----/);
    expect(leaf?.serialNumber).toMatch(/^\d+$/);
    expect(leaf?.validFrom).toMatch(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$/);
    expect(dump).toMatchObject({
      version: { version: '0.1.0', buildProfile: 'example' },
      config: { nodeName: 'node-b', frameSize: 1048576, poolMaxStreamsPerConn: 100 },
    });
    expect((await fetch(`http://${mesh.b.addresses().admin}/nope`)).status).toBe(404);
  });
});

describe('readiness on :15021', () => {
  it('answers 200 "ready", 405 to other methods, 500 with what is pending', async () => {
    const url = `http://${mesh.a.addresses().readiness}/healthz/ready`;
    const ok = await fetch(url);
    expect([ok.status, await ok.text()]).toEqual([200, 'ready\n']);
    expect((await fetch(url, { method: 'POST' })).status).toBe(405);

    // A ztunnel whose xDS server never answers is not ready (istio/ztunnel@62d82653:src/readiness/server.rs).
    const ca = await createCertificateAuthority({ trustDomain: 'cluster.local' });
    const lonely = createZtunnel({
      nodeName: 'node-x',
      workloads: { xdsAddress: '127.22.8.8:1' },
      ca: caClientFromAuthority(ca),
      bundles: createBundleSet([ca.bundle]),
      nodeAddress: '127.22.8.1',
      ports: { admin: 0, metrics: 0, readiness: 0, socks5: 0 },
      logger: () => {},
    });
    try {
      await lonely.start();
      const res = await fetch(`http://${lonely.addresses().readiness}/healthz/ready`);
      expect([res.status, await res.text()]).toEqual([500, 'not ready, pending: xds\n']);
      await expect(lonely.ready({ timeoutMs: 100 })).rejects.toThrow(/pending: xds/);
    } finally {
      await lonely.close();
    }
  });
});

describe('workload state over delta xDS', () => {
  it('syncs from a control plane, serves its local workloads, and carries traffic', async () => {
    const ips = { ...mesh.ips };
    const controlPlane = createWorkloadStore();
    // The same mesh on other addresses, served over xDS to two fresh ztunnels.
    const other = {
      ...ips,
      nodeA: '127.23.1.1',
      nodeB: '127.23.2.1',
      sleep: '127.23.1.10',
      notsleep: '127.23.1.11',
      echo: '127.23.2.10',
    };
    controlPlane.apply({ resources: meshResources(other) });
    const server = createXdsServer({ store: controlPlane });
    const port = await server.listen('127.0.0.1:0');
    const app = (await import('node:http')).createServer((_req, res) => res.end('over xds\n'));
    await new Promise<void>((resolve) => app.listen(8080, other.echo, resolve));
    const make = (node: string, address: string) =>
      createZtunnel({
        nodeName: node,
        workloads: { xdsAddress: `127.0.0.1:${port}` },
        ca: caClientFromAuthority(mesh.ca),
        bundles: mesh.bundles,
        nodeAddress: address,
        ports: { admin: 0, metrics: 0, readiness: 0, socks5: 0 },
        accessLog: false,
        logger: () => {},
      });
    const a = make('node-a', other.nodeA);
    const b = make('node-b', other.nodeB);
    try {
      await a.start();
      await b.start();
      await a.ready();
      await b.ready();
      expect(b.store.stats()).toMatchObject({ workloads: 3, services: 1 });
      expect(b.inboundAddresses().get('Kubernetes//Pod/default/echo')).toBe(`${other.echo}:15008`);
      expect(await call(a, other.sleep, ECHO_HOST, 80)).toEqual({
        kind: 'http',
        status: 200,
        body: 'over xds\n',
      });
    } finally {
      await a.close();
      await b.close();
      await server.close();
      app.close();
    }
  });
});
