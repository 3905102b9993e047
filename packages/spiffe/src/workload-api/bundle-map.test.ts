import fc from 'fast-check';
import { beforeAll, describe, expect, it } from 'vitest';
import { type CertificateAuthority, createCertificateAuthority } from '../ca/certificate-authority.js';
import { createJwtBundle } from '../codec/jwt-bundle.js';
import { parseTrustDomain } from '../codec/spiffe-id.js';
import {
  concatDer,
  decodeJwtBundleMap,
  decodeX509BundleMap,
  encodeJwks,
  encodeJwtBundleMap,
  encodeX509BundleMap,
  MAX_BUNDLE_MAP_ENTRIES,
  parseJwtBundleJwks,
} from './bundle-map.js';

let a: CertificateAuthority;
let b: CertificateAuthority;
const text = (s: string): Uint8Array => new TextEncoder().encode(s);
const td = (name: string) => parseTrustDomain(name)._unsafeUnwrap();

beforeAll(async () => {
  a = await createCertificateAuthority({ trustDomain: 'a.org' });
  b = await createCertificateAuthority({ trustDomain: 'b.org' });
});

describe('X.509 bundle maps', () => {
  it('round-trip, keyed by the trust domain’s SPIFFE ID, each trust domain apart', () => {
    const map = encodeX509BundleMap([a.bundle, b.bundle]);
    expect(Object.keys(map).sort()).toEqual(['spiffe://a.org', 'spiffe://b.org']);
    expect(Buffer.from(map['spiffe://a.org'] as Uint8Array)).toEqual(
      Buffer.from(a.bundle.authorities[0]?.der as Uint8Array),
    );
    const back = decodeX509BundleMap(map)._unsafeUnwrap();
    expect(back.map((x) => [x.trustDomain.name, x.toPem()])).toEqual([
      ['a.org', a.bundle.toPem()],
      ['b.org', b.bundle.toPem()],
    ]);
  });

  it('read a bare name as go-spiffe does; refuse a bad key, a trust domain named twice, bad DER', () => {
    const der = concatDer(a.bundle.authorities);
    expect(decodeX509BundleMap({ 'a.org': der })._unsafeUnwrap()[0]?.trustDomain.name).toBe('a.org');
    const bad = (map: Record<string, Uint8Array>) => decodeX509BundleMap(map)._unsafeUnwrapErr();
    expect(bad({ 'spiffe://A.org': der }).cause).toMatchObject({ code: 'SPIFFE_ERR_TRUST_DOMAIN_CHAR' });
    expect(bad({ 'spiffe://a.org': der, 'a.org': der }).cause).toMatchObject({
      code: 'SPIFFE_ERR_DUPLICATE_TRUST_DOMAIN',
    });
    expect(bad({ 'spiffe://a.org': der.subarray(0, 40) }).code).toBe('SPIFFE_ERR_WORKLOAD_API_BAD_RESPONSE');
    const many: Record<string, Uint8Array> = {};
    for (let i = 0; i <= MAX_BUNDLE_MAP_ENTRIES; i++) many[`spiffe://t${i}.org`] = der;
    expect(bad(many).message).toMatch(/more than/);
    // An empty value is an empty bundle: that trust domain trusts nothing.
    expect(
      decodeX509BundleMap({ 'spiffe://a.org': new Uint8Array() })._unsafeUnwrap()[0]?.authorities,
    ).toEqual([]);
  });
});

describe('JWT bundle maps', () => {
  it('round-trip as plain JWK Sets (kid, no use), as SPIRE serves them', () => {
    const json = JSON.parse(new TextDecoder().decode(encodeJwks(a.jwtBundle)));
    const kid = [...a.jwtBundle.authorities.keys()][0];
    expect(json).toEqual({ keys: [{ ...a.jwtBundle.authorities.get(kid as string)?.publicKey, kid }] });
    const back = decodeJwtBundleMap(encodeJwtBundleMap([a.jwtBundle, b.jwtBundle]))._unsafeUnwrap();
    expect(back.map((x) => [x.trustDomain.name, [...x.authorities.keys()]])).toEqual([
      ['a.org', [...a.jwtBundle.authorities.keys()]],
      ['b.org', [...b.jwtBundle.authorities.keys()]],
    ]);
  });

  it('read SPIFFE-bundle style sets too, skipping keys for other uses and unknown key types', () => {
    const [authority] = a.jwtBundle.authorities.values();
    const key = { ...authority?.publicKey, kid: 'k1' };
    const set = {
      keys: [
        { ...key, use: 'jwt-svid' },
        { ...key, kid: 'k2', use: 'sig' },
        { ...key, kid: 'x', use: 'x509-svid' },
        { ...key, kid: 'e', use: 'enc' },
        { kty: 'OKP', crv: 'Ed25519', x: 'AA', kid: 'okp' },
      ],
      spiffe_sequence: 7,
    };
    const bundle = parseJwtBundleJwks(td('a.org'), text(JSON.stringify(set)))._unsafeUnwrap();
    expect([...bundle.authorities.keys()]).toEqual(['k1', 'k2']);
  });

  it.each([
    ['not JSON', '{'],
    ['not an object', '[]'],
    ['no keys', '{}'],
    ['keys not a list', '{"keys":{}}'],
    ['a key without kid', 'NOKID'],
    ['a private key', 'PRIVATE'],
    ['a duplicate member', '{"keys":[],"keys":[]}'],
  ])('refuse %s', (_name, body) => {
    const [authority] = a.jwtBundle.authorities.values();
    const json =
      body === 'NOKID'
        ? JSON.stringify({ keys: [{ ...authority?.publicKey }] })
        : body === 'PRIVATE'
          ? JSON.stringify({ keys: [{ ...authority?.publicKey, kid: 'k', d: 'AAAA' }] })
          : body;
    expect(parseJwtBundleJwks(td('a.org'), text(json))._unsafeUnwrapErr().code).toBe(
      'SPIFFE_ERR_WORKLOAD_API_BAD_RESPONSE',
    );
  });

  it('refuse bytes that are not UTF-8, and never throw on arbitrary bytes', () => {
    expect(parseJwtBundleJwks(td('a.org'), new Uint8Array([0xff, 0xfe]))._unsafeUnwrapErr().message).toMatch(
      /UTF-8/,
    );
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 200 }), (bytes) => {
        const r = parseJwtBundleJwks(td('a.org'), bytes);
        if (r.isErr()) expect(r.error.code).toBe('SPIFFE_ERR_WORKLOAD_API_BAD_RESPONSE');
      }),
    );
    fc.assert(
      fc.property(fc.json(), (json) => {
        const r = parseJwtBundleJwks(td('a.org'), text(json));
        if (r.isErr()) expect(r.error.code).toBe('SPIFFE_ERR_WORKLOAD_API_BAD_RESPONSE');
      }),
    );
  });

  it('an empty key list is a bundle that trusts no token', () => {
    expect(parseJwtBundleJwks(td('a.org'), text('{"keys":[]}'))._unsafeUnwrap()).toEqual(
      createJwtBundle('a.org', []),
    );
  });
});
