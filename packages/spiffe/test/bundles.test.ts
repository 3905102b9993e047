/**
 * Trust bundles (spiffe/spiffe@665a28f:standards/SPIFFE_Trust_Domain_and_Bundle.md): X.509 bundles from
 * PEM/DER, the SPIFFE bundle JWK Set, bundle maps, and bundle sets holding several trust domains without ever
 * merging them.
 */
import { generateKeyPairSync } from 'node:crypto';
import { beforeAll, describe, expect, it } from 'vitest';
import { type CertificateAuthority, createCertificateAuthority } from '../src/ca/certificate-authority.js';
import { base64Encode } from '../src/codec/base64.js';
import { createBundleSet } from '../src/codec/bundle-set.js';
import { jwkFromSpki, spkiFromJwk } from '../src/codec/jwk.js';
import { createJwtBundle } from '../src/codec/jwt-bundle.js';
import {
  createSpiffeBundle,
  MAX_SPIFFE_SEQUENCE,
  parseSpiffeBundle,
  parseSpiffeBundleMap,
  serializeSpiffeBundle,
  serializeSpiffeBundleMap,
} from '../src/codec/spiffe-bundle.js';
import { parseTrustDomain } from '../src/codec/spiffe-id.js';
import {
  createX509Bundle,
  splitConcatenatedDer,
  x509BundleFromDer,
  x509BundleFromPem,
} from '../src/codec/x509-bundle.js';
import { validateJwtSvid } from '../src/jwt/jwt-svid.js';
import { verifyX509Svid } from '../src/x509/verify.js';

let a: CertificateAuthority;
let b: CertificateAuthority;
beforeAll(async () => {
  a = await createCertificateAuthority({ trustDomain: 'a.org' });
  b = await createCertificateAuthority({ trustDomain: 'b.org', keyType: 'rsa-2048' });
});

describe('X.509 bundles (spiffe/go-spiffe@e9973f6:v2/bundle/x509bundle/bundle.go)', () => {
  it('reads concatenated PEM (istiod root-cert.pem) and concatenated DER (Workload API)', () => {
    const pem = a.rootCertificatePem + b.rootCertificatePem;
    const fromPem = x509BundleFromPem('a.org', pem)._unsafeUnwrap();
    expect(fromPem.authorities).toHaveLength(2);
    expect(fromPem.toPem()).toBe(pem);
    const der = new Uint8Array([...a.bundle.authorities[0]!.der, ...b.bundle.authorities[0]!.der]);
    expect(splitConcatenatedDer(der)._unsafeUnwrap()).toHaveLength(2);
    expect(
      x509BundleFromDer('a.org', der)
        ._unsafeUnwrap()
        .authorities.map((c) => c.der),
    ).toEqual(fromPem.authorities.map((c) => c.der));
    expect(fromPem.hasAuthority(a.bundle.authorities[0]!.der)).toBe(true);
    // duplicates are dropped
    expect(
      x509BundleFromPem('a.org', a.rootCertificatePem.repeat(3))._unsafeUnwrap().authorities,
    ).toHaveLength(1);
  });
  it('rejects empty PEM, other block types and malformed DER', () => {
    expect(x509BundleFromPem('a.org', '')._unsafeUnwrapErr().code).toBe('SPIFFE_ERR_PEM');
    const key = generateKeyPairSync('ec', { namedCurve: 'P-256' })
      .privateKey.export({ format: 'pem', type: 'pkcs8' })
      .toString();
    expect(x509BundleFromPem('a.org', key)._unsafeUnwrapErr().code).toBe('SPIFFE_ERR_PEM');
    expect(x509BundleFromDer('a.org', new Uint8Array([0x30, 0x05, 1]))._unsafeUnwrapErr().code).toBe(
      'SPIFFE_ERR_DER',
    );
    expect(() => x509BundleFromPem('A.org', a.rootCertificatePem)).toThrow(TypeError);
  });
});

