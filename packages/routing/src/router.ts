/**
 * `createRouter`: the routing engine a waypoint (or any proxy or app) embeds. `route` decides a request
 * (pure, synchronous); `execute` carries a decision out around a caller-supplied `send` with Envoy's
 * semantics for fault delays, timeouts (504 `UT`), retries (`retryOn`, budget, jittered backoff) and
 * mirrors; `pickEndpoint` chooses endpoints under the DestinationRule (load balancer, outlier ejection,
 * circuit breakers).
 * @module
 */
import { setMaxListeners } from 'node:events';
import { err, ok, type Result } from 'neverthrow';
import { type CompileOptions, compileRouting } from './codec/compile.js';
import type { CompiledRouting, RoutingConflict } from './codec/compiled.js';
import { decide, httpToGrpcStatus } from './codec/decide.js';
import { RoutingError } from './codec/errors.js';
import {
  type ParseRouteResourcesOptions,
  type RouteResource,
  validateRouteResources,
} from './codec/resources.js';
import { type AttemptResult, backoffMs, wouldRetry } from './codec/retry-policy.js';
import { type EffectivePolicy, effectivePolicy } from './codec/traffic-policy.js';
import type {
  Backend,
  RandomSource,
  ResponseFlag,
  ResponseHeaderOps,
  RouteDecision,
  RouteRequest,
} from './codec/types.js';
import {
  type ClusterStatus,
  createEndpointPool,
  type Endpoint,
  type EndpointInput,
  type EndpointPick,
  type EndpointPool,
  endpointsFromWorkloads,
  type PickEndpointOptions,
  type WorkloadInput,
} from './endpoint-pool.js';

/** Options of {@link createRouter}. */
export interface RouterOptions
  extends CompileOptions,
    Pick<ParseRouteResourcesOptions, 'ignoreOtherKinds' | 'maxResources'> {
  /**
   * Kubernetes objects (Service, HTTPRoute, GRPCRoute, VirtualService, DestinationRule) as parsed YAML, or
   * the `Result` of `parseRouteResources` itself (an error result is returned as is).
   */
  readonly resources: readonly unknown[] | Result<readonly unknown[], RoutingError>;
  /** Pods, for Service selectors and DestinationRule subsets (endpoint choice). */
  readonly workloads?: readonly WorkloadInput[];
  /** The clock for outlier detection when no time is passed. Default `Date.now`. */
  readonly now?: () => number;
}

/** Options of {@link Router.route}. */
export interface RouteOptions {
  /** Decides weights, fault and mirror percentages. Default `Math.random`. */
  readonly random?: RandomSource;
}

/** The request `send` receives: the decision's path, authority and headers. */
export interface UpstreamRequest {
  readonly method: string;
  readonly path: string;
  readonly authority: string;
  readonly headers: Readonly<Record<string, string>>;
  readonly protocol: 'http' | 'grpc';
  /** The body given to `execute` (replayed on retries and mirrors: pass something re-readable). */
  readonly body?: unknown;
}

/** Where `send` sends: the backend, and the endpoint when the router chose one. */
export interface SendTarget extends Backend {
  /** The endpoint chosen by {@link Router.pickEndpoint}; `undefined` when the router knows no endpoints. */
  readonly endpoint: Endpoint | undefined;
  /** True for a mirrored request (its answer is dropped). */
  readonly mirror: boolean;
  /** 1 for the first try, 2 for the first retry, ... */
  readonly attempt: number;
}

/** What `send` resolves with. */
export interface UpstreamResponse {
  readonly status: number;
  readonly headers: Readonly<Record<string, string | readonly string[] | undefined>>;
  readonly body?: unknown;
}

/**
 * The caller's transport. Resolve with the upstream's response; reject with a {@link RoutingError} of code
 * `ROUTING_ERR_UPSTREAM_CONNECT_FAILURE`, `ROUTING_ERR_UPSTREAM_RESET` or `ROUTING_ERR_UPSTREAM_REFUSED_STREAM`
 * to say how it failed (any other rejection counts as a reset). Stop when `signal` aborts (timeouts).
 *
 * An attempt that cannot time out (no route or per-try timeout) and a mirror get a signal that never aborts,
 * shared by all of them (a new `AbortSignal` per request costs more than the rest of `execute`): remove what
 * you add to it when the attempt ends.
 */
