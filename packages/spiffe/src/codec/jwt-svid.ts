/**
 * JWT-SVIDs, the one implementation of the package (spiffe/spiffe@665a28f:standards/JWT-SVID.md; the rules are
 * summarised in `docs/spiffe.md` "JWT-SVIDs"): JWS compact serialisation, the `alg` allow-list, only
 * `alg`/`kid`/`typ` headers, `sub` a SPIFFE ID, `aud` required and matched against a non-empty expected list,
 * `exp` required, NumericDates inside the range of a JavaScript `Date`, and the key taken from the JWT bundle
 * of the `sub` trust domain. Encoding (the signing input) lives here too. Signature checks and signing are
 * injected: this layer verifies ES256/ES384/ES512 with @noble/curves, so it runs without `node:`; the runtime
 * entry binds the same validator to OpenSSL (`jwt/jwt-svid.ts`), which checks every allowed algorithm.
 * @module
 */
import { p256, p384, p521 } from '@noble/curves/nist.js';
import { err, ok, type Result } from 'neverthrow';
import { base64UrlDecode, base64UrlEncode } from './base64.js';
import type { JwtBundleSource } from './bundle-set.js';
import { quote, SpiffeError, type SpiffeErrorCode } from './errors.js';
import { isJsonObject, type JsonObject, parseJson } from './json.js';
import { type EcCurve, ecPointFromJwk, type PublicJwk } from './jwk.js';
import { parseSpiffeId, type SpiffeId } from './spiffe-id.js';

/**
 * The algorithms a JWT-SVID may use (spiffe/spiffe@665a28f:standards/JWT-SVID.md §2.1; go-spiffe
 * `v2/svid/jwtsvid/svid.go`). `none`, HS* and EdDSA are refused.
 */
export const JWT_SVID_ALGORITHMS = [
  'RS256',
  'RS384',
  'RS512',
  'ES256',
  'ES384',
  'ES512',
  'PS256',
  'PS384',
  'PS512',
] as const;

/** One of {@link JWT_SVID_ALGORITHMS}. */
export type JwtSvidAlgorithm = (typeof JWT_SVID_ALGORITHMS)[number];

/** Longest token accepted, in characters (checked before any decoding). */
export const MAX_JWT_BYTES: number = 16 * 1024;

/**
 * Default clock leeway for `exp`, `nbf` and `iat`: go-jose's `DefaultLeeway` of 1 minute, which go-spiffe's
 * `jwtsvid.ParseAndValidate` uses (go-jose/go-jose `jwt/validation.go`).
 */
export const DEFAULT_JWT_LEEWAY_MS = 60_000;

/** The protected header of a JWT-SVID. */
export interface JwtSvidHeader {
  /** The signature algorithm. */
  readonly alg: JwtSvidAlgorithm;
  /** The signing key's ID, if given (optional in the token, JWT-SVID standard §2.2). */
  readonly kid?: string;
  /** `JWT` or `JOSE`, if given (JWT-SVID standard §2.3). */
  readonly typ?: string;
}

/** A parsed JWT-SVID (validated or not, depending on how it was obtained). */
export interface JwtSvid {
  /** `sub`: the SPIFFE ID. */
  readonly id: SpiffeId;
  /** `aud`, always as a list. */
  readonly audience: readonly string[];
  /** `exp`. */
  readonly expiresAt: Date;
  /** `iat`, if present. */
  readonly issuedAt: Date | undefined;
  /** The protected header. */
  readonly header: JwtSvidHeader;
  /** Every claim, as decoded. */
  readonly claims: JsonObject;
  /** The token itself. */
  readonly token: string;
}

/**
 * Verifies a JWS signature: `true` valid, `false` invalid, `'unsupported'` when this verifier cannot check
 * that algorithm.
 */
export type JwtSignatureVerifier = (
  algorithm: JwtSvidAlgorithm,
  key: PublicJwk,
  signingInput: Uint8Array,
  signature: Uint8Array,
) => boolean | 'unsupported';

/** Options of {@link validateJwtSvid}. */
export interface ValidateJwtSvidOptions {
  /** The validation time (default now). */
  readonly now?: Date;
  /** Clock leeway for `exp`/`nbf`/`iat` (default {@link DEFAULT_JWT_LEEWAY_MS}). */
  readonly leewayMs?: number;
  /** The signature verifier (default {@link nobleJwtVerifier}: ES256/ES384/ES512 only). */
  readonly verifySignature?: JwtSignatureVerifier;
}

