// Issue 9 ("decide on what the application will act on"), end to end over real HTTP: absolute-form request
// targets in node:http (`new URL(req.url, base)`), Express 4 and Fastify; Express mounts; identity values with
// regex metacharacters; an async claims hook. Each case failed open before the fix (200 with the protected
// body, or a DENY that never matched).

import http from 'node:http';
import https from 'node:https';
import type tls from 'node:tls';
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
import express from 'express';
import { fastify } from 'fastify';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  createAuthzMiddleware,
  type Decision,
  type MeshConfig,
  type NodeHttpRequest,
  type NodeHttpResponse,
  RBAC_DENIED_BODY,
} from '../src/index.js';
import { close, collect, httpRequest, listen, type RawReply, rawRequest } from './http-support.js';
import { engineFrom, policy } from './support.js';

const workload = { kind: 'sidecar', namespace: 'foo', labels: { app: 'web' } } as const;

const denyAdmin = engineFrom(
  policy('foo/deny-admin', 'action: DENY\nrules: [{to: [{operation: {paths: ["/admin"]}}]}]'),
);

describe('absolute-form request targets are judged by the path the application routes (Envoy http1 codec)', () => {
  const servers: http.Server[] = [];
  const ports = { node: 0, express: 0, fastify: 0 };
  const controlPorts = { node: 0, express: 0, fastify: 0 };

  beforeAll(async () => {
    const authz = createAuthzMiddleware({ engine: denyAdmin, workload });
    // node:http that routes with new URL(req.url, base), with and without the middleware.
    const nodeHandler = (req: NodeHttpRequest, res: NodeHttpResponse): void => {
      const { pathname } = new URL(req.url ?? '/', 'http://localhost');
      if (pathname === '/admin' || pathname === '/public') res.end(`${pathname} body`);
      else {
        (res as http.ServerResponse).statusCode = 404;
        res.end();
      }
    };
    const expressApp = (withAuthz: boolean) => {
      const app = express();
      if (withAuthz) app.use(authz);
      app.get('/admin', (_req, res) => {
        res.send('/admin body');
      });
      app.get('/public', (_req, res) => {
        res.send('/public body');
      });
      return app;
    };
    const fastifyApp = async (withAuthz: boolean) => {
      const app = fastify();
      if (withAuthz) app.addHook('onRequest', authz.fastify);
      app.get('/admin', async () => '/admin body');
      app.get('/public', async () => '/public body');
      await app.listen({ port: 0, host: '127.0.0.1' });
      return app;
    };
    for (const withAuthz of [true, false]) {
      const server = http.createServer(withAuthz ? authz.wrap(nodeHandler) : nodeHandler);
      servers.push(server);
      (withAuthz ? ports : controlPorts).node = await listen(server);
    }
    for (const withAuthz of [true, false]) {
      const server = http.createServer(expressApp(withAuthz));
      servers.push(server);
      (withAuthz ? ports : controlPorts).express = await listen(server);
    }
    for (const withAuthz of [true, false]) {
      const app = await fastifyApp(withAuthz);
      servers.push(app.server);
      (withAuthz ? ports : controlPorts).fastify = (app.server.address() as { port: number }).port;
    }
  });
  afterAll(async () => {
    for (const s of servers) await close(s);
  });

  for (const framework of ['node', 'express', 'fastify'] as const) {
    it(`${framework}: GET http://x/admin is routed to /admin, and DENY paths ["/admin"] now denies it`, async () => {
      // Without the middleware the framework serves /admin for the absolute-form target: the bypass was real.
      const control = await rawRequest(controlPorts[framework], 'GET http://x/admin HTTP/1.1');
      expect(control).toMatchObject({ status: 200, body: '/admin body' });
      const port = ports[framework];
      const denied = await rawRequest(port, 'GET http://x/admin HTTP/1.1');
      expect(denied.status).toBe(403);
      expect(denied.body).toBe(RBAC_DENIED_BODY);
      // Upper-case scheme and host with a port, a query: still the path /admin.
      expect((await rawRequest(port, 'GET HTTP://Example.com:8080/admin?x=1 HTTP/1.1')).status).toBe(403);
      expect((await rawRequest(port, 'GET /admin HTTP/1.1')).status).toBe(403);
      // Not deny-all: the other path is served either way.
      expect(await rawRequest(port, 'GET http://x/public HTTP/1.1')).toMatchObject({
        status: 200,
        body: '/public body',
      });
    });
  }

  it('the host of an absolute-form target replaces Host (RFC 9112 §3.2.2), for `hosts` rules too', async () => {
    const engine = engineFrom(
      policy('foo/deny-host', 'action: DENY\nrules: [{to: [{operation: {hosts: ["secret.example"]}}]}]'),
    );
    const authz = createAuthzMiddleware({ engine, workload });
    const server = http.createServer(authz.wrap((_req, res) => res.end('ok')));
    const port = await listen(server);
    try {
      const r = await rawRequest(port, 'GET http://secret.example/x HTTP/1.1', { host: 'public.example' });
      expect(r.status).toBe(403);
      expect((await rawRequest(port, 'GET /x HTTP/1.1', { host: 'public.example' })).status).toBe(200);
      // A target that is neither origin-form nor an http(s) URL is a 400, as at Envoy's codec.
      expect((await rawRequest(port, 'GET ftp://x/admin HTTP/1.1')).status).toBe(400);
    } finally {
      await close(server);
    }
  });
});

