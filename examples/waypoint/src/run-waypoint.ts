/**
 * The example waypoint program after its flags were read (main.ts): loads the mesh (the file, or xDS for the
 * workloads, over TLS with its token) and the L7 configuration from the file, gets its certificate from the
 * Istio CA at `CA_ADDRESS` with its own token (or the testing `--ca-dir`), listens on its
 * workload's IP, and drains on SIGTERM/SIGINT. Everything it opened is closed on the way out, also after a
 * failed start.
 * @module
 */

import { watchMeshFile } from '@ambient-kit/control-plane';
import {
  type ControlPlaneSettings,
  createCertificateManager,
  oneLine,
  openIdentity,
  UsageError,
  type XdsEndpoint,
  xdsWorkloadSource,
} from '@ambient-kit/example-ztunnel';
import { createWorkloadStore, type WorkloadStore } from '@ambient-kit/workload-api';
import { createXdsClient, xdsTlsCredentials, xdsTlsServerName } from '@ambient-kit/workload-api/xds';
import { watchL7Config } from './config-watcher.js';
import { createWaypointLogger, type LogLevel } from './logger.js';
import { createWaypoint } from './waypoint.js';

/** The checked flags. */
export interface WaypointCliOptions {
  /** The waypoint's own workload. */
  readonly uid: string;
  /** The mesh file (absolute). */
  readonly config: string;
  /** Workloads from this xDS server instead of the file (TLS unless `http://`). */
  readonly xds?: XdsEndpoint;
  /** The CA, xDS TLS, token, cluster and certificate lifetime (ztunnel's names). */
  readonly controlPlane: ControlPlaneSettings;
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
 * @throws {UsageError} On an unusable mesh file, unreadable root certificates or token, an unusable CA
 *   directory, or a uid not in the mesh.
 * @example
 * ```ts
 * await runWaypoint({ uid, config: '/etc/mesh.yaml', controlPlane: parseControlPlaneFlags({}, process.env), trustDomain: 'cluster.local', ports: { admin: 15000, metrics: 15020, readiness: 15021 }, drainMs: 5000, logLevel: 'info' });
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
      const source = await xdsWorkloadSource(options.xds, options.controlPlane);
      const address = options.xds.target;
      const xds = createXdsClient({
        address,
        store,
        ...('tls' in source && source.tls !== undefined
          ? {
              credentials: xdsTlsCredentials(source.tls),
              tlsServerName: xdsTlsServerName(address, source.tls),
            }
          : {}),
        ...('tokenFile' in source && source.tokenFile !== undefined ? { tokenFile: source.tokenFile } : {}),
        ...('token' in source && source.token !== undefined ? { token: source.token } : {}),
        clusterId: options.controlPlane.clusterId,
      });
      closers.push(() => xds.close());
      // Every failed connection and the reconnect after it, with the reason (as Envoy's `config` logger).
      let failures = 0;
      const failed = ({ error, backoffMs }: { error: Error; backoffMs: number }): void => {
        failures++;
        logger.log('config', 'warning', `xDS ${address}: ${oneLine(error)}; retrying in ${backoffMs} ms`);
      };
      xds.on('disconnected', failed);
      xds.on('connectFailed', (e) => {
        if (e.error.code === 'WORKLOAD_API_ERR_XDS_CREDENTIALS') failed(e);
      });
      xds.on('connected', () => {
        if (failures > 0)
          logger.log('config', 'warning', `xDS ${address}: reconnected after ${failures} failure(s)`);
        failures = 0;
      });
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
    // A waypoint is a workload: it asks for its own identity with its own token, no impersonation; the CA
    // signs the token's service account, and a certificate for another identity is refused.
    const identity = await openIdentity(options.controlPlane, {
      trustDomain: options.trustDomain,
      impersonate: false,
    });
    closers.push(() => identity.close());
    logger.log('main', 'info', `certificates from the ${identity.description}`);
    let failures = 0;
    const certs = createCertificateManager({
      ca: {
        async sign(csrPem, id, ttlMs) {
          try {
            const chain = await identity.ca.sign(csrPem, id, ttlMs);
            logger.log(
              'main',
              failures > 0 ? 'warning' : 'info',
              `certificate issued for ${id}${failures > 0 ? ` after ${failures} failed request(s)` : ''}`,
            );
            failures = 0;
            return chain;
          } catch (error) {
            failures++;
            logger.log('main', 'warning', `certificate request for ${id} failed: ${oneLine(error)}`);
            throw error;
          }
        },
      },
      ttlMs: options.controlPlane.secretTtlMs,
    });
    closers.push(() => certs.close());
    const waypoint = createWaypoint({
      workloadUid: options.uid,
      workloads: { store },
      svid: await certs.source(self.identity).catch((error: unknown) => {
        throw new UsageError(`no certificate for ${self.identity}: ${oneLine(error)}`);
      }),
      bundles: identity.bundles,
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
