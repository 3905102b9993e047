/**
 * The example waypoint program after its flags were read (main.ts): loads the mesh (a file or xDS) and the
 * policies, loads or creates the shared CA, listens on its workload's IP, and waits for a signal.
 * Everything it opened is closed on the way out, also after a failed start.
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
import { watchMeshPolicies } from './policy-file.js';
import { createWaypoint } from './waypoint.js';

/** The checked flags. */
export interface WaypointCliOptions {
  /** The waypoint's own workload. */
  readonly uid: string;
  /** An xDS server, or a mesh file (absolute). */
  readonly workloads: { readonly xds: string } | { readonly config: string };
  /** The AuthorizationPolicies' file (absolute). */
  readonly policies: string;
  /** Absolute. */
  readonly caDir: string;
  readonly trustDomain: string;
  readonly retries: number;
}

/**
 * Runs the waypoint program until SIGINT or SIGTERM.
 *
 * @param options - The checked flags.
 * @returns The exit code (0).
 * @throws {UsageError} On an unusable mesh file, policy file or CA directory, or a uid not in the mesh.
 * @example
 * ```ts
 * await runWaypoint({ uid, workloads: { config: '/etc/mesh.yaml' }, policies: '/etc/mesh.yaml', caDir, trustDomain: 'cluster.local', retries: 2 });
 * ```
 */
export async function runWaypoint(options: WaypointCliOptions): Promise<number> {
  const closers: (() => Promise<void> | void)[] = [];
  try {
    const store: WorkloadStore = createWorkloadStore();
    if ('config' in options.workloads) {
      const path = options.workloads.config;
      const meshFile = await watchMeshFile({ path, store }).catch((error: unknown) => {
        throw new UsageError(`--config: ${oneLine(error)}`);
      });
      closers.push(() => meshFile.close());
    } else {
      const xds = createXdsClient({ address: options.workloads.xds, store });
      closers.push(() => xds.close());
      await xds.ready({ timeoutMs: 30_000 });
    }
    const policies = await watchMeshPolicies(options.policies, {
      onError: (error) =>
        process.stderr.write(`policy file rejected, keeping the last good one: ${oneLine(error)}\n`),
    }).catch((error: unknown) => {
      throw new UsageError(`--policies: ${oneLine(error)}`);
    });
    closers.push(() => policies.close());
    // The waypoint presents its own workload's identity.
    const self = store.workload(options.uid);
    if (self === undefined) throw new UsageError(`--uid: no workload ${options.uid} in the mesh`);
    if (self.workloadIps.length === 0)
      throw new UsageError(`--uid: workload ${options.uid} has no IP to listen on`);
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
      policies,
      retries: options.retries,
    });
    closers.push(() => waypoint.close());
    const address = await waypoint.start({ timeoutMs: 30_000 });
    process.stdout.write(`waypoint listening on ${address} as ${self.identity}\n`);
    await new Promise<void>((resolve) => {
      process.once('SIGINT', () => resolve());
      process.once('SIGTERM', () => resolve());
    });
    return 0;
  } finally {
    // Everything opened is closed, also after a failed start, so nothing keeps the process up.
    for (const close of closers.reverse())
      await Promise.resolve()
        .then(close)
        .catch(() => {});
  }
}
