/**
 * The options of an HBONE server and their checked, defaulted form.
 * @module
 */
import type { BundleSource } from '@ambient-kit/spiffe';
import type { Baggage } from './codec/baggage.js';
import { ILLEGAL_TARGET_PORTS } from './codec/target.js';
import type { ConnectUpstream, HboneAuthorize, HboneRequestContext, HostnameResolver } from './context.js';
import { HBONE_DEFAULTS, h2Options, positiveOption } from './defaults.js';
import type { SvidInput } from './tls.js';

/**
 * Options of {@link createHboneServer}. Every default is ztunnel's.
 *
 * @typeParam State - The shape of the per-request `state` the hooks share ({@link HboneRequestContext}).
 */
export interface HboneServerOptions<State extends object = Record<string, unknown>> {
  /** This workload's X.509-SVID (an `SvidSource` rotates without a restart, or a fixed `X509Svid`). */
  readonly svid: SvidInput;
  /** Trust bundles for verifying clients. */
  readonly bundles: BundleSource;
  /**
   * Authorizes each CONNECT (peer ID, target, headers, addresses); `false` answers 401. Default: allow.
   * `@ambient-kit/authz` plugs in here.
   */
  readonly authorize?: HboneAuthorize<State>;
  /**
   * Connects the upstream of each authorized CONNECT; failure answers 503. Default {@link tcpUpstream}(),
   * which dials IP targets only: a hostname `:authority` reaches it only through `resolveHostname`.
   */
  readonly connectUpstream?: ConnectUpstream<State>;
  /**
   * Maps a hostname `:authority` (double HBONE) to the socket address to dial, from your own registry; the
   * result is checked as an IP `:authority` is. Default: none, and the default `connectUpstream` answers a
   * hostname with 503, as ztunnel does for a name it does not know. Nothing is ever resolved through DNS.
   */
  readonly resolveHostname?: HostnameResolver<State>;
  /**
   * Which client certificates pass the TLS handshake, by SPIFFE ID. Default: any ID in the server's own
   * trust domain (ztunnel's `TrustDomainVerifier`).
   */
  readonly authorizePeer?: (peerIdentity: string) => boolean;
  /** `baggage` of 200 answers: this workload's metadata (ztunnel `ENABLE_RESPONSE_BAGGAGE`). */
  readonly baggage?: Baggage | ((context: HboneRequestContext<State>) => Baggage | undefined);
  /**
   * Answer 400 when a socket-address `:authority` does not name the IP the client connected to (ztunnel's
   * `validate_destination`). Default `true`; turn off in a waypoint or gateway that forwards elsewhere.
   */
  readonly checkDestinationIp?: boolean;
  /** Target ports answered 503. Default 15001, 15006, 15008, 15080. */
  readonly illegalPorts?: readonly number[];
  /** Advertised SETTINGS_MAX_CONCURRENT_STREAMS. Default 200. */
  readonly maxConcurrentStreams?: number;
  /** SETTINGS_INITIAL_WINDOW_SIZE. Default 4 MiB. */
  readonly streamWindowBytes?: number;
  /** Connection window. Default 16 MiB. */
  readonly connectionWindowBytes?: number;
  /** SETTINGS_MAX_FRAME_SIZE. Default 1 MiB. */
  readonly maxFrameBytes?: number;
  /** SETTINGS_MAX_HEADER_LIST_SIZE. Default 64 KiB. */
  readonly maxHeaderListBytes?: number;
  /**
   * @deprecated Ignored: the HTTP/2 layer is no longer `node:http2`, and what a connection buffers is bounded
   * by its flow-control windows (`docs/hbone.md` "Design"). Still checked, so a typo stays an error.
   */
  readonly maxSessionMemoryMb?: number;
  /** PING interval. Default 10 s. */
  readonly pingIntervalMs?: number;
  /** Close a connection whose PING is unanswered this long. Default 20 s. */
  readonly pingTimeoutMs?: number;
  /**
   * How long a client has from its TCP connect to a finished TLS handshake and HTTP/2 preface; then the
   * connection is closed (`handshakeTimeouts` in {@link HboneServer.stats}). Default 10 s: a client that
   * sends a few bytes of a ClientHello and stops (slowloris) holds a socket no longer than that.
   */
  readonly handshakeTimeoutMs?: number;
  /**
   * The most TCP connections served at once, TLS handshakes in progress included; connections past it are
   * closed at once (`rejectedConnections` in {@link HboneServer.stats}). Default 10,000.
   */
  readonly maxConnections?: number;
  /** Default grace period of {@link HboneServer.close}. Default 5 s (`CONNECTION_TERMINATION_DEADLINE`). */
  readonly drainDeadlineMs?: number;
  /** Default listen port. Default 15008. */
  readonly port?: number;
  /** Default listen address. Default `::` (all addresses, dual-stack). */
  readonly host?: string;
}

