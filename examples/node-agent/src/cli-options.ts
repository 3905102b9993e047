/**
 * The node agent program's flags, with istio-cni's Helm defaults (istio/istio@86c9f01f:
 * manifests/charts/istio-cni/values.yaml: `cniNetnsDir: /var/run/netns` line 25, `ambient.dnsCapture: true` line
 * 70, `ambient.ipv6: true` line 72, `global.nativeNftables: false` line 198) and its ZDS socket
 * (`/var/run/ztunnel/ztunnel.sock`). Every mistake is one {@link UsageError} (one line, exit 2).
 * @module
 */

import type { LogLevel } from '@ambient-kit/example-ztunnel/logger';
import {
  oneOf,
  type ProgramArgs,
  parseFlags,
  UsageError,
  userPath,
} from '@ambient-kit/example-ztunnel/program';

/** What the program runs with. */
export interface NodeAgentCliOptions {
  readonly help: boolean;
  readonly node: string;
  /** The mesh file, absolute. */
  readonly config: string;
  /** The ZDS socket, absolute. */
  readonly zds: string;
  readonly netnsDir: string;
  readonly backend: 'iptables' | 'nftables';
  readonly iptablesVariant: 'auto' | 'nft' | 'legacy';
  readonly dnsCapture: boolean;
  readonly ipv6: boolean;
  readonly logLevel: LogLevel;
}

/** The usage text. */
export const NODE_AGENT_HELP = `Usage: npm start -w @ambient-kit/example-node-agent -- [options]   (as root)

istio-cni's node agent: for every pod of this node in the mesh file, install the in-pod redirection rules in its
network namespace (<netns-dir>/<pod name>) and hand it to the ztunnel over ZDS.

  --node <name>             the node served (NODE_NAME)                                    required
  --config <file>           the mesh file, watched (docs/control-plane.md "Mesh file format")  required
  --zds <path>              ZDS socket the ztunnel connects to         default /var/run/ztunnel/ztunnel.sock
  --netns-dir <dir>         where pod network namespaces are, by pod name     default /var/run/netns
  --backend <iptables|nftables>  rule backend (Helm global.nativeNftables)         default iptables
  --iptables <auto|nft|legacy>   which iptables (auto: istio-cni's detection)      default auto
  --dns-capture <true|false>     redirect the pods' DNS to ztunnel (ambient.dnsCapture)  default true
  --ipv6 <true|false>            IPv6 rules too (ambient.ipv6)                     default true
  --log-level <level>       debug, info, warn, error                               default info

Relative paths are taken from the directory npm was run in. Stop with SIGTERM or Ctrl-C: the pods keep
their rules (as when istio-cni restarts); a pod removed from the mesh file loses them.
`;

const bool = (flag: string, value: string): boolean =>
  oneOf(flag, value, ['true', 'false'] as const) === 'true';

/**
 * Parses and checks the program's flags.
 *
 * @param args - The arguments after the script.
 * @param env - `NODE_NAME`, `INIT_CWD`.
 * @returns The options (`help: true` and nothing checked when `--help` was given).
 * @throws {UsageError} On an unknown flag, a bad value or a missing required flag.
 * @example
 * ```ts
 * const options = parseNodeAgentArgs(['--node', 'node-a', '--config', 'mesh.yaml'], process.env);
 * ```
 */
export function parseNodeAgentArgs(args: readonly string[], env: NodeJS.ProcessEnv): NodeAgentCliOptions {
  const values = parseFlags(
    {
      node: { type: 'string' },
      config: { type: 'string' },
      zds: { type: 'string', default: '/var/run/ztunnel/ztunnel.sock' },
      'netns-dir': { type: 'string', default: '/var/run/netns' },
      backend: { type: 'string', default: 'iptables' },
      iptables: { type: 'string', default: 'auto' },
      'dns-capture': { type: 'string', default: 'true' },
      ipv6: { type: 'string', default: 'true' },
      'log-level': { type: 'string', default: 'info' },
      help: { type: 'boolean', default: false },
    },
    args,
  );
  const options: NodeAgentCliOptions = {
    help: values.help,
    node: values.node ?? env['NODE_NAME'] ?? '',
    config: values.config === undefined ? '' : userPath(values.config, env),
    zds: userPath(values.zds, env),
    netnsDir: userPath(values['netns-dir'], env),
    backend: oneOf('--backend', values.backend, ['iptables', 'nftables'] as const),
    iptablesVariant: oneOf('--iptables', values.iptables, ['auto', 'nft', 'legacy'] as const),
    dnsCapture: bool('--dns-capture', values['dns-capture']),
    ipv6: bool('--ipv6', values.ipv6),
    logLevel: oneOf('--log-level', values['log-level'], ['debug', 'info', 'warn', 'error'] as const),
  };
  if (options.help) return options;
  if (options.node === '') throw new UsageError('--node (or NODE_NAME) is required');
  if (values.config === undefined) throw new UsageError('--config <mesh file> is required');
  return options;
}

/**
 * The node agent program (`src/main.ts` runs it as the process): its flags, then `--help` or the agent until
 * SIGINT/SIGTERM. A bad flag, a mesh file it cannot load, not being root: it throws (one line, exit 2 by
 * `runProgram`).
 *
 * @param argv - The flags and the environment.
 * @returns The exit code.
 * @example
 * ```ts
 * const code = await nodeAgentMain({ args: ['--help'], env: process.env }); // 0, the usage on stdout
 * ```
 */
export async function nodeAgentMain({ args, env }: ProgramArgs): Promise<number> {
  const options = parseNodeAgentArgs(args, env);
  if (options.help) {
    process.stdout.write(NODE_AGENT_HELP);
    return 0;
  }
  // The agent and everything it runs load only now: --help and a bad flag answer at once.
  const { runNodeAgent } = await import('./run-node-agent.js');
  return runNodeAgent(options);
}
