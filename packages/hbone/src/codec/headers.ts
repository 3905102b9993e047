/**
 * The header shapes the codec reads and writes: plain objects compatible with `node:http2`'s
 * `IncomingHttpHeaders` (a header seen on several lines arrives as an array, or joined with `, `).
 * @module
 */

/** One header's value: a single line, or several lines. */
export type HeaderValue = string | readonly string[];

/** Incoming headers, names lower-case, pseudo-headers included (`:method`, `:authority`, `:status`). */
export type HeaderMap = Readonly<Record<string, HeaderValue | number | undefined>>;

/**
 * Every line of header `name` (names are lower-case in HTTP/2).
 *
 * @param headers - Incoming headers.
 * @param name - A lower-case header name.
 * @returns The lines in order; empty when the header is absent.
 * @example
 * ```ts
 * headerLines({ baggage: ['a=1', 'b=2'] }, 'baggage'); // ['a=1', 'b=2']
 * ```
 */
export function headerLines(headers: HeaderMap, name: string): readonly string[] {
  const value = headers[name];
  if (value === undefined) return [];
  if (typeof value === 'number') return [String(value)];
  return typeof value === 'string' ? [value] : value;
}

/**
 * Whether `value` can be sent as a header value: visible ASCII, space and tab, no leading or trailing
 * whitespace (RFC 9110 §5.5 field-value, restricted to ASCII as ztunnel's `to_str` requires).
 *
 * @param value - A candidate header value.
 * @returns `true` when `value` is a valid, non-empty ASCII field value.
 * @example
 * ```ts
 * isValidHeaderValue('network-1'); // true
 * isValidHeaderValue('a\r\nb: c'); // false
 * ```
 */
export function isValidHeaderValue(value: string): boolean {
  if (value.length === 0) return false;
  for (let i = 0; i < value.length; i++) {
    const c = value.charCodeAt(i);
    if (c === 0x09 || c === 0x20) {
      if (i === 0 || i === value.length - 1) return false;
    } else if (c < 0x21 || c > 0x7e) {
      return false;
    }
  }
  return true;
}

const TOKEN = /^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/;

/**
 * Whether `name` is a valid lower-case HTTP/2 header name (an RFC 9110 token, no upper case).
 *
 * @param name - A candidate header name.
 * @returns `true` for names like `x-istio-source`.
 * @example
 * ```ts
 * isValidHeaderName('x-istio-source'); // true
 * isValidHeaderName('X-Istio-Source'); // false: HTTP/2 names are lower-case
 * ```
 */
export function isValidHeaderName(name: string): boolean {
  return TOKEN.test(name) && name === name.toLowerCase();
}

/**
 * Whether `value` is an RFC 9110 token (used by `forwarded` to decide when a value needs quoting).
 *
 * @param value - A candidate token.
 * @returns `true` for a non-empty token.
 * @example
 * ```ts
 * isToken('example.com'); // true
 * isToken('10.0.0.1:80'); // false: ':' needs a quoted-string
 * ```
 */
export function isToken(value: string): boolean {
  return TOKEN.test(value);
}
