/**
 * JWT-SVIDs with `node:crypto`: verification of every allowed algorithm (RS*, PS*, ES*) and signing, for tests
 * and for the CA.
 * @module
 */
import {
  constants,
  createPrivateKey,
  createPublicKey,
  type KeyObject,
  type SignKeyObjectInput,
  sign,
  verify,
} from 'node:crypto';
import type { Result } from 'neverthrow';
import { base64UrlEncode } from '../codec/base64.js';
import type { JwtBundleSource } from '../codec/bundle-set.js';
import type { SpiffeError } from '../codec/errors.js';
import type { PublicJwk } from '../codec/jwk.js';
import {
  type JwtSignatureVerifier,
  type JwtSvid,
  type JwtSvidAlgorithm,
  type ValidateJwtSvidOptions,
  validateJwtSvid as validateWith,
} from '../codec/jwt-svid.js';
import { requireSpiffeId, type SpiffeId } from '../codec/spiffe-id.js';

const HASH = { '256': 'sha256', '384': 'sha384', '512': 'sha512' } as const;
const SALT = { '256': 32, '384': 48, '512': 64 } as const;
const CURVE = { '256': 'P-256', '384': 'P-384', '512': 'P-521' } as const;

const keys = new WeakMap<PublicJwk, KeyObject>();

// The digest and key options node:crypto signs and verifies a JWS algorithm with (RFC 7518 §3.3-3.5): ECDSA as
// raw `r || s`, RSA PKCS#1 v1.5, and PSS with salt = hash length.
function jwsParameters(
  algorithm: JwtSvidAlgorithm,
  key: KeyObject,
): { hash: (typeof HASH)[keyof typeof HASH]; options: SignKeyObjectInput } {
  const bits = algorithm.slice(2) as keyof typeof HASH;
  const family = algorithm.slice(0, 2);
  const options: SignKeyObjectInput =
    family === 'ES'
      ? { key, dsaEncoding: 'ieee-p1363' }
      : family === 'RS'
        ? { key, padding: constants.RSA_PKCS1_PADDING }
        : { key, padding: constants.RSA_PKCS1_PSS_PADDING, saltLength: SALT[bits] };
  return { hash: HASH[bits], options };
}

function keyObject(jwk: PublicJwk): KeyObject {
  let key = keys.get(jwk);
  if (key === undefined) {
    key = createPublicKey({ key: { ...jwk }, format: 'jwk' });
    keys.set(jwk, key);
  }
  return key;
}

/**
 * Verifies JWS signatures of every JWT-SVID algorithm with OpenSSL (RFC 7518 §3.3-3.5: PKCS#1 v1.5, ECDSA with
 * raw `r || s`, PSS with salt = hash length). Key objects are cached per bundle key.
 *
 * @param algorithm - The token's `alg`.
 * @param jwk - The bundle key.
 * @param signingInput - The JWS signing input.
 * @param signature - The decoded signature.
 * @returns Whether it verifies.
 * @example
 * ```ts
 * codecValidateJwtSvid(token, bundles, ['api'], { verifySignature: nodeJwtVerifier });
 * ```
 */
export const nodeJwtVerifier: JwtSignatureVerifier = (algorithm, jwk, signingInput, signature) => {
  const family = algorithm.slice(0, 2);
  const bits = algorithm.slice(2) as '256' | '384' | '512';
  if (family === 'ES' ? jwk.kty !== 'EC' || jwk.crv !== CURVE[bits] : jwk.kty !== 'RSA') return false;
  try {
    const { hash, options } = jwsParameters(algorithm, keyObject(jwk));
    return verify(hash, signingInput, options, signature);
  } catch {
    return false;
  }
};

/**
 * Validates a JWT-SVID with every allowed algorithm (the codec's `validateJwtSvid` with {@link nodeJwtVerifier}
 * as the default verifier). See the codec function for the rules.
 *
 * @param token - The compact JWS.
 * @param bundles - JWT bundles by trust domain.
 * @param audience - Accepted audiences: at least one.
 * @param options - Time, leeway, verifier.
 * @returns The validated JWT-SVID, or a `SpiffeError`.
 * @throws {TypeError} When `audience` is empty.
 * @example
 * ```ts
 * const caller = validateJwtSvid(bearer, bundles, ['spiffe://example.org/api']);
 * if (caller.isErr()) return respond(401, caller.error.code);
 * ```
 */
export function validateJwtSvid(
  token: string,
  bundles: JwtBundleSource,
  audience: readonly string[],
  options: ValidateJwtSvidOptions = {},
): Result<JwtSvid, SpiffeError> {
  return validateWith(token, bundles, audience, { verifySignature: nodeJwtVerifier, ...options });
}

/** Options of {@link signJwtSvid}. */
export interface SignJwtSvidOptions {
  /** `sub`. */
  readonly id: SpiffeId | string;
  /** `aud`: one audience (recommended, JWT §3.2) or several. */
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

/**
 * Signs a JWT-SVID: header `{alg, kid, typ: "JWT"}`, claims `sub`, `aud`, `exp`, `iat` (+ extras).
 *
 * @param options - Subject, audience, lifetime, key.
 * @returns The compact JWS.
 * @throws {TypeError} For a bad subject, key or algorithm.
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
  const header = { alg, kid: options.keyId, typ: 'JWT' };
  const claims = {
    ...options.claims,
    sub: id.toString(),
    aud: typeof options.audience === 'string' ? options.audience : [...options.audience],
    exp: Math.floor(expMs / 1000),
    iat: Math.floor(nowMs / 1000),
  };
  const enc = (value: object): string => base64UrlEncode(new TextEncoder().encode(JSON.stringify(value)));
  const signingInput = `${enc(header)}.${enc(claims)}`;
  const { hash, options: signOptions } = jwsParameters(alg, key);
  const signature = sign(hash, Buffer.from(signingInput), signOptions);
  return `${signingInput}.${base64UrlEncode(new Uint8Array(signature))}`;
}
