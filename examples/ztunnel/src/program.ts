/**
 * What the example programs (the ztunnel, the waypoint, the demo mesh) share as command-line programs:
 * flags parsed strictly, paths resolved against the directory the user ran `npm` from, a place for a testing
 * CA directory kept out of the working tree, and one way to end: one clear line on stderr
 * and exit code 2 for bad flags or config, never a stack trace, never a process that lingers.
 * @module
 */
import { homedir } from 'node:os';
import { isAbsolute, join, resolve } from 'node:path';
import { type ParseArgsConfig, parseArgs } from 'node:util';

/**
 * A problem with what the user asked for (a flag, a file, a name in it): reported as one line, exit 2.
 *
 * @example
 * ```ts
 * throw new UsageError('--mode: expected loopback or inpod, got "foo"');
 * ```
 */
export class UsageError extends Error {
  override readonly name = 'UsageError';
}

/**
 * Parses `process.argv` strictly; an unknown flag or a missing value is a {@link UsageError}.
 *
 * @param options - `node:util` `parseArgs` options.
 * @param args - Default `process.argv.slice(2)`.
 * @returns The parsed values.
 * @throws {UsageError} On anything `parseArgs` refuses.
 * @example
 * ```ts
 * const values = parseFlags({ mode: { type: 'string', default: 'loopback' } });
 * ```
 */
export function parseFlags<const T extends NonNullable<ParseArgsConfig['options']>>(
  options: T,
  args: readonly string[] = process.argv.slice(2),
): ReturnType<typeof parseArgs<{ options: T; strict: true; allowPositionals: false }>>['values'] {
  try {
    return parseArgs({ args: [...args], options, strict: true, allowPositionals: false }).values;
  } catch (error) {
    // ERR_PARSE_ARGS_UNKNOWN_OPTION, ERR_PARSE_ARGS_INVALID_OPTION_VALUE, ERR_PARSE_ARGS_UNEXPECTED_POSITIONAL
    const code = (error as { code?: unknown }).code;
    if (typeof code === 'string' && code.startsWith('ERR_PARSE_ARGS')) {
      // Node's text goes on about positionals after its first sentence: keep the first one.
      throw new UsageError((error as Error).message.replace(/\. [\s\S]*$/, ''));
    }
    throw error;
  }
}

/**
 * Checks a flag's value against its allowed values.
 *
 * @param flag - The flag, e.g. `--mode`.
 * @param value - What the user gave.
 * @param allowed - The accepted values.
 * @returns The value, typed.
 * @throws {UsageError} When it is not one of them.
 * @example
 * ```ts
 * const mode = oneOf('--mode', values.mode, ['loopback', 'inpod'] as const);
 * ```
 */
export function oneOf<const T extends string>(flag: string, value: string, allowed: readonly T[]): T {
  if ((allowed as readonly string[]).includes(value)) return value as T;
  const list = `${allowed.slice(0, -1).join(', ')}${allowed.length > 1 ? ' or ' : ''}${allowed.at(-1)}`;
  throw new UsageError(`${flag}: expected ${list}, got ${JSON.stringify(value)}`);
}

/**
 * Resolves a path the user typed against the directory they ran `npm` from. `npm start -w <workspace>`
 * runs the program in the workspace's directory, so a plain `resolve()` would read `mesh.yaml` from
 * `examples/ztunnel/` instead of where the user is; npm passes the user's directory as `INIT_CWD`.
 *
 * @param path - Absolute or relative.
 * @param env - Default `process.env`.
 * @returns An absolute path.
 * @example
 * ```ts
 * userPath('mesh.yaml'); // INIT_CWD=/home/me -> /home/me/mesh.yaml
 * ```
 */
export function userPath(path: string, env: NodeJS.ProcessEnv = process.env): string {
  const base = env['INIT_CWD'];
  return resolve(base !== undefined && isAbsolute(base) ? base : process.cwd(), path);
}