export type SendFunction = (
  target: SendTarget,
  request: UpstreamRequest,
  signal: AbortSignal,
) => Promise<UpstreamResponse>;

/** Options of {@link Router.execute}. */
export interface ExecuteOptions {
  readonly send: SendFunction;
  readonly random?: RandomSource;
  /** Milliseconds; default `Date.now`. */
  readonly now?: () => number;
  /** Waits; default a timer (`setTimeout`), cancelled through `signal`. */
  readonly sleep?: (ms: number, signal?: AbortSignal) => Promise<void>;
  /** A decision made earlier with {@link Router.route} (default: decide now). */
  readonly decision?: RouteDecision;
  /** Endpoints of a backend from elsewhere (e.g. the WDS store); default: from `workloads`. */
  readonly endpoints?: (backend: Backend) => readonly EndpointInput[] | undefined;
  /** The request body, passed to `send` unchanged. */
  readonly body?: unknown;
}

/** What `execute` answers. */
export interface ExecuteResult {
  readonly status: number;
  /** Response headers after the route's response header changes (names lower case). */
  readonly headers: Record<string, string>;
  readonly body?: unknown;
  /** Envoy response flags. */
  readonly flags: readonly ResponseFlag[];
  /** `%RESPONSE_FLAGS%`: the flags joined with `,`, or `-`. */
  readonly responseFlags: string;
  /** gRPC status of a local reply to a gRPC request. */
  readonly grpcStatus?: number;
  /** Upstream attempts made (0 when none was sent). */
  readonly attempts: number;
  /** The endpoint that gave the final answer. */
  readonly upstream?: Endpoint;
  readonly decision: RouteDecision;
  /** Milliseconds from the start of `execute` (including a fault delay). */
  readonly durationMs: number;
}

/** A compiled, stateful router. */
export interface Router {
  /**
   * Decides a request: synchronous and pure (randomness comes from `options.random`).
   *
   * @param request - The request.
   * @param options - The random source.
   * @returns The decision.
   */
  route(request: RouteRequest, options?: RouteOptions): RouteDecision;
  /**
   * Decides a request and carries the decision out through `send`.
   *
   * @param request - The request.
   * @param options - `send`, and the random source, clock and sleep (injectable for tests).
   * @returns The response to give the client; never rejects for upstream failures (they become 5xx).
   */
  execute(request: RouteRequest, options: ExecuteOptions): Promise<ExecuteResult>;
  /**
   * Chooses an endpoint of a backend under its DestinationRule and reserves capacity on it. Release the
   * lease exactly once with the outcome (status, or failure): that drives outlier detection and the
   * circuit breakers.
   *
   * @param backend - A decision's backend.
   * @param options - Request (for consistent hashing), endpoints, random, time.
   * @returns The endpoint and lease, or a 503 (`UH`, `UO`, `NC`).
   */
  pickEndpoint(backend: Backend, options?: PickEndpointOptions): EndpointPick;
  /**
   * The DestinationRule policy in effect for a backend.
   *
   * @param backend - The backend.
   * @returns The policy.
   */
  policyFor(backend: Backend): EffectivePolicy;
  /**
   * The circuit breaker and outlier state of a backend.
   *
   * @param backend - The backend.
   * @param nowMs - The time (default the router's clock).
   * @returns The state.
   */
  clusterStatus(backend: Backend, nowMs?: number): ClusterStatus;
  /** Services named by both a VirtualService and Gateway API routes, and how each was resolved. */
  readonly conflicts: readonly RoutingConflict[];
  /** Non-fatal notes (e.g. a mirror whose backend does not resolve was dropped). */
  readonly warnings: readonly string[];
  /** The validated resources. */
  readonly resources: readonly RouteResource[];
  /** The compiled tables (for `/config_dump`-style output). */
  readonly compiled: CompiledRouting;
}

