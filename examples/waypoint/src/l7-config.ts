/**
 * The waypoint's L7 configuration from the mesh file the ztunnels read (docs/control-plane.md "Mesh file
 * format"): the Kubernetes objects istiod would turn into the waypoint's Envoy configuration.
 *
 * - `Service`, `HTTPRoute`, `GRPCRoute`, `VirtualService` and `DestinationRule` are compiled by
 *   `@ambient-kit/routing` (`createRouter`), as a waypoint applies them: `sourceLabels` matches dropped
 *   (istio/istio#51565), VirtualServices from the waypoint's namespace too, backends resolved against the
 *   workload store at request time;
 * - `AuthorizationPolicy`, `RequestAuthentication` and `PeerAuthentication` by `@ambient-kit/authz`
 *   (`parsePolicyObjects`, `createPolicyEngine`);
 * - ztunnel's local-config document (`workloads`, `services`, `policies`: no `kind`) is the workload side,
 *   read by the control plane's `watchMeshFile`; objects of other kinds are listed in `skipped`, never
 *   silently dropped.
 *
 * `@ambient-kit/control-plane`'s `parseMeshFile` rejects the networking kinds unless told to skip them, so
 * the two layers read the same text each for their own kinds. The whole file must be valid: one bad object
 * rejects it (a dropped DENY would be a silent allow), every problem listed with its path.
 * @module
 */
import { createHash } from 'node:crypto';
import {
  createPolicyEngine,
  type MeshConfig,
  type PolicyEngine,
  type PolicyError,
  parsePolicyObjects,
} from '@ambient-kit/authz';
import { createRouter, type Router, type RoutingError } from '@ambient-kit/routing';
import { err, ok, type Result } from 'neverthrow';
import { LineCounter, parseAllDocuments } from 'yaml';
import { type WaypointConfigIssue, WaypointError } from './errors.js';

/** Kinds `@ambient-kit/routing` compiles. */
const ROUTING_KINDS = new Set(['Service', 'HTTPRoute', 'GRPCRoute', 'VirtualService', 'DestinationRule']);
/** Kinds `@ambient-kit/authz` compiles. */
const SECURITY_KINDS = new Set(['AuthorizationPolicy', 'RequestAuthentication', 'PeerAuthentication']);
// Alias expansion is bounded ("billion laughs"), as the control plane bounds it.
const MAX_ALIAS_COUNT = 100;

/**
 * The default cap on the configuration text: 64 MiB, the control plane's cap on the same file.
 *
 * @example
 * ```ts
 * parseL7Config(text, { maxBytes: DEFAULT_MAX_CONFIG_BYTES / 4 });
 * ```
 */
export const DEFAULT_MAX_CONFIG_BYTES: number = 64 * 1024 * 1024;

/** How the configuration is read. */
export interface L7ConfigOptions {
  /** The waypoint's namespace (its VirtualServices apply too, its DestinationRules win). */
  readonly waypointNamespace?: string;
  /** MeshConfig `rootNamespace`. Default `istio-system`. */
  readonly rootNamespace?: string;
  /** MeshConfig `trustDomain`. Default `cluster.local`. */
  readonly trustDomain?: string;
  /** The cluster's DNS suffix. Default `cluster.local`. */
  readonly domainSuffix?: string;
  /** Largest text accepted. Default {@link DEFAULT_MAX_CONFIG_BYTES}. */
  readonly maxBytes?: number;
}

/** An object of a kind the waypoint does not read, left to whoever does. */
export interface SkippedObject {
  readonly path: string;
  readonly kind: string;
  readonly name?: string;
  readonly namespace?: string;
}

/** One compiled configuration. */
export interface L7Config {
  readonly router: Router;
  readonly engine: PolicyEngine;
  /** The objects the router compiled, as given (for `/config_dump`). */
  readonly routeObjects: readonly unknown[];
  /** The security objects, as given. */
  readonly securityObjects: readonly unknown[];
  /** Objects of other kinds (not ztunnel's local config, which has no kind). */
  readonly skipped: readonly SkippedObject[];
  /** SHA-256 of the text, hex. */
  readonly sha256: string;
}

type Obj = Readonly<Record<string, unknown>>;
const isObj = (v: unknown): v is Obj => typeof v === 'object' && v !== null && !Array.isArray(v);
const text = (v: unknown): string | undefined => (typeof v === 'string' ? v : undefined);

function routingIssues(e: RoutingError): WaypointConfigIssue[] {
  return e.issues.map((i) => ({
    path: [i.resource, i.path].filter((x) => x !== undefined && x !== '').join(': '),
    code: i.code,
    message: i.message,
  }));
}

function policyIssues(errors: readonly PolicyError[]): WaypointConfigIssue[] {
  return errors.map((e) => ({
    path: [e.kind === undefined ? e.policy : `${e.kind} ${e.policy ?? ''}`.trim(), e.path]
      .filter((x) => x !== undefined && x !== '')
      .join(': '),
    code: e.code,
    message: e.message,
  }));
}

/**
 * Reads and compiles the L7 part of a mesh file.
 *
 * @param source - The file's text.
 * @param options - Namespaces, trust domain, size cap.
 * @returns The compiled configuration, or a `WAYPOINT_ERR_CONFIG` / `WAYPOINT_ERR_CONFIG_TOO_LARGE` error
 *   whose `issues` hold every problem.
 * @example
 * ```ts
 * const config = parseL7Config(readFileSync('mesh.yaml', 'utf8'), { waypointNamespace: 'default' });
 * if (config.isOk()) config.value.router.route(request);
 * ```
 */
