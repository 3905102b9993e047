/**
 * The token file as an authenticator: the stand-in for Kubernetes TokenReview (docs/identity.md, "The token
 * file"). The file is checked on every call (one `stat`) and read again when it changed, so tokens can be
 * added and revoked while the server runs; an edit that does not parse keeps the last good list, reported
 * on the `tokens:error` channel and to `onError`.
 * @module
 */
import { readFile, stat } from 'node:fs/promises';
import { resolve as resolvePath } from 'node:path';
import { err, type Result } from 'neverthrow';
import { ControlPlaneError } from '../codec/errors.js';
import { MAX_TOKEN_FILE_BYTES, parseTokenFile, type TokenEntry } from '../codec/token-file.js';
import { debug, publish } from '../diagnostics.js';
import {
  type Authenticator,
  createTokenAuthenticator,
  type TokenAuthenticatorOptions,
} from './authenticator.js';

/** Options of {@link createTokenFileAuthenticator}. */
export interface TokenFileAuthenticatorOptions extends TokenAuthenticatorOptions {
  /** The token file: `<token> <namespace>/<serviceaccount> [<node>]` per line. */
  readonly path: string;
  /** Called when a changed file cannot be used (the previous tokens stay). */
  readonly onError?: (error: ControlPlaneError) => void;
}

/** A token-file authenticator. */
export interface TokenFileAuthenticator extends Authenticator {
  /** The absolute path. */
  readonly path: string;
  /** How many tokens are accepted now. */
  readonly size: number;
}

/** Reads and parses the file; the size is checked first. */
async function readTokens(path: string): Promise<Result<TokenEntry[], ControlPlaneError>> {
  let text: string;
  try {
    const info = await stat(path);
    if (info.size > MAX_TOKEN_FILE_BYTES)
      return err(
        new ControlPlaneError(
          'CONTROL_PLANE_ERR_TOO_LARGE',
          `${path} is ${info.size} bytes, above ${MAX_TOKEN_FILE_BYTES}`,
        ),
      );
    text = await readFile(path, 'utf8');
  } catch (cause) {
    return err(
      new ControlPlaneError('CONTROL_PLANE_ERR_READ', `cannot read ${path}: ${String(cause)}`, { cause }),
    );
  }
  return parseTokenFile(text).mapErr(
    (e) => new ControlPlaneError(e.code, `${path}: ${e.message}`, { issues: e.issues }),
  );
}

/** What identifies one version of the file without reading it. */
async function versionOf(path: string): Promise<string> {
  try {
    const s = await stat(path, { bigint: true });
    return `${s.ino}:${s.size}:${s.mtimeNs}:${s.ctimeNs}`;
  } catch (e) {
    return `error:${(e as NodeJS.ErrnoException).code ?? String(e)}`;
  }
}

/**
 * Creates an authenticator over a token file. The first read must succeed.
 *
 * @param options - The file, the trust domain, this cluster's id, an error callback.
 * @returns The authenticator, once the file was read.
 * @throws {ControlPlaneError} (rejects) `CONTROL_PLANE_ERR_READ`, `..._TOO_LARGE` or
 * `..._BAD_TOKEN_FILE` when the file cannot be used.
 * @example
 * ```ts
 * const authenticator = await createTokenFileAuthenticator({ path: '/etc/istio/tokens', trustDomain: 'cluster.local' });
 * ```
 */
export async function createTokenFileAuthenticator(
  options: TokenFileAuthenticatorOptions,
): Promise<TokenFileAuthenticator> {
  const path = resolvePath(options.path);
  let version = await versionOf(path);
  const first = await readTokens(path);
  if (first.isErr()) throw first.error;
  const inner = createTokenAuthenticator(first.value, { ...options, name: options.name ?? 'token-file' });
  debug('token file %s: %d tokens', path, first.value.length);
  let checking: Promise<void> | undefined;

  async function refresh(): Promise<void> {
    const now = await versionOf(path);
    if (now === version) return;
    version = now;
    const next = await readTokens(path);
    if (next.isErr()) {
      debug('token file %s: %s (the previous tokens stay)', path, next.error.message);
      publish('tokensError', () => ({ path, error: next.error }));
      try {
        options.onError?.(next.error);
      } catch (error) {
        publish('callbackError', () => ({ callback: 'onError', error }));
      }
      return;
    }
    inner.setTokens(next.value);
    debug('token file %s: reloaded, %d tokens', path, next.value.length);
    publish('tokensLoaded', () => ({ path, tokens: next.value.length }));
  }

  return {
    name: inner.name,
    path,
    get size() {
      return inner.size;
    },
    async authenticate(request) {
      // Concurrent calls share one check.
      checking ??= refresh().finally(() => {
        checking = undefined;
      });
      await checking;
      return inner.authenticate(request);
    },
  };
}