/** The server's options, checked and with every default applied. */
export interface ServerConfig<State extends object> {
  readonly options: HboneServerOptions<State>;
  readonly authorize: HboneAuthorize<State> | undefined;
  readonly connectUpstream: ConnectUpstream<State> | undefined;
  readonly resolveHostname: HostnameResolver<State> | undefined;
  readonly checkDestinationIp: boolean;
  readonly illegalPorts: readonly number[];
  readonly maxConcurrentStreams: number;
  readonly streamWindowBytes: number;
  readonly connectionWindowBytes: number;
  readonly maxFrameBytes: number;
  readonly maxHeaderListBytes: number;
  readonly pingIntervalMs: number;
  readonly pingTimeoutMs: number;
  readonly handshakeTimeoutMs: number;
  readonly maxConnections: number;
  readonly drainDeadlineMs: number;
}

const OWNER = 'createHboneServer';

/**
 * Checks the options and applies the defaults.
 *
 * @param options - As given to `createHboneServer`.
 * @returns The configuration.
 * @throws {RangeError} When a numeric option is out of range.
 * @example
 * ```ts
 * const config = resolveServerConfig({ svid, bundles });
 * config.maxConcurrentStreams; // 200
 * ```
 */
export function resolveServerConfig<State extends object>(
  options: HboneServerOptions<State>,
): ServerConfig<State> {
  const int = (name: keyof HboneServerOptions<State> & string, value: number | undefined, fallback: number) =>
    positiveOption(OWNER, name, value, fallback, true);
  int('maxSessionMemoryMb', options.maxSessionMemoryMb, 1);
  return {
    options,
    authorize: options.authorize,
    connectUpstream: options.connectUpstream,
    resolveHostname: options.resolveHostname,
    checkDestinationIp: options.checkDestinationIp ?? true,
    illegalPorts: options.illegalPorts ?? ILLEGAL_TARGET_PORTS,
    maxConcurrentStreams: int(
      'maxConcurrentStreams',
      options.maxConcurrentStreams,
      HBONE_DEFAULTS.serverMaxConcurrentStreams,
    ),
    ...h2Options(OWNER, options, HBONE_DEFAULTS.serverMaxHeaderListBytes),
    pingIntervalMs: int('pingIntervalMs', options.pingIntervalMs, HBONE_DEFAULTS.pingIntervalMs),
    pingTimeoutMs: int('pingTimeoutMs', options.pingTimeoutMs, HBONE_DEFAULTS.pingTimeoutMs),
    handshakeTimeoutMs: int(
      'handshakeTimeoutMs',
      options.handshakeTimeoutMs,
      HBONE_DEFAULTS.handshakeTimeoutMs,
    ),
    maxConnections: int('maxConnections', options.maxConnections, HBONE_DEFAULTS.maxConnections),
    drainDeadlineMs: int('drainDeadlineMs', options.drainDeadlineMs, HBONE_DEFAULTS.drainDeadlineMs),
  };
}
