/**
 * `createWaypoint(options)`: an Istio ambient waypoint assembled from the ambient-kit packages, doing what the
 * waypoint's Envoy does (istio/istio@00274234:pilot/pkg/networking/core/listener_waypoint.go):
 *
 * 1. `connect_terminate`: HBONE on `waypointIP:15008` (`@ambient-kit/hbone`), mTLS with the waypoint's SPIFFE
 *    ID; each CONNECT's `:authority` names a service VIP and port (or a pod) that must use this waypoint;
 * 2. `main_internal`: per port protocol, HTTP (HTTP/1.1 or HTTP/2 with prior knowledge, told apart by the
 *    client preface), TCP, or both behind the HTTP inspector for ports of unknown protocol (sniff.ts);
 * 3. the HTTP filters: RequestAuthentication, AuthorizationPolicy, routing, the router (request-handler.ts);
 *    `Upgrade` and `CONNECT` requests are passed through (passthrough.ts);
 * 4. `connect_originate`: HBONE to `<podIP>:15008` with the waypoint's identity, pooled per endpoint
 *    (upstream.ts);
 * 5. operation: admin on 15000, merged metrics on 15020, readiness on 15021 (admin.ts), access log lines,
 *    Istio's standard metrics (metrics.ts), and a graceful drain.
 * @module
 */

import http from 'node:http';
import http2 from 'node:http2';
import type { AddressInfo } from 'node:net';
import type { Duplex } from 'node:stream';
import { type Workload as AuthzWorkload, GATEWAY_NAME_LABEL, type JwksSource } from '@ambient-kit/authz';
import {
  createDuplexPair,
  createHboneClient,
  createHboneServer,
  type HboneClient,
  HboneError,
  type HboneRequestContext,
  type HboneServer,
  type PairEnd,
  type SvidInput,
} from '@ambient-kit/hbone';
import type { RandomSource } from '@ambient-kit/routing';
import type { BundleSource } from '@ambient-kit/spiffe';
import {
  createWorkloadStore,
  formatSocketAddress,
  type Workload,
  type WorkloadStore,
} from '@ambient-kit/workload-api';
import { createXdsClient, type XdsClient } from '@ambient-kit/workload-api/xds';
import { formatWaypointAccessLog, type WaypointAccessLogEntry } from './access-log.js';
import { createAdminServer, createMetricsServer, createReadinessServer } from './admin.js';
import { buildConfigDump } from './config-dump.js';
import type { L7ConfigSource, L7ConfigWatcher } from './config-watcher.js';
import {
  createEndpointDirectory,
  type EndpointDirectory,
  findDestination,
  servesDestination,
} from './destination.js';
import { fromHttp1, fromHttp2 } from './downstream.js';
import { WaypointError } from './errors.js';
import { createWaypointLogger, type WaypointLogger } from './logger.js';
import { createWaypointMetrics, type WaypointMetrics } from './metrics.js';
import { createTcpHandler, createUpgradeHandler } from './passthrough.js';
import { listenerMode } from './protocol.js';
import { DEFAULT_BODY_BUFFER_BYTES } from './request-body.js';
import { createRequestHandler, type RequestHandlerDeps, servicePortProtocol } from './request-handler.js';
import { MAX_SNIFF_BYTES, sniffProtocol } from './sniff.js';
import { type TunnelInfo, tunnelInfo } from './tunnel.js';
import { createUpstreamPool, type UpstreamPool } from './upstream.js';

