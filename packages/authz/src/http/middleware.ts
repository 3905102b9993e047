/**
 * Istio's inbound HTTP policy for Node servers, in Envoy's order: PeerAuthentication (a STRICT workload
 * refuses a connection without a verified peer certificate), then RequestAuthentication (Envoy's `jwt_authn`:
 * 401 `Jwt verification fails` and the like, 403 for a wrong audience), then AuthorizationPolicy (Envoy's RBAC:
 * 403 `RBAC: access denied`). One function serves as a `node:http` handler wrapper, an Express/Connect
 * `(req, res, next)` middleware (app-level or mounted) and a Fastify `onRequest` hook. The verified identity
 * is then readable with {@link getRequestAuthn}.
 * @module
 */

import type { ServerResponse } from 'node:http';
import type { Http2ServerRequest, Http2ServerResponse } from 'node:http2';
import type { TLSSocket } from 'node:tls';
import type { PolicyEngine } from '../engine/engine.js';
import { PolicyError } from '../engine/errors.js';
import type { JwksSource } from '../engine/jwt-authn.js';
import { removeQueryParam } from '../engine/jwt-authn.js';
import { mtlsModeForPort } from '../engine/peer-authentication.js';
import type {
  AuthzRequest,
  Decision,
  DestinationService,
  ExtAuthzAnswer,
  Workload,
} from '../engine/request.js';
import { createJwksResolver } from '../runtime/jwks-resolver.js';
import type { PolicySource } from '../runtime/policy-file.js';
import {
  type AuthenticateRequestResult,
  authenticateRequest,
  type RequestAuthn,
} from './authenticate-request.js';
import {
  authzRequestFromHttp,
  type HttpRequestOptions,
  type NodeHttpRequest,
  requestTargetOf,
} from './request-from-http.js';

/** A verified JWT payload. */
type JwtPayload = Readonly<Record<string, unknown>>;

/** The body Envoy's RBAC filter answers a denied request with (status 403). */
export const RBAC_DENIED_BODY = 'RBAC: access denied';

/** A response from `node:http`, `node:https` or the `node:http2` compatibility API. */
export type NodeHttpResponse = ServerResponse | Http2ServerResponse;

/** Options of {@link createAuthzMiddleware}. */
export interface AuthzMiddlewareOptions {
  /**
   * An engine, or a source of the current one (e.g. {@link watchPolicyFile}) for hot reload. Its
   * RequestAuthentications and PeerAuthentications apply too.
   */
  readonly engine: PolicyEngine | PolicySource;
  /** This server as the enforcing workload; usually `{ kind: 'sidecar', namespace, labels }`. */
  readonly workload: Workload;
  /** The Service this server is reached through, for `kind: 'waypoint'` enforcement of targetRef policies. */
  readonly service?: DestinationService;
  /** Trusted proxy hops in `X-Forwarded-For` (Envoy `xff_num_trusted_hops`). Default 0. */
  readonly numTrustedProxies?: number;
  /**
   * The verified peer principal of a request whose transport authenticated the peer outside `node:tls`
   * (a native-HBONE tunnel: `(req) => getPeer(req)?.identity`, `docs/native-hbone.md`). `null` or
   * `undefined` means no verified peer. Default: the SPIFFE ID `@ambient-kit/spiffe` verified on the TLS socket.
   */
  readonly principal?: (req: NodeHttpRequest) => string | null | undefined;
  /**
   * The current time in epoch milliseconds for JWT `exp`/`nbf` checks, or a function giving it (for tests).
   * Default `Date.now()`.
   */
  readonly now?: number | (() => number);
  /** Where `jwksUri` keys come from. Default: a resolver of this middleware's own. */
  readonly jwks?: JwksSource;
  /**
   * The verified JWT payload of a request, for applications that verify tokens themselves (consulted only when
   * no RequestAuthentication applies to the workload). It may return the payload or a promise of it (an async
   * JWT library): the middleware awaits it before deciding. A hook that throws, rejects, or answers anything but
   * an object, `null` or `undefined` denies the request (`AUTHZ_ERR_CLAIMS_HOOK` in the decision's reason): a
   * claim check is never made on something else.
   */
  readonly jwt?: (
    req: NodeHttpRequest,
  ) => JwtPayload | null | undefined | PromiseLike<JwtPayload | null | undefined>;
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
  /** Fastify's parsed query; a removed token parameter is deleted from it too. */
  readonly query?: unknown;
}
/** The Fastify reply shape (the parts used). */
export interface FastifyLikeReply {
  code(status: number): FastifyLikeReply;
  header(name: string, value: string): FastifyLikeReply;
  send(body?: string): unknown;
  /** Fastify's `reply.hijack()`, used when the connection is refused. */
  hijack?(): unknown;
}

