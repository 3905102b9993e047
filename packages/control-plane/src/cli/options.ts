/**
 * The flags of the `ambient-control-plane` program, parsed strictly (an unknown flag, a missing value or a
 * bad value is a usage error: one line, exit code 2). Environment variables with istiod's names give the
 * defaults where istiod has one.
 * @module
 */
import { parseArgs } from 'node:util';
import type { ServiceAccountRef } from '../ca/node-authorizer.js';
import { parseTrustedNodeAccounts } from '../codec/token-file.js';

/** A usage error: printed as one line, exit code 2. */
export class UsageError extends Error {
  override readonly name = 'UsageError';
}

/** The program's configuration. */
export interface ControlPlaneCliOptions {
  readonly help: boolean;
  /** `--listen HOST:PORT`: the TLS port (xDS and CA). Default `0.0.0.0:15012`. */
  readonly listen: string;
  /** `--plaintext-listen HOST:PORT`: xDS without TLS (istiod's 15010). */
  readonly plaintextListen?: string;
  /** `--cacerts DIR`: istiod's plug-in CA layout. */
  readonly cacerts: string;
  /** `--tokens FILE`: the accepted bearer tokens. */
  readonly tokens: string;
  /** `--mesh FILE`: the mesh file, watched. */
  readonly mesh: string;
  /** `--tls-cert FILE` and `--tls-key FILE`: serve this certificate instead of issuing one. */
  readonly tlsCert?: string;
  readonly tlsKey?: string;
  /** `--trust-domain` (`TRUST_DOMAIN`). Default `cluster.local`. */
  readonly trustDomain: string;
  /** `--cluster-id` (`CLUSTER_ID`). Default `Kubernetes`. */
  readonly clusterId: string;
  /** `--trusted-node-accounts` (`CA_TRUSTED_NODE_ACCOUNTS`). Default `istio-system/ztunnel`. */
  readonly trustedNodeAccounts: readonly ServiceAccountRef[];
  /** `--default-ttl` (`DEFAULT_WORKLOAD_CERT_TTL`), ms. Default 24 h. */
  readonly defaultTtlMs: number;
  /** `--max-ttl` (`MAX_WORKLOAD_CERT_TTL`), ms. Default 90 days. */
  readonly maxTtlMs: number;
  /** `--root-namespace`: MeshConfig `rootNamespace` for policies. Default `istio-system`. */
  readonly rootNamespace: string;
}

/** The help text. */
export const CONTROL_PLANE_HELP = `Usage: ambient-control-plane --cacerts DIR --tokens FILE --mesh FILE [--listen HOST:PORT] [options]

An istiod-compatible control plane: delta xDS (istio.workload.Address, istio.security.Authorization) and
the Istio CA (istio.v1.auth.IstioCertificateService) on one TLS port, bearer tokens for every call.

  --listen HOST:PORT            TLS port for xDS and the CA (default 0.0.0.0:15012)
  --cacerts DIR                 istiod's plug-in CA: ca-cert.pem, ca-key.pem, root-cert.pem[, cert-chain.pem]
  --tokens FILE                 accepted tokens, one "<token> <namespace>/<serviceaccount> [<node>]" per line
  --mesh FILE                   mesh file (YAML/JSON), reloaded on change; a bad edit keeps the last good state
  --tls-cert FILE --tls-key FILE  serve this certificate (default: issued from the CA for istiod.istio-system.svc)
  --plaintext-listen HOST:PORT  also serve xDS without TLS (istiod's 15010; tokens still required)
  --trust-domain TD             mesh trust domain (env TRUST_DOMAIN; default cluster.local)
  --cluster-id ID               this cluster (env CLUSTER_ID; default Kubernetes)
  --trusted-node-accounts LIST  ns/sa,... allowed to impersonate (env CA_TRUSTED_NODE_ACCOUNTS;
                                default istio-system/ztunnel; "" for none)
  --default-ttl DURATION        certificate TTL when none is asked (env DEFAULT_WORKLOAD_CERT_TTL; default 24h)
  --max-ttl DURATION            longest TTL granted (env MAX_WORKLOAD_CERT_TTL; default 2160h)
  --root-namespace NS           MeshConfig rootNamespace for policies (default istio-system)
  -h, --help                    this text

Exit codes: 0 after SIGINT/SIGTERM, 2 for a bad flag, file or configuration (one line on stderr).
`;

const UNITS: Readonly<Record<string, number>> = {
  h: 3_600_000,
  m: 60_000,
  s: 1000,
  ms: 1,
  us: 0.001,
  µs: 0.001,
  ns: 0.000001,
};

/**
 * A Go duration (`24h`, `90m`, `1h30m`, `2160h`, `30s`), as istiod's TTL settings take it.
 *
 * @param what - The flag, for the message.
 * @param text - The value.
 * @returns Milliseconds (positive).
 * @throws {UsageError} For anything else.
 * @example
 * ```ts
 * parseDuration('--max-ttl', '2160h'); // 7_776_000_000
 * ```
 */
export function parseDuration(what: string, text: string): number {
  if (!/^(?:\d+(?:\.\d+)?(?:h|ms|m|s|us|µs|ns))+$/.test(text))
    throw new UsageError(
      `${what}: expected a duration such as 24h, 90m or 1h30m, got ${JSON.stringify(text)}`,
    );
  let ms = 0;
  for (const m of text.matchAll(/(\d+(?:\.\d+)?)(h|ms|m|s|us|µs|ns)/g))
    ms += Number(m[1]) * (UNITS[m[2] as string] ?? 0);
  if (!(ms >= 1000)) throw new UsageError(`${what}: must be at least 1s, got ${JSON.stringify(text)}`);
  return Math.round(ms);
}

