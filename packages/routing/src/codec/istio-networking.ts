/**
 * Istio `VirtualService` and `DestinationRule` (networking.istio.io v1/v1beta1/v1alpha3): TypeScript shapes
 * and the validation the API server (CRD schema: camelCase fields only, unknown fields rejected) and
 * istiod's validating webhook apply. Fields: istio/api@b8f8791d:networking/v1alpha3/virtual_service.proto
 * and destination_rule.proto. Rules: istio/istio@86c9f01f:pkg/config/validation/validation.go
 * (`ValidateVirtualService`, `ValidateDestinationRule`, `validateTrafficPolicy`...),
 * `pkg/config/validation/virtualservice.go` (`validateHTTPRoute`), and
 * `pkg/config/validation/agent/validation.go` (`ValidateHTTPRetry`, `ValidateDuration`).
 * @module
 */
import { checkIstioDuration, parseGoDuration } from './duration.js';
import { isDns1123Label, LABELS, metadataSchema, type ObjectMeta } from './kubernetes.js';
import { compileRe2 } from './regex.js';
import { type ObjectSchema, type Rule, type Schema, type StringSchema, s } from './schema.js';

/** `StringMatch`: one of `exact`, `prefix`, `regex` (RE2, full match). */
export interface StringMatch {
  readonly exact?: string;
  readonly prefix?: string;
  readonly regex?: string;
}

/** `Destination`. */
export interface Destination {
  readonly host: string;
  readonly subset?: string;
  readonly port?: { readonly number?: number };
}

/** `Headers.HeaderOperations`. */
export interface HeaderOperations {
  readonly set?: Readonly<Record<string, string>>;
  readonly add?: Readonly<Record<string, string>>;
  readonly remove?: readonly string[];
}

/** `Headers`. */
export interface Headers {
  readonly request?: HeaderOperations;
  readonly response?: HeaderOperations;
}

/** `HTTPMatchRequest`. */
export interface HttpMatchRequest {
  readonly name?: string;
  readonly uri?: StringMatch;
  readonly scheme?: StringMatch;
  readonly method?: StringMatch;
  readonly authority?: StringMatch;
  readonly headers?: Readonly<Record<string, StringMatch>>;
  readonly port?: number;
  readonly sourceLabels?: Readonly<Record<string, string>>;
  readonly gateways?: readonly string[];
  readonly queryParams?: Readonly<Record<string, StringMatch>>;
  readonly ignoreUriCase?: boolean;
  readonly withoutHeaders?: Readonly<Record<string, StringMatch>>;
  readonly sourceNamespace?: string;
  readonly statPrefix?: string;
}

/** `Percent`. */
export interface Percent {
  readonly value?: number;
}

/** `HTTPRetry`. */
export interface HttpRetry {
  readonly attempts?: number;
  readonly perTryTimeout?: string;
  readonly retryOn?: string;
  readonly retryRemoteLocalities?: boolean;
  readonly retryIgnorePreviousHosts?: boolean;
  readonly backoff?: string;
}

/** `CorsPolicy`. */
export interface CorsPolicy {
  readonly allowOrigin?: readonly string[];
  readonly allowOrigins?: readonly StringMatch[];
  readonly allowMethods?: readonly string[];
  readonly allowHeaders?: readonly string[];
  readonly exposeHeaders?: readonly string[];
  readonly maxAge?: string;
  readonly allowCredentials?: boolean;
  readonly unmatchedPreflights?: 'UNSPECIFIED' | 'FORWARD' | 'IGNORE';
}

/** `HTTPFaultInjection`. */
export interface HttpFaultInjection {
  readonly delay?: {
    readonly fixedDelay?: string;
    readonly exponentialDelay?: string;
    readonly percent?: number;
    readonly percentage?: Percent;
  };
  readonly abort?: {
    readonly httpStatus?: number;
    readonly grpcStatus?: string;
    readonly http2Error?: string;
    readonly percentage?: Percent;
  };
}

/** `HTTPRoute` of a VirtualService. */
export interface VirtualServiceHttpRoute {
  readonly name?: string;
  readonly match?: readonly HttpMatchRequest[];
  readonly route?: readonly {
    readonly destination: Destination;
    readonly weight?: number;
    readonly headers?: Headers;
  }[];
  readonly redirect?: {
    readonly uri?: string;
    readonly authority?: string;
    readonly port?: number;
    readonly derivePort?: 'FROM_PROTOCOL_DEFAULT' | 'FROM_REQUEST_PORT';
    readonly scheme?: string;
    readonly redirectCode?: number;
    readonly prefixRewrite?: string;
  };
  readonly directResponse?: {
    readonly status: number;
    readonly body?: { readonly string?: string; readonly bytes?: string };
  };
  readonly delegate?: { readonly name?: string; readonly namespace?: string };
  readonly rewrite?: {
    readonly uri?: string;
    readonly authority?: string;
    readonly uriRegexRewrite?: { readonly match?: string; readonly rewrite?: string };
  };
  readonly timeout?: string;
  readonly retries?: HttpRetry;
  readonly fault?: HttpFaultInjection;
  readonly mirror?: Destination;
  readonly mirrors?: readonly { readonly destination: Destination; readonly percentage?: Percent }[];
  readonly mirrorPercent?: number;
  readonly mirrorPercentage?: Percent;
  readonly corsPolicy?: CorsPolicy;
  readonly headers?: Headers;
}

