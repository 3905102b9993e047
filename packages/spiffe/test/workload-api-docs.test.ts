/**
 * Every `ts` block of the SPIFFE Workload API section of docs/identity.md runs, against real sockets: the
 * guide cannot drift from the API. (The Istio CA section's blocks are run by packages/control-plane.)
 */
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, describe, expect, it, vi } from 'vitest';

const IDENTITY = fileURLToPath(new URL('../../../docs/identity.md', import.meta.url));
const text = await readFile(IDENTITY, 'utf8');
const start = text.indexOf('\n## The SPIFFE Workload API');
const end = text.indexOf('\n## ', start + 1);
const section = start === -1 ? '' : text.slice(start, end === -1 ? undefined : end);
const blocks = [...section.matchAll(/^```ts\n([\s\S]*?)^```$/gm)].map((m) => m[1] as string);
// Inside the package, so `@ambient-kit/spiffe` and its subpaths resolve through the workspace.
const dir = await mkdtemp(join(fileURLToPath(new URL('.', import.meta.url)), '.snippets-wapi-'));

afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

describe('docs/identity.md, the SPIFFE Workload API', () => {
  it('has its section and snippets', () => {
    expect(start).toBeGreaterThan(0);
    expect(blocks.length).toBeGreaterThanOrEqual(2);
  });

  it.each(blocks.map((code, i) => [i, code] as const))('snippet %i runs', async (i, code) => {
    const file = join(dir, `snippet-${i}.ts`);
    await writeFile(file, code);
    const log = vi.spyOn(console, 'log').mockImplementation(() => undefined);
    try {
      await import(/* @vite-ignore */ file);
      expect(log).toHaveBeenCalled();
      // The printed results are the ones the comments in the guide announce.
      const printed = log.mock.calls.map((args) => args.map(String).join(' ')).join('\n');
      for (const [, expected] of code.matchAll(/console\.log\([^\n]*\); \/\/ (.+)$/gm)) {
        expect(printed).toContain(
          (expected as string).replaceAll("'", '').replace(/[[\]]/g, '').trim().split(' ')[0],
        );
      }
    } finally {
      log.mockRestore();
    }
  });
});
