/**
 * The demo's printed output: a header per step, indented detail lines, and checks that decide the exit
 * code. Colour only on a terminal.
 * @module
 */

/** One expectation of the scenario. */
export interface Check {
  readonly step: string;
  readonly name: string;
  readonly ok: boolean;
  readonly detail?: string;
}

/** Builds the output and records checks. */
export interface Report {
  /** A step heading. */
  step(title: string): void;
  /** A detail line under the current step. */
  line(text: string): void;
  /** Records (and prints) a check. */
  check(name: string, ok: boolean, detail?: string): boolean;
  /** Plain text, unindented. */
  raw(text: string): void;
  /**
   * A report whose output is held back until {@link Report.flush} prints it here, with its checks: steps that
   * run at the same time each write into their own, and are printed one after the other, in order.
   */
  section(): Report & { flush(): void };
  /** Every check so far. */
  readonly checks: readonly Check[];
}

/**
 * Creates a report.
 *
 * @param write - Where lines go.
 * @param color - ANSI colours (on a TTY).
 * @returns The report.
 * @example
 * ```ts
 * const report = createReport((line) => process.stdout.write(`${line}\n`), process.stdout.isTTY);
 * report.check('sleep reached echo', status === 200);
 * ```
 */
export function createReport(write: (line: string) => void, color: boolean): Report {
  const paint = (code: string, text: string): string => (color ? `\u001b[${code}m${text}\u001b[0m` : text);
  const checks: Check[] = [];
  let current = '';
  const report: Report = {
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
      const mark = ok ? paint('32', 'PASS') : paint('31', 'FAIL');
      write(`   ${mark} ${name}${detail === undefined || ok ? '' : ` (${detail})`}`);
      return ok;
    },
    raw(text) {
      write(text);
    },
    section() {
      const held: string[] = [];
      const inner = createReport((line) => held.push(line), color);
      let merged = 0;
      return Object.assign(inner, {
        flush() {
          for (const line of held.splice(0)) write(line);
          for (const c of inner.checks.slice(merged)) checks.push(c);
          merged = inner.checks.length;
        },
      });
    },
  };
  return report;
}
