/**
 * A strict JSON reader (RFC 8259) for trust bundles and JWTs. Unlike `JSON.parse` it rejects duplicate object
 * keys (spiffe/spiffe@665a28f:standards/SPIFFE_Trust_Domain_and_Bundle.md §5.1.1 requires it for bundle maps;
 * RFC 7515 §5.2 for JOSE headers) and keeps integers beyond 2^53 exact as `bigint` (`spiffe_sequence` is a
 * 64-bit integer, §4.1.1 there).
 * @module
 */
import { err, ok, type Result } from 'neverthrow';
import { SpiffeError } from './errors.js';

/** A JSON value. Objects have a null prototype; integer literals outside the safe range are `bigint`. */
export type JsonValue = null | boolean | number | bigint | string | JsonValue[] | JsonObject;

/** A JSON object (null prototype, so `__proto__` is an ordinary key). */
export interface JsonObject {
  [key: string]: JsonValue;
}

/** Options of {@link parseJson}. */
export interface ParseJsonOptions {
  /** Cap on the input length in characters (default 1 MiB). */
  readonly maxBytes?: number;
  /** Cap on nesting depth (default 64). */
  readonly maxDepth?: number;
}

class JsonFail extends Error {}

/**
 * Whether a value is a JSON object (not an array, not null).
 *
 * @param value - A parsed value.
 * @returns `true` for objects.
 * @example
 * ```ts
 * isJsonObject(parseJson('{}')._unsafeUnwrap()); // true
 * ```
 */
export function isJsonObject(value: JsonValue | undefined): value is JsonObject {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/**
 * Parses JSON text strictly.
 *
 * @param text - The JSON document.
 * @param options - Caps.
 * @returns The value, or `SPIFFE_ERR_TOO_LARGE` / `SPIFFE_ERR_JSON` (syntax, duplicate key, depth).
 * @example
 * ```ts
 * parseJson('{"spiffe_sequence": 18446744073709551615}')._unsafeUnwrap(); // { spiffe_sequence: 18446744073709551615n }
 * parseJson('{"a":1,"a":2}')._unsafeUnwrapErr().code; // 'SPIFFE_ERR_JSON'
 * ```
 */
export function parseJson(text: string, options: ParseJsonOptions = {}): Result<JsonValue, SpiffeError> {
  const maxBytes = options.maxBytes ?? 1024 * 1024;
  const maxDepth = options.maxDepth ?? 64;
  if (typeof text !== 'string') throw new TypeError(`parseJson: text must be a string, got ${typeof text}`);
  if (text.length > maxBytes) {
    return err(
      new SpiffeError(
        'SPIFFE_ERR_TOO_LARGE',
        `JSON of ${text.length} bytes exceeds the ${maxBytes}-byte cap`,
      ),
    );
  }
  let pos = 0;
  const fail = (why: string): never => {
    throw new JsonFail(`${why} at offset ${pos}`);
  };
  const skipWs = (): void => {
    for (;;) {
      const c = text.charCodeAt(pos);
      if (c === 0x20 || c === 0x09 || c === 0x0a || c === 0x0d) pos++;
      else return;
    }
  };
  const literal = (word: string, value: JsonValue): JsonValue => {
    if (!text.startsWith(word, pos)) fail('unexpected token');
    pos += word.length;
    return value;
  };
  const string = (): string => {
    pos++; // opening quote
    let out = '';
    let runStart = pos;
    for (;;) {
      if (pos >= text.length) fail('unterminated string');
      const c = text.charCodeAt(pos);
      if (c === 0x22) {
        out += text.slice(runStart, pos);
        pos++;
        return out;
      }
      if (c < 0x20) fail('control character in string');
      if (c !== 0x5c) {
        pos++;
        continue;
      }
      out += text.slice(runStart, pos);
      const e = text[pos + 1];
      pos += 2;
      switch (e) {
        case '"':
          out += '"';
          break;
        case '\\':
          out += '\\';
          break;
        case '/':
          out += '/';
          break;
        case 'b':
          out += '\b';
          break;
        case 'f':
          out += '\f';
          break;
        case 'n':
          out += '\n';
          break;
        case 'r':
          out += '\r';
          break;
        case 't':
          out += '\t';
          break;
        case 'u': {
          const hex = text.slice(pos, pos + 4);
          if (!/^[0-9a-fA-F]{4}$/.test(hex)) fail('bad \\u escape');
          out += String.fromCharCode(Number.parseInt(hex, 16));
          pos += 4;
          break;
        }
        default:
          fail('bad escape');
      }
      runStart = pos;
    }
  };
  const NUMBER = /-?(?:0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)?/y;
  const number = (): number | bigint => {
    NUMBER.lastIndex = pos;
    const m = NUMBER.exec(text);
    if (m === null) return fail('bad number');
    pos += m[0].length;
    if (m[1] === undefined && m[2] === undefined) {
      const n = Number(m[0]);
      return Number.isSafeInteger(n) ? n : BigInt(m[0]);
    }
    const n = Number(m[0]);
    if (!Number.isFinite(n)) fail('number out of range');
    return n;
  };
  const value = (depth: number): JsonValue => {
    if (depth > maxDepth) fail(`nesting deeper than ${maxDepth}`);
    skipWs();
    const c = text[pos];
    switch (c) {
      case '{': {
        pos++;
        const obj: JsonObject = Object.create(null);
        skipWs();
        if (text[pos] === '}') {
          pos++;
          return obj;
        }
        for (;;) {
          skipWs();
          if (text[pos] !== '"') fail('expected a key');
          const key = string();
          if (Object.hasOwn(obj, key)) fail(`duplicate key ${JSON.stringify(key.slice(0, 64))}`);
          skipWs();
          if (text[pos] !== ':') fail('expected ":"');
          pos++;
          obj[key] = value(depth + 1);
          skipWs();
          if (text[pos] === ',') {
            pos++;
            continue;
          }
          if (text[pos] === '}') {
            pos++;
            return obj;
          }
          fail('expected "," or "}"');
        }
      }
      case '[': {
        pos++;
        const arr: JsonValue[] = [];
        skipWs();
        if (text[pos] === ']') {
          pos++;
          return arr;
        }
        for (;;) {
          arr.push(value(depth + 1));
          skipWs();
          if (text[pos] === ',') {
            pos++;
            continue;
          }
          if (text[pos] === ']') {
            pos++;
            return arr;
          }
          fail('expected "," or "]"');
        }
      }
      case '"':
        return string();
      case 't':
        return literal('true', true);
      case 'f':
        return literal('false', false);
      case 'n':
        return literal('null', null);
      default:
        return number();
    }
  };
  try {
    const result = value(0);
    skipWs();
    if (pos !== text.length) fail('trailing characters');
    return ok(result);
  } catch (error) {
    if (error instanceof JsonFail)
      return err(new SpiffeError('SPIFFE_ERR_JSON', `invalid JSON: ${error.message}`));
    throw error;
  }
}
