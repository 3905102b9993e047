/**
 * X.509 trust bundles: the root certificates of one trust domain
 * (spiffe/go-spiffe@e9973f6:v2/bundle/x509bundle/bundle.go). A bundle always carries its trust domain, because
 * the bundle format itself does not (spiffe/spiffe@665a28f:standards/SPIFFE_Trust_Domain_and_Bundle.md §3).
 * @module
 */
import { err, ok, type Result } from 'neverthrow';
import { equalBytes } from './bytes.js';
import { readTlv } from './der/reader.js';
import { SpiffeError } from './errors.js';
import { encodePem } from './pem.js';
import { requireTrustDomain, type TrustDomain } from './spiffe-id.js';
import {
  MAX_CERTIFICATE_BYTES,
  type ParsedCertificate,
  parseCertificate,
  parseCertificatesPem,
} from './x509/certificate.js';

/** Most root certificates one bundle may hold. */
export const MAX_BUNDLE_AUTHORITIES = 1024;

/** The X.509 authorities (roots) of one trust domain. Immutable. */
export interface X509Bundle {
  /** Discriminates bundle kinds in a {@link BundleSet}. */
  readonly kind: 'x509';
  /** The trust domain these roots anchor. */
  readonly trustDomain: TrustDomain;
  /**
   * The root certificates, parsed. An empty list means every SVID of the trust domain is untrusted
   * (spiffe/spiffe@665a28f:standards/SPIFFE_Trust_Domain_and_Bundle.md §4.1.3).
   */
  readonly authorities: readonly ParsedCertificate[];
  /** Whether `der` is one of the roots (byte-equal). */
  hasAuthority(der: Uint8Array): boolean;
  /** The roots as concatenated PEM blocks. */
  toPem(): string;
}

/**
 * Makes a bundle from parsed roots (duplicates, by DER bytes, are dropped, as go-spiffe `AddX509Root` does).
 *
 * @param trustDomain - The trust domain (name or parsed).
 * @param authorities - The roots.
 * @returns The bundle.
 * @throws {TypeError} For an invalid trust domain.
 * @throws {RangeError} For more than {@link MAX_BUNDLE_AUTHORITIES} roots.
 * @example
 * ```ts
 * const bundle = createX509Bundle('example.org', [parseCertificate(rootDer)._unsafeUnwrap()]);
 * ```
 */
export function createX509Bundle(
  trustDomain: TrustDomain | string,
  authorities: readonly ParsedCertificate[],
): X509Bundle {
  const td = requireTrustDomain(trustDomain, 'createX509Bundle: trustDomain');
  if (authorities.length > MAX_BUNDLE_AUTHORITIES) {
    throw new RangeError(`createX509Bundle: more than ${MAX_BUNDLE_AUTHORITIES} authorities`);
  }
  const unique: ParsedCertificate[] = [];
  for (const a of authorities) if (!unique.some((u) => equalBytes(u.der, a.der))) unique.push(a);
  Object.freeze(unique);
  return Object.freeze({
    kind: 'x509' as const,
    trustDomain: td,
    authorities: unique,
    hasAuthority: (der: Uint8Array) => unique.some((u) => equalBytes(u.der, der)),
    toPem: () => unique.map((u) => encodePem('CERTIFICATE', u.der)).join(''),
  });
}

/**
 * Reads a bundle from concatenated PEM `CERTIFICATE` blocks (go-spiffe `x509bundle.Parse`; istiod's
 * `root-cert.pem`). Other block types are rejected; so is a PEM with no certificate.
 *
 * @param trustDomain - The trust domain the roots belong to.
 * @param pem - The PEM text (at most `MAX_PEM_BYTES`).
 * @returns The bundle, or `SPIFFE_ERR_PEM` / `SPIFFE_ERR_DER` / `SPIFFE_ERR_TOO_LARGE`.
 * @throws {TypeError} For an invalid trust domain (programmer misuse).
 * @example
 * ```ts
 * const bundle = x509BundleFromPem('cluster.local', readFileSync('root-cert.pem', 'utf8'))._unsafeUnwrap();
 * ```
 */
export function x509BundleFromPem(
  trustDomain: TrustDomain | string,
  pem: string,
): Result<X509Bundle, SpiffeError> {
  const td = requireTrustDomain(trustDomain, 'x509BundleFromPem: trustDomain');
  return parseCertificatesPem(pem, MAX_BUNDLE_AUTHORITIES).map((roots) => createX509Bundle(td, roots));
}

/**
 * Splits concatenated DER certificates (the Workload API's bundle and chain encoding,
 * spiffe/spiffe@665a28f:standards/SPIFFE_Workload_API.md §5).
 *
 * @param der - Zero or more DER certificates back to back.
 * @param maxCertificates - Cap on the count (default {@link MAX_BUNDLE_AUTHORITIES}).
 * @returns The certificates' bytes (views into `der`), or `SPIFFE_ERR_DER` / `SPIFFE_ERR_TOO_LARGE`.
 * @example
 * ```ts
 * const [leaf, ...intermediates] = splitConcatenatedDer(x509Svid)._unsafeUnwrap();
 * ```
 */
export function splitConcatenatedDer(
  der: Uint8Array,
  maxCertificates: number = MAX_BUNDLE_AUTHORITIES,
): Result<Uint8Array[], SpiffeError> {
  const out: Uint8Array[] = [];
  try {
    for (let pos = 0; pos < der.length; ) {
      if (out.length === maxCertificates) {
        return err(new SpiffeError('SPIFFE_ERR_TOO_LARGE', `more than ${maxCertificates} certificates`));
      }
      const tlv = readTlv(der, pos, der.length);
      if (tlv.end - tlv.start > MAX_CERTIFICATE_BYTES) {
        return err(
          new SpiffeError(
            'SPIFFE_ERR_TOO_LARGE',
            `certificate exceeds the ${MAX_CERTIFICATE_BYTES}-byte cap`,
          ),
        );
      }
      out.push(der.subarray(tlv.start, tlv.end));
      pos = tlv.end;
    }
  } catch (error) {
    if (error instanceof SpiffeError) return err(error);
    throw error;
  }
  return ok(out);
}

/**
 * Reads a bundle from concatenated DER certificates (go-spiffe `x509bundle.ParseRaw`; the Workload API's
 * `bundle` fields).
 *
 * @param trustDomain - The trust domain the roots belong to.
 * @param der - Concatenated DER certificates.
 * @returns The bundle, or `SPIFFE_ERR_DER` / `SPIFFE_ERR_TOO_LARGE`.
 * @throws {TypeError} For an invalid trust domain.
 * @example
 * ```ts
 * const bundle = x509BundleFromDer('example.org', response.bundle)._unsafeUnwrap();
 * ```
 */
export function x509BundleFromDer(
  trustDomain: TrustDomain | string,
  der: Uint8Array,
): Result<X509Bundle, SpiffeError> {
  const td = requireTrustDomain(trustDomain, 'x509BundleFromDer: trustDomain');
  return splitConcatenatedDer(der).andThen((parts) => {
    const roots: ParsedCertificate[] = [];
    for (const part of parts) {
      const parsed = parseCertificate(part);
      if (parsed.isErr()) return err(parsed.error);
      roots.push(parsed.value);
    }
    return ok(createX509Bundle(td, roots));
  });
}
