import net from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import {
  createHboneClient,
  createHboneServer,
  HboneError,
  type HboneServer,
  type HboneServerOptions,
  type HboneStream,
  tcpUpstream,
} from '../src/index.js';
import { collect, pki, tcpServer } from './fixtures.js';

// Issue 18 item 1: the default server must not be an open TCP proxy. ztunnel never resolves a CONNECT
// authority through DNS (istio/ztunnel@62d82653:src/proxy/inbound.rs): an IP authority names the local
// workload (400 otherwise), a hostname is looked up among known services (503 when unknown). Spellings that
// getaddrinfo reads as IP addresses are hostnames to a strict parser (Rust's SocketAddr), and must not be
// turned back into addresses behind the destination-IP check.

const cleanup: (() => Promise<void> | void)[] = [];
afterEach(async () => {
  for (const f of cleanup.splice(0).reverse()) await f();
});

/** A service on `host` that must never be reached; counts its connections. */
async function canary(host: string): Promise<{ port: number; sockets: net.Socket[] }> {
  const sockets: net.Socket[] = [];
  const listener = net.createServer((socket) => {
    sockets.push(socket);
    socket.end('reached');
  });
  await new Promise<void>((resolve) => listener.listen(0, host, resolve));
  cleanup.push(() => new Promise<void>((resolve) => listener.close(() => resolve())));
  return { port: (listener.address() as net.AddressInfo).port, sockets };
}

async function serverOn(host: string, extra: Partial<HboneServerOptions> = {}) {
  const p = await pki();
  const server: HboneServer = createHboneServer({ svid: p.server, bundles: p.bundles, ...extra });
  const { port } = await server.listen({ port: 0, host });
  cleanup.push(() => server.close({ deadlineMs: 100 }));
  return { server, via: `${host}:${port}` };
}

async function client() {
  const p = await pki();
  const c = createHboneClient({ svid: p.client, bundles: p.bundles });
  cleanup.push(() => c.close({ deadlineMs: 100 }));
  return c;
}

async function statusOf(promise: Promise<unknown>): Promise<number | string> {
  try {
    const tunnel = (await promise) as HboneStream;
    tunnel.destroy();
    return 200;
  } catch (error) {
    if (error instanceof HboneError) return error.status ?? error.code;
    throw error;
  }
}

describe('the default server is not an open proxy (issue 18 item 1)', () => {
  it('refuses the non-canonical spellings of another loopback IP: 503, nothing dialed', async () => {
    const target = await canary('127.0.0.2');
    const { server, via } = await serverOn('127.0.0.1');
    const c = await client();
    const p = await pki();
    const p2 = target.port;
    const statuses: Record<string, number | string> = {};
    for (const authority of [`127.0.0.02:${p2}`, `2130706434:${p2}`, `0x7f000002:${p2}`, `127.2:${p2}`]) {
      statuses[authority] = await statusOf(c.connect({ via, authority, expectedIdentities: [p.serverId] }));
    }
    // Hostnames to ztunnel's parser, and unknown ones: 503 (find_service_by_hostname).
    expect(statuses).toEqual({
      [`127.0.0.02:${p2}`]: 503,
      [`2130706434:${p2}`]: 503,
      [`0x7f000002:${p2}`]: 503,
      [`127.2:${p2}`]: 503,
    });
    // The canonical spelling is an IP mismatch: 400.
    expect(
      await statusOf(c.connect({ via, authority: `127.0.0.2:${p2}`, expectedIdentities: [p.serverId] })),
    ).toBe(400);
    expect(target.sockets).toHaveLength(0);
    expect(server.stats().refused).toEqual({ 400: 1, 503: 4 });
  });

  it('a server on 127.0.0.2 refuses 127.0.0.1 (400) and localhost (503), never reaching 127.0.0.1', async () => {
    const target = await canary('127.0.0.1');
    const { via } = await serverOn('127.0.0.2');
    const c = await client();
    const p = await pki();
    expect(
      await statusOf(
        c.connect({ via, authority: `127.0.0.1:${target.port}`, expectedIdentities: [p.serverId] }),
      ),
    ).toBe(400);
    expect(
      await statusOf(
        c.connect({ via, authority: `localhost:${target.port}`, expectedIdentities: [p.serverId] }),
      ),
    ).toBe(503);
    expect(target.sockets).toHaveLength(0);
  });

  it('tcpUpstream() never hands a name to getaddrinfo, whatever it is given', async () => {
    const connect = tcpUpstream();
    const context = {
      peerIdentity: 'spiffe://cluster.local/ns/default/sa/client',
      authority: { kind: 'hostname', hostname: 'localhost', port: 1 },
      authorityText: 'localhost:1',
      request: { authority: { kind: 'hostname', hostname: 'localhost', port: 1 } },
      headers: {},
      localAddress: '127.0.0.1',
      localPort: 15008,
      remoteAddress: '127.0.0.1',
      remotePort: 40000,
      signal: new AbortController().signal,
      state: {},
    } as const;
    await expect(
      connect({ kind: 'hostname', hostname: 'localhost', port: 1 }, context),
    ).rejects.toMatchObject({
      code: 'HBONE_ERR_UNKNOWN_TARGET',
      status: 503,
    });
    // Not even an IP-looking name slips through as a "socket" target.
    await expect(connect({ kind: 'socket', ip: '127.0.0.02', port: 1 }, context)).rejects.toMatchObject({
      code: 'HBONE_ERR_UNKNOWN_TARGET',
    });
  });

  it('hostnames go through the resolver the caller supplies, and its answer is checked like an IP', async () => {
    const app = await tcpServer((socket) => socket.pipe(socket));
    cleanup.push(() => app.close());
    const { via } = await serverOn('127.0.0.1', {
      resolveHostname: (hostname: string, port: number) => {
        if (hostname === 'echo.default.svc.cluster.local' && port === 80) {
          return { kind: 'socket', ip: '127.0.0.1', port: app.port };
        }
        if (hostname === 'elsewhere.default.svc.cluster.local')
          return { kind: 'socket', ip: '127.0.0.2', port: 80 };
        return undefined;
      },
    });
    const c = await client();
    const p = await pki();
    const tunnel = await c.connect({
      via,
      authority: 'echo.default.svc.cluster.local:80',
      expectedIdentities: [p.serverId],
    });
    tunnel.end('through the registry');
    expect((await collect(tunnel)).toString()).toBe('through the registry');
    // A name that maps to another IP fails the destination check; an unknown one is 503.
    expect(
      await statusOf(
        c.connect({
          via,
          authority: 'elsewhere.default.svc.cluster.local:80',
          expectedIdentities: [p.serverId],
        }),
      ),
    ).toBe(400);
    expect(
      await statusOf(
        c.connect({
          via,
          authority: 'unknown.default.svc.cluster.local:80',
          expectedIdentities: [p.serverId],
        }),
      ),
    ).toBe(503);
  });
});
