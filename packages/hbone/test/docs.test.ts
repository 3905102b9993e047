import { execFile } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { afterAll, describe, expect, it } from 'vitest';

// docs/hbone.md promises runnable snippets: run every block marked <!-- runnable --> as a user would, from a
// directory that resolves @ambient-kit/* like an installed package, and check the outputs its comments state.

const REPO = fileURLToPath(new URL('../../../', import.meta.url));
const doc = readFileSync(join(REPO, 'docs/hbone.md'), 'utf8');
const snippets = [...doc.matchAll(/<!-- runnable -->\n```ts\n([\s\S]*?)```/g)].map((m) => m[1] as string);
const dir = mkdtempSync(join(tmpdir(), 'hbone-docs-'));
writeFileSync(join(dir, 'package.json'), '{"type":"module"}');
symlinkSync(join(REPO, 'node_modules'), join(dir, 'node_modules'));

afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('docs/hbone.md', () => {
  it('has runnable snippets', () => {
    expect(snippets.length).toBeGreaterThanOrEqual(3);
  });

  it.each(snippets.map((code, i) => [i, code] as const))(
    'snippet %i runs and prints what it says',
    { timeout: 60_000 },
    async (i, code) => {
      const file = join(dir, `snippet-${i}.mts`);
      writeFileSync(file, code);
      const { stdout } = await promisify(execFile)(
        process.execPath,
        ['--import', 'tsx', '--conditions=@ambient-kit/source', file],
        {
          cwd: dir,
          timeout: 50_000,
        },
      );
      const expected = [...code.matchAll(/console\.log\(.*\); \/\/ (.+)$/gm)].map((m) => m[1] as string);
      for (const line of expected) expect(stdout).toContain(line);
      expect(stdout.length).toBeGreaterThan(0);
    },
  );
});
