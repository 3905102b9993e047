import diagnosticsChannel from 'node:diagnostics_channel';
import http2 from 'node:http2';
import net from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import {
  createHboneClient,
  HBONE_CHANNELS,
  type HboneConnectionEvent,
  type HboneStream,
} from '../src/index.js';
import { collect, type Harness, harness, pki, rawH2Server, useEchoServer, waitFor } from './fixtures.js';

// The pool tests ztunnel has (istio/ztunnel@62d82653:src/proxy/pool.rs tests: connections_reused,
// unique_keys_have_unique_connections, connection_limits, server_goaway, idle_eviction), over real sockets.

const echo = useEchoServer();
let h: Harness | undefined;
const open: HboneStream[] = [];

afterEach(async () => {
  for (const s of open.splice(0)) s.destroy();
  await h?.close();
  h = undefined;
});

function connect(
  target: Harness,
  extra: { sourceIp?: string; expectedIdentities?: string[] } = {},
): Promise<HboneStream> {
  return target.client
    .connect({
      via: target.via,
      authority: `127.0.0.1:${echo.port}`,
      expectedIdentities: extra.expectedIdentities ?? [target.pki.serverId],
      ...(extra.sourceIp === undefined ? {} : { sourceIp: extra.sourceIp }),
    })
    .then((s) => {
      open.push(s);
      return s;
    });
}

async function roundTrip(stream: HboneStream, text: string): Promise<void> {
  stream.end(text);
  expect((await collect(stream)).toString()).toBe(text);
}

