// The HTTP middleware on real servers: node:http, node:https with SPIFFE mTLS (the principal comes from the
// client certificate, verified by @ambient-kit/spiffe), node:http2, an Express/Connect-style stack and a
// Fastify-style onRequest hook.
import { once } from 'node:events';
import http, { type IncomingMessage, type ServerResponse } from 'node:http';
import http2 from 'node:http2';
import https from 'node:https';
import type { AddressInfo } from 'node:net';
import tls from 'node:tls';
import {
  authorizeAny,
  bindMtlsServer,
  createBundleSet,
  createCertificateAuthority,
  mtlsClientOptions,
  mtlsServerOptions,
  staticSvidSource,
  type X509Svid,
} from '@ambient-kit/spiffe';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  type AuthzMiddleware,
  createAuthzMiddleware,
  type Decision,
  type NodeHttpRequest,
  type NodeHttpResponse,
  RBAC_DENIED_BODY,
} from '../src/index.js';
import { engineFrom, policy } from './support.js';

const POLICIES =
  policy(
    'foo/web-allow',
    `selector: {matchLabels: {app: web}}
rules:
- from: [{source: {principals: ["cluster.local/ns/foo/sa/sleep"]}}]
  to: [{operation: {methods: ["GET"], paths: ["/api/*"]}}]
- from: [{source: {remoteIpBlocks: ["203.0.113.0/24"]}}]
  to: [{operation: {paths: ["/public"]}}]
- to: [{operation: {paths: ["/ext/*"]}}]`,
  ) +
  policy(
    'foo/web-deny',
    'selector: {matchLabels: {app: web}}\naction: DENY\nrules: [{to: [{operation: {paths: ["/api/admin*"]}}]}]',
  ) +
  policy(
    'foo/web-custom',
    'selector: {matchLabels: {app: web}}\naction: CUSTOM\nprovider: {name: ext-authz}\nrules: [{to: [{operation: {paths: ["/ext/*"]}}]}]',
  );

const engine = engineFrom(POLICIES, { extensionProviders: ['ext-authz'] });
const workload = { kind: 'sidecar', namespace: 'foo', labels: { app: 'web' } } as const;

interface Reply {
  status: number;
  body: string;
  contentType: string | undefined;
}

function collect(res: IncomingMessage): Promise<Reply> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    res.on('data', (c: Buffer) => chunks.push(c));
    res.on('end', () =>
      resolve({
        status: res.statusCode ?? 0,
        body: Buffer.concat(chunks).toString(),
        contentType: res.headers['content-type'],
      }),
    );
    res.on('error', reject);
  });
}

function httpGet(port: number, path: string, headers: Record<string, string> = {}): Promise<Reply> {
  return new Promise((resolve, reject) => {
    http
      .get({ host: '127.0.0.1', port, path, headers, agent: false }, (res) => resolve(collect(res)))
      .on('error', reject);
  });
}

function listen(server: http.Server | https.Server | http2.Http2SecureServer): Promise<number> {
  return new Promise((resolve) =>
    server.listen(0, '127.0.0.1', () => resolve((server.address() as AddressInfo).port)),
  );
}

function closeServer(server: http.Server | https.Server | http2.Http2SecureServer): Promise<void> {
  return new Promise((resolve) => {
    (server as http.Server).closeAllConnections?.();
    server.close(() => resolve());
  });
}

const ok = (_req: NodeHttpRequest, res: NodeHttpResponse): void => {
  (res as ServerResponse).writeHead(200, { 'content-type': 'text/plain' });
  res.end('hello');
};

describe('node:http (plaintext): no principal, Envoy-style 403', () => {
  let server: http.Server;
  let port: number;
  const decisions: Decision[] = [];
  beforeAll(async () => {
    const authz = createAuthzMiddleware({
      engine,
      workload,
      numTrustedProxies: 1,
      onDecision: (d) => decisions.push(d),
    });
    server = http.createServer(authz.wrap(ok));
    port = await listen(server);
  });
  afterAll(() => closeServer(server));

  const get = (path: string, headers?: Record<string, string>): Promise<Reply> =>
    httpGet(port, path, headers);

  it('a plaintext peer has no principal: the principal rule does not match → 403 "RBAC: access denied"', async () => {
    const r = await get('/api/items');
    expect(r).toEqual({ status: 403, body: RBAC_DENIED_BODY, contentType: 'text/plain' });
    expect(decisions.at(-1)).toMatchObject({
      allow: false,
      reason: expect.stringContaining('no ALLOW policy matched'),
    });
  });

  it('the client address comes from X-Forwarded-For through one trusted hop (remoteIpBlocks)', async () => {
    expect((await get('/public', { 'x-forwarded-for': '198.51.100.9, 203.0.113.5' })).status).toBe(200);
    expect((await get('/public', { 'x-forwarded-for': '203.0.113.5, 198.51.100.9' })).status).toBe(403);
    expect((await get('/public')).status).toBe(403);
  });

  it('a NUL in the path is answered 400 before authorization', async () => {
    const r = await get('/api/a%00b');
    expect(r.status).toBe(400);
  });
});

