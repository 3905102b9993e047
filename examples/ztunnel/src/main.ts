/**
 * The example ztunnel as a program.
 *
 * ```sh
 * # against istiod (or ambient-control-plane): xDS and certificates over TLS on 15012, with the node's token
 * NODE_NAME=node-a XDS_ADDRESS=localhost:15012 CA_ADDRESS=127.0.0.1:15012 CA_ROOT_CA=root-cert.pem \
 *   XDS_ROOT_CA=root-cert.pem ALT_CA_HOSTNAME=istiod.istio-system.svc ALT_XDS_HOSTNAME=istiod.istio-system.svc \
 *   AUTH_TOKEN=istio-token npm start -w @ambient-kit/example-ztunnel
 * # testing, no control plane: workloads from a mesh file (LOCAL_XDS_PATH), an in-process CA in a directory
 * npm start -w @ambient-kit/example-ztunnel -- --node node-a --config mesh.yaml --ca-dir /tmp/mesh-ca
 * # root, in-pod: pods handed over by istio-cni over ZDS, or named on the command line
 * npm start -w @ambient-kit/example-ztunnel -- --node node-a --xds localhost:15012 \
 *   --mode inpod --zds /var/run/ztunnel/ztunnel.sock --inpod Kubernetes//Pod/default/sleep=/var/run/netns/sleep
 * ```
 *
 * Environment variables as ztunnel reads them are honoured as defaults (istio/ztunnel@62d82653:src/config.rs):
 * `NODE_NAME`, `XDS_ADDRESS`, `LOCAL_XDS_PATH`, `TRUST_DOMAIN`, and for the control plane `CA_ADDRESS`,
 * `CA_ROOT_CA`, `XDS_ROOT_CA`, `ALT_CA_HOSTNAME`, `ALT_XDS_HOSTNAME`, `AUTH_TOKEN`, `ISTIO_META_CLUSTER_ID`,
 * `SECRET_TTL` (control-plane-flags.ts). Certificates come from the Istio CA at `CA_ADDRESS` (default
 * `localhost:15012`), one CSR per local identity with `ImpersonatedIdentity`; `--ca-dir` is a testing option.
 * Relative paths are taken from the directory npm was run in (`INIT_CWD`). A bad flag, file, namespace or
 * workload is one line on stderr and exit code 2. SIGINT/SIGTERM (or `POST /quitquitquit` on the admin port)
 * shut it down.
 * @module
 */
import { ztunnelMain } from './cli-options.js';
import { runProgram } from './program.js';

await runProgram(ztunnelMain, { name: 'ztunnel' });