function fail(code: SpiffeErrorCode, why: string): Result<never, SpiffeError> {
  return err(new SpiffeError(code, `invalid JWT-SVID: ${why}`));
}

const ALLOWED_HEADERS = new Set(['alg', 'kid', 'typ']);
const TEXT = new TextDecoder('utf-8', { fatal: true });
const ENCODE = new TextEncoder();

function decodeJsonPart(part: string, what: string): Result<JsonObject, SpiffeError> {
  const bytes = base64UrlDecode(part);
  if (bytes === undefined) return fail('SPIFFE_ERR_JWT_MALFORMED', `${what} is not base64url`);
  let text: string;
  try {
    text = TEXT.decode(bytes);
  } catch {
    return fail('SPIFFE_ERR_JWT_MALFORMED', `${what} is not UTF-8`);
  }
  // Duplicate members are rejected (RFC 7515 §5.2 step 4; RFC 7519 §4).
  const parsed = parseJson(text, { maxBytes: MAX_JWT_BYTES, maxDepth: 16 });
  if (parsed.isErr()) return fail('SPIFFE_ERR_JWT_MALFORMED', `${what}: ${parsed.error.message}`);
  if (!isJsonObject(parsed.value)) return fail('SPIFFE_ERR_JWT_MALFORMED', `${what} is not a JSON object`);
  return ok(parsed.value);
}

/**
 * The largest NumericDate accepted, in seconds: a JavaScript `Date` spans ±8.64e15 ms (ECMA-262 §21.4.1.1), so
 * anything further out cannot be compared or reported and is refused as malformed rather than silently passing.
 */
export const MAX_NUMERIC_DATE_SECONDS = 8.64e12;

/**
 * A NumericDate (RFC 7519 §2: seconds since the epoch, integer or not; negative values are dates before 1970)
 * in milliseconds, `'absent'`, `'not-a-number'`, or `'out-of-range'` beyond {@link MAX_NUMERIC_DATE_SECONDS}.
 * Integers past 2^53 arrive as `bigint` from the strict JSON reader and are out of range too.
 */
function numericDate(value: unknown): number | 'absent' | 'not-a-number' | 'out-of-range' {
  if (value === undefined) return 'absent';
  if (typeof value === 'bigint') return 'out-of-range';
  if (typeof value !== 'number' || !Number.isFinite(value)) return 'not-a-number';
  if (Math.abs(value) > MAX_NUMERIC_DATE_SECONDS) return 'out-of-range';
  return value * 1000;
}

/** A JWT-SVID parsed with its signing input and signature, before any verification. */
interface Decoded {
  readonly svid: JwtSvid;
  readonly signingInput: Uint8Array;
  readonly signature: Uint8Array;
  readonly notBeforeMs: number | undefined;
}