describe('node:https with SPIFFE mTLS: the principal is the verified client certificate', () => {
  let ca: Awaited<ReturnType<typeof createCertificateAuthority>>;
  let bundles: ReturnType<typeof createBundleSet>;
  let serverSvid: X509Svid;
  let sleepSvid: X509Svid;
  let evilSvid: X509Svid;
  let server: https.Server;
  let port: number;
  let h2server: http2.Http2SecureServer;
  let h2port: number;

  beforeAll(async () => {
    ca = await createCertificateAuthority({ trustDomain: 'cluster.local' });
    bundles = createBundleSet([ca.bundle]);
    serverSvid = await ca.issue('spiffe://cluster.local/ns/foo/sa/web');
    sleepSvid = await ca.issue('spiffe://cluster.local/ns/foo/sa/sleep');
    evilSvid = await ca.issue('spiffe://cluster.local/ns/bar/sa/evil');
    const config = {
      svid: staticSvidSource(serverSvid),
      bundles,
      authorize: authorizeAny(),
      alpn: ['http/1.1'],
    };
    const authz = createAuthzMiddleware({ engine, workload });
    server = https.createServer(mtlsServerOptions(config), authz.wrap(ok));
    bindMtlsServer(server as unknown as tls.Server, config);
    port = await listen(server);

    const h2config = { svid: staticSvidSource(serverSvid), bundles, authorize: authorizeAny() };
    h2server = http2.createSecureServer(mtlsServerOptions(h2config), authz.wrap(ok));
    bindMtlsServer(h2server as unknown as tls.Server, h2config);
    h2port = await listen(h2server);
  });
  afterAll(async () => {
    await closeServer(server);
    await closeServer(h2server);
  });

  const request = (svid: X509Svid, path: string, method = 'GET'): Promise<Reply> =>
    new Promise((resolve, reject) => {
      const options = mtlsClientOptions({
        svid: staticSvidSource(svid),
        bundles,
        authorize: authorizeAny(),
        alpn: ['http/1.1'],
      });
      const req = https.request({ host: '127.0.0.1', port, path, method, agent: false, ...options }, (res) =>
        resolve(collect(res)),
      );
      req.on('error', reject);
      req.end();
    });

  it('foo/sleep may GET /api/*', async () => {
    expect(await request(sleepSvid, '/api/items?limit=1')).toMatchObject({ status: 200, body: 'hello' });
  });

  it('bar/evil may not; nor may sleep POST', async () => {
    expect(await request(evilSvid, '/api/items')).toMatchObject({ status: 403, body: RBAC_DENIED_BODY });
    expect((await request(sleepSvid, '/api/items', 'POST')).status).toBe(403);
  });

  it('DENY wins, also against a dot-segment detour (path normalization)', async () => {
    expect((await request(sleepSvid, '/api/admin')).status).toBe(403);
    expect((await request(sleepSvid, '/api/x/../admin')).status).toBe(403);
    expect((await request(sleepSvid, '/api/x/%2E%2E/admin')).status).toBe(403);
  });

  it('node:http2 compatibility API: the principal is read through the session socket', async () => {
    const session = http2.connect(`https://127.0.0.1:${h2port}`, {
      createConnection: () =>
        tls.connect({
          host: '127.0.0.1',
          port: h2port,
          ...mtlsClientOptions({ svid: staticSvidSource(sleepSvid), bundles, authorize: authorizeAny() }),
        }),
    });
    try {
      const status = async (path: string): Promise<number> => {
        const stream = session.request({ ':path': path, ':method': 'GET' });
        const [headers] = (await once(stream, 'response')) as [http2.IncomingHttpHeaders];
        stream.resume();
        await once(stream, 'end');
        return Number(headers[':status']);
      };
      expect(await status('/api/items')).toBe(200);
      expect(await status('/api/admin')).toBe(403);
    } finally {
      session.close();
    }
  });
});

