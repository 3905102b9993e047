/**
 * DestinationRule traffic policies as istiod hands them to Envoy, for one backend (host, port, subset):
 * selection of the DestinationRule, the subset/port merge, and the defaults Istio and Envoy fill in.
 *
 * - Merge (`istio/istio@86c9f01f:pilot/pkg/networking/core/cluster_traffic_policy.go` `MergeTrafficPolicy`):
 * the
 *   port-level settings replace the top-level ones field by field; a subset's policy replaces the result
 *   field by field, then the subset's own port-level settings do.
 * - Defaults: load balancer `LEAST_REQUEST` (istio.io DestinationRule reference: "LEAST_REQUEST ... the
 *   default"); circuit breakers at 2^32-1 (Istio `getDefaultCircuitBreakerThresholds`); outlier detection
 *   (Envoy `outlier_detection.proto`): `consecutive5xxErrors` 5 unless set (0 disables), gateway errors
 *   only when set, `interval` 10 s, `baseEjectionTime` 30 s, `maxEjectionPercent` 10, ejection time
 *   capped at max(300 s, base); `minHealthPercent` 0 (no panic mode).
 * @module
 */
import { parseGoDuration } from './duration.js';
import type {
  ConnectionPoolSettings,
  DestinationRuleResource,
  LoadBalancerSettings,
  OutlierDetection,
  TrafficPolicy,
} from './istio-networking.js';

/** 2^32 - 1, Istio's "no limit" for circuit breakers. */
export const UNLIMITED = 4294967295;

/** How an endpoint is chosen. */
export type LoadBalancerPolicy =
  | { readonly kind: 'LEAST_REQUEST' | 'ROUND_ROBIN' | 'RANDOM' }
  | {
      readonly kind: 'CONSISTENT_HASH';
      readonly key:
        | { readonly kind: 'header'; readonly name: string }
        | {
            readonly kind: 'cookie';
            readonly name: string;
            readonly path: string | undefined;
            readonly ttlMs: number | undefined;
          }
        | { readonly kind: 'sourceIp' }
        | { readonly kind: 'query'; readonly name: string }
        | { readonly kind: 'none' };
      /** Ring points (ring hash `minimumRingSize`, default 1024; maglev `tableSize`). */
      readonly ringSize: number;
    };

/** Envoy circuit breaker thresholds and connection settings. */
export interface ConnectionPoolPolicy {
  /** `tcp.maxConnections` (Envoy `max_connections`). */
  readonly maxConnections: number;
  /** `http.http1MaxPendingRequests` (Envoy `max_pending_requests`). */
  readonly maxPendingRequests: number;
  /** `http.http2MaxRequests` (Envoy `max_requests`: concurrent requests, HTTP/1.1 and HTTP/2). */
  readonly maxRequests: number;
  /** `http.maxRetries` (Envoy `max_retries`: concurrent retries across the cluster). */
  readonly maxRetries: number;
  /** `http.maxRequestsPerConnection`; 0 = unlimited. For the caller's upstream connection pool. */
  readonly maxRequestsPerConnection: number;
  /** `tcp.connectTimeout`; Istio's default 10 s. For the caller's connect. */
  readonly connectTimeoutMs: number;
  /** `http.idleTimeout`; 0 = Envoy's default (1 h). For the caller's connection pool. */
  readonly idleTimeoutMs: number;
}

/** Outlier detection, normalized. */
export interface OutlierPolicy {
  /** Consecutive 5xx before ejection; 0 = disabled. */
  readonly consecutive5xx: number;
  /** Consecutive 502/503/504 before ejection; 0 = disabled. */
  readonly consecutiveGatewayErrors: number;
  /** Local-origin failures counted apart from upstream 5xx. */
  readonly splitExternalLocalOriginErrors: boolean;
  /** With the split: consecutive local-origin failures before ejection (default 5); 0 = disabled. */
  readonly consecutiveLocalOriginFailures: number;
  readonly intervalMs: number;
  readonly baseEjectionMs: number;
  readonly maxEjectionMs: number;
  readonly maxEjectionPercent: number;
  readonly minHealthPercent: number;
}

/** The policy in effect for one backend. */
export interface EffectivePolicy {
  /** The DestinationRule it comes from (`namespace/name`), or `undefined` for defaults. */
  readonly destinationRule: string | undefined;
  /** The subset's labels, when the backend names a subset that exists. */
  readonly subsetLabels: Readonly<Record<string, string>> | undefined;
  /** Whether a named subset does not exist (Envoy has no such cluster: 503 `NC`). */
  readonly missingSubset: boolean;
  readonly loadBalancer: LoadBalancerPolicy;
  readonly connectionPool: ConnectionPoolPolicy;
  readonly outlierDetection: OutlierPolicy | undefined;
  /** DestinationRule `retryBudget`: concurrent retries allowed as a share of active requests. */
  readonly retryBudget: { readonly percent: number; readonly minRetryConcurrency: number } | undefined;
}

const ms = (text: string | undefined, fallback: number): number => {
  if (text === undefined) return fallback;
  return parseGoDuration(text) ?? fallback;
};