/** Options of {@link createWaypoint}. */
export interface WaypointOptions {
  /** The waypoint's own workload uid: its first IP is where it listens, its namespace scopes its config. */
  readonly workloadUid: string;
  /** The Gateway name (`targetRefs: [{kind: Gateway, name}]`). Default: the workload's `workloadName`, else its name. */
  readonly gatewayName?: string;
  /** Workload state: its own xDS client, or a store fed by someone else (a mesh file's watcher). */
  readonly workloads: { readonly xdsAddress: string } | { readonly store: WorkloadStore };
  /** The waypoint's certificate (its SPIFFE ID is the source identity destination ztunnels see). */
  readonly svid: SvidInput;
  readonly bundles: BundleSource;
  /** The L7 configuration (`watchL7Config`, or `staticL7Config(parseL7Config(text))`). */
  readonly config: L7ConfigSource;
  /** HBONE port. Default 15008. */
  readonly port?: number;
  /** The HBONE port of endpoints. Default 15008. */
  readonly hbonePort?: number;
  /**
   * Operational ports on the waypoint's IP (`0`: any free port; `false`: not opened). Defaults: admin 15000,
   * metrics 15020, readiness 15021.
   */
  readonly ports?: {
    readonly admin?: number | false;
    readonly metrics?: number | false;
    readonly readiness?: number | false;
  };
  /** Upstream HBONE connect timeout. Default 10 s. */
  readonly connectTimeoutMs?: number;
  /** Idle upstream connections (pooled per endpoint) are closed after this. Default 1 h, as Istio's. */
  readonly upstreamIdleTimeoutMs?: number;
  /** Load-balancing draws. Default `Math.random`. */
  readonly random?: RandomSource;
  /** Draws for route weights and fault and mirror percentages. Default `Math.random`. */
  readonly routeRandom?: RandomSource;
  /** The waypoint's network. Default `""`. */
  readonly network?: string;
  /** Access log sink: `false` turns it off. Default: Istio's text format on stdout. */
  readonly accessLog?: ((entry: WaypointAccessLogEntry) => void) | false;
  /** The operational log. Default: `info` and up on stderr. */
  readonly logger?: WaypointLogger;
  /** Keys for `jwksUri` rules. Default: `@ambient-kit/authz`'s shared resolver. */
  readonly jwks?: JwksSource;
  /** The clock JWTs are checked against. Default `Date.now`. */
  readonly now?: () => number;
  /** Request body kept for retries and mirrors. Default 1 MiB (Envoy's buffer limit). */
  readonly maxRequestBufferBytes?: number;
  /**
   * How long a tunnel on a port of unknown protocol may stay silent before it is treated as TCP; 0 waits
   * (Istio's `protocolDetectionTimeout` default). Default 0.
   */
  readonly protocolDetectionTimeoutMs?: number;
  /** `tag` of `istio_build`. Default `unknown`. */
  readonly istioVersion?: string;
}

/** The waypoint's lifecycle (Envoy's server states, as `/ready` reports them). */
export type WaypointState = 'PRE_INITIALIZING' | 'LIVE' | 'DRAINING' | 'CLOSED';

/** What a drain did. */
export interface DrainResult {
  /** Requests and streams that finished during the drain. */
  readonly completed: number;
  /** Those still running at the deadline, cut. */
  readonly cut: number;
}

/** Where the waypoint listens. */
export interface WaypointAddresses {
  readonly hbone: string;
  readonly admin?: string;
  readonly metrics?: string;
  readonly readiness?: string;
}

/** A running waypoint. */
export interface Waypoint {
  readonly store: WorkloadStore;
  readonly metrics: WaypointMetrics;
  readonly logger: WaypointLogger;
  /**
   * Waits for workload state and the waypoint's own workload, then listens on `waypointIP:15008` and the
   * operational ports.
   *
   * @param options - `timeoutMs` for the wait, default 10 s.
   * @returns The HBONE address.
   * @throws {WaypointError} `WAYPOINT_ERR_NOT_IN_MESH` when the workload does not show up in time,
   *   `WAYPOINT_ERR_LISTEN` when an address is taken.
   */
  start(options?: { readonly timeoutMs?: number }): Promise<string>;
  /** `waypointIP:15008`, after `start()`. */
  address(): string;
  /** Every listener's address, after `start()`. */
  addresses(): WaypointAddresses;
  state(): WaypointState;
  /** Requests (and upgraded or TCP streams) in progress. */
  inFlight(): number;
  /** The `/config_dump` document. */
  configDump(): Record<string, unknown>;
  /**
   * Graceful drain: stop accepting (the HBONE listener closes, HBONE and inner HTTP/2 connections get
   * GOAWAY, HTTP/1.1 answers say `connection: close`), let requests in flight finish until the deadline, then
   * cut what is left. Readiness answers 503 from the start.
   *
   * @param options - `deadlineMs`, default 5 s (Istio's `terminationDrainDuration`).
   * @returns How many finished and how many were cut.
   */
  drain(options?: { readonly deadlineMs?: number }): Promise<DrainResult>;
  /** Stops everything at once (after a drain, or instead of one). */
  close(): Promise<void>;
}

