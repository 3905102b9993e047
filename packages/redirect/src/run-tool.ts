/**
 * Running `iptables-restore`, `nft` and `ip` inside a network namespace.
 *
 * The child is spawned while the current thread is inside the namespace (`runInNetns`): `fork` copies the
 * thread's namespaces, so the tool runs in the pod's network namespace and in the host's mount namespace
 * (it sees the host's binaries and /run). No `nsenter` or `ip netns exec` is needed, and the namespace is
 * the one the handle pins, even if its path is re-bound meanwhile.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { accessSync, constants as fsConstants } from 'node:fs';
import { delimiter, join } from 'node:path';
import { RedirectError } from './codec/errors.js';
import { type NetnsHandle, runInNetns } from './netns.js';

/**
 * Absolute paths for the tools, to override the `PATH` search (e.g. `{ 'iptables-restore':
 * '/usr/sbin/iptables-nft-restore' }`).
 *
 * @example
 * ```ts
 * const tools: ToolPaths = { nft: '/usr/local/sbin/nft' };
 * ```
 */
export type ToolPaths = Readonly<Record<string, string>>;

/**
 * Options of {@link runTool}.
 *
 * @example
 * ```ts
 * const options: RunToolOptions = { stdin: '*nat\nCOMMIT\n', timeoutMs: 5000 };
 * ```
 */
export interface RunToolOptions {
  /** Run inside this namespace. Default: the caller's. */
  readonly netns?: NetnsHandle;
  /** Written to the tool's stdin, then stdin is closed. */
  readonly stdin?: string;
  /** Kill the tool after this long. Default `10_000`. */
  readonly timeoutMs?: number;
  /** Abort (kills the tool). */
  readonly signal?: AbortSignal;
  /** Cap on stdout + stderr, checked as it arrives. Default 32 MiB. */
  readonly maxOutputBytes?: number;
  /** Tool path overrides. */
  readonly tools?: ToolPaths;
}

/**
 * What a tool printed.
 *
 * @example
 * ```ts
 * const { stdout } = await runTool('ip', ['-j', 'rule', 'show']);
 * ```
 */
export interface ToolResult {
  readonly stdout: string;
  readonly stderr: string;
}

// Where Debian and most distributions keep the network tools, also searched when PATH lacks the sbin dirs.
const SBIN_DIRS = ['/usr/local/sbin', '/usr/sbin', '/sbin'];
const PACKAGE_HINT: Readonly<Record<string, string>> = {
  nft: 'nftables',
  ip: 'iproute2',
};
const resolved = new Map<string, string>();

function isExecutable(path: string): boolean {
  try {
    accessSync(path, fsConstants.X_OK);
    return true;
  } catch {
    return false;
  }
}

/**
 * Finds a tool: the override, else `PATH` plus the sbin directories.
 *
 * @param name - `iptables-restore`, `nft`, `ip`, …
 * @param tools - Overrides.
 * @returns The absolute path.
 * @throws {RedirectError} `REDIRECT_ERR_TOOL_MISSING` naming the tool, where we looked, and the package.
 * @example
 * ```ts
 * resolveTool('nft'); // '/usr/sbin/nft'
 * ```
 */
export function resolveTool(name: string, tools: ToolPaths = {}): string {
  const override = tools[name];
  if (override !== undefined) {
    if (isExecutable(override)) return override;
    throw new RedirectError('REDIRECT_ERR_TOOL_MISSING', `${name}: ${override} is not an executable file`);
  }
  const hit = resolved.get(name);
  if (hit !== undefined) return hit;
  const dirs = [...(process.env['PATH'] ?? '').split(delimiter).filter((d) => d !== ''), ...SBIN_DIRS];
  for (const dir of dirs) {
    const candidate = join(dir, name);
    if (isExecutable(candidate)) {
      resolved.set(name, candidate);
      return candidate;
    }
  }
  const pkg = PACKAGE_HINT[name] ?? (name.includes('tables') ? 'iptables' : undefined);
  throw new RedirectError(
    'REDIRECT_ERR_TOOL_MISSING',
    `${name} not found in PATH or ${SBIN_DIRS.join(', ')}${pkg === undefined ? '' : ` (Debian package ${pkg})`}`,
  );
}

/**
 * Whether {@link resolveTool} finds a tool.
 *
 * @param name - `iptables-legacy-save`, `nft`, …
 * @param tools - Overrides.
 * @returns `true` when it resolves to an executable.
 * @example
 * ```ts
 * if (hasTool('iptables-nft')) console.log('iptables over nf_tables is installed');
 * ```
 */
