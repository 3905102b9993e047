/**
 * Gateway API v1 `HTTPRoute` and `GRPCRoute`: TypeScript shapes and the validation the API server applies
 * with the experimental-channel CRDs of v1.6.1 (the superset: standard fields plus `retry` and rule names).
 * Field limits and CEL rules are those of kubernetes-sigs/gateway-api@8bb74df0 (tag v1.6.1)
 * `apis/v1/httproute_types.go`, `grpcroute_types.go`, `shared_types.go`, `object_reference_types.go`.
 *
 * `rules[].retry` (GEP-1731) exists since v1.2.0 (kubernetes-sigs/gateway-api@f7350459) and is still
 * `<gateway:experimental>` in v1.6.1: a cluster with the standard-channel CRDs prunes it, so a route that
 * sets it here behaves as it would with the experimental CRDs installed.
 * @module
 */
import { parseGatewayDuration } from './duration.js';
import { metadataSchema, type ObjectMeta } from './kubernetes.js';
import { type ObjectSchema, type Rule, type Schema, s } from './schema.js';

/** `HTTPRoute.spec.parentRefs[]` (`ParentReference`). */
export interface ParentReference {
  readonly group?: string;
  readonly kind?: string;
  readonly namespace?: string;
  readonly name: string;
  readonly sectionName?: string;
  readonly port?: number;
}

/** `BackendObjectReference` plus `weight` (`BackendRef`). */
export interface BackendRef {
  readonly group?: string;
  readonly kind?: string;
  readonly name: string;
  readonly namespace?: string;
  readonly port?: number;
  readonly weight?: number;
}

/** `HTTPHeaderFilter`. */
export interface HeaderFilter {
  readonly set?: readonly { readonly name: string; readonly value: string }[];
  readonly add?: readonly { readonly name: string; readonly value: string }[];
  readonly remove?: readonly string[];
}

/** `HTTPPathModifier`. */
export interface PathModifier {
  readonly type: 'ReplaceFullPath' | 'ReplacePrefixMatch';
  readonly replaceFullPath?: string;
  readonly replacePrefixMatch?: string;
}

/** `HTTPRequestMirrorFilter`. */
export interface MirrorFilter {
  readonly backendRef: BackendRef;
  readonly percent?: number;
  readonly fraction?: { readonly numerator: number; readonly denominator?: number };
}

/** `HTTPCORSFilter`. */
export interface CorsFilter {
  readonly allowOrigins?: readonly string[];
  readonly allowCredentials?: boolean;
  readonly allowMethods?: readonly string[];
  readonly allowHeaders?: readonly string[];
  readonly exposeHeaders?: readonly string[];
  readonly maxAge?: number;
}

/** `HTTPRouteFilter` (and, with fewer types, `GRPCRouteFilter`). */
export interface HttpRouteFilter {
  readonly type: string;
  readonly requestHeaderModifier?: HeaderFilter;
  readonly responseHeaderModifier?: HeaderFilter;
  readonly requestMirror?: MirrorFilter;
  readonly requestRedirect?: {
    readonly scheme?: 'http' | 'https';
    readonly hostname?: string;
    readonly path?: PathModifier;
    readonly port?: number;
    readonly statusCode?: number;
  };
  readonly urlRewrite?: { readonly hostname?: string; readonly path?: PathModifier };
  readonly cors?: CorsFilter;
  readonly externalAuth?: unknown;
  readonly extensionRef?: { readonly group: string; readonly kind: string; readonly name: string };
}

/** `HTTPRouteMatch`. */
export interface HttpRouteMatch {
  readonly path?: { readonly type?: 'Exact' | 'PathPrefix' | 'RegularExpression'; readonly value?: string };
  readonly headers?: readonly {
    readonly type?: 'Exact' | 'RegularExpression';
    readonly name: string;
    readonly value: string;
  }[];
  readonly queryParams?: readonly {
    readonly type?: 'Exact' | 'RegularExpression';
    readonly name: string;
    readonly value: string;
  }[];
  readonly method?: string;
}