const TIMEOUT: unique symbol = Symbol('timeout');

// The order Envoy prints response flags in (`StreamInfo::ResponseFlagUtils`, the CoreResponseFlag enum).
const FLAG_ORDER: readonly string[] = [
  'LH',
  'UH',
  'UT',
  'LR',
  'UR',
  'UF',
  'UC',
  'UO',
  'NR',
  'DI',
  'FI',
  'RL',
  'UAEX',
  'RLSE',
  'DC',
  'URX',
  'SI',
  'IH',
  'DPE',
  'UMSDR',
  'RFCF',
  'NFCF',
  'DT',
  'UPE',
  'NC',
  'OM',
  'DF',
];

// The signal of attempts nothing can abort. Many attempts in flight listen to it at once: no leak warning.
const NEVER_ABORTED: AbortSignal = new AbortController().signal;
setMaxListeners(0, NEVER_ABORTED);

function defaultSleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    if (signal?.aborted === true) {
      resolve();
      return;
    }
    const timer = setTimeout(resolve, ms);
    signal?.addEventListener(
      'abort',
      () => {
        clearTimeout(timer);
        resolve();
      },
      { once: true },
    );
  });
}

/**
 * Creates a {@link RoutingError} a `send` function rejects with to say how the upstream failed.
 *
 * @param kind - `connect-failure`, `reset` or `refused-stream`.
 * @param message - Details.
 * @param cause - The underlying error.
 * @returns The error.
 * @example
 * ```ts
 * send: async () => { throw upstreamFailure('connect-failure', 'ECONNREFUSED'); }
 * ```
 */
export function upstreamFailure(
  kind: 'connect-failure' | 'reset' | 'refused-stream',
  message: string,
  cause?: unknown,
): RoutingError {
  const code =
    kind === 'connect-failure'
      ? 'ROUTING_ERR_UPSTREAM_CONNECT_FAILURE'
      : kind === 'reset'
        ? 'ROUTING_ERR_UPSTREAM_RESET'
        : 'ROUTING_ERR_UPSTREAM_REFUSED_STREAM';
  return new RoutingError(code, message, cause === undefined ? {} : { cause });
}

function classify(e: unknown): 'connect-failure' | 'reset' | 'refused-stream' {
  if (e instanceof RoutingError) {
    if (e.code === 'ROUTING_ERR_UPSTREAM_CONNECT_FAILURE') return 'connect-failure';
    if (e.code === 'ROUTING_ERR_UPSTREAM_REFUSED_STREAM') return 'refused-stream';
  }
  return 'reset';
}

const lowerHeaders = (h: UpstreamResponse['headers']): Record<string, string> => {
  const out: Record<string, string> = {};
  for (const key in h) {
    const v = h[key];
    if (v === undefined) continue;
    const name = key.toLowerCase();
    const value = typeof v === 'string' ? v : v.join(name === 'set-cookie' ? '\n' : ',');
    out[name] = out[name] === undefined ? value : `${out[name]},${value}`;
  }
  return out;
};

function applyResponseOps(h: Record<string, string>, ops: ResponseHeaderOps): void {
  for (const name of ops.remove) delete h[name];
  for (const name in ops.set) h[name] = ops.set[name] as string;
  for (const name in ops.add) {
    const v = ops.add[name] as string;
    h[name] = h[name] === undefined ? v : `${h[name]},${v}`;
  }
}

interface Local {
  readonly status: number;
  readonly body: string;
  readonly flag: ResponseFlag | undefined;
}

