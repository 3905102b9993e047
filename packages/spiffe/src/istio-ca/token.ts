/**
 * The bearer token as ztunnel sends it (istio/ztunnel@62d82653:src/identity/auth.rs): `Bearer ` followed by
 * the token file's bytes verbatim, the file read again for every request (Kubernetes rotates projected
 * tokens in place); an empty file is an error, and so is a byte no HTTP/2 header value may carry (ztunnel's
 * `HeaderValue` conversion refuses it), a trailing newline included.
 * @module
 */
import { readFile, stat } from 'node:fs/promises';
import { SpiffeError } from '../codec/errors.js';

/** The largest token accepted: Kubernetes service-account tokens are ~1 KiB. */
export const MAX_TOKEN_BYTES: number = 64 * 1024;

/**
 * Checks a token and makes the `authorization` value.
 *
 * @param token - The token bytes as a string.
 * @param where - For the message: `token` or the file.
 * @returns `Bearer <token>`.
 * @throws {SpiffeError} `SPIFFE_ERR_CA_TOKEN` when empty or not a valid header value.
 */
export function bearerValue(token: string, where: string): string {
  if (token.length === 0) throw new SpiffeError('SPIFFE_ERR_CA_TOKEN', `${where} is empty`);
  // A header value is visible ASCII, space and tab (RFC 9110 section 5.5); Node refuses the rest.
  const bad = /[^\t\x20-\x7e]/.exec(token);
  if (bad !== null) {
    const at = bad.index;
    throw new SpiffeError(
      'SPIFFE_ERR_CA_TOKEN',
      `${where} has byte 0x${token.charCodeAt(at).toString(16).padStart(2, '0')} at offset ${at}, which a header value cannot carry${at === token.length - 1 && token.endsWith('\n') ? ' (a trailing newline: the token is sent verbatim)' : ''}`,
    );
  }
  return `Bearer ${token}`;
}

/**
 * Reads the token file now and makes the `authorization` value.
 *
 * @param path - The token file.
 * @returns `Bearer <file contents>`.
 * @throws {SpiffeError} `SPIFFE_ERR_CA_TOKEN` when unreadable, larger than {@link MAX_TOKEN_BYTES}, empty
 * or not a valid header value.
 */
export async function bearerFromFile(path: string): Promise<string> {
  let text: string;
  try {
    const info = await stat(path);
    if (info.size > MAX_TOKEN_BYTES) {
      throw new SpiffeError(
        'SPIFFE_ERR_CA_TOKEN',
        `token file ${path} is ${info.size} bytes, above ${MAX_TOKEN_BYTES}`,
      );
    }
    text = (await readFile(path)).toString('latin1');
  } catch (cause) {
    if (cause instanceof SpiffeError) throw cause;
    throw new SpiffeError('SPIFFE_ERR_CA_TOKEN', `cannot read token file ${path}: ${String(cause)}`, {
      cause,
    });
  }
  return bearerValue(text, `token file ${path}`);
}
