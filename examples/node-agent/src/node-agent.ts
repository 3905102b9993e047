/**
 * `createNodeAgent(config)`: istio-cni's node agent for one node, built on `@ambient-kit/redirect`
 * (istio/istio@86c9f01f:cni/pkg/nodeagent/net_linux.go, ztunnelserver.go,
 * §B). It keeps the node's pods in the mesh as the mesh file says, reloading it on every change:
 *
 * - **a pod joins** (`AddPodToMesh`, net_linux.go:113-151): its network namespace is opened and kept open, the
 *   in-pod rules are installed inside it (iptables, or nftables, with the options of istio-cni's Helm chart:
 *   DNS capture and IPv6 on), then the pod goes to the ztunnel over ZDS (`AddWorkload` with the namespace's
 *   descriptor) and the agent waits for the ack. No ztunnel connected: the pod is `pending` and goes out in
 *   the snapshot of the next ztunnel that connects;
 * - **a pod leaves** (`RemovePodFromMesh`, net_linux.go:161-190): its rules are removed, then `DelWorkload` goes
 *   to every ztunnel, and the namespace is let go;
 * - **a ztunnel (re)connects**: it gets the snapshot (every enrolled pod with its namespace, `KeepWorkload` for a
 *   pod whose namespace cannot be opened, then `SnapshotSent`), so a restarted ztunnel serves every pod again;
 * - **rules are idempotent**: an apply over rules already in place changes nothing (`applyInpodRedirect`);
 * - **a namespace that is missing or vanished** is reported (once per change) and the pod waits for it,
 *   retried every `retryIntervalMs`; nothing else is affected.
 * @module
 */
import { mkdirSync } from 'node:fs';
import { stat } from 'node:fs/promises';
import { dirname } from 'node:path';
import { type MeshFileWatcher, watchMeshFile } from '@ambient-kit/control-plane';
import {
  formatLogRecord,
  type LogLevel,
  type LogValue,
  nowMs,
  type ZtunnelLogger,
} from '@ambient-kit/example-ztunnel/logger';
import {
  applyInpodRedirect,
  createZdsNodeAgent,
  DEFAULT_ZDS_PATH,
  type IptablesVariant,
  type NetnsHandle,
  openNetns,
  RedirectError,
  removeInpodRedirect,
  type ZdsNodeAgent,
  type ZdsNodeAgentEvent,
  type ZdsPod,
} from '@ambient-kit/redirect';
import { createWorkloadStore } from '@ambient-kit/workload-api';
import { type MeshPod, meshPodsForNode } from './mesh-pods.js';

/** Where a pod is. */
export type PodState =
  /** Rules installed, handed to the ztunnel (or waiting for one: see `ztunnel`). */
  | 'enrolled'
  /** Its network namespace does not exist (yet, or any more). */
  | 'netns-missing'
  /** The rules could not be installed (retried). */
  | 'failed';

/** One pod of the node, as the agent sees it. */
export interface PodStatus {
  readonly uid: string;
  readonly name: string;
  readonly namespace: string;
  readonly netnsPath: string;
  readonly state: PodState;
  /**
   * The ZDS side, as istio-cni's `ambient.istio.io/redirection` annotation reads (istio/istio@86c9f01f:
   * cni/pkg/util/podutil.go): `accepted` (a ztunnel acked it: `enabled`), `pending` (rules in, no ztunnel yet:
   * `pending`), `refused` (the ztunnel NACKed it; it retries by itself).
   */
  readonly ztunnel?: 'accepted' | 'pending' | 'refused';
  /** Why it is not enrolled, or why the ztunnel refused it. */
  readonly error?: string;
}

/** Events of a node agent. */
export type NodeAgentEvent =
  | { readonly type: 'enrolled'; readonly pod: PodStatus; readonly rulesChanged: boolean }
  | { readonly type: 'removed'; readonly uid: string; readonly rulesRemoved: boolean }
  | { readonly type: 'netns-missing' | 'netns-vanished' | 'failed'; readonly pod: PodStatus }
  | { readonly type: 'zds'; readonly event: ZdsNodeAgentEvent }
  | { readonly type: 'mesh-error'; readonly error: Error };

