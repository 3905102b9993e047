import type http2 from 'node:http2';
import net from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import type { HboneRequestContext } from '../src/index.js';
import { HboneError, tcpUpstream } from '../src/index.js';
import {
  collect,
  type Harness,
  harness,
  pki,
  rawH2Client,
  rawH2Server,
  rawRequest,
  tcpServer,
  useEchoServer,
  waitFor,
} from './fixtures.js';

const echo = useEchoServer();
let h: Harness | undefined;

afterEach(async () => {
  await h?.close();
  h = undefined;
});

const authorityOf = (port: number): string => `127.0.0.1:${port}`;

describe('a tunnel', () => {
  it('carries bytes both ways through mTLS + HTTP/2 CONNECT and reports the peer', async () => {
    h = await harness();
    const tunnel = await h.client.connect({
      via: h.via,
      authority: authorityOf(echo.port),
      expectedIdentities: [h.pki.serverId],
    });
    expect(tunnel.peerIdentity).toBe(h.pki.serverId);
    expect(tunnel.authority).toBe(authorityOf(echo.port));
    tunnel.end('hello hbone');
    expect((await collect(tunnel)).toString()).toBe('hello hbone');
    expect([tunnel.bytesSent, tunnel.bytesReceived]).toEqual([11, 11]);
  });

  it("sends ztunnel's CONNECT: only :method and :authority, baggage, forwarded, traceparent (istio/ztunnel@62d82653:src/proxy/outbound.rs)", async () => {
    let seen: HboneRequestContext | undefined;
    h = await harness(
      {
        authorize: (ctx) => {
          seen = ctx;
          return true;
        },
      },
      {
        baggage: {
          clusterName: 'Kubernetes',
          namespace: 'default',
          workloadName: 'sleep',
          serviceName: 'sleep',
        },
      },
    );
    const tunnel = await h.client.connect({
      via: h.via,
      authority: { kind: 'socket', ip: '127.0.0.1', port: echo.port },
      expectedIdentities: [h.pki.serverId],
      forwarded: { for: '10.0.0.1:41234', host: 'echo.default.svc.cluster.local' },
      headers: { 'x-istio-source': 'sidecar' },
    });
    tunnel.end();
    await collect(tunnel);
    const headers = seen?.headers ?? {};
    expect(
      Object.keys(headers)
        .filter((k) => k.startsWith(':'))
        .sort(),
    ).toEqual([':authority', ':method']);
    expect(headers[':method']).toBe('CONNECT');
    expect(headers[':authority']).toBe(authorityOf(echo.port));
    expect(headers).toMatchObject({
      baggage:
        'k8s.cluster.name=Kubernetes,k8s.namespace.name=default,k8s.deployment.name=sleep,service.name=sleep',
      forwarded: 'for="10.0.0.1:41234";host=echo.default.svc.cluster.local',
      traceparent: expect.stringMatching(/^00-[0-9a-f]{32}-[0-9a-f]{16}-00$/),
      'x-istio-source': 'sidecar',
    });
    expect(headers['x-forwarded-network']).toBeUndefined();
    expect(seen?.peerIdentity).toBe(h.pki.clientId);
    expect(seen?.request.baggage?.workloadName).toBe('sleep');
    expect([seen?.localAddress, seen?.remoteAddress]).toEqual(['127.0.0.1', '127.0.0.1']);
  });

  it("returns the server's response baggage", async () => {
    h = await harness({ baggage: { namespace: 'echo-ns', workloadName: 'echo', workloadType: 'pod' } });
    const tunnel = await h.client.connect({
      via: h.via,
      authority: authorityOf(echo.port),
      expectedIdentities: [h.pki.serverId],
    });
    expect(tunnel.peerBaggage).toEqual({ namespace: 'echo-ns', workloadName: 'echo', workloadType: 'pod' });
    tunnel.destroy();
  });

  it('works for server-first protocols: the upstream speaks before the client writes', async () => {
    const banner = await tcpServer((socket) => socket.end('220 smtp.example ready\r\n'));
    try {
      h = await harness();
      const tunnel = await h.client.connect({
        via: h.via,
        authority: authorityOf(banner.port),
        expectedIdentities: [h.pki.serverId],
      });
      const first = await new Promise<Buffer>((resolve) => tunnel.once('data', resolve));
      expect(first.toString()).toBe('220 smtp.example ready\r\n');
      tunnel.end();
      await collect(tunnel);
    } finally {
      await banner.close();
    }
  });
});