function decode(token: string): Result<Decoded, SpiffeError> {
  if (typeof token !== 'string') throw new TypeError('JWT-SVID token must be a string');
  if (token.length > MAX_JWT_BYTES)
    return fail('SPIFFE_ERR_TOO_LARGE', `token exceeds ${MAX_JWT_BYTES} bytes`);
  const parts = token.split('.');
  // JWS compact serialisation only (spiffe/spiffe@665a28f:standards/JWT-SVID.md §5.1): exactly three parts; JWE has five.
  if (parts.length !== 3)
    return fail('SPIFFE_ERR_JWT_MALFORMED', 'expected three dot-separated parts (JWS compact)');
  const [h, p, s] = parts as [string, string, string];
  const header = decodeJsonPart(h, 'header');
  if (header.isErr()) return err(header.error);
  const hd = header.value;
  for (const name of Object.keys(hd)) {
    if (!ALLOWED_HEADERS.has(name))
      return fail('SPIFFE_ERR_JWT_HEADER', `header ${quote(name)} is not allowed (only alg, kid, typ)`);
  }
  const { alg, kid, typ } = hd;
  if (typeof alg !== 'string' || !(JWT_SVID_ALGORITHMS as readonly string[]).includes(alg)) {
    return fail('SPIFFE_ERR_JWT_ALGORITHM', `algorithm ${quote(String(alg))} is not allowed`);
  }
  if (kid !== undefined && typeof kid !== 'string')
    return fail('SPIFFE_ERR_JWT_HEADER', '"kid" must be a string');
  if (typ !== undefined && typ !== 'JWT' && typ !== 'JOSE')
    return fail('SPIFFE_ERR_JWT_HEADER', '"typ" must be JWT or JOSE');
  const payload = decodeJsonPart(p, 'payload');
  if (payload.isErr()) return err(payload.error);
  const claims = payload.value;
  const signature = base64UrlDecode(s);
  if (signature === undefined || signature.length === 0)
    return fail('SPIFFE_ERR_JWT_MALFORMED', 'signature is not base64url');

  const { sub, aud, exp, iat, nbf } = claims;
  if (typeof sub !== 'string') return fail('SPIFFE_ERR_JWT_MISSING_CLAIM', '"sub" is required');
  const id = parseSpiffeId(sub);
  if (id.isErr()) return err(new SpiffeError(id.error.code, `invalid JWT-SVID "sub": ${id.error.message}`));
  // spiffe/spiffe@665a28f:standards/JWT-SVID.md §3.2: aud MUST be present with at least one value.
  const audience =
    typeof aud === 'string'
      ? [aud]
      : Array.isArray(aud) && aud.every((a) => typeof a === 'string')
        ? (aud as string[])
        : undefined;
  if (audience === undefined || audience.length === 0)
    return fail('SPIFFE_ERR_JWT_MISSING_CLAIM', '"aud" must be a string or a non-empty list of strings');
  const expMs = numericDate(exp);
  if (expMs === 'absent' || expMs === 'not-a-number')
    return fail('SPIFFE_ERR_JWT_MISSING_CLAIM', '"exp" is required and must be a number');
  const issuedMs = numericDate(iat);
  const notBeforeMs = numericDate(nbf);
  if (issuedMs === 'not-a-number') return fail('SPIFFE_ERR_JWT_MALFORMED', '"iat" must be a number');
  if (notBeforeMs === 'not-a-number') return fail('SPIFFE_ERR_JWT_MALFORMED', '"nbf" must be a number');
  for (const [name, date] of [
    ['exp', expMs],
    ['iat', issuedMs],
    ['nbf', notBeforeMs],
  ] as const) {
    if (date === 'out-of-range') {
      return fail(
        'SPIFFE_ERR_JWT_MALFORMED',
        `"${name}" is outside the range of dates (at most ${MAX_NUMERIC_DATE_SECONDS} seconds from 1970)`,
      );
    }
  }
  return ok({
    svid: Object.freeze({
      id: id.value,
      audience: Object.freeze([...audience]),
      expiresAt: new Date(expMs as number),
      issuedAt: typeof issuedMs === 'number' ? new Date(issuedMs) : undefined,
      header: Object.freeze({
        alg: alg as JwtSvidAlgorithm,
        ...(kid === undefined ? {} : { kid }),
        ...(typ === undefined ? {} : { typ }),
      }),
      claims,
      token,
    }),
    signingInput: ENCODE.encode(`${h}.${p}`),
    signature,
    notBeforeMs: typeof notBeforeMs === 'number' ? notBeforeMs : undefined,
  });
}

/**
 * Parses a JWT-SVID without verifying its signature or times (go-spiffe `ParseInsecure`): for logging or
 * routing only, never for authentication.
 *
 * @param token - The compact JWS.
 * @returns The parsed token, or a structural error (`SPIFFE_ERR_JWT_MALFORMED`, `_HEADER`, `_ALGORITHM`,
 * `_MISSING_CLAIM`, an ID code for a bad `sub`, `SPIFFE_ERR_TOO_LARGE`).
 * @example
 * ```ts
 * parseJwtSvidInsecure(token)._unsafeUnwrap().id.toString();
 * ```
 */
export function parseJwtSvidInsecure(token: string): Result<JwtSvid, SpiffeError> {
  return decode(token).map((d) => d.svid);
}

/** How a JWS algorithm signs (RFC 7518 §3.3-3.5): its family, digest, PSS salt and EC curve. */
export interface JwsAlgorithmParameters {
  /** `RS` (RSASSA-PKCS1-v1_5), `ES` (ECDSA with raw `r || s`), `PS` (RSASSA-PSS). */
  readonly family: 'RS' | 'ES' | 'PS';
  /** The digest. */
  readonly hash: 'sha256' | 'sha384' | 'sha512';
  /** PSS salt length in bytes: the digest's length (RFC 7518 §3.5). */
  readonly saltBytes: number;
  /** For `ES`: the curve the key must be on (ES512 is P-521, RFC 7518 §3.4). */
  readonly curve: EcCurve | undefined;
}