/** Options of {@link createNodeAgent}. */
export interface NodeAgentConfig {
  /** The node (`NODE_NAME`): its pods are the mesh file's workloads with this `node`. */
  readonly nodeName: string;
  /** The mesh file (docs/control-plane.md "Mesh file format"), watched. */
  readonly meshFile: string;
  /** The ZDS socket. Default `/var/run/ztunnel/ztunnel.sock`. */
  readonly zdsPath?: string;
  /** Where pod network namespaces are, by pod name. Default `/var/run/netns` (istio-cni `cniNetnsDir`). */
  readonly netnsDir?: string;
  /** `iptables` (Helm `global.nativeNftables: false`, the default) or `nftables`. */
  readonly backend?: 'iptables' | 'nftables';
  /** Which iptables: `auto` (istio-cni's detection), `nft` or `legacy`. Default `auto`. */
  readonly iptablesVariant?: 'auto' | IptablesVariant;
  /** DNS capture (Helm `ambient.dnsCapture`, default `true`). */
  readonly redirectDns?: boolean;
  /** IPv6 rules (Helm `ambient.ipv6`, default `true`). */
  readonly enableIpv6?: boolean;
  /** How often pods waiting for their namespace (or after a failure) are retried. Default 500 ms. */
  readonly retryIntervalMs?: number;
  /** Wait for each ZDS ack. Default 5000 ms (istio-cni `readWriteDeadline`). */
  readonly ackTimeoutMs?: number;
  /** Log sink. Default: ztunnel-style lines on stdout. */
  readonly logger?: ZtunnelLogger;
  /** Events from the start (the first pass over the pods runs before `createNodeAgent` returns). */
  readonly onEvent?: (event: NodeAgentEvent) => void;
}

/** A running node agent. */
export interface NodeAgent {
  /** The ZDS socket it listens on. */
  readonly zdsPath: string;
  /** Connected ztunnels. */
  readonly ztunnelConnections: number;
  /** Every pod of the node in the mesh file, with its state. */
  pods(): PodStatus[];
  /** Subscribes to events; returns the unsubscribe function. */
  on(listener: (event: NodeAgentEvent) => void): () => void;
  /** Resolves once the pass in progress (and any it queued) is done. */
  settled(): Promise<void>;
  /**
   * Stops: closes the ZDS socket and lets go of the namespaces. Rules stay in the pods, as istio-cni leaves them
   * when its DaemonSet restarts (the next agent finds them in place and changes nothing).
   */
  close(): Promise<void>;
}

interface Enrolled {
  pod: MeshPod;
  netns: NetnsHandle;
  /** The iptables the rules went in with: removal looks only there. */
  iptablesVariant: IptablesVariant | undefined;
  ztunnel: 'accepted' | 'pending' | 'refused';
  error?: string;
}

interface Waiting {
  pod: MeshPod;
  state: 'netns-missing' | 'failed';
  error: string;
}

const workloadInfo = (pod: MeshPod) => ({
  name: pod.name,
  namespace: pod.namespace,
  serviceAccount: pod.serviceAccount,
});

/**
 * Starts a node agent: loads the mesh file, listens for ztunnels on the ZDS socket, enrolls the node's pods.
 *
 * @param config - Node, mesh file, ZDS socket, rule options.
 * @returns The agent, after the first pass over the pods.
 * @throws {ControlPlaneError} When the mesh file cannot be loaded.
 * @throws {RedirectError} `REDIRECT_ERR_SOCKET` when the ZDS socket cannot be created.
 * @example
 * ```ts
 * const agent = await createNodeAgent({ nodeName: 'node-a', meshFile: '/etc/mesh/mesh.yaml' });
 * agent.on((e) => e.type === 'enrolled' && console.log(`${e.pod.name} is in the mesh`));
 * ```
 */
