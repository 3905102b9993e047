/**
 * Benchmarks for @ambient-kit/routing (issue 11): `router.route` decisions per second with 1 route,
 * 1,000 and 10,000 routes on one Service and spread across Services, next to a baseline written the obvious
 * way (every rule in one list sorted by precedence, scanned in order for each request) measured in the
 * same run on the same requests.
 *
 * Targets: >= 1,000,000 decisions/s with 1,000 routes; cost flat from 1,000 to 10,000 routes (an index,
 * not a linear scan): time per decision at 10,000 <= 1.5 x that at 1,000.
 *
 * Each figure: min / median / max over 5 rounds, after one untimed warm-up round. Before timing, both routers decide every request and
 * must agree.
 *
 * Run: `npm run build -w @ambient-kit/routing && npm run bench:routing -w @ambient-kit/bench`.
 */
import { cpus } from 'node:os';
import { createRouter, type RouteDecision, type RouteRequest, type Router } from '@ambient-kit/routing';

const ROUNDS = 5;
const ROUND_MS = 250;
const TARGET_AT_1K = 1_000_000;
const FLAT_TARGET = 1.5;

/** One generated rule: what both routers see. */
interface Rule {
  readonly service: string;
  readonly pathType: 'Exact' | 'PathPrefix';
  readonly path: string;
  readonly header: { readonly name: string; readonly value: string } | undefined;
  readonly backend: string;
}

const svcName = (s: number): string => `svc-${s}`;
const fqdn = (s: number): string => `${svcName(s)}.shop.svc.cluster.local`;

function rulesFor(total: number, serviceCount: number): Rule[] {
  const out: Rule[] = [];
  for (let i = 0; i < total; i++) {
    const s = i % serviceCount;
    const kind = i % 4;
    out.push({
      service: svcName(s),
      pathType: kind === 0 ? 'Exact' : 'PathPrefix',
      path: kind === 0 ? `/api/v${i}/items` : `/api/v${i}`,
      header: kind === 3 ? { name: 'x-tenant', value: `t${i % 7}` } : undefined,
      backend: `${svcName(s)}-b${i % 3}`,
    });
  }
  return out;
}

// HTTPRoutes of up to 16 rules, attached to each rule's Service.
function resources(rules: readonly Rule[], serviceCount: number): unknown[] {
  const out: unknown[] = [];
  for (let s = 0; s < serviceCount; s++)
    out.push({
      apiVersion: 'v1',
      kind: 'Service',
      metadata: { name: svcName(s), namespace: 'shop' },
      spec: { selector: { app: svcName(s) }, ports: [{ name: 'http', port: 80 }] },
    });
  const backends = new Set(rules.map((r) => r.backend));
  for (const b of backends)
    out.push({
      apiVersion: 'v1',
      kind: 'Service',
      metadata: { name: b, namespace: 'shop' },
      spec: { ports: [{ name: 'http', port: 80 }] },
    });
  const byService = new Map<string, Rule[]>();
  for (const r of rules) byService.set(r.service, [...(byService.get(r.service) ?? []), r]);
  let n = 0;
  for (const [service, list] of byService) {
    for (let i = 0; i < list.length; i += 16) {
      out.push({
        apiVersion: 'gateway.networking.k8s.io/v1',
        kind: 'HTTPRoute',
        metadata: { name: `route-${n++}`, namespace: 'shop', creationTimestamp: '2024-01-01T00:00:00Z' },
        spec: {
          parentRefs: [{ group: '', kind: 'Service', name: service }],
          rules: list.slice(i, i + 16).map((r) => ({
            matches: [
              {
                path: { type: r.pathType, value: r.path },
                ...(r.header === undefined ? {} : { headers: [r.header] }),
              },
            ],
            backendRefs: [{ name: r.backend, port: 80 }],
          })),
        },
      });
    }
  }
  return out;
}

function requests(rules: readonly Rule[], serviceCount: number): RouteRequest[] {
  const pick = [
    0,
    1,
    2,
    3,
    Math.floor(rules.length / 2),
    rules.length - 1,
    rules.length - 2,
    rules.length - 3,
  ].map((i) => rules[Math.min(rules.length - 1, Math.max(0, i))] as Rule);
  const out: RouteRequest[] = pick.map((r) => ({
    service: `${r.service}.shop.svc.cluster.local`,
    port: 80,
    authority: r.service,
    method: 'GET',
    path: r.pathType === 'Exact' ? `${r.path}?page=2` : `${r.path}/orders/17`,
    headers: {
      'user-agent': 'bench',
      accept: '*/*',
      ...(r.header === undefined ? {} : { [r.header.name]: r.header.value }),
    },
    protocol: 'http' as const,
  }));
  // One request no rule matches (404).
  out[7] = { ...(out[7] as RouteRequest), service: fqdn(serviceCount - 1), path: '/nothing/here' };
  return out;
}

/** The obvious router: every rule in one precedence-sorted list, scanned for each request. */
function baselineRouter(rules: readonly Rule[]): (r: RouteRequest) => string {
  const prefixOf = (r: Rule): number => (r.pathType === 'Exact' ? 3 : 2);
  const sorted = [...rules]
    .map((r, i) => ({ r, i }))
    .sort(
      (a, b) =>
        prefixOf(b.r) - prefixOf(a.r) ||
        b.r.path.length - a.r.path.length ||
        (b.r.header ? 1 : 0) - (a.r.header ? 1 : 0) ||
        a.i - b.i,
    )
    .map((x) => ({ ...x.r, fqdn: `${x.r.service}.shop.svc.cluster.local`, under: `${x.r.path}/` }));
  return (req) => {
    const q = req.path.indexOf('?');
    const path = q < 0 ? req.path : req.path.slice(0, q);
    for (const r of sorted) {
      if (r.fqdn !== req.service) continue;
      if (r.pathType === 'Exact' ? path !== r.path : !(path === r.path || path.startsWith(r.under))) continue;
      if (r.header !== undefined) {
        const v = Object.entries(req.headers).find(([k]) => k.toLowerCase() === r.header?.name)?.[1];
        if (v !== r.header.value) continue;
      }
      // Build what a decision carries (the forwarded headers), as the router does.
      const headers: Record<string, string> = {};
      for (const [k, v] of Object.entries(req.headers))
        if (typeof v === 'string') headers[k.toLowerCase()] = v;
      return `${r.backend}${headers['user-agent'] === undefined ? '' : ''}`;
    }
    return '404';
  };
}