/**
 * The parameters of a JWT-SVID algorithm, shared by every verifier and signer of the package.
 *
 * @param algorithm - One of {@link JWT_SVID_ALGORITHMS}.
 * @returns Family, digest, salt and curve.
 * @example
 * ```ts
 * jwsAlgorithmParameters('PS384'); // { family: 'PS', hash: 'sha384', saltBytes: 48, curve: undefined }
 * ```
 */
export function jwsAlgorithmParameters(algorithm: JwtSvidAlgorithm): JwsAlgorithmParameters {
  const bits = algorithm.slice(2) as '256' | '384' | '512';
  const family = algorithm.slice(0, 2) as JwsAlgorithmParameters['family'];
  const hash = bits === '256' ? 'sha256' : bits === '384' ? 'sha384' : 'sha512';
  const curve = family !== 'ES' ? undefined : bits === '256' ? 'P-256' : bits === '384' ? 'P-384' : 'P-521';
  return { family, hash, saltBytes: Number(bits) / 8, curve };
}

const ENCODE_JSON = (value: object): string => base64UrlEncode(ENCODE.encode(JSON.stringify(value)));

/**
 * The JWS signing input of a token, `base64url(header) "." base64url(claims)` (RFC 7515 §5.1), as the signer
 * signs it.
 *
 * @param header - The protected header.
 * @param claims - The claims.
 * @returns The signing input.
 * @example
 * ```ts
 * const input = jwsSigningInput({ alg: 'ES256', kid: 'k1', typ: 'JWT' }, { sub, aud, exp, iat });
 * const token = `${input}.${base64UrlEncode(signature)}`;
 * ```
 */
export function jwsSigningInput(header: JwtSvidHeader, claims: Readonly<Record<string, unknown>>): string {
  return `${ENCODE_JSON(header)}.${ENCODE_JSON(claims)}`;
}

const CURVES = { 'P-256': p256, 'P-384': p384, 'P-521': p521 } as const;

/**
 * Verifies ES256/ES384/ES512 signatures with @noble/curves (no `node:` needed). RS* and PS* report
 * `'unsupported'`; the runtime entry's verifier handles every algorithm.
 *
 * @param algorithm - The token's `alg`.
 * @param key - The bundle key.
 * @param signingInput - `base64url(header) "." base64url(payload)` as bytes.
 * @param signature - The raw `r || s` signature (RFC 7518 §3.4).
 * @returns Whether it verifies, or `'unsupported'`.
 * @example
 * ```ts
 * validateJwtSvid(token, bundles, ['my-service'], { verifySignature: nobleJwtVerifier });
 * ```
 */
export const nobleJwtVerifier: JwtSignatureVerifier = (algorithm, key, signingInput, signature) => {
  const { family, curve } = jwsAlgorithmParameters(algorithm);
  if (family !== 'ES' || curve === undefined) return 'unsupported';
  if (key.kty !== 'EC' || key.crv !== curve) return false;
  try {
    // JWS signatures are not low-S normalised (OpenSSL, Go), so high-S must verify too.
    return CURVES[curve].verify(signature, signingInput, ecPointFromJwk(key), {
      lowS: false,
      prehash: true,
      format: 'compact',
    });
  } catch {
    return false;
  }
};

/**
 * A JWT-SVID validator: `(token, bundles, audience, options?)`. See {@link jwtSvidValidator} for the rules.
 */
export type JwtSvidValidator = (
  token: string,
  bundles: JwtBundleSource,
  audience: readonly string[],
  options?: ValidateJwtSvidOptions,
) => Result<JwtSvid, SpiffeError>;

/**
 * Builds the package's one JWT-SVID validator around a signature verifier. The rules, in order: structure and
 * headers; the signature, with the key of the JWT bundle of the `sub` trust domain (by `kid` when the token
 * names one, otherwise each key of the bundle is tried); `exp`, `nbf` and `iat` with leeway; then that some
 * expected audience is in `aud`. `options.verifySignature` overrides the verifier for one call.
 *
 * @param verifySignature - The verifier to use when a call gives none.
 * @returns The validator. It returns the validated JWT-SVID or a `SpiffeError`, and throws `TypeError` when
 * `audience` is empty (go-jose silently skips the check then; the JWT-SVID standard §3.2 requires it).
 * @example
 * ```ts
 * const validate = jwtSvidValidator(nobleJwtVerifier);
 * validate(token, bundles, ['spiffe://example.org/api']);
 * ```
 */
