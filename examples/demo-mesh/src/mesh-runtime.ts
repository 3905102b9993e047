/**
 * Brings the demo mesh up on loopback: a control plane (the mesh file, a workload store, delta xDS and the
 * Istio CA on one TLS port with bearer tokens: demo-control-plane.ts), one example ztunnel per node named in
 * the file (xDS over TLS, workload certificates by CSR over gRPC), one example waypoint per workload that
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
  caClientFromIstioCa,
  createCertificateManager,
  createZtunnel,
  formatAccessLog,
  formatLogRecord,
  type LogRecord,
  meshFileWarner,
  streamLogger,
  type Ztunnel,
  type ZtunnelAddresses,
} from '@ambient-kit/example-ztunnel';
import type { BundleSource } from '@ambient-kit/spiffe';
import { createWorkloadStore, type Workload, type WorkloadStore } from '@ambient-kit/workload-api';
import { createXdsClient, xdsTlsCredentials } from '@ambient-kit/workload-api/xds';
import { type Apps, startApps } from './apps.js';
import { type DemoControlPlane, ISTIOD_NAME, startDemoControlPlane } from './demo-control-plane.js';
import { nativeWorkloads } from './native-scenario.js';

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
  /** The control plane: delta xDS and the Istio CA on one TLS port, bearer tokens. */
  readonly controlPlane: DemoControlPlane;
  readonly bundles: BundleSource;
  /** The control plane's store (what istiod knows). */
  readonly meshStore: WorkloadStore;
  readonly meshWatcher: MeshFileWatcher;
  readonly xdsAddress: string;
  /** The ztunnels' and waypoints' certificate requests so far, as they logged them (`certificate issued`). */
  readonly certificateLog: readonly string[];
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
    // The control plane over that store, on one TLS port (xDS + CA), with a token per service account: the
    // ztunnels' node account and each waypoint's own.
    const waypointAccounts = [...meshStore.workloads()]
      .filter((w) => w.nativeTunnel)
      .map((w) => [w.namespace, w.serviceAccount] as const);
    const cp = await startDemoControlPlane({ dir, store: meshStore, serviceAccounts: waypointAccounts });
    cleanups.push(() => cp.close());
    const { bundles, xdsAddress } = cp;
    const xdsTls = { rootCertificatesFile: cp.rootCertFile, altHostname: ISTIOD_NAME };
    // Every certificate request, as the proxies log it, for the report.
    const certificateLog: string[] = [];
    const noteCertificate = (from: string, record: LogRecord): void => {
      if (record.target === 'identity' && record.message === 'certificate issued')
        certificateLog.push(`${from.padEnd(8)} ${formatLogRecord(record)}`);
    };

    // One ztunnel per node.
    const byNode = new Map<string, Workload[]>();
    for (const w of meshStore.workloads()) {
      if (w.node === '' || w.nativeTunnel) continue;
      byNode.set(w.node, [...(byNode.get(w.node) ?? []), w]);
    }
    const nodes = new Map<string, DemoNode>();
    let index = 0;
    // Each ztunnel is istio-system/ztunnel, the trusted node account: it asks for its workloads' certificates
    // with ImpersonatedIdentity, over its own CA channel.
    const ztunnelToken = cp.tokenFile('istio-system', 'ztunnel');
    for (const [name, pods] of [...byNode].sort(([a], [b]) => a.localeCompare(b))) {
      const address = nodeAddressOf(pods, index++);
      const nodeLog = streamLogger({
        level: options.verbose ? 'info' : 'warn',
        write: (line) => componentLog(`${name.padEnd(8)} ${line}`),
      });
      const make = (standard: boolean): Ztunnel =>
        createZtunnel({
          nodeName: name,
          workloads: { xdsAddress, tls: xdsTls, tokenFile: ztunnelToken },
          ca: caClientFromIstioCa(cp.caClient('istio-system', 'ztunnel'), { impersonate: true }),
          bundles,
          nodeAddress: address,
          ports: standard ? {} : { admin: 0, metrics: 0, readiness: 0, socks5: 0 },
          preserveSourceIp: true,
          accessLog: (entry) => capture({ kind: 'ztunnel', from: name, entry, line: formatAccessLog(entry) }),
          logger: (record) => {
            noteCertificate(name, record);
            nodeLog(record);
          },
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
    const appsWithNativeHbone = new Set(nativeWorkloads({ meshStore }).map((w) => w.uid));
    for (const w of meshStore.workloads()) {
      // A native-HBONE app (native-scenario.ts) terminates HBONE too, but is no waypoint.
      if (!w.nativeTunnel || appsWithNativeHbone.has(w.uid)) continue;
      // The waypoint is a workload: its own token, its own identity, no impersonation.
      const certs = createCertificateManager({
        ca: caClientFromIstioCa(cp.caClient(w.namespace, w.serviceAccount), { impersonate: false }),
        ttlMs: 24 * 3600_000,
        onError: (identity, error) =>
          componentLog(`waypoint: certificate for ${identity} failed: ${error.message}`),
      });
      cleanups.push(() => certs.close());
      const svid = await certs.source(w.identity);
      const expires = svid.current().notAfter.toISOString();
      certificateLog.push(
        `waypoint certificate issued identity="${w.identity}" expires=${expires} (own token, no impersonation)`,
      );
      // Its workloads over TLS xDS with its own token, as any client of istiod's 15012.
      const waypointStore = createWorkloadStore();
      const waypointXds = createXdsClient({
        address: xdsAddress,
        store: waypointStore,
        credentials: xdsTlsCredentials(xdsTls),
        tlsServerName: ISTIOD_NAME,
        tokenFile: cp.tokenFile(w.namespace, w.serviceAccount),
        clusterId: 'Kubernetes',
      });
      cleanups.push(() => waypointXds.close());
      await waypointXds.ready({ timeoutMs: 10_000 });
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
          workloads: { store: waypointStore },
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
      controlPlane: cp,
      certificateLog,
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
