/**
 * The node agent program after its flags were read (main.ts): checks it runs as root, starts the agent, and
 * runs until SIGTERM or SIGINT. A mesh file it cannot load, or a ZDS socket it cannot create, is one line and
 * exit 2.
 * @module
 */
import { streamLogger } from '@ambient-kit/example-ztunnel/logger';
import { oneLine, UsageError } from '@ambient-kit/example-ztunnel/program';
import type { NodeAgentCliOptions } from './cli-options.js';
import { createNodeAgent, type NodeAgent } from './node-agent.js';

/**
 * Checks the process may do what istio-cni does: enter pod network namespaces (`CAP_SYS_ADMIN`) and change
 * their rules (`CAP_NET_ADMIN`). istio-cni's DaemonSet runs privileged; here that is root.
 *
 * @param uid - The process's uid. Default `process.getuid()`.
 * @throws {UsageError} When not root.
 * @example
 * ```ts
 * requireRoot(); // throws UsageError for uid 1000
 * ```
 */
export function requireRoot(uid: number | undefined = process.getuid?.()): void {
  if (uid === 0) return;
  throw new UsageError(
    `must run as root (CAP_SYS_ADMIN to enter pod network namespaces, CAP_NET_ADMIN to install their rules), like istio-cni's privileged DaemonSet; running as uid ${uid ?? 'unknown'}`,
  );
}

/**
 * Runs the node agent until a signal.
 *
 * @param options - The checked flags.
 * @returns The exit code (0).
 * @throws {UsageError} Not root, an unusable mesh file or ZDS socket.
 * @example
 * ```ts
 * await runNodeAgent(parseNodeAgentArgs(process.argv.slice(2), process.env));
 * ```
 */
export async function runNodeAgent(options: NodeAgentCliOptions): Promise<number> {
  requireRoot();
  const logger = streamLogger({ level: options.logLevel });
  let agent: NodeAgent;
  try {
    agent = await createNodeAgent({
      nodeName: options.node,
      meshFile: options.config,
      zdsPath: options.zds,
      netnsDir: options.netnsDir,
      backend: options.backend,
      iptablesVariant: options.iptablesVariant,
      redirectDns: options.dnsCapture,
      enableIpv6: options.ipv6,
      logger,
    });
  } catch (error) {
    throw new UsageError(oneLine(error));
  }
  try {
    await new Promise<void>((resolve) => {
      process.once('SIGINT', () => resolve());
      process.once('SIGTERM', () => resolve());
    });
  } finally {
    await agent.close();
  }
  return 0;
}
