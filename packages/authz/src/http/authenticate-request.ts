/**
 * RequestAuthentication for any HTTP proxy or server, not only node:http: the JWT rules that apply to the
 * workload (and, at a waypoint, to the destination service through `targetRefs`) run against the request's
 * target and headers as Envoy's `jwt_authn` filter would (`authenticateJwt`), and the answer is either "go on,
 * with this identity and these header changes" or Envoy's local reply.
 * @module
 */

import type { PolicyEngine } from '../engine/engine.js';
import type { JwksSource } from '../engine/jwt-authn.js';
import { authenticateJwt } from '../engine/jwt-authn.js';
import {
  JWT_STATUS_MESSAGES,
  type JwtStatus,
  jwtRealm,
  jwtStatusHttpCode,
  wwwAuthenticate,
} from '../engine/jwt-status.js';
import { normalizeRequestPath } from '../engine/path.js';
import type { DestinationService, Workload } from '../engine/request.js';
import { originFormTarget } from '../engine/request-target.js';
import { createJwksResolver, type JwksResolver } from '../runtime/jwks-resolver.js';
import type { PolicySource } from '../runtime/policy-file.js';

/** The verified identity of a request, as Istio's `request.auth.*` attributes describe it. */
export interface RequestAuthn {
  /** `<iss>/<sub>` (`request.auth.principal`; `requestPrincipals` match it). */
  readonly principal: string;
  /** The verified payload, as the token carried it. */
  readonly claims: Readonly<Record<string, unknown>>;
  /** `aud` (`request.auth.audiences`): a string claim as a one-element list, none as `[]`. */
  readonly audiences: readonly string[];
  /** `azp` (`request.auth.presenter`), when the token has one. */
  readonly presenter: string | undefined;
}

/** The request head {@link authenticateRequest} reads. */
export interface HttpRequestHead {
  readonly method?: string;
  /** The request target: origin-form (`/a?b`) or, from an HTTP/1 request line, absolute-form. */
  readonly path: string;
  /** `:authority` / Host. */
  readonly host?: string;
  /** `http` or `https` (the realm Envoy reports). Default `http`. */
  readonly scheme?: 'http' | 'https';
  /** Names in any case; repeated headers as lists. */
  readonly headers: Readonly<Record<string, string | readonly string[] | undefined>>;
}

/** Options of {@link authenticateRequest}. */
export interface AuthenticateRequestOptions {
  /** The engine holding the RequestAuthentications, or a source of the current one. */
  readonly engine: PolicyEngine | PolicySource;
  /** The enforcing workload (a waypoint applies `targetRefs` RequestAuthentications to its services). */
  readonly workload: Workload;
  /** The destination service (waypoints). */
  readonly service?: DestinationService;
  readonly request: HttpRequestHead;
  /** The current time, epoch milliseconds (for `exp`/`nbf`). Default `Date.now()`. */
  readonly now?: number;
  /** Where `jwksUri` keys come from. Default: one resolver shared by every call that gives none. */
  readonly jwks?: JwksSource;
}

/** What {@link authenticateRequest} decided. */
export type AuthenticateRequestResult =
  | {
      readonly ok: true;
      /** The identity, when the request carried a token that verified; `undefined` without a token. */
      readonly authn: RequestAuthn | undefined;
      /** The payload as authorization matches it (space-delimited claims split): pass it as `request.jwt`. */
      readonly jwt: Readonly<Record<string, unknown>> | undefined;
      /** `:path` to forward (a query-parameter token removed unless `forwardOriginalToken`). */
      readonly path: string;
      /** Query parameters removed from the path. */
      readonly removedParams: readonly string[];
      /** Header names to remove before forwarding (the token's header, spoofed output headers). */
      readonly removedHeaders: readonly string[];
      /** Headers to add before forwarding (`outputPayloadToHeader`, `outputClaimToHeaders`), in order. */
      readonly addedHeaders: readonly (readonly [string, string])[];
      /** `namespace/name` of the RequestAuthentication whose rule verified the token. */
      readonly policy: string | undefined;
    }
  | {
      readonly ok: false;
      /** 401, 403 (audience not allowed), or 400 for a target the proxy cannot read. */
      readonly status: 400 | 401 | 403;
      /** Envoy's body: the jwt_verify_lib status text (e.g. `Jwt verification fails`). */
      readonly body: string;
      /** Headers of the answer: `www-authenticate` for 401/403. */
      readonly headers: Readonly<Record<string, string>>;
      /** The jwt_verify_lib status, for 401/403. */
      readonly jwtStatus: JwtStatus | undefined;
    };

