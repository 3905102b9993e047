/**
 * Graceful drain, as on SIGTERM: readiness fails at once, new connections are refused (the HBONE listener is
 * closed; a CONNECT on an existing connection is refused after its GOAWAY), requests in flight finish (HTTP/1.1
 * answers say `connection: close`, inner HTTP/2 sessions get GOAWAY), and what is still running at the
 * deadline is cut.
 */
import net from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createWaypoint, createWaypointLogger } from '../src/index.js';
import { echo, h1, h2, h2Request, sa, startTestMesh, type TestMesh } from './support/mesh.js';

let mesh: TestMesh;
beforeAll(async () => {
  mesh = await startTestMesh({
    subnet: 47,
    pods: [
      { name: 'reviews-v1', octet: 20, app: 'reviews', version: 'v1', services: { reviews: { 9080: 9080 } } },
    ],
    services: [{ name: 'reviews', vipOctet: 20, ports: { 9080: 9080 } }],
  });
});
afterAll(async () => {
  await mesh?.close();
});

describe('drain', () => {
  it('finishes requests in flight and refuses new connections', async () => {
    const waypoint = mesh.waypoint;
    const { readiness, admin } = waypoint.addresses();
    waypoint.logger.setLevel('info', 'main');
    const slowH1 = h1(await mesh.tunnel('reviews', 9080), {
      path: '/slow',
      headers: { 'x-app-delay-ms': '600' },
    });
    const session = h2(await mesh.tunnel('reviews', 9080));
    const goaway = new Promise<void>((resolve) => session.once('goaway', () => resolve()));
    const slowH2 = h2Request(session, { ':path': '/slow-h2', 'x-app-delay-ms': '600' });
    await new Promise((r) => setTimeout(r, 150));
    expect(waypoint.inFlight()).toBe(2);

    const drained = waypoint.drain({ deadlineMs: 5000 });
    expect(waypoint.state()).toBe('DRAINING');
    expect((await fetch(`http://${readiness}/healthz/ready`)).status).toBe(503);
    const ready = await fetch(`http://${admin}/ready`);
    expect([ready.status, await ready.text()]).toEqual([503, 'DRAINING\n']);
    // A new TCP connection to 15008 is refused; so is a new CONNECT on the pooled HBONE connection.
    const refused = await new Promise<string>((resolve) => {
      const s = net.connect({ host: mesh.waypointIp, port: 15008 });
      s.once('connect', () => {
        s.destroy();
        resolve('connected');
      });
      s.once('error', (e: NodeJS.ErrnoException) => resolve(e.code ?? e.message));
    });
    expect(refused).toBe('ECONNREFUSED');
    await expect(mesh.tunnel('reviews', 9080)).rejects.toBeDefined();
    await goaway;

    const [a, b] = await Promise.all([slowH1, slowH2]);
    expect(a.status).toBe(200);
    expect(a.headers.connection).toBe('close');
    expect(echo(a).path).toBe('/slow');
    expect(b.status).toBe(200);
    expect(await drained).toEqual({ completed: 2, cut: 0 });
    session.close();
  });

  it('cuts what is still running at the deadline', async () => {
    const logs: string[] = [];
    const second = createWaypoint({
      workloadUid: 'Kubernetes//Pod/default/waypoint',
      workloads: { store: mesh.store },
      svid: await mesh.ca.issue(sa('waypoint')),
      bundles: mesh.bundles,
      config: mesh.config,
      port: 15009,
      ports: { admin: 0, metrics: 0, readiness: 0 },
      accessLog: false,
      logger: createWaypointLogger({ write: (l) => logs.push(l) }),
    });
    await second.start();
    try {
      const client = await mesh.client();
      const tunnel = await client.connect({
        via: `${mesh.waypointIp}:15009`,
        authority: `${mesh.vip('reviews')}:9080`,
        expectedIdentities: [sa('waypoint')],
      });
      tunnel.on('error', () => {});
      const slow = h1(tunnel, { path: '/very-slow', headers: { 'x-app-delay-ms': '3000' } }).then(
        (r) => `status ${r.status}`,
        (e: Error) => `error ${e.message}`,
      );
      await new Promise((r) => setTimeout(r, 150));
      const t0 = performance.now();
      expect(await second.drain({ deadlineMs: 300 })).toEqual({ completed: 0, cut: 1 });
      expect(performance.now() - t0).toBeLessThan(2500);
      expect(await slow).toMatch(/^error /);
      expect(logs.some((l) => /\[info\]\[main\] draining: 1 request\(s\) in flight/.test(l))).toBe(true);
      expect(
        logs.some((l) => /\[info\]\[main\] drained: 0 request\(s\) finished, 1 cut at the deadline/.test(l)),
      ).toBe(true);
    } finally {
      await second.close();
    }
  });
});
