/**
 * Reading routing resources: YAML (or JSON) text into validated Kubernetes objects, with a size cap checked
 * before parsing, every problem reported with its resource and field path, and nothing thrown.
 * @module
 */
import { err, ok, type Result } from 'neverthrow';
import { parseAllDocuments } from 'yaml';
import { collectIssues, RoutingError } from './errors.js';
import {
  GRPC_ROUTE_SCHEMA,
  type GrpcRouteResource,
  HTTP_ROUTE_SCHEMA,
  type HttpRouteResource,
} from './gateway-api.js';
import {
  DESTINATION_RULE_SCHEMA,
  type DestinationRuleResource,
  VIRTUAL_SERVICE_SCHEMA,
  type VirtualServiceResource,
} from './istio-networking.js';
import { SERVICE_SCHEMA, type ServiceResource } from './kubernetes.js';
import { isRecord, type ObjectSchema, type ValidationContext, validateValue } from './schema.js';

/** Every resource kind the router reads. */
export type RouteResource =
  | ServiceResource
  | HttpRouteResource
  | GrpcRouteResource
  | VirtualServiceResource
  | DestinationRuleResource;

/** Default cap on the text {@link parseRouteResources} accepts: 16 MiB. */
export const DEFAULT_MAX_RESOURCE_BYTES: number = 16 * 1024 * 1024;

/** Default cap on the number of objects one call accepts. */
export const DEFAULT_MAX_RESOURCES = 100_000;

/** Options of {@link parseRouteResources} and {@link validateRouteResources}. */
export interface ParseRouteResourcesOptions {
  /** Largest input accepted, in UTF-8 bytes, checked before parsing. Default {@link DEFAULT_MAX_RESOURCE_BYTES}. */
  readonly maxBytes?: number;
  /** Most objects accepted. Default {@link DEFAULT_MAX_RESOURCES}. */
  readonly maxResources?: number;
  /**
   * Skip objects of other kinds (AuthorizationPolicy, Pod, ...) instead of failing on them, so a whole mesh
   * file can be passed. Default false: an unexpected kind is an error.
   */
  readonly ignoreOtherKinds?: boolean;
  /** Namespace of objects that name none (kubectl's current namespace). Default `default`. */
  readonly defaultNamespace?: string;
}

interface KindSpec {
  readonly versions: readonly string[];
  readonly schema: ObjectSchema;
}

// The served API versions of each kind (Gateway API v1.6.1 CRDs; Istio 1.2x CRDs serve v1, v1beta1 and
// v1alpha3 of the networking types).
const KINDS: Readonly<Record<string, KindSpec>> = {
  Service: { versions: ['v1'], schema: SERVICE_SCHEMA },
  HTTPRoute: {
    versions: ['gateway.networking.k8s.io/v1', 'gateway.networking.k8s.io/v1beta1'],
    schema: HTTP_ROUTE_SCHEMA,
  },
  GRPCRoute: { versions: ['gateway.networking.k8s.io/v1'], schema: GRPC_ROUTE_SCHEMA },
  VirtualService: {
    versions: ['networking.istio.io/v1', 'networking.istio.io/v1beta1', 'networking.istio.io/v1alpha3'],
    schema: VIRTUAL_SERVICE_SCHEMA,
  },
  DestinationRule: {
    versions: ['networking.istio.io/v1', 'networking.istio.io/v1beta1', 'networking.istio.io/v1alpha3'],
    schema: DESTINATION_RULE_SCHEMA,
  },
};

/**
 * `Kind namespace/name` of an object, for messages.
 *
 * @param value - A (possibly invalid) object.
 * @param index - Its position in the input.
 * @param defaultNamespace - The namespace of objects that name none.
 * @returns The label.
 * @example
 * ```ts
 * resourceLabel({ kind: 'HTTPRoute', metadata: { name: 'r' } }, 0, 'default'); // 'HTTPRoute default/r'
 * ```
 */
export function resourceLabel(value: unknown, index: number, defaultNamespace: string): string {
  if (!isRecord(value)) return `document #${index + 1}`;
  const meta = isRecord(value['metadata']) ? value['metadata'] : {};
  const name = typeof meta['name'] === 'string' ? meta['name'] : undefined;
  const ns = typeof meta['namespace'] === 'string' ? meta['namespace'] : defaultNamespace;
  const kind = typeof value['kind'] === 'string' ? value['kind'] : 'object';
  return name === undefined ? `${kind} #${index + 1}` : `${kind} ${ns}/${name}`;
}

/**
 * Validates objects (parsed YAML/JSON) as the Kubernetes API server and istiod would admit them.
 *
 * @param values - The objects; `kind: List` objects are expanded.
 * @param options - Caps, namespace default, whether to skip other kinds.
 * @returns The resources, or a {@link RoutingError} listing every problem in `issues`.
 * @example
 * ```ts
 * const r = validateRouteResources([{ apiVersion: 'v1', kind: 'Service', metadata: { name: 'reviews' }, spec: { ports: [{ port: 9080 }] } }]);
 * r.isOk(); // true
 * ```
 */
