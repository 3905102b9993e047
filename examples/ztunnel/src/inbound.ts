/**
 * The inbound HBONE path of one local workload (`istio/ztunnel@62d82653:src/proxy/inbound.rs`): an
 * `@ambient-kit/hbone` server with the workload's certificate on `podIP:15008`. Each CONNECT is checked
 * by the server (400 for a bad request or an IP mismatch, 503 for ztunnel's own ports), then authorized
 * against the workload's L4 policies (401), then connected to the app (503 when that fails), and only then
 * answered 200. Connections stay tracked so a policy change can close the ones it no longer allows
 * (`istio/ztunnel@62d82653:src/proxy/connection_manager.rs`).
 * @module
 */
import type net from 'node:net';
import type { AddressInfo } from 'node:net';
import {
  createHboneServer,
  HboneError,
  type HboneRequestContext,
  type HboneServer,
} from '@ambient-kit/hbone';
import type { BundleSource, SvidSource } from '@ambient-kit/spiffe';
import {
  formatSocketAddress,
  type Service,
  type Workload,
  type WorkloadStore,
} from '@ambient-kit/workload-api';
import type { AccessLogEntry } from './access-log.js';
import { type ConnectionFailure, type ConnectionResult, openConnection } from './connection-result.js';
import type { ZtunnelMetrics } from './metrics.js';
import { assertRbac, type RbacConnection } from './rbac.js';
import { baggageOf, derivedSource } from './workload-meta.js';

/** An inbound connection that passed policy, kept so a later policy change can re-check it. */
export interface TrackedConnection {
  readonly workloadUid: string;
  readonly conn: RbacConnection;
  /** Closes it (the tunnel ends with it), recording why. */
  reject(failure: ConnectionFailure): void;
}

/** A connection registered with {@link trackConnection}. */
export interface ConnectionTracking {
  /** Why a policy change closed it, if one did (its access log record says so). */
  failure(): ConnectionFailure | undefined;
  /** The connection ended: stop re-checking it. */
  untrack(): void;
}

/**
 * Tracks a connection that passed policy until it ends, so a later policy change can close it
 * (`istio/ztunnel@62d82653:src/proxy/connection_manager.rs`): rejecting it destroys `upstream`, which ends the splice.
 *
 * @param tracked - The ztunnel's live connections.
 * @param workloadUid - The destination workload (its policies are the ones re-checked).
 * @param conn - The connection as RBAC sees it.
 * @param upstream - The connection to the app.
 * @returns The handle to read the rejection from and to untrack the connection with.
 * @example
 * ```ts
 * const tracking = trackConnection(ctx.tracked, workload.uid, conn, upstream);
 * const error = await splice(downstream, upstream, counters);
 * tracking.untrack();
 * result.record(tracking.failure());
 * ```
 */
export function trackConnection(
  tracked: Set<TrackedConnection>,
  workloadUid: string,
  conn: RbacConnection,
  upstream: { destroy(): void },
): ConnectionTracking {
  let failure: ConnectionFailure | undefined;
  const entry: TrackedConnection = {
    workloadUid,
    conn,
    reject(why) {
      failure ??= why;
      upstream.destroy();
    },
  };
  tracked.add(entry);
  return { failure: () => failure, untrack: () => tracked.delete(entry) };
}

/** What the inbound path needs from its ztunnel. */
export interface InboundContext {
  readonly store: WorkloadStore;
  readonly metrics: ZtunnelMetrics;
  readonly emit: (entry: AccessLogEntry) => void;
  readonly bundles: BundleSource;
  /** Connects to the app: `target` inside the pod, optionally from the client's address. */
  readonly dialApp: (
    target: { readonly ip: string; readonly port: number },
    client: { readonly ip: string },
    signal: AbortSignal,
  ) => Promise<net.Socket>;
  /** Connections that are up, for late policy rejection. */
  readonly tracked: Set<TrackedConnection>;
  /** Illegal target ports (ztunnel's own). */
  readonly illegalPorts: readonly number[];
}

