/**
 * The demo end to end, as a user runs it: a child process, its printed output and its exit code. The full
 * scenario runs twice: the built-in mesh (then kept running), and one edited mesh file that exercises what
 * follows the file (renamed workloads, a third node, a warning) with `--verbose`. Flags and mesh files the
 * demo refuses before starting anything are answered by its `main` in this process.
 */
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import net from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runInProcess } from '../../ztunnel/test/support/program.js';
import { demoMain } from '../src/cli-options.js';
import { podRequest } from '../src/pod-client.js';
import { ORPHAN_SELECTOR_POLICY, ORPHAN_WARNING } from './support/mesh-texts.js';
import { demoDir, runDemo, startDemo } from './support/run-demo.js';

/** The demo's `main` in this process (flags and files it refuses before starting anything). */
const demoInProcess = (args: readonly string[], env: NodeJS.ProcessEnv = {}) =>
  runInProcess(demoMain, 'demo', args, env);

const builtIn = await readFile(join(demoDir, 'src/mesh.yaml'), 'utf8');
let dir: string;
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'demo-config-'));
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

async function meshFile(name: string, text: string): Promise<string> {
  const path = join(dir, name);
  await writeFile(path, text);
  return path;
}

/** Holds an address, as another program would. */
async function occupy(host: string, port: number): Promise<net.Server> {
  const server = net.createServer();
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => resolve());
  });
  return server;
}

/** No stack trace: no `    at f (file:line)` frames and no `Error:` prefix from an uncaught throw. */
const noStack = (text: string): void => {
  expect(text).not.toMatch(/^\s+at .+:\d+:\d+\)?$/m);
  expect(text).not.toMatch(/node:internal|Node\.js v\d/);
};

