/**
 * The RFC 7239 `forwarded` header on HBONE CONNECT requests: `for="<client ip:port>"`, plus `;host=<service
 * FQDN>` when a service was targeted (istio/ztunnel@62d82653:src/proxy/outbound.rs `build_forwarded`).
 * @module
 */
import { err, ok, type Result } from 'neverthrow';
import { HboneError } from './errors.js';
import { type HeaderValue, isToken } from './headers.js';

/** The parameters of one `forwarded` element. ztunnel sends `for` and `host`; `by` and `proto` round-trip. */
export interface Forwarded {
  /** The client as the source proxy saw it, e.g. `10.0.0.1:41234` or `[ff06::1]:41234`. */
  readonly for?: string;
  /** The service FQDN the client targeted; ztunnel's inbound uses it only to pick the telemetry service. */
  readonly host?: string;
  /** The interface the request came in on (RFC 7239 §5.1). */
  readonly by?: string;
  /** The protocol the request came in with (RFC 7239 §5.4). */
  readonly proto?: string;
}

/**

 * A `forwarded` header longer than this is refused before parsing (ztunnel's 16 KiB header-list budget).

 *
 * @example
 * ```ts
 * parseForwarded(`for=${'a'.repeat(MAX_FORWARDED_BYTES)}`).isErr(); // true
 * ```
 */
export const MAX_FORWARDED_BYTES = 8192;

const PARAMS = ['for', 'host', 'by', 'proto'] as const;

function isQdtextOrPair(value: string): boolean {
  for (let i = 0; i < value.length; i++) {
    const c = value.charCodeAt(i);
    if (c !== 0x09 && (c < 0x20 || c > 0x7e)) return false;
  }
  return true;
}

function quote(value: string): string {
  return `"${value.replace(/["\\]/g, (c) => `\\${c}`)}"`;
}

/**
 * Formats a `forwarded` element. `for` is always a quoted-string, as ztunnel writes it (an `ip:port` is not
 * a token); the other parameters are quoted only when they are not tokens.
 *
 * @param forwarded - The parameters; at least one must be set.
 * @returns e.g. `for="10.0.0.1:41234";host=reviews.default.svc.cluster.local`.
 * @throws {RangeError} When no parameter is set, or a value is empty or not printable ASCII.
 * @example
 * ```ts
 * formatForwarded({ for: '10.0.0.1:41234', host: 'reviews.default.svc.cluster.local' });
 * // 'for="10.0.0.1:41234";host=reviews.default.svc.cluster.local'
 * ```
 */
export function formatForwarded(forwarded: Forwarded): string {
  const parts: string[] = [];
  for (const name of PARAMS) {
    const value = forwarded[name];
    if (value === undefined) continue;
    if (value.length === 0 || !isQdtextOrPair(value)) {
      throw new RangeError(`formatForwarded: invalid "${name}" ${JSON.stringify(value)}`);
    }
    parts.push(`${name}=${name === 'for' || !isToken(value) ? quote(value) : value}`);
  }
  if (parts.length === 0) throw new RangeError('formatForwarded: set at least one of for, host, by, proto');
  return parts.join(';');
}

function bad(why: string): Result<never, HboneError> {
  return err(new HboneError('HBONE_ERR_BAD_FORWARDED', `invalid forwarded header: ${why}`));
}

/**
 * Parses the first element of a `forwarded` header (RFC 7239 §4): `;`-separated `name=value` pairs, values
 * tokens or quoted-strings, names case-insensitive. Later elements (`,`-separated, appended by further
 * proxies) are checked for syntax and otherwise ignored. Unknown parameters are ignored.
 *
 * @param value - The header value, or every line of it (lines are elements, joined with `,`).
 * @returns The first element's `for`, `host`, `by` and `proto`; an `HBONE_ERR_BAD_FORWARDED` error for a
 *   syntax error, a repeated parameter, or input longer than {@link MAX_FORWARDED_BYTES}.
 * @example
 * ```ts
 * parseForwarded('for="[ff06::1]:4000";host=example.com')._unsafeUnwrap();
 * // { for: '[ff06::1]:4000', host: 'example.com' }
 * ```
 */
export function parseForwarded(value: HeaderValue): Result<Forwarded, HboneError> {
  const text = typeof value === 'string' ? value : value.join(',');
  if (text.length > MAX_FORWARDED_BYTES) return bad(`longer than ${MAX_FORWARDED_BYTES} bytes`);
  const elements: Record<string, string>[] = [];
  let current: Record<string, string> = {};
  let i = 0;
  const skipOws = (): void => {
    while (i < text.length && (text[i] === ' ' || text[i] === '\t')) i++;
  };
  for (;;) {
    skipOws();
    // Parameter name.
    const nameStart = i;
    while (i < text.length && /[!#$%&'*+.^_`|~0-9A-Za-z-]/.test(text[i] as string)) i++;
    const name = text.slice(nameStart, i).toLowerCase();
    if (name.length === 0) return bad(`expected a parameter name at offset ${i}`);
    if (text[i] !== '=') return bad(`expected "=" after ${JSON.stringify(name)}`);
    i++;
    let v: string;
    if (text[i] === '"') {
      i++;
      let out = '';
      for (;;) {
        if (i >= text.length) return bad('unterminated quoted-string');
        const c = text[i] as string;
        if (c === '"') {
          i++;
          break;
        }
        if (c === '\\') {
          i++;
          if (i >= text.length) return bad('unterminated quoted-pair');
        }
        const ch = text[i] as string;
        if (!isQdtextOrPair(ch)) return bad('control or non-ASCII character in a quoted-string');
        out += ch;
        i++;
      }
      v = out;
    } else {
      const start = i;
      while (i < text.length && /[!#$%&'*+.^_`|~0-9A-Za-z-]/.test(text[i] as string)) i++;
      v = text.slice(start, i);
      if (v.length === 0) return bad(`empty value for ${JSON.stringify(name)}`);
    }
    if (Object.hasOwn(current, name)) return bad(`parameter ${JSON.stringify(name)} repeated`);
    current[name] = v;
    skipOws();
    if (i >= text.length) break;
    if (text[i] === ';') {
      i++;
      continue;
    }
    if (text[i] === ',') {
      i++;
      elements.push(current);
      current = {};
      continue;
    }
    return bad(`unexpected ${JSON.stringify(text[i])} at offset ${i}`);
  }
  elements.push(current);
  const first = elements[0] ?? {};
  const out: { -readonly [K in keyof Forwarded]: Forwarded[K] } = {};
  for (const name of PARAMS) {
    const v = first[name];
    if (v !== undefined) out[name] = v;
  }
  return ok(out);
}