export function jwtSvidValidator(verifySignature: JwtSignatureVerifier): JwtSvidValidator {
  return (token, bundles, audience, options = {}) => {
    if (!Array.isArray(audience) || audience.length === 0 || audience.some((a) => typeof a !== 'string')) {
      throw new TypeError('validateJwtSvid: audience must be a non-empty list of strings');
    }
    const verify = options.verifySignature ?? verifySignature;
    const leewayMs = options.leewayMs ?? DEFAULT_JWT_LEEWAY_MS;
    const nowMs = (options.now ?? new Date()).getTime();
    const decoded = decode(token);
    if (decoded.isErr()) return err(decoded.error);
    const { svid, signingInput, signature, notBeforeMs } = decoded.value;

    const bundle = bundles.getJwtBundleForTrustDomain(svid.id.trustDomain);
    if (bundle === undefined)
      return fail(
        'SPIFFE_ERR_NO_BUNDLE',
        `no JWT bundle for trust domain ${quote(svid.id.trustDomain.name)}`,
      );
    const kid = svid.header.kid;
    const candidates =
      kid === undefined
        ? [...bundle.authorities.values()]
        : [bundle.authorities.get(kid)].filter((a) => a !== undefined);
    if (candidates.length === 0) {
      return fail(
        'SPIFFE_ERR_JWT_KEY_NOT_FOUND',
        kid === undefined
          ? 'the JWT bundle has no keys'
          : `no key ${quote(kid)} in the JWT bundle of ${quote(svid.id.trustDomain.name)}`,
      );
    }
    let valid = false;
    for (const authority of candidates) {
      const result = verify(svid.header.alg, authority.publicKey, signingInput, signature);
      if (result === 'unsupported')
        return fail('SPIFFE_ERR_UNSUPPORTED_ALGORITHM', `this verifier cannot check ${svid.header.alg}`);
      if (result) {
        valid = true;
        break;
      }
    }
    if (!valid) return fail('SPIFFE_ERR_BAD_SIGNATURE', 'signature does not verify');

    if (nowMs > svid.expiresAt.getTime() + leewayMs)
      return fail('SPIFFE_ERR_JWT_EXPIRED', `expired at ${svid.expiresAt.toISOString()}`);
    if (notBeforeMs !== undefined && nowMs < notBeforeMs - leewayMs)
      return fail('SPIFFE_ERR_JWT_NOT_YET_VALID', `not valid before ${new Date(notBeforeMs).toISOString()}`);
    if (svid.issuedAt !== undefined && nowMs < svid.issuedAt.getTime() - leewayMs)
      return fail('SPIFFE_ERR_JWT_NOT_YET_VALID', 'issued in the future');
    if (!audience.some((a) => svid.audience.includes(a))) {
      return fail(
        'SPIFFE_ERR_JWT_AUDIENCE',
        `audience ${quote(svid.audience.join(', '))} does not include ${quote(audience.join(', '))}`,
      );
    }
    return ok(svid);
  };
}

/**
 * Validates a JWT-SVID in any JavaScript runtime: {@link jwtSvidValidator} bound to {@link nobleJwtVerifier},
 * so ES256/ES384/ES512 verify and the RS and PS algorithms are `SPIFFE_ERR_UNSUPPORTED_ALGORITHM` (the runtime
 * entry's `validateJwtSvid` is the same validator bound to OpenSSL, which checks every algorithm).
 *
 * @param token - The compact JWS (e.g. from `Authorization: Bearer <token>`).
 * @param bundles - JWT bundles by trust domain.
 * @param audience - The audiences this validator accepts: at least one.
 * @param options - Time, leeway, signature verifier.
 * @returns The validated JWT-SVID, or a `SpiffeError`.
 * @throws {TypeError} When `audience` is empty.
 * @example
 * ```ts
 * const svid = validateJwtSvid(token, bundles, ['spiffe://example.org/api'])._unsafeUnwrap();
 * svid.id.toString(); // the caller
 * ```
 */
export const validateJwtSvid: JwtSvidValidator = jwtSvidValidator(nobleJwtVerifier);
