/**
 * Builds and runs the independent Istio CA peer (`test/go-ca-peer/main.go`): grpc-go and protobuf-go from
 * Debian's `golang-google-grpc-dev` and `golang-google-protobuf-dev`, built offline in GOPATH mode, with the
 * message definitions read from a descriptor set protoc compiles out of `packages/spiffe/proto` (Debian's
 * `protobuf-compiler`, `libprotobuf-dev` for struct.proto). Nothing of ours is on its side of the wire.
 * @module
 */
import { type ChildProcess, execFile, spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { cachedGoBinary, descriptorSet, jsonLines } from '../../../test-support/go.js';

const PROTO_DIR = fileURLToPath(new URL('../../spiffe/proto/', import.meta.url));
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
  const descriptors = await descriptorSet(PROTO_DIR, ['security/v1alpha1/ca.proto'], 'ca', INSTALL);
  const binary = await cachedGoBinary({
    name: 'go-ca-peer',
    dir: fileURLToPath(new URL('./go-ca-peer/', import.meta.url)),
    requires: ['google.golang.org/grpc'],
    shared: ['ambientkit/testpeer'],
    what: 'the Go CA peer',
    install: INSTALL,
  });
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
  const lines = jsonLines<unknown>(child, 'the Go CA server');
  const listening = (await lines.next()) as { event: string; port: number };
  if (listening.event !== 'listening') throw new Error(`unexpected first line ${JSON.stringify(listening)}`);
  return {
    port: listening.port,
    nextRequest: async (timeoutMs) => (await lines.next(timeoutMs)) as GoCaRequest,
    close: () => lines.stop('SIGKILL'),
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
