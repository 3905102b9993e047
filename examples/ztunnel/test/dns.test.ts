/**
 * Privileged: the DNS proxy in a real pod network namespace, reached the way an app reaches it: istio-cni's DNS
 * rules (`applyInpodRedirect` with `redirectDns`) send the pod's queries for any resolver on port 53 to the
 * proxy on 15053, over UDP and TCP. The node's resolver is a real DNS server in the node namespace. Checked:
 *
 * - mesh names (full, short, search-domain expanded by glibc's `getaddrinfo` with the pod's `resolv.conf`) are
 *   answered by the ztunnel with the service VIP, and never reach the upstream;
 * - other names are forwarded over UDP and over TCP from inside the pod (the upstream sees the pod's IP),
 *   NXDOMAIN is kept, and a dead upstream gives SERVFAIL;
 * - the `istio_dns_*` metrics; the listeners live in the pod and go with it.
 */
import { execFile } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import type net from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { applyInpodRedirect, bindUdpInNetns, connectInNetns } from '@ambient-kit/redirect';
import { createBundleSet, createCertificateAuthority } from '@ambient-kit/spiffe';
import { createService, createWorkload, createWorkloadStore } from '@ambient-kit/workload-api';
import dnsPacket from 'dns-packet';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { readTcpMessage } from '../src/dns-forwarder.js';
import { caClientFromAuthority, createZtunnel, type Ztunnel } from '../src/index.js';
import { type DnsUpstreamServer, startDnsUpstream } from './support/dns-upstream.js';
import { ECHO_HOST, ECHO_VIP } from './support/mesh.js';
import { createNodeTopology, type NodeTopology, nsExec, requireInpodPrivileges } from './support/netns.js';

const SLEEP_UID = 'Kubernetes//Pod/default/sleep-dns';
/** What the pod's resolv.conf names, as kube-dns's ClusterIP: any non-loopback resolver is captured. */
const KUBE_DNS = '10.96.0.53';

let topo: NodeTopology | undefined;
let upstream: DnsUpstreamServer | undefined;
let ztunnel: Ztunnel | undefined;
let dir: string;

async function udpQuery(name: string, type = 'A'): Promise<dnsPacket.DecodedPacket> {
  const pods = topo as NodeTopology;
  const socket = await bindUdpInNetns(pods.podA.path, { host: '0.0.0.0', port: 0 });
  try {
    const reply = new Promise<Buffer>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`no DNS answer for ${name}`)), 5000);
      socket.once('message', (m) => {
        clearTimeout(timer);
        resolve(m);
      });
    });
    socket.send(
      dnsPacket.encode({
        type: 'query',
        id: 7,
        flags: dnsPacket.RECURSION_DESIRED,
        questions: [{ name, type: type as 'A' }],
      }),
      53,
      KUBE_DNS,
    );
    return dnsPacket.decode(await reply);
  } finally {
    socket.close();
  }
}

async function tcpQuery(name: string): Promise<dnsPacket.DecodedPacket> {
  const pods = topo as NodeTopology;
  const socket: net.Socket = await connectInNetns(pods.podA.path, { host: KUBE_DNS, port: 53 });
  try {
    const q = dnsPacket.encode({
      type: 'query',
      id: 8,
      flags: dnsPacket.RECURSION_DESIRED,
      questions: [{ name, type: 'A' }],
    });
    const prefix = Buffer.alloc(2);
    prefix.writeUInt16BE(q.length, 0);
    socket.write(Buffer.concat([prefix, q]));
    return dnsPacket.decode(await readTcpMessage(socket, AbortSignal.timeout(5000)));
  } finally {
    socket.destroy();
  }
}

