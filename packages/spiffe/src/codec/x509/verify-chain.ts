/**
 * X509-SVID validation (spiffe/spiffe@665a28f:standards/X509-SVID.md §5; `docs/spiffe.md` "Verifying
 * X.509-SVIDs"): the leaf profile, then RFC 5280 path validation against the roots of the leaf ID's own trust
 * domain only, with intermediates taken from the presented chain. Signature checks are injected, so this stays
 * pure; the runtime layer plugs in `node:crypto` with caches.
 * @module
 */
import { err, ok, type Result } from 'neverthrow';
import type { BundleSource } from '../bundle-set.js';
import { equalBytes } from '../bytes.js';
import { quote, SpiffeError } from '../errors.js';
import { parseSpiffeId, type SpiffeId } from '../spiffe-id.js';
import type { ParsedCertificate } from './certificate.js';
import { checkNameConstraints } from './name-constraints.js';
import { KEY_USAGE } from './oids.js';
import { type TlsPeerRole, tlsPurposeViolation } from './purpose.js';

export type { TlsPeerRole } from './purpose.js';

/** Longest chain accepted, leaf and intermediates (the root comes from the bundle). */
export const MAX_CHAIN_CERTIFICATES = 16;

/**
 * Most signature checks one path search may spend: a presented chain of certificates that all claim to issue
 * each other could otherwise make the search factorial (Go's x509 caps it at 100 too,
 * `maxChainSignatureChecks`).
 */
export const MAX_SIGNATURE_CHECKS = 100;

/** A verified X509-SVID: its ID and the chain that proved it. */
export interface VerifiedSvid {
  /** The SPIFFE ID from the leaf's single URI SAN. */
  readonly id: SpiffeId;
  /** The verified chain, DER, leaf first, ending with the bundle root that anchored it. */
  readonly chain: readonly Uint8Array[];
  /** The leaf, parsed. */
  readonly leaf: ParsedCertificate;
  /** When the first certificate of the chain expires. */
  readonly expiresAt: Date;
}

/**
 * Verifies `child`'s signature with `issuer`'s public key: `undefined` when valid, else the error
 * (`SPIFFE_ERR_BAD_SIGNATURE` or `SPIFFE_ERR_UNSUPPORTED_ALGORITHM`).
 */
export type SignatureCheck = (child: ParsedCertificate, issuer: ParsedCertificate) => SpiffeError | undefined;

/** Options of {@link verifySvidChain}. */
export interface ChainVerificationOptions {
  /** The time to check validity at, in milliseconds since the epoch. */
  readonly nowMs: number;
  /** The signature verifier. */
  readonly checkSignature: SignatureCheck;
  /**
   * The TLS role the chain's owner plays. When set, every certificate of the path, the root included, must
   * allow it as OpenSSL's SSL client/server purpose decides (an extendedKeyUsage, where present, lists the
   * usage; `anyExtendedKeyUsage` alone does not do), which is what `openssl verify -purpose`, Node's own
   * handshake check and ztunnel's webpki apply (see `purpose.ts`). Unset: no usage check, like go-spiffe's
   * `x509svid.Verify`.
   */
  readonly requiredExtendedKeyUsage?: TlsPeerRole;
}

function fail(code: SpiffeError['code'], message: string): Result<never, SpiffeError> {
  return err(new SpiffeError(code, message));
}

/**
 * The X509-SVID leaf rules (spiffe/spiffe@665a28f:standards/X509-SVID.md §4, §5): exactly one URI SAN that is a SPIFFE ID with a
 * non-root path, `cA` false, keyUsage present with digitalSignature and without keyCertSign and cRLSign, no
 * unhandled critical extension.
 *
 * @param leaf - The leaf certificate.
 * @returns The leaf's SPIFFE ID, or the first rule broken.
 * @example
 * ```ts
 * const id = checkLeafProfile(parseCertificate(der)._unsafeUnwrap())._unsafeUnwrap();
 * ```
 */
