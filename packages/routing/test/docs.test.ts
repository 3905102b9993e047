/**
 * Every ```ts snippet of docs/routing.md runs as a module against this package's sources, so the guide
 * cannot drift from the API. The snippets check their own results (they throw when wrong).
 */
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, describe, expect, it, vi } from 'vitest';

const docs = readFileSync(fileURLToPath(new URL('../../../docs/routing.md', import.meta.url)), 'utf8');
const snippets = [...docs.matchAll(/```ts\n([\s\S]*?)```/g)].map((m) => m[1] as string);
const runtime = fileURLToPath(new URL('../src/index.ts', import.meta.url));
const codec = fileURLToPath(new URL('../src/codec/index.ts', import.meta.url));
const dir = mkdtempSync(join(tmpdir(), 'routing-docs-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('docs/routing.md snippets', () => {
  it('has the 90/10 split, fault injection for one user, retries and endpoint choice', () => {
    expect(snippets.length).toBeGreaterThanOrEqual(5);
    expect(docs).toContain('90/10 split');
    expect(docs).toContain('Fault injection for one user');
    expect(docs).toContain('Retries and timeouts');
  });
  snippets.forEach((code, i) => {
    const title = code.split('\n').find((l) => l.startsWith('const ')) ?? `#${i}`;
    it(`snippet ${i + 1}: ${title.slice(0, 60)}`, async () => {
      const file = join(dir, `snippet-${i}.ts`);
      writeFileSync(
        file,
        code
          .replaceAll("'@ambient-kit/routing/codec'", JSON.stringify(codec))
          .replaceAll("'@ambient-kit/routing'", JSON.stringify(runtime)),
      );
      const log = vi.spyOn(console, 'log').mockImplementation(() => {});
      try {
        await import(file);
        expect(log).toHaveBeenCalled();
      } finally {
        log.mockRestore();
      }
    });
  });
});
