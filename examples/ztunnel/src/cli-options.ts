/**
 * The example ztunnel program's flags, parsed and checked before anything starts: every mistake a user can
 * make on the command line is one {@link UsageError} (one line, exit 2).
 * @module
 */
import { isIP } from 'node:net';
import {
  CONTROL_PLANE_FLAG_OPTIONS,
  CONTROL_PLANE_HELP,
  type ControlPlaneSettings,
  parseControlPlaneFlags,
  parseXdsEndpoint,
  type XdsEndpoint,
} from './control-plane-flags.js';
import type { LogLevel } from './logger.js';
import { oneOf, type ProgramArgs, parseFlags, UsageError, userPath } from './program.js';
import { type DnsUpstream, parseDnsUpstream } from './resolv-conf.js';

/** istio-cni's and ztunnel's ZDS socket (`INPOD_UDS`). */
const DEFAULT_ZDS_PATH = '/var/run/ztunnel/ztunnel.sock';

/** A pod served in-pod from the command line: its workload uid and network namespace. */
export interface InpodSpec {
  readonly uid: string;
  /** A name under `/var/run/netns/` or an absolute path. */
  readonly netns: string;
}

/** What the program runs with. */
export interface ZtunnelCliOptions {
  readonly help: boolean;
  readonly node: string;
  /** An xDS server (TLS unless `http://`), or a mesh file (absolute). */
  readonly workloads: { readonly xds: XdsEndpoint } | { readonly config: string };
  /** The CA, xDS TLS, token, cluster and certificate lifetime. */
  readonly controlPlane: ControlPlaneSettings;
  readonly trustDomain: string;
  readonly nodeAddress: string;
  readonly ephemeralPorts: boolean;
  readonly mode: 'loopback' | 'inpod';
  /** Testing shortcut: pods named on the command line, served without a node agent. */
  readonly inpod: readonly InpodSpec[];
  /** Absolute path of istio-cni's ZDS socket (in-pod mode; `undefined` otherwise). */
  readonly zds: string | undefined;
  /** `undefined`: the default of the mode (on in in-pod mode). */
  readonly preserveSourceIp: boolean | undefined;
  readonly logLevel: LogLevel;
  /** In-pod mode: the DNS proxy on 15053 in every pod. */
  readonly dnsCapture: boolean;
  /** `undefined`: the node's `/etc/resolv.conf`. */
  readonly dnsUpstreams: readonly DnsUpstream[] | undefined;
  /** Graceful drain on SIGTERM/SIGINT: how long connections may take to finish. */
  readonly drainMs: number;
}

/** The usage text. */
export const ZTUNNEL_HELP: string = `Usage: npm start -w @ambient-kit/example-ztunnel -- [options]

  --node <name>           the node served (NODE_NAME)                                  required
  --xds <host:port>       xDS server (XDS_ADDRESS) over TLS with the token, as istiod's 15012
                          (http://host:port: plaintext, as istiod's 15010), or
  --config <file>         a mesh file, watched (LOCAL_XDS_PATH)
  --trust-domain <td>     default cluster.local (TRUST_DOMAIN)
${CONTROL_PLANE_HELP.trimEnd()}
  --node-address <ip>     address of admin/metrics/readiness/socks5                      default 127.0.0.1
  --ephemeral-ports       free ports instead of 15000/15020/15021/15080
  --mode <loopback|inpod> default loopback; inpod needs root and takes its pods from the node agent
  --zds <path>            inpod: the node agent's ZDS socket (INPOD_UDS)      default /var/run/ztunnel/ztunnel.sock
  --inpod <uid>=<netns>   inpod, testing shortcut: also serve this workload in this network namespace, without a
                          node agent (repeatable; a bare name is under /var/run/netns)
  --dns-capture <bool>    inpod: DNS proxy on 15053 in every pod (DNS_CAPTURE)                   default true
  --dns-upstream <ip[:port]>  where names outside the mesh go (repeatable)  default the nameservers of /etc/resolv.conf
  --preserve-source-ip    connect to apps from the client's IP (ENABLE_ORIG_SRC; on by default in inpod mode)
  --drain-ms <ms>         on SIGTERM/SIGINT, let connections finish this long (CONNECTION_TERMINATION_DEADLINE)
                                                                                         default 5000
  --log-level <level>     debug, info, warn, error                                       default info

Relative paths are taken from the directory npm was run in.
`;

