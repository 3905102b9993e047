/**
 * The example waypoint as a program.
 *
 * ```sh
 * npm start -w @ambient-kit/example-waypoint -- --uid Kubernetes//Pod/default/waypoint-0 --config mesh.yaml
 * # workloads from istiod's (or ambient-control-plane's) xDS over TLS, the L7 resources still from the mesh file
 * CA_ADDRESS=localhost:15012 CA_ROOT_CA=root-cert.pem AUTH_TOKEN=waypoint-token \
 *   npm start -w @ambient-kit/example-waypoint -- --uid Kubernetes//Pod/default/waypoint-0 \
 *   --xds localhost:15012 --config mesh.yaml
 * ```
 *
 * It listens on its workload's IP: HBONE on 15008, admin on 15000, metrics on 15020, readiness on 15021, with
 * a certificate for its workload's identity from the Istio CA at `CA_ADDRESS`, asked for with its own token
 * (no impersonation: the CA signs the token's service account, which must be the workload's), rotated at
 * half-life; `--ca-dir` (an in-process CA in a directory) is a testing option. The control-plane flags and
 * environment variables are ztunnel's (docs/examples.md).
 * The mesh file is followed: a valid edit applies to the next request, an invalid one is logged and the last
 * good configuration stays. Relative paths are taken from the directory npm was run in. A bad flag, file or uid
 * is one line on stderr and exit code 2. SIGTERM (or SIGINT) drains: new connections are refused, requests in
 * flight finish until `--drain-ms`, then it exits.
 * @module
 */
import {
  CONTROL_PLANE_FLAG_OPTIONS,
  CONTROL_PLANE_HELP,
  parseControlPlaneFlags,
  parseXdsEndpoint,
} from '@ambient-kit/example-ztunnel/control-plane-flags';
import { oneOf, parseFlags, runProgram, UsageError, userPath } from '@ambient-kit/example-ztunnel/program';
import { LOG_LEVELS } from './logger.js';

const HELP = `Usage: npm start -w @ambient-kit/example-waypoint -- [options]

  --uid <workload uid>      the waypoint's own workload in the mesh                          required
  --config <file>           the mesh file: workloads and services, and the Kubernetes objects the
                            waypoint applies (Service, HTTPRoute, GRPCRoute, VirtualService,
                            DestinationRule, AuthorizationPolicy, RequestAuthentication)      required
  --xds <host:port>         workloads from this xDS server (XDS_ADDRESS) over TLS with the token instead
                            of the mesh file (http://host:port: plaintext)
  --trust-domain <td>       default cluster.local
${CONTROL_PLANE_HELP.trimEnd()}
  --admin-port <port>       Envoy's admin (/config_dump, /stats/prometheus, /ready, /logging)  default 15000
  --metrics-port <port>     merged metrics (/stats/prometheus)                                default 15020
  --readiness-port <port>   readiness (/healthz/ready)                                        default 15021
                            (0: a free port, for each of the three)
  --drain-ms <ms>           how long requests in flight may finish after SIGTERM              default 5000
  --log-level <level>       ${LOG_LEVELS.join(', ')}       default info

Relative paths are taken from the directory npm was run in.
`;

function portFlag(flag: string, value: string): number {
  if (!/^\d{1,5}$/.test(value) || Number(value) > 65535)
    throw new UsageError(`${flag}: expected a port from 0 to 65535, got ${JSON.stringify(value)}`);
  return Number(value);
}

async function main(): Promise<number> {
  const values = parseFlags({
    uid: { type: 'string' },
    xds: { type: 'string' },
    config: { type: 'string' },
    ...CONTROL_PLANE_FLAG_OPTIONS,
    'trust-domain': { type: 'string', default: 'cluster.local' },
    'admin-port': { type: 'string', default: '15000' },
    'metrics-port': { type: 'string', default: '15020' },
    'readiness-port': { type: 'string', default: '15021' },
    'drain-ms': { type: 'string', default: '5000' },
    'log-level': { type: 'string', default: 'info' },
    help: { type: 'boolean', default: false },
  });
  if (values.help) {
    process.stdout.write(HELP);
    return 0;
  }
  if (values.uid === undefined || values.uid === '') throw new UsageError('--uid is required');
  if (values.config === undefined || values.config === '')
    throw new UsageError('--config <mesh file> is required (with --xds, for the L7 resources)');
  const xdsAddress = values.xds ?? process.env['XDS_ADDRESS'];
  const xds =
    xdsAddress === undefined
      ? undefined
      : parseXdsEndpoint(values.xds === undefined ? 'XDS_ADDRESS' : '--xds', xdsAddress);
  const controlPlane = parseControlPlaneFlags(values, process.env);
  const ports = {
    admin: portFlag('--admin-port', values['admin-port']),
    metrics: portFlag('--metrics-port', values['metrics-port']),
    readiness: portFlag('--readiness-port', values['readiness-port']),
  };
  if (!/^\d{1,7}$/.test(values['drain-ms']))
    throw new UsageError(`--drain-ms: expected milliseconds, got ${JSON.stringify(values['drain-ms'])}`);
  const logLevel = oneOf('--log-level', values['log-level'], LOG_LEVELS);
  const trustDomain = values['trust-domain'];
  // The waypoint and everything it runs load only now: --help and a bad flag answer at once.
  const { runWaypoint } = await import('./run-waypoint.js');
  return runWaypoint({
    uid: values.uid,
    config: userPath(values.config),
    ...(xds === undefined ? {} : { xds }),
    controlPlane,
    trustDomain,
    ports,
    drainMs: Number(values['drain-ms']),
    logLevel,
  });
}

await runProgram(main, { name: 'waypoint' });
