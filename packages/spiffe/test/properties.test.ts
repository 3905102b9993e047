/**
 * fast-check properties over every parser (issue 2 "What it must show"): no input throws anything but a coded
 * error or hangs, inputs are size-capped before parsing, and round trips hold.
 */
import fc from 'fast-check';
import { beforeAll, describe, expect, it } from 'vitest';
import { type CertificateAuthority, createCertificateAuthority } from '../src/ca/certificate-authority.js';
import { base64Encode } from '../src/codec/base64.js';
import { createBundleSet } from '../src/codec/bundle-set.js';
import { SpiffeError } from '../src/codec/errors.js';
import { parseJwtSvidInsecure } from '../src/codec/jwt-svid.js';
import { encodePem } from '../src/codec/pem.js';
import { parseSpiffeBundle, parseSpiffeBundleMap } from '../src/codec/spiffe-bundle.js';
import { MAX_CERTIFICATE_BYTES, parseCertificate } from '../src/codec/x509/certificate.js';
import { splitConcatenatedDer, x509BundleFromPem } from '../src/codec/x509-bundle.js';
import { parseX509Svid } from '../src/x509/svid.js';
import { verifyX509Svid } from '../src/x509/verify.js';

let ca: CertificateAuthority;
let leafDer: Uint8Array;
let midDer: Uint8Array;
let keyPem: string;

beforeAll(async () => {
  ca = await createCertificateAuthority({ trustDomain: 'example.org', intermediate: true });
  const svid = await ca.issue('spiffe://example.org/ns/default/sa/sleep', {
    dnsNames: ['sleep.default.svc'],
  });
  [leafDer, midDer] = svid.certificates as [Uint8Array, Uint8Array];
  keyPem = svid.privateKeyPem;
});

/** A real certificate with some bytes changed, some dropped, or some inserted. */
function mutated(source: () => Uint8Array): fc.Arbitrary<Uint8Array> {
  return fc
    .tuple(
      fc.array(fc.tuple(fc.nat(), fc.integer({ min: 0, max: 255 })), { minLength: 1, maxLength: 6 }),
      fc.option(fc.nat(), { nil: undefined }),
      fc.option(fc.tuple(fc.nat(), fc.uint8Array({ minLength: 1, maxLength: 8 })), { nil: undefined }),
    )
    .map(([flips, cut, insert]) => {
      const base = source();
      let out = new Uint8Array(base);
      for (const [at, value] of flips) out[at % out.length] = value;
      if (cut !== undefined) out = out.subarray(0, cut % out.length);
      if (insert !== undefined) {
        const at = insert[0] % (out.length + 1);
        out = new Uint8Array([...out.subarray(0, at), ...insert[1], ...out.subarray(at)]);
      }
      return out;
    });
}

const coded = (e: unknown): boolean => e instanceof SpiffeError;

describe('certificate parsing', () => {
  it('parseCertificate never throws on mutated, truncated or random DER', () => {
    fc.assert(
      fc.property(
        fc.oneof(
          mutated(() => leafDer),
          mutated(() => midDer),
          fc.uint8Array({ maxLength: 200 }),
        ),
        (der) => {
          const r = parseCertificate(der);
          return r.isOk() || coded(r.error);
        },
      ),
      { numRuns: 3000 },
    );
  });
  it('a mutated chain never verifies as someone else, and never throws', () => {
    const bundles = createBundleSet([ca.bundle]);
    fc.assert(
      fc.property(
        mutated(() => leafDer),
        (der) => {
          const r = verifyX509Svid([der, midDer], bundles);
          // Either a coded failure, or exactly the original identity (a flip in an unsigned part is impossible:
          // every byte of the TBS is signed, so accepting means the bytes were left intact).
          return r.isErr()
            ? coded(r.error)
            : r.value.id.toString() === 'spiffe://example.org/ns/default/sa/sleep' &&
                Buffer.from(der).equals(Buffer.from(leafDer));
        },
      ),
      { numRuns: 1000 },
    );
  });
  it('size caps apply before parsing', () => {
    expect(parseCertificate(new Uint8Array(MAX_CERTIFICATE_BYTES + 1))._unsafeUnwrapErr().code).toBe(
      'SPIFFE_ERR_TOO_LARGE',
    );
    expect(x509BundleFromPem('example.org', 'A'.repeat(1024 * 1024 + 1))._unsafeUnwrapErr().code).toBe(
      'SPIFFE_ERR_TOO_LARGE',
    );
    expect(parseSpiffeBundle('example.org', ' '.repeat(4 * 1024 * 1024 + 1))._unsafeUnwrapErr().code).toBe(
      'SPIFFE_ERR_TOO_LARGE',
    );
    expect(parseJwtSvidInsecure('a'.repeat(16 * 1024 + 1))._unsafeUnwrapErr().code).toBe(
      'SPIFFE_ERR_TOO_LARGE',
    );
    // A 70 000-byte element (header 30 83 01 11 70) is refused by its header, before it is buffered or parsed.
    const big = new Uint8Array(5 + 70_000);
    big.set([0x30, 0x83, 0x01, 0x11, 0x70]);
    expect(splitConcatenatedDer(big)._unsafeUnwrapErr().code).toBe('SPIFFE_ERR_TOO_LARGE');
  });
});

