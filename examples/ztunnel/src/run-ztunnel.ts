/**
 * The example ztunnel program after its flags were read (main.ts): loads the mesh file or connects to xDS,
 * opens its identity source (the Istio CA at `CA_ADDRESS`, or the testing `--ca-dir`), starts the proxy (in in-pod mode: its pods from the node agent over ZDS, plus
 * any `--inpod` ones), and waits for a signal, which starts a graceful drain (logged) before it exits.
 * Everything it opened is closed on the way out, also after a failed start.
 * @module
 */

import { type MeshFileWatcher, watchMeshFile } from '@ambient-kit/control-plane';
import { openNetns } from '@ambient-kit/redirect';
import { createWorkloadStore } from '@ambient-kit/workload-api';
import type { ZtunnelCliOptions } from './cli-options.js';
import type { WorkloadSource } from './config.js';
import { openIdentity, xdsWorkloadSource } from './control-plane-identity.js';
import { nowMs, streamLogger } from './logger.js';
import { meshFileWarner } from './mesh-warnings.js';
import { oneLine, UsageError } from './program.js';
import { createZtunnel } from './ztunnel.js';

/**
 * Runs the ztunnel program until SIGINT, SIGTERM or `POST /quitquitquit`.
 *
 * @param options - The checked flags.
 * @returns The exit code (0).
 * @throws {UsageError} On a missing network namespace, unreadable root certificates or token, an unusable CA
 *   directory or mesh file, or an
 *   `--inpod` uid that is not a workload of this node.
 * @example
 * ```ts
 * await runZtunnel(parseZtunnelArgs(process.argv.slice(2), process.env));
 * ```
 */
