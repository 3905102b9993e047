/**
 * Native HBONE in a mesh with the example ztunnel and the example waypoint, all on loopback: the mesh
 * dispatcher calls a ztunnel-captured app, a service behind the waypoint, and a native-HBONE app, by
 * service name; a captured app calls the native app through its ztunnel. The ztunnel never intercepts the
 * native pod: it has no inbound listener there (the native server binds the pod's 15008 itself), and its
 * access log shows only the connections it carried.
 */
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import http from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  createWaypoint,
  createWaypointLogger,
  type L7ConfigWatcher,
  type Waypoint,
  type WaypointAccessLogEntry,
  watchL7Config,
} from '@ambient-kit/example-waypoint';
import {
  type AccessLogEntry,
  caClientFromAuthority,
  connectSocks5,
  createZtunnel,
  type Ztunnel,
} from '@ambient-kit/example-ztunnel';
import { createAuthorization } from '@ambient-kit/workload-api';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  createMeshDispatcher,
  createMeshServer,
  getPeer,
  type MeshConnection,
  type MeshDispatcher,
  type MeshServer,
  NativeHboneError,
} from '../src/index.js';
import { backs, id, meshStore, pod, service, testPki } from './support/mesh.js';

const NET = '127.77.4';
const IP = {
  node: `${NET}.1`,
  web: `${NET}.10`, // native client (no ztunnel in its path)
  native: `${NET}.11`, // native server
  sleep: `${NET}.20`, // captured client on node-b
  captured: `${NET}.21`, // captured server on node-b
  reviews: `${NET}.22`, // captured server behind the waypoint
  guarded: `${NET}.23`, // captured server whose L4 policy denies web
  waypoint: `${NET}.100`,
};
const WAYPOINT = {
  destination: { kind: 'address' as const, network: '', address: IP.waypoint },
  hboneMtlsPort: 15008,
};

const store = meshStore([
  pod('web', IP.web, { nativeTunnel: true, node: 'node-a' }),
  pod('native', IP.native, {
    nativeTunnel: true,
    node: 'node-b',
    services: [...backs('native', 80, 8080), ...backs('native-wp', 80, 8080)],
  }),
  pod('sleep', IP.sleep, { node: 'node-b' }),
  pod('captured', IP.captured, { node: 'node-b', services: backs('captured', 80, 8080) }),
  pod('reviews', IP.reviews, { node: 'node-b', services: backs('reviews', 9080, 9080) }),
  pod('waypoint', IP.waypoint, { nativeTunnel: true, node: 'node-b' }),
  pod('guarded', IP.guarded, {
    node: 'node-b',
    services: backs('guarded', 80, 8080),
    authorizationPolicies: ['default/deny-web'],
  }),
  service('guarded', '10.96.4.23', 80, 8080),
  createAuthorization({
    name: 'deny-web',
    namespace: 'default',
    action: 'Deny',
    groups: [{ rules: [{ matches: [{ principals: [{ exact: 'cluster.local/ns/default/sa/web' }] }] }] }],
  }),
  service('native', '10.96.4.11', 80, 8080),
  service('native-wp', '10.96.4.12', 80, 8080, { waypoint: WAYPOINT }),
  service('captured', '10.96.4.21', 80, 8080),
  service('reviews', '10.96.4.22', 9080, 9080, { waypoint: WAYPOINT }),
]);

const ztunnelLog: AccessLogEntry[] = [];
const waypointLog: WaypointAccessLogEntry[] = [];
const cleanups: (() => Promise<unknown> | unknown)[] = [];
let ztunnel: Ztunnel;
let waypoint: Waypoint;
let nativeServer: MeshServer;
let dispatcher: MeshDispatcher;
const connections: MeshConnection[] = [];

function app(name: string) {
  return http.createServer((req, res) => {
    res.setHeader('content-type', 'application/json');
    res.end(JSON.stringify({ app: name, client: req.socket.remoteAddress, path: req.url }));
  });
}

async function listen(server: http.Server, port: number, host: string): Promise<void> {
  await new Promise<void>((resolve) => server.listen(port, host, resolve));
  cleanups.push(() => {
    server.closeAllConnections();
    return new Promise((resolve) => server.close(resolve));
  });
}

