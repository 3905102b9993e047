/**
 * In-pod mode (istio-cni + ztunnel "shared" mode): listeners opened
 * inside a pod's network namespace from outside it with `@ambient-kit/redirect`, next to the iptables or
 * nftables rules that steer the pod's traffic to them, and upstream sockets made inside it with ztunnel's
 * mark 0x539 so those rules let them out:
 *
 * - **15001, outbound.** The app's connections, redirected by `nat OUTPUT`; where they were going comes from
 *   conntrack (`originalDestination`). HBONE upstreams go through an `@ambient-kit/hbone` client whose
 *   `connectSocket` dials from inside the pod with `connectMarked` (one client, so one pool, per pod and
 *   source identity: `istio/ztunnel@62d82653:src/proxy/pool.rs` keeps a pool per pod in in-pod mode); plain TCP upstreams are
 *   dialed the same way.
 * - **15006, inbound plaintext.** Non-HBONE traffic to the pod, redirected by `nat PREROUTING`: L4 policy
 *   with no peer identity (`istio/ztunnel@62d82653:src/proxy/inbound_passthrough.rs`), then a marked connection to the app.
 * - **15008, inbound HBONE.** Exempt from the redirection, so it reaches this listener directly; served by
 *   the pod's `@ambient-kit/hbone` server (`listen({ server })`) with the pod's certificate, L4 policy, and a
 *   marked connection to the app from inside the pod.
 * - **15053, DNS** (UDP and TCP on the pod's localhost, when DNS capture is on): the pod's DNS, redirected by
 *   istio-cni's DNS rules, answered from the mesh or forwarded from inside the pod, marked (dns-proxy.ts).
 * @module
 */
import type net from 'node:net';
import { createHboneClient, splice } from '@ambient-kit/hbone';
import { unmappedIpText as unmappedIp } from '@ambient-kit/ip';
import { connectMarked, listenInNetns, type NetnsRef, originalDestination } from '@ambient-kit/redirect';
import type { BundleSource, SvidSource } from '@ambient-kit/spiffe';
import { formatSocketAddress, type Workload, type WorkloadStore } from '@ambient-kit/workload-api';
import type { AccessLogEntry } from './access-log.js';
import { logEarlyFailure, openConnection } from './connection-result.js';
import { createDnsForwarder } from './dns-forwarder.js';
import { type DnsProxy, type DnsProxyContext, startDnsProxy } from './dns-proxy.js';
import { hboneClientsByIdentity } from './hbone-clients.js';
import {
  type InboundContext,
  type InboundServer,
  startInboundServer,
  type TrackedConnection,
  trackConnection,
} from './inbound.js';
import type { LogLevel, LogValue } from './logger.js';
import type { ZtunnelMetrics } from './metrics.js';
import { type OutboundContext, proxyOutbound } from './outbound.js';
import { assertRbac, type RbacConnection } from './rbac.js';
import type { DnsUpstream } from './resolv-conf.js';
import { closeServer } from './servers/listen.js';

/**
 * ztunnel's in-pod socket mark (`PACKET_MARK`, 1337 = 0x539).
 *
 * @example
 * ```ts
 * await connectMarked({ netns, host, port, mark: INPOD_MARK });
 * ```
 */
export const INPOD_MARK = 0x539;

