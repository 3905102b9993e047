/**
 * The `ambient-authz` command line: `check` (decide one request and explain it: PeerAuthentication,
 * RequestAuthentication with the token given by `--header`/`--query`, then authorization), `validate`
 * (istiod's validation of policy files: AuthorizationPolicy, RequestAuthentication, PeerAuthentication) and
 * `translate` (what istiod would send ztunnel). Exit codes: 0 allow / valid, 1 deny, 2 bad input.
 * @module
 */

import { readFile } from 'node:fs/promises';
import { parseArgs } from 'node:util';
import { createPolicyEngine, type ExplainEntry } from '../engine/engine.js';
import { PolicyError } from '../engine/errors.js';
import { IDENTITY_REGEX_MODES, type IdentityRegexMode } from '../engine/identity-regex.js';
import { readPeerIp } from '../engine/ip-block.js';
import type { MeshConfig } from '../engine/mesh.js';
import { parsePolicies } from '../engine/parse.js';
import type { PathNormalization } from '../engine/path.js';
import { translatePeerAuthenticationsForZtunnel } from '../engine/peer-authentication-ztunnel.js';
import { GATEWAY_NAME_LABEL, policyKey } from '../engine/policy.js';
import type {
  AuthzRequest,
  DestinationService,
  ExtAuthzAnswer,
  Workload,
  WorkloadKind,
} from '../engine/request.js';
import type { SecurityPolicy } from '../engine/security-policy.js';
import { groupSecurityPolicies, SECURITY_POLICY_KINDS } from '../engine/security-policy.js';
import { translateForZtunnel } from '../engine/ztunnel-translate.js';
import { authenticateRequest } from '../http/authenticate-request.js';

/** Exit codes of the CLI. */
export const EXIT = { allow: 0, deny: 1, badInput: 2 } as const;

/** Where the CLI writes, and where `-f -` reads. */
export interface CliIo {
  readonly stdout: (text: string) => void;
  readonly stderr: (text: string) => void;
  /** The whole of standard input, for `-f -`. Default: `process.stdin`. */
  readonly stdin?: () => Promise<string>;
}

const USAGE = `Usage:
  ambient-authz check -f <policies.yaml> [-f ...] --workload <ns>[/<name>] [options]
  ambient-authz validate -f <policies.yaml> [-f ...]
  ambient-authz translate -f <policies.yaml> [-f ...] [--root-namespace ns] [--enable-dry-run]

check options:
  --kind sidecar|ztunnel|gateway|waypoint   enforcing proxy (default sidecar)
  --label k=v                               workload label (repeatable)
  --trust-domain td                         the proxy's trust domain (default cluster.local)
  --from spiffe://td/ns/x/sa/y              source principal (omit or --plaintext for none)
  --source-ip ip      (default 10.0.0.1)    --remote-ip ip (default: source ip)
  --dest-ip ip        (default 10.0.0.2)    --port n (default 80)
  --protocol http|tcp (default http)        --service Kind/namespace/name (waypoints)
  --method M  --path /p?q  --host h  --sni name
  --header 'name: value' or name=value      request header (repeatable), e.g. --header 'authorization: Bearer <jwt>'
  --query name=value                        query parameter added to --path (repeatable), e.g. access_token=<jwt>
  --now <epoch ms | ISO time>               the clock for JWT exp/nbf (default: now)
  --jwt '{"iss":...}' or @file.json         an already verified JWT payload (skips RequestAuthentication)
  --identity-regex strictest|escaped|unescaped  how identity values with regex characters read (default strictest)
  --ext-authz provider=allow|deny           answer for a CUSTOM provider (repeatable)
  --root-namespace ns (default istio-system)  --trust-domain-alias td (repeatable)
  --path-normalization NONE|BASE|MERGE_SLASHES|DECODE_AND_MERGE_SLASHES
  --extension-provider name (repeatable)    --json   machine-readable output

Exit codes: 0 allowed (or valid), 1 denied, 2 bad input.`;

class UsageError extends Error {}

function keyValue(text: string, flag: string): [string, string] {
  const eq = text.indexOf('=');
  if (eq <= 0) throw new UsageError(`${flag} expects key=value, got "${text}"`);
  return [text.slice(0, eq), text.slice(eq + 1)];
}

// `name: value` (as curl writes it) or `name=value`, whichever separator comes first.
function headerValue(text: string): [string, string] {
  const colon = text.indexOf(':');
  const eq = text.indexOf('=');
  if (colon > 0 && (eq === -1 || colon < eq))
    return [text.slice(0, colon).trim(), text.slice(colon + 1).trimStart()];
  return keyValue(text, '--header');
}