const label = (d: RouteDecision): string =>
  d.kind === 'forward' ? d.backend.service : d.kind === 'direct' ? String(d.status) : d.kind;

function measure(fn: (i: number) => unknown, batch: number): number {
  let done = 0;
  let sink = 0;
  const start = performance.now();
  let elapsed = 0;
  do {
    for (let i = 0; i < batch; i++) if (fn(i) !== undefined) sink++;
    done += batch;
    elapsed = performance.now() - start;
  } while (elapsed < ROUND_MS);
  if (sink < 0) console.log(sink);
  return (done / elapsed) * 1000;
}

const stats = (xs: number[]): { min: number; median: number; max: number } => {
  const s = [...xs].sort((a, b) => a - b);
  return {
    min: s[0] as number,
    median: s[Math.floor(s.length / 2)] as number,
    max: s[s.length - 1] as number,
  };
};
const fmt = (n: number): string => Math.round(n).toLocaleString('en-US');

interface Row {
  readonly layout: string;
  readonly routes: number;
  readonly ours: { min: number; median: number; max: number };
  readonly base: { min: number; median: number; max: number };
}

function run(layout: 'one service' | 'across services', total: number): Row {
  const serviceCount = layout === 'one service' ? 1 : Math.max(1, total);
  const rules = rulesFor(total, serviceCount);
  const built = createRouter({ resources: resources(rules, serviceCount) });
  if (built.isErr()) throw new Error(built.error.issues.map(String).join('\n'));
  const router: Router = built.value;
  const baseline = baselineRouter(rules);
  const reqs = requests(rules, serviceCount);
  for (const r of reqs) {
    const a = label(router.route(r));
    const b = baseline(r);
    if (a !== b)
      throw new Error(`${layout} ${total}: router says ${a}, baseline says ${b} for ${r.service}${r.path}`);
  }
  const random = (): number => 0.5;
  const ours: number[] = [];
  const base: number[] = [];
  const baseBatch = total >= 10_000 ? 4 : total >= 1_000 ? 40 : 4_000;
  // One untimed round first, so the JIT has compiled both before anything is recorded.
  measure((i) => router.route(reqs[i & 7] as RouteRequest, { random }), 4_000);
  measure((i) => baseline(reqs[i & 7] as RouteRequest), baseBatch);
  for (let round = 0; round < ROUNDS; round++) {
    ours.push(measure((i) => router.route(reqs[i & 7] as RouteRequest, { random }), 4_000));
    base.push(measure((i) => baseline(reqs[i & 7] as RouteRequest), baseBatch));
  }
  return { layout, routes: total, ours: stats(ours), base: stats(base) };
}

console.log(`@ambient-kit/routing router.route decisions/s (node ${process.version}, ${cpus().length} CPUs)`);
console.log(
  `each figure: min / median / max over ${ROUNDS} rounds of ${ROUND_MS} ms; 8 rotating requests (7 hits, 1 miss)`,
);
console.log(
  'baseline: all rules in one precedence-sorted list, scanned for every request; both agreed on every request first\n',
);
console.log(
  `${'layout'.padEnd(16)} ${'routes'.padStart(7)}  ${'router (min / median / max)'.padEnd(40)} ${'baseline (min / median / max)'.padEnd(40)} ${'ratio'.padStart(8)}  target`,
);
const rows: Row[] = [];
for (const layout of ['one service', 'across services'] as const) {
  for (const total of [1, 1_000, 10_000]) {
    if (layout === 'across services' && total === 1) continue;
    const row = run(layout, total);
    rows.push(row);
    const ratio = row.ours.median / row.base.median;
    const target = total === 1_000 ? `>= ${fmt(TARGET_AT_1K)}/s` : '-';
    const verdict = total === 1_000 ? (row.ours.median >= TARGET_AT_1K ? 'PASS' : 'MISS') : '';
    const triple = (x: { min: number; median: number; max: number }): string =>
      `${fmt(x.min)} / ${fmt(x.median)} / ${fmt(x.max)}`;
    console.log(
      `${layout.padEnd(16)} ${fmt(total).padStart(7)}  ${triple(row.ours).padEnd(40)} ${triple(row.base).padEnd(40)} ${`${ratio.toFixed(1)}x`.padStart(8)}  ${target} ${verdict}`,
    );
  }
}
console.log(
  `\ncost growth from 1,000 to 10,000 routes (time per decision, median; target <= ${FLAT_TARGET}x: flat)`,
);
for (const layout of ['one service', 'across services'] as const) {
  const at = (n: number): Row => rows.find((r) => r.layout === layout && r.routes === n) as Row;
  const growth = at(1_000).ours.median / at(10_000).ours.median;
  const baseGrowth = at(1_000).base.median / at(10_000).base.median;
  console.log(
    `${layout.padEnd(16)} router ${growth.toFixed(2)}x   baseline ${baseGrowth.toFixed(2)}x   ${growth <= FLAT_TARGET ? 'PASS' : 'MISS'}`,
  );
}
