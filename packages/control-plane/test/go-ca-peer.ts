/**
 * Builds and runs the independent Istio CA peer (`test/go-ca-peer/main.go`): grpc-go and protobuf-go from
 * Debian's `golang-google-grpc-dev` and `golang-google-protobuf-dev`, built offline in GOPATH mode, with the
 * message definitions read from a descriptor set protoc compiles out of `packages/spiffe/proto` (Debian's
 * `protobuf-compiler`, `libprotobuf-dev` for struct.proto). Nothing of ours is on its side of the wire.
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

const SOURCE = fileURLToPath(new URL('./go-ca-peer/main.go', import.meta.url));
const PROTO_DIR = fileURLToPath(new URL('../../spiffe/proto/', import.meta.url));
const GOPATH = '/usr/share/gocode';
const INSTALL =
  'apt-get install golang-go golang-google-grpc-dev golang-google-protobuf-dev protobuf-compiler libprotobuf-dev';

/** The built peer. */
export interface GoCaPeerBuild {
  readonly binary: string;
  readonly descriptors: string;
}

/**
 * Builds the peer once per source version (cached in the temp dir by content hash) and the descriptor set.
 *
 * @returns The binary and descriptor set paths.
 * @throws {Error} With install instructions when Go, grpc-go or protoc is missing.
 */
