/**
 * Every `ts` block in docs/control-plane.md, and in the Istio CA section of docs/identity.md, runs against
 * the built packages, as a user runs it: the guides' snippets are tested, not just written.
 */
import { beforeAll, describe, expect, it } from 'vitest';
import { docSnippets, runSnippets } from '../../../test-support/docs-snippets.js';

const snippets = [
  ...docSnippets({ doc: 'docs/control-plane.md' }),
  // docs/identity.md: the blocks of its Istio CA section (this package's part of that page).
  ...docSnippets({ doc: 'docs/identity.md', section: '## The Istio CA' }),
];
const results = runSnippets(snippets);
// One run for the whole guide (a build first when a dist is stale), awaited once here.
beforeAll(async () => {
  await results;
}, 300_000);

describe('docs/control-plane.md and docs/identity.md (Istio CA)', () => {
  it('has snippets', () => {
    expect(snippets.length).toBeGreaterThanOrEqual(4);
  });

  it.each(snippets.map((code, i) => [i, code] as const))('snippet %i runs', async (i) => {
    const result = (await results)[i];
    expect(result?.error).toBeUndefined();
    expect(result?.logs.length).toBeGreaterThan(0);
  });
});
