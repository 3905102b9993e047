/**
 * In-pod mode's pods, taken from the node agent over ZDS as ztunnel takes them
 * (istio/ztunnel@62d82653:src/inpod/workloadmanager.rs, statemanager.rs):
 *
 * - the connection is kept up for good (`runZdsProxy`): connect failures and disconnects are logged at warn
 *   with the reason and retried with ztunnel's backoff; every new connection gets the agent's snapshot;
 * - `AddWorkload` names a pod by its Kubernetes UID and describes it by name, namespace and service account;
 *   the workload is found by that description (`find_by_info`), waiting up to 5 s for it to arrive over xDS
 *   (`istio/ztunnel@62d82653:src/proxy.rs`, the workload fetch timeout);
 * - the same pod with the same network namespace again (a replayed snapshot) changes nothing; a different
 *   namespace replaces the pod's proxy (statemanager.rs `add_workload`);
 * - a pod that cannot be started is NACKed and retried every 5 s (`RETRY_DURATION`) until it starts or is
 *   deleted; the connection stays up;
 * - `SnapshotSent` stops every pod the snapshot did not mention; `DelWorkload` stops one.
 *
 * The in-pod mode is ready (`pending()` is empty of `zds`) once a snapshot arrived and nothing is pending.
 * @module
 */
import {
  isSameNetns,
  type NetnsHandle,
  openNetns,
  runZdsProxy,
  type ZdsProxyRunner,
  type ZdsWorkloadInfo,
} from '@ambient-kit/redirect';
import type { Workload, WorkloadStore } from '@ambient-kit/workload-api';
import type { LogLevel, LogValue } from './logger.js';

/** ztunnel's retry period for pods that failed to start (`RETRY_DURATION`). */
export const INPOD_RETRY_MS = 5000;
/**
 * How long an `AddWorkload` waits for its workload to arrive over xDS before it is NACKed (and retried). Below
 * istio-cni's 5 s wait for each ack (`readWriteDeadline`), so a slow xDS never costs the ZDS connection.
 */
export const WORKLOAD_WAIT_MS = 3000;

/** What the ZDS side drives in the ztunnel. */
export interface InpodZdsTarget {
  readonly store: WorkloadStore;
  /** Starts serving a workload in a namespace (the handle becomes the ztunnel's). */
  start(workloadUid: string, netns: NetnsHandle): Promise<void>;
  /** Stops serving a workload. */
  stop(workloadUid: string): Promise<void>;
  /** The namespace a workload is served in, if it is. */
  servedNetns(workloadUid: string): NetnsHandle | undefined;
  readonly log: (level: LogLevel, message: string, fields?: [string, LogValue | undefined][]) => void;
}

/** The ZDS side of a ztunnel. */
export interface InpodZds {
  /** What readiness waits for: `zds` until a snapshot arrived, and each pod that failed to start. */
  pending(): string[];
  /** Pods by Kubernetes UID: the workload serving each, or the error it is pending with. */
  pods(): ReadonlyMap<string, { readonly workloadUid?: string; readonly pending?: string }>;
  /** Waits for the current connection's snapshot. */
  waitForSnapshot(timeoutMs?: number): Promise<void>;
  close(): Promise<void>;
}

interface PendingPod {
  readonly info: ZdsWorkloadInfo | undefined;
  readonly netns: NetnsHandle;
  error: string;
}

function waitForWorkload(
  store: WorkloadStore,
  info: ZdsWorkloadInfo,
  timeoutMs: number,
): Promise<Workload | undefined> {
  const now = store.workloadByInfo(info);
  if (now !== undefined) return Promise.resolve(now);
  return new Promise((resolve) => {
    const off = store.on('change', () => {
      const found = store.workloadByInfo(info);
      if (found === undefined) return;
      clearTimeout(timer);
      off();
      resolve(found);
    });
    const timer = setTimeout(() => {
      off();
      resolve(undefined);
    }, timeoutMs);
  });
}

/**
 * Connects the ztunnel's in-pod mode to the node agent.
 *
 * @param target - The ztunnel's store and its start/stop of in-pod workloads.
 * @param path - The ZDS socket (`/var/run/ztunnel/ztunnel.sock`).
 * @returns The running ZDS side.
 * @example
 * ```ts
 * const zds = startInpodZds({ store, start, stop, servedNetns, log }, '/var/run/ztunnel/ztunnel.sock');
 * await zds.waitForSnapshot();
 * ```
 */
