/**
 * The TLS parameters ztunnel uses for HBONE mTLS (istio/ztunnel@62d82653:src/tls/lib.rs,
 * `src/tls/workload.rs`): TLS 1.3 only, AES-GCM suites only, ALPN `h2`, no SNI, no session resumption.
 * @module
 */
import type { SecureContextOptions, SecureVersion } from 'node:tls';
import type { BundleSource } from '../codec/bundle-set.js';
import type { Authorizer } from '../codec/matcher.js';
import { encodePem } from '../codec/pem.js';
import type { X509Bundle } from '../codec/x509-bundle.js';
import type { SvidSource } from '../svid/svid-source.js';
import type { X509Svid } from '../x509/svid.js';

/** ztunnel's `tls_versions()`: TLS 1.3 only (`src/tls/lib.rs` l.42-52). */
export const TLS_VERSION: SecureVersion = 'TLSv1.3';

/**
 * ztunnel's TLS 1.3 suites: AES-256-GCM and AES-128-GCM, no ChaCha20 (`src/tls/lib.rs` l.97-111). Node takes
 * TLS 1.3 suites through `ciphers` (names starting `TLS_`).
 */
export const TLS13_CIPHERS = 'TLS_AES_256_GCM_SHA384:TLS_AES_128_GCM_SHA256';

/** ALPN both HBONE ends offer (ztunnel `src/tls/certificate.rs` l.353, l.377). */
export const DEFAULT_ALPN: readonly string[] = Object.freeze(['h2']);

/** What both mTLS builders take. */
export interface MtlsConfig {
  /** Our SVID, read on every handshake (client) or on every rotation (server). */
  readonly svid: SvidSource;
  /** Peer roots by trust domain; each peer is checked only against its own trust domain's bundle. */
  readonly bundles: BundleSource;
  /** Who may connect: runs after the peer's chain verified. */
  readonly authorize: Authorizer;
  /** ALPN protocols to offer (default `['h2']`, what HBONE needs). */
  readonly alpn?: readonly string[];
}

/**
 * The union of every bundle's roots as PEM, for OpenSSL's own pre-check only: Node runs `checkServerIdentity`
 * only when OpenSSL's verification against the context's CA store passed, so the store must know every root
 * we might accept. The decision itself is ours, per trust domain (`docs/spiffe.md` "Node.js and OpenSSL
 * behaviours": a union pool alone accepts cross-trust-domain chains).
 *
 * @param bundles - Every X.509 bundle (`BundleSource.x509Bundles()`).
 * @returns PEM strings, one per root.
 * @example
 * ```ts
 * tls.createSecureContext({ ca: allRootsPem(bundles.x509Bundles()) });
 * ```
 */
export function allRootsPem(bundles: readonly X509Bundle[]): string[] {
  const out: string[] = [];
  for (const bundle of bundles)
    for (const root of bundle.authorities) out.push(encodePem('CERTIFICATE', root.der));
  return out;
}

/**
 * The SecureContext settings both builders share: our SVID's chain and key, TLS 1.3 only with ztunnel's suites,
 * and a CA store when one is given.
 *
 * @param svid - Our SVID.
 * @param ca - Root PEMs for OpenSSL's pre-check (see {@link allRootsPem}), or `undefined` for no CA store.
 * @returns Options for `tls.createSecureContext` or `server.setSecureContext`.
 * @example
 * ```ts
 * tls.createSecureContext(svidContextOptions(svid.current(), allRootsPem(bundles.x509Bundles())));
 * ```
 */
export function svidContextOptions(svid: X509Svid, ca: string[] | undefined): SecureContextOptions {
  return {
    cert: svid.certChainPem,
    key: svid.privateKeyPem,
    ...(ca === undefined ? {} : { ca }),
    minVersion: TLS_VERSION,
    maxVersion: TLS_VERSION,
    ciphers: TLS13_CIPHERS,
  };
}

/**
 * Checks an ALPN list (programmer input).
 *
 * @param alpn - Protocols, or `undefined` for the default.
 * @returns A copy.
 * @throws {TypeError} For an empty list or a protocol that is not 1-255 bytes.
 * @example
 * ```ts
 * alpnList(undefined); // ['h2']
 * ```
 */
export function alpnList(alpn: readonly string[] | undefined): string[] {
  const list = [...(alpn ?? DEFAULT_ALPN)];
  if (list.length === 0 || list.some((p) => typeof p !== 'string' || p.length === 0 || p.length > 255)) {
    throw new TypeError('alpn: expected a non-empty list of 1-255 byte protocol names');
  }
  return list;
}

/**
 * Checks the common builder inputs (programmer input).
 *
 * @param config - The builder config.
 * @param who - The builder's name for messages.
 * @throws {TypeError} When a member is missing or of the wrong shape.
 * @example
 * ```ts
 * checkMtlsConfig(config, 'mtlsClientOptions');
 * ```
 */
export function checkMtlsConfig(config: MtlsConfig, who: string): void {
  if (typeof config?.svid?.current !== 'function') throw new TypeError(`${who}: svid must be an SvidSource`);
  if (
    typeof config.bundles?.getX509BundleForTrustDomain !== 'function' ||
    typeof config.bundles.x509Bundles !== 'function'
  ) {
    throw new TypeError(`${who}: bundles must be a BundleSource`);
  }
  if (typeof config.authorize !== 'function') throw new TypeError(`${who}: authorize must be an Authorizer`);
}
