// The ambient-authz CLI: exit code 0 allow, 1 deny, 2 bad input. The cases run `runCli` in-process (what the
// bin calls with process.argv and the process streams); one case spawns the bin itself from its TypeScript
// source, to show that wiring (exit code, streams, stdin) end to end.
import { spawn } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runCli } from '../src/cli/run-cli.js';
import { jwksOf, makeKey, sign } from './jwt-support.js';
import { policy } from './support.js';

const CLI = fileURLToPath(new URL('../src/cli/main.ts', import.meta.url));
const PACKAGE_DIR = fileURLToPath(new URL('..', import.meta.url));

interface Run {
  code: number | null;
  stdout: string;
  stderr: string;
}

async function run(args: string[], stdin?: string): Promise<Run> {
  let stdout = '';
  let stderr = '';
  const code = await runCli(args, {
    stdout: (text) => {
      stdout += text;
    },
    stderr: (text) => {
      stderr += text;
    },
    stdin: async () => stdin ?? '',
  });
  return { code, stdout, stderr };
}

function spawnBin(args: string[], stdin: string): Promise<Run> {
  return new Promise((resolve, reject) => {
    const child = spawn(
      process.execPath,
      ['--import', 'tsx', '--conditions=@ambient-kit/source', CLI, ...args],
      { cwd: PACKAGE_DIR, stdio: ['pipe', 'pipe', 'pipe'] },
    );
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (c: Buffer) => {
      stdout += c.toString();
    });
    child.stderr.on('data', (c: Buffer) => {
      stderr += c.toString();
    });
    child.on('error', reject);
    child.on('close', (code) => resolve({ code, stdout, stderr }));
    child.stdin.end(stdin);
  });
}

let dir: string;
let file: string;
let bad: string;
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'authz-cli-'));
  file = join(dir, 'policies.yaml');
  bad = join(dir, 'bad.yaml');
  await writeFile(
    file,
    policy(
      'foo/httpbin',
      `selector: {matchLabels: {app: httpbin}}
rules:
- from: [{source: {principals: ["cluster.local/ns/foo/sa/sleep"]}}]
  to: [{operation: {methods: ["GET"], paths: ["/info*"]}}]`,
    ) + policy('foo/deny-admin', 'action: DENY\nrules: [{to: [{operation: {paths: ["/admin"]}}]}]'),
  );
  await writeFile(
    bad,
    policy('foo/broken', 'action: DENY\nrules: [{from: [{source: {ipBlocks: ["1.2.3.4/40"]}}]}]'),
  );
});
afterAll(() => rm(dir, { recursive: true, force: true }));

const base = ['check', '--workload', 'foo', '--label', 'app=httpbin'];

