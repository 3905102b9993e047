/**
 * Runs a command as a user without root, for the tests that check a program refuses to run so: in a user
 * namespace of its own with no uid mapped (`unshare --user`), the process is uid 65534 with no capabilities,
 * yet, its files being root's, it still reads a checkout under a directory only root may enter (CI clones
 * anywhere), which a plain `setuid(65534)` could not.
 */
import { spawn } from 'node:child_process';

/** How an unprivileged run ended. */
export interface UnprivilegedRun {
  readonly code: number | null;
  readonly stderr: string;
}

/**
 * Runs `command` with `args` unprivileged in `cwd` and collects its stderr.
 *
 * @param command - The program, e.g. `process.execPath`.
 * @param args - Its arguments.
 * @param options - The working directory and extra environment.
 * @returns The exit code and stderr.
 * @example
 * ```ts
 * const run = await runUnprivileged(process.execPath, ['-e', 'process.exit(process.getuid() === 65534 ? 0 : 1)'], { cwd: '/' });
 * ```
 */
export function runUnprivileged(
  command: string,
  args: readonly string[],
  options: { readonly cwd: string; readonly env?: NodeJS.ProcessEnv },
): Promise<UnprivilegedRun> {
  return new Promise((resolve, reject) => {
    const child = spawn('unshare', ['--user', command, ...args], {
      cwd: options.cwd,
      env: { ...process.env, ...options.env },
    });
    child.on('error', (error) => reject(new Error(`cannot start ${command} as uid 65534: ${error.message}`)));
    let stderr = '';
    child.stderr.setEncoding('utf8').on('data', (d: string) => {
      stderr += d;
    });
    child.on('close', (code) => resolve({ code, stderr }));
  });
}
