/**
 * Builds and runs the Go interop peer (`test/go-peer/main.go`): Go's crypto/tls and golang.org/x/net/http2
 * from Debian's `golang-go` and `golang-golang-x-net-dev`, built offline in GOPATH mode.
 * @module
 */
import { type ChildProcess, execFile, spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, mkdtempSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import type { X509Svid } from '@ambient-kit/spiffe';

const SOURCE = fileURLToPath(new URL('./go-peer/main.go', import.meta.url));
const GOPATH = '/usr/share/gocode';

/**
 * Builds the peer once per source version (cached in the temp dir by content hash).
 *
 * @returns The binary's path.
 * @throws {Error} With install instructions when Go or x/net is missing.
 */
export async function buildGoPeer(): Promise<string> {
  const hash = createHash('sha256').update(readFileSync(SOURCE)).digest('hex').slice(0, 16);
  const binary = join(tmpdir(), `ambient-kit-hbone-go-peer-${hash}`);
  if (existsSync(binary)) return binary;
  if (!existsSync(join(GOPATH, 'src/golang.org/x/net/http2'))) {
    throw new Error(
      `golang.org/x/net/http2 is not in ${GOPATH}: apt-get install golang-go golang-golang-x-net-dev`,
    );
  }
  const partial = `${binary}.${process.pid}.tmp`;
  try {
    await promisify(execFile)('go', ['build', '-o', partial, 'main.go'], {
      cwd: dirname(SOURCE),
      // GOPATH mode: x/net resolves from Debian's /usr/share/gocode, with no network (GOPROXY=off).
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
      (error as { stderr?: string; code?: string }).code === 'ENOENT'
        ? 'go is not installed'
        : String((error as { stderr?: string }).stderr ?? error);
    throw new Error(
      `building the Go interop peer failed (apt-get install golang-go golang-golang-x-net-dev): ${detail}`,
    );
  }
  renameSync(partial, binary);
  return binary;
}

/** One JSON line the peer printed. */
export interface GoEvent {
  readonly event: string;
  readonly addr?: string;
  readonly peer?: string;
  readonly error?: string;
  readonly status?: number;
  readonly baggage?: string;
  readonly authority?: string;
  readonly headers?: Readonly<Record<string, string[]>>;
  readonly [field: string]: unknown;
}

/** A running peer and the JSON events it printed. */
export interface GoPeer {
  /** The address it listens on. */
  readonly addr: string;
  readonly events: GoEvent[];
  /** Waits for an event matching `match`. */
  waitFor(match: (event: GoEvent) => boolean, timeoutMs?: number): Promise<GoEvent>;
  stop(): void;
}

/**
 * Writes an SVID and a bundle as PEM files for the peer.
 *
 * @param svid - The peer's SVID.
 * @param bundlePem - Trusted roots.
 * @returns Paths and a cleanup function.
 */
export function writeCredentials(
  svid: X509Svid,
  bundlePem: string,
): { cert: string; key: string; bundle: string; remove(): void } {
  const dir = mkdtempSync(join(tmpdir(), 'hbone-go-peer-'));
  const paths = { cert: join(dir, 'chain.pem'), key: join(dir, 'key.pem'), bundle: join(dir, 'bundle.pem') };
  writeFileSync(paths.cert, svid.certChainPem);
  writeFileSync(paths.key, svid.privateKeyPem);
  writeFileSync(paths.bundle, bundlePem);
  return { ...paths, remove: () => rmSync(dir, { recursive: true, force: true }) };
}

/**
 * Starts the peer and waits for its listener.
 *
 * @param binary - From {@link buildGoPeer}.
 * @param args - Command-line flags.
 * @returns The running peer.
 */
export async function startGoPeer(binary: string, args: string[]): Promise<GoPeer> {
  const child: ChildProcess = spawn(binary, args, { stdio: ['ignore', 'pipe', 'pipe'] });
  const events: GoEvent[] = [];
  let stderr = '';
  child.stderr?.on('data', (chunk: Buffer) => {
    stderr += chunk.toString();
  });
  const wakers: (() => void)[] = [];
  createInterface({ input: child.stdout as NodeJS.ReadableStream }).on('line', (line) => {
    events.push(JSON.parse(line) as GoEvent);
    for (const wake of wakers.splice(0)) wake();
  });
  const waitFor = async (match: (event: GoEvent) => boolean, timeoutMs = 10_000) => {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const found = events.find(match);
      if (found !== undefined) return found;
      if (child.exitCode !== null) throw new Error(`go-peer exited (${child.exitCode}): ${stderr}`);
      if (Date.now() > deadline)
        throw new Error(`go-peer: no matching event; saw ${JSON.stringify(events)}; stderr ${stderr}`);
      await new Promise<void>((resolve) => {
        wakers.push(resolve);
        setTimeout(resolve, 50);
      });
    }
  };
  const listen = await waitFor((e) => e.event === 'listen');
  return { addr: String(listen.addr), events, waitFor, stop: () => child.kill('SIGKILL') };
}
