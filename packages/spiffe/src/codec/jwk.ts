/**
 * Public JSON Web Keys (RFC 7517, RFC 7518 §6) as SPIFFE bundles carry them: EC P-256/P-384/P-521 and RSA.
 * Also the bridge from a certificate's SubjectPublicKeyInfo to a JWK, for serialising bundles.
 * @module
 */
import { err, ok, type Result } from 'neverthrow';
import { base64UrlDecode, base64UrlEncode } from './base64.js';
import { expectTlv, readChildren, TAG } from './der/reader.js';
import { derBitString, derOid, derSequence, derUnsignedInteger } from './der/writer.js';
import { quote, SpiffeError } from './errors.js';
import { parseSubjectPublicKeyInfo } from './x509/certificate.js';
import { OID } from './x509/oids.js';

/** EC curves usable in JWT-SVIDs (ES256, ES384, ES512; RFC 7518 §3.4). */
export type EcCurve = 'P-256' | 'P-384' | 'P-521';

/** A public JWK this package accepts. Members are base64url (RFC 7518 §6.2.1, §6.3.1). */
export type PublicJwk =
  | { readonly kty: 'EC'; readonly crv: EcCurve; readonly x: string; readonly y: string }
  | { readonly kty: 'RSA'; readonly n: string; readonly e: string };

/** Byte length of a coordinate per curve (RFC 7518 §6.2.1.2: full length, zero-padded). */
export const EC_COORDINATE_BYTES: Readonly<Record<EcCurve, number>> = {
  'P-256': 32,
  'P-384': 48,
  'P-521': 66,
};

/**
 * Smallest RSA modulus accepted, in bits (Istio's floor for workload keys,
 * istio/istio@86c9f01f:security/pkg/pki/util/generate_csr.go).
 */
export const MIN_RSA_MODULUS_BITS = 2048;

const CURVE_OID: Readonly<Record<EcCurve, string>> = {
  'P-256': OID.prime256v1,
  'P-384': OID.secp384r1,
  'P-521': OID.secp521r1,
};

function bad(why: string): Result<never, SpiffeError> {
  return err(new SpiffeError('SPIFFE_ERR_BUNDLE', `invalid JWK: ${why}`));
}

function modulusBits(n: Uint8Array): number {
  let i = 0;
  while (i < n.length && n[i] === 0) i++;
  if (i === n.length) return 0;
  return (n.length - i - 1) * 8 + (32 - Math.clz32(n[i] as number));
}

/**
 * Validates a JWK's public members. Private members (`d`, `p`, …) are refused: a bundle must never carry
 * them.
 *
 * @param jwk - A parsed JSON object.
 * @returns The public key, or `SPIFFE_ERR_BUNDLE`; `undefined` inside `ok` for a `kty` this package does not
 * know (callers ignore such keys, spiffe/spiffe@665a28f:standards/SPIFFE_Trust_Domain_and_Bundle.md §4.2.1).
 * @example
 * ```ts
 * parsePublicJwk({ kty: 'EC', crv: 'P-256', x: '…', y: '…' });
 * ```
 */
export function parsePublicJwk(
  jwk: Readonly<Record<string, unknown>>,
): Result<PublicJwk | undefined, SpiffeError> {
  const { kty } = jwk;
  if (typeof kty !== 'string') return bad('"kty" must be a string');
  if ('d' in jwk) return bad('a bundle key must not carry private material');
  if (kty === 'EC') {
    const { crv, x, y } = jwk;
    if (crv !== 'P-256' && crv !== 'P-384' && crv !== 'P-521')
      return bad(`unsupported curve ${quote(String(crv))}`);
    if (typeof x !== 'string' || typeof y !== 'string') return bad('"x" and "y" must be strings');
    const size = EC_COORDINATE_BYTES[crv];
    if (base64UrlDecode(x)?.length !== size || base64UrlDecode(y)?.length !== size) {
      return bad(`"x"/"y" must be ${size}-byte base64url`);
    }
    return ok({ kty, crv, x, y });
  }
  if (kty === 'RSA') {
    const { n, e } = jwk;
    if (typeof n !== 'string' || typeof e !== 'string') return bad('"n" and "e" must be strings');
    const nb = base64UrlDecode(n);
    const eb = base64UrlDecode(e);
    if (nb === undefined || eb === undefined || eb.length === 0 || eb.length > 8)
      return bad('malformed "n" or "e"');
    if (modulusBits(nb) < MIN_RSA_MODULUS_BITS) return bad(`RSA modulus below ${MIN_RSA_MODULUS_BITS} bits`);
    return ok({ kty, n, e });
  }
  return ok(undefined);
}

