/**
 * The netns demo's output: steps, indented lines, and checks that decide the exit code.
 * @module
 */

/** One check. */
export interface NetnsCheck {
  readonly step: string;
  readonly name: string;
  readonly ok: boolean;
  readonly detail?: string;
}

/** The output and the checks so far. */
export interface NetnsReport {
  step(title: string): void;
  line(text: string): void;
  /** Records and prints a check; returns `ok`. */
  check(name: string, ok: boolean, detail?: string): boolean;
  raw(text: string): void;
  readonly checks: readonly NetnsCheck[];
}

/**
 * Creates the report.
 *
 * @param write - Where lines go.
 * @param color - ANSI colours.
 * @returns The report.
 * @example
 * ```ts
 * const report = createNetnsReport((l) => process.stdout.write(`${l}\n`), false);
 * ```
 */
export function createNetnsReport(write: (line: string) => void, color: boolean): NetnsReport {
  const paint = (code: string, text: string): string => (color ? `\u001b[${code}m${text}\u001b[0m` : text);
  const checks: NetnsCheck[] = [];
  let current = '';
  return {
    checks,
    step(title) {
      current = title;
      write('');
      write(paint('1', `== ${title}`));
    },
    line(text) {
      for (const l of text.split('\n')) write(`   ${l}`);
    },
    check(name, ok, detail) {
      checks.push({ step: current, name, ok, ...(detail === undefined ? {} : { detail }) });
      write(
        `   ${ok ? paint('32', 'PASS') : paint('31', 'FAIL')} ${name}${ok || detail === undefined ? '' : ` (${detail})`}`,
      );
      return ok;
    },
    raw: write,
  };
}
