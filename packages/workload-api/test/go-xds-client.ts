/**
 * Builds and runs the independent delta xDS client (`test/go-xds-client/main.go`): grpc-go and protobuf-go
 * from Debian's `golang-google-grpc-dev` and `golang-google-protobuf-dev`, built offline in GOPATH mode,
 * reading message definitions from a descriptor set protoc compiles out of `proto/` (Debian's
 * `protobuf-compiler`). Nothing of ours is on its side of the wire.
 * @module
 */
import { type ChildProcess, execFile, spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, readFileSync, renameSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';

const SOURCE = fileURLToPath(new URL('./go-xds-client/main.go', import.meta.url));
const PROTO_DIR = fileURLToPath(new URL('../proto/', import.meta.url));
const GOPATH = '/usr/share/gocode';
const INSTALL =
  'apt-get install golang-go golang-google-grpc-dev golang-google-protobuf-dev protobuf-compiler';

/** One JSON line the client printed. */
export interface GoXdsEvent {
  readonly event: 'response' | 'status';
  readonly typeUrl?: string;
  readonly nonce?: string;
  readonly resources: readonly {
    readonly name: string;
    readonly version: string;
    readonly aliases: readonly string[];
    readonly key: string;
    readonly error?: string;
  }[];
  readonly removed: readonly string[];
  readonly code: number;
  readonly details?: string;
}

/** A request for the client to send. */
export interface GoXdsRequest {
  readonly typeUrl: string;
  readonly node?: string;
  readonly subscribe?: readonly string[];
  readonly unsubscribe?: readonly string[];
  readonly nonce?: string;
  readonly error?: string;
}

/** A running client. */
export interface GoXdsClient {
  send(request: GoXdsRequest): void;
  /** The next event (a response, or the final status). */
  next(timeoutMs?: number): Promise<GoXdsEvent>;
  /** Half-closes the stream and waits for the process to exit. */
  close(): Promise<void>;
}

/**
 * Builds the client once per source version (cached in the temp dir by content hash) and the descriptor
 * set it reads.
 *
 * @returns The binary and the descriptor set paths.
 * @throws {Error} With install instructions when Go, grpc-go or protoc is missing.
 */
export async function buildGoXdsClient(): Promise<{ binary: string; descriptors: string }> {
  const hash = createHash('sha256').update(readFileSync(SOURCE)).digest('hex').slice(0, 16);
  const binary = join(tmpdir(), `ambient-kit-go-xds-client-${hash}`);
  const descriptors = join(tmpdir(), `ambient-kit-xds-descriptors-${process.pid}.pb`);
  const run = promisify(execFile);
  try {
    await run(
      'protoc',
      [
        `-I${PROTO_DIR}`,
        '-I/usr/include',
        '--include_imports',
        `--descriptor_set_out=${descriptors}`,
        'envoy/service/discovery/v3/ads.proto',
        'workload.proto',
        'authorization.proto',
      ],
      { cwd: PROTO_DIR },
    );
  } catch (error) {
    throw new Error(`protoc failed (${INSTALL}): ${String((error as { stderr?: string }).stderr ?? error)}`);
  }
  if (existsSync(binary)) return { binary, descriptors };
  if (
    !existsSync(join(GOPATH, 'src/google.golang.org/grpc')) ||
    !existsSync(join(GOPATH, 'src/google.golang.org/protobuf/types/dynamicpb'))
  ) {
    throw new Error(`grpc-go or protobuf-go is not in ${GOPATH}: ${INSTALL}`);
  }
  const partial = `${binary}.${process.pid}.tmp`;
  try {
    await run('go', ['build', '-o', partial, 'main.go'], {
      cwd: dirname(SOURCE),
      // GOPATH mode: everything resolves from Debian's /usr/share/gocode, with no network (GOPROXY=off).
      env: {
        ...process.env,
        GO111MODULE: 'off',
        GOPATH,
        GOFLAGS: '',
        GOTOOLCHAIN: 'local',
        GOPROXY: 'off',
        GOCACHE: join(tmpdir(), 'ambient-kit-go-build-cache'),
      },
    });
  } catch (error) {
    const detail =
      (error as { code?: string }).code === 'ENOENT'
        ? 'go is not installed'
        : String((error as { stderr?: string }).stderr ?? error);
    throw new Error(`building the Go xDS client failed (${INSTALL}): ${detail}`);
  }
  renameSync(partial, binary);
  return { binary, descriptors };
}

/**
 * Starts the client against `address`.
 *
 * @param build - What {@link buildGoXdsClient} returned.
 * @param address - The server, `host:port`.
 * @returns The client.
 */
export function startGoXdsClient(
  build: { binary: string; descriptors: string },
  address: string,
): GoXdsClient {
  const child: ChildProcess = spawn(build.binary, ['-addr', address, '-descriptors', build.descriptors], {
    stdio: ['pipe', 'pipe', 'pipe'],
  });
  let stderr = '';
  child.stderr?.setEncoding('utf8').on('data', (d: string) => {
    stderr += d;
  });
  const queue: GoXdsEvent[] = [];
  const waiting: ((e: GoXdsEvent) => void)[] = [];
  const exited = new Promise<void>((resolve) => child.on('exit', () => resolve()));
  if (child.stdout === null) throw new Error('no stdout');
  createInterface({ input: child.stdout }).on('line', (line) => {
    const e = JSON.parse(line) as GoXdsEvent;
    const w = waiting.shift();
    if (w === undefined) queue.push(e);
    else w(e);
  });
  return {
    send(request) {
      child.stdin?.write(`${JSON.stringify({ op: 'send', ...request })}\n`);
    },
    next(timeoutMs = 5000) {
      return new Promise((resolve, reject) => {
        const e = queue.shift();
        if (e !== undefined) return resolve(e);
        const timer = setTimeout(
          () => reject(new Error(`the Go client printed nothing in ${timeoutMs} ms; stderr: ${stderr}`)),
          timeoutMs,
        );
        waiting.push((x) => {
          clearTimeout(timer);
          resolve(x);
        });
      });
    },
    async close() {
      if (child.exitCode === null) {
        child.stdin?.write(`${JSON.stringify({ op: 'close' })}\n`);
        child.stdin?.end();
        const timer = setTimeout(() => child.kill('SIGKILL'), 5000);
        await exited;
        clearTimeout(timer);
      }
    },
  };
}
