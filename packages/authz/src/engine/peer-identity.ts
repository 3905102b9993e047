/**
 * The peer identity as ztunnel's RBAC reads it: the SPIFFE ID of the peer certificate, split into namespace and
 * service account when it is an Istio identity (`spiffe://<td>/ns/<ns>/sa/<sa>`,
 * istio/ztunnel@62d82653:src/identity/manager.rs `Identity::from_str`), read with `@ambient-kit/spiffe`'s
 * parser. Principals are compared without their `spiffe://` (zt-rbac `StringMatch::matches_principal`).
 * @module
 */

import { parseIstioIdentity } from '@ambient-kit/spiffe/codec';

/** The parts of a peer identity the L4 matchers read. */
export interface PeerIdentity {
  /** The identity as given. */
  readonly uri: string;
  /** Whether it is a valid SPIFFE ID (`@ambient-kit/spiffe` `parseSpiffeId`). */
  readonly valid: boolean;
  /** The identity after `spiffe://`, or `undefined` without that scheme (never matches a principal). */
  readonly withoutScheme: string | undefined;
  /** Whether it is an Istio identity, with the two parts below. */
  readonly istio: boolean;
  /** The namespace of an Istio identity, else `''` (what `namespaces` compares, as ztunnel does). */
  readonly namespace: string;
  /** The service account of an Istio identity, else `''`. */
  readonly serviceAccount: string;
}

const SCHEME = 'spiffe://';

// Decisions repeat the same few peers: parse each once. Bounded so that it cannot grow without limit.
const CACHE = new Map<string, PeerIdentity>();
const CACHE_MAX = 4096;

function parse(uri: string): PeerIdentity {
  const withoutScheme = uri.startsWith(SCHEME) ? uri.slice(SCHEME.length) : undefined;
  const parsed = parseIstioIdentity(uri);
  if (parsed.isOk()) {
    const { namespace, serviceAccount } = parsed.value;
    return { uri, valid: true, withoutScheme, istio: true, namespace, serviceAccount };
  }
  // A valid SPIFFE ID outside Istio's form still has a principal; anything else is not an ID at all.
  const valid = parsed.error.code === 'SPIFFE_ERR_NOT_ISTIO_IDENTITY';
  return { uri, valid, withoutScheme, istio: false, namespace: '', serviceAccount: '' };
}

/**
 * Reads a peer identity (memoized).
 *
 * @param uri - The SPIFFE ID text, e.g. `spiffe://cluster.local/ns/default/sa/sleep`.
 * @returns Its parts.
 * @example
 * ```ts
 * readPeerIdentity('spiffe://cluster.local/ns/default/sa/sleep').namespace; // 'default'
 * readPeerIdentity('spiffe://example.org/workload').istio;                  // false
 * ```
 */
export function readPeerIdentity(uri: string): PeerIdentity {
  let id = CACHE.get(uri);
  if (id === undefined) {
    id = parse(uri);
    if (CACHE.size >= CACHE_MAX) CACHE.clear();
    CACHE.set(uri, id);
  }
  return id;
}
