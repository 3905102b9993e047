// Types of scripts/check-citations.mjs, for the tests that import it.

/** One rule: a line matching `pattern` cites something a reader cannot follow. */
export declare const RULES: readonly { readonly pattern: RegExp; readonly why: string }[];

/** One offending line of a file (1-based), with the rule it breaks. */
export interface CitationProblem {
  readonly line: number;
  readonly why: string;
  readonly text: string;
}

/** The lines of a file's text that cite something outside the repository. */
export declare function citationProblemsIn(text: string): CitationProblem[];

/** The relative links of a package README (they break on the registry's page). */
export declare function relativeLinksIn(text: string): CitationProblem[];

/**
 * Every line under `dir` and in `extra` that cites something outside the repository, as `path:line: text`.
 */
export declare function uncitableLines(
  dir: string,
  extra?: readonly string[],
  skip?: readonly string[],
): string[];

/** Checks the whole repository: citations everywhere, absolute links in package READMEs. */
export declare function checkRepository(): { files: number; problems: string[] };

/** The rules checked against lines they must reject and accept; one message per broken expectation. */
export declare function selfTest(): string[];
