/**
 * An example program run the way `npm start -w <workspace>` runs it: a child process in the workspace's
 * directory (tsx, the source condition), with the user's directory in `INIT_CWD` when a test says so. The
 * ztunnel, waypoint and demo tests all use it.
 */
import { type ChildProcessWithoutNullStreams, spawn } from 'node:child_process';

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
