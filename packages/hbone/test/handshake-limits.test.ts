import diagnosticsChannel from 'node:diagnostics_channel';
import net from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { HBONE_CHANNELS, HBONE_DEFAULTS, type HboneConnectionRejectedEvent } from '../src/index.js';
import { collect, type Harness, harness, useEchoServer, waitFor } from './fixtures.js';
import { frameClient } from './raw-h2.js';

// Issue 18 item 4: unauthenticated clients must not hold sockets for long (slowloris): a TLS handshake and
// HTTP/2 preface that do not finish within handshakeTimeoutMs (default at most 10 s, Node's own TLS default
// is 120 s) close the connection, and a limit caps concurrent connections. Both are counted in stats() and
// published on the `ambient-kit:hbone:connection:rejected` channel.

const echo = useEchoServer();
let h: Harness | undefined;
const sockets: net.Socket[] = [];
const rejected: HboneConnectionRejectedEvent[] = [];
const onRejected = (message: unknown): void => {
  rejected.push(message as HboneConnectionRejectedEvent);
};
diagnosticsChannel.subscribe(HBONE_CHANNELS.connectionRejected, onRejected);

afterEach(async () => {
  for (const socket of sockets.splice(0)) socket.destroy();
  rejected.length = 0;
  await h?.close();
  h = undefined;
});

/** A TCP connection that sends the first 5 bytes of a TLS ClientHello record and stops. */
async function slowClient(via: string): Promise<net.Socket> {
  const [host, port] = via.split(':') as [string, string];
  const socket = net.connect({ host, port: Number(port) });
  sockets.push(socket);
  socket.on('error', () => {});
  await new Promise((resolve) => socket.once('connect', resolve));
  socket.write(Buffer.from([0x16, 0x03, 0x01, 0x00, 0xc8]));
  return socket;
}

function closed(socket: net.Socket): Promise<void> {
  return new Promise((resolve) => {
    if (socket.destroyed || socket.readableEnded) resolve();
    else socket.once('close', () => resolve());
  });
}

describe('handshake timeout (slowloris)', () => {
  it('defaults to at most 10 s', () => {
    expect(HBONE_DEFAULTS.handshakeTimeoutMs).toBeLessThanOrEqual(10_000);
  });

  it('closes connections stuck in the TLS handshake, counts them and says why', async () => {
    h = await harness({ handshakeTimeoutMs: 300 });
    const target = h;
    const stuck = await Promise.all(Array.from({ length: 50 }, () => slowClient(target.via)));
    await waitFor(() => target.server.stats().pendingHandshakes === 50, 'the 50 connections to be accepted');
    const started = Date.now();
    await Promise.all(stuck.map(closed));
    expect(Date.now() - started).toBeLessThan(5000);
    await waitFor(() => target.server.stats().handshakeTimeouts === 50, 'the timeouts to be counted');
    await waitFor(() => target.server.stats().pendingHandshakes === 0, 'the sockets to be released');
    expect(target.server.stats().connections).toBe(0);
    expect(rejected.filter((e) => e.reason === 'handshake-timeout')).toHaveLength(50);
    // Real clients are unaffected.
    const tunnel = await target.client.connect({
      via: target.via,
      authority: `127.0.0.1:${echo.port}`,
      expectedIdentities: [target.pki.serverId],
    });
    tunnel.end('fine');
    expect((await collect(tunnel)).toString()).toBe('fine');
  });

  it('closes a client that finishes TLS but never sends the HTTP/2 preface', async () => {
    h = await harness({ handshakeTimeoutMs: 300 });
    const target = h;
    const peer = await frameClient(target.via, null);
    // frameClient sent the 24-byte preface but no SETTINGS: the preface is not complete.
    await waitFor(() => peer.socket.destroyed || peer.socket.readableEnded, 'the server to close it', 5000);
    expect(target.server.stats().handshakeTimeouts).toBe(1);
    peer.socket.destroy();
  });
});

describe('concurrent-connection limit', () => {
  it('closes connections past maxConnections at once, counts them and says why', async () => {
    h = await harness({ maxConnections: 5, handshakeTimeoutMs: 10_000 });
    const target = h;
    const held = await Promise.all(Array.from({ length: 5 }, () => slowClient(target.via)));
    await waitFor(() => target.server.stats().pendingHandshakes === 5, 'five connections held');
    const extra = await Promise.all(Array.from({ length: 3 }, () => slowClient(target.via)));
    await Promise.all(extra.map(closed));
    expect(target.server.stats()).toMatchObject({ rejectedConnections: 3, pendingHandshakes: 5 });
    expect(rejected.filter((e) => e.reason === 'limit')).toHaveLength(3);
    expect(held.every((socket) => !socket.destroyed)).toBe(true);
    // A slot frees up: the next client is served.
    for (const socket of held) socket.destroy();
    await waitFor(() => target.server.stats().pendingHandshakes === 0, 'the held slots to free');
    const tunnel = await target.client.connect({
      via: target.via,
      authority: `127.0.0.1:${echo.port}`,
      expectedIdentities: [target.pki.serverId],
    });
    tunnel.end('served');
    expect((await collect(tunnel)).toString()).toBe('served');
  });

  it('applies to sockets handed in with handleConnection too', async () => {
    h = await harness({ maxConnections: 1, handshakeTimeoutMs: 10_000 });
    const target = h;
    await slowClient(target.via);
    await waitFor(() => target.server.stats().pendingHandshakes === 1, 'one connection held');
    const [a, b] = await socketPair();
    target.server.handleConnection(a);
    await closed(a);
    b.destroy();
    expect(target.server.stats().rejectedConnections).toBe(1);
  });
});

async function socketPair(): Promise<[net.Socket, net.Socket]> {
  const listener = net.createServer();
  await new Promise<void>((resolve) => listener.listen(0, '127.0.0.1', resolve));
  const accepted = new Promise<net.Socket>((resolve) => listener.once('connection', resolve));
  const client = net.connect({ host: '127.0.0.1', port: (listener.address() as net.AddressInfo).port });
  client.on('error', () => {});
  const server = await accepted;
  listener.close();
  sockets.push(client, server);
  return [server, client];
}