// Envoy's local reply bodies (envoyproxy/envoy@35db8c47:source/common/router/router.cc, upstream_request.cc).
function localReply(result: AttemptResult): Local {
  switch (result.kind) {
    case 'per-try-timeout':
      return { status: 504, body: 'upstream request timeout', flag: 'UT' };
    case 'connect-failure':
      return {
        status: 503,
        body: 'upstream connect error or disconnect/reset before headers. reset reason: connection failure',
        flag: 'UF',
      };
    case 'refused-stream':
      return {
        status: 503,
        body: 'upstream connect error or disconnect/reset before headers. reset reason: remote refused stream reset',
        flag: 'UR',
      };
    case 'overflow':
      return {
        status: 503,
        body: 'upstream connect error or disconnect/reset before headers. reset reason: overflow',
        flag: 'UO',
      };
    default:
      return {
        status: 503,
        body: 'upstream connect error or disconnect/reset before headers. reset reason: connection termination',
        flag: 'UR',
      };
  }
}

/**
 * Validates and compiles resources into a router.
 *
 * @param options - `resources` (parsed YAML objects) and optional `workloads`, plus compile options.
 * @returns The router, or a {@link RoutingError} listing every problem in `issues`.
 * @example
 * ```ts
 * const router = createRouter({ resources: parseRouteResources(yaml)._unsafeUnwrap() })._unsafeUnwrap();
 * const decision = router.route({ service: 'reviews.bookinfo.svc.cluster.local', port: 9080, authority: 'reviews:9080', method: 'GET', path: '/', headers: {}, protocol: 'http' });
 * ```
 */
