/**
 * What the engine decides about: the enforcing workload, the request it sees, and the decision.
 * @module
 */

/**
 * The proxy that enforces. `ztunnel` is L4 enforcement at the destination's ztunnel (istiod's ambient
 * translation plus ztunnel's matching); the others are Envoy (sidecar, ingress/egress gateway, waypoint).
 */
export type WorkloadKind = 'ztunnel' | 'sidecar' | 'gateway' | 'waypoint';

/** The workload whose policies apply: for `ztunnel` the destination pod, otherwise the proxy itself. */
export interface Workload {
  readonly kind: WorkloadKind;
  readonly namespace: string;
  /** Pod labels; selectors match a subset of them. A Gateway API gateway carries `gateway.networking.k8s.io/gateway-name`. */
  readonly labels?: Readonly<Record<string, string>>;
  /** The workload (or waypoint/gateway) name; a waypoint without the gateway-name label is matched by it. */
  readonly name?: string;
  readonly serviceAccount?: string;
  /**
   * MeshConfig `trustDomain` as this proxy sees it; trust-domain aliases rewrite policy principals against
   * it (Envoy only). Default: `mesh.trustDomain`, which defaults to `cluster.local`.
   */
  readonly trustDomain?: string;
}

/** The destination Service of a request (what a waypoint's `targetRefs: [{kind: Service}]` attach to). */
export interface DestinationService {
  /** `Service` (Kubernetes registry) or `ServiceEntry` (external registry). */
  readonly kind: 'Service' | 'ServiceEntry' | (string & {});
  readonly name: string;
  readonly namespace: string;
}

/** The request (or, at L4, the connection) to decide. Absent attributes follow Istio: `notX` matches them. */
export interface AuthzRequest {
  readonly source: {
    /**
     * The mTLS peer identity as a SPIFFE URI (`spiffe://cluster.local/ns/foo/sa/bar`), or `null` for
     * plaintext. Policies write principals without `spiffe://`, and Envoy prepends it: a peer principal given
     * here without the scheme matches no principal, namespace or service account.
     */
    readonly principal: string | null;
    /** Informational: Istio derives the source namespace from the principal, and so does the engine. */
    readonly namespace?: string;
    /** The L4 peer address (`ipBlocks`, `source.ip`). */
    readonly ip: string;
    /** The original client address (`remoteIpBlocks`, `remote.ip`); defaults to `ip`. */
    readonly remoteIp?: string;
  };
  readonly destination: {
    readonly ip: string;
    /** The destination (target/container) port, not the Service port. */
    readonly port: number;
    readonly service?: DestinationService;
  };
  /** Envoy proxies only: `http` (default) or `tcp` (a TCP filter chain: istio/istio@86c9f01f:pilot/pkg/security/authz/model/model.go `Generate`). Ignored at ztunnel. */
  readonly protocol?: 'http' | 'tcp';
  /** `:authority`, port included. */
  readonly host?: string;
  readonly method?: string;
  /** The raw request target, query included; normalized per MeshConfig before matching. */
  readonly path?: string;
  /** Request headers; names are case-insensitive and a list is joined with `,`. */
  readonly headers?: Readonly<Record<string, string | readonly string[] | undefined>>;
  /** The verified JWT payload (RequestAuthentication), or `null`/absent when there is none. */
  readonly jwt?: Readonly<Record<string, unknown>> | null;
  /** TLS SNI (`connection.sni`). */
  readonly sni?: string;
  /** Envoy dynamic metadata by filter name, for `experimental.envoy.filters.*` conditions. */
  readonly metadata?: Readonly<Record<string, Readonly<Record<string, unknown>>>>;
}

/** What an ext_authz provider answers. */
export type ExtAuthzAnswer = 'allow' | 'deny';

/** Callbacks the engine needs for CUSTOM policies. */
export interface EvaluateHooks {
  /**
   * Asked when a CUSTOM policy matches; the answer decides like the provider would. Without it, or when it
   * throws, the request is denied (Envoy ext_authz defaults to failing closed).
   */
  readonly extAuthz?: (provider: string) => ExtAuthzAnswer;
}

/** The input of {@link PolicyEngine.evaluate}. */
export interface EvaluateInput {
  readonly workload: Workload;
  readonly request: AuthzRequest;
}

/** The engine's answer. */
export interface Decision {
  readonly allow: boolean;
  /** `namespace/name` of the policy that decided, when one did. */
  readonly policy?: string;
  /** Index of the rule in that policy's `spec.rules` that matched, when one did. */
  readonly rule?: number;
  /** Why, for logs. */
  readonly reason: string;
  /** An AUDIT policy matched (Envoy only). */
  readonly audit: boolean;
  /** `namespace/name` of every dry-run policy that matched on the way (never enforced). */
  readonly dryRunMatched: readonly string[];
  /** The ext_authz provider the decision consulted, if any. */
  readonly extAuthzCalled?: string;
  /** The proxy would reject the request before authorization (HTTP 400), e.g. a NUL in the path. */
  readonly badRequest?: boolean;
  /**
   * The proxy would not have accepted the connection at all: PeerAuthentication STRICT at a sidecar and no
   * verified peer certificate. The HTTP middleware closes the connection without an HTTP answer.
   */
  readonly connectionRefused?: boolean;
}
