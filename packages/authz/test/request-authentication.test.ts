// RequestAuthentication through createAuthzMiddleware over real HTTP, the same cases in node:http, Express 4
// (app-level and mounted under /api) and Fastify: token locations, every verification failure with Envoy's
// status, body and www-authenticate, output headers, stripping, merged rules, claims in `when`,
// requestPrincipals with wildcards, and getRequestAuthn. The clock is injected (`now`).
import http from 'node:http';
import express from 'express';
import { fastify } from 'fastify';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  type AuthzMiddleware,
  createAuthzMiddleware,
  getRequestAuthn,
  type NodeHttpRequest,
  type NodeHttpResponse,
  RBAC_DENIED_BODY,
} from '../src/index.js';
import { close, httpRequest, listen, type RawReply } from './http-support.js';
import { hs256, jwksOf, makeKey, sign, type TestKey, tamper, unsecured } from './jwt-support.js';
import { engineFrom, policy } from './support.js';

const NOW_MS = 1_700_000_000_000;
const NOW = NOW_MS / 1000;
const ISSUER = 'https://issuer.example';
const OTHER = 'https://other.example';
const workload = { kind: 'sidecar', namespace: 'foo', labels: { app: 'web' } } as const;

let rsa: TestKey;
let ec: TestKey;
let ed: TestKey;
let other: TestKey;
let rogue: TestKey;

function requestAuthentication(name: string, spec: string): string {
  return `apiVersion: security.istio.io/v1\nkind: RequestAuthentication\nmetadata: {name: ${name}, namespace: foo}\nspec:\n${spec
    .split('\n')
    .map((l) => `  ${l}`)
    .join('\n')}\n---\n`;
}

function policies(): string {
  return (
    requestAuthentication(
      'jwt',
      `selector: {matchLabels: {app: web}}
jwtRules:
- issuer: ${ISSUER}
  jwks: '${jwksOf(rsa, ec, ed)}'
  audiences: [web]
  outputPayloadToHeader: x-jwt-payload
  outputClaimToHeaders:
  - {header: x-jwt-sub, claim: sub}
  - {header: x-jwt-team, claim: org.team}
  - {header: x-jwt-level, claim: level}
  - {header: x-jwt-admin, claim: admin}`,
    ) +
    requestAuthentication(
      'jwt-other',
      `selector: {matchLabels: {app: web}}
jwtRules:
- issuer: ${OTHER}
  jwks: '${jwksOf(other)}'
  fromHeaders: [{name: x-token, prefix: "Token "}]
  fromParams: [tok]
  fromCookies: [session]
  forwardOriginalToken: true`,
    ) +
    policy(
      'foo/deny-blocked',
      'action: DENY\nrules: [{when: [{key: "request.auth.claims[groups]", values: ["blocked"]}]}]',
    ) +
    policy(
      'foo/allow',
      `rules:
- to: [{operation: {paths: ["/api/public*"]}}]
- from: [{source: {requestPrincipals: ["${ISSUER}/*"]}}]
  to: [{operation: {paths: ["/api/issuer/*"]}}]
- from: [{source: {requestPrincipals: ["*/carol"]}}]
  to: [{operation: {paths: ["/api/carol"]}}]
- from: [{source: {requestPrincipals: ["*"]}}]
  to: [{operation: {paths: ["/api/any-token"]}}]
- from: [{source: {requestPrincipals: ["*example/bob"]}}]
  to: [{operation: {paths: ["/api/other"]}}]
- from: [{source: {requestPrincipals: ["${ISSUER}/al*"]}}]
  to: [{operation: {paths: ["/api/al"]}}]
- to: [{operation: {paths: ["/api/team"]}}]
  when: [{key: "request.auth.claims[org][team]", values: ["core"]}]
- to: [{operation: {paths: ["/api/scope"]}}]
  when: [{key: "request.auth.claims[scope]", values: ["write"]}]
- to: [{operation: {paths: ["/api/aud"]}}]
  when: [{key: "request.auth.audiences", values: ["web"]}, {key: "request.auth.presenter", values: ["cli"]}]`,
    )
  );
}

interface Echo {
  readonly url: string;
  readonly headers: Record<string, string | string[]>;
  readonly query?: Record<string, unknown>;
  readonly authn: ReturnType<typeof getRequestAuthn> | null;
}

type Framework = 'node' | 'express' | 'express-mounted' | 'fastify';
const FRAMEWORKS: Framework[] = ['node', 'express', 'express-mounted', 'fastify'];

