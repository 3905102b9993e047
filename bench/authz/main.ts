/**
 * Benchmarks for @ambient-kit/authz.
 *
 * Authorization (issue 4): decisions per second with 10, 1,000 and 10,000 policies across 100 namespaces, L4
 * (ztunnel) and L7 (sidecar, HTTP), next to casbin enforcing an equivalent model on the same policies in the
 * same run. The enforcing workload always has 10 applicable policies (2 DENY, 8 ALLOW); the rest select other
 * apps and namespaces, so the figures show how cost grows with the total policy count. Targets: >= 1,000,000
 * L4 and >= 300,000 L7 decisions/s at 10 policies per workload; nearly flat cost from 1,000 to 10,000
 * policies; >= 20x casbin. Before timing, every request is decided by both engines and the answers must agree.
 *
 * Applicable blocklist (issue 15): 10,000 rules in 20 namespace-wide DENY policies that all apply to the
 * workload (IP blocks, principals and paths), the shape a mesh-wide blocklist takes. Rows: parse + compile of
 * the YAML (next to the `yaml` package reading the same text, the parser used before), the engine's heap, and
 * L4 and L7 decisions per second with the rule index next to the same engine scanning every rule
 * (`evaluation: 'linear'`), after both were checked to agree on every request. Targets: parse + compile
 * < 300 ms, heap < 50 MB, >= 1,000,000 L4 and >= 500,000 L7 decisions/s.
 *
 * RequestAuthentication (issue 16): decisions per second with a JWT on every request (ES256 and RS256):
 * `authenticateRequest` (extraction, Envoy's checks, signature through jose) and then `evaluate` with the
 * verified payload, next to `jose.jwtVerify` alone on the same tokens in the same run, with the same key and
 * the same checks (signature, `iss`, `aud`, `exp`/`nbf` with 60 s of skew). Ours also does what jose alone does
 * not: the token's location, Envoy's reading of it (for Envoy's status on each failure), the key chosen from
 * the JWKS by `kid`, the claims and principal, and the AuthorizationPolicy on `request.auth.principal`.
 * Target: >= 0.8x of jose alone (the policy part must be nearly free). 64 distinct tokens rotate (distinct
 * payloads and signatures, one header, as from one issuer's key), so no per-token cache can help.
 *
 * Every row: 5 rounds, min / median / max, ours ÷ baseline of the medians, target, PASS/MISS. The JWT rows
 * alternate 10 ms slices of ours and of jose fifty times per round, so both see the same machine load (short
 * slices follow the load of a shared machine more closely than long ones).
 *
 * Run: `npm run bench:authz -w @ambient-kit/bench` (`-- --only jwt`, `-- --only authorization` or
 * `-- --only blocklist` for one part). The machine's load average is printed with the figures.
 */
import { cpus, loadavg } from 'node:os';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import {
  type AuthorizationPolicy,
  type AuthzRequest,
  authenticateRequest,
  createPolicyEngine,
  type PolicyEngine,
  parsePolicies,
  type Workload,
} from '@ambient-kit/authz';
import { type Enforcer, newEnforcer, newModelFromString, StringAdapter } from 'casbin';
import { exportJWK, generateKeyPair, jwtVerify, SignJWT } from 'jose';
import { parseAllDocuments, stringify } from 'yaml';
import { compareOps, printRows, type Row, rounds, type Spread } from '../support/rounds.js';

type Layer = 'L4' | 'L7';
const NAMESPACES = 100;
const SIZES = [10, 1_000, 10_000];
const TARGET: Record<Layer, number> = { L4: 1_000_000, L7: 300_000 };
const RATIO_TARGET = 20;
const JWT_RATIO_TARGET = 0.8;

/** One generated policy in both forms: the AuthorizationPolicy and the equivalent casbin line. */
interface Generated {
  readonly policy: AuthorizationPolicy;
  readonly casbin: string;
}

