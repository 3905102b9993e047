/**
 * Privileged: the example ztunnel in in-pod mode on a node with two pods. Each pod is a real network namespace with istio-cni's iptables rules (`@ambient-kit/redirect`),
 * joined by a veth to a node namespace that routes between them; one ztunnel serves both, opening 15001,
 * 15006 and 15008 inside each pod:
 *
 * - sleep's app (pod A) dials echo's service VIP: it lands on A's 15001 (REDIRECT, nat OUTPUT); the ztunnel
 *   reads the original destination from conntrack and opens HBONE to echo's `podIP:15008` from inside A,
 *   marked 0x539 (so A's rules let it out); in B, 15008 is exempt from the redirection and reaches the
 *   listener inside B; the ztunnel checks L4 policy (401) and connects to B's app;
 * - a plaintext client on the node dialing echo's app port lands on B's 15006 (nat PREROUTING), where L4
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
import {
  type BundleSource,
  type CertificateAuthority,
  createBundleSet,
  createCertificateAuthority,
} from '@ambient-kit/spiffe';
import {
  createAuthorization as createPolicy,
  createService,
  createWorkload,
  createWorkloadStore,
  type WorkloadStore,
} from '@ambient-kit/workload-api';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type AccessLogEntry, caClientFromAuthority, createZtunnel, type Ztunnel } from '../src/index.js';
import { ECHO_HOST, ECHO_VIP, eventually, sa } from './support/mesh.js';
import { createNodeTopology, type NodeTopology, nsExec, requireInpodPrivileges } from './support/netns.js';

const SLEEP_UID = 'Kubernetes//Pod/default/sleep-inpod';
const ECHO_UID = 'Kubernetes//Pod/default/echo-inpod';
// Counts pod A's packets to echo's 15008 by mark, in a chain of our own (mangle POSTROUTING: after routing,
// as they leave for the node).
const COUNTER_CHAIN = 'AMBIENT_TEST_HBONE';

let topo: NodeTopology | undefined;
let ca: CertificateAuthority;
let bundles: BundleSource;
let store: WorkloadStore;
let ztunnel: Ztunnel | undefined;
let echoApp: net.Server | undefined;
const logs: AccessLogEntry[] = [];
const appSaw: string[] = [];

/** What an app in (or next to) a pod does: one HTTP/1.1 request on a raw connection. */
async function httpOver(socket: net.Socket, host: string): Promise<string> {
  socket.on('error', () => {});
  socket.end(`GET /from-the-pod HTTP/1.1\r\nhost: ${host}\r\nconnection: close\r\n\r\n`);
  let text = '';
  socket.setEncoding('utf8');
  try {
    for await (const chunk of socket) text += chunk;
  } catch (error) {
    text += `error ${(error as Error).message}`;
  }
  return text;
}

/** Packets pod A sent to echo's 15008, by mark, from the counter rules. */
function hbonePackets(pods: NodeTopology): { marked: number; unmarked: number } {
  const out = nsExec(pods.podA.path, `iptables-nft -t mangle -L ${COUNTER_CHAIN} -v -x -n`);
  const count = (tag: string): number => {
    const line = out.split('\n').find((l) => l.includes(`/* ${tag} */`));
    if (line === undefined) throw new Error(`no ${tag} counter in:\n${out}`);
    return Number(line.trim().split(/\s+/)[0]);
  };
  return { marked: count('marked'), unmarked: count('unmarked') };
}

