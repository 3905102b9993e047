/**
 * `npm run demo:netns` (as root): the demo mesh in real network namespaces, with istio-cni's node agent and
 * in-pod ztunnels (docs/examples.md "The demo in network namespaces"). Exit code 0 when every check passed, 1
 * when one failed, 2 when it cannot run (not root, a tool missing, a bad flag): one line on stderr, never a
 * stack trace. Everything it creates is removed when it ends, fails, or is interrupted (Ctrl-C).
 * @module
 */
import { execFileSync } from 'node:child_process';
import { parseFlags, runProgram, UsageError } from '@ambient-kit/example-ztunnel/program';

const HELP = `Usage: npm run demo:netns [-- options]      (as root)

The demo mesh with every pod in a network namespace of its own: node agents (istio-cni's role) install the
in-pod rules and hand the pods to their node's ztunnel over ZDS; apps in pods call services by name with plain
HTTP clients, through DNS capture, the 15001 capture, HBONE and the waypoint.

  --verbose   print every component's log as it happens
  --help      this text

Exit code: 0 every check passed, 1 a check failed, 2 it could not run (not root, a tool missing, a bad flag).
`;

const TOOLS: readonly (readonly [string, string])[] = [
  ['ip', 'iproute2'],
  ['ss', 'iproute2'],
  ['nsenter', 'util-linux'],
  ['unshare', 'util-linux'],
  ['iptables-nft-restore', 'iptables'],
  ['nft', 'nftables'],
];

async function main(): Promise<number> {
  const values = parseFlags({
    verbose: { type: 'boolean', default: false },
    help: { type: 'boolean', default: false },
  });
  if (values.help) {
    process.stdout.write(HELP);
    return 0;
  }
  if (process.platform !== 'linux')
    throw new UsageError(`needs Linux network namespaces (this is ${process.platform})`);
  if (process.getuid?.() !== 0) {
    throw new UsageError(
      `must run as root (it creates network namespaces, veths and pod rules, as a kubelet, a CNI and istio-cni do); running as uid ${process.getuid?.()}. Try: sudo npm run demo:netns`,
    );
  }
  for (const [tool, pkg] of TOOLS) {
    try {
      execFileSync('sh', ['-c', `command -v ${tool}`], {
        stdio: 'ignore',
        env: { ...process.env, PATH: `${process.env['PATH'] ?? ''}:/usr/local/sbin:/usr/sbin:/sbin` },
      });
    } catch {
      throw new UsageError(`needs \`${tool}\` (Debian package ${pkg})`);
    }
  }
  const interrupted = new AbortController();
  const onSignal = (name: string) => () => {
    process.stderr.write(`\n${name}: stopping, removing every namespace, veth and rule the demo made\n`);
    interrupted.abort();
  };
  process.once('SIGINT', onSignal('SIGINT'));
  process.once('SIGTERM', onSignal('SIGTERM'));
  // The demo and everything it runs load only now: --help and a bad flag answer at once.
  const { runNetnsDemo } = await import('./run-netns-demo.js');
  try {
    return await runNetnsDemo({ verbose: values.verbose, signal: interrupted.signal });
  } catch (error) {
    if (interrupted.signal.aborted) return 130;
    process.stderr.write(`the scenario stopped: ${(error as Error).message.replace(/\s*\n\s*/g, ' ')}\n`);
    return 1;
  }
}

await runProgram(main, { name: 'demo:netns' });