describe('status mapping as ztunnel (istio/ztunnel@62d82653:src/proxy/inbound.rs)', () => {
  const refusal = async (promise: Promise<unknown>): Promise<HboneError> => {
    const error = await promise.then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(error).toBeInstanceOf(HboneError);
    return error as HboneError;
  };

  it('400 for a non-CONNECT method and an unparseable :authority, with END_STREAM on HEADERS', async () => {
    h = await harness();
    const session = await rawH2Client(h.via);
    try {
      const get = await rawRequest(session, {
        ':method': 'GET',
        ':path': '/',
        ':authority': authorityOf(echo.port),
      });
      expect(get.headers[':status']).toBe(400);
      expect(get.endStream).toBe(true);
      const bad = await rawRequest(session, { ':method': 'CONNECT', ':authority': 'no-port-here' });
      expect(bad.headers[':status']).toBe(400);
      expect(bad.endStream).toBe(true);
      expect(h.server.stats().refused[400]).toBe(2);
    } finally {
      session.destroy();
    }
  });

  it('400 when the :authority IP is not the IP the client connected to', async () => {
    h = await harness();
    const error = await refusal(
      h.client.connect({
        via: h.via,
        authority: `127.0.0.2:${echo.port}`,
        expectedIdentities: [h.pki.serverId],
      }),
    );
    expect([error.code, error.status]).toEqual(['HBONE_ERR_BAD_REQUEST', 400]);
  });

  it('401 when authorize() denies or throws', async () => {
    h = await harness({
      authorize: (ctx) => (ctx.authority.port === 1 ? Promise.reject(new Error('boom')) : false),
    });
    for (const port of [echo.port, 1]) {
      const error = await refusal(
        h.client.connect({ via: h.via, authority: authorityOf(port), expectedIdentities: [h.pki.serverId] }),
      );
      expect([error.code, error.status]).toEqual(['HBONE_ERR_POLICY_DENIED', 401]);
    }
  });

  it.each([15001, 15006, 15008, 15080])('503 for the illegal target port %i', async (port) => {
    h = await harness();
    const error = await refusal(
      h.client.connect({ via: h.via, authority: authorityOf(port), expectedIdentities: [h.pki.serverId] }),
    );
    expect([error.code, error.status]).toEqual(['HBONE_ERR_UNAVAILABLE', 503]);
  });

  it('503 when the upstream refuses, the hostname is unknown, or a connector fails', async () => {
    const closed = net.createServer();
    await new Promise<void>((resolve) => closed.listen(0, '127.0.0.1', resolve));
    const deadPort = (closed.address() as net.AddressInfo).port;
    await new Promise<void>((resolve) => closed.close(() => resolve()));
    h = await harness();
    for (const authority of [authorityOf(deadPort), 'no-such-service.invalid:80']) {
      const error = await refusal(
        h.client.connect({ via: h.via, authority, expectedIdentities: [h.pki.serverId] }),
      );
      expect([error.code, error.status]).toEqual(['HBONE_ERR_UNAVAILABLE', 503]);
    }
    expect(h.server.stats().refused[503]).toBe(2);
  });

  it('200 only after the upstream connected (istio/ztunnel@62d82653:src/proxy/inbound.rs)', async () => {
    let release: (() => void) | undefined;
    let dialed = false;
    h = await harness({
      connectUpstream: async (target, ctx) => {
        dialed = true;
        await new Promise<void>((resolve) => {
          release = resolve;
        });
        return tcpUpstream()(target, ctx);
      },
    });
    let answered = false;
    const pending = h.client
      .connect({ via: h.via, authority: authorityOf(echo.port), expectedIdentities: [h.pki.serverId] })
      .then((tunnel) => {
        answered = true;
        return tunnel;
      });
    await waitFor(() => dialed, 'the upstream dial');
    await new Promise((resolve) => setTimeout(resolve, 100));
    expect(answered).toBe(false);
    release?.();
    const tunnel = await pending;
    expect(answered).toBe(true);
    tunnel.end('x');
    expect((await collect(tunnel)).toString()).toBe('x');
  });

  it('aborting the connect cancels the server-side upstream dial', async () => {
    let upstreamSignal: AbortSignal | undefined;
    h = await harness({
      connectUpstream: (_target, ctx) => {
        upstreamSignal = ctx.signal;
        return new Promise(() => {});
      },
    });
    const controller = new AbortController();
    const pending = h.client.connect({
      via: h.via,
      authority: authorityOf(echo.port),
      expectedIdentities: [h.pki.serverId],
      signal: controller.signal,
    });
    await waitFor(() => upstreamSignal !== undefined, 'the upstream dial');
    controller.abort();
    const error = await refusal(pending);
    expect(error.code).toBe('HBONE_ERR_ABORTED');
    await waitFor(() => upstreamSignal?.aborted === true, 'the server to see the cancel');
    await waitFor(() => h?.client.pool.stats().streams === 0, 'the stream slot to be released');
  });

  it('refuses misuse synchronously-typed: bad via, bad authority, no expected identities', async () => {
    h = await harness();
    await expect(
      h.client.connect({
        via: 'nope',
        authority: authorityOf(echo.port),
        expectedIdentities: [h.pki.serverId],
      }),
    ).rejects.toThrow(TypeError);
    await expect(
      h.client.connect({ via: h.via, authority: '10.0.0.1', expectedIdentities: [h.pki.serverId] }),
    ).rejects.toThrow(TypeError);
    await expect(
      h.client.connect({ via: h.via, authority: authorityOf(echo.port), expectedIdentities: [] }),
    ).rejects.toThrow(TypeError);
  });
});