describe('ambient-authz check', () => {
  it('exit 0 and the deciding policy and rule when allowed', async () => {
    const r = await run([
      ...base,
      '-f',
      file,
      '--from',
      'spiffe://cluster.local/ns/foo/sa/sleep',
      '--method',
      'GET',
      '--path',
      '/info/x',
    ]);
    expect(r.code).toBe(0);
    expect(r.stdout).toContain('ALLOW: allowed by ALLOW policy foo/httpbin');
    expect(r.stdout).toContain('decided by: foo/httpbin rule 0');
    expect(r.stdout).toMatch(/✓ foo\/httpbin\s+ALLOW\s+applies, rule 0 matched/);
  });

  it('exit 1 when denied, with the explain trace', async () => {
    const r = await run([
      ...base,
      '-f',
      file,
      '--from',
      'spiffe://cluster.local/ns/foo/sa/sleep',
      '--method',
      'GET',
      '--path',
      '/admin',
    ]);
    expect(r.code).toBe(1);
    expect(r.stdout).toContain('DENY: denied by DENY policy foo/deny-admin');
    expect(r.stdout).toContain('decided by: foo/deny-admin rule 0');
    const plaintext = await run([...base, '-f', file, '--plaintext', '--method', 'GET', '--path', '/info']);
    expect(plaintext.code).toBe(1);
    expect(plaintext.stdout).toContain('no single policy');
  });

  it('--kind ztunnel applies the L4 translation (the HTTP rule is dropped: deny)', async () => {
    const r = await run([
      ...base,
      '--kind',
      'ztunnel',
      '-f',
      file,
      '--from',
      'spiffe://cluster.local/ns/foo/sa/sleep',
      '--json',
    ]);
    expect(r.code).toBe(1);
    const out = JSON.parse(r.stdout) as {
      decision: { allow: boolean };
      policies: { policy: string; notes: string[] }[];
    };
    expect(out.decision.allow).toBe(false);
    expect(out.policies.find((p) => p.policy === 'foo/httpbin')?.notes[0]).toContain(
      'ztunnel does not support HTTP attributes',
    );
  });

  it('exit 2 for an invalid policy file, a missing file, bad flags or a bad address', async () => {
    const invalid = await run([...base, '-f', bad]);
    expect(invalid.code).toBe(2);
    expect(invalid.stderr).toContain('bad CIDR range (1.2.3.4/40)');
    expect((await run([...base, '-f', join(dir, 'missing.yaml')])).code).toBe(2);
    expect((await run([...base, '-f', file, '--bogus'])).code).toBe(2);
    expect((await run(['check', '-f', file])).code).toBe(2);
    const ip = await run([...base, '-f', file, '--source-ip', '999.1.1.1']);
    expect(ip.code).toBe(2);
    expect(ip.stderr).toContain('AUTHZ_ERR_USAGE');
    expect((await run([...base, '-f', file, '--from', 'cluster.local/ns/foo/sa/sleep'])).code).toBe(2);
    expect((await run(['frobnicate'])).code).toBe(2);
  });

  it('reads policies from stdin with -f -', async () => {
    const r = await run([...base, '-f', '-', '--method', 'GET'], policy('foo/all', 'rules: [{}]'));
    expect(r.code).toBe(0);
  });

  it('the bin itself: argv, stdin, stdout and the exit code of a spawned process', async () => {
    const deny = policy('foo/deny-get', 'action: DENY\nrules: [{to: [{operation: {methods: ["GET"]}}]}]');
    const r = await spawnBin([...base, '-f', '-', '--method', 'GET'], deny);
    expect(r.code).toBe(1);
    expect(r.stdout).toContain('DENY: denied by DENY policy foo/deny-get');
  });
});

describe('ambient-authz validate / translate', () => {
  it('validate: 0 for valid files, 2 with every error for invalid ones', async () => {
    const ok = await run(['validate', '-f', file]);
    expect(ok).toMatchObject({ code: 0 });
    expect(ok.stdout).toContain('2 policies valid');
    const r = await run(['validate', '-f', file, '-f', bad]);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain('foo/broken: spec.rules[0].from[0].source.ipBlocks[0]');
  });

  it('translate prints what istiod sends ztunnel', async () => {
    const r = await run(['translate', '-f', file]);
    expect(r.code).toBe(0);
    const out = JSON.parse(r.stdout) as {
      policy: string;
      sent: boolean;
      authorization?: { scope: string; groups: unknown[] };
    }[];
    expect(out.map((p) => [p.policy, p.authorization?.scope, p.authorization?.groups.length])).toEqual([
      ['foo/httpbin', 'WorkloadSelector', 0],
      ['foo/deny-admin', 'Namespace', 1],
    ]);
  });
});

