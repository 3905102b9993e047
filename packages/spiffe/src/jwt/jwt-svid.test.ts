import { generateKeyPairSync, type KeyObject, sign } from 'node:crypto';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { base64UrlEncode } from '../codec/base64.js';
import { createBundleSet } from '../codec/bundle-set.js';
import type { SpiffeErrorCode } from '../codec/errors.js';
import { jwkFromSpki, type PublicJwk } from '../codec/jwk.js';
import { createJwtBundle } from '../codec/jwt-bundle.js';
import {
  MAX_JWT_BYTES,
  nobleJwtVerifier,
  parseJwtSvidInsecure,
  validateJwtSvid as validateWithNoble,
} from '../codec/jwt-svid.js';
import { nodeJwtVerifier, signJwtSvid, validateJwtSvid } from './jwt-svid.js';

const ID = 'spiffe://example.org/ns/default/sa/client';
const AUD = 'spiffe://example.org/ns/default/sa/api';

function publicJwk(key: KeyObject): PublicJwk {
  const spki = new Uint8Array(key.export({ format: 'der', type: 'spki' }));
  return jwkFromSpki(spki)._unsafeUnwrap();
}

const keys = {
  ES256: generateKeyPairSync('ec', { namedCurve: 'P-256' }),
  ES384: generateKeyPairSync('ec', { namedCurve: 'P-384' }),
  ES512: generateKeyPairSync('ec', { namedCurve: 'P-521' }),
  RSA: generateKeyPairSync('rsa', { modulusLength: 2048 }),
};
const bundles = createBundleSet([
  createJwtBundle('example.org', [
    { keyId: 'es256', publicKey: publicJwk(keys.ES256.publicKey) },
    { keyId: 'es384', publicKey: publicJwk(keys.ES384.publicKey) },
    { keyId: 'es512', publicKey: publicJwk(keys.ES512.publicKey) },
    { keyId: 'rsa', publicKey: publicJwk(keys.RSA.publicKey) },
  ]),
]);

function token(overrides: Partial<Parameters<typeof signJwtSvid>[0]> = {}): string {
  return signJwtSvid({
    id: ID,
    audience: AUD,
    privateKey: keys.ES256.privateKey,
    keyId: 'es256',
    ...overrides,
  });
}

/** A token with an arbitrary header and claims, signed ES256 with the bundle's `es256` key. */
function handmade(header: object, claims: object): string {
  const enc = (v: object): string => base64UrlEncode(new TextEncoder().encode(JSON.stringify(v)));
  const body = `${enc(header)}.${enc(claims)}`;
  const sig = sign('sha256', Buffer.from(body), { key: keys.ES256.privateKey, dsaEncoding: 'ieee-p1363' });
  return `${body}.${base64UrlEncode(new Uint8Array(sig))}`;
}

function code(t: string, audience = [AUD], options = {}): SpiffeErrorCode | 'ok' {
  const r = validateJwtSvid(t, bundles, audience, options);
  return r.isOk() ? 'ok' : r.error.code;
}

