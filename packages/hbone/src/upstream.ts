/**
 * The default upstream of an HBONE server: a TCP connect to an IP address with ztunnel's 10 s timeout,
 * optionally preceded by a PROXY protocol v2 header as ztunnel writes to an application tunnel
 * (istio/ztunnel@62d82653:src/proxy.rs `write_proxy_protocol`; `docs/hbone.md` "PROXY protocol v2").
 *
 * It never resolves a name. ztunnel never puts a CONNECT authority through DNS: an IP authority names a
 * local workload, a hostname is looked up among the services it knows (istio/ztunnel@62d82653:
 * src/proxy/inbound.rs). Handing a hostname to `getaddrinfo` would turn `127.0.0.02`, `2130706434`,
 * `0x7f000002`, `127.2` or `localhost` (not IP addresses to ztunnel's strict parser, so exempt from the
 * destination-IP check) back into IP addresses: an open proxy. A hostname target is answered 503 here; a
 * server maps hostnames through its own `resolveHostname` registry instead.
 * @module
 */
import net from 'node:net';
import type { Duplex } from 'node:stream';
import { canonicalIp } from '@ambient-kit/ip';
import type { HboneAddress } from './codec/authority.js';
import { HboneError } from './codec/errors.js';
import { encodeProxyV2 } from './codec/proxy-v2.js';
import type { ConnectUpstream, HboneRequestContext } from './context.js';
import { HBONE_DEFAULTS } from './defaults.js';
import { hostPort } from './host-port.js';

/** Options of {@link tcpUpstream}. */
export interface TcpUpstreamOptions {
  /** TCP connect timeout. Default 10 s (ztunnel `CONNECTION_TIMEOUT`). */
  readonly connectTimeoutMs?: number;
  /**
   * Write a PROXY v2 header before any payload: source = the HBONE client's address, destination = the
   * `:authority` (for a hostname, the address `resolveHostname` gave), TLV `0xD0` = the client's SPIFFE ID. This is
   * ztunnel's `application_tunnel { protocol: PROXY }`. Default `false`.
   */
  readonly proxyProtocol?: boolean;
  /** Dial this port instead of the target's (ztunnel's application-tunnel port override, e.g. 15088). */
  readonly port?: number;
  /** Bind the upstream connection to this local IP. */
  readonly localAddress?: string;
}

// net.connect skips the lookup for an IP host; this one makes sure nothing ever reaches getaddrinfo.
function noLookup(hostname: string, _options: unknown, callback: (error: Error) => void): void {
  const error = Object.assign(new Error(`refusing to resolve ${JSON.stringify(hostname)}`), {
    code: 'ENOTFOUND',
  });
  callback(error);
}

/**
 * Builds a {@link ConnectUpstream} that dials an IP target over TCP. Errors map to 503 reasons:
 * `HBONE_ERR_UNKNOWN_TARGET` (a hostname target: nothing is resolved), `HBONE_ERR_UPSTREAM_TIMEOUT`,
 * `HBONE_ERR_UPSTREAM_REFUSED` (any other connect failure).
 *
 * @param options - Timeout, PROXY protocol, port override, local address.
 * @returns The connector; sockets have `allowHalfOpen`, `TCP_NODELAY` and 180 s keepalive, as ztunnel's.
 * @throws {RangeError} When an option is out of range.
 * @example
 * ```ts
 * const server = createHboneServer({ svid, bundles, connectUpstream: tcpUpstream({ proxyProtocol: true, port: 15088 }) });
 * ```
 */
export function tcpUpstream<State extends object = Record<string, unknown>>(
  options: TcpUpstreamOptions = {},
): ConnectUpstream<State> {
  const timeoutMs = options.connectTimeoutMs ?? HBONE_DEFAULTS.upstreamConnectTimeoutMs;
  if (!Number.isFinite(timeoutMs) || timeoutMs <= 0) {
    throw new RangeError(`tcpUpstream: "connectTimeoutMs" must be a positive number, got ${timeoutMs}`);
  }
  if (
    options.port !== undefined &&
    (!Number.isInteger(options.port) || options.port < 1 || options.port > 65535)
  ) {
    throw new RangeError(`tcpUpstream: "port" must be an integer in 1..65535, got ${options.port}`);
  }
  return (target, context) => connectTcp(target, context, options, timeoutMs);
}

function connectTcp<State extends object>(
  target: HboneAddress,
  context: HboneRequestContext<State>,
  options: TcpUpstreamOptions,
  timeoutMs: number,
): Promise<Duplex> {
  // Only an address the strict parser accepts (Rust's `SocketAddr` rules: no octal, hex or short forms).
  const ip = target.kind === 'socket' ? canonicalIp(target.ip) : undefined;
  if (ip === undefined) {
    const name = target.kind === 'socket' ? target.ip : target.hostname;
    return Promise.reject(
      new HboneError(
        'HBONE_ERR_UNKNOWN_TARGET',
        `no service or workload for ${JSON.stringify(`${name}:${target.port}`)} (tcpUpstream dials IP addresses only)`,
      ),
    );
  }
  const host = ip;
  const port = options.port ?? target.port;
  const where = hostPort(host, port);
  return new Promise<Duplex>((resolve, reject) => {
    const socket = net.connect({
      host,
      port,
      lookup: noLookup as unknown as net.LookupFunction,
      allowHalfOpen: true,
      noDelay: true,
      keepAlive: true,
      keepAliveInitialDelay: HBONE_DEFAULTS.tcpKeepaliveMs,
      ...(options.localAddress === undefined ? {} : { localAddress: options.localAddress }),
    });
    const cleanup = (): void => {
      clearTimeout(timer);
      context.signal.removeEventListener('abort', onAbort);
      socket.removeListener('error', onError);
    };
    const fail = (error: HboneError): void => {
      cleanup();
      socket.destroy();
      reject(error);
    };
    const onAbort = (): void =>
      fail(new HboneError('HBONE_ERR_ABORTED', `upstream connect to ${where} aborted`));
    const onError = (error: NodeJS.ErrnoException): void => {
      fail(
        new HboneError(
          'HBONE_ERR_UPSTREAM_REFUSED',
          `upstream connect to ${where} failed: ${error.message}`,
          {
            cause: error,
          },
        ),
      );
    };
    const timer = setTimeout(
      () =>
        fail(
          new HboneError(
            'HBONE_ERR_UPSTREAM_TIMEOUT',
            `upstream connect to ${where} timed out after ${timeoutMs} ms`,
          ),
        ),
      timeoutMs,
    );
    if (context.signal.aborted) {
      onAbort();
      return;
    }
    context.signal.addEventListener('abort', onAbort, { once: true });
    socket.once('error', onError);
    socket.once('connect', () => {
      cleanup();
      if (options.proxyProtocol === true) {
        const destination = { ip: host, port: target.port };
        const sameFamily = net.isIPv6(context.remoteAddress) === net.isIPv6(destination.ip);
        // istio/ztunnel@62d82653:src/proxy.rs write_proxy_protocol: (client address, tunnel target) + TLV
        // 0xD0 = peer identity.
        socket.write(
          encodeProxyV2({
            command: 'proxy',
            ...(sameFamily
              ? { source: { ip: context.remoteAddress, port: context.remotePort }, destination }
              : {}),
            sourceIdentity: context.peerIdentity,
          }),
        );
      }
      resolve(socket);
    });
  });
}
