/**
 * Small socket helpers for the integration tests: wait for the next connection on a server, exchange a
 * line, and a tool wrapper that fails only inside one namespace (to force a failure half-way through an
 * apply, after the scratch namespace has already accepted the same rules).
 */
import { chmodSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import type net from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

/** Resolves with the next socket a server accepts, or rejects after `timeoutMs`. */
export function nextConnection(server: net.Server, timeoutMs = 5000): Promise<net.Socket> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      server.off('connection', onConnection);
      reject(new Error(`no connection within ${timeoutMs} ms`));
    }, timeoutMs);
    const onConnection = (socket: net.Socket): void => {
      clearTimeout(timer);
      resolve(socket);
    };
    server.once('connection', onConnection);
  });
}

/** Counts connections a server receives (to show one did *not* get any). */
export function countConnections(server: net.Server): { readonly count: number } {
  const counter = { count: 0 };
  server.on('connection', (socket) => {
    counter.count++;
    socket.destroy();
  });
  return counter;
}

/** Reads until the first newline. */
export function readLine(socket: net.Socket, timeoutMs = 5000): Promise<string> {
  return new Promise((resolve, reject) => {
    let buffered = '';
    const timer = setTimeout(() => reject(new Error(`no line within ${timeoutMs} ms`)), timeoutMs);
    const onData = (chunk: Buffer): void => {
      buffered += chunk.toString('utf8');
      const i = buffered.indexOf('\n');
      if (i !== -1) {
        clearTimeout(timer);
        socket.off('data', onData);
        resolve(buffered.slice(0, i));
      }
    };
    socket.on('data', onData);
    socket.once('error', reject);
  });
}

/** Closes servers, ignoring ones already closed. */
export async function closeAll(servers: readonly net.Server[]): Promise<void> {
  await Promise.all(servers.map((s) => new Promise<void>((resolve) => s.close(() => resolve()))));
}

/**
 * A shell wrapper that runs `real`, except that inside the namespace with inode `inode` and with `firstArg`
 * as its first argument it fails (exit 1) after draining stdin. Returns its path and a cleanup.
 */
export function failingInNamespace(
  real: string,
  inode: bigint,
  firstArg: string,
): { path: string; remove(): void } {
  const dir = mkdtempSync(join(tmpdir(), 'ambient-redirect-tool-'));
  const path = join(dir, 'tool');
  writeFileSync(
    path,
    `#!/bin/sh\nif [ "$1" = "${firstArg}" ] && [ "$(readlink /proc/self/ns/net)" = "net:[${inode}]" ]; then cat >/dev/null; echo injected failure >&2; exit 1; fi\nexec ${real} "$@"\n`,
  );
  chmodSync(path, 0o755);
  return { path, remove: () => rmSync(dir, { recursive: true, force: true }) };
}
