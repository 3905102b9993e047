import fc from 'fast-check';
import { exportJWK, generateKeyPair, SignJWT } from 'jose';
import { beforeAll, describe, expect, it } from 'vitest';
import { authenticateRequest } from '../http/authenticate-request.js';
import type { AppliedJwtRule, PolicyEngine } from './engine.js';
import { parseJwks, verifyJwtSignature } from './jwks.js';
import {
  authenticateJwt,
  authenticateJwtByTree,
  type JwtAuthnResult,
  removeQueryParam,
} from './jwt-authn.js';
import { type JwtStatus, jwtStatusHttpCode } from './jwt-status.js';
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

describe('per-request work kept out of the hot path, with the same answers', () => {
  const applied = (rule: JwtRule, index = 0): AppliedJwtRule => ({ rule, policy: 'foo/jwt', index });
  const comparable = (r: JwtAuthnResult): unknown => ({ ...r, headers: [...r.headers] });

  it('a request it cannot read rejects (never a synchronous throw), in both entry points', async () => {
    const rules = Object.freeze([applied({ issuer: 'i', jwks: '{"keys":[]}' })]);
    const bad = { path: '/', headers: { authorization: 42 } } as unknown as Parameters<
      typeof authenticateJwt
    >[1];
    let pending: Promise<unknown> | undefined;
    expect(() => {
      pending = authenticateJwt(rules, bad, { nowMs: NOW_MS });
    }).not.toThrow();
    await expect(pending).rejects.toThrow(TypeError);
    expect(() => {
      pending = authenticateRequest({
        engine: null as unknown as PolicyEngine,
        workload: { kind: 'sidecar', namespace: 'foo', labels: {} },
        request: { path: '/', headers: {} },
      });
    }).not.toThrow();
    await expect(pending).rejects.toThrow(TypeError);
  });

  it('keys are tried in order: the first that verifies wins; none matching kid/alg is JwksKidAlgMismatch', async () => {
    const right = await generateKeyPair('ES256');
    const wrong = await generateKeyPair('ES256');
    const jwk = async (key: CryptoKey, extra: Record<string, string>): Promise<object> => ({
      ...(await exportJWK(key)),
      ...extra,
    });
    const token = await new SignJWT({})
      .setProtectedHeader({ alg: 'ES256', kid: 'k' })
      .setIssuer('i')
      .sign(right.privateKey);
    const jwt = parseJwt(token);
    if (typeof jwt === 'string') throw new Error('did not parse');
    const set = async (...keys: object[]) => parseJwks(JSON.stringify({ keys }));
    // Two keys with the token's kid: the first does not verify, the second does.
    expect(
      await verifyJwtSignature(
        jwt,
        await set(await jwk(wrong.publicKey, { kid: 'k' }), await jwk(right.publicKey, { kid: 'k' })),
      ),
    ).toBe('Ok');
    // Another kid is skipped even when its key would verify; a key without kid is tried.
    expect(await verifyJwtSignature(jwt, await set(await jwk(right.publicKey, { kid: 'other' })))).toBe(
      'JwksKidAlgMismatch',
    );
    expect(await verifyJwtSignature(jwt, await set(await jwk(right.publicKey, {})))).toBe('Ok');
    expect(await verifyJwtSignature(jwt, await set(await jwk(wrong.publicKey, { kid: 'k' })))).toBe(
      'JwtVerificationFail',
    );
    // A key pinned to another alg is not used.
    expect(
      await verifyJwtSignature(jwt, await set(await jwk(right.publicKey, { kid: 'k', alg: 'ES384' }))),
    ).toBe('JwksNoValidKeys');
  });

  it('tokens with the same protected header share one frozen parse of it', async () => {
    const { privateKey } = await generateKeyPair('ES256');
    const signed = (sub: string): Promise<string> =>
      new SignJWT({ sub })
        .setProtectedHeader({ alg: 'ES256', kid: 'k', typ: 'JWT' })
        .setIssuer('i')
        .sign(privateKey);
    const a = parseJwt(await signed('alice'));
    const b = parseJwt(await signed('bob'));
    if (typeof a === 'string' || typeof b === 'string') throw new Error('did not parse');
    expect(b.header).toBe(a.header);
    expect(a.header).toEqual({ alg: 'ES256', kid: 'k', typ: 'JWT' });
    expect(Object.isFrozen(a.header)).toBe(true);
    // Nobody holding one token's parse can change what the next token with that header reads.
    expect(() => {
      (a.header as Record<string, unknown>)['alg'] = 'none';
    }).toThrow(TypeError);
    expect(a.sub).toBe('alice');
    expect(b.sub).toBe('bob');
  });

  it('a header parses the same from the cache as the first time (property)', () => {
    const section = (value: unknown): string => Buffer.from(JSON.stringify(value)).toString('base64url');
    fc.assert(
      fc.property(
        fc.record(
          {
            alg: fc.oneof(fc.constantFrom('ES256', 'RS256', 'EdDSA', 'none', 'HS256'), fc.jsonValue()),
            kid: fc.oneof(fc.string({ maxLength: 8 }), fc.jsonValue()),
            typ: fc.string({ maxLength: 4 }),
            nested: fc.jsonValue({ maxDepth: 2 }),
          },
          { requiredKeys: [] },
        ),
        fc.string({ maxLength: 8 }),
        (header, sub) => {
          const token = `${section(header)}.${section({ iss: 'i', sub })}.c2ln`;
          const first = parseJwt(token);
          const again = parseJwt(token);
          expect(again).toEqual(first);
          if (typeof first === 'object') expect(first.header).toEqual(JSON.parse(JSON.stringify(header)));
        },
      ),
      { numRuns: 300 },
    );
  });

  it('a token for issuer A never verifies with the keys of issuer B, even with the same header', async () => {
    const a = await generateKeyPair('ES256');
    const b = await generateKeyPair('ES256');
    const jwksOf = async (key: CryptoKey): Promise<string> =>
      JSON.stringify({ keys: [{ ...(await exportJWK(key)), kid: 'k1' }] });
    const two = Object.freeze([
      applied({ issuer: 'a', jwks: await jwksOf(a.publicKey) }, 0),
      applied({ issuer: 'b', jwks: await jwksOf(b.publicKey) }, 1),
    ]);
    const token = (iss: string, key: CryptoKey): Promise<string> =>
      new SignJWT({ sub: 's' }).setProtectedHeader({ alg: 'ES256', kid: 'k1' }).setIssuer(iss).sign(key);
    const status = async (t: string): Promise<string> =>
      (
        await authenticateJwt(
          two,
          { path: '/', headers: { authorization: `Bearer ${t}` } },
          { nowMs: NOW_MS },
        )
      ).status;
    expect(await status(await token('a', a.privateKey))).toBe('Ok');
    expect(await status(await token('b', b.privateKey))).toBe('Ok');
    // Refused with 401 (which failure the tree reports last depends on the providers' order, as in Envoy).
    for (const crossed of [await token('a', b.privateKey), await token('b', a.privateKey)]) {
      const refused = await status(crossed);
      expect(refused).not.toBe('Ok');
      expect(jwtStatusHttpCode(refused as JwtStatus)).toBe(401);
    }
    // And with one rule per engine (the one-provider path): B's rule never takes A's token or key.
    const onlyB = Object.freeze([applied({ issuer: 'b', jwks: await jwksOf(b.publicKey) })]);
    const r = await authenticateJwt(
      onlyB,
      { path: '/', headers: { authorization: `Bearer ${await token('a', b.privateKey)}` } },
      { nowMs: NOW_MS },
    );
    expect(r.status).toBe('JwtUnknownIssuer');
  });

  it('keys do not survive a JWKS change: new rules, new keys, old tokens refused', async () => {
    const before = await generateKeyPair('ES256');
    const after = await generateKeyPair('ES256');
    const rulesWith = async (key: CryptoKey): Promise<readonly AppliedJwtRule[]> =>
      Object.freeze([
        applied({ issuer: 'i', jwks: JSON.stringify({ keys: [{ ...(await exportJWK(key)), kid: 'k1' }] }) }),
      ]);
    const oldToken = await new SignJWT({})
      .setProtectedHeader({ alg: 'ES256', kid: 'k1' })
      .setIssuer('i')
      .sign(before.privateKey);
    const newToken = await new SignJWT({})
      .setProtectedHeader({ alg: 'ES256', kid: 'k1' })
      .setIssuer('i')
      .sign(after.privateKey);
    const run = async (rules: readonly AppliedJwtRule[], t: string): Promise<string> =>
      (
        await authenticateJwt(
          rules,
          { path: '/', headers: { authorization: `Bearer ${t}` } },
          { nowMs: NOW_MS },
        )
      ).status;
    const first = await rulesWith(before.publicKey);
    expect(await run(first, oldToken)).toBe('Ok');
    expect(await run(first, newToken)).toBe('JwtVerificationFail');
    const second = await rulesWith(after.publicKey);
    expect(await run(second, newToken)).toBe('Ok');
    expect(await run(second, oldToken)).toBe('JwtVerificationFail');
    // The first set still answers as it did (its keys are its own, not replaced behind its back).
    expect(await run(first, oldToken)).toBe('Ok');
  });

  it('with one rule, the shortcut decides exactly as the requirement tree walk (property)', async () => {
    const key = await generateKeyPair('ES256');
    const other = await generateKeyPair('ES256');
    const jwks = JSON.stringify({ keys: [{ ...(await exportJWK(key.publicKey)), kid: 'k1' }] });
    const nowS = NOW_MS / 1000;
    const make = (
      claims: Record<string, unknown>,
      signer: CryptoKey = key.privateKey,
      kid = 'k1',
    ): Promise<string> =>
      new SignJWT({ sub: 'alice', aud: 'web', scope: 'a b', n: 7, ...claims })
        .setProtectedHeader({ alg: 'ES256', kid })
        .sign(signer);
    const pool = [
      await make({ iss: 'i' }),
      await make({ iss: 'i', sub: 'bob' }),
      await make({ iss: 'i' }, other.privateKey),
      await make({ iss: 'i', exp: nowS - 120 }),
      await make({ iss: 'i', nbf: nowS + 120 }),
      await make({ iss: 'j' }),
      await make({ iss: 'i', aud: 'other' }),
      await make({ iss: 'i' }, key.privateKey, 'k2'),
      `${Buffer.from('{"alg":"none"}').toString('base64url')}.${Buffer.from('{"iss":"i"}').toString('base64url')}.`,
      'not-a-token',
    ];
    const rule = fc.record({
      issuer: fc.constantFrom('i', ''),
      audiences: fc.constantFrom(undefined, ['web'], ['https://web/'], ['x']),
      locations: fc.constantFrom('default', 'header', 'header+param', 'cookie'),
      forwardOriginalToken: fc.boolean(),
      outputPayloadToHeader: fc.constantFrom(undefined, 'x-payload'),
      claims: fc.boolean(),
    });
    const placed = fc.array(
      fc.record({
        where: fc.constantFrom('authorization', 'x-token', 'param', 'cookie'),
        token: fc.integer({ min: 0, max: pool.length - 1 }),
      }),
      { maxLength: 3 },
    );
    await fc.assert(
      fc.asyncProperty(rule, placed, fc.boolean(), async (r, tokens, spoof) => {
        const jwtRule: JwtRule = {
          ...(r.issuer === '' ? {} : { issuer: r.issuer }),
          jwks,
          ...(r.audiences === undefined ? {} : { audiences: r.audiences }),
          ...(r.locations === 'header' || r.locations === 'header+param'
            ? { fromHeaders: [{ name: 'X-Token', prefix: 'Tok ' }] }
            : {}),
          ...(r.locations === 'header+param' ? { fromParams: ['t'] } : {}),
          ...(r.locations === 'cookie' ? { fromCookies: ['session'] } : {}),
          forwardOriginalToken: r.forwardOriginalToken,
          ...(r.outputPayloadToHeader === undefined
            ? {}
            : { outputPayloadToHeader: r.outputPayloadToHeader }),
          ...(r.claims ? { outputClaimToHeaders: [{ header: 'x-sub', claim: 'sub' }] } : {}),
        };
        const rules = Object.freeze([applied(jwtRule)]);
        const headers: Record<string, string[]> = {};
        const add = (name: string, value: string): void => {
          headers[name] = [...(headers[name] ?? []), value];
        };
        const params: string[] = ['keep=1'];
        for (const t of tokens) {
          const text = pool[t.token] as string;
          if (t.where === 'authorization') add('authorization', `Bearer ${text}`);
          else if (t.where === 'x-token') add('x-token', `Tok ${text}`);
          else if (t.where === 'param')
            params.push(`${r.locations === 'header+param' ? 't' : 'access_token'}=${text}`);
          else add('cookie', `session=${text}`);
        }
        if (spoof) add('x-payload', 'spoofed');
        const request = { path: `/p?${params.join('&')}`, headers };
        const options = { nowMs: NOW_MS };
        const fast = await authenticateJwt(rules, request, options);
        const walked = await authenticateJwtByTree(rules, request, options);
        expect(comparable(fast)).toEqual(comparable(walked));
      }),
      { numRuns: 300 },
    );
  });
});
