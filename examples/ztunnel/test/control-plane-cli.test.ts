/**
 * The ztunnel program's control-plane settings, as ztunnel reads them (istio/ztunnel@62d82653:src/config.rs):
 * `CA_ADDRESS`, `XDS_ADDRESS`, `CA_ROOT_CA`, `XDS_ROOT_CA`, `AUTH_TOKEN`, `ISTIO_META_CLUSTER_ID`, `ALT_*_HOSTNAME`,
 * `SECRET_TTL`, with matching flags; every bad value one line and exit 2; and the program run against the
 * `ambient-control-plane` program (istiod's plug-in CA layout made by OpenSSL, a token file), both real
 * processes, over TLS with tokens.
 */
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  makeCacerts,
  startProgram as startControlPlaneProgram,
} from '../../../packages/control-plane/test/support/pki.js';
import { parseZtunnelArgs, ztunnelMain } from '../src/cli-options.js';
import { parseControlPlaneFlags, parseDurationMs, parseXdsEndpoint } from '../src/control-plane-flags.js';
import { UsageError } from '../src/program.js';
import { hasStackTrace, runInProcess, runProgramToEnd, startProgram } from './support/program.js';

const workspace = new URL('..', import.meta.url).pathname;
let base_: string;
let dir: string;
beforeAll(async () => {
  base_ = await mkdtemp(join(tmpdir(), 'ztunnel-cp-cli-'));
  dir = join(base_, 'main');
  await mkdir(dir);
});
afterAll(async () => {
  await rm(base_, { recursive: true, force: true });
});

const usage = (fn: () => unknown): string => {
  try {
    fn();
  } catch (error) {
    expect(error).toBeInstanceOf(UsageError);
    return (error as Error).message;
  }
  throw new Error('no UsageError');
};