describe('npm start (the demo mesh)', () => {
  it('runs the whole scenario with every check passed, then --keep-running says which calls are denied now and logs every denial', {
    timeout: 90_000,
  }, async () => {
    const demo = startDemo(['--ephemeral-ports', '--keep-running']);
    try {
      await demo.waitForStdout(/Denials are logged below as they happen\.\n/);
      const stdout = demo.output.stdout;
      // Nothing on stderr for the whole scenario (a warning or a component's error would be there).
      expect(demo.output.stderr).toBe('');
      expect(stdout).toMatch(/^All \d+ checks passed in [\d.]+ s\.$/m);
      expect(stdout).not.toContain('FAIL');
      // Step 11: the native-HBONE pod's fetch went through the waypoint, not through a ztunnel.
      expect(stdout).toMatch(
        /PASS the native pod went to the reviews waypoint[\s\S]*PASS no ztunnel intercepted productpage-v1/,
      );
      // Every component talks to the control plane over TLS with tokens, and the report shows the ztunnels'
      // certificate requests (one per workload identity of their node, impersonated) and the waypoint's own.
      expect(stdout).toMatch(
        /^control plane {2}delta xDS \+ Istio CA on 127\.0\.0\.1:\d+ \(TLS as istiod\.istio-system\.svc, bearer tokens\)/m,
      );
      for (const [node, sa] of [
        ['node-a', 'sleep'],
        ['node-a', 'notsleep'],
        ['node-b', 'echo'],
      ])
        expect(stdout).toMatch(
          new RegExp(
            `^ +${node} +\\S+ +INFO identity: certificate issued identity="spiffe://cluster\\.local/ns/default/sa/${sa}" expires=`,
            'm',
          ),
        );
      expect(stdout).toMatch(
        /waypoint certificate issued identity="spiffe:\/\/cluster\.local\/ns\/default\/sa\/waypoint" .*\(own token, no impersonation\)/,
      );
      // The story, step by step.
      expect(stdout).toContain(
        "PASS node-b verified the client's SPIFFE ID spiffe://cluster.local/ns/default/sa/sleep",
      );
      expect(stdout).toContain(
        "PASS node-a verified the server's SPIFFE ID spiffe://cluster.local/ns/default/sa/echo",
      );
      expect(stdout).toContain(
        'error="connection closed due to policy rejection: allow policies exist, but none allowed"',
      );
      expect(stdout).toContain('error="http status: 401 Unauthorized"');
      expect(stdout).toContain('HTTP 403: "RBAC: access denied"');
      expect(stdout).toMatch(/"GET \/reviews\/1 HTTP\/1\.1" 200 - via_upstream/);
      expect(stdout).toMatch(/node-b: received the new Authorization resources after \d+ ms/);
      expect(stdout).toContain('explicitly denied by: default/deny-sleep-8080');
      expect(stdout).toMatch(/reporter=destination opened \d+, closed -=\d+ DENY=3/);
      expect(stdout).toContain('PASS node-b: 3 connections failed by policy');
      expect(stdout).toContain('PASS the waypoint answered as the policies say (200: 2, 403: 2)');
      // The L7 steps at the waypoint.
      expect(stdout).toMatch(/PASS 90 % to v1 within ±7 % \(\d+\.\d %\), every request answered/);
      expect(stdout).toMatch(/PASS 50 % to v1 within ±7 % \(\d+\.\d %\), every request answered/);
      expect(stdout).toContain('PASS end-user: jason: all 20 to v2 (route "jason")');
      expect(stdout).toMatch(
        /PASS the delay route holds jason's request 2 s \(measured 2\.\d\d s\), flag DI/,
      );
      expect(stdout).toContain('PASS the abort route answers 500 "fault filter abort" itself, flag FI');
      expect(stdout).toContain('PASS 504 "upstream request timeout" at the route timeout, flag UT');
      expect(stdout).toContain('PASS with retries every request succeeds, some only after a retry');
      expect(stdout).toContain(
        'PASS the circuit breaker trips: overflow answered 503 with flag UO, the admitted requests succeed',
      );
      expect(stdout).toContain('PASS a bad token: 401 "Jwt verification fails"');
      expect(stdout).toContain(
        'PASS a valid token: 200, its subject forwarded as x-user, the token stripped',
      );
      expect(stdout).toContain('PASS a server-streaming call through the waypoint');
      expect(stdout).toMatch(
        /istio_requests_total\{reporter="waypoint",source_workload="sleep",.*destination_workload="reviews-v1",destination_version="v1",destination_service="reviews\.default\.svc\.cluster\.local",request_protocol="http",.*\} \d+/,
      );
      expect(stdout).toContain(
        'PASS istio_requests_total counts every request the waypoint logged, by response code',
      );
      // ztunnel's access log format, as printed.
      expect(stdout).toMatch(
        /\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z {2}INFO access: connection complete src\.addr=127\.0\.1\.10:\d+ /,
      );
      // The calls to try, each with what the mesh now does with it (step 4 left sleep denied at echo).
      const sleepToEcho =
        /curl --socks5-hostname (127\.0\.1\.1:\d+) --interface 127\.0\.1\.10 http:\/\/echo\.default\.svc\.cluster\.local\/hello\n\s+# sleep: denied at L4 by node-b's ztunnel: explicitly denied by: default\/deny-sleep-8080\n/.exec(
          stdout,
        );
      expect(sleepToEcho).not.toBeNull();
      expect(stdout).toMatch(
        /--interface 127\.0\.1\.11 http:\/\/echo\.default\.svc\.cluster\.local\/hello\n\s+# notsleep: allowed\n/,
      );
      expect(stdout).toMatch(
        /--interface 127\.0\.1\.10 -X DELETE http:\/\/reviews\.default\.svc\.cluster\.local:9080\/reviews\/1\n\s+# sleep: denied at L7 by the waypoint/,
      );
      const socks5 = sleepToEcho?.[1] as string;
      const mark = demo.output.stdout.length;
      // Make the calls the printed commands make; each denial shows up in the output.
      const denied = await podRequest({
        podIp: '127.0.1.10',
        socks5,
        host: 'echo.default.svc.cluster.local',
        port: 80,
      });
      expect(denied).toMatchObject({ kind: 'refused', reply: 2 });
      const forbidden = await podRequest({
        podIp: '127.0.1.10',
        socks5,
        host: 'reviews.default.svc.cluster.local',
        port: 9080,
        method: 'DELETE',
        path: '/reviews/1',
      });
      expect(forbidden).toMatchObject({ kind: 'http', status: 403 });
      await demo.waitForStdout(
        /ERROR access: connection complete src\.addr=127\.0\.1\.10:\d+ .*explicitly denied by: default\/deny-sleep-8080"\n/,
        { from: mark },
      );
      await demo.waitForStdout(/waypoint +\[.*\] "DELETE \/reviews\/1 HTTP\/1\.1" 403 /, { from: mark });
      const after = demo.output.stdout.slice(mark);
      expect(after.split('\n').filter((l) => l.includes('explicitly denied by'))).toHaveLength(1);
      demo.child.kill('SIGINT');
      const { code, stderr } = await demo.done;
      // 0: every check passed, and the mesh stopped cleanly on Ctrl-C.
      expect(code).toBe(0);
      expect(stderr).toBe('');
    } finally {
      demo.child.kill('SIGKILL');
    }
  });

  it('prints its built-in mesh file, and refuses an invalid one with exit code 2', {
    timeout: 60_000,
  }, async () => {
    const printed = await demoInProcess(['--print-config']);
    expect(printed.code).toBe(0);
    expect(printed.stdout).toBe(builtIn);

    const bad = await meshFile('bad.yaml', 'workloads:\n  - uid: x\n    workloadIps: ["not an ip"]\n');
    const result = await demoInProcess(['--config', bad, '--ephemeral-ports']);
    expect(result.code).toBe(2);
    expect(result.stderr).toBe(`${bad}: document[0].workloads[0].workloadIps[0]: "not an ip" is not an IP\n`);
    expect(result.stdout).toBe('');
  });

  it('exits 2 promptly, with one line, when an address it needs is taken', { timeout: 120_000 }, async () => {
    // The waypoint's address, then a pod's inbound HBONE address: neither has a fallback, peers dial them.
    for (const [host, component] of [
      ['127.0.2.100', 'waypoint waypoint-8f4d7c6b5-zz9nm'],
      ['127.0.2.10', 'ztunnel node-b'],
    ] as const) {
      const holder = await occupy(host, 15008);
      try {
        const result = await runDemo(['--ephemeral-ports'], { killAfterMs: 40_000 });
        expect(result.code).toBe(2);
        expect(result.stderr).toMatch(
          new RegExp(
            `^the mesh did not start: ${component}: .*listen EADDRINUSE: address already in use ${host.replaceAll('.', '\\.')}:15008\\n$`,
          ),
        );
        // It used to print the error and then hang: now it exits as soon as it said why (everything it
        // started is closed; the program's 3 s drain grace is not needed). A hang is killed at 40 s.
        expect(result.exitAfterStderrMs).toBeLessThan(2000);
        expect(result.elapsedMs).toBeLessThan(30_000);
      } finally {
        await new Promise((resolve) => holder.close(resolve));
      }
    }
  });

  it('takes --config relative to the directory npm was run in (INIT_CWD)', { timeout: 60_000 }, async () => {
    await meshFile('relative.yaml', '# relative\nworkloads: []\n');
    const result = await demoInProcess(['--config', 'relative.yaml', '--print-config'], { INIT_CWD: dir });
    expect(result.code).toBe(0);
    expect(result.stdout).toBe('# relative\nworkloads: []\n');
  });

  it('--config: one line per problem, exit 2, no stack trace', { timeout: 120_000 }, async () => {
    const cases = [
      // A bad enum once, with its path.
      builtIn.replace('protocol: HBONE\n    node: node-a', 'protocol: HBONEX\n    node: node-a'),
      // A file that cannot tell the story: no waypoint.
      builtIn.replace(/\n {4}waypoint: \{ destination: "\/10\.96\.0\.100", hboneMtlsPort: 15008 \}/g, ''),
    ];
    const expected = [
      /^.*: document\[0\]\.workloads\[0\]\.protocol: protocol must be one of TCP, HBONE\n$/,
      /^.*: the scenario needs a service that uses a waypoint .*\n$/,
    ];
    for (const [i, text] of cases.entries()) {
      expect(text).not.toBe(builtIn);
      const result = await demoInProcess([
        '--config',
        await meshFile(`case-${i}.yaml`, text),
        '--ephemeral-ports',
      ]);
      expect(result.code).toBe(2);
      expect(result.stderr).toMatch(expected[i] as RegExp);
      expect(result.stdout).toBe('');
    }
    const missing = await demoInProcess(['--config', join(dir, 'nope.yaml')]);
    expect(missing.code).toBe(2);
    expect(missing.stderr).toBe(`demo: --config: cannot read ${join(dir, 'nope.yaml')}: ENOENT\n`);
    const flag = await demoInProcess(['--keep-runing']);
    expect(flag.code).toBe(2);
    expect(flag.stderr).toBe(`demo: Unknown option '--keep-runing'\n`);
    for (const r of [missing, flag]) noStack(r.stderr);
    // And as a real process: the one line, the exit code.
    const spawned = await runDemo(['--keep-runing']);
    expect(spawned).toMatchObject({ code: 2, stderr: `demo: Unknown option '--keep-runing'\n`, stdout: '' });
  });

  it('runs an edited mesh green: renamed workloads (the checks follow the file), a third node, a warning once about a selector policy no workload lists, and --verbose prints each access log line once', {
    timeout: 90_000,
  }, async () => {
    const renamed = builtIn
      .replaceAll('sleep-6d8bcd654d-t88gp', 'client-1')
      .replace('workloadName: sleep\n', 'workloadName: client\n')
      .replace('workloadName: notsleep', 'workloadName: intruder');
    expect(renamed).not.toBe(builtIn);
    // A third node with a pod, a service with its own L4 ALLOW (listed), and a selector policy nobody lists.
    const extended = renamed
      .replace(
        '\nservices:\n',
        `  - uid: Kubernetes//Pod/default/ratings-5d9b7c8f6-abcde
    name: ratings-5d9b7c8f6-abcde
    namespace: default
    serviceAccount: ratings
    workloadName: ratings
    workloadIps: ["127.0.3.10"]
    protocol: HBONE
    node: node-c
    authorizationPolicies: ["default/ratings-allow-reviews"]
    services:
      "default/ratings.default.svc.cluster.local": { 9080: 9080 }

services:
`,
      )
      .replace(
        '    ports: { 15008: 15008 }\n---\n',
        `    ports: { 15008: 15008 }
  - name: ratings
    namespace: default
    hostname: ratings.default.svc.cluster.local
    vips: ["/10.96.0.30"]
    ports: { 9080: 9080 }
---
`,
      )
      .concat(`---
apiVersion: security.istio.io/v1
kind: AuthorizationPolicy
metadata: { name: ratings-allow-reviews, namespace: default }
spec:
  selector: { matchLabels: { app: ratings } }
  action: ALLOW
  rules: [{ from: [{ source: { principals: ["cluster.local/ns/default/sa/reviews"] } }] }]
`)
      .concat(ORPHAN_SELECTOR_POLICY);
    expect(extended.match(/ratings/g)?.length).toBeGreaterThan(8);
    const file = await meshFile('edited.yaml', extended);
    const { code, stdout, stderr } = await runDemo(['--config', file, '--ephemeral-ports', '--verbose']);
    // --verbose puts the components' logs on stdout: stderr holds the warning, once.
    expect(stderr).toBe(`${file}: warning: ${ORPHAN_WARNING}\n`);
    expect(stdout).not.toContain('FAIL');
    expect(code).toBe(0);
    expect(stdout).toMatch(/^All \d+ checks passed in [\d.]+ s\.$/m);
    expect(stdout).toContain('client (node-a, 127.0.1.10) calls echo.default.svc.cluster.local');
    expect(stdout).toContain('intruder GET http://echo.default.svc.cluster.local/hello <- refused');
    expect(stdout).toContain('ztunnel node-c');
    expect(stdout).toContain(
      "PASS node-c: config_dump holds the control plane's 9 workloads and 5 L4 policies",
    );
    // Every access log line, printed once: ztunnel lines and waypoint lines.
    const ztunnel = stdout.split('\n').filter((l) => /access: connection complete/.test(l));
    // Up to step 11 (native HBONE), whose one request comes after step 10 counted the waypoint's requests.
    const upToNative = stdout.split('\n== 11.')[0] as string;
    const waypoint = upToNative.split('\n').filter((l) => /^waypoint +\[.*\] "[A-Z]+ /.test(l));
    const key = (l: string): string => l.replace(/^\S+\s+/, '');
    expect(new Set(ztunnel.map(key)).size).toBe(ztunnel.length);
    expect(new Set(waypoint.map(key)).size).toBe(waypoint.length);
    // At least as many as the ztunnels said they had logged by step 5 (the L7 steps log more after it), and
    // every request the waypoint counted in istio_requests_total.
    const counted = [...stdout.matchAll(/access log: (\d+) lines/g)].reduce((n, m) => n + Number(m[1]), 0);
    expect(ztunnel.length).toBeGreaterThanOrEqual(counted);
    const requests = /istio_requests_total by response_code: (.*)$/m
      .exec(stdout)?.[1]
      ?.split(', ')
      .reduce((n, part) => n + Number(part.split(': ')[1]), 0);
    expect(waypoint.length).toBe(requests);
  });
});
