/**
 * One HTTP request at the waypoint, through the filters Istio puts on a waypoint's HTTP connection manager,
 * in their order (istio/istio@00274234:pilot/pkg/networking/core/listener_waypoint.go
 * `buildWaypointHTTPFilters`):
 *
 * 1. RequestAuthentication (Envoy's `jwt_authn`), through `@ambient-kit/authz` `authenticateRequest` with the
 *    RequestAuthentications that target the service (or select the waypoint): a token that fails is answered
 *    401 (403 for an audience that is not allowed) before anything else;
 * 2. AuthorizationPolicy (Envoy's RBAC): 403 `RBAC: access denied`;
 * 3. routing (`@ambient-kit/routing` `route`): redirects, direct responses, fault delays and aborts, rewrites,
 *    header changes; a gRPC request's `grpc-timeout` bounds the route timeout as Istio's `max_grpc_timeout`
 *    does;
 * 4. the router (`execute`): endpoint choice under the DestinationRule (`pickEndpoint`: load balancer, outlier
 *    ejection, circuit breakers, 503 `UO`), timeouts (504 `UT`), retries, mirrors (sent, their answers
 *    dropped), then HBONE to the chosen pod with the waypoint's identity, in the port's protocol.
 *
 * The answer carries `server: istio-envoy` and `x-envoy-upstream-service-time`; the request gets an
 * `x-request-id` when it has none, and `traceparent`, `tracestate` and `b3` headers pass through untouched.
 * Local replies to gRPC requests are gRPC errors (HTTP 200, `grpc-status`), as Envoy sends them. Every request
 * ends with one access log line and one sample of each of Istio's standard metrics.
 * @module
 */
import { randomUUID } from 'node:crypto';
import {
  type AuthzRequest,
  type Workload as AuthzWorkload,
  authenticateRequest,
  type Decision,
  type JwksSource,
  normalizeRequestPath,
  originFormTarget,
  RBAC_DENIED_BODY,
} from '@ambient-kit/authz';
import {
  type Backend,
  type ExecuteResult,
  type ForwardDecision,
  httpToGrpcStatus,
  ISTIO_DEFAULT_RETRY_POLICY,
  type RandomSource,
  type RouteDecision,
  type RouteRequest,
  type Router,
  type SendFunction,
} from '@ambient-kit/routing';
import { formatSocketAddress, type Workload, type WorkloadStore } from '@ambient-kit/workload-api';
import type { WaypointAccessLogEntry } from './access-log.js';
import type { L7ConfigSource } from './config-watcher.js';
import type { EndpointDirectory, WaypointDestination } from './destination.js';
import {
  type Downstream,
  type DownstreamAnswer,
  type DownstreamOutcome,
  forwardableResponseHeaders,
} from './downstream.js';
import type { L7Config } from './l7-config.js';
import type { WaypointLogger } from './logger.js';
import type { PeerMetadata, WaypointMetrics } from './metrics.js';
import {
  convertProtocol,
  fromWdsAppProtocol,
  type ServiceProtocol,
  upstreamHttpVersion,
} from './protocol.js';
import { createRequestBody, type RequestBody } from './request-body.js';
import { type TunnelInfo, workloadMetadata } from './tunnel.js';
import type { UpstreamAnswer, UpstreamPool } from './upstream.js';

/** What a request handler works with. */
export interface RequestHandlerDeps {
  readonly store: WorkloadStore;
  /** The waypoint as AuthorizationPolicies and RequestAuthentications see it (`kind: 'waypoint'`). */
  readonly authzWorkload: AuthzWorkload;
  readonly config: L7ConfigSource;
  readonly directory: EndpointDirectory;
  readonly pool: UpstreamPool;
  readonly metrics: WaypointMetrics;
  readonly accessLog: (entry: WaypointAccessLogEntry) => void;
  readonly logger: WaypointLogger;
  /** Draws for route weights and fault and mirror percentages. */
  readonly routeRandom: RandomSource;
  /** Draws for load balancing. */
  readonly lbRandom: RandomSource;
  /** JWKS for `jwksUri` rules (default: authz's shared resolver). */
  readonly jwks: JwksSource | undefined;
  /** The clock JWTs are checked against (epoch ms). Default `Date.now`. */
  readonly now: (() => number) | undefined;
  /** Request body kept for retries and mirrors. */
  readonly maxBufferBytes: number;
  /** True once the waypoint drains: HTTP/1.1 answers say `connection: close`. */
  readonly draining: () => boolean;
}

