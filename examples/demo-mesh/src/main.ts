/**
 * The demo mesh: an Istio ambient data plane assembled from ambient-kit, on loopback, with no cluster and
 * no root. Starts a control plane, a CA, a ztunnel per node, a waypoint and the apps, runs the scripted
 * scenario (docs/examples.md), prints what happened, and exits 0 when every check passed, 1 when one
 * failed, 2 when it could not start (a bad flag or mesh file, an address in use): one line per problem on
 * stderr, never a stack trace.
 *
 * Run from the repository root: `npm start` (flags after `--`: `npm start -- --print-config`). Flags:
 * `--config <file>` (a mesh file instead of the built-in one; `--print-config` prints the built-in one to
 * start from; a relative path is taken from the directory npm was run in), `--keep-running` (stay up after
 * the scenario, until Ctrl-C, logging every denial), `--verbose` (every access log line as it happens, once,
 * and every component's log), `--ephemeral-ports` (free ports instead of ztunnel's 15000/15020/15021/15080
 * on each node address).
 * @module
 */
import { readFile } from 'node:fs/promises';
import { parseFlags, runProgram, UsageError, userPath } from '@ambient-kit/example-ztunnel/program';

const HELP = `Usage: npm start [-- options]   (or: npm start -w @ambient-kit/example-demo-mesh -- options)

  --config <file>     mesh file to run instead of the built-in one (docs/control-plane.md "Mesh file format");
                      a relative path is taken from the directory npm was run in
  --print-config      print the mesh file (the built-in one, or --config's) and exit
  --keep-running      keep the mesh up after the scenario (Ctrl-C to stop), logging every denial
  --verbose           print every access log line as it happens, and every component's log
  --ephemeral-ports   bind ztunnels' node-level listeners on free ports instead of 15000/15020/15021/15080
  --help              this text

Exit code: 0 every check passed, 1 a check failed, 2 the mesh did not start (bad flags or mesh file, an
address in use).
`;

async function main(): Promise<number> {
  const values = parseFlags({
    config: { type: 'string' },
    'print-config': { type: 'boolean', default: false },
    'keep-running': { type: 'boolean', default: false },
    verbose: { type: 'boolean', default: false },
    'ephemeral-ports': { type: 'boolean', default: false },
    help: { type: 'boolean', default: false },
  });
  if (values.help) {
    process.stdout.write(HELP);
    return 0;
  }
  const configPath = values.config === undefined ? undefined : userPath(values.config);
  const source = configPath ?? 'the built-in mesh file';
  const meshText = await readFile(configPath ?? new URL('./mesh.yaml', import.meta.url), 'utf8').catch(
    (error: unknown) => {
      throw new UsageError(
        `--config: cannot read ${configPath}: ${(error as { code?: string }).code ?? error}`,
      );
    },
  );
  if (values['print-config']) {
    process.stdout.write(meshText);
    return 0;
  }
  // The mesh and everything it runs load only now: --help, --print-config and a bad flag answer at once.
  const { runDemo } = await import('./run-demo.js');
  return runDemo({
    meshText,
    source,
    verbose: values.verbose,
    keepRunning: values['keep-running'],
    standardPorts: !values['ephemeral-ports'],
  });
}

await runProgram(main, { name: 'demo' });
