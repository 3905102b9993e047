/**
 * The waypoint's data path over real HBONE: HTTP/1.1 keep-alive and pipelining, HTTP/2 with prior knowledge
 * (h2c) told apart from HTTP/1.1 by the client preface, the upstream protocol chosen from the Service port as
 * istiod chooses it, request bodies (large ones streamed, small ones replayed to a retry), WebSocket and
 * CONNECT passed through, TCP on non-HTTP ports, pods that use the waypoint themselves, and the CONNECTs it
 * must refuse.
 */
import http from 'node:http';
import net from 'node:net';
import type { Duplex } from 'node:stream';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { WebSocket, WebSocketServer } from 'ws';
import { echo, h1, h2, h2Request, requestsOver, startTestMesh, type TestMesh } from './support/mesh.js';

const NET = '127.31.43';
let mesh: TestMesh;
const servers: net.Server[] = [];

const KUBE_SERVICES = `apiVersion: v1
kind: Service
metadata: {name: h2svc, namespace: default}
spec:
  ports: [{name: http2-api, port: 80, targetPort: 8080}]
---
apiVersion: v1
kind: Service
metadata: {name: web, namespace: default}
spec:
  ports: [{name: http, port: 80, targetPort: 8080}]
---
apiVersion: v1
kind: Service
metadata: {name: tcpecho, namespace: default}
spec:
  ports: [{name: tcp-echo, port: 7000}]
---
apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata: {name: flaky, namespace: default}
spec:
  host: flaky
  trafficPolicy: {loadBalancer: {simple: ROUND_ROBIN}}
---
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: flaky, namespace: default}
spec:
  hosts: [flaky]
  http:
  - retries: {attempts: 2, retryOn: 5xx}
    route: [{destination: {host: flaky}}]
`;

async function listen(server: net.Server, port: number, host: string): Promise<void> {
  servers.push(server);
  await new Promise<void>((resolve) => server.listen(port, host, resolve));
}

beforeAll(async () => {
  // A WebSocket echo, a CONNECT proxy and a TCP echo, on pods of their own.
  const ws = http.createServer();
  new WebSocketServer({ server: ws }).on('connection', (socket) =>
    socket.on('message', (m) => socket.send(`echo ${String(m)}`)),
  );
  await listen(ws, 8080, `${NET}.31`);
  const proxy = http.createServer();
  proxy.on('connect', (req, socket, head) => {
    socket.write(`HTTP/1.1 200 Connection Established\r\nx-target: ${req.url}\r\n\r\n`);
    if (head.length > 0) socket.write(`pong:${head}`);
    socket.on('data', (d) => socket.write(`pong:${d}`));
    socket.on('error', () => {});
  });
  await listen(proxy, 3128, `${NET}.32`);
  await listen(
    net.createServer((s) => {
      s.on('error', () => {});
      s.pipe(s);
    }),
    7000,
    `${NET}.33`,
  );
  mesh = await startTestMesh({
    subnet: 43,
    pods: [
      {
        name: 'web-1',
        octet: 20,
        app: 'web',
        version: 'v1',
        services: { web: { 80: 8080 }, sniffed: { 81: 8080 } },
      },
      {
        name: 'h2-1',
        octet: 21,
        app: 'h2',
        version: 'v1',
        appKind: 'h2c',
        services: { h2svc: { 80: 8080 } },
      },
      { name: 'ws-1', octet: 31, app: 'ws', version: 'v1', appKind: 'none', services: { ws: { 80: 8080 } } },
      {
        name: 'proxy-1',
        octet: 32,
        app: 'proxy',
        version: 'v1',
        appKind: 'none',
        services: { proxy: { 3128: 3128 } },
      },
      {
        name: 'tcp-1',
        octet: 33,
        app: 'tcp',
        version: 'v1',
        appKind: 'none',
        services: { tcpecho: { 7000: 7000 }, raw: { 7001: 7000 } },
      },
      { name: 'flaky-a', octet: 34, app: 'flaky', version: 'a', services: { flaky: { 80: 8080 } } },
      { name: 'flaky-b', octet: 35, app: 'flaky', version: 'b', services: { flaky: { 80: 8080 } } },
      {
        name: 'pod-with-waypoint',
        octet: 36,
        app: 'solo',
        version: 'v1',
        useWaypoint: true,
        services: { solo: { 80: 8080 } },
      },
      { name: 'outside-1', octet: 37, app: 'outside', version: 'v1', services: { outside: { 80: 8080 } } },
    ],
    services: [
      { name: 'web', vipOctet: 20, ports: { 80: 8080 } },
      { name: 'h2svc', vipOctet: 21, ports: { 80: 8080 } },
      { name: 'ws', vipOctet: 31, ports: { 80: 8080 } },
      { name: 'proxy', vipOctet: 32, ports: { 3128: 3128 } },
      { name: 'tcpecho', vipOctet: 33, ports: { 7000: 7000 } },
      { name: 'raw', vipOctet: 34, ports: { 7001: 7000 } },
      { name: 'sniffed', vipOctet: 38, ports: { 81: 8080 } },
      { name: 'flaky', vipOctet: 35, ports: { 80: 8080 } },
      { name: 'solo', vipOctet: 36, ports: { 80: 8080 }, waypoint: false },
      { name: 'outside', vipOctet: 37, ports: { 80: 8080 }, waypoint: false },
    ],
    config: KUBE_SERVICES,
  });
});
afterAll(async () => {
  await mesh?.close();
  for (const s of servers) s.close();
});

