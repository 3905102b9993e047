/**
 * `createWaypoint(config)`: an L7 waypoint assembled from the ambient-kit packages, doing what Istio's
 * Envoy waypoint does (hbone.md §5.2, authz.md §2.5):
 *
 * 1. terminate HBONE on `waypointIP:15008` (`@ambient-kit/hbone`; mTLS with the waypoint's SPIFFE ID, the
 *    `:authority` is the service VIP and port the client dialed);
 * 2. parse HTTP/1.1 inside the tunnel (`node:http` on an in-memory socket);
 * 3. authorize each request with the service's `targetRefs` AuthorizationPolicies (`@ambient-kit/authz`,
 *    `kind: 'waypoint'`, the source principal being the HBONE peer's verified identity), answering a denial
 *    as Envoy's RBAC filter does: `403`, `RBAC: access denied`;
 * 4. pick an endpoint of the service (`@ambient-kit/workload-api` `chooseEndpoint`) and forward the request
 *    over HBONE to `podIP:15008` with the waypoint's identity, retrying connect failures on other endpoints
 *    (Istio's default retry policy: 2 retries on connect failure).
 * @module
 */
import { randomUUID } from 'node:crypto';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import {
  type AuthzRequest,
  type Workload as AuthzWorkload,
  type Decision,
  GATEWAY_NAME_LABEL,
  type PolicyEngine,
  type PolicySource,
  RBAC_DENIED_BODY,
} from '@ambient-kit/authz';
import {
  createHboneClient,
  createHboneServer,
  HboneError,
  type HboneRequestContext,
  type HboneServer,
  type HboneStream,
  type SvidInput,
} from '@ambient-kit/hbone';
import type { BundleSource } from '@ambient-kit/spiffe';
import {
  createWorkloadStore,
  formatSocketAddress,
  type RandomSource,
  type Workload,
  type WorkloadStore,
} from '@ambient-kit/workload-api';
import { createXdsClient, type XdsClient } from '@ambient-kit/workload-api/xds';
import { formatWaypointAccessLog, type WaypointAccessLogEntry } from './access-log.js';
import { createDuplexPair, type PairEnd } from './duplex-pair.js';
import { findDestination, pickUpstream, type WaypointDestination } from './route.js';

/** Options of {@link createWaypoint}. */
export interface WaypointConfig {
  /** The waypoint's own workload uid: its first IP is where it listens, its namespace scopes its policies. */
  readonly workloadUid: string;
  /** The Gateway name (`targetRefs: [{kind: Gateway, name}]`). Default: the workload's `workloadName`, else its name. */
  readonly gatewayName?: string;
  /** Workload state: its own xDS client, or a store fed by someone else. */
  readonly workloads: { readonly xdsAddress: string } | { readonly store: WorkloadStore };
  /** The waypoint's certificate (its SPIFFE ID is the source identity destination ztunnels see). */
  readonly svid: SvidInput;
  readonly bundles: BundleSource;
  /** The AuthorizationPolicies: an engine, or a source whose `current()` is read per request. */
  readonly policies: PolicyEngine | PolicySource;
  /** Where to listen for HBONE. Default 15008. */
  readonly port?: number;
  /** The HBONE port of endpoints. Default 15008. */
  readonly hbonePort?: number;
  /** Retries of a failed upstream connect, on other endpoints when there are. Default 2 (Istio's default). */
  readonly retries?: number;
  /** Upstream HBONE connect timeout. Default 10 s. */
  readonly connectTimeoutMs?: number;
  /** Endpoint choice randomness. Default `Math.random`. */
  readonly random?: RandomSource;
  /** The waypoint's network. Default `""`. */
  readonly network?: string;
  /** Access log sink: `false` turns it off. Default: Istio's text format on stdout. */
  readonly accessLog?: ((entry: WaypointAccessLogEntry) => void) | false;
}