function nowFrom(value: string | undefined): number {
  if (value === undefined) return Date.now();
  const ms = /^[0-9]+$/.test(value) ? Number(value) : Date.parse(value);
  if (!Number.isFinite(ms))
    throw new UsageError(`--now must be epoch milliseconds or an ISO time, got "${value}"`);
  return ms;
}

function requireIp(value: string, flag: string): string {
  if (readPeerIp(value) === undefined) throw new UsageError(`${flag}: not an IP address: "${value}"`);
  return value;
}

async function loadPolicies(files: readonly string[], io: CliIo): Promise<SecurityPolicy[] | undefined> {
  if (files.length === 0) throw new UsageError('at least one -f <file> is required');
  const out: SecurityPolicy[] = [];
  let failed = false;
  for (const file of files) {
    let text: string;
    try {
      text = file === '-' ? await (io.stdin ?? readStdin)() : await readFile(file, 'utf8');
    } catch (cause) {
      io.stderr(`${String(new PolicyError('AUTHZ_ERR_IO', `cannot read ${file}: ${String(cause)}`))}\n`);
      failed = true;
      continue;
    }
    const parsed = parsePolicies(text, { source: file });
    if (parsed.isErr()) {
      for (const e of parsed.error) io.stderr(`${String(e)}\n`);
      failed = true;
    } else out.push(...parsed.value);
  }
  return failed ? undefined : out;
}

async function readStdin(): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const chunk of process.stdin) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks).toString('utf8');
}

function describeEntry(e: ExplainEntry): string {
  const mark = e.applies ? (e.matchedRule === undefined ? '·' : '✓') : '-';
  const what = e.applies
    ? e.matchedRule === undefined
      ? 'applies, no rule matched'
      : `applies, rule ${e.matchedRule} matched`
    : `does not apply (${e.notApplied})`;
  const dry = e.dryRun ? ' [dry-run]' : '';
  const notes = e.notes.map((n) => `\n      note: ${n}`).join('');
  return `  ${mark} ${e.policy.padEnd(32)} ${e.action.padEnd(6)} ${what}${dry}${notes}`;
}

const CHECK_OPTIONS = {
  file: { type: 'string', short: 'f', multiple: true },
  workload: { type: 'string' },
  kind: { type: 'string' },
  label: { type: 'string', multiple: true },
  'trust-domain': { type: 'string' },
  from: { type: 'string' },
  plaintext: { type: 'boolean' },
  'source-ip': { type: 'string' },
  'remote-ip': { type: 'string' },
  'dest-ip': { type: 'string' },
  port: { type: 'string' },
  protocol: { type: 'string' },
  service: { type: 'string' },
  method: { type: 'string' },
  path: { type: 'string' },
  host: { type: 'string' },
  sni: { type: 'string' },
  header: { type: 'string', multiple: true },
  query: { type: 'string', multiple: true },
  now: { type: 'string' },
  'identity-regex': { type: 'string' },
  jwt: { type: 'string' },
  'ext-authz': { type: 'string', multiple: true },
  'root-namespace': { type: 'string' },
  'trust-domain-alias': { type: 'string', multiple: true },
  'path-normalization': { type: 'string' },
  'extension-provider': { type: 'string', multiple: true },
  'enable-dry-run': { type: 'boolean' },
  json: { type: 'boolean' },
  help: { type: 'boolean', short: 'h' },
} as const;

type CheckValues = ReturnType<
  typeof parseArgs<{ options: typeof CHECK_OPTIONS; allowPositionals: true }>
>['values'];

function meshFrom(values: CheckValues): MeshConfig {
  const normalization = values['path-normalization'];
  if (
    normalization !== undefined &&
    !['NONE', 'BASE', 'DEFAULT', 'MERGE_SLASHES', 'DECODE_AND_MERGE_SLASHES'].includes(normalization)
  ) {
    throw new UsageError(`--path-normalization: unknown mode "${normalization}"`);
  }
  const extAuthz = (values['ext-authz'] ?? []).map((v) => keyValue(v, '--ext-authz')[0]);
  const identityRegex = values['identity-regex'];
  if (identityRegex !== undefined && !(IDENTITY_REGEX_MODES as readonly string[]).includes(identityRegex)) {
    throw new UsageError(
      `--identity-regex must be one of ${IDENTITY_REGEX_MODES.join(', ')}, got "${identityRegex}"`,
    );
  }
  return {
    ...(identityRegex === undefined ? {} : { identityRegex: identityRegex as IdentityRegexMode }),
    ...(values['root-namespace'] === undefined ? {} : { rootNamespace: values['root-namespace'] }),
    ...(values['trust-domain'] === undefined ? {} : { trustDomain: values['trust-domain'] }),
    ...(values['trust-domain-alias'] === undefined
      ? {}
      : { trustDomainAliases: values['trust-domain-alias'] }),
    ...(normalization === undefined ? {} : { pathNormalization: normalization as PathNormalization }),
    extensionProviders: [...new Set([...(values['extension-provider'] ?? []), ...extAuthz])],
    ...(values['enable-dry-run'] === true ? { enableAmbientDryRun: true } : {}),
  };
}

