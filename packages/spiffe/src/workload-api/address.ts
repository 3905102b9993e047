/**
 * Where the Workload API is served (spiffe/spiffe@665a28f3:standards/SPIFFE_Workload_Endpoint.md, section 4):
 * `SPIFFE_ENDPOINT_SOCKET` is a URI, `unix:///absolute/path` (no authority) or `tcp://<IP>:<port>` (an IP
 * address, not a host name, and nothing else). go-spiffe reads it the same way
 * (spiffe/go-spiffe@e9973f63:workloadapi/addr.go, addr_posix.go), except that we also refuse
 * `unix://host/path`, whose authority the standard forbids.
 * @module
 */
import { isIPv4, isIPv6 } from 'node:net';
import { err, ok, type Result } from 'neverthrow';
import { quote, SpiffeError } from '../codec/errors.js';
import { SPIFFE_ENDPOINT_SOCKET } from './service.js';

/** A parsed Workload API endpoint. */
export type WorkloadApiAddress =
  | {
      readonly kind: 'unix';
      /** The socket's absolute path. */
      readonly path: string;
      /** The canonical URI, `unix:///path`. */
      readonly uri: string;
      /** The grpc-js target, `unix:///path`. */
      readonly target: string;
    }
  | {
      readonly kind: 'tcp';
      /** The IP address, without brackets. */
      readonly host: string;
      /** The port (0 only where {@link ParseWorkloadApiAddressOptions.allowPortZero} allows it). */
      readonly port: number;
      /** The canonical URI, `tcp://IP:port` (`tcp://[v6]:port`). */
      readonly uri: string;
      /** The grpc-js target: `ipv4:IP:port` or `ipv6:[IP]:port`. */
      readonly target: string;
    };

/** Options of {@link parseWorkloadApiAddress}. */
export interface ParseWorkloadApiAddressOptions {
  /** Accept `tcp://IP:0` (a server asking for any free port). Default false. */
  readonly allowPortZero?: boolean;
}

/** Longest address accepted. */
export const MAX_WORKLOAD_API_ADDRESS_CHARS = 4096;

/** Longest Unix socket path Linux can bind or connect to: `sun_path` is 108 bytes with its NUL. */
export const MAX_UNIX_SOCKET_PATH_BYTES = 107;