describe('JWT-SVID: signing and validation with every allowed algorithm (JWT-SVID §2.1)', () => {
  it.each([
    ['ES256', keys.ES256.privateKey, 'es256'],
    ['ES384', keys.ES384.privateKey, 'es384'],
    ['ES512', keys.ES512.privateKey, 'es512'],
    ['RS256', keys.RSA.privateKey, 'rsa'],
    ['RS384', keys.RSA.privateKey, 'rsa'],
    ['RS512', keys.RSA.privateKey, 'rsa'],
    ['PS256', keys.RSA.privateKey, 'rsa'],
    ['PS384', keys.RSA.privateKey, 'rsa'],
    ['PS512', keys.RSA.privateKey, 'rsa'],
  ] as const)('%s', (algorithm, privateKey, keyId) => {
    const t = signJwtSvid({ id: ID, audience: [AUD, 'other'], privateKey, keyId, algorithm });
    const svid = validateJwtSvid(t, bundles, [AUD])._unsafeUnwrap();
    expect(svid.id.toString()).toBe(ID);
    expect(svid.audience).toEqual([AUD, 'other']);
    expect(svid.header).toEqual({ alg: algorithm, kid: keyId, typ: 'JWT' });
  });

  it('verifies ES256/ES384/ES512 in the pure layer with @noble/curves, and refuses RS/PS there', () => {
    for (const [alg, kid] of [
      ['ES256', 'es256'],
      ['ES384', 'es384'],
      ['ES512', 'es512'],
    ] as const) {
      const t = signJwtSvid({ id: ID, audience: AUD, privateKey: keys[alg].privateKey, keyId: kid });
      expect(validateWithNoble(t, bundles, [AUD]).isOk()).toBe(true);
      const tampered = `${t.slice(0, -4)}${t.slice(-4) === 'AAAA' ? 'BBBB' : 'AAAA'}`;
      expect(validateWithNoble(tampered, bundles, [AUD])._unsafeUnwrapErr().code).toBe(
        'SPIFFE_ERR_BAD_SIGNATURE',
      );
    }
    const rs = signJwtSvid({ id: ID, audience: AUD, privateKey: keys.RSA.privateKey, keyId: 'rsa' });
    expect(validateWithNoble(rs, bundles, [AUD])._unsafeUnwrapErr().code).toBe(
      'SPIFFE_ERR_UNSUPPORTED_ALGORITHM',
    );
  });

  it('noble and OpenSSL agree on random ES256 signatures (including high-S ones)', () => {
    const jwk = publicJwk(keys.ES256.publicKey);
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 200 }), (msg) => {
        const sig = new Uint8Array(
          sign('sha256', msg, { key: keys.ES256.privateKey, dsaEncoding: 'ieee-p1363' }),
        );
        return (
          nobleJwtVerifier('ES256', jwk, msg, sig) === true &&
          nodeJwtVerifier('ES256', jwk, msg, sig) === true
        );
      }),
      { numRuns: 50 },
    );
  });
});

