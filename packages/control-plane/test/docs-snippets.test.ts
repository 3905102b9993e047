/**
 * Every `ts` block in docs/control-plane.md, and in the Istio CA section of docs/identity.md, runs against
 * the built packages, as a user runs it: the guides' snippets are tested, not just written.
 */
import { describeDocSnippets, docSnippets } from '../../../test-support/docs-snippets.js';

describeDocSnippets(
  'docs/control-plane.md and docs/identity.md (Istio CA)',
  [
    ...docSnippets({ doc: 'docs/control-plane.md' }),
    // docs/identity.md: the blocks of its Istio CA section (this package's part of that page).
    ...docSnippets({ doc: 'docs/identity.md', section: '## The Istio CA' }),
  ],
  { atLeast: 4 },
);
