// authenticateRequest: RequestAuthentication for proxies that are not node:http (the example waypoint), with
// targetRefs to a Service applied only to that service's traffic at a waypoint.
import { beforeAll, describe, expect, it } from 'vitest';
import { authenticateRequest, type Workload } from '../src/index.js';
import { jwksOf, makeKey, sign, type TestKey } from './jwt-support.js';
import { engineFrom } from './support.js';

const NOW_MS = 1_700_000_000_000;
const waypoint: Workload = {
  kind: 'waypoint',
  namespace: 'default',
  name: 'waypoint',
  labels: { 'gateway.networking.k8s.io/gateway-name': 'waypoint' },
};
const reviews = { kind: 'Service', name: 'reviews', namespace: 'default' } as const;
const ratings = { kind: 'Service', name: 'ratings', namespace: 'default' } as const;

describe('authenticateRequest', () => {
  let key: TestKey;
  let engine: ReturnType<typeof engineFrom>;
  beforeAll(async () => {
    key = await makeKey('EdDSA', 'ed');
    engine = engineFrom(`apiVersion: security.istio.io/v1
kind: RequestAuthentication
metadata: {name: reviews-jwt, namespace: default}
spec:
  targetRefs: [{kind: Service, group: "", name: reviews}]
  jwtRules:
  - issuer: https://issuer.example
    jwks: '${jwksOf(key)}'
    outputClaimToHeaders: [{header: x-user, claim: sub}]
`);
  });
  const token = (exp: number) => sign(key, { claims: { iss: 'https://issuer.example', sub: 'alice', exp } });

  it('applies targetRefs RequestAuthentications to their service at a waypoint', async () => {
    const good = await token(NOW_MS / 1000 + 60);
    const r = await authenticateRequest({
      engine,
      workload: waypoint,
      service: reviews,
      request: {
        path: '/reviews/1',
        host: 'reviews.default',
        headers: { Authorization: `Bearer ${good}`, 'x-user': 'forged' },
      },
      now: NOW_MS,
    });
    expect(r).toMatchObject({
      ok: true,
      authn: { principal: 'https://issuer.example/alice', audiences: [], presenter: undefined },
      jwt: { sub: 'alice' },
      path: '/reviews/1',
      removedHeaders: ['authorization'],
      addedHeaders: [['x-user', 'alice']],
      policy: 'default/reviews-jwt',
    });
    // Another service behind the same waypoint: no rule applies, the token is left alone.
    const other = await authenticateRequest({
      engine,
      workload: waypoint,
      service: ratings,
      request: { path: '/', headers: { authorization: `Bearer ${good}` } },
      now: NOW_MS,
    });
    expect(other).toMatchObject({ ok: true, authn: undefined, removedHeaders: [] });
    // A sidecar ignores targetRefs policies.
    expect(engine.jwtRulesFor({ kind: 'sidecar', namespace: 'default' })).toEqual([]);
  });

  it("answers Envoy's local reply for a failure, the realm from an absolute-form target", async () => {
    const r = await authenticateRequest({
      engine,
      workload: waypoint,
      service: reviews,
      request: {
        path: 'http://reviews.default:9080/r?x=1',
        headers: { authorization: `Bearer ${await token(NOW_MS / 1000 - 61)}` },
      },
      now: NOW_MS,
    });
    expect(r).toEqual({
      ok: false,
      status: 401,
      body: 'Jwt is expired',
      headers: {
        'www-authenticate': 'Bearer realm="http://reviews.default:9080/r?x=1", error="invalid_token"',
      },
      jwtStatus: 'JwtExpired',
    });
    const bad = await authenticateRequest({
      engine,
      workload: waypoint,
      service: reviews,
      request: { path: 'gopher://x', headers: {} },
    });
    expect(bad).toMatchObject({ ok: false, status: 400 });
  });
});