async function jwtFrom(value: string | undefined): Promise<Record<string, unknown> | undefined> {
  if (value === undefined) return undefined;
  const text = value.startsWith('@') ? await readFile(value.slice(1), 'utf8') : value;
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch {
    throw new UsageError('--jwt must be a JSON object (or @file with one)');
  }
  if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) {
    throw new UsageError('--jwt must be a JSON object (or @file with one)');
  }
  return parsed as Record<string, unknown>;
}

function workloadFrom(values: CheckValues): Workload {
  const spec = values.workload;
  if (spec === undefined || spec === '') throw new UsageError('--workload <namespace>[/<name>] is required');
  const [namespace, name] = spec.split('/', 2) as [string, string | undefined];
  const kind = (values.kind ?? 'sidecar') as WorkloadKind;
  if (!['ztunnel', 'sidecar', 'gateway', 'waypoint'].includes(kind)) {
    throw new UsageError(`--kind must be ztunnel, sidecar, gateway or waypoint, got "${kind}"`);
  }
  const labels: Record<string, string> = {};
  for (const l of values.label ?? []) {
    const [k, v] = keyValue(l, '--label');
    labels[k] = v;
  }
  if (kind === 'waypoint' && name !== undefined && labels[GATEWAY_NAME_LABEL] === undefined) {
    labels[GATEWAY_NAME_LABEL] = name;
  }
  return {
    kind,
    namespace,
    labels,
    ...(name === undefined || name === '' ? {} : { name }),
    ...(values['trust-domain'] === undefined ? {} : { trustDomain: values['trust-domain'] }),
  };
}

async function requestFrom(values: CheckValues): Promise<AuthzRequest> {
  if (values.from !== undefined && values.plaintext === true)
    throw new UsageError('--from and --plaintext exclude each other');
  if (values.from !== undefined && !values.from.startsWith('spiffe://')) {
    throw new UsageError(`--from must be a SPIFFE ID (spiffe://...), got "${values.from}"`);
  }
  const port = Number(values.port ?? '80');
  if (!Number.isInteger(port) || port < 0 || port > 65535)
    throw new UsageError(`--port must be 0..65535, got "${values.port}"`);
  const protocol = values.protocol ?? 'http';
  if (protocol !== 'http' && protocol !== 'tcp')
    throw new UsageError(`--protocol must be http or tcp, got "${protocol}"`);
  let service: DestinationService | undefined;
  if (values.service !== undefined) {
    const parts = values.service.split('/');
    if (parts.length !== 3 || parts.some((p) => p === ''))
      throw new UsageError('--service must be Kind/namespace/name');
    service = { kind: parts[0] as string, namespace: parts[1] as string, name: parts[2] as string };
  }
  const headers: Record<string, string[]> = {};
  for (const h of values.header ?? []) {
    const [k, v] = headerValue(h);
    const key = k.toLowerCase();
    headers[key] = [...(headers[key] ?? []), v];
  }
  let path = values.path;
  for (const q of values.query ?? []) {
    keyValue(q, '--query');
    path = `${path ?? '/'}${(path ?? '/').includes('?') ? '&' : '?'}${q}`;
  }
  const jwt = await jwtFrom(values.jwt);
  const ip = requireIp(values['source-ip'] ?? '10.0.0.1', '--source-ip');
  return {
    source: {
      principal: values.from ?? null,
      ip,
      ...(values['remote-ip'] === undefined
        ? {}
        : { remoteIp: requireIp(values['remote-ip'], '--remote-ip') }),
    },
    destination: {
      ip: requireIp(values['dest-ip'] ?? '10.0.0.2', '--dest-ip'),
      port,
      ...(service === undefined ? {} : { service }),
    },
    protocol,
    ...(values.method === undefined ? {} : { method: values.method }),
    ...(path === undefined ? {} : { path }),
    ...(values.host === undefined ? {} : { host: values.host }),
    ...(values.sni === undefined ? {} : { sni: values.sni }),
    ...(Object.keys(headers).length === 0 ? {} : { headers }),
    ...(jwt === undefined ? {} : { jwt }),
  };
}

