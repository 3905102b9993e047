import { randomBytes } from 'node:crypto';
import net from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  createHboneClient,
  createHboneServer,
  type HboneRequestContext,
  type HboneServer,
} from '../src/index.js';
import { collect, echoServer, type Pki, pki, type TcpServer } from './fixtures.js';
import { buildGoPeer, type GoPeer, startGoPeer, writeCredentials } from './go-peer.js';

// Interop with an independent HTTP/2 CONNECT stack: Go's crypto/tls + golang.org/x/net/http2, the libraries
// of istio's Go HBONE code (pkg/hbone), with SPIFFE mTLS as ztunnel does it (istio/istio@86c9f01f:pkg/hbone).

const GO_SERVER_ID = 'spiffe://cluster.local/ns/go/sa/go-server';
const GO_CLIENT_ID = 'spiffe://cluster.local/ns/go/sa/go-client';

let binary: string;
let p: Pki;
let echo: TcpServer;
const cleanups: (() => unknown)[] = [];

beforeAll(async () => {
  [binary, p] = await Promise.all([buildGoPeer(), pki()]);
  echo = await echoServer();
}, 120_000);

afterAll(async () => {
  for (const cleanup of cleanups.reverse()) await cleanup();
  await echo.close();
});

/** Opens a TCP connection to the Go forwarder, sends `payload`, half-closes and reads everything back. */
function throughForwarder(addr: string, payload: Buffer): Promise<Buffer> {
  const [host, port] = addr.split(':') as [string, string];
  return new Promise((resolve, reject) => {
    const socket = net.connect({ host, port: Number(port), allowHalfOpen: true }, () => socket.end(payload));
    const chunks: Buffer[] = [];
    socket.on('data', (chunk: Buffer) => chunks.push(chunk));
    socket.on('end', () => resolve(Buffer.concat(chunks)));
    // The forwarder closes a refused connection with unread input: a reset, after whatever it sent.
    socket.on('error', (error: NodeJS.ErrnoException) =>
      error.code === 'ECONNRESET' ? resolve(Buffer.concat(chunks)) : reject(error),
    );
  });
}

describe('our server, a Go HBONE client', () => {
  let server: HboneServer;
  let forwarder: GoPeer;
  const seen: HboneRequestContext[] = [];

  beforeAll(async () => {
    server = createHboneServer({
      svid: p.server,
      bundles: p.bundles,
      baggage: { namespace: 'node-server' },
      authorize: (ctx) => {
        seen.push(ctx);
        return ctx.authority.port !== 9; // port 9 (discard) is "denied by policy"
      },
    });
    const { port } = await server.listen({ port: 0, host: '127.0.0.1' });
    const creds = writeCredentials(await p.ca.issue(GO_CLIENT_ID), p.ca.rootCertificatePem);
    cleanups.push(creds.remove, () => server.close({ deadlineMs: 100 }));
    const start = (authority: string) =>
      startGoPeer(binary, [
        '-mode',
        'client',
        '-cert',
        creds.cert,
        '-key',
        creds.key,
        '-bundle',
        creds.bundle,
        '-via',
        `127.0.0.1:${port}`,
        '-authority',
        authority,
        '-expect',
        p.serverId,
        '-header',
        'baggage=k8s.namespace.name=go-ns,k8s.deployment.name=go-client',
      ]);
    forwarder = await start(`127.0.0.1:${echo.port}`);
    const denied = await start('127.0.0.1:9');
    cleanups.push(
      () => forwarder.stop(),
      () => denied.stop(),
    );
    (globalThis as { denied?: GoPeer }).denied = denied;
  }, 60_000);

  it('accepts the Go client (mTLS, SPIFFE ID, plain CONNECT) and carries bytes both ways', async () => {
    const payload = randomBytes(3 * 1024 * 1024 + 17);
    const back = await throughForwarder(forwarder.addr, payload);
    expect(back.equals(payload)).toBe(true);
    const ctx = seen.at(-1) as HboneRequestContext;
    expect(ctx.peerIdentity).toBe(GO_CLIENT_ID);
    expect(ctx.headers[':method']).toBe('CONNECT');
    expect(ctx.headers[':authority']).toBe(`127.0.0.1:${echo.port}`);
    expect(ctx.headers[':path']).toBeUndefined();
    expect(ctx.headers[':scheme']).toBeUndefined();
    expect(ctx.request.baggage).toEqual({
      namespace: 'go-ns',
      workloadType: 'deployment',
      workloadName: 'go-client',
    });
    const response = await forwarder.waitFor((e) => e.event === 'response');
    expect(response).toMatchObject({ status: 200, baggage: 'k8s.namespace.name=node-server' });
  });

  it('serves many Go tunnels concurrently over one pooled Go connection', async () => {
    const payloads = Array.from({ length: 20 }, (_, i) => randomBytes(1000 + i * 997));
    const backs = await Promise.all(payloads.map((b) => throughForwarder(forwarder.addr, b)));
    expect(backs.map((b, i) => b.equals(payloads[i] as Buffer))).toEqual(payloads.map(() => true));
    // Go's transport pools too: every tunnel so far rode one connection.
    expect(forwarder.events.filter((e) => e.event === 'dial')).toHaveLength(1);
    expect(server.stats().handshakes).toBe(1);
  });

  it('answers the Go client 401 on a policy deny', async () => {
    const denied = (globalThis as { denied?: GoPeer }).denied as GoPeer;
    const back = await throughForwarder(denied.addr, Buffer.from('nope'));
    expect(back.length).toBe(0);
    expect(await denied.waitFor((e) => e.event === 'response')).toMatchObject({ status: 401 });
  });
});