describe('ambient-authz with RequestAuthentication and PeerAuthentication documents', () => {
  const NOW = 1_700_000_000;
  let mixed: string;
  let token: string;
  let expired: string;
  beforeAll(async () => {
    const key = await makeKey('ES256', 'k1');
    token = await sign(key, { claims: { iss: 'https://issuer.example', sub: 'alice', exp: NOW + 60 } });
    expired = await sign(key, { claims: { iss: 'https://issuer.example', sub: 'alice', exp: NOW - 120 } });
    mixed = join(dir, 'mixed.yaml');
    await writeFile(
      mixed,
      `apiVersion: security.istio.io/v1
kind: RequestAuthentication
metadata: {name: jwt, namespace: foo}
spec:
  selector: {matchLabels: {app: httpbin}}
  jwtRules:
  - issuer: https://issuer.example
    jwks: '${jwksOf(key)}'
---
apiVersion: security.istio.io/v1
kind: PeerAuthentication
metadata: {name: default, namespace: istio-system}
spec: {mtls: {mode: STRICT}}
---
${policy('foo/require-jwt', 'selector: {matchLabels: {app: httpbin}}\nrules: [{from: [{source: {requestPrincipals: ["https://issuer.example/*"]}}]}]')}`,
    );
  });
  const from = ['--from', 'spiffe://cluster.local/ns/foo/sa/sleep', '--now', String(NOW * 1000)];

  it('check verifies the token given with --header or --query, then authorizes', async () => {
    const ok = await run([...base, '-f', mixed, ...from, '--header', `authorization: Bearer ${token}`]);
    expect(ok.code).toBe(0);
    expect(ok.stdout).toContain(
      'request principal: https://issuer.example/alice (RequestAuthentication foo/jwt)',
    );
    const query = await run([
      ...base,
      '-f',
      mixed,
      ...from,
      '--path',
      '/x',
      '--query',
      `access_token=${token}`,
    ]);
    expect(query.code).toBe(0);
    const none = await run([...base, '-f', mixed, ...from]);
    expect(none.code).toBe(1);
    expect(none.stdout).toContain('request principal: none (no token)');
    const bad = await run([...base, '-f', mixed, ...from, '--header', `authorization: Bearer ${expired}`]);
    expect(bad.code).toBe(1);
    expect(bad.stdout).toContain('DENY: RequestAuthentication: Jwt is expired (HTTP 401');
  });

  it('check: STRICT refuses plaintext before anything else', async () => {
    const r = await run([
      ...base,
      '-f',
      mixed,
      '--plaintext',
      '--header',
      `authorization: Bearer ${token}`,
      '--now',
      String(NOW * 1000),
    ]);
    expect(r.code).toBe(1);
    expect(r.stdout).toContain('refused by PeerAuthentication istio-system/default (mode STRICT)');
  });

  it('validate counts each kind; a document of another kind is reported by kind and name', async () => {
    const ok = await run(['validate', '-f', mixed]);
    expect(ok.stdout).toContain(
      '3 policies valid (1 AuthorizationPolicy, 1 RequestAuthentication, 1 PeerAuthentication)',
    );
    const other = join(dir, 'other.yaml');
    await writeFile(
      other,
      'apiVersion: networking.istio.io/v1\nkind: Gateway\nmetadata: {name: gw, namespace: foo}\nspec: {}\n',
    );
    const r = await run(['validate', '-f', other]);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain('foo/gw: kind: ');
    expect(r.stderr).toContain('kind Gateway (networking.istio.io/v1) is not handled by @ambient-kit/authz');
  });

  it('translate adds the PeerAuthentication-derived policies', async () => {
    const r = await run(['translate', '-f', mixed]);
    const out = JSON.parse(r.stdout) as { policy: string; sent: boolean; reason?: string; from?: string }[];
    expect(out.map((p) => [p.policy, p.sent, p.reason ?? p.from ?? ''])).toEqual([
      ['foo/jwt', false, 'request-authentication'],
      ['istio-system/default', false, 'peer-authentication'],
      ['foo/require-jwt', true, ''],
      ['istio-system/istio_converted_static_strict', true, 'PeerAuthentication (static STRICT policy)'],
    ]);
  });
});
