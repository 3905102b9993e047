/**
 * The HTTP/1 request target as Envoy's HTTP/1 codec turns it into `:path` and `:authority` before any filter
 * (RBAC, jwt_authn) runs: an origin-form target (`/a?b`) is kept; an absolute-form target
 * (`http://host/a?b`, RFC 9112 §3.2.2) becomes `:path` `/a?b` and replaces the Host header with its host
 * (envoyproxy/envoy@a187ad9f:source/common/http/http1/codec_impl.cc `ServerConnectionImpl::handlePath`,
 * with `allow_absolute_url` on, its default; RFC 9112 §3.2.2: "the server MUST ignore the received Host
 * header field"). Node's HTTP servers hand the target over untouched, while node:http handlers that parse it
 * with `new URL(req.url, base)`, Express and Fastify all route an absolute-form target by its path: deciding
 * on the raw text would judge `/http://x/admin` while the application serves `/admin`.
 * @module
 */

/** The result of {@link originFormTarget}. */
export type OriginFormTarget =
  | {
      readonly ok: true;
      /** `:path`: the origin-form target, query included. */
      readonly path: string;
      /** `:authority` from an absolute-form target (it replaces the Host header); absent for origin-form. */
      readonly host?: string;
      /** The scheme of an absolute-form target, lower-cased (`http` or `https`). */
      readonly scheme?: 'http' | 'https';
    }
  | { readonly ok: false; readonly reason: string };

const ABSOLUTE = /^([A-Za-z][A-Za-z0-9+.-]*):\/\/([^/?#]*)(.*)$/s;

/**
 * Converts a request target to what Envoy evaluates: origin-form (and `*`) as is, absolute-form to its path
 * and authority. Anything else is a request Envoy's codec rejects with 400 ("invalid url in request line").
 *
 * @param target - The request target as received (`req.url`, or Express's `req.originalUrl`).
 * @returns The `:path` (and, for absolute-form, `:authority` and scheme), or why the proxy answers 400.
 * @example
 * ```ts
 * originFormTarget('http://x/admin?a=1'); // { ok: true, path: '/admin?a=1', host: 'x', scheme: 'http' }
 * originFormTarget('/admin');             // { ok: true, path: '/admin' }
 * originFormTarget('ftp://x/a');          // { ok: false, reason: 'invalid scheme "ftp" in the request target' }
 * ```
 */
export function originFormTarget(target: string): OriginFormTarget {
  if (target.startsWith('/') || target === '*') return { ok: true, path: target };
  const m = ABSOLUTE.exec(target);
  if (m === null) return { ok: false, reason: 'invalid url in the request target' };
  const scheme = (m[1] as string).toLowerCase();
  if (scheme !== 'http' && scheme !== 'https') {
    return { ok: false, reason: `invalid scheme "${m[1]}" in the request target` };
  }
  const authority = m[2] as string;
  // http_parser's host excludes the userinfo.
  const host = authority.slice(authority.lastIndexOf('@') + 1);
  if (host === '') return { ok: false, reason: 'absolute request target without a host' };
  const rest = m[3] as string;
  // An absolute URL without a path is the root (Utility::Url::initialize).
  const path = rest === '' ? '/' : rest.startsWith('/') ? rest : `/${rest}`;
  return { ok: true, path, host, scheme };
}