/**
 * A per-user place for a testing CA directory (`--ca-dir`) that several examples share, so a ztunnel and a
 * waypoint given it trust each other: `$XDG_STATE_HOME/ambient-kit/ca/<trust domain>`, or
 * `~/.local/state/ambient-kit/ca/<trust domain>` (the XDG Base Directory default for state). It is outside
 * any working tree on purpose: the CA's private key never lands in a repository checkout.
 *
 * @param trustDomain - One CA per trust domain, so `--trust-domain` never meets another domain's CA.
 * @param env - Default `process.env`.
 * @returns An absolute directory.
 * @example
 * ```ts
 * defaultCaDir('cluster.local'); // /root/.local/state/ambient-kit/ca/cluster.local
 * ```
 */
export function defaultCaDir(trustDomain: string, env: NodeJS.ProcessEnv = process.env): string {
  const state = env['XDG_STATE_HOME'];
  // The spec says a relative XDG_STATE_HOME is invalid and must be ignored.
  const base = state !== undefined && isAbsolute(state) ? state : join(homedir(), '.local', 'state');
  return join(base, 'ambient-kit', 'ca', trustDomain);
}

/** What a program's `main` is given: its flags and its environment. */
export interface ProgramArgs {
  /** The flags: `process.argv.slice(2)` when it runs as a process. */
  readonly args: readonly string[];
  /** The environment: `process.env` when it runs as a process. */
  readonly env: NodeJS.ProcessEnv;
}

/** A program's `main`: resolves with its exit code, throws only while starting up. */
export type ProgramMain = (argv: ProgramArgs) => Promise<number>;

/** Options of {@link runProgram}. */
export interface RunProgramOptions {
  /** Prefix of the error line, e.g. `ztunnel`. */
  readonly name: string;
  /**
   * How long to let the event loop drain after `main` settled before exiting anyway. A socket or timer
   * left behind by a failed start must not keep a program that has nothing left to do alive. Default 3 s.
   */
  readonly graceMs?: number;
}

/**
 * Runs a program's `main` and returns its exit code: what it resolved with, or 2 after printing what it
 * threw as one line on stderr (`<name>: <message>`, no stack trace). {@link runProgram} is this plus the
 * process's exit; the tests call it directly, in their own process, with the flags and environment of a case.
 *
 * @param main - The program.
 * @param name - Prefix of the error line, e.g. `ztunnel`.
 * @param argv - Default: this process's flags and environment.
 * @returns The exit code.
 * @example
 * ```ts
 * const code = await programExitCode(async ({ args }) => (args.length === 0 ? 0 : 1), 'demo', { args: [], env: {} });
 * ```
 */
export async function programExitCode(
  main: ProgramMain,
  name: string,
  argv: ProgramArgs = { args: process.argv.slice(2), env: process.env },
): Promise<number> {
  try {
    return await main(argv);
  } catch (error) {
    process.stderr.write(`${name}: ${oneLine(error)}\n`);
    return 2;
  }
}

/**
 * Runs a program's `main` as this process: its resolved number is the exit code; anything it throws is
 * printed as one line (`<name>: <message>`, no stack trace) and exits 2 (the programs throw only while
 * starting up, on bad flags, files or names, or an address in use).
 *
 * @param main - The program; resolves with its exit code.
 * @param options - Name and drain grace.
 * @returns Resolves when `main` settled (the exit code is set).
 * @example
 * ```ts
 * await runProgram(async ({ args }) => (args.length === 0 ? 0 : 2), { name: 'ztunnel' });
 * ```
 */
export async function runProgram(main: ProgramMain, options: RunProgramOptions): Promise<void> {
  const code = await programExitCode(main, options.name);
  process.exitCode = code;
  setTimeout(() => process.exit(code), options.graceMs ?? 3000).unref();
}

/**
 * An error as one line: its message with line breaks folded (YAML and TLS errors span several).
 *
 * @param error - Anything thrown.
 * @returns The text.
 * @example
 * ```ts
 * oneLine(new Error('a\n  b')); // 'a b'
 * ```
 */
export function oneLine(error: unknown): string {
  const text = error instanceof Error ? error.message : String(error);
  return text.replace(/\s*\n\s*/g, ' ').trim();
}
