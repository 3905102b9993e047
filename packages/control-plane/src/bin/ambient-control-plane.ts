#!/usr/bin/env node
/**
 * The `ambient-control-plane` program: `ambient-control-plane --listen HOST:PORT --cacerts DIR --tokens FILE
 * --mesh FILE` (see `--help` and docs/control-plane.md). SIGINT and SIGTERM stop it (exit code 0); a bad flag
 * or configuration is one line on stderr and exit code 2.
 * @module
 */
import { runControlPlaneCli } from '../cli/run-control-plane.js';

const stop = new AbortController();
for (const name of ['SIGINT', 'SIGTERM'] as const) process.once(name, () => stop.abort());
const code = await runControlPlaneCli(
  process.argv.slice(2),
  process.env,
  {
    out: (line) => process.stdout.write(`${line}\n`),
    err: (line) => process.stderr.write(`${line}\n`),
  },
  stop.signal,
);
process.exitCode = code;
// Everything is closed by now; a handle some library left behind must not keep the process alive.
setTimeout(() => process.exit(code), 500).unref();
