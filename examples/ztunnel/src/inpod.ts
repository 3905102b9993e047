/**
 * In-pod mode (istio-cni + ztunnel "shared" mode, workload-api-and-redirect.md §B.5): listeners opened
 * inside a pod's network namespace from outside it with `@ambient-kit/redirect`, next to the iptables or
 * nftables rules that steer the pod's traffic to them:
 *
 * - **15001, outbound.** The app's connections, redirected by `nat OUTPUT`; where they were going comes from
 *   conntrack (`originalDestination`). Plain TCP upstreams are dialed from inside the pod with mark 0x539 so
 *   the rules let them out (`connectMarked`).
 * - **15006, inbound plaintext.** Non-HBONE traffic to the pod, redirected by `nat PREROUTING`: L4 policy
 *   with no peer identity (`zt:src/proxy/inbound_passthrough.rs`), then a marked connection to the app.
 *
 * HBONE upstreams are dialed by `@ambient-kit/hbone` from the ztunnel's own namespace (it has no hook for
 * a socket made in the pod), and the pod's inbound HBONE is served by the loopback-mode listener when the
 * pod IP is local; see docs/examples.md "In-pod mode".
 * @module
 */
import type net from 'node:net';
import { connectMarked, listenInNetns, type NetnsRef, originalDestination } from '@ambient-kit/redirect';
import { formatSocketAddress, type Workload, type WorkloadStore } from '@ambient-kit/workload-api';
import type { AccessLogEntry } from './access-log.js';
import { type ConnectionFailure, logEarlyFailure, openConnection } from './connection-result.js';
import type { TrackedConnection } from './inbound.js';
import type { ZtunnelMetrics } from './metrics.js';
import { type OutboundContext, proxyOutbound } from './outbound.js';
import { assertRbac, type RbacConnection } from './rbac.js';
import { closeServer } from './servers/listen.js';
import { splice } from './splice.js';

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
  /** The outbound path; its `dialTcp` is replaced by a marked dial from inside the pod. */
  readonly outbound: OutboundContext;
  readonly store: WorkloadStore;
  readonly metrics: ZtunnelMetrics;
  readonly emit: (entry: AccessLogEntry) => void;
  readonly tracked: Set<TrackedConnection>;
  readonly ports: { readonly outbound: number; readonly inboundPlaintext: number };
  readonly preserveSourceIp: boolean;
  readonly connectTimeoutMs: number;
}

/** A pod's listeners. */
export interface InpodListeners {
  readonly workload: Workload;
  readonly outbound: net.Server;
  readonly inboundPlaintext: net.Server;
  close(): Promise<void>;
}

function unmapped(ip: string): string {
  return ip.startsWith('::ffff:') && ip.includes('.') ? ip.slice(7) : ip;
}

/**
 * Opens 15001 and 15006 inside a pod.
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
  const dialTcp = (host: string, port: number): Promise<net.Socket> =>
    connectMarked({ netns, host, port, mark: INPOD_MARK, timeoutMs: ctx.connectTimeoutMs });
  const outboundCtx: OutboundContext = { ...ctx.outbound, dialTcp, bindSourceIp: false };

  // ztunnel sets IP_TRANSPARENT on its in-pod listeners (best effort) and marks every socket. Half-closes
  // must pass through (an app that ends its request still reads the answer), so allowHalfOpen.
  const listenOptions = {
    transparent: true,
    mark: INPOD_MARK,
    reusePort: true,
    serverOptions: { allowHalfOpen: true, noDelay: true },
  } as const;
  const outbound = await listenInNetns(netns, { port: ctx.ports.outbound, ...listenOptions });
  let inboundPlaintext: net.Server;
  try {
    inboundPlaintext = await listenInNetns(netns, { port: ctx.ports.inboundPlaintext, ...listenOptions });
  } catch (error) {
    await closeServer(outbound);
    throw error;
  }
  outbound.on('connection', (socket: net.Socket) => {
    socket.on('error', () => {});
    const client = { address: unmapped(socket.remoteAddress ?? ''), port: socket.remotePort ?? 0 };
    let destination: string;
    try {
      const dst = originalDestination(socket);
      destination = formatSocketAddress(unmapped(dst.address), dst.port);
    } catch (error) {
      logEarlyFailure(ctx.emit, {
        src: formatSocketAddress(client.address, client.port),
        dst: `${socket.localAddress}:${socket.localPort}`,
        direction: 'outbound',
        error: `connection tracking failed: ${(error as Error).message}`,
      });
      socket.destroy();
      return;
    }
    const source = ctx.store.workload(workload.uid) ?? workload;
    void proxyOutbound(outboundCtx, { source, client, destination }, socket);
  });
  inboundPlaintext.on('connection', (socket: net.Socket) => {
    void servePlaintext(ctx, workload, netns, socket);
  });
  return {
    workload,
    outbound,
    inboundPlaintext,
    close: async () => {
      await Promise.all([closeServer(outbound), closeServer(inboundPlaintext)]);
    },
  };
}

async function servePlaintext(
  ctx: InpodContext,
  workload: Workload,
  netns: NetnsRef,
  socket: net.Socket,
): Promise<void> {
  socket.on('error', () => {});
  const srcIp = unmapped(socket.remoteAddress ?? '');
  const src = formatSocketAddress(srcIp, socket.remotePort ?? 0);
  let target: { ip: string; port: number };
  try {
    const dst = originalDestination(socket);
    target = { ip: unmapped(dst.address), port: dst.port };
  } catch (error) {
    logEarlyFailure(ctx.emit, {
      src,
      dst: `${socket.localAddress}:${socket.localPort}`,
      direction: 'inbound',
      error: `connection tracking failed: ${(error as Error).message}`,
    });
    socket.destroy();
    return;
  }
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
  let failure: ConnectionFailure | undefined;
  const tracked: TrackedConnection = {
    workloadUid: workload.uid,
    conn,
    reject(why) {
      failure ??= why;
      upstream.destroy();
    },
  };
  ctx.tracked.add(tracked);
  const error = await splice(socket, upstream, {
    fromDownstream: (n) => result.fromDownstream(n),
    fromUpstream: (n) => result.fromUpstream(n),
  });
  ctx.tracked.delete(tracked);
  result.record(
    failure ?? (error === undefined ? undefined : { error: `io error: ${error.message}`, flag: 'CONNECT' }),
  );
}
