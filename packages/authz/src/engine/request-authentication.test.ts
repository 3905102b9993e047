import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { parsePolicies } from './parse.js';
import { parseDurationMs, validateRequestAuthentication } from './request-authentication.js';
import { groupSecurityPolicies } from './security-policy.js';

const JWKS = JSON.stringify({
  keys: [
    {
      kty: 'EC',
      crv: 'P-256',
      x: 'f83OJ3D2xF1Bg8vub9tLe1gHMzV76e8Tus9uPHvRVEU',
      y: 'x_FEzRu9m36HLN_tue659LNpXW6pCyStikYjKIWI5a0',
    },
  ],
});

function ra(spec: unknown): Record<string, unknown> {
  return {
    apiVersion: 'security.istio.io/v1',
    kind: 'RequestAuthentication',
    metadata: { name: 'jwt', namespace: 'foo' },
    spec,
  };
}

const fullRule = {
  issuer: 'https://issuer.example',
  audiences: ['web'],
  jwks: JWKS,
  fromHeaders: [{ name: 'x-jwt', prefix: 'Bearer ' }],
  fromParams: ['token'],
  fromCookies: ['session'],
  outputPayloadToHeader: 'x-payload',
  outputClaimToHeaders: [{ header: 'x-sub', claim: 'sub' }],
  forwardOriginalToken: true,
  timeout: '1.5s',
  spaceDelimitedClaims: ['roles'],
};

const errorsOf = (raw: unknown) =>
  validateRequestAuthentication(raw).match(
    () => [],
    (errors) => errors.map((e) => [e.code, e.path]),
  );

describe('validateRequestAuthentication (CRD schema + istiod ValidateRequestAuthentication/validateJwtRule)', () => {
  it('accepts every field of JWTRule and returns it normalized', () => {
    const r = validateRequestAuthentication(
      ra({ selector: { matchLabels: { app: 'web' } }, jwtRules: [fullRule] }),
    );
    expect(r.isOk() && r.value.spec.jwtRules?.[0]).toEqual(fullRule);
    expect(r.isOk() && r.value.metadata).toEqual({ name: 'jwt', namespace: 'foo' });
  });

  it('rejects an unknown field at every depth, with its path (property)', () => {
    const base = ra({ selector: { matchLabels: { app: 'web' } }, jwtRules: [fullRule] });
    const paths: [string[], string][] = [
      [[], 'typo'],
      [['spec'], 'spec.typo'],
      [['spec', 'selector'], 'spec.selector.typo'],
      [['spec', 'jwtRules', '0'], 'spec.jwtRules[0].typo'],
      [['spec', 'jwtRules', '0', 'fromHeaders', '0'], 'spec.jwtRules[0].fromHeaders[0].typo'],
      [
        ['spec', 'jwtRules', '0', 'outputClaimToHeaders', '0'],
        'spec.jwtRules[0].outputClaimToHeaders[0].typo',
      ],
    ];
    fc.assert(
      fc.property(
        fc.constantFrom(...paths),
        fc.string({ minLength: 1, maxLength: 12 }).filter((k) => /^[a-z][a-zA-Z]*$/.test(k)),
        ([at, expected], key) => {
          const doc = structuredClone(base);
          let node: Record<string, unknown> = doc;
          for (const step of at) node = node[step] as Record<string, unknown>;
          if (Object.hasOwn(node, key)) return;
          node[key] = 'x';
          const errors = errorsOf(doc);
          expect(errors).toContainEqual(['AUTHZ_ERR_SCHEMA', expected.replace(/typo$/, key)]);
        },
      ),
    );
  });

  it("applies istiod's rules", () => {
    expect(errorsOf(ra({ jwtRules: [{}] }))).toEqual([['AUTHZ_ERR_INVALID_POLICY', 'spec.jwtRules[0]']]);
    expect(errorsOf(ra({ jwtRules: [{ jwksUri: 'https://x/jwks' }] }))).toEqual([]);
    expect(errorsOf(ra({ jwtRules: [{ issuer: 'i', audiences: [''] }] }))).toEqual([
      ['AUTHZ_ERR_INVALID_POLICY', 'spec.jwtRules[0].audiences[0]'],
    ]);
    expect(errorsOf(ra({ jwtRules: [{ issuer: 'i', jwksUri: 'ftp://x/jwks' }] }))).toEqual([
      ['AUTHZ_ERR_INVALID_POLICY', 'spec.jwtRules[0].jwksUri'],
    ]);
    expect(errorsOf(ra({ jwtRules: [{ issuer: 'i', jwks: '{not json' }] }))).toEqual([
      ['AUTHZ_ERR_INVALID_POLICY', 'spec.jwtRules[0].jwks'],
    ]);
    expect(errorsOf(ra({ jwtRules: [{ issuer: 'i', fromHeaders: [{ prefix: 'x' }] }] }))).toEqual([
      ['AUTHZ_ERR_INVALID_POLICY', 'spec.jwtRules[0].fromHeaders[0].name'],
    ]);
    expect(errorsOf(ra({ jwtRules: [{ issuer: 'i', fromParams: [''] }] }))).toEqual([
      ['AUTHZ_ERR_INVALID_POLICY', 'spec.jwtRules[0].fromParams[0]'],
    ]);
    expect(
      errorsOf(ra({ jwtRules: [{ issuer: 'i', outputClaimToHeaders: [{ header: 'x y', claim: 'sub' }] }] })),
    ).toEqual([['AUTHZ_ERR_INVALID_POLICY', 'spec.jwtRules[0].outputClaimToHeaders[0].header']]);
    expect(errorsOf(ra({ jwtRules: [{ issuer: 'i', timeout: '0.0001s' }] }))).toEqual([
      ['AUTHZ_ERR_INVALID_POLICY', 'spec.jwtRules[0].timeout'],
    ]);
    expect(errorsOf(ra({ jwtRules: [{ issuer: 'i', forwardOriginalToken: 'yes' }] }))).toEqual([
      ['AUTHZ_ERR_SCHEMA', 'spec.jwtRules[0].forwardOriginalToken'],
    ]);
    expect(
      errorsOf(
        ra({
          selector: { matchLabels: { a: 'b' } },
          targetRefs: [{ kind: 'Service', name: 'web' }],
          jwtRules: [],
        }),
      ),
    ).toEqual([['AUTHZ_ERR_INVALID_POLICY', 'spec']]);
    expect(errorsOf(ra({ targetRefs: [{ kind: 'Pod', name: 'web' }] }))).toEqual([
      ['AUTHZ_ERR_INVALID_POLICY', 'spec.targetRefs[0]'],
    ]);
  });

  it('parses durations as protobuf Durations to millisecond precision', () => {
    expect(parseDurationMs('5s')).toEqual({ ok: true, ms: 5000 });
    expect(parseDurationMs('0.25s')).toEqual({ ok: true, ms: 250 });
    expect(parseDurationMs('250ms').ok).toBe(false);
    expect(parseDurationMs('0s').ok).toBe(false);
  });
});