describe('the connection pool (istio/ztunnel@62d82653:src/proxy/pool.rs)', () => {
  it('reuses one connection for sequential tunnels to the same key (P1)', async () => {
    h = await harness();
    for (let i = 0; i < 5; i++) await roundTrip(await connect(h), `n${i}`);
    expect(h.client.pool.stats()).toMatchObject({ connections: 1, handshakes: 1 });
    expect(h.server.stats().handshakes).toBe(1);
  });

  it('opens a new connection when any key field differs: expected identities, source IP (P1)', async () => {
    h = await harness();
    await roundTrip(await connect(h), 'a');
    await roundTrip(
      await connect(h, { expectedIdentities: [h.pki.serverId, 'spiffe://cluster.local/ns/x/sa/y'] }),
      'b',
    );
    await roundTrip(await connect(h, { sourceIp: '127.0.0.2' }), 'c');
    // The same set of identities in another order is the same key.
    await roundTrip(
      await connect(h, { expectedIdentities: ['spiffe://cluster.local/ns/x/sa/y', h.pki.serverId] }),
      'd',
    );
    expect(h.client.pool.stats()).toMatchObject({ connections: 3, keys: 3, handshakes: 3 });
    const sources = h.client.pool.connections().map((c) => c.key.sourceIp);
    expect(sources.filter((ip) => ip !== undefined)).toEqual(['127.0.0.2']);
    expect(sources).toHaveLength(3);
  });

  it('binds the connection to sourceIp, which the server sees as the peer address', async () => {
    const seen: string[] = [];
    h = await harness({
      authorize: (ctx) => {
        seen.push(ctx.remoteAddress);
        return true;
      },
    });
    await roundTrip(await connect(h, { sourceIp: '127.0.0.3' }), 'x');
    expect(seen).toEqual(['127.0.0.3']);
  });

  it('the 101st concurrent stream opens a second connection (P2)', async () => {
    h = await harness();
    const first = await Promise.all(Array.from({ length: 100 }, () => connect(h as Harness)));
    expect(h.client.pool.stats()).toMatchObject({ connections: 1, streams: 100, handshakes: 1 });
    const extra = await connect(h);
    expect(h.client.pool.stats()).toMatchObject({ connections: 2, streams: 101, handshakes: 2 });
    const perConnection = h.client.pool.connections().map((c) => [c.streams, c.maxStreams]);
    expect(perConnection.sort()).toEqual([
      [1, 100],
      [100, 100],
    ]);
    await Promise.all([...first, extra].map((s, i) => roundTrip(s, `s${i}`)));
    await waitFor(() => h?.client.pool.stats().streams === 0, 'every stream released');
  });

  it("caps streams at the server's SETTINGS_MAX_CONCURRENT_STREAMS when it is below 100", async () => {
    h = await harness({ maxConcurrentStreams: 3 });
    await Promise.all(Array.from({ length: 7 }, () => connect(h as Harness)));
    expect(h.client.pool.stats()).toMatchObject({ connections: 3, streams: 7 });
    expect(h.client.pool.connections().every((c) => c.maxStreams === 3)).toBe(true);
  });

  it('50 concurrent first connects make one TLS handshake (P5)', async () => {
    h = await harness();
    const handshakes: HboneConnectionEvent[] = [];
    const onOpen = (message: unknown): void => {
      const event = message as HboneConnectionEvent;
      if (event.direction === 'outbound') handshakes.push(event);
    };
    diagnosticsChannel.subscribe(HBONE_CHANNELS.connectionOpened, onOpen);
    try {
      const streams = await Promise.all(Array.from({ length: 50 }, () => connect(h as Harness)));
      expect(h.client.pool.stats()).toMatchObject({ connections: 1, streams: 50, handshakes: 1 });
      expect(h.server.stats().handshakes).toBe(1);
      expect(handshakes).toHaveLength(1);
      await Promise.all(streams.map((s, i) => roundTrip(s, `c${i}`)));
    } finally {
      diagnosticsChannel.unsubscribe(HBONE_CHANNELS.connectionOpened, onOpen);
    }
  });

  it('a failed dial fails every waiter, and the next connect dials again', async () => {
    h = await harness();
    const wrong = Array.from({ length: 5 }, () =>
      connect(h as Harness, {
        expectedIdentities: ['spiffe://cluster.local/ns/default/sa/someone-else'],
      }).then(
        () => 'connected',
        (e: { code?: string }) => e.code,
      ),
    );
    expect(await Promise.all(wrong)).toEqual(Array(5).fill('HBONE_ERR_PEER_IDENTITY'));
    expect(h.client.pool.stats()).toMatchObject({ connections: 0, dialing: 0, keys: 0 });
    await roundTrip(await connect(h), 'ok');
  });

  it("never reuses a GOAWAY'd connection; its open streams finish (P3)", async () => {
    h = await harness();
    const before = await connect(h);
    expect(h.client.pool.stats().connections).toBe(1);
    // A graceful server close sends GOAWAY; the open tunnel keeps working until the deadline.
    const closing = h.server.close({ deadlineMs: 2000 });
    await waitFor(() => h?.client.pool.stats().drainingConnections === 1, 'the client to see GOAWAY');
    expect(h.client.pool.stats()).toMatchObject({ connections: 0, drainingConnections: 1, streams: 1 });
    await roundTrip(before, 'still flowing');
    await closing;
    expect(h.client.pool.stats()).toMatchObject({ connections: 0, drainingConnections: 0, streams: 0 });
  });

  it('after a GOAWAY, the next tunnel dials a new connection to the same (still listening) server', async () => {
    const p = await pki();
    // A plain node:http2 server that answers one CONNECT per connection, then sends GOAWAY.
    const { server, via, close } = await rawH2Server();
    let sessions = 0;
    server.on('session', () => sessions++);
    server.on('stream', (stream) => {
      const upstream = net.connect({ port: echo.port, host: '127.0.0.1', allowHalfOpen: true });
      upstream.once('connect', () => {
        stream.respond({ ':status': 200 });
        stream.pipe(upstream).pipe(stream);
        stream.session?.goaway(http2.constants.NGHTTP2_NO_ERROR);
      });
    });
    const client = createHboneClient({ svid: p.client, bundles: p.bundles });
    try {
      const first = await client.connect({ via, authority: '127.0.0.1:1', expectedIdentities: [p.serverId] });
      await waitFor(() => client.pool.stats().drainingConnections === 1, 'the GOAWAY');
      expect(client.pool.stats()).toMatchObject({ connections: 0, streams: 1 });
      const second = await client.connect({
        via,
        authority: '127.0.0.1:1',
        expectedIdentities: [p.serverId],
      });
      // The server sends GOAWAY on the second connection too, right after its 200: it may be draining already.
      expect(client.pool.stats()).toMatchObject({ handshakes: 2 });
      expect(sessions).toBe(2);
      await roundTrip(first, 'first');
      await roundTrip(second, 'second');
    } finally {
      await client.close({ deadlineMs: 50 });
      await close();
    }
  });

  it('evicts connections idle for idleTimeoutMs on the injected clock (P4)', async () => {
    let now = 0;
    h = await harness({}, { clock: { now: () => now }, idleTimeoutMs: 5 * 60 * 1000 });
    const persistent = await connect(h);
    await roundTrip(await connect(h), 'short-lived');
    now += 4 * 60 * 1000;
    expect(h.client.pool.stats()).toMatchObject({ connections: 1, idleEvictions: 0 });
    // A connection carrying a stream is not idle, whatever the clock says.
    now += 10 * 60 * 1000;
    expect(h.client.pool.stats()).toMatchObject({ connections: 1, idleEvictions: 0 });
    await roundTrip(persistent, 'done');
    await waitFor(() => h?.client.pool.stats().streams === 0, 'the stream to close');
    now += 5 * 60 * 1000 - 1;
    expect(h.client.pool.evictIdle()).toBe(0);
    now += 1;
    expect(h.client.pool.evictIdle()).toBe(1);
    expect(h.client.pool.stats()).toMatchObject({ connections: 0, idleEvictions: 1 });
    await waitFor(() => h?.server.stats().connections === 0, 'the evicted connection to close at the server');
    await roundTrip(await connect(h), 'fresh');
    expect(h.client.pool.stats()).toMatchObject({ connections: 1, handshakes: 2 });
  });
});
