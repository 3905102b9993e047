/**
 * The example ztunnel program after its flags were read (main.ts): loads the mesh file or connects to xDS,
 * loads or creates the shared CA, starts the proxy, serves the `--inpod` pods and ZDS, and waits for a
 * signal. Everything it opened is closed on the way out, also after a failed start.
 * @module
 */

import { type MeshFileWatcher, watchMeshFile } from '@ambient-kit/control-plane';
import { connectZdsProxy, openNetns, type ZdsProxyConnection } from '@ambient-kit/redirect';
import { createBundleSet } from '@ambient-kit/spiffe';
import { createWorkloadStore } from '@ambient-kit/workload-api';
import { loadOrCreateCaDir } from './ca-dir.js';
import { caClientFromAuthority } from './certificates.js';
import type { ZtunnelCliOptions } from './cli-options.js';
import type { WorkloadSource } from './config.js';
import { nowMs, streamLogger } from './logger.js';
import { meshFileWarner } from './mesh-warnings.js';
import { oneLine, UsageError } from './program.js';
import { createZtunnel, type Ztunnel } from './ztunnel.js';

/**
 * Runs the ztunnel program until SIGINT, SIGTERM or `POST /quitquitquit`.
 *
 * @param options - The checked flags.
 * @returns The exit code (0).
 * @throws {UsageError} On a missing network namespace, an unusable CA directory or mesh file, or an
 *   `--inpod` uid that is not a workload of this node.
 * @example
 * ```ts
 * await runZtunnel(parseZtunnelArgs(process.argv.slice(2), process.env));
 * ```
 */
export async function runZtunnel(options: ZtunnelCliOptions): Promise<number> {
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
        meshFile = await watchMeshFile({ path: options.workloads.config, store });
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
      workloads = { xdsAddress: options.workloads.xds };
    }
    let ca: Awaited<ReturnType<typeof loadOrCreateCaDir>>;
    try {
      ca = await loadOrCreateCaDir(options.caDir, options.trustDomain);
    } catch (error) {
      throw new UsageError(`--ca-dir ${options.caDir}: ${oneLine(error)}`);
    }
    const shutdown = new AbortController();
    closers.push(() => shutdown.abort());
    const ztunnel = createZtunnel({
      nodeName: options.node,
      workloads,
      ca: caClientFromAuthority(ca),
      bundles: createBundleSet([ca.bundle]),
      mode: options.mode,
      nodeAddress: options.nodeAddress,
      ...(options.ephemeralPorts ? { ports: { admin: 0, metrics: 0, readiness: 0, socks5: 0 } } : {}),
      preserveSourceIp: options.preserveSourceIp,
      logger,
      onQuit: () => shutdown.abort(),
    });
    // Closed even when start() fails half-way (a port in use), so nothing it opened keeps the process up.
    closers.push(() => ztunnel.close());
    await ztunnel.start();
    if (options.mode === 'inpod') {
      if (options.inpod.length > 0) await ztunnel.ready({ timeoutMs: 30_000 });
      for (const { uid, netns } of options.inpod) {
        const workload = ztunnel.store.workload(uid);
        if (workload === undefined) throw new UsageError(`--inpod: no workload ${uid} in the mesh`);
        if (workload.node !== options.node)
          throw new UsageError(
            `--inpod: workload ${uid} runs on node "${workload.node}", not ${options.node}`,
          );
        await ztunnel.addInpodWorkload(uid, netns);
      }
      if (options.zds !== undefined) {
        const zds = await connectZds(ztunnel, options.zds, shutdown.signal);
        closers.push(() => zds.close());
      }
    }
    await new Promise<void>((resolve) => {
      process.once('SIGINT', () => resolve());
      process.once('SIGTERM', () => resolve());
      shutdown.signal.addEventListener('abort', () => resolve(), { once: true });
    });
    return 0;
  } finally {
    await closeAll();
  }
}

/**
 * Takes pods from istio-cni over ZDS. ZDS names pods by Kubernetes UID and describes them by name,
 * namespace and service account; the workload store maps that to the workload (ztunnel `find_by_info`).
 */
function connectZds(ztunnel: Ztunnel, path: string, signal: AbortSignal): Promise<ZdsProxyConnection> {
  const byPod = new Map<string, string>();
  return connectZdsProxy({
    path,
    signal,
    handlers: {
      async addWorkload({ uid, workloadInfo, netns }) {
        const workload = workloadInfo === undefined ? undefined : ztunnel.store.workloadByInfo(workloadInfo);
        if (workload === undefined) throw new Error(`no local workload for pod ${uid}`);
        byPod.set(uid, workload.uid);
        await ztunnel.addInpodWorkload(workload.uid, netns);
      },
      async deleteWorkload(uid) {
        const workload = byPod.get(uid);
        byPod.delete(uid);
        if (workload !== undefined) await ztunnel.removeInpodWorkload(workload);
      },
    },
  });
}
