/**
 * A request prepared once for evaluation: addresses parsed, the identity split, the path normalized, and
 * headers indexed lazily. Predicates compiled from policies read this, never the raw request.
 * @module
 */

import type { IpAddress } from '@ambient-kit/ip';
import { readPeerIp } from './ip-block.js';
import { normalizeRequestPath, type PathNormalization } from './path.js';
import { readPeerIdentity } from './peer-identity.js';
import type { AuthzRequest } from './request.js';
import { originFormTarget } from './request-target.js';
import { asciiLower } from './string-match.js';
import type { L4View } from './ztunnel-match.js';

/** Why a request cannot be evaluated (the engine denies it). */
export interface PrepareFailure {
  readonly ok: false;
  readonly reason: string;
  readonly badRequest?: boolean;
}

// Parsed-address memo: requests repeat the same few addresses; bounded so it cannot grow without limit.
const IP_CACHE = new Map<string, IpAddress | null>();
const IP_CACHE_MAX = 4096;

function cachedIp(text: string): IpAddress | null {
  let ip = IP_CACHE.get(text);
  if (ip === undefined) {
    ip = readPeerIp(text) ?? null;
    if (IP_CACHE.size >= IP_CACHE_MAX) IP_CACHE.clear();
    IP_CACHE.set(text, ip);
  }
  return ip;
}

/** The identity parts the matchers read, for a request without a peer identity. */
interface IdentityParts {
  readonly uri: string | null;
  readonly withoutScheme: string | undefined;
  readonly istio: boolean;
  readonly namespace: string;
  readonly serviceAccount: string;
}

const NO_IDENTITY: IdentityParts = {
  uri: null,
  withoutScheme: undefined,
  istio: false,
  namespace: '',
  serviceAccount: '',
};

/** Options that shape preparation. */
export interface PrepareOptions {
  readonly l7: boolean;
  readonly pathNormalization: PathNormalization;
  readonly spaceDelimitedClaims: readonly string[];
}

/**
 * A request ready for predicates (both the L4 view ztunnel uses and the Envoy view). Internal to the engine;
 * built with {@link RequestContext.prepare}.
 *
 * @example
 * ```ts
 * const ctx = RequestContext.prepare(request, { l7: true, pathNormalization: 'BASE', spaceDelimitedClaims: ['scope'] });
 * if (ctx instanceof RequestContext) ctx.header('x-token');
 * ```
 */
export class RequestContext implements L4View {
  readonly srcIp: IpAddress | undefined;
  readonly remoteIp: IpAddress | undefined;
  readonly dstIp: IpAddress | undefined;
  readonly dstPort: number | undefined;
  /** Envoy's authenticated principal (the peer URI), or `null` without mTLS. */
  readonly principal: string | null;
  readonly principalWithoutScheme: string | undefined;
  readonly identityNamespace: string;
  readonly identityServiceAccount: string;
  readonly identityParsed: boolean;
  readonly method: string | undefined;
  readonly host: string | undefined;
  readonly sni: string | undefined;
  /** The normalized `:path` (with query), when the request has a path. */
  readonly fullPath: string | undefined;
  /** What `url_path` compares: the normalized path without query and fragment. */
  readonly urlPath: string | undefined;
  readonly request: AuthzRequest;
  private readonly spaceDelimited: readonly string[];
  private headerIndex: Map<string, string> | undefined;
  /** {@link RequestContext.hostLowerCase}'s answer once asked; `null` until then. */
  private hostLower: string | undefined | null = null;

  private constructor(
    request: AuthzRequest,
    fields: Omit<RequestContext, 'request' | 'header' | 'hostLowerCase' | 'jwtClaim' | 'metadataValue'> & {
      spaceDelimited: readonly string[];
    },
  ) {
    this.request = request;
    this.srcIp = fields.srcIp;
    this.remoteIp = fields.remoteIp;
    this.dstIp = fields.dstIp;
    this.dstPort = fields.dstPort;
    this.principal = fields.principal;
    this.principalWithoutScheme = fields.principalWithoutScheme;
    this.identityNamespace = fields.identityNamespace;
    this.identityServiceAccount = fields.identityServiceAccount;
    this.identityParsed = fields.identityParsed;
    this.method = fields.method;
    this.host = fields.host;
    this.sni = fields.sni;
    this.fullPath = fields.fullPath;
    this.urlPath = fields.urlPath;
    this.spaceDelimited = fields.spaceDelimited;
  }

