/**
 * JWT-SVIDs with `node:crypto`: the OpenSSL signature verifier for every allowed algorithm (RS*, PS*, ES*), the
 * package's JWT-SVID validator bound to it, and signing for tests and for the CA. The rules and the encoding
 * are the codec's (`codec/jwt-svid.ts`); this module only adds OpenSSL.
 * @module
 */
import { constants, createPrivateKey, createPublicKey, type KeyObject, sign, verify } from 'node:crypto';
import { base64UrlEncode } from '../codec/base64.js';
import { type PublicJwk, spkiFromJwk } from '../codec/jwk.js';
import {
  type JwsAlgorithmParameters,
  type JwtSignatureVerifier,
  type JwtSvidAlgorithm,
  type JwtSvidValidator,
  jwsAlgorithmParameters,
  jwsSigningInput,
  jwtSvidValidator,
  MAX_NUMERIC_DATE_SECONDS,
} from '../codec/jwt-svid.js';
import { requireSpiffeId, type SpiffeId } from '../codec/spiffe-id.js';

const keys = new WeakMap<PublicJwk, KeyObject>();

// The key options node:crypto signs and verifies a JWS algorithm with (RFC 7518 §3.3-3.5): ECDSA as raw
// `r || s`, RSA PKCS#1 v1.5, and PSS with salt = hash length.
function keyOptions(parameters: JwsAlgorithmParameters, key: KeyObject) {
  switch (parameters.family) {
    case 'ES':
      return { key, dsaEncoding: 'ieee-p1363' as const };
    case 'RS':
      return { key, padding: constants.RSA_PKCS1_PADDING };
    case 'PS':
      return { key, padding: constants.RSA_PKCS1_PSS_PADDING, saltLength: parameters.saltBytes };
  }
}

function keyObject(jwk: PublicJwk): KeyObject {
  let key = keys.get(jwk);
  if (key === undefined) {
    // Imported as SPKI DER: the package never hands node:crypto a JWK (see `crypto/keys.ts`).
    key = createPublicKey({ key: Buffer.from(spkiFromJwk(jwk)), format: 'der', type: 'spki' });
    keys.set(jwk, key);
  }
  return key;
}

/**
 * Verifies JWS signatures of every JWT-SVID algorithm with OpenSSL. Key objects are cached per bundle key (a
 * `WeakMap`: they live as long as the bundle does).
 *
 * @param algorithm - The token's `alg`.
 * @param jwk - The bundle key.
 * @param signingInput - The JWS signing input.
 * @param signature - The decoded signature.
 * @returns Whether it verifies.
 * @example
 * ```ts
 * validateJwtSvid(token, bundles, ['api'], { verifySignature: nodeJwtVerifier });
 * ```
 */
export const nodeJwtVerifier: JwtSignatureVerifier = (algorithm, jwk, signingInput, signature) => {
  const parameters = jwsAlgorithmParameters(algorithm);
  if (parameters.family === 'ES' ? jwk.kty !== 'EC' || jwk.crv !== parameters.curve : jwk.kty !== 'RSA')
    return false;
  try {
    return verify(parameters.hash, signingInput, keyOptions(parameters, keyObject(jwk)), signature);
  } catch {
    return false;
  }
};

/**
 * Validates a JWT-SVID with every allowed algorithm: the codec's validator (`jwtSvidValidator`) bound to
 * {@link nodeJwtVerifier}. The rules are the codec's; see `docs/spiffe.md` "JWT-SVIDs".
 *
 * @example
 * ```ts
 * const caller = validateJwtSvid(bearer, bundles, ['spiffe://example.org/api']);
 * if (caller.isErr()) respond(401, caller.error.code);
 * ```
 */
export const validateJwtSvid: JwtSvidValidator = jwtSvidValidator(nodeJwtVerifier);

/** Options of {@link signJwtSvid}. */
export interface SignJwtSvidOptions {
  /** `sub`. */
  readonly id: SpiffeId | string;
  /** `aud`: one audience (recommended, JWT-SVID standard §3.2) or several. */
  readonly audience: string | readonly string[];
  /** `exp`, or use `ttlMs`. */
  readonly expiresAt?: Date;
  /** Lifetime from now when `expiresAt` is not given (default 5 minutes, SPIRE's default JWT-SVID TTL). */
  readonly ttlMs?: number;
  /** The signing key (KeyObject or PEM). */
  readonly privateKey: KeyObject | string;
  /** `kid`: the key's ID in the JWT bundle. */
  readonly keyId: string;
  /** `alg` (default: ES256/ES384/ES512 by EC curve, RS256 for RSA). */
  readonly algorithm?: JwtSvidAlgorithm;
  /** Extra claims (never overriding sub/aud/exp/iat). */
  readonly claims?: Readonly<Record<string, unknown>>;
  /** The clock (default `Date.now`). */
  readonly now?: () => number;
}

function defaultAlgorithm(key: KeyObject): JwtSvidAlgorithm {
  if (key.asymmetricKeyType === 'rsa') return 'RS256';
  const curve = key.asymmetricKeyDetails?.namedCurve;
  if (curve === 'prime256v1') return 'ES256';
  if (curve === 'secp384r1') return 'ES384';
  if (curve === 'secp521r1') return 'ES512';
  throw new TypeError(`signJwtSvid: no JWT-SVID algorithm for a ${String(key.asymmetricKeyType)} key`);
}

function seconds(ms: number, what: string): number {
  const s = Math.floor(ms / 1000);
  if (!Number.isFinite(s) || Math.abs(s) > MAX_NUMERIC_DATE_SECONDS)
    throw new RangeError(`signJwtSvid: ${what} is not a representable date`);
  return s;
}

/**
 * Signs a JWT-SVID: header `{alg, kid, typ: "JWT"}`, claims `sub`, `aud`, `exp`, `iat` (+ extras), encoded by
 * the codec (`jwsSigningInput`) and signed with OpenSSL.
 *
 * @param options - Subject, audience, lifetime, key.
 * @returns The compact JWS.
 * @throws {TypeError} For a bad subject, key or algorithm.
 * @throws {RangeError} When `exp` or `iat` falls outside the range of dates.
 * @example
 * ```ts
 * const token = signJwtSvid({ id: 'spiffe://example.org/client', audience: 'api', privateKey, keyId: 'k1' });
 * ```
 */
export function signJwtSvid(options: SignJwtSvidOptions): string {
  const id = requireSpiffeId(options.id, 'signJwtSvid: id');
  const key =
    typeof options.privateKey === 'string' ? createPrivateKey(options.privateKey) : options.privateKey;
  const alg = options.algorithm ?? defaultAlgorithm(key);
  const nowMs = (options.now ?? Date.now)();
  const expMs = options.expiresAt?.getTime() ?? nowMs + (options.ttlMs ?? 5 * 60_000);
  const signingInput = jwsSigningInput(
    { alg, kid: options.keyId, typ: 'JWT' },
    {
      ...options.claims,
      sub: id.toString(),
      aud: typeof options.audience === 'string' ? options.audience : [...options.audience],
      exp: seconds(expMs, 'exp'),
      iat: seconds(nowMs, 'iat'),
    },
  );
  const parameters = jwsAlgorithmParameters(alg);
  const signature = sign(parameters.hash, Buffer.from(signingInput), keyOptions(parameters, key));
  return `${signingInput}.${base64UrlEncode(new Uint8Array(signature))}`;
}
