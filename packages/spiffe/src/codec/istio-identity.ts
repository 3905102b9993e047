/**
 * Istio workload identities: `spiffe://<trust domain>/ns/<namespace>/sa/<service account>`
 * (istio/istio@86c9f01f:pkg/spiffe/spiffe.go `ParseIdentity`,
 * istio/ztunnel@62d82653:src/identity/manager.rs).
 * @module
 */
import { err, ok, type Result } from 'neverthrow';
import { quote, SpiffeError } from './errors.js';
import {
  isSpiffeId,
  parseSpiffeId,
  requireTrustDomain,
  type SpiffeId,
  spiffeIdFromSegments,
  type TrustDomain,
} from './spiffe-id.js';

/** The parts of an Istio workload identity. */
export interface IstioIdentity {
  /** The mesh trust domain (Istio's default is `cluster.local`). */
  readonly trustDomain: TrustDomain;
  /** The Kubernetes namespace. */
  readonly namespace: string;
  /** The Kubernetes service account. */
  readonly serviceAccount: string;
  /** The full SPIFFE ID. */
  readonly id: SpiffeId;
}

/** Options of {@link istioIdentity}. */
export interface IstioIdentityOptions {
  /**
   * The trust domain, e.g. `cluster.local` (Istio's default,
   * istio/istio@86c9f01f:pilot/cmd/pilot-agent/options/options.go).
   */
  readonly trustDomain: TrustDomain | string;
  /** The namespace: one valid path segment. */
  readonly namespace: string;
  /** The service account: one valid path segment. */
  readonly serviceAccount: string;
}

/**
 * Builds the SPIFFE ID istiod puts in a workload certificate for a Kubernetes service account:
 * `spiffe://<td>/ns/<ns>/sa/<sa>` (istio `security/pkg/server/ca/authenticate/kubeauth/kube_jwt.go`).
 *
 * @param options - Trust domain, namespace and service account.
 * @returns The ID.
 * @throws {TypeError} When a part is not a valid trust domain or path segment (programmer misuse).
 * @example
 * ```ts
 * istioIdentity({ trustDomain: 'cluster.local', namespace: 'default', serviceAccount: 'sleep' }).toString();
 * // 'spiffe://cluster.local/ns/default/sa/sleep'
 * ```
 */
export function istioIdentity(options: IstioIdentityOptions): SpiffeId {
  const trustDomain = requireTrustDomain(options.trustDomain, 'istioIdentity: trustDomain');
  const built = spiffeIdFromSegments(trustDomain, 'ns', options.namespace, 'sa', options.serviceAccount);
  if (built.isErr()) throw new TypeError(`istioIdentity: ${built.error.message}`, { cause: built.error });
  return built.value;
}

/**
 * Reads an Istio workload identity. The input must first be a valid SPIFFE ID (strict rules, docs/spiffe.md "SPIFFE IDs"), then have
 * exactly the four path segments `ns/<namespace>/sa/<service account>`, as ztunnel's `Identity::from_str`
 * and istio's `spiffe.ParseIdentity` require.
 *
 * @param input - A SPIFFE ID or its text.
 * @returns The parts, or `SPIFFE_ERR_NOT_ISTIO_IDENTITY` (or the ID's own parse error).
 * @example
 * ```ts
 * const who = parseIstioIdentity('spiffe://cluster.local/ns/default/sa/sleep')._unsafeUnwrap();
 * who.namespace; // 'default'
 * parseIstioIdentity('spiffe://cluster.local/workload')._unsafeUnwrapErr().code; // 'SPIFFE_ERR_NOT_ISTIO_IDENTITY'
 * ```
 */
export function parseIstioIdentity(input: SpiffeId | string): Result<IstioIdentity, SpiffeError> {
  const parsed = isSpiffeId(input) ? ok(input) : parseSpiffeId(input);
  return parsed.andThen((id) => {
    const segments = id.segments();
    const [ns, namespace, sa, serviceAccount] = segments;
    if (
      segments.length !== 4 ||
      ns !== 'ns' ||
      sa !== 'sa' ||
      namespace === undefined ||
      serviceAccount === undefined
    ) {
      return err(
        new SpiffeError(
          'SPIFFE_ERR_NOT_ISTIO_IDENTITY',
          `${quote(id.toString())} is not an Istio identity (spiffe://<trust domain>/ns/<namespace>/sa/<service account>)`,
        ),
      );
    }
    return ok({ trustDomain: id.trustDomain, namespace, serviceAccount, id });
  });
}
