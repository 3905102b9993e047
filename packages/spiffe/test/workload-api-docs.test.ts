/**
 * Every `ts` block of the SPIFFE Workload API section of docs/identity.md runs against the built packages,
 * on real sockets: the guide cannot drift from the API. (The Istio CA section's blocks are run by
 * packages/control-plane.)
 */
import { expect } from 'vitest';
import { describeDocSnippets, docSnippets, expectedOutputs } from '../../../test-support/docs-snippets.js';

describeDocSnippets(
  'docs/identity.md, the SPIFFE Workload API',
  docSnippets({ doc: 'docs/identity.md', section: '## The SPIFFE Workload API' }),
  {
    atLeast: 2,
    // The printed results are the ones the comments in the guide announce.
    check: (result, code) => {
      const printed = result.logs.join('\n');
      for (const expected of expectedOutputs(code)) {
        expect(printed).toContain(expected.replaceAll("'", '').replace(/[[\]]/g, '').trim().split(' ')[0]);
      }
    },
  },
);