const H2_SERVER_OPTIONS: http2.ServerOptions = {
  settings: { maxConcurrentStreams: 1000, enablePush: false },
  maxSessionMemory: 64,
};

/**
 * The workload a waypoint's policies are evaluated for (`@ambient-kit/authz` `kind: 'waypoint'`): its
 * namespace, and the Gateway name its `targetRefs: [{kind: Gateway}]` policies name (Istio labels a
 * waypoint's pods `gateway.networking.k8s.io/gateway-name`).
 *
 * @param self - The waypoint's own workload.
 * @param gatewayName - Default: the workload's `workloadName`, else its name.
 * @returns The authz workload.
 * @example
 * ```ts
 * engine.evaluate({ workload: waypointPolicyWorkload(self), request });
 * ```
 */
export function waypointPolicyWorkload(self: Workload, gatewayName?: string): AuthzWorkload {
  const name = gatewayName ?? (self.workloadName === '' ? self.name : self.workloadName);
  return {
    kind: 'waypoint',
    namespace: self.namespace,
    name,
    labels: { [GATEWAY_NAME_LABEL]: name },
    serviceAccount: self.serviceAccount,
    trustDomain: self.trustDomain,
  };
}

function checkPort(name: string, p: number | false | undefined, allowZero: boolean): void {
  if (p === undefined || p === false) return;
  if (!Number.isInteger(p) || p < (allowZero ? 0 : 1) || p > 65535)
    throw new WaypointError(
      'WAYPOINT_ERR_OPTIONS',
      `createWaypoint: "${name}" must be a port, got ${String(p)}`,
    );
}

function listenOn(server: http.Server, port: number, host: string): Promise<string> {
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => {
      server.off('error', reject);
      const a = server.address() as AddressInfo;
      resolve(formatSocketAddress(a.address, a.port));
    });
  });
}

/**
 * Creates a waypoint. Nothing runs until `start()`.
 *
 * @param options - Identity, workload source, L7 configuration, ports.
 * @returns The waypoint.
 * @throws {WaypointError} `WAYPOINT_ERR_OPTIONS` when a port is out of range.
 * @example
 * ```ts
 * const waypoint = createWaypoint({
 *   workloadUid: 'Kubernetes//Pod/default/waypoint-0',
 *   workloads: { xdsAddress: '127.0.0.1:15010' },
 *   svid, bundles,
 *   config: await watchL7Config('mesh.yaml'),
 * });
 * await waypoint.start();
 * ```
 */