/** A `VirtualService`. */
export interface VirtualServiceResource {
  readonly apiVersion: string;
  readonly kind: 'VirtualService';
  readonly metadata: ObjectMeta;
  readonly spec: {
    readonly hosts?: readonly string[];
    readonly gateways?: readonly string[];
    readonly http?: readonly VirtualServiceHttpRoute[];
    readonly tls?: readonly unknown[];
    readonly tcp?: readonly unknown[];
    readonly exportTo?: readonly string[];
  };
}

/** `LoadBalancerSettings`. */
export interface LoadBalancerSettings {
  readonly simple?: 'UNSPECIFIED' | 'LEAST_CONN' | 'RANDOM' | 'PASSTHROUGH' | 'ROUND_ROBIN' | 'LEAST_REQUEST';
  readonly consistentHash?: {
    readonly httpHeaderName?: string;
    readonly httpCookie?: { readonly name: string; readonly path?: string; readonly ttl?: string };
    readonly useSourceIp?: boolean;
    readonly httpQueryParameterName?: string;
    readonly ringHash?: { readonly minimumRingSize?: number | string };
    readonly maglev?: { readonly tableSize?: number | string };
    readonly minimumRingSize?: number | string;
  };
  readonly localityLbSetting?: unknown;
  readonly zoneAwareLbSetting?: unknown;
  readonly warmupDurationSecs?: string;
  readonly warmup?: unknown;
}

/** `ConnectionPoolSettings`. */
export interface ConnectionPoolSettings {
  readonly tcp?: { readonly maxConnections?: number; readonly connectTimeout?: string };
  readonly http?: {
    readonly http1MaxPendingRequests?: number;
    readonly http2MaxRequests?: number;
    readonly maxRequestsPerConnection?: number;
    readonly maxRetries?: number;
    readonly idleTimeout?: string;
    readonly maxConcurrentStreams?: number;
  };
}

/** `OutlierDetection`. */
export interface OutlierDetection {
  readonly consecutiveErrors?: number;
  readonly splitExternalLocalOriginErrors?: boolean;
  readonly consecutiveLocalOriginFailures?: number;
  readonly consecutiveGatewayErrors?: number;
  readonly consecutive5xxErrors?: number;
  readonly interval?: string;
  readonly baseEjectionTime?: string;
  readonly maxEjectionPercent?: number;
  readonly minHealthPercent?: number;
}

/** `TrafficPolicy` (and, with fewer fields, `PortTrafficPolicy`). */
export interface TrafficPolicy {
  readonly loadBalancer?: LoadBalancerSettings;
  readonly connectionPool?: ConnectionPoolSettings;
  readonly outlierDetection?: OutlierDetection;
  readonly tls?: unknown;
  readonly portLevelSettings?: readonly (TrafficPolicy & { readonly port?: { readonly number?: number } })[];
  readonly tunnel?: unknown;
  readonly proxyProtocol?: unknown;
  readonly retryBudget?: { readonly percent?: number; readonly minRetryConcurrency?: number };
}

/** A `DestinationRule`. */
export interface DestinationRuleResource {
  readonly apiVersion: string;
  readonly kind: 'DestinationRule';
  readonly metadata: ObjectMeta;
  readonly spec: {
    readonly host: string;
    readonly trafficPolicy?: TrafficPolicy;
    readonly subsets?: readonly {
      readonly name: string;
      readonly labels?: Readonly<Record<string, string>>;
      readonly trafficPolicy?: TrafficPolicy;
    }[];
    readonly exportTo?: readonly string[];
    readonly workloadSelector?: { readonly matchLabels?: Readonly<Record<string, string>> };
  };
}

/** Envoy's `x-envoy-retry-on` and `x-envoy-retry-grpc-on` policies istiod accepts in `retryOn`. */
export const RETRY_ON_POLICIES: ReadonlySet<string> = new Set([
  '5xx',
  'gateway-error',
  'reset',
  'reset-before-request',
  'connect-failure',
  'retriable-4xx',
  'refused-stream',
  'retriable-status-codes',
  'retriable-headers',
  'envoy-ratelimited',
  'http3-post-connect-failure',
  'cancelled',
  'deadline-exceeded',
  'internal',
  'resource-exhausted',
  'unavailable',
]);

/** gRPC status names istiod accepts for `fault.abort.grpcStatus`, with their numbers. */
export const GRPC_STATUS: Readonly<Record<string, number>> = {
  OK: 0,
  CANCELLED: 1,
  UNKNOWN: 2,
  INVALID_ARGUMENT: 3,
  DEADLINE_EXCEEDED: 4,
  NOT_FOUND: 5,
  ALREADY_EXISTS: 6,
  PERMISSION_DENIED: 7,
  RESOURCE_EXHAUSTED: 8,
  FAILED_PRECONDITION: 9,
  ABORTED: 10,
  OUT_OF_RANGE: 11,
  UNIMPLEMENTED: 12,
  INTERNAL: 13,
  UNAVAILABLE: 14,
  DATA_LOSS: 15,
  UNAUTHENTICATED: 16,
};

