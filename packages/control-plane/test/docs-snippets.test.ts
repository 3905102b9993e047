/**
 * Every `ts` block in docs/control-plane.md, and in the Istio CA section of docs/identity.md, runs: the
 * guides' snippets are tested, not just written.
 */
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, describe, expect, it, vi } from 'vitest';

const DOC = fileURLToPath(new URL('../../../docs/control-plane.md', import.meta.url));
const IDENTITY = fileURLToPath(new URL('../../../docs/identity.md', import.meta.url));
const tsBlocks = (markdown: string): string[] =>
  [...markdown.matchAll(/^```ts\n([\s\S]*?)^```$/gm)].map((m) => m[1] as string);
// docs/identity.md: the blocks of its Istio CA section (this package's part of that page).
const identity = await readFile(IDENTITY, 'utf8');
const caStart = identity.indexOf('\n## The Istio CA');
const caEnd = identity.indexOf('\n## ', caStart + 1);
const blocks = [
  ...tsBlocks(await readFile(DOC, 'utf8')),
  ...tsBlocks(identity.slice(caStart, caEnd === -1 ? undefined : caEnd)),
];
// Inside the package, so bare `@ambient-kit/*` imports resolve through the workspace.
const dir = await mkdtemp(join(fileURLToPath(new URL('.', import.meta.url)), '.snippets-'));

afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

describe('docs/control-plane.md and docs/identity.md (Istio CA)', () => {
  it('has snippets', () => {
    expect(blocks.length).toBeGreaterThanOrEqual(4);
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
