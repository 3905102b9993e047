/**
 * AuthorizationPolicy for Node HTTP servers: a middleware usable as a `node:http` handler wrapper, an
 * Express/Connect `(req, res, next)` function and a Fastify `onRequest` hook. It builds the request from the
 * connection (the mTLS peer via `@ambient-kit/spiffe`) and answers denials as Envoy does:
 * 403 `RBAC: access denied`.
 * @module
 */

import type { ServerResponse } from 'node:http';
import type { Http2ServerResponse } from 'node:http2';
import type { PolicyEngine } from '../engine/engine.js';
import type { Decision, DestinationService, ExtAuthzAnswer, Workload } from '../engine/request.js';
import type { PolicySource } from '../runtime/policy-file.js';
import { authzRequestFromHttp, type HttpRequestOptions, type NodeHttpRequest } from './request-from-http.js';

/** The body Envoy's RBAC filter answers a denied request with (status 403). */
export const RBAC_DENIED_BODY = 'RBAC: access denied';

/** A response from `node:http`, `node:https` or the `node:http2` compatibility API. */
export type NodeHttpResponse = ServerResponse | Http2ServerResponse;

/** Options of {@link createAuthzMiddleware}. */
export interface AuthzMiddlewareOptions {
  /** An engine, or a source of the current one (e.g. {@link watchPolicyFile}) for hot reload. */
  readonly engine: PolicyEngine | PolicySource;
  /** This server as the enforcing workload; usually `{ kind: 'sidecar', namespace, labels }`. */
  readonly workload: Workload;
  /** The Service this server is reached through, for `kind: 'waypoint'` enforcement of targetRef policies. */
  readonly service?: DestinationService;
  /** Trusted proxy hops in `X-Forwarded-For` (Envoy `xff_num_trusted_hops`). Default 0. */
  readonly numTrustedProxies?: number;
  /** The verified JWT payload of a request (run your RequestAuthentication before this middleware). */
  readonly jwt?: (req: NodeHttpRequest) => Readonly<Record<string, unknown>> | null | undefined;
  /**
   * The ext_authz provider call for CUSTOM policies, asked only when a CUSTOM rule matches. A rejection, a
   * timeout or a missing function denies (Envoy's ext_authz fails closed).
   */
  readonly extAuthz?: (provider: string, req: NodeHttpRequest) => ExtAuthzAnswer | Promise<ExtAuthzAnswer>;
  /** Give up on `extAuthz` after this long. Default 5000 ms. */
  readonly extAuthzTimeoutMs?: number;
  /** Told every decision, e.g. for access logs; exceptions it throws are ignored. */
  readonly onDecision?: (decision: Decision, req: NodeHttpRequest) => void;
}

/** The Fastify `onRequest` hook shape (the parts used). */
export interface FastifyLikeRequest {
  readonly raw: NodeHttpRequest;
}
/** The Fastify reply shape (the parts used). */
export interface FastifyLikeReply {
  code(status: number): FastifyLikeReply;
  header(name: string, value: string): FastifyLikeReply;
  send(body?: string): unknown;
}

/** What {@link createAuthzMiddleware} returns: an Express/Connect middleware with extra shapes. */
export interface AuthzMiddleware {
  /**
   * Express/Connect middleware: calls `next()` when allowed, otherwise answers 403 (400 for a request the proxy
   * would reject before authorization) and does not call `next`.
   */
  (req: NodeHttpRequest, res: NodeHttpResponse, next: (error?: unknown) => void): void;
  /**
   * Wraps a `node:http` request handler.
   *
   * @param handler - Runs for allowed requests.
   * @returns A handler for `http.createServer`.
   */
  wrap(
    handler: (req: NodeHttpRequest, res: NodeHttpResponse) => void,
  ): (req: NodeHttpRequest, res: NodeHttpResponse) => void;
  /** Fastify `onRequest` hook: `fastify.addHook('onRequest', middleware.fastify)`. */
  readonly fastify: (
    request: FastifyLikeRequest,
    reply: FastifyLikeReply,
    done: (error?: Error) => void,
  ) => void;
  /**
   * Decides without answering.
   *
   * @param req - The request.
   * @returns The decision.
   */
  decide(req: NodeHttpRequest): Promise<Decision>;
}

function currentEngine(source: PolicyEngine | PolicySource): PolicyEngine {
  return 'current' in source && typeof source.current === 'function'
    ? source.current()
    : (source as PolicyEngine);
}

function withTimeout<T>(promise: Promise<T>, ms: number): Promise<T> {
  return new Promise<T>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`ext_authz timed out after ${ms} ms`)), ms);
    timer.unref();
    promise.then(
      (value) => {
        clearTimeout(timer);
        resolve(value);
      },
      (error: unknown) => {
        clearTimeout(timer);
        reject(error);
      },
    );
  });
}