export function checkLeafProfile(leaf: ParsedCertificate): Result<SpiffeId, SpiffeError> {
  // spiffe/spiffe@665a28f:standards/X509-SVID.md §2, §5.2: exactly one URI SAN, and a second one of any scheme is an error.
  if (leaf.uris.length === 0) return fail('SPIFFE_ERR_NO_URI_SAN', 'leaf certificate has no URI SAN');
  if (leaf.uris.length > 1) {
    return fail(
      'SPIFFE_ERR_MULTIPLE_URI_SANS',
      `leaf certificate has ${leaf.uris.length} URI SANs; an X509-SVID has exactly one`,
    );
  }
  const parsed = parseSpiffeId(leaf.uris[0] as string);
  if (parsed.isErr()) {
    return err(new SpiffeError(parsed.error.code, `leaf certificate URI SAN: ${parsed.error.message}`));
  }
  const id = parsed.value;
  if (id.path === '') {
    return fail(
      'SPIFFE_ERR_LEAF_ID_NO_PATH',
      `leaf SPIFFE ID ${quote(id.toString())} has no path (X509-SVID §3.1)`,
    );
  }
  if (leaf.basicConstraints?.ca === true)
    return fail('SPIFFE_ERR_LEAF_IS_CA', 'leaf certificate has CA:TRUE');
  if (leaf.keyUsage === undefined || (leaf.keyUsage & KEY_USAGE.digitalSignature) === 0) {
    return fail('SPIFFE_ERR_LEAF_KEY_USAGE', 'leaf certificate keyUsage lacks digitalSignature');
  }
  if (leaf.keyUsage & (KEY_USAGE.keyCertSign | KEY_USAGE.cRLSign)) {
    return fail('SPIFFE_ERR_LEAF_KEY_USAGE', 'leaf certificate keyUsage has keyCertSign or cRLSign');
  }
  const unhandled = leaf.unhandledCriticalExtensions[0];
  if (unhandled !== undefined) {
    return fail(
      'SPIFFE_ERR_UNHANDLED_CRITICAL_EXTENSION',
      `leaf certificate has an unhandled critical extension ${unhandled}`,
    );
  }
  return ok(id);
}

// `what` names the certificate for messages; it is a function so the text is built only on failure (these
// checks run for every path candidate).
function checkValidity(cert: ParsedCertificate, nowMs: number, what: () => string): SpiffeError | undefined {
  if (nowMs < cert.notBeforeMs) {
    return new SpiffeError(
      'SPIFFE_ERR_CERT_NOT_YET_VALID',
      `${what()} is not valid before ${new Date(cert.notBeforeMs).toISOString()} (now ${new Date(nowMs).toISOString()})`,
    );
  }
  if (nowMs > cert.notAfterMs) {
    return new SpiffeError(
      'SPIFFE_ERR_CERT_EXPIRED',
      `${what()} expired at ${new Date(cert.notAfterMs).toISOString()} (now ${new Date(nowMs).toISOString()})`,
    );
  }
  return undefined;
}

// RFC 5280 §6.1.4 (k), (n), (l)/(m): an issuer must be a CA, may sign certificates, and its pathLen bounds the
// intermediates below it. `below` counts the intermediates between it and the leaf. As in Go's x509, every
// certificate in the path (roots included) is checked against `now`.
function checkIssuer(
  issuer: ParsedCertificate,
  below: number,
  nowMs: number,
  what: () => string,
): SpiffeError | undefined {
  if (issuer.basicConstraints?.ca !== true) {
    return new SpiffeError(
      'SPIFFE_ERR_ISSUER_NOT_CA',
      `${what()} is not a CA (basicConstraints cA is not TRUE)`,
    );
  }
  if (issuer.keyUsage !== undefined && (issuer.keyUsage & KEY_USAGE.keyCertSign) === 0) {
    return new SpiffeError('SPIFFE_ERR_ISSUER_KEY_USAGE', `${what()} keyUsage lacks keyCertSign`);
  }
  const pathLen = issuer.basicConstraints.pathLen;
  if (pathLen !== undefined && below > pathLen) {
    return new SpiffeError(
      'SPIFFE_ERR_PATH_LENGTH',
      `${what()} allows ${pathLen} intermediates below it, the path has ${below}`,
    );
  }
  const unhandled = issuer.unhandledCriticalExtensions[0];
  if (unhandled !== undefined) {
    return new SpiffeError(
      'SPIFFE_ERR_UNHANDLED_CRITICAL_EXTENSION',
      `${what()} has an unhandled critical extension ${unhandled}`,
    );
  }
  return checkValidity(issuer, nowMs, what);
}