describe('JWT-SVID: rejections (spiffe/spiffe@665a28f:standards/JWT-SVID.md §2-§3)', () => {
  const now = Math.floor(Date.now() / 1000);
  const claims = { sub: ID, aud: AUD, exp: now + 300 };

  it('alg allow-list: none, HS256 and EdDSA are refused', () => {
    expect(code(handmade({ alg: 'none', kid: 'es256' }, claims))).toBe('SPIFFE_ERR_JWT_ALGORITHM');
    expect(code(handmade({ alg: 'HS256', kid: 'es256' }, claims))).toBe('SPIFFE_ERR_JWT_ALGORITHM');
    expect(code(handmade({ alg: 'EdDSA', kid: 'es256' }, claims))).toBe('SPIFFE_ERR_JWT_ALGORITHM');
    expect(code(handmade({ kid: 'es256' }, claims))).toBe('SPIFFE_ERR_JWT_ALGORITHM');
  });
  it('only alg, kid and typ headers; typ JWT or JOSE', () => {
    expect(code(handmade({ alg: 'ES256', kid: 'es256', typ: 'JOSE' }, claims))).toBe('ok');
    expect(code(handmade({ alg: 'ES256', kid: 'es256' }, claims))).toBe('ok');
    expect(code(handmade({ alg: 'ES256', kid: 'es256', jku: 'https://evil' }, claims))).toBe(
      'SPIFFE_ERR_JWT_HEADER',
    );
    expect(code(handmade({ alg: 'ES256', kid: 'es256', crit: ['exp'] }, claims))).toBe(
      'SPIFFE_ERR_JWT_HEADER',
    );
    expect(code(handmade({ alg: 'ES256', kid: 'es256', typ: 'at+jwt' }, claims))).toBe(
      'SPIFFE_ERR_JWT_HEADER',
    );
  });
  it('aud is required and must meet a non-empty expected list', () => {
    expect(code(handmade({ alg: 'ES256', kid: 'es256' }, { sub: ID, exp: now + 300 }))).toBe(
      'SPIFFE_ERR_JWT_MISSING_CLAIM',
    );
    expect(code(handmade({ alg: 'ES256', kid: 'es256' }, { ...claims, aud: [] }))).toBe(
      'SPIFFE_ERR_JWT_MISSING_CLAIM',
    );
    expect(code(token(), ['someone-else'])).toBe('SPIFFE_ERR_JWT_AUDIENCE');
    expect(code(token(), ['someone-else', AUD])).toBe('ok');
    expect(() => validateJwtSvid(token(), bundles, [])).toThrow(TypeError);
  });
  it('exp is required and enforced with a one-minute leeway (go-jose DefaultLeeway)', () => {
    expect(code(handmade({ alg: 'ES256', kid: 'es256' }, { sub: ID, aud: AUD }))).toBe(
      'SPIFFE_ERR_JWT_MISSING_CLAIM',
    );
    expect(code(handmade({ alg: 'ES256', kid: 'es256' }, { ...claims, exp: String(now + 300) }))).toBe(
      'SPIFFE_ERR_JWT_MISSING_CLAIM',
    );
    expect(code(handmade({ alg: 'ES256', kid: 'es256' }, { ...claims, exp: now - 30 }))).toBe('ok');
    expect(code(handmade({ alg: 'ES256', kid: 'es256' }, { ...claims, exp: now - 90 }))).toBe(
      'SPIFFE_ERR_JWT_EXPIRED',
    );
    expect(
      code(handmade({ alg: 'ES256', kid: 'es256' }, { ...claims, exp: now - 30 }), [AUD], { leewayMs: 0 }),
    ).toBe('SPIFFE_ERR_JWT_EXPIRED');
    expect(code(handmade({ alg: 'ES256', kid: 'es256' }, { ...claims, nbf: now + 600 }))).toBe(
      'SPIFFE_ERR_JWT_NOT_YET_VALID',
    );
    expect(code(handmade({ alg: 'ES256', kid: 'es256' }, { ...claims, iat: now + 600 }))).toBe(
      'SPIFFE_ERR_JWT_NOT_YET_VALID',
    );
  });
  it('NumericDates outside the range of a Date are a typed error, never a RangeError or a pass (issue 18 item 8)', () => {
    const at = (extra: object) => code(handmade({ alg: 'ES256', kid: 'es256' }, { ...claims, ...extra }));
    expect(at({ nbf: 1e300 })).toBe('SPIFFE_ERR_JWT_MALFORMED');
    expect(at({ iat: 1e300 })).toBe('SPIFFE_ERR_JWT_MALFORMED');
    expect(at({ exp: 1e300 })).toBe('SPIFFE_ERR_JWT_MALFORMED');
    expect(at({ nbf: -1e300 })).toBe('SPIFFE_ERR_JWT_MALFORMED');
    // An integer past 2^53 (kept exact as a bigint by the strict JSON reader) is out of range too.
    expect(at({ exp: 1e20 })).toBe('SPIFFE_ERR_JWT_MALFORMED');
    expect(at({ exp: 8.64e12 + 1 })).toBe('SPIFFE_ERR_JWT_MALFORMED');
    // RFC 7519 §2: a NumericDate may have a fraction, and dates before 1970 are negative.
    expect(at({ exp: now + 300.5 })).toBe('ok');
    expect(at({ nbf: -5, iat: 0.25 })).toBe('ok');
    expect(at({ exp: -1 })).toBe('SPIFFE_ERR_JWT_EXPIRED');
    expect(at({ exp: 8.64e12 })).toBe('ok');
  });
  it('no NumericDate makes validation throw or pass out of range (fast-check)', () => {
    const date = fc.oneof(
      fc.double(),
      fc.integer(),
      fc.constantFrom(1e300, -1e300, 8.64e12, -8.64e12, 8.64e12 + 1, 2 ** 53, 0.5, -0.5, undefined),
      fc.integer({ min: now - 1000, max: now + 1000 }),
    );
    fc.assert(
      fc.property(date, date, date, (exp, nbf, iat) => {
        const body: Record<string, unknown> = { sub: ID, aud: AUD };
        if (exp !== undefined) body['exp'] = exp;
        if (nbf !== undefined) body['nbf'] = nbf;
        if (iat !== undefined) body['iat'] = iat;
        const t = handmade({ alg: 'ES256', kid: 'es256' }, body);
        const outOfRange = [exp, nbf, iat].some(
          (d) => typeof d === 'number' && Number.isFinite(d) && Math.abs(d) > 8.64e12,
        );
        for (const validate of [validateJwtSvid, validateWithNoble]) {
          const r = validate(t, bundles, [AUD]);
          if (r.isOk()) {
            if (outOfRange || Number.isNaN(r.value.expiresAt.getTime())) return false;
            if (r.value.issuedAt !== undefined && Number.isNaN(r.value.issuedAt.getTime())) return false;
          } else if (
            outOfRange &&
            r.error.code !== 'SPIFFE_ERR_JWT_MALFORMED' &&
            // A missing or non-numeric `exp` is reported first.
            !(
              r.error.code === 'SPIFFE_ERR_JWT_MISSING_CLAIM' &&
              !(typeof exp === 'number' && Number.isFinite(exp))
            )
          ) {
            return false;
          }
        }
        return true;
      }),
      { numRuns: 300 },
    );
  });
  it('sub must be a SPIFFE ID, and the key comes from the JWT bundle of its trust domain', () => {
    expect(code(handmade({ alg: 'ES256', kid: 'es256' }, { ...claims, sub: 'user@example.org' }))).toBe(
      'SPIFFE_ERR_ID_SCHEME',
    );
    expect(code(handmade({ alg: 'ES256', kid: 'es256' }, { ...claims, sub: 'spiffe://other.org/x' }))).toBe(
      'SPIFFE_ERR_NO_BUNDLE',
    );
    expect(code(token({ keyId: 'missing' }))).toBe('SPIFFE_ERR_JWT_KEY_NOT_FOUND');
    // Signed by a key the bundle does not hold, under a kid it does.
    expect(code(token({ privateKey: generateKeyPairSync('ec', { namedCurve: 'P-256' }).privateKey }))).toBe(
      'SPIFFE_ERR_BAD_SIGNATURE',
    );
    // An ES256 token claiming the RSA key's kid.
    expect(code(token({ keyId: 'rsa' }))).toBe('SPIFFE_ERR_BAD_SIGNATURE');
    // No kid: every key of the bundle is tried.
    expect(code(handmade({ alg: 'ES256' }, claims))).toBe('ok');
  });
  it('structure: JWS compact only, strict base64url and JSON, no duplicate members, size cap', () => {
    const t = token();
    expect(code(`${t}.x.y`)).toBe('SPIFFE_ERR_JWT_MALFORMED');
    expect(code(t.replace('.', '=.'))).toBe('SPIFFE_ERR_JWT_MALFORMED');
    const enc = (s: string): string => base64UrlEncode(new TextEncoder().encode(s));
    expect(code(`${enc('{"alg":"ES256","alg":"ES256"}')}.${enc(JSON.stringify(claims))}.AAAA`)).toBe(
      'SPIFFE_ERR_JWT_MALFORMED',
    );
    expect(
      code(
        `${enc('{"alg":"ES256"}')}.${enc(`{"sub":"${ID}","sub":"spiffe://example.org/admin","aud":"${AUD}","exp":${now + 60}}`)}.AAAA`,
      ),
    ).toBe('SPIFFE_ERR_JWT_MALFORMED');
    expect(code('a'.repeat(MAX_JWT_BYTES + 1))).toBe('SPIFFE_ERR_TOO_LARGE');
    expect(parseJwtSvidInsecure(t)._unsafeUnwrap().id.toString()).toBe(ID);
  });
  it('no input throws or hangs (fast-check)', () => {
    const part = fc.oneof(
      fc
        .base64String({ maxLength: 40 })
        .map((s) => s.replace(/=/g, '').replace(/\+/g, '-').replace(/\//g, '_')),
      fc.string({ maxLength: 40 }),
    );
    fc.assert(
      fc.property(
        fc.oneof(
          fc.string({ maxLength: 300 }),
          fc.tuple(part, part, part).map((p) => p.join('.')),
        ),
        (input) => {
          const r = validateJwtSvid(input, bundles, [AUD]);
          return r.isErr() && typeof r.error.code === 'string';
        },
      ),
      { numRuns: 1000 },
    );
    fc.assert(
      fc.property(fc.jsonValue(), fc.jsonValue(), (h, p) => {
        const enc = (v: unknown): string =>
          base64UrlEncode(new TextEncoder().encode(JSON.stringify(v) ?? 'null'));
        parseJwtSvidInsecure(`${enc(h)}.${enc(p)}.AAAA`);
        return true;
      }),
      { numRuns: 500 },
    );
  });
});
