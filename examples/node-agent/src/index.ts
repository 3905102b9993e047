/**
 * `@ambient-kit/example-node-agent`: istio-cni's node agent for ambient mode, as a library
 * (`createNodeAgent`) and a program (`main.ts`), built on `@ambient-kit/redirect`: the node's pods from the mesh
 * file, the in-pod rules in each pod's network namespace, and ZDS to the ztunnel.
 * @module
 */
export { NODE_AGENT_HELP, type NodeAgentCliOptions, parseNodeAgentArgs } from './cli-options.js';
export { type MeshPod, meshPodsForNode, type NodePods } from './mesh-pods.js';
export {
  createNodeAgent,
  DEFAULT_ZDS_PATH,
  type NodeAgent,
  type NodeAgentConfig,
  type NodeAgentEvent,
  type PodState,
  type PodStatus,
} from './node-agent.js';
export { requireRoot, runNodeAgent } from './run-node-agent.js';