// Candidate issuers of `child` among `pool`: subject equal to child's issuer (byte-wise, as Go's x509 does),
// those whose subjectKeyIdentifier matches child's authorityKeyIdentifier first, mismatches last.
function candidates(child: ParsedCertificate, pool: readonly ParsedCertificate[]): ParsedCertificate[] {
  const out: [number, ParsedCertificate][] = [];
  for (const c of pool) {
    if (!equalBytes(c.subject, child.issuer)) continue;
    const rank =
      child.authorityKeyId === undefined || c.subjectKeyId === undefined
        ? 1
        : equalBytes(child.authorityKeyId, c.subjectKeyId)
          ? 0
          : 2;
    out.push([rank, c]);
  }
  return out.sort((a, b) => a[0] - b[0]).map(([, c]) => c);
}

function checkPurpose(
  cert: ParsedCertificate,
  role: TlsPeerRole | undefined,
  asCa: boolean,
  what: () => string,
): SpiffeError | undefined {
  if (role === undefined) return undefined;
  const violation = tlsPurposeViolation(cert, role, asCa);
  return violation === undefined
    ? undefined
    : new SpiffeError('SPIFFE_ERR_EXTENDED_KEY_USAGE', `${what()}: ${violation}`);
}

/**
 * Verifies a presented chain as an X509-SVID (`docs/spiffe.md` "Verifying X.509-SVIDs"): leaf profile, bundle
 * of the leaf ID's trust domain (never a union of all roots: bundles of different trust domains are never
 * merged), then a path from the leaf through presented intermediates to one of that bundle's roots, checking
 * every signature, every validity window at `nowMs`, CA and keyCertSign on issuers, path lengths, name
 * constraints (as OpenSSL evaluates them, `name-constraints.ts`) and, for a TLS role, extended key usage on
 * every certificate of the path (`purpose.ts`).
 *
 * @param certs - The presented chain, parsed, leaf first (at most {@link MAX_CHAIN_CERTIFICATES}).
 * @param bundles - Where to find the leaf's trust-domain bundle.
 * @param options - Time and signature verifier.
 * @returns The ID and verified chain, or the reason it failed.
 * @example
 * ```ts
 * const verified = verifySvidChain([leaf, intermediate], bundles, { nowMs: Date.now(), checkSignature });
 * ```
 */