beforeAll(async () => {
  requireInpodPrivileges();
  topo = createNodeTopology(124);
  const pods = topo;
  ca = await createCertificateAuthority({ trustDomain: 'cluster.local' });
  bundles = createBundleSet([ca.bundle]);
  store = createWorkloadStore();
  const echoService = { key: `default/${ECHO_HOST}`, namespace: 'default', hostname: ECHO_HOST, ports: [] };
  store.apply({
    resources: [
      createWorkload({
        uid: SLEEP_UID,
        name: 'sleep-inpod',
        namespace: 'default',
        serviceAccount: 'sleep',
        workloadName: 'sleep',
        workloadIps: [pods.podA.ip],
        protocol: 'HBONE',
        node: 'node-inpod',
      }),
      createWorkload({
        uid: ECHO_UID,
        name: 'echo-inpod',
        namespace: 'default',
        serviceAccount: 'echo',
        workloadName: 'echo',
        workloadIps: [pods.podB.ip],
        protocol: 'HBONE',
        node: 'node-inpod',
        services: [echoService],
      }),
      createService({
        name: 'echo',
        namespace: 'default',
        hostname: ECHO_HOST,
        vips: [{ network: '', address: ECHO_VIP }],
        ports: [{ servicePort: 80, targetPort: 8080, appProtocol: 'HTTP11' }],
      }),
    ],
  });
  // One ztunnel for the node; both pods are local to it, as on a real node.
  ztunnel = createZtunnel({
    nodeName: 'node-inpod',
    mode: 'inpod',
    workloads: { store },
    ca: caClientFromAuthority(ca),
    bundles,
    nodeAddress: '127.24.3.1',
    ports: { admin: 0, metrics: 0, readiness: 0 },
    accessLog: (entry) => logs.push(entry),
    logger: () => {},
  });
  await ztunnel.start();
  // istio-cni's half: the rules inside each pod. Then the ZDS AddWorkload equivalent.
  for (const pod of [pods.podA, pods.podB])
    await applyInpodRedirect({ netns: pod.path, backend: 'iptables' });
  await ztunnel.addInpodWorkload(SLEEP_UID, pods.podA.path);
  await ztunnel.addInpodWorkload(ECHO_UID, pods.podB.path);
  // echo's app, inside pod B.
  const appHttp = http.createServer((req, res) => {
    appSaw.push(`${req.socket.remoteAddress}`);
    res.end(`echo saw ${req.method} ${req.url}\n`);
  });
  echoApp = await listenInNetns(pods.podB.path, { port: 8080 });
  echoApp.on('connection', (socket) => appHttp.emit('connection', socket));
  nsExec(
    pods.podA.path,
    `iptables-nft -t mangle -N ${COUNTER_CHAIN} && iptables-nft -t mangle -A POSTROUTING -j ${COUNTER_CHAIN} && ` +
      `iptables-nft -t mangle -A ${COUNTER_CHAIN} -p tcp -d ${pods.podB.ip} --dport 15008 -m mark --mark 0x539 -m comment --comment marked && ` +
      `iptables-nft -t mangle -A ${COUNTER_CHAIN} -p tcp -d ${pods.podB.ip} --dport 15008 -m mark ! --mark 0x539 -m comment --comment unmarked`,
  );
}, 60_000);

afterAll(async () => {
  echoApp?.close();
  await ztunnel?.close();
  if (topo !== undefined) {
    for (const pod of [topo.podA, topo.podB]) await removeInpodRedirect({ netns: pod.path }).catch(() => {});
    topo.destroy();
  }
});