describe('Express mounts: the middleware judges req.originalUrl', () => {
  let server: http.Server;
  let port: number;
  let caseSensitive: http.Server;
  let caseSensitivePort: number;

  beforeAll(async () => {
    const engine = engineFrom(
      policy('foo/deny-api-admin', 'action: DENY\nrules: [{to: [{operation: {paths: ["/api/admin*"]}}]}]'),
    );
    const authz = createAuthzMiddleware({ engine, workload });
    const make = (sensitive: boolean) => {
      const router = express.Router({ caseSensitive: sensitive });
      router.get('/admin', (_req, res) => {
        res.send('admin body');
      });
      router.get('/public', (_req, res) => {
        res.send('public body');
      });
      const app = express();
      app.use('/api', authz, router);
      return app;
    };
    server = http.createServer(make(false));
    port = await listen(server);
    caseSensitive = http.createServer(make(true));
    caseSensitivePort = await listen(caseSensitive);
  });
  afterAll(async () => {
    await close(server);
    await close(caseSensitive);
  });

  it('app.use("/api", authz, router): DENY /api/admin* denies GET /api/admin (req.url is /admin there)', async () => {
    expect(await httpRequest(port, '/api/admin')).toMatchObject({ status: 403, body: RBAC_DENIED_BODY });
    expect(await httpRequest(port, '/api/admin?x=1')).toMatchObject({ status: 403 });
    expect(await httpRequest(port, '/api/public')).toMatchObject({ status: 200, body: 'public body' });
    expect((await rawRequest(port, 'GET http://x/api/admin HTTP/1.1')).status).toBe(403);
  });

  it('the case trap (docs/authz.md): Express routes /api/ADMIN to /admin unless routing is case-sensitive', async () => {
    // Envoy compares paths case-sensitively, so the policy does not match /api/ADMIN...
    expect(await httpRequest(port, '/api/ADMIN')).toMatchObject({ status: 200, body: 'admin body' });
    // ...and a case-sensitive router does not serve it either.
    expect((await httpRequest(caseSensitivePort, '/api/ADMIN')).status).toBe(404);
    expect((await httpRequest(caseSensitivePort, '/api/admin')).status).toBe(403);
  });
});

