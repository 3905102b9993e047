import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, relative } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runUnprivileged } from '../../../test-support/unprivileged.js';
import { parseZtunnelArgs, ztunnelMain } from '../src/cli-options.js';
import { defaultCaDir, oneOf, parseFlags, UsageError, userPath } from '../src/program.js';
import { hasStackTrace, runInProcess, runProgramToEnd } from './support/program.js';

const workspace = new URL('..', import.meta.url).pathname;
const repoRoot = new URL('../../..', import.meta.url).pathname;
let dir: string;
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'ztunnel-cli-'));
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
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

describe('program helpers', () => {
  it('resolves user paths against INIT_CWD (where npm was run), not the workspace', () => {
    expect(userPath('mesh.yaml', { INIT_CWD: '/home/me/work' })).toBe('/home/me/work/mesh.yaml');
    expect(userPath('/etc/mesh.yaml', { INIT_CWD: '/home/me' })).toBe('/etc/mesh.yaml');
    expect(userPath('mesh.yaml', {})).toBe(join(process.cwd(), 'mesh.yaml'));
  });

  it('puts the shared CA under XDG_STATE_HOME or ~/.local/state, outside the working tree', () => {
    expect(defaultCaDir('cluster.local', { XDG_STATE_HOME: '/var/lib/me' })).toBe(
      '/var/lib/me/ambient-kit/ca/cluster.local',
    );
    // A relative XDG_STATE_HOME is invalid (XDG Base Directory spec) and ignored.
    const fallback = defaultCaDir('cluster.local', { XDG_STATE_HOME: 'state' });
    expect(fallback).toMatch(/\/\.local\/state\/ambient-kit\/ca\/cluster\.local$/);
    for (const path of [fallback, defaultCaDir('cluster.local', {})]) {
      expect(relative(repoRoot, path).startsWith('..')).toBe(true);
    }
  });

  it('turns parseArgs and enum mistakes into one-line usage errors', () => {
    expect(usage(() => parseFlags({ a: { type: 'string' } }, ['--b']))).toBe("Unknown option '--b'");
    expect(usage(() => parseFlags({ a: { type: 'string' } }, ['--a']))).toBe(
      "Option '--a <value>' argument missing",
    );
    expect(usage(() => oneOf('--mode', 'foo', ['loopback', 'inpod']))).toBe(
      '--mode: expected loopback or inpod, got "foo"',
    );
  });
});

