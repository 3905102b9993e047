import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';
import { runUnprivileged } from '../../../test-support/unprivileged.js';
import { hasStackTrace, runInProcess, runProgramToEnd } from '../../ztunnel/test/support/program.js';
import { nodeAgentMain } from '../src/cli-options.js';

const workspace = fileURLToPath(new URL('..', import.meta.url));
const dir = mkdtempSync(join(tmpdir(), 'ambient-node-agent-cli-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('the node agent program', () => {
  it('answers every mistake with one line and exit code 2', async () => {
    const mesh = join(dir, 'mesh.yaml');
    writeFileSync(mesh, 'workloads: []\n');
    const broken = join(dir, 'broken.yaml');
    writeFileSync(broken, 'workloads:\n  - uid: x\n    serviceaccount: typo\n');
    const cases: [string[], RegExp][] = [
      [['--frobnicate'], /^node-agent: Unknown option '--frobnicate'\n$/],
      [['--config', mesh], /^node-agent: --node \(or NODE_NAME\) is required\n$/],
      [['--node', 'node-a'], /^node-agent: --config <mesh file> is required\n$/],
      [
        ['--node', 'node-a', '--config', mesh, '--backend', 'ebpf'],
        /^node-agent: --backend: expected iptables or nftables, got "ebpf"\n$/,
      ],
      [
        ['--node', 'node-a', '--config', mesh, '--dns-capture', 'yes'],
        /^node-agent: --dns-capture: expected true or false, got "yes"\n$/,
      ],
      [
        ['--node', 'node-a', '--config', join(dir, 'missing.yaml'), '--zds', join(dir, 'z.sock')],
        /^node-agent: .*missing\.yaml.*\n$/,
      ],
      [
        ['--node', 'node-a', '--config', broken, '--zds', join(dir, 'z.sock')],
        /^node-agent: .*serviceaccount: unknown field.*\n$/,
      ],
    ];
    // In this process (main as the program runs it), but the last, which gets furthest (root, then the mesh
    // file) before it refuses: a real process, so its exit is checked, not only its code.
    for (const [args, stderr] of cases.slice(0, -1)) {
      const run = await runInProcess(nodeAgentMain, 'node-agent', args);
      expect({ args, stderr: run.stderr }).toEqual({ args, stderr: expect.stringMatching(stderr) });
      expect(run.code).toBe(2);
      expect(hasStackTrace(run.stderr)).toBe(false);
    }
    const [args, stderr] = cases.at(-1) as (typeof cases)[number];
    const spawned = await runProgramToEnd(workspace, args);
    expect({ args, stderr: spawned.stderr }).toEqual({ args, stderr: expect.stringMatching(stderr) });
    expect(spawned.code).toBe(2);
    expect(hasStackTrace(spawned.stderr)).toBe(false);
  }, 120_000);

  it('prints its help with exit code 0', async () => {
    const run = await runInProcess(nodeAgentMain, 'node-agent', ['--help']);
    expect(run.code).toBe(0);
    expect(run.stdout).toContain('--netns-dir <dir>');
    expect(run.stdout).toContain('default /var/run/ztunnel/ztunnel.sock');
  });

  it('refuses to run without root, saying why', async () => {
    const run = await runUnprivileged(
      process.execPath,
      [
        '--conditions=@ambient-kit/source',
        '--import',
        'tsx',
        'src/main.ts',
        '--node',
        'node-a',
        '--config',
        '/nonexistent',
      ],
      { cwd: workspace, env: { HOME: tmpdir() } },
    );
    expect(run.code).toBe(2);
    expect(run.stderr).toMatch(/^node-agent: must run as root \(CAP_SYS_ADMIN .*running as uid 65534\n$/);
  }, 60_000);
});