function generate(total: number, layer: Layer): Generated[] {
  const out: Generated[] = [];
  const make = (i: number, ns: string, app: string, action: 'ALLOW' | 'DENY', slot: number): Generated => {
    const principal = `cluster.local/ns/${ns}/sa/${action === 'ALLOW' ? `client-${slot}` : `blocked-${slot}`}`;
    const l7 = layer === 'L7';
    const rule =
      action === 'ALLOW'
        ? {
            from: [{ source: { principals: [principal] } }],
            to: [
              {
                operation: l7
                  ? { ports: ['8080'], methods: ['GET', 'POST'], paths: [`/api/v${slot}/*`] }
                  : { ports: ['8080'] },
              },
            ],
          }
        : l7
          ? { to: [{ operation: { paths: [`/admin${slot}*`] } }] }
          : { from: [{ source: { principals: [principal] } }] };
    const policy: AuthorizationPolicy = {
      apiVersion: 'security.istio.io/v1',
      kind: 'AuthorizationPolicy',
      metadata: { name: `p-${i}`, namespace: ns },
      spec: { selector: { matchLabels: { app } }, action, rules: [rule] },
    };
    // casbin line: ns, app, sub, port, method, path, eft (methods are two lines' worth: one line each).
    const eft = action === 'ALLOW' ? 'allow' : 'deny';
    const lines =
      action === 'ALLOW'
        ? l7
          ? ['GET', 'POST'].map((m) => `p, ${ns}, ${app}, ${principal}, 8080, ${m}, /api/v${slot}/*, ${eft}`)
          : [`p, ${ns}, ${app}, ${principal}, 8080, *, *, ${eft}`]
        : l7
          ? [`p, ${ns}, ${app}, *, *, *, /admin${slot}*, ${eft}`]
          : [`p, ${ns}, ${app}, ${principal}, *, *, *, ${eft}`];
    return { policy, casbin: lines.join('\n') };
  };
  // The benchmarked workload (ns-0, app-0) gets 10 policies: 8 ALLOW, 2 DENY.
  for (let slot = 0; slot < 8; slot++) out.push(make(out.length, 'ns-0', 'app-0', 'ALLOW', slot));
  for (let slot = 0; slot < 2; slot++) out.push(make(out.length, 'ns-0', 'app-0', 'DENY', slot));
  // Everything else selects other apps, spread over 100 namespaces (ns-0 included).
  for (let i = out.length; i < total; i++) {
    const ns = `ns-${i % NAMESPACES}`;
    const app = `app-${1 + (Math.floor(i / NAMESPACES) % 200)}`;
    out.push(make(i, ns, app, i % 5 === 0 ? 'DENY' : 'ALLOW', i % 8));
  }
  return out;
}

interface Case {
  readonly request: AuthzRequest;
  readonly casbin: [string, string, string, string, string, string];
}

function requests(layer: Layer): Case[] {
  const c = (sa: string | null, port: number, method: string, path: string): Case => {
    const principal = sa === null ? null : `spiffe://cluster.local/ns/ns-0/sa/${sa}`;
    return {
      request: {
        source: { principal, ip: '10.1.0.7' },
        destination: { ip: '10.2.0.9', port },
        ...(layer === 'L7' ? { method, path, host: 'app-0.ns-0:8080' } : {}),
      },
      casbin: [
        'ns-0',
        'app-0',
        principal?.slice('spiffe://'.length) ?? '',
        String(port),
        layer === 'L7' ? method : '-',
        layer === 'L7' ? path : '-',
      ],
    };
  };
  return [
    c('client-0', 8080, 'GET', '/api/v0/items'),
    c('client-7', 8080, 'POST', '/api/v7/orders?id=1'),
    c('client-3', 8080, 'GET', '/api/v3/a/b'),
    c('client-4', 9090, 'GET', '/api/v4/x'),
    c('blocked-1', 8080, 'GET', '/api/v1/x'),
    c(null, 8080, 'GET', '/api/v2/x'),
    c('client-2', 8080, 'DELETE', '/api/v2/x'),
    c('client-5', 8080, 'GET', '/admin1/panel'),
  ];
}

const CASBIN_MODEL = `
[request_definition]
r = ns, app, sub, port, method, path

[policy_definition]
p = ns, app, sub, port, method, path, eft

[policy_effect]
e = some(where (p.eft == allow)) && !some(where (p.eft == deny))

[matchers]
m = r.ns == p.ns && r.app == p.app && keyMatch(r.sub, p.sub) && (p.port == "*" || r.port == p.port) && (p.method == "*" || r.method == p.method) && (p.path == "*" || keyMatch(r.path, p.path))
`;

async function casbinFor(generated: Generated[]): Promise<Enforcer> {
  const csv = generated.map((g) => g.casbin).join('\n');
  return newEnforcer(newModelFromString(CASBIN_MODEL), new StringAdapter(csv));
}

const scale = (x: Spread, k: number): Spread => ({ min: x.min * k, median: x.median * k, max: x.max * k });