describe('identity values with regex metacharacters (istiod <= 1.27 unquoted, >= 1.28 QuoteMeta)', () => {
  let ca: Awaited<ReturnType<typeof createCertificateAuthority>>;
  let bundles: ReturnType<typeof createBundleSet>;
  let serverSvid: X509Svid;
  const servers: https.Server[] = [];

  beforeAll(async () => {
    ca = await createCertificateAuthority({ trustDomain: 'cluster.local' });
    bundles = createBundleSet([ca.bundle]);
    serverSvid = await ca.issue('spiffe://cluster.local/ns/foo/sa/web');
  });
  afterAll(async () => {
    for (const s of servers) await close(s);
  });

  const serve = async (yaml: string, mesh?: MeshConfig): Promise<number> => {
    const config = {
      svid: staticSvidSource(serverSvid),
      bundles,
      authorize: authorizeAny(),
      alpn: ['http/1.1'],
    };
    const authz = createAuthzMiddleware({ engine: engineFrom(yaml, mesh), workload });
    const server = https.createServer(
      mtlsServerOptions(config),
      authz.wrap((_req, res) => res.end('ok')),
    );
    bindMtlsServer(server as unknown as tls.Server, config);
    servers.push(server);
    return listen(server);
  };
  const get = async (port: number, id: string): Promise<RawReply> => {
    const options = mtlsClientOptions({
      svid: staticSvidSource(await ca.issue(id)),
      bundles,
      authorize: authorizeAny(),
      alpn: ['http/1.1'],
    });
    return new Promise((resolve, reject) => {
      https
        .get({ host: '127.0.0.1', port, path: '/', agent: false, ...options }, (res) =>
          collect(res).then(resolve, reject),
        )
        .on('error', reject);
    });
  };

  it('DENY namespaces: ["team-."] denies team-a (as Envoy configured by istiod <= 1.27 does)', async () => {
    const port = await serve(
      policy('foo/deny-team', 'action: DENY\nrules: [{from: [{source: {namespaces: ["team-."]}}]}]'),
    );
    expect((await get(port, 'spiffe://cluster.local/ns/team-a/sa/x')).status).toBe(403);
    expect((await get(port, 'spiffe://cluster.local/ns/team-./sa/x')).status).toBe(403);
    expect((await get(port, 'spiffe://cluster.local/ns/team-ab/sa/x')).status).toBe(200);
  });

  it('ALLOW namespaces: ["team-."] does not admit team-a (the #59992 bypass stays closed)', async () => {
    const port = await serve(
      policy('foo/allow-team', 'rules: [{from: [{source: {namespaces: ["team-."]}}]}]'),
    );
    expect((await get(port, 'spiffe://cluster.local/ns/team-a/sa/x')).status).toBe(403);
  });

  it('mesh.identityRegex picks one istiod generation exactly', async () => {
    const deny = policy(
      'foo/deny-team',
      'action: DENY\nrules: [{from: [{source: {namespaces: ["team-."]}}]}]',
    );
    const escaped = await serve(deny, { identityRegex: 'escaped' });
    expect((await get(escaped, 'spiffe://cluster.local/ns/team-a/sa/x')).status).toBe(200);
    const allow = policy('foo/allow-team', 'rules: [{from: [{source: {namespaces: ["team-."]}}]}]');
    const unescaped = await serve(allow, { identityRegex: 'unescaped' });
    expect((await get(unescaped, 'spiffe://cluster.local/ns/team-a/sa/x')).status).toBe(200);
  });

  it('principal suffixes and service accounts are read the same way; an invalid RE2 value denies', async () => {
    const port = await serve(
      policy(
        'foo/deny',
        'action: DENY\nrules: [{from: [{source: {principals: ["*/sa/ops.bot"]}}]}, {from: [{source: {serviceAccounts: ["infra/dep.oy"]}}]}]',
      ),
    );
    expect((await get(port, 'spiffe://cluster.local/ns/x/sa/opsXbot')).status).toBe(403);
    expect((await get(port, 'spiffe://cluster.local/ns/infra/sa/depXoy')).status).toBe(403);
    expect((await get(port, 'spiffe://cluster.local/ns/infra/sa/depoy')).status).toBe(200);
    const broken = await serve(
      policy('foo/deny-broken', 'action: DENY\nrules: [{from: [{source: {namespaces: ["team-("]}}]}]'),
    );
    expect((await get(broken, 'spiffe://cluster.local/ns/any/sa/x')).status).toBe(403);
  });
});

describe('an async claims hook is awaited; a broken one denies', () => {
  const engine = engineFrom(
    policy(
      'foo/deny-admins',
      'action: DENY\nrules: [{when: [{key: "request.auth.claims[groups]", values: ["admin"]}]}]',
    ),
  );
  const run = async (jwt: Parameters<typeof createAuthzMiddleware>[0]['jwt']) => {
    const decisions: Decision[] = [];
    const authz = createAuthzMiddleware({
      engine,
      workload,
      ...(jwt === undefined ? {} : { jwt }),
      onDecision: (d) => decisions.push(d),
    });
    const server = http.createServer(authz.wrap((_req, res) => res.end('ok')));
    const port = await listen(server);
    try {
      return { reply: await httpRequest(port, '/'), decision: decisions[0] };
    } finally {
      await close(server);
    }
  };

  it('a Promise of the payload is awaited, so DENY on request.auth.claims[groups] matches', async () => {
    const { reply } = await run(async () => {
      await new Promise((r) => setTimeout(r, 5));
      return { iss: 'https://issuer', sub: 'alice', groups: ['admin'] };
    });
    expect(reply.status).toBe(403);
    expect((await run(async () => ({ groups: ['dev'] }))).reply.status).toBe(200);
    expect((await run(() => ({ groups: ['admin'] }))).reply.status).toBe(403);
  });

  it('a rejecting hook, or one that gives a non-object, denies with AUTHZ_ERR_CLAIMS_HOOK', async () => {
    for (const hook of [
      async () => {
        throw new Error('jwks down');
      },
      () => {
        throw new Error('sync failure');
      },
      () => 'not a payload' as never,
      async () => ['admin'] as never,
    ]) {
      const { reply, decision } = await run(hook);
      expect(reply.status).toBe(403);
      expect(decision?.allow).toBe(false);
      expect(decision?.reason).toContain('AUTHZ_ERR_CLAIMS_HOOK');
    }
  });
});
