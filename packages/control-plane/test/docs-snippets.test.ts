/**
 * Every `ts` block in docs/control-plane.md runs: the guide's snippets are tested, not just written.
 */
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, describe, expect, it, vi } from 'vitest';

const DOC = fileURLToPath(new URL('../../../docs/control-plane.md', import.meta.url));
const text = await readFile(DOC, 'utf8');
const blocks = [...text.matchAll(/^```ts\n([\s\S]*?)^```$/gm)].map((m) => m[1] as string);
// Inside the package, so bare `@ambient-kit/*` imports resolve through the workspace.
const dir = await mkdtemp(join(fileURLToPath(new URL('.', import.meta.url)), '.snippets-'));

afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

describe('docs/control-plane.md', () => {
  it('has snippets', () => {
    expect(blocks.length).toBeGreaterThanOrEqual(2);
  });

  it.each(blocks.map((code, i) => [i, code] as const))('snippet %i runs', async (i, code) => {
    const file = join(dir, `snippet-${i}.ts`);
    await writeFile(file, code);
    const log = vi.spyOn(console, 'log').mockImplementation(() => undefined);
    try {
      await import(/* @vite-ignore */ file);
      expect(log).toHaveBeenCalled();
    } finally {
      log.mockRestore();
    }
  });
});
