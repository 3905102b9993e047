/**
 * docs/native-hbone.md keeps its promises: every block marked `<!-- runnable -->` runs as a user would run
 * it (from a directory that resolves `@ambient-kit/*` like an installed package) and prints what its
 * comments say; the "Error codes" table lists exactly the codes the package has.
 */
import { execFile } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { afterAll, describe, expect, it } from 'vitest';
import { documentedErrorCodes } from '../../../test-support/error-docs.js';
import { NATIVE_HBONE_ERROR_CODES } from '../src/index.js';

const REPO = fileURLToPath(new URL('../../../', import.meta.url));
const doc = readFileSync(join(REPO, 'docs/native-hbone.md'), 'utf8');
const snippets = [...doc.matchAll(/<!-- runnable -->\n```ts\n([\s\S]*?)```/g)].map((m) => m[1] as string);
const dir = mkdtempSync(join(tmpdir(), 'native-hbone-docs-'));
writeFileSync(join(dir, 'package.json'), '{"type":"module"}');
symlinkSync(join(REPO, 'node_modules'), join(dir, 'node_modules'));

afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('docs/native-hbone.md', () => {
  it('documents exactly the error codes of NativeHboneError', () => {
    expect(new Set(documentedErrorCodes('native-hbone'))).toEqual(new Set(NATIVE_HBONE_ERROR_CODES));
  });

  it('has the runnable Express example', () => {
    expect(snippets).toHaveLength(1);
    expect(snippets[0]).toContain("from 'express'");
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
        { cwd: dir, timeout: 50_000 },
      );
      const expected = [...code.matchAll(/console\.log\(.*\); \/\/ (.+)$/gm)].map((m) => m[1] as string);
      expect(expected.length).toBeGreaterThanOrEqual(2);
      for (const line of expected) expect(stdout).toContain(line);
    },
  );
});
