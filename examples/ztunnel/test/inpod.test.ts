/**
 * Privileged: the example ztunnel in in-pod mode (workload-api-and-redirect.md §B.5). A pod network
 * namespace gets istio-cni's iptables rules (`@ambient-kit/redirect`), the ztunnel opens 15001 and 15006
 * inside it, and:
 *
 * - an app in the pod dialing a service VIP lands on 15001 (REDIRECT, nat OUTPUT), the ztunnel reads the
 *   original destination from conntrack and carries the connection over HBONE to the destination ztunnel;
 * - a plaintext client outside the pod dialing the pod's app port lands on 15006 (nat PREROUTING), where L4
 *   policy runs with no peer identity before a marked connection reaches the app.
 *
 * Runs as root (as CI does); a missing capability or tool fails with a message.
 */
import http from 'node:http';
import type net from 'node:net';
import {
  applyInpodRedirect,
  connectInNetns,
  listenInNetns,
  removeInpodRedirect,
} from '@ambient-kit/redirect';
import { createPolicy, createWorkload } from '@ambient-kit/workload-api';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type AccessLogEntry, caClientFromAuthority, createZtunnel, type Ztunnel } from '../src/index.js';
import { ECHO_VIP, eventually, sa, startTestMesh, type TestMesh } from './support/mesh.js';
import { createPodTopology, type PodTopology, requireInpodPrivileges } from './support/netns.js';

const SLEEP_UID = 'Kubernetes//Pod/default/sleep-inpod';

let topo: PodTopology;
let mesh: TestMesh;
let inpod: Ztunnel;
let podApp: net.Server;
const inpodLogs: AccessLogEntry[] = [];

/** What an app in (or next to) the pod does: one HTTP/1.1 request on a raw connection. */
async function httpOver(socket: net.Socket, host: string): Promise<string> {
  socket.end(`GET /from-the-pod HTTP/1.1\r\nhost: ${host}\r\nconnection: close\r\n\r\n`);
  let text = '';
  socket.setEncoding('utf8');
  for await (const chunk of socket) text += chunk;
  return text;
}

beforeAll(async () => {
  requireInpodPrivileges();
  topo = createPodTopology(124);
  // node-b (loopback mode) serves echo on 127.24.2.10; sleep lives in the pod, on node-a.
  mesh = await startTestMesh(24);
  mesh.store.apply({
    resources: [
      createWorkload({
        uid: SLEEP_UID,
        name: 'sleep-inpod',
        namespace: 'default',
        serviceAccount: 'sleep',
        workloadName: 'sleep',
        workloadIps: [topo.pod.ip],
        protocol: 'HBONE',
        node: 'node-inpod',
      }),
    ],
  });
  inpod = createZtunnel({
    nodeName: 'node-inpod',
    mode: 'inpod',
    workloads: { store: mesh.store },
    ca: caClientFromAuthority(mesh.ca),
    bundles: mesh.bundles,
    nodeAddress: '127.24.3.1',
    ports: { admin: 0, metrics: 0, readiness: 0 },
    accessLog: (entry) => inpodLogs.push(entry),
    logger: () => {},
  });
  await inpod.start();
  // istio-cni's half: the rules inside the pod. Then the ZDS AddWorkload equivalent.
  await applyInpodRedirect({ netns: topo.pod.path, backend: 'iptables' });
  await inpod.addInpodWorkload(SLEEP_UID, topo.pod.path);
  // The pod's own app, for the inbound plaintext path.
  const appHttp = http.createServer((req, res) => res.end(`pod app saw ${req.method} ${req.url}\n`));
  podApp = await listenInNetns(topo.pod.path, { port: 8080 });
  podApp.on('connection', (socket) => appHttp.emit('connection', socket));
}, 60_000);

afterAll(async () => {
  podApp?.close();
  await inpod?.close();
  await mesh?.close();
  if (topo !== undefined) {
    await removeInpodRedirect({ netns: topo.pod.path }).catch(() => {});
    topo.destroy();
  }
});

describe('in-pod mode (root)', () => {
  it("captures the pod app's connection to a service VIP on 15001 and carries it over HBONE", async () => {
    const socket = await connectInNetns(topo.pod.path, { host: ECHO_VIP, port: 80 });
    const response = await httpOver(socket, 'echo.default.svc.cluster.local');
    expect(response).toMatch(/^HTTP\/1\.1 200 OK/);
    expect(response).toContain('echo GET /from-the-pod');

    const outbound = await eventually(() =>
      inpodLogs.find((e) => e.direction === 'outbound' && e.message === 'connection complete'),
    );
    // The app's own address as source (SO_ORIGINAL_DST read on the redirected connection), HBONE to echo's ztunnel.
    expect(outbound.src.addr).toMatch(new RegExp(`^${topo.pod.ip.replaceAll('.', '\\.')}:\\d+$`));
    expect(outbound).toMatchObject({
      src: { identity: sa('sleep') },
      dst: {
        addr: `${mesh.ips.echo}:15008`,
        hboneAddr: `${mesh.ips.echo}:8080`,
        identity: sa('echo'),
        service: 'echo.default.svc.cluster.local',
      },
    });
    const inbound = await eventually(() =>
      mesh.logs.b.find((e) => e.direction === 'inbound' && e.src.identity === sa('sleep')),
    );
    expect(inbound.error).toBeUndefined();
    // /config_dump lists the pod in ztunnel's in-pod `workloadState` section.
    expect(inpod.configDump()).toMatchObject({ workloadState: { [SLEEP_UID]: { state: 'Up' } } });
  });

  it('captures plaintext traffic to the pod on 15006, enforces L4 policy without an identity, then reaches the app', async () => {
    const first = await httpOver(
      await connectInNetns(topo.peer.path, { host: topo.pod.ip, port: 8080 }),
      'pod',
    );
    expect(first).toContain('pod app saw GET /from-the-pod');
    const allowed = await eventually(() =>
      inpodLogs.find((e) => e.direction === 'inbound' && e.message === 'connection complete'),
    );
    expect(allowed).toMatchObject({
      src: { addr: expect.stringMatching(/^10\.124\.0\.1:\d+$/) },
      dst: { addr: `${topo.pod.ip}:8080` },
    });
    expect(allowed.src.identity).toBeUndefined();

    // PeerAuthentication STRICT as ztunnel receives it: DENY when there is no principal (authz.md §10.6).
    mesh.store.apply({
      resources: [
        createPolicy({
          name: 'istio_converted_static_strict',
          namespace: 'default',
          scope: 'Namespace',
          action: 'Deny',
          groups: [{ rules: [{ matches: [{ notPrincipals: [{ presence: true }] }] }] }],
        }),
      ],
    });
    const denied = await httpOver(
      await connectInNetns(topo.peer.path, { host: topo.pod.ip, port: 8080 }),
      'pod',
    ).catch((error: Error) => `error ${error.message}`);
    expect(denied).not.toContain('pod app saw');
    const log = await eventually(() =>
      inpodLogs.find((e) => e.direction === 'inbound' && e.responseFlags === 'DENY'),
    );
    expect(log.error).toBe(
      'connection closed due to policy rejection: explicitly denied by: default/istio_converted_static_strict',
    );
    mesh.store.apply({ removed: [{ kind: 'policy', name: 'default/istio_converted_static_strict' }] });
  });
});
