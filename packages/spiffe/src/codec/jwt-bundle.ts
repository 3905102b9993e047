/**
 * JWT bundles: the JWT-SVID signing keys of one trust domain, by key ID
 * (spiffe/spiffe@665a28f:standards/SPIFFE_Trust_Domain_and_Bundle.md `jwt-svid` entries, §5).
 * @module
 */
import type { PublicJwk } from './jwk.js';
import { requireTrustDomain, type TrustDomain } from './spiffe-id.js';

/** One JWT-SVID signing key of a trust domain. */
export interface JwtAuthority {
  /**
   * The key ID (`kid`): required for `jwt-svid` entries (spiffe/spiffe@665a28f:standards/JWT-SVID.md §6.1).
   */
  readonly keyId: string;
  /** The public key. */
  readonly publicKey: PublicJwk;
}

/**
 * The JWT authorities of one trust domain. Immutable. An empty bundle trusts no token
 * (spiffe/spiffe@665a28f:standards/SPIFFE_Trust_Domain_and_Bundle.md §4.1.3).
 */
export interface JwtBundle {
  /** Discriminates bundle kinds in a {@link BundleSet}. */
  readonly kind: 'jwt';
  /** The trust domain. */
  readonly trustDomain: TrustDomain;
  /** The keys by key ID. */
  readonly authorities: ReadonlyMap<string, JwtAuthority>;
}

/**
 * Makes a JWT bundle. A later authority with the same key ID replaces an earlier one (go-spiffe `AddJWTKey`).
 *
 * @param trustDomain - The trust domain.
 * @param authorities - The signing keys.
 * @returns The bundle.
 * @throws {TypeError} For an invalid trust domain or an empty key ID.
 * @example
 * ```ts
 * const bundle = createJwtBundle('example.org', [{ keyId: 'k1', publicKey: jwk }]);
 * ```
 */
export function createJwtBundle(
  trustDomain: TrustDomain | string,
  authorities: Iterable<JwtAuthority>,
): JwtBundle {
  const td = requireTrustDomain(trustDomain, 'createJwtBundle: trustDomain');
  const map = new Map<string, JwtAuthority>();
  for (const a of authorities) {
    if (typeof a.keyId !== 'string' || a.keyId === '')
      throw new TypeError('createJwtBundle: keyId cannot be empty');
    map.set(a.keyId, Object.freeze({ keyId: a.keyId, publicKey: a.publicKey }));
  }
  return Object.freeze({ kind: 'jwt' as const, trustDomain: td, authorities: map });
}