/** A running inbound listener. */
export interface InboundServer {
  readonly workload: Workload;
  /** `podIP:15008` (in-pod too, where the listener itself is bound to the wildcard inside the pod). */
  readonly address: string;
  readonly hbone: HboneServer;
  /**
   * Stops accepting, sends GOAWAY, lets open tunnels finish and closes what is left at `deadlineMs` (default
   * 1 s) (the hbone server's drain).
   */
  close(options?: { readonly deadlineMs?: number }): Promise<void>;
}

interface Pending {
  readonly workload: Workload;
  readonly target: { readonly ip: string; readonly port: number } | undefined;
  readonly conn: RbacConnection | undefined;
  readonly result: ConnectionResult | undefined;
  /** Set once the app is connected: from then on the app socket's close records the end. */
  established: boolean;
}

/**
 * ztunnel `guess_inbound_service`: the service named by the `Forwarded: host=` the source ztunnel sent,
 * else the first service of the workload that maps to the target port.
 */
function guessService(
  store: WorkloadStore,
  workload: Workload,
  forwardedHost: string | undefined,
  port: number,
): Service | undefined {
  if (forwardedHost !== undefined) {
    const named = store.bestServiceByHost(forwardedHost, workload.namespace);
    if (named !== undefined) return named;
  }
  for (const ref of workload.services) {
    const svc = store.service(ref.key);
    if (svc === undefined) continue;
    const own = ref.ports.some((p) => p.targetPort === port);
    if (own || svc.ports.some((p) => p.targetPort === port)) return svc;
  }
  return undefined;
}

/** A hostname `:authority` (double HBONE): the local workload's port for that service's port. */
function hostnameTarget(
  store: WorkloadStore,
  workload: Workload,
  hostname: string,
  servicePort: number,
): number | undefined {
  const svc = store.bestServiceByHost(hostname, workload.namespace);
  if (svc === undefined) return undefined;
  const own = workload.services
    .find((s) => s.key === svc.key)
    ?.ports.find((p) => p.servicePort === servicePort);
  if (own !== undefined && own.targetPort > 0) return own.targetPort;
  const mapped = svc.ports.find((p) => p.servicePort === servicePort);
  return mapped !== undefined && mapped.targetPort > 0 ? mapped.targetPort : undefined;
}

/**
 * Starts the inbound listener of a local workload.
 *
 * @param ctx - The ztunnel's state and dialer.
 * @param workload - The local workload; its first IP is where the listener binds.
 * @param svid - The workload's certificate source.
 * @param listen - The HBONE port (15008) to bind on the workload's IP (loopback mode), or a listener opened
 *   elsewhere and served through `listen({ server })` (in-pod mode: 15008 inside the pod's namespace).
 * @returns The running listener.
 * @throws When the address cannot be bound.
 * @example
 * ```ts
 * const server = await startInboundServer(ctx, echo, await certs.source(echo.identity), 15008);
 * // in-pod: the pod's own 15008
 * const inPod = await startInboundServer(ctx, echo, svid, await listenInNetns(netns, { port: 15008 }));
 * ```
 */
