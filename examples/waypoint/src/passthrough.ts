/**
 * Traffic the waypoint passes through as bytes once it decided where it goes:
 *
 * - HTTP/1.1 `Upgrade` requests (WebSocket, h2c upgrade excluded) and `CONNECT` requests: authenticated,
 *   authorized and routed as any request (Envoy's `upgrade_configs` take the same filter chain), then sent
 *   to the chosen endpoint over a tunnel of their own and spliced: the upstream's `101` (or `200` for
 *   `CONNECT`) and everything after it flow back untouched;
 * - TCP (a port whose protocol is not HTTP, or that the HTTP inspector did not recognise): AuthorizationPolicy
 *   as Envoy's RBAC network filter applies it (`protocol: 'tcp'`: a rule with HTTP attributes does not
 *   match), then an endpoint of the service under its DestinationRule, then splice (Envoy's TCP proxy).
 * @module
 */
import { randomUUID } from 'node:crypto';
import type http from 'node:http';
import { STATUS_CODES } from 'node:http';
import type { Duplex } from 'node:stream';
import { authenticateRequest, RBAC_DENIED_BODY } from '@ambient-kit/authz';
import type { Backend, EndpointLease, RouteRequest } from '@ambient-kit/routing';
import { formatSocketAddress } from '@ambient-kit/workload-api';
import { forwardableRequestHeaders } from './downstream.js';
import type { PeerMetadata } from './metrics.js';
import { type RequestHandlerDeps, rbacDetails, waypointAuthzRequest } from './request-handler.js';
import { type TunnelInfo, workloadMetadata } from './tunnel.js';

/** What a passthrough reports when it ends. */
interface Ended {
  readonly code: number;
  readonly flags: string;
  readonly details: string;
  readonly received: number;
  readonly sent: number;
  readonly upstreamHost?: string;
  readonly cluster?: string;
  readonly destination?: PeerMetadata;
  readonly routeName?: string;
}

/** Splices two streams both ways; resolves with the bytes each way when both are done. */
function splice(a: Duplex, b: Duplex): Promise<{ aToB: number; bToA: number }> {
  return new Promise((resolve) => {
    let aToB = 0;
    let bToA = 0;
    let open = 2;
    const done = (): void => {
      if (--open === 0) resolve({ aToB, bToA });
    };
    a.on('data', (c: Buffer) => {
      aToB += c.length;
    });
    b.on('data', (c: Buffer) => {
      bToA += c.length;
    });
    a.on('error', () => b.destroy());
    b.on('error', () => a.destroy());
    a.once('close', () => {
      if (!b.destroyed && !a.readableEnded) b.destroy();
      done();
    });
    b.once('close', () => {
      if (!a.destroyed && !b.readableEnded) a.destroy();
      done();
    });
    a.pipe(b);
    b.pipe(a);
  });
}

/** A raw HTTP/1.1 answer on a socket that left node:http's hands (upgrade, CONNECT). */
function rawReply(
  socket: Duplex,
  status: number,
  body: string,
  extra: Readonly<Record<string, string>>,
): number {
  const head = [
    `HTTP/1.1 ${status} ${STATUS_CODES[status] ?? ''}`,
    'content-type: text/plain',
    `content-length: ${Buffer.byteLength(body)}`,
    'server: istio-envoy',
    'connection: close',
    ...Object.entries(extra).map(([k, v]) => `${k}: ${v}`),
    '',
    '',
  ].join('\r\n');
  socket.end(head + body);
  return Buffer.byteLength(body);
}

/**
 * Creates the handler of HTTP/1.1 `Upgrade` and `CONNECT` requests.
 *
 * @param deps - The request handler's dependencies.
 * @returns `(req, socket, head, tunnel)`, as node:http's `upgrade` and `connect` events give them.
 * @example
 * ```ts
 * const upgrade = createUpgradeHandler(deps);
 * server.on('upgrade', (req, socket, head) => void upgrade(req, socket, head, tunnelOf(req)));
 * ```
 */