async function start(
  framework: Framework,
  authz: AuthzMiddleware,
): Promise<{ port: number; server: http.Server }> {
  const echo = (req: NodeHttpRequest): string =>
    JSON.stringify({
      url: (req as { originalUrl?: string }).originalUrl ?? req.url,
      headers: req.headers,
      query: (req as { query?: unknown }).query,
      authn: getRequestAuthn(req) ?? null,
    });
  if (framework === 'node') {
    const server = http.createServer(
      authz.wrap((req: NodeHttpRequest, res: NodeHttpResponse) => res.end(echo(req))),
    );
    return { port: await listen(server), server };
  }
  if (framework === 'fastify') {
    const app = fastify();
    app.addHook('onRequest', authz.fastify);
    app.all('/*', async (request) => ({
      url: request.url,
      headers: request.headers,
      query: request.query,
      authn: getRequestAuthn(request) ?? null,
    }));
    await app.listen({ port: 0, host: '127.0.0.1' });
    return { port: (app.server.address() as { port: number }).port, server: app.server };
  }
  const app = express();
  const handler = (req: express.Request, res: express.Response): void => {
    res.type('application/json').send(echo(req));
  };
  if (framework === 'express') {
    app.use(authz);
    app.all('*', handler);
  } else {
    const router = express.Router();
    router.all('*', handler);
    app.use('/api', authz, router);
  }
  const server = http.createServer(app);
  return { port: await listen(server), server };
}

const claims = (sub: string, extra: Record<string, unknown> = {}): Record<string, unknown> => ({
  iss: ISSUER,
  sub,
  aud: 'web',
  exp: NOW + 3600,
  ...extra,
});