/** `HTTPRouteRule`. */
export interface HttpRouteRule {
  readonly name?: string;
  readonly matches?: readonly HttpRouteMatch[];
  readonly filters?: readonly HttpRouteFilter[];
  readonly backendRefs?: readonly (BackendRef & { readonly filters?: readonly HttpRouteFilter[] })[];
  readonly timeouts?: { readonly request?: string; readonly backendRequest?: string };
  readonly retry?: {
    readonly codes?: readonly number[];
    readonly attempts?: number;
    readonly backoff?: string;
  };
  readonly sessionPersistence?: unknown;
}

/** A Gateway API `HTTPRoute`. */
export interface HttpRouteResource {
  readonly apiVersion: string;
  readonly kind: 'HTTPRoute';
  readonly metadata: ObjectMeta;
  readonly spec: {
    readonly parentRefs?: readonly ParentReference[];
    readonly hostnames?: readonly string[];
    readonly rules?: readonly HttpRouteRule[];
    readonly useDefaultGateways?: string;
  };
}

/** `GRPCRouteMatch`. */
export interface GrpcRouteMatch {
  readonly method?: {
    readonly type?: 'Exact' | 'RegularExpression';
    readonly service?: string;
    readonly method?: string;
  };
  readonly headers?: readonly {
    readonly type?: 'Exact' | 'RegularExpression';
    readonly name: string;
    readonly value: string;
  }[];
}

/** `GRPCRouteRule`. */
export interface GrpcRouteRule {
  readonly name?: string;
  readonly matches?: readonly GrpcRouteMatch[];
  readonly filters?: readonly HttpRouteFilter[];
  readonly backendRefs?: readonly (BackendRef & { readonly filters?: readonly HttpRouteFilter[] })[];
  readonly sessionPersistence?: unknown;
}

/** A Gateway API `GRPCRoute`. */
export interface GrpcRouteResource {
  readonly apiVersion: string;
  readonly kind: 'GRPCRoute';
  readonly metadata: ObjectMeta;
  readonly spec: {
    readonly parentRefs?: readonly ParentReference[];
    readonly hostnames?: readonly string[];
    readonly rules?: readonly GrpcRouteRule[];
    readonly useDefaultGateways?: string;
  };
}