/** What the in-pod listeners need from their ztunnel. */
export interface InpodContext {
  /** The outbound path; its dialers are replaced by marked ones from inside the pod. */
  readonly outbound: OutboundContext;
  /** The inbound HBONE path; its app dialer is replaced by a marked one from inside the pod. */
  readonly inbound: InboundContext;
  readonly store: WorkloadStore;
  readonly metrics: ZtunnelMetrics;
  readonly emit: (entry: AccessLogEntry) => void;
  readonly tracked: Set<TrackedConnection>;
  readonly ports: {
    readonly outbound: number;
    readonly inboundPlaintext: number;
    readonly inbound: number;
  };
  readonly preserveSourceIp: boolean;
  readonly connectTimeoutMs: number;
  /** The certificate source of an identity (the pod's, for its inbound server and its HBONE clients). */
  readonly svid: (identity: string) => Promise<SvidSource>;
  /** Trust bundles, for the pod's HBONE clients. */
  readonly bundles: BundleSource;
  /** The DNS proxy's settings; `undefined` when DNS capture is off. */
  readonly dns:
    | {
        /** Where unknown names go (read when the pod starts). */
        readonly upstreams: () => Promise<readonly DnsUpstream[]>;
        readonly timeoutMs: number;
        readonly clusterDomain: string;
        readonly log?: (level: LogLevel, message: string, fields: [string, LogValue | undefined][]) => void;
      }
    | undefined;
  /** Downstream connections in flight (15001, 15006), for a drain to wait on. */
  readonly downstream: Set<net.Socket>;
}

/** A pod's listeners. */
export interface InpodListeners {
  readonly workload: Workload;
  readonly outbound: net.Server;
  readonly inboundPlaintext: net.Server;
  /** The pod's HBONE server on its own 15008. */
  readonly inbound: InboundServer;
  /** The pod's DNS proxy (when DNS capture is on). */
  readonly dns: DnsProxy | undefined;
  /** Stops accepting on 15001, 15006 and 15053 (connections in flight go on); a drain's first step. */
  stopAccepting(): void;
  /**
   * Closes the listeners, drains the pod's HBONE server (GOAWAY, then a hard close at `deadlineMs`, default
   * 1 s) and closes its HBONE clients.
   */
  close(options?: { readonly deadlineMs?: number }): Promise<void>;
}

/**
 * Where a redirected connection was going (conntrack, via `originalDestination`, which already turns
 * IPv4-mapped addresses into IPv4). When that fails the connection is logged as ztunnel's early failure
 * and destroyed.
 */
function originalTarget(
  ctx: InpodContext,
  socket: net.Socket,
  src: string,
  direction: 'outbound' | 'inbound',
): { ip: string; port: number } | undefined {
  try {
    const dst = originalDestination(socket);
    return { ip: dst.address, port: dst.port };
  } catch (error) {
    logEarlyFailure(ctx.emit, {
      src,
      dst: `${socket.localAddress}:${socket.localPort}`,
      direction,
      error: `connection tracking failed: ${(error as Error).message}`,
    });
    socket.destroy();
    return undefined;
  }
}

/**
 * Opens 15001, 15006 and 15008 inside a pod and serves them.
 *
 * @param ctx - The ztunnel's state.
 * @param workload - The pod's workload.
 * @param netns - The pod's network namespace (path or handle).
 * @returns The listeners.
 * @throws {RedirectError} When the namespace cannot be entered or a port is taken.
 * @example
 * ```ts
 * const listeners = await startInpodListeners(ctx, sleep, '/var/run/netns/sleep');
 * ```
 */