describe.each(FRAMEWORKS)('RequestAuthentication in %s', (framework) => {
  let server: http.Server;
  let port: number;
  const get = (path: string, headers: Record<string, string> = {}): Promise<RawReply> =>
    httpRequest(port, path, headers);
  const echoOf = (r: RawReply): Echo => JSON.parse(r.body) as Echo;
  const bearer = (token: string): Record<string, string> => ({ authorization: `Bearer ${token}` });

  beforeAll(async () => {
    rsa ??= await makeKey('RS256', 'rsa-1');
    ec ??= await makeKey('ES256', 'ec-1');
    ed ??= await makeKey('EdDSA', 'ed-1');
    other ??= await makeKey('ES256', 'other-1');
    rogue ??= await makeKey('RS256', 'rsa-1');
    const engine = engineFrom(policies());
    const authz = createAuthzMiddleware({ engine, workload, now: NOW_MS });
    ({ server, port } = await start(framework, authz));
  });
  afterAll(() => close(server));

  it('no token: allowed where no identity is needed, with no identity; denied by RBAC elsewhere', async () => {
    const r = await get('/api/public');
    expect(r.status).toBe(200);
    expect(echoOf(r).authn).toBeNull();
    expect(await get('/api/issuer/x')).toMatchObject({ status: 403, body: RBAC_DENIED_BODY });
  });

  it('Authorization: Bearer with RS256, ES256 and EdDSA: the identity, output headers, token stripped', async () => {
    for (const key of [rsa, ec, ed]) {
      const token = await sign(key, {
        claims: claims('alice', { org: { team: 'core' }, level: 3, admin: true, azp: 'cli' }),
      });
      const r = await get('/api/issuer/x', bearer(token));
      expect(r.status, key.alg).toBe(200);
      const echo = echoOf(r);
      expect(echo.authn).toEqual({
        principal: `${ISSUER}/alice`,
        claims: claims('alice', { org: { team: 'core' }, level: 3, admin: true, azp: 'cli' }),
        audiences: ['web'],
        presenter: 'cli',
      });
      expect(echo.headers['authorization']).toBeUndefined();
      expect(echo.headers['x-jwt-payload']).toBe(token.split('.')[1]);
      expect(echo.headers['x-jwt-sub']).toBe('alice');
      expect(echo.headers['x-jwt-team']).toBe('core');
      expect(echo.headers['x-jwt-level']).toBe('3');
      expect(echo.headers['x-jwt-admin']).toBe('true');
    }
  });

  it('the access_token query parameter (default location) is verified and removed from the URL', async () => {
    const token = await sign(ec, { claims: claims('alice') });
    const r = await get(`/api/issuer/x?a=1&access_token=${token}&b=2`);
    expect(r.status).toBe(200);
    const echo = echoOf(r);
    expect(echo.url).toBe('/api/issuer/x?a=1&b=2');
    expect(echo.authn?.principal).toBe(`${ISSUER}/alice`);
    if (echo.query !== undefined) expect(echo.query).not.toHaveProperty('access_token');
  });

  it('the prefix is compared as Envoy does: case-sensitive, found anywhere in the value', async () => {
    const token = await sign(rsa, { claims: claims('alice') });
    // "bearer " is not "Bearer ": no token at that location; the request has no identity.
    expect((await get('/api/issuer/x', { authorization: `bearer ${token}` })).status).toBe(403);
    const kept = await get('/api/public', { authorization: `bearer ${token}` });
    expect(echoOf(kept).headers['authorization']).toBe(`bearer ${token}`);
    expect((await get('/api/issuer/x', { authorization: `Custom,Bearer ${token}` })).status).toBe(200);
  });

  it('fromHeaders with a prefix, fromParams, fromCookies of another rule (forwardOriginalToken keeps them)', async () => {
    const token = await sign(other, { claims: { iss: OTHER, sub: 'bob', exp: NOW + 60 } });
    const viaHeader = await get('/api/other', { 'x-token': `Token ${token}` });
    expect(viaHeader.status).toBe(200);
    expect(echoOf(viaHeader).headers['x-token']).toBe(`Token ${token}`);
    expect(echoOf(viaHeader).authn?.principal).toBe(`${OTHER}/bob`);
    const viaParam = await get(`/api/other?tok=${token}`);
    expect(viaParam.status).toBe(200);
    expect(echoOf(viaParam).url).toBe(`/api/other?tok=${token}`);
    const viaCookie = await get('/api/other', { cookie: `theme=dark; session=${token}` });
    expect(viaCookie.status).toBe(200);
    expect(echoOf(viaCookie).authn?.principal).toBe(`${OTHER}/bob`);
    // The issuer's token in the default location of the first rule is an unknown issuer there.
    expect(await get('/api/other', bearer(token))).toMatchObject({
      status: 401,
      body: 'Jwt issuer is not configured',
    });
  });

  const failures: [string, () => Promise<string>, number, string][] = [
    ['expired', () => sign(rsa, { claims: claims('alice', { exp: NOW - 61 }) }), 401, 'Jwt is expired'],
    [
      'nbf in the future',
      () => sign(rsa, { claims: claims('alice', { nbf: NOW + 61 }) }),
      401,
      'Jwt not yet valid',
    ],
    [
      'wrong issuer',
      () => sign(rsa, { claims: claims('alice', { iss: 'https://evil.example' }) }),
      401,
      'Jwt issuer is not configured',
    ],
    [
      'wrong audience',
      () => sign(rsa, { claims: claims('alice', { aud: ['other'] }) }),
      403,
      'Audiences in Jwt are not allowed',
    ],
    [
      'unknown kid',
      () => sign(rsa, { claims: claims('alice'), header: { kid: 'nope' } }),
      401,
      "Jwks doesn't have key to match kid or alg from Jwt",
    ],
    ['a key not in the JWKS', () => sign(rogue, { claims: claims('alice') }), 401, 'Jwt verification fails'],
    // An unsecured JWT ends with an empty section, which Envoy's split skips: two sections.
    [
      'alg none',
      async () => unsecured(claims('alice')),
      401,
      'Jwt is not in the form of Header.Payload.Signature with two dots and 3 sections',
    ],
    [
      'alg none with a signature',
      async () => `${unsecured(claims('alice'))}c2ln`,
      401,
      'Jwt header [alg] is not supported',
    ],
    [
      'HS256 with a string secret',
      async () => hs256('secret', claims('alice')),
      401,
      "Jwks doesn't have key to match kid or alg from Jwt",
    ],
    [
      'HS256 keyed with the RSA public key',
      async () => hs256(rsa.publicPem, claims('alice'), 'rsa-1'),
      401,
      "Jwks doesn't have key to match kid or alg from Jwt",
    ],
    [
      'a tampered payload',
      async () => tamper(await sign(ec, { claims: claims('alice') }), claims('mallory')),
      401,
      'Jwt verification fails',
    ],
    [
      'a malformed token',
      async () => 'abc.def',
      401,
      'Jwt is not in the form of Header.Payload.Signature with two dots and 3 sections',
    ],
  ];
  for (const [name, token, status, body] of failures) {
    it(`${name}: ${status} "${body}" with www-authenticate, before authorization`, async () => {
      const r = await get('/api/public/x?q=1', bearer(await token()));
      expect(r.status).toBe(status);
      expect(r.body).toBe(body);
      expect(r.headers['www-authenticate']).toBe(
        `Bearer realm="http://127.0.0.1:${port}/api/public/x?q=1", error="invalid_token"`,
      );
    });
  }

  it('60 s of clock skew on exp and nbf', async () => {
    const at = async (extra: Record<string, unknown>): Promise<number> =>
      (await get('/api/issuer/x', bearer(await sign(ec, { claims: claims('alice', extra) })))).status;
    expect(await at({ exp: NOW - 59 })).toBe(200);
    expect(await at({ exp: NOW - 61 })).toBe(401);
    expect(await at({ nbf: NOW + 59 })).toBe(200);
    expect(await at({ nbf: NOW + 61 })).toBe(401);
  });

  it('an audience is compared without its scheme and trailing slash (jwt_verify_lib sanitizeAudience)', async () => {
    const token = await sign(rsa, { claims: claims('alice', { aud: ['https://web/'] }) });
    expect((await get('/api/issuer/x', bearer(token))).status).toBe(200);
  });

  it('output headers cannot be spoofed: they are removed from requests without a token', async () => {
    const r = await get('/api/public', { 'x-jwt-sub': 'admin', 'x-jwt-payload': 'forged' });
    expect(r.status).toBe(200);
    expect(echoOf(r).headers['x-jwt-sub']).toBeUndefined();
    expect(echoOf(r).headers['x-jwt-payload']).toBeUndefined();
  });

  it('claims in `when`: lists, nested [a][b], space-delimited scope, audiences and presenter', async () => {
    const at = async (path: string, extra: Record<string, unknown>): Promise<number> =>
      (await get(path, bearer(await sign(ec, { claims: claims('alice', extra) })))).status;
    expect(await at('/api/issuer/x', { groups: ['dev', 'blocked'] })).toBe(403);
    expect(await at('/api/issuer/x', { groups: ['dev'] })).toBe(200);
    expect(await at('/api/team', { org: { team: 'core' } })).toBe(200);
    expect(await at('/api/team', { org: { team: 'edge' } })).toBe(403);
    expect(await at('/api/scope', { scope: 'read write' })).toBe(200);
    expect(await at('/api/scope', { scope: 'read' })).toBe(403);
    expect(await at('/api/aud', { azp: 'cli' })).toBe(200);
    expect(await at('/api/aud', { azp: 'web-ui' })).toBe(403);
  });

  it('requestPrincipals with * as prefix, suffix and presence', async () => {
    const at = async (path: string, sub: string): Promise<number> =>
      (await get(path, bearer(await sign(rsa, { claims: claims(sub) })))).status;
    expect(await at('/api/carol', 'carol')).toBe(200);
    expect(await at('/api/carol', 'dave')).toBe(403);
    expect(await at('/api/any-token', 'zed')).toBe(200);
    expect((await get('/api/any-token')).status).toBe(403);
    const otherToken = await sign(other, { claims: { iss: OTHER, sub: 'bob', exp: NOW + 60 } });
    expect((await get('/api/other', { 'x-token': `Token ${otherToken}` })).status).toBe(200);
    expect(await at('/api/other', 'alice')).toBe(403);
    expect(await at('/api/al', 'alice')).toBe(200);
    expect(await at('/api/al', 'bob')).toBe(403);
  });
});

