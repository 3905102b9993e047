// jwksUri served by a real local HTTP server: one fetch for many requests, a refetch on a new kid (rate
// limited), fetch failure → 401, slow server → timeout → 401, istiod's scheduled refresh (keeping the old keys
// when it fails), the background retry after a failed first fetch, and OpenID discovery.
import http from 'node:http';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createAuthzMiddleware, createJwksResolver, type JwksResolver } from '../src/index.js';
import { close, httpRequest, listen } from './http-support.js';
import { jwksOf, makeKey, sign, type TestKey } from './jwt-support.js';
import { engineFrom } from './support.js';

const ISSUER = 'https://issuer.example';
const workload = { kind: 'sidecar', namespace: 'foo', labels: { app: 'web' } } as const;

/** A JWKS endpoint whose answer the test controls. */
interface JwksServer {
  readonly port: number;
  /** Requests per path. */
  readonly hits: Map<string, number>;
  body: string;
  mode: 'ok' | 'fail' | 'slow';
  close(): Promise<void>;
}

async function jwksServer(body: string): Promise<JwksServer> {
  const state = { body, mode: 'ok' as JwksServer['mode'], hits: new Map<string, number>() };
  const server = http.createServer((req, res) => {
    const path = req.url ?? '/';
    state.hits.set(path, (state.hits.get(path) ?? 0) + 1);
    if (path === '/.well-known/openid-configuration') {
      res.end(
        JSON.stringify({
          issuer: `http://127.0.0.1:${port}`,
          jwks_uri: `http://127.0.0.1:${port}/discovered`,
        }),
      );
      return;
    }
    if (state.mode === 'fail') {
      res.statusCode = 500;
      res.end('down');
      return;
    }
    const timer = setTimeout(() => res.end(state.body), state.mode === 'slow' ? 3000 : 0);
    res.on('close', () => clearTimeout(timer));
  });
  const port = await listen(server);
  return Object.assign(state, { port, close: () => close(server) });
}

function ra(name: string, uri: string, extra = ''): string {
  return `apiVersion: security.istio.io/v1\nkind: RequestAuthentication\nmetadata: {name: ${name}, namespace: foo}\nspec:\n  selector: {matchLabels: {app: web}}\n  jwtRules:\n  - issuer: ${ISSUER}\n    jwksUri: ${uri}\n${extra}`;
}

