/**
 * Builds the engine's request from a Node HTTP request the way an Envoy sidecar sees it: the source principal
 * from the mTLS peer verified by `@ambient-kit/spiffe`, the peer and local addresses from the socket, the
 * client address from `X-Forwarded-For` only through trusted hops, headers with their repeats.
 * @module
 */

import type { IncomingHttpHeaders, IncomingMessage } from 'node:http';
import type { Http2ServerRequest } from 'node:http2';
import type { TLSSocket } from 'node:tls';
import { unmappedIpText } from '@ambient-kit/ip';
import { peerSpiffeId } from '@ambient-kit/spiffe';
import type { AuthzRequest, DestinationService } from '../engine/request.js';

/** A request from `node:http`, `node:https` or the `node:http2` compatibility API. */
export type NodeHttpRequest = IncomingMessage | Http2ServerRequest;

/** Options of {@link authzRequestFromHttp}. */
export interface HttpRequestOptions {
  /**
   * How many proxies in front of this server append to `X-Forwarded-For` and are trusted (Envoy
   * `xff_num_trusted_hops` with `use_remote_address`). With N > 0 the client address (`remoteIpBlocks`,
   * `remote.ip`) is the N-th address from the right of the header. Default 0: the peer address.
   */
  readonly numTrustedProxies?: number;
  /** The verified JWT payload of this request (what RequestAuthentication would have checked), if any. */
  readonly jwt?: Readonly<Record<string, unknown>> | null;
  /** The destination Service, for a waypoint-style enforcement point. */
  readonly service?: DestinationService;
  /** The verified peer principal, when the transport authenticated it outside `node:tls` (native HBONE). */
  readonly principal?: (req: NodeHttpRequest) => string | null | undefined;
}

// A dual-stack listener reports an IPv4 peer as `::ffff:a.b.c.d`; policy sees `a.b.c.d`.
function plainAddress(address: string | undefined): string {
  return address === undefined ? '' : unmappedIpText(address);
}

function isTlsSocket(socket: unknown): socket is TLSSocket {
  return (
    typeof socket === 'object' && socket !== null && (socket as { encrypted?: unknown }).encrypted === true
  );
}

// Envoy's client-address choice with `xff_num_trusted_hops` (use_remote_address on): the N-th entry from the
// right of X-Forwarded-For, or the peer when the header is shorter.
function clientAddress(headers: IncomingHttpHeaders, peer: string, trustedHops: number): string {
  if (trustedHops <= 0) return peer;
  const raw = headers['x-forwarded-for'];
  const value = Array.isArray(raw) ? raw.join(',') : raw;
  if (value === undefined || value === '') return peer;
  const hops = value
    .split(',')
    .map((part) => part.trim())
    .filter((part) => part !== '');
  const chosen = hops[hops.length - trustedHops];
  return chosen === undefined ? peer : plainAddress(chosen);
}

/**
 * The request target the application routes: Express's `req.originalUrl` when the request came through an
 * Express mount (`app.use('/api', authz, router)` strips `/api` from `req.url`, but the router still serves
 * `/api/...`), otherwise `req.url`. An absolute-form target is left as is; the engine turns it into
 * origin-form as Envoy's HTTP/1 codec does (`originFormTarget`).
 *
 * @param req - The incoming request (Express, Connect, Fastify's `request.raw`, or plain node:http).
 * @returns The target, or `undefined` when the request has none.
 * @example
 * ```ts
 * app.use('/api', (req, _res, next) => { requestTargetOf(req); next(); }); // '/api/admin' for GET /api/admin
 * ```
 */
export function requestTargetOf(req: NodeHttpRequest): string | undefined {
  const original = (req as { originalUrl?: unknown }).originalUrl;
  if (typeof original === 'string' && original !== '') return original;
  return req.url;
}

/**
 * Builds the engine's request from a Node HTTP request.
 *
 * - `source.principal`: the SPIFFE ID `@ambient-kit/spiffe` verified for the TLS peer (`bindMtlsServer`,
 *   `verifyTlsPeer`); `null` for plaintext or an unverified peer, as Envoy has no authenticated principal then.
 * - `source.ip` / `destination`: the socket's remote and local address and port (IPv4-mapped IPv6 unwrapped).
 * - `host`: `:authority` or `Host`; `method`; `path`: the request target with its query, as the application
 *   routes it ({@link requestTargetOf}: Express's `originalUrl` under a mount; an absolute-form target is
 *   judged by its path and host); `headers`: every value of repeated headers (the engine joins them with `,`
 *   like Envoy); `sni`: the TLS server name.
 *
 * @param req - The incoming request.
 * @param options - Trusted proxy hops, the verified JWT, the destination service.
 * @returns The request for `engine.evaluate`.
 * @example
 * ```ts
 * const request = authzRequestFromHttp(req, { numTrustedProxies: 1 });
 * engine.evaluate({ workload, request });
 * ```
 */
export function authzRequestFromHttp(req: NodeHttpRequest, options: HttpRequestOptions = {}): AuthzRequest {
  const socket = req.socket;
  const tls = isTlsSocket(socket);
  const principal =
    options.principal !== undefined
      ? (options.principal(req) ?? null)
      : tls
        ? (peerSpiffeId(socket)?.toString() ?? null)
        : null;
  const peerIp = plainAddress(socket?.remoteAddress);
  const headers = req.headers;
  const distinct = (req as { headersDistinct?: Record<string, string[]> }).headersDistinct;
  const authority = headers[':authority'];
  const host = typeof authority === 'string' ? authority : headers.host;
  const servername = tls ? (socket as TLSSocket).servername : undefined;
  const target = requestTargetOf(req);
  return {
    source: {
      principal,
      ip: peerIp,
      remoteIp: clientAddress(headers, peerIp, options.numTrustedProxies ?? 0),
    },
    destination: {
      ip: plainAddress(socket?.localAddress),
      port: socket?.localPort ?? 0,
      ...(options.service === undefined ? {} : { service: options.service }),
    },
    protocol: 'http',
    ...(host === undefined ? {} : { host }),
    ...(req.method === undefined ? {} : { method: req.method }),
    ...(target === undefined ? {} : { path: target }),
    headers: distinct ?? (headers as Record<string, string | string[] | undefined>),
    ...(typeof servername === 'string' && servername !== '' ? { sni: servername } : {}),
    ...(options.jwt === undefined ? {} : { jwt: options.jwt }),
  };
}