describe('Express/Connect-style stack and Fastify-style hook', () => {
  let server: http.Server;
  let port: number;
  const seen: string[] = [];
  const extCalls: string[] = [];
  let authz: AuthzMiddleware;

  beforeAll(async () => {
    authz = createAuthzMiddleware({
      engine,
      workload,
      extAuthz: async (provider, req) => {
        extCalls.push(provider);
        await new Promise((r) => setTimeout(r, 5));
        if (req.headers['x-ext'] === 'hang') return new Promise<never>(() => {});
        return req.headers['x-ext'] === 'allow' ? 'allow' : 'deny';
      },
      extAuthzTimeoutMs: 200,
    });
    // A minimal Connect-style dispatcher: each layer calls next() to continue.
    type Layer = (req: IncomingMessage, res: ServerResponse, next: (error?: unknown) => void) => void;
    const stack: Layer[] = [
      (req, _res, next) => {
        seen.push(`log ${req.url}`);
        next();
      },
      authz as Layer,
      (req, res) => {
        seen.push(`handler ${req.url}`);
        res.end('handled');
      },
    ];
    // A minimal Fastify-style hook runner: onRequest(request, reply, done) before the route.
    const fastifyHook = (req: IncomingMessage, res: ServerResponse): void => {
      let status = 200;
      const headers: Record<string, string> = {};
      const reply = {
        code(s: number) {
          status = s;
          return reply;
        },
        header(k: string, v: string) {
          headers[k] = v;
          return reply;
        },
        send(body?: string) {
          res.writeHead(status, headers);
          res.end(body ?? '');
        },
      };
      authz.fastify({ raw: req }, reply, (error) => {
        if (error !== undefined) reply.code(500).send('error');
        else reply.code(200).send('route');
      });
    };
    server = http.createServer((req, res) => {
      if (req.url?.startsWith('/fastify')) {
        req.url = req.url.slice('/fastify'.length);
        fastifyHook(req, res);
        return;
      }
      let i = 0;
      const next = (error?: unknown): void => {
        if (error !== undefined) {
          res.statusCode = 500;
          res.end();
          return;
        }
        const layer = stack[i++];
        layer?.(req, res, next);
      };
      next();
    });
    port = await listen(server);
  });
  afterAll(() => closeServer(server));

  const get = (path: string, headers?: Record<string, string>): Promise<Reply> =>
    httpGet(port, path, headers);

  it('a denied request stops the stack: next() is not called', async () => {
    seen.length = 0;
    const r = await get('/api/items');
    expect(r.status).toBe(403);
    expect(seen).toEqual(['log /api/items']);
  });

  it('CUSTOM: the async provider is asked only for matching paths, and its answer decides', async () => {
    seen.length = 0;
    extCalls.length = 0;
    expect((await get('/ext/a', { 'x-ext': 'allow' })).status).toBe(200);
    expect(seen).toEqual(['log /ext/a', 'handler /ext/a']);
    const denied = await get('/ext/a', { 'x-ext': 'deny' });
    expect(denied).toMatchObject({ status: 403, body: '' });
    expect(extCalls).toEqual(['ext-authz', 'ext-authz']);
    // Not a CUSTOM path: the provider is not called (and the ALLOW policy does not match either).
    expect((await get('/other')).status).toBe(403);
    expect(extCalls).toHaveLength(2);
  });

  it('CUSTOM: a provider that does not answer in time denies (fail closed)', async () => {
    expect((await get('/ext/a', { 'x-ext': 'hang' })).status).toBe(403);
  });

  it('Fastify-style hook: allowed requests reach the route, denied ones get the RBAC answer', async () => {
    expect(await get('/fastify/ext/a', { 'x-ext': 'allow' })).toMatchObject({ status: 200, body: 'route' });
    expect(await get('/fastify/api/items')).toMatchObject({
      status: 403,
      body: RBAC_DENIED_BODY,
      contentType: 'text/plain',
    });
  });

  it('decide() answers without responding', async () => {
    const fakeReq = {
      socket: { remoteAddress: '10.0.0.1', localAddress: '10.0.0.2', localPort: 80 },
      headers: {},
      method: 'GET',
      url: '/x',
    };
    const d = await authz.decide(fakeReq as unknown as NodeHttpRequest);
    expect(d.allow).toBe(false);
  });
});

describe('createAuthzMiddleware arguments', () => {
  it('rejects a missing engine or workload with TypeError', () => {
    expect(() => createAuthzMiddleware({ workload } as never)).toThrow(TypeError);
    expect(() => createAuthzMiddleware({ engine } as never)).toThrow(TypeError);
  });
});