function netnsRef(spec: string, env: NodeJS.ProcessEnv): InpodSpec {
  const eq = spec.lastIndexOf('=');
  const uid = spec.slice(0, Math.max(eq, 0));
  const netns = spec.slice(eq + 1);
  if (eq <= 0 || netns === '')
    throw new UsageError(`--inpod: expected <uid>=<netns>, got ${JSON.stringify(spec)}`);
  // A bare name is a namespace under /var/run/netns (as `ip netns` names them); anything with a slash is a
  // path the user typed.
  return { uid, netns: netns.includes('/') ? userPath(netns, env) : netns };
}

/**
 * Parses and checks the program's flags, with ztunnel's environment variables as defaults.
 *
 * @param args - The arguments after the script (`process.argv.slice(2)`).
 * @param env - `NODE_NAME`, `XDS_ADDRESS`, `LOCAL_XDS_PATH`, `TRUST_DOMAIN`, `INIT_CWD`, and the control plane's
 *   (`CA_ADDRESS`, `CA_ROOT_CA`, `XDS_ROOT_CA`, `AUTH_TOKEN`, `ISTIO_META_CLUSTER_ID`, ...: control-plane-flags.ts).
 * @returns The options (`help: true` and nothing checked when `--help` was given).
 * @throws {UsageError} On an unknown flag, a bad value, or flags that do not go together.
 * @example
 * ```ts
 * const options = parseZtunnelArgs(['--node', 'node-a', '--config', 'mesh.yaml'], process.env);
 * ```
 */