export function startInpodZds(target: InpodZdsTarget, path: string): InpodZds {
  const { store, log } = target;
  /** Pod UID -> workload uid, for the pods being served. */
  const served = new Map<string, string>();
  const pending = new Map<string, PendingPod>();
  let closed = false;

  /** Starts a pod, or throws why it could not (the caller NACKs and keeps it pending). */
  async function startPod(uid: string, info: ZdsWorkloadInfo | undefined, netns: NetnsHandle): Promise<void> {
    if (info === undefined) throw new Error(`pod ${uid}: AddWorkload without workload info`);
    const workload = await waitForWorkload(store, info, WORKLOAD_WAIT_MS);
    if (workload === undefined) {
      throw new Error(
        `no workload for pod ${info.namespace}/${info.name} (service account ${info.serviceAccount}) on this node after ${WORKLOAD_WAIT_MS} ms`,
      );
    }
    const current = target.servedNetns(workload.uid);
    if (served.get(uid) === workload.uid && current !== undefined && isSameNetns(current, netns)) {
      // A replayed snapshot: same pod, same namespace. Nothing to do (statemanager.rs).
      netns.close();
      return;
    }
    await target.start(workload.uid, netns);
    served.set(uid, workload.uid);
  }

  async function stopPod(uid: string): Promise<void> {
    const p = pending.get(uid);
    pending.delete(uid);
    p?.netns.close();
    const workloadUid = served.get(uid);
    served.delete(uid);
    if (workloadUid !== undefined) await target.stop(workloadUid);
  }

  let retrying = false;
  const retryPending = (): void => {
    if (retrying || closed) return;
    retrying = true;
    void Promise.all([...pending].map(([uid, p]) => retryOne(uid, p))).finally(() => {
      retrying = false;
    });
  };
  const retry = setInterval(retryPending, INPOD_RETRY_MS);
  retry.unref();
  // A pod waiting for its workload starts as soon as the workload arrives, not at the next tick.
  const offStore = store.on('change', () => {
    for (const p of pending.values()) {
      if (p.info !== undefined && store.workloadByInfo(p.info) !== undefined) return retryPending();
    }
  });

  function retryOne(uid: string, p: PendingPod): Promise<void> {
    return startPod(uid, p.info, p.netns).then(
      () => {
        if (pending.get(uid) !== p) return;
        pending.delete(uid);
        log('info', 'pod started after retry', [['uid', uid]]);
      },
      (error: unknown) => {
        p.error = (error as Error).message;
      },
    );
  }

  let everConnected = false;
  const runner: ZdsProxyRunner = runZdsProxy({
    path,
    onEvent(event) {
      switch (event.type) {
        case 'connect-failed':
          log('warn', 'failed to connect to the node agent (is it running?), retrying', [
            ['uds', path],
            ['error', event.error.message],
            ['retry_ms', event.retryInMs],
          ]);
          break;
        case 'connected':
          log(
            event.reconnect ? 'warn' : 'info',
            event.reconnect ? 'reconnected to the node agent' : 'connected to the node agent',
            [['uds', path]],
          );
          everConnected = true;
          break;
        case 'snapshot-received':
          log('info', 'received the node agent snapshot', [['pods', served.size]]);
          break;
        case 'disconnected':
          log('warn', 'node agent connection lost, reconnecting', [
            ['uds', path],
            ['error', event.error?.message ?? 'the node agent closed the connection'],
            ['retry_ms', event.retryInMs],
          ]);
          break;
      }
    },
    handlers: {
      async addWorkload({ uid, workloadInfo, netns }) {
        const old = pending.get(uid);
        if (old !== undefined) {
          pending.delete(uid);
          old.netns.close();
        }
        try {
          await startPod(uid, workloadInfo, netns);
        } catch (error) {
          // NACK now, retry every 5 s (workloadmanager.rs): the handle stays with the pending pod.
          const message = (error as Error).message;
          // The handler's handle is closed with the NACK; the retry keeps its own on the same namespace.
          const kept = openNetns(`/proc/self/fd/${netns.fd}`);
          pending.set(uid, { info: workloadInfo, netns: kept, error: message });
          log('warn', 'pod failed to start, will retry', [
            ['uid', uid],
            ['error', message],
          ]);
          throw error;
        }
      },
      keepWorkload(uid) {
        log('info', 'keeping pod the node agent cannot reopen', [['uid', uid]]);
      },
      async deleteWorkload(uid) {
        await stopPod(uid);
      },
      async snapshotSent(seen) {
        for (const uid of [...served.keys(), ...pending.keys()]) if (!seen.has(uid)) await stopPod(uid);
      },
    },
  });

  return {
    pending() {
      const out: string[] = [];
      if (!runner.snapshotReceived)
        out.push(everConnected ? 'zds (no snapshot yet)' : 'zds (node agent not connected)');
      for (const [uid, p] of pending) out.push(`pod ${uid} (${p.error})`);
      return out;
    },
    pods() {
      const out = new Map<string, { workloadUid?: string; pending?: string }>();
      for (const [uid, workloadUid] of served) out.set(uid, { workloadUid });
      for (const [uid, p] of pending) out.set(uid, { pending: p.error });
      return out;
    },
    waitForSnapshot: (timeoutMs) =>
      runner.waitForSnapshot(timeoutMs === undefined ? undefined : { timeoutMs }),
    async close() {
      closed = true;
      clearInterval(retry);
      offStore();
      await runner.close();
      for (const p of pending.values()) p.netns.close();
      pending.clear();
    },
  };
}