describe('parseZtunnelArgs', () => {
  const base = ['--node', 'node-a', '--config', 'mesh.yaml'];
  const env = { INIT_CWD: '/home/me', XDG_STATE_HOME: '/state' };

  it('resolves every path flag against INIT_CWD', () => {
    const options = parseZtunnelArgs(
      [
        ...base,
        '--mode',
        'inpod',
        '--zds',
        'run/zds.sock',
        '--inpod',
        'uid-1=netns/pod',
        '--inpod',
        'uid-2=pod-b',
      ],
      env,
    );
    expect(options.workloads).toEqual({ config: '/home/me/mesh.yaml' });
    expect(options.controlPlane.ca).toEqual({
      kind: 'istio',
      address: 'localhost:15012',
      rootCaFile: '/home/me/var/run/secrets/istio/root-cert.pem',
      altHostname: undefined,
    });
    expect(options.zds).toBe('/home/me/run/zds.sock');
    // A bare name is a namespace under /var/run/netns, not a path.
    expect(options.inpod).toEqual([
      { uid: 'uid-1', netns: '/home/me/netns/pod' },
      { uid: 'uid-2', netns: 'pod-b' },
    ]);
    expect(parseZtunnelArgs([...base, '--ca-dir', 'ca'], env).controlPlane.ca).toEqual({
      kind: 'dir',
      dir: '/home/me/ca',
    });
  });

  it("in-pod mode takes its pods from ZDS at ztunnel's default socket (INPOD_UDS), DNS capture on", () => {
    const inpod = parseZtunnelArgs([...base, '--mode', 'inpod'], env);
    expect(inpod).toMatchObject({
      zds: '/var/run/ztunnel/ztunnel.sock',
      dnsCapture: true,
      dnsUpstreams: undefined,
      drainMs: 5000,
      preserveSourceIp: undefined,
    });
    expect(parseZtunnelArgs([...base, '--mode', 'inpod'], { ...env, INPOD_UDS: '/run/z.sock' }).zds).toBe(
      '/run/z.sock',
    );
    expect(parseZtunnelArgs(base, env).zds).toBeUndefined();
    const tuned = parseZtunnelArgs(
      [
        ...base,
        '--mode',
        'inpod',
        '--dns-capture',
        'false',
        '--dns-upstream',
        '10.0.0.53',
        '--dns-upstream',
        '[fd00::53]:5353',
        '--drain-ms',
        '250',
      ],
      env,
    );
    expect(tuned).toMatchObject({
      dnsCapture: false,
      dnsUpstreams: [
        { host: '10.0.0.53', port: 53 },
        { host: 'fd00::53', port: 5353 },
      ],
      drainMs: 250,
    });
  });

  it('refuses bad values and flags that do not go together', () => {
    expect(usage(() => parseZtunnelArgs([...base, '--mode', 'foo'], env))).toBe(
      '--mode: expected loopback or inpod, got "foo"',
    );
    expect(usage(() => parseZtunnelArgs([...base, '--log-level', 'verbose'], env))).toBe(
      '--log-level: expected debug, info, warn or error, got "verbose"',
    );
    expect(usage(() => parseZtunnelArgs([...base, '--inpod', 'u=/var/run/netns/a'], env))).toBe(
      '--inpod needs --mode inpod',
    );
    expect(usage(() => parseZtunnelArgs([...base, '--zds', '/x.sock'], env))).toBe(
      '--zds needs --mode inpod',
    );
    expect(usage(() => parseZtunnelArgs([...base, '--mode', 'inpod', '--inpod', 'nouid'], env))).toBe(
      '--inpod: expected <uid>=<netns>, got "nouid"',
    );
    expect(usage(() => parseZtunnelArgs([...base, '--node-address', 'localhost'], env))).toBe(
      '--node-address: expected an IP address, got "localhost"',
    );
    expect(usage(() => parseZtunnelArgs(['--node', 'a', '--xds', 'nope'], env))).toBe(
      '--xds: expected host:port or https://host:port or http://host:port, got "nope"',
    );
    expect(usage(() => parseZtunnelArgs(['--config', 'm.yaml'], env))).toBe(
      '--node (or NODE_NAME) is required',
    );
    expect(usage(() => parseZtunnelArgs([...base, '--xds', 'a:1'], env))).toBe(
      '--xds and --config exclude each other: give one',
    );
  });

  it('takes ztunnel environment variables as defaults', () => {
    const options = parseZtunnelArgs([], {
      NODE_NAME: 'node-b',
      XDS_ADDRESS: '127.0.0.1:15010',
      TRUST_DOMAIN: 'td.example',
    });
    expect(options).toMatchObject({
      node: 'node-b',
      workloads: { xds: { target: '127.0.0.1:15010', tls: true } },
      trustDomain: 'td.example',
    });
    // A --config flag overrides XDS_ADDRESS rather than clashing with it.
    expect(
      parseZtunnelArgs(['--config', '/m.yaml'], { NODE_NAME: 'n', XDS_ADDRESS: 'a:1' }).workloads,
    ).toEqual({
      config: '/m.yaml',
    });
  });
});

