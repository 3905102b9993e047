/**
 * The example node agent as a program (istio-cni's role; docs/examples.md "In-pod mode, step by step").
 *
 * ```sh
 * # as root; the ztunnel (--mode inpod) connects to the same ZDS socket
 * npm start -w @ambient-kit/example-node-agent -- --node node-a --config mesh.yaml
 * ```
 *
 * A bad flag, a mesh file it cannot load, not being root: one line on stderr and exit code 2.
 * @module
 */
import { runProgram } from '@ambient-kit/example-ztunnel/program';
import { NODE_AGENT_HELP, parseNodeAgentArgs } from './cli-options.js';

async function main(): Promise<number> {
  const options = parseNodeAgentArgs(process.argv.slice(2), process.env);
  if (options.help) {
    process.stdout.write(NODE_AGENT_HELP);
    return 0;
  }
  // The agent and everything it runs load only now: --help and a bad flag answer at once.
  const { runNodeAgent } = await import('./run-node-agent.js');
  return runNodeAgent(options);
}

await runProgram(main, { name: 'node-agent' });