describe('merged RequestAuthentications (istio tests/integration/security/jwt "aud": policies are combined)', () => {
  it('a second policy with the same issuer and no audiences admits what the first one would refuse', async () => {
    rsa ??= await makeKey('RS256', 'rsa-1');
    const yaml =
      requestAuthentication(
        'part1',
        `selector: {matchLabels: {app: web}}\njwtRules:\n- {issuer: ${ISSUER}, jwks: '${jwksOf(rsa)}', audiences: [foo]}`,
      ) +
      requestAuthentication(
        'part2',
        `selector: {matchLabels: {app: web}}\njwtRules:\n- {issuer: ${ISSUER}, jwks: '${jwksOf(rsa)}'}`,
      );
    const only1 = requestAuthentication(
      'part1',
      `selector: {matchLabels: {app: web}}\njwtRules:\n- {issuer: ${ISSUER}, jwks: '${jwksOf(rsa)}', audiences: [foo]}`,
    );
    const token = await sign(rsa, { claims: { iss: ISSUER, sub: 'alice', aud: 'bar' } });
    for (const [text, status] of [
      [only1, 403],
      [yaml, 200],
    ] as const) {
      const authz = createAuthzMiddleware({ engine: engineFrom(text), workload, now: NOW_MS });
      const server = http.createServer(authz.wrap((_req, res) => res.end('ok')));
      const port = await listen(server);
      try {
        expect((await httpRequest(port, '/', { authorization: `Bearer ${token}` })).status).toBe(status);
      } finally {
        await close(server);
      }
    }
  });
});
