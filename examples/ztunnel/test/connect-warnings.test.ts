/**
 * Every xDS and CA connect failure, and the reconnect after it, is a warning with the reason (ztunnel:
 * istio/ztunnel@62d82653:src/xds/client.rs "XDS client connection error", istio/ztunnel@62d82653:src/identity/manager.rs "certificate fetch failed").
 * A real xDS server that is not there yet and then is; a real CA of another trust domain that refuses, then
 * the right one. On loopback, no root.
 */
import net from 'node:net';
import { createBundleSet, createCertificateAuthority } from '@ambient-kit/spiffe';
import { createWorkloadStore } from '@ambient-kit/workload-api';
import { createXdsServer } from '@ambient-kit/workload-api/xds';
import { describe, expect, it } from 'vitest';
import { type CaClient, caClientFromAuthority, createZtunnel, type LogRecord } from '../src/index.js';
import { addresses, meshResources } from './support/mesh.js';

async function freePort(): Promise<number> {
  const server = net.createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as net.AddressInfo;
  await new Promise((resolve) => server.close(resolve));
  return port;
}

describe('connect failures are warnings with the reason', () => {
  it('xDS: each failed attempt, and the reconnect', async () => {
    const port = await freePort();
    const ca = await createCertificateAuthority({ trustDomain: 'cluster.local' });
    const records: LogRecord[] = [];
    const ztunnel = createZtunnel({
      nodeName: 'node-x',
      workloads: { xdsAddress: `127.0.0.1:${port}` },
      ca: caClientFromAuthority(ca),
      bundles: createBundleSet([ca.bundle]),
      nodeAddress: '127.31.1.1',
      ports: { admin: 0, metrics: 0, readiness: 0, socks5: 0 },
      accessLog: false,
      logger: (r) => records.push(r),
    });
    const store = createWorkloadStore();
    store.apply({ resources: meshResources(addresses(31)) });
    const server = createXdsServer({ store });
    try {
      await ztunnel.start();
      const failures = () => records.filter((r) => r.message === 'XDS client connection error, retrying');
      await expect.poll(() => failures().length, { timeout: 10_000 }).toBeGreaterThanOrEqual(2);
      expect(failures()[0]).toMatchObject({ level: 'warn', target: 'xds' });
      expect(failures()[0]?.fields).toContainEqual(['error', expect.stringContaining(`127.0.0.1:${port}`)]);
      expect(failures()[0]?.fields).toContainEqual(['retry_ms', expect.any(Number)]);
      // The server comes up: the reconnect is a warning too, then the ztunnel syncs.
      await server.listen(`127.0.0.1:${port}`);
      await expect
        .poll(() => records.find((r) => r.message === 'reconnected'), { timeout: 20_000 })
        .toMatchObject({ level: 'warn', target: 'xds' });
      await ztunnel.ready({ timeoutMs: 10_000 });
    } finally {
      await ztunnel.close();
      await server.close();
    }
  }, 40_000);

  it('CA: each refused request, and the first one that works again', async () => {
    const wrong = await createCertificateAuthority({ trustDomain: 'other.example' });
    const right = await createCertificateAuthority({ trustDomain: 'cluster.local' });
    // A CA endpoint whose signer is replaced (a misconfigured istiod fixed), not a stub: both really sign.
    let signer: CaClient = caClientFromAuthority(wrong);
    const records: LogRecord[] = [];
    const store = createWorkloadStore();
    store.apply({ resources: meshResources(addresses(32)) });
    const ztunnel = createZtunnel({
      nodeName: 'node-a',
      workloads: { store },
      ca: { sign: (...args) => signer.sign(...args) },
      bundles: createBundleSet([right.bundle]),
      nodeAddress: '127.32.1.1',
      ports: { admin: 0, metrics: 0, readiness: 0, socks5: 0 },
      accessLog: false,
      logger: (r) => records.push(r),
    });
    try {
      // The start waits for the local workloads' certificates, which the CA keeps refusing (retried).
      const started = ztunnel.start();
      const failed = await expect
        .poll(() => records.find((r) => r.message === 'CA request failed'), { timeout: 10_000 })
        .toMatchObject({ level: 'warn', target: 'identity' })
        .then(() => records.find((r) => r.message === 'CA request failed'));
      // The node's two local identities are requested concurrently: either may be the first refused.
      const identity = failed?.fields.find(([k]) => k === 'identity')?.[1];
      expect([
        'spiffe://cluster.local/ns/default/sa/sleep',
        'spiffe://cluster.local/ns/default/sa/notsleep',
      ]).toContain(identity);
      expect(failed?.fields.find(([k]) => k === 'error')?.[1]).toEqual(expect.stringMatching(/.+/));
      signer = caClientFromAuthority(right);
      await started;
      await expect
        .poll(() => records.find((r) => r.message === 'CA request succeeded again'), { timeout: 10_000 })
        .toMatchObject({ level: 'warn', target: 'identity' });
      await ztunnel.ready({ timeoutMs: 10_000 });
    } finally {
      await ztunnel.close();
    }
  }, 40_000);
});
