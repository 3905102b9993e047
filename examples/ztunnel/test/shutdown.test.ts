/**
 * A ztunnel that cannot serve says so at once, and one that is told to stop stops, whatever its clients do.
 */
import net from 'node:net';
import { createBundleSet, createCertificateAuthority } from '@ambient-kit/spiffe';
import { createWorkloadStore } from '@ambient-kit/workload-api';
import { describe, expect, it } from 'vitest';
import { caClientFromAuthority, connectSocks5, createZtunnel } from '../src/index.js';
import { addresses, ECHO_HOST, meshResources, startTestMesh } from './support/mesh.js';

/** Resolves with how long `promise` took, or rejects after `limitMs`. */
async function within<T>(limitMs: number, promise: Promise<T>): Promise<{ value: T; ms: number }> {
  const t0 = performance.now();
  let timer: NodeJS.Timeout | undefined;
  const limit = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`not settled within ${limitMs} ms`)), limitMs);
  });
  try {
    const value = await Promise.race([promise, limit]);
    return { value, ms: performance.now() - t0 };
  } finally {
    clearTimeout(timer);
  }
}

describe('ztunnel start and stop', () => {
  it('close() ends the connections clients keep open (a tunnel, a SOCKS5 client that never spoke)', async () => {
    const mesh = await startTestMesh(26);
    try {
      const socks = mesh.a.addresses().socks5 as string;
      const [host, port] = socks.split(':') as [string, string];
      // An established tunnel to echo, held open and half-closed by nobody.
      const tunnel = await connectSocks5({
        proxy: { host, port: Number(port) },
        target: { host: ECHO_HOST, port: 80 },
        localAddress: mesh.ips.sleep,
        timeoutMs: 5000,
      });
      // A client that connected and never sent its greeting.
      const idle = net.connect({ host, port: Number(port), localAddress: mesh.ips.sleep });
      await new Promise((resolve) => idle.once('connect', resolve));
      // Both read (as any client does), so they see the ztunnel end them (EOF; the tunnel socket is
      // half-open capable, so its own side stays up until it ends it).
      const ended = Promise.all(
        [tunnel, idle].map((s) => new Promise((resolve) => s.resume().once('end', resolve))),
      );
      await within(3000, mesh.a.close());
      await within(3000, ended);
      for (const s of [tunnel, idle]) s.destroy();
    } finally {
      await mesh.close();
    }
  });

  it('ready() fails at once, naming the listener, when a pod address is taken', async () => {
    const ips = addresses(27);
    const holder = net.createServer();
    await new Promise<void>((resolve) => holder.listen(15008, ips.echo, resolve));
    const ca = await createCertificateAuthority({ trustDomain: 'cluster.local' });
    const store = createWorkloadStore();
    store.apply({ resources: meshResources(ips) });
    const ztunnel = createZtunnel({
      nodeName: 'node-b',
      workloads: { store },
      ca: caClientFromAuthority(ca),
      bundles: createBundleSet([ca.bundle]),
      nodeAddress: ips.nodeB,
      ports: { admin: 0, metrics: 0, readiness: 0, socks5: 0 },
      accessLog: false,
      logger: () => {},
    });
    try {
      await ztunnel.start();
      // The deadline is 10 s; the failure is known as soon as the listener could not open.
      const { value: error } = await within(
        5000,
        ztunnel.ready({ timeoutMs: 10_000 }).then(
          () => undefined,
          (e: Error) => e,
        ),
      );
      expect(error?.message).toBe(
        `ztunnel node-b: inbound listener of Kubernetes//Pod/default/echo failed: listen EADDRINUSE: address already in use ${ips.echo}:15008`,
      );
      // Readiness says so too.
      expect(ztunnel.pending()).toContain('inbound Kubernetes//Pod/default/echo (failed)');
    } finally {
      await ztunnel.close();
      await new Promise((resolve) => holder.close(resolve));
    }
  });
});
