/**
 * Every ```ts snippet of docs/authz.md runs as a module against this package's sources, so the guide cannot
 * drift from the API.
 */
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, describe, expect, it, vi } from 'vitest';

const docs = readFileSync(fileURLToPath(new URL('../../../docs/authz.md', import.meta.url)), 'utf8');
const snippets = [...docs.matchAll(/```ts\n([\s\S]*?)```/g)].map((m) => m[1] as string);
const runtime = fileURLToPath(new URL('../src/index.ts', import.meta.url));
const codec = fileURLToPath(new URL('../src/codec/index.ts', import.meta.url));
const l4 = fileURLToPath(new URL('../src/l4/index.ts', import.meta.url));
const spiffe = fileURLToPath(new URL('../../spiffe/src/index.ts', import.meta.url));
// Third-party packages a snippet imports, resolved from this package (the snippets run from a temp directory).
const require = createRequire(import.meta.url);
const packages = ['express', 'jose'].map((name) => [name, require.resolve(name)] as const);
const dir = mkdtempSync(join(tmpdir(), 'authz-docs-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('docs/authz.md snippets', () => {
  it('has snippets', () => {
    expect(snippets.length).toBeGreaterThanOrEqual(7);
  });
  snippets.forEach((code, i) => {
    const title = code.split('\n').find((l) => l.startsWith('const ')) ?? `#${i}`;
    it(`snippet ${i + 1}: ${title.slice(0, 60)}`, async () => {
      const file = join(dir, `snippet-${i}.ts`);
      let source = code
        .replaceAll("'@ambient-kit/authz/codec'", JSON.stringify(codec))
        .replaceAll("'@ambient-kit/authz/l4'", JSON.stringify(l4))
        .replaceAll("'@ambient-kit/authz'", JSON.stringify(runtime))
        .replaceAll("'@ambient-kit/spiffe'", JSON.stringify(spiffe));
      for (const [name, path] of packages)
        source = source.replaceAll(`from '${name}'`, `from ${JSON.stringify(path)}`);
      writeFileSync(file, source);
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