describe('control-plane settings from flags and ztunnel environment variables', () => {
  it('defaults as ztunnel: istiod on localhost:15012 (in a cluster, istiod.istio-system.svc:15012), its root and token paths', () => {
    const s = parseControlPlaneFlags({}, { INIT_CWD: '/home/me' });
    expect(s).toEqual({
      ca: {
        kind: 'istio',
        address: 'localhost:15012',
        rootCaFile: '/home/me/var/run/secrets/istio/root-cert.pem',
        altHostname: undefined,
      },
      xdsTls: { rootCertificatesFile: '/home/me/var/run/secrets/istio/root-cert.pem' },
      // ./var/run/secrets/tokens/istio-token does not exist there: no token (ztunnel's AuthSource::None).
      auth: undefined,
      clusterId: 'Kubernetes',
      secretTtlMs: 24 * 3600_000,
    });
    expect(parseControlPlaneFlags({}, { KUBERNETES_SERVICE_HOST: '10.96.0.1' }).ca).toMatchObject({
      address: 'istiod.istio-system.svc:15012',
    });
  });

  it('reads CA_ADDRESS, CA_ROOT_CA, XDS_ROOT_CA, ALT_*_HOSTNAME, AUTH_TOKEN, ISTIO_META_CLUSTER_ID, SECRET_TTL; flags win', async () => {
    const tokenFile = join(dir, 'env-token');
    await writeFile(tokenFile, 'abc');
    const env = {
      INIT_CWD: dir,
      CA_ADDRESS: 'https://istiod.example:15012',
      CA_ROOT_CA: 'ca-root.pem',
      XDS_ROOT_CA: '/etc/xds-root.pem',
      ALT_CA_HOSTNAME: 'istiod.istio-system.svc',
      ALT_XDS_HOSTNAME: 'istiod-xds.istio-system.svc',
      AUTH_TOKEN: 'env-token',
      ISTIO_META_CLUSTER_ID: 'cluster-1',
      CLUSTER_ID: 'ignored',
      SECRET_TTL: '1h30m',
    };
    expect(parseControlPlaneFlags({}, env)).toEqual({
      ca: {
        kind: 'istio',
        address: 'https://istiod.example:15012',
        rootCaFile: join(dir, 'ca-root.pem'),
        altHostname: 'istiod.istio-system.svc',
      },
      xdsTls: { rootCertificatesFile: '/etc/xds-root.pem', altHostname: 'istiod-xds.istio-system.svc' },
      auth: { tokenFile: tokenFile },
      clusterId: 'cluster-1',
      secretTtlMs: 5_400_000,
    });
    // AUTH_TOKEN naming no file is the token itself, as ztunnel reads it; CLUSTER_ID is the fallback.
    expect(parseControlPlaneFlags({}, { AUTH_TOKEN: 'literal-token', CLUSTER_ID: 'c2' })).toMatchObject({
      auth: { token: 'literal-token' },
      clusterId: 'c2',
    });
    const flags = parseControlPlaneFlags(
      { 'ca-address': '127.0.0.1:15012', token: 'tok', 'cluster-id': 'c3', 'secret-ttl': '30s' },
      env,
    );
    expect(flags).toMatchObject({
      ca: { address: '127.0.0.1:15012' },
      auth: { tokenFile: join(dir, 'tok') },
      clusterId: 'c3',
      secretTtlMs: 30_000,
    });
    // The default token path, relative to where the program was started, when it exists.
    await mkdir(join(dir, 'var/run/secrets/tokens'), { recursive: true });
    await writeFile(join(dir, 'var/run/secrets/tokens/istio-token'), 'x');
    expect(parseControlPlaneFlags({}, { INIT_CWD: dir }).auth).toEqual({
      tokenFile: join(dir, 'var/run/secrets/tokens/istio-token'),
    });
  });

  it('--ca-dir is the testing CA; --xds is TLS unless http://', () => {
    expect(parseControlPlaneFlags({ 'ca-dir': 'ca' }, { INIT_CWD: '/w' }).ca).toEqual({
      kind: 'dir',
      dir: '/w/ca',
    });
    expect(parseXdsEndpoint('--xds', 'istiod:15012')).toEqual({ target: 'istiod:15012', tls: true });
    expect(parseXdsEndpoint('--xds', 'https://[::1]:15012')).toEqual({ target: '[::1]:15012', tls: true });
    expect(parseXdsEndpoint('--xds', 'http://127.0.0.1:15010')).toEqual({
      target: '127.0.0.1:15010',
      tls: false,
    });
    expect(parseDurationMs('--secret-ttl', '24h')).toBe(86_400_000);
  });

  it('refuses bad values with one line', () => {
    expect(usage(() => parseControlPlaneFlags({ 'ca-dir': 'a', 'ca-address': 'b:1' }, {}))).toBe(
      '--ca-dir and --ca-address exclude each other: give one',
    );
    expect(usage(() => parseControlPlaneFlags({ 'ca-address': 'istiod' }, {}))).toBe(
      '--ca-address: expected host:port or https://host:port, got "istiod"',
    );
    expect(usage(() => parseControlPlaneFlags({}, { CA_ADDRESS: 'http://istiod:15012' }))).toBe(
      'CA_ADDRESS: expected host:port or https://host:port, got "http://istiod:15012"',
    );
    expect(usage(() => parseControlPlaneFlags({ 'secret-ttl': '1d' }, {}))).toBe(
      '--secret-ttl: expected a duration such as 24h, 90m or 30s, got "1d"',
    );
    expect(usage(() => parseControlPlaneFlags({}, { SECRET_TTL: '500ms' }))).toBe(
      'SECRET_TTL: expected 1s to 2160h, got "500ms"',
    );
    expect(usage(() => parseControlPlaneFlags({ 'cluster-id': 'a b' }, {}))).toBe(
      '--cluster-id: expected a printable name, got "a b"',
    );
    expect(usage(() => parseControlPlaneFlags({ 'ca-hostname': 'not a name' }, {}))).toBe(
      '--ca-hostname: expected a DNS name, got "not a name"',
    );
    expect(usage(() => parseControlPlaneFlags({ token: '' }, {}))).toBe('--token: expected a file, got ""');
    expect(usage(() => parseZtunnelArgs(['--node', 'n'], { XDS_ADDRESS: 'ftp://x:1' }))).toBe(
      'XDS_ADDRESS: expected host:port or https://host:port or http://host:port, got "ftp://x:1"',
    );
  });
});