function spreadOf(values: readonly number[]): Spread {
  const sorted = [...values].sort((a, b) => a - b);
  return {
    min: sorted[0] as number,
    median: sorted[Math.floor(sorted.length / 2)] as number,
    max: sorted[sorted.length - 1] as number,
  };
}

/**
 * Two async operations measured in alternating short slices (ours, baseline, ours, ...), so that both see the
 * same load from whatever else runs on the machine; each round gives one ops/s figure per side.
 */
async function interleaved(
  ours: () => Promise<unknown>,
  baseline: () => Promise<unknown>,
  options: { readonly rounds: number; readonly slices: number; readonly sliceMs: number },
): Promise<{ ours: Spread; baseline: Spread }> {
  const a: number[] = [];
  const b: number[] = [];
  const slice = async (f: () => Promise<unknown>): Promise<[number, number]> => {
    const start = performance.now();
    let n = 0;
    while (performance.now() - start < options.sliceMs) {
      await f();
      n++;
    }
    return [n, performance.now() - start];
  };
  for (let r = 0; r < options.rounds; r++) {
    let oursOps = 0;
    let oursMs = 0;
    let baseOps = 0;
    let baseMs = 0;
    for (let i = 0; i < options.slices; i++) {
      const [n1, t1] = await slice(ours);
      const [n2, t2] = await slice(baseline);
      oursOps += n1;
      oursMs += t1;
      baseOps += n2;
      baseMs += t2;
    }
    a.push((oursOps * 1000) / oursMs);
    b.push((baseOps * 1000) / baseMs);
  }
  return { ours: spreadOf(a), baseline: spreadOf(b) };
}

interface Measured {
  readonly layer: Layer;
  readonly size: number;
  readonly engine: Spread;
  readonly casbin: Spread;
}

async function measure(layer: Layer, size: number): Promise<Measured> {
  const generated = generate(size, layer);
  const built = createPolicyEngine({ policies: generated.map((g) => g.policy) });
  if (built.isErr()) throw new Error(built.error.map(String).join('\n'));
  const engine: PolicyEngine = built.value;
  const enforcer = await casbinFor(generated);
  const workload: Workload =
    layer === 'L4'
      ? { kind: 'ztunnel', namespace: 'ns-0', labels: { app: 'app-0', version: 'v1' } }
      : { kind: 'sidecar', namespace: 'ns-0', labels: { app: 'app-0', version: 'v1' } };
  const cases = requests(layer);
  const applicable = engine.applicablePolicies(workload).length;
  if (applicable !== 10) throw new Error(`expected 10 policies for the workload, found ${applicable}`);
  // Both engines must give the same answers before their speed is compared.
  for (const k of cases) {
    const a = engine.evaluate({ workload, request: k.request }).allow;
    const b = enforcer.enforceSync(...k.casbin);
    if (a !== b)
      throw new Error(`${layer} ${size}: engine says ${a}, casbin says ${b} for ${JSON.stringify(k.casbin)}`);
  }
  const inputs = cases.map((k) => ({ workload, request: k.request }));
  const engineBatch = 2_000;
  const casbinBatch = size >= 1_000 ? 1 : 400;
  let sink = 0;
  const { ours, baseline } = await compareOps(
    () => {
      for (let i = 0; i < engineBatch; i++)
        if (engine.evaluate(inputs[i & 7] as (typeof inputs)[0]).allow) sink++;
    },
    () => {
      for (let i = 0; i < casbinBatch; i++)
        if (enforcer.enforceSync(...(cases[i & 7] as Case).casbin)) sink++;
    },
    { rounds: 5, timeMs: 500 },
  );
  if (sink < 0) console.log(sink);
  return { layer, size, engine: scale(ours, engineBatch), casbin: scale(baseline, casbinBatch) };
}

// ---- an applicable blocklist (issue 15) -------------------------------------------------------------------

const BLOCKLIST_POLICIES = 20;
const BLOCKLIST_RULES = 10_000;