export function createUpgradeHandler(
  deps: RequestHandlerDeps,
): (req: http.IncomingMessage, socket: Duplex, head: Buffer, tunnel: TunnelInfo) => Promise<void> {
  return async (req, socket, head, tunnel) => {
    const startTime = new Date();
    const t0 = performance.now();
    socket.on('error', () => {});
    const cfg = deps.config.current();
    const connect = req.method === 'CONNECT';
    const headers = forwardableRequestHeaders(req.headers);
    const requestId =
      (typeof headers['x-request-id'] === 'string' && headers['x-request-id']) || randomUUID();
    headers['x-request-id'] = requestId;
    const authority = (connect ? req.url : req.headers.host) ?? tunnel.authorityText;
    const path = connect ? '/' : (req.url ?? '/');
    const destination = tunnel.destination;
    const service = destination.kind === 'service' ? destination.service : undefined;
    const log = (e: Ended): void => {
      const durationMs = performance.now() - t0;
      deps.accessLog({
        startTime,
        method: req.method ?? '-',
        path: connect ? '-' : path,
        protocol: 'HTTP/1.1',
        responseCode: e.code,
        responseFlags: e.flags,
        responseCodeDetails: e.details,
        bytesReceived: e.received,
        bytesSent: e.sent,
        durationMs,
        requestId,
        authority,
        downstreamLocalAddress: tunnel.authorityText,
        downstreamRemoteAddress: tunnel.downstreamRemoteAddress,
        routeName: e.routeName ?? 'default',
        sourcePrincipal: tunnel.peerIdentity,
        ...(e.upstreamHost === undefined ? {} : { upstreamHost: e.upstreamHost }),
        ...(e.cluster === undefined ? {} : { upstreamCluster: e.cluster }),
      });
      deps.metrics.record({
        source: tunnel.source,
        destination: e.destination,
        service: service === undefined ? undefined : { host: service.hostname, name: service.name },
        grpc: false,
        responseCode: e.code,
        grpcStatus: undefined,
        responseFlags: e.flags,
        durationMs,
        requestBytes: e.received,
        responseBytes: e.sent,
      });
    };
    const refuse = (code: number, body: string, flags: string, details: string, extra = {}): void => {
      log({ code, flags, details, received: head.length, sent: rawReply(socket, code, body, extra) });
    };
    try {
      const svcRef =
        service === undefined
          ? undefined
          : { kind: 'Service', name: service.name, namespace: service.namespace };
      const authn = await authenticateRequest({
        engine: cfg.engine,
        workload: deps.authzWorkload,
        ...(svcRef === undefined ? {} : { service: svcRef }),
        request: { method: req.method ?? 'GET', path, host: authority, headers },
        ...(deps.now === undefined ? {} : { now: deps.now() }),
        ...(deps.jwks === undefined ? {} : { jwks: deps.jwks }),
      });
      if (!authn.ok) {
        refuse(authn.status, authn.body, '-', 'jwt_authn_access_denied', authn.headers);
        return;
      }
      for (const name of authn.removedHeaders) delete headers[name];
      for (const [name, value] of authn.addedHeaders) headers[name] = value;
      const decision = cfg.engine.evaluate({
        workload: deps.authzWorkload,
        request: {
          ...waypointAuthzRequest({
            peerIdentity: tunnel.peerIdentity,
            peerIp: tunnel.remoteAddress,
            localIp: '',
            destination,
            method: req.method ?? 'GET',
            path: authn.path,
            headers,
            host: authority,
          }),
          jwt: authn.jwt ?? null,
        },
      });
      if (decision.badRequest === true) {
        refuse(400, 'Bad Request', '-', 'path_normalization_failed');
        return;
      }
      if (!decision.allow) {
        refuse(403, RBAC_DENIED_BODY, '-', rbacDetails(decision));
        return;
      }
      let backend: Backend;
      let requestPath = authn.path;
      let forwardHeaders: Record<string, string> = {};
      let routeName = 'default';
      if (service !== undefined) {
        const request: RouteRequest = {
          service: service.hostname,
          port: destination.port,
          authority,
          method: req.method ?? 'GET',
          path: authn.path,
          headers,
          protocol: 'http',
          sourceIp: tunnel.remoteAddress,
          ...(tunnel.sourceNamespace === undefined ? {} : { sourceNamespace: tunnel.sourceNamespace }),
        };
        const route = cfg.router.route(request, { random: deps.routeRandom });
        routeName = route.source?.routeName ?? 'default';
        if (route.kind === 'redirect') {
          log({
            code: route.status,
            flags: '-',
            details: 'direct_response',
            received: head.length,
            sent: rawReply(socket, route.status, '', { location: route.location }),
            routeName,
          });
          return;
        }
        if (route.kind === 'direct') {
          const flags = route.flags.length === 0 ? '-' : route.flags.join(',');
          refuse(
            route.status,
            route.body ?? '',
            flags,
            route.flags.includes('NR') ? 'route_not_found' : 'direct_response',
          );
          return;
        }
        backend = route.backend;
        requestPath = route.request.path;
        forwardHeaders = route.request.headers;
      } else {
        const w = destination.kind === 'workload' ? destination.workload : undefined;
        backend = {
          service: w?.name ?? '',
          namespace: w?.namespace ?? '',
          port: destination.port,
          hostname: destination.ip ?? '',
        };
        for (const [k, v] of Object.entries(headers)) forwardHeaders[k] = Array.isArray(v) ? v.join(',') : v;
      }
      const endpoints =
        service === undefined && destination.kind === 'workload'
          ? (() => {
              const own = deps.directory.workloadEndpoint(destination.workload, destination.port);
              return own === undefined ? [] : [own.input];
            })()
          : deps.directory.endpointsFor(backend);
      const pick = cfg.router.pickEndpoint(backend, { endpoints: endpoints ?? [], random: deps.lbRandom });
      if (pick.kind === 'unavailable' || pick.endpoint === undefined) {
        if (pick.kind === 'endpoint') pick.lease.release({ cancelled: true });
        const flag = pick.kind === 'unavailable' ? pick.flags[0] : 'UH';
        refuse(
          503,
          pick.kind === 'unavailable' ? pick.body : 'no healthy upstream',
          flag,
          flag === 'UO' ? 'upstream_reset_before_response_started{overflow}' : 'no_healthy_upstream',
        );
        return;
      }
      const lease: EndpointLease = pick.lease;
      if (lease.ready !== undefined) await lease.ready;
      const resolved = deps.directory.resolve(pick.endpoint.id);
      const cluster = `inbound-vip|${backend.port}|http${backend.subset === undefined ? '' : `/${backend.subset}`}|${backend.hostname}`;
      const upstreamHost = formatSocketAddress(pick.endpoint.ip ?? '', pick.endpoint.port);
      if (resolved === undefined) {
        lease.release({ failure: 'connect-failure' });
        refuse(503, 'no healthy upstream', 'UH', 'no_healthy_upstream');
        return;
      }
      let upstream: Duplex;
      try {
        upstream = await deps.pool.openStream(resolved.upstream);
      } catch (error) {
        lease.release({ failure: 'connect-failure' });
        refuse(
          503,
          `upstream connect error or disconnect/reset before headers. reset reason: connection failure, transport failure reason: ${(error as Error).message}`,
          'UF',
          'upstream_reset_before_response_started{connection_failure}',
        );
        return;
      }
      // The request head as the upstream gets it: routed path and headers, plus the upgrade itself.
      const lines = [connect ? `CONNECT ${authority} HTTP/1.1` : `${req.method} ${requestPath} HTTP/1.1`];
      lines.push(`host: ${connect ? authority : (forwardHeaders['host'] ?? authority)}`);
      for (const [k, v] of Object.entries(forwardHeaders)) if (k !== 'host') lines.push(`${k}: ${v}`);
      if (!connect) {
        lines.push('connection: upgrade');
        lines.push(`upgrade: ${req.headers.upgrade ?? ''}`);
      }
      upstream.write(`${lines.join('\r\n')}\r\n\r\n`);
      if (head.length > 0) upstream.write(head);
      // The status the upstream answered, for the log: the first line it sends.
      let code = 0;
      let firstBytes = '';
      const sniffStatus = (chunk: Buffer): void => {
        firstBytes += chunk.toString('latin1', 0, Math.min(chunk.length, 64));
        const m = /^HTTP\/1\.[01] (\d{3})/.exec(firstBytes);
        if (m !== null || firstBytes.length >= 64) {
          code = m === null ? 0 : Number(m[1]);
          upstream.off('data', sniffStatus);
        }
      };
      upstream.on('data', sniffStatus);
      const bytes = await splice(socket, upstream);
      lease.release(code >= 500 ? { status: code } : { status: code === 0 ? 200 : code });
      log({
        code,
        flags: '-',
        details: 'via_upstream',
        received: bytes.aToB + head.length,
        sent: bytes.bToA,
        upstreamHost,
        cluster,
        destination: workloadMetadata(resolved.workload),
        routeName,
      });
    } catch (error) {
      deps.logger.log('http', 'error', `upgrade ${requestId}: ${(error as Error).stack ?? String(error)}`);
      socket.destroy();
    }
  };
}

