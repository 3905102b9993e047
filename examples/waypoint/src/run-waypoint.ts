/**
 * The example waypoint program after its flags were read (main.ts): loads the mesh (the file, or xDS for the
 * workloads) and the L7 configuration from the file, loads or creates the shared CA, listens on its
 * workload's IP, and drains on SIGTERM/SIGINT. Everything it opened is closed on the way out, also after a
 * failed start.
 * @module
 */

import { watchMeshFile } from '@ambient-kit/control-plane';
import {
  caClientFromAuthority,
  createCertificateManager,
  loadOrCreateCaDir,
  oneLine,
  UsageError,
} from '@ambient-kit/example-ztunnel';
import { createBundleSet } from '@ambient-kit/spiffe';
import { createWorkloadStore, type WorkloadStore } from '@ambient-kit/workload-api';
import { createXdsClient } from '@ambient-kit/workload-api/xds';
import { watchL7Config } from './config-watcher.js';
import { createWaypointLogger, type LogLevel } from './logger.js';
import { createWaypoint } from './waypoint.js';

/** The checked flags. */
export interface WaypointCliOptions {
  /** The waypoint's own workload. */
  readonly uid: string;
  /** The mesh file (absolute). */
  readonly config: string;
  /** Workloads from this xDS server instead of the file. */
  readonly xds?: string;
  /** Absolute. */
  readonly caDir: string;
  readonly trustDomain: string;
  readonly ports: { readonly admin: number; readonly metrics: number; readonly readiness: number };
  readonly drainMs: number;
  readonly logLevel: LogLevel;
}

/**
 * Runs the waypoint program until SIGINT or SIGTERM, then drains.
 *
 * @param options - The checked flags.
 * @returns The exit code (0).
 * @throws {UsageError} On an unusable mesh file or CA directory, or a uid not in the mesh.
 * @example
 * ```ts
 * await runWaypoint({ uid, config: '/etc/mesh.yaml', caDir, trustDomain: 'cluster.local', ports: { admin: 15000, metrics: 15020, readiness: 15021 }, drainMs: 5000, logLevel: 'info' });
 * ```
 */
export async function runWaypoint(options: WaypointCliOptions): Promise<number> {
  const closers: (() => Promise<void> | void)[] = [];
  const logger = createWaypointLogger({ level: options.logLevel });
  try {
    const store: WorkloadStore = createWorkloadStore();
    if (options.xds === undefined) {
      // The workload side of the file; the L7 kinds are the waypoint's (and the ztunnels skip them too).
      const meshFile = await watchMeshFile({ path: options.config, store, skipUnsupportedKinds: true }).catch(
        (error: unknown) => {
          throw new UsageError(`--config: ${oneLine(error)}`);
        },
      );
      closers.push(() => meshFile.close());
      closers.push(
        meshFile.on('error', (error) =>
          logger.log('config', 'warning', `workloads: keeping the last good mesh file: ${oneLine(error)}`),
        ),
      );
    } else {
      const xds = createXdsClient({ address: options.xds, store });
      closers.push(() => xds.close());
      await xds.ready({ timeoutMs: 30_000 });
    }
    // The waypoint presents its own workload's identity.
    const self = store.workload(options.uid);
    if (self === undefined) throw new UsageError(`--uid: no workload ${options.uid} in the mesh`);
    if (self.workloadIps.length === 0)
      throw new UsageError(`--uid: workload ${options.uid} has no IP to listen on`);
    const config = await watchL7Config(options.config, {
      waypointNamespace: self.namespace,
      trustDomain: options.trustDomain,
      onError: (error) =>
        logger.log(
          'config',
          'error',
          `rejected, keeping generation of the last good file: ${oneLine(error)}`,
        ),
    }).catch((error: unknown) => {
      throw new UsageError(`--config: ${oneLine(error)}`);
    });
    closers.push(() => config.close());
    config.onReload((_c, generation) =>
      logger.log('config', 'info', `configuration generation ${generation} in effect`),
    );
    let ca: Awaited<ReturnType<typeof loadOrCreateCaDir>>;
    try {
      ca = await loadOrCreateCaDir(options.caDir, options.trustDomain);
    } catch (error) {
      throw new UsageError(`--ca-dir ${options.caDir}: ${oneLine(error)}`);
    }
    const certs = createCertificateManager({ ca: caClientFromAuthority(ca), ttlMs: 24 * 3600_000 });
    closers.push(() => certs.close());
    const waypoint = createWaypoint({
      workloadUid: options.uid,
      workloads: { store },
      svid: await certs.source(self.identity),
      bundles: createBundleSet([ca.bundle]),
      config,
      ports: options.ports,
      logger,
    });
    closers.push(() => waypoint.close());
    await waypoint.start({ timeoutMs: 30_000 }).catch((error: unknown) => {
      throw new UsageError(oneLine(error));
    });
    const a = waypoint.addresses();
    process.stdout.write(
      `waypoint listening on ${a.hbone} as ${self.identity} (admin ${a.admin ?? '-'}, metrics ${a.metrics ?? '-'}, readiness ${a.readiness ?? '-'})\n`,
    );
    const signal = await new Promise<string>((resolve) => {
      process.once('SIGINT', () => resolve('SIGINT'));
      process.once('SIGTERM', () => resolve('SIGTERM'));
    });
    logger.log('main', 'info', `${signal}: draining for up to ${options.drainMs} ms`);
    await waypoint.drain({ deadlineMs: options.drainMs });
    return 0;
  } finally {
    // Everything opened is closed, also after a failed start, so nothing keeps the process up.
    for (const close of closers.reverse())
      await Promise.resolve()
        .then(close)
        .catch(() => {});
  }
}