describe('in-pod mode (root), two pods on one node', () => {
  it("carries pod A's connection to echo's VIP over HBONE from inside A, marked, to 15008 inside B", async () => {
    const pods = topo as NodeTopology;
    const from = logs.length;
    const before = hbonePackets(pods);
    const response = await httpOver(
      await connectInNetns(pods.podA.path, { host: ECHO_VIP, port: 80 }),
      ECHO_HOST,
    );
    expect(response).toMatch(/^HTTP\/1\.1 200 OK/);
    expect(response).toContain('echo saw GET /from-the-pod');

    // The source ztunnel's view: the app's own address (SO_ORIGINAL_DST on the redirected connection), HBONE
    // to echo's pod on 15008 with :authority podIP:targetPort.
    const outbound = await eventually(() =>
      logs.slice(from).find((e) => e.direction === 'outbound' && e.message === 'connection complete'),
    );
    expect(outbound.error).toBeUndefined();
    expect(outbound).toMatchObject({
      src: { addr: expect.stringMatching(new RegExp(`^${pods.podA.ip.replaceAll('.', '\\.')}:\\d+$`)) },
      dst: {
        addr: `${pods.podB.ip}:15008`,
        hboneAddr: `${pods.podB.ip}:8080`,
        identity: sa('echo'),
        service: ECHO_HOST,
      },
    });
    // The destination side: mTLS from sleep's identity, from pod A's own IP (the HBONE connection left from
    // inside A), received on echo's 15008.
    const inbound = await eventually(() =>
      logs.slice(from).find((e) => e.direction === 'inbound' && e.src.identity === sa('sleep')),
    );
    expect(inbound.error).toBeUndefined();
    expect(inbound).toMatchObject({
      src: { addr: expect.stringMatching(new RegExp(`^${pods.podA.ip.replaceAll('.', '\\.')}:\\d+$`)) },
      dst: { addr: `${pods.podB.ip}:15008`, identity: sa('echo') },
    });
    // The app connection was made inside B from pod A's own address: in-pod mode preserves the source
    // (a transparent socket bound to the client's IP, its replies routed back by the fwmark 0x111 rule).
    expect(appSaw.at(-1)).toMatch(new RegExp(`${pods.podA.ip.replaceAll('.', '\\.')}$`));

    // Every packet A sent to echo's 15008 carried ztunnel's mark; none went out unmarked.
    const after = hbonePackets(pods);
    expect(after.marked).toBeGreaterThan(before.marked);
    expect(after.unmarked).toBe(before.unmarked);

    // 15008 listens inside B's namespace (and A's), not in the node's.
    expect(nsExec(pods.podB.path, "ss -Hltn 'sport = :15008'")).toMatch(/LISTEN/);
    expect(nsExec(pods.podA.path, "ss -Hltn 'sport = :15008'")).toMatch(/LISTEN/);
    expect(nsExec(pods.node.path, "ss -Hltn 'sport = :15008'").trim()).toBe('');
    expect(ztunnel?.inboundAddresses()).toEqual(
      new Map([
        [SLEEP_UID, `${pods.podA.ip}:15008`],
        [ECHO_UID, `${pods.podB.ip}:15008`],
      ]),
    );
    expect(ztunnel?.configDump()).toMatchObject({
      workloadState: { [SLEEP_UID]: { state: 'Up' }, [ECHO_UID]: { state: 'Up' } },
    });
  });

  it("enforces echo's L4 policy at its 15008 inside B: 401 back to pod A", async () => {
    const pods = topo as NodeTopology;
    const from = logs.length;
    store.apply({
      resources: [
        createPolicy({
          name: 'deny-sleep',
          namespace: 'default',
          scope: 'Namespace',
          action: 'Deny',
          groups: [
            { rules: [{ matches: [{ principals: [{ exact: 'cluster.local/ns/default/sa/sleep' }] }] }] },
          ],
        }),
      ],
    });
    try {
      const denied = await httpOver(
        await connectInNetns(pods.podA.path, { host: ECHO_VIP, port: 80 }),
        ECHO_HOST,
      );
      expect(denied).not.toContain('echo saw');
      const inbound = await eventually(() =>
        logs.slice(from).find((e) => e.direction === 'inbound' && e.responseFlags === 'DENY'),
      );
      expect(inbound).toMatchObject({
        src: { identity: sa('sleep') },
        dst: { addr: `${pods.podB.ip}:15008` },
        error: 'connection closed due to policy rejection: explicitly denied by: default/deny-sleep',
      });
      const outbound = await eventually(() =>
        logs.slice(from).find((e) => e.direction === 'outbound' && e.error !== undefined),
      );
      expect(outbound).toMatchObject({ error: 'http status: 401 Unauthorized', responseFlags: 'CONNECT' });
    } finally {
      store.apply({ removed: [{ kind: 'policy', name: 'default/deny-sleep' }] });
    }
  });

  it('captures plaintext traffic to a pod on 15006, enforces L4 policy without an identity, then reaches the app', async () => {
    const pods = topo as NodeTopology;
    const from = logs.length;
    const first = await httpOver(
      await connectInNetns(pods.node.path, { host: pods.podB.ip, port: 8080 }),
      'echo',
    );
    expect(first).toContain('echo saw GET /from-the-pod');
    const allowed = await eventually(() =>
      logs
        .slice(from)
        .find(
          (e) =>
            e.direction === 'inbound' &&
            e.message === 'connection complete' &&
            e.dst.addr === `${pods.podB.ip}:8080`,
        ),
    );
    expect(allowed.src.addr).toMatch(new RegExp(`^${pods.podB.gateway.replaceAll('.', '\\.')}:\\d+$`));
    expect(allowed.src.identity).toBeUndefined();

    // PeerAuthentication STRICT as ztunnel receives it: DENY when there is no principal.
    store.apply({
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
    try {
      const denied = await httpOver(
        await connectInNetns(pods.node.path, { host: pods.podB.ip, port: 8080 }),
        'echo',
      );
      expect(denied).not.toContain('echo saw');
      const log = await eventually(() =>
        logs.slice(from).find((e) => e.direction === 'inbound' && e.responseFlags === 'DENY'),
      );
      expect(log.error).toBe(
        'connection closed due to policy rejection: explicitly denied by: default/istio_converted_static_strict',
      );
    } finally {
      store.apply({ removed: [{ kind: 'policy', name: 'default/istio_converted_static_strict' }] });
    }
  });
});
