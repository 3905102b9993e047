/**
 * How the demo prints access log lines: each line at most once. With `--verbose` every line is printed as it
 * happens; the scenario then shows a line it wants to point at only if it was not printed already.
 * @module
 */
import type { CapturedLog } from './mesh-runtime.js';

/** Prints access log lines, each once. */
export interface LogView {
  /**
   * Prints a line under the current step (folded as ztunnel's README folds them), unless already printed.
   *
   * @param log - The line.
   * @param into - Where the text goes instead of the view's own target (a report section).
   */
  show(log: CapturedLog | undefined, into?: (text: string) => void): void;
  /** Prints a line as it happened (`node-a   <line>`), unless already printed. */
  live(log: CapturedLog): void;
}

/**
 * ztunnel's access log line, folded like its README ("with newlines for readability"); a waypoint's as is.
 *
 * @param log - A captured line.
 * @returns The text, possibly on three lines.
 * @example
 * ```ts
 * folded(log); // "node-a: 2024-…  INFO access: connection complete src.addr=…\n    dst.addr=…\n    direction=…"
 * ```
 */
export function folded(log: CapturedLog): string {
  if (log.kind === 'waypoint') return `${log.from}: ${log.line}`;
  const line = log.line;
  const dst = line.indexOf(' dst.addr=');
  const dir = line.indexOf(' direction=');
  if (dst < 0 || dir < 0) return `${log.from}: ${line}`;
  return `${log.from}: ${line.slice(0, dst)}\n    ${line.slice(dst + 1, dir)}\n    ${line.slice(dir + 1)}`;
}

/**
 * Creates a log view.
 *
 * @param writeLine - Prints one unindented line.
 * @param showUnder - Prints detail text under the current step (the report's `line`).
 * @returns The view.
 * @example
 * ```ts
 * const view = createLogView((l) => process.stdout.write(`${l}\n`), (t) => report.line(t));
 * if (verbose) mesh.onLog((log) => view.live(log));
 * ```
 */
export function createLogView(writeLine: (line: string) => void, showUnder: (text: string) => void): LogView {
  const printed = new WeakSet<CapturedLog>();
  return {
    show(log, into) {
      const target = into ?? showUnder;
      if (log === undefined) {
        target('(no access log line)');
        return;
      }
      if (printed.has(log)) return;
      printed.add(log);
      target(folded(log));
    },
    live(log) {
      if (printed.has(log)) return;
      printed.add(log);
      writeLine(`${log.from.padEnd(8)} ${log.line}`);
    },
  };
}