const TCP = /^tcp:\/\/(?:\[([^\]]*)\]|([^:/?#@[\]]*)):(\d{1,5})$/;

function bad(address: string, why: string): Result<never, SpiffeError> {
  return err(
    new SpiffeError('SPIFFE_ERR_WORKLOAD_API_ADDRESS', `Workload API address ${quote(address)}: ${why}`),
  );
}

function unixPath(address: string, path: string): Result<WorkloadApiAddress, SpiffeError> {
  if (!path.startsWith('/') || path.length < 2)
    return bad(address, 'a unix socket URI needs an absolute path, unix:///path/to/socket');
  if (/[?#]/.test(path)) return bad(address, 'a unix socket URI must not include a query or a fragment');
  // No percent-decoding: a path that needs it is refused rather than guessed at.
  if (path.includes('%') || path.includes('\0'))
    return bad(address, 'the socket path must not contain "%" or NUL');
  if (new TextEncoder().encode(path).length > MAX_UNIX_SOCKET_PATH_BYTES)
    return bad(address, `the socket path is longer than ${MAX_UNIX_SOCKET_PATH_BYTES} bytes`);
  const uri = `unix://${path}`;
  return ok({ kind: 'unix', path, uri, target: uri });
}

/**
 * Parses a Workload API endpoint URI: `unix:///abs/path`, `unix:/abs/path`, or `tcp://IP:port`.
 *
 * @param address - The URI (e.g. the value of `SPIFFE_ENDPOINT_SOCKET`).
 * @param options - Whether port 0 is allowed.
 * @returns The endpoint, or `SPIFFE_ERR_WORKLOAD_API_ADDRESS` saying which rule it breaks.
 * @example
 * ```ts
 * const unix = parseWorkloadApiAddress('unix:///run/spire/sockets/agent.sock')._unsafeUnwrap();
 * if (unix.kind === 'unix') unix.path; // '/run/spire/sockets/agent.sock'
 * parseWorkloadApiAddress('tcp://127.0.0.1:8081')._unsafeUnwrap().target; // 'ipv4:127.0.0.1:8081'
 * parseWorkloadApiAddress('tcp://localhost:8081').isErr(); // true: an IP address is required
 * ```
 */
export function parseWorkloadApiAddress(
  address: string,
  options: ParseWorkloadApiAddressOptions = {},
): Result<WorkloadApiAddress, SpiffeError> {
  if (typeof address !== 'string' || address === '') return bad(String(address), 'the address is empty');
  if (address.length > MAX_WORKLOAD_API_ADDRESS_CHARS)
    return bad(address, `longer than ${MAX_WORKLOAD_API_ADDRESS_CHARS} characters`);
  if (address.startsWith('unix://')) {
    const rest = address.slice('unix://'.length);
    if (!rest.startsWith('/'))
      return bad(address, 'a unix socket URI must not have an authority: use unix:///path/to/socket');
    return unixPath(address, rest);
  }
  if (address.startsWith('unix:')) {
    const rest = address.slice('unix:'.length);
    if (!rest.startsWith('/'))
      return bad(address, 'a unix socket URI needs an absolute path (unix:relative is opaque)');
    return unixPath(address, rest);
  }
  if (address.startsWith('tcp:')) {
    const m = TCP.exec(address);
    if (m === null) {
      return bad(
        address,
        'a tcp URI is tcp://IP:port with no user info, path, query or fragment (tcp://127.0.0.1:8081)',
      );
    }
    const v6 = m[1];
    const host = v6 ?? (m[2] as string);
    if (v6 === undefined ? !isIPv4(host) : !isIPv6(host) || host.includes('%'))
      return bad(address, 'the host of a tcp URI must be an IP address');
    const port = Number(m[3]);
    if (port > 65535 || (port === 0 && options.allowPortZero !== true))
      return bad(address, 'the port must be within 1..65535');
    const hostPort = v6 === undefined ? `${host}:${port}` : `[${host}]:${port}`;
    return ok({
      kind: 'tcp',
      host,
      port,
      uri: `tcp://${hostPort}`,
      target: `${v6 === undefined ? 'ipv4' : 'ipv6'}:${hostPort}`,
    });
  }
  return bad(address, 'the scheme must be unix or tcp');
}

/**
 * The endpoint a client uses: the explicit `socketPath` (a URI as above, or a bare absolute path), else
 * `SPIFFE_ENDPOINT_SOCKET` (a URI only, as the standard says), else none.
 *
 * @param socketPath - The configured endpoint, if any.
 * @param env - The environment (default `process.env`).
 * @returns The endpoint, or `SPIFFE_ERR_WORKLOAD_API_ADDRESS`.
 * @example
 * ```ts
 * resolveWorkloadApiAddress('/run/spire/sockets/agent.sock')._unsafeUnwrap().uri; // 'unix:///run/spire/sockets/agent.sock'
 * resolveWorkloadApiAddress(undefined, { SPIFFE_ENDPOINT_SOCKET: 'unix:///tmp/agent.sock' });
 * ```
 */
export function resolveWorkloadApiAddress(
  socketPath: string | undefined,
  env: Readonly<Record<string, string | undefined>> = process.env,
): Result<WorkloadApiAddress, SpiffeError> {
  if (socketPath !== undefined) {
    if (typeof socketPath === 'string' && socketPath.startsWith('/')) return unixPath(socketPath, socketPath);
    return parseWorkloadApiAddress(socketPath);
  }
  const fromEnv = env[SPIFFE_ENDPOINT_SOCKET];
  if (fromEnv === undefined || fromEnv === '') {
    return err(
      new SpiffeError(
        'SPIFFE_ERR_WORKLOAD_API_ADDRESS',
        `no Workload API address: give socketPath or set ${SPIFFE_ENDPOINT_SOCKET}`,
      ),
    );
  }
  return parseWorkloadApiAddress(fromEnv);
}
