/**
 * The compiled form of a routing configuration: per Service, route tables (one per GAMMA producer/consumer
 * group and port) of entries in precedence order, each entry a compiled match and the action of its rule.
 * Built by `compile.ts`, read by `decide.ts` and the runtime.
 * @module
 */
import type { DestinationRuleResource } from './istio-networking.js';
import type { CompiledMatch, MatchContext } from './match.js';
import type { PathIndex } from './path-index.js';
import type { Re2 } from './regex.js';
import type { Backend, ResponseFlag, ResponseHeaderOps, RetryPolicy, RouteSource } from './types.js';

/** Header changes, names lower case; applied as Envoy does: removals first, then sets, then appends. */
export interface HeaderOps {
  readonly remove: readonly string[];
  readonly set: readonly (readonly [string, string])[];
  readonly add: readonly (readonly [string, string])[];
  /** A `Host` / `:authority` set (request side only): an authority rewrite. */
  readonly authority: string | undefined;
}

/** A backend of a rule, with its share and its own filters. */
export interface BackendTarget {
  /** Port 0 = the request's port (a VirtualService destination without a port on a multi-port Service). */
  readonly backend: Backend;
  readonly weight: number;
  /** Set when the reference cannot be resolved: the share of traffic it would get is answered with this. */
  readonly invalid:
    | { readonly status: number; readonly flags: readonly ResponseFlag[]; readonly reason: string }
    | undefined;
  readonly requestHeaders: HeaderOps | undefined;
  /** Route-level and backend-level response changes, merged. */
  readonly responseHeaders: ResponseHeaderOps;
  readonly rewrite: Rewrite | undefined;
  readonly mirrors: readonly MirrorSpec[];
}

/** A path/authority rewrite. */
export interface Rewrite {
  /**
   * `full`: replace the path; `gateway-prefix`: Gateway API ReplacePrefixMatch (path-segment aware);
   * `envoy-prefix`: Envoy `prefix_rewrite` (VirtualService `rewrite.uri`); `regex`: `uriRegexRewrite`.
   */
  readonly path:
    | { readonly kind: 'full'; readonly value: string }
    | { readonly kind: 'gateway-prefix'; readonly value: string }
    | { readonly kind: 'envoy-prefix'; readonly value: string }
    | { readonly kind: 'regex'; readonly re: Re2; readonly substitution: string }
    | undefined;
  readonly authority: string | undefined;
}

/** A redirect. */
export interface RedirectSpec {
  readonly status: number;
  readonly scheme: string | undefined;
  readonly host: string | undefined;
  /** A port, `request` (the request's port), `scheme-default`, or `keep` (Envoy's default: the Host's port). */
  readonly port: number | 'request' | 'scheme-default' | 'keep';
  readonly path:
    | { readonly kind: 'full'; readonly value: string }
    | { readonly kind: 'gateway-prefix'; readonly value: string }
    | { readonly kind: 'envoy-prefix'; readonly value: string }
    | undefined;
}

/** A mirror and the share of requests it receives (0..100). */
export interface MirrorSpec {
  readonly backend: Backend;
  readonly percent: number;
}

/** A fault to inject (VirtualService `fault`). Percentages 0..100; 0 = never. */
export interface FaultSpec {
  readonly delayMs: number;
  readonly delayPercent: number;
  readonly abort:
    | {
        readonly httpStatus: number | undefined;
        readonly grpcStatus: number | undefined;
        readonly percent: number;
      }
    | undefined;
}

/** A CORS policy (Envoy's CORS filter). */
export interface CorsSpec {
  readonly allowOrigin: (origin: string) => boolean;
  readonly allowMethods: string | undefined;
  readonly allowHeaders: string | undefined;
  readonly exposeHeaders: string | undefined;
  readonly maxAge: string | undefined;
  readonly allowCredentials: boolean;
  /** What to do with a preflight whose origin is not allowed: pass it on, or answer it without CORS headers. */
  readonly unmatchedPreflights: 'forward' | 'ignore';
}

/** What a rule does. */
export interface Action {
  readonly kind: 'forward' | 'redirect' | 'direct';
  readonly backends: readonly BackendTarget[];
  readonly totalWeight: number;
  readonly requestHeaders: HeaderOps | undefined;
  /** Response changes of the rule (for redirects and direct responses). */
  readonly responseHeaders: ResponseHeaderOps;
  readonly rewrite: Rewrite | undefined;
  readonly redirect: RedirectSpec | undefined;
  readonly direct: { readonly status: number; readonly body: string | undefined } | undefined;
  readonly fault: FaultSpec | undefined;
  readonly timeoutMs: number;
  readonly backendRequestTimeoutMs: number;
  readonly retries: RetryPolicy | undefined;
  readonly mirrors: readonly MirrorSpec[];
  readonly cors: CorsSpec | undefined;
}

/** One match of one rule. */
export interface Entry {
  readonly match: CompiledMatch;
  readonly action: Action;
  readonly source: RouteSource;
}

/** Entries in precedence order, indexed by path. */
export interface Table {
  readonly entries: readonly Entry[];
  readonly index: PathIndex<MatchContext>;
}

/** The tables of one GAMMA group (producer routes, or one namespace's consumer routes). */
export interface GroupTables {
  /** Routes attached to a port, merged with the port-less ones. */
  readonly byPort: ReadonlyMap<number, Table>;
  /** Port-less routes only (for ports no route names). */
  readonly any: Table | undefined;
}

/** A Service as routing knows it. */
export interface ServiceInfo {
  readonly name: string;
  readonly namespace: string;
  readonly hostname: string;
  readonly ports: readonly {
    readonly name: string | undefined;
    readonly port: number;
    readonly targetPort: number | string | undefined;
    readonly appProtocol: string | undefined;
  }[];
  readonly selector: Readonly<Record<string, string>> | undefined;
}

/** Everything attached to one Service. */
export interface ServiceRouting {
  readonly hostname: string;
  /** Which API routes it: Gateway API routes, VirtualServices, or nothing (pass-through). */
  readonly mode: 'gateway' | 'virtual-service';
  readonly producer: GroupTables | undefined;
  readonly consumers: ReadonlyMap<string, GroupTables>;
  readonly virtualService: Table | undefined;
}

/** A Service named by both a VirtualService and a Gateway API route. */
export interface RoutingConflict {
  /** The Service FQDN. */
  readonly service: string;
  /** `namespace/name` of each VirtualService. */
  readonly virtualServices: readonly string[];
  /** `Kind namespace/name` of each Gateway API route. */
  readonly routes: readonly string[];
  /** Which API routes the Service. */
  readonly resolution: 'gateway-api' | 'virtual-service';
  readonly message: string;
}

/** The compiled configuration. */
export interface CompiledRouting {
  readonly services: ReadonlyMap<string, ServiceRouting>;
  readonly serviceInfo: ReadonlyMap<string, ServiceInfo>;
  /** DestinationRules that can apply, by host (exact FQDNs) plus wildcard ones. */
  readonly destinationRules: (
    hostname: string,
    serviceNamespace: string,
  ) => DestinationRuleResource | undefined;
  readonly conflicts: readonly RoutingConflict[];
  readonly warnings: readonly string[];
  readonly domainSuffix: string;
}
