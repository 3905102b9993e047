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
import { type MeshFileWatcher, watchMeshFile } from '@ambient-kit/control-plane';
import {
  createWaypoint,
  createWaypointLogger,
  formatWaypointAccessLog,
  type L7ConfigWatcher,
  servicePortProtocol,
  type Waypoint,
  type WaypointAccessLogEntry,
  watchL7Config,
} from '@ambient-kit/example-waypoint';
import {
  type AccessLogEntry,
  caClientFromAuthority,
  createZtunnel,
  formatAccessLog,
  meshFileWarner,
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
import { createXdsServer, type XdsServer } from '@ambient-kit/workload-api/xds';
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
  /** Its L7 configuration (the mesh file's routes and policies, one watcher shared by every waypoint). */
  readonly config: L7ConfigWatcher;
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
  /** Calls `listener` with every access log line from now on; returns the unsubscribe function. */
  onLog(listener: (log: CapturedLog) => void): () => void;
  /**
   * Waits for access log lines.
   *
   * @param from - Index in `logs` to start at (take `logs.length` before the traffic).
   * @param predicates - One predicate per line wanted; each must match a different line. `undefined` is a
   *   line not wanted (its slot stays `undefined`, nothing waits for it).
   * @param timeoutMs - Default 3 s.
   * @returns The matching lines, in predicate order (`undefined` where none matched in time).
   */
  waitForLogs(
    from: number,
    predicates: readonly (((log: CapturedLog) => boolean) | undefined)[],
    timeoutMs?: number,
  ): Promise<(CapturedLog | undefined)[]>;
  close(): Promise<void>;
}