export function parseZtunnelArgs(args: readonly string[], env: NodeJS.ProcessEnv): ZtunnelCliOptions {
  const values = parseFlags(
    {
      node: { type: 'string' },
      xds: { type: 'string' },
      config: { type: 'string' },
      ...CONTROL_PLANE_FLAG_OPTIONS,
      'trust-domain': { type: 'string' },
      'node-address': { type: 'string', default: '127.0.0.1' },
      'ephemeral-ports': { type: 'boolean', default: false },
      mode: { type: 'string', default: 'loopback' },
      inpod: { type: 'string', multiple: true, default: [] },
      zds: { type: 'string' },
      'dns-capture': { type: 'string' },
      'dns-upstream': { type: 'string', multiple: true, default: [] },
      'drain-ms': { type: 'string', default: '5000' },
      'preserve-source-ip': { type: 'boolean' },
      'log-level': { type: 'string', default: 'info' },
      help: { type: 'boolean', default: false },
    },
    args,
  );
  const mode = oneOf('--mode', values.mode, ['loopback', 'inpod'] as const);
  const logLevel = oneOf('--log-level', values['log-level'], ['debug', 'info', 'warn', 'error'] as const);
  const node = values.node ?? env['NODE_NAME'];
  // A flag wins over the environment; the two workload sources exclude each other only as flags.
  const xds = values.xds ?? (values.config === undefined ? env['XDS_ADDRESS'] : undefined);
  const config = values.config ?? (values.xds === undefined ? env['LOCAL_XDS_PATH'] : undefined);
  const trustDomain = values['trust-domain'] ?? env['TRUST_DOMAIN'] ?? 'cluster.local';
  const dnsCapture = oneOf('--dns-capture', values['dns-capture'] ?? env['DNS_CAPTURE'] ?? 'true', [
    'true',
    'false',
  ] as const);
  const dnsUpstreams = values['dns-upstream'].map((text) => {
    const upstream = parseDnsUpstream(text);
    if (upstream === undefined)
      throw new UsageError(
        `--dns-upstream: expected ip, ip:port or [ipv6]:port, got ${JSON.stringify(text)}`,
      );
    return upstream;
  });
  const drainMs = Number(values['drain-ms']);
  if (!/^\d+$/.test(values['drain-ms']) || drainMs < 1 || drainMs > 3_600_000)
    throw new UsageError(
      `--drain-ms: expected milliseconds in 1..3600000, got ${JSON.stringify(values['drain-ms'])}`,
    );
  const common = {
    trustDomain,
    ephemeralPorts: values['ephemeral-ports'],
    mode,
    preserveSourceIp: values['preserve-source-ip'],
    logLevel,
    dnsCapture: dnsCapture === 'true',
    dnsUpstreams: dnsUpstreams.length === 0 ? undefined : dnsUpstreams,
    drainMs,
  };
  if (values.help) {
    return {
      help: true,
      node: node ?? '',
      workloads: { xds: { target: xds ?? '', tls: true } },
      controlPlane: {
        ca: { kind: 'dir', dir: '' },
        xdsTls: { rootCertificatesFile: '' },
        auth: undefined,
        clusterId: '',
        secretTtlMs: 0,
      },
      nodeAddress: values['node-address'],
      inpod: [],
      zds: undefined,
      ...common,
    };
  }
  if (node === undefined || node === '') throw new UsageError('--node (or NODE_NAME) is required');
  if (xds !== undefined && config !== undefined)
    throw new UsageError('--xds and --config exclude each other: give one');
  if (xds === undefined && config === undefined)
    throw new UsageError('one of --xds (XDS_ADDRESS) or --config (LOCAL_XDS_PATH) is required');
  if (isIP(values['node-address']) === 0)
    throw new UsageError(
      `--node-address: expected an IP address, got ${JSON.stringify(values['node-address'])}`,
    );
  if (trustDomain === '' || /[^a-z0-9._-]/.test(trustDomain))
    throw new UsageError(`--trust-domain: ${JSON.stringify(trustDomain)} is not a SPIFFE trust domain name`);
  if (mode !== 'inpod' && values.inpod.length > 0) throw new UsageError('--inpod needs --mode inpod');
  if (mode !== 'inpod' && values.zds !== undefined) throw new UsageError('--zds needs --mode inpod');
  if (mode !== 'inpod' && values['dns-capture'] !== undefined)
    throw new UsageError('--dns-capture needs --mode inpod (the DNS proxy runs in pods)');
  const controlPlane = parseControlPlaneFlags(values, env);
  return {
    help: false,
    node,
    workloads:
      xds !== undefined
        ? { xds: parseXdsEndpoint(values.xds === undefined ? 'XDS_ADDRESS' : '--xds', xds) }
        : { config: userPath(config as string, env) },
    controlPlane,
    nodeAddress: values['node-address'],
    inpod: values.inpod.map((spec) => netnsRef(spec, env)),
    zds: mode === 'inpod' ? userPath(values.zds ?? env['INPOD_UDS'] ?? DEFAULT_ZDS_PATH, env) : undefined,
    ...common,
  };
}

/**
 * The ztunnel program (`src/main.ts` runs it as the process): its flags, then `--help` or the proxy until
 * SIGINT/SIGTERM. A bad flag, file, namespace or workload throws (one line, exit 2 by `runProgram`).
 *
 * @param argv - The flags and the environment.
 * @returns The exit code.
 * @example
 * ```ts
 * const code = await ztunnelMain({ args: ['--help'], env: process.env }); // 0, the usage on stdout
 * ```
 */
export async function ztunnelMain({ args, env }: ProgramArgs): Promise<number> {
  const options = parseZtunnelArgs(args, env);
  if (options.help) {
    process.stdout.write(ZTUNNEL_HELP);
    return 0;
  }
  // The proxy and everything it runs load only now: --help and a bad flag answer at once.
  const { runZtunnel } = await import('./run-ztunnel.js');
  return runZtunnel(options);
}
