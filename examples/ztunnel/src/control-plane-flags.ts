/**
 * How the example programs (the ztunnel, the waypoint) reach their control plane, read from flags and from
 * ztunnel's own environment variables (istio/ztunnel@62d82653:src/config.rs L118-124, L574-646): the CA
 * (`CA_ADDRESS`, TLS verified against `CA_ROOT_CA`, `ALT_CA_HOSTNAME`), xDS over TLS (`XDS_ADDRESS`,
 * `XDS_ROOT_CA`, `ALT_XDS_HOSTNAME`), the bearer token (`AUTH_TOKEN`, default
 * `./var/run/secrets/tokens/istio-token`), the cluster (`ISTIO_META_CLUSTER_ID`, else `CLUSTER_ID`, default
 * `Kubernetes`) and the certificate lifetime (`SECRET_TTL`, default 24 h). `--ca-dir`, an in-process CA
 * shared through a directory, remains as a testing option. Only parsing and checks here; nothing connects.
 * @module
 */
import { existsSync } from 'node:fs';
import { UsageError, userPath } from './program.js';

/**
 * ztunnel's default root certificate path for both the CA and xDS (`DEFAULT_ROOT_CERT_PROVIDER`).
 *
 * @example
 * ```ts
 * userPath(DEFAULT_ROOT_CERT_PATH); // <where npm ran>/var/run/secrets/istio/root-cert.pem
 * ```
 */
export const DEFAULT_ROOT_CERT_PATH = './var/run/secrets/istio/root-cert.pem';
/**
 * ztunnel's default token path (`DEFAULT_TOKEN_PROVIDER`).
 *
 * @example
 * ```ts
 * existsSync(userPath(DEFAULT_TOKEN_PATH)); // whether a token is sent by default
 * ```
 */
export const DEFAULT_TOKEN_PATH = './var/run/secrets/tokens/istio-token';
/**
 * ztunnel's default istiod outside a cluster (`https://localhost:15012`); in one, `istiod.istio-system.svc:15012`.
 *
 * @example
 * ```ts
 * parseControlPlaneFlags({}, {}).ca; // { kind: 'istio', address: DEFAULT_ISTIOD_ADDRESS, ... }
 * ```
 */
export const DEFAULT_ISTIOD_ADDRESS = 'localhost:15012';
/**
 * The default CA address in a cluster (`KUBERNETES_SERVICE_HOST` set), as ztunnel's.
 *
 * @example
 * ```ts
 * parseControlPlaneFlags({}, { KUBERNETES_SERVICE_HOST: '10.96.0.1' }).ca; // address IN_CLUSTER_ISTIOD_ADDRESS
 * ```
 */
export const IN_CLUSTER_ISTIOD_ADDRESS = 'istiod.istio-system.svc:15012';

/**
 * The `parseArgs` options of the control-plane flags, shared by the programs.
 *
 * @example
 * ```ts
 * const values = parseFlags({ node: { type: 'string' }, ...CONTROL_PLANE_FLAG_OPTIONS });
 * ```
 */
export const CONTROL_PLANE_FLAG_OPTIONS = {
  'ca-address': { type: 'string' },
  'ca-root-ca': { type: 'string' },
  'ca-hostname': { type: 'string' },
  'xds-root-ca': { type: 'string' },
  'xds-hostname': { type: 'string' },
  token: { type: 'string' },
  'cluster-id': { type: 'string' },
  'secret-ttl': { type: 'string' },
  'ca-dir': { type: 'string' },
} as const;

/**
 * The usage lines of {@link CONTROL_PLANE_FLAG_OPTIONS}.
 *
 * @example
 * ```ts
 * process.stdout.write(`Usage: ...\n${CONTROL_PLANE_HELP}`);
 * ```
 */
export const CONTROL_PLANE_HELP: string = `  --ca-address <host:port>  the Istio CA (CA_ADDRESS), TLS           default localhost:15012
                          (istiod.istio-system.svc:15012 when KUBERNETES_SERVICE_HOST is set)
  --ca-root-ca <file>     root certificates the CA's TLS certificate is checked against, also the mesh's
                          trust roots (CA_ROOT_CA)                default ./var/run/secrets/istio/root-cert.pem
  --ca-hostname <name>    another name the CA's certificate may carry (ALT_CA_HOSTNAME)
  --xds-root-ca <file>    root certificates for xDS over TLS (XDS_ROOT_CA)          default as --ca-root-ca
  --xds-hostname <name>   another name the xDS server's certificate may carry (ALT_XDS_HOSTNAME)
  --token <file>          bearer token sent to the CA and xDS, re-read for every request (AUTH_TOKEN: a
                          file, else the token itself)        default ./var/run/secrets/tokens/istio-token
  --cluster-id <id>       the clusterid header (ISTIO_META_CLUSTER_ID, CLUSTER_ID)    default Kubernetes
  --secret-ttl <duration> certificate lifetime asked for, e.g. 24h, 90m, 30s (SECRET_TTL)  default 24h
  --ca-dir <dir>          testing only: an in-process CA shared through this directory (created if
                          empty) instead of --ca-address; no token, no TLS
`;

