/**
 * One's own X509-SVID: the certificate chain and private key a workload presents (go-spiffe `x509svid.SVID`).
 * @module
 */
import { createPublicKey } from 'node:crypto';
import { err, ok, type Result } from 'neverthrow';
import { equalBytes } from '../codec/bytes.js';
import { SpiffeError } from '../codec/errors.js';
import { encodePem } from '../codec/pem.js';
import type { SpiffeId } from '../codec/spiffe-id.js';
import { type ParsedCertificate, parseCertificatesPem } from '../codec/x509/certificate.js';
import { KEY_USAGE } from '../codec/x509/oids.js';
import { checkLeafProfile, MAX_CHAIN_CERTIFICATES } from '../codec/x509/verify-chain.js';
import { readPrivateKey } from '../crypto/keys.js';

/** An X509-SVID with its private key: what a workload presents in TLS. Immutable. */
export interface X509Svid {
  /** The SPIFFE ID (the leaf's URI SAN). */
  readonly id: SpiffeId;
  /** The chain, DER, leaf first, intermediates after, no root. */
  readonly certificates: Uint8Array[];
  /** The same chain as PEM blocks (what `tls.createSecureContext({ cert })` takes). */
  readonly certChainPem: string;
  /** The private key, PKCS#8 PEM (`-----BEGIN PRIVATE KEY-----`). */
  readonly privateKeyPem: string;
  /** The leaf's notBefore. */
  readonly notBefore: Date;
  /** The leaf's notAfter. */
  readonly notAfter: Date;
}

/**
 * Builds an {@link X509Svid} from parsed parts, applying the profile checks of go-spiffe `x509svid.Parse`: the
 * leaf rules of `docs/spiffe.md` "Verifying X.509-SVIDs", every further certificate a CA allowed to sign, and
 * the key matching the leaf. A trailing self-issued CA certificate (a root, as istiod's `cert_chain` ends with)
 * is dropped, since an SVID's chain carries no root.
 *
 * @param chain - Parsed certificates, leaf first.
 * @param privateKeyPem - The key, PKCS#8 or legacy SEC1/PKCS#1 PEM (normalised to PKCS#8).
 * @returns The SVID, or the rule broken.
 * @example
 * ```ts
 * const svid = x509SvidFromParts([leaf, intermediate], keyPem)._unsafeUnwrap();
 * ```
 */
function x509SvidFromParts(
  chain: readonly ParsedCertificate[],
  privateKeyPem: string,
): Result<X509Svid, SpiffeError> {
  const parts = [...chain];
  while (parts.length > 1) {
    const last = parts[parts.length - 1] as ParsedCertificate;
    if (!(equalBytes(last.subject, last.issuer) && last.basicConstraints?.ca === true)) break;
    parts.pop();
  }
  const [leaf, ...signers] = parts;
  if (leaf === undefined)
    return err(new SpiffeError('SPIFFE_ERR_EMPTY_CHAIN', 'no certificate in the SVID chain'));
  if (parts.length > MAX_CHAIN_CERTIFICATES) {
    return err(
      new SpiffeError(
        'SPIFFE_ERR_CHAIN_TOO_LONG',
        `SVID chain exceeds ${MAX_CHAIN_CERTIFICATES} certificates`,
      ),
    );
  }
  const id = checkLeafProfile(leaf);
  if (id.isErr()) return err(id.error);
  for (const signer of signers) {
    if (signer.basicConstraints?.ca !== true) {
      return err(
        new SpiffeError('SPIFFE_ERR_ISSUER_NOT_CA', 'an intermediate of the SVID chain is not a CA'),
      );
    }
    if (signer.keyUsage !== undefined && (signer.keyUsage & KEY_USAGE.keyCertSign) === 0) {
      return err(
        new SpiffeError('SPIFFE_ERR_ISSUER_KEY_USAGE', 'an intermediate of the SVID chain lacks keyCertSign'),
      );
    }
  }
  const key = readPrivateKey(privateKeyPem);
  if (key === undefined) {
    return err(
      new SpiffeError(
        'SPIFFE_ERR_PRIVATE_KEY',
        'the private key PEM is not an unencrypted PKCS#8, SEC1 or PKCS#1 key',
      ),
    );
  }
  const spki = new Uint8Array(createPublicKey(key).export({ format: 'der', type: 'spki' }));
  if (!equalBytes(spki, leaf.subjectPublicKeyInfo)) {
    return err(
      new SpiffeError('SPIFFE_ERR_KEY_MISMATCH', 'the private key does not match the leaf certificate'),
    );
  }
  const certificates = parts.map((c) => c.der);
  return ok(
    Object.freeze({
      id: id.value,
      certificates,
      certChainPem: certificates.map((der) => encodePem('CERTIFICATE', der)).join(''),
      privateKeyPem: key.export({ format: 'pem', type: 'pkcs8' }).toString(),
      notBefore: new Date(leaf.notBeforeMs),
      notAfter: new Date(leaf.notAfterMs),
    }),
  );
}

/**
 * Reads one's own X509-SVID from PEM files (go-spiffe `x509svid.Parse`): e.g. ones made by openssl, by istiod
 * (`cert-chain.pem` + `key.pem`) or by {@link CertificateAuthority.issue}. Checks the SVID profile and that the
 * key matches the leaf; it does not verify the chain against a bundle (use {@link verifyX509Svid} for that).
 *
 * @param certPem - The chain, leaf first (`CERTIFICATE` blocks only).
 * @param keyPem - The private key: PKCS#8, or SEC1/PKCS#1 as openssl writes them.
 * @returns The SVID, or `SPIFFE_ERR_PEM`, `SPIFFE_ERR_DER`, a profile error, `SPIFFE_ERR_PRIVATE_KEY` or
 * `SPIFFE_ERR_KEY_MISMATCH`.
 * @example
 * ```ts
 * const svid = parseX509Svid(readFileSync('cert-chain.pem', 'utf8'), readFileSync('key.pem', 'utf8'))._unsafeUnwrap();
 * svid.id.toString(); // 'spiffe://cluster.local/ns/default/sa/sleep'
 * ```
 */
export function parseX509Svid(certPem: string, keyPem: string): Result<X509Svid, SpiffeError> {
  const chain = parseCertificatesPem(certPem, MAX_CHAIN_CERTIFICATES + 1);
  if (chain.isErr()) return err(chain.error);
  if (typeof keyPem !== 'string' || keyPem.length > 64 * 1024) {
    return err(
      new SpiffeError('SPIFFE_ERR_PRIVATE_KEY', 'the private key PEM is missing or larger than 64 KiB'),
    );
  }
  return x509SvidFromParts(chain.value, keyPem);
}