/** 20 namespace-wide DENY policies in `prod`, 500 rules each: a third IP blocks, principals, paths. */
function blocklistYaml(): string {
  const perPolicy = BLOCKLIST_RULES / BLOCKLIST_POLICIES;
  const docs: string[] = [];
  for (let p = 0; p < BLOCKLIST_POLICIES; p++) {
    const rules: object[] = [];
    for (let r = 0; r < perPolicy; r++) {
      const i = p * perPolicy + r;
      if (i % 3 === 0) {
        rules.push({
          from: [{ source: { ipBlocks: [`${10 + (i >> 16)}.${(i >> 8) & 255}.${i & 255}.0/24`] } }],
        });
      } else if (i % 3 === 1) {
        rules.push({ from: [{ source: { principals: [`cluster.local/ns/blocked-${i}/sa/client`] } }] });
      } else {
        rules.push({ to: [{ operation: { paths: [`/blocked/${i}`] } }] });
      }
    }
    docs.push(
      stringify({
        apiVersion: 'security.istio.io/v1',
        kind: 'AuthorizationPolicy',
        metadata: { name: `blocklist-${p}`, namespace: 'prod' },
        spec: { action: 'DENY', rules },
      }),
    );
  }
  return docs.join('---\n');
}

function blocklistRequests(layer: Layer): AuthzRequest[] {
  const r = (principal: string, ip: string, path: string): AuthzRequest => ({
    source: { principal: `spiffe://cluster.local/ns/${principal}`, ip },
    destination: { ip: '10.200.0.9', port: 8080 },
    ...(layer === 'L7' ? { method: 'GET', path, host: 'api.prod:8080' } : {}),
  });
  return [
    r('web/sa/frontend', '192.168.1.7', '/api/items'), // allowed: nothing matches
    r('web/sa/frontend', '10.0.3.9', '/api/items'), // IP block of rule 3
    r('blocked-4/sa/client', '192.168.1.7', '/api/items'), // principal of rule 4
    r('web/sa/frontend', '192.168.1.7', '/blocked/9998'), // path of rule 9998 (L7)
    r('shop/sa/cart', '172.16.0.1', '/api/orders?id=1'),
    r('web/sa/frontend', '10.39.15.7', '/'), // IP block of rule 9999
    r('blocked-9997/sa/client', '192.168.1.8', '/api'), // the last principal
    r('blocked-4/sa/other', '10.1.0.1', '/blocked/4'), // near misses
  ];
}

// A full collection before each heap reading, without needing `--expose-gc` on the command line.
setFlagsFromString('--expose-gc');
const gc = runInNewContext('gc') as () => void;

function heapUsedMb(): number {
  gc();
  gc();
  return process.memoryUsage().heapUsed / 1e6;
}

async function measureBlocklist(): Promise<Row[]> {
  const text = blocklistYaml();
  const workloads: Record<Layer, Workload> = {
    L4: { kind: 'ztunnel', namespace: 'prod', labels: { app: 'api' } },
    L7: { kind: 'sidecar', namespace: 'prod', labels: { app: 'api' } },
  };
  const build = (evaluation: 'indexed' | 'linear'): PolicyEngine => {
    const parsed = parsePolicies(text);
    if (parsed.isErr()) throw new Error(parsed.error.map(String).join('\n'));
    const built = createPolicyEngine({ policies: parsed.value, evaluation });
    if (built.isErr()) throw new Error(built.error.map(String).join('\n'));
    // The first decision per workload compiles its rules.
    for (const layer of ['L4', 'L7'] as const) {
      built.value.evaluate({
        workload: workloads[layer],
        request: blocklistRequests(layer)[0] as AuthzRequest,
      });
    }
    return built.value;
  };
  // Parse + compile, five rounds each, next to the `yaml` package parsing the same text.
  const compileMs = await rounds(5, () => {
    const start = performance.now();
    build('indexed');
    return performance.now() - start;
  });
  const yamlMs = await rounds(5, () => {
    const start = performance.now();
    parseAllDocuments(text);
    return performance.now() - start;
  });
  // The engine's heap: after parse and compile, with the process's own heap before subtracted.
  const before = heapUsedMb();
  let engine: PolicyEngine | undefined = build('indexed');
  const heap = heapUsedMb() - before;
  const linear = build('linear');
  if (engine === undefined) throw new Error('unreachable');
  const rows: Row[] = [
    {
      name: `blocklist: parse + compile ${BLOCKLIST_RULES.toLocaleString('en-US')} rules (YAML, L4 + L7)`,
      unit: 'ms',
      ours: compileMs,
      baseline: yamlMs,
      baselineName: 'yaml.parseAllDocuments alone',
      target: { atMost: 300 },
    },
    {
      name: 'blocklist: engine heap after parse + compile (L4 + L7)',
      unit: 'MB',
      ours: { min: heap, median: heap, max: heap },
      target: { atMost: 50 },
    },
  ];
  for (const layer of ['L4', 'L7'] as const) {
    const workload = workloads[layer];
    const inputs = blocklistRequests(layer).map((request) => ({ workload, request }));
    // Both evaluations must give the same decisions before their speed is compared.
    for (const input of inputs) {
      const a = JSON.stringify(engine.evaluate(input));
      const b = JSON.stringify(linear.evaluate(input));
      if (a !== b) throw new Error(`blocklist ${layer}: indexed ${a} but linear ${b}`);
    }
    const denied = inputs.filter((input) => !(engine as PolicyEngine).evaluate(input).allow).length;
    if (denied < (layer === 'L4' ? 4 : 5)) throw new Error(`blocklist ${layer}: only ${denied} of 8 denied`);
    const batch = 2_000;
    let sink = 0;
    let next = 0;
    const e = engine;
    const { ours, baseline } = await compareOps(
      () => {
        for (let i = 0; i < batch; i++) if (e.evaluate(inputs[i & 7] as (typeof inputs)[0]).allow) sink++;
      },
      () => {
        // One decision per call (a scan of 10,000 rules is slow); every request in turn.
        if (linear.evaluate(inputs[next++ & 7] as (typeof inputs)[0]).allow) sink++;
      },
      { rounds: 5, timeMs: 500 },
    );
    if (sink < 0) console.log(sink);
    rows.push({
      name: `blocklist ${layer}: decisions/s, ${BLOCKLIST_RULES.toLocaleString('en-US')} applicable rules`,
      unit: 'ops/s',
      ours: scale(ours, batch),
      baseline,
      baselineName: 'same engine, linear scan',
      target: { atLeast: layer === 'L4' ? 1_000_000 : 500_000 },
    });
  }
  engine = undefined;
  return rows;
}

