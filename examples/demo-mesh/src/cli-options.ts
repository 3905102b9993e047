/**
 * The demo's flags and its `main` (`src/main.ts` runs it as the process; the tests call it in theirs).
 * @module
 */
import { readFile } from 'node:fs/promises';
import { type ProgramArgs, parseFlags, UsageError, userPath } from '@ambient-kit/example-ztunnel/program';

/** The usage text. */
export const DEMO_HELP: string = `Usage: npm start [-- options]   (or: npm start -w @ambient-kit/example-demo-mesh -- options)

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

/**
 * The demo program: its flags, then `--help`, `--print-config`, or the mesh and the scenario. Resolves with
 * the exit code (0 every check passed, 1 one failed, 2 it did not start); a bad flag or an unreadable
 * `--config` throws (one line, exit 2 by `runProgram`).
 *
 * @param argv - The flags and the environment (`INIT_CWD` for a relative `--config`).
 * @returns The exit code.
 * @example
 * ```ts
 * const code = await demoMain({ args: ['--print-config'], env: process.env }); // 0, the mesh file on stdout
 * ```
 */
export async function demoMain({ args, env }: ProgramArgs): Promise<number> {
  const values = parseFlags(
    {
      config: { type: 'string' },
      'print-config': { type: 'boolean', default: false },
      'keep-running': { type: 'boolean', default: false },
      verbose: { type: 'boolean', default: false },
      'ephemeral-ports': { type: 'boolean', default: false },
      help: { type: 'boolean', default: false },
    },
    args,
  );
  if (values.help) {
    process.stdout.write(DEMO_HELP);
    return 0;
  }
  const configPath = values.config === undefined ? undefined : userPath(values.config, env);
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
