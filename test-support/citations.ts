/**
 * Keeps citations resolvable for a reader of the repository or of a published `src/` (issue 10): no
 * comment or guide cites a document that is not in the repository. Upstream sources are cited pinned to a
 * commit (`istio/ztunnel@62d82653:src/proxy/inbound.rs`), standards by RFC section, our guides as
 * `docs/<name>.md`.
 * @module
 */
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join, relative } from 'node:path';

/** Lines that cite notes outside the repository, or a section sign that is not an RFC's. */
const FORBIDDEN: readonly RegExp[] = [
  /shared spec/i,
  /workload-api-and-redirect\.md/,
  /\bstyle\.md/,
  /\bl7\.md/,
  /(?<!docs\/)\b(hbone|spiffe|authz|redirect)\.md §/,
  /(?<!RFC \d{3,5} )(?<!RFC \d{3,5}, )§/,
];

function files(dir: string): string[] {
  return readdirSync(dir).flatMap((name) => {
    const path = join(dir, name);
    if (name === 'node_modules' || name === 'dist' || name === 'gen' || name.startsWith('.')) return [];
    return statSync(path).isDirectory() ? files(path) : /\.(ts|go|proto|md|yaml)$/.test(name) ? [path] : [];
  });
}

/**
 * Every line under `dir` (sources, tests, protos, README; not `dist`, `gen` or dot-directories) and in the
 * extra files that cites something outside the repository, as `path:line: text`.
 *
 * @param dir - A package directory.
 * @param extra - More files, e.g. the package's guide in `docs/`.
 * @param skip - Files to leave out (the test that holds these patterns).
 * @returns The offending lines; empty when every citation resolves.
 * @example
 * ```ts
 * expect(uncitableLines(PACKAGE, [DOC], [fileURLToPath(import.meta.url)])).toEqual([]);
 * ```
 */
export function uncitableLines(
  dir: string,
  extra: readonly string[] = [],
  skip: readonly string[] = [],
): string[] {
  const offenders: string[] = [];
  for (const path of [...files(dir), ...extra]) {
    if (skip.includes(path)) continue;
    readFileSync(path, 'utf8')
      .split('\n')
      .forEach((line, i) => {
        if (FORBIDDEN.some((re) => re.test(line)))
          offenders.push(`${relative(dir, path)}:${i + 1}: ${line.trim()}`);
      });
  }
  return offenders;
}