const ISSUER = 'https://issuer.example';

/**
 * What jose checks on its own, the same checks Envoy's make on our side: the signature, `iss`, `aud`, and
 * `exp`/`nbf` with the same 60 s of clock skew.
 */
const JOSE_CHECKS = { issuer: ISSUER, audience: 'app-0', clockTolerance: 60 } as const;

/** A JWT on every request: authenticateRequest + evaluate, and jose.jwtVerify alone, on the same 64 tokens. */
async function measureJwt(alg: 'ES256' | 'RS256'): Promise<Row> {
  const { publicKey, privateKey } = await generateKeyPair(alg, { extractable: true });
  const jwk = { ...(await exportJWK(publicKey)), kid: 'k1', alg };
  const policies = generate(10, 'L7').map((g) => g.policy);
  const built = createPolicyEngine({
    policies: [
      ...policies,
      {
        apiVersion: 'security.istio.io/v1',
        kind: 'RequestAuthentication',
        metadata: { name: 'jwt', namespace: 'ns-0' },
        spec: {
          selector: { matchLabels: { app: 'app-0' } },
          jwtRules: [{ issuer: ISSUER, audiences: ['app-0'], jwks: JSON.stringify({ keys: [jwk] }) }],
        },
      },
      {
        apiVersion: 'security.istio.io/v1',
        kind: 'AuthorizationPolicy',
        metadata: { name: 'require-jwt', namespace: 'ns-0' },
        spec: {
          selector: { matchLabels: { app: 'app-0' } },
          action: 'DENY',
          rules: [{ from: [{ source: { notRequestPrincipals: [`${ISSUER}/*`] } }] }],
        },
      },
    ],
  });
  if (built.isErr()) throw new Error(built.error.map(String).join('\n'));
  const engine = built.value;
  const workload: Workload = { kind: 'sidecar', namespace: 'ns-0', labels: { app: 'app-0', version: 'v1' } };
  const nowSeconds = Math.floor(Date.now() / 1000);
  const tokens = await Promise.all(
    Array.from({ length: 64 }, (_, i) =>
      new SignJWT({ aud: 'app-0', scope: 'read write' })
        .setProtectedHeader({ alg, kid: 'k1' })
        .setIssuer(ISSUER)
        .setSubject(`user-${i}`)
        .setExpirationTime(nowSeconds + 3600)
        .sign(privateKey),
    ),
  );
  const base: AuthzRequest = {
    source: { principal: 'spiffe://cluster.local/ns/ns-0/sa/client-0', ip: '10.1.0.7' },
    destination: { ip: '10.2.0.9', port: 8080 },
    method: 'GET',
    path: '/api/v0/items',
    host: 'app-0.ns-0:8080',
  };
  const decide = async (token: string): Promise<boolean> => {
    const authn = await authenticateRequest({
      engine,
      workload,
      request: {
        path: '/api/v0/items',
        host: 'app-0.ns-0:8080',
        headers: { authorization: `Bearer ${token}` },
      },
    });
    if (!authn.ok) return false;
    return engine.evaluate({ workload, request: { ...base, jwt: authn.jwt ?? null } }).allow;
  };
  // Both sides must accept every token before their speed is compared; the policy must need it.
  for (const t of tokens) {
    if (!(await decide(t))) throw new Error(`${alg}: the request with a valid token was not allowed`);
    await jwtVerify(t, publicKey, JOSE_CHECKS);
  }
  if (engine.evaluate({ workload, request: { ...base, jwt: null } }).allow) {
    throw new Error(`${alg}: a request without a token was allowed`);
  }
  let i = 0;
  let j = 0;
  let sink = 0;
  // Warm both paths (JIT, key caches) before the rounds.
  for (let k = 0; k < 200; k++) {
    if (await decide(tokens[k & 63] as string)) sink++;
    await jwtVerify(tokens[k & 63] as string, publicKey, JOSE_CHECKS);
  }
  const { ours, baseline } = await interleaved(
    async () => {
      if (await decide(tokens[i++ & 63] as string)) sink++;
    },
    async () => {
      await jwtVerify(tokens[j++ & 63] as string, publicKey, JOSE_CHECKS);
      sink++;
    },
    { rounds: 5, slices: 50, sliceMs: 10 },
  );
  if (sink < 0) console.log(sink);
  return {
    name: `JWT ${alg}: authenticateRequest + evaluate`,
    unit: 'ops/s',
    ours,
    baseline,
    baselineName: 'jose.jwtVerify alone',
    target: { ratio: JWT_RATIO_TARGET },
  };
}