export async function startInpodListeners(
  ctx: InpodContext,
  workload: Workload,
  netns: NetnsRef,
): Promise<InpodListeners> {
  // ztunnel marks every socket its in-pod factory makes (istio/ztunnel@62d82653:src/inpod/config.rs), upstreams included.
  const dialTcp = (host: string, port: number, signal?: AbortSignal): Promise<net.Socket> =>
    connectMarked({
      netns,
      host,
      port,
      mark: INPOD_MARK,
      timeoutMs: ctx.connectTimeoutMs,
      ...(signal === undefined ? {} : { signal }),
    });
  // One HBONE client per source identity of this pod: its pool dials from inside the pod, marked.
  const clients = hboneClientsByIdentity(async (identity) =>
    createHboneClient({
      svid: await ctx.svid(identity),
      bundles: ctx.bundles,
      connectTimeoutMs: ctx.connectTimeoutMs,
      // The hbone client's own deadline (connectTimeoutMs) aborts the dial through `signal`.
      connectSocket: ({ host, port, signal }) => dialTcp(host, port, signal),
    }),
  );
  const outboundCtx: OutboundContext = {
    ...ctx.outbound,
    dialTcp: (host, port) => dialTcp(host, port),
    hboneClient: (source) => clients.get(source.identity),
    bindSourceIp: false,
  };
  const inboundCtx: InboundContext = {
    ...ctx.inbound,
    // To the app from inside the pod, marked (so rule 17/18 let it through and replies come back to us),
    // from the client's address when preserving it (istio/ztunnel@62d82653:src/proxy/inbound.rs, freebind_connect).
    dialApp: (target, client, signal) =>
      connectMarked({
        netns,
        host: target.ip,
        port: target.port,
        mark: INPOD_MARK,
        timeoutMs: ctx.connectTimeoutMs,
        signal,
        ...(ctx.preserveSourceIp ? { sourceAddress: client.ip } : {}),
      }),
  };

  // ztunnel sets IP_TRANSPARENT on its in-pod listeners (best effort) and marks every socket. Half-closes
  // must pass through (an app that ends its request still reads the answer), so allowHalfOpen.
  const listenOptions = {
    transparent: true,
    mark: INPOD_MARK,
    reusePort: true,
    serverOptions: { allowHalfOpen: true, noDelay: true },
  } as const;
  const opened: net.Server[] = [];
  let inbound: InboundServer;
  let dns: DnsProxy | undefined;
  try {
    opened.push(await listenInNetns(netns, { port: ctx.ports.outbound, ...listenOptions }));
    opened.push(await listenInNetns(netns, { port: ctx.ports.inboundPlaintext, ...listenOptions }));
    // 15008: TLS is done by the HBONE server, which takes the listener over (and closes it on close()).
    const hbone = await listenInNetns(netns, { port: ctx.ports.inbound, ...listenOptions });
    opened.push(hbone);
    if (ctx.dns !== undefined) dns = await startPodDns(ctx, workload, netns);
    inbound = await startInboundServer(inboundCtx, workload, await ctx.svid(workload.identity), hbone);
  } catch (error) {
    await dns?.close();
    await Promise.all(opened.map(closeServer));
    throw error;
  }
  const [outbound, inboundPlaintext] = opened as [net.Server, net.Server];
  // This pod's connections in flight, also in the ztunnel-wide set a drain waits on.
  const podSockets = new Set<net.Socket>();
  const track = (socket: net.Socket): void => {
    podSockets.add(socket);
    ctx.downstream.add(socket);
    socket.once('close', () => {
      podSockets.delete(socket);
      ctx.downstream.delete(socket);
    });
  };
  outbound.on('connection', (socket: net.Socket) => {
    track(socket);
    socket.on('error', () => {});
    const client = { address: unmappedIp(socket.remoteAddress ?? ''), port: socket.remotePort ?? 0 };
    const dst = originalTarget(ctx, socket, formatSocketAddress(client.address, client.port), 'outbound');
    if (dst === undefined) return;
    const destination = formatSocketAddress(dst.ip, dst.port);
    const source = ctx.store.workload(workload.uid) ?? workload;
    void proxyOutbound(outboundCtx, { source, client, destination }, socket);
  });
  inboundPlaintext.on('connection', (socket: net.Socket) => {
    track(socket);
    void servePlaintext(ctx, workload, netns, socket);
  });
  let dnsClosing: Promise<void> | undefined;
  const stopAccepting = (): void => {
    // net.Server.close() stops accepting and lets the accepted connections go on.
    if (outbound.listening) outbound.close();
    if (inboundPlaintext.listening) inboundPlaintext.close();
    dnsClosing ??= dns?.close();
  };
  return {
    workload,
    outbound,
    inboundPlaintext,
    inbound,
    dns,
    stopAccepting,
    close: async (options) => {
      const deadlineMs = options?.deadlineMs ?? 1000;
      stopAccepting();
      await Promise.all([waitForSockets(podSockets, deadlineMs), inbound.close({ deadlineMs }), dnsClosing]);
      await Promise.all([closeServer(outbound), closeServer(inboundPlaintext)]);
      await clients.closeAll();
    },
  };
}

