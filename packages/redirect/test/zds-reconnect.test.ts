/**
 * The proxy's ZDS loop (`runZdsProxy`) over a real SOCK_SEQPACKET socket with real namespace descriptors:
 * it waits for an agent that is not there yet (ztunnel's connect backoff), takes the snapshot, and when the
 * agent restarts it reconnects by itself and takes the new agent's snapshot; a proxy that restarts is
 * replayed the snapshot by the agent. Before `runZdsProxy` a proxy stayed disconnected after the agent
 * restarted (`connectZdsProxy` is one connection). Privileged (namespace descriptors).
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import {
  createScratchNetns,
  createZdsNodeAgent,
  isSameNetns,
  type NetnsHandle,
  runZdsProxy,
  type ZdsNodeAgent,
  type ZdsPod,
  type ZdsProxyRunner,
  type ZdsProxyRunnerEvent,
} from '../src/index.js';
import { requirePrivileges } from './support/topology.js';

beforeAll(() => requirePrivileges());

const INFO = { name: 'echo-1', namespace: 'default', serviceAccount: 'echo' };

describe('runZdsProxy', () => {
  let dir: string;
  let path: string;
  const agents: ZdsNodeAgent[] = [];
  const runners: ZdsProxyRunner[] = [];
  const handles: NetnsHandle[] = [];

  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), 'ambient-zds-reconnect-'));
    path = join(dir, 'ztunnel.sock');
  });
  afterEach(async () => {
    for (const r of runners.splice(0)) await r.close();
    for (const a of agents.splice(0)) await a.close();
    for (const h of handles.splice(0)) h.close();
    rmSync(dir, { recursive: true, force: true });
  });

  /** A proxy that records what it serves, as ztunnel's state manager would. */
  function proxy(events: ZdsProxyRunnerEvent[]) {
    const serving = new Map<string, NetnsHandle>();
    const log: string[] = [];
    const runner = runZdsProxy({
      path,
      initialBackoffMs: 5,
      maxBackoffMs: 50,
      onEvent: (e) => events.push(e),
      handlers: {
        addWorkload: ({ uid, netns }) => {
          const old = serving.get(uid);
          // ztunnel: the same netns again is a no-op (statemanager.rs); keep the handle we have.
          if (old !== undefined && isSameNetns(old, netns)) {
            netns.close();
            log.push(`same ${uid}`);
            return;
          }
          old?.close();
          serving.set(uid, netns);
          log.push(`add ${uid}`);
        },
        deleteWorkload: (uid) => {
          serving.get(uid)?.close();
          serving.delete(uid);
          log.push(`del ${uid}`);
        },
        snapshotSent: (seen) => {
          // ztunnel drains what the snapshot did not mention.
          for (const [uid, netns] of serving)
            if (!seen.has(uid)) {
              netns.close();
              serving.delete(uid);
              log.push(`drain ${uid}`);
            }
          log.push('snapshot');
        },
      },
    });
    runners.push(runner);
    return { runner, serving, log };
  }

  it('waits for an agent, then reconnects after the agent restarts and takes its new snapshot', async () => {
    const events: ZdsProxyRunnerEvent[] = [];
    const { runner, serving, log } = proxy(events);
    // No agent yet: connect failures, each with the next delay, doubling up to the cap.
    await expect
      .poll(() => events.filter((e) => e.type === 'connect-failed').length)
      .toBeGreaterThanOrEqual(3);
    const failures = events.filter((e) => e.type === 'connect-failed');
    expect(failures[0]).toMatchObject({ error: { code: 'REDIRECT_ERR_CONNECT' }, retryInMs: 10 });
    expect(failures[0]?.type === 'connect-failed' && failures[0].error.message).toContain(path);
    expect(failures.every((e) => e.type === 'connect-failed' && e.retryInMs <= 50)).toBe(true);
    expect(runner.connected).toBe(false);

    const a = createScratchNetns();
    const b = createScratchNetns();
    handles.push(a, b);
    let pods: ZdsPod[] = [
      { uid: 'pod-a', workloadInfo: INFO, netns: a },
      { uid: 'pod-b', workloadInfo: INFO, netns: b },
    ];
    agents.push(createZdsNodeAgent({ path, snapshot: () => pods }));
    await runner.waitForSnapshot({ timeoutMs: 5000 });
    expect(runner.connected).toBe(true);
    expect([...serving.keys()].sort()).toEqual(['pod-a', 'pod-b']);
    expect(events.find((e) => e.type === 'connected')).toMatchObject({ reconnect: false });

    // The agent restarts (a new process would bind the same path); pod-b left meanwhile.
    await agents.shift()?.close();
    await expect.poll(() => runner.connected).toBe(false);
    expect(events.some((e) => e.type === 'disconnected')).toBe(true);
    pods = [{ uid: 'pod-a', workloadInfo: INFO, netns: a }];
    log.length = 0;
    agents.push(createZdsNodeAgent({ path, snapshot: () => pods }));
    await runner.waitForSnapshot({ timeoutMs: 5000 });
    expect(events.filter((e) => e.type === 'connected').at(-1)).toMatchObject({ reconnect: true });
    // pod-a was replayed (same netns: kept as is), pod-b drained by the snapshot.
    expect(log).toEqual(['same pod-a', 'drain pod-b', 'snapshot']);
    expect([...serving.keys()]).toEqual(['pod-a']);

    // Updates flow on the new connection.
    await agents[0]?.deleteWorkload('pod-a');
    expect(serving.size).toBe(0);
  });

  it('a proxy that restarts is replayed the snapshot by the agent', async () => {
    const a = createScratchNetns();
    handles.push(a);
    const snapshots: number[] = [];
    const agent = createZdsNodeAgent({
      path,
      snapshot: () => [{ uid: 'pod-a', workloadInfo: INFO, netns: a }],
      onEvent: (e) => {
        if (e.type === 'snapshot-acked') snapshots.push(e.connectionId);
      },
    });
    agents.push(agent);
    const first = proxy([]);
    await first.runner.waitForSnapshot();
    expect([...first.serving.keys()]).toEqual(['pod-a']);
    await first.runner.close();
    await expect.poll(() => agent.connectionCount).toBe(0);

    const second = proxy([]);
    await second.runner.waitForSnapshot();
    expect(second.log).toEqual(['add pod-a', 'snapshot']);
    expect(isSameNetns(second.serving.get('pod-a') as NetnsHandle, a)).toBe(true);
    await expect.poll(() => snapshots).toEqual([1, 2]);
  });

  it('close() stops the loop at once, also while waiting to retry', async () => {
    const events: ZdsProxyRunnerEvent[] = [];
    const { runner } = proxy(events);
    await expect.poll(() => events.length).toBeGreaterThan(0);
    const wait = runner.waitForSnapshot({ timeoutMs: 5000 });
    const started = performance.now();
    await runner.close();
    expect(performance.now() - started).toBeLessThan(500);
    await expect(wait).rejects.toMatchObject({ code: 'REDIRECT_ERR_ZDS_CLOSED' });
    const count = events.length;
    await new Promise((resolve) => setTimeout(resolve, 100));
    expect(events.length).toBe(count);
  });
});