/** How the bearer token is found: a file read for every request, or the token itself. */
export type TokenSource = { readonly tokenFile: string } | { readonly token: string };

/** Where certificates come from. */
export type CaSource =
  | {
      readonly kind: 'istio';
      /** `host:port` or `https://host:port`. */
      readonly address: string;
      /** Absolute. */
      readonly rootCaFile: string;
      readonly altHostname: string | undefined;
    }
  | {
      /** Testing: an in-process CA loaded from (or created in) a directory. */
      readonly kind: 'dir';
      /** Absolute. */
      readonly dir: string;
    };

/** The checked control-plane settings. */
export interface ControlPlaneSettings {
  readonly ca: CaSource;
  /** TLS for xDS: the root file (absolute) and an alternative name. */
  readonly xdsTls: { readonly rootCertificatesFile: string; readonly altHostname?: string };
  /** `undefined`: no token (the default file is absent), as ztunnel's `AuthSource::None`. */
  readonly auth: TokenSource | undefined;
  readonly clusterId: string;
  readonly secretTtlMs: number;
}

/** An xDS address as ztunnel takes it: `host:port` or `https://host:port` (TLS), `http://host:port` (plaintext). */
export interface XdsEndpoint {
  /** `host:port`, the gRPC target. */
  readonly target: string;
  /** `false` only for an explicit `http://`: istiod's plaintext 15010, for testing. */
  readonly tls: boolean;
}

const UNITS: Readonly<Record<string, number>> = { h: 3_600_000, m: 60_000, s: 1000, ms: 1 };

/**
 * Parses a Go-style duration as ztunnel reads `SECRET_TTL`: `24h`, `90m`, `1h30m`, `45s`, `500ms`.
 *
 * @param flag - For the error.
 * @param text - The duration.
 * @returns Milliseconds, at least 1 s.
 * @throws {UsageError} On anything else.
 * @example
 * ```ts
 * parseDurationMs('--secret-ttl', '1h30m'); // 5_400_000
 * ```
 */
export function parseDurationMs(flag: string, text: string): number {
  if (!/^(?:\d+(?:\.\d+)?(?:h|ms|m|s))+$/.test(text))
    throw new UsageError(`${flag}: expected a duration such as 24h, 90m or 30s, got ${JSON.stringify(text)}`);
  let ms = 0;
  for (const m of text.matchAll(/(\d+(?:\.\d+)?)(h|ms|m|s)/g)) ms += Number(m[1]) * (UNITS[m[2] ?? ''] ?? 0);
  if (!(ms >= 1000) || ms > 90 * 24 * 3_600_000)
    throw new UsageError(`${flag}: expected 1s to 2160h, got ${JSON.stringify(text)}`);
  return Math.round(ms);
}

/**
 * Checks `host:port` (a hostname, an IPv4 address or a bracketed IPv6 address) with an optional scheme.
 *
 * @param flag - For the error.
 * @param value - What the user gave.
 * @param schemes - The schemes allowed.
 * @returns The scheme (`undefined` when none was given) and `host:port`.
 * @throws {UsageError} On anything else.
 * @example
 * ```ts
 * hostPortWithScheme('--ca-address', 'https://istiod:15012', ['https']); // { scheme: 'https', target: 'istiod:15012' }
 * ```
 */
export function hostPortWithScheme(
  flag: string,
  value: string,
  schemes: readonly string[],
): { readonly scheme: string | undefined; readonly target: string } {
  const m = /^(?:([a-z]+):\/\/)?((?:\[[0-9a-fA-F:.]+\]|[^\s:/[\]]+):(\d{1,5}))\/?$/.exec(value);
  const port = Number(m?.[3]);
  const scheme = m?.[1];
  if (m === null || port < 1 || port > 65535 || (scheme !== undefined && !schemes.includes(scheme)))
    throw new UsageError(
      `${flag}: expected host:port${schemes.map((s) => ` or ${s}://host:port`).join('')}, got ${JSON.stringify(value)}`,
    );
  return { scheme, target: m[2] as string };
}

/**
 * Reads an xDS address (`--xds`, `XDS_ADDRESS`): TLS unless it says `http://`.
 *
 * @param flag - For the error.
 * @param value - `host:port`, `https://host:port` or `http://host:port`.
 * @returns The target and whether TLS is used.
 * @throws {UsageError} On a malformed address.
 * @example
 * ```ts
 * parseXdsEndpoint('--xds', 'istiod.istio-system.svc:15012'); // { target: 'istiod.istio-system.svc:15012', tls: true }
 * ```
 */
export function parseXdsEndpoint(flag: string, value: string): XdsEndpoint {
  const { scheme, target } = hostPortWithScheme(flag, value, ['https', 'http']);
  return { target, tls: scheme !== 'http' };
}