export async function startInboundServer(
  ctx: InboundContext,
  workload: Workload,
  svid: SvidSource,
  listen: number | net.Server,
): Promise<InboundServer> {
  const ip = workload.workloadIps[0];
  if (ip === undefined) throw new TypeError(`workload ${workload.uid} has no IP to listen on`);

  const prepare = (hctx: HboneRequestContext): Pending => {
    // The store's current copy: policies attached to the workload may have changed since the listener started.
    const current = ctx.store.workload(workload.uid) ?? workload;
    const a = hctx.authority;
    const targetPort = a.kind === 'socket' ? a.port : hostnameTarget(ctx.store, current, a.hostname, a.port);
    const target = targetPort === undefined ? undefined : { ip: hctx.localAddress, port: targetPort };
    if (target === undefined) {
      return { workload: current, target, conn: undefined, result: undefined, established: false };
    }
    const conn: RbacConnection = {
      srcIdentity: hctx.peerIdentity,
      srcIp: hctx.remoteAddress,
      dstIp: target.ip,
      dstPort: target.port,
    };
    // The source workload by IP, trusted only when it is the identity that authenticated.
    const byIp = ctx.store.workloadByAddress(hctx.remoteAddress, current.network);
    const source = byIp !== undefined && byIp.identity === hctx.peerIdentity ? byIp : undefined;
    const service = guessService(ctx.store, current, hctx.request.forwarded?.host, target.port);
    const result = openConnection({
      metrics: ctx.metrics,
      emit: ctx.emit,
      src: formatSocketAddress(hctx.remoteAddress, hctx.remotePort),
      // For consistency with outbound logs, dst.addr is the :15008 address (istio/ztunnel@62d82653:src/proxy/inbound.rs).
      dst: formatSocketAddress(hctx.localAddress, hctx.localPort),
      hboneAddr: hctx.authorityText,
      open: {
        reporter: 'destination',
        ...(source === undefined ? {} : { source }),
        derivedSource: derivedSource(hctx.peerIdentity, hctx.request.baggage),
        destination: current,
        ...(service === undefined ? {} : { destinationService: service }),
        mtls: true,
      },
    });
    const p: Pending = { workload: current, target, conn, result, established: false };
    // A client that resets during the setup must still close the record.
    hctx.signal.addEventListener(
      'abort',
      () => {
        if (!p.established)
          result.record({ error: 'connection closed before it was established', flag: 'CONNECT' });
      },
      { once: true },
    );
    return p;
  };

  // What authorize() works out for a CONNECT is in its per-request state for connectUpstream().
  const server = createHboneServer<{ pending: Pending }>({
    svid,
    bundles: ctx.bundles,
    illegalPorts: ctx.illegalPorts,
    baggage: baggageOf(workload),
    authorize(hctx) {
      const p = prepare(hctx);
      hctx.state.pending = p;
      if (p.conn === undefined || p.result === undefined) return true; // answered 503 by connectUpstream
      const decision = assertRbac(ctx.store, p.workload, p.conn);
      if (!decision.allow) {
        p.result.record({
          error: `connection closed due to policy rejection: ${decision.reason}`,
          flag: 'DENY',
        });
      }
      return decision.allow;
    },
    async connectUpstream(_target, hctx) {
      const p = hctx.state.pending;
      if (p?.target === undefined || p.result === undefined || p.conn === undefined) {
        throw new HboneError(
          'HBONE_ERR_UNKNOWN_TARGET',
          `no service or workload for hostname: ${hctx.authorityText}`,
          { status: 503 },
        );
      }
      const { result, conn } = p;
      let socket: net.Socket;
      try {
        socket = await ctx.dialApp(p.target, { ip: hctx.remoteAddress }, hctx.signal);
      } catch (error) {
        result.record({ error: `connection failed: ${(error as Error).message}`, flag: 'CONNECT' });
        throw error;
      }
      p.established = true;
      const tracking = trackConnection(ctx.tracked, workload.uid, conn, socket);
      socket.once('close', () => {
        tracking.untrack();
        // The server splices the tunnel itself, so bytes are taken from the app socket at the end.
        result.fromDownstream(socket.bytesWritten);
        result.fromUpstream(socket.bytesRead);
        result.record(tracking.failure());
      });
      return socket;
    },
  });
  let address: string;
  if (typeof listen === 'number') {
    const bound: AddressInfo = await server.listen({ port: listen, host: ip });
    address = formatSocketAddress(bound.address, bound.port);
  } else {
    // A wildcard listener inside the pod: connections to it arrive at the pod's IP.
    const bound: AddressInfo = await server.listen({ server: listen });
    address = formatSocketAddress(ip, bound.port);
  }
  return {
    workload,
    address,
    hbone: server,
    close: (options) => server.close({ deadlineMs: options?.deadlineMs ?? 1000 }),
  };
}