describe('SPIFFE bundle JWK Set (spiffe/spiffe@665a28f:standards/SPIFFE_Trust_Domain_and_Bundle.md §4, spiffe/spiffe@665a28f:standards/X509-SVID.md §6, spiffe/spiffe@665a28f:standards/JWT-SVID.md §6)', () => {
  it('round-trips sequence (as bigint up to 2^64-1), refresh hint, X.509 and JWT authorities', () => {
    const bundle = createSpiffeBundle({
      trustDomain: 'a.org',
      x509Authorities: [...a.bundle.authorities, ...b.bundle.authorities],
      jwtAuthorities: a.jwtBundle.authorities.values(),
      sequenceNumber: MAX_SPIFFE_SEQUENCE,
      refreshHintSeconds: 2419200,
    });
    const text = serializeSpiffeBundle(bundle);
    expect(text).toContain('"spiffe_sequence":18446744073709551615');
    type Entry = { use?: string; kid?: string; kty?: string; x5c?: string[] };
    const doc = JSON.parse(text) as { keys: Entry[] };
    const x509Entries = doc.keys.filter((k) => k.use === 'x509-svid');
    expect(x509Entries).toHaveLength(2);
    for (const e of x509Entries) {
      expect(e.kid).toBeUndefined();
      expect(e.x5c).toHaveLength(1);
    }
    expect(x509Entries.map((e) => e.kty)).toEqual(['EC', 'RSA']);
    expect(doc.keys.filter((k) => k.use === 'jwt-svid').map((k) => k.kid)).toEqual([
      ...a.jwtBundle.authorities.keys(),
    ]);
    const back = parseSpiffeBundle('a.org', text)._unsafeUnwrap();
    expect(back.sequenceNumber).toBe(MAX_SPIFFE_SEQUENCE);
    expect(back.refreshHintSeconds).toBe(2419200);
    expect(back.x509Authorities.map((c) => c.der)).toEqual(bundle.x509Authorities.map((c) => c.der));
    expect([...back.jwtAuthorities.values()]).toEqual([...bundle.jwtAuthorities.values()]);
    expect(serializeSpiffeBundle(back)).toBe(text);
  });

  it('writes a key ID that spells a number as the string it is', () => {
    const [authority] = a.jwtBundle.authorities.values();
    const bundle = createSpiffeBundle({
      trustDomain: 'a.org',
      jwtAuthorities: [{ keyId: '\u0000big42', publicKey: authority!.publicKey }],
      sequenceNumber: 7n,
    });
    const text = serializeSpiffeBundle(bundle);
    expect(text).toContain('"kid":"\\u0000big42"');
    expect(text).toContain('"spiffe_sequence":7');
    expect([...parseSpiffeBundle('a.org', text)._unsafeUnwrap().jwtAuthorities.keys()]).toEqual([
      '\u0000big42',
    ]);
  });

  it('ignores JWKs with an unknown or missing use, or an unknown kty; uses only the first x5c value', () => {
    const root = base64Encode(a.bundle.authorities[0]!.der);
    const other = base64Encode(b.bundle.authorities[0]!.der);
    const doc = {
      keys: [
        { kty: 'EC', use: 'x509-svid', x5c: [root, other] },
        { kty: 'EC', use: 'X509-SVID', x5c: [other] },
        { kty: 'EC', x5c: [other] },
        { kty: 'EC', use: 'wit-svid', kid: 'w' },
        { kty: 'OKP', use: 'jwt-svid', kid: 'ed', crv: 'Ed25519', x: 'AAAA' },
        { kty: 'EC', use: 'x509-svid' },
        { kty: 'EC', use: 'x509-svid', x5c: [] },
      ],
      unknown_member: { anything: true },
    };
    const bundle = parseSpiffeBundle('a.org', JSON.stringify(doc))._unsafeUnwrap();
    expect(bundle.x509Authorities.map((c) => c.der)).toEqual([a.bundle.authorities[0]!.der]);
    expect(bundle.jwtAuthorities.size).toBe(0);
    expect(bundle.sequenceNumber).toBeUndefined();
  });

  it('an empty keys array is valid and revokes everything', async () => {
    const empty = parseSpiffeBundle('a.org', '{"keys":[]}')._unsafeUnwrap();
    const svid = await a.issue('spiffe://a.org/w');
    expect(verifyX509Svid(svid.certificates, createBundleSet([empty]))._unsafeUnwrapErr().code).toBe(
      'SPIFFE_ERR_UNKNOWN_AUTHORITY',
    );
    const token = a.mintJwtSvid('spiffe://a.org/w', { audience: 'x' });
    expect(validateJwtSvid(token, createBundleSet([empty]), ['x'])._unsafeUnwrapErr().code).toBe(
      'SPIFFE_ERR_JWT_KEY_NOT_FOUND',
    );
  });

  it.each([
    ['no keys member', '{}'],
    ['keys not an array', '{"keys":{}}'],
    ['a key that is not an object', '{"keys":[1]}'],
    ['a key without kty', '{"keys":[{"use":"x509-svid","x5c":["AAAA"]}]}'],
    ['x5c in base64url', `{"keys":[{"kty":"EC","use":"x509-svid","x5c":["-_-_"]}]}`],
    ['x5c that is not a certificate', '{"keys":[{"kty":"EC","use":"x509-svid","x5c":["MAA="]}]}'],
    [
      'a jwt-svid key without kid',
      '{"keys":[{"kty":"EC","use":"jwt-svid","crv":"P-256","x":"AA","y":"AA"}]}',
    ],
    [
      'a jwt-svid key with an empty kid',
      '{"keys":[{"kty":"EC","use":"jwt-svid","kid":"","crv":"P-256","x":"AA","y":"AA"}]}',
    ],
    [
      'a jwt-svid EC key with short coordinates',
      '{"keys":[{"kty":"EC","use":"jwt-svid","kid":"k","crv":"P-256","x":"AA","y":"AA"}]}',
    ],
    [
      'a private key',
      '{"keys":[{"kty":"EC","use":"jwt-svid","kid":"k","crv":"P-256","x":"AA","y":"AA","d":"AA"}]}',
    ],
    ['a negative sequence', '{"keys":[],"spiffe_sequence":-1}'],
    ['a fractional sequence', '{"keys":[],"spiffe_sequence":1.5}'],
    ['a sequence above 2^64-1', '{"keys":[],"spiffe_sequence":18446744073709551616}'],
    ['a string refresh hint', '{"keys":[],"spiffe_refresh_hint":"300"}'],
  ])('rejects %s with SPIFFE_ERR_BUNDLE', (_name, text) => {
    expect(parseSpiffeBundle('a.org', text)._unsafeUnwrapErr().code).toBe('SPIFFE_ERR_BUNDLE');
  });

  it('rejects duplicate members and malformed JSON with SPIFFE_ERR_JSON', () => {
    expect(parseSpiffeBundle('a.org', '{"keys":[],"keys":[]}')._unsafeUnwrapErr().code).toBe(
      'SPIFFE_ERR_JSON',
    );
    expect(parseSpiffeBundle('a.org', '{"keys":[')._unsafeUnwrapErr().code).toBe('SPIFFE_ERR_JSON');
  });

  it('JWK <-> SPKI conversions agree with OpenSSL for EC and RSA keys', () => {
    for (const options of [
      { type: 'ec', namedCurve: 'P-256' },
      { type: 'ec', namedCurve: 'P-384' },
      { type: 'ec', namedCurve: 'P-521' },
    ] as const) {
      const { publicKey } = generateKeyPairSync(options.type, { namedCurve: options.namedCurve });
      const spki = new Uint8Array(publicKey.export({ format: 'der', type: 'spki' }));
      const jwk = jwkFromSpki(spki)._unsafeUnwrap();
      expect(jwk).toEqual(publicKey.export({ format: 'jwk' }));
      expect(Buffer.from(spkiFromJwk(jwk)).equals(Buffer.from(spki))).toBe(true);
    }
    const rsa = generateKeyPairSync('rsa', { modulusLength: 2048 }).publicKey;
    const rsaSpki = new Uint8Array(rsa.export({ format: 'der', type: 'spki' }));
    expect(jwkFromSpki(rsaSpki)._unsafeUnwrap()).toEqual(rsa.export({ format: 'jwk' }));
    expect(Buffer.from(spkiFromJwk(jwkFromSpki(rsaSpki)._unsafeUnwrap())).equals(Buffer.from(rsaSpki))).toBe(
      true,
    );
  });
});

