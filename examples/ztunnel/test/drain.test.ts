/**
 * Graceful drain, as ztunnel drains on SIGTERM (istio/ztunnel@62d82653:src/drain.rs `run_with_drain`,
 * src/proxy/h2/server.rs): it stops accepting, sends GOAWAY on inbound HBONE connections, lets
 * connections in flight finish up to the deadline, then closes the rest, logging each step. On loopback, no root.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import http2 from 'node:http2';
import net from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import tls from 'node:tls';
import { fileURLToPath } from 'node:url';
import { mtlsClientOptions, staticSvidSource } from '@ambient-kit/spiffe';
import { authorizeAny } from '@ambient-kit/spiffe/codec';
import { describe, expect, it } from 'vitest';
import { connectSocks5 } from '../src/index.js';
import { ECHO_HOST, startTestMesh, type TestMesh } from './support/mesh.js';
import { startProgram } from './support/program.js';

const workspace = fileURLToPath(new URL('..', import.meta.url));

/** A tunnel sleep → echo through node-a's SOCKS5, node-a → node-b over HBONE; held open. */
async function tunnel(mesh: TestMesh): Promise<net.Socket> {
  const [host, port] = (mesh.a.addresses().socks5 as string).split(':') as [string, string];
  return connectSocks5({
    proxy: { host, port: Number(port) },
    target: { host: ECHO_HOST, port: 80 },
    localAddress: mesh.ips.sleep,
    timeoutMs: 5000,
  });
}

/** One HTTP/1.1 request on a held tunnel; resolves with the response head line. */
function request(socket: net.Socket): Promise<string> {
  return new Promise((resolve, reject) => {
    let text = '';
    const onData = (chunk: Buffer): void => {
      text += chunk.toString();
      const end = text.indexOf('\r\n\r\n');
      if (end === -1) return;
      const length = Number(/content-length: (\d+)/i.exec(text)?.[1] ?? 0);
      if (text.length < end + 4 + length) return;
      socket.off('data', onData);
      resolve(text.split('\r\n')[0] as string);
    };
    socket.on('data', onData);
    socket.once('error', reject);
    socket.write(`GET /drain HTTP/1.1\r\nhost: ${ECHO_HOST}\r\n\r\n`);
  });
}

describe('graceful drain', () => {
  it('stops accepting, sends GOAWAY, and lets a connection in flight finish before the deadline', async () => {
    const mesh = await startTestMesh(28);
    try {
      const held = await tunnel(mesh);
      expect(await request(held)).toBe('HTTP/1.1 200 OK');
      // An HBONE client of our own on echo's 15008 (node-b's inbound), to see the GOAWAY arrive.
      const svid = await mesh.ca.issue('spiffe://cluster.local/ns/default/sa/sleep');
      const session = http2.connect(`https://${mesh.ips.echo}:15008`, {
        createConnection: () =>
          tls.connect({
            host: mesh.ips.echo,
            port: 15008,
            ...mtlsClientOptions({
              svid: staticSvidSource(svid),
              bundles: mesh.bundles,
              authorize: authorizeAny(),
            }),
          }),
      });
      session.on('error', () => {});
      await new Promise<void>((resolve, reject) => {
        session.once('remoteSettings', () => resolve());
        session.once('error', reject);
      });
      const goaway = new Promise<number>((resolve) => session.once('goaway', (code) => resolve(code)));

      const started = performance.now();
      const drainedB = mesh.b.drain({ deadlineMs: 5000 });
      const drainedA = mesh.a.drain({ deadlineMs: 5000 });
      expect(await goaway).toBe(http2.constants.NGHTTP2_NO_ERROR);
      // No new connections: node-a's SOCKS5 listener is closed.
      const [host, port] = (mesh.a.addresses().socks5 as string).split(':') as [string, string];
      await expect(
        new Promise((resolve, reject) => {
          const s = net.connect({ host, port: Number(port) }, () => resolve(s));
          s.once('error', reject);
        }),
      ).rejects.toMatchObject({ code: 'ECONNREFUSED' });
      // The connection in flight still works...
      expect(await request(held)).toBe('HTTP/1.1 200 OK');
      // ...and when it ends, the drain is over, long before the deadline, with nothing forced.
      held.end();
      held.destroy();
      session.close();
      expect(await drainedA).toEqual({ forced: 0 });
      expect(await drainedB).toEqual({ forced: 0 });
      expect(performance.now() - started).toBeLessThan(4000);
      expect(
        mesh.records.some(
          (r) => r.message === 'drain duration expired with pending connections, forcefully shutting down',
        ),
      ).toBe(false);
    } finally {
      await mesh.close();
    }
  });

  it('closes what is still open at the deadline, and says so', async () => {
    const mesh = await startTestMesh(29);
    try {
      const held = await tunnel(mesh);
      expect(await request(held)).toBe('HTTP/1.1 200 OK');
      // The client sees the ztunnel end it (its socket is half-open capable, so 'end', not 'close').
      const closed = new Promise((resolve) => held.resume().once('end', resolve));
      const started = performance.now();
      const { forced } = await mesh.a.drain({ deadlineMs: 300 });
      const took = performance.now() - started;
      expect(forced).toBe(1);
      expect(took).toBeGreaterThanOrEqual(290);
      expect(took).toBeLessThan(2000);
      await closed;
      expect(mesh.records).toContainEqual(
        expect.objectContaining({
          level: 'warn',
          target: 'drain',
          message: 'drain duration expired with pending connections, forcefully shutting down',
        }),
      );
    } finally {
      await mesh.close();
    }
  });

  it('the program drains on SIGTERM and logs it: signal, drain, shutdown', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'ambient-drain-'));
    const meshFile = join(dir, 'mesh.yaml');
    writeFileSync(
      meshFile,
      'workloads:\n  - { uid: Kubernetes//Pod/default/sleep, name: sleep, namespace: default, serviceAccount: sleep, workloadIps: ["127.29.1.10"], protocol: HBONE, node: node-a }\n',
    );
    const program = startProgram(workspace, [
      '--node',
      'node-a',
      '--config',
      meshFile,
      '--node-address',
      '127.29.1.1',
      '--ephemeral-ports',
      '--drain-ms',
      '1500',
      '--ca-dir',
      join(dir, 'ca'),
    ]);
    try {
      await program.waitForStdout(/socks5: listener established/);
      program.child.kill('SIGTERM');
      const run = await program.done;
      expect(run.code).toBe(0);
      const order = ['received signal SIGTERM, starting shutdown', 'drain started', 'shutdown complete'].map(
        (m) => run.stdout.indexOf(m),
      );
      expect(order.every((i) => i >= 0)).toBe(true);
      expect([...order].sort((a, b) => a - b)).toEqual(order);
      expect(run.stdout).toMatch(
        /INFO drain: drain started, waiting for connections to complete deadline_ms=1500/,
      );
      expect(run.stderr).toBe('');
    } finally {
      await program.stop();
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
