import net from 'node:net';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import {
  createHboneClient,
  createHboneServer,
  HboneError,
  type HboneRequestContext,
  type HboneServer,
  type HboneSocketFactory,
  type HboneSocketRequest,
} from '../src/index.js';
import { collect, dialLoopback, echoServer, pki, type TcpServer, waitFor } from './fixtures.js';

// The client's `connectSocket` factory: every TCP connection the client opens comes from it (ztunnel in-pod
// mode dials from inside the source pod's netns with SO_MARK 0x539, istio/ztunnel@62d82653:src/inpod).
// Real loopback sockets; the factories below bind a distinctive source address so the server can tell.

const GATEWAY_ID = 'spiffe://cluster.local/ns/istio-system/sa/istio-eastwestgateway';
const SERVICE = 'reviews.bookinfo.svc.cluster.local';

let echo: TcpServer;
let server: HboneServer;
let via: string;
const seen: HboneRequestContext[] = [];
const cleanup: (() => Promise<void> | void)[] = [];

beforeAll(async () => {
  const p = await pki();
  echo = await echoServer();
  server = createHboneServer({
    svid: p.server,
    bundles: p.bundles,
    authorize: (ctx) => {
      seen.push(ctx);
      return true;
    },
  });
  via = `127.0.0.1:${(await server.listen({ port: 0, host: '127.0.0.1' })).port}`;
});
afterAll(async () => {
  await server.close({ deadlineMs: 100 });
  await echo.close();
});
afterEach(async () => {
  seen.length = 0;
  for (const f of cleanup.splice(0).reverse()) await f();
});

/** A factory that dials from 127.0.0.9 (whatever `sourceIp` says) and records every request. */
function recordingFactory(): { factory: HboneSocketFactory; requests: HboneSocketRequest[] } {
  const requests: HboneSocketRequest[] = [];
  return {
    requests,
    factory: (request) => {
      requests.push(request);
      return net.connect({ host: request.host, port: request.port, localAddress: '127.0.0.9' });
    },
  };
}

async function clientWith(
  connectSocket: HboneSocketFactory,
  extra: { connectTimeoutMs?: number } = {},
): Promise<ReturnType<typeof createHboneClient>> {
  const p = await pki();
  const client = createHboneClient({ svid: p.client, bundles: p.bundles, connectSocket, ...extra });
  cleanup.push(() => client.close({ deadlineMs: 100 }));
  return client;
}

async function open(
  client: ReturnType<typeof createHboneClient>,
  options: { sourceIp?: string; signal?: AbortSignal; via?: string } = {},
) {
  const p = await pki();
  return client.connect({
    via: options.via ?? via,
    authority: `127.0.0.1:${echo.port}`,
    expectedIdentities: [p.serverId],
    ...(options.sourceIp === undefined ? {} : { sourceIp: options.sourceIp }),
    ...(options.signal === undefined ? {} : { signal: options.signal }),
  });
}