/** Handles one request on a tunnel; never rejects. */
export type RequestHandler = (down: Downstream, tunnel: TunnelInfo) => Promise<void>;

/**
 * The protocol of a service port: the Kubernetes Service's port (`appProtocol`, else its name), else the WDS
 * port's `appProtocol`, as istiod decides it.
 *
 * @param config - The L7 configuration (its Kubernetes Services).
 * @param hostname - The service FQDN.
 * @param wdsPorts - The WDS service's ports, when known.
 * @param port - The service port.
 * @returns The protocol.
 * @example
 * ```ts
 * servicePortProtocol(config, 'greeter.default.svc.cluster.local', service.ports, 50051); // 'GRPC'
 * ```
 */
export function servicePortProtocol(
  config: L7Config,
  hostname: string,
  wdsPorts: readonly { readonly servicePort: number; readonly appProtocol: string }[] | undefined,
  port: number,
): ServiceProtocol {
  const kube = config.router.compiled.serviceInfo.get(hostname)?.ports.find((p) => p.port === port);
  if (kube !== undefined) return convertProtocol(port, kube.name, undefined, kube.appProtocol);
  const wds = wdsPorts?.find((p) => p.servicePort === port);
  return wds === undefined
    ? 'UnsupportedProtocol'
    : fromWdsAppProtocol(wds.appProtocol as Parameters<typeof fromWdsAppProtocol>[0]);
}

/**
 * Parses gRPC's `grpc-timeout` header (`<1..8 digits><H|M|S|m|u|n>`).
 *
 * @param value - The header.
 * @returns Milliseconds (at least 1 for a positive sub-millisecond value), or `undefined` when absent or
 *   malformed.
 * @example
 * ```ts
 * parseGrpcTimeout('250m'); // 250
 * parseGrpcTimeout('2S'); // 2000
 * ```
 */
export function parseGrpcTimeout(value: string | string[] | undefined): number | undefined {
  const text = Array.isArray(value) ? value[0] : value;
  const m = text === undefined ? null : /^(\d{1,8})([HMSmun])$/.exec(text);
  if (m === null) return undefined;
  const n = Number(m[1]);
  const unit = m[2] as 'H' | 'M' | 'S' | 'm' | 'u' | 'n';
  const ms = { H: n * 3_600_000, M: n * 60_000, S: n * 1000, m: n, u: n / 1000, n: n / 1_000_000 }[unit];
  return ms > 0 && ms < 1 ? 1 : ms;
}

/**
 * gRPC's percent-encoding of `grpc-message`: bytes outside printable ASCII, and `%`.
 *
 * @param text - The message.
 * @returns The header value.
 * @example
 * ```ts
 * grpcMessage('RBAC: access denied'); // 'RBAC: access denied'
 * ```
 */
