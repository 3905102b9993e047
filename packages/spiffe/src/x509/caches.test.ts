/**
 * The process-global caches are bounded (issue 10): the parsed-certificate cache and the two signature caches
 * never hold more than their bound however many distinct chains go through, evict the least recently used
 * entry first, and keep serving warm verifications.
 */
import { describe, expect, it } from 'vitest';
import { forgeIntermediate, forgeLeaf, forgeRoot, newKey } from '../../test/support/forge.js';
import { createBundleSet } from '../codec/bundle-set.js';
import { parseCertificate } from '../codec/x509/certificate.js';
import { createX509Bundle } from '../codec/x509-bundle.js';
import {
  CERTIFICATE_CACHE_ENTRIES,
  certificateCacheSize,
  parseCertificateCached,
} from './certificate-cache.js';
import { createLruCache } from './lru-cache.js';
import {
  ISSUER_KEY_CACHE_ENTRIES,
  nodeSignatureCheck,
  PROVEN_SIGNATURE_CACHE_ENTRIES,
  publicKeyOf,
  signatureCacheSizes,
} from './signature.js';
import { verifyX509Svid } from './verify.js';

describe('createLruCache', () => {
  it('keeps at most maxEntries, forgetting the least recently used first', () => {
    const cache = createLruCache<string, number>(3);
    for (const [i, k] of ['a', 'b', 'c'].entries()) cache.set(k, i);
    expect(cache.get('a')).toBe(0); // a is now the most recent
    cache.set('d', 3); // evicts b, the least recently used
    expect(cache.size).toBe(3);
    expect(cache.get('b')).toBeUndefined();
    expect([cache.get('a'), cache.get('c'), cache.get('d')]).toEqual([0, 2, 3]);
    cache.set('c', 20); // an update refreshes too
    cache.set('e', 4); // evicts a
    expect(cache.get('a')).toBeUndefined();
    expect(cache.get('c')).toBe(20);
    cache.clear();
    expect(cache.size).toBe(0);
  });
  it('refuses a bound that is not a positive integer', () => {
    for (const bad of [0, -1, 1.5, Number.NaN]) expect(() => createLruCache(bad)).toThrow(RangeError);
  });
});

describe('bounded process-global caches', () => {
  const ID = 'spiffe://example.org/a';
  const root = forgeRoot('example.org');
  const bundles = createBundleSet([createX509Bundle('example.org', [root.cert])]);
  const key = newKey();
  const count =
    Math.max(CERTIFICATE_CACHE_ENTRIES, ISSUER_KEY_CACHE_ENTRIES, PROVEN_SIGNATURE_CACHE_ENTRIES) + 100;
  // Distinct intermediates under one root (one key: the caches are keyed by certificate, not by key).
  const ders = Array.from({ length: count }, (_, i) => forgeIntermediate(root, `ca-${i}`, { key }).der);

  it(`the certificate cache holds at most ${CERTIFICATE_CACHE_ENTRIES} certificates, LRU`, () => {
    const first = parseCertificateCached(ders[0]!)._unsafeUnwrap();
    const second = parseCertificateCached(ders[1]!)._unsafeUnwrap();
    for (const der of ders.slice(2)) {
      parseCertificateCached(der);
      // Keep the second one recently used.
      parseCertificateCached(ders[1]!);
      expect(certificateCacheSize()).toBeLessThanOrEqual(CERTIFICATE_CACHE_ENTRIES);
    }
    expect(certificateCacheSize()).toBe(CERTIFICATE_CACHE_ENTRIES);
    expect(parseCertificateCached(ders[1]!)._unsafeUnwrap()).toBe(second);
    // The first was evicted: the same bytes parse into a new object.
    expect(parseCertificateCached(ders[0]!)._unsafeUnwrap()).not.toBe(first);
  });

  it('the signature caches stay within their bounds, remember only CAs, and keep warm pairs', () => {
    const before = signatureCacheSizes();
    for (let i = 0; i < 5; i++)
      expect(verifyX509Svid([forgeLeaf(root, ID, { key }).der], bundles).isOk()).toBe(true);
    // Leaves signed by the root: the root's key is cached, no leaf is remembered as proven.
    expect(signatureCacheSizes().provenSignatures).toBe(before.provenSignatures);

    const cas = ders.map((der) => parseCertificate(der)._unsafeUnwrap());
    for (const ca of cas) {
      expect(nodeSignatureCheck(ca, root.cert)).toBeUndefined();
      publicKeyOf(ca);
      const sizes = signatureCacheSizes();
      expect(sizes.issuerKeys).toBeLessThanOrEqual(ISSUER_KEY_CACHE_ENTRIES);
      expect(sizes.provenSignatures).toBeLessThanOrEqual(PROVEN_SIGNATURE_CACHE_ENTRIES);
    }
    expect(signatureCacheSizes()).toEqual({
      issuerKeys: ISSUER_KEY_CACHE_ENTRIES,
      provenSignatures: PROVEN_SIGNATURE_CACHE_ENTRIES,
    });
    // A recent pair is still proven; a copy with a broken signature is another object and is checked afresh.
    const last = cas[cas.length - 1]!;
    const tampered = parseCertificate(flipLastByte(last.der))._unsafeUnwrap();
    expect(nodeSignatureCheck(last, root.cert)).toBeUndefined();
    expect(nodeSignatureCheck(tampered, root.cert)?.code).toBe('SPIFFE_ERR_BAD_SIGNATURE');
  });
});

function flipLastByte(der: Uint8Array): Uint8Array {
  const copy = Uint8Array.from(der);
  copy[copy.length - 1] = (copy[copy.length - 1] as number) ^ 1;
  return copy;
}
