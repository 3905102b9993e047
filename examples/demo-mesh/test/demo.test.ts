/**
 * The demo end to end, as a user runs it: a child process, its printed output and its exit code.
 */
import { spawn } from 'node:child_process';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';

const here = new URL('..', import.meta.url).pathname;

function runDemo(args: readonly string[]): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(
      process.execPath,
      ['--conditions=@ambient-kit/source', '--import', 'tsx', 'src/main.ts', ...args],
      { cwd: here, stdio: ['ignore', 'pipe', 'pipe'] },
    );
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (d: string) => {
      stdout += d;
    });
    child.stderr.setEncoding('utf8').on('data', (d: string) => {
      stderr += d;
    });
    const timer = setTimeout(() => child.kill('SIGKILL'), 50_000);
    child.on('error', reject);
    child.on('close', (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr });
    });
  });
}

describe('npm start (the demo mesh)', () => {
  it('runs the whole scenario and exits 0 with every check passed', { timeout: 60_000 }, async () => {
    const { code, stdout, stderr } = await runDemo(['--ephemeral-ports']);
    expect(stderr).toBe('');
    expect(code).toBe(0);
    expect(stdout).toMatch(/^All \d+ checks passed in [\d.]+ s\.$/m);
    expect(stdout).not.toContain('FAIL');
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
    // ztunnel's access log format, as printed.
    expect(stdout).toMatch(
      /\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z {2}INFO access: connection complete src\.addr=127\.0\.1\.10:\d+ /,
    );
  });

  it('prints its built-in mesh file, and refuses an invalid one with exit code 2', async () => {
    const printed = await runDemo(['--print-config']);
    expect(printed.code).toBe(0);
    expect(printed.stdout).toBe(await readFile(join(here, 'src/mesh.yaml'), 'utf8'));

    const dir = await mkdtemp(join(tmpdir(), 'demo-config-'));
    try {
      const bad = join(dir, 'mesh.yaml');
      await writeFile(bad, 'workloads:\n  - uid: x\n    workloadIps: ["not an ip"]\n');
      const result = await runDemo(['--config', bad, '--ephemeral-ports']);
      expect(result.code).toBe(2);
      expect(result.stderr).toBe(
        `${bad}: document[0].workloads[0].workloadIps[0]: "not an ip" is not an IP\n`,
      );
      expect(result.stdout).toBe('');
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});