/** Options of {@link startDemoMesh}. */
export interface StartDemoMeshOptions {
  /** The mesh file's text. */
  readonly meshText: string;
  /**
   * Print every component's operational log on stdout (default: only warnings and errors, on stderr). Access
   * log lines are never printed here: they go to {@link DemoMesh.onLog} listeners.
   */
  readonly verbose?: boolean;
  /** Use ztunnel's port numbers on each node address (15000, 15020, 15021, 15080); else ephemeral ones. */
  readonly standardPorts?: boolean;
  /**
   * The waypoints' draws for route weights and fault and mirror percentages (default `Math.random`). The demo
   * passes a seeded generator so its traffic-shifting counts repeat run to run.
   */
  readonly routeRandom?: () => number;
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
  // Components' own log lines: all of them on stdout with --verbose, else warnings and errors on stderr.
  // While the mesh starts, the quiet ones are held back: when the start fails, the one line saying why is
  // the whole story (a listener that failed is also logged by its ztunnel), and they are dropped.
  let heldBack: string[] | undefined = options.verbose ? undefined : [];
  const componentLog = (line: string): void => {
    if (options.verbose) process.stdout.write(`${line}\n`);
    else if (heldBack !== undefined) heldBack.push(line);
    else process.stderr.write(`${line}\n`);
  };
  const logs: CapturedLog[] = [];
  const logWaiters = new Set<() => void>();
  const logListeners = new Set<(log: CapturedLog) => void>();
  const capture = (log: CapturedLog): void => {
    logs.push(log);
    for (const listener of logListeners) listener(log);
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
    // The L7 kinds (routes, DestinationRules, RequestAuthentications) are the waypoint's: the control plane
    // skips them, as istiod's workload view for ztunnel does not carry them.
    const meshWatcher = await watchMeshFile({
      path: meshFile,
      store: meshStore,
      debounceMs: 20,
      skipUnsupportedKinds: true,
    });
    cleanups.push(() => meshWatcher.close());
    // The file was checked (and warned about) before the start; an edit while it runs gets the same
    // warnings, each once, and the reason when the control plane keeps the last good file.
    const warnAbout = meshFileWarner(
      (line) => componentLog(`${meshFile}: warning: ${line}`),
      meshWatcher.current(),
    );
    cleanups.push(meshWatcher.on('loaded', warnAbout));
    cleanups.push(
      meshWatcher.on('error', (error) =>
        componentLog(`${meshFile}: rejected, the control plane keeps the last good file: ${error.message}`),
      ),
    );
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
            write: (line) => componentLog(`${name.padEnd(8)} ${line}`),
          }),
        });
      const startZtunnel = async (standard: boolean): Promise<[Ztunnel, ZtunnelAddresses]> => {
        const ztunnel = make(standard);
        try {
          return [ztunnel, await ztunnel.start()];
        } catch (error) {
          await ztunnel.close();
          throw error;
        }
      };
      let started: [Ztunnel, ZtunnelAddresses];
      try {
        started = await startZtunnel(options.standardPorts ?? true).catch((error: unknown) => {
          // Someone else holds ztunnel's node ports here (a real ztunnel?): fall back to free ones. A pod's
          // 15008 has no such fallback: peers dial it.
          if (!(options.standardPorts ?? true) || (error as { code?: string }).code !== 'EADDRINUSE')
            throw error;
          return startZtunnel(false);
        });
      } catch (error) {
        throw new Error(`ztunnel ${name}: ${(error as Error).message}`, { cause: error });
      }
      const [ztunnel, addresses] = started;
      cleanups.push(() => ztunnel.close());
      nodes.set(name, { name, address, ztunnel, addresses });
    }

    // One waypoint per workload that terminates HBONE itself. Its L7 configuration comes from the mesh file
    // and does not depend on the waypoint: one watcher (one read and compile per edit) serves them all.
    const waypoints: DemoWaypoint[] = [];
    let config: L7ConfigWatcher | undefined;
    const waypointLogger = createWaypointLogger({
      level: options.verbose ? 'info' : 'warning',
      write: (line) => componentLog(`waypoint ${line}`),
    });
    for (const w of meshStore.workloads()) {
      if (!w.nativeTunnel) continue;
      const svid: RotatingSvidSource = await createRotatingSvidSource({
        fetchSvid: () => ca.issue(w.identity),
      });
      cleanups.push(() => svid.close());
      if (config === undefined) {
        const watcher = await watchL7Config(meshFile, {
          debounceMs: 20,
          waypointNamespace: w.namespace,
          onError: (error) =>
            componentLog(`waypoint: configuration rejected, keeping the last good one: ${error.message}`),
        });
        cleanups.push(() => watcher.close());
        config = watcher;
      }
      const l7 = config;
      const make = (standard: boolean): Waypoint =>
        createWaypoint({
          workloadUid: w.uid,
          workloads: { xdsAddress },
          svid,
          bundles,
          config: l7,
          ports: standard ? {} : { admin: 0, metrics: 0, readiness: 0 },
          // Pooled upstream connections close after 1 s idle (Istio's default is 1 h), so each hop's
          // connection-level access log line and counters settle while the demo watches.
          upstreamIdleTimeoutMs: 1000,
          logger: waypointLogger,
          ...(options.routeRandom === undefined ? {} : { routeRandom: options.routeRandom }),
          accessLog: (entry) =>
            capture({
              kind: 'waypoint',
              from: w.workloadName || w.name,
              entry,
              line: formatWaypointAccessLog(entry),
            }),
        });
      const startWaypoint = async (standard: boolean): Promise<[Waypoint, string]> => {
        const waypoint = make(standard);
        try {
          return [waypoint, await waypoint.start()];
        } catch (error) {
          await waypoint.close();
          throw error;
        }
      };
      let started: [Waypoint, string];
      try {
        started = await startWaypoint(options.standardPorts ?? true).catch((error: unknown) => {
          // Its admin, metrics or readiness port taken: free ones. Its 15008 has no fallback: peers dial it.
          const message = (error as Error).message;
          if (!(options.standardPorts ?? true) || !/^(admin|metrics|readiness): .*EADDRINUSE/.test(message))
            throw error;
          return startWaypoint(false);
        });
      } catch (error) {
        throw new Error(`waypoint ${w.name}: ${(error as Error).message}`, { cause: error });
      }
      const [waypoint, address] = started;
      cleanups.push(() => waypoint.close());
      waypoints.push({ workload: w, waypoint, address, config: l7 });
    }

    // gRPC services' pods get the Greeter instead of the echo (the protocol is the Service port's).
    const grpc = new Set<string>();
    const grpcConfig = config?.current();
    if (grpcConfig !== undefined) {
      for (const w of meshStore.workloads()) {
        for (const ref of w.services) {
          const service = meshStore.service(ref.key);
          if (service === undefined) continue;
          for (const p of service.ports) {
            if (servicePortProtocol(grpcConfig, service.hostname, service.ports, p.servicePort) !== 'GRPC')
              continue;
            const own = ref.ports.find((x) => x.servicePort === p.servicePort)?.targetPort ?? 0;
            grpc.add(`${w.workloadIps[0]}:${own || p.targetPort || p.servicePort}`);
          }
        }
      }
    }

    const apps = await startApps(meshStore, { grpc }).catch((error: unknown) => {
      throw new Error(`apps: ${(error as Error).message}`, { cause: error });
    });
    cleanups.push(() => apps.close());
    // ready() names the node in its errors ("ztunnel node-b: inbound listener of … failed: …").
    await Promise.all([...nodes.values()].map((n) => n.ztunnel.ready({ timeoutMs: 15_000 })));
    for (const line of heldBack ?? []) process.stderr.write(`${line}\n`);
    heldBack = undefined;

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
      onLog(listener) {
        logListeners.add(listener);
        return () => logListeners.delete(listener);
      },
      async waitForLogs(from, predicates, timeoutMs = 3000) {
        const deadline = Date.now() + timeoutMs;
        for (;;) {
          const used = new Set<number>();
          const found = predicates.map((p) => {
            if (p === undefined) return undefined;
            for (let i = from; i < logs.length; i++) {
              if (!used.has(i) && p(logs[i] as CapturedLog)) {
                used.add(i);
                return logs[i];
              }
            }
            return undefined;
          });
          if (found.every((f, i) => f !== undefined || predicates[i] === undefined) || Date.now() >= deadline)
            return found;
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
