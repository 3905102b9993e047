/**
 * The outbound path (`istio/ztunnel@62d82653:src/proxy/outbound.rs` `proxy_to`): choose the upstream with `resolveUpstream` (HBONE to the pod, HBONE to a waypoint, double HBONE via
 * a network gateway, or plain TCP passthrough), open it, then copy bytes both ways, with ztunnel's metrics
 * and access log. The caller brings the downstream connection: SOCKS5 or the in-pod 15001 listener.
 * @module
 */
import { STATUS_CODES } from 'node:http';
import type net from 'node:net';
import type { Duplex } from 'node:stream';
import { type HboneClient, HboneError, splice } from '@ambient-kit/hbone';
import {
  formatSocketAddress,
  parseSocketAddress,
  type Upstream,
  type Workload,
  type WorkloadStore,
} from '@ambient-kit/workload-api';
import type { AccessLogEntry } from './access-log.js';
import { type ConnectionFailure, logEarlyFailure, openConnection } from './connection-result.js';
import type { ResponseFlag, ZtunnelMetrics } from './metrics.js';
import { baggageOf } from './workload-meta.js';

/** Why an outbound connection could not be set up; the SOCKS5 listener turns it into a reply code. */
export type OutboundRefusal =
  /** No route: unknown or unhealthy service, unknown waypoint, a call to ourselves. */
  | 'no-route'
  /** The destination ztunnel (or waypoint) answered 401: policy. */
  | 'denied'
  /** The upstream refused or answered 503. */
  | 'refused'
  /** The upstream did not answer in time. */
  | 'timeout'
  /** TLS, identity or HTTP/2 failure with the next hop. */
  | 'failed';

/** What the outbound path needs from its ztunnel. */
export interface OutboundContext {
  readonly store: WorkloadStore;
  readonly metrics: ZtunnelMetrics;
  readonly emit: (entry: AccessLogEntry) => void;
  /** The HBONE client of a source workload's identity (one pool per identity, as ztunnel keys pools by it). */
  readonly hboneClient: (source: Workload) => Promise<HboneClient>;
  /** Plain TCP to a non-mesh upstream (in-pod: from inside the pod, marked). */
  readonly dialTcp: (host: string, port: number) => Promise<net.Socket>;
  /** This ztunnel's network. */
  readonly network: string;
  /** Loopback ports never to dial (15001, 15006, 15008, 15080 with SOCKS5). */
  readonly illegalPorts: readonly number[];
  /** Bind HBONE connections to the source pod's IP (loopback mode: it is an address of this host). */
  readonly bindSourceIp: boolean;
}

/** One outbound connection to proxy. */
export interface OutboundRequest {
  /** The local workload the connection comes from. */
  readonly source: Workload;
  /** The app's end of the connection. */
  readonly client: { readonly address: string; readonly port: number };
  /** Where the app was going, `ip:port` (`SO_ORIGINAL_DST`, or the SOCKS5 target). */
  readonly destination: string;
}

/** Callbacks around the setup, for the listener that accepted the connection. */
export interface OutboundHooks {
  /** The upstream is connected; bytes flow after this resolves (SOCKS5 sends its success reply here). */
  readonly established?: () => void | Promise<void>;
  /** The upstream could not be set up; the downstream is destroyed after this returns. */
  readonly refused?: (refusal: OutboundRefusal, message: string) => void | Promise<void>;
}

interface Failure extends ConnectionFailure {
  readonly refusal: OutboundRefusal;
}

/**
 * Maps an upstream failure to ztunnel's error text and `response_flags` (`istio/ztunnel@62d82653:src/proxy.rs` `Error`,
 * `istio/ztunnel@62d82653:src/proxy/metrics.rs` `extract_failure_reason`): a non-200 answer is `http status: 401 Unauthorized`
 * with flag `CONNECT`; TLS failures `TLS_FAILURE`; a dial timeout `NETWORK_POLICY`.
 */
function classify(error: unknown): Failure {
  if (error instanceof HboneError) {
    if (error.status !== undefined && error.status !== 200 && error.code !== 'HBONE_ERR_UPSTREAM_REFUSED') {
      const text = `http status: ${error.status} ${STATUS_CODES[error.status] ?? ''}`.trimEnd();
      return { error: text, flag: 'CONNECT', refusal: error.status === 401 ? 'denied' : 'refused' };
    }
    const flagged = (flag: ResponseFlag, refusal: OutboundRefusal, prefix: string): Failure => ({
      error: `${prefix}${error.message}`,
      flag,
      refusal,
    });
    switch (error.code) {
      case 'HBONE_ERR_CONNECT_TIMEOUT':
        return flagged('NETWORK_POLICY', 'timeout', '');
      case 'HBONE_ERR_TLS_HANDSHAKE':
      case 'HBONE_ERR_PEER_IDENTITY':
        return flagged('TLS_FAILURE', 'failed', 'tls error: ');
      case 'HBONE_ERR_NO_SVID':
        return flagged('IDENTITY_ERROR', 'failed', 'identity error: ');
      case 'HBONE_ERR_PROTOCOL':
        return flagged('H2_HANDSHAKE_FAILURE', 'failed', 'http2 handshake failed: ');
      default:
        return flagged('CONNECT', 'refused', 'connection failed: ');
    }
  }
  const e = error as Error & { code?: string };
  const timeout = e.code === 'REDIRECT_ERR_CONNECT_TIMEOUT' || e.code === 'ETIMEDOUT';
  return {
    error: `connection failed: ${e.message ?? String(error)}`,
    flag: 'CONNECT',
    refusal: timeout ? 'timeout' : 'refused',
  };
}