describe('jwksUri', () => {
  let key1: TestKey;
  let key2: TestKey;
  let server: JwksServer;
  const resolvers: JwksResolver[] = [];
  const servers: http.Server[] = [];

  beforeAll(async () => {
    key1 = await makeKey('ES256', 'k1');
    key2 = await makeKey('RS256', 'k2');
    server = await jwksServer(jwksOf(key1));
  });
  afterAll(async () => {
    for (const r of resolvers) r.close();
    for (const s of servers) await close(s);
    await server.close();
  });

  const app = async (yaml: string, jwks?: JwksResolver): Promise<number> => {
    const authz = createAuthzMiddleware({
      engine: engineFrom(yaml),
      workload,
      ...(jwks === undefined ? {} : { jwks }),
    });
    const s = http.createServer(authz.wrap((_req, res) => res.end('ok')));
    servers.push(s);
    return listen(s);
  };
  const resolver = (options: Parameters<typeof createJwksResolver>[0]): JwksResolver => {
    const r = createJwksResolver(options);
    resolvers.push(r);
    return r;
  };
  const call = async (port: number, key: TestKey, kid = key.kid): Promise<number> => {
    const token = await sign(key, { claims: { iss: ISSUER, sub: 'alice' }, header: { kid } });
    return (await httpRequest(port, '/', { authorization: `Bearer ${token}` })).status;
  };

  it('fetches once for many requests (concurrent and sequential)', async () => {
    const port = await app(ra('cache', `http://127.0.0.1:${server.port}/cache`));
    const statuses = await Promise.all(Array.from({ length: 20 }, () => call(port, key1)));
    expect(statuses).toEqual(Array(20).fill(200));
    for (let i = 0; i < 10; i++) expect(await call(port, key1)).toBe(200);
    expect(server.hits.get('/cache')).toBe(1);
  });

  it('fetches again for a new kid (key rotation); made-up kids then hit the cool-down', async () => {
    server.body = jwksOf(key1);
    const port = await app(ra('rotate', `http://127.0.0.1:${server.port}/rotate`));
    expect(await call(port, key1)).toBe(200);
    expect(server.hits.get('/rotate')).toBe(1);
    server.body = jwksOf(key1, key2);
    expect(await call(port, key2)).toBe(200);
    expect(server.hits.get('/rotate')).toBe(2);
    expect(await call(port, key2)).toBe(200);
    expect(server.hits.get('/rotate')).toBe(2);
    // A kid nobody publishes: one more fetch, then none while the cool-down lasts.
    expect(await call(port, key1, 'made-up-1')).toBe(401);
    expect(await call(port, key1, 'made-up-2')).toBe(401);
    expect(server.hits.get('/rotate')).toBe(3);
    server.body = jwksOf(key1);
  });

  it('a JWKS that cannot be fetched fails closed: 401 "Jwt verification fails"', async () => {
    server.mode = 'fail';
    try {
      const jwks = resolver({ retryIntervalMs: 50, retries: 2 });
      const port = await app(ra('down', `http://127.0.0.1:${server.port}/down`), jwks);
      const r = await httpRequest(port, '/', {
        authorization: `Bearer ${await sign(key1, { claims: { iss: ISSUER, sub: 'alice' } })}`,
      });
      expect(r.status).toBe(401);
      expect(r.body).toBe('Jwt verification fails');
      // A request without a token still passes: there is nothing to verify.
      expect((await httpRequest(port, '/')).status).toBe(200);
      // The background retry picks the keys up once the server is back.
      server.mode = 'ok';
      await new Promise((resolve) => setTimeout(resolve, 400));
      expect(await call(port, key1)).toBe(200);
    } finally {
      server.mode = 'ok';
    }
  });

  it('a slow JWKS server times out after the rule timeout: 401', async () => {
    server.mode = 'slow';
    try {
      const jwks = resolver({ retries: 0, retryIntervalMs: 10_000 });
      const port = await app(ra('slow', `http://127.0.0.1:${server.port}/slow`, '    timeout: 0.2s\n'), jwks);
      const started = Date.now();
      expect(await call(port, key1)).toBe(401);
      expect(Date.now() - started).toBeLessThan(2500);
    } finally {
      server.mode = 'ok';
    }
  });

  it('refreshes on the schedule; a failed refresh keeps the keys it had', async () => {
    server.body = jwksOf(key1);
    const jwks = resolver({ refreshIntervalMs: 150, refreshIntervalOnFailureMs: 150, retries: 0 });
    const port = await app(ra('scheduled', `http://127.0.0.1:${server.port}/scheduled`), jwks);
    expect(await call(port, key1)).toBe(200);
    const before = server.hits.get('/scheduled') ?? 0;
    server.body = jwksOf(key2);
    await new Promise((resolve) => setTimeout(resolve, 500));
    expect(server.hits.get('/scheduled') ?? 0).toBeGreaterThan(before);
    // The refreshed set has k2 only: k2 verifies without another fetch, k1 no longer does.
    const afterRefresh = server.hits.get('/scheduled') ?? 0;
    expect(await call(port, key2)).toBe(200);
    server.mode = 'fail';
    await new Promise((resolve) => setTimeout(resolve, 400));
    expect(await call(port, key2)).toBe(200);
    expect(server.hits.get('/scheduled') ?? 0).toBeGreaterThan(afterRefresh);
    server.mode = 'ok';
    server.body = jwksOf(key1);
  });

  it('without a jwksUri, the issuer discovery document names it', async () => {
    server.body = jwksOf(key1);
    const issuer = `http://127.0.0.1:${server.port}`;
    const yaml = `apiVersion: security.istio.io/v1\nkind: RequestAuthentication\nmetadata: {name: discovery, namespace: foo}\nspec:\n  jwtRules:\n  - issuer: ${issuer}\n`;
    const port = await app(yaml);
    const token = await sign(key1, { claims: { iss: issuer, sub: 'alice' } });
    expect((await httpRequest(port, '/', { authorization: `Bearer ${token}` })).status).toBe(200);
    expect(server.hits.get('/.well-known/openid-configuration')).toBe(1);
    expect(server.hits.get('/discovered')).toBe(1);
  });
});
