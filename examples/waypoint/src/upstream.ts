/**
 * The waypoint's connections to endpoints, pooled per endpoint as Envoy pools them per upstream host:
 *
 * - the transport is HBONE to `<podIP>:15008` with `:authority` `<podIP>:<targetPort>` and the waypoint's
 *   own identity (Envoy's `connect_originate`: istio/istio@00274234:pilot/pkg/networking/core/listener_waypoint.go
 *   `buildConnectOriginateListener`), through one `@ambient-kit/hbone` client that pools the HTTP/2
 *   connections to each pod; a workload outside the mesh (`protocol: TCP`) is dialed in plaintext;
 * - HTTP/1.1: a keep-alive `http.Agent` per endpoint whose sockets are tunnels (one request at a time on
 *   each, idle ones reused);
 * - HTTP/2 (and gRPC): one `node:http2` session per endpoint over one tunnel, requests multiplexed on it,
 *   replaced when it receives GOAWAY or fails.
 *
 * Failures are reported in `@ambient-kit/routing`'s terms (`upstreamFailure`): a tunnel that cannot be
 * opened is a connect failure (Envoy `UF`), a stream refused by the upstream (`REFUSED_STREAM`, or opened
 * after a GOAWAY) a refused stream, anything after that a reset (`UR`).
 * @module
 */
import http from 'node:http';
import http2 from 'node:http2';
import net from 'node:net';
import type { Duplex, Readable } from 'node:stream';
import type { Baggage, HboneClient } from '@ambient-kit/hbone';
import { upstreamFailure } from '@ambient-kit/routing';

/** One endpoint: a pod's target port, and how to reach it. */
export interface UpstreamEndpoint {
  /** Unique per endpoint and transport. */
  readonly key: string;
  readonly ip: string;
  /** The target port (the app's). */
  readonly port: number;
  /** HBONE (`via` = `podIP:15008`, the identities the pod may present), or plaintext when absent. */
  readonly hbone: { readonly via: string; readonly identities: readonly string[] } | undefined;
}

/** What to send. */
export interface UpstreamRequestInit {
  readonly method: string;
  readonly path: string;
  readonly authority: string;
  /** Request headers, names lower case, no pseudo-headers and no connection-specific ones. */
  readonly headers: Readonly<Record<string, string>>;
  /** The body; `undefined` for none. */
  readonly body: Readable | undefined;
  readonly version: '1.1' | '2';
  readonly signal: AbortSignal;
}

/** The upstream's answer, once its headers arrived. */
export interface UpstreamAnswer {
  readonly status: number;
  /** Response headers, names lower case, no pseudo-headers. */
  readonly headers: Record<string, string | string[]>;
  /** The response body (ends when the upstream's does). */
  readonly body: Readable;
  /** True when the answer has no body: HTTP/2 HEADERS with END_STREAM (a gRPC trailers-only answer). */
  readonly headersOnly: boolean;
  /** The trailers, once the body ended (`undefined` when there were none). */
  trailers(): Record<string, string> | undefined;
  readonly version: '1.1' | '2';
  /** Drops an answer nobody forwards (a retried one, a mirror's): its connection is freed. */
  discard(): void;
}

/** Options of {@link createUpstreamPool}. */
export interface UpstreamPoolOptions {
  /** The HBONE client (the waypoint's identity). */
  readonly client: HboneClient;
  /** The local address connections leave from (the waypoint's pod IP). */
  readonly sourceIp?: string;
  /** The waypoint's own metadata for the CONNECT's `baggage`. */
  readonly baggage?: Baggage;
  /**
   * Idle HTTP/1.1 tunnels and HTTP/2 sessions are closed after this. Default 1 h (Istio's default upstream
   * `idleTimeout`, DestinationRule `connectionPool.http.idleTimeout`).
   */
  readonly idleTimeoutMs?: number;
  /** Plaintext connect timeout. Default 10 s (the HBONE client has its own). */
  readonly connectTimeoutMs?: number;
}

/** Counts for `/config_dump` and tests. */
export interface UpstreamPoolStats {
  readonly http1Agents: number;
  readonly http1Sockets: number;
  readonly http1FreeSockets: number;
  readonly http2Sessions: number;
  readonly tunnelsOpened: number;
}

