/**
 * One request from a client of the waypoint, whichever HTTP version the tunnel carries: HTTP/1.x through
 * `node:http` (keep-alive and pipelining are Node's: answers go out in request order) or HTTP/2 with prior
 * knowledge (h2c) through `node:http2`'s stream API, which can send what gRPC needs (a HEADERS-only answer,
 * trailers). The request's headers are normalised as Envoy's HTTP connection manager does: names lower case,
 * connection-specific headers dropped (RFC 9110 §7.6.1; `te` kept only as `trailers`), `Host` folded into the
 * authority.
 * @module
 */
import type http from 'node:http';
import http2 from 'node:http2';
import type { Readable } from 'node:stream';

/** The answer to send. */
export interface DownstreamAnswer {
  readonly status: number;
  /** Names lower case; `set-cookie` may be a list. */
  readonly headers: Readonly<Record<string, string | readonly string[]>>;
  /** A stream (an upstream body), a local reply's text, or nothing. */
  readonly body: Readable | string | undefined;
  /** No body at all (HTTP/2: HEADERS with END_STREAM, as a gRPC trailers-only answer). */
  readonly headersOnly?: boolean;
  /** The trailers to send after a streamed body, read once it ended. */
  readonly trailers?: () => Readonly<Record<string, string>> | undefined;
  /**
   * Whether trailers may follow the body (HTTP/2 then ends the stream with a HEADERS frame instead of the last
   * DATA frame). Default: when `trailers` is given.
   */
  readonly trailersPossible?: boolean;
}

/** How sending an answer ended. */
export interface DownstreamOutcome {
  /** Body bytes sent. */
  readonly bytesSent: number;
  /** Header bytes sent (an estimate for HTTP/2, whose headers are compressed). */
  readonly headerBytes: number;
  /** False when the answer was cut (the client went away, the upstream body failed, a timeout). */
  readonly completed: boolean;
}

/** One request, HTTP/1.x or HTTP/2. */
export interface Downstream {
  readonly version: '1.0' | '1.1' | '2';
  readonly method: string;
  /** The request target as sent (`/a?b`). */
  readonly path: string;
  /** `:authority` / `Host`; empty when the request had none. */
  readonly authority: string;
  /** Names lower case, without pseudo-headers, `host` or connection-specific headers. */
  readonly headers: Record<string, string | string[]>;
  /** The body; `undefined` when the request has none. */
  readonly body: Readable | undefined;
  /** Bytes of the request head (request line and headers; for HTTP/2 an estimate). */
  readonly headerBytes: number;
  /** Whether the client went away before the answer was complete. */
  readonly aborted: boolean;
  /**
   * Sends the answer.
   *
   * @param answer - Status, headers, body, trailers.
   * @returns How it ended.
   */
  respond(answer: DownstreamAnswer): Promise<DownstreamOutcome>;
  /** Cuts the exchange (HTTP/1.1: closes the connection; HTTP/2: RST_STREAM). */
  reset(): void;
  /** Ask the client to close the connection after this answer (HTTP/1.1 `connection: close`; drain). */
  closeConnection(): void;
}

// Connection-specific header fields (RFC 9110 §7.6.1, RFC 9113 §8.2.2) that Envoy strips from requests.
const HOP_BY_HOP = new Set([
  'connection',
  'keep-alive',
  'proxy-connection',
  'transfer-encoding',
  'upgrade',
  'te',
  'trailer',
  'host',
  'http2-settings',
]);

// Response headers a proxy does not copy across (framing and connection management are per hop).
const RESPONSE_HOP_BY_HOP = new Set([
  'connection',
  'keep-alive',
  'proxy-connection',
  'transfer-encoding',
  'upgrade',
  'te',
  'trailer',
]);

function teTrailers(te: string | string[] | undefined): boolean {
  const v = Array.isArray(te) ? te.join(',') : te;
  return v !== undefined && /(^|,)\s*trailers\s*(;|,|$)/i.test(v);
}

/**
 * The request headers a proxy forwards: lower-case names, connection-specific ones (and those the
 * `connection` header names) dropped, `te: trailers` kept.
 *
 * @param raw - Node's parsed headers.
 * @returns The headers.
 * @example
 * ```ts
 * forwardableRequestHeaders({ connection: 'x-a', 'x-a': '1', te: 'trailers', accept: '*' }); // { te: 'trailers', accept: '*' }
 * ```
 */
