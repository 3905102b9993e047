/**
 * Builds and runs the Go interop peer (`test/go-peer/main.go`): Go's crypto/tls and golang.org/x/net/http2
 * from Debian's `golang-go` and `golang-golang-x-net-dev`, built offline in GOPATH mode.
 * @module
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { X509Svid } from '@ambient-kit/spiffe';
import { cachedGoBinary, jsonLines } from '../../../test-support/go.js';

/**
 * Builds the peer once per source version (cached in the temp dir by content hash).
 *
 * @returns The binary's path.
 * @throws {Error} With install instructions when Go or x/net is missing.
 */
export function buildGoPeer(): Promise<string> {
  return cachedGoBinary({
    name: 'hbone-go-peer',
    dir: fileURLToPath(new URL('./go-peer/', import.meta.url)),
    requires: ['golang.org/x/net/http2'],
    what: 'the Go interop peer',
    install: 'apt-get install golang-go golang-golang-x-net-dev',
  });
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
  // Every event is kept (tests look back at them); `waitFor` searches them all.
  const events: GoEvent[] = [];
  const wakers: (() => void)[] = [];
  const lines = jsonLines<GoEvent>(child, 'go-peer', (event) => {
    events.push(event);
    for (const wake of wakers.splice(0)) wake();
    return true;
  });
  const waitFor = async (match: (event: GoEvent) => boolean, timeoutMs = 10_000) => {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const found = events.find(match);
      if (found !== undefined) return found;
      if (child.exitCode !== null) throw new Error(`go-peer exited (${child.exitCode}): ${lines.stderr()}`);
      if (Date.now() > deadline)
        throw new Error(
          `go-peer: no matching event; saw ${JSON.stringify(events)}; stderr ${lines.stderr()}`,
        );
      await new Promise<void>((resolve) => {
        wakers.push(resolve);
        setTimeout(resolve, 50);
      });
    }
  };
  const listen = await waitFor((e) => e.event === 'listen');
  return { addr: String(listen.addr), events, waitFor, stop: () => child.kill('SIGKILL') };
}