// Go net/http StatusText knows these codes; istiod accepts a bare status code in retryOn only then.
const KNOWN_STATUS = new Set([
  100, 101, 102, 103, 200, 201, 202, 203, 204, 205, 206, 207, 208, 226, 300, 301, 302, 303, 304, 305, 307,
  308, 400, 401, 402, 403, 404, 405, 406, 407, 408, 409, 410, 411, 412, 413, 414, 415, 416, 417, 418, 421,
  422, 423, 424, 425, 426, 428, 429, 431, 451, 500, 501, 502, 503, 504, 505, 506, 507, 508, 510, 511,
]);

const HEADER_NAME = /^[!#$%&'*+\-.^_`|~0-9a-zA-Z]+$/;
const PSEUDO = new Set([':method', ':scheme', ':authority', ':path', ':status']);
const CORS_METHODS = new Set([
  'GET',
  'HEAD',
  'POST',
  'PUT',
  'DELETE',
  'CONNECT',
  'OPTIONS',
  'TRACE',
  'PATCH',
]);

/**
 * istiod's `ValidateWildcardDomain`: an FQDN or short name, optionally with a leading `*` label.
 *
 * @param host - The host.
 * @returns An error message, or `undefined` when valid.
 * @example
 * ```ts
 * checkWildcardDomain('*.example.com'); // undefined
 * ```
 */
export function checkWildcardDomain(host: string): string | undefined {
  if (host.length === 0) return 'domain name cannot be empty';
  if (host.length > 255) return `domain name ${JSON.stringify(host)} too long (max 255)`;
  let name = host;
  if (name.startsWith('*')) {
    name = name.slice(1);
    if (name === '') return undefined;
    if (!name.startsWith('.')) return `invalid wildcard domain ${JSON.stringify(host)}`;
    name = name.slice(1);
  }
  if (name.endsWith('.')) name = name.slice(0, -1);
  for (const label of name.split('.')) {
    if (label.length === 0 || label.length > 63 || !/^[a-zA-Z0-9]([-a-zA-Z0-9]*[a-zA-Z0-9])?$/.test(label))
      return `domain name ${JSON.stringify(host)} invalid (label ${JSON.stringify(label)})`;
  }
  return undefined;
}

const isIp = (host: string): boolean => /^[0-9.]+$/.test(host) || host.includes(':');

const duration = (allowZero = false): StringSchema =>
  s.str({ check: (v) => checkIstioDuration(v, allowZero), checkCode: 'ROUTING_ERR_INVALID' });

const regexCheck: Rule<string> = (v) => {
  if (v === '') return 'regex string match should not be empty';
  const re = compileRe2(v);
  return typeof re === 'string' ? re : undefined;
};

const stringMatch = (where: string, regexOnly = false): ObjectSchema =>
  s.obj(
    {
      exact: s.str(),
      prefix: s.str(),
      regex: s.str({ check: regexCheck, checkCode: 'ROUTING_ERR_INVALID_REGEX' }),
    },
    {
      oneOf: [['exact', 'prefix', 'regex']],
      rules: regexOnly
        ? []
        : [
            (m) =>
              m['prefix'] === ''
                ? `${JSON.stringify(where)}: prefix string match should not be empty`
                : undefined,
          ],
    },
  );

const headerValueCheck: Rule<string> = (v) => {
  // httpHeaderValueRegexp: no control characters but tab.
  // biome-ignore lint/suspicious/noControlCharactersInRegex: the check is about control characters.
  if (/[\u0000-\u0008\u000A-\u001F\u007F]/.test(v)) return `header value configuration ${v} is invalid`;
  return undefined;
};

const headerOperations = (request: boolean): ObjectSchema => {
  const nameCheck: Rule<string> = request
    ? (n) =>
        n === ''
          ? 'header name cannot be empty'
          : n.startsWith(':') && n.toLowerCase() !== ':authority'
            ? `invalid header ${JSON.stringify(n)}: header cannot have ":" prefix`
            : undefined
    : (n) =>
        n === ''
          ? 'header name cannot be empty'
          : n.toLowerCase() === 'host'
            ? `invalid header ${JSON.stringify(n)}: cannot set Host header`
            : n.startsWith(':')
              ? `invalid header ${JSON.stringify(n)}: header cannot have ":" prefix`
              : undefined;
  const keys = s.str({ check: nameCheck, checkCode: 'ROUTING_ERR_INVALID' });
  const removeCheck: Rule<string> = (n) =>
    n === ''
      ? 'header name cannot be empty'
      : n.toLowerCase() === 'host'
        ? `invalid header ${JSON.stringify(n)}: cannot set Host header`
        : n.startsWith(':')
          ? `invalid header ${JSON.stringify(n)}: header cannot have ":" prefix`
          : undefined;
  return s.obj({
    set: s.map(s.str({ check: headerValueCheck, checkCode: 'ROUTING_ERR_INVALID' }), { keys }),
    add: s.map(s.str({ check: headerValueCheck, checkCode: 'ROUTING_ERR_INVALID' }), { keys }),
    remove: s.arr(s.str({ check: removeCheck, checkCode: 'ROUTING_ERR_INVALID' })),
  });
};

const headers = s.obj({ request: headerOperations(true), response: headerOperations(false) });

const portSelector = s.obj({ number: s.int({ min: 1, max: 65535 }) });

const destination = s.obj(
  {
    host: s.str({
      check: (h) => (h === '*' ? `invalid destination host ${h}` : checkWildcardDomain(h)),
      checkCode: 'ROUTING_ERR_INVALID',
    }),
    subset: s.str({
      check: (v) =>
        v === ''
          ? 'subset name cannot be empty'
          : isDns1123Label(v)
            ? undefined
            : `subset name is invalid: ${v}`,
      checkCode: 'ROUTING_ERR_INVALID',
    }),
    port: portSelector,
  },
  { required: ['host'] },
);

const percent = s.obj(
  { value: s.num() },
  {
    rules: [
      (p) => {
        const v = (p['value'] as number | undefined) ?? 0;
        return v < 0 || v > 100 || (v > 0 && v < 0.0001)
          ? `percentage ${v} is neither 0.0, nor in range [0.0001, 100.0]`
          : undefined;
      },
    ],
  },
);

const headerNameOrPseudo = s.str({
  check: (n) => {
    if (n === '') return 'header name cannot be empty';
    if (n.startsWith('@request.auth.claims'))
      return `JWT claim based routing (key: ${n}) is only supported for gateway, found no gateways`;
    if (PSEUDO.has(n)) return undefined;
    return HEADER_NAME.test(n) ? undefined : `header name ${n} is not a valid header name`;
  },
  checkCode: 'ROUTING_ERR_INVALID',
});

const gatewayNames = s.arr(
  s.str({
    check: (g) => {
      const parts = g.split('/');
      if (parts.length === 1) return checkWildcardDomain(g);
      if (parts.length !== 2 || parts[0] === '' || parts[1] === '')
        return 'config namespace and gateway name cannot be empty';
      if (!isDns1123Label(parts[0] as string))
        return `invalid value for namespace: ${JSON.stringify(parts[0])}`;
      if (!isDns1123Label(parts[1] as string))
        return `invalid value for gateway name: ${JSON.stringify(parts[1])}`;
      return undefined;
    },
    checkCode: 'ROUTING_ERR_INVALID',
  }),
);

const httpMatchRequest = s.obj({
  name: s.str(),
  uri: stringMatch('uri', true),
  scheme: stringMatch('scheme'),
  method: stringMatch('method'),
  authority: stringMatch('authority'),
  headers: s.map(stringMatch('headers'), { keys: headerNameOrPseudo }),
  port: s.int({ min: 1, max: 65535 }),
  sourceLabels: LABELS,
  gateways: gatewayNames,
  queryParams: s.map(stringMatch('queryParams')),
  ignoreUriCase: s.bool(),
  // `regex: "*"` is how istiod spells "header absent with any value"; it is not compiled.
  withoutHeaders: s.map(
    s.obj(
      {
        exact: s.str(),
        prefix: s.str(),
        regex: s.str({
          check: (v) => (v === '*' ? undefined : regexCheck(v)),
          checkCode: 'ROUTING_ERR_INVALID_REGEX',
        }),
      },
      { oneOf: [['exact', 'prefix', 'regex']] },
    ),
    { keys: headerNameOrPseudo },
  ),
  sourceNamespace: s.str({
    check: (v) => (isDns1123Label(v) ? undefined : `sourceNamespace match ${v} is invalid`),
    checkCode: 'ROUTING_ERR_INVALID',
  }),
  statPrefix: s.str(),
});

const retries = s.obj(
  {
    attempts: s.int(),
    perTryTimeout: duration(),
    retryOn: s.str({
      check: (v) => {
        for (const policy of v.split(',')) {
          const n = /^[0-9]+$/.test(policy) ? Number(policy) : Number.NaN;
          if (!KNOWN_STATUS.has(n) && !RETRY_ON_POLICIES.has(policy))
            return `${JSON.stringify(policy)} is not a valid retryOn policy`;
        }
        return undefined;
      },
      checkCode: 'ROUTING_ERR_INVALID',
    }),
    retryRemoteLocalities: s.bool(),
    retryIgnorePreviousHosts: s.bool(),
    backoff: duration(),
  },
  {
    rules: [
      (r) => (((r['attempts'] as number | undefined) ?? 0) < 0 ? 'attempts cannot be negative' : undefined),
      (r) =>
        ((r['attempts'] as number | undefined) ?? 0) === 0 &&
        (r['perTryTimeout'] !== undefined ||
          (r['retryOn'] !== undefined && r['retryOn'] !== '') ||
          r['retryRemoteLocalities'] !== undefined)
          ? 'http retry policy configured when attempts are set to 0 (disabled)'
          : undefined,
    ],
  },
);

const corsPolicy = s.obj({
  allowOrigin: s.arr(s.str()),
  allowOrigins: s.arr(
    s.obj(
      {
        exact: s.str(),
        prefix: s.str(),
        regex: s.str({ check: regexCheck, checkCode: 'ROUTING_ERR_INVALID_REGEX' }),
      },
      {
        oneOf: [['exact', 'prefix', 'regex']],
        rules: [
          (m) =>
            ((m['exact'] ?? m['prefix'] ?? m['regex'] ?? '') as string) === ''
              ? "'' is not a valid match type for CORS allow origins"
              : undefined,
        ],
      },
    ),
  ),
  allowMethods: s.arr(
    s.str({
      check: (m) => (CORS_METHODS.has(m) ? undefined : `${JSON.stringify(m)} is not a supported HTTP method`),
      checkCode: 'ROUTING_ERR_INVALID',
    }),
  ),
  allowHeaders: s.arr(
    s.str({
      check: (n) =>
        n === '*' || HEADER_NAME.test(n) ? undefined : `header name ${n} is not a valid header name`,
      checkCode: 'ROUTING_ERR_INVALID',
    }),
  ),
  exposeHeaders: s.arr(
    s.str({
      check: (n) =>
        n === '*' || HEADER_NAME.test(n) ? undefined : `header name ${n} is not a valid header name`,
      checkCode: 'ROUTING_ERR_INVALID',
    }),
  ),
  maxAge: s.str({
    check: (v) =>
      checkIstioDuration(v) ??
      ((parseGoDuration(v) ?? 0) % 1000 !== 0
        ? 'max_age duration is accurate only to seconds precision'
        : undefined),
    checkCode: 'ROUTING_ERR_INVALID',
  }),
  allowCredentials: s.bool(),
  unmatchedPreflights: s.str({ enum: ['UNSPECIFIED', 'FORWARD', 'IGNORE'] }),
});

const fault = s.obj(
  {
    delay: s.obj(
      {
        fixedDelay: duration(),
        exponentialDelay: duration(),
        percent: s.int({ min: 0, max: 100 }),
        percentage: percent,
      },
      {
        oneOf: [['fixedDelay', 'exponentialDelay']],
        rules: [
          (d) => (d['exponentialDelay'] !== undefined ? 'exponentialDelay not supported yet' : undefined),
        ],
      },
    ),
    abort: s.obj(
      {
        httpStatus: s.int(),
        grpcStatus: s.str({
          check: (v) =>
            GRPC_STATUS[v] === undefined
              ? `gRPC status ${JSON.stringify(v)} is not supported. See https://github.com/grpc/grpc/blob/master/doc/statuscodes.md for a list of supported codes, for example 'NOT_FOUND'`
              : undefined,
          checkCode: 'ROUTING_ERR_INVALID',
        }),
        http2Error: s.str(),
        percentage: percent,
      },
      {
        oneOf: [['httpStatus', 'grpcStatus', 'http2Error']],
        rules: [
          (a) =>
            a['http2Error'] !== undefined ? 'HTTP/2 abort fault injection not supported yet' : undefined,
          (a) => {
            const st = a['httpStatus'] as number | undefined;
            return st !== undefined && (st < 200 || st > 600)
              ? `HTTP status ${st} is not in range 200-599`
              : undefined;
          },
        ],
      },
    ),
  },
  {
    rules: [
      (f) =>
        f['abort'] === undefined && f['delay'] === undefined
          ? 'HTTP fault injection must have an abort and/or a delay'
          : undefined,
    ],
  },
);

const routeDestination = s.obj(
  { destination, weight: s.int({ min: 0 }), headers },
  { required: ['destination'] },
);

// validateAuthorityRewrite: one authority rewrite at most (rewrite.authority or a Host/:authority header op).
const oneAuthority: Rule<Record<string, unknown>> = (r) => {
  const rw = r['rewrite'] as { authority?: string } | undefined;
  const h = (r['headers'] as Headers | undefined)?.request;
  let count = rw?.authority !== undefined && rw.authority !== '' ? 1 : 0;
  for (const map of [h?.set, h?.add])
    for (const k of Object.keys(map ?? {}))
      if (k.toLowerCase() === 'host' || k.toLowerCase() === ':authority') count++;
  return count > 1 ? 'authority header cannot be set multiple times' : undefined;
};

// validateHTTPRouteConflict (for routes that are not delegates).
const routeConflicts: Rule<Record<string, unknown>> = (r) => {
  const has = (k: string): boolean => r[k] !== undefined;
  const routes = (r['route'] as readonly unknown[] | undefined) ?? [];
  if (has('delegate')) {
    if (has('redirect')) return `root HTTP route ${String(r['name'] ?? '')} must not specify redirect`;
    if (routes.length > 0) return `root HTTP route ${String(r['name'] ?? '')} must not specify route`;
    return undefined;
  }
  if (has('redirect')) {
    if (routes.length > 0) return 'HTTP route cannot contain both route and redirect';
    if (has('fault')) return 'HTTP route cannot contain both fault and redirect';
    if (has('rewrite')) return 'HTTP route rule cannot contain both rewrite and redirect';
    if (has('directResponse')) return 'HTTP route rule cannot contain both direct_response and redirect';
  } else if (has('directResponse')) {
    if (routes.length > 0) return 'HTTP route cannot contain both route and direct_response';
    if (has('fault')) return 'HTTP route cannot contain both fault and direct_response';
    if (has('rewrite')) return 'HTTP route rule cannot contain both rewrite and direct_response';
  } else if (routes.length === 0) return 'HTTP route, redirect or direct_response is required';
  if (has('mirror') && ((r['mirrors'] as readonly unknown[] | undefined) ?? []).length > 0)
    return 'HTTP route cannot contain both mirror and mirrors';
  return undefined;
};

const redirectRule: Rule<Record<string, unknown>> = (r) => {
  const redirect = r['redirect'] as VirtualServiceHttpRoute['redirect'];
  if (redirect === undefined) return undefined;
  if ((redirect.uri ?? '') !== '' && (redirect.prefixRewrite ?? '') !== '')
    return 'redirect may only specify one of uri or prefix_rewrite';
  if ((redirect.prefixRewrite ?? '') !== '') {
    for (const m of (r['match'] as readonly HttpMatchRequest[] | undefined) ?? [])
      if (m.uri !== undefined && m.uri.prefix === undefined)
        return 'redirect prefix_rewrite requires all URI matches to use prefix match type';
  }
  if (
    (redirect.uri ?? '') === '' &&
    (redirect.prefixRewrite ?? '') === '' &&
    (redirect.authority ?? '') === '' &&
    redirect.port === undefined &&
    redirect.derivePort === undefined &&
    (redirect.scheme ?? '') === ''
  )
    return 'redirect must specify URI, authority, scheme, or port';
  if (
    redirect.redirectCode !== undefined &&
    redirect.redirectCode !== 0 &&
    (redirect.redirectCode < 300 || redirect.redirectCode > 399)
  )
    return `${redirect.redirectCode} is not a valid redirect code, must be 3xx`;
  if ((redirect.scheme ?? '') !== '' && redirect.scheme !== 'http' && redirect.scheme !== 'https')
    return 'invalid redirect scheme, must be "http" or "https"';
  return undefined;
};

const weightsRule: Rule<Record<string, unknown>> = (r) => {
  const routes = (r['route'] as readonly { weight?: number }[] | undefined) ?? [];
  const total = routes.reduce((sum, d) => sum + (d.weight ?? 0), 0);
  return routes.length > 1 && total === 0 ? 'total destination weight = 0' : undefined;
};

const vsHttpRoute = s.obj(
  {
    name: s.str(),
    match: s.arr(httpMatchRequest),
    route: s.arr(routeDestination),
    redirect: s.obj(
      {
        uri: s.str(),
        authority: s.str(),
        port: s.int({ min: 1, max: 65535 }),
        derivePort: s.str({ enum: ['FROM_PROTOCOL_DEFAULT', 'FROM_REQUEST_PORT'] }),
        scheme: s.str(),
        redirectCode: s.int({ min: 0 }),
        prefixRewrite: s.str(),
      },
      { oneOf: [['port', 'derivePort']] },
    ),
    directResponse: s.obj(
      {
        status: s.int({ min: 0 }),
        body: s.obj(
          { string: s.str(), bytes: s.str({ pattern: /^[A-Za-z0-9+/]*={0,2}$/ }) },
          {
            oneOf: [['string', 'bytes']],
            rules: [
              (b) => {
                const size =
                  typeof b['string'] === 'string'
                    ? new TextEncoder().encode(b['string']).length
                    : typeof b['bytes'] === 'string'
                      ? Math.floor(((b['bytes'] as string).length * 3) / 4)
                      : 0;
                return size > 1024 * 1024
                  ? 'large direct_responses may impact control plane performance, must be less than 1MB'
                  : undefined;
              },
            ],
          },
        ),
      },
      {
        required: ['status'],
        rules: [
          (d) => {
            const st = d['status'] as number;
            return st < 200 || st > 600 ? `HTTP status ${st} is not in range 200-599` : undefined;
          },
        ],
      },
    ),
    delegate: s.obj({ name: s.str(), namespace: s.str() }),
    rewrite: s.obj(
      {
        uri: s.str(),
        authority: s.str(),
        uriRegexRewrite: s.obj({
          match: s.str({ check: regexCheck, checkCode: 'ROUTING_ERR_INVALID_REGEX' }),
          rewrite: s.str(),
        }),
      },
      {
        rules: [
          (w) =>
            w['uri'] !== undefined && w['uri'] !== '' && w['uriRegexRewrite'] !== undefined
              ? 'rewrite may only contain one of URI or URI regex rewrite'
              : undefined,
          (w) => {
            const rr = w['uriRegexRewrite'] as { match?: string; rewrite?: string } | undefined;
            return rr !== undefined && ((rr.match ?? '') === '' || rr.rewrite === undefined)
              ? 'uri_regex_rewrite requires both match and rewrite'
              : undefined;
          },
        ],
      },
    ),
    timeout: duration(),
    retries,
    fault,
    mirror: destination,
    mirrors: s.arr(s.obj({ destination, percentage: percent }, { required: ['destination'] })),
    mirrorPercent: s.int({ min: 0, max: 100 }),
    mirrorPercentage: s.obj(
      { value: s.num() },
      {
        rules: [
          (p) => {
            const v = (p['value'] as number | undefined) ?? 0;
            return v > 100
              ? `mirror_percentage must have a max value of 100 (it has ${v})`
              : v < 0
                ? `mirror_percentage must have a min value of 0 (it has ${v})`
                : undefined;
          },
        ],
      },
    ),
    corsPolicy,
    headers,
  },
  { rules: [routeConflicts, redirectRule, weightsRule, oneAuthority] },
);

const l4Match = s.obj({
  destinationSubnets: s.arr(s.str()),
  port: s.int({ min: 1, max: 65535 }),
  sourceSubnet: s.str(),
  sourceLabels: LABELS,
  gateways: gatewayNames,
  sourceNamespace: s.str(),
});
const l4Route = s.arr(s.obj({ destination, weight: s.int({ min: 0 }) }, { required: ['destination'] }));

const hostsRule: Rule<Record<string, unknown>> = (spec) => {
  const hosts = (spec['hosts'] as readonly string[] | undefined) ?? [];
  const gateways = (spec['gateways'] as readonly string[] | undefined) ?? [];
  const mesh = gateways.length === 0 || gateways.includes('mesh');
  for (const h of hosts) {
    const bad = checkWildcardDomain(h);
    if (bad !== undefined && !isIp(h)) return bad;
    if (mesh && gateways.length === 0 && h === '*')
      return 'wildcard host * is not allowed for virtual services bound to the mesh gateway';
  }
  for (let i = 0; i < hosts.length; i++)
    for (let j = i + 1; j < hosts.length; j++)
      if (hostMatches(hosts[i] as string, hosts[j] as string))
        return `duplicate hosts in virtual service: ${hosts[i]} & ${hosts[j]}`;
  if (hosts.length === 0 && gateways.length > 0)
    return 'delegate virtual service must have no gateways specified';
  const http = (spec['http'] as readonly unknown[] | undefined) ?? [];
  const tcp = (spec['tcp'] as readonly unknown[] | undefined) ?? [];
  const tls = (spec['tls'] as readonly unknown[] | undefined) ?? [];
  if (http.length === 0 && tcp.length === 0 && tls.length === 0)
    return 'http, tcp or tls must be provided in virtual service';
  return undefined;
};

const exportTo = s.arr(
  s.str({
    check: (v) =>
      v === '*' || v === '.' || v === '~' || isDns1123Label(v)
        ? undefined
        : `invalid exportTo value ${JSON.stringify(v)}`,
    checkCode: 'ROUTING_ERR_INVALID',
  }),
);

/** The schema of a `VirtualService`. */
export const VIRTUAL_SERVICE_SCHEMA: ObjectSchema = s.obj(
  {
    apiVersion: s.str(),
    kind: s.str(),
    metadata: metadataSchema('dns1123-subdomain'),
    spec: s.obj(
      {
        hosts: s.arr(s.str()),
        gateways: s.arr(s.str()),
        http: s.arr(vsHttpRoute),
        tls: s.arr(
          s.obj({
            match: s.arr(
              s.obj({
                sniHosts: s.arr(s.str()),
                destinationSubnets: s.arr(s.str()),
                port: s.int({ min: 1, max: 65535 }),
                sourceLabels: LABELS,
                gateways: gatewayNames,
                sourceNamespace: s.str(),
              }),
            ),
            route: l4Route,
          }),
        ),
        tcp: s.arr(s.obj({ match: s.arr(l4Match), route: l4Route })),
        exportTo,
      },
      { rules: [hostsRule] },
    ),
    status: s.any(),
  },
  { required: ['metadata', 'spec'] },
);

/**
 * Istio's `host.Name.Matches`: equal names, or a wildcard (`*.x`) that covers the other name.
 *
 * @param a - One host (may be a wildcard).
 * @param b - The other host.
 * @returns Whether one matches the other.
 * @example
 * ```ts
 * hostMatches('*.example.com', 'a.example.com'); // true
 * ```
 */
export function hostMatches(a: string, b: string): boolean {
  if (a === b) return true;
  const aw = a.startsWith('*');
  const bw = b.startsWith('*');
  if (aw && bw) return a.length < b.length ? b.endsWith(a.slice(1)) : a.endsWith(b.slice(1));
  if (aw) return b.endsWith(a.slice(1));
  if (bw) return a.endsWith(b.slice(1));
  return false;
}

const u32 = s.int({ min: 0, max: 4294967295 });
const u64 = s.int({ min: 0, max: Number.MAX_SAFE_INTEGER, allowString: true });

const loadBalancer = s.obj(
  {
    simple: s.str({
      enum: ['UNSPECIFIED', 'LEAST_CONN', 'RANDOM', 'PASSTHROUGH', 'ROUND_ROBIN', 'LEAST_REQUEST'],
    }),
    consistentHash: s.obj(
      {
        httpHeaderName: s.str(),
        httpCookie: s.obj(
          {
            name: s.str(),
            path: s.str(),
            ttl: duration(true),
            attributes: s.arr(s.obj({ name: s.str(), value: s.str() })),
          },
          { rules: [(c) => ((c['name'] ?? '') === '' ? 'name required for HttpCookie' : undefined)] },
        ),
        useSourceIp: s.bool(),
        httpQueryParameterName: s.str(),
        ringHash: s.obj({ minimumRingSize: u64 }),
        maglev: s.obj(
          { tableSize: u64 },
          {
            rules: [
              (m) => {
                const size = Number(m['tableSize'] ?? 0);
                if (size === 0) return 'tableSize must be set for maglev';
                if (size >= 5000011) return 'tableSize must be less than 5000011 for maglev';
                for (let f = 2; f * f <= size; f++)
                  if (size % f === 0) return 'tableSize must be a prime number for maglev';
                return undefined;
              },
            ],
          },
        ),
        minimumRingSize: u64,
      },
      {
        oneOf: [
          ['httpHeaderName', 'httpCookie', 'useSourceIp', 'httpQueryParameterName'],
          ['ringHash', 'maglev'],
        ],
        rules: [
          (c) =>
            Number(c['minimumRingSize'] ?? 0) !== 0 &&
            (c['ringHash'] !== undefined || c['maglev'] !== undefined)
              ? 'only one of MinimumRingSize or Maglev/Ringhash can be specified'
              : undefined,
        ],
      },
    ),
    localityLbSetting: s.any(),
    zoneAwareLbSetting: s.any(),
    warmupDurationSecs: duration(),
    warmup: s.any(),
  },
  { oneOf: [['simple', 'consistentHash']] },
);

const connectionPool = s.obj(
  {
    tcp: s.obj({
      maxConnections: s.int({ min: 0 }),
      connectTimeout: duration(),
      tcpKeepalive: s.obj({ probes: u32, time: duration(), interval: duration() }),
      maxConnectionDuration: duration(),
      idleTimeout: duration(true),
    }),
    http: s.obj(
      {
        http1MaxPendingRequests: s.int({ min: 0 }),
        http2MaxRequests: s.int({ min: 0 }),
        maxRequestsPerConnection: s.int({ min: 0 }),
        maxRetries: s.int({ min: 0 }),
        idleTimeout: duration(),
        h2UpgradePolicy: s.str({ enum: ['DEFAULT', 'DO_NOT_UPGRADE', 'UPGRADE'] }),
        useClientProtocol: s.bool(),
        maxConcurrentStreams: s.int({ min: 0 }),
        http2KeepAlive: s.obj(
          { interval: duration(), timeout: duration() },
          { required: ['interval', 'timeout'] },
        ),
      },
      {
        rules: [
          (h) =>
            h['h2UpgradePolicy'] === 'UPGRADE' && h['useClientProtocol'] === true
              ? 'use client protocol must not be true when H2UpgradePolicy is UPGRADE'
              : undefined,
        ],
      },
    ),
  },
  {
    rules: [
      (c) =>
        c['tcp'] === undefined && c['http'] === undefined
          ? 'connection pool must have at least one field'
          : undefined,
    ],
  },
);

const outlierDetection = s.obj(
  {
    consecutiveErrors: s.int(),
    splitExternalLocalOriginErrors: s.bool(),
    consecutiveLocalOriginFailures: u32,
    consecutiveGatewayErrors: u32,
    consecutive5xxErrors: u32,
    interval: duration(),
    baseEjectionTime: duration(),
    maxEjectionPercent: s.int({ min: 0, max: 100 }),
    minHealthPercent: s.int({ min: 0, max: 100 }),
    outlierDetectionHttpErrorCodes: s.arr(u32),
  },
  {
    rules: [
      (o) =>
        o['splitExternalLocalOriginErrors'] !== true &&
        ((o['consecutiveLocalOriginFailures'] as number | undefined) ?? 0) > 0
          ? 'outlier detection consecutive local origin failures is specified, but split external local origin errors is set to false'
          : undefined,
    ],
  },
);

const policyFields = { loadBalancer, connectionPool, outlierDetection, tls: s.any() };

const trafficPolicy: Schema = s.obj(
  {
    ...policyFields,
    portLevelSettings: s.arr(
      s.obj(
        { port: portSelector, ...policyFields },
        {
          rules: [
            (p) => (p['port'] === undefined ? 'portTrafficPolicy must have valid port' : undefined),
            (p) =>
              p['outlierDetection'] === undefined &&
              p['connectionPool'] === undefined &&
              p['loadBalancer'] === undefined &&
              p['tls'] === undefined
                ? 'port traffic policy must have at least one field'
                : undefined,
          ],
        },
      ),
    ),
    tunnel: s.obj(
      {
        protocol: s.str({ enum: ['CONNECT', 'POST'] }),
        targetHost: s.str(),
        targetPort: s.int({ min: 1, max: 65535 }),
      },
      { required: ['targetHost', 'targetPort'] },
    ),
    proxyProtocol: s.obj({ version: s.str({ enum: ['V1', 'V2'] }) }),
    retryBudget: s.obj({
      percent: s.num({ min: 0, max: 100 }),
      minRetryConcurrency: u32,
      budgetInterval: duration(),
    }),
  },
  {
    rules: [
      (p) => (Object.keys(p).length === 0 ? 'traffic policy must have at least one field' : undefined),
      (p) =>
        p['tunnel'] !== undefined && p['proxyProtocol'] !== undefined
          ? 'tunnel and proxyProtocol must not be set together'
          : undefined,
    ],
  },
);

/** The schema of a `DestinationRule`. */
export const DESTINATION_RULE_SCHEMA: ObjectSchema = s.obj(
  {
    apiVersion: s.str(),
    kind: s.str(),
    metadata: metadataSchema('dns1123-subdomain'),
    spec: s.obj(
      {
        host: s.str({ check: checkWildcardDomain, checkCode: 'ROUTING_ERR_INVALID' }),
        trafficPolicy,
        subsets: s.arr(
          s.obj(
            {
              name: s.str({
                check: (v) =>
                  v === ''
                    ? 'subset name cannot be empty'
                    : isDns1123Label(v)
                      ? undefined
                      : `subset name is invalid: ${v}`,
                checkCode: 'ROUTING_ERR_INVALID',
              }),
              labels: LABELS,
              trafficPolicy,
            },
            { required: ['name'] },
          ),
          { unique: { key: 'name' } },
        ),
        exportTo,
        workloadSelector: s.obj({ matchLabels: LABELS }),
      },
      { required: ['host'] },
    ),
    status: s.any(),
  },
  { required: ['metadata', 'spec'] },
);