export function verifySvidChain(
  certs: readonly ParsedCertificate[],
  bundles: BundleSource,
  options: ChainVerificationOptions,
): Result<VerifiedSvid, SpiffeError> {
  const [leaf, ...intermediates] = certs;
  if (leaf === undefined) return fail('SPIFFE_ERR_EMPTY_CHAIN', 'the certificate chain is empty');
  if (certs.length > MAX_CHAIN_CERTIFICATES) {
    return fail(
      'SPIFFE_ERR_CHAIN_TOO_LONG',
      `chain of ${certs.length} certificates exceeds ${MAX_CHAIN_CERTIFICATES}`,
    );
  }
  const profile = checkLeafProfile(leaf);
  if (profile.isErr()) return err(profile.error);
  const id = profile.value;
  const role = options.requiredExtendedKeyUsage;
  const ekuError = checkPurpose(leaf, role, false, () => 'leaf certificate');
  if (ekuError !== undefined) return err(ekuError);

  const bundle = bundles.getX509BundleForTrustDomain(id.trustDomain);
  if (bundle === undefined) {
    return fail(
      'SPIFFE_ERR_NO_BUNDLE',
      `no bundle for trust domain ${quote(id.trustDomain.name)} of ${quote(id.toString())}`,
    );
  }
  const { nowMs, checkSignature } = options;
  const leafTime = checkValidity(leaf, nowMs, () => 'leaf certificate');
  if (leafTime !== undefined) return err(leafTime);

  const roots = bundle.authorities;
  // A presented copy of a bundle root is the root, not an intermediate (the path ends there).
  const pool = intermediates.filter((c) => !bundle.hasAuthority(c.der));
  const path: ParsedCertificate[] = [leaf];
  let firstError: SpiffeError | undefined;
  let budget = MAX_SIGNATURE_CHECKS;
  const verify = (child: ParsedCertificate, issuer: ParsedCertificate): SpiffeError | undefined => {
    if (budget-- <= 0) {
      return new SpiffeError(
        'SPIFFE_ERR_UNKNOWN_AUTHORITY',
        `gave up after ${MAX_SIGNATURE_CHECKS} signature checks`,
      );
    }
    return checkSignature(child, issuer);
  };

  // Whether `issuer` signed `child` (the end of `path`) and may issue above the intermediates already in
  // `path`. The first reason a candidate failed is kept for the error.
  const issued = (
    child: ParsedCertificate,
    issuer: ParsedCertificate,
    kind: 'root' | 'intermediate',
  ): boolean => {
    const what = (): string => `${kind} ${describe(issuer)}`;
    const bad =
      verify(child, issuer) ??
      checkIssuer(issuer, path.length - 1, nowMs, what) ??
      checkPurpose(issuer, role, true, what);
    firstError ??= bad;
    return bad === undefined;
  };

  // Name constraints bind the whole path (RFC 5280 §6.1.4 (g)), so they are checked once it reaches a root; a
  // violation sends the search on to the next candidate, as any other failure does.
  const anchored = (root: ParsedCertificate): boolean => {
    const bad = checkNameConstraints([...path, root]);
    firstError ??= bad;
    return bad === undefined;
  };

  // Depth-first search; each certificate appears at most once in a path, so it ends within the chain's
  // length.
  const extend = (child: ParsedCertificate): ParsedCertificate | undefined => {
    for (const root of candidates(child, roots))
      if (issued(child, root, 'root') && anchored(root)) return root;
    for (const next of candidates(child, pool)) {
      if (path.includes(next) || !issued(child, next, 'intermediate')) continue;
      path.push(next);
      const anchor = extend(next);
      if (anchor !== undefined) return anchor;
      path.pop();
    }
    return undefined;
  };

  const anchor = roots.length === 0 ? undefined : extend(leaf);
  if (anchor === undefined) {
    if (firstError !== undefined) return err(firstError);
    return fail(
      'SPIFFE_ERR_UNKNOWN_AUTHORITY',
      roots.length === 0
        ? `the bundle of ${quote(id.trustDomain.name)} has no X.509 authorities (every SVID is untrusted)`
        : `no path from ${quote(id.toString())} to a root of ${quote(id.trustDomain.name)}`,
    );
  }
  const full = [...path, anchor];
  let expiresMs = Number.POSITIVE_INFINITY;
  for (const c of full) expiresMs = Math.min(expiresMs, c.notAfterMs);
  return ok({ id, chain: full.map((c) => c.der), leaf, expiresAt: new Date(expiresMs) });
}

// A short description of a certificate for messages: its URI SAN if any, else its serial.
function describe(cert: ParsedCertificate): string {
  const uri = cert.uris[0];
  if (uri !== undefined) return quote(uri);
  let hex = '';
  for (const b of cert.serialNumber.subarray(0, 20)) hex += b.toString(16).padStart(2, '0');
  return `serial ${hex}`;
}
