/**
 * Builds and runs the independent delta xDS client (`test/go-xds-client/main.go`): grpc-go and protobuf-go
 * from Debian's `golang-google-grpc-dev` and `golang-google-protobuf-dev`, built offline in GOPATH mode,
 * reading message definitions from a descriptor set protoc compiles out of `proto/` (Debian's
 * `protobuf-compiler`). Nothing of ours is on its side of the wire.
 * @module
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { cachedGoBinary, descriptorSet, jsonLines } from '../../../test-support/go.js';

const PROTO_DIR = fileURLToPath(new URL('../proto/', import.meta.url));
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
  const descriptors = await descriptorSet(
    PROTO_DIR,
    ['envoy/service/discovery/v3/ads.proto', 'workload.proto', 'authorization.proto'],
    'xds',
    INSTALL,
  );
  const binary = await cachedGoBinary({
    name: 'go-xds-client',
    dir: fileURLToPath(new URL('./go-xds-client/', import.meta.url)),
    requires: ['google.golang.org/grpc', 'google.golang.org/protobuf/types/dynamicpb'],
    shared: ['ambientkit/testpeer'],
    what: 'the Go xDS client',
    install: INSTALL,
  });
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
  const lines = jsonLines<GoXdsEvent>(child, 'the Go client');
  return {
    send(request) {
      child.stdin?.write(`${JSON.stringify({ op: 'send', ...request })}\n`);
    },
    next: (timeoutMs = 5000) => lines.next(timeoutMs),
    async close() {
      if (child.exitCode === null) {
        // A clean half-close first, so that the server sees the stream end.
        child.stdin?.write(`${JSON.stringify({ op: 'close' })}\n`);
        child.stdin?.end();
      }
      await lines.stop(undefined, 5000);
    },
  };
}
