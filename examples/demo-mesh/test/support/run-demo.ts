/**
 * The demo as a user runs it: `src/main.ts` in the package directory, as `npm start` does.
 */
import {
  type Program,
  type ProgramRun,
  runProgramToEnd,
  type StartProgramOptions,
  startProgram,
} from '../../../ztunnel/test/support/program.js';

/** Where the demo's package lives. */
export const demoDir: string = new URL('../..', import.meta.url).pathname;

/**
 * Starts the demo.
 *
 * @param args - The demo's flags.
 * @param options - Environment and kill timer.
 * @returns The running demo.
 */
export function startDemo(args: readonly string[], options: StartProgramOptions = {}): Program {
  return startProgram(demoDir, args, options);
}

/**
 * Runs the demo to the end.
 *
 * @param args - The demo's flags.
 * @param options - Environment and kill timer.
 * @returns Its exit code and output.
 */
export function runDemo(args: readonly string[], options: StartProgramOptions = {}): Promise<ProgramRun> {
  return runProgramToEnd(demoDir, args, options);
}