const load = (): string =>
  loadavg()
    .map((x) => x.toFixed(2))
    .join(' ');
console.log(
  `@ambient-kit/authz benchmarks (node ${process.version}, ${cpus().length} CPUs, load average ${load()})`,
);
console.log(
  'authorization: 10 applicable policies (8 ALLOW, 2 DENY); 8 rotating requests (allowed, denied by DENY, unmatched);\n' +
    'engine and casbin agreed on every request first',
);
const only = process.argv.includes('--only') ? process.argv[process.argv.indexOf('--only') + 1] : undefined;
const measured: Measured[] = [];
for (const layer of only === undefined || only === 'authorization' ? (['L4', 'L7'] as const) : []) {
  for (const size of SIZES) measured.push(await measure(layer, size));
}
const rows: Row[] = [];
for (const m of measured) {
  rows.push({
    name: `${m.layer} ${m.size.toLocaleString('en-US')} policies: engine vs casbin`,
    unit: 'ops/s',
    ours: m.engine,
    baseline: m.casbin,
    baselineName: 'casbin',
    target: { ratio: RATIO_TARGET },
  });
  if (m.size === 10) {
    rows.push({
      name: `${m.layer} 10 policies: decisions/s`,
      unit: 'ops/s',
      ours: m.engine,
      target: { atLeast: TARGET[m.layer] },
    });
  }
}
if (rows.length > 0) {
  printRows('authorization decisions/s', rows);
  console.log(
    '\ncost growth with the policy count (time per decision, 10,000 vs 1,000 policies; target: nearly flat)',
  );
}
for (const layer of rows.length > 0 ? (['L4', 'L7'] as const) : []) {
  const at = (size: number): Measured =>
    measured.find((r) => r.layer === layer && r.size === size) as Measured;
  const growth = at(1_000).engine.median / at(10_000).engine.median;
  const casbinGrowth = at(1_000).casbin.median / at(10_000).casbin.median;
  console.log(`${layer}: engine ${growth.toFixed(2)}x, casbin ${casbinGrowth.toFixed(2)}x`);
}
if (only === undefined || only === 'blocklist') {
  printRows(
    'applicable blocklist: 10,000 rules in 20 namespace-wide DENY policies, all applying (8 rotating requests)',
    await measureBlocklist(),
  );
}
if (only === undefined || only === 'jwt') {
  printRows(
    'RequestAuthentication: decisions/s with a JWT on every request (1 RequestAuthentication, 12 policies)',
    [await measureJwt('ES256'), await measureJwt('RS256')],
  );
}
console.log(`\nload average at the end: ${load()}`);
