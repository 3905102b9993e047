/**
 * A bounded cache of parsed certificates keyed by their DER bytes. Intermediates and roots recur on every
 * handshake with the same peer; reusing one parsed object per DER lets the signature cache (`signature.ts`)
 * recognise pairs it already proved. Leaves are never cached: each verification parses its leaf afresh.
 * @module
 */
import { ok, type Result } from 'neverthrow';
import type { SpiffeError } from '../codec/errors.js';
import { type ParsedCertificate, parseCertificate } from '../codec/x509/certificate.js';
import { createLruCache } from './lru-cache.js';

/**
 * Most certificates kept. Each is ~1 KiB plus its parsed fields, so the cache stays around 2-3 MiB at most.
 */
export const CERTIFICATE_CACHE_ENTRIES = 1024;

const cache = createLruCache<string, ParsedCertificate>(CERTIFICATE_CACHE_ENTRIES);

/**
 * Parses `der`, or returns the object parsed earlier for the same bytes (LRU, {@link
 * CERTIFICATE_CACHE_ENTRIES}).
 *
 * @param der - A DER certificate.
 * @returns The parsed certificate, or its parse error (errors are not cached).
 * @example
 * ```ts
 * const intermediate = parseCertificateCached(chain[1])._unsafeUnwrap();
 * ```
 */
export function parseCertificateCached(der: Uint8Array): Result<ParsedCertificate, SpiffeError> {
  // The whole DER is the key: a certificate is only ever reused for exactly the same bytes.
  const key = Buffer.from(der.buffer, der.byteOffset, der.byteLength).toString('latin1');
  const hit = cache.get(key);
  if (hit !== undefined) return ok(hit);
  // Keep our own copy: the caller's buffer may be reused after we return.
  const parsed = parseCertificate(new Uint8Array(der));
  if (parsed.isOk()) cache.set(key, parsed.value);
  return parsed;
}

/**
 * How many certificates the cache holds now (for tests and diagnostics).
 *
 * @returns The entry count, at most {@link CERTIFICATE_CACHE_ENTRIES}.
 * @example
 * ```ts
 * certificateCacheSize(); // 2
 * ```
 */
export function certificateCacheSize(): number {
  return cache.size;
}

/**
 * Forgets every cached certificate.
 *
 * @example
 * ```ts
 * clearCertificateCache();
 * ```
 */
export function clearCertificateCache(): void {
  cache.clear();
}
