/**
 * ZDS end to end over a real SOCK_SEQPACKET unix socket: the node agent passes a real pod network
 * namespace descriptor (SCM_RIGHTS) and the proxy opens a listener inside it, reachable from the pod's
 * peer. Protocol rules from (istio/ztunnel@62d82653:src/inpod/protocol.rs, statemanager.rs; istio
 * istio/istio@86c9f01f:cni/pkg/nodeagent/ztunnelserver.go). Runs as root; fails, never skips, without the
 * capabilities.
 */
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import type net from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import {
  connectInNetns,
  connectZdsProxy,
  createScratchNetns,
  createZdsNodeAgent,
  encodeZdsAck,
  encodeZdsHello,
  encodeZdsRequest,
  isSameNetns,
  listenInNetns,
  type NetnsHandle,
  openNetns,
  originalDestination,
  type ZdsNodeAgent,
  type ZdsNodeAgentEvent,
  type ZdsProxyConnection,
} from '../src/index.js';
import { SeqpacketServer, SeqpacketSocket } from '../src/native/seqpacket.js';
import { closeAll, nextConnection } from './support/net-helpers.js';
import { requirePrivileges, sharedTopology, type Topology } from './support/topology.js';

beforeAll(() => requirePrivileges());

const WORKLOAD = { name: 'reviews-v1-7d9f', namespace: 'bookinfo', serviceAccount: 'bookinfo-reviews' };

