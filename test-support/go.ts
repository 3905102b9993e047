/**
 * Building and driving the independent Go peers of the interop tests (hbone's HTTP/2 peer, the Istio CA peer,
 * the delta xDS client, the Workload API peers): Go and its libraries come from Debian (`golang-go`,
 * `golang-golang-x-net-dev`, `golang-google-grpc-dev`, `golang-google-protobuf-dev`, `protobuf-compiler`),
 * built offline in GOPATH mode, each binary once per source version (cached in the temp dir by content hash).
 * The peers speak JSON lines on stdout; {@link jsonLines} reads them.
 * @module
 */
import { type ChildProcess, execFile } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, readdirSync, readFileSync, renameSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';

/** Where Debian's `golang-*-dev` packages install Go sources. */
export const DEBIAN_GOPATH = '/usr/share/gocode';

/** The Go packages the peers share (`ambientkit/testpeer`), as a GOPATH entry. */
export const SHARED_GOPATH: string = fileURLToPath(new URL('./gopath/', import.meta.url));

const run = promisify(execFile);

/**
 * A short content hash of some files: a cached binary's name changes whenever its sources do.
 *
 * @param files - The sources (and anything else the binary is built from).
 * @returns 16 hex digits.
 * @example
 * ```ts
 * sourceHash([fileURLToPath(new URL('./go-peer/main.go', import.meta.url))]); // 'a1b2…'
 * ```
 */
export function sourceHash(files: readonly string[]): string {
  const hash = createHash('sha256');
  for (const file of files) hash.update(readFileSync(file));
  return hash.digest('hex').slice(0, 16);
}

function failure(error: unknown): string {
  return (error as { code?: string }).code === 'ENOENT'
    ? 'not installed'
    : String((error as { stderr?: string }).stderr ?? error);
}

/** Options of {@link goBuild}. */
export interface GoBuildOptions {
  /** The directory holding `main.go`. */
  readonly dir: string;
  /** The binary to write. */
  readonly output: string;
  /** GOPATH entries searched before Debian's (e.g. a directory of generated code). */
  readonly gopath?: readonly string[];
  /** What is being built, for the error message (e.g. `the Go CA peer`). */
  readonly what: string;
  /** The `apt-get install …` line that provides what the build needs. */
  readonly install: string;
}

/**
 * Runs `go build -o output main.go` in GOPATH mode: packages resolve from `gopath` and Debian's
 * `/usr/share/gocode`, with no network (`GOPROXY=off`) and the local toolchain only.
 *
 * @param options - What to build and where.
 * @throws {Error} Naming what failed and the packages to install.
 * @example
 * ```ts
 * await goBuild({ dir, output: '/tmp/peer', what: 'the Go peer', install: 'apt-get install golang-go' });
 * ```
 */
export async function goBuild(options: GoBuildOptions): Promise<void> {
  try {
    await run('go', ['build', '-o', options.output, 'main.go'], {
      cwd: options.dir,
      env: {
        ...process.env,
        GO111MODULE: 'off',
        GOPATH: [...(options.gopath ?? []), DEBIAN_GOPATH].join(':'),
        GOFLAGS: '',
        GOTOOLCHAIN: 'local',
        GOPROXY: 'off',
        GOCACHE: join(tmpdir(), 'ambient-kit-go-build-cache'),
      },
    });
  } catch (error) {
    throw new Error(`building ${options.what} failed (${options.install}): go ${failure(error)}`);
  }
}

/** Options of {@link cachedGoBinary}. */
export interface CachedGoBinaryOptions {
  /** The binary's name in the temp dir (the content hash is appended). */
  readonly name: string;
  /** The directory holding `main.go`. */
  readonly dir: string;
  /** Paths under Debian's GOPATH `src/` that must exist (checked before building, for a clear message). */
  readonly requires: readonly string[];
  /** What is being built, for the error message. */
  readonly what: string;
  /** The `apt-get install …` line that provides what the build needs. */
  readonly install: string;
  /** Packages of {@link SHARED_GOPATH} it imports (`ambientkit/testpeer`): on GOPATH, and in the hash. */
  readonly shared?: readonly string[];
}

/**
 * Builds `dir/main.go` once per source version and returns the binary's path. Concurrent builds from several
 * test processes write to their own temporary file and rename it into place.
 *
 * @param options - What to build.
 * @returns The binary's path.
 * @throws {Error} With install instructions when Go or a library is missing.
 * @example
 * ```ts
 * const binary = await cachedGoBinary({ name: 'hbone-go-peer', dir, requires: ['golang.org/x/net/http2'], what, install });
 * ```
 */
export async function cachedGoBinary(options: CachedGoBinaryOptions): Promise<string> {
  const sources = [join(options.dir, 'main.go')];
  for (const pkg of options.shared ?? []) {
    const dir = join(SHARED_GOPATH, 'src', pkg);
    for (const name of readdirSync(dir).sort()) if (name.endsWith('.go')) sources.push(join(dir, name));
  }
  const binary = join(tmpdir(), `ambient-kit-${options.name}-${sourceHash(sources)}`);
  if (existsSync(binary)) return binary;
  for (const path of options.requires) {
    if (!existsSync(join(DEBIAN_GOPATH, 'src', path)))
      throw new Error(`${path} is not in ${DEBIAN_GOPATH}: ${options.install}`);
  }
  const partial = `${binary}.${process.pid}.tmp`;
  await goBuild({
    dir: options.dir,
    output: partial,
    what: options.what,
    install: options.install,
    gopath: options.shared === undefined ? [] : [SHARED_GOPATH],
  });
  renameSync(partial, binary);
  return binary;
}

