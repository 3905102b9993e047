/**
 * An example program run the way `npm start -w <workspace>` runs it: a child process in the workspace's
 * directory (tsx, the source condition), with the user's directory in `INIT_CWD` when a test says so. The
 * ztunnel, waypoint and demo tests all use it. {@link runInProcess} runs the same `main` in the test's own
 * process, for the many cases of a program's flags and files: a child costs a second or more of CPU to start
 * (tsx and the module graph), so each program keeps a few real spawned runs (its exit, signals, no root) and
 * answers the rest in-process.
 */
import { type ChildProcessWithoutNullStreams, spawn } from 'node:child_process';
import { type ProgramMain, programExitCode } from '../../src/program.js';

/** What a finished program left. */
export interface ProgramRun {
  readonly code: number | null;
  readonly stdout: string;
  readonly stderr: string;
  /** From spawn to exit. */
  readonly elapsedMs: number;
  /** From the first byte on stderr to exit (`undefined` when nothing was printed there). */
  readonly exitAfterStderrMs: number | undefined;
}

/** Options of {@link startProgram}. */
export interface StartProgramOptions {
  /** Extra environment (e.g. `INIT_CWD`, `XDG_STATE_HOME`). */
  readonly env?: NodeJS.ProcessEnv;
  /** Killed (SIGKILL) after this long. Default 90 s. */
  readonly killAfterMs?: number;
}

/** A running (or finished) program. */
export interface Program {
  readonly child: ChildProcessWithoutNullStreams;
  /** Everything printed so far. */
  readonly output: { stdout: string; stderr: string };
  /**
   * Resolves with the first match of `pattern` in stdout from offset `from` (default 0); rejects when the
   * program exits first, or after `timeoutMs` (default 60 s).
   */
  waitForStdout(
    pattern: RegExp,
    options?: { readonly from?: number; readonly timeoutMs?: number },
  ): Promise<RegExpMatchArray>;
  /** Resolves when it ended. */
  readonly done: Promise<ProgramRun>;
  /** SIGTERM, then the exit code. */
  stop(): Promise<number | null>;
}

/**
 * Starts `src/main.ts` of a workspace.
 *
 * @param cwd - The workspace directory.
 * @param args - Flags.
 * @param options - Environment and kill timer.
 * @returns The program.
 */
export function startProgram(
  cwd: string,
  args: readonly string[],
  options: StartProgramOptions = {},
): Program {
  const t0 = performance.now();
  const child = spawn(
    process.execPath,
    ['--conditions=@ambient-kit/source', '--import', 'tsx', 'src/main.ts', ...args],
    { cwd, env: { ...process.env, ...options.env } },
  );
  child.stdin.end();
  const output = { stdout: '', stderr: '' };
  const wakers = new Set<() => void>();
  let stderrAt: number | undefined;
  child.stdout.setEncoding('utf8').on('data', (d: string) => {
    output.stdout += d;
    for (const wake of wakers) wake();
  });
  child.stderr.setEncoding('utf8').on('data', (d: string) => {
    stderrAt ??= performance.now();
    output.stderr += d;
  });
  const killer = setTimeout(() => child.kill('SIGKILL'), options.killAfterMs ?? 90_000);
  const done = new Promise<ProgramRun>((resolve, reject) => {
    child.on('error', reject);
    child.on('close', (code) => {
      clearTimeout(killer);
      for (const wake of wakers) wake();
      const now = performance.now();
      resolve({
        code,
        ...output,
        elapsedMs: now - t0,
        exitAfterStderrMs: stderrAt === undefined ? undefined : now - stderrAt,
      });
    });
  });
  return {
    child,
    output,
    done,
    waitForStdout(pattern, { from = 0, timeoutMs = 60_000 } = {}) {
      return new Promise((resolve, reject) => {
        const timer = setTimeout(() => {
          wakers.delete(check);
          reject(new Error(`no ${pattern} within ${timeoutMs} ms:\n${output.stdout}${output.stderr}`));
        }, timeoutMs);
        const check = (): void => {
          const m = pattern.exec(output.stdout.slice(from));
          if (m === null && child.exitCode === null) return;
          clearTimeout(timer);
          wakers.delete(check);
          if (m !== null) resolve(m);
          else
            reject(
              new Error(`exited (${child.exitCode}) before ${pattern}:\n${output.stdout}${output.stderr}`),
            );
        };
        wakers.add(check);
        check();
      });
    },
    async stop() {
      if (child.exitCode === null) child.kill('SIGTERM');
      return (await done).code;
    },
  };
}

/**
 * Runs a program to its end.
 *
 * @param cwd - The workspace directory.
 * @param args - Flags.
 * @param options - Environment and kill timer.
 * @returns The exit code and output.
 */
export function runProgramToEnd(
  cwd: string,
  args: readonly string[],
  options: StartProgramOptions = {},
): Promise<ProgramRun> {
  return startProgram(cwd, args, options).done;
}

/**
 * Whether text holds a stack trace (frames, or Node's uncaught-error footer).
 *
 * @param text - A program's stderr.
 * @returns True when it does.
 */
export function hasStackTrace(text: string): boolean {
  return /^\s+at .+:\d+:\d+\)?$/m.test(text) || /node:internal|Node\.js v\d/.test(text);
}

/** What an in-process run left. */
export interface InProcessRun {
  readonly code: number;
  readonly stdout: string;
  readonly stderr: string;
}

/**
 * Runs a program's `main` in this process, as `runProgram` does for the real one (the same one-line error
 * and exit code 2), with what it writes to `process.stdout` and `process.stderr` captured while it runs.
 * Cases run one at a time (a test file's tests are sequential).
 *
 * @param main - The program's `main` (e.g. `ztunnelMain`).
 * @param name - Its error-line prefix, e.g. `ztunnel`.
 * @param args - Flags.
 * @param env - Added to this process's environment (e.g. `INIT_CWD`).
 * @returns The exit code and output.
 */
export async function runInProcess(
  main: ProgramMain,
  name: string,
  args: readonly string[],
  env: NodeJS.ProcessEnv = {},
): Promise<InProcessRun> {
  const output = { stdout: '', stderr: '' };
  const writes = { stdout: process.stdout.write, stderr: process.stderr.write };
  const capture =
    (stream: 'stdout' | 'stderr') =>
    (chunk: string | Uint8Array, ...rest: unknown[]): boolean => {
      output[stream] += typeof chunk === 'string' ? chunk : Buffer.from(chunk).toString('utf8');
      const done = rest.find((r) => typeof r === 'function') as (() => void) | undefined;
      done?.();
      return true;
    };
  process.stdout.write = capture('stdout') as typeof process.stdout.write;
  process.stderr.write = capture('stderr') as typeof process.stderr.write;
  try {
    const code = await programExitCode(main, name, { args, env: { ...process.env, ...env } });
    return { code, ...output };
  } finally {
    process.stdout.write = writes.stdout;
    process.stderr.write = writes.stderr;
  }
}