/**
 * Waits for connections to end on their own, up to a deadline, then destroys those left.
 *
 * @param sockets - A live set (sockets remove themselves when they close).
 * @param deadlineMs - `0` destroys them at once (ztunnel's `DrainMode::Immediate`).
 * @returns How many were destroyed at the deadline.
 * @example
 * ```ts
 * const forced = await waitForSockets(downstream, 5000);
 * ```
 */
export async function waitForSockets(sockets: Set<net.Socket>, deadlineMs: number): Promise<number> {
  const started = Date.now();
  while (sockets.size > 0 && Date.now() - started < deadlineMs) {
    await new Promise((resolve) => setTimeout(resolve, Math.min(20, deadlineMs)));
  }
  const left = [...sockets];
  for (const socket of left) socket.destroy();
  return left.length;
}

/** The pod's DNS proxy: answers from the store, forwards from inside the pod with the in-pod mark. */
async function startPodDns(ctx: InpodContext, workload: Workload, netns: NetnsRef): Promise<DnsProxy> {
  const settings = ctx.dns;
  if (settings === undefined) throw new Error('DNS capture is off');
  const upstreams = await settings.upstreams();
  const dnsCtx: DnsProxyContext = {
    store: ctx.store,
    client: () => ctx.store.workload(workload.uid),
    forwarder: createDnsForwarder({ upstreams, netns, mark: INPOD_MARK, timeoutMs: settings.timeoutMs }),
    metrics: ctx.metrics.dns,
    clusterDomain: settings.clusterDomain,
    ...(settings.log === undefined ? {} : { log: settings.log }),
  };
  return startDnsProxy(netns, dnsCtx, { mark: INPOD_MARK });
}

async function servePlaintext(
  ctx: InpodContext,
  workload: Workload,
  netns: NetnsRef,
  socket: net.Socket,
): Promise<void> {
  socket.on('error', () => {});
  const srcIp = unmappedIp(socket.remoteAddress ?? '');
  const src = formatSocketAddress(srcIp, socket.remotePort ?? 0);
  const target = originalTarget(ctx, socket, src, 'inbound');
  if (target === undefined) return;
  const current = ctx.store.workload(workload.uid) ?? workload;
  const conn: RbacConnection = { srcIdentity: undefined, srcIp, dstIp: target.ip, dstPort: target.port };
  const source = ctx.store.workloadByAddress(srcIp, current.network);
  const result = openConnection({
    metrics: ctx.metrics,
    emit: ctx.emit,
    src,
    dst: formatSocketAddress(target.ip, target.port),
    open: {
      reporter: 'destination',
      ...(source === undefined ? {} : { source }),
      destination: current,
      mtls: false,
    },
  });
  const decision = assertRbac(ctx.store, current, conn);
  if (!decision.allow) {
    result.record({ error: `connection closed due to policy rejection: ${decision.reason}`, flag: 'DENY' });
    socket.destroy();
    return;
  }
  let upstream: net.Socket;
  try {
    upstream = await connectMarked({
      netns,
      host: target.ip,
      port: target.port,
      mark: INPOD_MARK,
      timeoutMs: ctx.connectTimeoutMs,
      ...(ctx.preserveSourceIp ? { sourceAddress: srcIp } : {}),
    });
  } catch (error) {
    result.record({ error: `connection failed: ${(error as Error).message}`, flag: 'CONNECT' });
    socket.destroy();
    return;
  }
  const tracking = trackConnection(ctx.tracked, workload.uid, conn, upstream);
  const error = await splice(socket, upstream, {
    fromDownstream: (n) => result.fromDownstream(n),
    fromUpstream: (n) => result.fromUpstream(n),
  });
  tracking.untrack();
  result.record(
    tracking.failure() ??
      (error === undefined ? undefined : { error: `io error: ${error.message}`, flag: 'CONNECT' }),
  );
}