function nonEmptyName(flag: string, value: string | undefined): string | undefined {
  if (value === undefined) return undefined;
  if (!/^[A-Za-z0-9.-]+$/.test(value))
    throw new UsageError(`${flag}: expected a DNS name, got ${JSON.stringify(value)}`);
  return value;
}

/**
 * Reads the control-plane flags, with ztunnel's environment variables as defaults (a flag wins).
 *
 * @param values - The parsed {@link CONTROL_PLANE_FLAG_OPTIONS}.
 * @param env - `CA_ADDRESS`, `CA_ROOT_CA`, `ALT_CA_HOSTNAME`, `XDS_ROOT_CA`, `ALT_XDS_HOSTNAME`, `AUTH_TOKEN`,
 *   `ISTIO_META_CLUSTER_ID`, `CLUSTER_ID`, `SECRET_TTL`, `KUBERNETES_SERVICE_HOST`, `INIT_CWD`.
 * @returns The settings. Files are not read here, except whether `AUTH_TOKEN` names one (as ztunnel decides).
 * @throws {UsageError} On a bad value, or `--ca-dir` together with `--ca-address`.
 * @example
 * ```ts
 * const settings = parseControlPlaneFlags({ 'ca-address': '127.0.0.1:15012', token: 'token' }, process.env);
 * ```
 */
export function parseControlPlaneFlags(
  values: { readonly [K in keyof typeof CONTROL_PLANE_FLAG_OPTIONS]?: string | undefined },
  env: NodeJS.ProcessEnv,
): ControlPlaneSettings {
  const caDirFlag = values['ca-dir'];
  if (caDirFlag !== undefined && values['ca-address'] !== undefined)
    throw new UsageError('--ca-dir and --ca-address exclude each other: give one');
  if (caDirFlag === '') throw new UsageError('--ca-dir: expected a directory, got ""');
  const rootCaFile = userPath(values['ca-root-ca'] ?? env['CA_ROOT_CA'] ?? DEFAULT_ROOT_CERT_PATH, env);
  let ca: CaSource;
  if (caDirFlag !== undefined) ca = { kind: 'dir', dir: userPath(caDirFlag, env) };
  else {
    const fallback =
      env['KUBERNETES_SERVICE_HOST'] === undefined ? DEFAULT_ISTIOD_ADDRESS : IN_CLUSTER_ISTIOD_ADDRESS;
    const address = values['ca-address'] ?? (env['CA_ADDRESS'] || fallback);
    hostPortWithScheme(values['ca-address'] === undefined ? 'CA_ADDRESS' : '--ca-address', address, [
      'https',
    ]);
    ca = {
      kind: 'istio',
      address,
      rootCaFile,
      altHostname: nonEmptyName('--ca-hostname', values['ca-hostname'] ?? env['ALT_CA_HOSTNAME']),
    };
  }
  const xdsAlt = nonEmptyName('--xds-hostname', values['xds-hostname'] ?? env['ALT_XDS_HOSTNAME']);
  const xdsTls = {
    rootCertificatesFile: userPath(
      values['xds-root-ca'] ?? env['XDS_ROOT_CA'] ?? DEFAULT_ROOT_CERT_PATH,
      env,
    ),
    ...(xdsAlt === undefined ? {} : { altHostname: xdsAlt }),
  };
  // The flag names a file; AUTH_TOKEN names a file when one exists there, else it is the token itself;
  // without either, the default file when it exists, else no token (istio/ztunnel@62d82653:src/config.rs L628-646).
  let auth: TokenSource | undefined;
  if (values.token !== undefined) {
    if (values.token === '') throw new UsageError('--token: expected a file, got ""');
    auth = { tokenFile: userPath(values.token, env) };
  } else if (env['AUTH_TOKEN'] !== undefined && env['AUTH_TOKEN'] !== '') {
    const path = userPath(env['AUTH_TOKEN'], env);
    auth = existsSync(path) ? { tokenFile: path } : { token: env['AUTH_TOKEN'] };
  } else {
    const path = userPath(DEFAULT_TOKEN_PATH, env);
    auth = existsSync(path) ? { tokenFile: path } : undefined;
  }
  const clusterId = values['cluster-id'] ?? env['ISTIO_META_CLUSTER_ID'] ?? env['CLUSTER_ID'] ?? 'Kubernetes';
  if (!/^[\x21-\x7e]+$/.test(clusterId))
    throw new UsageError(`--cluster-id: expected a printable name, got ${JSON.stringify(clusterId)}`);
  const secretTtlMs = parseDurationMs(
    values['secret-ttl'] === undefined ? 'SECRET_TTL' : '--secret-ttl',
    values['secret-ttl'] ?? env['SECRET_TTL'] ?? '24h',
  );
  return { ca, xdsTls, auth, clusterId, secretTtlMs };
}
