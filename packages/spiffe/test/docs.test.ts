/**
 * Every ```ts snippet of docs/spiffe.md runs as a module against the built packages, as a user runs it
 * (connect-es runs its README the same way), so the guide cannot drift from the API.
 */
import { expect } from 'vitest';
import { describeDocSnippets, docSnippets } from '../../../test-support/docs-snippets.js';

describeDocSnippets('docs/spiffe.md snippets', docSnippets({ doc: 'docs/spiffe.md' }), {
  atLeast: 8,
  check: (result) => expect(result.warnings).toEqual([]),
});
