/**
 * The demo mesh: an Istio ambient data plane assembled from ambient-kit, on loopback, with no cluster and
 * no root. Starts a control plane, a CA, a ztunnel per node, a waypoint and the apps, runs the scripted
 * scenario (docs/examples.md), prints what happened, and exits 0 when every check passed, 1 when one
 * failed, 2 when it could not start (a bad flag or mesh file, an address in use): one line per problem on
 * stderr, never a stack trace.
 *
 * Run from the repository root: `npm start` (flags after `--`: `npm start -- --print-config`). Flags:
 * `--config <file>` (a mesh file instead of the built-in one; `--print-config` prints the built-in one to
 * start from; a relative path is taken from the directory npm was run in), `--keep-running` (stay up after
 * the scenario, until Ctrl-C, logging every denial), `--verbose` (every access log line as it happens, once,
 * and every component's log), `--ephemeral-ports` (free ports instead of ztunnel's 15000/15020/15021/15080
 * on each node address).
 * @module
 */
import { runProgram } from '@ambient-kit/example-ztunnel/program';
import { demoMain } from './cli-options.js';

await runProgram(demoMain, { name: 'demo' });