  /**
   * Validates and prepares a request. Absent optional attributes stay absent (Istio's "not set"); present
   * but malformed ones (an unparsable IP, a port outside 0..65535, a non-string header) fail, and the engine
   * denies: a request it cannot read is never allowed by accident.
   *
   * @param request - The request (untrusted shape).
   * @param options - L4 or L7 preparation, path normalization.
   * @returns The context, or why the request is unusable.
   */
  static prepare(request: AuthzRequest, options: PrepareOptions): RequestContext | PrepareFailure {
    if (typeof request !== 'object' || request === null)
      return { ok: false, reason: 'request must be an object' };
    const source = request.source as AuthzRequest['source'] | undefined;
    const destination = request.destination as AuthzRequest['destination'] | undefined;
    if (typeof source !== 'object' || source === null)
      return { ok: false, reason: 'request.source must be an object' };
    if (typeof destination !== 'object' || destination === null) {
      return { ok: false, reason: 'request.destination must be an object' };
    }
    const srcIp = readIp(source.ip, 'request.source.ip');
    if (isFailure(srcIp)) return srcIp;
    const remote = source.remoteIp === undefined ? srcIp : readIp(source.remoteIp, 'request.source.remoteIp');
    if (isFailure(remote)) return remote;
    const dstIp = readIp(destination.ip, 'request.destination.ip');
    if (isFailure(dstIp)) return dstIp;
    const rawPort = destination.port as unknown;
    // A decimal string is accepted as a port too (as in a policy); anything else must be an integer.
    const port = typeof rawPort === 'string' && /^[0-9]{1,5}$/.test(rawPort) ? Number(rawPort) : rawPort;
    if (
      port !== undefined &&
      port !== null &&
      !(Number.isInteger(port) && (port as number) >= 0 && (port as number) <= 65535)
    ) {
      return {
        ok: false,
        reason: `request.destination.port must be an integer in 0..65535, found ${String(port)}`,
      };
    }
    const principalRaw = source.principal as unknown;
    if (principalRaw !== undefined && principalRaw !== null && typeof principalRaw !== 'string') {
      return { ok: false, reason: 'request.source.principal must be a string or null' };
    }
    const id =
      typeof principalRaw === 'string' && principalRaw !== '' ? readPeerIdentity(principalRaw) : NO_IDENTITY;
    const principal = id.uri;
    let method: string | undefined;
    let host: string | undefined;
    let sni: string | undefined;
    let fullPath: string | undefined;
    let urlPath: string | undefined;
    if (options.l7) {
      const m = readString(request.method, 'request.method');
      if (isFailure(m)) return m;
      const h = readString(request.host, 'request.host');
      if (isFailure(h)) return h;
      const s = readString(request.sni, 'request.sni');
      if (isFailure(s)) return s;
      const p = readString(request.path, 'request.path') ?? pseudoHeader(request, ':path');
      if (isFailure(p)) return p;
      // Without the fields, the pseudo-headers (or Host, which HTTP/1 turns into :authority) stand in.
      method = m ?? pseudoHeader(request, ':method');
      host = h ?? pseudoHeader(request, ':authority') ?? pseudoHeader(request, 'host');
      sni = s;
      if (p !== undefined) {
        // An absolute-form target is judged by its path and host, as Envoy's HTTP/1 codec and every Node
        // router see it (./request-target.ts).
        const target = originFormTarget(p);
        if (!target.ok) return { ok: false, reason: target.reason, badRequest: true };
        if (target.host !== undefined) host = target.host;
        const normalized = normalizeRequestPath(target.path, options.pathNormalization);
        if (!normalized.ok) return { ok: false, reason: normalized.reason, badRequest: true };
        fullPath = normalized.path;
        urlPath = normalized.urlPath;
      }
      if (request.headers !== undefined && request.headers !== null && typeof request.headers !== 'object') {
        return { ok: false, reason: 'request.headers must be an object' };
      }
      if (request.jwt !== undefined && request.jwt !== null && typeof request.jwt !== 'object') {
        return { ok: false, reason: 'request.jwt must be an object or null' };
      }
    }
    return new RequestContext(request, {
      srcIp,
      remoteIp: remote,
      dstIp,
      dstPort: typeof port === 'number' ? port : undefined,
      principal,
      principalWithoutScheme: id.withoutScheme,
      identityNamespace: id.namespace,
      identityServiceAccount: id.serviceAccount,
      identityParsed: id.istio,
      method,
      host,
      sni,
      fullPath,
      urlPath,
      spaceDelimited: options.spaceDelimitedClaims,
    });
  }

