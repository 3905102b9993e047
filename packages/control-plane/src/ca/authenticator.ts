/**
 * Who is calling: istiod's authenticator chain for its gRPC services (istio/istio@0098d99f:security/pkg/server/ca/server.go
 * calls `security.Authenticate`, which asks each authenticator in turn and takes the first caller it
 * identifies). A caller is a Kubernetes service account, and its identity is
 * `spiffe://<trust domain>/ns/<namespace>/sa/<service account>`
 * (istio/istio@00af2c55:security/pkg/server/ca/authenticate/kubeauth/kube_jwt.go). The authenticator is
 * pluggable: the token file here ({@link createTokenFileAuthenticator}) stands in for Kubernetes TokenReview.
 * @module
 */
import { createHash } from 'node:crypto';
import { istioIdentity } from '@ambient-kit/spiffe';
import type { Metadata } from '@grpc/grpc-js';
import { err, ok, type Result } from 'neverthrow';
import type { TokenEntry } from '../codec/token-file.js';

/** An authenticated caller. */
export interface CaCaller {
  /** Its SPIFFE identities: what a certificate for it carries (istiod: `Caller.Identities`). */
  readonly identities: readonly string[];
  /** The service account's namespace. */
  readonly namespace: string;
  /** The service account. */
  readonly serviceAccount: string;
  /** The node it runs on, when the authenticator knows it (for the per-node impersonation check). */
  readonly node?: string;
  /** Which authenticator identified it. */
  readonly authenticator: string;
}

/** What an authenticator sees of a call. */
export interface AuthenticationRequest {
  /** The call's request metadata (headers). */
  readonly metadata: Metadata;
  /** The peer address, for logs. */
  readonly peer: string;
}

/**
 * Identifies the caller of a gRPC call. The error is the reason, for the server's log only: callers get an
 * opaque UNAUTHENTICATED, as istiod answers.
 */
export interface Authenticator {
  /** A name for logs, e.g. `token-file`. */
  readonly name: string;
  /**
   * Authenticates one call; never throws.
   * @param request - The call's metadata and peer.
   * @returns The caller, or why not.
   */
  authenticate(request: AuthenticationRequest): Promise<Result<CaCaller, string>>;
}

/**
 * The bearer token of a call: the first `authorization` value that starts with `Bearer ` (exact case and
 * one space), the rest of it verbatim (istiod `security.ExtractBearerToken`,
 * istio/istio@86c9f01f:pkg/security/security.go).
 *
 * @param metadata - The request metadata.
 * @returns The token, or why there is none.
 * @example
 * ```ts
 * const token = bearerToken(call.metadata);
 * ```
 */
export function bearerToken(metadata: Metadata): Result<string, string> {
  const values = metadata.get('authorization');
  if (values.length === 0) return err('no authorization header');
  for (const value of values) {
    if (typeof value === 'string' && value.startsWith('Bearer ')) return ok(value.slice('Bearer '.length));
  }
  return err('no bearer token in the authorization header');
}

/**
 * The `clusterid` a call names: its value when there is exactly one, else `''` (istiod `ExtractClusterID`).
 *
 * @param metadata - The request metadata.
 * @returns The cluster, or `''`.
 * @example
 * ```ts
 * clusterIdOf(call.metadata); // 'Kubernetes'
 * ```
 */
export function clusterIdOf(metadata: Metadata): string {
  const values = metadata.get('clusterid');
  return values.length === 1 && typeof values[0] === 'string' ? values[0] : '';
}

/** Options of {@link createTokenAuthenticator}. */
export interface TokenAuthenticatorOptions {
  /** The trust domain of the identities (istiod: the mesh's). */
  readonly trustDomain: string;
  /**
   * This cluster's id (istiod `CLUSTER_ID`, default `Kubernetes`). A call naming another cluster in
   * `clusterid` is refused, as istiod refuses a cluster it has no API server for; a call naming none is
   * taken as this cluster's.
   */
  readonly clusterId?: string;
  /** A name for logs. Default `tokens`. */
  readonly name?: string;
}

/** A token authenticator whose token list can be replaced. */
export interface TokenAuthenticator extends Authenticator {
  /** Replaces the accepted tokens. */
  setTokens(entries: readonly TokenEntry[]): void;
  /** How many tokens are accepted. */
  readonly size: number;
}

const digest = (token: string): string => createHash('sha256').update(token, 'latin1').digest('hex');

/**
 * An authenticator over a list of accepted bearer tokens, each standing for a service account (what a
 * TokenReview would answer). Tokens are kept as SHA-256 digests and looked up by digest.
 *
 * @param entries - The accepted tokens (from `parseTokenFile`).
 * @param options - Trust domain and cluster.
 * @returns The authenticator.
 * @example
 * ```ts
 * const auth = createTokenAuthenticator(parseTokenFile(text)._unsafeUnwrap(), { trustDomain: 'cluster.local' });
 * const caller = await auth.authenticate({ metadata: call.metadata, peer: call.getPeer() });
 * ```
 */
export function createTokenAuthenticator(
  entries: readonly TokenEntry[],
  options: TokenAuthenticatorOptions,
): TokenAuthenticator {
  const clusterId = options.clusterId ?? 'Kubernetes';
  let byDigest = new Map<string, CaCaller>();
  const name = options.name ?? 'tokens';
  const setTokens = (list: readonly TokenEntry[]): void => {
    const next = new Map<string, CaCaller>();
    for (const e of list) {
      next.set(digest(e.token), {
        identities: [
          istioIdentity({
            trustDomain: options.trustDomain,
            namespace: e.namespace,
            serviceAccount: e.serviceAccount,
          }).toString(),
        ],
        namespace: e.namespace,
        serviceAccount: e.serviceAccount,
        ...(e.node === undefined ? {} : { node: e.node }),
        authenticator: name,
      });
    }
    byDigest = next;
  };
  setTokens(entries);
  return {
    name,
    get size() {
      return byDigest.size;
    },
    setTokens,
    async authenticate(request) {
      const token = bearerToken(request.metadata);
      if (token.isErr()) return err(token.error);
      const cluster = clusterIdOf(request.metadata);
      if (cluster !== '' && cluster !== clusterId)
        return err(`clusterid ${JSON.stringify(cluster.slice(0, 100))} is not this cluster (${clusterId})`);
      const caller = byDigest.get(digest(token.value));
      return caller === undefined ? err('the bearer token is not an accepted token') : ok(caller);
    },
  };
}
