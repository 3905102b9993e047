/**
 * Bundle sources and sets: where a verifier finds the bundle of a peer's own trust domain
 * (spiffe/spiffe@665a28f:standards/SPIFFE_Workload_API.md §4.6). A set holds several trust domains (federation)
 * and never merges them.
 * @module
 */

import type { JwtBundle } from './jwt-bundle.js';
import type { SpiffeBundle } from './spiffe-bundle.js';
import { requireTrustDomain, type TrustDomain } from './spiffe-id.js';
import type { X509Bundle } from './x509-bundle.js';

/**
 * Where X.509 verification gets roots: exactly the bundle of one trust domain (go-spiffe `x509bundle.Source`).
 * `x509Bundles()` lists every bundle; the TLS client uses it only to let OpenSSL's pre-check pass, never to
 * decide trust.
 */
export interface BundleSource {
  /** The bundle of `trustDomain`, or `undefined` when it is not trusted at all. */
  getX509BundleForTrustDomain(trustDomain: TrustDomain): X509Bundle | undefined;
  /** Every X.509 bundle the source holds. */
  x509Bundles(): readonly X509Bundle[];
}

/**
 * Where JWT-SVID validation gets keys: the JWT bundle of the token's `sub` trust domain
 * (spiffe/spiffe@665a28f:standards/JWT-SVID.md §6).
 */
export interface JwtBundleSource {
  /** The JWT bundle of `trustDomain`, or `undefined`. */
  getJwtBundleForTrustDomain(trustDomain: TrustDomain): JwtBundle | undefined;
}

/** Anything a {@link BundleSet} holds. A SPIFFE bundle contributes both its X.509 and its JWT half. */
export type AnyBundle = X509Bundle | JwtBundle | SpiffeBundle;

/**
 * A mutable set of bundles keyed by trust domain: at most one X.509 and one JWT bundle per trust domain. It is
 * a {@link BundleSource} and a {@link JwtBundleSource}; verifiers read it on every call, so `set` and `delete`
 * take effect on the next handshake.
 */
export interface BundleSet extends BundleSource, JwtBundleSource {
  /** Every JWT bundle. */
  jwtBundles(): readonly JwtBundle[];
  /** The trust domains with any bundle. */
  trustDomains(): TrustDomain[];
  /** Adds or replaces the bundle(s) of the bundle's trust domain. */
  set(bundle: AnyBundle): void;
  /** Removes every bundle of a trust domain; `true` if there was one. */
  delete(trustDomain: TrustDomain | string): boolean;
}

/**
 * Creates a bundle set (go-spiffe `x509bundle.NewSet`, `spiffebundle.NewSet`).
 *
 * @param bundles - Initial bundles; two of the same kind for one trust domain are a programmer error.
 * @returns The set.
 * @throws {RangeError} When two bundles of the same kind name the same trust domain.
 * @example
 * ```ts
 * const bundles = createBundleSet([ca.bundle, partnerBundle]);
 * verifyX509Svid(chain, bundles);
 * ```
 */
export function createBundleSet(bundles: Iterable<AnyBundle> = []): BundleSet {
  const x509 = new Map<string, X509Bundle>();
  const jwt = new Map<string, JwtBundle>();
  const domains = new Map<string, TrustDomain>();

  const put = (bundle: AnyBundle, replace: boolean): void => {
    const name = bundle.trustDomain.name;
    const parts: AnyBundle[] =
      bundle.kind === 'spiffe' ? [bundle.x509Bundle(), bundle.jwtBundle()] : [bundle];
    for (const part of parts) {
      const map: Map<string, AnyBundle> = part.kind === 'x509' ? x509 : jwt;
      if (!replace && map.has(name)) {
        throw new RangeError(`createBundleSet: two ${part.kind} bundles for trust domain ${name}`);
      }
    }
    for (const part of parts) {
      if (part.kind === 'x509') x509.set(name, part);
      else if (part.kind === 'jwt') jwt.set(name, part);
    }
    domains.set(name, bundle.trustDomain);
  };
  for (const b of bundles) put(b, false);

  return {
    getX509BundleForTrustDomain: (trustDomain) => x509.get(trustDomain.name),
    getJwtBundleForTrustDomain: (trustDomain) => jwt.get(trustDomain.name),
    x509Bundles: () => [...x509.values()],
    jwtBundles: () => [...jwt.values()],
    trustDomains: () => [...domains.values()],
    set: (bundle) => put(bundle, true),
    delete: (trustDomain) => {
      const name = requireTrustDomain(trustDomain, 'BundleSet.delete: trustDomain').name;
      const had = domains.delete(name);
      x509.delete(name);
      jwt.delete(name);
      return had;
    },
  };
}
