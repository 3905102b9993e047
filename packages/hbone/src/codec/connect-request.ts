/**
 * The HBONE CONNECT request (istio/ztunnel@62d82653:src/proxy/outbound.rs `create_hbone_request`): a plain RFC 9113 §8.5 CONNECT with exactly
 * `:method` and `:authority` as pseudo-headers, plus `baggage`, `forwarded`, `traceparent` and, on the inner
 * request of double HBONE, `x-forwarded-network`.
 * @module
 */
import { err, ok, type Result } from 'neverthrow';
import { formatAuthority, type HboneAddress, parseAuthority } from './authority.js';
import { type Baggage, formatBaggage, parseBaggage } from './baggage.js';
import { HboneError } from './errors.js';
import { type Forwarded, formatForwarded, parseForwarded } from './forwarded.js';
import { type HeaderMap, headerLines, isValidHeaderName, isValidHeaderValue } from './headers.js';
import { formatTraceparent, parseTraceparent, type TraceParent } from './traceparent.js';

/**

 * Header names HBONE gives a meaning to (`istio/ztunnel@62d82653:src/proxy.rs` L560-565).

 *
 * @example
 * ```ts
 * headers[HBONE_HEADER.forwardedNetwork]; // the x-forwarded-network value
 * ```
 */
export const HBONE_HEADER = {
  baggage: 'baggage',
  forwarded: 'forwarded',
  traceparent: 'traceparent',
  /** Only on the inner CONNECT of double HBONE; the source's network (istio/ztunnel@62d82653:src/proxy.rs; not the `x-istio-origin-network` its comments say). */
  forwardedNetwork: 'x-forwarded-network',
} as const;

/** A CONNECT request as the codec models it. `parseConnectRequest(buildConnectRequest(x))` gives back `x`. */
export interface ConnectRequest {
  /** The target: `:authority`. */
  readonly authority: HboneAddress;
  /** The source workload's metadata. */
  readonly baggage?: Baggage;
  /** `for=` the client address and `host=` the targeted service. */
  readonly forwarded?: Forwarded;
  /** The connection's trace context. */
  readonly traceparent?: TraceParent;
  /** `x-forwarded-network`: the source network, on the inner request of double HBONE. */
  readonly forwardedNetwork?: string;
  /** Any other request headers, names lower-case (e.g. `x-istio-source` on a gateway's outer CONNECT). */
  readonly headers?: Readonly<Record<string, string>>;
}

// RFC 9113 §8.2.2: connection-specific headers are malformed in HTTP/2; nghttp2 resets streams carrying them.
const CONNECTION_SPECIFIC = new Set([
  'connection',
  'keep-alive',
  'proxy-connection',
  'transfer-encoding',
  'upgrade',
  'te',
]);
const KNOWN = new Set<string>(Object.values(HBONE_HEADER));

/**
 * Builds the header block of an HBONE CONNECT request, in the order ztunnel writes it
 * (`istio/ztunnel@62d82653:src/proxy/outbound.rs` `create_hbone_request`). No `:scheme` or `:path` (plain CONNECT).
 *
 * @param request - The request; `baggage`, `forwarded`, `traceparent` and `forwardedNetwork` are sent only when set.
 * @returns Headers for `ClientHttp2Session.request()`.
 * @throws {RangeError} When the authority or a header value is invalid, or `headers` names a pseudo-header,
 *   a connection-specific header or one of {@link HBONE_HEADER} (set those through their own fields).
 * @example
 * ```ts
 * buildConnectRequest({ authority: { kind: 'socket', ip: '10.0.0.2', port: 8080 }, forwarded: { for: '10.0.0.1:4000' } });
 * // { ':method': 'CONNECT', ':authority': '10.0.0.2:8080', forwarded: 'for="10.0.0.1:4000"' }
 * ```
 */
export function buildConnectRequest(request: ConnectRequest): Record<string, string> {
  const out: Record<string, string> = {
    ':method': 'CONNECT',
    ':authority': formatAuthority(request.authority),
  };
  if (request.baggage !== undefined) out[HBONE_HEADER.baggage] = formatBaggage(request.baggage);
  if (request.forwarded !== undefined) out[HBONE_HEADER.forwarded] = formatForwarded(request.forwarded);
  if (request.traceparent !== undefined)
    out[HBONE_HEADER.traceparent] = formatTraceparent(request.traceparent);
  if (request.forwardedNetwork !== undefined) {
    if (!isValidHeaderValue(request.forwardedNetwork)) {
      throw new RangeError(
        `buildConnectRequest: invalid "forwardedNetwork" ${JSON.stringify(request.forwardedNetwork)}`,
      );
    }
    out[HBONE_HEADER.forwardedNetwork] = request.forwardedNetwork;
  }
  for (const [name, value] of Object.entries(request.headers ?? {})) {
    if (!isValidHeaderName(name) || CONNECTION_SPECIFIC.has(name) || KNOWN.has(name) || name === 'host') {
      throw new RangeError(
        `buildConnectRequest: header ${JSON.stringify(name)} cannot be set through "headers"`,
      );
    }
    if (!isValidHeaderValue(value)) {
      throw new RangeError(`buildConnectRequest: invalid value for header ${JSON.stringify(name)}`);
    }
    out[name] = value;
  }
  return out;
}

