/**
 * The one error class of `@ambient-kit/native-hbone`, with stable codes (`docs/native-hbone.md` "Error
 * codes"; a test keeps the table and {@link NATIVE_HBONE_ERROR_CODES} in sync).
 * @module
 */
import { HboneError } from '@ambient-kit/hbone';

/**
 * Every code a {@link NativeHboneError} can carry (the "Error codes" table of docs/native-hbone.md).
 *
 * @example
 * ```ts
 * if (NATIVE_HBONE_ERROR_CODES.includes(code)) console.log('one of ours');
 * ```
 */
export const NATIVE_HBONE_ERROR_CODES = [
  'NATIVE_HBONE_ERR_CONFIG',
  'NATIVE_HBONE_ERR_NO_SOURCE',
  'NATIVE_HBONE_ERR_NO_ROUTE',
  'NATIVE_HBONE_ERR_OUTSIDE_MESH',
  'NATIVE_HBONE_ERR_PEER_IDENTITY',
  'NATIVE_HBONE_ERR_DENIED',
  'NATIVE_HBONE_ERR_UNAVAILABLE',
  'NATIVE_HBONE_ERR_CONNECT_TIMEOUT',
  'NATIVE_HBONE_ERR_CONNECT_FAILED',
  'NATIVE_HBONE_ERR_CLOSED',
] as const;

/** A code of {@link NativeHboneError}. */
export type NativeHboneErrorCode = (typeof NATIVE_HBONE_ERROR_CODES)[number];

/** Where a failed connection was going, when the mesh had chosen an upstream. */
export interface NativeHboneErrorTarget {
  /** The host and port the app asked for (`reviews:9080`). */
  readonly destination: string;
  /** The TCP hop (`10.244.0.7:15008`), when one was chosen. */
  readonly address?: string;
  /** The CONNECT `:authority`, for HBONE. */
  readonly authority?: string;
  /** The SPIFFE IDs the hop was allowed to present. */
  readonly expectedIdentities?: readonly string[];
}

/**
 * The error of every failure in this package. `code` is stable; `status` is the HBONE answer (401, 503) when
 * there was one; `hboneCode` the `@ambient-kit/hbone` code underneath, when there was one.
 *
 * `fetch()` wraps connect failures: the `NativeHboneError` is the `TypeError`'s `cause`.
 *
 * @example
 * ```ts
 * import { NativeHboneError } from '@ambient-kit/native-hbone';
 * import { fetch } from 'undici';
 *
 * try {
 *   await fetch('http://reviews:9080/', { dispatcher });
 * } catch (error) {
 *   if (error instanceof TypeError && error.cause instanceof NativeHboneError) console.log(error.cause.code);
 * }
 * ```
 */
export class NativeHboneError extends Error {
  override readonly name = 'NativeHboneError';
  readonly code: NativeHboneErrorCode;
  readonly status: number | undefined;
  readonly hboneCode: string | undefined;
  readonly target: NativeHboneErrorTarget | undefined;

  /**
   * @param code - The stable code.
   * @param message - What happened, for people.
   * @param options - The cause, the HBONE status and code, where it was going.
   */
  constructor(
    code: NativeHboneErrorCode,
    message: string,
    options: {
      readonly cause?: unknown;
      readonly status?: number;
      readonly hboneCode?: string;
      readonly target?: NativeHboneErrorTarget;
    } = {},
  ) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.code = code;
    this.status = options.status;
    this.hboneCode = options.hboneCode;
    this.target = options.target;
  }
}

/**
 * Maps a failure of `@ambient-kit/hbone` (or of a plain TCP dial) to this package's codes.
 *
 * @param error - What the HBONE client or the dial threw.
 * @param target - Where the connection was going.
 * @returns The typed error.
 * @example
 * ```ts
 * fromHboneError(new HboneError('HBONE_ERR_POLICY_DENIED', 'denied', { status: 401 }), { destination: 'a:80' }).code;
 * // 'NATIVE_HBONE_ERR_DENIED'
 * ```
 */
export function fromHboneError(error: unknown, target: NativeHboneErrorTarget): NativeHboneError {
  if (error instanceof NativeHboneError) return error;
  const where =
    target.address === undefined ? target.destination : `${target.destination} via ${target.address}`;
  if (!(error instanceof HboneError)) {
    const e = error as { message?: string; code?: string };
    const code =
      e.code === 'ETIMEDOUT' ? 'NATIVE_HBONE_ERR_CONNECT_TIMEOUT' : 'NATIVE_HBONE_ERR_CONNECT_FAILED';
    return new NativeHboneError(code, `connect to ${where} failed: ${e.message ?? String(error)}`, {
      cause: error,
      target,
    });
  }
  const base = { cause: error, hboneCode: error.code, target } as const;
  const withStatus = error.status === undefined ? base : { ...base, status: error.status };
  if (error.code === 'HBONE_ERR_POLICY_DENIED' || error.status === 401) {
    return new NativeHboneError(
      'NATIVE_HBONE_ERR_DENIED',
      `${where}: denied by policy (${error.message})`,
      withStatus,
    );
  }
  if (error.code === 'HBONE_ERR_PEER_IDENTITY') {
    return new NativeHboneError(
      'NATIVE_HBONE_ERR_PEER_IDENTITY',
      `${where}: the peer did not present an expected identity (${(target.expectedIdentities ?? []).join(', ')}): ${error.message}`,
      withStatus,
    );
  }
  if (error.status !== undefined && error.status !== 200) {
    return new NativeHboneError(
      'NATIVE_HBONE_ERR_UNAVAILABLE',
      `${where}: answered ${error.status} (${error.message})`,
      withStatus,
    );
  }
  if (error.code === 'HBONE_ERR_CONNECT_TIMEOUT' || error.code === 'HBONE_ERR_RESPONSE_TIMEOUT') {
    return new NativeHboneError('NATIVE_HBONE_ERR_CONNECT_TIMEOUT', `${where}: ${error.message}`, withStatus);
  }
  if (error.code === 'HBONE_ERR_CLOSED') {
    return new NativeHboneError('NATIVE_HBONE_ERR_CLOSED', `${where}: ${error.message}`, withStatus);
  }
  return new NativeHboneError('NATIVE_HBONE_ERR_CONNECT_FAILED', `${where}: ${error.message}`, withStatus);
}
