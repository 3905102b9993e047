/**
 * Every `ts` block in docs/workload-api.md runs against the built packages, as a user runs it: the guide's
 * snippets are tested, not just written.
 */
import { describeDocSnippets, docSnippets } from '../../../test-support/docs-snippets.js';

describeDocSnippets('docs/workload-api.md', docSnippets({ doc: 'docs/workload-api.md' }), { atLeast: 4 });