/** A running waypoint. */
export interface Waypoint {
  readonly store: WorkloadStore;
  /**
   * Waits for workload state (xDS) and the waypoint's own workload, then listens on `waypointIP:15008`.
   *
   * @param options - `timeoutMs` for the wait, default 10 s.
   * @returns The bound address.
   * @throws {Error} When the waypoint's workload does not show up in time, or the port is taken.
   */
  start(options?: { readonly timeoutMs?: number }): Promise<string>;
  /** `waypointIP:15008`, after `start()`. */
  address(): string;
  /** Stops listening, closes the upstream pool and the xDS client. */
  close(): Promise<void>;
}

// RFC 7230 §6.1 hop-by-hop headers, never forwarded (Envoy strips them too).
const HOP_BY_HOP = new Set([
  'connection',
  'keep-alive',
  'proxy-connection',
  'proxy-authenticate',
  'proxy-authorization',
  'te',
  'trailer',
  'transfer-encoding',
  'upgrade',
]);

function forwardable(headers: http.IncomingHttpHeaders): http.OutgoingHttpHeaders {
  const out: http.OutgoingHttpHeaders = {};
  const listed = new Set(
    String(headers.connection ?? '')
      .split(',')
      .map((h) => h.trim().toLowerCase()),
  );
  for (const [name, value] of Object.entries(headers)) {
    if (value === undefined || HOP_BY_HOP.has(name) || listed.has(name)) continue;
    out[name] = value;
  }
  return out;
}

/**
 * Envoy's RBAC response code details for a denial, as the access log shows them.
 *
 * @param decision - A denying decision.
 * @returns `rbac_access_denied_matched_policy[none]` or `rbac_access_denied_matched_policy[ns[NS]-policy[NAME]-rule[N]]`.
 * @example
 * ```ts
 * rbacDetails({ allow: false, reason: '', audit: false, dryRunMatched: [] }); // rbac_access_denied_matched_policy[none]
 * ```
 */
export function rbacDetails(decision: Decision): string {
  if (decision.policy === undefined) return 'rbac_access_denied_matched_policy[none]';
  const [ns, name] = decision.policy.split('/');
  return `rbac_access_denied_matched_policy[ns[${ns}]-policy[${name}]-rule[${decision.rule ?? 0}]]`;
}

/** What {@link waypointAuthzRequest} builds a request from. */
export interface WaypointRequestInput {
  /** The HBONE peer's verified SPIFFE ID (the calling workload's, as its ztunnel presented it). */
  readonly peerIdentity: string | null;
  /** The HBONE peer's address. */
  readonly peerIp: string;
  /** The waypoint's own address, the destination IP when the `:authority` names a hostname. */
  readonly localIp: string;
  readonly destination: WaypointDestination;
  readonly method: string;
  readonly path: string;
  readonly headers: Readonly<Record<string, string | readonly string[] | undefined>>;
}

/**
 * The request a waypoint's AuthorizationPolicies judge: the source principal is the HBONE peer's verified
 * identity, the destination the service (or workload) and port of the CONNECT `:authority`.
 *
 * @param input - The tunnel's peer and destination, and the HTTP request.
 * @returns The `@ambient-kit/authz` request.
 * @example
 * ```ts
 * engine.evaluate({ workload: waypointPolicyWorkload(self), request: waypointAuthzRequest(input) });
 * ```
 */
export function waypointAuthzRequest(input: WaypointRequestInput): AuthzRequest {
  const { destination, headers } = input;
  const service =
    destination.kind === 'service'
      ? { kind: 'Service', name: destination.service.name, namespace: destination.service.namespace }
      : undefined;
  const host = headers['host'];
  return {
    source: { principal: input.peerIdentity, ip: input.peerIp },
    destination: {
      ip: destination.ip ?? input.localIp,
      port: destination.port,
      ...(service === undefined ? {} : { service }),
    },
    method: input.method,
    path: input.path,
    ...(typeof host === 'string' ? { host } : {}),
    headers,
  };
}

interface TunnelInfo {
  readonly context: HboneRequestContext;
  readonly destination: WaypointDestination;
}

/**
 * Creates a waypoint. Nothing runs until `start()`.
 *
 * @param config - Identity, workload source, policies, ports.
 * @returns The waypoint.
 * @throws {RangeError} When a port or count is out of range.
 * @example
 * ```ts
 * const waypoint = createWaypoint({
 *   workloadUid: 'Kubernetes//Pod/default/waypoint-0',
 *   workloads: { xdsAddress: '127.0.0.1:15010' },
 *   svid, bundles,
 *   policies: await watchMeshPolicies('mesh.yaml'),
 * });
 * await waypoint.start();
 * ```
 */