/** Pooled connections to every endpoint. */
export interface UpstreamPool {
  /**
   * Sends a request and resolves when the answer's headers arrive.
   *
   * @param endpoint - Where to.
   * @param init - The request.
   * @returns The answer.
   * @throws {RoutingError} `upstreamFailure(...)`: how the attempt failed.
   */
  send(endpoint: UpstreamEndpoint, init: UpstreamRequestInit): Promise<UpstreamAnswer>;
  /**
   * Opens a new (unpooled) byte stream to an endpoint: upgrades and TCP traffic.
   *
   * @param endpoint - Where to.
   * @param signal - Cancels the open.
   * @returns The stream.
   */
  openStream(endpoint: UpstreamEndpoint, signal?: AbortSignal): Promise<Duplex>;
  stats(): UpstreamPoolStats;
  /** Closes every pooled connection. */
  close(): Promise<void>;
}

// RFC 9113 §8.2.2: connection-specific header fields are malformed in HTTP/2.
const H2_FORBIDDEN = new Set([
  'connection',
  'keep-alive',
  'proxy-connection',
  'transfer-encoding',
  'upgrade',
  'host',
]);

const CONNECT_FAILURE = Symbol('connect-failure');

function connectFailure(error: unknown): Error {
  const e = upstreamFailure('connect-failure', error instanceof Error ? error.message : String(error), error);
  Object.defineProperty(e, CONNECT_FAILURE, { value: true });
  return e;
}

function isConnectFailure(error: unknown): boolean {
  return typeof error === 'object' && error !== null && CONNECT_FAILURE in error;
}

// One `abort` listener per signal, whatever the number of requests waiting on it: `@ambient-kit/routing` hands
// every attempt that cannot time out the same never-aborting signal, and EventTarget listeners cost more to add
// and remove than a Set entry.
const abortWaiters = new WeakMap<AbortSignal, Set<() => void>>();

/**
 * Calls `fn` when `signal` aborts.
 *
 * @returns A function that stops waiting.
 */
function whenAborted(signal: AbortSignal, fn: () => void): () => void {
  let waiters = abortWaiters.get(signal);
  if (waiters === undefined) {
    const set = new Set<() => void>();
    waiters = set;
    abortWaiters.set(signal, set);
    signal.addEventListener(
      'abort',
      () => {
        for (const w of [...set]) w();
        set.clear();
      },
      { once: true },
    );
  }
  waiters.add(fn);
  const set = waiters;
  return () => {
    set.delete(fn);
  };
}

function abortReason(signal: AbortSignal): Error {
  return signal.reason instanceof Error ? signal.reason : new Error('aborted');
}

function h1Headers(h: http.IncomingHttpHeaders): Record<string, string | string[]> {
  const out: Record<string, string | string[]> = {};
  for (const name in h) {
    const v = h[name];
    if (v !== undefined) out[name] = v;
  }
  return out;
}

function h2Headers(h: http2.IncomingHttpHeaders): Record<string, string | string[]> {
  const out: Record<string, string | string[]> = {};
  for (const name in h) {
    if (name.charCodeAt(0) === 58) continue;
    const v = h[name];
    if (v !== undefined) out[name] = v;
  }
  return out;
}

function trailerRecord(t: http.IncomingHttpHeaders | NodeJS.Dict<string | string[]> | undefined) {
  if (t === undefined) return undefined;
  const out: Record<string, string> = {};
  let any = false;
  for (const name in t) {
    if (name.charCodeAt(0) === 58) continue;
    const v = t[name];
    if (v === undefined) continue;
    out[name] = Array.isArray(v) ? v.join(',') : v;
    any = true;
  }
  return any ? out : undefined;
}

/**
 * Creates the pool.
 *
 * @param options - The HBONE client, the source address, timeouts.
 * @returns The pool.
 * @example
 * ```ts
 * const pool = createUpstreamPool({ client: createHboneClient({ svid, bundles }), sourceIp: '10.244.0.9' });
 * const answer = await pool.send(endpoint, { method: 'GET', path: '/', authority: 'reviews:9080', headers: {}, body: undefined, version: '1.1', signal });
 * ```
 */