beforeAll(async () => {
  requireInpodPrivileges();
  topo = createNodeTopology(126);
  const pods = topo;
  dir = mkdtempSync(join(tmpdir(), 'ambient-dns-'));
  // The node's resolver, on the node's address towards pod A.
  upstream = await startDnsUpstream(new Map([['db.example.internal', ['192.0.2.7']]]), {
    netns: pods.node.path,
    host: pods.podA.gateway,
    port: 53,
  });
  const store = createWorkloadStore();
  store.apply({
    resources: [
      createWorkload({
        uid: SLEEP_UID,
        name: 'sleep-dns',
        namespace: 'default',
        serviceAccount: 'sleep',
        canonicalName: 'sleep',
        workloadIps: [pods.podA.ip],
        protocol: 'HBONE',
        node: 'node-dns',
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
  const ca = await createCertificateAuthority({ trustDomain: 'cluster.local' });
  ztunnel = createZtunnel({
    nodeName: 'node-dns',
    mode: 'inpod',
    workloads: { store },
    ca: caClientFromAuthority(ca),
    bundles: createBundleSet([ca.bundle]),
    nodeAddress: '127.26.3.1',
    ports: { admin: 0, metrics: 0, readiness: 0 },
    dnsUpstreams: [{ host: pods.podA.gateway, port: 53 }],
    dnsUpstreamTimeoutMs: 1000,
    accessLog: false,
    logger: () => {},
  });
  await ztunnel.start();
  // istio-cni's rules with DNS capture (Helm `ambient.dnsCapture: true`), then the pod.
  await applyInpodRedirect({
    netns: pods.podA.path,
    backend: 'iptables',
    redirectDns: true,
    enableIpv6: true,
  });
  await ztunnel.addInpodWorkload(SLEEP_UID, pods.podA.path);
}, 60_000);

afterAll(async () => {
  await ztunnel?.close();
  await upstream?.close();
  topo?.destroy();
  rmSync(dir, { recursive: true, force: true });
});

describe('the DNS proxy in a pod (root)', () => {
  it('listens on the pod localhost:15053, UDP and TCP, and nowhere else', () => {
    const pods = topo as NodeTopology;
    const inPod = nsExec(pods.podA.path, "ss -Hlun 'sport = :15053'; ss -Hltn 'sport = :15053'");
    expect(inPod).toMatch(/UNCONN.*127\.0\.0\.1:15053/);
    expect(inPod).toMatch(/LISTEN.*127\.0\.0\.1:15053/);
    expect(nsExec(pods.node.path, "ss -Hluna 'sport = :15053'").trim()).toBe('');
    expect(ztunnel?.inpodWorkloads().get(SLEEP_UID)?.dns).toContain('127.0.0.1:15053');
  });

  it('answers mesh names itself, over UDP and TCP, to queries for any resolver the pod names', async () => {
    for (const name of [ECHO_HOST, 'echo', 'echo.default']) {
      const reply = await udpQuery(name);
      expect(reply).toMatchObject({ flag_aa: true, answers: [{ type: 'A', name, ttl: 30, data: ECHO_VIP }] });
    }
    expect(await tcpQuery('echo')).toMatchObject({ flag_aa: true, answers: [{ data: ECHO_VIP }] });
    // AAAA for an IPv4-only service: found, no records (NOERROR), as ztunnel answers.
    const aaaa = await udpQuery(ECHO_HOST, 'AAAA');
    expect(aaaa.answers).toEqual([]);
    expect((aaaa.flags ?? 0) & 0xf).toBe(0);
    expect((upstream as DnsUpstreamServer).queries.filter((q) => q.name.startsWith('echo'))).toEqual([]);
  });

  it("resolves by name through the pod's own resolver (glibc getaddrinfo, ndots:5 and search domains)", async () => {
    const pods = topo as NodeTopology;
    const resolv = join(dir, 'resolv.conf');
    writeFileSync(
      resolv,
      `nameserver ${KUBE_DNS}\nsearch default.svc.cluster.local svc.cluster.local cluster.local\noptions ndots:5\n`,
    );
    // The pod's resolv.conf in a private mount namespace, as a container runtime gives a pod its own.
    const { stdout } = await promisify(execFile)('nsenter', [
      `--net=${pods.podA.path}`,
      'unshare',
      '--mount',
      'sh',
      '-c',
      `mount --bind ${resolv} /etc/resolv.conf && getent ahostsv4 echo && getent ahostsv4 ${ECHO_HOST}`,
    ]);
    // Both resolve to the VIP; `echo` under the canonical name of the first search domain that matched.
    const lines = stdout.split('\n').filter((l) => l.includes('STREAM'));
    expect(lines).toEqual([`${ECHO_VIP}      STREAM ${ECHO_HOST}`, `${ECHO_VIP}      STREAM ${ECHO_HOST}`]);
  });

  it('forwards other names to the node resolver from inside the pod, over UDP and over TCP', async () => {
    const pods = topo as NodeTopology;
    const up = upstream as DnsUpstreamServer;
    up.queries.length = 0;
    expect(await udpQuery('db.example.internal')).toMatchObject({
      flag_aa: false,
      answers: [{ data: '192.0.2.7' }],
    });
    expect(await tcpQuery('db.example.internal')).toMatchObject({ answers: [{ data: '192.0.2.7' }] });
    const nx = await udpQuery('missing.example.internal');
    expect((nx.flags ?? 0) & 0xf).toBe(3);
    // The upstream saw the pod's own address: the queries left from inside the pod (marked, so istio-cni's
    // rules let them out instead of sending them back to 15053).
    expect(up.queries).toEqual([
      { name: 'db.example.internal', type: 'A', protocol: 'udp', from: pods.podA.ip },
      { name: 'db.example.internal', type: 'A', protocol: 'tcp', from: pods.podA.ip },
      { name: 'missing.example.internal', type: 'A', protocol: 'udp', from: pods.podA.ip },
    ]);
  });

  it("counts it all in ztunnel's metrics; SERVFAIL and a failure when the upstream is gone", async () => {
    await (upstream as DnsUpstreamServer).close();
    upstream = undefined;
    const dead = await udpQuery('other.example.internal');
    expect((dead.flags ?? 0) & 0xf).toBe(2);
    const text = await (ztunnel as Ztunnel).metrics.registry.metrics();
    const labels = (type: string, protocol: string): string =>
      `{request_query_type="${type}",request_protocol="${protocol}",source_canonical_service="sleep",source_canonical_revision="unknown"}`;
    expect(text).toMatch(
      new RegExp(`istio_dns_requests_total${labels('a', 'udp').replace(/[{}"]/g, '\\$&')} ([5-9]|\\d\\d)`),
    );
    expect(text).toContain(`istio_dns_upstream_requests_total${labels('a', 'tcp')} 1`);
    expect(text).toContain(`istio_dns_upstream_failures_total${labels('a', 'udp')} 1`);
    expect(text).toContain(`istio_dns_upstream_request_duration_seconds_count${labels('a', 'udp')} 3`);
  });

  it("closes the pod's DNS listeners when the pod is removed", async () => {
    const pods = topo as NodeTopology;
    await (ztunnel as Ztunnel).removeInpodWorkload(SLEEP_UID);
    expect(nsExec(pods.podA.path, "ss -Hluna 'sport = :15053'; ss -Hltn 'sport = :15053'").trim()).toBe('');
  });
});