/** What {@link createAuthzMiddleware} returns: an Express/Connect middleware with extra shapes. */
export interface AuthzMiddleware {
  /**
   * Express/Connect middleware: calls `next()` when allowed, otherwise answers as Envoy would and does not call
   * `next`.
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
   * Decides without answering and without changing the request.
   *
   * @param req - The request.
   * @returns The decision.
   */
  decide(req: NodeHttpRequest): Promise<Decision>;
}

const AUTHN = new WeakMap<object, RequestAuthn>();

/**
 * The verified JWT identity of a request that passed the middleware, or `undefined` when it carried no token
 * (or no RequestAuthentication applies). Accepts the node:http/Express request or Fastify's request.
 *
 * @param req - The request.
 * @returns `{ principal, claims, audiences, presenter }`, or `undefined`.
 * @example
 * ```ts
 * app.get('/me', (req, res) => res.json({ user: getRequestAuthn(req)?.principal ?? null }));
 * ```
 */
export function getRequestAuthn(req: object): RequestAuthn | undefined {
  const direct = AUTHN.get(req);
  if (direct !== undefined) return direct;
  const raw = (req as { raw?: unknown }).raw;
  return typeof raw === 'object' && raw !== null ? AUTHN.get(raw) : undefined;
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

/**
 * Runs the claims hook and checks what it gave: awaited when it is a promise (or any thenable), refused when
 * it throws, rejects or is not a payload object.
 */
async function claimsFromHook(
  hook: NonNullable<AuthzMiddlewareOptions['jwt']>,
  req: NodeHttpRequest,
): Promise<{ ok: true; value: JwtPayload | null | undefined } | { ok: false; decision: Decision }> {
  const refuse = (why: string): { ok: false; decision: Decision } => ({
    ok: false,
    decision: {
      allow: false,
      reason: String(new PolicyError('AUTHZ_ERR_CLAIMS_HOOK', `the jwt claims hook ${why}; denying`)),
      audit: false,
      dryRunMatched: [],
    },
  });
  let value: unknown;
  try {
    value = await hook(req);
  } catch (cause) {
    return refuse(`failed: ${cause instanceof Error ? cause.message : String(cause)}`);
  }
  if (value === undefined || value === null) return { ok: true, value };
  if (typeof value !== 'object' || Array.isArray(value)) {
    return refuse(`returned ${Array.isArray(value) ? 'a list' : typeof value}, not a payload object`);
  }
  if (typeof (value as { then?: unknown }).then === 'function') {
    return refuse('resolved to another promise, not a payload object');
  }
  return { ok: true, value: value as JwtPayload };
}

/** How a request is answered. */
type Answer =
  | { readonly kind: 'allow' }
  | { readonly kind: 'refuse-connection' }
  | {
      readonly kind: 'reply';
      readonly status: number;
      readonly headers: Readonly<Record<string, string>>;
      readonly body: string;
    };

/** Everything one request's evaluation produced. */
interface Outcome {
  readonly decision: Decision;
  readonly answer: Answer;
  readonly authn: Extract<AuthenticateRequestResult, { ok: true }> | undefined;
}

/** The status and body a denied authorization decision is answered with. */
function denial(decision: Decision): Answer {
  if (decision.connectionRefused === true) return { kind: 'refuse-connection' };
  if (decision.badRequest === true) return { kind: 'reply', status: 400, headers: {}, body: 'Bad Request' };
  // A provider's own denial is its answer (empty here); everything else is the RBAC filter's.
  if (decision.extAuthzCalled !== undefined && decision.reason.startsWith('denied by CUSTOM')) {
    return { kind: 'reply', status: 403, headers: {}, body: '' };
  }
  return { kind: 'reply', status: 403, headers: {}, body: RBAC_DENIED_BODY };
}

function headersOf(req: NodeHttpRequest): Record<string, string | string[] | undefined> {
  const distinct = (req as { headersDistinct?: Record<string, string[]> }).headersDistinct;
  return distinct ?? (req.headers as Record<string, string | string[] | undefined>);
}

// The headers authorization sees after jwt_authn changed them (Envoy runs RBAC on the changed headers).
function changedHeaders(
  headers: Readonly<Record<string, string | readonly string[] | undefined>>,
  removed: readonly string[],
  added: readonly (readonly [string, string])[],
): Record<string, string[]> {
  const out: Record<string, string[]> = {};
  for (const [name, value] of Object.entries(headers)) {
    if (value === undefined) continue;
    const lower = name.toLowerCase();
    if (removed.includes(lower)) continue;
    out[lower] = [...(out[lower] ?? []), ...(typeof value === 'string' ? [value] : value)];
  }
  for (const [name, value] of added) out[name] = [...(out[name] ?? []), value];
  return out;
}

function isTls(socket: unknown): socket is TLSSocket {
  return (
    typeof socket === 'object' && socket !== null && (socket as { encrypted?: unknown }).encrypted === true
  );
}

// The connection-level part: closing it without an HTTP answer, as a listener that requires mTLS does.
function refuseConnection(req: NodeHttpRequest): void {
  const stream = (req as Http2ServerRequest).stream as { session?: { destroy(): void } } | undefined;
  if (stream?.session !== undefined) {
    stream.session.destroy();
    return;
  }
  req.socket?.destroy();
}

// Makes the request what Envoy forwards after jwt_authn: token header removed, output headers added, a token
// query parameter removed from the target (req.url, and Express's req.originalUrl), and Fastify's/Express's
// parsed query object.
function applyAuthn(
  req: NodeHttpRequest,
  authn: Extract<AuthenticateRequestResult, { ok: true }>,
  query: unknown,
): void {
  const headers = req.headers as Record<string, string | string[] | undefined>;
  const distinct = (req as { headersDistinct?: Record<string, string[]> }).headersDistinct;
  const raw = (req as { rawHeaders?: string[] }).rawHeaders;
  const removed = new Set(authn.removedHeaders);
  if (removed.size > 0) {
    for (const name of removed) {
      delete headers[name];
      if (distinct !== undefined) delete distinct[name];
    }
    if (Array.isArray(raw)) {
      const kept: string[] = [];
      for (let i = 0; i + 1 < raw.length; i += 2) {
        if (!removed.has((raw[i] as string).toLowerCase())) kept.push(raw[i] as string, raw[i + 1] as string);
      }
      raw.splice(0, raw.length, ...kept);
    }
  }
  for (const [name, value] of authn.addedHeaders) {
    const existing = headers[name];
    headers[name] =
      existing === undefined
        ? value
        : `${Array.isArray(existing) ? existing.join(', ') : existing}, ${value}`;
    if (distinct !== undefined) distinct[name] = [...(distinct[name] ?? []), value];
    if (Array.isArray(raw)) raw.push(name, value);
  }
  if (authn.removedParams.length > 0) {
    const strip = (url: string): string => authn.removedParams.reduce(removeQueryParam, url);
    if (typeof req.url === 'string') req.url = strip(req.url);
    const original = (req as { originalUrl?: unknown }).originalUrl;
    if (typeof original === 'string')
      (req as unknown as { originalUrl: string }).originalUrl = strip(original);
    for (const q of [query, (req as { query?: unknown }).query]) {
      if (typeof q !== 'object' || q === null) continue;
      for (const name of authn.removedParams) delete (q as Record<string, unknown>)[name];
    }
  }
}

/**
 * Creates the middleware. Each request is decided with the engine current when it arrived (a hot reload in
 * between never mixes two policy sets): PeerAuthentication, RequestAuthentication, then authorization (CUSTOM
 * policies await `extAuthz` and are decided again with its answer).
 *
 * @param options - The engine (or reloading source), this workload, the clock and key source, request hooks.
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
  const now = (): number => {
    const n = options.now;
    return typeof n === 'function' ? n() : typeof n === 'number' ? n : Date.now();
  };
  let ownJwks: JwksSource | undefined;
  const jwks = (): JwksSource => {
    ownJwks ??= options.jwks ?? createJwksResolver();
    return ownJwks;
  };
  // What every request is built with; only the JWT differs per request.
  const requestOptions: HttpRequestOptions = {
    ...(options.numTrustedProxies === undefined ? {} : { numTrustedProxies: options.numTrustedProxies }),
    ...(options.service === undefined ? {} : { service: options.service }),
    ...(options.principal === undefined ? {} : { principal: options.principal }),
  };

  const authorize = async (
    engine: PolicyEngine,
    req: NodeHttpRequest,
    request: AuthzRequest,
  ): Promise<Decision> => {
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

  const evaluate = async (req: NodeHttpRequest): Promise<Outcome> => {
    const engine = currentEngine(options.engine);
    const base = authzRequestFromHttp(req, requestOptions);
    // 1. PeerAuthentication STRICT: no verified peer certificate, no connection (sidecar inbound listener).
    if (options.workload.kind === 'sidecar' && base.source.principal === null) {
      const peer = engine.peerAuthenticationFor(options.workload);
      if (mtlsModeForPort(peer, base.destination.port) === 'STRICT') {
        const by = peer.workload ?? peer.namespace ?? peer.mesh;
        const decision: Decision = {
          allow: false,
          reason: `refused by PeerAuthentication ${by ?? ''} (mode STRICT): the connection has no verified peer certificate`,
          audit: false,
          dryRunMatched: [],
          connectionRefused: true,
          ...(by === undefined ? {} : { policy: by }),
        };
        return { decision, answer: { kind: 'refuse-connection' }, authn: undefined };
      }
    }
    // 2. RequestAuthentication.
    let authn: Extract<AuthenticateRequestResult, { ok: true }> | undefined;
    let request = base;
    if (engine.jwtRulesFor(options.workload, options.service).length > 0) {
      const target = requestTargetOf(req) ?? '/';
      const result = await authenticateRequest({
        engine,
        workload: options.workload,
        ...(options.service === undefined ? {} : { service: options.service }),
        request: {
          path: target,
          ...(base.host === undefined ? {} : { host: base.host }),
          scheme: isTls(req.socket) ? 'https' : 'http',
          headers: headersOf(req),
        },
        now: now(),
        jwks: jwks(),
      });
      if (!result.ok) {
        const decision: Decision = {
          allow: false,
          reason: `jwt_authn: ${result.body}`,
          audit: false,
          dryRunMatched: [],
          ...(result.status === 400 ? { badRequest: true } : {}),
        };
        return {
          decision,
          answer: { kind: 'reply', status: result.status, headers: result.headers, body: result.body },
          authn: undefined,
        };
      }
      authn = result;
      request = {
        ...base,
        path: result.removedParams.reduce(removeQueryParam, target),
        headers: changedHeaders(base.headers ?? {}, result.removedHeaders, result.addedHeaders),
        jwt: result.jwt ?? null,
      };
    } else if (options.jwt !== undefined) {
      const claims = await claimsFromHook(options.jwt, req);
      if (!claims.ok) return { decision: claims.decision, answer: denial(claims.decision), authn: undefined };
      if (claims.value !== undefined) request = { ...base, jwt: claims.value };
    }
    // 3. Authorization.
    const decision = await authorize(engine, req, request);
    return { decision, answer: decision.allow ? { kind: 'allow' } : denial(decision), authn };
  };

  const report = (decision: Decision, req: NodeHttpRequest): void => {
    try {
      options.onDecision?.(decision, req);
    } catch {
      // Logging must not change the answer.
    }
  };

  const accept = (req: NodeHttpRequest, outcome: Outcome, query?: unknown): void => {
    if (outcome.authn === undefined) return;
    applyAuthn(req, outcome.authn, query);
    if (outcome.authn.authn !== undefined) AUTHN.set(req, outcome.authn.authn);
  };

  const respond = (res: NodeHttpResponse, answer: Extract<Answer, { kind: 'reply' }>): void => {
    if (res.headersSent) {
      res.end();
      return;
    }
    (res as ServerResponse).writeHead(answer.status, {
      ...answer.headers,
      'content-type': 'text/plain',
      'content-length': String(Buffer.byteLength(answer.body)),
    });
    res.end(answer.body);
  };

  const middleware = ((
    req: NodeHttpRequest,
    res: NodeHttpResponse,
    next: (error?: unknown) => void,
  ): void => {
    evaluate(req).then(
      (outcome) => {
        report(outcome.decision, req);
        const answer = outcome.answer;
        if (answer.kind === 'allow') {
          accept(req, outcome);
          next();
        } else if (answer.kind === 'refuse-connection') refuseConnection(req);
        else respond(res, answer);
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
    evaluate(request.raw).then(
      (outcome) => {
        report(outcome.decision, request.raw);
        const answer = outcome.answer;
        if (answer.kind === 'allow') {
          accept(request.raw, outcome, request.query);
          if (outcome.authn?.authn !== undefined) AUTHN.set(request, outcome.authn.authn);
          done();
          return;
        }
        if (answer.kind === 'refuse-connection') {
          reply.hijack?.();
          refuseConnection(request.raw);
          return;
        }
        let r = reply.code(answer.status).header('content-type', 'text/plain');
        for (const [name, value] of Object.entries(answer.headers)) r = r.header(name, value);
        r.send(answer.body);
      },
      (error: unknown) => done(error instanceof Error ? error : new Error(String(error))),
    );
  };

  const decide: AuthzMiddleware['decide'] = async (req) => (await evaluate(req)).decision;

  return Object.assign(middleware, { wrap, fastify, decide });
}
