/**
 * Test sizes for two runs: `npm test` (quick, for every change) and `npm run test:soak` (CI's slow step, with
 * `AMBIENT_KIT_SOAK=1`). A test that moves a lot of data runs both ways with the same code: small in the
 * normal suite, so the behaviour stays covered, and at full size in the soak run, which selects it by the
 * {@link SOAK_TAG} in its name (`vitest run -t soak-scaled`).
 * @module
 */

/** `true` in the soak run. */
export const SOAK: boolean = process.env['AMBIENT_KIT_SOAK'] === '1';

/** Put in the name of every test whose size comes from {@link soakScale}. */
export const SOAK_TAG = '[soak-scaled]';

/**
 * The quick size in the normal suite, the full one in the soak run.
 *
 * @param quick - For `npm test`.
 * @param soak - For `npm run test:soak`.
 * @returns One of them.
 * @example
 * ```ts
 * const TUNNELS = soakScale(110, 200);
 * ```
 */
export function soakScale<T>(quick: T, soak: T): T {
  return SOAK ? soak : quick;
}
