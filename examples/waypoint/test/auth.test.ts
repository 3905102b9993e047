/**
 * RequestAuthentication and AuthorizationPolicy at the waypoint over real HBONE, in Envoy's order: a token
 * that fails is 401 (403 for an audience that is not allowed) before RBAC; no token is no identity, which a
 * policy requiring one denies with 403 `RBAC: access denied`; a good token is the request principal, its
 * claims go to headers and the token is stripped; RequestAuthentications attach by `targetRefs` to the
 * service or by `selector` to the waypoint; the source principal is the HBONE peer's verified identity.
 */
import { exportJWK, generateKeyPair, SignJWT } from 'jose';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { echo, h1, startTestMesh, type TestMesh } from './support/mesh.js';

let mesh: TestMesh;
type Key = Awaited<ReturnType<typeof generateKeyPair>>['privateKey'];
let issuerKey: Key;
let otherKey: Key;
let gatewayKey: Key;

async function token(
  key: Key,
  claims: { iss?: string; sub?: string; aud?: string; exp?: number; kid?: string } = {},
): Promise<string> {
  const now = Math.floor(Date.now() / 1000);
  return new SignJWT({})
    .setProtectedHeader({ alg: 'ES256', kid: claims.kid ?? 'k1' })
    .setIssuer(claims.iss ?? 'https://issuer.example')
    .setSubject(claims.sub ?? 'alice')
    .setAudience(claims.aud ?? 'reviews')
    .setExpirationTime(claims.exp ?? now + 600)
    .sign(key);
}

let baseConfig = '';
let gatewayConfig = '';

beforeAll(async () => {
  const pair = await generateKeyPair('ES256');
  issuerKey = pair.privateKey;
  otherKey = (await generateKeyPair('ES256')).privateKey;
  const gw = await generateKeyPair('ES256');
  gatewayKey = gw.privateKey;
  const jwks = JSON.stringify({ keys: [{ ...(await exportJWK(pair.publicKey)), kid: 'k1', alg: 'ES256' }] });
  const gwJwks = JSON.stringify({ keys: [{ ...(await exportJWK(gw.publicKey)), kid: 'g1', alg: 'ES256' }] });
  baseConfig = `apiVersion: security.istio.io/v1
kind: RequestAuthentication
metadata: {name: reviews-jwt, namespace: default}
spec:
  targetRefs: [{kind: Service, group: "", name: reviews}]
  jwtRules:
  - issuer: https://issuer.example
    jwks: '${jwks}'
    audiences: [reviews]
    outputClaimToHeaders: [{header: x-user, claim: sub}]
---
apiVersion: security.istio.io/v1
kind: AuthorizationPolicy
metadata: {name: reviews, namespace: default}
spec:
  targetRefs: [{kind: Service, group: "", name: reviews}]
  rules:
  - from: [{source: {principals: ["cluster.local/ns/default/sa/sleep"]}}]
    to: [{operation: {paths: ["/public*"]}}]
  - from: [{source: {requestPrincipals: ["https://issuer.example/*", "https://gateway.example/*"]}}]
    to: [{operation: {paths: ["/private*"]}}]
`;
  gatewayConfig = `---
apiVersion: security.istio.io/v1
kind: RequestAuthentication
metadata: {name: waypoint-jwt, namespace: default}
spec:
  targetRefs: [{kind: Gateway, group: gateway.networking.k8s.io, name: waypoint}]
  jwtRules:
  - issuer: https://gateway.example
    jwks: '${gwJwks}'
---
# A selector picking the waypoint's pods: Istio's waypoints never use selectors (ShouldAttachPolicy).
apiVersion: security.istio.io/v1
kind: RequestAuthentication
metadata: {name: selector-jwt, namespace: default}
spec:
  selector: {matchLabels: {gateway.networking.k8s.io/gateway-name: waypoint}}
  jwtRules:
  - issuer: https://selector.example
    jwks: '${gwJwks}'
`;
  mesh = await startTestMesh({
    subnet: 45,
    pods: [
      { name: 'reviews-v1', octet: 20, app: 'reviews', version: 'v1', services: { reviews: { 9080: 9080 } } },
    ],
    services: [{ name: 'reviews', vipOctet: 20, ports: { 9080: 9080 } }],
    config: baseConfig,
  });
});
afterAll(async () => {
  await mesh?.close();
});

const ask = async (path: string, headers: Record<string, string> = {}, serviceAccount?: string) =>
  h1(await mesh.tunnel('reviews', 9080, serviceAccount), { path, headers });
const log = (path: string) => [...mesh.logs].reverse().find((l) => l.path === path);