// Field types of shared_types.go and object_reference_types.go.
const group = s.str({
  maxLength: 253,
  pattern: /^$|^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$/,
});
const kind = s.str({ minLength: 1, maxLength: 63, pattern: /^[a-zA-Z]([-a-zA-Z0-9]*[a-zA-Z0-9])?$/ });
const objectName = s.str({ minLength: 1, maxLength: 253 });
const namespace = s.str({ minLength: 1, maxLength: 63, pattern: /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/ });
const sectionName = s.str({
  minLength: 1,
  maxLength: 253,
  pattern: /^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$/,
});
const portNumber = s.int({ min: 1, max: 65535 });
const hostname = s.str({
  minLength: 1,
  maxLength: 253,
  pattern: /^(\*\.)?[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$/,
});
const preciseHostname = s.str({
  minLength: 1,
  maxLength: 253,
  pattern: /^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$/,
});
const headerName = s.str({ minLength: 1, maxLength: 256, pattern: /^[A-Za-z0-9!#$%&'*+\-.^_`|~]+$/ });
const duration = s.str({
  pattern: /^([0-9]{1,5}(h|m|s|ms)){1,4}$/,
  doc: 'GEP-2257 Duration',
});
// The experimental channel's HTTPHeader / HTTPHeaderMatch value pattern (printable US-ASCII, single
// tabs or spaces between).
const headerValue = s.str({ minLength: 1, maxLength: 4096, pattern: /^[!-~]+([\t ]?[!-~]+)*$/ });

const sameParent = (a: Record<string, unknown>, b: Record<string, unknown>): boolean =>
  (a['group'] ?? 'gateway.networking.k8s.io') === (b['group'] ?? 'gateway.networking.k8s.io') &&
  (a['kind'] ?? 'Gateway') === (b['kind'] ?? 'Gateway') &&
  a['name'] === b['name'] &&
  (a['namespace'] ?? '') === (b['namespace'] ?? '');

// The experimental CommonRouteSpec.parentRefs CEL rules: references to one parent need distinct
// sectionName/port combinations, all given or all absent.
const parentRefsRule: Rule<readonly unknown[]> = (refs) => {
  const list = refs as readonly Record<string, unknown>[];
  for (const a of list) {
    let same = 0;
    for (const b of list) {
      if (!sameParent(a, b)) continue;
      const aSection = (a['sectionName'] ?? '') === '';
      const bSection = (b['sectionName'] ?? '') === '';
      const aPort = (a['port'] ?? 0) === 0;
      const bPort = (b['port'] ?? 0) === 0;
      if (aSection !== bSection || aPort !== bPort)
        return 'sectionName or port must be specified when parentRefs includes 2 or more references to the same parent';
      if ((a['sectionName'] ?? '') === (b['sectionName'] ?? '') && (a['port'] ?? 0) === (b['port'] ?? 0))
        same++;
    }
    if (same !== 1)
      return 'sectionName or port must be unique when parentRefs includes 2 or more references to the same parent';
  }
  return undefined;
};

const parentReference = s.obj(
  { group, kind, namespace, name: objectName, sectionName, port: portNumber },
  { required: ['name'] },
);

const backendObjectFields = { group, kind, name: objectName, namespace, port: portNumber };
const mustHavePort: Rule<Record<string, unknown>> = (b) =>
  (b['group'] ?? '') === '' && (b['kind'] ?? 'Service') === 'Service' && b['port'] === undefined
    ? 'Must have port for Service reference'
    : undefined;

const backendObjectReference = s.obj(backendObjectFields, {
  required: ['name'],
  rules: [mustHavePort],
  ruleCode: 'ROUTING_ERR_SCHEMA',
});

const headerFilter = s.obj({
  set: s.arr(s.obj({ name: headerName, value: headerValue }, { required: ['name', 'value'] }), {
    maxItems: 16,
    unique: { key: 'name', caseInsensitive: false },
  }),
  add: s.arr(s.obj({ name: headerName, value: headerValue }, { required: ['name', 'value'] }), {
    maxItems: 16,
    unique: { key: 'name', caseInsensitive: false },
  }),
  remove: s.arr(s.str(), { maxItems: 16, unique: {} }),
});

const pathModifier = s.obj(
  {
    type: s.str({ enum: ['ReplaceFullPath', 'ReplacePrefixMatch'] }),
    replaceFullPath: s.str({ maxLength: 1024 }),
    replacePrefixMatch: s.str({ maxLength: 1024 }),
  },
  {
    required: ['type'],
    rules: [
      (m) =>
        m['type'] === 'ReplaceFullPath' && m['replaceFullPath'] === undefined
          ? "replaceFullPath must be specified when type is set to 'ReplaceFullPath'"
          : undefined,
      (m) =>
        m['replaceFullPath'] !== undefined && m['type'] !== 'ReplaceFullPath'
          ? "type must be 'ReplaceFullPath' when replaceFullPath is set"
          : undefined,
      (m) =>
        m['type'] === 'ReplacePrefixMatch' && m['replacePrefixMatch'] === undefined
          ? "replacePrefixMatch must be specified when type is set to 'ReplacePrefixMatch'"
          : undefined,
      (m) =>
        m['replacePrefixMatch'] !== undefined && m['type'] !== 'ReplacePrefixMatch'
          ? "type must be 'ReplacePrefixMatch' when replacePrefixMatch is set"
          : undefined,
    ],
  },
);

const mirrorFilter = s.obj(
  {
    backendRef: backendObjectReference,
    percent: s.int({ min: 0, max: 100 }),
    fraction: s.obj(
      { numerator: s.int({ min: 0 }), denominator: s.int({ min: 1 }) },
      {
        required: ['numerator'],
        rules: [
          (f) =>
            (f['numerator'] as number) > ((f['denominator'] as number | undefined) ?? 100)
              ? 'numerator must be less than or equal to denominator'
              : undefined,
        ],
      },
    ),
  },
  {
    required: ['backendRef'],
    rules: [
      (m) =>
        m['percent'] !== undefined && m['fraction'] !== undefined
          ? 'Only one of percent or fraction may be specified in HTTPRequestMirrorFilter'
          : undefined,
    ],
  },
);

const corsOrigin = s.str({
  minLength: 1,
  maxLength: 253,
  pattern: /(^\*$)|(^(http(s)?):\/\/(((\*\.)?([a-zA-Z0-9-]+\.)*[a-zA-Z0-9-]+|\*)(:([0-9]{1,5}))?)$)/,
});
const noWildcardWithOthers =
  (what: string): Rule<readonly unknown[]> =>
  (list) =>
    list.includes('*') && list.length > 1
      ? `${what} cannot contain '*' alongside other ${what === 'AllowOrigins' ? 'origins' : 'methods'}`
      : undefined;

const corsFilter = s.obj({
  allowOrigins: s.arr(corsOrigin, {
    maxItems: 64,
    unique: {},
    rules: [noWildcardWithOthers('AllowOrigins')],
  }),
  allowCredentials: s.bool(),
  allowMethods: s.arr(
    s.str({ enum: ['GET', 'HEAD', 'POST', 'PUT', 'DELETE', 'CONNECT', 'OPTIONS', 'TRACE', 'PATCH', '*'] }),
    {
      maxItems: 9,
      unique: {},
      rules: [noWildcardWithOthers('AllowMethods')],
    },
  ),
  allowHeaders: s.arr(headerName, {
    maxItems: 64,
    unique: {},
    rules: [noWildcardWithOthers('AllowHeaders')],
  }),
  exposeHeaders: s.arr(headerName, { maxItems: 64, unique: {} }),
  maxAge: s.int({ min: 1 }),
});

const localObjectReference = s.obj(
  { group, kind, name: objectName },
  { required: ['group', 'kind', 'name'] },
);

const FILTER_FIELDS: Record<string, string> = {
  RequestHeaderModifier: 'requestHeaderModifier',
  ResponseHeaderModifier: 'responseHeaderModifier',
  RequestMirror: 'requestMirror',
  RequestRedirect: 'requestRedirect',
  URLRewrite: 'urlRewrite',
  CORS: 'cors',
  ExternalAuth: 'externalAuth',
  ExtensionRef: 'extensionRef',
};

// HTTPRouteFilter's union CEL rules: the field for `type` is set, and no other.
const filterUnion: Rule<Record<string, unknown>> = (f) => {
  for (const [type, field] of Object.entries(FILTER_FIELDS)) {
    const has = f[field] !== undefined;
    if (has && f['type'] !== type) return `filter.${field} must be nil if the filter.type is not ${type}`;
    if (!has && f['type'] === type) return `filter.${field} must be specified for ${type} filter.type`;
  }
  return undefined;
};

const httpRouteFilter = s.obj(
  {
    type: s.str({
      enum: [
        'RequestHeaderModifier',
        'ResponseHeaderModifier',
        'RequestMirror',
        'RequestRedirect',
        'URLRewrite',
        'ExtensionRef',
        'CORS',
        'ExternalAuth',
      ],
    }),
    requestHeaderModifier: headerFilter,
    responseHeaderModifier: headerFilter,
    requestMirror: mirrorFilter,
    requestRedirect: s.obj(
      {
        scheme: s.str({ enum: ['http', 'https'] }),
        hostname: preciseHostname,
        path: pathModifier,
        port: portNumber,
        statusCode: s.int({ doc: 'enum 301;302;303;307;308' }),
      },
      {
        rules: [
          (r) =>
            r['statusCode'] !== undefined && ![301, 302, 303, 307, 308].includes(r['statusCode'] as number)
              ? `statusCode must be one of 301, 302, 303, 307, 308, got ${String(r['statusCode'])}`
              : undefined,
        ],
        ruleCode: 'ROUTING_ERR_SCHEMA',
      },
    ),
    urlRewrite: s.obj({ hostname: preciseHostname, path: pathModifier }),
    cors: corsFilter,
    externalAuth: s.any(),
    extensionRef: localObjectReference,
  },
  { required: ['type'], rules: [filterUnion] },
);

const notRepeated =
  (types: readonly string[]): Rule<readonly unknown[]> =>
  (filters) => {
    for (const t of types)
      if ((filters as readonly Record<string, unknown>[]).filter((f) => f['type'] === t).length > 1)
        return `${t} filter cannot be repeated`;
    return undefined;
  };

const redirectXorRewrite: Rule<readonly unknown[]> = (filters) => {
  const list = filters as readonly Record<string, unknown>[];
  return list.some((f) => f['type'] === 'RequestRedirect') && list.some((f) => f['type'] === 'URLRewrite')
    ? 'May specify either httpRouteFilterRequestRedirect or httpRouteFilterRequestRewrite, but not both'
    : undefined;
};

const httpFilters = s.arr(httpRouteFilter, {
  maxItems: 16,
  rules: [
    redirectXorRewrite,
    notRepeated(['CORS', 'RequestHeaderModifier', 'ResponseHeaderModifier', 'RequestRedirect', 'URLRewrite']),
  ],
});

// HTTPPathMatch CEL rules (apply to Exact and PathPrefix).
const PATH_CHARS = /^(?:[-A-Za-z0-9/._~!$&'()*+,;=:@]|[%][0-9a-fA-F]{2})+$/;
const pathMatchRule: Rule<Record<string, unknown>> = (m) => {
  const type = (m['type'] as string | undefined) ?? 'PathPrefix';
  const value = (m['value'] as string | undefined) ?? '/';
  if (type !== 'Exact' && type !== 'PathPrefix') return undefined;
  if (!value.startsWith('/'))
    return "value must be an absolute path and start with '/' when type one of ['Exact', 'PathPrefix']";
  for (const bad of ['//', '/./', '/../', '%2f', '%2F', '#'])
    if (value.includes(bad)) return `must not contain '${bad}' when type one of ['Exact', 'PathPrefix']`;
  if (value.endsWith('/..')) return "must not end with '/..' when type one of ['Exact', 'PathPrefix']";
  if (value.endsWith('/.')) return "must not end with '/.' when type one of ['Exact', 'PathPrefix']";
  if (!PATH_CHARS.test(value))
    return "must only contain valid characters (matching ^(?:[-A-Za-z0-9/._~!$&'()*+,;=:@]|[%][0-9a-fA-F]{2})+$) for types ['Exact', 'PathPrefix']";
  return undefined;
};

const headerMatch = s.obj(
  { type: s.str({ enum: ['Exact', 'RegularExpression'] }), name: headerName, value: headerValue },
  { required: ['name', 'value'] },
);
const queryParamMatch = s.obj(
  {
    type: s.str({ enum: ['Exact', 'RegularExpression'] }),
    name: headerName,
    value: s.str({ minLength: 1, maxLength: 1024 }),
  },
  { required: ['name', 'value'] },
);

const httpRouteMatch = s.obj({
  path: s.obj(
    {
      type: s.str({ enum: ['Exact', 'PathPrefix', 'RegularExpression'] }),
      value: s.str({ maxLength: 1024 }),
    },
    { rules: [pathMatchRule] },
  ),
  headers: s.arr(headerMatch, { maxItems: 16, unique: { key: 'name' } }),
  queryParams: s.arr(queryParamMatch, { maxItems: 16, unique: { key: 'name' } }),
  method: s.str({ enum: ['GET', 'HEAD', 'POST', 'PUT', 'DELETE', 'CONNECT', 'OPTIONS', 'TRACE', 'PATCH'] }),
});

const retryCode = s.int({ min: 400, max: 599 });

const timeouts = s.obj(
  { request: duration, backendRequest: duration },
  {
    rules: [
      (t) => {
        const request = t['request'] === undefined ? undefined : parseGatewayDuration(t['request'] as string);
        const backend =
          t['backendRequest'] === undefined ? undefined : parseGatewayDuration(t['backendRequest'] as string);
        return request !== undefined && backend !== undefined && request !== 0 && backend > request
          ? 'backendRequest timeout cannot be longer than request timeout'
          : undefined;
      },
    ],
  },
);

const sessionPersistence = s.obj({
  sessionName: s.str({ maxLength: 128 }),
  absoluteTimeout: duration,
  idleTimeout: duration,
  type: s.str({ enum: ['Cookie', 'Header'] }),
  cookieConfig: s.obj({ lifetimeType: s.str({ enum: ['Permanent', 'Session'] }) }),
});

const isPrefixReplace = (f: Record<string, unknown>): boolean => {
  for (const key of ['requestRedirect', 'urlRewrite']) {
    const x = f[key] as { path?: { type?: string; replacePrefixMatch?: string } } | undefined;
    if (x?.path?.type === 'ReplacePrefixMatch' && x.path.replacePrefixMatch !== undefined) return true;
  }
  return false;
};

const onePrefixMatch = (r: Record<string, unknown>): boolean => {
  const matches = r['matches'] as readonly HttpRouteMatch[] | undefined;
  // An absent `matches` defaults to one PathPrefix "/" match.
  if (matches === undefined) return true;
  if (matches.length !== 1) return false;
  const path = matches[0]?.path;
  // An absent path defaults to PathPrefix "/".
  return path === undefined || (path.type ?? 'PathPrefix') === 'PathPrefix';
};

const httpRouteRule = s.obj(
  {
    name: sectionName,
    matches: s.arr(httpRouteMatch, { maxItems: 64 }),
    filters: httpFilters,
    backendRefs: s.arr(
      s.obj(
        { ...backendObjectFields, weight: s.int({ min: 0, max: 1_000_000 }), filters: httpFilters },
        {
          required: ['name'],
          rules: [mustHavePort],
          ruleCode: 'ROUTING_ERR_SCHEMA',
        },
      ),
      { maxItems: 16 },
    ),
    timeouts,
    retry: s.obj({
      codes: s.arr(retryCode, { unique: {} }),
      attempts: s.int({ min: 1 }),
      backoff: duration,
    }),
    sessionPersistence,
  },
  {
    rules: [
      (r) => {
        const refs = r['backendRefs'] as readonly unknown[] | undefined;
        const filters = (r['filters'] as readonly Record<string, unknown>[] | undefined) ?? [];
        return refs !== undefined && refs.length > 0 && filters.some((f) => f['type'] === 'RequestRedirect')
          ? 'RequestRedirect filter must not be used together with backendRefs'
          : undefined;
      },
      (r) => {
        const filters = (r['filters'] as readonly Record<string, unknown>[] | undefined) ?? [];
        return filters.filter(isPrefixReplace).length === 1 && !onePrefixMatch(r)
          ? 'When using RequestRedirect or URLRewrite filter with path.replacePrefixMatch, exactly one PathPrefix match must be specified'
          : undefined;
      },
      (r) => {
        const refs = (r['backendRefs'] as readonly Record<string, unknown>[] | undefined) ?? [];
        const uses = refs.filter(
          (b) =>
            ((b['filters'] as readonly Record<string, unknown>[] | undefined) ?? []).filter(isPrefixReplace)
              .length === 1,
        );
        return uses.length === 1 && !onePrefixMatch(r)
          ? 'Within backendRefs, when using RequestRedirect or URLRewrite filter with path.replacePrefixMatch, exactly one PathPrefix match must be specified'
          : undefined;
      },
    ],
  },
);

const uniqueRuleNames: Rule<readonly unknown[]> = (rules) => {
  const names = (rules as readonly Record<string, unknown>[])
    .map((r) => r['name'])
    .filter((n) => n !== undefined);
  return new Set(names).size === names.length ? undefined : 'Rule name must be unique within the route';
};

const totalMatches =
  (limit: number): Rule<readonly unknown[]> =>
  (rules) => {
    let n = 0;
    for (const r of rules as readonly Record<string, unknown>[])
      n += ((r['matches'] as readonly unknown[] | undefined) ?? []).length;
    return n > limit
      ? 'While 16 rules and 64 matches per rule are allowed, the total number of matches across all rules in a route must be less than 128'
      : undefined;
  };

const commonSpec: Record<string, Schema> = {
  parentRefs: s.arr(parentReference, { maxItems: 32, rules: [parentRefsRule] }),
  hostnames: s.arr(hostname, { maxItems: 16 }),
  useDefaultGateways: s.str({ enum: ['All', 'None'] }),
};

/** The schema of an `HTTPRoute`. */
export const HTTP_ROUTE_SCHEMA: ObjectSchema = s.obj(
  {
    apiVersion: s.str(),
    kind: s.str(),
    metadata: metadataSchema('dns1123-subdomain'),
    spec: s.obj({
      ...commonSpec,
      rules: s.arr(httpRouteRule, { minItems: 1, maxItems: 16, rules: [uniqueRuleNames, totalMatches(128)] }),
    }),
    status: s.any(),
  },
  { required: ['metadata', 'spec'] },
);

// GRPCMethodMatch CEL rules.
const grpcMethodMatch = s.obj(
  {
    type: s.str({ enum: ['Exact', 'RegularExpression'] }),
    service: s.str({ maxLength: 1024 }),
    method: s.str({ maxLength: 1024 }),
  },
  {
    rules: [
      (m) =>
        m['service'] === undefined && m['method'] === undefined
          ? "One or both of 'service' or 'method' must be specified"
          : undefined,
      (m) =>
        (m['type'] ?? 'Exact') === 'Exact' &&
        m['service'] !== undefined &&
        !/^\.?[a-z_][a-z_0-9]*(\.[a-z_][a-z_0-9]*)*$/i.test(m['service'] as string)
          ? 'service must only contain valid characters (matching ^(?i)\\.?[a-z_][a-z_0-9]*(\\.[a-z_][a-z_0-9]*)*$)'
          : undefined,
      (m) =>
        (m['type'] ?? 'Exact') === 'Exact' &&
        m['method'] !== undefined &&
        !/^[A-Za-z_][A-Za-z_0-9]*$/.test(m['method'] as string)
          ? 'method must only contain valid characters (matching ^[A-Za-z_][A-Za-z_0-9]*$)'
          : undefined,
    ],
  },
);

const grpcFilter = s.obj(
  {
    type: s.str({
      enum: ['ResponseHeaderModifier', 'RequestHeaderModifier', 'RequestMirror', 'ExtensionRef'],
    }),
    requestHeaderModifier: headerFilter,
    responseHeaderModifier: headerFilter,
    requestMirror: mirrorFilter,
    extensionRef: localObjectReference,
  },
  { required: ['type'], rules: [filterUnion] },
);
const grpcFilters = s.arr(grpcFilter, {
  maxItems: 16,
  rules: [notRepeated(['RequestHeaderModifier', 'ResponseHeaderModifier'])],
});

const grpcRouteRule = s.obj({
  name: sectionName,
  matches: s.arr(
    s.obj({
      method: grpcMethodMatch,
      headers: s.arr(
        s.obj(
          {
            type: s.str({ enum: ['Exact', 'RegularExpression'] }),
            name: headerName,
            value: s.str({ minLength: 1, maxLength: 4096 }),
          },
          { required: ['name', 'value'] },
        ),
        { maxItems: 16, unique: { key: 'name' } },
      ),
    }),
    { maxItems: 64 },
  ),
  filters: grpcFilters,
  backendRefs: s.arr(
    s.obj(
      { ...backendObjectFields, weight: s.int({ min: 0, max: 1_000_000 }), filters: grpcFilters },
      {
        required: ['name'],
        rules: [mustHavePort],
        ruleCode: 'ROUTING_ERR_SCHEMA',
      },
    ),
    { maxItems: 16 },
  ),
  sessionPersistence,
});

/** The schema of a `GRPCRoute`. */
export const GRPC_ROUTE_SCHEMA: ObjectSchema = s.obj(
  {
    apiVersion: s.str(),
    kind: s.str(),
    metadata: metadataSchema('dns1123-subdomain'),
    spec: s.obj({
      ...commonSpec,
      rules: s.arr(grpcRouteRule, { maxItems: 16, rules: [uniqueRuleNames, totalMatches(128)] }),
    }),
    status: s.any(),
  },
  { required: ['metadata', 'spec'] },
);