describe('ZDS node agent and proxy', () => {
  let dir: string;
  let path: string;
  let topo: Topology;
  let agent: ZdsNodeAgent | undefined;
  let proxy: ZdsProxyConnection | undefined;
  const handles: NetnsHandle[] = [];
  const servers: net.Server[] = [];
  const events: ZdsNodeAgentEvent[] = [];

  const shared = sharedTopology();
  beforeAll(() => {
    topo = shared.create();
  });
  afterAll(() => shared.destroy());
  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), 'ambient-zds-'));
    path = join(dir, 'ztunnel.sock');
    events.length = 0;
  });
  afterEach(async () => {
    proxy?.close();
    await agent?.close();
    proxy = undefined;
    agent = undefined;
    await closeAll(servers.splice(0));
    for (const h of handles.splice(0)) h.close();
    shared.restore();
    rmSync(dir, { recursive: true, force: true });
  });

  it('passes a real namespace fd; the proxy listens inside the pod; add, keep, delete, snapshot-sent, ack', async () => {
    const podNetns = openNetns(topo.pod.path);
    handles.push(podNetns);
    agent = createZdsNodeAgent({
      path,
      // One pod with its netns, one whose netns is gone (sent as KeepWorkload).
      snapshot: () => [{ uid: 'uid-a', workloadInfo: WORKLOAD, netns: podNetns }, { uid: 'uid-kept' }],
      onEvent: (e) => events.push(e),
    });

    const received: { uid: string; info: unknown; same: boolean }[] = [];
    const deleted: string[] = [];
    let snapshotSeen: ReadonlySet<string> | undefined;
    let snapshotDone!: () => void;
    const snapshot = new Promise<void>((resolve) => {
      snapshotDone = resolve;
    });
    const listeners = new Map<string, net.Server>();
    proxy = await connectZdsProxy({
      path,
      handlers: {
        addWorkload: async ({ uid, workloadInfo, netns }) => {
          if (uid === 'uid-refused') throw new Error('proxy could not start for this pod');
          received.push({ uid, info: workloadInfo, same: isSameNetns(netns, podNetns) });
          // ztunnel's in-pod HBONE listener, opened through the received descriptor.
          const server = await listenInNetns(netns, { port: 15008, transparent: true, mark: 0x539 });
          servers.push(server);
          listeners.set(uid, server);
          netns.close();
        },
        keepWorkload: (uid) => {
          received.push({ uid, info: 'kept', same: false });
        },
        deleteWorkload: (uid) => {
          deleted.push(uid);
          listeners.get(uid)?.close();
        },
        snapshotSent: (seen) => {
          snapshotSeen = seen;
          snapshotDone();
        },
      },
    });
    await snapshot;
    await expect.poll(() => events.map((e) => e.type)).toContain('snapshot-acked');
    expect(proxy.snapshotReceived).toBe(true);
    expect(received).toEqual([
      { uid: 'uid-a', info: WORKLOAD, same: true },
      { uid: 'uid-kept', info: 'kept', same: false },
    ]);
    expect([...(snapshotSeen ?? [])]).toEqual(['uid-a', 'uid-kept']);
    expect(events[0]).toEqual({ type: 'connected', connectionId: 1, version: 1 });
    expect(agent.connectionCount).toBe(1);

    // The listener really is in the pod: the pod's peer reaches it at the pod's address.
    const hbone = listeners.get('uid-a') as net.Server;
    const accepted = nextConnection(hbone);
    const client = await connectInNetns(topo.peer.path, { host: topo.pod.ipv4, port: 15008 });
    const socket = await accepted;
    expect(originalDestination(socket)).toMatchObject({ address: topo.pod.ipv4, port: 15008 });
    client.destroy();
    socket.destroy();

    // An update after the snapshot: a second pod (a fresh namespace) goes to the latest connection.
    const second = createScratchNetns();
    handles.push(second);
    await agent.addWorkload({ uid: 'uid-b', workloadInfo: WORKLOAD, netns: second });
    expect(received.at(-1)).toMatchObject({ uid: 'uid-b', same: false });

    // A handler failure is a NACK with the proxy's message; the connection stays up.
    await expect(agent.addWorkload({ uid: 'uid-refused', netns: second })).rejects.toMatchObject({
      code: 'REDIRECT_ERR_ZDS_NACK',
      message: expect.stringContaining('proxy could not start for this pod'),
    });
    expect(agent.connectionCount).toBe(1);

    await agent.deleteWorkload('uid-a');
    expect(deleted).toEqual(['uid-a']);

    await agent.close();
    expect(existsSync(path)).toBe(false);
    expect(await proxy.closed).toEqual({});
  });

  it('rejects updates with no proxy connected, and a proxy with no agent', async () => {
    agent = createZdsNodeAgent({ path, snapshot: () => [] });
    const netns = createScratchNetns();
    handles.push(netns);
    await expect(agent.addWorkload({ uid: 'x', netns })).rejects.toMatchObject({
      code: 'REDIRECT_ERR_ZDS_NO_CONNECTION',
    });
    await expect(agent.deleteWorkload('x')).resolves.toBeUndefined();
    await expect(
      connectZdsProxy({
        path: join(dir, 'nobody.sock'),
        handlers: { addWorkload: () => {}, deleteWorkload: () => {} },
      }),
    ).rejects.toMatchObject({ code: 'REDIRECT_ERR_CONNECT' });
  });

  it('agent: a proxy that never acks is dropped after the ack timeout; one that speaks out of turn too', async () => {
    agent = createZdsNodeAgent({
      path,
      ackTimeoutMs: 200,
      snapshot: () => [{ uid: 'uid-a' }],
      onEvent: (e) => events.push(e),
    });
    const silent = SeqpacketSocket.connect(path);
    await silent.send(encodeZdsHello());
    const keep = await silent.receive();
    expect(keep.data).toEqual(encodeZdsRequest({ type: 'keep', uid: 'uid-a' }));
    await expect
      .poll(() => events.find((e) => e.type === 'disconnected'))
      .toMatchObject({
        error: { code: 'REDIRECT_ERR_ZDS_ACK_TIMEOUT' },
      });
    silent.close();

    events.length = 0;
    const chatty = SeqpacketSocket.connect(path);
    await chatty.send(encodeZdsHello());
    await chatty.receive();
    await chatty.send(encodeZdsAck());
    await chatty.receive(); // SnapshotSent
    await chatty.send(encodeZdsAck());
    await chatty.send(encodeZdsAck()); // nobody asked
    await expect
      .poll(() => events.find((e) => e.type === 'disconnected'))
      .toMatchObject({
        error: { code: 'REDIRECT_ERR_ZDS_PROTOCOL' },
      });
    chatty.close();
  });

  it('proxy: NACKs and disconnects on KeepWorkload after the snapshot and on a missing descriptor', async () => {
    const server = SeqpacketServer.listen(path);
    try {
      const handlers = { addWorkload: () => {}, deleteWorkload: () => {} };
      // KeepWorkload after SnapshotSent (ztunnel statemanager.rs).
      let accepting = server.accept();
      proxy = await connectZdsProxy({ path, handlers });
      let agentSide = await accepting;
      expect((await agentSide.receive()).data).toEqual(encodeZdsHello());
      await agentSide.send(encodeZdsRequest({ type: 'snapshot-sent' }));
      expect((await agentSide.receive()).data).toEqual(encodeZdsAck());
      await agentSide.send(encodeZdsRequest({ type: 'keep', uid: 'late' }));
      expect((await agentSide.receive()).data).toEqual(encodeZdsAck('KeepWorkload after SnapshotSent'));
      expect(await proxy.closed).toMatchObject({ error: { code: 'REDIRECT_ERR_ZDS_PROTOCOL' } });
      agentSide.close();

      // AddWorkload without its descriptor (ztunnel protocol.rs: exactly one).
      accepting = server.accept();
      proxy = await connectZdsProxy({ path, handlers });
      agentSide = await accepting;
      await agentSide.receive();
      await agentSide.send(encodeZdsRequest({ type: 'add', uid: 'no-fd' }));
      const nack = await agentSide.receive();
      expect(nack.data).not.toEqual(encodeZdsAck());
      expect(await proxy.closed).toMatchObject({ error: { code: 'REDIRECT_ERR_ZDS_FD' } });
      agentSide.close();
    } finally {
      server.close();
    }
  });
});
