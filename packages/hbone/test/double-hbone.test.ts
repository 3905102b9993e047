import net from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  createHboneClient,
  createHboneServer,
  type HboneRequestContext,
  type HboneServer,
} from '../src/index.js';
import { collect, dialLoopback, echoServer, pki, type TcpServer, tcpServer } from './fixtures.js';

// Double HBONE (docs/hbone.md "Double HBONE"): client → E/W gateway (outer CONNECT, pooled) → inner TLS + CONNECT (not
// pooled, x-forwarded-network) → destination HBONE server → app. Three real servers on loopback.

const SERVICE = 'reviews.bookinfo.svc.cluster.local';
const GATEWAY_ID = 'spiffe://cluster.local/ns/istio-system/sa/istio-eastwestgateway';
const DESTINATION_ID = 'spiffe://cluster.local/ns/bookinfo/sa/reviews';

let echo: TcpServer;
let wire: TcpServer;
let gateway: HboneServer;
let destination: HboneServer;
let gatewayVia: string;
const gatewaySaw: HboneRequestContext[] = [];
const destinationSaw: HboneRequestContext[] = [];
const relayed: Buffer[] = [];

beforeAll(async () => {
  const p = await pki();
  echo = await echoServer();
  destination = createHboneServer({
    svid: await p.ca.issue(DESTINATION_ID),
    bundles: p.bundles,
    authorize: (ctx) => {
      destinationSaw.push(ctx);
      return true;
    },
    // The destination resolves the service hostname to its local app (istio/ztunnel@62d82653:src/proxy/inbound.rs L637-664).
    connectUpstream: (target, ctx) => {
      if (target.kind !== 'hostname' || target.hostname !== SERVICE) throw new Error('unknown service');
      return dialLoopback(echo.port, ctx.signal);
    },
  });
  const { port: destinationPort } = await destination.listen({ port: 0, host: '127.0.0.1' });
  // What the gateway sends on to the destination's :15008, recorded on the way: it must be opaque TLS.
  wire = await tcpServer((socket) => {
    const next = net.connect({ host: '127.0.0.1', port: destinationPort, allowHalfOpen: true });
    socket.on('data', (chunk: Buffer) => relayed.push(chunk));
    socket.pipe(next).pipe(socket);
    next.on('error', () => socket.destroy());
  });
  gateway = createHboneServer({
    svid: await p.ca.issue(GATEWAY_ID),
    bundles: p.bundles,
    authorize: (ctx) => {
      gatewaySaw.push(ctx);
      return true;
    },
    // The E/W gateway forwards the inner bytes opaquely to <pod>:15008 (istio/istio@86c9f01f:pilot/pkg/networking/core/listener_waypoint.go).
    connectUpstream: () => dialLoopback(wire.port),
  });
  const { port } = await gateway.listen({ port: 0, host: '127.0.0.1' });
  gatewayVia = `127.0.0.1:${port}`;
});

afterAll(async () => {
  await gateway.close({ deadlineMs: 100 });
  await destination.close({ deadlineMs: 100 });
  await wire.close();
  await echo.close();
});

describe('double HBONE', () => {
  it('tunnels through the gateway to the destination, end to end encrypted', async () => {
    const p = await pki();
    const client = createHboneClient({ svid: p.client, bundles: p.bundles });
    try {
      const open = () =>
        client.connect({
          via: gatewayVia,
          authority: `${SERVICE}:9080`,
          expectedIdentities: [DESTINATION_ID],
          doubleHbone: { gatewayIdentities: [GATEWAY_ID], network: 'network-a' },
        });
      const first = await open();
      const second = await open();
      expect(first.peerIdentity).toBe(DESTINATION_ID);
      first.end('secret-payload-1');
      second.end('secret-payload-2');
      expect((await collect(first)).toString()).toBe('secret-payload-1');
      expect((await collect(second)).toString()).toBe('secret-payload-2');

      // Outer: hostname authority, gateway's identity checked, no x-forwarded-network; pooled (one connection).
      expect(gatewaySaw.map((c) => [c.authorityText, c.peerIdentity, c.request.forwardedNetwork])).toEqual([
        [`${SERVICE}:9080`, p.clientId, undefined],
        [`${SERVICE}:9080`, p.clientId, undefined],
      ]);
      expect(client.pool.stats().handshakes).toBe(1);
      // Inner: same authority, x-forwarded-network, the client's own identity; one connection per tunnel.
      expect(
        destinationSaw.map((c) => [c.authorityText, c.peerIdentity, c.request.forwardedNetwork]),
      ).toEqual([
        [`${SERVICE}:9080`, p.clientId, 'network-a'],
        [`${SERVICE}:9080`, p.clientId, 'network-a'],
      ]);
      expect(destination.stats().handshakes).toBe(2);
      // The gateway relayed TLS, never the plaintext.
      const seen = Buffer.concat(relayed);
      expect(seen.length).toBeGreaterThan(0);
      expect(seen.includes('secret-payload')).toBe(false);
    } finally {
      await client.close({ deadlineMs: 100 });
    }
  });

  it("rejects a destination that is not one of expectedIdentities (the inner handshake's check)", async () => {
    const p = await pki();
    const client = createHboneClient({ svid: p.client, bundles: p.bundles });
    try {
      await expect(
        client.connect({
          via: gatewayVia,
          authority: `${SERVICE}:9080`,
          expectedIdentities: ['spiffe://cluster.local/ns/bookinfo/sa/ratings'],
          doubleHbone: { gatewayIdentities: [GATEWAY_ID], network: 'network-a' },
        }),
      ).rejects.toMatchObject({ code: 'HBONE_ERR_PEER_IDENTITY' });
    } finally {
      await client.close({ deadlineMs: 100 });
    }
  });
});