describe('bundle maps (spiffe/spiffe@665a28f:standards/SPIFFE_Trust_Domain_and_Bundle.md §5.1.1)', () => {
  it('round-trip several trust domains and reject the same domain twice', () => {
    const text = serializeSpiffeBundleMap([a.spiffeBundle({ sequenceNumber: 1n }), b.spiffeBundle()]);
    const map = parseSpiffeBundleMap(text)._unsafeUnwrap();
    expect([...map.keys()]).toEqual(['a.org', 'b.org']);
    expect(map.get('a.org')?.sequenceNumber).toBe(1n);
    expect(
      parseSpiffeBundleMap('{"trust_domains":{"a.org":{"keys":[]},"a.org":{"keys":[]}}}')._unsafeUnwrapErr()
        .code,
    ).toBe('SPIFFE_ERR_JSON');
    expect(
      parseSpiffeBundleMap(
        '{"trust_domains":{"a.org":{"keys":[]},"spiffe://a.org":{"keys":[]}}}',
      )._unsafeUnwrapErr().code,
    ).toBe('SPIFFE_ERR_DUPLICATE_TRUST_DOMAIN');
    expect(parseSpiffeBundleMap('{"trust_domains":{"A.org":{"keys":[]}}}')._unsafeUnwrapErr().code).toBe(
      'SPIFFE_ERR_BUNDLE',
    );
    expect(parseSpiffeBundleMap('{"bundles":{}}')._unsafeUnwrapErr().code).toBe('SPIFFE_ERR_BUNDLE');
    expect(() => serializeSpiffeBundleMap([a.spiffeBundle(), a.spiffeBundle()])).toThrow(RangeError);
  });
});

