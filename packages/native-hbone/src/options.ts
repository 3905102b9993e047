/**
 * Option checks shared by the client and the server: an unknown option is an error naming it, as every
 * config in ambient-kit is checked (`docs/contributing.md`).
 * @module
 */
import { NativeHboneError } from './errors.js';

/**
 * Rejects an options object that is not an object or has a field not in `known`.
 *
 * @param owner - The factory, for the message.
 * @param options - What the caller passed.
 * @param known - The allowed field names.
 * @throws {NativeHboneError} `NATIVE_HBONE_ERR_CONFIG`.
 * @example
 * ```ts
 * checkFields('createMeshDispatcher', options, ['svid', 'bundles', 'store', 'source']);
 * ```
 */
export function checkFields(owner: string, options: unknown, known: readonly string[]): void {
  if (typeof options !== 'object' || options === null || Array.isArray(options)) {
    throw new NativeHboneError('NATIVE_HBONE_ERR_CONFIG', `${owner}: options must be an object`);
  }
  for (const key of Object.keys(options)) {
    if (!known.includes(key)) {
      throw new NativeHboneError(
        'NATIVE_HBONE_ERR_CONFIG',
        `${owner}: options.${key}: unknown field (known: ${known.join(', ')})`,
      );
    }
  }
}

/**
 * Rejects a missing required field.
 *
 * @param owner - The factory, for the message.
 * @param name - The field.
 * @param value - Its value.
 * @param what - What it must be, for the message.
 * @param ok - Whether the value is acceptable.
 * @throws {NativeHboneError} `NATIVE_HBONE_ERR_CONFIG`.
 * @example
 * ```ts
 * requireField('createMeshServer', 'svid', options.svid, 'an SvidSource or X509Svid', (v) => v !== undefined);
 * ```
 */
export function requireField(
  owner: string,
  name: string,
  value: unknown,
  what: string,
  ok: (value: unknown) => boolean,
): void {
  if (!ok(value)) {
    throw new NativeHboneError('NATIVE_HBONE_ERR_CONFIG', `${owner}: options.${name}: must be ${what}`);
  }
}
