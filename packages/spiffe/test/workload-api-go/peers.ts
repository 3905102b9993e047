/**
 * Builds and runs the independent Workload API peers (`test/workload-api-go/{server,client}/main.go`):
 * grpc-go 1.33 and protobuf-go from Debian (`golang-google-grpc-dev`, `golang-google-protobuf-dev`), with the
 * message and service code `protoc-gen-go` and `protoc-gen-go-grpc` (Debian `protoc-gen-go`,
 * `protoc-gen-go-grpc`) generate from `proto/spiffe/workload/workload.proto` under go-spiffe's import path,
 * built offline in GOPATH mode. Nothing of ours is on their side of the wire.
 * @module
 */
import { type ChildProcess, execFile, spawn } from 'node:child_process';
import { existsSync, mkdirSync, renameSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import {
  DEBIAN_GOPATH,
  goBuild,
  jsonLines,
  protoc,
  SHARED_GOPATH,
  sourceHash,
} from '../../../../test-support/go.js';

const run = promisify(execFile);
const HERE = fileURLToPath(new URL('.', import.meta.url));
const SOURCES = {
  server: join(HERE, 'server/main.go'),
  client: join(HERE, 'client/main.go'),
};
const PROTO_DIR = fileURLToPath(new URL('../../proto/', import.meta.url));
const PROTO = 'spiffe/workload/workload.proto';
const INSTALL =
  'apt-get install golang-go golang-google-grpc-dev golang-google-protobuf-dev protobuf-compiler libprotobuf-dev protoc-gen-go protoc-gen-go-grpc';

/** The built peers. */
export interface GoPeers {
  readonly server: string;
  readonly client: string;
}

/**
 * Builds both peers once per source version (cached in the temp dir by content hash).
 *
 * @returns The binaries.
 * @throws {Error} With install instructions when Go, grpc-go, protoc or its Go plugins are missing.
 */
export async function buildGoPeers(): Promise<GoPeers> {
  const hash = sourceHash([
    SOURCES.server,
    SOURCES.client,
    join(PROTO_DIR, PROTO),
    join(SHARED_GOPATH, 'src/ambientkit/testpeer/testpeer.go'),
  ]);
  const dir = join(tmpdir(), `ambient-kit-go-workload-api-${hash}`);
  const peers = { server: join(dir, 'server'), client: join(dir, 'client') };
  if (existsSync(peers.server) && existsSync(peers.client)) return peers;
  if (!existsSync(join(DEBIAN_GOPATH, 'src/google.golang.org/grpc')))
    throw new Error(`grpc-go is not in ${DEBIAN_GOPATH}: ${INSTALL}`);
  const work = `${dir}.${process.pid}.tmp`;
  rmSync(work, { recursive: true, force: true });
  const gopath = join(work, 'gopath');
  mkdirSync(join(gopath, 'src'), { recursive: true });
  // go_package in the proto is go-spiffe's, so the generated package lands where go-spiffe keeps its own.
  await protoc(
    [
      `-I${PROTO_DIR}`,
      '-I/usr/include',
      `--go_out=${join(gopath, 'src')}`,
      `--go-grpc_out=${join(gopath, 'src')}`,
      PROTO,
    ],
    INSTALL,
  );
  for (const name of ['server', 'client'] as const) {
    // The generated package from the work dir, the shared peer package, grpc-go and protobuf-go from Debian.
    await goBuild({
      dir: dirname(SOURCES[name]),
      output: join(work, name),
      gopath: [gopath, SHARED_GOPATH],
      what: `the Go Workload API ${name}`,
      install: INSTALL,
    });
  }
  mkdirSync(dir, { recursive: true });
  renameSync(join(work, 'server'), peers.server);
  renameSync(join(work, 'client'), peers.client);
  rmSync(work, { recursive: true, force: true });
  return peers;
}

/** What the Go client printed for one result. */
export type GoClientResult = Record<string, unknown> & {
  readonly ok: boolean;
  readonly code?: number;
  readonly details?: string;
};

/**
 * Runs the Go client once.
 *
 * @param peers - The built peers.
 * @param args - Its flags (`-addr`, `-op`, …).
 * @returns Every JSON line it printed.
 */
export async function runGoClient(peers: GoPeers, args: readonly string[]): Promise<GoClientResult[]> {
  try {
    const { stdout } = await run(peers.client, [...args], { timeout: 30_000 });
    return stdout
      .split('\n')
      .filter((l) => l !== '')
      .map((l) => JSON.parse(l) as GoClientResult);
  } catch (error) {
    throw new Error(`the Go client failed: ${String((error as { stderr?: string }).stderr ?? error)}`);
  }
}

/** A running Go client that prints one line per stream message. */
export interface GoClientStream {
  /** The next printed line. */
  next(timeoutMs?: number): Promise<GoClientResult>;
  /** Kills it. */
  close(): Promise<void>;
}

/**
 * Starts the Go client (for `-op watch` with a count above one).
 *
 * @param peers - The built peers.
 * @param args - Its flags.
 * @returns The running client.
 */
export function startGoClient(peers: GoPeers, args: readonly string[]): GoClientStream {
  const child = spawn(peers.client, [...args], { stdio: ['ignore', 'pipe', 'pipe'] });
  return lines(child);
}

/** A running Go server. */
export interface GoServer extends GoClientStream {
  /** Loads a new state file and pushes it to the open streams; resolves with the `pushed` event. */
  setState(path: string): Promise<GoClientResult>;
  /** Every `call` event seen so far (method and the security header values it carried). */
  readonly calls: { method: string; header: string[] }[];
}

function lines(child: ChildProcess, consume: (e: GoClientResult) => boolean = () => false): GoClientStream {
  const reader = jsonLines<GoClientResult>(child, 'the Go peer', consume);
  return { next: reader.next, close: () => reader.stop('SIGTERM', 5000) };
}

/**
 * Starts the Go server on a Unix socket with a state file, and waits until it listens.
 *
 * @param peers - The built peers.
 * @param socket - The socket path.
 * @param statePath - The JSON state (see `server/main.go`).
 * @returns The running server.
 */
export async function startGoServer(peers: GoPeers, socket: string, statePath: string): Promise<GoServer> {
  const child = spawn(peers.server, ['-socket', socket, '-state', statePath], {
    stdio: ['pipe', 'pipe', 'pipe'],
  });
  const calls: { method: string; header: string[] }[] = [];
  // Calls are logged as they come; everything else is queued for `next`.
  const base = lines(child, (e) => {
    if (e['event'] !== 'call') return false;
    calls.push({ method: e['method'] as string, header: e['header'] as string[] });
    return true;
  });
  const first = await base.next();
  if (first['event'] !== 'listening') throw new Error(`the Go server said ${JSON.stringify(first)}`);
  return {
    calls,
    next: base.next,
    async setState(path) {
      child.stdin?.write(`${JSON.stringify({ op: 'state', path })}\n`);
      return base.next();
    },
    close: base.close,
  };
}
