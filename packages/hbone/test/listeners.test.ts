import { mkdtempSync, rmSync } from 'node:fs';
import net from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import tls from 'node:tls';
import { afterEach, describe, expect, it } from 'vitest';
import {
  createHboneClient,
  createHboneServer,
  type HboneClient,
  type HboneRequestContext,
  type HboneServer,
  type HboneStream,
} from '../src/index.js';
import { collect, dialLoopback, pki, useEchoServer, waitFor } from './fixtures.js';

// Serving sockets made elsewhere: `listen({ server })` for listeners someone else opened (ztunnel opens
// 15008 inside each pod's network namespace, istio/ztunnel@62d82653:src/inpod) and `handleConnection` for
// raw TCP connections accepted elsewhere. Real listeners on loopback, real TLS and HTTP/2.

const echo = useEchoServer();
const cleanup: (() => Promise<void> | void)[] = [];

afterEach(async () => {
  for (const f of cleanup.splice(0).reverse()) await f();
});

/** A plain TCP listener, as `listenInNetns` returns one; `serve` handles its connections if given. */
async function tcpListener(host: string, serve?: (socket: net.Socket) => void): Promise<net.Server> {
  const listener = net.createServer(serve);
  await new Promise<void>((resolve) => listener.listen(0, host, resolve));
  cleanup.push(() => {
    if (listener.listening) listener.close();
  });
  return listener;
}

function portOf(listener: net.Server): number {
  return (listener.address() as net.AddressInfo).port;
}

/** An HBONE server whose upstream is always the echo app (as a pod's app behind its 15008). */
async function hboneServer(seen: HboneRequestContext[] = []): Promise<HboneServer> {
  const p = await pki();
  const server = createHboneServer({
    svid: p.server,
    bundles: p.bundles,
    authorize: (ctx) => {
      seen.push(ctx);
      return true;
    },
    connectUpstream: () => dialLoopback(echo.port),
  });
  cleanup.push(() => server.close({ deadlineMs: 100 }));
  return server;
}

async function client(): Promise<HboneClient> {
  const p = await pki();
  const c = createHboneClient({ svid: p.client, bundles: p.bundles });
  cleanup.push(() => c.close({ deadlineMs: 100 }));
  return c;
}

async function tunnel(c: HboneClient, host: string, port: number): Promise<HboneStream> {
  const p = await pki();
  const t = await c.connect({
    via: `${host}:${port}`,
    authority: `${host}:8080`,
    expectedIdentities: [p.serverId],
  });
  // A test that fails half-way leaves tunnels to the cleanup's hard close: not an uncaught error.
  t.on('error', () => {});
  return t;
}

async function roundTrip(t: HboneStream, text: string): Promise<string> {
  t.end(text);
  return (await collect(t)).toString();
}

describe('listen({ server }): listeners made elsewhere', () => {
  it('serves several listeners from one server, each connection with its own local address', async () => {
    const seen: HboneRequestContext[] = [];
    const server = await hboneServer(seen);
    // Two "pods": two listeners on two addresses, as two pods' 15008 in their own namespaces.
    const podA = await tcpListener('127.0.0.1');
    const podB = await tcpListener('127.0.0.2');
    expect(await server.listen({ server: podA })).toEqual(podA.address());
    expect(await server.listen({ server: podB })).toEqual(podB.address());
    expect(server.address()).toEqual(podA.address());

    const c = await client();
    expect(await roundTrip(await tunnel(c, '127.0.0.1', portOf(podA)), 'to pod A')).toBe('to pod A');
    expect(await roundTrip(await tunnel(c, '127.0.0.2', portOf(podB)), 'to pod B')).toBe('to pod B');
    // The destination-IP check (ztunnel validate_destination) ran against each listener's own address.
    expect(seen.map((ctx) => [ctx.localAddress, ctx.localPort, ctx.authorityText])).toEqual([
      ['127.0.0.1', portOf(podA), '127.0.0.1:8080'],
      ['127.0.0.2', portOf(podB), '127.0.0.2:8080'],
    ]);
    expect(server.stats()).toMatchObject({ connections: 2, handshakes: 2 });
    // An :authority naming another IP than the one connected to is still a 400 on an adopted listener.
    const p = await pki();
    await expect(
      c.connect({
        via: `127.0.0.2:${portOf(podB)}`,
        authority: '127.0.0.1:8080',
        expectedIdentities: [p.serverId],
      }),
    ).rejects.toMatchObject({ code: 'HBONE_ERR_BAD_REQUEST', status: 400 });
  });

  it('adopts a listener before it listens, and the server can also bind its own socket', async () => {
    const server = await hboneServer();
    const later = net.createServer();
    cleanup.push(() => {
      if (later.listening) later.close();
    });
    const adopted = server.listen({ server: later });
    later.listen(0, '127.0.0.1');
    const address = await adopted;
    expect(address.port).toBe(portOf(later));
    const own = await server.listen({ port: 0, host: '127.0.0.1' });
    const c = await client();
    expect(await roundTrip(await tunnel(c, '127.0.0.1', address.port), 'adopted')).toBe('adopted');
    expect(await roundTrip(await tunnel(c, '127.0.0.1', own.port), 'own')).toBe('own');
  });

  it('a listener closed by its owner stops being served; its tunnels carry on', async () => {
    const server = await hboneServer();
    const pod = await tcpListener('127.0.0.1');
    const port = portOf(pod);
    await server.listen({ server: pod });
    const c = await client();
    const open = await tunnel(c, '127.0.0.1', port);
    pod.close();
    expect(await roundTrip(open, 'still flowing')).toBe('still flowing');
    const p = await pki();
    await expect(
      createHboneClient({ svid: p.client, bundles: p.bundles }).connect({
        via: `127.0.0.1:${port}`,
        authority: '127.0.0.1:8080',
        expectedIdentities: [p.serverId],
      }),
    ).rejects.toMatchObject({ code: 'HBONE_ERR_CONNECTION_FAILED' });
  });

  it('refuses what it cannot serve', async () => {
    const server = await hboneServer();
    const pod = await tcpListener('127.0.0.1');
    expect(() => server.listen({ server: pod, port: 15008 })).toThrow(TypeError);
    expect(() => server.listen({ server: tls.createServer() as net.Server })).toThrow(TypeError);
    expect(() => server.listen({ server: {} as net.Server })).toThrow(TypeError);
    // A listener on a path has no IP for the destination check.
    const dir = mkdtempSync(join(tmpdir(), 'hbone-listen-'));
    cleanup.push(() => rmSync(dir, { recursive: true, force: true }));
    const onPath = net.createServer();
    await new Promise<void>((resolve) => onPath.listen(join(dir, 'hbone.sock'), resolve));
    cleanup.push(() => {
      onPath.close();
    });
    await expect(server.listen({ server: onPath })).rejects.toThrow(TypeError);
    await server.close();
    expect(() => server.listen({ server: pod })).toThrow(
      expect.objectContaining({ code: 'HBONE_ERR_CLOSED' }),
    );
  });
});

