/**
 * A plain reference router written straight from the specifications, sharing no code with the package:
 * it sorts every Gateway API rule match by the documented precedence and scans them in order, and scans
 * VirtualService rules in order. The property tests check the indexed router picks the same rule.
 * Regexes here use JavaScript RegExp: the generators only produce patterns both dialects read alike.
 */
import type {
  GrpcRouteResource,
  HttpRouteResource,
  RouteRequest,
  VirtualServiceResource,
} from '../../src/index.js';

type HttpRoute = HttpRouteResource | GrpcRouteResource;

/** Which rule a router chose: `kind namespace/name rule match`, or `none`. */
export type Choice = string;

interface Candidate {
  readonly route: HttpRouteResource;
  readonly rule: number;
  readonly match: number | undefined;
  readonly m: NonNullable<NonNullable<HttpRouteResource['spec']['rules']>[number]['matches']>[number];
}

const header = (r: RouteRequest, name: string): string | undefined => {
  for (const [k, v] of Object.entries(r.headers))
    if (k.toLowerCase() === name.toLowerCase() && v !== undefined)
      return typeof v === 'string' ? v : v.join(',');
  return undefined;
};

const query = (r: RouteRequest): URLSearchParams =>
  new URLSearchParams(r.path.includes('?') ? r.path.slice(r.path.indexOf('?') + 1) : '');
const pathOnly = (r: RouteRequest): string =>
  r.path.includes('?') ? r.path.slice(0, r.path.indexOf('?')) : r.path;
const full = (pattern: string, value: string): boolean => new RegExp(`^(?:${pattern})$`).test(value);

function gatewayMatches(c: Candidate, r: RouteRequest): boolean {
  const path = pathOnly(r);
  const type = c.m.path?.type ?? 'PathPrefix';
  const value = c.m.path?.value ?? '/';
  if (type === 'Exact' && path !== value) return false;
  if (type === 'PathPrefix') {
    const segments = value.split('/').filter((s) => s !== '');
    const have = path.split('/').filter((s) => s !== '');
    // Element by element; "/" matches everything.
    if (segments.some((s, i) => have[i] !== s)) return false;
    if (
      segments.length > 0 &&
      !(path === `/${segments.join('/')}` || path.startsWith(`/${segments.join('/')}/`))
    )
      return false;
  }
  if (type === 'RegularExpression' && !full(value, path)) return false;
  if (c.m.method !== undefined && r.method !== c.m.method) return false;
  const seen = new Set<string>();
  for (const h of c.m.headers ?? []) {
    if (seen.has(h.name.toLowerCase())) continue;
    seen.add(h.name.toLowerCase());
    const v = header(r, h.name);
    if (v === undefined || (h.type === 'RegularExpression' ? !full(h.value, v) : v !== h.value)) return false;
  }
  const q = query(r);
  for (const p of c.m.queryParams ?? []) {
    const v = q.get(p.name);
    if (v === null || (p.type === 'RegularExpression' ? !full(p.value, v) : v !== p.value)) return false;
  }
  return true;
}

function rank(c: Candidate): [number, number, number, number, number] {
  const type = c.m.path?.type ?? 'PathPrefix';
  const value = c.m.path?.value ?? '/';
  const typeRank = type === 'Exact' ? 3 : type === 'PathPrefix' ? 2 : 1;
  const length =
    type === 'PathPrefix' && value !== '/' && value.endsWith('/') ? value.length - 1 : value.length;
  const headers = new Set((c.m.headers ?? []).map((h) => h.name.toLowerCase())).size;
  const queries = new Set((c.m.queryParams ?? []).map((q) => q.name)).size;
  return [typeRank, length, c.m.method === undefined ? 0 : 1, headers, queries];
}

const created = (r: HttpRoute): number =>
  r.metadata.creationTimestamp === undefined ? -1 : Date.parse(r.metadata.creationTimestamp);

/**
 * The rule Gateway API precedence selects among HTTPRoutes attached (without port) to the request's
 * Service in `namespace`.
 *
 * @param routes - The routes.
 * @param r - The request.
 * @returns The choice.
 */
