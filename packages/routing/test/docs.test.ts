/**
 * Every ```ts snippet of docs/routing.md runs as a module against the built packages, as a user runs it, so
 * the guide cannot drift from the API. The snippets check their own results (they throw when wrong).
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { describeDocSnippets, docSnippets, REPO } from '../../../test-support/docs-snippets.js';

describe('docs/routing.md', () => {
  it('has the 90/10 split, fault injection for one user, retries and endpoint choice', () => {
    const docs = readFileSync(join(REPO, 'docs/routing.md'), 'utf8');
    expect(docs).toContain('90/10 split');
    expect(docs).toContain('Fault injection for one user');
    expect(docs).toContain('Retries and timeouts');
  });
});

describeDocSnippets('docs/routing.md snippets', docSnippets({ doc: 'docs/routing.md' }), { atLeast: 5 });
