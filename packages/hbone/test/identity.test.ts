import net from 'node:net';
import tls from 'node:tls';
import { afterEach, describe, expect, it } from 'vitest';
import { createHboneClient, HboneError } from '../src/index.js';
import { collect, type Harness, harness, pki, useEchoServer } from './fixtures.js';
import { FRAME, frameServer } from './raw-h2.js';

// TLS and identity rules of ztunnel (istio/ztunnel@62d82653:src/tls/certificate.rs, src/tls/workload.rs),
// over real handshakes.

const echo = useEchoServer();
let h: Harness | undefined;

afterEach(async () => {
  await h?.close();
  h = undefined;
});

async function failure(promise: Promise<unknown>): Promise<HboneError> {
  const error = await promise.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(error).toBeInstanceOf(HboneError);
  return error as HboneError;
}

/** Resolves once `socket` is closed: whether its handshake completed, its error, and the bytes it received. */
function closed(
  socket: tls.TLSSocket,
): Promise<{ secure: boolean; error: Error | undefined; received: number }> {
  return new Promise((resolve) => {
    let secure = false;
    let error: Error | undefined;
    let received = 0;
    socket.on('secureConnect', () => {
      secure = true;
    });
    socket.on('error', (e) => {
      error = e;
    });
    socket.on('data', (chunk: Buffer) => {
      received += chunk.length;
    });
    socket.once('close', () => resolve({ secure, error, received }));
  });
}

describe('the client verifies the server (T5)', () => {
  it("rejects a server whose SPIFFE ID is not one of expectedIdentities, whatever its chain's validity", async () => {
    h = await harness();
    const error = await failure(
      h.client.connect({
        via: h.via,
        authority: `127.0.0.1:${echo.port}`,
        expectedIdentities: ['spiffe://cluster.local/ns/default/sa/not-the-server'],
      }),
    );
    expect(error.code).toBe('HBONE_ERR_PEER_IDENTITY');
    expect(error.message).toMatch(/identity verification error/);
    expect(h.server.stats().streams).toBe(0);
  });

  it('accepts the server when any of several expected identities matches', async () => {
    h = await harness();
    const tunnel = await h.client.connect({
      via: h.via,
      authority: `127.0.0.1:${echo.port}`,
      expectedIdentities: ['spiffe://cluster.local/ns/a/sa/b', h.pki.serverId],
    });
    tunnel.end('ok');
    expect((await collect(tunnel)).toString()).toBe('ok');
  });

  it('sends no SNI and offers exactly ALPN h2 (T1, T3)', async () => {
    const seen: { servername: string | false; alpn: string | false | null }[] = [];
    const server = await frameServer((peer) => {
      seen.push({
        servername: (peer.socket as tls.TLSSocket & { servername: string | false }).servername,
        alpn: peer.socket.alpnProtocol,
      });
      peer.handshake();
      void peer
        .waitFor((f) => f.type === FRAME.HEADERS)
        .then((headers) => {
          peer.respond200(headers.streamId);
          peer.send(FRAME.DATA, 0x1, headers.streamId, Buffer.from('hi'));
        });
    });
    const p = await pki();
    const client = createHboneClient({ svid: p.client, bundles: p.bundles });
    try {
      const tunnel = await client.connect({
        via: server.via,
        authority: '10.0.0.2:80',
        expectedIdentities: [p.serverId],
      });
      tunnel.end();
      expect((await collect(tunnel)).toString()).toBe('hi');
      expect(seen).toEqual([{ servername: false, alpn: 'h2' }]);
    } finally {
      await client.close({ deadlineMs: 50 });
      await server.close();
    }
  });
});