export async function runZtunnel(options: ZtunnelCliOptions): Promise<number> {
  // In-pod mode enters pod network namespaces and marks sockets: ztunnel's DaemonSet grants NET_ADMIN,
  // SYS_ADMIN and NET_RAW; here that means root.
  if (options.mode === 'inpod' && process.getuid?.() !== 0) {
    throw new UsageError(
      `--mode inpod needs root (CAP_SYS_ADMIN to enter pod network namespaces, CAP_NET_ADMIN for SO_MARK); running as uid ${process.getuid?.()}`,
    );
  }
  // Everything that can be checked before starting is checked first, so a mistake costs nothing.
  for (const { netns } of options.inpod) {
    try {
      openNetns(netns).close();
    } catch (error) {
      throw new UsageError(`--inpod: ${oneLine(error)}`);
    }
  }
  const logger = streamLogger({ level: options.logLevel });
  const warn = (message: string, fields: readonly (readonly [string, string])[] = []): void =>
    logger({ timeMs: nowMs(), level: 'warn', target: 'config', message, fields });

  const closers: (() => Promise<void> | void)[] = [];
  const closeAll = async (): Promise<void> => {
    for (const close of closers.splice(0).reverse())
      await Promise.resolve()
        .then(close)
        .catch(() => {});
  };
  try {
    let workloads: WorkloadSource;
    if ('config' in options.workloads) {
      const store = createWorkloadStore();
      let meshFile: MeshFileWatcher;
      try {
        // Kubernetes kinds a ztunnel has no use for (the waypoint's routes, DestinationRules, ...) are skipped:
        // istiod sends a ztunnel workloads, services and L4 policies only.
        meshFile = await watchMeshFile({ path: options.workloads.config, store, skipUnsupportedKinds: true });
      } catch (error) {
        // The watcher's errors name the file.
        throw new UsageError(`--config: ${oneLine(error)}`);
      }
      closers.push(() => meshFile.close());
      const warnAbout = meshFileWarner((line) => warn(line));
      warnAbout(meshFile.current());
      meshFile.on('loaded', warnAbout);
      meshFile.on('error', (error) =>
        warn('mesh file rejected, keeping the last good one', [['error', oneLine(error)]]),
      );
      workloads = { store };
    } else {
      workloads = await xdsWorkloadSource(options.workloads.xds, options.controlPlane);
    }
    // ztunnel asks the CA on behalf of the workloads of its node (ImpersonatedIdentity), as its node
    // service account (istio-system/ztunnel): istio/ztunnel@62d82653:src/identity/caclient.rs.
    const identity = await openIdentity(options.controlPlane, {
      trustDomain: options.trustDomain,
      impersonate: true,
    });
    closers.push(() => identity.close());
    logger({
      timeMs: nowMs(),
      level: 'info',
      target: 'identity',
      message: `certificates from the ${identity.description}`,
      fields: [
        ['cluster_id', options.controlPlane.clusterId],
        ['secret_ttl_ms', options.controlPlane.secretTtlMs],
      ],
    });
    const shutdown = new AbortController();
    closers.push(() => shutdown.abort());
    // Listening for the signals from here on: one that arrives while the ztunnel starts is not lost (nor
    // fatal); the drain begins as soon as the start is over.
    const stopped = new Promise<string>((resolve) => {
      process.once('SIGINT', () => resolve('received signal SIGINT, starting shutdown'));
      process.once('SIGTERM', () => resolve('received signal SIGTERM, starting shutdown'));
      shutdown.signal.addEventListener('abort', () => resolve('received explicit shutdown signal'), {
        once: true,
      });
    });
    const ztunnel = createZtunnel({
      nodeName: options.node,
      workloads,
      ca: identity.ca,
      bundles: identity.bundles,
      clusterId: options.controlPlane.clusterId,
      certificateTtlMs: options.controlPlane.secretTtlMs,
      mode: options.mode,
      nodeAddress: options.nodeAddress,
      ...(options.ephemeralPorts ? { ports: { admin: 0, metrics: 0, readiness: 0, socks5: 0 } } : {}),
      ...(options.preserveSourceIp === undefined ? {} : { preserveSourceIp: options.preserveSourceIp }),
      ...(options.zds === undefined ? {} : { zdsPath: options.zds }),
      dnsCapture: options.dnsCapture,
      ...(options.dnsUpstreams === undefined ? {} : { dnsUpstreams: options.dnsUpstreams }),
      drainDeadlineMs: options.drainMs,
      logger,
      onQuit: () => shutdown.abort(),
    });
    // Closed even when start() fails half-way (a port in use), so nothing it opened keeps the process up.
    closers.push(() => ztunnel.close());
    // A signal while it starts (a CA that does not answer holds the start up) is not left waiting: the start
    // gets at most the drain deadline to finish, then the drain runs on what is up.
    const start = ztunnel.start();
    start.catch(() => {});
    const first = await Promise.race([
      start.then(() => 'started' as const),
      stopped.then(() => 'stopped' as const),
    ]);
    if (first === 'stopped') {
      await Promise.race([
        start.catch(() => {}),
        new Promise((resolve) => setTimeout(resolve, options.drainMs).unref()),
      ]);
    } else if (options.mode === 'inpod') {
      // The workloads must be known to look the --inpod ones up; the node agent may not be there at all.
      if (options.inpod.length > 0) await ztunnel.ready({ timeoutMs: 30_000, zds: false });
      for (const { uid, netns } of options.inpod) {
        const workload = ztunnel.store.workload(uid);
        if (workload === undefined) throw new UsageError(`--inpod: no workload ${uid} in the mesh`);
        if (workload.node !== options.node)
          throw new UsageError(
            `--inpod: workload ${uid} runs on node "${workload.node}", not ${options.node}`,
          );
        await ztunnel.addInpodWorkload(uid, netns);
      }
    }
    const reason = await stopped;
    // ztunnel: the signal starts a graceful drain (istio/ztunnel@62d82653:src/signal.rs, src/app.rs `wait_termination`).
    logger({ timeMs: nowMs(), level: 'info', target: 'ztunnel', message: reason, fields: [] });
    await ztunnel.drain({ deadlineMs: options.drainMs });
    return 0;
  } finally {
    await closeAll();
  }
}