export function createRouter(options: RouterOptions): Result<Router, RoutingError> {
  if (typeof options !== 'object' || options === null)
    return err(new RoutingError('ROUTING_ERR_INVALID_OPTIONS', 'createRouter: options must be an object'));
  let input: unknown = options.resources;
  // Accept parseRouteResources' Result directly.
  if (
    typeof input === 'object' &&
    input !== null &&
    !Array.isArray(input) &&
    'isOk' in input &&
    typeof input.isOk === 'function'
  ) {
    const result = input as Result<readonly unknown[], RoutingError>;
    if (result.isErr()) return err(result.error);
    input = result.value;
  }
  if (!Array.isArray(input))
    return err(
      new RoutingError(
        'ROUTING_ERR_INVALID_OPTIONS',
        'createRouter: `resources` must be an array of Kubernetes objects',
      ),
    );
  const workloads = options.workloads ?? undefined;
  if (workloads !== undefined) {
    if (!Array.isArray(workloads))
      return err(
        new RoutingError('ROUTING_ERR_INVALID_OPTIONS', 'createRouter: `workloads` must be an array'),
      );
    for (const [i, w] of workloads.entries()) {
      if (
        typeof w !== 'object' ||
        w === null ||
        typeof w.name !== 'string' ||
        typeof w.namespace !== 'string' ||
        typeof w.labels !== 'object' ||
        w.labels === null
      )
        return err(
          new RoutingError(
            'ROUTING_ERR_INVALID_OPTIONS',
            `createRouter: workloads[${i}] needs name, namespace and labels`,
          ),
        );
      if (w.ip !== undefined && typeof w.ip !== 'string')
        return err(
          new RoutingError(
            'ROUTING_ERR_INVALID_OPTIONS',
            `createRouter: workloads[${i}].ip must be a string`,
          ),
        );
    }
  }
  const validated = validateRouteResources(input as readonly unknown[], {
    ...(options.defaultNamespace === undefined ? {} : { defaultNamespace: options.defaultNamespace }),
    ...(options.ignoreOtherKinds === undefined ? {} : { ignoreOtherKinds: options.ignoreOtherKinds }),
    ...(options.maxResources === undefined ? {} : { maxResources: options.maxResources }),
  });
  if (validated.isErr()) return err(validated.error);
  const resources = validated.value;
  const compiledResult = compileRouting(resources, options);
  if (compiledResult.isErr()) return err(compiledResult.error);
  const compiled = compiledResult.value;
  const clock = options.now ?? Date.now;

  const policies = new Map<string, EffectivePolicy>();
  const policyFor = (backend: Backend): EffectivePolicy => {
    const key = `${backend.hostname}|${backend.port}|${backend.subset ?? ''}`;
    let p = policies.get(key);
    if (p === undefined) {
      p = effectivePolicy(
        compiled.destinationRules(backend.hostname, backend.namespace),
        backend.port,
        backend.subset,
      );
      policies.set(key, p);
    }
    return p;
  };

  const pool: EndpointPool = createEndpointPool({
    policy: policyFor,
    endpoints: (backend, subsetLabels) => {
      if (workloads === undefined) return undefined;
      const svc = compiled.serviceInfo.get(backend.hostname);
      if (svc === undefined || svc.selector === undefined) return undefined;
      return endpointsFromWorkloads(workloads, svc, backend.port, subsetLabels);
    },
    now: clock,
  });

  const normalize = (request: RouteRequest): RouteRequest => {
    if (
      typeof request !== 'object' ||
      request === null ||
      typeof request.service !== 'string' ||
      typeof request.path !== 'string'
    )
      throw new TypeError('route: request needs at least `service` (the Service FQDN) and `path`');
    // Missing fields get the obvious defaults rather than a crash.
    return request.headers === undefined ||
      request.protocol === undefined ||
      request.method === undefined ||
      request.authority === undefined
      ? {
          ...request,
          headers: request.headers ?? {},
          protocol: request.protocol ?? 'http',
          method: request.method ?? 'GET',
          authority: request.authority ?? request.service,
        }
      : request;
  };
  const route = (request: RouteRequest, routeOptions: RouteOptions = {}): RouteDecision =>
    decide(compiled, normalize(request), routeOptions.random ?? Math.random);

  const execute = async (incoming: RouteRequest, exec: ExecuteOptions): Promise<ExecuteResult> => {
    if (typeof exec?.send !== 'function') throw new TypeError('execute: options.send must be a function');
    const request = normalize(incoming);
    const random = exec.random ?? Math.random;
    const now = exec.now ?? Date.now;
    const sleep = exec.sleep ?? defaultSleep;
    const start = now();
    const decision = exec.decision ?? route(request, { random });
    const flags: ResponseFlag[] = [...decision.flags];
    const finish = (
      r: Omit<ExecuteResult, 'decision' | 'durationMs' | 'responseFlags' | 'flags'>,
    ): ExecuteResult => {
      if (flags.length > 1) flags.sort((a, b) => FLAG_ORDER.indexOf(a) - FLAG_ORDER.indexOf(b));
      return {
        ...r,
        flags,
        responseFlags: flags.length === 0 ? '-' : flags.join(','),
        decision,
        durationMs: now() - start,
      };
    };
    // A fault delay comes first (Envoy's fault filter runs before the router; the route timeout starts after it).
    if (decision.delayMs !== undefined && decision.delayMs > 0) await sleep(decision.delayMs);
    if (decision.kind === 'redirect')
      return finish({
        status: decision.status,
        headers: { ...decision.headers, location: decision.location },
        attempts: 0,
      });
    if (decision.kind === 'direct')
      return finish({
        status: decision.status,
        headers: { ...decision.headers },
        ...(decision.body === undefined ? {} : { body: decision.body }),
        ...(decision.grpcStatus === undefined ? {} : { grpcStatus: decision.grpcStatus }),
        attempts: 0,
      });

    const backend = decision.backend;
    const endpointsOf = exec.endpoints;
    const upstreamRequest: UpstreamRequest = {
      method: request.method,
      path: decision.request.path,
      authority: decision.request.authority,
      headers: decision.request.headers,
      protocol: request.protocol,
      ...(exec.body === undefined ? {} : { body: exec.body }),
    };
    const pickOptions = (exclude: ReadonlySet<string> | undefined, target: Backend): PickEndpointOptions => {
      const eps = endpointsOf?.(target);
      return {
        request: {
          headers: request.headers,
          path: request.path,
          ...(request.sourceIp === undefined ? {} : { sourceIp: request.sourceIp }),
        },
        protocol: request.protocol,
        random,
        nowMs: now(),
        ...(eps === undefined ? {} : { endpoints: eps }),
        ...(exclude === undefined ? {} : { exclude }),
      };
    };

    // Mirrors: fire and forget; their answers and failures are dropped.
    for (const m of decision.mirrors) {
      const pick = pool.pick(m, pickOptions(undefined, m));
      if (pick.kind !== 'endpoint') continue;
      const headers = { ...decision.request.headers };
      if (headers['host'] !== undefined) headers['host'] = m.request.authority;
      const mirrorRequest: UpstreamRequest = {
        ...upstreamRequest,
        path: m.request.path,
        authority: m.request.authority,
        headers,
      };
      const target: SendTarget = { ...m, endpoint: pick.endpoint, mirror: true, attempt: 1 };
      Promise.resolve()
        .then(() => pick.lease.ready)
        .then(() => exec.send(target, mirrorRequest, NEVER_ABORTED))
        .then(
          (r) => pick.lease.release({ status: r.status }, now()),
          () => pick.lease.release({ failure: 'reset' }, now()),
        );
    }

    const deadline =
      decision.timeoutMs > 0
        ? start + (decision.delayMs ?? 0) + decision.timeoutMs
        : Number.POSITIVE_INFINITY;
    const policy = decision.retries;
    const perTryMs =
      decision.backendRequestTimeoutMs > 0
        ? decision.backendRequestTimeoutMs
        : (policy?.perTryTimeoutMs ?? 0);
    let retriesLeft = policy?.attempts ?? 0;
    const previous = new Set<string>();
    let attempt = 0;
    let retryHold: { end(): void } | undefined;

    const raceTimer = async <T>(p: Promise<T>, ms: number): Promise<T | typeof TIMEOUT> => {
      if (!(ms < Number.POSITIVE_INFINITY)) return p;
      // A promise that settles within a few microtasks wins over a timer armed at the same moment, so an
      // instantly-resolving sleep cannot beat an instantly-resolving send.
      let settled = false;
      let value: T | undefined;
      void p.then((v) => {
        settled = true;
        value = v;
      });
      for (let i = 0; i < 10 && !settled; i++) await undefined;
      if (settled) return value as T;
      const controller = new AbortController();
      const timer = sleep(Math.max(0, ms), controller.signal).then((): typeof TIMEOUT => TIMEOUT);
      const winner = await Promise.race([p, timer]);
      controller.abort();
      return winner;
    };

    const localResponse = (local: Local): ExecuteResult => {
      if (local.flag !== undefined && !flags.includes(local.flag)) flags.push(local.flag);
      const headers: Record<string, string> = {};
      applyResponseOps(headers, decision.responseHeaders);
      if (request.protocol === 'grpc') {
        const grpcStatus = httpToGrpcStatus(local.status);
        return finish({
          status: 200,
          headers: {
            ...headers,
            'content-type': 'application/grpc',
            'grpc-status': String(grpcStatus),
            'grpc-message': encodeURIComponent(local.body),
          },
          grpcStatus,
          attempts: attempt,
        });
      }
      return finish({
        status: local.status,
        headers: { ...headers, 'content-type': 'text/plain' },
        body: local.body,
        attempts: attempt,
      });
    };
    const timedOut = (): ExecuteResult =>
      localResponse({ status: 504, body: 'upstream request timeout', flag: 'UT' });

    for (;;) {
      attempt++;
      const pick = pool.pick(
        backend,
        pickOptions(policy?.avoidPreviousHosts === true ? previous : undefined, backend),
      );
      if (pick.kind === 'unavailable') {
        retryHold?.end();
        attempt--;
        return localResponse({ status: pick.status, body: pick.body, flag: pick.flags[0] });
      }
      const lease = pick.lease;
      if (lease.ready !== undefined) {
        const admitted = await raceTimer(lease.ready, deadline - now());
        if (admitted === TIMEOUT) {
          lease.release({ cancelled: true }, now());
          retryHold?.end();
          return timedOut();
        }
      }
      const remaining = deadline - now();
      const budget = perTryMs > 0 ? Math.min(perTryMs, remaining) : remaining;
      // Only an attempt with a time budget can be aborted (raceTimer's TIMEOUT).
      const controller = budget < Number.POSITIVE_INFINITY ? new AbortController() : undefined;
      const signal = controller === undefined ? NEVER_ABORTED : controller.signal;
      const target: SendTarget = { ...backend, endpoint: pick.endpoint, mirror: false, attempt };
      const sent = Promise.resolve()
        .then(() => exec.send(target, upstreamRequest, signal))
        .then(
          (response) => ({ ok: true as const, response }),
          (error: unknown) => ({ ok: false as const, error }),
        );
      // Without a time budget there is nothing to race (and no frame to pay for).
      const outcome = budget < Number.POSITIVE_INFINITY ? await raceTimer(sent, budget) : await sent;
      retryHold?.end();
      retryHold = undefined;
      let result: AttemptResult;
      let response: UpstreamResponse | undefined;
      if (outcome === TIMEOUT) {
        controller?.abort();
        lease.release({ failure: 'timeout' }, now());
        if (now() >= deadline || perTryMs <= 0 || remaining <= perTryMs) return timedOut();
        result = { kind: 'per-try-timeout' };
      } else if (outcome.ok) {
        response = outcome.response;
        lease.release({ status: response.status }, now());
        const grpc = response.headers['grpc-status'];
        const grpcStatus = typeof grpc === 'string' && /^[0-9]+$/.test(grpc) ? Number(grpc) : undefined;
        const limited = response.headers['x-envoy-ratelimited'] !== undefined;
        result = {
          kind: 'response',
          status: response.status,
          ...(grpcStatus === undefined ? {} : { grpcStatus }),
          ...(limited ? { rateLimited: true } : {}),
        };
      } else {
        const kind = classify(outcome.error);
        lease.release({ failure: kind }, now());
        result = { kind };
      }
      const retry = policy !== undefined && wouldRetry(policy, result);
      if (retry && retriesLeft === 0) flags.push('URX');
      let hold: { end(): void } | undefined;
      if (retry && retriesLeft > 0) {
        hold = pool.tryRetry(backend);
        if (hold === undefined) flags.push('UO');
      }
      if (!retry || hold === undefined) {
        if (response !== undefined) {
          const headers = lowerHeaders(response.headers);
          applyResponseOps(headers, decision.responseHeaders);
          if (pick.setCookie !== undefined)
            headers['set-cookie'] =
              headers['set-cookie'] === undefined
                ? pick.setCookie
                : `${headers['set-cookie']}\n${pick.setCookie}`;
          return finish({
            status: response.status,
            headers,
            ...(response.body === undefined ? {} : { body: response.body }),
            attempts: attempt,
            ...(pick.endpoint === undefined ? {} : { upstream: pick.endpoint }),
          });
        }
        return localResponse(localReply(result));
      }
      retriesLeft--;
      retryHold = hold;
      if (pick.endpoint !== undefined) previous.add(pick.endpoint.id);
      const wait = backoffMs(policy as NonNullable<typeof policy>, attempt, random);
      if (now() + wait >= deadline) {
        // The route timeout fires during the backoff.
        await sleep(Math.max(0, deadline - now()));
        retryHold.end();
        return timedOut();
      }
      if (wait > 0) await sleep(wait);
    }
  };

  return ok({
    route,
    execute,
    pickEndpoint: (backend, pickOptions) => pool.pick(backend, pickOptions),
    policyFor,
    clusterStatus: (backend, nowMs) => pool.status(backend, nowMs),
    conflicts: compiled.conflicts,
    warnings: compiled.warnings,
    resources,
    compiled,
  });
}

/**
 * {@link Router.pickEndpoint} as a function: chooses an endpoint of `backend` with the router's state.
 *
 * @param router - The router.
 * @param backend - A decision's backend.
 * @param options - Request, endpoints, random, time.
 * @returns The endpoint and its lease, or a 503.
 * @example
 * ```ts
 * const pick = pickEndpoint(router, decision.backend, { request });
 * if (pick.kind === 'endpoint') pick.lease.release({ status: 200 });
 * ```
 */
export function pickEndpoint(router: Router, backend: Backend, options?: PickEndpointOptions): EndpointPick {
  return router.pickEndpoint(backend, options);
}
