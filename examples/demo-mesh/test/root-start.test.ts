/**
 * `npm start` at the repository root is the README's first command: flags given after `--` there reach the
 * demo, and relative paths are taken from the directory npm was run in.
 */
import { spawn } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { demoDir } from './support/run-demo.js';

const repoRoot = join(demoDir, '..', '..');

function npm(
  cwd: string,
  args: readonly string[],
): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve, reject) => {
    // INIT_CWD is npm's to set: drop the one vitest may have inherited from an outer npm.
    const { INIT_CWD: _, ...env } = process.env;
    const child = spawn('npm', [...args], { cwd, env, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (d: string) => {
      stdout += d;
    });
    child.stderr.setEncoding('utf8').on('data', (d: string) => {
      stderr += d;
    });
    const timer = setTimeout(() => child.kill('SIGKILL'), 60_000);
    child.on('error', reject);
    child.on('close', (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr });
    });
  });
}

describe('npm start at the repository root', () => {
  it('passes the flags after -- to the demo (no "Unknown cli config"), and takes --config from the directory npm ran in', {
    timeout: 90_000,
  }, async () => {
    const bad = await npm(repoRoot, ['start', '--', '--no-such-flag']);
    expect(bad.code).toBe(2);
    expect(bad.stderr).toContain("demo: Unknown option '--no-such-flag'\n");
    const dir = await mkdtemp(join(tmpdir(), 'root-start-'));
    try {
      await writeFile(join(dir, 'mine.yaml'), '# mine\nworkloads: []\n');
      const mine = await npm(dir, [
        '--prefix',
        repoRoot,
        'start',
        '--',
        '--config',
        'mine.yaml',
        '--print-config',
      ]);
      // --print-config reached the demo, not npm: no warning from npm, the file printed, no scenario.
      expect(mine.stderr).not.toContain('Unknown cli config');
      expect(mine.code).toBe(0);
      expect(mine.stdout.endsWith('# mine\nworkloads: []\n')).toBe(true);
      expect(mine.stdout).not.toContain('== 1.');
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});
