/**
 * ID matchers and peer authorizers: go-spiffe `spiffeid.Match*` and `tlsconfig.Authorize*`
 * (spiffe/go-spiffe@e9973f6:v2/spiffeid/match.go, `v2/spiffetls/tlsconfig/authorizer.go`). An authorizer runs
 * after a peer's chain verified and sees the verified ID and chain
 * (spiffe/go-spiffe@e9973f6:v2/spiffetls/tlsconfig/config.go).
 * @module
 */
import { err, ok, type Result } from 'neverthrow';
import { quote, SpiffeError } from './errors.js';
import { requireSpiffeId, requireTrustDomain, type SpiffeId, type TrustDomain } from './spiffe-id.js';

/** Decides whether an ID is acceptable: `ok` to accept, else the reason. */
export type SpiffeIdMatcher = (id: SpiffeId) => Result<void, SpiffeError>;

/**
 * Decides whether a verified peer may talk to us: called with the peer's SPIFFE ID and its verified chain
 * (DER, leaf first, ending with the bundle root that anchored it). `ok` accepts; an error rejects the peer.
 */
export type Authorizer = (id: SpiffeId, verifiedChain: readonly Uint8Array[]) => Result<void, SpiffeError>;

const ACCEPT: Result<void, SpiffeError> = ok(undefined);

/**
 * Accepts any ID (go-spiffe `MatchAny`).
 *
 * @returns A matcher that always accepts.
 * @example
 * ```ts
 * matchAny()(someId).isOk(); // true
 * ```
 */
export function matchAny(): SpiffeIdMatcher {
  return () => ACCEPT;
}

/**
 * Accepts exactly one ID, compared as strings (go-spiffe `MatchID`).
 *
 * @param expected - The ID to accept.
 * @returns The matcher; it rejects others with `SPIFFE_ERR_UNEXPECTED_ID`.
 * @throws {TypeError} When `expected` is not a valid SPIFFE ID.
 * @example
 * ```ts
 * matchId('spiffe://example.org/a')(parseSpiffeId('spiffe://example.org/b')._unsafeUnwrap()).isErr(); // true
 * ```
 */
export function matchId(expected: SpiffeId | string): SpiffeIdMatcher {
  const want = requireSpiffeId(expected, 'matchId: expected').toString();
  return (id) =>
    id.toString() === want
      ? ACCEPT
      : err(
          new SpiffeError(
            'SPIFFE_ERR_UNEXPECTED_ID',
            `unexpected ID ${quote(id.toString())}: expected ${quote(want)}`,
          ),
        );
}

/**
 * Accepts any ID of a set (go-spiffe `MatchOneOf`).
 *
 * @param expected - The IDs to accept.
 * @returns The matcher; it rejects others with `SPIFFE_ERR_UNEXPECTED_ID`.
 * @throws {TypeError} When an element is not a valid SPIFFE ID.
 * @example
 * ```ts
 * const m = matchOneOf(['spiffe://example.org/a', 'spiffe://example.org/b']);
 * ```
 */
export function matchOneOf(expected: Iterable<SpiffeId | string>): SpiffeIdMatcher {
  const want = new Set<string>();
  for (const id of expected) want.add(requireSpiffeId(id, 'matchOneOf: expected').toString());
  return (id) =>
    want.has(id.toString())
      ? ACCEPT
      : err(
          new SpiffeError(
            'SPIFFE_ERR_UNEXPECTED_ID',
            `unexpected ID ${quote(id.toString())}: not one of ${want.size} expected IDs`,
          ),
        );
}

/**
 * Accepts any ID of one trust domain (go-spiffe `MatchMemberOf`).
 *
 * @param trustDomain - The trust domain (name, parsed, or any ID in it).
 * @returns The matcher; it rejects others with `SPIFFE_ERR_TRUST_DOMAIN_MISMATCH`.
 * @throws {TypeError} When `trustDomain` is not a valid trust domain.
 * @example
 * ```ts
 * matchMemberOf('cluster.local')(parseSpiffeId('spiffe://other.org/x')._unsafeUnwrap()).isErr(); // true
 * ```
 */
export function matchMemberOf(trustDomain: TrustDomain | string): SpiffeIdMatcher {
  const td = requireTrustDomain(trustDomain, 'matchMemberOf: trustDomain');
  return (id) =>
    id.memberOf(td)
      ? ACCEPT
      : err(
          new SpiffeError(
            'SPIFFE_ERR_TRUST_DOMAIN_MISMATCH',
            `unexpected trust domain ${quote(id.trustDomain.name)} of ${quote(id.toString())}: expected ${quote(td.name)}`,
          ),
        );
}

/**
 * Turns an ID matcher into an authorizer that ignores the chain (go-spiffe `AdaptMatcher`).
 *
 * @param matcher - The matcher.
 * @returns The authorizer.
 * @example
 * ```ts
 * const authorize = adaptMatcher(matchMemberOf('cluster.local'));
 * ```
 */
export function adaptMatcher(matcher: SpiffeIdMatcher): Authorizer {
  return (id) => matcher(id);
}

/**
 * Authorizes any verified peer (go-spiffe `AuthorizeAny`). The chain still has to verify against the bundle
 * of the peer's own trust domain.
 *
 * @returns The authorizer.
 * @example
 * ```ts
 * mtlsClientOptions({ svid, bundles, authorize: authorizeAny() });
 * ```
 */
export function authorizeAny(): Authorizer {
  return adaptMatcher(matchAny());
}

/**
 * Authorizes exactly one peer ID (go-spiffe `AuthorizeID`).
 *
 * @param expected - The peer's ID.
 * @returns The authorizer; others fail with `SPIFFE_ERR_UNEXPECTED_ID`.
 * @throws {TypeError} When `expected` is not a valid SPIFFE ID.
 * @example
 * ```ts
 * authorizeId('spiffe://cluster.local/ns/default/sa/reviews');
 * ```
 */
export function authorizeId(expected: SpiffeId | string): Authorizer {
  return adaptMatcher(matchId(expected));
}

/**
 * Authorizes any peer of a set of IDs (go-spiffe `AuthorizeOneOf`; ztunnel's client accepts a server that
 * carries one of the expected identities, istio/ztunnel@62d82653:src/tls/workload.rs).
 *
 * @param expected - The accepted peer IDs.
 * @returns The authorizer; others fail with `SPIFFE_ERR_UNEXPECTED_ID`.
 * @throws {TypeError} When an element is not a valid SPIFFE ID.
 * @example
 * ```ts
 * authorizeOneOf(['spiffe://cluster.local/ns/a/sa/x', 'spiffe://cluster.local/ns/a/sa/y']);
 * ```
 */
export function authorizeOneOf(expected: Iterable<SpiffeId | string>): Authorizer {
  return adaptMatcher(matchOneOf(expected));
}

/**
 * Authorizes any peer of a trust domain (go-spiffe `AuthorizeMemberOf`; ztunnel's server accepts clients of
 * its own trust domain only, istio/ztunnel@62d82653:src/tls/workload.rs).
 *
 * @param trustDomain - The accepted trust domain.
 * @returns The authorizer; others fail with `SPIFFE_ERR_TRUST_DOMAIN_MISMATCH`.
 * @throws {TypeError} When `trustDomain` is not a valid trust domain.
 * @example
 * ```ts
 * authorizeMemberOf('cluster.local');
 * ```
 */
export function authorizeMemberOf(trustDomain: TrustDomain | string): Authorizer {
  return adaptMatcher(matchMemberOf(trustDomain));
}