async function until<T>(read: () => T | undefined, what: string): Promise<T> {
  const deadline = Date.now() + 5000;
  for (;;) {
    const value = read();
    if (value !== undefined) return value;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
}

beforeAll(async () => {
  const { ca, bundles, issue } = await testPki();
  await listen(app('captured'), 8080, IP.captured);
  await listen(app('reviews'), 9080, IP.reviews);
  await listen(app('guarded'), 8080, IP.guarded);
  ztunnel = createZtunnel({
    nodeName: 'node-b',
    workloads: { store },
    ca: caClientFromAuthority(ca),
    bundles,
    nodeAddress: IP.node,
    ports: { admin: 0, metrics: 0, readiness: 0, socks5: 0 },
    preserveSourceIp: true,
    accessLog: (entry) => ztunnelLog.push(entry),
    logger: () => {},
  });
  await ztunnel.start();
  await ztunnel.ready();
  cleanups.push(() => ztunnel.close());

  const dir = await mkdtemp(join(tmpdir(), 'native-hbone-test-'));
  cleanups.push(() => rm(dir, { recursive: true, force: true }));
  await writeFile(join(dir, 'mesh.yaml'), '');
  const config: L7ConfigWatcher = await watchL7Config(join(dir, 'mesh.yaml'), {
    debounceMs: 5,
    pollIntervalMs: 0,
    waypointNamespace: 'default',
  });
  cleanups.push(() => config.close());
  waypoint = createWaypoint({
    workloadUid: 'Kubernetes//Pod/default/waypoint',
    workloads: { store },
    svid: await issue(id('default', 'waypoint')),
    bundles,
    config,
    ports: { admin: 0, metrics: 0, readiness: 0 },
    logger: createWaypointLogger({ level: 'critical' }),
    accessLog: (entry) => waypointLog.push(entry),
  });
  await waypoint.start();
  cleanups.push(() => waypoint.close());

  // The native pod: its own HBONE listener on its 15008. A ztunnel intercepting it would hold that port.
  nativeServer = createMeshServer({
    svid: await issue(id('default', 'native')),
    bundles,
    store,
    handler: (req, res) => {
      const peer = getPeer(req);
      res.setHeader('content-type', 'application/json');
      res.end(JSON.stringify({ app: 'native', identity: peer?.identity, source: peer?.sourceAddress }));
    },
  });
  await nativeServer.listen(15008, IP.native);
  cleanups.push(() => nativeServer.close({ deadlineMs: 100 }));

  dispatcher = createMeshDispatcher({
    svid: await issue(id('default', 'web')),
    bundles,
    store,
    source: 'Kubernetes//Pod/default/web',
    bindSourceIp: true,
    onConnect: (c) => connections.push(c),
  });
  cleanups.push(() => dispatcher.close());
});

afterAll(async () => {
  for (const cleanup of cleanups.reverse()) await cleanup();
});

async function getJson(url: string): Promise<Record<string, string>> {
  const res = await fetch(url, { dispatcher, headers: { connection: 'close' } } as RequestInit);
  expect(res.status).toBe(200);
  return (await res.json()) as Record<string, string>;
}

describe('native HBONE with the example ztunnel and waypoint', () => {
  it('calls a ztunnel-captured app by service name; the ztunnel sees the verified native identity', async () => {
    const from = ztunnelLog.length;
    expect(await getJson('http://captured/x')).toMatchObject({ app: 'captured', client: IP.web, path: '/x' });
    expect(connections.at(-1)).toMatchObject({
      via: 'direct',
      address: `${IP.captured}:15008`,
      peerIdentity: id('default', 'captured'),
    });
    const entry = await until(
      () => ztunnelLog.slice(from).find((e) => e.direction === 'inbound'),
      'the inbound access log entry',
    );
    expect(entry.src).toMatchObject({ identity: id('default', 'web') });
    expect(entry.dst).toMatchObject({ addr: `${IP.captured}:15008`, hboneAddr: `${IP.captured}:8080` });
    // No outbound record: the native app's traffic never went through a ztunnel.
    expect(ztunnelLog.slice(from).some((e) => e.direction === 'outbound')).toBe(false);
  });

  it('goes through the service waypoint and verifies the waypoint identity', async () => {
    const from = waypointLog.length;
    expect(await getJson('http://reviews:9080/reviews/1')).toMatchObject({
      app: 'reviews',
      path: '/reviews/1',
    });
    expect(connections.at(-1)).toMatchObject({
      via: 'service-waypoint',
      address: `${IP.waypoint}:15008`,
      authority: '10.96.4.22:9080',
      peerIdentity: id('default', 'waypoint'),
      service: 'reviews.default.svc.cluster.local',
    });
    const entry = await until(() => waypointLog[from], 'the waypoint access log entry');
    expect(entry).toMatchObject({ method: 'GET', path: '/reviews/1', responseCode: 200 });
    expect(entry.upstreamHost).toBe(`${IP.reviews}:9080`);
  });

  it('a captured app reaches the native app through its ztunnel, which does not intercept the native side', async () => {
    const from = ztunnelLog.length;
    const socks = ztunnel.addresses().socks5 as string;
    const colon = socks.lastIndexOf(':');
    const socket = await connectSocks5({
      proxy: { host: socks.slice(0, colon), port: Number(socks.slice(colon + 1)) },
      target: { host: '10.96.4.11', port: 80 },
      localAddress: IP.sleep,
      timeoutMs: 5000,
    });
    const body = await new Promise<string>((resolve, reject) => {
      const req = http.request(
        { path: '/', headers: { host: 'native', connection: 'close' }, createConnection: () => socket },
        (res) => {
          let text = '';
          res.setEncoding('utf8');
          res.on('data', (c: string) => {
            text += c;
          });
          res.on('end', () => resolve(text));
        },
      );
      req.on('error', reject);
      req.end();
    });
    // The native server verified the captured client's identity; its source IP was kept by the ztunnel.
    expect(JSON.parse(body)).toEqual({ app: 'native', identity: id('default', 'sleep'), source: IP.sleep });
    const outbound = await until(
      () => ztunnelLog.slice(from).find((e) => e.direction === 'outbound'),
      'the outbound access log entry',
    );
    // HBONE straight to the native pod's own 15008 (istio/ztunnel@62d82653:src/proxy/outbound.rs L751-768).
    expect(outbound.dst).toMatchObject({
      addr: `${IP.native}:15008`,
      hboneAddr: `${IP.native}:8080`,
      identity: id('default', 'native'),
    });
    // And no inbound record for the native pod: ztunnel did not de-tunnel it.
    await new Promise((resolve) => setTimeout(resolve, 50));
    expect(ztunnelLog.slice(from).filter((e) => e.direction === 'inbound')).toEqual([]);
  });

  it('calls the native app directly, with no ztunnel in between', async () => {
    const from = ztunnelLog.length;
    expect(await getJson('http://native/')).toEqual({
      app: 'native',
      identity: id('default', 'web'),
      source: IP.web,
    });
    await new Promise((resolve) => setTimeout(resolve, 50));
    expect(ztunnelLog.slice(from)).toEqual([]);
  });

  it("surfaces the captured app's ztunnel L4 denial as NATIVE_HBONE_ERR_DENIED", async () => {
    const from = ztunnelLog.length;
    const error = await fetch('http://guarded/', { dispatcher } as RequestInit).then(
      () => undefined,
      (e: TypeError) => e.cause,
    );
    expect(error).toBeInstanceOf(NativeHboneError);
    expect(error).toMatchObject({ code: 'NATIVE_HBONE_ERR_DENIED', status: 401 });
    const entry = await until(
      () => ztunnelLog.slice(from).find((e) => e.direction === 'inbound'),
      'the denial in the access log',
    );
    expect(entry.src.identity).toBe(id('default', 'web'));
    expect(entry.error).toMatch(/policy/);
  });

  it('reaches a native app behind the waypoint; the native server sees the waypoint as its verified peer', async () => {
    const from = waypointLog.length;
    expect(await getJson('http://native-wp/')).toEqual({
      app: 'native',
      identity: id('default', 'waypoint'),
      source: IP.waypoint,
    });
    expect(connections.at(-1)).toMatchObject({
      via: 'service-waypoint',
      peerIdentity: id('default', 'waypoint'),
    });
    const entry = await until(() => waypointLog[from], 'the waypoint access log entry');
    expect(entry.upstreamHost).toBe(`${IP.native}:8080`);
  });
});