/** Reads from a tunnel until `done` says the text so far is complete. */
function readUntil(tunnel: Duplex, done: (text: string) => boolean, timeoutMs = 5000): Promise<string> {
  return new Promise((resolve, reject) => {
    let text = '';
    const timer = setTimeout(() => reject(new Error(`timed out; got ${JSON.stringify(text)}`)), timeoutMs);
    const onData = (d: Buffer): void => {
      text += d.toString('latin1');
      if (done(text)) {
        clearTimeout(timer);
        tunnel.off('data', onData);
        resolve(text);
      }
    };
    tunnel.on('data', onData);
  });
}

describe('HTTP/1.1', () => {
  it('keeps a tunnel alive across requests, and answers pipelined requests in order', async () => {
    const answers = await requestsOver(mesh, 'web', 80, [{ path: '/a' }, { path: '/b' }, { path: '/c' }], {
      connections: 1,
    });
    expect(answers.map((a) => echo(a).path)).toEqual(['/a', '/b', '/c']);
    // The three requests shared one tunnel: one downstream peer port in the log.
    const peers = new Set(
      mesh.logs.filter((l) => ['/a', '/b', '/c'].includes(l.path)).map((l) => l.downstreamRemoteAddress),
    );
    expect(peers.size).toBe(1);

    const tunnel = await mesh.tunnel('web', 80);
    const reply = readUntil(tunnel, (t) => (t.match(/"path":"\/p\d"/g) ?? []).length === 3);
    // Three requests in one write: the waypoint answers them one after the other, in order.
    tunnel.write(
      ['/p1', '/p2', '/p3']
        .map((p) => `GET ${p} HTTP/1.1\r\nhost: web\r\nx-app-delay-ms: ${p === '/p1' ? 100 : 0}\r\n\r\n`)
        .join(''),
    );
    const text = await reply;
    expect([...text.matchAll(/"path":"(\/p\d)"/g)].map((m) => m[1])).toEqual(['/p1', '/p2', '/p3']);
    expect(text.match(/^HTTP\/1\.1 200 OK/gm)).toHaveLength(3);
    tunnel.destroy();
  });

  it('streams a 3 MiB body through, and replays a small one to a retry', async () => {
    const big = 'x'.repeat(3 * 1024 * 1024);
    const answer = await h1(await mesh.tunnel('web', 80), { method: 'POST', path: '/upload', body: big });
    expect(echo(answer).body.length).toBe(big.length);
    expect(mesh.logs.find((l) => l.path === '/upload')?.bytesReceived).toBe(big.length);

    // Round robin starts with flaky-a, which fails: the retry on flaky-b gets the whole body again.
    const a = mesh.apps.get('flaky-a');
    if (a === undefined) throw new Error('no flaky-a');
    a.status = 503;
    try {
      const retried = await h1(await mesh.tunnel('flaky', 80), {
        method: 'POST',
        path: '/again',
        body: 'hello body',
      });
      expect(retried.status).toBe(200);
      expect(echo(retried)).toMatchObject({ pod: 'flaky-b', body: 'hello body' });
      expect(mesh.logs.find((l) => l.path === '/again')?.attempts).toBe(2);
    } finally {
      delete a.status;
    }
  });
});