describe('connectSocket: the client dials through the factory', () => {
  it('makes every pooled connection, once per connection, with the hop, sourceIp and a live signal', async () => {
    const { factory, requests } = recordingFactory();
    const client = await clientWith(factory);
    // 20 concurrent first connects share one dial, as ztunnel's pool.
    const tunnels = await Promise.all(Array.from({ length: 20 }, () => open(client)));
    // Another pool key (sourceIp) is another connection, so another socket from the factory.
    tunnels.push(await open(client, { sourceIp: '127.0.0.1' }));
    expect(requests.map((r) => [r.host, r.port, r.sourceIp, r.signal.aborted])).toEqual([
      ['127.0.0.1', Number(via.split(':')[1]), undefined, false],
      ['127.0.0.1', Number(via.split(':')[1]), '127.0.0.1', false],
    ]);
    expect(client.pool.stats()).toMatchObject({ connections: 2, handshakes: 2 });
    // The server saw the factory's sockets: both connections come from its 127.0.0.9.
    expect(new Set(seen.map((ctx) => ctx.remoteAddress))).toEqual(new Set(['127.0.0.9']));
    for (const [i, t] of tunnels.entries()) t.end(`tunnel ${i}`);
    const replies = await Promise.all(tunnels.map(async (t) => (await collect(t)).toString()));
    expect(replies).toEqual(tunnels.map((_, i) => `tunnel ${i}`));
  });

  it('may return a promise of a socket that is already connected', async () => {
    const requests: HboneSocketRequest[] = [];
    const client = await clientWith(async (request) => {
      requests.push(request);
      const socket = net.connect({ host: request.host, port: request.port, localAddress: '127.0.0.9' });
      await new Promise((resolve) => socket.once('connect', resolve));
      return socket;
    });
    const t = await open(client);
    t.end('async factory');
    expect((await collect(t)).toString()).toBe('async factory');
    expect(requests).toHaveLength(1);
  });

  it('makes the outer connection of double HBONE; the inner one runs inside the outer tunnel', async () => {
    const p = await pki();
    const dial = (port: number) => (): Promise<net.Socket> => dialLoopback(port);
    // The destination resolves the hostname to its app (istio/ztunnel@62d82653:src/proxy/inbound.rs L637-664).
    const destination = createHboneServer({
      svid: p.server,
      bundles: p.bundles,
      connectUpstream: dial(echo.port),
    });
    cleanup.push(() => destination.close({ deadlineMs: 100 }));
    const destinationPort = (await destination.listen({ port: 0, host: '127.0.0.1' })).port;
    // The east-west gateway forwards the inner bytes opaquely to the destination's HBONE port (docs/hbone.md "Double HBONE").
    const gateway = createHboneServer({
      svid: await p.ca.issue(GATEWAY_ID),
      bundles: p.bundles,
      connectUpstream: dial(destinationPort),
    });
    cleanup.push(() => gateway.close({ deadlineMs: 100 }));
    const gatewayPort = (await gateway.listen({ port: 0, host: '127.0.0.1' })).port;

    const { factory, requests } = recordingFactory();
    const client = await clientWith(factory);
    const tunnels = [];
    for (let i = 0; i < 2; i++) {
      tunnels.push(
        await client.connect({
          via: `127.0.0.1:${gatewayPort}`,
          authority: `${SERVICE}:9080`,
          expectedIdentities: [p.serverId],
          doubleHbone: { gatewayIdentities: [GATEWAY_ID], network: 'network-a' },
        }),
      );
    }
    for (const [i, t] of tunnels.entries()) t.end(`double ${i}`);
    expect(await Promise.all(tunnels.map(async (t) => (await collect(t)).toString()))).toEqual([
      'double 0',
      'double 1',
    ]);
    // One pooled outer connection to the gateway, from the factory (the gateway saw its 127.0.0.9); the two
    // inner handshakes (one per tunnel, never pooled) reached the destination without a socket of their own.
    expect(requests.map((r) => [r.host, r.port])).toEqual([['127.0.0.1', gatewayPort]]);
    expect(gateway.stats().handshakes).toBe(1);
    expect(destination.stats().handshakes).toBe(2);
  });
});

