/**
 * HTTP/2 header field validation (RFC 9113 §8.2, §8.3): what makes a request or response malformed, and
 * the conversion of a valid field list into the header map the rest of the codec reads (names lower-case,
 * a repeated field as an array of its lines, as `node:http2` hands them out).
 * @module
 */
import { err, ok, type Result } from 'neverthrow';
import { H2_ERROR } from './h2-constants.js';
import { type H2Failure, streamFailure } from './h2-failure.js';

/** Header fields as a map: one string per field, an array for a field seen on several lines. */
export type H2HeaderMap = Record<string, string | string[]>;

const REQUEST_PSEUDO = new Set([':method', ':scheme', ':authority', ':path', ':protocol']);
const RESPONSE_PSEUDO = new Set([':status']);
// §8.2.2: connection-specific fields are malformed in HTTP/2 (`te` is allowed with the value `trailers`).
const CONNECTION_SPECIFIC = new Set([
  'connection',
  'proxy-connection',
  'keep-alive',
  'transfer-encoding',
  'upgrade',
]);

function malformed(why: string): Result<never, H2Failure> {
  return err(streamFailure(H2_ERROR.PROTOCOL_ERROR, `malformed header block: ${why}`));
}

function validName(name: string, pseudo: boolean): boolean {
  if (name.length === (pseudo ? 1 : 0)) return false;
  for (let i = pseudo ? 1 : 0; i < name.length; i++) {
    const c = name.charCodeAt(i);
    // §8.2.1: no controls, space, upper case, DEL or non-ASCII; no colon outside the pseudo prefix.
    if (c <= 0x20 || (c >= 0x41 && c <= 0x5a) || c >= 0x7f || c === 0x3a) return false;
  }
  return true;
}

function validValue(value: string): boolean {
  const last = value.length - 1;
  for (let i = 0; i <= last; i++) {
    const c = value.charCodeAt(i);
    // §8.2.1: no NUL, LF or CR anywhere; no leading or trailing space or tab.
    if (c === 0 || c === 0x0a || c === 0x0d) return false;
    if ((c === 0x20 || c === 0x09) && (i === 0 || i === last)) return false;
  }
  return true;
}

/**
 * Checks a decoded field list and turns it into a header map.
 *
 * @param fields - `[name, value]` pairs as decoded, in order.
 * @param kind - `request` (pseudo-headers `:method`, `:scheme`, `:authority`, `:path`, `:protocol`) or
 *   `response` (`:status`, which must be present).
 * @returns The map; or a PROTOCOL_ERROR stream error (§8.1.1: a malformed message): an invalid name or
 *   value, an unknown, repeated or late pseudo-header, a connection-specific field.
 * @example
 * ```ts
 * headerMap([[':method', 'CONNECT'], [':authority', '10.0.0.2:8080']], 'request')._unsafeUnwrap();
 * // { ':method': 'CONNECT', ':authority': '10.0.0.2:8080' }
 * ```
 */
export function headerMap(
  fields: readonly (readonly [string, string])[],
  kind: 'request' | 'response',
): Result<H2HeaderMap, H2Failure> {
  const allowed = kind === 'request' ? REQUEST_PSEUDO : RESPONSE_PSEUDO;
  const out: H2HeaderMap = Object.create(null) as H2HeaderMap;
  let regular = false;
  for (const [name, value] of fields) {
    const pseudo = name.charCodeAt(0) === 0x3a;
    if (!validName(name, pseudo)) return malformed(`invalid field name ${JSON.stringify(name.slice(0, 64))}`);
    if (!validValue(value)) return malformed(`invalid value for ${JSON.stringify(name.slice(0, 64))}`);
    if (pseudo) {
      if (regular) return malformed(`${name} after a regular field`);
      if (!allowed.has(name)) return malformed(`pseudo-header ${name} in a ${kind}`);
      if (out[name] !== undefined) return malformed(`${name} repeated`);
      out[name] = value;
      continue;
    }
    regular = true;
    if (CONNECTION_SPECIFIC.has(name) || (name === 'te' && value !== 'trailers')) {
      return malformed(`connection-specific field ${name}`);
    }
    const previous = out[name];
    if (previous === undefined) out[name] = value;
    else if (typeof previous === 'string') out[name] = [previous, value];
    else previous.push(value);
  }
  if (kind === 'response' && out[':status'] === undefined) return malformed('a response without :status');
  return ok(out);
}
