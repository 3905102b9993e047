/**
 * PEM (RFC 7468) reading and writing with a size cap checked before any work. Text outside blocks is ignored,
 * as RFC 7468 §2 and Go's `encoding/pem` allow; headers (RFC 1421 `Proc-Type`, i.e. encrypted keys) are not.
 * @module
 */
import { err, ok, type Result } from 'neverthrow';
import { base64Decode, base64Encode } from './base64.js';
import { quote, SpiffeError } from './errors.js';

/** Default cap on PEM input: 1 MiB holds thousands of certificates. */
export const MAX_PEM_BYTES: number = 1024 * 1024;

/** One decoded PEM block. */
export interface PemBlock {
  /** The label, e.g. `CERTIFICATE`, `PRIVATE KEY`. */
  readonly label: string;
  /** The decoded contents. */
  readonly der: Uint8Array;
}

/** Options of {@link decodePem}. */
export interface DecodePemOptions {
  /** Cap on the input length in characters (default {@link MAX_PEM_BYTES}). */
  readonly maxBytes?: number;
  /** Cap on the number of blocks (default 4096). */
  readonly maxBlocks?: number;
}

// RFC 7468 §3 labels in practice: `CERTIFICATE`, `PRIVATE KEY`, `EC PRIVATE KEY`, `CERTIFICATE REQUEST`.
const BEGIN = /-----BEGIN ([A-Z0-9 ]{1,64})-----/g;

/**
 * Decodes every PEM block of `text`.
 *
 * @param text - PEM text; anything between blocks is skipped.
 * @param options - Caps.
 * @returns The blocks in order (possibly none), or `SPIFFE_ERR_TOO_LARGE` / `SPIFFE_ERR_PEM`.
 * @example
 * ```ts
 * const blocks = decodePem(chainPem)._unsafeUnwrap();
 * blocks[0]?.label; // 'CERTIFICATE'
 * ```
 */
export function decodePem(text: string, options: DecodePemOptions = {}): Result<PemBlock[], SpiffeError> {
  const maxBytes = options.maxBytes ?? MAX_PEM_BYTES;
  const maxBlocks = options.maxBlocks ?? 4096;
  if (typeof text !== 'string') throw new TypeError(`decodePem: text must be a string, got ${typeof text}`);
  if (text.length > maxBytes) {
    return err(
      new SpiffeError(
        'SPIFFE_ERR_TOO_LARGE',
        `PEM input of ${text.length} bytes exceeds the ${maxBytes}-byte cap`,
      ),
    );
  }
  const blocks: PemBlock[] = [];
  BEGIN.lastIndex = 0;
  for (let m = BEGIN.exec(text); m !== null; m = BEGIN.exec(text)) {
    const label = m[1] as string;
    const endMarker = `-----END ${label}-----`;
    const bodyStart = m.index + m[0].length;
    const endAt = text.indexOf(endMarker, bodyStart);
    if (endAt < 0)
      return err(new SpiffeError('SPIFFE_ERR_PEM', `PEM block ${quote(label)} has no matching END line`));
    const body = text.slice(bodyStart, endAt);
    if (body.includes(':')) {
      return err(
        new SpiffeError(
          'SPIFFE_ERR_PEM',
          `PEM block ${quote(label)} has headers (encrypted or legacy PEM is not supported)`,
        ),
      );
    }
    if (body.includes('-----')) {
      return err(
        new SpiffeError('SPIFFE_ERR_PEM', `PEM block ${quote(label)} is not closed before the next one`),
      );
    }
    const der = base64Decode(body.replace(/[ \t\r\n]+/g, ''));
    if (der === undefined || der.length === 0) {
      return err(new SpiffeError('SPIFFE_ERR_PEM', `PEM block ${quote(label)} is not valid base64`));
    }
    if (blocks.length === maxBlocks) {
      return err(new SpiffeError('SPIFFE_ERR_TOO_LARGE', `more than ${maxBlocks} PEM blocks`));
    }
    blocks.push({ label, der });
    BEGIN.lastIndex = endAt + endMarker.length;
  }
  return ok(blocks);
}

/**
 * Encodes one PEM block: 64-character lines and a trailing newline (RFC 7468 §2).
 *
 * @param label - e.g. `CERTIFICATE`.
 * @param der - The contents.
 * @returns The PEM text.
 * @example
 * ```ts
 * encodePem('CERTIFICATE', der); // '-----BEGIN CERTIFICATE-----\nMIIB…\n-----END CERTIFICATE-----\n'
 * ```
 */
export function encodePem(label: string, der: Uint8Array): string {
  const b64 = base64Encode(der);
  let body = '';
  for (let i = 0; i < b64.length; i += 64) body += `${b64.slice(i, i + 64)}\n`;
  return `-----BEGIN ${label}-----\n${body}-----END ${label}-----\n`;
}