/** The status and body a denied decision is answered with. */
function denial(decision: Decision): { status: number; body: string } {
  if (decision.badRequest === true) return { status: 400, body: 'Bad Request' };
  // A provider's own denial is its answer (empty here); everything else is the RBAC filter's.
  if (decision.extAuthzCalled !== undefined && decision.reason.startsWith('denied by CUSTOM')) {
    return { status: 403, body: '' };
  }
  return { status: 403, body: RBAC_DENIED_BODY };
}

function respond(res: NodeHttpResponse, decision: Decision): void {
  const { status, body } = denial(decision);
  if (res.headersSent) {
    res.end();
    return;
  }
  (res as ServerResponse).writeHead(status, {
    'content-type': 'text/plain',
    'content-length': String(Buffer.byteLength(body)),
  });
  res.end(body);
}

/**
 * Creates the middleware. Each request is decided with the engine current when it arrived (a hot reload in
 * between never mixes two policy sets); CUSTOM policies await `extAuthz` and are decided again with its answer.
 *
 * @param options - The engine (or reloading source), this workload, and request hooks.
 * @returns The middleware, with `.wrap(handler)` for `node:http` and `.fastify` for Fastify.
 * @throws {TypeError} When `engine` or `workload` is missing.
 * @example
 * ```ts
 * const authz = createAuthzMiddleware({ engine, workload: { kind: 'sidecar', namespace: 'foo', labels: { app: 'web' } } });
 * app.use(authz);                                   // Express / Connect
 * http.createServer(authz.wrap((req, res) => res.end('ok')));
 * fastify.addHook('onRequest', authz.fastify);
 * ```
 */
export function createAuthzMiddleware(options: AuthzMiddlewareOptions): AuthzMiddleware {
  if (
    typeof options !== 'object' ||
    options === null ||
    typeof options.engine !== 'object' ||
    options.engine === null
  ) {
    throw new TypeError('createAuthzMiddleware: options.engine is required');
  }
  if (typeof options.workload !== 'object' || options.workload === null) {
    throw new TypeError('createAuthzMiddleware: options.workload is required');
  }
  const timeoutMs = options.extAuthzTimeoutMs ?? 5000;
  // What every request is built with; only the JWT differs per request.
  const requestOptions: HttpRequestOptions = {
    ...(options.numTrustedProxies === undefined ? {} : { numTrustedProxies: options.numTrustedProxies }),
    ...(options.service === undefined ? {} : { service: options.service }),
  };

  const decide = async (req: NodeHttpRequest): Promise<Decision> => {
    const engine = currentEngine(options.engine);
    let jwt: Readonly<Record<string, unknown>> | null | undefined;
    try {
      jwt = options.jwt?.(req);
    } catch {
      jwt = null;
    }
    const request = authzRequestFromHttp(
      req,
      jwt === undefined ? requestOptions : { ...requestOptions, jwt },
    );
    const input = { workload: options.workload, request };
    // First pass: find out whether a CUSTOM policy wants a provider (answering "deny" until we know).
    let wanted: string | undefined;
    const first = engine.evaluate(input, {
      extAuthz: (provider) => {
        wanted = provider;
        return 'deny';
      },
    });
    if (wanted === undefined) return first;
    const provider = wanted;
    let answer: ExtAuthzAnswer = 'deny';
    if (options.extAuthz !== undefined) {
      try {
        answer = await withTimeout(Promise.resolve(options.extAuthz(provider, req)), timeoutMs);
      } catch {
        answer = 'deny';
      }
    }
    // Second pass with the provider's answer, on the same engine.
    return engine.evaluate(input, {
      extAuthz: (p) => (p === provider ? answer : 'deny'),
    });
  };

  const report = (decision: Decision, req: NodeHttpRequest): void => {
    try {
      options.onDecision?.(decision, req);
    } catch {
      // Logging must not change the answer.
    }
  };

  const middleware = ((
    req: NodeHttpRequest,
    res: NodeHttpResponse,
    next: (error?: unknown) => void,
  ): void => {
    decide(req).then(
      (decision) => {
        report(decision, req);
        if (decision.allow) next();
        else respond(res, decision);
      },
      (error: unknown) => next(error),
    );
  }) as AuthzMiddleware;

  const wrap: AuthzMiddleware['wrap'] = (handler) => (req, res) => {
    middleware(req, res, (error?: unknown) => {
      if (error !== undefined) {
        if (!res.headersSent) (res as ServerResponse).writeHead(500, { 'content-type': 'text/plain' });
        res.end('Internal Server Error');
        return;
      }
      handler(req, res);
    });
  };

  const fastify: AuthzMiddleware['fastify'] = (request, reply, done) => {
    decide(request.raw).then(
      (decision) => {
        report(decision, request.raw);
        if (decision.allow) {
          done();
          return;
        }
        const { status, body } = denial(decision);
        reply.code(status).header('content-type', 'text/plain').send(body);
      },
      (error: unknown) => done(error instanceof Error ? error : new Error(String(error))),
    );
  };

  return Object.assign(middleware, { wrap, fastify, decide });
}
