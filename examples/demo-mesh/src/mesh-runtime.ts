/**
 * Brings the demo mesh up on loopback: an embedded control plane (the mesh file, a workload store, a delta
 * xDS server), a CA, one example ztunnel per node named in the file, one example waypoint per workload that
 * terminates HBONE itself (`nativeTunnel`), and an echo app per workload. Everything logs into memory so the
 * scenario can show the lines that matter.
 * @module
 */
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  createWaypoint,
  formatWaypointAccessLog,
  type MeshPolicyWatcher,
  type Waypoint,
  type WaypointAccessLogEntry,
  watchMeshPolicies,
} from '@ambient-kit/example-waypoint';
import {
  type AccessLogEntry,
  caClientFromAuthority,
  createZtunnel,
  formatAccessLog,
  streamLogger,
  type Ztunnel,
  type ZtunnelAddresses,
} from '@ambient-kit/example-ztunnel';
import {
  type BundleSource,
  type CertificateAuthority,
  createBundleSet,
  createCertificateAuthority,
  createRotatingSvidSource,
  type RotatingSvidSource,
} from '@ambient-kit/spiffe';
import { createWorkloadStore, type Workload, type WorkloadStore } from '@ambient-kit/workload-api';
import {
  createXdsServer,
  type MeshFileWatcher,
  watchMeshFile,
  type XdsServer,
} from '@ambient-kit/workload-api/xds';
import { type Apps, startApps } from './apps.js';

/** One captured access log line. */
export type CapturedLog =
  | { readonly kind: 'ztunnel'; readonly from: string; readonly entry: AccessLogEntry; readonly line: string }
  | {
      readonly kind: 'waypoint';
      readonly from: string;
      readonly entry: WaypointAccessLogEntry;
      readonly line: string;
    };

/** A node of the demo. */
export interface DemoNode {
  readonly name: string;
  /** The node's own address (its ztunnel's admin, metrics, readiness and SOCKS5 listen there). */
  readonly address: string;
  readonly ztunnel: Ztunnel;
  readonly addresses: ZtunnelAddresses;
}

/** A waypoint of the demo. */
export interface DemoWaypoint {
  readonly workload: Workload;
  readonly waypoint: Waypoint;
  readonly address: string;
  /** Its AuthorizationPolicies (the mesh file's, one watcher shared by every waypoint). */
  readonly policies: MeshPolicyWatcher;
}

/** The running mesh. */
export interface DemoMesh {
  /** The mesh file the control plane watches (a copy: the scenario edits it). */
  readonly meshFile: string;
  readonly ca: CertificateAuthority;
  readonly bundles: BundleSource;
  /** The control plane's store (what istiod knows). */
  readonly meshStore: WorkloadStore;
  readonly meshWatcher: MeshFileWatcher;
  readonly xdsAddress: string;
  readonly nodes: ReadonlyMap<string, DemoNode>;
  readonly waypoints: readonly DemoWaypoint[];
  readonly apps: Apps;
  /** Every access log line so far, in order. */
  readonly logs: readonly CapturedLog[];
  /**
   * Waits for access log lines.
   *
   * @param from - Index in `logs` to start at (take `logs.length` before the traffic).
   * @param predicates - One predicate per line wanted; each must match a different line.
   * @param timeoutMs - Default 3 s.
   * @returns The matching lines, in predicate order (`undefined` where none matched in time).
   */
  waitForLogs(
    from: number,
    predicates: readonly ((log: CapturedLog) => boolean)[],
    timeoutMs?: number,
  ): Promise<(CapturedLog | undefined)[]>;
  close(): Promise<void>;
}

/** Options of {@link startDemoMesh}. */
export interface StartDemoMeshOptions {
  /** The mesh file's text. */
  readonly meshText: string;
  /** Print every component's operational log (default: only warnings and errors, on stderr). */
  readonly verbose?: boolean;
  /** Use ztunnel's port numbers on each node address (15000, 15020, 15021, 15080); else ephemeral ones. */
  readonly standardPorts?: boolean;
}

/** A node's address: the `.1` of the /24 its pods live in (127.0.1.x pods → node 127.0.1.1). */
function nodeAddressOf(pods: readonly Workload[], index: number): string {
  const ip = pods
    .map((w) => w.workloadIps.find((a) => /^127\.\d+\.\d+\.\d+$/.test(a)))
    .find((a) => a !== undefined);
  if (ip === undefined) return `127.0.${200 + index}.1`;
  return `${ip.split('.').slice(0, 3).join('.')}.1`;
}

/**
 * Starts everything.
 *
 * @param options - The mesh file text, verbosity, ports.
 * @returns The running mesh.
 * @throws When the mesh file is invalid or an address cannot be bound (everything started is stopped).
 * @example
 * ```ts
 * const mesh = await startDemoMesh({ meshText: readFileSync('mesh.yaml', 'utf8') });
 * ```
 */
