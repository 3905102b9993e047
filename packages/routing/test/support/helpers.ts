/**
 * Helpers shared by the routing tests: a seeded random source, request and resource builders.
 */
import {
  createRouter,
  parseRouteResources,
  type RouteRequest,
  type Router,
  type RouterOptions,
} from '../../src/index.js';

/** mulberry32: a small seeded generator, so splits and percentages are reproducible. */
export function seeded(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** A request to `service` (short name + namespace) with defaults for everything else. */
export function req(service: string, overrides: Partial<RouteRequest> = {}): RouteRequest {
  const [name, ns = 'default'] = service.split('.');
  return {
    service: `${name}.${ns}.svc.cluster.local`,
    port: 80,
    authority: name as string,
    method: 'GET',
    path: '/',
    headers: {},
    protocol: 'http',
    ...overrides,
  };
}

/** A router from YAML, failing the test with every issue when the YAML is refused. */
export function routerFrom(yaml: string, options: Omit<RouterOptions, 'resources'> = {}): Router {
  const parsed = parseRouteResources(yaml);
  if (parsed.isErr()) throw new Error(parsed.error.issues.map(String).join('\n'));
  const router = createRouter({ ...options, resources: parsed.value });
  if (router.isErr()) throw new Error(router.error.issues.map(String).join('\n'));
  return router.value;
}

/** Core v1 Services named `name[:port,...]` in namespace `ns`, selecting `app: <name>`. */
export function services(ns: string, ...specs: string[]): string {
  return specs
    .map((spec) => {
      const [name, ports = '80'] = spec.split(':');
      const list = ports
        .split(',')
        .map((p, i) => `{ name: p${i}, port: ${p} }`)
        .join(', ');
      return `apiVersion: v1\nkind: Service\nmetadata: { name: ${name}, namespace: ${ns} }\nspec: { selector: { app: ${name} }, ports: [${list}] }\n---\n`;
    })
    .join('');
}

/** Counts how often `key` returns each value over `n` calls. */
export function tally<T>(n: number, key: () => T): Map<T, number> {
  const out = new Map<T, number>();
  for (let i = 0; i < n; i++) {
    const k = key();
    out.set(k, (out.get(k) ?? 0) + 1);
  }
  return out;
}
