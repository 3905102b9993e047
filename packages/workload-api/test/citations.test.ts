/**
 * Every citation resolves for a reader of the repository or the published `src/`: no comment or guide
 * cites a document that is not in the repository; upstream sources are cited pinned to a commit,
 * standards by RFC section, our own guides by `docs/<name>.md`.
 */
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { uncitableLines } from '../../../scripts/check-citations.mjs';

describe('citations', () => {
  it('cite nothing outside the repository', () => {
    const pkg = fileURLToPath(new URL('..', import.meta.url));
    const doc = fileURLToPath(new URL('../../../docs/workload-api.md', import.meta.url));
    expect(uncitableLines(pkg, [doc])).toEqual([]);
  });
});