describe('bundle sets: federation without merging (spiffe/spiffe@665a28f:standards/SPIFFE_Workload_API.md §4.6)', () => {
  it('checks each peer only against its own trust domain, and follows set/delete', async () => {
    const set = createBundleSet([a.spiffeBundle(), b.bundle]);
    const fromA = await a.issue('spiffe://a.org/w');
    const fromB = await b.issue('spiffe://b.org/w');
    expect(verifyX509Svid(fromA.certificates, set).isOk()).toBe(true);
    expect(verifyX509Svid(fromB.certificates, set).isOk()).toBe(true);
    expect(set.trustDomains().map((t) => t.name)).toEqual(['a.org', 'b.org']);
    expect(set.getJwtBundleForTrustDomain(parseTrustDomain('a.org')._unsafeUnwrap())?.authorities.size).toBe(
      1,
    );
    expect(set.x509Bundles()).toHaveLength(2);
    expect(set.jwtBundles()).toHaveLength(1);
    // A bundle for b.org holding a.org's root: b.org SVIDs no longer verify, a.org ones still do.
    set.set(createX509Bundle('b.org', a.bundle.authorities));
    expect(verifyX509Svid(fromB.certificates, set)._unsafeUnwrapErr().code).toBe(
      'SPIFFE_ERR_UNKNOWN_AUTHORITY',
    );
    expect(verifyX509Svid(fromA.certificates, set).isOk()).toBe(true);
    expect(set.delete('a.org')).toBe(true);
    expect(set.delete('a.org')).toBe(false);
    expect(verifyX509Svid(fromA.certificates, set)._unsafeUnwrapErr().code).toBe('SPIFFE_ERR_NO_BUNDLE');
    expect(() => createBundleSet([a.bundle, a.bundle])).toThrow(RangeError);
    expect(() => createBundleSet([a.jwtBundle, createJwtBundle('a.org', [])])).toThrow(RangeError);
  });
});