async function check(values: CheckValues, io: CliIo): Promise<number> {
  const mesh = meshFrom(values);
  const workload = workloadFrom(values);
  let request = await requestFrom(values);
  const now = nowFrom(values.now);
  const answers = new Map<string, ExtAuthzAnswer>();
  for (const v of values['ext-authz'] ?? []) {
    const [provider, answer] = keyValue(v, '--ext-authz');
    if (answer !== 'allow' && answer !== 'deny')
      throw new UsageError(`--ext-authz ${provider}= must be allow or deny`);
    answers.set(provider, answer);
  }
  const policies = await loadPolicies(values.file ?? [], io);
  if (policies === undefined) return EXIT.badInput;
  const engine = createPolicyEngine({ policies, mesh });
  if (engine.isErr()) {
    for (const e of engine.error) io.stderr(`${String(e)}\n`);
    return EXIT.badInput;
  }
  // RequestAuthentication first (unless a verified payload was given), as Envoy's jwt_authn runs before RBAC.
  let principalLine: string | undefined;
  let authn: { readonly status: number; readonly body: string; readonly principal?: string } | undefined;
  const service = request.destination.service;
  if (values.jwt === undefined && engine.value.jwtRulesFor(workload, service).length > 0) {
    const result = await authenticateRequest({
      engine: engine.value,
      workload,
      ...(service === undefined ? {} : { service }),
      request: {
        path: request.path ?? '/',
        ...(request.host === undefined ? {} : { host: request.host }),
        headers: request.headers ?? {},
      },
      now,
    });
    if (!result.ok) {
      authn = { status: result.status, body: result.body };
      if (values.json === true)
        io.stdout(`${JSON.stringify({ authn: { ...authn, ...result.headers } }, null, 2)}\n`);
      else {
        io.stdout(
          `DENY: RequestAuthentication: ${result.body} (HTTP ${result.status}${
            result.headers['www-authenticate'] === undefined
              ? ''
              : `, www-authenticate: ${result.headers['www-authenticate']}`
          })\n`,
        );
      }
      return EXIT.deny;
    }
    const removed = new Set(result.removedHeaders);
    const headers: Record<string, string[]> = {};
    for (const [k, v] of Object.entries(request.headers ?? {})) {
      if (!removed.has(k) && v !== undefined) headers[k] = typeof v === 'string' ? [v] : [...v];
    }
    for (const [k, v] of result.addedHeaders) headers[k] = [...(headers[k] ?? []), v];
    request = { ...request, headers, jwt: result.jwt ?? null };
    principalLine = `  request principal: ${result.authn?.principal ?? 'none (no token)'}${
      result.policy === undefined ? '' : ` (RequestAuthentication ${result.policy})`
    }`;
    authn = {
      status: 200,
      body: '',
      ...(result.authn === undefined ? {} : { principal: result.authn.principal }),
    };
  }
  const { decision, policies: trace } = engine.value.explain(
    { workload, request },
    { extAuthz: (provider) => answers.get(provider) ?? 'deny' },
  );
  if (decision.reason.startsWith('invalid ')) {
    io.stderr(`${decision.reason}\n`);
    return EXIT.badInput;
  }
  if (values.json === true) {
    io.stdout(
      `${JSON.stringify({ decision, policies: trace, ...(authn === undefined ? {} : { authn }) }, null, 2)}\n`,
    );
  } else {
    const lines = [
      `${decision.allow ? 'ALLOW' : 'DENY'}: ${decision.reason}`,
      decision.policy === undefined
        ? '  decided by: no single policy (Istio default)'
        : `  decided by: ${decision.policy} rule ${decision.rule ?? '?'}`,
    ];
    if (decision.audit) lines.push('  audit: an AUDIT policy matched');
    if (decision.dryRunMatched.length > 0)
      lines.push(`  dry-run matched: ${decision.dryRunMatched.join(', ')}`);
    if (decision.extAuthzCalled !== undefined) lines.push(`  ext_authz called: ${decision.extAuthzCalled}`);
    if (principalLine !== undefined) lines.push(principalLine);
    lines.push(
      `  enforced by: ${workload.kind} ${workload.namespace}${workload.name === undefined ? '' : `/${workload.name}`}`,
    );
    lines.push(trace.length === 0 ? 'policies: none in scope' : 'policies:');
    for (const entry of trace) lines.push(describeEntry(entry));
    io.stdout(`${lines.join('\n')}\n`);
  }
  return decision.allow ? EXIT.allow : EXIT.deny;
}