export function grpcMessage(text: string): string {
  let out = '';
  for (const byte of Buffer.from(text, 'utf8')) {
    out +=
      byte >= 0x20 && byte <= 0x7e && byte !== 0x25
        ? String.fromCharCode(byte)
        : `%${byte.toString(16).toUpperCase().padStart(2, '0')}`;
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
  /** `:authority`. */
  readonly host?: string;
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
  const host = input.host ?? (typeof headers['host'] === 'string' ? headers['host'] : undefined);
  return {
    source: { principal: input.peerIdentity, ip: input.peerIp },
    destination: {
      ip: destination.ip ?? input.localIp,
      port: destination.port,
      ...(service === undefined ? {} : { service }),
    },
    method: input.method,
    path: input.path,
    ...(host === undefined || host === '' ? {} : { host }),
    headers,
  };
}

const LOCAL_DETAILS: Readonly<Record<string, string>> = {
  NR: 'route_not_found',
  FI: 'fault_filter_abort',
  UT: 'upstream_response_timeout',
  UH: 'no_healthy_upstream',
  NC: 'cluster_not_found',
  UO: 'upstream_reset_before_response_started{overflow}',
  UF: 'upstream_reset_before_response_started{connection_failure}',
  UR: 'upstream_reset_before_response_started{connection_termination}',
};

function detailsOf(result: ExecuteResult): string {
  for (const flag of ['UT', 'UO', 'UF', 'UR', 'UH', 'NC', 'FI', 'NR'] as const)
    if (result.flags.includes(flag)) return LOCAL_DETAILS[flag] as string;
  return 'direct_response';
}

const isGrpcContentType = (ct: string | string[] | undefined): boolean =>
  typeof ct === 'string' && ct.startsWith('application/grpc');

function first(v: string | string[] | undefined): string | undefined {
  return Array.isArray(v) ? v[0] : v;
}

/** Splits `set-cookie` that `execute` joined with newlines. */
function responseHeaders(h: Readonly<Record<string, string | readonly string[]>>) {
  const out = forwardableResponseHeaders(h);
  const cookie = out['set-cookie'];
  if (typeof cookie === 'string' && cookie.includes('\n')) out['set-cookie'] = cookie.split('\n');
  return out;
}

/**
 * Creates the handler.
 *
 * @param deps - Store, configuration, endpoints, upstream pool, telemetry, randomness.
 * @returns The handler.
 * @example
 * ```ts
 * const handle = createRequestHandler(deps);
 * http1Server.on('request', (req, res) => void handle(fromHttp1(req, res), tunnelOf(req)));
 * ```
 */
export function createRequestHandler(deps: RequestHandlerDeps): RequestHandler {
  const destinationMeta = new WeakMap<Workload, PeerMetadata>();
  const metaOf = (w: Workload): PeerMetadata => {
    let m = destinationMeta.get(w);
    if (m === undefined) {
      m = workloadMetadata(w);
      destinationMeta.set(w, m);
    }
    return m;
  };

  return async function handle(down, tunnel) {
    const startTime = new Date();
    const t0 = performance.now();
    const cfg = deps.config.current();
    const headers = down.headers;
    const grpc = isGrpcContentType(headers['content-type']);
    const requestId = first(headers['x-request-id']) ?? randomUUID();
    headers['x-request-id'] = requestId;
    if (headers['x-forwarded-proto'] === undefined) headers['x-forwarded-proto'] = 'http';
    if (deps.draining()) down.closeConnection();
    const destination = tunnel.destination;
    const service = destination.kind === 'service' ? destination.service : undefined;
    const authority = down.authority === '' ? tunnel.authorityText : down.authority;
    let body: RequestBody | undefined;

    // What the access log and the metrics say about the request, filled in as it goes.
    let flags = '-';
    let details = 'via_upstream';
    let routeName = 'default';
    let cluster: string | undefined;
    let upstreamHost: string | undefined;
    let upstreamMeta: PeerMetadata | undefined;
    let serviceTimeMs: number | undefined;
    let attempts = 0;
    let grpcStatus: string | undefined;
    let failureReason: string | undefined;
    let metricService = service === undefined ? undefined : { host: service.hostname, name: service.name };
    let policyReason: string | undefined;
    let responding = false;

    const finish = (status: number, outcome: DownstreamOutcome): void => {
      const durationMs = performance.now() - t0;
      if (!outcome.completed && !flags.includes('UT')) flags = flags === '-' ? 'DC' : `${flags},DC`;
      const requestBytes = down.headerBytes + (body?.bytesReceived ?? 0);
      deps.metrics.record({
        source: tunnel.source,
        destination: upstreamMeta,
        service: metricService,
        grpc,
        responseCode: status,
        grpcStatus,
        responseFlags: flags,
        durationMs,
        requestBytes,
        responseBytes: outcome.headerBytes + outcome.bytesSent,
      });
      const ua = first(headers['user-agent']);
      const xff = first(headers['x-forwarded-for']);
      // Built field by field: optional fields spread from temporary objects cost a request more than the line.
      const entry: { -readonly [K in keyof WaypointAccessLogEntry]: WaypointAccessLogEntry[K] } = {
        startTime,
        method: down.method,
        path: down.path,
        protocol: `HTTP/${down.version}`,
        responseCode: status,
        responseFlags: flags,
        responseCodeDetails: details,
        bytesReceived: body?.bytesReceived ?? 0,
        bytesSent: outcome.bytesSent,
        durationMs,
        requestId,
        authority,
        downstreamLocalAddress: tunnel.authorityText,
        downstreamRemoteAddress: tunnel.downstreamRemoteAddress,
        routeName,
        sourcePrincipal: tunnel.peerIdentity,
        attempts,
      };
      if (ua !== undefined) entry.userAgent = ua;
      if (xff !== undefined) entry.forwardedFor = xff;
      if (failureReason !== undefined) entry.upstreamTransportFailureReason = failureReason;
      if (serviceTimeMs !== undefined) entry.upstreamServiceTimeMs = serviceTimeMs;
      if (upstreamHost !== undefined) entry.upstreamHost = upstreamHost;
      if (cluster !== undefined) entry.upstreamCluster = cluster;
      if (policyReason !== undefined) entry.policyReason = policyReason;
      if (grpcStatus !== undefined) entry.grpcStatus = grpcStatus;
      deps.accessLog(entry);
    };

    // An answer the waypoint makes itself, as Envoy's `sendLocalReply` does (gRPC requests get gRPC errors).
    const local = async (
      status: number,
      text: string,
      extra: Readonly<Record<string, string>>,
      localFlags: string,
      localDetails: string,
    ): Promise<void> => {
      flags = localFlags;
      details = localDetails;
      body?.destroy();
      if (down.body !== undefined && body === undefined) down.body.resume();
      let answer: DownstreamAnswer;
      let code = status;
      if (grpc) {
        grpcStatus = String(httpToGrpcStatus(status));
        code = 200;
        answer = {
          status: 200,
          headers: {
            ...extra,
            'content-type': 'application/grpc',
            'grpc-status': grpcStatus,
            'grpc-message': grpcMessage(text),
            server: 'istio-envoy',
          },
          body: undefined,
          headersOnly: true,
        };
      } else {
        answer = {
          status,
          headers: { ...extra, 'content-type': 'text/plain', server: 'istio-envoy' },
          body: text,
        };
      }
      responding = true;
      finish(code, await down.respond(answer));
    };

    try {
      const svcRef =
        service === undefined
          ? undefined
          : { kind: 'Service', name: service.name, namespace: service.namespace };

      // 1. RequestAuthentication. Without JWT rules for this service it is only the connection manager's
      // path normalization, done here without a round through the JWT filter.
      let path: string;
      let jwt: Readonly<Record<string, unknown>> | null = null;
      if (cfg.engine.jwtRulesFor(deps.authzWorkload, svcRef).length === 0) {
        const target = originFormTarget(down.path);
        const normalized = target.ok
          ? normalizeRequestPath(target.path, cfg.engine.mesh.pathNormalization)
          : target;
        if (!normalized.ok) {
          await local(400, 'Bad Request', {}, '-', 'path_normalization_failed');
          return;
        }
        path = normalized.path;
      } else {
        const authn = await authenticateRequest({
          engine: cfg.engine,
          workload: deps.authzWorkload,
          ...(svcRef === undefined ? {} : { service: svcRef }),
          request: { method: down.method, path: down.path, host: authority, headers },
          ...(deps.now === undefined ? {} : { now: deps.now() }),
          ...(deps.jwks === undefined ? {} : { jwks: deps.jwks }),
        });
        if (!authn.ok) {
          deps.logger.log('jwt', 'debug', `${requestId}: ${authn.status} ${authn.body}`);
          await local(
            authn.status,
            authn.body,
            authn.headers,
            '-',
            authn.status === 400 ? 'path_normalization_failed' : 'jwt_authn_access_denied',
          );
          return;
        }
        for (const name of authn.removedHeaders) delete headers[name];
        for (const [name, value] of authn.addedHeaders) {
          const prev = headers[name];
          headers[name] = prev === undefined ? value : Array.isArray(prev) ? [...prev, value] : [prev, value];
        }
        path = authn.path;
        jwt = authn.jwt ?? null;
      }

      // 2. AuthorizationPolicy.
      const decision = cfg.engine.evaluate({
        workload: deps.authzWorkload,
        request: {
          ...waypointAuthzRequest({
            peerIdentity: tunnel.peerIdentity,
            peerIp: tunnel.remoteAddress,
            localIp: '',
            destination,
            method: down.method,
            path,
            headers,
            host: authority,
          }),
          jwt,
        },
      });
      policyReason = decision.reason;
      if (decision.badRequest === true) {
        await local(400, 'Bad Request', {}, '-', 'path_normalization_failed');
        return;
      }
      if (!decision.allow) {
        deps.logger.log('rbac', 'debug', `${requestId}: denied: ${decision.reason}`);
        await local(403, RBAC_DENIED_BODY, {}, '-', rbacDetails(decision));
        return;
      }

      // 3. Routing.
      const router: Router = cfg.router;
      let request: RouteRequest;
      let route: RouteDecision;
      if (service !== undefined) {
        request = {
          service: service.hostname,
          port: destination.port,
          authority,
          method: down.method,
          path,
          headers,
          protocol: grpc ? 'grpc' : 'http',
          sourceIp: tunnel.remoteAddress,
          ...(tunnel.sourceNamespace === undefined ? {} : { sourceNamespace: tunnel.sourceNamespace }),
        };
        route = router.route(request, { random: deps.routeRandom });
      } else {
        // A pod addressed directly (a workload that uses this waypoint): no routes, the pod itself.
        const w = destination.kind === 'workload' ? destination.workload : undefined;
        const hostname = destination.ip ?? '';
        request = {
          service: hostname,
          port: destination.port,
          authority,
          method: down.method,
          path,
          headers,
          protocol: grpc ? 'grpc' : 'http',
          sourceIp: tunnel.remoteAddress,
        };
        const forward: ForwardDecision = {
          kind: 'forward',
          backend: {
            service: w?.name ?? hostname,
            namespace: w?.namespace ?? '',
            port: destination.port,
            hostname,
          },
          request: { path, authority, headers: routeHeaders(headers) },
          responseHeaders: { set: {}, add: {}, remove: [] },
          timeoutMs: 0,
          backendRequestTimeoutMs: 0,
          retries: ISTIO_DEFAULT_RETRY_POLICY,
          mirrors: [],
          flags: [],
        };
        route = forward;
      }
      if (route.source !== undefined) routeName = route.source.routeName;
      if (grpc && route.kind === 'forward') {
        const deadline = parseGrpcTimeout(headers['grpc-timeout']);
        if (deadline !== undefined)
          route = {
            ...route,
            timeoutMs: route.timeoutMs > 0 ? Math.min(route.timeoutMs, deadline) : deadline,
          };
      }
      let backendEndpoints: ((b: Backend) => ReturnType<EndpointDirectory['endpointsFor']>) | undefined;
      if (route.kind === 'forward') {
        const backend = route.backend;
        metricService = { host: backend.hostname, name: backend.service };
        cluster = `inbound-vip|${backend.port}|http${backend.subset === undefined ? '' : `/${backend.subset}`}|${backend.hostname}`;
        if (service !== undefined && deps.directory.serviceOf(backend) === undefined) {
          // Envoy: the route's cluster does not exist (Gateway API semantics answer 500, istiod sets that).
          const gateway = route.source?.kind === 'HTTPRoute' || route.source?.kind === 'GRPCRoute';
          await local(gateway ? 500 : 503, '', {}, 'NC', 'cluster_not_found');
          return;
        }
        if (service === undefined && destination.kind === 'workload') {
          const own = deps.directory.workloadEndpoint(destination.workload, destination.port);
          backendEndpoints = () => (own === undefined ? [] : [own.input]);
          cluster = 'connect_originate';
        } else backendEndpoints = (b) => deps.directory.endpointsFor(b);
      }

      // 4. The router: endpoint choice, timeouts, retries, mirrors, HBONE to the endpoint.
      if (down.body !== undefined)
        body = createRequestBody(down.body, { maxBufferBytes: deps.maxBufferBytes });
      const answers: UpstreamAnswer[] = [];
      // When each answer's request left (parallel to `answers`).
      const sentAt: number[] = [];
      const protocolOf = (b: Backend): '1.1' | '2' => {
        if (service === undefined) return grpc || down.version === '2' ? '2' : '1.1';
        const wds = deps.directory.serviceOf(b)?.ports;
        return upstreamHttpVersion(servicePortProtocol(cfg, b.hostname, wds, b.port));
      };
      const send: SendFunction = async (target, req, signal) => {
        const resolved =
          target.endpoint === undefined ? undefined : deps.directory.resolve(target.endpoint.id);
        if (resolved === undefined)
          throw Object.assign(new Error(`no endpoint address for ${target.hostname}`), {
            code: 'NO_ENDPOINT',
          });
        const forward: Record<string, string> = {};
        for (const name in req.headers) if (name !== 'host') forward[name] = req.headers[name] as string;
        const started = performance.now();
        const answer = await deps.pool.send(resolved.upstream, {
          method: req.method,
          path: req.path,
          authority: req.authority,
          headers: forward,
          body: body?.open(target.mirror ? 'mirror' : 'attempt'),
          version: protocolOf(target),
          signal,
        });
        if (target.mirror) {
          answer.discard();
          return { status: answer.status, headers: {} };
        }
        answers.push(answer);
        sentAt.push(started);
        return { status: answer.status, headers: answer.headers, body: answer };
      };
      const result = await router.execute(request, {
        decision: route,
        send,
        random: deps.lbRandom,
        ...(backendEndpoints === undefined ? {} : { endpoints: backendEndpoints }),
      });
      attempts = result.attempts;
      flags = result.responseFlags;
      const upstreamIndex = answers.indexOf(result.body as UpstreamAnswer);
      const upstream = upstreamIndex < 0 ? undefined : answers[upstreamIndex];
      for (const a of answers) if (a !== upstream) a.discard();
      if (result.upstream !== undefined) {
        upstreamHost = formatSocketAddress(result.upstream.ip ?? '', result.upstream.port);
        const resolved = deps.directory.resolve(result.upstream.id);
        if (resolved !== undefined && upstream !== undefined) upstreamMeta = metaOf(resolved.workload);
      }
      if (route.kind !== 'forward') cluster = undefined;

      if (upstream === undefined) {
        // A local reply: redirect, direct response, fault abort, no route, timeout, overflow, failure.
        details = detailsOf(result);
        if (route.kind === 'forward' && (flags.includes('UF') || flags.includes('UR')))
          failureReason = flags.includes('UF') ? 'connection failure' : 'connection termination';
        const h: Record<string, string | readonly string[]> = {
          ...responseHeaders(result.headers),
          server: 'istio-envoy',
        };
        // gRPC percent-encodes only what is not printable ASCII (and `%`), as Envoy writes `grpc-message`.
        const message = h['grpc-message'];
        if (typeof message === 'string') h['grpc-message'] = grpcMessage(safeDecode(message));
        if (result.grpcStatus !== undefined) grpcStatus = String(result.grpcStatus);
        body?.destroy();
        const text = typeof result.body === 'string' ? result.body : undefined;
        responding = true;
        const outcome = await down.respond({
          status: result.status,
          headers: h,
          body: text ?? (grpc || result.status === 204 || result.status === 304 ? undefined : ''),
          ...(grpc && text === undefined ? { headersOnly: true } : {}),
        });
        finish(result.status, outcome);
        return;
      }

      // The upstream's answer, passed on as it streams.
      serviceTimeMs = performance.now() - (sentAt[upstreamIndex] ?? t0);
      // A fresh object: set on it rather than spread it into another.
      const out = responseHeaders(result.headers);
      out['server'] = 'istio-envoy';
      out['x-envoy-upstream-service-time'] = String(Math.round(serviceTimeMs));
      if (grpc) grpcStatus = first(upstream.headers['grpc-status']);
      // The route timeout covers the whole answer (Envoy's global timeout ends when the upstream is done).
      let timer: NodeJS.Timeout | undefined;
      if (route.kind === 'forward' && route.timeoutMs > 0 && !upstream.headersOnly) {
        const remaining = t0 + (route.delayMs ?? 0) + route.timeoutMs - performance.now();
        timer = setTimeout(
          () => {
            flags = flags === '-' ? 'UT' : `${flags},UT`;
            upstream.discard();
            down.reset();
          },
          Math.max(0, remaining),
        );
      }
      responding = true;
      const outcome = await down.respond({
        status: result.status,
        headers: out,
        body: upstream.body,
        headersOnly: upstream.headersOnly,
        // Trailers can follow an HTTP/2 (gRPC) answer, or an HTTP/1.1 one that announces them.
        trailersPossible: upstream.version === '2' || upstream.headers['trailer'] !== undefined,
        trailers: () => {
          const t = upstream.trailers();
          if (grpc && t?.['grpc-status'] !== undefined) grpcStatus = t['grpc-status'];
          return t;
        },
      });
      clearTimeout(timer);
      finish(result.status, outcome);
    } catch (error) {
      deps.logger.log('http', 'error', `${requestId}: ${(error as Error).stack ?? String(error)}`);
      body?.destroy();
      if (responding) {
        down.reset();
        return;
      }
      try {
        await local(500, 'internal error', {}, '-', 'waypoint_internal_error');
      } catch {
        down.reset();
      }
    }
  };
}

function safeDecode(text: string): string {
  try {
    return decodeURIComponent(text);
  } catch {
    return text;
  }
}

function routeHeaders(h: Readonly<Record<string, string | string[]>>): Record<string, string> {
  const out: Record<string, string> = {};
  for (const name in h) {
    const v = h[name];
    if (v !== undefined) out[name] = Array.isArray(v) ? v.join(',') : v;
  }
  return out;
}
