/**
 * The HBONE client: opens tunnels (HTTP/2 CONNECT over SPIFFE mTLS) through a ztunnel-style connection
 * pool, single or double HBONE (istio/ztunnel@62d82653:src/proxy/outbound.rs, src/proxy/pool.rs;
 * `docs/hbone.md` "The client"). The parts: `client-options.ts`, `pool.ts`, `client-connection.ts` (dial,
 * TLS, the HTTP/2 session), `client-request.ts` (one CONNECT), `double-hbone.ts`.
 * @module
 */
import { isIP } from 'node:net';
import { canonicalIp } from '@ambient-kit/ip';
import type { SpiffeId } from '@ambient-kit/spiffe';
import { type ClientConnection, type DialTarget, dialClientConnection } from './client-connection.js';
import { type HboneClientOptions, resolveClientConfig } from './client-options.js';
import { type ConnectHop, hopEvent, sendConnect } from './client-request.js';
import { systemClock } from './clock.js';
import { formatAuthority, type HboneAddress, parseAuthority } from './codec/authority.js';
import type { Baggage } from './codec/baggage.js';
import { buildConnectRequest } from './codec/connect-request.js';
import { HboneError } from './codec/errors.js';
import type { Forwarded } from './codec/forwarded.js';
import { randomTraceparent, type TraceParent } from './codec/traceparent.js';
import { HBONE_DEFAULTS } from './defaults.js';
import { publish } from './diagnostics.js';
import { openOverTunnel } from './double-hbone.js';
import type { HboneStream, TunnelStream } from './hbone-stream.js';
import { ConnectionPool, type HbonePool, type HbonePoolKey } from './pool.js';
import { clientTlsOptions, currentIdentity, toSvidSource } from './tls.js';

export type { HboneClientOptions } from './client-options.js';

/** Options of {@link HboneClient.connect}. */
export interface HboneConnectOptions {
  /** The HBONE hop, `ip:port` (`[v6]:port`): a pod's or a waypoint's `:15008`, or the E/W gateway. */
  readonly via: string;
  /** The target, `:authority`: `10.0.0.2:8080`, `[ff06::c3]:80` or `svc.ns.svc.cluster.local:80`. */
  readonly authority: string | HboneAddress;
  /**
   * The SPIFFE IDs the server may present; the handshake fails unless its certificate carries one
   * (istio/ztunnel@62d82653:src/tls/workload.rs `verify_server_cert`). With `doubleHbone`, the final
   * destination's (inner) IDs.
   */
  readonly expectedIdentities: readonly (string | SpiffeId)[];
  /** Extra request headers (e.g. `x-istio-source`); names lower-case. */
  readonly headers?: Readonly<Record<string, string>>;
  /** Bind the connection to this local IP; part of the pool key (ztunnel spoofs the source IP). */
  readonly sourceIp?: string;
  /** Abort the connect. Once the tunnel is up, destroy the stream instead. */
  readonly signal?: AbortSignal;
  /** Overrides the client's `baggage` for this tunnel. */
  readonly baggage?: Baggage;
  /** `forwarded`: ztunnel sends `for="<app client ip:port>"` and `host=<service>` when it knows them. */
  readonly forwarded?: Forwarded;
  /** The trace context; default a fresh random one, as ztunnel makes per outbound connection. */
  readonly traceparent?: TraceParent;
  /**
   * Double HBONE (istio/ztunnel@62d82653:src/proxy/outbound.rs; `docs/hbone.md` "Double HBONE"): `via` is an
   * east-west gateway; the outer CONNECT (pooled, checked against
   * `gatewayIdentities`) carries an inner TLS handshake and CONNECT (not pooled, checked against
   * `expectedIdentities`, with `x-forwarded-network: network`), both to the same `authority`.
   */
  readonly doubleHbone?: {
    readonly gatewayIdentities: readonly (string | SpiffeId)[];
    /** This side's network, sent as `x-forwarded-network` on the inner CONNECT. */
    readonly network: string;
  };
}

/** An HBONE client. */
export interface HboneClient {
  /**
   * Opens a tunnel: checks out (or dials) a pooled connection to `via`, sends the CONNECT and resolves
   * once the server answered 200.
   *
   * @param options - Where to, whom to expect, and per-tunnel headers.
   * @returns The tunnel, a `Duplex` of the target connection's bytes.
   * @throws {HboneError} A non-200 answer (`status` set; `HBONE_ERR_BAD_REQUEST` 400,
   *   `HBONE_ERR_POLICY_DENIED` 401, `HBONE_ERR_UNAVAILABLE` 503), or a dial, handshake, identity or
   *   transport failure (see docs/hbone.md "Error codes").
   * @throws {TypeError} When an option is malformed (`via`, `authority`, `expectedIdentities`).
   */
  connect(options: HboneConnectOptions): Promise<HboneStream>;
  /** The connection pool, for observation. */
  readonly pool: HbonePool;
  /**
   * Closes every connection (GOAWAY, then a hard close after `deadlineMs`, default 5 s); later connects fail
   * with `HBONE_ERR_CLOSED`.
   *
   * @param options - The grace period.
   * @returns Resolves once every connection is closed.
   */
  close(options?: { readonly deadlineMs?: number }): Promise<void>;
}

