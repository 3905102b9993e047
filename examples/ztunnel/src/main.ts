/**
 * The example ztunnel as a program.
 *
 * ```sh
 * # no root: workload state from a mesh file (ztunnel's LOCAL_XDS_PATH), apps use SOCKS5 on 15080
 * npm start -w @ambient-kit/example-ztunnel -- --node node-a --config mesh.yaml
 * # from a control plane's xDS server instead
 * npm start -w @ambient-kit/example-ztunnel -- --node node-a --xds 127.0.0.1:15010
 * # root, in-pod: pods handed over by istio-cni over ZDS, or named on the command line
 * npm start -w @ambient-kit/example-ztunnel -- --node node-a --xds 127.0.0.1:15010 \
 *   --mode inpod --zds /var/run/ztunnel/ztunnel.sock --inpod Kubernetes//Pod/default/sleep=/var/run/netns/sleep
 * ```
 *
 * Environment variables as ztunnel reads them are honoured as defaults: `NODE_NAME`, `XDS_ADDRESS`,
 * `LOCAL_XDS_PATH`, `TRUST_DOMAIN`. Relative paths are taken from the directory npm was run in
 * (`INIT_CWD`); the CA lives in `defaultCaDir()` (program.ts) unless `--ca-dir` says otherwise. A bad flag, file,
 * namespace or workload is one line on stderr and exit code 2. SIGINT/SIGTERM (or `POST /quitquitquit` on
 * the admin port) shut it down.
 * @module
 */
import { parseZtunnelArgs, ZTUNNEL_HELP } from './cli-options.js';
import { runProgram } from './program.js';

async function main(): Promise<number> {
  const options = parseZtunnelArgs(process.argv.slice(2), process.env);
  if (options.help) {
    process.stdout.write(ZTUNNEL_HELP);
    return 0;
  }
  // The proxy and everything it runs load only now: --help and a bad flag answer at once.
  const { runZtunnel } = await import('./run-ztunnel.js');
  return runZtunnel(options);
}

await runProgram(main, { name: 'ztunnel' });
