/**
 * The example waypoint as a program.
 *
 * ```sh
 * npm start -w @ambient-kit/example-waypoint -- --uid Kubernetes//Pod/default/waypoint-0 \
 *   --config mesh.yaml --ca-dir /tmp/mesh-ca
 * # or with a control plane's xDS server, the policies still from a file
 * npm start -w @ambient-kit/example-waypoint -- --uid Kubernetes//Pod/default/waypoint-0 \
 *   --xds 127.0.0.1:15010 --policies mesh.yaml --ca-dir /tmp/mesh-ca
 * ```
 *
 * It listens on its workload's IP, port 15008, with a certificate for its workload's identity signed by the
 * CA in `--ca-dir` (shared with the example ztunnels). SIGINT/SIGTERM shut it down.
 * @module
 */
import { parseArgs } from 'node:util';
import {
  caClientFromAuthority,
  createCertificateManager,
  loadOrCreateCaDir,
} from '@ambient-kit/example-ztunnel';
import { createBundleSet } from '@ambient-kit/spiffe';
import { createWorkloadStore } from '@ambient-kit/workload-api';
import {
  createXdsClient,
  type MeshFileWatcher,
  watchMeshFile,
  type XdsClient,
} from '@ambient-kit/workload-api/xds';
import { watchMeshPolicies } from './policy-file.js';
import { createWaypoint } from './waypoint.js';

const HELP = `Usage: npm start -w @ambient-kit/example-waypoint -- [options]

  --uid <workload uid>   the waypoint's own workload in the mesh                    required
  --xds <host:port>      xDS server, or
  --config <file>        a mesh file (workloads, services and the policies)
  --policies <file>      AuthorizationPolicies (default: the --config file)
  --ca-dir <dir>         CA shared with the ztunnels (created if empty)             default ./.mesh-ca
  --trust-domain <td>    default cluster.local
  --retries <n>          upstream connect retries                                   default 2
`;

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      uid: { type: 'string' },
      xds: { type: 'string' },
      config: { type: 'string' },
      policies: { type: 'string' },
      'ca-dir': { type: 'string', default: '.mesh-ca' },
      'trust-domain': { type: 'string', default: 'cluster.local' },
      retries: { type: 'string', default: '2' },
      help: { type: 'boolean', default: false },
    },
    strict: true,
  });
  const policyFile = values.policies ?? values.config;
  if (
    values.help ||
    values.uid === undefined ||
    (values.xds === undefined) === (values.config === undefined) ||
    policyFile === undefined
  ) {
    process.stdout.write(HELP);
    if (!values.help)
      process.stderr.write('\n--uid, exactly one of --xds or --config, and a policy file are required\n');
    process.exitCode = values.help ? 0 : 2;
    return;
  }
  const ca = await loadOrCreateCaDir(values['ca-dir'], values['trust-domain']);
  let meshFile: MeshFileWatcher | undefined;
  let xds: XdsClient | undefined;
  const store = createWorkloadStore();
  if (values.config !== undefined) {
    meshFile = await watchMeshFile({ path: values.config, store });
  } else {
    xds = createXdsClient({ address: values.xds as string, store });
    await xds.ready({ timeoutMs: 30_000 });
  }
  const policies = await watchMeshPolicies(policyFile, {
    onError: (error) => process.stderr.write(`policy file rejected, keeping the last good one: ${error}\n`),
  });
  // The waypoint presents its own workload's identity.
  const self = store.workload(values.uid);
  if (self === undefined) throw new Error(`workload ${values.uid} is not in the mesh`);
  const identity = self.identity;
  const certs = createCertificateManager({ ca: caClientFromAuthority(ca), ttlMs: 24 * 3600_000 });
  const waypoint = createWaypoint({
    workloadUid: values.uid,
    workloads: { store },
    svid: await certs.source(identity),
    bundles: createBundleSet([ca.bundle]),
    policies,
    retries: Number(values.retries),
  });
  const address = await waypoint.start({ timeoutMs: 30_000 });
  process.stdout.write(`waypoint listening on ${address} as ${identity}\n`);
  await new Promise<void>((resolve) => {
    process.once('SIGINT', () => resolve());
    process.once('SIGTERM', () => resolve());
  });
  await waypoint.close();
  policies.close();
  certs.close();
  await meshFile?.close();
  await xds?.close();
}

await main();