async function validate(files: readonly string[], io: CliIo): Promise<number> {
  const policies = await loadPolicies(files, io);
  if (policies === undefined) return EXIT.badInput;
  const engine = createPolicyEngine({ policies });
  if (engine.isErr()) {
    for (const e of engine.error) io.stderr(`${String(e)}\n`);
    return EXIT.badInput;
  }
  const counts = SECURITY_POLICY_KINDS.map(
    (kind) => [kind, policies.filter((p) => p.kind === kind).length] as const,
  );
  const mixed = counts.some(([kind, n]) => kind !== 'AuthorizationPolicy' && n > 0);
  const detail = mixed
    ? ` (${counts
        .filter(([, n]) => n > 0)
        .map(([kind, n]) => `${n} ${kind}`)
        .join(', ')})`
    : '';
  io.stdout(`${policies.length} polic${policies.length === 1 ? 'y' : 'ies'} valid${detail}\n`);
  return EXIT.allow;
}

async function translate(values: CheckValues, io: CliIo): Promise<number> {
  const policies = await loadPolicies(values.file ?? [], io);
  if (policies === undefined) return EXIT.badInput;
  const rootNamespace = values['root-namespace'] ?? 'istio-system';
  const out: Record<string, unknown>[] = policies.map((p) => {
    const t = translateForZtunnel(p, { rootNamespace, enableDryRun: values['enable-dry-run'] === true });
    const policy = policyKey(p);
    const kind = p.kind === 'AuthorizationPolicy' ? {} : { kind: p.kind };
    return t.sent
      ? { policy, sent: true, warning: t.warning, authorization: t.authorization }
      : { policy, ...kind, sent: false, reason: t.reason, message: t.message };
  });
  // What the PeerAuthentications become (istiod's ambient conversion), after the documents themselves.
  const peer = translatePeerAuthenticationsForZtunnel(groupSecurityPolicies(policies).peerAuthentications, {
    rootNamespace,
  });
  for (const authorization of peer.authorizations) {
    const converted = peer.converted.find((c) => c.authorization === authorization);
    out.push({
      policy: `${authorization.namespace}/${authorization.name}`,
      sent: true,
      from:
        converted === undefined
          ? 'PeerAuthentication (static STRICT policy)'
          : `PeerAuthentication ${converted.source}`,
      authorization,
    });
  }
  io.stdout(`${JSON.stringify(out, null, 2)}\n`);
  return EXIT.allow;
}

/**
 * Runs the CLI.
 *
 * @param argv - Arguments after the program name, e.g. `['check', '-f', 'p.yaml', ...]`.
 * @param io - Output sinks.
 * @returns The exit code: 0 allow (or success), 1 deny, 2 bad input.
 * @example
 * ```ts
 * const code = await runCli(['validate', '-f', 'policies.yaml'], { stdout: console.log, stderr: console.error });
 * ```
 */
export async function runCli(argv: readonly string[], io: CliIo): Promise<number> {
  const [command, ...rest] = argv;
  if (command === undefined || command === '--help' || command === '-h' || command === 'help') {
    io.stdout(`${USAGE}\n`);
    return command === undefined ? EXIT.badInput : EXIT.allow;
  }
  try {
    const { values, positionals } = parseArgs({
      args: [...rest],
      options: CHECK_OPTIONS,
      allowPositionals: true,
      strict: true,
    });
    if (values.help === true) {
      io.stdout(`${USAGE}\n`);
      return EXIT.allow;
    }
    if (positionals.length > 0) throw new UsageError(`unexpected argument "${positionals[0]}"`);
    switch (command) {
      case 'check':
        return await check(values, io);
      case 'validate':
        return await validate(values.file ?? [], io);
      case 'translate':
        return await translate(values, io);
      default:
        throw new UsageError(`unknown command "${command}"`);
    }
  } catch (cause) {
    const message = cause instanceof Error ? cause.message : String(cause);
    io.stderr(`${String(new PolicyError('AUTHZ_ERR_USAGE', message))}\n${USAGE}\n`);
    return EXIT.badInput;
  }
}
