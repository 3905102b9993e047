/**
 * Certificate signature checks with `node:crypto` (OpenSSL), plus the caches that make repeated verification
 * cheap: one `KeyObject` per issuer certificate, and the set of (child, issuer) pairs already proven. Both are
 * keyed by parsed-certificate identity, and the runtime keeps one parsed object per distinct DER (see
 * `certificate-cache.ts`), so a warm bundle and a known intermediate cost no asymmetric operation at all.
 * @module
 */
import { constants, createPublicKey, type KeyObject, verify } from 'node:crypto';
import { SpiffeError } from '../codec/errors.js';
import type { ParsedCertificate } from '../codec/x509/certificate.js';
import type { SignatureCheck } from '../codec/x509/verify-chain.js';

const keys = new WeakMap<ParsedCertificate, KeyObject>();
const proven = new WeakMap<ParsedCertificate, WeakSet<ParsedCertificate>>();

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
    key = createPublicKey({ key: Buffer.from(cert.subjectPublicKeyInfo), format: 'der', type: 'spki' });
    keys.set(cert, key);
  }
  return key;
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
 * RSASSA-PSS and Ed25519. A pair proven once is remembered (signatures over identical bytes do not change).
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
  const seen = proven.get(issuer);
  if (seen?.has(child)) return undefined;
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
  if (seen === undefined) proven.set(issuer, new WeakSet([child]));
  else seen.add(child);
  return undefined;
};