function loadBalancerOf(lb: LoadBalancerSettings | undefined): LoadBalancerPolicy {
  if (lb?.consistentHash !== undefined) {
    const h = lb.consistentHash;
    const ringSize = Math.min(
      Math.max(
        Number(h.ringHash?.minimumRingSize ?? h.maglev?.tableSize ?? h.minimumRingSize ?? 1024) || 1024,
        1,
      ),
      1 << 16,
    );
    const key =
      h.httpHeaderName !== undefined
        ? { kind: 'header' as const, name: h.httpHeaderName.toLowerCase() }
        : h.httpCookie !== undefined
          ? {
              kind: 'cookie' as const,
              name: h.httpCookie.name,
              path: h.httpCookie.path,
              ttlMs: h.httpCookie.ttl === undefined ? undefined : ms(h.httpCookie.ttl, 0),
            }
          : h.useSourceIp === true
            ? { kind: 'sourceIp' as const }
            : h.httpQueryParameterName !== undefined
              ? { kind: 'query' as const, name: h.httpQueryParameterName }
              : { kind: 'none' as const };
    return { kind: 'CONSISTENT_HASH', key, ringSize };
  }
  switch (lb?.simple) {
    case 'ROUND_ROBIN':
      return { kind: 'ROUND_ROBIN' };
    case 'RANDOM':
      return { kind: 'RANDOM' };
    default:
      // UNSPECIFIED, LEAST_REQUEST and the deprecated LEAST_CONN are Envoy's LEAST_REQUEST.
      return { kind: 'LEAST_REQUEST' };
  }
}

function connectionPoolOf(cp: ConnectionPoolSettings | undefined): ConnectionPoolPolicy {
  const positive = (n: number | undefined): number => (n === undefined || n <= 0 ? UNLIMITED : n);
  return {
    maxConnections: positive(cp?.tcp?.maxConnections),
    maxPendingRequests: positive(cp?.http?.http1MaxPendingRequests),
    maxRequests: positive(cp?.http?.http2MaxRequests),
    maxRetries: positive(cp?.http?.maxRetries),
    maxRequestsPerConnection: cp?.http?.maxRequestsPerConnection ?? 0,
    connectTimeoutMs: ms(cp?.tcp?.connectTimeout, 10_000),
    idleTimeoutMs: ms(cp?.http?.idleTimeout, 0),
  };
}

function outlierOf(od: OutlierDetection | undefined): OutlierPolicy | undefined {
  if (od === undefined) return undefined;
  // The deprecated consecutiveErrors maps to gateway errors (istio/api#617).
  const legacy =
    od.consecutiveErrors !== undefined && od.consecutiveErrors > 0 ? od.consecutiveErrors : undefined;
  const base = ms(od.baseEjectionTime, 30_000);
  return {
    consecutive5xx: od.consecutive5xxErrors ?? (legacy === undefined ? 5 : 0),
    consecutiveGatewayErrors: od.consecutiveGatewayErrors ?? legacy ?? 0,
    splitExternalLocalOriginErrors: od.splitExternalLocalOriginErrors === true,
    consecutiveLocalOriginFailures: od.consecutiveLocalOriginFailures ?? 5,
    intervalMs: ms(od.interval, 10_000),
    baseEjectionMs: base,
    maxEjectionMs: Math.max(300_000, base),
    maxEjectionPercent:
      od.maxEjectionPercent !== undefined && od.maxEjectionPercent > 0 ? od.maxEjectionPercent : 10,
    minHealthPercent: od.minHealthPercent ?? 0,
  };
}

function overlay(base: TrafficPolicy, top: TrafficPolicy | undefined): TrafficPolicy {
  if (top === undefined) return base;
  return {
    ...base,
    ...(top.loadBalancer === undefined ? {} : { loadBalancer: top.loadBalancer }),
    ...(top.connectionPool === undefined ? {} : { connectionPool: top.connectionPool }),
    ...(top.outlierDetection === undefined ? {} : { outlierDetection: top.outlierDetection }),
    ...(top.retryBudget === undefined ? {} : { retryBudget: top.retryBudget }),
  };
}

const portLevel = (policy: TrafficPolicy | undefined, port: number): TrafficPolicy | undefined =>
  policy?.portLevelSettings?.find((p) => p.port?.number === port);

/**
 * The effective policy of a backend under a DestinationRule (or the defaults when there is none).
 *
 * @param rule - The DestinationRule for the backend's host, if any.
 * @param port - The backend port.
 * @param subset - The backend subset, if any.
 * @returns The normalized policy.
 * @example
 * ```ts
 * const policy = effectivePolicy(dr, 9080, 'v1');
 * policy.loadBalancer.kind; // 'LEAST_REQUEST' unless the rule says otherwise
 * ```
 */
export function effectivePolicy(
  rule: DestinationRuleResource | undefined,
  port: number,
  subset: string | undefined,
): EffectivePolicy {
  let merged: TrafficPolicy = {};
  const top = rule?.spec.trafficPolicy;
  merged = overlay(merged, top);
  merged = overlay(merged, portLevel(top, port));
  let subsetLabels: Readonly<Record<string, string>> | undefined;
  let missingSubset = false;
  if (subset !== undefined) {
    const def = rule?.spec.subsets?.find((x) => x.name === subset);
    if (def === undefined) missingSubset = true;
    else {
      subsetLabels = def.labels ?? {};
      merged = overlay(merged, def.trafficPolicy);
      merged = overlay(merged, portLevel(def.trafficPolicy, port));
    }
  }
  const budget = merged.retryBudget;
  return {
    destinationRule:
      rule === undefined ? undefined : `${rule.metadata.namespace ?? 'default'}/${rule.metadata.name}`,
    subsetLabels,
    missingSubset,
    loadBalancer: loadBalancerOf(merged.loadBalancer),
    connectionPool: connectionPoolOf(merged.connectionPool),
    outlierDetection: outlierOf(merged.outlierDetection),
    retryBudget:
      budget === undefined
        ? undefined
        : { percent: budget.percent ?? 20, minRetryConcurrency: budget.minRetryConcurrency ?? 3 },
  };
}