export function forwardableRequestHeaders(
  raw: http.IncomingHttpHeaders | http2.IncomingHttpHeaders,
): Record<string, string | string[]> {
  const out: Record<string, string | string[]> = {};
  const connection = raw['connection'];
  const named =
    connection === undefined
      ? undefined
      : new Set(
          (Array.isArray(connection) ? connection.join(',') : connection)
            .split(',')
            .map((h) => h.trim().toLowerCase()),
        );
  for (const name in raw) {
    if (name.charCodeAt(0) === 58) continue;
    const v = raw[name];
    if (v === undefined || HOP_BY_HOP.has(name) || named?.has(name)) continue;
    out[name] = v;
  }
  if (teTrailers(raw['te'])) out['te'] = 'trailers';
  return out;
}

/**
 * The response headers a proxy copies: the connection-specific ones dropped.
 *
 * @param headers - The upstream's headers.
 * @returns A copy without them.
 * @example
 * ```ts
 * forwardableResponseHeaders({ 'transfer-encoding': 'chunked', 'x-a': '1' }); // { 'x-a': '1' }
 * ```
 */
export function forwardableResponseHeaders(
  headers: Readonly<Record<string, string | readonly string[]>>,
): Record<string, string | readonly string[]> {
  const out: Record<string, string | readonly string[]> = {};
  for (const name in headers) {
    if (RESPONSE_HOP_BY_HOP.has(name)) continue;
    out[name] = headers[name] as string | readonly string[];
  }
  return out;
}

function headerBytesOf(headers: Readonly<Record<string, string | readonly string[]>>): number {
  let n = 0;
  for (const name in headers) {
    const v = headers[name];
    if (typeof v === 'string') n += name.length + v.length + 4;
    else if (v !== undefined) for (const x of v) n += name.length + x.length + 4;
  }
  return n;
}

function hasH1Body(req: http.IncomingMessage): boolean {
  const te = req.headers['transfer-encoding'];
  if (te !== undefined) return true;
  const cl = req.headers['content-length'];
  return cl !== undefined && cl !== '0';
}

/**
 * Wraps an HTTP/1.x request and its response.
 *
 * @param req - The request.
 * @param res - The response.
 * @returns The downstream.
 * @example
 * ```ts
 * server.on('request', (req, res) => handle(fromHttp1(req, res)));
 * ```
 */
export function fromHttp1(req: http.IncomingMessage, res: http.ServerResponse): Downstream {
  let closeAfter = false;
  let rawBytes = 0;
  for (const h of req.rawHeaders) rawBytes += h.length + 2;
  return {
    version: req.httpVersion === '1.0' ? '1.0' : '1.1',
    method: req.method ?? 'GET',
    path: req.url ?? '/',
    authority: typeof req.headers.host === 'string' ? req.headers.host : '',
    headers: forwardableRequestHeaders(req.headers),
    body: hasH1Body(req) ? req : undefined,
    headerBytes: (req.method?.length ?? 0) + (req.url?.length ?? 0) + 12 + rawBytes + 2,
    get aborted() {
      return res.destroyed && !res.writableFinished;
    },
    closeConnection() {
      closeAfter = true;
    },
    reset() {
      res.destroy();
      req.socket.destroy();
    },
    respond(answer) {
      return new Promise<DownstreamOutcome>((resolve) => {
        let sent = 0;
        const out: Record<string, string | string[]> = {};
        for (const name in answer.headers) {
          const v = answer.headers[name];
          if (v !== undefined) out[name] = typeof v === 'string' ? v : [...v];
        }
        if (closeAfter) out['connection'] = 'close';
        let headerBytes = 0;
        const done = (completed: boolean): void => {
          resolve({ bytesSent: sent, headerBytes, completed });
        };
        if (res.destroyed) {
          if (typeof answer.body === 'object') answer.body.destroy();
          done(false);
          return;
        }
        res.once('finish', () => done(true));
        res.once('close', () => {
          if (!res.writableFinished) done(false);
        });
        const body = answer.body;
        if (typeof body === 'string') {
          out['content-length'] = String(Buffer.byteLength(body));
          headerBytes = headerBytesOf(out) + 17;
          res.writeHead(answer.status, out);
          sent = req.method === 'HEAD' ? 0 : Buffer.byteLength(body);
          res.end(body);
          return;
        }
        if (body === undefined || answer.headersOnly === true) {
          if (
            out['content-length'] === undefined &&
            answer.status !== 204 &&
            answer.status !== 304 &&
            answer.status >= 200
          )
            out['content-length'] = '0';
          headerBytes = headerBytesOf(out) + 17;
          res.writeHead(answer.status, out);
          res.end();
          body?.resume();
          return;
        }
        headerBytes = headerBytesOf(out) + 17;
        res.writeHead(answer.status, out);
        body.on('data', (chunk: Buffer) => {
          sent += chunk.length;
        });
        body.once('error', () => res.destroy());
        // An upstream that stops mid-body (a reset): the client must not read a truncated answer as whole.
        body.once('close', () => {
          if (!body.readableEnded) res.destroy();
        });
        res.once('close', () => {
          if (!body.readableEnded) body.destroy();
        });
        body.pipe(res, { end: false });
        body.once('end', () => {
          const trailers = answer.trailers?.();
          if (trailers !== undefined && !res.hasHeader('content-length')) res.addTrailers(trailers);
          res.end();
        });
      });
    },
  };
}