export function linearGateway(routes: readonly HttpRouteResource[], r: RouteRequest): Choice {
  const candidates: Candidate[] = [];
  const svcNs = r.service.split('.')[1];
  const attached = routes.filter((route) => {
    const ns = route.metadata.namespace ?? 'default';
    return (route.spec.parentRefs ?? []).some(
      (p) => p.kind === 'Service' && `${p.name}.${p.namespace ?? ns}.svc.cluster.local` === r.service,
    );
  });
  // GEP-1294: clients of a namespace with consumer routes use those; everyone else the producer routes.
  const consumer = attached.filter(
    (route) =>
      (route.metadata.namespace ?? 'default') !== svcNs && route.metadata.namespace === r.sourceNamespace,
  );
  const group =
    consumer.length > 0
      ? consumer
      : attached.filter((route) => (route.metadata.namespace ?? 'default') === svcNs);
  for (const route of group) {
    (route.spec.rules ?? [{}]).forEach((rule, i) => {
      const matches = rule.matches ?? [];
      if (matches.length === 0) candidates.push({ route, rule: i, match: undefined, m: {} });
      matches.forEach((m, j) => {
        candidates.push({ route, rule: i, match: j, m });
      });
    });
  }
  if (candidates.length === 0) return 'unattached';
  candidates.sort((a, b) => {
    const ra = rank(a);
    const rb = rank(b);
    for (let i = 0; i < ra.length; i++) if (ra[i] !== rb[i]) return (rb[i] as number) - (ra[i] as number);
    if (created(a.route) !== created(b.route)) return created(a.route) - created(b.route);
    const ka = `${a.route.metadata.namespace ?? 'default'}/${a.route.metadata.name}`;
    const kb = `${b.route.metadata.namespace ?? 'default'}/${b.route.metadata.name}`;
    if (ka !== kb) return ka < kb ? -1 : 1;
    if (a.rule !== b.rule) return a.rule - b.rule;
    return (a.match ?? 0) - (b.match ?? 0);
  });
  const hit = candidates.find((c) => gatewayMatches(c, r));
  return hit === undefined
    ? 'none'
    : `HTTPRoute ${hit.route.metadata.namespace ?? 'default'}/${hit.route.metadata.name} ${hit.rule} ${hit.match ?? '-'}`;
}

type Sm = { exact?: string; prefix?: string; regex?: string };
const sm = (m: Sm, v: string | undefined): boolean =>
  v !== undefined &&
  (m.exact !== undefined
    ? v === m.exact
    : m.prefix !== undefined
      ? v.startsWith(m.prefix)
      : m.regex !== undefined
        ? full(m.regex, v)
        : true);

/**
 * The rule a VirtualService selects: the first http rule, in order, any of whose matches holds.
 *
 * @param vs - The VirtualService.
 * @param r - The request.
 * @returns The choice.
 */
export function linearVirtualService(vs: VirtualServiceResource, r: RouteRequest): Choice {
  const rules = vs.spec.http ?? [];
  for (let i = 0; i < rules.length; i++) {
    const matches = rules[i]?.match ?? [];
    if (matches.length === 0)
      return `VirtualService ${vs.metadata.namespace ?? 'default'}/${vs.metadata.name} ${i} -`;
    for (let j = 0; j < matches.length; j++) {
      const m = matches[j] as NonNullable<typeof matches>[number];
      if (m.uri !== undefined && !sm(m.uri, pathOnly(r))) continue;
      if (m.method !== undefined && !sm(m.method, r.method)) continue;
      if (Object.entries(m.headers ?? {}).some(([k, v]) => !sm(v, header(r, k)))) continue;
      if (Object.entries(m.withoutHeaders ?? {}).some(([k, v]) => sm(v, header(r, k)))) continue;
      const q = query(r);
      if (Object.entries(m.queryParams ?? {}).some(([k, v]) => !sm(v, q.get(k) ?? undefined))) continue;
      return `VirtualService ${vs.metadata.namespace ?? 'default'}/${vs.metadata.name} ${i} ${j}`;
    }
  }
  return 'none';
}