describe('HTTP/2 settings on the wire (istio/ztunnel@62d82653:src/proxy/h2/client.rs, server.rs)', () => {
  it('the server advertises 200 streams, 4 MiB stream window, 1 MiB frames, 64 KiB headers and a 16 MiB connection window', async () => {
    h = await harness();
    const session = await rawH2Client(h.via);
    try {
      expect(session.remoteSettings).toMatchObject({
        maxConcurrentStreams: 200,
        initialWindowSize: 4 * 1024 * 1024,
        maxFrameSize: 1024 * 1024,
        maxHeaderListSize: 64 * 1024,
      });
      await waitFor(
        () => session.state.remoteWindowSize === 16 * 1024 * 1024,
        'the 16 MiB connection window',
      );
    } finally {
      session.destroy();
    }
  });

  it('the client sends 4 MiB stream window, 1 MiB frames, no push, 16 KiB headers and a 16 MiB connection window', async () => {
    const p = await pki();
    const { server, via, close } = await rawH2Server();
    const seen: {
      settings?: http2.Settings | undefined;
      window?: number | undefined;
      headers?: http2.IncomingHttpHeaders;
    } = {};
    server.on('stream', (stream, headers) => {
      seen.headers = headers;
      seen.settings = stream.session?.remoteSettings;
      seen.window = stream.session?.state.remoteWindowSize;
      stream.respond({ ':status': 503 }, { endStream: true });
    });
    const { createHboneClient } = await import('../src/index.js');
    const client = createHboneClient({ svid: p.client, bundles: p.bundles });
    try {
      await expect(
        client.connect({
          via,
          authority: '10.0.0.2:8080',
          expectedIdentities: [p.serverId],
        }),
      ).rejects.toMatchObject({ status: 503, code: 'HBONE_ERR_UNAVAILABLE' });
      expect(seen.settings).toMatchObject({
        enablePush: false,
        initialWindowSize: 4 * 1024 * 1024,
        maxFrameSize: 1024 * 1024,
        maxHeaderListSize: 16 * 1024,
      });
      expect(seen.window).toBe(16 * 1024 * 1024);
      expect(seen.headers?.[':authority']).toBe('10.0.0.2:8080');
      expect(seen.headers?.[':scheme']).toBeUndefined();
      expect(seen.headers?.[':path']).toBeUndefined();
      expect(seen.headers).toMatchObject({ traceparent: expect.stringMatching(/^.{55}$/) });
    } finally {
      await client.close({ deadlineMs: 50 });
      await close();
    }
  });
});