describe('handleConnection: raw connections accepted elsewhere', () => {
  it('runs TLS, HTTP/2 and CONNECT on a socket accepted by someone else', async () => {
    const seen: HboneRequestContext[] = [];
    const server = await hboneServer(seen);
    const accepted: net.Socket[] = [];
    const front = await tcpListener('127.0.0.1', (socket) => {
      accepted.push(socket);
      server.handleConnection(socket);
    });
    const c = await client();
    expect(await roundTrip(await tunnel(c, '127.0.0.1', portOf(front)), 'handed in')).toBe('handed in');
    expect(accepted).toHaveLength(1);
    const p = await pki();
    expect(seen[0]).toMatchObject({ peerIdentity: p.clientId, localPort: portOf(front) });
    expect(server.stats()).toMatchObject({ connections: 1, handshakes: 1 });
  });

  it('refuses anything but a plain TCP socket', async () => {
    const server = await hboneServer();
    expect(() => server.handleConnection({} as net.Socket)).toThrow(TypeError);
    expect(() => server.handleConnection(new tls.TLSSocket(new net.Socket()))).toThrow(TypeError);
  });
});

describe('close() with listeners and connections from elsewhere', () => {
  it('drains every listener and every connection gracefully, then force-closes nothing', async () => {
    const server = await hboneServer();
    const podA = await tcpListener('127.0.0.1');
    const podB = await tcpListener('127.0.0.2');
    await server.listen({ server: podA });
    await server.listen({ server: podB });
    const front = await tcpListener('127.0.0.1', (socket) => server.handleConnection(socket));
    const podAPort = portOf(podA);
    const c = await client();
    const tunnels = [
      await tunnel(c, '127.0.0.1', podAPort),
      await tunnel(c, '127.0.0.2', portOf(podB)),
      await tunnel(c, '127.0.0.1', portOf(front)),
    ];
    expect(server.stats()).toMatchObject({ connections: 3, streams: 3 });

    let closed = false;
    const closing = server.close({ deadlineMs: 10_000 }).then(() => {
      closed = true;
    });
    // GOAWAY on all three connections, whichever way they came in.
    await waitFor(() => c.pool.stats().drainingConnections === 3, 'GOAWAY on every connection');
    // The adopted listeners are closed (the server owns them); the front's new connections are refused.
    expect(podA.listening).toBe(false);
    expect(podB.listening).toBe(false);
    const p = await pki();
    const fresh = createHboneClient({ svid: p.client, bundles: p.bundles });
    cleanup.push(() => fresh.close({ deadlineMs: 100 }));
    await expect(tunnel(fresh, '127.0.0.1', podAPort)).rejects.toMatchObject({
      code: 'HBONE_ERR_CONNECTION_FAILED',
    });
    await expect(tunnel(fresh, '127.0.0.1', portOf(front))).rejects.toMatchObject({
      code: 'HBONE_ERR_TLS_HANDSHAKE',
    });
    expect(closed).toBe(false);
    // Open tunnels finish normally, then close() resolves.
    const replies = await Promise.all(tunnels.map((t, i) => roundTrip(t, `finishing ${i}`)));
    expect(replies).toEqual(['finishing 0', 'finishing 1', 'finishing 2']);
    await closing;
    expect(server.stats()).toMatchObject({ connections: 0, streams: 0 });
  });

  it('force-closes TLS handshakes still in progress at the deadline', async () => {
    const server = await hboneServer();
    const pod = await tcpListener('127.0.0.1');
    await server.listen({ server: pod });
    let accepted = false;
    pod.once('connection', () => {
      accepted = true;
    });
    // A client that connects and never sends its ClientHello.
    const silent = net.connect({ host: '127.0.0.1', port: portOf(pod) });
    silent.on('error', () => {});
    await waitFor(() => accepted, 'the server to accept the connection');
    let ended = false;
    silent.once('close', () => {
      ended = true;
    });
    await server.close({ deadlineMs: 200 });
    await waitFor(() => ended, 'the silent client to be disconnected');
    expect(pod.listening).toBe(false);
  });

  it('destroys sockets handed in once it is closing', async () => {
    const server = await hboneServer();
    await server.close();
    const front = await tcpListener('127.0.0.1', (socket) => server.handleConnection(socket));
    const socket = net.connect({ host: '127.0.0.1', port: portOf(front) });
    socket.on('error', () => {});
    await new Promise((resolve) => socket.once('close', resolve));
    expect(socket.bytesRead).toBe(0);
  });
});
