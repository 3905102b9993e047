/**
 * Every ```ts snippet of docs/authz.md runs as a module against the built packages, as a user runs it, so
 * the guide cannot drift from the API.
 */
import { describeDocSnippets, docSnippets } from '../../../test-support/docs-snippets.js';

describeDocSnippets('docs/authz.md snippets', docSnippets({ doc: 'docs/authz.md' }), { atLeast: 7 });