describe('the ztunnel program', () => {
  it('answers every mistake with one line and exit code 2, no stack trace', {
    timeout: 120_000,
  }, async () => {
    const mesh = join(dir, 'mesh.yaml');
    await writeFile(
      mesh,
      `workloads:
  - uid: Kubernetes//Pod/default/a
    name: a
    namespace: default
    workloadIps: ["127.0.88.10"]
    protocol: HBONE
    node: node-x
`,
    );
    await writeFile(join(dir, 'broken.yaml'), 'workloads: [{ uid: x, workloadIps: ["not an ip"] }]\n');
    const env = { INIT_CWD: dir, XDG_STATE_HOME: join(dir, 'state') };
    const cases: [readonly string[], string][] = [
      [
        ['--node', 'n', '--config', 'mesh.yaml', '--mode', 'foo'],
        'ztunnel: --mode: expected loopback or inpod, got "foo"\n',
      ],
      [
        ['--node', 'n', '--config', 'mesh.yaml', '--log-level', 'verbose'],
        'ztunnel: --log-level: expected debug, info, warn or error, got "verbose"\n',
      ],
      [['--node', 'n', '--config', 'mesh.yaml', '--inpod', 'a=/x'], 'ztunnel: --inpod needs --mode inpod\n'],
      [
        ['--node', 'n', '--config', 'mesh.yaml', '--dns-capture', 'true'],
        'ztunnel: --dns-capture needs --mode inpod (the DNS proxy runs in pods)\n',
      ],
      [
        ['--node', 'n', '--config', 'mesh.yaml', '--mode', 'inpod', '--dns-capture', 'maybe'],
        'ztunnel: --dns-capture: expected true or false, got "maybe"\n',
      ],
      [
        ['--node', 'n', '--config', 'mesh.yaml', '--dns-upstream', 'dns.example.com'],
        'ztunnel: --dns-upstream: expected ip, ip:port or [ipv6]:port, got "dns.example.com"\n',
      ],
      [
        ['--node', 'n', '--config', 'mesh.yaml', '--drain-ms', '0'],
        'ztunnel: --drain-ms: expected milliseconds in 1..3600000, got "0"\n',
      ],
      [
        [
          '--node',
          'n',
          '--config',
          'mesh.yaml',
          '--mode',
          'inpod',
          '--inpod',
          `a=${join(dir, 'no-such-netns')}`,
        ],
        `ztunnel: --inpod: network namespace ${join(dir, 'no-such-netns')} does not exist\n`,
      ],
      // Relative to INIT_CWD: the message names the file where the user is, not in the workspace.
      [
        ['--node', 'n', '--config', 'broken.yaml'],
        `ztunnel: --config: ${join(dir, 'broken.yaml')}: document[0].workloads[0].workloadIps[0]: "not an ip" is not an IP\n`,
      ],
      [
        [
          '--node',
          'node-x',
          '--config',
          'mesh.yaml',
          '--mode',
          'inpod',
          '--inpod',
          'Kubernetes//Pod/default/nobody=/proc/self/ns/net',
          '--ca-dir',
          'ca',
          '--ephemeral-ports',
          '--node-address',
          '127.0.88.1',
          '--log-level',
          'error',
        ],
        'ztunnel: --inpod: no workload Kubernetes//Pod/default/nobody in the mesh\n',
      ],
    ];
    // In this process (main as the program runs it), but the last, which gets furthest (a CA directory, the
    // mesh file, in-pod mode) before it refuses: a real process, so its exit is checked, not only its code.
    for (const [args, stderr] of cases.slice(0, -1)) {
      const result = await runInProcess(ztunnelMain, 'ztunnel', args, env);
      expect({ args, stderr: result.stderr }).toEqual({ args, stderr });
      expect(result.code).toBe(2);
      expect(hasStackTrace(result.stderr)).toBe(false);
    }
    const [args, stderr] = cases.at(-1) as (typeof cases)[number];
    const spawned = await runProgramToEnd(workspace, args, { env });
    expect({ args, stderr: spawned.stderr, code: spawned.code }).toEqual({ args, stderr, code: 2 });
    expect(hasStackTrace(spawned.stderr)).toBe(false);
  });

  it('prints its help with exit code 0', async () => {
    const help = await runInProcess(ztunnelMain, 'ztunnel', ['--help']);
    expect(help).toMatchObject({ code: 0, stderr: '' });
    expect(help.stdout).toContain('--node <name>');
  });

  it('in-pod mode without root says it needs root, one line, exit 2', async () => {
    const run = await runUnprivileged(
      process.execPath,
      [
        '--conditions=@ambient-kit/source',
        '--import',
        'tsx',
        'src/main.ts',
        '--node',
        'n',
        '--xds',
        '127.0.0.1:1',
        '--mode',
        'inpod',
      ],
      { cwd: workspace, env: { HOME: tmpdir() } },
    );
    expect(run).toEqual({
      code: 2,
      stderr: expect.stringMatching(
        /^ztunnel: --mode inpod needs root \(CAP_SYS_ADMIN .*running as uid 65534\n$/,
      ),
    });
  }, 60_000);
});
