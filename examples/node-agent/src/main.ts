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
import { nodeAgentMain } from './cli-options.js';

await runProgram(nodeAgentMain, { name: 'node-agent' });