describe('the server verifies the client (T4)', () => {
  it('rejects a client of another trust domain, even with a chain the bundles validate', async () => {
    const p = await pki();
    h = await harness({}, { svid: p.foreign });
    const error = await failure(
      h.client.connect({ via: h.via, authority: `127.0.0.1:${echo.port}`, expectedIdentities: [p.serverId] }),
    );
    expect(['HBONE_ERR_TLS_HANDSHAKE', 'HBONE_ERR_CONNECTION_CLOSED']).toContain(error.code);
    expect(h.server.stats()).toMatchObject({ handshakes: 0, streams: 0 });
  });

  it('accepts a foreign trust domain when authorizePeer says so', async () => {
    const p = await pki();
    h = await harness({ authorizePeer: (id) => id.startsWith('spiffe://other.org/') }, { svid: p.foreign });
    const tunnel = await h.client.connect({
      via: h.via,
      authority: `127.0.0.1:${echo.port}`,
      expectedIdentities: [p.serverId],
    });
    tunnel.end('federated');
    expect((await collect(tunnel)).toString()).toBe('federated');
  });

  it('rejects a client without a certificate', async () => {
    h = await harness();
    const [host, port] = h.via.split(':') as [string, string];
    const socket = tls.connect({
      host,
      port: Number(port),
      ALPNProtocols: ['h2'],
      rejectUnauthorized: false,
    });
    const result = await closed(socket);
    // TLS 1.3: the client's side of the handshake completes, then the server drops it; no HTTP/2 byte follows.
    expect(result.received).toBe(0);
    expect(h.server.stats().handshakes).toBe(0);
  });

  it('refuses TLS 1.2 (T2: TLS 1.3 only)', async () => {
    h = await harness();
    const p = await pki();
    const [host, port] = h.via.split(':') as [string, string];
    const socket = tls.connect({
      host,
      port: Number(port),
      maxVersion: 'TLSv1.2',
      ALPNProtocols: ['h2'],
      cert: p.client.certChainPem,
      key: p.client.privateKeyPem,
      rejectUnauthorized: false,
    });
    const result = await closed(socket);
    expect(result.secure).toBe(false);
    expect(result.error?.message).toMatch(/version|protocol/i);
  });

  it('does not serve a client that does not offer ALPN h2 (T1)', async () => {
    h = await harness();
    const p = await pki();
    const [host, port] = h.via.split(':') as [string, string];
    const socket = tls.connect({
      host,
      port: Number(port),
      ALPNProtocols: ['http/1.1'],
      cert: p.client.certChainPem,
      key: p.client.privateKeyPem,
      rejectUnauthorized: false,
    });
    const result = await closed(socket);
    expect(socket.alpnProtocol).not.toBe('h2');
    expect(result.received).toBe(0);
    expect(h.server.stats().handshakes).toBe(0);
  });
});

describe('a client dialing a dead address', () => {
  it('fails with HBONE_ERR_CONNECTION_FAILED, and with HBONE_ERR_CONNECT_TIMEOUT when nothing answers', async () => {
    const p = await pki();
    const probe = net.createServer();
    await new Promise<void>((resolve) => probe.listen(0, '127.0.0.1', resolve));
    const deadPort = (probe.address() as net.AddressInfo).port;
    await new Promise<void>((resolve) => probe.close(() => resolve()));
    // A listener that never completes TLS: accept and stay silent.
    const silent = net.createServer(() => {});
    await new Promise<void>((resolve) => silent.listen(0, '127.0.0.1', resolve));
    const client = createHboneClient({ svid: p.client, bundles: p.bundles, connectTimeoutMs: 200 });
    try {
      const refused = await failure(
        client.connect({
          via: `127.0.0.1:${deadPort}`,
          authority: '10.0.0.1:80',
          expectedIdentities: [p.serverId],
        }),
      );
      expect(refused.code).toBe('HBONE_ERR_CONNECTION_FAILED');
      const silentPort = (silent.address() as net.AddressInfo).port;
      const timedOut = await failure(
        client.connect({
          via: `127.0.0.1:${silentPort}`,
          authority: '10.0.0.1:80',
          expectedIdentities: [p.serverId],
        }),
      );
      expect(timedOut.code).toBe('HBONE_ERR_CONNECT_TIMEOUT');
    } finally {
      await client.close({ deadlineMs: 50 });
      silent.close();
    }
  });
});