export function parseL7Config(
  source: string,
  options: L7ConfigOptions = {},
): Result<L7Config, WaypointError> {
  const max = options.maxBytes ?? DEFAULT_MAX_CONFIG_BYTES;
  if (typeof source !== 'string' || source.length > max)
    return err(
      new WaypointError('WAYPOINT_ERR_CONFIG_TOO_LARGE', `the configuration is larger than ${max} bytes`),
    );
  const issues: WaypointConfigIssue[] = [];
  const routeObjects: unknown[] = [];
  const securityObjects: unknown[] = [];
  const skipped: SkippedObject[] = [];
  const lines = new LineCounter();
  const docs = parseAllDocuments(source, { prettyErrors: true, logLevel: 'error', lineCounter: lines });
  const list = Array.isArray(docs) ? docs : [];
  list.forEach((doc, i) => {
    const at = `document[${i}]`;
    if (doc.errors.length > 0) {
      for (const e of doc.errors) {
        const pos = e.linePos?.[0];
        issues.push({
          path: at,
          code: 'WAYPOINT_ERR_CONFIG',
          message: `${pos === undefined ? '' : `line ${pos.line}, column ${pos.col}: `}${e.message.split('\n')[0]}`,
        });
      }
      return;
    }
    let value: unknown;
    try {
      value = doc.toJS({ maxAliasCount: MAX_ALIAS_COUNT });
    } catch (e) {
      issues.push({ path: at, code: 'WAYPOINT_ERR_CONFIG', message: (e as Error).message });
      return;
    }
    const visit = (v: unknown, path: string, inList: boolean): void => {
      if (v === null || v === undefined) return;
      if (!isObj(v)) {
        issues.push({ path, code: 'WAYPOINT_ERR_CONFIG', message: 'expected a map' });
        return;
      }
      const kind = v['kind'];
      // ztunnel's local config (workloads, services, policies): the control plane's to read.
      if (kind === undefined && !inList) return;
      if (typeof kind !== 'string' || kind === '') {
        issues.push({ path: `${path}.kind`, code: 'WAYPOINT_ERR_CONFIG', message: 'kind is required' });
        return;
      }
      if (ROUTING_KINDS.has(kind)) routeObjects.push(v);
      else if (SECURITY_KINDS.has(kind)) securityObjects.push(v);
      else if (kind === 'List' || kind.endsWith('List')) {
        const items = v['items'];
        if (!Array.isArray(items)) {
          issues.push({
            path: `${path}.items`,
            code: 'WAYPOINT_ERR_CONFIG',
            message: `a ${kind} needs items`,
          });
          return;
        }
        for (const [j, item] of items.entries()) visit(item, `${path}.items[${j}]`, true);
      } else {
        const meta = isObj(v['metadata']) ? v['metadata'] : {};
        const name = text(meta['name']);
        const namespace = text(meta['namespace']);
        skipped.push({
          path,
          kind,
          ...(name === undefined ? {} : { name }),
          ...(namespace === undefined ? {} : { namespace }),
        });
      }
    };
    visit(value, at, false);
  });
  if (issues.length > 0) return err(configError(issues));

  const router = createRouter({
    resources: routeObjects,
    // Backends are looked up in the workload store per request (it changes without a reload).
    backendValidation: 'lenient',
    // Istio's waypoint drops `sourceLabels` matches (istio/istio#51565).
    sourceLabelMatches: 'ignore-match',
    ...(options.waypointNamespace === undefined ? {} : { waypointNamespace: options.waypointNamespace }),
    ...(options.rootNamespace === undefined ? {} : { rootNamespace: options.rootNamespace }),
    ...(options.domainSuffix === undefined ? {} : { domainSuffix: options.domainSuffix }),
  });
  if (router.isErr()) issues.push(...routingIssues(router.error));
  const mesh: MeshConfig = {
    ...(options.rootNamespace === undefined ? {} : { rootNamespace: options.rootNamespace }),
    ...(options.trustDomain === undefined ? {} : { trustDomain: options.trustDomain }),
  };
  const policies = parsePolicyObjects(securityObjects);
  let engine: PolicyEngine | undefined;
  if (policies.isErr()) issues.push(...policyIssues(policies.error));
  else {
    const built = createPolicyEngine({ policies: policies.value, mesh });
    if (built.isErr()) issues.push(...policyIssues(built.error));
    else engine = built.value;
  }
  if (issues.length > 0 || router.isErr() || engine === undefined) return err(configError(issues));
  return ok({
    router: router.value,
    engine,
    routeObjects,
    securityObjects,
    skipped,
    sha256: createHash('sha256').update(source).digest('hex'),
  });
}

function configError(issues: readonly WaypointConfigIssue[]): WaypointError {
  const first = issues[0];
  const head =
    first === undefined
      ? 'invalid'
      : `${first.path === '' ? '' : `${first.path}: `}${first.message} [${first.code}]`;
  const more = issues.length > 1 ? ` (+${issues.length - 1} more)` : '';
  return new WaypointError('WAYPOINT_ERR_CONFIG', `${head}${more}`, { issues });
}
