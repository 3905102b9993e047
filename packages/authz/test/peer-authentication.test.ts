// PeerAuthentication through the middleware over real connections: under STRICT a request on a connection
// without a verified peer certificate is refused (the connection is closed without an HTTP answer, as a
// listener that requires mTLS does), in node:http, Express and Fastify; mTLS with a verified SPIFFE certificate
// passes; port-level PERMISSIVE opens the port; PERMISSIVE/DISABLE never refuse.
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
} from '@ambient-kit/spiffe';
import express from 'express';
import { fastify } from 'fastify';
import { afterAll, describe, expect, it } from 'vitest';
import { createAuthzMiddleware, type Decision } from '../src/index.js';
import { close, collect, httpRequest, listen } from './http-support.js';
import { engineFrom } from './support.js';

const workload = { kind: 'sidecar', namespace: 'foo', labels: { app: 'web' } } as const;

function peer(ns: string, name: string, spec: string): string {
  return `apiVersion: security.istio.io/v1\nkind: PeerAuthentication\nmetadata: {name: ${name}, namespace: ${ns}}\nspec: ${spec}\n---\n`;
}

const servers: http.Server[] = [];
afterAll(async () => {
  for (const s of servers) await close(s);
});

async function nodeServer(yaml: string, decisions: Decision[] = []): Promise<number> {
  const authz = createAuthzMiddleware({
    engine: engineFrom(yaml),
    workload,
    onDecision: (d) => decisions.push(d),
  });
  const server = http.createServer(authz.wrap((_req, res) => res.end('ok')));
  servers.push(server);
  return listen(server);
}

describe('PeerAuthentication STRICT in the middleware', () => {
  it('node:http: plaintext is refused without an answer under a mesh-wide STRICT policy', async () => {
    const decisions: Decision[] = [];
    const port = await nodeServer(peer('istio-system', 'default', '{mtls: {mode: STRICT}}'), decisions);
    const r = await httpRequest(port, '/');
    expect(r.status).toBe(0);
    expect(decisions[0]).toMatchObject({
      allow: false,
      connectionRefused: true,
      policy: 'istio-system/default',
    });
  });

  it('PERMISSIVE, DISABLE, UNSET and no policy let plaintext through', async () => {
    for (const spec of ['{mtls: {mode: PERMISSIVE}}', '{mtls: {mode: DISABLE}}', '{mtls: {}}', '{}']) {
      const port = await nodeServer(peer('istio-system', 'default', spec));
      expect((await httpRequest(port, '/')).status, spec).toBe(200);
    }
  });

  it('namespace and workload levels override the mesh; portLevelMtls opens the workload port', async () => {
    const meshStrict = peer('istio-system', 'default', '{mtls: {mode: STRICT}}');
    const nsPermissive = await nodeServer(meshStrict + peer('foo', 'ns', '{mtls: {mode: PERMISSIVE}}'));
    expect((await httpRequest(nsPermissive, '/')).status).toBe(200);
    const otherNs = await nodeServer(meshStrict + peer('bar', 'ns', '{mtls: {mode: PERMISSIVE}}'));
    expect((await httpRequest(otherNs, '/')).status).toBe(0);
    // The port is only known once the server listens: build the policy for it, then serve with it.
    const probe = http.createServer();
    const port = await listen(probe);
    await close(probe);
    const yaml = `${meshStrict}${peer('foo', 'web', `{selector: {matchLabels: {app: web}}, portLevelMtls: {"${port}": {mode: PERMISSIVE}}}`)}`;
    const authz = createAuthzMiddleware({ engine: engineFrom(yaml), workload });
    const server = http.createServer(authz.wrap((_req, res) => res.end('ok')));
    servers.push(server);
    await new Promise<void>((resolve) => server.listen(port, '127.0.0.1', resolve));
    expect((await httpRequest(port, '/')).status).toBe(200);
    const strictElsewhere = await nodeServer(
      `${meshStrict}${peer('foo', 'web', '{selector: {matchLabels: {app: web}}, portLevelMtls: {"1": {mode: PERMISSIVE}}}')}`,
    );
    expect((await httpRequest(strictElsewhere, '/')).status).toBe(0);
  });

  it('Express and Fastify refuse the connection the same way', async () => {
    const yaml = peer('istio-system', 'default', '{mtls: {mode: STRICT}}');
    const authz = createAuthzMiddleware({ engine: engineFrom(yaml), workload });
    const app = express();
    app.use('/api', authz, (_req: express.Request, res: express.Response) => {
      res.send('ok');
    });
    const expressServer = http.createServer(app);
    servers.push(expressServer);
    expect((await httpRequest(await listen(expressServer), '/api/x')).status).toBe(0);
    const f = fastify();
    f.addHook('onRequest', authz.fastify);
    f.get('/*', async () => 'ok');
    await f.listen({ port: 0, host: '127.0.0.1' });
    servers.push(f.server);
    expect((await httpRequest((f.server.address() as { port: number }).port, '/x')).status).toBe(0);
  });

  it('mTLS with a verified SPIFFE certificate passes STRICT', async () => {
    const ca = await createCertificateAuthority({ trustDomain: 'cluster.local' });
    const bundles = createBundleSet([ca.bundle]);
    const config = {
      svid: staticSvidSource(await ca.issue('spiffe://cluster.local/ns/foo/sa/web')),
      bundles,
      authorize: authorizeAny(),
      alpn: ['http/1.1'],
    };
    const authz = createAuthzMiddleware({
      engine: engineFrom(peer('istio-system', 'default', '{mtls: {mode: STRICT}}')),
      workload,
    });
    const server = https.createServer(
      mtlsServerOptions(config),
      authz.wrap((_req, res) => res.end('ok')),
    );
    bindMtlsServer(server as unknown as tls.Server, config);
    servers.push(server);
    const port = await listen(server);
    const client = mtlsClientOptions({
      svid: staticSvidSource(await ca.issue('spiffe://cluster.local/ns/bar/sa/client')),
      bundles,
      authorize: authorizeAny(),
      alpn: ['http/1.1'],
    });
    const r = await new Promise<{ status: number }>((resolve, reject) => {
      https
        .get({ host: '127.0.0.1', port, path: '/', agent: false, ...client }, (res) =>
          collect(res).then(resolve, reject),
        )
        .on('error', reject);
    });
    expect(r.status).toBe(200);
  });
});
