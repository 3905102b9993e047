/**
 * A pod making an HTTP/1.1 request the way an app would in the demo: through its node's ztunnel SOCKS5
 * listener, from its own pod IP (that is how the ztunnel knows which workload is calling), to a service
 * hostname or an IP. One connection per request (`Connection: close`), so each request is one ztunnel
 * connection in the access log and the metrics.
 * @module
 */
import http from 'node:http';
import { connectSocks5, Socks5Error } from '@ambient-kit/example-ztunnel';
import { parseSocketAddress } from '@ambient-kit/workload-api';

/** The outcome of {@link podRequest}. */
export type PodResponse =
  | {
      readonly kind: 'http';
      readonly status: number;
      readonly body: string;
      readonly headers: http.IncomingHttpHeaders;
    }
  /** The ztunnel refused the SOCKS5 CONNECT: `reply` is the RFC 1928 code (2 = not allowed, 4 = host unreachable). */
  | { readonly kind: 'refused'; readonly reply: number; readonly message: string }
  | { readonly kind: 'error'; readonly message: string };

/** Options of {@link podRequest}. */
export interface PodRequestOptions {
  /** The pod's IP (bound as the source address). */
  readonly podIp: string;
  /** Its ztunnel's SOCKS5 listener, `ip:port`. */
  readonly socks5: string;
  /** Hostname or IP, and port. */
  readonly host: string;
  readonly port: number;
  readonly method?: string;
  readonly path?: string;
  readonly timeoutMs?: number;
}

/**
 * Makes one request from a pod.
 *
 * @param options - The pod, its ztunnel, and the request.
 * @returns The HTTP answer, the ztunnel's refusal, or an error; never throws.
 * @example
 * ```ts
 * const r = await podRequest({ podIp: '127.0.1.10', socks5: '127.0.1.1:15080', host: 'echo.default.svc.cluster.local', port: 80 });
 * ```
 */
export async function podRequest(options: PodRequestOptions): Promise<PodResponse> {
  const proxy = parseSocketAddress(options.socks5);
  if (proxy === undefined) return { kind: 'error', message: `socks5: ${options.socks5} is not ip:port` };
  let socket: import('node:net').Socket;
  try {
    socket = await connectSocks5({
      proxy: { host: proxy.ip, port: proxy.port },
      target: { host: options.host, port: options.port },
      localAddress: options.podIp,
      timeoutMs: options.timeoutMs ?? 10_000,
    });
  } catch (error) {
    if (error instanceof Socks5Error && error.code === 'SOCKS5_ERR_REPLY' && error.reply !== undefined) {
      return { kind: 'refused', reply: error.reply, message: error.message };
    }
    return { kind: 'error', message: (error as Error).message };
  }
  return new Promise<PodResponse>((resolve) => {
    const hostHeader = options.port === 80 ? options.host : `${options.host}:${options.port}`;
    const req = http.request(
      {
        method: options.method ?? 'GET',
        path: options.path ?? '/',
        headers: { host: hostHeader, connection: 'close', 'user-agent': 'ambient-kit-demo/0.1' },
        createConnection: () => socket,
        timeout: options.timeoutMs ?? 10_000,
      },
      (res) => {
        let body = '';
        res.setEncoding('utf8');
        res.on('data', (chunk: string) => {
          body += chunk;
        });
        res.on('end', () =>
          resolve({ kind: 'http', status: res.statusCode ?? 0, body, headers: res.headers }),
        );
        res.on('error', (error) => resolve({ kind: 'error', message: error.message }));
      },
    );
    req.on('timeout', () => req.destroy(new Error('request timed out')));
    req.on('error', (error) => resolve({ kind: 'error', message: error.message }));
    req.end();
  });
}

/** One request of {@link podRequests}. */
export interface PodRequest {
  readonly method?: string;
  readonly path: string;
  readonly headers?: Readonly<Record<string, string>>;
}

/**
 * Many requests from a pod through its ztunnel, as a keep-alive client makes them: `connections` SOCKS5
 * connections (each one ztunnel connection) carrying their share of the requests one after the other. The
 * waypoint decides each request on its own (routes, weights, faults), whatever connection it came on.
 *
 * @param options - The pod, its ztunnel, the target.
 * @param requests - The requests.
 * @param connections - How many connections share them. Default 8.
 * @returns The answers, in request order (a failed connection answers its requests with an error).
 * @example
 * ```ts
 * const answers = await podRequests({ podIp, socks5, host: 'reviews.default.svc.cluster.local', port: 9080 }, reqs);
 * ```
 */
export async function podRequests(
  options: Omit<PodRequestOptions, 'method' | 'path'>,
  requests: readonly PodRequest[],
  connections = 8,
): Promise<PodResponse[]> {
  const proxy = parseSocketAddress(options.socks5);
  if (proxy === undefined)
    return requests.map(() => ({ kind: 'error', message: `socks5: ${options.socks5} is not ip:port` }));
  const answers: PodResponse[] = new Array(requests.length);
  let next = 0;
  const hostHeader = options.port === 80 ? options.host : `${options.host}:${options.port}`;
  const worker = async (): Promise<void> => {
    // A keep-alive agent of one connection, made through the ztunnel's SOCKS5 listener from the pod's IP; a
    // new one when the last was closed.
    const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
    (agent as unknown as { createConnection: unknown }).createConnection = (
      _options: unknown,
      created: (error: Error | null, socket?: import('node:net').Socket) => void,
    ): undefined => {
      connectSocks5({
        proxy: { host: proxy.ip, port: proxy.port },
        target: { host: options.host, port: options.port },
        localAddress: options.podIp,
        timeoutMs: options.timeoutMs ?? 10_000,
      }).then(
        (socket) => created(null, socket),
        (error: Error) => created(error),
      );
      return undefined;
    };
    try {
      for (;;) {
        const i = next++;
        const r = requests[i];
        if (r === undefined) return;
        answers[i] = await new Promise<PodResponse>((resolve) => {
          const req = http.request(
            {
              method: r.method ?? 'GET',
              path: r.path,
              headers: { host: hostHeader, 'user-agent': 'ambient-kit-demo/0.1', ...r.headers },
              agent,
              timeout: options.timeoutMs ?? 10_000,
            },
            (res) => {
              let body = '';
              res.setEncoding('utf8');
              res.on('data', (chunk: string) => {
                body += chunk;
              });
              res.on('end', () =>
                resolve({ kind: 'http', status: res.statusCode ?? 0, body, headers: res.headers }),
              );
              res.on('error', (error) => resolve({ kind: 'error', message: error.message }));
            },
          );
          req.on('timeout', () => req.destroy(new Error('request timed out')));
          req.on('error', (error) => {
            if (
              error instanceof Socks5Error &&
              error.code === 'SOCKS5_ERR_REPLY' &&
              error.reply !== undefined
            )
              resolve({ kind: 'refused', reply: error.reply, message: error.message });
            else resolve({ kind: 'error', message: error.message });
          });
          req.end();
        });
      }
    } finally {
      agent.destroy();
    }
  };
  await Promise.all(Array.from({ length: Math.max(1, Math.min(connections, requests.length)) }, worker));
  return answers;
}
