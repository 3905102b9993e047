/**
 * The TLS purpose check OpenSSL applies to every certificate of a path, the trust anchor included
 * (openssl/openssl@openssl-3.0.22: `crypto/x509/x509_vfy.c` `check_chain_extensions` → `check_purpose`, and
 * `crypto/x509/v3_purp.c` `check_purpose_ssl_client` / `check_purpose_ssl_server`). It is what
 * `openssl verify -purpose sslclient|sslserver` and a TLS handshake run, and rustls-webpki (ztunnel) chains
 * extended key usage through the CAs the same way:
 *
 * - a certificate with an extendedKeyUsage extension must list the role's usage: `clientAuth` for a client;
 *   `serverAuth` (or one of the two legacy Server Gated Crypto OIDs) for a server. `anyExtendedKeyUsage`
 * alone
 *   does not do (OpenSSL keeps it as a separate bit the SSL purposes never look at);
 * - a leaf with keyUsage needs digitalSignature or keyAgreement (client), or digitalSignature, keyEncipherment
 *   or keyAgreement (server); a leaf with nsCertType needs its SSL client or server bit;
 * - the CA conditions (basicConstraints, keyCertSign) are checked by the path validation itself.
 * @module
 */
import type { ParsedCertificate } from './certificate.js';
import { KEY_USAGE, OID } from './oids.js';

/** The extended key usage a TLS role needs from its peer's whole chain. */
export type TlsPeerRole = 'serverAuth' | 'clientAuth';

// OpenSSL `NS_SSL_CLIENT` / `NS_SSL_SERVER`: bits of nsCertType's first octet.
const NS_SSL_CLIENT = 0x80;
const NS_SSL_SERVER = 0x40;

/**
 * Whether `cert` may appear in a TLS peer's path in `role`, as OpenSSL's `X509_check_purpose` decides for the
 * SSL client and server purposes.
 *
 * @param cert - A certificate of the path.
 * @param role - The peer's role: `clientAuth` for a client's chain, `serverAuth` for a server's.
 * @param asCa - Whether it is an issuer in the path (intermediate or trust anchor) rather than the leaf.
 * @returns `undefined` when allowed, else why not.
 * @example
 * ```ts
 * tlsPurposeViolation(intermediate, 'clientAuth', true); // 'its extendedKeyUsage does not allow clientAuth'
 * ```
 */
export function tlsPurposeViolation(
  cert: ParsedCertificate,
  role: TlsPeerRole,
  asCa: boolean,
): string | undefined {
  const eku = cert.extendedKeyUsage;
  if (eku !== undefined) {
    const allowed =
      role === 'clientAuth'
        ? eku.includes(OID.clientAuth)
        : eku.includes(OID.serverAuth) || eku.includes(OID.msSgc) || eku.includes(OID.nsSgc);
    if (!allowed) return `its extendedKeyUsage does not allow ${role}`;
  }
  if (asCa) return undefined;
  const ku = cert.keyUsage;
  if (ku !== undefined) {
    const needed =
      role === 'clientAuth'
        ? KEY_USAGE.digitalSignature | KEY_USAGE.keyAgreement
        : KEY_USAGE.digitalSignature | KEY_USAGE.keyEncipherment | KEY_USAGE.keyAgreement;
    if ((ku & needed) === 0) return `its keyUsage does not allow ${role}`;
  }
  const ns = cert.netscapeCertType;
  if (ns !== undefined && (ns & (role === 'clientAuth' ? NS_SSL_CLIENT : NS_SSL_SERVER)) === 0)
    return `its nsCertType does not allow ${role}`;
  return undefined;
}