export function createWaypoint(config: WaypointConfig): Waypoint {
  const port = config.port ?? 15008;
  const hbonePort = config.hbonePort ?? 15008;
  const retries = config.retries ?? 2;
  if (!Number.isInteger(retries) || retries < 0)
    throw new RangeError(`createWaypoint: "retries" must be >= 0, got ${retries}`);
  for (const [name, p] of [
    ['port', port],
    ['hbonePort', hbonePort],
  ] as const) {
    if (!Number.isInteger(p) || p < 1 || p > 65535)
      throw new RangeError(`createWaypoint: "${name}" must be in 1..65535, got ${p}`);
  }
  const store = 'store' in config.workloads ? config.workloads.store : createWorkloadStore();
  const random = config.random ?? Math.random;
  const network = config.network ?? '';
  const policies: PolicySource =
    'current' in config.policies ? config.policies : { current: () => config.policies as PolicyEngine };
  const emit = (entry: WaypointAccessLogEntry): void => {
    if (config.accessLog === false) return;
    if (config.accessLog === undefined) process.stdout.write(`${formatWaypointAccessLog(entry)}\n`);
    else config.accessLog(entry);
  };
  const client = createHboneClient({
    svid: config.svid,
    bundles: config.bundles,
    ...(config.connectTimeoutMs === undefined ? {} : { connectTimeoutMs: config.connectTimeoutMs }),
  });
  const tunnels = new WeakMap<PairEnd, TunnelInfo>();
  let self: Workload | undefined;
  let authzWorkload: AuthzWorkload | undefined;
  let hbone: HboneServer | undefined;
  let bound: string | undefined;
  let xds: XdsClient | undefined;

  const httpServer = http.createServer({ keepAliveTimeout: 60_000 }, (req, res) => {
    void handle(req, res);
  });
  httpServer.on('clientError', (_error, socket) => {
    if (socket.writable)
      socket.end('HTTP/1.1 400 Bad Request\r\ncontent-length: 0\r\nconnection: close\r\n\r\n');
    else socket.destroy();
  });

  async function handle(req: http.IncomingMessage, res: http.ServerResponse): Promise<void> {
    const startTime = new Date();
    const t0 = performance.now();
    const end = req.socket as unknown as PairEnd;
    const tunnel = tunnels.get(end);
    const requestId =
      typeof req.headers['x-request-id'] === 'string' ? req.headers['x-request-id'] : randomUUID();
    let bytesReceived = 0;
    req.on('data', (chunk: Buffer) => {
      bytesReceived += chunk.length;
    });
    const log = (
      fields: Omit<
        WaypointAccessLogEntry,
        | 'startTime'
        | 'method'
        | 'path'
        | 'protocol'
        | 'bytesReceived'
        | 'durationMs'
        | 'downstreamLocalAddress'
        | 'downstreamRemoteAddress'
        | 'requestId'
      >,
    ) =>
      emit({
        startTime,
        method: req.method ?? '-',
        path: req.url ?? '-',
        protocol: `HTTP/${req.httpVersion}`,
        bytesReceived,
        durationMs: performance.now() - t0,
        requestId,
        downstreamLocalAddress: tunnel === undefined ? '-' : tunnel.context.authorityText,
        downstreamRemoteAddress:
          tunnel === undefined
            ? '-'
            : formatSocketAddress(tunnel.context.remoteAddress, tunnel.context.remotePort),
        ...(typeof req.headers['user-agent'] === 'string' ? { userAgent: req.headers['user-agent'] } : {}),
        ...(typeof req.headers['x-forwarded-for'] === 'string'
          ? { forwardedFor: req.headers['x-forwarded-for'] }
          : {}),
        ...(req.headers.host === undefined ? {} : { authority: req.headers.host }),
        ...fields,
      });
    const local = (
      status: number,
      body: string,
      details: string,
      flags = '-',
      extra: Partial<WaypointAccessLogEntry> = {},
    ) => {
      res.writeHead(status, {
        'content-type': 'text/plain',
        'content-length': Buffer.byteLength(body),
        server: 'istio-envoy',
      });
      res.end(body);
      log({
        responseCode: status,
        responseFlags: flags,
        responseCodeDetails: details,
        bytesSent: Buffer.byteLength(body),
        ...extra,
      });
    };
    if (tunnel === undefined || self === undefined || authzWorkload === undefined) {
      local(503, 'no healthy upstream', 'no_healthy_upstream', 'UH');
      return;
    }
    const { context, destination } = tunnel;
    const request = waypointAuthzRequest({
      peerIdentity: context.peerIdentity,
      peerIp: context.remoteAddress,
      localIp: context.localAddress,
      destination,
      method: req.method ?? '',
      path: req.url ?? '/',
      headers: req.headers,
    });
    const decision = policies.current().evaluate({ workload: authzWorkload, request });
    const policyFields = { sourcePrincipal: context.peerIdentity, policyReason: decision.reason };
    if (decision.badRequest === true) {
      local(400, 'Bad Request', 'path_normalization_failed', '-', policyFields);
      return;
    }
    if (!decision.allow) {
      // Envoy's RBAC filter: a local 403 with this exact body (authz.md; @ambient-kit/authz RBAC_DENIED_BODY).
      local(403, RBAC_DENIED_BODY, rbacDetails(decision), '-', policyFields);
      return;
    }

    const sourceIp = self.workloadIps[0];
    const cluster =
      destination.kind === 'service'
        ? `inbound-vip|${destination.port}|http|${destination.service.hostname}`
        : `connect_originate`;
    const avoid = new Set<string>();
    let stream: HboneStream | undefined;
    let upstreamHost: string | undefined;
    let failure = '';
    for (let attempt = 0; attempt <= retries && stream === undefined; attempt++) {
      const upstream = pickUpstream(store, self, destination, { random, hbonePort, avoid });
      if (upstream === undefined) {
        if (attempt === 0) {
          local(503, 'no healthy upstream', 'no_healthy_upstream', 'UH', {
            ...policyFields,
            upstreamCluster: cluster,
          });
          return;
        }
        break;
      }
      upstreamHost = upstream.authority;
      try {
        stream = await client.connect({
          // From the waypoint pod's own IP: the destination ztunnel sees (and may authorize) that address.
          ...(sourceIp === undefined ? {} : { sourceIp }),
          via: upstream.via,
          authority: upstream.authority,
          expectedIdentities: upstream.identities,
          forwarded: {
            for: formatSocketAddress(context.remoteAddress, context.remotePort),
            ...(destination.kind === 'service' ? { host: destination.service.hostname } : {}),
          },
        });
      } catch (error) {
        avoid.add(upstream.workload.uid);
        failure =
          error instanceof HboneError && error.status !== undefined
            ? `CONNECT answered ${error.status}`
            : (error as Error).message;
      }
    }
    if (stream === undefined) {
      local(
        503,
        `upstream connect error or disconnect/reset before headers. reset reason: connection failure, transport failure reason: ${failure}`,
        'upstream_reset_before_response_started{connection_failure}',
        retries > 0 ? 'URX,UF' : 'UF',
        {
          ...policyFields,
          upstreamCluster: cluster,
          upstreamTransportFailureReason: failure,
          ...(upstreamHost === undefined ? {} : { upstreamHost }),
        },
      );
      return;
    }
    const tunnelStream = stream;
    tunnelStream.on('error', () => {});
    const upstreamStart = performance.now();
    const headers = forwardable(req.headers);
    headers['x-request-id'] = requestId;
    headers['x-forwarded-proto'] = 'http';
    const upstreamReq = http.request({
      method: req.method,
      path: req.url,
      headers,
      setHost: false,
      createConnection: () => tunnelStream as unknown as import('node:net').Socket,
    });
    upstreamReq.on('response', (upstreamRes) => {
      const serviceTime = performance.now() - upstreamStart;
      const out: http.OutgoingHttpHeaders = {
        ...forwardable(upstreamRes.headers),
        server: 'istio-envoy',
        'x-envoy-upstream-service-time': String(Math.round(serviceTime)),
      };
      res.writeHead(upstreamRes.statusCode ?? 502, out);
      let bytesSent = 0;
      upstreamRes.on('data', (chunk: Buffer) => {
        bytesSent += chunk.length;
      });
      upstreamRes.pipe(res);
      upstreamRes.on('end', () =>
        log({
          responseCode: upstreamRes.statusCode ?? 502,
          responseFlags: '-',
          responseCodeDetails: 'via_upstream',
          bytesSent,
          upstreamServiceTimeMs: serviceTime,
          upstreamCluster: cluster,
          ...(upstreamHost === undefined ? {} : { upstreamHost }),
          ...policyFields,
        }),
      );
    });
    upstreamReq.on('error', (error) => {
      tunnelStream.destroy();
      if (!res.headersSent) {
        local(
          503,
          'upstream connect error or disconnect/reset before headers. reset reason: connection termination',
          'upstream_reset_before_response_started{connection_termination}',
          'UC',
          { ...policyFields, upstreamCluster: cluster, upstreamTransportFailureReason: error.message },
        );
      } else {
        res.destroy();
      }
    });
    req.pipe(upstreamReq);
  }

  function connectUpstream(_target: unknown, context: HboneRequestContext): PairEnd {
    const destination = findDestination(store, context.authority, self?.namespace ?? '', network);
    if (destination === undefined) {
      // Envoy's main_internal has no filter chain for it.
      throw new HboneError(
        'HBONE_ERR_UNKNOWN_TARGET',
        `no service or workload for ${context.authorityText}`,
        {
          status: 503,
        },
      );
    }
    const [toHttp, toTunnel] = createDuplexPair();
    toHttp.remoteAddress = context.remoteAddress;
    toHttp.remotePort = context.remotePort;
    toHttp.localAddress = context.localAddress;
    toHttp.localPort = context.localPort;
    tunnels.set(toHttp, { context, destination });
    httpServer.emit('connection', toHttp);
    return toTunnel;
  }

  async function waitForSelf(timeoutMs: number): Promise<Workload> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const found = store.workload(config.workloadUid);
      if (found !== undefined && found.workloadIps.length > 0) return found;
      if (Date.now() > deadline)
        throw new Error(`waypoint workload ${config.workloadUid} not found in the mesh`);
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
  }

  async function start(timeoutMs: number): Promise<string> {
    if ('xdsAddress' in config.workloads) {
      xds = createXdsClient({ address: config.workloads.xdsAddress, store });
      await xds.ready({ timeoutMs });
    }
    const found = await waitForSelf(timeoutMs);
    self = found;
    authzWorkload = waypointPolicyWorkload(found, config.gatewayName);
    hbone = createHboneServer({
      svid: config.svid,
      bundles: config.bundles,
      // A waypoint forwards to other addresses than its own: no IP-match check (docs/hbone.md).
      checkDestinationIp: false,
      connectUpstream,
    });
    const address: AddressInfo = await hbone.listen({ port, host: found.workloadIps[0] as string });
    bound = formatSocketAddress(address.address, address.port);
    return bound;
  }

  return {
    store,
    async start(options) {
      if (bound !== undefined) return bound;
      try {
        return await start(options?.timeoutMs ?? 10_000);
      } catch (error) {
        // A failed start (an address in use, no such workload) leaves nothing running behind it.
        await hbone?.close({ deadlineMs: 0 }).catch(() => {});
        hbone = undefined;
        await xds?.close();
        xds = undefined;
        throw error;
      }
    },
    address() {
      if (bound === undefined) throw new Error('waypoint not started');
      return bound;
    },
    async close() {
      await hbone?.close({ deadlineMs: 1000 });
      httpServer.closeAllConnections();
      httpServer.close();
      await client.close({ deadlineMs: 1000 });
      await xds?.close();
    },
  };
}

/**
 * The workload a waypoint's AuthorizationPolicies are evaluated for (`@ambient-kit/authz` `kind:
 * 'waypoint'`): its namespace, and the Gateway name its `targetRefs: [{kind: Gateway}]` policies name
 * (Istio labels a waypoint's pods `gateway.networking.k8s.io/gateway-name`).
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