/**
 * The uncompressed EC point (`04 || x || y`) of an EC JWK, as @noble/curves and SPKI carry it.
 *
 * @param jwk - An EC public JWK (already validated).
 * @returns The point.
 * @example
 * ```ts
 * const point = ecPointFromJwk(jwk);
 * ```
 */
export function ecPointFromJwk(jwk: Extract<PublicJwk, { kty: 'EC' }>): Uint8Array {
  const x = base64UrlDecode(jwk.x) ?? new Uint8Array();
  const y = base64UrlDecode(jwk.y) ?? new Uint8Array();
  const point = new Uint8Array(1 + x.length + y.length);
  point[0] = 4;
  point.set(x, 1);
  point.set(y, 1 + x.length);
  return point;
}

/**
 * Converts a SubjectPublicKeyInfo (RFC 5280 §4.1.2.7) to a public JWK: EC named curves (uncompressed points)
 * and RSA.
 *
 * @param spki - The DER SubjectPublicKeyInfo.
 * @returns The JWK, or `SPIFFE_ERR_UNSUPPORTED_ALGORITHM` for other key types.
 * @example
 * ```ts
 * const jwk = jwkFromSpki(cert.subjectPublicKeyInfo)._unsafeUnwrap();
 * ```
 */
export function jwkFromSpki(spki: Uint8Array): Result<PublicJwk, SpiffeError> {
  const parsed = parseSubjectPublicKeyInfo(spki);
  if (parsed.isErr()) return err(parsed.error);
  const { kind, namedCurveOid, publicKey: key } = parsed.value;
  if (kind === 'ec') {
    const crv = (Object.keys(CURVE_OID) as EcCurve[]).find((c) => CURVE_OID[c] === namedCurveOid);
    if (crv !== undefined) {
      const size = EC_COORDINATE_BYTES[crv];
      if (key.length !== 1 + 2 * size || key[0] !== 4) {
        return err(
          new SpiffeError('SPIFFE_ERR_UNSUPPORTED_ALGORITHM', 'only uncompressed EC points are supported'),
        );
      }
      return ok({
        kty: 'EC',
        crv,
        x: base64UrlEncode(key.subarray(1, 1 + size)),
        y: base64UrlEncode(key.subarray(1 + size)),
      });
    }
  }
  if (kind === 'rsa') {
    try {
      const rsa = expectTlv(key, 0, key.length, TAG.sequence, 'RSAPublicKey');
      const [n, e] = readChildren(key, rsa, 2);
      if (n === undefined || e === undefined)
        return err(new SpiffeError('SPIFFE_ERR_DER', 'malformed RSAPublicKey'));
      const strip = (b: Uint8Array): Uint8Array => (b.length > 1 && b[0] === 0 ? b.subarray(1) : b);
      return ok({
        kty: 'RSA',
        n: base64UrlEncode(strip(key.subarray(n.valueStart, n.end))),
        e: base64UrlEncode(strip(key.subarray(e.valueStart, e.end))),
      });
    } catch (error) {
      if (error instanceof SpiffeError) return err(error);
      throw error;
    }
  }
  return err(new SpiffeError('SPIFFE_ERR_UNSUPPORTED_ALGORITHM', `no JWK form for a ${kind} key`));
}

/**
 * Converts a public JWK to a DER SubjectPublicKeyInfo (the inverse of {@link jwkFromSpki}).
 *
 * @param jwk - A validated public JWK.
 * @returns The SPKI.
 * @example
 * ```ts
 * const spki = spkiFromJwk({ kty: 'EC', crv: 'P-256', x, y });
 * ```
 */
export function spkiFromJwk(jwk: PublicJwk): Uint8Array {
  if (jwk.kty === 'EC') {
    return derSequence(
      derSequence(derOid(OID.ecPublicKey), derOid(CURVE_OID[jwk.crv])),
      derBitString(ecPointFromJwk(jwk)),
    );
  }
  const n = base64UrlDecode(jwk.n) ?? new Uint8Array();
  const e = base64UrlDecode(jwk.e) ?? new Uint8Array();
  return derSequence(
    derSequence(derOid(OID.rsaEncryption), new Uint8Array([TAG.null, 0])),
    derBitString(derSequence(derUnsignedInteger(n), derUnsignedInteger(e))),
  );
}