export function createUpstreamPool(options: UpstreamPoolOptions): UpstreamPool {
  const idleMs = options.idleTimeoutMs ?? 3_600_000;
  const agents = new Map<string, http.Agent>();
  const sessions = new Map<string, Promise<http2.ClientHttp2Session>>();
  const live = new Set<http2.ClientHttp2Session>();
  let tunnelsOpened = 0;
  let closed = false;

  async function openStream(endpoint: UpstreamEndpoint, signal?: AbortSignal): Promise<Duplex> {
    if (closed) throw connectFailure(new Error('the upstream pool is closed'));
    try {
      if (endpoint.hbone !== undefined) {
        const stream = await options.client.connect({
          via: endpoint.hbone.via,
          authority: `${endpoint.ip.includes(':') ? `[${endpoint.ip}]` : endpoint.ip}:${endpoint.port}`,
          expectedIdentities: endpoint.hbone.identities,
          ...(options.sourceIp === undefined ? {} : { sourceIp: options.sourceIp }),
          ...(options.baggage === undefined ? {} : { baggage: options.baggage }),
          ...(signal === undefined ? {} : { signal }),
        });
        tunnelsOpened++;
        return stream;
      }
      const socket = await new Promise<net.Socket>((resolve, reject) => {
        const s = net.connect({
          host: endpoint.ip,
          port: endpoint.port,
          ...(options.sourceIp === undefined ? {} : { localAddress: options.sourceIp }),
          ...(signal === undefined ? {} : { signal }),
        });
        const timer = setTimeout(
          () => s.destroy(new Error(`connect to ${endpoint.ip}:${endpoint.port} timed out`)),
          options.connectTimeoutMs ?? 10_000,
        );
        s.once('connect', () => {
          clearTimeout(timer);
          resolve(s);
        });
        s.once('error', (e) => {
          clearTimeout(timer);
          reject(e);
        });
      });
      socket.setNoDelay(true);
      tunnelsOpened++;
      return socket;
    } catch (error) {
      throw connectFailure(error);
    }
  }

  function agentFor(endpoint: UpstreamEndpoint): http.Agent {
    let agent = agents.get(endpoint.key);
    if (agent === undefined) {
      agent = new http.Agent({ keepAlive: true, maxFreeSockets: 256, timeout: idleMs, scheduling: 'lifo' });
      // The agent's sockets are tunnels, opened asynchronously: Agent calls back `oncreate`.
      (agent as unknown as { createConnection: unknown }).createConnection = (
        _opts: unknown,
        oncreate: (error: Error | null, socket?: Duplex) => void,
      ): undefined => {
        openStream(endpoint).then(
          (stream) => {
            stream.on('error', () => {});
            oncreate(null, stream);
          },
          (error: unknown) => oncreate(error as Error),
        );
        return undefined;
      };
      agents.set(endpoint.key, agent);
    }
    return agent;
  }

  function send1(endpoint: UpstreamEndpoint, init: UpstreamRequestInit): Promise<UpstreamAnswer> {
    return new Promise<UpstreamAnswer>((resolve, reject) => {
      if (init.signal.aborted) {
        reject(abortReason(init.signal));
        return;
      }
      const headers: Record<string, string> = { ...init.headers, host: init.authority };
      const req = http.request({
        agent: agentFor(endpoint),
        host: endpoint.ip,
        port: endpoint.port,
        method: init.method,
        path: init.path,
        headers,
        setHost: false,
      });
      let answered = false;
      const stopWaiting = whenAborted(init.signal, () => {
        req.destroy(abortReason(init.signal));
      });
      req.on('response', (res) => {
        answered = true;
        res.on('close', stopWaiting);
        resolve({
          status: res.statusCode ?? 502,
          headers: h1Headers(res.headers),
          body: res,
          headersOnly: false,
          trailers: () => trailerRecord(res.trailers),
          version: '1.1',
          discard() {
            // Read the rest away so the keep-alive tunnel goes back to the pool.
            res.resume();
          },
        });
      });
      req.on('error', (error) => {
        stopWaiting();
        if (answered) return;
        if (isConnectFailure(error)) reject(error);
        else reject(upstreamFailure('reset', error.message, error));
      });
      if (init.body === undefined) req.end();
      else {
        init.body.on('error', (e) => req.destroy(e));
        init.body.pipe(req);
      }
    });
  }

  function sessionFor(endpoint: UpstreamEndpoint): Promise<http2.ClientHttp2Session> {
    const cached = sessions.get(endpoint.key);
    if (cached !== undefined) return cached;
    const made = (async () => {
      const tunnel = await openStream(endpoint);
      tunnel.on('error', () => {});
      const session = http2.connect(
        `http://${endpoint.ip.includes(':') ? `[${endpoint.ip}]` : endpoint.ip}:${endpoint.port}`,
        {
          createConnection: () => tunnel,
          settings: { enablePush: false },
        },
      );
      live.add(session);
      const forget = (): void => {
        if (sessions.get(endpoint.key) === made) sessions.delete(endpoint.key);
      };
      session.on('goaway', forget);
      session.on('error', forget);
      session.on('close', () => {
        forget();
        live.delete(session);
      });
      session.setTimeout(idleMs, () => session.close());
      return session;
    })();
    sessions.set(endpoint.key, made);
    made.catch(() => {
      if (sessions.get(endpoint.key) === made) sessions.delete(endpoint.key);
    });
    return made;
  }

  async function send2(endpoint: UpstreamEndpoint, init: UpstreamRequestInit): Promise<UpstreamAnswer> {
    const session = await sessionFor(endpoint);
    if (init.signal.aborted) throw abortReason(init.signal);
    const headers: http2.OutgoingHttpHeaders = {
      ':method': init.method,
      ':path': init.path,
      ':authority': init.authority,
      ':scheme': 'http',
    };
    for (const name in init.headers) {
      if (H2_FORBIDDEN.has(name)) continue;
      const v = init.headers[name] as string;
      if (name === 'te') {
        if (/\btrailers\b/i.test(v)) headers['te'] = 'trailers';
        continue;
      }
      headers[name] = v;
    }
    return new Promise<UpstreamAnswer>((resolve, reject) => {
      let stream: http2.ClientHttp2Stream;
      try {
        stream = session.request(headers, { endStream: init.body === undefined });
      } catch (error) {
        // The session went away under us (GOAWAY, closed): nothing was sent.
        reject(upstreamFailure('refused-stream', (error as Error).message, error));
        return;
      }
      let answered = false;
      let trailers: Record<string, string> | undefined;
      const stopWaiting = whenAborted(init.signal, () => {
        stream.close(http2.constants.NGHTTP2_CANCEL);
      });
      stream.on('close', stopWaiting);
      stream.on('trailers', (t) => {
        trailers = trailerRecord(t);
      });
      stream.on('response', (h, flags) => {
        answered = true;
        const status = Number(h[':status'] ?? 502);
        resolve({
          status,
          headers: h2Headers(h),
          body: stream,
          headersOnly: (flags & http2.constants.NGHTTP2_FLAG_END_STREAM) !== 0,
          trailers: () => trailers,
          version: '2',
          discard() {
            stream.close(http2.constants.NGHTTP2_CANCEL);
          },
        });
      });
      stream.on('error', (error: NodeJS.ErrnoException) => {
        if (answered) return;
        if (init.signal.aborted) reject(abortReason(init.signal));
        else if (error.code === 'ERR_HTTP2_GOAWAY_SESSION')
          reject(upstreamFailure('refused-stream', error.message, error));
        else reject(upstreamFailure('reset', error.message, error));
      });
      stream.on('close', () => {
        if (answered) return;
        const refused = stream.rstCode === http2.constants.NGHTTP2_REFUSED_STREAM;
        reject(
          upstreamFailure(
            refused ? 'refused-stream' : 'reset',
            `upstream stream closed before its answer (code ${stream.rstCode})`,
          ),
        );
      });
      if (init.body !== undefined) {
        init.body.on('error', () => stream.close(http2.constants.NGHTTP2_CANCEL));
        init.body.pipe(stream);
      }
    });
  }

  return {
    send(endpoint, init) {
      return init.version === '2' ? send2(endpoint, init) : send1(endpoint, init);
    },
    openStream,
    stats() {
      let sockets = 0;
      let free = 0;
      for (const agent of agents.values()) {
        for (const list of Object.values(agent.sockets)) sockets += list?.length ?? 0;
        for (const list of Object.values(agent.freeSockets)) free += list?.length ?? 0;
      }
      return {
        http1Agents: agents.size,
        http1Sockets: sockets,
        http1FreeSockets: free,
        http2Sessions: live.size,
        tunnelsOpened,
      };
    },
    async close() {
      closed = true;
      for (const agent of agents.values()) agent.destroy();
      agents.clear();
      await Promise.all(
        [...live].map(
          (s) =>
            new Promise<void>((resolve) => {
              if (s.destroyed) {
                resolve();
                return;
              }
              s.close(() => resolve());
              setTimeout(() => {
                s.destroy();
                resolve();
              }, 1000).unref();
            }),
        ),
      );
      sessions.clear();
    },
  };
}
