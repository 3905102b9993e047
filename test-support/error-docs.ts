/**
 * Keeps each package's error codes and its documentation in one-to-one sync (docs/contributing.md "Errors", after
 * fastify's `test/internals/errors.test.js`): a code nobody documented, or a documented code that no longer
 * exists, fails that package's tests.
 * @module
 */
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

const REPO_ROOT = fileURLToPath(new URL('..', import.meta.url));

/**
 * Reads the codes listed in the "Error codes" section of `docs/<doc>.md`: every table row whose first cell
 * is a backquoted upper-snake code.
 *
 * @param doc - The file name under `docs/` without `.md`, e.g. `'spiffe'`.
 * @returns The codes in document order.
 * @throws {Error} When the document has no "Error codes" section or the section lists no codes.
 * @example
 * ```ts
 * expect(new Set(documentedErrorCodes('spiffe'))).toEqual(new Set(SPIFFE_ERROR_CODES));
 * ```
 */
export function documentedErrorCodes(doc: string): string[] {
  const text = readFileSync(`${REPO_ROOT}docs/${doc}.md`, 'utf8');
  const heading = /^#{2,3} Error codes\s*$/m.exec(text);
  if (heading === null) throw new Error(`docs/${doc}.md has no "## Error codes" section`);
  const rest = text.slice(heading.index + heading[0].length);
  const next = /^#{1,3} /m.exec(rest);
  const section = next === null ? rest : rest.slice(0, next.index);
  const codes = [...section.matchAll(/^\|\s*`([A-Z][A-Z0-9_]+)`\s*\|/gm)].map((m) => m[1] as string);
  if (codes.length === 0) throw new Error(`docs/${doc}.md "Error codes" lists no codes`);
  return codes;
}