let sharedResolver: JwksResolver | undefined;

/** The resolver used when a caller gives none (created on first use; its timers do not keep Node alive). */
function defaultResolver(): JwksResolver {
  sharedResolver ??= createJwksResolver();
  return sharedResolver;
}

function currentEngine(source: PolicyEngine | PolicySource): PolicyEngine {
  return 'current' in source && typeof source.current === 'function'
    ? source.current()
    : (source as PolicyEngine);
}

/**
 * The identity Istio derives from a verified payload.
 *
 * @param claims - The verified payload.
 * @returns Principal `<iss>/<sub>`, claims, audiences, presenter.
 * @example
 * ```ts
 * requestAuthnFromClaims({ iss: 'https://issuer', sub: 'alice', aud: 'web' }).principal; // 'https://issuer/alice'
 * ```
 */
export function requestAuthnFromClaims(claims: Readonly<Record<string, unknown>>): RequestAuthn {
  const iss = claimText(claims, 'iss');
  const sub = claimText(claims, 'sub');
  const aud = Object.hasOwn(claims, 'aud') ? claims['aud'] : undefined;
  return Object.freeze({
    principal: `${iss ?? ''}/${sub ?? ''}`,
    claims,
    audiences: Object.freeze(
      typeof aud === 'string'
        ? [aud]
        : Array.isArray(aud)
          ? aud.filter((a): a is string => typeof a === 'string')
          : [],
    ),
    presenter: claimText(claims, 'azp'),
  });
}

// A top-level string claim (own property only), else undefined.
function claimText(claims: Readonly<Record<string, unknown>>, name: string): string | undefined {
  const v = Object.hasOwn(claims, name) ? claims[name] : undefined;
  return typeof v === 'string' ? v : undefined;
}

/**
 * Applies the RequestAuthentications of a workload to one request, as Envoy's `jwt_authn` filter does before
 * authorization. A request without a token goes on without an identity; a token that fails is answered 401
 * (403 when only its audience is wrong) with `www-authenticate: Bearer realm="<url>", error="invalid_token"`.
 *
 * @param options - Engine, workload, the request head, the time, the key source.
 * @returns Either the identity and the header/path changes to forward, or the answer to send.
 * @example
 * ```ts
 * const result = await authenticateRequest({ engine, workload, request: { path: '/api', headers } });
 * if (!result.ok) reply(result.status, result.headers, result.body);
 * else engine.evaluate({ workload, request: { ...request, path: result.path, jwt: result.jwt ?? null } });
 * ```
 */
export async function authenticateRequest(
  options: AuthenticateRequestOptions,
): Promise<AuthenticateRequestResult> {
  const engine = currentEngine(options.engine);
  const head = options.request;
  const rules = engine.jwtRulesFor(options.workload, options.service);
  const target = originFormTarget(head.path);
  if (!target.ok) return { ok: false, status: 400, body: 'Bad Request', headers: {}, jwtStatus: undefined };
  // The HTTP connection manager normalizes :path before any filter runs.
  const normalized = normalizeRequestPath(target.path, engine.mesh.pathNormalization);
  if (!normalized.ok)
    return { ok: false, status: 400, body: 'Bad Request', headers: {}, jwtStatus: undefined };
  const path = normalized.path;
  if (rules.length === 0) {
    return {
      ok: true,
      authn: undefined,
      jwt: undefined,
      path,
      removedParams: [],
      removedHeaders: [],
      addedHeaders: [],
      policy: undefined,
    };
  }
  const result = await authenticateJwt(
    rules,
    { path, headers: head.headers },
    { nowMs: options.now ?? Date.now(), jwks: options.jwks ?? defaultResolver() },
  );
  if (result.status !== 'Ok') {
    const realm = jwtRealm(target.scheme ?? head.scheme ?? 'http', target.host ?? head.host ?? '', path);
    return {
      ok: false,
      status: jwtStatusHttpCode(result.status),
      body: JWT_STATUS_MESSAGES[result.status],
      headers: { 'www-authenticate': wwwAuthenticate(realm, result.status) },
      jwtStatus: result.status,
    };
  }
  return {
    ok: true,
    authn: result.payload === undefined ? undefined : requestAuthnFromClaims(result.payload),
    jwt: result.claims,
    path: result.path,
    removedParams: result.removedParams,
    removedHeaders: result.removedHeaders,
    addedHeaders: result.addedHeaders,
    policy: result.rule?.policy,
  };
}