async function connectUpstream(
  ctx: OutboundContext,
  req: OutboundRequest,
  upstream: Upstream,
): Promise<Duplex> {
  if (upstream.protocol === 'TCP') {
    const target = parseSocketAddress(upstream.address);
    if (target === undefined) throw new TypeError(`upstream address ${upstream.address} is not ip:port`);
    return ctx.dialTcp(target.ip, target.port);
  }
  // A `nativeTunnel` destination (a waypoint, an app on @ambient-kit/native-hbone) needs nothing special
  // here: as any HBONE workload it is dialled at its own `podIP:15008` with `:authority` `podIP:targetPort`
  // (istio/ztunnel@62d82653:src/proxy/outbound.rs L751-768 picks the target from `protocol` alone; no
  // outbound code reads `native_tunnel`). What the flag changes is the other end: no ztunnel de-tunnels
  // for it (`isLocal` in ztunnel.ts), so the pod's own HBONE server answers.
  const client = await ctx.hboneClient(req.source);
  const service = upstream.service?.hostname;
  const common = {
    via: upstream.address,
    authority: upstream.authority as string,
    baggage: baggageOf(req.source),
    forwarded: {
      for: formatSocketAddress(req.client.address, req.client.port),
      ...(service === undefined ? {} : { host: service }),
    },
    ...(ctx.bindSourceIp ? { sourceIp: req.client.address } : {}),
  };
  if (upstream.protocol === 'DOUBLEHBONE') {
    return client.connect({
      ...common,
      expectedIdentities: upstream.finalIdentities,
      doubleHbone: { gatewayIdentities: upstream.identities, network: ctx.network },
    });
  }
  return client.connect({ ...common, expectedIdentities: upstream.identities });
}

/**
 * Proxies one outbound connection.
 *
 * @param ctx - The ztunnel's state and dialers.
 * @param req - Who is calling and where to.
 * @param downstream - The app's connection; destroyed when the setup fails.
 * @param hooks - Setup callbacks (SOCKS5 replies).
 * @returns Resolves when the connection is over (bytes copied and both sides closed, or setup failed).
 * @example
 * ```ts
 * server.on('connection', (socket) => {
 *   void proxyOutbound(ctx, { source, client: { address: socket.remoteAddress!, port: socket.remotePort! },
 *     destination: '10.96.0.10:80' }, socket);
 * });
 * ```
 */
export async function proxyOutbound(
  ctx: OutboundContext,
  req: OutboundRequest,
  downstream: Duplex,
  hooks: OutboundHooks = {},
): Promise<void> {
  downstream.on('error', () => {});
  const src = formatSocketAddress(req.client.address, req.client.port);
  const route = ctx.store.resolveUpstream({
    source: req.source,
    destination: req.destination,
    sourceIp: req.client.address,
    network: ctx.network,
    illegalPorts: ctx.illegalPorts,
  });
  if (route.isErr()) {
    // ztunnel `log_early_deny`: no route means no full record (istio/ztunnel@62d82653:src/proxy/outbound.rs proxy_to).
    logEarlyFailure(ctx.emit, {
      src,
      dst: req.destination,
      direction: 'outbound',
      error: route.error.message,
    });
    await hooks.refused?.('no-route', route.error.message);
    downstream.destroy();
    return;
  }
  const upstream = route.value;
  const mtls = upstream.protocol !== 'TCP';
  const result = openConnection({
    metrics: ctx.metrics,
    emit: ctx.emit,
    src,
    dst: upstream.address,
    ...(upstream.authority === undefined ? {} : { hboneAddr: upstream.authority }),
    open: {
      reporter: 'source',
      source: req.source,
      // "We are going to do mTLS, so report our identity" (outbound.rs conn_metrics_from_request).
      ...(mtls ? { derivedSource: { identity: req.source.identity } } : {}),
      ...(upstream.workload === undefined ? {} : { destination: upstream.workload }),
      ...(upstream.service === undefined ? {} : { destinationService: upstream.service }),
      mtls,
    },
  });
  let stream: Duplex;
  try {
    stream = await connectUpstream(ctx, req, upstream);
  } catch (error) {
    const failure = classify(error);
    result.record(failure);
    await hooks.refused?.(failure.refusal, failure.error);
    downstream.destroy();
    return;
  }
  try {
    await hooks.established?.();
  } catch (error) {
    stream.destroy();
    downstream.destroy();
    result.record({ error: `io error: ${(error as Error).message}`, flag: 'CONNECT' });
    return;
  }
  const error = await splice(downstream, stream, {
    fromDownstream: (n) => result.fromDownstream(n),
    fromUpstream: (n) => result.fromUpstream(n),
  });
  result.record(error === undefined ? undefined : { error: `io error: ${error.message}`, flag: 'CONNECT' });
}
