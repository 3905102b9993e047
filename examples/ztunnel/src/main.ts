/**
 * The example ztunnel as a program.
 *
 * ```sh
 * # no root: workload state from a mesh file (ztunnel's LOCAL_XDS_PATH), apps use SOCKS5 on 15080
 * npm start -w @ambient-kit/example-ztunnel -- --node node-a --config mesh.yaml --ca-dir /tmp/mesh-ca
 * # from a control plane's xDS server instead
 * npm start -w @ambient-kit/example-ztunnel -- --node node-a --xds 127.0.0.1:15010 --ca-dir /tmp/mesh-ca
 * # root, in-pod: pods handed over by istio-cni over ZDS, or named on the command line
 * npm start -w @ambient-kit/example-ztunnel -- --node node-a --xds 127.0.0.1:15010 --ca-dir /tmp/mesh-ca \
 *   --mode inpod --zds /var/run/ztunnel/ztunnel.sock --inpod Kubernetes//Pod/default/sleep=/var/run/netns/sleep
 * ```
 *
 * Environment variables as ztunnel reads them are honoured as defaults: `NODE_NAME`, `XDS_ADDRESS`,
 * `LOCAL_XDS_PATH`, `TRUST_DOMAIN`. SIGINT/SIGTERM (or `POST /quitquitquit` on the admin port) shut it down.
 * @module
 */
import { parseArgs } from 'node:util';
import { connectZdsProxy, type ZdsProxyConnection } from '@ambient-kit/redirect';
import { createBundleSet } from '@ambient-kit/spiffe';
import { createWorkloadStore } from '@ambient-kit/workload-api';
import { type MeshFileWatcher, watchMeshFile } from '@ambient-kit/workload-api/xds';
import { loadOrCreateCaDir } from './ca-dir.js';
import { caClientFromAuthority } from './certificates.js';
import type { WorkloadSource, ZtunnelMode } from './config.js';
import { streamLogger } from './logger.js';
import { createZtunnel } from './ztunnel.js';

const HELP = `Usage: npm start -w @ambient-kit/example-ztunnel -- [options]

  --node <name>           the node served (NODE_NAME)                                  required
  --xds <host:port>       xDS server (XDS_ADDRESS), or
  --config <file>         a mesh file, watched (LOCAL_XDS_PATH)
  --ca-dir <dir>          CA shared with the other processes (created if empty)         default ./.mesh-ca
  --trust-domain <td>     default cluster.local (TRUST_DOMAIN)
  --node-address <ip>     address of admin/metrics/readiness/socks5                      default 127.0.0.1
  --ephemeral-ports       free ports instead of 15000/15020/15021/15080
  --mode <loopback|inpod> default loopback
  --inpod <uid>=<netns>   inpod: serve this workload in this network namespace (repeatable)
  --zds <path>            inpod: receive pods from istio-cni over ZDS (ztunnel's: /var/run/ztunnel/ztunnel.sock)
  --preserve-source-ip    connect to apps from the client's IP (ENABLE_ORIG_SRC)
  --log-level <level>     debug, info, warn, error                                       default info
`;

async function main(): Promise<void> {
  const { NODE_NAME, XDS_ADDRESS, LOCAL_XDS_PATH, TRUST_DOMAIN } = process.env;
  const { values } = parseArgs({
    options: {
      node: { type: 'string', default: NODE_NAME },
      xds: { type: 'string', default: XDS_ADDRESS },
      config: { type: 'string', default: LOCAL_XDS_PATH },
      'ca-dir': { type: 'string', default: '.mesh-ca' },
      'trust-domain': { type: 'string', default: TRUST_DOMAIN ?? 'cluster.local' },
      'node-address': { type: 'string', default: '127.0.0.1' },
      'ephemeral-ports': { type: 'boolean', default: false },
      mode: { type: 'string', default: 'loopback' },
      inpod: { type: 'string', multiple: true, default: [] },
      zds: { type: 'string' },
      'preserve-source-ip': { type: 'boolean', default: false },
      'log-level': { type: 'string', default: 'info' },
      help: { type: 'boolean', default: false },
    },
    strict: true,
  });
  if (
    values.help ||
    values.node === undefined ||
    (values.xds === undefined) === (values.config === undefined)
  ) {
    process.stdout.write(HELP);
    if (!values.help) process.stderr.write('\n--node and exactly one of --xds or --config are required\n');
    process.exitCode = values.help ? 0 : 2;
    return;
  }
  if (values.mode !== 'loopback' && values.mode !== 'inpod')
    throw new RangeError(`--mode: loopback or inpod, got ${values.mode}`);
  const level = values['log-level'];
  if (level !== 'debug' && level !== 'info' && level !== 'warn' && level !== 'error') {
    throw new RangeError(`--log-level: debug, info, warn or error, got ${level}`);
  }
  const ca = await loadOrCreateCaDir(values['ca-dir'], values['trust-domain']);
  let meshFile: MeshFileWatcher | undefined;
  let workloads: WorkloadSource;
  if (values.config !== undefined) {
    const store = createWorkloadStore();
    meshFile = await watchMeshFile({ path: values.config, store });
    meshFile.on('error', (error) =>
      process.stderr.write(`mesh file rejected, keeping the last good one: ${error.message}\n`),
    );
    workloads = { store };
  } else {
    workloads = { xdsAddress: values.xds as string };
  }
  const shutdown = new AbortController();
  const ztunnel = createZtunnel({
    nodeName: values.node,
    workloads,
    ca: caClientFromAuthority(ca),
    bundles: createBundleSet([ca.bundle]),
    mode: values.mode as ZtunnelMode,
    nodeAddress: values['node-address'],
    ...(values['ephemeral-ports'] ? { ports: { admin: 0, metrics: 0, readiness: 0, socks5: 0 } } : {}),
    preserveSourceIp: values['preserve-source-ip'],
    logger: streamLogger({ level }),
    onQuit: () => shutdown.abort(),
  });
  await ztunnel.start();
  let zds: ZdsProxyConnection | undefined;
  if (values.mode === 'inpod') {
    for (const spec of values.inpod) {
      const eq = spec.lastIndexOf('=');
      if (eq <= 0) throw new RangeError(`--inpod: expected <uid>=<netns>, got ${spec}`);
      await ztunnel.ready({ timeoutMs: 30_000 });
      await ztunnel.addInpodWorkload(spec.slice(0, eq), spec.slice(eq + 1));
    }
    if (values.zds !== undefined) {
      // ZDS names pods by Kubernetes UID and describes them by name, namespace and service account; the
      // workload store maps that to the workload (ztunnel `find_by_info`).
      const byPod = new Map<string, string>();
      zds = await connectZdsProxy({
        path: values.zds,
        signal: shutdown.signal,
        handlers: {
          async addWorkload({ uid, workloadInfo, netns }) {
            const workload =
              workloadInfo === undefined ? undefined : ztunnel.store.workloadByInfo(workloadInfo);
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
  }
  await new Promise<void>((resolve) => {
    process.once('SIGINT', () => resolve());
    process.once('SIGTERM', () => resolve());
    shutdown.signal.addEventListener('abort', () => resolve(), { once: true });
  });
  shutdown.abort();
  zds?.close();
  await ztunnel.close();
  await meshFile?.close();
}

await main();
