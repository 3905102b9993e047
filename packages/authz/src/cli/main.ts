#!/usr/bin/env node
/**
 * `ambient-authz`: the executable. See `run-cli.ts` for commands and exit codes.
 * @module
 */
import { runCli } from './run-cli.js';

runCli(process.argv.slice(2), {
  stdout: (text) => process.stdout.write(text),
  stderr: (text) => process.stderr.write(text),
}).then(
  (code) => {
    process.exitCode = code;
  },
  (error: unknown) => {
    process.stderr.write(`ambient-authz: ${String(error)}\n`);
    process.exitCode = 2;
  },
);
