/**
 * Privileged: the ztunnel in in-pod mode takes its pods from a node agent over ZDS (real SOCK_SEQPACKET socket,
 * real pod namespaces passed with SCM_RIGHTS), as ztunnel does (istio/ztunnel@62d82653:src/inpod/): it waits
 * for the agent, warning with the reason; takes the snapshot; holds a pod whose workload has not arrived yet as
 * pending (NACKed) and starts it as soon as the workload arrives; ignores a replayed pod with the same namespace;
 * drains a pod a new snapshot lacks; stops a deleted one; and reconnects when the agent restarts.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  applyInpodRedirect,
  createZdsNodeAgent,
  type NetnsHandle,
  openNetns,
  type ZdsNodeAgent,
  type ZdsNodeAgentEvent,
  type ZdsPod,
} from '@ambient-kit/redirect';
import { createBundleSet, createCertificateAuthority } from '@ambient-kit/spiffe';
import { createWorkload, createWorkloadStore, type WorkloadStore } from '@ambient-kit/workload-api';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { caClientFromAuthority, createZtunnel, type LogRecord, type Ztunnel } from '../src/index.js';
import { createNodeTopology, type NodeTopology, nsExec, requireInpodPrivileges } from './support/netns.js';

const A_UID = 'Kubernetes//Pod/default/zds-a';
const B_UID = 'Kubernetes//Pod/default/zds-b';
const infoOf = (name: string) => ({ name, namespace: 'default', serviceAccount: name });

let topo: NodeTopology;
let dir: string;
let store: WorkloadStore;
let ztunnel: Ztunnel;
let agent: ZdsNodeAgent | undefined;
const handles: NetnsHandle[] = [];
const records: LogRecord[] = [];
const events: ZdsNodeAgentEvent[] = [];
let pods: ZdsPod[] = [];

const startAgent = (): ZdsNodeAgent =>
  createZdsNodeAgent({
    path: join(dir, 'ztunnel.sock'),
    snapshot: () => pods,
    onEvent: (e) => events.push(e),
  });
const logged = (message: string): LogRecord[] => records.filter((r) => r.message === message);

beforeAll(async () => {
  requireInpodPrivileges();
  topo = createNodeTopology(127);
  dir = mkdtempSync(join(tmpdir(), 'ambient-inpod-zds-'));
  store = createWorkloadStore();
  store.apply({
    resources: [
      createWorkload({
        uid: A_UID,
        name: 'zds-a',
        namespace: 'default',
        serviceAccount: 'zds-a',
        workloadIps: [topo.podA.ip],
        protocol: 'HBONE',
        node: 'node-zds',
      }),
    ],
  });
  for (const pod of [topo.podA, topo.podB])
    await applyInpodRedirect({ netns: pod.path, backend: 'iptables', redirectDns: true });
  const ca = await createCertificateAuthority({ trustDomain: 'cluster.local' });
  ztunnel = createZtunnel({
    nodeName: 'node-zds',
    mode: 'inpod',
    workloads: { store },
    ca: caClientFromAuthority(ca),
    bundles: createBundleSet([ca.bundle]),
    nodeAddress: '127.27.3.1',
    ports: { admin: 0, metrics: 0, readiness: 0 },
    zdsPath: join(dir, 'ztunnel.sock'),
    dnsUpstreams: [],
    accessLog: false,
    logger: (r) => records.push(r),
  });
  await ztunnel.start();
}, 60_000);

afterAll(async () => {
  await ztunnel?.close();
  await agent?.close();
  for (const h of handles) h.close();
  topo?.destroy();
  rmSync(dir, { recursive: true, force: true });
});

describe('in-pod mode fed over ZDS (root)', () => {
  it('waits for the node agent, warning with the reason, then takes its snapshot', async () => {
    // No agent yet: not ready, and warnings that say why and when the next attempt is.
    await expect
      .poll(() => logged('failed to connect to the node agent (is it running?), retrying').length)
      .toBeGreaterThan(1);
    const warning = logged('failed to connect to the node agent (is it running?), retrying')[0];
    expect(warning?.level).toBe('warn');
    expect(warning?.fields).toContainEqual([
      'error',
      expect.stringMatching(/^connect .*ztunnel\.sock: ENOENT$/),
    ]);
    expect(ztunnel.pending()).toContain('zds (node agent not connected)');

    const a = openNetns(topo.podA.path);
    const b = openNetns(topo.podB.path);
    handles.push(a, b);
    // Pod B's workload is not known yet (xDS is late): the ztunnel NACKs it and keeps it pending.
    pods = [
      { uid: 'pod-a', workloadInfo: infoOf('zds-a'), netns: a },
      { uid: 'pod-b', workloadInfo: infoOf('zds-b'), netns: b },
    ];
    agent = startAgent();
    await ztunnel.zdsSynced({ timeoutMs: 15_000 });
    expect([...ztunnel.inpodWorkloads().keys()]).toEqual([A_UID]);
    expect(events.find((e) => e.type === 'nack')).toMatchObject({
      request: { type: 'add', uid: 'pod-b' },
      error: expect.stringContaining('no workload for pod default/zds-b'),
    });
    expect(ztunnel.pending()).toEqual([
      expect.stringMatching(/^pod pod-b \(no workload for pod default\/zds-b/),
    ]);
    expect(ztunnel.configDump()).toMatchObject({ workloadState: { 'pod-b': { state: 'Pending' } } });

    // The workload arrives: the pending pod starts at once (not at the next 5 s retry).
    const arrived = performance.now();
    store.apply({
      resources: [
        createWorkload({
          uid: B_UID,
          name: 'zds-b',
          namespace: 'default',
          serviceAccount: 'zds-b',
          workloadIps: [topo.podB.ip],
          protocol: 'HBONE',
          node: 'node-zds',
        }),
      ],
    });
    await expect.poll(() => ztunnel.inpodWorkloads().has(B_UID), { timeout: 3000 }).toBe(true);
    expect(performance.now() - arrived).toBeLessThan(2000);
    expect(ztunnel.pending()).toEqual([]);
    expect(nsExec(topo.podB.path, "ss -Hltn 'sport = :15001'")).toMatch(/LISTEN/);
  });

  it('reconnects when the agent restarts; a replayed pod is left alone, one the snapshot lacks is drained', async () => {
    const added = logged('workload added').length;
    await agent?.close();
    await expect.poll(() => logged('node agent connection lost, reconnecting').length).toBe(1);
    // The new agent knows pod A (same namespace) but not pod B any more.
    pods = pods.slice(0, 1);
    agent = startAgent();
    await expect.poll(() => logged('reconnected to the node agent').length, { timeout: 10_000 }).toBe(1);
    expect(logged('reconnected to the node agent')[0]?.level).toBe('warn');
    await ztunnel.zdsSynced({ timeoutMs: 10_000 });
    expect([...ztunnel.inpodWorkloads().keys()]).toEqual([A_UID]);
    // Pod A was not restarted: no new "workload added".
    expect(logged('workload added').length).toBe(added);
    expect(nsExec(topo.podB.path, "ss -Hltn 'sport = :15001'").trim()).toBe('');
  });

  it('stops a deleted pod', async () => {
    await agent?.deleteWorkload('pod-a');
    expect(ztunnel.inpodWorkloads().size).toBe(0);
    expect(nsExec(topo.podA.path, "ss -Hltn 'sport = :15001'").trim()).toBe('');
  });
});
