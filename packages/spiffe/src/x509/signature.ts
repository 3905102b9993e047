/**
 * Certificate signature checks with `node:crypto` (OpenSSL), plus the two bounded caches that make repeated
 * verification cheap: one `KeyObject` per issuer certificate, and the (CA certificate, issuer) pairs already
 * proven. Both are keyed by parsed-certificate identity, and the runtime keeps one parsed object per distinct
 * DER (see `certificate-cache.ts`), so a warm bundle and a known intermediate cost one asymmetric operation per
 * new leaf. Leaves are never remembered as proven: a fresh leaf object each time would only churn the cache.
 * @module
 */
import { constants, createPublicKey, type KeyObject, verify } from 'node:crypto';
import { SpiffeError } from '../codec/errors.js';
import { jwkFromSpki } from '../codec/jwk.js';
import type { ParsedCertificate } from '../codec/x509/certificate.js';
import type { SignatureCheck } from '../codec/x509/verify-chain.js';
import { createLruCache } from './lru-cache.js';

/** Most issuer keys kept (one `KeyObject` each, a few hundred bytes of native memory). */
export const ISSUER_KEY_CACHE_ENTRIES = 1024;
/** Most CA certificates whose signature by an issuer is remembered. */
export const PROVEN_SIGNATURE_CACHE_ENTRIES = 1024;
/** Most issuers remembered per CA certificate (cross-signed intermediates have a few). */
const MAX_PROVEN_ISSUERS = 8;

const keys = createLruCache<ParsedCertificate, KeyObject>(ISSUER_KEY_CACHE_ENTRIES);
const proven = createLruCache<ParsedCertificate, ParsedCertificate[]>(PROVEN_SIGNATURE_CACHE_ENTRIES);

/**
 * Forgets every cached issuer key and proven signature.
 *
 * @example
 * ```ts
 * clearSignatureCaches();
 * ```
 */
export function clearSignatureCaches(): void {
  keys.clear();
  proven.clear();
}

/**
 * The sizes of the signature caches now (for tests and diagnostics).
 *
 * @returns Entry counts, each at most its bound.
 * @example
 * ```ts
 * signatureCacheSizes(); // { issuerKeys: 2, provenSignatures: 1 }
 * ```
 */
export function signatureCacheSizes(): { readonly issuerKeys: number; readonly provenSignatures: number } {
  return { issuerKeys: keys.size, provenSignatures: proven.size };
}

/**
 * The public key of a parsed certificate as a `KeyObject` (cached per certificate object).
 *
 * @param cert - The certificate.
 * @returns Its key.
 * @throws {Error} When OpenSSL cannot read the key (callers turn it into `SPIFFE_ERR_UNSUPPORTED_ALGORITHM`).
 * @example
 * ```ts
 * const key = publicKeyOf(issuer);
 * ```
 */
export function publicKeyOf(cert: ParsedCertificate): KeyObject {
  let key = keys.get(cert);
  if (key === undefined) {
    key = importPublicKey(cert.subjectPublicKeyInfo);
    keys.set(cert, key);
  }
  return key;
}

// OpenSSL 3's generic SPKI decoder costs about 200 µs per key on the CI machine; building an EC or RSA key from
// its coordinates (a JWK *import*) costs about 100, which halves a cold verification's key set-up
// (`bench/spiffe`, "cold" row). Importing is not the Node 20 hazard `crypto/keys.ts` avoids: that is the JWK
// *export* of a key, which holds the key's lock while it allocates. Other key types take the DER path.
function importPublicKey(spki: Uint8Array): KeyObject {
  const jwk = jwkFromSpki(spki);
  if (jwk.isOk()) return createPublicKey({ key: { ...jwk.value }, format: 'jwk' });
  return createPublicKey({ key: Buffer.from(spki), format: 'der', type: 'spki' });
}

function compatible(child: ParsedCertificate, issuer: ParsedCertificate): boolean {
  const alg = child.signatureAlgorithm;
  if (alg === undefined) return false;
  switch (alg.kind) {
    case 'ecdsa':
      return issuer.publicKeyKind === 'ec';
    case 'ed25519':
      return issuer.publicKeyKind === 'ed25519';
    case 'rsa-pkcs1':
      return issuer.publicKeyKind === 'rsa';
    case 'rsa-pss':
      return issuer.publicKeyKind === 'rsa' || issuer.publicKeyKind === 'rsa-pss';
  }
}

/**
 * Verifies `child`'s signature with `issuer`'s key through OpenSSL: ECDSA (SHA-256/384/512), RSA PKCS#1 v1.5,
 * RSASSA-PSS and Ed25519. A CA certificate proven once is remembered with its issuer (a signature over
 * identical bytes does not change; identity of the parsed objects stands for identity of the bytes).
 *
 * @param child - The signed certificate.
 * @param issuer - The candidate issuer.
 * @returns `undefined` when valid; `SPIFFE_ERR_BAD_SIGNATURE` or `SPIFFE_ERR_UNSUPPORTED_ALGORITHM`.
 * @example
 * ```ts
 * verifySvidChain(certs, bundles, { nowMs: Date.now(), checkSignature: nodeSignatureCheck });
 * ```
 */
export const nodeSignatureCheck: SignatureCheck = (child, issuer) => {
  const issuers = proven.get(child);
  if (issuers?.includes(issuer)) return undefined;
  const alg = child.signatureAlgorithm;
  if (alg === undefined) {
    return new SpiffeError(
      'SPIFFE_ERR_UNSUPPORTED_ALGORITHM',
      `unsupported signature algorithm ${child.signatureAlgorithmOid} (SHA-1 and exotic algorithms are refused)`,
    );
  }
  if (!compatible(child, issuer)) {
    return new SpiffeError(
      'SPIFFE_ERR_BAD_SIGNATURE',
      `a ${alg.kind} signature cannot come from a ${issuer.publicKeyKind} key`,
    );
  }
  let valid: boolean;
  try {
    const key = publicKeyOf(issuer);
    switch (alg.kind) {
      case 'ecdsa':
        valid = verify(alg.hash, child.tbs, key, child.signature);
        break;
      case 'ed25519':
        valid = verify(null, child.tbs, key, child.signature);
        break;
      case 'rsa-pkcs1':
        valid = verify(alg.hash, child.tbs, { key, padding: constants.RSA_PKCS1_PADDING }, child.signature);
        break;
      case 'rsa-pss':
        valid = verify(
          alg.hash,
          child.tbs,
          { key, padding: constants.RSA_PKCS1_PSS_PADDING, saltLength: alg.saltLength },
          child.signature,
        );
        break;
    }
  } catch (cause) {
    return new SpiffeError(
      'SPIFFE_ERR_BAD_SIGNATURE',
      'the signature could not be checked with the issuer key',
      { cause },
    );
  }
  if (!valid)
    return new SpiffeError(
      'SPIFFE_ERR_BAD_SIGNATURE',
      'certificate signature does not verify with the issuer key',
    );
  // Only CA certificates (intermediates) recur; a leaf is parsed afresh on every verification.
  if (child.basicConstraints?.ca === true) {
    if (issuers === undefined) proven.set(child, [issuer]);
    else if (issuers.length < MAX_PROVEN_ISSUERS) issuers.push(issuer);
  }
  return undefined;
};