export function hasTool(name: string, tools?: ToolPaths): boolean {
  try {
    resolveTool(name, tools);
    return true;
  } catch {
    return false;
  }
}

/**
 * Runs a tool to completion and collects its output.
 *
 * @param name - Tool name (resolved with {@link resolveTool}).
 * @param args - Arguments.
 * @param options - Namespace, stdin, timeout, abort signal, output cap.
 * @returns stdout and stderr when the tool exits 0.
 * @throws {RedirectError} `REDIRECT_ERR_TOOL_MISSING`, `REDIRECT_ERR_TOOL_FAILED` (non-zero exit; the
 * message carries stderr), `REDIRECT_ERR_TOOL_TIMEOUT`, `REDIRECT_ERR_ABORTED`,
 * `REDIRECT_ERR_UNEXPECTED_OUTPUT` (output over the cap), and the netns errors of `runInNetns`.
 * @example
 * ```ts
 * await runTool('nft', ['-f', '-'], { netns, stdin: buildInpodNftablesRules({}) });
 * ```
 */
export function runTool(
  name: string,
  args: readonly string[],
  options: RunToolOptions = {},
): Promise<ToolResult> {
  const path = resolveTool(name, options.tools);
  const timeoutMs = options.timeoutMs ?? 10_000;
  const maxOutputBytes = options.maxOutputBytes ?? 32 * 1024 * 1024;
  const command = `${name} ${args.join(' ')}`.trim();
  const { signal } = options;
  if (signal?.aborted) {
    return Promise.reject(
      new RedirectError('REDIRECT_ERR_ABORTED', `${command}: aborted`, { cause: signal.reason }),
    );
  }
  return new Promise<ToolResult>((resolve, reject) => {
    const launch = (): ChildProcess =>
      spawn(path, args, {
        stdio: ['pipe', 'pipe', 'pipe'],
        // Stable, untranslated messages: they end up in our errors.
        env: { ...process.env, LC_ALL: 'C' },
      });
    let child: ChildProcess;
    try {
      child = options.netns === undefined ? launch() : runInNetns(options.netns, launch);
    } catch (error) {
      reject(error);
      return;
    }
    const stdout: Buffer[] = [];
    const stderr: Buffer[] = [];
    let bytes = 0;
    let failure: RedirectError | undefined;
    const fail = (error: RedirectError): void => {
      failure ??= error;
      child.kill('SIGKILL');
    };
    const collect =
      (into: Buffer[]) =>
      (chunk: Buffer): void => {
        bytes += chunk.length;
        if (bytes > maxOutputBytes) {
          fail(
            new RedirectError(
              'REDIRECT_ERR_UNEXPECTED_OUTPUT',
              `${command}: output over ${maxOutputBytes} bytes`,
            ),
          );
          return;
        }
        into.push(chunk);
      };
    child.stdout?.on('data', collect(stdout));
    child.stderr?.on('data', collect(stderr));
    const timer = setTimeout(
      () => fail(new RedirectError('REDIRECT_ERR_TOOL_TIMEOUT', `${command}: no exit after ${timeoutMs} ms`)),
      timeoutMs,
    );
    const onAbort = (): void =>
      fail(new RedirectError('REDIRECT_ERR_ABORTED', `${command}: aborted`, { cause: signal?.reason }));
    signal?.addEventListener('abort', onAbort, { once: true });
    // A tool that exits before reading stdin closes the pipe: that is its exit status's business, not an error.
    child.stdin?.on('error', () => {});
    child.stdin?.end(options.stdin ?? '');
    child.on('error', (error: NodeJS.ErrnoException) => {
      failure ??=
        error.code === 'ENOENT' || error.code === 'EACCES'
          ? new RedirectError('REDIRECT_ERR_TOOL_MISSING', `${name}: cannot execute ${path}: ${error.code}`, {
              cause: error,
            })
          : new RedirectError('REDIRECT_ERR_TOOL_FAILED', `${command}: ${error.message}`, { cause: error });
    });
    child.on('close', (code, killedBy) => {
      clearTimeout(timer);
      signal?.removeEventListener('abort', onAbort);
      const out = Buffer.concat(stdout).toString('utf8');
      const errText = Buffer.concat(stderr).toString('utf8');
      if (failure !== undefined) reject(failure);
      else if (code === 0) resolve({ stdout: out, stderr: errText });
      else {
        const where = options.netns === undefined ? '' : ` in ${options.netns.path}`;
        const status = code === null ? `killed by ${killedBy}` : `exit ${code}`;
        reject(
          new RedirectError('REDIRECT_ERR_TOOL_FAILED', `${command}${where}: ${status}: ${errText.trim()}`),
        );
      }
    });
  });
}
