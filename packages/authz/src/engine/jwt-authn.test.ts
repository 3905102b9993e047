import fc from 'fast-check';
import { exportJWK, generateKeyPair, SignJWT } from 'jose';
import { beforeAll, describe, expect, it } from 'vitest';
import type { AppliedJwtRule } from './engine.js';
import { parseJwks, verifyJwtSignature } from './jwks.js';
import { authenticateJwt, removeQueryParam } from './jwt-authn.js';
import { decodeBase64Url, parseJwt } from './jwt-token.js';
import type { JwtRule } from './request-authentication.js';

const NOW_MS = 1_700_000_000_000;

describe('parseJwt and decodeBase64Url (properties)', () => {
  it('never throws; any string is a parsed token or a jwt_verify_lib status', () => {
    fc.assert(
      fc.property(fc.string({ maxLength: 300 }), (s) => {
        const r = parseJwt(s);
        expect(typeof r === 'string' || typeof r.alg === 'string').toBe(true);
      }),
    );
  });

  it('decodes exactly what Buffer encodes as base64url, with or without padding', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 64 }), (bytes) => {
        const text = Buffer.from(bytes).toString('base64url');
        expect(decodeBase64Url(text)).toEqual(bytes);
        expect(
          decodeBase64Url(Buffer.from(bytes).toString('base64').replace(/\+/g, '-').replace(/\//g, '_')),
        ).toEqual(bytes);
      }),
    );
    expect(decodeBase64Url('a+b/')).toBeUndefined();
    expect(decodeBase64Url('abcde')).toBeUndefined();
  });

  it('parseJwks never throws on arbitrary JSON', async () => {
    await fc.assert(
      fc.asyncProperty(fc.json(), async (text) => {
        const keys = await parseJwks(text);
        expect(['Ok', 'JwksNoValidKeys']).toContain(keys.status);
      }),
      { numRuns: 50 },
    );
  });
});

describe('authenticateJwt: Envoy details', () => {
  let jwks: string;
  let good: string;
  let bad: string;
  let rules: readonly AppliedJwtRule[];
  const applied = (rule: JwtRule, index = 0): AppliedJwtRule => ({ rule, policy: 'foo/jwt', index });

  beforeAll(async () => {
    const { publicKey, privateKey } = await generateKeyPair('ES256');
    jwks = JSON.stringify({ keys: [{ ...(await exportJWK(publicKey)), kid: 'k' }] });
    good = await new SignJWT({ sub: 'alice' })
      .setProtectedHeader({ alg: 'ES256', kid: 'k' })
      .setIssuer('i')
      .sign(privateKey);
    const other = await generateKeyPair('ES256');
    bad = await new SignJWT({ sub: 'mallory' })
      .setProtectedHeader({ alg: 'ES256', kid: 'k' })
      .setIssuer('i')
      .sign(other.privateKey);
    rules = Object.freeze([applied({ issuer: 'i', jwks })]);
  });

  it('a request with two tokens needs both to verify (a good one does not carry a bad one)', async () => {
    const both = await authenticateJwt(
      rules,
      { path: `/?access_token=${bad}`, headers: { authorization: `Bearer ${good}` } },
      { nowMs: NOW_MS },
    );
    expect(both.status).toBe('JwtVerificationFail');
    const one = await authenticateJwt(
      rules,
      { path: '/', headers: { authorization: `Bearer ${good}` } },
      { nowMs: NOW_MS },
    );
    expect(one.status).toBe('Ok');
    expect(one.payload?.['sub']).toBe('alice');
  });

  it('each value of a repeated header is a token', async () => {
    const r = await authenticateJwt(
      rules,
      { path: '/', headers: { authorization: [`Bearer ${good}`, `Bearer ${bad}`] } },
      { nowMs: NOW_MS },
    );
    expect(r.status).toBe('JwtVerificationFail');
  });

  it('the token after the prefix starts at the first base64url character and runs to the end', async () => {
    const r = await authenticateJwt(
      rules,
      { path: '/', headers: { authorization: `Bearer    ${good}` } },
      { nowMs: NOW_MS },
    );
    expect(r.status).toBe('Ok');
    const trailing = await authenticateJwt(
      rules,
      { path: '/', headers: { authorization: `Bearer ${good} x` } },
      { nowMs: NOW_MS },
    );
    expect(trailing.status).toBe('JwtSignatureParseErrorBadBase64');
  });

  it('a header location without a prefix takes the whole value', async () => {
    const custom = Object.freeze([applied({ issuer: 'i', jwks, fromHeaders: [{ name: 'X-Token' }] })]);
    expect(
      (await authenticateJwt(custom, { path: '/', headers: { 'x-token': good } }, { nowMs: NOW_MS })).status,
    ).toBe('Ok');
    expect(
      (
        await authenticateJwt(
          custom,
          { path: '/', headers: { 'x-token': `Bearer ${good}` } },
          { nowMs: NOW_MS },
        )
      ).status,
    ).toBe('JwtHeaderParseErrorBadBase64');
  });

  it('claim headers print numbers as Envoy does, and skip objects and lists', async () => {
    const { publicKey, privateKey } = await generateKeyPair('ES256');
    const keys = JSON.stringify({ keys: [await exportJWK(publicKey)] });
    const token = await new SignJWT({ n: 42, f: 1.5, neg: -2, t: false, o: { a: 1 }, l: ['x'] })
      .setProtectedHeader({ alg: 'ES256' })
      .setIssuer('i')
      .sign(privateKey);
    const claimRules = Object.freeze([
      applied({
        issuer: 'i',
        jwks: keys,
        outputClaimToHeaders: ['n', 'f', 'neg', 't', 'o', 'l'].map((c) => ({ header: `x-${c}`, claim: c })),
      }),
    ]);
    const r = await authenticateJwt(
      claimRules,
      { path: '/', headers: { authorization: `Bearer ${token}` } },
      { nowMs: NOW_MS },
    );
    expect(r.addedHeaders).toEqual([
      ['x-n', '42'],
      ['x-f', '1.500000'],
      ['x-neg', '-2.000000'],
      ['x-t', 'false'],
    ]);
  });

  it('without a key source, a jwksUri rule verifies nothing (fail closed)', async () => {
    const remote = Object.freeze([applied({ issuer: 'i', jwksUri: 'https://i/jwks' })]);
    const r = await authenticateJwt(
      remote,
      { path: '/', headers: { authorization: `Bearer ${good}` } },
      { nowMs: NOW_MS },
    );
    expect(r.status).toBe('JwtVerificationFail');
  });

  it('removeQueryParam keeps the rest of the query as sent', () => {
    expect(removeQueryParam('/a?x=%20&access_token=t&y', 'access_token')).toBe('/a?x=%20&y');
    expect(removeQueryParam('/a?access_token=t', 'access_token')).toBe('/a');
    expect(removeQueryParam('/a?acc%65ss_token=t&b=1#f', 'access_token')).toBe('/a?b=1#f');
  });

  it('an oct key never verifies (asymmetric algorithms only)', async () => {
    const secret = Buffer.from('0123456789abcdef0123456789abcdef');
    const keys = await parseJwks(
      JSON.stringify({ keys: [{ kty: 'oct', k: secret.toString('base64url'), alg: 'HS256' }] }),
    );
    const token = await new SignJWT({}).setProtectedHeader({ alg: 'HS256' }).setIssuer('i').sign(secret);
    const jwt = parseJwt(token);
    expect(typeof jwt).toBe('object');
    if (typeof jwt === 'object') expect(await verifyJwtSignature(jwt, keys)).toBe('JwtVerificationFail');
  });
});