  /**
   * A request header as Envoy's header matcher reads it: name case-insensitive, several values joined with
   * `,`; the pseudo-headers `:method`, `:path`, `:authority` come from the request fields.
   *
   * @param lowerName - The header name in lower case.
   * @returns The value, or `undefined` when absent.
   */
  header(lowerName: string): string | undefined {
    if (this.headerIndex === undefined) {
      const index = new Map<string, string>();
      const headers = this.request.headers;
      if (headers !== undefined && headers !== null) {
        for (const name of Object.keys(headers)) {
          const value = headers[name];
          let text: string | undefined;
          if (typeof value === 'string') text = value;
          else if (Array.isArray(value)) {
            const parts = value.filter((v): v is string => typeof v === 'string');
            if (parts.length > 0) text = parts.join(',');
          }
          if (text === undefined) continue;
          const key = name.toLowerCase();
          const previous = index.get(key);
          index.set(key, previous === undefined ? text : `${previous},${text}`);
        }
      }
      if (this.method !== undefined && !index.has(':method')) index.set(':method', this.method);
      if (this.fullPath !== undefined && !index.has(':path')) index.set(':path', this.fullPath);
      if (this.host !== undefined && !index.has(':authority')) index.set(':authority', this.host);
      this.headerIndex = index;
    }
    return this.headerIndex.get(lowerName);
  }

  /**
   * The host ASCII-lower-cased, as Envoy's `ignore_case` host matchers compare it; computed on first use, so
   * once per request however many `hosts` values the policies list.
   *
   * @returns The lower-cased host, or `undefined` when the request has none.
   */
  hostLowerCase(): string | undefined {
    if (this.hostLower === null) this.hostLower = this.host === undefined ? undefined : asciiLower(this.host);
    return this.hostLower;
  }

  /**
   * A JWT claim by path (`['groups']`, `['nested1', 'nested2']`), after RequestAuthentication's
   * space-delimited split of top-level claims such as `scope`.
   *
   * @param path - Claim names from the top level down.
   * @returns The claim value, or `undefined`.
   */
  jwtClaim(path: readonly string[]): unknown {
    const jwt = this.request.jwt;
    if (jwt === undefined || jwt === null || typeof jwt !== 'object') return undefined;
    let value: unknown = jwt;
    for (const name of path) {
      if (typeof value !== 'object' || value === null || Array.isArray(value)) return undefined;
      if (!Object.hasOwn(value, name)) return undefined;
      value = (value as Record<string, unknown>)[name];
    }
    if (path.length === 1 && typeof value === 'string' && this.spaceDelimited.includes(path[0] as string)) {
      return value.split(' ').filter((part) => part !== '');
    }
    return value;
  }

  /**
   * A dynamic-metadata value (`experimental.envoy.filters.<filter>[<key>]`).
   *
   * @param filter - The filter name, e.g. `envoy.filters.http.jwt_authn`.
   * @param key - The key under it.
   * @returns The value, or `undefined`.
   */
  metadataValue(filter: string, key: string): unknown {
    const metadata = this.request.metadata;
    if (metadata === undefined || metadata === null || typeof metadata !== 'object') return undefined;
    if (!Object.hasOwn(metadata, filter)) return undefined;
    const entry = metadata[filter];
    if (entry === undefined || entry === null || typeof entry !== 'object' || !Object.hasOwn(entry, key))
      return undefined;
    return entry[key];
  }
}

// A single-valued header by lower-case name from the request's headers, if present.
function pseudoHeader(request: AuthzRequest, lowerName: string): string | undefined {
  const headers = request.headers;
  if (headers === undefined || headers === null || typeof headers !== 'object') return undefined;
  for (const name of Object.keys(headers)) {
    if (name.toLowerCase() !== lowerName) continue;
    const value = headers[name];
    if (typeof value === 'string') return value;
    if (Array.isArray(value) && typeof value[0] === 'string') return value[0];
  }
  return undefined;
}

// Top-level helpers rather than closures: prepare runs once per decision.
function readIp(value: unknown, name: string): IpAddress | undefined | PrepareFailure {
  if (value === undefined || value === null || value === '') return undefined;
  if (typeof value !== 'string') return { ok: false, reason: `${name} must be an IP address string` };
  const parsed = cachedIp(value);
  return parsed === null
    ? { ok: false, reason: `${name} is not a valid IP address: ${JSON.stringify(value)}` }
    : parsed;
}

function readString(value: unknown, name: string): string | undefined | PrepareFailure {
  if (value === undefined || value === null) return undefined;
  return typeof value === 'string' ? value : { ok: false, reason: `${name} must be a string` };
}

function isFailure(value: unknown): value is PrepareFailure {
  return typeof value === 'object' && value !== null && (value as { ok?: unknown }).ok === false;
}
