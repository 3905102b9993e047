import { create, fromBinary, toBinary } from '@bufbuild/protobuf';
import fc from 'fast-check';
import { beforeAll, describe, expect, it } from 'vitest';
import { type CertificateAuthority, createCertificateAuthority } from '../ca/certificate-authority.js';
import { decodePem } from '../codec/pem.js';
import { type X509SVIDResponse, X509SVIDResponseSchema } from '../gen/spiffe/workload/workload_pb.js';
import type { X509Svid } from '../x509/svid.js';
import { concatDer } from './bundle-map.js';
import { decodeX509SvidResponse, encodeX509SvidResponse, MAX_SVIDS_PER_RESPONSE } from './x509-context.js';

let a: CertificateAuthority;
let b: CertificateAuthority;
let web: X509Svid;
let db: X509Svid;

beforeAll(async () => {
  a = await createCertificateAuthority({ trustDomain: 'a.org', intermediate: true });
  b = await createCertificateAuthority({ trustDomain: 'b.org' });
  web = await a.issue('spiffe://a.org/web');
  db = await a.issue('spiffe://a.org/db');
});

const pkcs8 = (svid: X509Svid): Uint8Array =>
  decodePem(svid.privateKeyPem)._unsafeUnwrap()[0]?.der as Uint8Array;

function entry(svid: X509Svid, overrides: Partial<X509SVIDResponse['svids'][number]> = {}) {
  return {
    spiffeId: svid.id.toString(),
    x509Svid: concatDer(svid.certificates),
    x509SvidKey: pkcs8(svid),
    bundle: concatDer(a.bundle.authorities),
    hint: '',
    ...overrides,
  };
}

function decode(svids: ReturnType<typeof entry>[], federated: Record<string, Uint8Array> = {}) {
  return decodeX509SvidResponse(create(X509SVIDResponseSchema, { svids, federatedBundles: federated }));
}

describe('the X.509 context on the wire', () => {
  it('encodes as an agent sends it and decodes back: chain, PKCS#8 key, own bundle, federated bundles', () => {
    const message = encodeX509SvidResponse(
      [{ svid: web, hint: 'internal' }, { svid: db }],
      [a.bundle, b.bundle],
    );
    expect(message.svids.map((s) => [s.spiffeId, s.hint])).toEqual([
      ['spiffe://a.org/web', 'internal'],
      ['spiffe://a.org/db', ''],
    ]);
    expect(Object.keys(message.federatedBundles)).toEqual(['spiffe://b.org']);
    // Through the wire encoding and back.
    const context = decodeX509SvidResponse(
      fromBinary(X509SVIDResponseSchema, toBinary(X509SVIDResponseSchema, message)),
    )._unsafeUnwrap();
    expect(context.svids.map((s) => [s.id.toString(), s.hint, s.certChainPem, s.privateKeyPem])).toEqual([
      ['spiffe://a.org/web', 'internal', web.certChainPem, web.privateKeyPem],
      ['spiffe://a.org/db', '', db.certChainPem, db.privateKeyPem],
    ]);
    expect(context.bundles.trustDomains().map(String)).toEqual(['a.org', 'b.org']);
    expect(() => encodeX509SvidResponse([{ svid: web }], [b.bundle])).toThrow(
      expect.objectContaining({ code: 'SPIFFE_ERR_NO_BUNDLE' }),
    );
  });

  it('keeps the first of SVIDs sharing a hint; empty hints are not duplicates', () => {
    const context = decode([
      entry(web, { hint: 'x' }),
      entry(db, { hint: 'x' }),
      entry(db),
      entry(web),
    ])._unsafeUnwrap();
    expect(context.svids.map((s) => [s.id.toString(), s.hint])).toEqual([
      ['spiffe://a.org/web', 'x'],
      ['spiffe://a.org/db', ''],
      ['spiffe://a.org/web', ''],
    ]);
  });

  it('a federated entry for an SVID’s own trust domain does not replace the SVID’s bundle', () => {
    const context = decode([entry(web)], {
      'spiffe://a.org': concatDer(b.bundle.authorities),
    })._unsafeUnwrap();
    expect(context.bundles.getX509BundleForTrustDomain(a.trustDomain)?.toPem()).toBe(a.bundle.toPem());
  });

  it.each([
    ['no SVID', () => decode([])],
    ['no spiffe_id', () => decode([entry(web, { spiffeId: '' })])],
    ['no chain', () => decode([entry(web, { x509Svid: new Uint8Array() })])],
    ['no key', () => decode([entry(web, { x509SvidKey: new Uint8Array() })])],
    ['no bundle', () => decode([entry(web, { bundle: new Uint8Array() })])],
    ['another key', () => decode([entry(web, { x509SvidKey: pkcs8(db) })])],
    ['a spiffe_id that is not the leaf’s', () => decode([entry(web, { spiffeId: 'spiffe://a.org/db' })])],
    [
      'a CA certificate as the leaf',
      () => decode([entry(web, { x509Svid: concatDer(a.bundle.authorities) })]),
    ],
    ['a truncated chain', () => decode([entry(web, { x509Svid: concatDer(web.certificates).subarray(5) })])],
    [
      'a key that is not PKCS#8',
      () => decode([entry(web, { x509SvidKey: new Uint8Array([48, 3, 2, 1, 0]) })]),
    ],
    [
      'a bad federated key',
      () => decode([entry(web)], { 'spiffe://B.org': concatDer(b.bundle.authorities) }),
    ],
    [
      'too many SVIDs',
      () =>
        decode(Array.from({ length: MAX_SVIDS_PER_RESPONSE + 1 }, (_, i) => entry(web, { hint: `h${i}` }))),
    ],
  ])('refuses a message with %s, as a whole', (_name, run) => {
    expect(run()._unsafeUnwrapErr().code).toBe('SPIFFE_ERR_WORKLOAD_API_BAD_RESPONSE');
  });

  it('never throws on arbitrary field contents', () => {
    fc.assert(
      fc.property(
        fc.array(
          fc.record({
            spiffeId: fc.constantFrom('', 'spiffe://a.org/web', 'x'),
            x509Svid: fc.oneof(fc.uint8Array({ maxLength: 64 }), fc.constant(concatDer(web.certificates))),
            x509SvidKey: fc.oneof(fc.uint8Array({ maxLength: 64 }), fc.constant(pkcs8(web))),
            bundle: fc.oneof(fc.uint8Array({ maxLength: 64 }), fc.constant(concatDer(a.bundle.authorities))),
            hint: fc.string({ maxLength: 4 }),
          }),
          { maxLength: 3 },
        ),
        (svids) => {
          const r = decode(svids);
          if (r.isErr()) expect(r.error.code).toBe('SPIFFE_ERR_WORKLOAD_API_BAD_RESPONSE');
          else expect(r.value.svids.length).toBeGreaterThan(0);
        },
      ),
      { numRuns: 200 },
    );
  });
});