export async function createNodeAgent(config: NodeAgentConfig): Promise<NodeAgent> {
  if (config.nodeName === '') throw new TypeError('createNodeAgent: "nodeName" must be a non-empty string');
  const netnsDir = config.netnsDir ?? '/var/run/netns';
  const backend = config.backend ?? 'iptables';
  const retryIntervalMs = config.retryIntervalMs ?? 500;
  const ruleOptions = {
    backend,
    redirectDns: config.redirectDns ?? true,
    enableIpv6: config.enableIpv6 ?? true,
    ...(config.iptablesVariant === undefined ? {} : { iptablesVariant: config.iptablesVariant }),
  } as const;
  const logger: ZtunnelLogger =
    config.logger ?? ((record) => process.stdout.write(`${formatLogRecord(record)}\n`));
  const log = (level: LogLevel, message: string, fields: [string, LogValue | undefined][] = []): void =>
    logger({ timeMs: nowMs(), level, target: 'cni', message, fields });
  const listeners = new Set<(event: NodeAgentEvent) => void>();
  if (config.onEvent !== undefined) listeners.add(config.onEvent);
  const emit = (event: NodeAgentEvent): void => {
    for (const listener of listeners) {
      try {
        listener(event);
      } catch {
        // An observer's bug must not stop the agent.
      }
    }
  };

  const enrolled = new Map<string, Enrolled>();
  const waiting = new Map<string, Waiting>();
  let desired = new Map<string, MeshPod>();
  let reportedProblems = new Set<string>();
  let closed = false;

  // Only the workloads matter here; Kubernetes kinds for other components (routes, DestinationRules) are skipped.
  const meshWatcher: MeshFileWatcher = await watchMeshFile({
    path: config.meshFile,
    store: createWorkloadStore(),
    skipUnsupportedKinds: true,
  });

  // Listening starts only after the first pass (istio-cni: `ConstructInitialSnapshot` before `Start`,
  // net_linux.go:53-82): a ztunnel that connects at once must get every pod, or it would drain the ones the
  // snapshot lacks and take them back a moment later.
  let zds: ZdsNodeAgent | undefined;
  const zdsPath = config.zdsPath ?? DEFAULT_ZDS_PATH;
  const listen = (): ZdsNodeAgent => {
    // istio-cni's DaemonSet mounts the hostPath directory with `DirectoryOrCreate`; so does this.
    mkdirSync(dirname(zdsPath), { recursive: true, mode: 0o755 });
    return createZdsNodeAgent({
      path: zdsPath,
      ...(config.ackTimeoutMs === undefined ? {} : { ackTimeoutMs: config.ackTimeoutMs }),
      // The snapshot for a (re)connecting ztunnel (ztunnelserver.go:265-319): every enrolled pod with its
      // namespace; a pod of the node whose namespace cannot be opened is kept (KeepWorkload).
      // Pods go in the mesh file's order (pods are enrolled concurrently, so the enrolment order varies).
      snapshot: () => {
        const pods: ZdsPod[] = [];
        for (const uid of desired.keys()) {
          const e = enrolled.get(uid);
          if (e !== undefined) pods.push({ uid, workloadInfo: workloadInfo(e.pod), netns: e.netns });
          else if (waiting.get(uid)?.state === 'netns-missing') pods.push({ uid });
        }
        return pods;
      },
      onEvent: (event) => {
        emit({ type: 'zds', event });
        switch (event.type) {
          case 'connected':
            log('info', 'ztunnel connected, sending snapshot', [
              ['connection', event.connectionId],
              ['pods', enrolled.size],
            ]);
            break;
          case 'snapshot-acked':
            for (const e of enrolled.values()) if (e.ztunnel !== 'refused') e.ztunnel = 'accepted';
            log('info', 'ztunnel acked the snapshot', [['connection', event.connectionId]]);
            break;
          case 'nack': {
            const uid = 'uid' in event.request ? event.request.uid : undefined;
            const e = uid === undefined ? undefined : enrolled.get(uid);
            if (e !== undefined) {
              e.ztunnel = 'refused';
              e.error = event.error;
            }
            log('warn', 'ztunnel refused', [
              ['request', event.request.type],
              ['uid', uid],
              ['error', event.error],
            ]);
            break;
          }
          case 'disconnected':
            // A ztunnel closing its end (a restart, an upgrade) is routine; anything else is worth a warning.
            log(
              event.error === undefined || event.error.code === 'REDIRECT_ERR_ZDS_CLOSED' ? 'info' : 'warn',
              'ztunnel disconnected',
              [
                ['connection', event.connectionId],
                ['error', event.error?.message],
              ],
            );
            break;
        }
      },
    });
  };

  function status(uid: string): PodStatus | undefined {
    const e = enrolled.get(uid);
    if (e !== undefined) {
      return {
        uid,
        name: e.pod.name,
        namespace: e.pod.namespace,
        netnsPath: e.pod.netnsPath,
        state: 'enrolled',
        ztunnel: e.ztunnel,
        ...(e.error === undefined ? {} : { error: e.error }),
      };
    }
    const w = waiting.get(uid);
    if (w === undefined) return undefined;
    return {
      uid,
      name: w.pod.name,
      namespace: w.pod.namespace,
      netnsPath: w.pod.netnsPath,
      state: w.state,
      error: w.error,
    };
  }

  /** Sends the pod to the latest ztunnel; `pending` when there is none (the next snapshot carries it). */
  async function sendToZtunnel(e: Enrolled): Promise<void> {
    if (zds === undefined || zds.connectionCount === 0) {
      e.ztunnel = 'pending';
      return;
    }
    try {
      await zds.addWorkload({ uid: e.pod.uid, workloadInfo: workloadInfo(e.pod), netns: e.netns });
      e.ztunnel = 'accepted';
      delete e.error;
    } catch (error) {
      if (error instanceof RedirectError && error.code === 'REDIRECT_ERR_ZDS_NACK') {
        e.ztunnel = 'refused';
        e.error = error.message;
      } else {
        // Gone mid-send (ack timeout, disconnect): the next snapshot carries the pod.
        e.ztunnel = 'pending';
        log('warn', 'could not hand the pod to the ztunnel, it goes in the next snapshot', [
          ['pod', `${e.pod.namespace}/${e.pod.name}`],
          ['error', (error as Error).message],
        ]);
      }
    }
  }

  function wait(pod: MeshPod, state: Waiting['state'], error: string, vanished = false): void {
    const before = waiting.get(pod.uid);
    waiting.set(pod.uid, { pod, state, error });
    // Reported once per change of state, not on every retry.
    if (before?.state === state) return;
    const what = vanished ? 'netns-vanished' : state;
    log(
      state === 'failed' ? 'error' : 'warn',
      vanished
        ? 'pod network namespace vanished'
        : state === 'failed'
          ? 'pod could not be added to the mesh'
          : 'pod network namespace not found, waiting for it',
      [
        ['pod', `${pod.namespace}/${pod.name}`],
        ['netns', pod.netnsPath],
        ['error', error],
      ],
    );
    emit({ type: what, pod: status(pod.uid) as PodStatus });
  }

  /** `AddPodToMesh`: namespace, rules, then the ztunnel. */
  async function enroll(pod: MeshPod): Promise<void> {
    let netns: NetnsHandle;
    try {
      netns = openNetns(pod.netnsPath);
    } catch (error) {
      wait(pod, 'netns-missing', (error as Error).message);
      return;
    }
    let rulesChanged: boolean;
    let iptablesVariant: IptablesVariant | undefined;
    try {
      const applied = await applyInpodRedirect({ netns, ...ruleOptions });
      rulesChanged = applied.changed;
      iptablesVariant = applied.inspection.iptablesVariant;
    } catch (error) {
      netns.close();
      wait(pod, 'failed', (error as Error).message);
      return;
    }
    waiting.delete(pod.uid);
    const e: Enrolled = { pod, netns, iptablesVariant, ztunnel: 'pending' };
    enrolled.set(pod.uid, e);
    await sendToZtunnel(e);
    log('info', 'pod added to the mesh', [
      ['pod', `${pod.namespace}/${pod.name}`],
      ['netns', pod.netnsPath],
      ['rules', rulesChanged ? 'installed' : 'already in place'],
      ['ztunnel', e.ztunnel],
      ['error', e.error],
    ]);
    emit({ type: 'enrolled', pod: status(pod.uid) as PodStatus, rulesChanged });
  }

  /** `RemovePodFromMesh`: rules out (while the pod still runs), then `DelWorkload` to every ztunnel. */
  async function remove(uid: string, podStillRuns: boolean): Promise<void> {
    const e = enrolled.get(uid);
    waiting.delete(uid);
    if (e === undefined) return;
    enrolled.delete(uid);
    let rulesRemoved = false;
    if (podStillRuns) {
      try {
        const variant =
          e.iptablesVariant ?? (config.iptablesVariant === 'auto' ? undefined : config.iptablesVariant);
        rulesRemoved = (
          await removeInpodRedirect({
            netns: e.netns,
            backend,
            ...(variant === undefined ? {} : { iptablesVariant: variant }),
          })
        ).changed;
      } catch (error) {
        log('error', 'failed to remove the pod rules', [
          ['pod', `${e.pod.namespace}/${e.pod.name}`],
          ['error', (error as Error).message],
        ]);
      }
    }
    try {
      await zds?.deleteWorkload(uid);
    } catch (error) {
      log('warn', 'failed to remove the pod from a ztunnel', [
        ['pod', `${e.pod.namespace}/${e.pod.name}`],
        ['error', (error as Error).message],
      ]);
    }
    e.netns.close();
    if (podStillRuns) {
      log('info', 'pod removed from the mesh', [
        ['pod', `${e.pod.namespace}/${e.pod.name}`],
        ['rules', rulesRemoved ? 'removed' : 'none found'],
      ]);
    } else {
      log('info', 'pod gone with its network namespace, the ztunnel let go of it', [
        ['pod', `${e.pod.namespace}/${e.pod.name}`],
      ]);
    }
    emit({ type: 'removed', uid, rulesRemoved });
  }

  /** Whether the path still names the namespace we hold (a pod deleted and recreated gets a new one). */
  async function stillThere(e: Enrolled): Promise<boolean> {
    try {
      const s = await stat(e.pod.netnsPath, { bigint: true });
      return s.ino === BigInt(e.netns.inode) && s.dev === BigInt(e.netns.device);
    } catch {
      return false;
    }
  }

  async function pass(): Promise<void> {
    if (closed) return;
    const { pods, problems } = meshPodsForNode(meshWatcher.current().workloads, config.nodeName, netnsDir);
    for (const p of problems) if (!reportedProblems.has(p)) log('warn', p);
    reportedProblems = new Set(problems);
    desired = new Map(pods.map((p) => [p.uid, p]));
    // Left the mesh, or changed where it lives or who it is.
    for (const [uid, e] of [...enrolled]) {
      const want = desired.get(uid);
      const same =
        want !== undefined &&
        want.netnsPath === e.pod.netnsPath &&
        want.name === e.pod.name &&
        want.namespace === e.pod.namespace &&
        want.serviceAccount === e.pod.serviceAccount;
      if (!same) await remove(uid, true);
    }
    for (const uid of [...waiting.keys()]) if (!desired.has(uid)) waiting.delete(uid);
    // Namespaces that vanished under an enrolled pod: the pod is gone; the ztunnel lets go of it.
    for (const e of [...enrolled.values()]) {
      if (await stillThere(e)) continue;
      await remove(e.pod.uid, false);
      wait(e.pod, 'netns-missing', `${e.pod.netnsPath} no longer names the pod's network namespace`, true);
    }
    // Joined (or waiting): enroll, pods in parallel (each namespace has its own lock).
    await Promise.all([...desired.values()].filter((p) => !enrolled.has(p.uid)).map((p) => enroll(p)));
  }

  let chain: Promise<void> = Promise.resolve();
  let queued = false;
  const schedule = (): Promise<void> => {
    if (queued) return chain;
    queued = true;
    chain = chain.then(() => {
      queued = false;
      return pass();
    });
    chain = chain.catch((error: unknown) => {
      log('error', 'pass over the pods failed', [['error', (error as Error).message]]);
    });
    return chain;
  };

  const offLoaded = meshWatcher.on('loaded', () => void schedule());
  const offError = meshWatcher.on('error', (error) => {
    log('warn', 'mesh file rejected, keeping the last good one', [['error', error.message]]);
    emit({ type: 'mesh-error', error });
  });
  const retry = setInterval(() => {
    if (waiting.size > 0 || enrolled.size > 0) void schedule();
  }, retryIntervalMs);

  await schedule();
  try {
    zds = listen();
  } catch (error) {
    clearInterval(retry);
    offLoaded();
    offError();
    await meshWatcher.close();
    for (const e of enrolled.values()) e.netns.close();
    throw error;
  }
  log('info', 'node agent started', [
    ['node', config.nodeName],
    ['zds', zds.path],
    ['mesh', meshWatcher.path],
    ['netns_dir', netnsDir],
    ['backend', backend],
    ['dns_capture', ruleOptions.redirectDns],
    ['ipv6', ruleOptions.enableIpv6],
    ['pods', enrolled.size],
  ]);
  const server = zds;

  return {
    zdsPath: server.path,
    get ztunnelConnections() {
      return server.connectionCount;
    },
    pods: () => [...desired.keys()].map((uid) => status(uid)).filter((s): s is PodStatus => s !== undefined),
    on(listener) {
      listeners.add(listener);
      return () => listeners.delete(listener);
    },
    settled: () => chain,
    async close() {
      if (closed) return;
      closed = true;
      clearInterval(retry);
      offLoaded();
      offError();
      await chain;
      await meshWatcher.close();
      await server.close();
      for (const e of enrolled.values()) e.netns.close();
      enrolled.clear();
      log('info', 'node agent stopped (pod rules stay in place)');
    },
  };
}

export { DEFAULT_ZDS_PATH };