const HOST_PORT = /^(?:\[[0-9A-Fa-f:.]+\]|[^:[\]\s]+):(\d{1,5})$/;

function hostPort(what: string, value: string): string {
  const m = HOST_PORT.exec(value);
  if (m === null || Number(m[1]) > 65535)
    throw new UsageError(`${what}: expected HOST:PORT (e.g. 0.0.0.0:15012), got ${JSON.stringify(value)}`);
  return value;
}

/**
 * Parses the program's arguments.
 *
 * @param argv - The arguments after the program name.
 * @param env - The environment (istiod's variable names).
 * @returns The configuration.
 * @throws {UsageError} For an unknown flag, a missing value or flag, or a bad value.
 * @example
 * ```ts
 * parseControlPlaneArgs(['--cacerts', 'ca', '--tokens', 'tokens', '--mesh', 'mesh.yaml'], process.env);
 * ```
 */
export function parseControlPlaneArgs(
  argv: readonly string[],
  env: Readonly<Record<string, string | undefined>>,
): ControlPlaneCliOptions {
  let values: Record<string, string | boolean | undefined>;
  try {
    ({ values } = parseArgs({
      args: [...argv],
      strict: true,
      allowPositionals: false,
      options: {
        help: { type: 'boolean', short: 'h' },
        listen: { type: 'string' },
        'plaintext-listen': { type: 'string' },
        cacerts: { type: 'string' },
        tokens: { type: 'string' },
        mesh: { type: 'string' },
        'tls-cert': { type: 'string' },
        'tls-key': { type: 'string' },
        'trust-domain': { type: 'string' },
        'cluster-id': { type: 'string' },
        'trusted-node-accounts': { type: 'string' },
        'default-ttl': { type: 'string' },
        'max-ttl': { type: 'string' },
        'root-namespace': { type: 'string' },
      },
    }));
  } catch (e) {
    throw new UsageError((e as Error).message.split('\n')[0] ?? String(e));
  }
  const str = (k: string): string | undefined => values[k] as string | undefined;
  const help = values['help'] === true;
  const required = (k: string): string => {
    const v = str(k);
    if (v === undefined || v === '') throw new UsageError(`--${k} is required (see --help)`);
    return v;
  };
  const blank = (k: string): void => {
    if (str(k) === '') throw new UsageError(`--${k}: expected a value`);
  };
  if (help)
    return {
      help,
      listen: '',
      cacerts: '',
      tokens: '',
      mesh: '',
      trustDomain: '',
      clusterId: '',
      trustedNodeAccounts: [],
      defaultTtlMs: 0,
      maxTtlMs: 0,
      rootNamespace: '',
    };
  for (const k of ['tls-cert', 'tls-key', 'plaintext-listen', 'trust-domain', 'cluster-id', 'root-namespace'])
    blank(k);
  const cacerts = required('cacerts');
  const tokens = required('tokens');
  const mesh = required('mesh');
  const tlsCert = str('tls-cert');
  const tlsKey = str('tls-key');
  if ((tlsCert === undefined) !== (tlsKey === undefined))
    throw new UsageError('--tls-cert and --tls-key go together: give both or neither');
  const trustDomain = str('trust-domain') ?? env['TRUST_DOMAIN'] ?? 'cluster.local';
  if (!/^[a-z0-9._-]{1,255}$/.test(trustDomain))
    throw new UsageError(
      `--trust-domain: ${JSON.stringify(trustDomain)} is not a trust domain ([a-z0-9._-])`,
    );
  const accountsText =
    str('trusted-node-accounts') ?? env['CA_TRUSTED_NODE_ACCOUNTS'] ?? 'istio-system/ztunnel';
  const accounts = parseTrustedNodeAccounts(accountsText);
  if (accounts.isErr()) throw new UsageError(`--trusted-node-accounts: ${accounts.error.message}`);
  const defaultTtlMs = parseDuration(
    '--default-ttl',
    str('default-ttl') ?? env['DEFAULT_WORKLOAD_CERT_TTL'] ?? '24h',
  );
  const maxTtlMs = parseDuration('--max-ttl', str('max-ttl') ?? env['MAX_WORKLOAD_CERT_TTL'] ?? '2160h');
  if (defaultTtlMs > maxTtlMs) throw new UsageError('--default-ttl is longer than --max-ttl');
  const plaintextListen = str('plaintext-listen');
  return {
    help,
    listen: hostPort('--listen', str('listen') ?? '0.0.0.0:15012'),
    ...(plaintextListen === undefined
      ? {}
      : { plaintextListen: hostPort('--plaintext-listen', plaintextListen) }),
    cacerts,
    tokens,
    mesh,
    ...(tlsCert === undefined || tlsKey === undefined ? {} : { tlsCert, tlsKey }),
    trustDomain,
    clusterId: str('cluster-id') ?? env['CLUSTER_ID'] ?? 'Kubernetes',
    trustedNodeAccounts: accounts.value,
    defaultTtlMs,
    maxTtlMs,
    rootNamespace: str('root-namespace') ?? 'istio-system',
  };
}
