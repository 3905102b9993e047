/**
 * Byte-array comparison shared by the certificate parser, chain validation, bundles and SVIDs (Uint8Array in, no
 * `Buffer`, so the codec stays pure).
 * @module
 */

/**
 * Whether two byte arrays hold the same bytes.
 *
 * @param a - One array.
 * @param b - The other.
 * @returns `true` when lengths and every byte are equal.
 * @example
 * ```ts
 * equalBytes(cert.subject, issuer.issuer); // Names are compared byte-wise, as Go's x509 does
 * ```
 */
export function equalBytes(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}