describe('the ztunnel program and its control plane', () => {
  it('answers every control-plane mistake with one line and exit code 2', { timeout: 120_000 }, async () => {
    // A directory of its own: no ./var/run/secrets/tokens/istio-token in it.
    const dir = join(base_, 'cli');
    await mkdir(dir, { recursive: true });
    await writeFile(
      join(dir, 'mesh.yaml'),
      'workloads:\n  - uid: Kubernetes//Pod/default/a\n    name: a\n    namespace: default\n    workloadIps: ["127.0.89.10"]\n    protocol: HBONE\n    node: n\n',
    );
    await writeFile(join(dir, 'not-a-cert.pem'), 'hello\n');
    await writeFile(join(dir, 'empty-token'), '');
    const cacerts = await makeCacerts(join(dir, 'cli-cacerts'));
    const root = join(cacerts.dir, 'root-cert.pem');
    await writeFile(join(dir, 'token'), 'tok');
    const base = [
      '--node',
      'n',
      '--config',
      'mesh.yaml',
      '--ephemeral-ports',
      '--node-address',
      '127.0.89.1',
    ];
    const env = { INIT_CWD: dir };
    const cases: [readonly string[], NodeJS.ProcessEnv, string][] = [
      [
        base,
        env,
        `ztunnel: --ca-root-ca (CA_ROOT_CA) ${join(dir, 'var/run/secrets/istio/root-cert.pem')}: ENOENT: no such file or directory, open '${join(dir, 'var/run/secrets/istio/root-cert.pem')}'\n`,
      ],
      [
        [...base, '--ca-root-ca', 'not-a-cert.pem'],
        env,
        `ztunnel: --ca-root-ca (CA_ROOT_CA) ${join(dir, 'not-a-cert.pem')}: no PEM certificate in it\n`,
      ],
      [
        [...base, '--ca-root-ca', root],
        env,
        'ztunnel: no token for the CA: give --token <file> or AUTH_TOKEN (./var/run/secrets/tokens/istio-token does not exist)\n',
      ],
      [
        [...base, '--ca-root-ca', root, '--token', 'empty-token'],
        env,
        `ztunnel: --token (AUTH_TOKEN) ${join(dir, 'empty-token')}: the file is empty\n`,
      ],
      [
        ['--node', 'n', '--xds', '127.0.0.1:15012', '--ca-root-ca', root, '--token', 'token'],
        { ...env, XDS_ROOT_CA: 'no-such-root.pem' },
        `ztunnel: --xds-root-ca (XDS_ROOT_CA) ${join(dir, 'no-such-root.pem')}: ENOENT: no such file or directory, open '${join(dir, 'no-such-root.pem')}'\n`,
      ],
      [
        [...base, '--ca-address', 'istiod'],
        env,
        'ztunnel: --ca-address: expected host:port or https://host:port, got "istiod"\n',
      ],
      [
        [...base, '--ca-dir', 'ca', '--ca-address', 'a:1'],
        env,
        'ztunnel: --ca-dir and --ca-address exclude each other: give one\n',
      ],
      [
        [...base, '--secret-ttl', 'forever'],
        env,
        'ztunnel: --secret-ttl: expected a duration such as 24h, 90m or 30s, got "forever"\n',
      ],
    ];
    // In this process (main as the program runs it), but the one that reads its environment for the xDS
    // server's root: a real process, so its exit is checked, not only its code.
    const spawnedCase = 4;
    expect(cases[spawnedCase]?.[0]).toContain('--xds');
    for (const [i, [args, e, stderr]] of cases.entries()) {
      const result =
        i === spawnedCase
          ? await runProgramToEnd(workspace, args, { env: e })
          : await runInProcess(ztunnelMain, 'ztunnel', args, e);
      expect({ args, stderr: result.stderr }).toEqual({ args, stderr });
      expect(result.code).toBe(2);
      expect(hasStackTrace(result.stderr)).toBe(false);
    }
  });

  it('with no CA answering: warns on each failed request with the reason, and SIGTERM still ends it at once', {
    timeout: 60_000,
  }, async () => {
    const cacerts = await makeCacerts(join(dir, 'down-cacerts'));
    await writeFile(join(dir, 'down-token'), 'tok');
    await writeFile(
      join(dir, 'down-mesh.yaml'),
      'workloads:\n  - { uid: Kubernetes//Pod/default/sleep, name: sleep, namespace: default, serviceAccount: sleep, workloadIps: ["127.0.90.10"], protocol: HBONE, node: n }\n',
    );
    // 127.0.0.1:9 (discard): nothing listens there.
    const z = startProgram(
      workspace,
      [
        ...[
          '--node',
          'n',
          '--config',
          join(dir, 'down-mesh.yaml'),
          '--ephemeral-ports',
          '--node-address',
          '127.0.90.1',
        ],
        ...[
          '--ca-address',
          '127.0.0.1:9',
          '--ca-root-ca',
          join(cacerts.dir, 'root-cert.pem'),
          '--token',
          join(dir, 'down-token'),
        ],
        ...['--drain-ms', '1000'],
      ],
      { env: { INIT_CWD: dir } },
    );
    try {
      await z.waitForStdout(
        /WARN identity: CA request failed identity="spiffe:\/\/cluster\.local\/ns\/default\/sa\/sleep" error=".*(UNAVAILABLE|ECONNREFUSED)/,
        {
          timeoutMs: 30_000,
        },
      );
      const t0 = performance.now();
      z.child.kill('SIGTERM');
      const run = await z.done;
      expect(run.code).toBe(0);
      expect(performance.now() - t0).toBeLessThan(8000);
      expect(run.stdout).toMatch(/INFO ztunnel: received signal SIGTERM, starting shutdown/);
      expect(run.stderr).toBe('');
    } finally {
      await z.stop();
    }
  });

  it('runs against the ambient-control-plane program with ztunnel env names: TLS xDS, token, CSR per workload', {
    timeout: 120_000,
  }, async () => {
    const cacerts = await makeCacerts(join(dir, 'cacerts'));
    const mesh = join(dir, 'cp-mesh.yaml');
    await writeFile(
      mesh,
      `workloads:
- uid: Kubernetes//Pod/default/sleep
  name: sleep
  namespace: default
  serviceAccount: sleep
  workloadIps: ["127.47.1.10"]
  protocol: HBONE
  node: node-a
- uid: Kubernetes//Pod/default/echo
  name: echo
  namespace: default
  serviceAccount: echo
  workloadIps: ["127.47.2.10"]
  protocol: HBONE
  node: node-b
`,
    );
    const tokens = join(dir, 'tokens');
    await writeFile(tokens, 'node-a-token istio-system/ztunnel node-a\n');
    const tokenFile = join(dir, 'istio-token');
    await writeFile(tokenFile, 'node-a-token');
    const cp = startControlPlaneProgram([
      '--listen',
      '127.0.0.1:0',
      '--cacerts',
      cacerts.dir,
      '--tokens',
      tokens,
      '--mesh',
      mesh,
    ]);
    let ztunnel: ReturnType<typeof startProgram> | undefined;
    try {
      const port = Number((await cp.waitFor(/listening on 127\.0\.0\.1:(\d+) \(TLS/))[1]);
      ztunnel = startProgram(workspace, ['--ephemeral-ports', '--node-address', '127.47.1.1'], {
        env: {
          NODE_NAME: 'node-a',
          // A name, not an IP: Node refuses an IP as the TLS server name (RFC 6066), and grpc-js sends the
          // target's host unless told otherwise; ALT_XDS_HOSTNAME is what the certificate is checked against.
          XDS_ADDRESS: `localhost:${port}`,
          CA_ADDRESS: `127.0.0.1:${port}`,
          CA_ROOT_CA: join(cacerts.dir, 'root-cert.pem'),
          XDS_ROOT_CA: join(cacerts.dir, 'root-cert.pem'),
          ALT_CA_HOSTNAME: 'istiod.istio-system.svc',
          ALT_XDS_HOSTNAME: 'istiod.istio-system.svc',
          AUTH_TOKEN: tokenFile,
          ISTIO_META_CLUSTER_ID: 'Kubernetes',
        },
      });
      await ztunnel.waitForStdout(
        /certificate issued identity="spiffe:\/\/cluster\.local\/ns\/default\/sa\/sleep"/,
        {
          timeoutMs: 60_000,
        },
      );
      const out = ztunnel.output.stdout;
      expect(out).toMatch(
        /INFO identity: certificates from the Istio CA at 127\.0\.0\.1:\d+ cluster_id="Kubernetes" secret_ttl_ms=86400000/,
      );
      expect(out).toMatch(/INFO xds: connected address=localhost:\d+/);
      // node-b's workload is not this node's: no certificate asked for it.
      expect(out).not.toContain('sa/echo');
      expect(out).not.toMatch(/ WARN /);
      expect(await ztunnel.stop()).toBe(0);
      expect(ztunnel.output.stderr).toBe('');
    } finally {
      if (ztunnel !== undefined && ztunnel.child.exitCode === null) ztunnel.child.kill('SIGKILL');
      cp.kill('SIGKILL');
    }
  });
});
