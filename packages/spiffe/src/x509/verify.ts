/**
 * `verifyX509Svid`: SPIFFE validation of a peer's chain with OpenSSL signatures and warm caches.
 * @module
 */
import { err, type Result } from 'neverthrow';
import type { BundleSource } from '../codec/bundle-set.js';
import { quote, SpiffeError } from '../codec/errors.js';
import { decodePem } from '../codec/pem.js';
import { type ParsedCertificate, parseCertificate } from '../codec/x509/certificate.js';
import {
  MAX_CHAIN_CERTIFICATES,
  type TlsPeerRole,
  type VerifiedSvid,
  verifySvidChain,
} from '../codec/x509/verify-chain.js';
import { clearCertificateCache, parseCertificateCached } from './certificate-cache.js';
import { clearSignatureCaches, nodeSignatureCheck } from './signature.js';

/** Options of {@link verifyX509Svid}. */
export interface VerifyX509SvidOptions {
  /** The time to check validity at (default: now). */
  readonly now?: Date;
  /**
   * The TLS role of the chain's owner: every certificate of the path, the root included, that has an
   * extendedKeyUsage extension must list this usage, as OpenSSL's SSL client/server purposes require
   * (`anyExtendedKeyUsage` alone does not do). Unset by default: no usage check, like go-spiffe
   * `x509svid.Verify`.
   */
  readonly requiredExtendedKeyUsage?: TlsPeerRole;
}

/**
 * Verifies an X509-SVID chain presented by a peer (`docs/spiffe.md` "Verifying X.509-SVIDs"): the leaf has
 * exactly one URI SAN (a second URI of any scheme is an error), a SPIFFE ID with a path, CA:false,
 * digitalSignature and neither keyCertSign nor cRLSign; issuers are CAs allowed to sign, path lengths hold,
 * name constraints hold as OpenSSL evaluates them, every signature and validity window is checked at `now`, and
 * for a TLS role the extended key usage chains through every certificate; intermediates come only from the
 * presented chain and roots only from the bundle of the leaf's own trust domain, never from a union of all
 * roots. SANs are read from DER, never from Node's display strings.
 *
 * Roots and known intermediates are cached (parsed once per distinct DER, their signatures proven once; bounded
 * caches, see {@link clearVerificationCaches}), so a warm bundle costs one signature check per new leaf.
 *
 * @param chain - PEM text, or DER certificates leaf first (e.g. `getPeerCertificate(true)` raws).
 * @param bundles - Bundles by trust domain.
 * @param options - `now`, and an EKU role for TLS peers.
 * @returns `{ id, chain, leaf, expiresAt }`, or a `SpiffeError` with the rule broken.
 * @example
 * ```ts
 * const result = verifyX509Svid(peerChainPem, createBundleSet([ca.bundle]));
 * if (result.isOk()) console.log(result.value.id.toString());
 * else console.log(result.error.code); // e.g. 'SPIFFE_ERR_UNKNOWN_AUTHORITY'
 * ```
 */
export function verifyX509Svid(
  chain: string | readonly Uint8Array[],
  bundles: BundleSource,
  options: VerifyX509SvidOptions = {},
): Result<VerifiedSvid, SpiffeError> {
  let ders: readonly Uint8Array[];
  if (typeof chain === 'string') {
    const blocks = decodePem(chain, { maxBlocks: MAX_CHAIN_CERTIFICATES + 1 });
    if (blocks.isErr()) return err(blocks.error);
    const wrong = blocks.value.find((b) => b.label !== 'CERTIFICATE');
    if (wrong !== undefined) {
      return err(
        new SpiffeError('SPIFFE_ERR_PEM', `expected CERTIFICATE blocks, found ${quote(wrong.label)}`),
      );
    }
    ders = blocks.value.map((b) => b.der);
  } else if (Array.isArray(chain)) {
    ders = chain;
  } else {
    throw new TypeError('verifyX509Svid: chain must be PEM text or an array of DER certificates');
  }
  if (ders.length === 0)
    return err(new SpiffeError('SPIFFE_ERR_EMPTY_CHAIN', 'the certificate chain is empty'));
  if (ders.length > MAX_CHAIN_CERTIFICATES) {
    return err(
      new SpiffeError(
        'SPIFFE_ERR_CHAIN_TOO_LONG',
        `chain of ${ders.length} certificates exceeds ${MAX_CHAIN_CERTIFICATES}`,
      ),
    );
  }
  const certs: ParsedCertificate[] = [];
  for (const [i, der] of ders.entries()) {
    if (!(der instanceof Uint8Array))
      throw new TypeError('verifyX509Svid: chain elements must be Uint8Array');
    const parsed = i === 0 ? parseCertificate(der) : parseCertificateCached(der);
    if (parsed.isErr()) return err(parsed.error);
    certs.push(parsed.value);
  }
  const nowMs = options.now === undefined ? Date.now() : options.now.getTime();
  return verifySvidChain(certs, bundles, {
    nowMs,
    checkSignature: nodeSignatureCheck,
    ...(options.requiredExtendedKeyUsage === undefined
      ? {}
      : { requiredExtendedKeyUsage: options.requiredExtendedKeyUsage }),
  });
}

/**
 * Empties the process-wide verification caches (parsed intermediates, issuer keys, proven signatures). They are
 * bounded and need no care; this is for a process that retired many bundles and wants the memory back at once,
 * and for measuring cold verification.
 *
 * @example
 * ```ts
 * bundles.delete('old.example');
 * clearVerificationCaches();
 * ```
 */
export function clearVerificationCaches(): void {
  clearCertificateCache();
  clearSignatureCaches();
}