describe('PEM, bundle and SVID parsers', () => {
  it('x509BundleFromPem and splitConcatenatedDer never throw', () => {
    fc.assert(
      fc.property(
        fc.oneof(
          mutated(() => leafDer),
          fc.uint8Array({ maxLength: 100 }),
        ),
        (der) => {
          const pem = x509BundleFromPem('example.org', encodePem('CERTIFICATE', der));
          const split = splitConcatenatedDer(der);
          return (pem.isOk() || coded(pem.error)) && (split.isOk() || coded(split.error));
        },
      ),
      { numRuns: 1000 },
    );
  });
  it('parseSpiffeBundle and parseSpiffeBundleMap never throw on JSON-shaped noise', () => {
    const x5c = fc.oneof(
      fc.constant(base64Encode(new Uint8Array([0x30, 0x00]))),
      fc.string({ maxLength: 20 }),
      mutated(() => midDer).map((d) => base64Encode(d)),
    );
    const jwk = fc.record(
      {
        kty: fc.constantFrom('EC', 'RSA', 'OKP', 1, undefined),
        use: fc.constantFrom('x509-svid', 'jwt-svid', 'other', undefined),
        kid: fc.oneof(fc.string({ maxLength: 5 }), fc.constant(undefined)),
        x5c: fc.oneof(fc.array(x5c, { maxLength: 2 }), fc.constant('x')),
        crv: fc.constantFrom('P-256', 'P-384', 'X'),
        x: fc.base64String({ maxLength: 44 }),
        y: fc.base64String({ maxLength: 44 }),
        n: fc.base64String({ maxLength: 10 }),
        e: fc.constant('AQAB'),
      },
      { requiredKeys: [] },
    );
    const doc = fc.record(
      {
        keys: fc.oneof(fc.array(jwk, { maxLength: 4 }), fc.jsonValue()),
        spiffe_sequence: fc.oneof(fc.bigInt(), fc.double(), fc.string()),
        spiffe_refresh_hint: fc.jsonValue(),
      },
      { requiredKeys: [] },
    );
    const stringify = (v: unknown): string =>
      JSON.stringify(v, (_k, x: unknown) => (typeof x === 'bigint' ? Number(x) : x)) ?? 'null';
    fc.assert(
      fc.property(
        fc.oneof(doc.map(stringify), fc.jsonValue().map(stringify), fc.string({ maxLength: 60 })),
        (text) => {
          const one = parseSpiffeBundle('example.org', text);
          const map = parseSpiffeBundleMap(`{"trust_domains":{"example.org":${text}}}`);
          return (one.isOk() || coded(one.error)) && (map.isOk() || coded(map.error));
        },
      ),
      { numRuns: 1500 },
    );
  });
  it('parseX509Svid never throws', () => {
    fc.assert(
      fc.property(
        mutated(() => leafDer),
        fc.oneof(fc.constant(keyPem), fc.string({ maxLength: 100 })),
        (der, key) => {
          const r = parseX509Svid(encodePem('CERTIFICATE', der), key);
          return r.isOk() || coded(r.error);
        },
      ),
      { numRuns: 300 },
    );
  });
  it('signCsr rejects mutated requests with a coded error', async () => {
    const { createCsr } = await import('../src/ca/csr.js');
    const { generateKeyPairSync } = await import('node:crypto');
    const csr = await createCsr(
      'spiffe://example.org/x',
      generateKeyPairSync('ec', { namedCurve: 'P-256' }).privateKey,
    );
    const der = Buffer.from(csr.replace(/-----[A-Z ]+-----|\n/g, ''), 'base64');
    await fc.assert(
      fc.asyncProperty(
        mutated(() => new Uint8Array(der)),
        async (bytes) => {
          try {
            await ca.signCsr(encodePem('CERTIFICATE REQUEST', bytes), { id: 'spiffe://example.org/x' });
            return true; // an unchanged or still-valid request may be signed
          } catch (error) {
            return coded(error);
          }
        },
      ),
      { numRuns: 100 },
    );
  });
});