/**
 * Creates the handler of TCP traffic (a port that is not HTTP).
 *
 * @param deps - The request handler's dependencies.
 * @returns `(stream, tunnel)`.
 * @example
 * ```ts
 * const tcp = createTcpHandler(deps);
 * void tcp(tunnelEnd, info);
 * ```
 */
export function createTcpHandler(
  deps: RequestHandlerDeps,
): (stream: Duplex, tunnel: TunnelInfo) => Promise<void> {
  return async (stream, tunnel) => {
    const startTime = new Date();
    const t0 = performance.now();
    stream.on('error', () => {});
    const cfg = deps.config.current();
    const destination = tunnel.destination;
    const service = destination.kind === 'service' ? destination.service : undefined;
    const log = (e: Ended): void =>
      deps.accessLog({
        startTime,
        method: '-',
        path: '-',
        protocol: '-',
        responseCode: 0,
        responseFlags: e.flags,
        responseCodeDetails: e.details,
        bytesReceived: e.received,
        bytesSent: e.sent,
        durationMs: performance.now() - t0,
        downstreamLocalAddress: tunnel.authorityText,
        downstreamRemoteAddress: tunnel.downstreamRemoteAddress,
        sourcePrincipal: tunnel.peerIdentity,
        ...(e.upstreamHost === undefined ? {} : { upstreamHost: e.upstreamHost }),
        ...(e.cluster === undefined ? {} : { upstreamCluster: e.cluster }),
      });
    try {
      const decision = cfg.engine.evaluate({
        workload: deps.authzWorkload,
        request: {
          source: { principal: tunnel.peerIdentity, ip: tunnel.remoteAddress },
          destination: {
            ip: destination.ip ?? '',
            port: destination.port,
            ...(service === undefined
              ? {}
              : { service: { kind: 'Service', name: service.name, namespace: service.namespace } }),
          },
          protocol: 'tcp',
        },
      });
      if (!decision.allow) {
        // Envoy's RBAC network filter closes the connection.
        stream.destroy();
        log({ code: 0, flags: '-', details: rbacDetails(decision), received: 0, sent: 0 });
        return;
      }
      const backend: Backend =
        service !== undefined
          ? {
              service: service.name,
              namespace: service.namespace,
              port: destination.port,
              hostname: service.hostname,
            }
          : { service: '', namespace: '', port: destination.port, hostname: destination.ip ?? '' };
      const endpoints =
        destination.kind === 'workload'
          ? (() => {
              const own = deps.directory.workloadEndpoint(destination.workload, destination.port);
              return own === undefined ? [] : [own.input];
            })()
          : (deps.directory.endpointsFor(backend) ?? []);
      const pick = cfg.router.pickEndpoint(backend, { endpoints, random: deps.lbRandom, protocol: 'grpc' });
      const cluster = `inbound-vip|${backend.port}|tcp|${backend.hostname}`;
      if (pick.kind === 'unavailable' || pick.endpoint === undefined) {
        if (pick.kind === 'endpoint') pick.lease.release({ cancelled: true });
        stream.destroy();
        log({
          code: 0,
          flags: pick.kind === 'unavailable' ? pick.flags[0] : 'UH',
          details: '-',
          received: 0,
          sent: 0,
          cluster,
        });
        return;
      }
      const resolved = deps.directory.resolve(pick.endpoint.id);
      const upstreamHost = formatSocketAddress(pick.endpoint.ip ?? '', pick.endpoint.port);
      let upstream: Duplex;
      try {
        if (resolved === undefined) throw new Error('no endpoint address');
        upstream = await deps.pool.openStream(resolved.upstream);
      } catch {
        pick.lease.release({ failure: 'connect-failure' });
        stream.destroy();
        log({ code: 0, flags: 'UF', details: '-', received: 0, sent: 0, upstreamHost, cluster });
        return;
      }
      const bytes = await splice(stream, upstream);
      pick.lease.release({ status: 200 });
      log({
        code: 0,
        flags: '-',
        details: '-',
        received: bytes.aToB,
        sent: bytes.bToA,
        upstreamHost,
        cluster,
      });
    } catch (error) {
      deps.logger.log('connection', 'error', `tcp: ${(error as Error).stack ?? String(error)}`);
      stream.destroy();
    }
  };
}