describe('HTTP/2 with prior knowledge (h2c)', () => {
  it('is detected by its preface and served; an HTTP port is spoken HTTP/1.1 upstream', async () => {
    const session = h2(await mesh.tunnel('web', 80));
    try {
      const answer = await h2Request(session, { ':method': 'POST', ':path': '/h2', 'x-b': '1' }, 'over h2');
      expect(answer.status).toBe(200);
      expect(answer.headers['server']).toBe('istio-envoy');
      const e = echo(answer);
      expect(e).toMatchObject({ path: '/h2', body: 'over h2', version: '1.1' });
      expect(e.headers['x-request-id']).toMatch(/^[0-9a-f-]{36}$/);
      expect(mesh.logs.find((l) => l.path === '/h2')?.protocol).toBe('HTTP/2');
    } finally {
      session.close();
    }
  });

  it('speaks HTTP/2 upstream to a port named http2 (istiod ConvertProtocol), and HTTP/1.1 clients get there too', async () => {
    const session = h2(await mesh.tunnel('h2svc', 80));
    try {
      const answer = await h2Request(session, { ':path': '/both' });
      expect(echo(answer).version).toBe('2.0');
    } finally {
      session.close();
    }
    const fromH1 = await h1(await mesh.tunnel('h2svc', 80), { path: '/from-h1' });
    expect(echo(fromH1).version).toBe('2.0');
  });
});

describe('upgrades, CONNECT and TCP', () => {
  it('passes a WebSocket upgrade through: echo', async () => {
    const tunnel = await mesh.tunnel('ws', 80);
    const ws = new WebSocket('ws://ws.default.svc.cluster.local/chat', {
      createConnection: () => tunnel as net.Socket,
    } as ConstructorParameters<typeof WebSocket>[2]);
    const got: string[] = [];
    await new Promise<void>((resolve, reject) => {
      ws.on('open', () => {
        ws.send('one');
        ws.send('two');
      });
      ws.on('message', (m) => {
        got.push(String(m));
        if (got.length === 2) resolve();
      });
      ws.on('error', reject);
    });
    expect(got).toEqual(['echo one', 'echo two']);
    ws.close();
    const deadline = Date.now() + 3000;
    while (!mesh.logs.some((l) => l.path === '/chat') && Date.now() < deadline)
      await new Promise((r) => setTimeout(r, 20));
    expect(mesh.logs.find((l) => l.path === '/chat')).toMatchObject({
      responseCode: 101,
      upstreamHost: `${NET}.31:8080`,
    });
  });

  it('passes a CONNECT request through to the endpoint', async () => {
    const tunnel = await mesh.tunnel('proxy', 3128);
    const established = readUntil(tunnel, (t) => t.includes('\r\n\r\n'));
    tunnel.write('CONNECT example.com:443 HTTP/1.1\r\nhost: example.com:443\r\n\r\n');
    expect(await established).toMatch(
      /^HTTP\/1\.1 200 Connection Established\r\nx-target: example\.com:443\r\n/,
    );
    const pong = readUntil(tunnel, (t) => t.includes('pong:ping'));
    tunnel.write('ping');
    expect(await pong).toBe('pong:ping');
    tunnel.destroy();
  });

  it('proxies TCP on a tcp- port, and on a port of unknown protocol when the bytes are not HTTP', async () => {
    for (const [service, port] of [
      ['tcpecho', 7000],
      ['raw', 7001],
    ] as const) {
      const tunnel = await mesh.tunnel(service, port);
      const back = readUntil(tunnel, (t) => t === '\u0016\u0003\u0001 not http');
      tunnel.write('\u0016\u0003\u0001 not http');
      expect(await back).toBe('\u0016\u0003\u0001 not http');
      tunnel.end();
    }
    // A port of unknown protocol serves HTTP when the bytes are HTTP (the HTTP inspector): routed, logged.
    const answer = await h1(await mesh.tunnel('sniffed', 81), { path: '/sniffed' });
    expect(echo(answer)).toMatchObject({ pod: 'web-1', path: '/sniffed' });
    expect(mesh.logs.find((l) => l.path === '/sniffed')).toMatchObject({
      method: 'GET',
      protocol: 'HTTP/1.1',
    });
    const tunnel = await mesh.tunnel('sniffed', 81);
    const session = h2(tunnel);
    expect(echo(await h2Request(session, { ':path': '/sniffed-h2' })).path).toBe('/sniffed-h2');
    session.close();
    tunnel.destroy();
  });
});

describe('what the waypoint serves', () => {
  it('serves a pod that uses the waypoint, addressed by its own IP', async () => {
    const answer = await h1(await mesh.tunnel(`${NET}.36`, 8080), { path: '/pod' });
    expect(echo(answer).pod).toBe('pod-with-waypoint');
    expect(mesh.logs.find((l) => l.path === '/pod')?.upstreamHost).toBe(`${NET}.36:8080`);
  });

  it('refuses CONNECTs for what does not use it: 503', async () => {
    const client = await mesh.client();
    for (const authority of ['10.96.43.99:80', '10.96.43.37:80', `${NET}.20:8080`]) {
      await expect(
        client.connect({
          via: `${mesh.waypointIp}:15008`,
          authority,
          expectedIdentities: [`spiffe://cluster.local/ns/default/sa/waypoint`],
        }),
      ).rejects.toMatchObject({ status: 503 });
    }
  });
});