/**
 * Parses `via` into host and port.
 *
 * @param via - `ip:port` or `[v6]:port`.
 * @returns The canonical IP, the port and the canonical text.
 * @throws {TypeError} When `via` is not an IP socket address.
 */
function parseVia(via: string): { host: string; port: number; text: string } {
  // A client dials few hops and names them on every connect: parse each once.
  const known = typeof via === 'string' ? viaCache.get(via) : undefined;
  if (known !== undefined) return known;
  const parsed = typeof via === 'string' ? parseAuthority(via) : undefined;
  if (parsed === undefined || parsed.isErr() || parsed.value.kind !== 'socket' || parsed.value.port === 0) {
    throw new TypeError(`connect: "via" must be "ip:port" or "[ipv6]:port", got ${JSON.stringify(via)}`);
  }
  const hop = { host: parsed.value.ip, port: parsed.value.port, text: formatAuthority(parsed.value) };
  if (viaCache.size >= VIA_CACHE_ENTRIES) viaCache.clear();
  viaCache.set(via, hop);
  return hop;
}

// Parsed `via` texts (valid ones only), bounded: cleared when full.
const VIA_CACHE_ENTRIES = 1024;
const viaCache = new Map<string, { readonly host: string; readonly port: number; readonly text: string }>();

function parseTarget(authority: string | HboneAddress): HboneAddress {
  if (typeof authority !== 'string') {
    // Validates and canonicalises (formatAuthority throws RangeError on a bad address).
    const text = formatAuthority(authority);
    return parseAuthority(text)._unsafeUnwrap();
  }
  const parsed = parseAuthority(authority);
  if (parsed.isErr()) throw new TypeError(`connect: invalid "authority": ${parsed.error.message}`);
  return parsed.value;
}

function identities(name: string, ids: readonly (string | SpiffeId)[] | undefined): string[] {
  if (!Array.isArray(ids) || ids.length === 0) {
    throw new TypeError(`connect: "${name}" must be a non-empty array of SPIFFE IDs`);
  }
  // The common case, one expected identity: already a sorted set.
  if (ids.length === 1) return [String(ids[0])];
  return [...new Set(ids.map((id) => String(id)))].sort();
}

/** What a failed dial or CONNECT rejects with: an `HboneError` as it is, anything else as a dial failure. */
function asHboneError(error: unknown): HboneError {
  return error instanceof HboneError
    ? error
    : new HboneError('HBONE_ERR_CONNECTION_FAILED', String(error), { cause: error });
}

/**
 * Creates an HBONE client. Connections are TLS 1.3 with ALPN `h2` and no SNI, authenticate with `svid`, and
 * accept a server only if its chain verifies against `bundles` and its SPIFFE ID is one of the connect's
 * `expectedIdentities`.
 *
 * @param options - The identity, the trust bundles, and optional overrides of ztunnel's defaults.
 * @returns The client.
 * @throws {RangeError} When a numeric option is out of range.
 * @throws {TypeError} When `connectSocket` is not a function.
 * @example
 * ```ts
 * const client = createHboneClient({ svid, bundles });
 * const tunnel = await client.connect({
 *   via: '10.244.0.42:15008',
 *   authority: '10.244.0.42:8080',
 *   expectedIdentities: ['spiffe://cluster.local/ns/default/sa/reviews'],
 * });
 * tunnel.end('hello');
 * for await (const chunk of tunnel) process.stdout.write(chunk);
 * ```
 */