/**
 * {@link buildConnectRequest} with the target first: the shorthand a client uses per tunnel.
 *
 * @param target - The `:authority`, as text (`10.0.0.2:8080`) or an {@link HboneAddress}.
 * @param meta - Everything else of the request.
 * @returns Headers for `ClientHttp2Session.request()`.
 * @throws {RangeError} When the target or a header value is invalid.
 * @example
 * ```ts
 * buildConnectHeaders('[ff06::c3]:80', { forwardedNetwork: 'network-a' });
 * // { ':method': 'CONNECT', ':authority': '[ff06::c3]:80', 'x-forwarded-network': 'network-a' }
 * ```
 */
export function buildConnectHeaders(
  target: string | HboneAddress,
  meta: Omit<ConnectRequest, 'authority'> = {},
): Record<string, string> {
  let authority: HboneAddress;
  if (typeof target === 'string') {
    const parsed = parseAuthority(target);
    if (parsed.isErr()) throw new RangeError(`buildConnectHeaders: ${parsed.error.message}`);
    authority = parsed.value;
  } else {
    authority = target;
  }
  return buildConnectRequest({ ...meta, authority });
}

/**
 * Parses an incoming CONNECT request's headers in the order ztunnel's inbound checks them
 * (`istio/ztunnel@62d82653:src/proxy/inbound.rs` `build_inbound_request`): the method first (`HBONE_ERR_NOT_CONNECT`), then the
 * request shape (`HBONE_ERR_BAD_REQUEST` for `:scheme`, `:path` or `:protocol`: HBONE is plain CONNECT),
 * then `:authority` (`HBONE_ERR_BAD_AUTHORITY`). All three answer 400.
 *
 * The telemetry headers never fail the request: an unparseable `baggage`, `forwarded` or `traceparent` is
 * left out of the result, as ztunnel ignores it (`.ok()` / `unwrap_or_else(TraceParent::new)`).
 *
 * @param headers - The request headers (`node:http2` `IncomingHttpHeaders` fit).
 * @returns The request, or a 400-class error.
 * @example
 * ```ts
 * parseConnectRequest({ ':method': 'CONNECT', ':authority': '[ff06::c3]:80' })._unsafeUnwrap().authority;
 * // { kind: 'socket', ip: 'ff06::c3', port: 80 }
 * parseConnectRequest({ ':method': 'GET', ':authority': 'a:1' })._unsafeUnwrapErr().code; // 'HBONE_ERR_NOT_CONNECT'
 * ```
 */
export function parseConnectRequest(headers: HeaderMap): Result<ConnectRequest, HboneError> {
  const method = headers[':method'];
  if (method !== 'CONNECT') {
    const shown = typeof method === 'string' ? JSON.stringify(method.slice(0, 32)) : 'none';
    return err(
      new HboneError('HBONE_ERR_NOT_CONNECT', `HBONE expects a CONNECT request, got method ${shown}`),
    );
  }
  for (const pseudo of [':scheme', ':path', ':protocol']) {
    if (headers[pseudo] !== undefined) {
      return err(
        new HboneError('HBONE_ERR_BAD_REQUEST', `HBONE CONNECT must not carry ${pseudo} (RFC 9113 §8.5)`),
      );
    }
  }
  const authorityText = headers[':authority'];
  if (typeof authorityText !== 'string') {
    return err(new HboneError('HBONE_ERR_BAD_AUTHORITY', 'CONNECT without a single :authority'));
  }
  const authority = parseAuthority(authorityText);
  if (authority.isErr()) return err(authority.error);

  const out: { -readonly [K in keyof ConnectRequest]: ConnectRequest[K] } = { authority: authority.value };
  const baggage = headerLines(headers, HBONE_HEADER.baggage);
  if (baggage.length > 0) {
    const parsed = parseBaggage(baggage);
    if (parsed.isOk()) out.baggage = parsed.value;
  }
  const forwarded = headerLines(headers, HBONE_HEADER.forwarded);
  if (forwarded.length > 0) {
    const parsed = parseForwarded(forwarded);
    if (parsed.isOk()) out.forwarded = parsed.value;
  }
  const traceparent = headerLines(headers, HBONE_HEADER.traceparent);
  if (traceparent.length === 1) {
    const parsed = parseTraceparent(traceparent[0] as string);
    if (parsed.isOk()) out.traceparent = parsed.value;
  }
  const network = headerLines(headers, HBONE_HEADER.forwardedNetwork);
  if (network.length === 1 && isValidHeaderValue(network[0] as string))
    out.forwardedNetwork = network[0] as string;

  const extra: Record<string, string> = {};
  let extraCount = 0;
  for (const [name, value] of Object.entries(headers)) {
    if (name.startsWith(':') || KNOWN.has(name) || value === undefined) continue;
    extra[name] = typeof value === 'string' || typeof value === 'number' ? String(value) : value.join(', ');
    extraCount++;
  }
  if (extraCount > 0) out.headers = extra;
  return ok(out);
}