describe('RequestAuthentication, then AuthorizationPolicy', () => {
  it('lets a request without a token through unauthenticated: allowed where no identity is needed, 403 where one is', async () => {
    expect((await ask('/public/1')).status).toBe(200);
    const denied = await ask('/private/1');
    expect([denied.status, denied.body]).toEqual([403, 'RBAC: access denied']);
    expect(log('/private/1')?.responseCodeDetails).toBe('rbac_access_denied_matched_policy[none]');
  });

  it('admits a valid token: the principal is authorized, the claim is a header, the token is stripped', async () => {
    const answer = await ask('/private/2', { authorization: `Bearer ${await token(issuerKey)}` });
    expect(answer.status).toBe(200);
    const e = echo(answer);
    expect(e.headers['x-user']).toBe('alice');
    expect(e.headers['authorization']).toBeUndefined();
    // From the query parameter too, removed from the path the backend sees.
    const viaQuery = await ask(`/private/3?access_token=${await token(issuerKey)}&x=1`);
    expect(viaQuery.status).toBe(200);
    expect(echo(viaQuery).path).toBe('/private/3?x=1');
  });

  it("answers a token that fails before RBAC runs: 401 with Envoy's text, 403 for a wrong audience", async () => {
    const expired = await ask('/private/4', {
      authorization: `Bearer ${await token(issuerKey, { exp: Math.floor(Date.now() / 1000) - 600 })}`,
    });
    expect([expired.status, expired.body]).toEqual([401, 'Jwt is expired']);
    expect(expired.headers['www-authenticate']).toMatch(
      /^Bearer realm="http:\/\/[^"]+\/private\/4", error="invalid_token"$/,
    );
    expect(log('/private/4')).toMatchObject({
      responseCode: 401,
      responseCodeDetails: 'jwt_authn_access_denied',
    });
    const forged = await ask('/public/5', { authorization: `Bearer ${await token(otherKey)}` });
    expect([forged.status, forged.body]).toEqual([401, 'Jwt verification fails']);
    const audience = await ask('/private/6', {
      authorization: `Bearer ${await token(issuerKey, { aud: 'ratings' })}`,
    });
    expect([audience.status, audience.body]).toEqual([403, 'Audiences in Jwt are not allowed']);
  });

  it("applies a RequestAuthentication that targets the waypoint's Gateway; one with a selector is ignored", async () => {
    await mesh.setConfig(baseConfig + gatewayConfig);
    const answer = await ask('/private/7', {
      authorization: `Bearer ${await token(gatewayKey, { iss: 'https://gateway.example', kid: 'g1', aud: 'any' })}`,
    });
    expect(answer.status).toBe(200);
    // istio/istio@067f29f5:pilot/pkg/model/policyattachment.go: "waypoints never use selector".
    const ignored = await ask('/private/7', {
      authorization: `Bearer ${await token(gatewayKey, { iss: 'https://selector.example', kid: 'g1', aud: 'any' })}`,
    });
    expect([ignored.status, ignored.body]).toEqual([401, 'Jwt issuer is not configured']);
    await mesh.setConfig(baseConfig);
  });

  it("judges the HBONE peer's verified identity as the source principal", async () => {
    expect((await ask('/public/8', {}, 'sleep')).status).toBe(200);
    expect((await ask('/public/9', {}, 'notsleep')).status).toBe(403);
    expect(log('/public/9')?.sourcePrincipal).toBe('spiffe://cluster.local/ns/default/sa/notsleep');
  });

  it('keeps the last good configuration when an edit is invalid, and applies a valid one to the next request', async () => {
    const good = mesh.config.current();
    await expect(
      mesh.setConfig(`apiVersion: security.istio.io/v1
kind: AuthorizationPolicy
metadata: {name: broken, namespace: default}
spec: {action: DENY, rules: [{from: [{source: {principles: ["x"]}}]}]}
`),
    ).rejects.toMatchObject({ code: 'WAYPOINT_ERR_CONFIG' });
    expect(mesh.config.current()).toBe(good);
    expect(mesh.config.lastError?.issues[0]?.path).toMatch(/principles/);
    expect((await ask('/public/10')).status).toBe(200);
    await mesh.setConfig(`apiVersion: security.istio.io/v1
kind: AuthorizationPolicy
metadata: {name: reviews, namespace: default}
spec:
  targetRefs: [{kind: Service, group: "", name: reviews}]
  action: DENY
  rules: [{to: [{operation: {paths: ["/public/11"]}}]}]
`);
    expect((await ask('/public/11')).status).toBe(403);
    expect((await ask('/private/12')).status).toBe(200);
  });
});