export async function startDemoMesh(options: StartDemoMeshOptions): Promise<DemoMesh> {
  const cleanups: (() => Promise<void> | void)[] = [];
  const close = async (): Promise<void> => {
    for (const cleanup of cleanups.splice(0).reverse()) {
      try {
        await cleanup();
      } catch {
        // Keep closing the rest.
      }
    }
  };
  const logs: CapturedLog[] = [];
  const logWaiters = new Set<() => void>();
  const capture = (log: CapturedLog): void => {
    logs.push(log);
    if (options.verbose) process.stdout.write(`${log.from.padEnd(8)} ${log.line}\n`);
    for (const wake of logWaiters) wake();
  };
  try {
    const dir = await mkdtemp(join(tmpdir(), 'ambient-demo-'));
    cleanups.push(() => rm(dir, { recursive: true, force: true }));
    const meshFile = join(dir, 'mesh.yaml');
    await writeFile(meshFile, options.meshText);

    // The CA: a root and an intermediate, like a production istiod with a plugged-in CA.
    const ca = await createCertificateAuthority({ trustDomain: 'cluster.local', intermediate: true });
    const bundles = createBundleSet([ca.bundle]);

    // The control plane: mesh file -> store -> delta xDS (Address + Authorization, as istiod serves ztunnel).
    const meshStore = createWorkloadStore();
    const meshWatcher = await watchMeshFile({ path: meshFile, store: meshStore, debounceMs: 20 });
    cleanups.push(() => meshWatcher.close());
    const xds: XdsServer = createXdsServer({ store: meshStore });
    const xdsPort = await xds.listen('127.0.0.1:0');
    cleanups.push(() => xds.close());
    const xdsAddress = `127.0.0.1:${xdsPort}`;

    // One ztunnel per node.
    const byNode = new Map<string, Workload[]>();
    for (const w of meshStore.workloads()) {
      if (w.node === '' || w.nativeTunnel) continue;
      byNode.set(w.node, [...(byNode.get(w.node) ?? []), w]);
    }
    const nodes = new Map<string, DemoNode>();
    let index = 0;
    for (const [name, pods] of [...byNode].sort(([a], [b]) => a.localeCompare(b))) {
      const address = nodeAddressOf(pods, index++);
      const make = (standard: boolean): Ztunnel =>
        createZtunnel({
          nodeName: name,
          workloads: { xdsAddress },
          ca: caClientFromAuthority(ca),
          bundles,
          nodeAddress: address,
          ports: standard ? {} : { admin: 0, metrics: 0, readiness: 0, socks5: 0 },
          preserveSourceIp: true,
          accessLog: (entry) => capture({ kind: 'ztunnel', from: name, entry, line: formatAccessLog(entry) }),
          logger: streamLogger({
            level: options.verbose ? 'info' : 'warn',
            write: (line) =>
              (options.verbose ? process.stdout : process.stderr).write(`${name.padEnd(8)} ${line}\n`),
          }),
        });
      let ztunnel = make(options.standardPorts ?? true);
      let addresses: ZtunnelAddresses;
      try {
        addresses = await ztunnel.start();
      } catch (error) {
        // Someone else holds ztunnel's ports here (a real ztunnel?): fall back to free ones.
        await ztunnel.close();
        if ((error as { code?: string }).code !== 'EADDRINUSE') throw error;
        ztunnel = make(false);
        addresses = await ztunnel.start();
      }
      const started = ztunnel;
      cleanups.push(() => started.close());
      nodes.set(name, { name, address, ztunnel: started, addresses });
    }

    // One waypoint per workload that terminates HBONE itself. The policies come from the mesh file and
    // don't depend on the waypoint: one watcher (one read and compile per edit) serves them all.
    const waypoints: DemoWaypoint[] = [];
    let policies: MeshPolicyWatcher | undefined;
    for (const w of meshStore.workloads()) {
      if (!w.nativeTunnel) continue;
      const svid: RotatingSvidSource = await createRotatingSvidSource({
        fetchSvid: () => ca.issue(w.identity),
      });
      cleanups.push(() => svid.close());
      if (policies === undefined) {
        const watcher = await watchMeshPolicies(meshFile, {
          debounceMs: 20,
          onError: (error) => process.stderr.write(`waypoint: policy reload failed: ${error}\n`),
        });
        cleanups.push(() => watcher.close());
        policies = watcher;
      }
      const waypoint = createWaypoint({
        workloadUid: w.uid,
        workloads: { xdsAddress },
        svid,
        bundles,
        policies,
        accessLog: (entry) =>
          capture({
            kind: 'waypoint',
            from: w.workloadName || 'waypoint',
            entry,
            line: formatWaypointAccessLog(entry),
          }),
      });
      const address = await waypoint.start();
      cleanups.push(() => waypoint.close());
      waypoints.push({ workload: w, waypoint, address, policies });
    }

    const apps = await startApps(meshStore);
    cleanups.push(() => apps.close());
    await Promise.all([...nodes.values()].map((n) => n.ztunnel.ready({ timeoutMs: 15_000 })));

    return {
      meshFile,
      ca,
      bundles,
      meshStore,
      meshWatcher,
      xdsAddress,
      nodes,
      waypoints,
      apps,
      logs,
      async waitForLogs(from, predicates, timeoutMs = 3000) {
        const deadline = Date.now() + timeoutMs;
        for (;;) {
          const used = new Set<number>();
          const found = predicates.map((p) => {
            for (let i = from; i < logs.length; i++) {
              if (!used.has(i) && p(logs[i] as CapturedLog)) {
                used.add(i);
                return logs[i];
              }
            }
            return undefined;
          });
          if (found.every((f) => f !== undefined) || Date.now() >= deadline) return found;
          await new Promise<void>((resolve) => {
            const wake = (): void => {
              clearTimeout(timer);
              logWaiters.delete(wake);
              resolve();
            };
            const timer = setTimeout(wake, Math.max(1, deadline - Date.now()));
            logWaiters.add(wake);
          });
        }
      },
      close,
    };
  } catch (error) {
    await close();
    throw error;
  }
}
