/**
 * Every ```ts snippet of docs/spiffe.md runs as a module against this package's sources (connect-es runs its
 * README the same way), so the guide cannot drift from the API.
 */
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, describe, expect, it, vi } from 'vitest';

const docs = readFileSync(fileURLToPath(new URL('../../../docs/spiffe.md', import.meta.url)), 'utf8');
const snippets = [...docs.matchAll(/```ts\n([\s\S]*?)```/g)].map((m) => m[1] as string);
const runtime = fileURLToPath(new URL('../src/index.ts', import.meta.url));
const codec = fileURLToPath(new URL('../src/codec/index.ts', import.meta.url));
const dir = mkdtempSync(join(tmpdir(), 'spiffe-docs-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('docs/spiffe.md snippets', () => {
  it('has snippets', () => {
    expect(snippets.length).toBeGreaterThanOrEqual(8);
  });
  snippets.forEach((code, i) => {
    const title =
      code
        .split('\n')
        .find((l) => l.startsWith('const ') || l.startsWith('for ') || l.startsWith('await ')) ?? `#${i}`;
    it(`snippet ${i + 1}: ${title.slice(0, 60)}`, async () => {
      const file = join(dir, `snippet-${i}.ts`);
      writeFileSync(
        file,
        code
          .replaceAll("'@ambient-kit/spiffe/codec'", JSON.stringify(codec))
          .replaceAll("'@ambient-kit/spiffe'", JSON.stringify(runtime)),
      );
      const log = vi.spyOn(console, 'log').mockImplementation(() => {});
      const warn = vi.spyOn(console, 'warn').mockImplementation(() => {});
      try {
        await import(file);
        expect(log).toHaveBeenCalled();
        expect(warn).not.toHaveBeenCalled();
      } finally {
        log.mockRestore();
        warn.mockRestore();
      }
    });
  });
});