export function validateRouteResources(
  values: readonly unknown[],
  options: ParseRouteResourcesOptions = {},
): Result<RouteResource[], RoutingError> {
  const defaultNamespace = options.defaultNamespace ?? 'default';
  const maxResources = options.maxResources ?? DEFAULT_MAX_RESOURCES;
  const flat: unknown[] = [];
  for (const v of values) {
    if (isRecord(v) && v['kind'] === 'List' && Array.isArray(v['items'])) flat.push(...v['items']);
    else flat.push(v);
  }
  if (flat.length > maxResources)
    return err(
      new RoutingError(
        'ROUTING_ERR_INPUT_TOO_LARGE',
        `${flat.length} objects exceed the cap of ${maxResources}`,
      ),
    );
  const issues: RoutingError[] = [];
  const out: RouteResource[] = [];
  const seen = new Map<string, number>();
  flat.forEach((value, index) => {
    const label = resourceLabel(value, index, defaultNamespace);
    if (!isRecord(value) || typeof value['kind'] !== 'string' || typeof value['apiVersion'] !== 'string') {
      issues.push(
        new RoutingError(
          'ROUTING_ERR_NOT_A_RESOURCE',
          'not a Kubernetes object (apiVersion and kind are required)',
          {
            resource: label,
          },
        ),
      );
      return;
    }
    const spec = KINDS[value['kind']];
    if (
      spec === undefined ||
      !Object.hasOwn(KINDS, value['kind']) ||
      !spec.versions.includes(value['apiVersion'])
    ) {
      if (options.ignoreOtherKinds === true) return;
      issues.push(
        new RoutingError(
          'ROUTING_ERR_UNKNOWN_KIND',
          `${value['apiVersion']} ${value['kind']} is not a routing resource (Service v1, HTTPRoute and GRPCRoute gateway.networking.k8s.io/v1, VirtualService and DestinationRule networking.istio.io/v1)`,
          { resource: label },
        ),
      );
      return;
    }
    const ctx: ValidationContext = { resource: label, issues };
    if (!validateValue(spec.schema, value, '', ctx)) return;
    const meta = value['metadata'] as Record<string, unknown>;
    const key = `${value['kind']} ${String(meta['namespace'] ?? defaultNamespace)}/${String(meta['name'])}`;
    const previous = seen.get(key);
    if (previous !== undefined) {
      issues.push(
        new RoutingError(
          'ROUTING_ERR_DUPLICATE',
          `the same object appears twice (first as object #${previous + 1})`,
          {
            resource: label,
          },
        ),
      );
      return;
    }
    seen.set(key, index);
    out.push(value as unknown as RouteResource);
  });
  return issues.length > 0 ? err(collectIssues(issues)) : ok(out);
}

/**
 * Parses YAML (one or more `---`-separated documents, or JSON) into validated routing resources.
 *
 * @param text - The YAML or JSON text.
 * @param options - Caps, namespace default, whether to skip other kinds.
 * @returns The resources, or a {@link RoutingError} (syntax, size, schema, istiod rules) listing every
 *   problem in `issues`.
 * @example
 * ```ts
 * const parsed = parseRouteResources(`
 * apiVersion: networking.istio.io/v1
 * kind: VirtualService
 * metadata: { name: reviews, namespace: bookinfo }
 * spec:
 *   hosts: [reviews]
 *   http:
 *   - route:
 *     - destination: { host: reviews, subset: v1 }
 * `);
 * console.log(parsed.isOk()); // true
 * ```
 */
export function parseRouteResources(
  text: string,
  options: ParseRouteResourcesOptions = {},
): Result<RouteResource[], RoutingError> {
  const maxBytes = options.maxBytes ?? DEFAULT_MAX_RESOURCE_BYTES;
  // A cheap upper bound first (UTF-16 units * 3 >= UTF-8 bytes), the exact count only near the cap.
  if (
    text.length > maxBytes ||
    (text.length * 3 > maxBytes && new TextEncoder().encode(text).length > maxBytes)
  )
    return err(new RoutingError('ROUTING_ERR_INPUT_TOO_LARGE', `input exceeds the cap of ${maxBytes} bytes`));
  const docs = parseAllDocuments(text, { uniqueKeys: true });
  const list = Array.isArray(docs) ? docs : [docs];
  const values: unknown[] = [];
  const issues: RoutingError[] = [];
  list.forEach((doc, i) => {
    const first = doc.errors[0];
    if (first !== undefined) {
      issues.push(
        new RoutingError('ROUTING_ERR_SYNTAX', first.message.split('\n')[0] ?? first.message, {
          resource: `document #${i + 1}`,
        }),
      );
      return;
    }
    let value: unknown;
    try {
      value = doc.toJS({ maxAliasCount: 100 });
    } catch (e) {
      issues.push(
        new RoutingError('ROUTING_ERR_SYNTAX', e instanceof Error ? e.message : String(e), {
          resource: `document #${i + 1}`,
          cause: e,
        }),
      );
      return;
    }
    if (value === null || value === undefined) return;
    values.push(value);
  });
  if (issues.length > 0) return err(collectIssues(issues));
  return validateRouteResources(values, options);
}