export function createHboneClient(options: HboneClientOptions): HboneClient {
  const config = resolveClientConfig(options);
  const source = toSvidSource(options.svid);
  const connectSocket = options.connectSocket;
  // Aborts dials in progress when the client closes; aborted = closed.
  const closing = new AbortController();
  const bundles = options.bundles;
  const clock = options.clock ?? systemClock;
  const settings = config.settings;
  const pool = new ConnectionPool({ clock, idleTimeoutMs: config.idleTimeoutMs });

  /** Publishes a tunnel that could not be opened; returns the error to throw. */
  function reportFailure(
    hop: ConnectHop,
    connection: ClientConnection | undefined,
    failure: HboneError,
  ): HboneError {
    publish('streamFailed', () => ({
      ...hopEvent(hop, connection),
      error: failure,
      durationMs: performance.now() - hop.startedAt,
    }));
    return failure;
  }

  function buildHop(
    connect: HboneConnectOptions,
    authority: HboneAddress,
    via: string,
    extra: { forwardedNetwork?: string },
  ): ConnectHop {
    const requestBaggage = connect.baggage ?? options.baggage ?? {};
    const headers = buildConnectRequest({
      authority,
      baggage: requestBaggage,
      ...(connect.forwarded === undefined ? {} : { forwarded: connect.forwarded }),
      traceparent: connect.traceparent ?? randomTraceparent(),
      ...(extra.forwardedNetwork === undefined ? {} : { forwardedNetwork: extra.forwardedNetwork }),
      ...(connect.headers === undefined ? {} : { headers: connect.headers }),
    });
    return {
      authority,
      authorityText: formatAuthority(authority),
      via,
      fields: Object.entries(headers),
      signal: connect.signal,
      startedAt: performance.now(),
      requestBaggage,
      sourceIdentity: currentIdentity(source),
    };
  }

  async function openPooled(
    connect: HboneConnectOptions,
    hop: ConnectHop,
    via: { host: string; port: number; text: string },
    expected: string[],
  ): Promise<TunnelStream> {
    const sourceIp = connect.sourceIp === undefined ? undefined : canonicalIp(connect.sourceIp);
    const key: HbonePoolKey = {
      // Read once per connect (buildHop), so the key and telemetry name the same SVID.
      sourceIdentity: hop.sourceIdentity,
      destinationIdentities: expected,
      destinationAddress: via.text,
      sourceIp,
    };
    const target: DialTarget = {
      host: via.host,
      port: via.port,
      sourceIp,
      tlsOptions: () => clientTlsOptions(source, bundles, expected),
      ...(connectSocket === undefined ? {} : { connectSocket }),
      signal: closing.signal,
    };
    // A stream refused by a GOAWAY never reached the server: retry it on another connection (twice at most).
    for (let attempt = 0; ; attempt++) {
      let connection: ClientConnection | undefined;
      try {
        connection = await pool.acquire(key, () => dialClientConnection(target, settings, clock), hop.signal);
        return await sendConnect(connection, hop, config.responseTimeoutMs);
      } catch (error) {
        const failure = asHboneError(error);
        if (failure.code === 'HBONE_ERR_GOAWAY' && attempt < 2) continue;
        throw reportFailure(hop, connection, failure);
      }
    }
  }

  return {
    pool,
    async connect(connect: HboneConnectOptions): Promise<HboneStream> {
      if (typeof connect !== 'object' || connect === null)
        throw new TypeError('connect: "options" must be an object');
      if (closing.signal.aborted) throw new HboneError('HBONE_ERR_CLOSED', 'the HBONE client is closed');
      const via = parseVia(connect.via);
      const authority = parseTarget(connect.authority);
      const expected = identities('expectedIdentities', connect.expectedIdentities);
      if (connect.sourceIp !== undefined && isIP(connect.sourceIp) === 0) {
        throw new TypeError(
          `connect: "sourceIp" must be an IP address, got ${JSON.stringify(connect.sourceIp)}`,
        );
      }
      if (connect.doubleHbone === undefined) {
        return openPooled(connect, buildHop(connect, authority, via.text, {}), via, expected);
      }
      const gateway = identities('doubleHbone.gatewayIdentities', connect.doubleHbone.gatewayIdentities);
      // Outer: the same authority to the gateway, pooled, checked against the gateway's identities.
      const outer = await openPooled(connect, buildHop(connect, authority, via.text, {}), via, gateway);
      // Inner: TLS + HTTP/2 + CONNECT over the outer tunnel, checked against the destination's identities.
      const hop = buildHop(connect, authority, via.text, { forwardedNetwork: connect.doubleHbone.network });
      try {
        return await openOverTunnel(outer, hop, {
          host: via.host,
          port: via.port,
          tlsOptions: () => clientTlsOptions(source, bundles, expected),
          settings,
          clock,
          responseTimeoutMs: config.responseTimeoutMs,
        });
      } catch (error) {
        throw reportFailure(hop, undefined, asHboneError(error));
      }
    },
    async close(closeOptions?: { readonly deadlineMs?: number }): Promise<void> {
      if (!closing.signal.aborted) {
        closing.abort(new HboneError('HBONE_ERR_CLOSED', 'the HBONE client is closed'));
      }
      await pool.close(closeOptions?.deadlineMs ?? HBONE_DEFAULTS.drainDeadlineMs);
    },
  };
}