describe('our client, a Go HBONE server', () => {
  let goServer: GoPeer;

  beforeAll(async () => {
    // Both roots, so that a foreign client's chain verifies and the trust-domain rule is what refuses it.
    const creds = writeCredentials(
      await p.ca.issue(GO_SERVER_ID),
      p.ca.rootCertificatePem + p.otherCa.rootCertificatePem,
    );
    goServer = await startGoPeer(binary, [
      '-mode',
      'server',
      '-cert',
      creds.cert,
      '-key',
      creds.key,
      '-bundle',
      creds.bundle,
      '-baggage',
      'k8s.namespace.name=go-ns',
    ]);
    cleanups.push(creds.remove, () => goServer.stop());
  }, 60_000);

  it('tunnels through the Go server with TLS 1.3, ALPN h2, no SNI, and a plain CONNECT', async () => {
    const client = createHboneClient({
      svid: p.client,
      bundles: p.bundles,
      baggage: { namespace: 'node-ns' },
    });
    try {
      const tunnel = await client.connect({
        via: goServer.addr,
        authority: `127.0.0.1:${echo.port}`,
        expectedIdentities: [GO_SERVER_ID],
      });
      expect(tunnel.peerIdentity).toBe(GO_SERVER_ID);
      expect(tunnel.peerBaggage).toEqual({ namespace: 'go-ns' });
      const payload = randomBytes(20 * 1024 * 1024 + 5); // beyond the 16 MiB connection window
      const reading = collect(tunnel);
      tunnel.end(payload);
      expect((await reading).equals(payload)).toBe(true);

      const handshake = await goServer.waitFor((e) => e.event === 'handshake' && e.peer === p.clientId);
      expect(handshake).toMatchObject({ alpn: 'h2', sni: '', version: 0x0304 });
      const request = await goServer.waitFor((e) => e.event === 'request' && e.peer === p.clientId);
      expect(request).toMatchObject({
        method: 'CONNECT',
        authority: `127.0.0.1:${echo.port}`,
        proto: 'HTTP/2.0',
      });
      expect(request.headers).toMatchObject({
        Baggage: ['k8s.namespace.name=node-ns'],
        Traceparent: [expect.stringMatching(/^00-[0-9a-f]{32}-[0-9a-f]{16}-00$/)],
      });
    } finally {
      await client.close({ deadlineMs: 100 });
    }
  });

  it('runs many tunnels over one connection to the Go server', async () => {
    const client = createHboneClient({ svid: p.client, bundles: p.bundles });
    try {
      const payloads = Array.from({ length: 50 }, (_, i) => randomBytes(500 + i * 131));
      const backs = await Promise.all(
        payloads.map(async (payload) => {
          const tunnel = await client.connect({
            via: goServer.addr,
            authority: `127.0.0.1:${echo.port}`,
            expectedIdentities: [GO_SERVER_ID],
          });
          const reading = collect(tunnel);
          tunnel.end(payload);
          return reading;
        }),
      );
      expect(backs.map((b, i) => b.equals(payloads[i] as Buffer))).toEqual(payloads.map(() => true));
      expect(client.pool.stats().handshakes).toBe(1);
    } finally {
      await client.close({ deadlineMs: 100 });
    }
  });

  it('gets 503 from the Go server when its upstream refuses', async () => {
    const client = createHboneClient({ svid: p.client, bundles: p.bundles });
    try {
      await expect(
        client.connect({ via: goServer.addr, authority: '127.0.0.1:1', expectedIdentities: [GO_SERVER_ID] }),
      ).rejects.toMatchObject({ status: 503, code: 'HBONE_ERR_UNAVAILABLE' });
    } finally {
      await client.close({ deadlineMs: 100 });
    }
  });

  it('rejects the Go server when it is not the expected identity, and the Go server rejects a foreign client', async () => {
    const wrong = createHboneClient({ svid: p.client, bundles: p.bundles });
    const foreign = createHboneClient({ svid: p.foreign, bundles: p.bundles });
    try {
      await expect(
        wrong.connect({
          via: goServer.addr,
          authority: `127.0.0.1:${echo.port}`,
          expectedIdentities: [p.serverId],
        }),
      ).rejects.toMatchObject({ code: 'HBONE_ERR_PEER_IDENTITY' });
      const error = await foreign
        .connect({
          via: goServer.addr,
          authority: `127.0.0.1:${echo.port}`,
          expectedIdentities: [GO_SERVER_ID],
        })
        .then(
          () => undefined,
          (e: { code?: string }) => e,
        );
      expect(['HBONE_ERR_TLS_HANDSHAKE', 'HBONE_ERR_CONNECTION_CLOSED']).toContain(error?.code);
      await goServer.waitFor(
        (e) => e.event === 'handshake-error' && String(e.error).includes('trust domain'),
      );
    } finally {
      await wrong.close({ deadlineMs: 100 });
      await foreign.close({ deadlineMs: 100 });
    }
  });
});