export async function buildGoCaPeer(): Promise<GoCaPeerBuild> {
  const hash = createHash('sha256').update(readFileSync(SOURCE)).digest('hex').slice(0, 16);
  const binary = join(tmpdir(), `ambient-kit-go-ca-peer-${hash}`);
  const descriptors = join(tmpdir(), `ambient-kit-ca-descriptors-${process.pid}.pb`);
  const run = promisify(execFile);
  try {
    await run('protoc', [
      `-I${PROTO_DIR}`,
      '-I/usr/include',
      '--include_imports',
      `--descriptor_set_out=${descriptors}`,
      'security/v1alpha1/ca.proto',
    ]);
  } catch (error) {
    throw new Error(`protoc failed (${INSTALL}): ${String((error as { stderr?: string }).stderr ?? error)}`);
  }
  if (existsSync(binary)) return { binary, descriptors };
  if (!existsSync(join(GOPATH, 'src/google.golang.org/grpc')))
    throw new Error(`grpc-go is not in ${GOPATH}: ${INSTALL}`);
  const partial = `${binary}.${process.pid}.tmp`;
  try {
    await run('go', ['build', '-o', partial, 'main.go'], {
      cwd: dirname(SOURCE),
      // GOPATH mode: everything resolves from Debian's /usr/share/gocode, with no network.
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
    throw new Error(`building the Go CA peer failed (${INSTALL}): ${detail}`);
  }
  renameSync(partial, binary);
  return { binary, descriptors };
}

/** What the Go CA server saw of one call. */
export interface GoCaRequest {
  readonly event: 'request';
  readonly authorization: readonly string[];
  readonly clusterid: readonly string[];
  readonly validityDuration: number;
  readonly hasMetadata: boolean;
  readonly impersonated: string;
  readonly csr: {
    readonly parsed: boolean;
    readonly signatureValid: boolean;
    readonly subjectEmpty: boolean;
    readonly uris: readonly string[];
    readonly dnsNames: readonly string[];
    readonly extensions: number;
    readonly sanCritical: boolean;
    readonly keyCurve: string;
    readonly signatureAlgorithm: string;
  };
}

/** A running Go CA server. */
export interface GoCaServer {
  readonly port: number;
  /** The next request it reports. */
  nextRequest(timeoutMs?: number): Promise<GoCaRequest>;
  close(): Promise<void>;
}

/** Options of the Go CA server (its flags). */
export interface GoCaServerOptions {
  readonly token: string;
  readonly cert: string;
  readonly key: string;
  readonly caCert: string;
  readonly caKey: string;
  readonly root: string;
  readonly failCode?: number;
  readonly allowImpersonation?: boolean;
  readonly callerId?: string;
  readonly signAs?: string;
}

/**
 * Starts the Go CA server.
 *
 * @param build - From {@link buildGoCaPeer}.
 * @param options - Its flags.
 * @returns The server, once it listens.
 */
export async function startGoCaServer(build: GoCaPeerBuild, options: GoCaServerOptions): Promise<GoCaServer> {
  const args = [
    '-mode',
    'server',
    '-descriptors',
    build.descriptors,
    '-token',
    options.token,
    '-cert',
    options.cert,
    '-key',
    options.key,
    '-ca-cert',
    options.caCert,
    '-ca-key',
    options.caKey,
    '-root',
    options.root,
    ...(options.failCode === undefined ? [] : ['-fail-code', String(options.failCode)]),
    ...(options.allowImpersonation === true ? ['-allow-impersonation'] : []),
    ...(options.callerId === undefined ? [] : ['-caller-id', options.callerId]),
    ...(options.signAs === undefined ? [] : ['-sign-as', options.signAs]),
  ];
  const child: ChildProcess = spawn(build.binary, args, { stdio: ['ignore', 'pipe', 'pipe'] });
  let stderr = '';
  child.stderr?.setEncoding('utf8').on('data', (d: string) => {
    stderr += d;
  });
  const queue: unknown[] = [];
  const waiting: ((e: unknown) => void)[] = [];
  const exited = new Promise<void>((resolve) => child.on('exit', () => resolve()));
  if (child.stdout === null) throw new Error('no stdout');
  createInterface({ input: child.stdout }).on('line', (line) => {
    const e = JSON.parse(line) as unknown;
    const w = waiting.shift();
    if (w === undefined) queue.push(e);
    else w(e);
  });
  const next = (timeoutMs = 10_000): Promise<unknown> =>
    new Promise((resolve, reject) => {
      if (queue.length > 0) return resolve(queue.shift());
      const timer = setTimeout(
        () => reject(new Error(`the Go CA server printed nothing in ${timeoutMs} ms; stderr: ${stderr}`)),
        timeoutMs,
      );
      waiting.push((e) => {
        clearTimeout(timer);
        resolve(e);
      });
    });
  const listening = (await next()) as { event: string; port: number };
  if (listening.event !== 'listening') throw new Error(`unexpected first line ${JSON.stringify(listening)}`);
  return {
    port: listening.port,
    nextRequest: async (timeoutMs) => (await next(timeoutMs)) as GoCaRequest,
    async close() {
      if (child.exitCode === null) {
        child.kill('SIGKILL');
        await exited;
      }
    },
  };
}

/** What the Go CA client got. */
export interface GoCaClientResult {
  readonly code: number;
  readonly message: string;
  readonly chain: readonly string[];
  readonly leafUris: readonly string[];
  readonly verified: boolean;
  readonly verifyError?: string;
  readonly ttlSeconds: number;
}

/** Options of one Go CA client call (its flags). */
export interface GoCaClientOptions {
  readonly addr: string;
  readonly root: string;
  readonly token?: string;
  readonly cluster?: string;
  readonly impersonate?: string;
  readonly csrId?: string;
  readonly ttlSeconds?: number;
  readonly serverName?: string;
}

/**
 * Runs the Go CA client once.
 *
 * @param build - From {@link buildGoCaPeer}.
 * @param options - Its flags.
 * @returns What it printed.
 */
export async function runGoCaClient(
  build: GoCaPeerBuild,
  options: GoCaClientOptions,
): Promise<GoCaClientResult> {
  const args = [
    '-mode',
    'client',
    '-descriptors',
    build.descriptors,
    '-addr',
    options.addr,
    '-root',
    options.root,
    '-token',
    options.token ?? '',
    ...(options.cluster === undefined ? [] : ['-cluster', options.cluster]),
    ...(options.impersonate === undefined ? [] : ['-impersonate', options.impersonate]),
    ...(options.csrId === undefined ? [] : ['-csr-id', options.csrId]),
    ...(options.ttlSeconds === undefined ? [] : ['-ttl', String(options.ttlSeconds)]),
    ...(options.serverName === undefined ? [] : ['-server-name', options.serverName]),
  ];
  const { stdout } = await promisify(execFile)(build.binary, args, { timeout: 30_000 });
  return JSON.parse(stdout.trim().split('\n').at(-1) as string) as GoCaClientResult;
}