/**
 * Runs `protoc` (Debian's `protobuf-compiler`; `-I/usr/include` finds the well-known types).
 *
 * @param args - Its arguments.
 * @param install - The `apt-get install …` line, for the error message.
 * @param cwd - Its working directory.
 * @throws {Error} With install instructions when protoc fails.
 * @example
 * ```ts
 * await protoc([`-I${dir}`, '-I/usr/include', '--include_imports', `--descriptor_set_out=${out}`, 'a.proto'], INSTALL);
 * ```
 */
export async function protoc(args: readonly string[], install: string, cwd?: string): Promise<void> {
  try {
    await run('protoc', [...args], cwd === undefined ? {} : { cwd });
  } catch (error) {
    throw new Error(`protoc failed (${install}): ${failure(error)}`);
  }
}

/**
 * Compiles protos into a descriptor set (imports included) that a Go peer reads its message types from, so
 * that no generated code of ours is on its side of the wire.
 *
 * @param protoDir - The import root; `files` are relative to it.
 * @param files - The protos.
 * @param name - Names the descriptor file in the temp dir (the process id is appended).
 * @param install - The `apt-get install …` line, for the error message.
 * @returns The descriptor set's path.
 * @example
 * ```ts
 * const descriptors = await descriptorSet(PROTO_DIR, ['security/v1alpha1/ca.proto'], 'ca', INSTALL);
 * ```
 */
export async function descriptorSet(
  protoDir: string,
  files: readonly string[],
  name: string,
  install: string,
): Promise<string> {
  const out = join(tmpdir(), `ambient-kit-${name}-descriptors-${process.pid}.pb`);
  await protoc(
    [`-I${protoDir}`, '-I/usr/include', '--include_imports', `--descriptor_set_out=${out}`, ...files],
    install,
    protoDir,
  );
  return out;
}

/** The JSON lines a running peer prints. */
export interface JsonLines<T> {
  /** The next line not taken by `consume`; rejects after `timeoutMs` (default 10 s) with the peer's stderr. */
  next(timeoutMs?: number): Promise<T>;
  /** What the peer wrote to stderr so far. */
  stderr(): string;
  /** Resolves when the process has exited. */
  readonly exited: Promise<void>;
  /**
   * Stops the peer if it still runs: sends `signal` (none when `undefined`, e.g. after closing its stdin), then
   * SIGKILL after `graceMs`, and waits for it to exit.
   */
  stop(signal?: NodeJS.Signals, graceMs?: number): Promise<void>;
}

/**
 * Reads a child's stdout as JSON lines, queued for {@link JsonLines.next} unless `consume` takes them.
 *
 * @param child - A process spawned with piped stdout and stderr.
 * @param label - Names the peer in timeout messages (e.g. `the Go CA server`).
 * @param consume - Sees every line first; return `true` to keep it out of the queue (a log of events, say).
 * @returns The reader.
 * @example
 * ```ts
 * const peer = jsonLines<{ event: string }>(spawn(binary, args, { stdio: ['ignore', 'pipe', 'pipe'] }), 'the Go peer');
 * const listening = await peer.next();
 * ```
 */
export function jsonLines<T>(
  child: ChildProcess,
  label: string,
  consume: (line: T) => boolean = () => false,
): JsonLines<T> {
  let stderr = '';
  child.stderr?.setEncoding('utf8').on('data', (d: string) => {
    stderr += d;
  });
  const queue: T[] = [];
  const waiting: ((line: T) => void)[] = [];
  const exited = new Promise<void>((resolve) => {
    if (child.exitCode !== null || child.signalCode !== null) resolve();
    else child.on('exit', () => resolve());
  });
  if (child.stdout === null) throw new Error(`${label}: no stdout`);
  createInterface({ input: child.stdout }).on('line', (text) => {
    const line = JSON.parse(text) as T;
    if (consume(line)) return;
    const w = waiting.shift();
    if (w === undefined) queue.push(line);
    else w(line);
  });
  return {
    stderr: () => stderr,
    exited,
    next(timeoutMs = 10_000) {
      return new Promise((resolve, reject) => {
        if (queue.length > 0) return resolve(queue.shift() as T);
        const timer = setTimeout(() => {
          const i = waiting.indexOf(deliver);
          if (i >= 0) waiting.splice(i, 1);
          reject(new Error(`${label} printed nothing in ${timeoutMs} ms; stderr: ${stderr}`));
        }, timeoutMs);
        const deliver = (line: T): void => {
          clearTimeout(timer);
          resolve(line);
        };
        waiting.push(deliver);
      });
    },
    async stop(signal, graceMs = 5000) {
      if (child.exitCode !== null || child.signalCode !== null) return;
      if (signal !== undefined) child.kill(signal);
      const timer = setTimeout(() => child.kill('SIGKILL'), graceMs);
      await exited;
      clearTimeout(timer);
    },
  };
}