export function createWaypoint(options: WaypointOptions): Waypoint {
  const port = options.port ?? 15008;
  const hbonePort = options.hbonePort ?? 15008;
  checkPort('port', port, true);
  checkPort('hbonePort', hbonePort, false);
  checkPort('ports.admin', options.ports?.admin, true);
  checkPort('ports.metrics', options.ports?.metrics, true);
  checkPort('ports.readiness', options.ports?.readiness, true);
  const store = 'store' in options.workloads ? options.workloads.store : createWorkloadStore();
  const network = options.network ?? '';
  const logger = options.logger ?? createWaypointLogger();
  const emit = (entry: WaypointAccessLogEntry): void => {
    if (options.accessLog === false) return;
    if (options.accessLog === undefined) process.stdout.write(`${formatWaypointAccessLog(entry)}\n`);
    else options.accessLog(entry);
  };
  const client: HboneClient = createHboneClient({
    svid: options.svid,
    bundles: options.bundles,
    ...(options.connectTimeoutMs === undefined ? {} : { connectTimeoutMs: options.connectTimeoutMs }),
  });
  const directory: EndpointDirectory = createEndpointDirectory(store, { hbonePort, network });
  let metrics: WaypointMetrics = createWaypointMetrics({ namespace: '', cluster: '' });
  let pool: UpstreamPool | undefined;
  let state: WaypointState = 'PRE_INITIALIZING';
  let self: Workload | undefined;
  let hbone: HboneServer | undefined;
  let xds: XdsClient | undefined;
  let bound: WaypointAddresses | undefined;
  let draining: Promise<DrainResult> | undefined;
  const opsServers: http.Server[] = [];
  let inFlight = 0;
  let completedDuringDrain = 0;
  let idleWaiters: (() => void)[] = [];
  // Inner connections: HTTP/1.1 sockets with their open request count, HTTP/2 sessions, raw streams.
  const h1Sockets = new Map<PairEnd, { active: number }>();
  const h2Sessions = new Set<http2.ServerHttp2Session>();
  const rawStreams = new Set<Duplex>();
  const tunnels = new WeakMap<PairEnd, TunnelInfo>();

  const settle = (): void => {
    inFlight--;
    if (state === 'DRAINING') completedDuringDrain++;
    if (inFlight === 0 && idleWaiters.length > 0) {
      const waiters = idleWaiters;
      idleWaiters = [];
      for (const w of waiters) w();
    }
  };
  // Counts work in flight (plain callbacks: no async frame per request).
  const track = (work: Promise<void>, after?: () => void): void => {
    inFlight++;
    const done =
      after === undefined
        ? settle
        : (): void => {
            after();
            settle();
          };
    work.then(done, done);
  };

  let handleRequest: ReturnType<typeof createRequestHandler> | undefined;
  let handleUpgrade: ReturnType<typeof createUpgradeHandler> | undefined;
  let handleTcp: ReturnType<typeof createTcpHandler> | undefined;

  const h1 = http.createServer({
    keepAliveTimeout: 60_000,
    requestTimeout: 0,
    // Envoy's default `max_request_headers_kb`: 60 KiB.
    maxHeaderSize: 60 * 1024,
  });
  h1.on('request', (req: http.IncomingMessage, res: http.ServerResponse) => {
    const socket = req.socket as unknown as PairEnd;
    const tunnel = tunnels.get(socket);
    const entry = h1Sockets.get(socket);
    if (tunnel === undefined || handleRequest === undefined) {
      res.writeHead(503, { 'content-type': 'text/plain', server: 'istio-envoy' }).end('no healthy upstream');
      return;
    }
    if (entry !== undefined) entry.active++;
    track(
      handleRequest(fromHttp1(req, res), tunnel),
      entry === undefined
        ? undefined
        : () => {
            entry.active--;
            // Draining: a keep-alive connection ends once its last answer is out.
            if (state === 'DRAINING' && entry.active === 0) socket.end();
          },
    );
  });
  const onUpgrade = (req: http.IncomingMessage, socket: Duplex, head: Buffer): void => {
    const tunnel = tunnels.get(socket as PairEnd);
    if (tunnel === undefined || handleUpgrade === undefined) {
      socket.destroy();
      return;
    }
    track(handleUpgrade(req, socket, head, tunnel));
  };
  h1.on('upgrade', onUpgrade);
  h1.on('connect', onUpgrade);
  h1.on('clientError', (_error, socket) => {
    if (socket.writable)
      socket.end(
        'HTTP/1.1 400 Bad Request\r\ncontent-length: 11\r\ncontent-type: text/plain\r\nconnection: close\r\n\r\nBad Request',
      );
    else socket.destroy();
  });

  const serveHttp1 = (end: PairEnd): void => {
    const entry = { active: 0 };
    h1Sockets.set(end, entry);
    end.once('close', () => h1Sockets.delete(end));
    h1.emit('connection', end);
  };

  const serveHttp2 = (end: PairEnd, tunnel: TunnelInfo): void => {
    const session = http2.performServerHandshake(end, H2_SERVER_OPTIONS);
    h2Sessions.add(session);
    session.on('error', () => {});
    session.once('close', () => h2Sessions.delete(session));
    if (state === 'DRAINING') session.close();
    session.on('stream', (stream, headers, flags) => {
      stream.on('error', () => {});
      if (handleRequest === undefined) {
        stream.close(http2.constants.NGHTTP2_REFUSED_STREAM);
        return;
      }
      track(handleRequest(fromHttp2(stream, headers, flags), tunnel));
    });
  };

  const serveTcp = (end: PairEnd, tunnel: TunnelInfo): void => {
    if (handleTcp === undefined) {
      end.destroy();
      return;
    }
    rawStreams.add(end);
    end.once('close', () => rawStreams.delete(end));
    track(handleTcp(end, tunnel));
  };

  // The HTTP connection manager's codec choice, or the HTTP inspector's, on the tunnel's first bytes.
  const dispatch = (end: PairEnd, tunnel: TunnelInfo, mode: 'http' | 'sniff'): void => {
    const chunks: Buffer[] = [];
    let size = 0;
    let timer: NodeJS.Timeout | undefined;
    const decide = (verdict: 'h2' | 'http1' | 'tcp'): void => {
      clearTimeout(timer);
      end.off('readable', onReadable);
      end.off('end', onEnd);
      if (chunks.length > 0) end.unshift(Buffer.concat(chunks));
      if (verdict === 'h2') serveHttp2(end, tunnel);
      else if (verdict === 'http1') serveHttp1(end);
      else serveTcp(end, tunnel);
    };
    const onReadable = (): void => {
      for (let chunk = end.read() as Buffer | null; chunk !== null; chunk = end.read() as Buffer | null) {
        chunks.push(chunk);
        size += chunk.length;
      }
      const verdict = sniffProtocol(
        chunks.length === 1 ? (chunks[0] as Buffer) : Buffer.concat(chunks),
        mode,
      );
      if (verdict !== 'more') decide(verdict);
      else if (size >= MAX_SNIFF_BYTES) decide(mode === 'http' ? 'http1' : 'tcp');
    };
    const onEnd = (): void => {
      // The client finished before saying enough: what it sent is HTTP/1 garbage or TCP.
      decide(mode === 'http' ? 'http1' : 'tcp');
    };
    end.on('readable', onReadable);
    end.once('end', onEnd);
    const detectMs = options.protocolDetectionTimeoutMs ?? 0;
    if (mode === 'sniff' && detectMs > 0) timer = setTimeout(() => decide('tcp'), detectMs);
  };

  function connectUpstream(_target: unknown, context: HboneRequestContext): Duplex {
    const me = self;
    if (me === undefined || state !== 'LIVE')
      throw new HboneError('HBONE_ERR_UNAVAILABLE', `waypoint is ${state.toLowerCase()}`, { status: 503 });
    const destination = findDestination(store, context.authority, me.namespace, network);
    if (destination === undefined) {
      // Envoy's main_internal has no filter chain for it.
      throw new HboneError(
        'HBONE_ERR_UNKNOWN_TARGET',
        `no service or workload for ${context.authorityText}`,
        { status: 503 },
      );
    }
    if (!servesDestination(store, me, destination)) {
      throw new HboneError(
        'HBONE_ERR_UNKNOWN_TARGET',
        `${context.authorityText} does not use this waypoint`,
        { status: 503 },
      );
    }
    const cfg = options.config.current();
    const protocol =
      destination.kind === 'service'
        ? servicePortProtocol(cfg, destination.service.hostname, destination.service.ports, destination.port)
        : 'UnsupportedProtocol';
    const tunnel = tunnelInfo(store, context, destination, protocol);
    const [inner, outer] = createDuplexPair();
    inner.remoteAddress = context.remoteAddress;
    inner.remotePort = context.remotePort;
    inner.localAddress = context.localAddress;
    inner.localPort = context.localPort;
    inner.on('error', () => {});
    tunnels.set(inner, tunnel);
    const mode = listenerMode(protocol);
    if (mode === 'tcp') serveTcp(inner, tunnel);
    else dispatch(inner, tunnel, mode);
    logger.log(
      'connection',
      'debug',
      `tunnel from ${context.peerIdentity} (${tunnel.downstreamRemoteAddress}) to ${context.authorityText}: ${protocol}`,
    );
    return outer;
  }

  async function waitForSelf(timeoutMs: number): Promise<Workload> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const found = store.workload(options.workloadUid);
      if (found !== undefined && found.workloadIps.length > 0) return found;
      if (Date.now() > deadline)
        throw new WaypointError(
          'WAYPOINT_ERR_NOT_IN_MESH',
          `waypoint workload ${options.workloadUid} not found in the mesh`,
        );
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
  }

  const configWatcher = (): Partial<L7ConfigWatcher> => options.config as Partial<L7ConfigWatcher>;

  const configDump = (): Record<string, unknown> => {
    const me = self;
    if (me === undefined) return { waypoint: { uid: options.workloadUid, state } };
    const w = configWatcher();
    return buildConfigDump({
      self: me,
      address: bound?.hbone,
      state: state === 'CLOSED' ? 'DRAINING' : state,
      store,
      authzWorkload: waypointPolicyWorkload(me, options.gatewayName),
      config: options.config.current(),
      generation: options.config.generation,
      loadedAtMs: w.loadedAtMs,
      lastError: w.lastError,
      upstream: pool?.stats() ?? {
        http1Agents: 0,
        http1Sockets: 0,
        http1FreeSockets: 0,
        http2Sessions: 0,
        tunnelsOpened: 0,
      },
    });
  };

  async function start(timeoutMs: number): Promise<string> {
    if ('xdsAddress' in options.workloads) {
      xds = createXdsClient({ address: options.workloads.xdsAddress, store });
      await xds.ready({ timeoutMs });
    }
    const me = await waitForSelf(timeoutMs);
    self = me;
    const ip = me.workloadIps[0] as string;
    metrics = createWaypointMetrics({
      namespace: me.namespace,
      cluster: me.clusterId,
      ...(options.istioVersion === undefined ? {} : { istioVersion: options.istioVersion }),
    });
    pool = createUpstreamPool({
      client,
      sourceIp: ip,
      ...(options.upstreamIdleTimeoutMs === undefined
        ? {}
        : { idleTimeoutMs: options.upstreamIdleTimeoutMs }),
      baggage: {
        clusterName: me.clusterId,
        namespace: me.namespace,
        workloadName: me.workloadName === '' ? me.name : me.workloadName,
        ...(me.canonicalName === '' ? {} : { serviceName: me.canonicalName }),
        ...(me.canonicalRevision === '' ? {} : { serviceVersion: me.canonicalRevision }),
      },
    });
    const deps: RequestHandlerDeps = {
      store,
      authzWorkload: waypointPolicyWorkload(me, options.gatewayName),
      config: options.config,
      directory,
      pool,
      metrics,
      accessLog: emit,
      logger,
      routeRandom: options.routeRandom ?? Math.random,
      lbRandom: options.random ?? Math.random,
      jwks: options.jwks,
      now: options.now,
      maxBufferBytes: options.maxRequestBufferBytes ?? DEFAULT_BODY_BUFFER_BYTES,
      draining: () => state === 'DRAINING',
    };
    handleRequest = createRequestHandler(deps);
    handleUpgrade = createUpgradeHandler(deps);
    handleTcp = createTcpHandler(deps);
    hbone = createHboneServer({
      svid: options.svid,
      bundles: options.bundles,
      // A waypoint forwards to other addresses than its own: no IP-match check (docs/hbone.md).
      checkDestinationIp: false,
      connectUpstream,
    });
    state = 'LIVE';
    let hboneAddress: string;
    try {
      const a = await hbone.listen({ port, host: ip });
      hboneAddress = formatSocketAddress(a.address, a.port);
    } catch (error) {
      // Node's message names the address: `listen EADDRINUSE: address already in use <ip>:15008`.
      throw new WaypointError('WAYPOINT_ERR_LISTEN', (error as Error).message, { cause: error });
    }
    const source = {
      configDump,
      metricsText: () => metrics.text(),
      state: (): 'PRE_INITIALIZING' | 'LIVE' | 'DRAINING' => (state === 'CLOSED' ? 'DRAINING' : state),
      serverInfo: () => ({
        state: state === 'CLOSED' ? 'DRAINING' : state,
        node: { id: me.uid, identity: me.identity },
        inFlight,
        configGeneration: options.config.generation,
      }),
      logger,
      drain: () => void drain(5000),
      quit: () => void close(),
    };
    const ops: [keyof NonNullable<WaypointOptions['ports']>, number, http.Server][] = [];
    const admin = options.ports?.admin ?? 15000;
    const metricsPort = options.ports?.metrics ?? 15020;
    const readiness = options.ports?.readiness ?? 15021;
    if (admin !== false) ops.push(['admin', admin, createAdminServer(source)]);
    if (metricsPort !== false) ops.push(['metrics', metricsPort, createMetricsServer(source)]);
    if (readiness !== false) ops.push(['readiness', readiness, createReadinessServer(source)]);
    const addresses: { -readonly [K in keyof WaypointAddresses]: WaypointAddresses[K] } = {
      hbone: hboneAddress,
    };
    for (const [name, p, server] of ops) {
      opsServers.push(server);
      try {
        addresses[name] = await listenOn(server, p, ip);
      } catch (error) {
        throw new WaypointError('WAYPOINT_ERR_LISTEN', `${name}: ${(error as Error).message}`, {
          cause: error,
        });
      }
    }
    bound = addresses;
    logger.log('main', 'info', `waypoint ${me.identity} listening on ${hboneAddress}`);
    return hboneAddress;
  }

  async function drain(deadlineMs: number): Promise<DrainResult> {
    if (draining !== undefined) return draining;
    if (state !== 'LIVE') return { completed: 0, cut: 0 };
    state = 'DRAINING';
    completedDuringDrain = 0;
    const running = inFlight;
    logger.log(
      'main',
      'info',
      `draining: ${running} request(s) in flight, new connections refused, deadline ${deadlineMs} ms`,
    );
    draining = (async () => {
      const closedHbone = hbone?.close({ deadlineMs }).catch(() => {});
      // Idle keep-alive connections end now; busy ones after their answer (connection: close).
      for (const [socket, entry] of h1Sockets) if (entry.active === 0) socket.end();
      for (const session of h2Sessions) session.close();
      if (inFlight > 0) {
        await new Promise<void>((resolve) => {
          const timer = setTimeout(resolve, deadlineMs);
          idleWaiters.push(() => {
            clearTimeout(timer);
            resolve();
          });
        });
      }
      const cut = inFlight;
      if (cut > 0) {
        for (const socket of h1Sockets.keys()) socket.destroy();
        for (const session of h2Sessions) session.destroy();
        for (const s of rawStreams) s.destroy();
      }
      await closedHbone;
      const result = { completed: completedDuringDrain, cut };
      logger.log(
        'main',
        'info',
        `drained: ${result.completed} request(s) finished, ${result.cut} cut at the deadline`,
      );
      return result;
    })();
    return draining;
  }

  async function close(): Promise<void> {
    if (state === 'CLOSED') return;
    state = 'CLOSED';
    await hbone?.close({ deadlineMs: 0 }).catch(() => {});
    for (const socket of h1Sockets.keys()) socket.destroy();
    for (const session of h2Sessions) session.destroy();
    for (const s of rawStreams) s.destroy();
    for (const server of opsServers) {
      server.closeAllConnections();
      server.close();
    }
    directory.close();
    await pool?.close();
    await client.close({ deadlineMs: 500 });
    await xds?.close();
    for (const w of idleWaiters) w();
  }

  return {
    store,
    get metrics() {
      return metrics;
    },
    logger,
    async start(startOptions) {
      if (bound !== undefined) return bound.hbone;
      try {
        return await start(startOptions?.timeoutMs ?? 10_000);
      } catch (error) {
        // A failed start (an address in use, no such workload) leaves nothing running behind it.
        await close();
        throw error;
      }
    },
    address() {
      if (bound === undefined) throw new WaypointError('WAYPOINT_ERR_NOT_STARTED', 'waypoint not started');
      return bound.hbone;
    },
    addresses() {
      if (bound === undefined) throw new WaypointError('WAYPOINT_ERR_NOT_STARTED', 'waypoint not started');
      return bound;
    },
    state: () => state,
    inFlight: () => inFlight,
    configDump,
    drain: (drainOptions) => drain(drainOptions?.deadlineMs ?? 5000),
    close,
  };
}
