/**
 * The request a router decides, and the decisions it returns.
 * @module
 */

/** Request headers: names in any case, repeated headers as arrays. */
export type RequestHeaders = Readonly<Record<string, string | readonly string[] | undefined>>;

/** One HTTP or gRPC request as the waypoint sees it, addressed to a Service. */
export interface RouteRequest {
  /** The destination Service's FQDN, e.g. `reviews.bookinfo.svc.cluster.local`. */
  readonly service: string;
  /** The Service port the client dialed. */
  readonly port: number;
  /** `:authority` / `Host` as sent (may carry a port). */
  readonly authority: string;
  /** `:method`, upper case. */
  readonly method: string;
  /** `:path`, with the query string, as Envoy routes it (after its path normalization). */
  readonly path: string;
  readonly headers: RequestHeaders;
  readonly protocol: 'http' | 'grpc';
  /** The client's namespace (GAMMA consumer routes, VirtualService `sourceNamespace`). */
  readonly sourceNamespace?: string;
  /** The client's labels (VirtualService `sourceLabels`). */
  readonly sourceLabels?: Readonly<Record<string, string>>;
  /** The client's IP (DestinationRule `consistentHash.useSourceIp`). */
  readonly sourceIp?: string;
  /** `:scheme` (redirects keep it). Default `http`: mesh traffic is plain HTTP inside HBONE. */
  readonly scheme?: 'http' | 'https';
}

/** A Service port (and DestinationRule subset) a request is sent to. */
export interface Backend {
  /** The Service name (`reviews`), or the host itself when it is not a cluster Service. */
  readonly service: string;
  /** The Service namespace (`''` for a host outside the cluster). */
  readonly namespace: string;
  /** The Service port. */
  readonly port: number;
  /** A DestinationRule subset name. */
  readonly subset?: string;
  /** The FQDN (`reviews.bookinfo.svc.cluster.local`). */
  readonly hostname: string;
}

/** Response header changes a route asks for (names lower case). */
export interface ResponseHeaderOps {
  readonly set: Readonly<Record<string, string>>;
  readonly add: Readonly<Record<string, string>>;
  readonly remove: readonly string[];
}

/**
 * A route's retry policy, in Envoy's terms (`RetryPolicy`). `retryOn` holds Envoy's names (`5xx`,
 * `gateway-error`, `connect-failure`, `retriable-status-codes`, ...).
 */
export interface RetryPolicy {
  /** Retries after the first try (Envoy `num_retries`). */
  readonly attempts: number;
  readonly retryOn: readonly string[];
  /** Codes retried under `retriable-status-codes`. */
  readonly retriableStatusCodes: readonly number[];
  /** Per-try timeout; 0 = none (the route timeout still applies). */
  readonly perTryTimeoutMs: number;
  /** Backoff base; Envoy's default 25 ms. */
  readonly backoffBaseMs: number;
  /** Backoff cap; Envoy's default 10 × base. */
  readonly backoffMaxMs: number;
  /** Avoid hosts that already failed this request (Envoy `previous_hosts` predicate; Istio's default). */
  readonly avoidPreviousHosts: boolean;
}

/** A mirror the route fired for this request. */
export interface MirrorTarget extends Backend {
  /** What the mirror receives: the same path, the authority with `-shadow` appended. */
  readonly request: { readonly path: string; readonly authority: string };
}

/** Where a decision came from, for logs and `/config_dump`. */
export interface RouteSource {
  /** `default` when no route is attached to the Service (traffic passes to it unchanged). */
  readonly kind: 'HTTPRoute' | 'GRPCRoute' | 'VirtualService' | 'default';
  readonly namespace: string;
  readonly name: string;
  /** Index of the rule (`rules[i]` / `http[i]`). */
  readonly rule: number;
  /** Index of the match inside the rule, when it has matches. */
  readonly match?: number;
  /** Envoy's route name (`%ROUTE_NAME%`): the rule name, or `namespace.name.index` as Istio names it. */
  readonly routeName: string;
}

/**
 * Envoy response flags a decision or an execution carries (`%RESPONSE_FLAGS%`): `NR` no route, `UH` no
 * healthy upstream, `UF` upstream connect failure, `UR` upstream reset, `URX` retry limit exceeded, `UT`
 * upstream timeout, `UO` overflow (circuit breaker), `DI` delayed by fault, `FI` aborted by fault, `NC` no
 * cluster (invalid backend).
 */
export type ResponseFlag = 'NR' | 'UH' | 'UF' | 'UR' | 'URX' | 'UT' | 'UO' | 'DI' | 'FI' | 'NC';

/** Fields every decision has. */
interface DecisionBase {
  /** Envoy response flags so far (the access log joins them with `,`; `-` when empty). */
  readonly flags: readonly ResponseFlag[];
  /** Where the decision came from; absent when no rule matched. */
  readonly source?: RouteSource;
  /** A fault delay to apply before anything else. */
  readonly delayMs?: number;
}

/** Send the request to a backend. */
export interface ForwardDecision extends DecisionBase {
  readonly kind: 'forward';
  readonly backend: Backend;
  /** What the backend receives, after every modifier and rewrite (header names lower case). */
  readonly request: {
    readonly path: string;
    readonly authority: string;
    readonly headers: Readonly<Record<string, string>>;
  };
  readonly responseHeaders: ResponseHeaderOps;
  /** Whole-request timeout (504 `UT`); 0 = none (Istio's default for HTTP routes). */
  readonly timeoutMs: number;
  /** Per-attempt timeout (Gateway API `timeouts.backendRequest`, VirtualService `retries.perTryTimeout`); 0 = none. */
  readonly backendRequestTimeoutMs: number;
  /** The retry policy; absent when retries are disabled (`attempts: 0`). */
  readonly retries?: RetryPolicy;
  /** Mirrors that fired (their answers are dropped). */
  readonly mirrors: readonly MirrorTarget[];
}

/** Answer with a redirect. */
export interface RedirectDecision extends DecisionBase {
  readonly kind: 'redirect';
  readonly status: number;
  readonly location: string;
  /** Response headers to send with it (route response header modifiers). */
  readonly headers?: Readonly<Record<string, string>>;
}

/** Answer directly: no route (404), direct response, fault abort, invalid backend (500), CORS preflight. */
export interface DirectDecision extends DecisionBase {
  readonly kind: 'direct';
  /** HTTP status; for gRPC requests Envoy answers 200 and puts the status in `grpcStatus`. */
  readonly status: number;
  readonly body?: string;
  readonly headers?: Readonly<Record<string, string>>;
  /** gRPC status code (numeric) for gRPC requests. */
  readonly grpcStatus?: number;
}

/** What to do with a request. */
export type RouteDecision = ForwardDecision | RedirectDecision | DirectDecision;

/** A source of uniformly distributed numbers in [0, 1), like `Math.random`. */
export type RandomSource = () => number;