describe('parsePolicies with several kinds, as kubectl apply takes them', () => {
  const ap =
    'apiVersion: security.istio.io/v1\nkind: AuthorizationPolicy\nmetadata: {name: allow, namespace: foo}\nspec: {rules: [{}]}\n';
  const raDoc =
    'apiVersion: security.istio.io/v1beta1\nkind: RequestAuthentication\nmetadata: {name: jwt, namespace: foo}\nspec:\n  jwtRules: [{issuer: "https://i", jwksUri: "https://i/jwks"}]\n';
  const paDoc =
    'apiVersion: security.istio.io/v1\nkind: PeerAuthentication\nmetadata: {name: default, namespace: istio-system}\nspec: {mtls: {mode: STRICT}}\n';

  it('returns all three kinds in document order, and a List of them', () => {
    const parsed = parsePolicies(`${ap}---\n${raDoc}---\n${paDoc}`)._unsafeUnwrap();
    expect(parsed.map((p) => p.kind)).toEqual([
      'AuthorizationPolicy',
      'RequestAuthentication',
      'PeerAuthentication',
    ]);
    const grouped = groupSecurityPolicies(parsed);
    expect(grouped.requestAuthentications[0]?.spec.jwtRules?.[0]?.issuer).toBe('https://i');
    const list = JSON.stringify({ apiVersion: 'v1', kind: 'List', items: parsed });
    expect(parsePolicies(list)._unsafeUnwrap()).toHaveLength(3);
  });

  it('reports a document of another kind by kind and name, never dropping it', () => {
    const vs =
      'apiVersion: networking.istio.io/v1\nkind: VirtualService\nmetadata: {name: reviews, namespace: foo}\nspec: {}\n';
    const r = parsePolicies(`${ap}---\n${vs}`, { source: 'mesh.yaml' });
    expect(r.isErr()).toBe(true);
    const [error] = r.isErr() ? r.error : [];
    expect([error?.code, error?.policy, error?.kind]).toEqual([
      'AUTHZ_ERR_NOT_A_POLICY',
      'foo/reviews',
      'VirtualService',
    ]);
    expect(error?.message).toContain('kind VirtualService (networking.istio.io/v1) is not handled');
  });

  it('duplicates are per kind: an AuthorizationPolicy and a RequestAuthentication may share a name', () => {
    const same = raDoc.replace('name: jwt', 'name: allow');
    expect(parsePolicies(`${ap}---\n${same}`).isOk()).toBe(true);
    expect(parsePolicies(`${same}---\n${same}`)._unsafeUnwrapErr()[0]?.code).toBe(
      'AUTHZ_ERR_DUPLICATE_POLICY',
    );
  });
});
