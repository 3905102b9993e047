/**
 * The example waypoint as a program.
 *
 * ```sh
 * npm start -w @ambient-kit/example-waypoint -- --uid Kubernetes//Pod/default/waypoint-0 --config mesh.yaml
 * # or with a control plane's xDS server, the policies still from a file
 * npm start -w @ambient-kit/example-waypoint -- --uid Kubernetes//Pod/default/waypoint-0 \
 *   --xds 127.0.0.1:15010 --policies mesh.yaml
 * ```
 *
 * It listens on its workload's IP, port 15008, with a certificate for its workload's identity signed by the
 * CA every example shares (`--ca-dir`, default `defaultCaDir()`, outside the working tree), so the example
 * ztunnels started with their defaults trust it. Relative paths are taken from the directory npm was run
 * in. A bad flag, file or uid is one line on stderr and exit code 2. SIGINT/SIGTERM shut it down.
 * @module
 */
import {
  defaultCaDir,
  parseFlags,
  runProgram,
  UsageError,
  userPath,
} from '@ambient-kit/example-ztunnel/program';

const HELP = `Usage: npm start -w @ambient-kit/example-waypoint -- [options]

  --uid <workload uid>   the waypoint's own workload in the mesh                    required
  --xds <host:port>      xDS server, or
  --config <file>        a mesh file (workloads, services and the policies)
  --policies <file>      AuthorizationPolicies (default: the --config file)
  --ca-dir <dir>         CA shared with the other examples (created if empty)
                         default $XDG_STATE_HOME/ambient-kit/ca/<trust domain>
                         (~/.local/state/ambient-kit/ca/<trust domain>)
  --trust-domain <td>    default cluster.local
  --retries <n>          upstream connect retries, 0..10                            default 2

Relative paths are taken from the directory npm was run in.
`;

async function main(): Promise<number> {
  const values = parseFlags({
    uid: { type: 'string' },
    xds: { type: 'string' },
    config: { type: 'string' },
    policies: { type: 'string' },
    'ca-dir': { type: 'string' },
    'trust-domain': { type: 'string', default: 'cluster.local' },
    retries: { type: 'string', default: '2' },
    help: { type: 'boolean', default: false },
  });
  if (values.help) {
    process.stdout.write(HELP);
    return 0;
  }
  if (values.uid === undefined || values.uid === '') throw new UsageError('--uid is required');
  if ((values.xds === undefined) === (values.config === undefined))
    throw new UsageError('exactly one of --xds or --config is required');
  const policyFile = values.policies ?? values.config;
  if (policyFile === undefined) throw new UsageError('--xds needs --policies <file>');
  if (values.xds !== undefined && !/^[^\s]+:\d{1,5}$/.test(values.xds))
    throw new UsageError(`--xds: expected host:port, got ${JSON.stringify(values.xds)}`);
  if (!/^(10|[0-9])$/.test(values.retries))
    throw new UsageError(
      `--retries: expected an integer from 0 to 10, got ${JSON.stringify(values.retries)}`,
    );
  const trustDomain = values['trust-domain'];
  // The waypoint and everything it runs load only now: --help and a bad flag answer at once.
  const { runWaypoint } = await import('./run-waypoint.js');
  return runWaypoint({
    uid: values.uid,
    workloads:
      values.config === undefined ? { xds: values.xds as string } : { config: userPath(values.config) },
    policies: userPath(policyFile),
    caDir: userPath(values['ca-dir'] ?? defaultCaDir(trustDomain)),
    trustDomain,
    retries: Number(values.retries),
  });
}

await runProgram(main, { name: 'waypoint' });
