import { afterEach, describe, expect, it } from 'vitest';
import { createHboneClient, type HboneError } from '../src/index.js';
import { collect, type Harness, harness, pki, useEchoServer, waitFor } from './fixtures.js';
import { FRAME, frameClient, frameServer } from './raw-h2.js';

// Keepalive (istio/ztunnel@62d82653:src/proxy/h2.rs) and drain, with short timers so the suite stays fast.

const echo = useEchoServer();
let h: Harness | undefined;

afterEach(async () => {
  await h?.close();
  h = undefined;
});

describe('PING keepalive', () => {
  it('the client PINGs on its interval and drops a connection whose PINGs go unanswered', async () => {
    const pings: number[] = [];
    const server = await frameServer((peer) => {
      peer.handshake();
      // Never answer anything, PINGs included.
      void peer.waitFor((f) => f.type === FRAME.PING).then(() => pings.push(Date.now()));
    });
    const p = await pki();
    const client = createHboneClient({
      svid: p.client,
      bundles: p.bundles,
      pingIntervalMs: 50,
      pingTimeoutMs: 150,
    });
    try {
      const started = Date.now();
      const error = await client
        .connect({ via: server.via, authority: '10.0.0.1:80', expectedIdentities: [p.serverId] })
        .then(
          () => undefined,
          (e: unknown) => e as HboneError,
        );
      expect(error?.code).toBe('HBONE_ERR_PING_TIMEOUT');
      expect(pings).toHaveLength(1);
      expect(Date.now() - started).toBeGreaterThanOrEqual(150);
      expect(client.pool.stats()).toMatchObject({ connections: 0, streams: 0 });
    } finally {
      await client.close({ deadlineMs: 50 });
      await server.close();
    }
  });

  it('answered PINGs keep an idle connection up', async () => {
    h = await harness({ pingIntervalMs: 20, pingTimeoutMs: 60 }, { pingIntervalMs: 20, pingTimeoutMs: 60 });
    const tunnel = await h.client.connect({
      via: h.via,
      authority: `127.0.0.1:${echo.port}`,
      expectedIdentities: [h.pki.serverId],
    });
    await new Promise((resolve) => setTimeout(resolve, 300));
    tunnel.end('still here');
    expect((await collect(tunnel)).toString()).toBe('still here');
    expect(h.client.pool.stats().connections).toBe(1);
  });

  it('the server PINGs too, and drops a client that does not answer with a GOAWAY', async () => {
    h = await harness({ pingIntervalMs: 50, pingTimeoutMs: 150 });
    const peer = await frameClient(h.via);
    await peer.waitFor((f) => f.type === FRAME.PING && (f.flags & 1) === 0);
    await waitFor(
      () => peer.socket.destroyed || peer.socket.readableEnded,
      'the server to drop the connection',
      3000,
    );
    const goaway = peer.frames.find((f) => f.type === FRAME.GOAWAY);
    expect(goaway?.payload.readUInt32BE(4)).toBe(0); // NO_ERROR, as ztunnel's abrupt_shutdown
    peer.socket.destroy();
  });
});

describe('graceful close', () => {
  it('server.close() sends GOAWAY, lets open tunnels finish, and resolves once they are done', async () => {
    h = await harness();
    const tunnel = await h.client.connect({
      via: h.via,
      authority: `127.0.0.1:${echo.port}`,
      expectedIdentities: [h.pki.serverId],
    });
    let closed = false;
    const closing = h.server.close({ deadlineMs: 5000 }).then(() => {
      closed = true;
    });
    await waitFor(() => h?.client.pool.stats().drainingConnections === 1, 'GOAWAY at the client');
    // New tunnels cannot use the draining connection, and the listener is gone.
    await expect(
      h.client.connect({
        via: h.via,
        authority: `127.0.0.1:${echo.port}`,
        expectedIdentities: [h.pki.serverId],
      }),
    ).rejects.toMatchObject({ code: 'HBONE_ERR_CONNECTION_FAILED' });
    expect(closed).toBe(false);
    tunnel.end('finishing');
    expect((await collect(tunnel)).toString()).toBe('finishing');
    await closing;
    expect(h.server.stats()).toMatchObject({ connections: 0, streams: 0 });
  });

  it('server.close() force-closes tunnels still open after the deadline', async () => {
    h = await harness();
    const tunnel = await h.client.connect({
      via: h.via,
      authority: `127.0.0.1:${echo.port}`,
      expectedIdentities: [h.pki.serverId],
    });
    tunnel.on('error', () => {});
    const started = Date.now();
    await h.server.close({ deadlineMs: 200 });
    expect(Date.now() - started).toBeGreaterThanOrEqual(190);
    await waitFor(() => tunnel.destroyed || tunnel.readableEnded, 'the tunnel to end');
    expect(h.server.stats()).toMatchObject({ connections: 0, streams: 0 });
  });

  it('client.close() closes pooled connections and refuses new tunnels', async () => {
    h = await harness();
    const tunnel = await h.client.connect({
      via: h.via,
      authority: `127.0.0.1:${echo.port}`,
      expectedIdentities: [h.pki.serverId],
    });
    tunnel.end('x');
    await collect(tunnel);
    await h.client.close();
    expect(h.client.pool.stats()).toMatchObject({ connections: 0, drainingConnections: 0 });
    await waitFor(() => h?.server.stats().connections === 0, 'the server to see the close');
    await expect(
      h.client.connect({
        via: h.via,
        authority: `127.0.0.1:${echo.port}`,
        expectedIdentities: [h.pki.serverId],
      }),
    ).rejects.toMatchObject({ code: 'HBONE_ERR_CLOSED' });
  });
});