/**
 * Wraps an HTTP/2 stream.
 *
 * @param stream - The server stream.
 * @param headers - Its request headers.
 * @param flags - The HEADERS frame's flags (END_STREAM: no body).
 * @returns The downstream.
 * @example
 * ```ts
 * h2server.on('stream', (stream, headers, flags) => handle(fromHttp2(stream, headers, flags)));
 * ```
 */
export function fromHttp2(
  stream: http2.ServerHttp2Stream,
  headers: http2.IncomingHttpHeaders,
  flags: number,
): Downstream {
  const text = (v: string | string[] | undefined): string => (Array.isArray(v) ? (v[0] ?? '') : (v ?? ''));
  const forwarded = forwardableRequestHeaders(headers);
  return {
    version: '2',
    method: text(headers[':method']),
    path: text(headers[':path']),
    authority: text(headers[':authority']) || text(headers['host']),
    headers: forwarded,
    body: (flags & http2.constants.NGHTTP2_FLAG_END_STREAM) !== 0 ? undefined : stream,
    headerBytes: headerBytesOf(headers as Record<string, string | string[]>),
    get aborted() {
      return stream.closed && stream.rstCode !== http2.constants.NGHTTP2_NO_ERROR;
    },
    closeConnection() {
      // HTTP/2 connections are drained with GOAWAY (the waypoint's drain), not per answer.
    },
    reset() {
      if (!stream.closed) stream.close(http2.constants.NGHTTP2_INTERNAL_ERROR);
    },
    respond(answer) {
      return new Promise<DownstreamOutcome>((resolve) => {
        let sent = 0;
        const out: http2.OutgoingHttpHeaders = { ':status': answer.status };
        for (const name in answer.headers) {
          if (RESPONSE_HOP_BY_HOP.has(name)) continue;
          const v = answer.headers[name];
          if (v !== undefined) out[name] = typeof v === 'string' ? v : [...v];
        }
        const headerBytes = headerBytesOf(answer.headers) + 8;
        let settled = false;
        const done = (completed: boolean): void => {
          if (settled) return;
          settled = true;
          resolve({ bytesSent: sent, headerBytes, completed });
        };
        if (stream.closed || stream.destroyed) {
          if (typeof answer.body === 'object') answer.body.destroy();
          done(false);
          return;
        }
        stream.once('close', () => done(stream.rstCode === http2.constants.NGHTTP2_NO_ERROR));
        stream.on('error', () => {});
        const body = answer.body;
        try {
          if (typeof body === 'string') {
            out['content-length'] = Buffer.byteLength(body);
            stream.respond(out);
            sent = Buffer.byteLength(body);
            stream.end(body);
            return;
          }
          if (body === undefined || answer.headersOnly === true) {
            stream.respond(out, { endStream: true });
            body?.resume();
            return;
          }
          stream.respond(out, { waitForTrailers: answer.trailersPossible ?? answer.trailers !== undefined });
        } catch {
          // The client reset the stream while we answered.
          if (typeof body === 'object') body.destroy();
          done(false);
          return;
        }
        stream.once('wantTrailers', () => {
          const trailers = answer.trailers?.();
          try {
            stream.sendTrailers(trailers ?? {});
          } catch {
            stream.close();
          }
        });
        body.on('data', (chunk: Buffer) => {
          sent += chunk.length;
        });
        body.once('error', () => stream.close(http2.constants.NGHTTP2_INTERNAL_ERROR));
        body.once('close', () => {
          if (!body.readableEnded && !stream.closed) stream.close(http2.constants.NGHTTP2_INTERNAL_ERROR);
        });
        stream.once('close', () => {
          if (!body.readableEnded) body.destroy();
        });
        body.pipe(stream);
      });
    },
  };
}
