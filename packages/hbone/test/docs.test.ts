/**
 * docs/hbone.md promises runnable snippets: every block marked `<!-- runnable -->` runs as a user runs it,
 * against the built packages, and prints what its comments state.
 */
import { expect } from 'vitest';
import { describeDocSnippets, docSnippets, expectedOutputs } from '../../../test-support/docs-snippets.js';

describeDocSnippets('docs/hbone.md', docSnippets({ doc: 'docs/hbone.md', runnableOnly: true }), {
  atLeast: 3,
  check: (result, code) => {
    const stdout = result.logs.join('\n');
    for (const line of expectedOutputs(code)) expect(stdout).toContain(line);
  },
});