describe('connectSocket failures, abort and timeout', () => {
  it('maps factory failures to HBONE_ERR_CONNECTION_FAILED, keeping the cause', async () => {
    const boom = new Error('no route to the pod');
    const closed = await new Promise<number>((resolve) => {
      const s = net.createServer();
      s.listen(0, '127.0.0.1', () => {
        const { port } = s.address() as net.AddressInfo;
        s.close(() => resolve(port));
      });
    });
    const cases: [string, HboneSocketFactory, (cause: unknown) => void][] = [
      [
        'throws',
        () => {
          throw boom;
        },
        (cause) => expect(cause).toBe(boom),
      ],
      ['rejects', () => Promise.reject(boom), (cause) => expect(cause).toBe(boom)],
      [
        'returns a socket that fails to connect',
        ({ host }) => net.connect({ host, port: closed }),
        (cause) => expect(cause).toMatchObject({ code: 'ECONNREFUSED' }),
      ],
      [
        'returns something that is not a socket',
        () => ({}) as net.Socket,
        (cause) => expect(cause).toBeInstanceOf(TypeError),
      ],
    ];
    for (const [what, factory, checkCause] of cases) {
      const client = await clientWith(factory);
      const error = await open(client).then(
        () => undefined,
        (e: unknown) => e,
      );
      expect(error, what).toBeInstanceOf(HboneError);
      expect((error as HboneError).code, what).toBe('HBONE_ERR_CONNECTION_FAILED');
      checkCause((error as HboneError).cause);
    }
    // An HboneError from the factory is the caller's answer as it is.
    const own = new HboneError('HBONE_ERR_CONNECT_TIMEOUT', 'the pod is gone');
    const client = await clientWith(() => Promise.reject(own));
    await expect(open(client)).rejects.toBe(own);
  });

  it('gives up after connectTimeoutMs, aborts the factory signal, and destroys a socket that comes late', async () => {
    let request: HboneSocketRequest | undefined;
    let deliver: (socket: net.Socket) => void = () => {};
    const client = await clientWith(
      (r) => {
        request = r;
        return new Promise<net.Socket>((resolve) => {
          deliver = resolve;
        });
      },
      { connectTimeoutMs: 100 },
    );
    const error = (await open(client).then(
      () => undefined,
      (e: unknown) => e,
    )) as HboneError;
    expect(error.code).toBe('HBONE_ERR_CONNECT_TIMEOUT');
    expect(error.message).toContain('maybe a NetworkPolicy is blocking HBONE port 15008');
    expect(request?.signal.aborted).toBe(true);
    expect(request?.signal.reason).toBe(error);
    const late = net.connect({ host: '127.0.0.1', port: echo.port });
    late.on('error', () => {});
    deliver(late);
    await waitFor(() => late.destroyed, 'the late socket to be destroyed');
    expect(client.pool.stats()).toMatchObject({ connections: 0, dialing: 0 });
  });

  it('a socket that connects but never finishes TLS is a timeout too', async () => {
    // A TCP listener that accepts and says nothing: the factory's socket connects, TLS never completes.
    const mute = net.createServer((socket) => socket.on('error', () => {}).resume());
    await new Promise<void>((resolve) => mute.listen(0, '127.0.0.1', resolve));
    cleanup.push(
      () =>
        new Promise<void>((resolve) => {
          mute.close(() => resolve());
        }),
    );
    const { factory, requests } = recordingFactory();
    const client = await clientWith(factory, { connectTimeoutMs: 100 });
    const port = (mute.address() as net.AddressInfo).port;
    await expect(open(client, { via: `127.0.0.1:${port}` })).rejects.toMatchObject({
      code: 'HBONE_ERR_CONNECT_TIMEOUT',
      message: expect.stringContaining('TLS/HTTP2 setup'),
    });
    expect(requests).toHaveLength(1);
  });

  it("honours the connect's signal while the factory works, and client.close() aborts the factory", async () => {
    let request: HboneSocketRequest | undefined;
    const client = await clientWith((r) => {
      request = r;
      return new Promise<net.Socket>(() => {});
    });
    const abort = new AbortController();
    const pending = open(client, { signal: abort.signal });
    await waitFor(() => request !== undefined, 'the factory call');
    abort.abort();
    await expect(pending).rejects.toMatchObject({ code: 'HBONE_ERR_ABORTED' });
    // The dial itself belongs to the pool (others may wait on it) until the client closes.
    expect(request?.signal.aborted).toBe(false);
    await client.close({ deadlineMs: 100 });
    expect(request?.signal.aborted).toBe(true);
    expect(request?.signal.reason).toMatchObject({ code: 'HBONE_ERR_CLOSED' });
  });

  it('refuses a factory that is not a function', async () => {
    const p = await pki();
    expect(() =>
      createHboneClient({
        svid: p.client,
        bundles: p.bundles,
        connectSocket: 'tcp' as unknown as HboneSocketFactory,
      }),
    ).toThrow(TypeError);
  });
});
