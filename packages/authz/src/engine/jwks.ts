/**
 * A JSON Web Key Set as Envoy's `jwt_authn` reads it, and the signature check against it
 * (google/jwt_verify_lib@b59e8075:src/jwks.cc `createFromJwksCore`, `extractJwk*`; src/verify.cc
 * `verifyJwtWithoutTimeChecking`): keys that do not parse are dropped (a set left without keys is
 * `JwksNoValidKeys`); a token's `kid`, when both sides have one, picks the keys, and a key's `alg`, when it has
 * one, must equal the token's; the first key that verifies wins; no key passing the `kid`/`alg` filter is
 * `JwksKidAlgMismatch`, keys that were tried but did not verify `JwtVerificationFail`.
 *
 * Key import and signature verification are `jose` (RFC 7515/7517/7518 via WebCrypto). Two deliberate
 * differences, both towards refusing: `oct` keys never verify (RequestAuthentication here accepts only the
 * asymmetric algorithms RS*, PS*, ES*, EdDSA; Envoy would accept HS* against an `oct` key in the set), and a
 * key is only used with the algorithm its type is for (jwt_verify_lib would check an EC key's ECDSA signature
 * under any `alg` other than ES384/ES512 as if it were ES256).
 * @module
 */

import { compactVerify, importJWK } from 'jose';
import type { JwtStatus } from './jwt-status.js';
import { decodeBase64Url, type ParsedJwt } from './jwt-token.js';

/** The largest JWKS document read (inline or fetched). */
export const MAX_JWKS_BYTES: number = 1024 * 1024;

/** One usable key of a set. */
interface JwkEntry {
  readonly kty: 'RSA' | 'EC' | 'OKP' | 'oct';
  /** `''` when absent. */
  readonly kid: string;
  /** `''` when absent. */
  readonly alg: string;
  /** The public part only, for import (so `use`, `key_ops` and `ext` play no part, as in jwt_verify_lib). */
  readonly jwk: Readonly<Record<string, string>>;
  /** Imported keys by algorithm. */
  readonly imported: Map<string, Promise<CryptoKey | undefined>>;
  /** The same, once imported (so the common case needs no await). */
  readonly ready: Map<string, CryptoKey | undefined>;
}

/** A parsed key set. */
export interface JwksKeySet {
  /** `Ok`, or `JwksNoValidKeys` when nothing usable was found. */
  readonly status: 'Ok' | 'JwksNoValidKeys';
  /** How many keys are usable. */
  readonly size: number;
  /** The `kid`s of the usable keys. */
  readonly kids: ReadonlySet<string>;
  /** @internal The keys. */
  readonly keys: readonly JwkEntry[];
}

const EC_ALG_FOR_CRV: Readonly<Record<string, string>> = {
  'P-256': 'ES256',
  'P-384': 'ES384',
  'P-521': 'ES512',
};

function str(obj: Record<string, unknown>, name: string): string | undefined {
  const v = Object.hasOwn(obj, name) ? obj[name] : undefined;
  return typeof v === 'string' ? v : undefined;
}

function importFor(entry: JwkEntry, alg: string): Promise<CryptoKey | undefined> {
  let key = entry.imported.get(alg);
  if (key === undefined) {
    key = importJWK({ ...entry.jwk }, alg).then(
      (k) => {
        const usable = k instanceof Uint8Array ? undefined : k;
        entry.ready.set(alg, usable);
        return usable;
      },
      () => {
        entry.ready.set(alg, undefined);
        return undefined;
      },
    );
    entry.imported.set(alg, key);
  }
  return key;
}

// jwks.cc extractJwk and the per-kty extractors: the entry, or undefined for a key jwt_verify_lib drops.
function readKey(raw: Record<string, unknown>): JwkEntry | undefined {
  const kty = str(raw, 'kty');
  const kid = str(raw, 'kid') ?? '';
  const alg = str(raw, 'alg') ?? '';
  const entry = (k: JwkEntry['kty'], jwk: Record<string, string>): JwkEntry => ({
    kty: k,
    kid,
    alg,
    jwk,
    imported: new Map(),
    ready: new Map(),
  });
  switch (kty) {
    case 'RSA': {
      if (alg !== '' && !alg.startsWith('RS') && !alg.startsWith('PS')) return undefined;
      const n = str(raw, 'n');
      const e = str(raw, 'e');
      if (n === undefined || e === undefined) return undefined;
      return entry('RSA', { kty: 'RSA', n, e });
    }
    case 'EC': {
      if (alg !== '' && !alg.startsWith('ES')) return undefined;
      const crvRaw = Object.hasOwn(raw, 'crv') ? raw['crv'] : undefined;
      if (crvRaw !== undefined && typeof crvRaw !== 'string') return undefined;
      let crv = crvRaw ?? '';
      if (alg !== '' && crv !== '' && EC_ALG_FOR_CRV[crv] !== alg) return undefined;
      if (alg === '' && crv === '') crv = 'P-256';
      if (crv === '')
        crv = alg === 'ES256' ? 'P-256' : alg === 'ES384' ? 'P-384' : alg === 'ES512' ? 'P-521' : '';
      if (EC_ALG_FOR_CRV[crv] === undefined) return undefined;
      const x = str(raw, 'x');
      const y = str(raw, 'y');
      if (x === undefined || y === undefined) return undefined;
      return entry('EC', { kty: 'EC', crv, x, y });
    }
    case 'OKP': {
      if (alg !== '' && alg !== 'EdDSA') return undefined;
      if (str(raw, 'crv') !== 'Ed25519') return undefined;
      const x = str(raw, 'x');
      if (x === undefined || decodeBase64Url(x)?.length !== 32) return undefined;
      return entry('OKP', { kty: 'OKP', crv: 'Ed25519', x });
    }
    case 'oct': {
      if (alg !== '' && alg !== 'HS256' && alg !== 'HS384' && alg !== 'HS512') return undefined;
      const k = str(raw, 'k');
      if (k === undefined || decodeBase64Url(k) === undefined) return undefined;
      return entry('oct', {});
    }
    default:
      return undefined;
  }
}

// The algorithm a key is checked for at parse time (jwt_verify_lib builds the key object then).
function probeAlg(entry: JwkEntry): string | undefined {
  switch (entry.kty) {
    case 'RSA':
      return entry.alg === '' ? 'RS256' : entry.alg;
    case 'EC':
      return EC_ALG_FOR_CRV[entry.jwk['crv'] as string];
    case 'OKP':
      return 'EdDSA';
    default:
      return undefined;
  }
}

const NO_KEYS: JwksKeySet = { status: 'JwksNoValidKeys', size: 0, kids: new Set(), keys: [] };

/**
 * Parses JWKS text (at most {@link MAX_JWKS_BYTES}) into the keys Envoy would use: a JSON object with a `keys`
 * list; each key must have the fields its `kty` needs and public material `jose` can import (a key that does
 * not is dropped, as jwt_verify_lib drops a key it cannot build).
 *
 * @param text - The JWKS document.
 * @returns The key set; `status: 'JwksNoValidKeys'` when no key is usable.
 * @example
 * ```ts
 * const keys = await parseJwks(JSON.stringify({ keys: [publicJwk] }));
 * keys.status; // 'Ok'
 * ```
 */
export async function parseJwks(text: string): Promise<JwksKeySet> {
  if (typeof text !== 'string' || text.length > MAX_JWKS_BYTES) return NO_KEYS;
  let doc: unknown;
  try {
    doc = JSON.parse(text);
  } catch {
    return NO_KEYS;
  }
  if (typeof doc !== 'object' || doc === null || Array.isArray(doc)) return NO_KEYS;
  const list = (doc as Record<string, unknown>)['keys'];
  if (!Array.isArray(list)) return NO_KEYS;
  const keys: JwkEntry[] = [];
  for (const raw of list) {
    if (typeof raw !== 'object' || raw === null || Array.isArray(raw)) continue;
    const entry = readKey(raw as Record<string, unknown>);
    if (entry === undefined) continue;
    const alg = probeAlg(entry);
    if (alg !== undefined && (await importFor(entry, alg)) === undefined) continue;
    keys.push(entry);
  }
  if (keys.length === 0) return NO_KEYS;
  return {
    status: 'Ok',
    size: keys.length,
    kids: new Set(keys.map((k) => k.kid).filter((k) => k !== '')),
    keys,
  };
}

/** The key set istiod configures when it could not fetch a `jwksUri` (`PublicOnlyJwks`): nothing verifies. */
export const PUBLIC_ONLY_JWKS: string = JSON.stringify({
  keys: [
    {
      kty: 'RSA',
      e: 'AQAB',
      n:
        '0xObjM0UvS_oaazjpEYlAbwctEJ4L8pH3OuTb7qth7gUwqet-EzQB4dgFdvSdMgrLnSncQGRjpEYz3F3viIbH-3EN3TxSlPNviHxe' +
        'OdyiBVfumN8dMxbLvVJUpfNOnvmMxJcl-8NNjAwcOjk4otSALaYgYYyOPyvKtgVdrQr-FoubWX4yrjxW-MJ2-7OBeepUUNOsVwGV' +
        '23YX03sVkkyvY3otRflkBcY3_HKpBxJl9wk2GyOShN4_PNUF9-vwfnvOXMbCDX-w4PTef4geeb_GiT40YCKHTKMSPVanGRn5GExIW' +
        'mki-mmqh94-mPTJyBR74ShspL3BxPZitDL574T1w',
    },
  ],
});

/**
 * Whether a token names a `kid` that no key of the set has (what makes a resolver fetch the set again).
 *
 * @param jwt - The parsed token.
 * @param keys - The key set.
 * @returns `true` when the token has a `kid` and the set has no key with it.
 * @example
 * ```ts
 * hasUnknownKid(jwt, keys); // true after the issuer rotated to a new key
 * ```
 */
export function hasUnknownKid(jwt: ParsedJwt, keys: JwksKeySet): boolean {
  return jwt.kid !== '' && !keys.kids.has(jwt.kid);
}

/**
 * Checks a token's signature against a key set as `verifyJwtWithoutTimeChecking` does, with `jose` verifying.
 *
 * @param jwt - The parsed token.
 * @param keys - The key set.
 * @returns `Ok`, `JwtVerificationFail`, `JwksKidAlgMismatch`, `JwtEd25519SignatureWrongLength`, or
 *   `JwksNoValidKeys` for an empty set.
 * @example
 * ```ts
 * await verifyJwtSignature(jwt, keys); // 'Ok'
 * ```
 */
export function verifyJwtSignature(jwt: ParsedJwt, keys: JwksKeySet): Promise<JwtStatus> {
  if (keys.status !== 'Ok') return Promise.resolve('JwksNoValidKeys');
  try {
    return verifyFrom(jwt, keys.keys, 0, false);
  } catch (cause) {
    // Something that is not a parsed token rejects, as from an async function.
    return Promise.reject(cause);
  }
}

// jose's options for one algorithm, made once (`algorithms` pins the token's `alg` to the key's type).
const ONLY_ALG = new Map<string, { readonly algorithms: string[] }>();

function onlyAlg(alg: string): { readonly algorithms: string[] } {
  let options = ONLY_ALG.get(alg);
  if (options === undefined) {
    // Frozen: jose only reads it, and nothing else may change what every later check allows.
    options = Object.freeze({ algorithms: Object.freeze([alg]) as string[] });
    ONLY_ALG.set(alg, options);
  }
  return options;
}

const OK = (): JwtStatus => 'Ok';

// One key's check through jose; when it does not verify, the keys after it (as jwt_verify_lib does).
function checkWith(
  jwt: ParsedJwt,
  cryptoKey: CryptoKey,
  alg: string,
  list: readonly JwkEntry[],
  next: number,
): Promise<JwtStatus> {
  return compactVerify(jwt.compact, cryptoKey, onlyAlg(alg)).then(OK, () =>
    verifyFrom(jwt, list, next, true),
  );
}

// The keys from `from` on, in order; the first that verifies wins. Not an async function: the common case
// (one matching key, already imported) is one call into jose and one `then`, with no extra promise turns.
function verifyFrom(
  jwt: ParsedJwt,
  list: readonly JwkEntry[],
  from: number,
  matched: boolean,
): Promise<JwtStatus> {
  let kidAlgMatched = matched;
  for (let i = from; i < list.length; i++) {
    const key = list[i] as JwkEntry;
    if (jwt.kid !== '' && key.kid !== '' && key.kid !== jwt.kid) continue;
    if (key.alg !== '' && key.alg !== jwt.alg) continue;
    kidAlgMatched = true;
    let alg: string | undefined;
    if (key.kty === 'RSA' && (jwt.alg.startsWith('RS') || jwt.alg.startsWith('PS'))) alg = jwt.alg;
    else if (key.kty === 'EC' && EC_ALG_FOR_CRV[key.jwk['crv'] as string] === jwt.alg) alg = jwt.alg;
    else if (key.kty === 'OKP') {
      if (jwt.signatureLength !== 64) return Promise.resolve('JwtEd25519SignatureWrongLength');
      if (jwt.alg === 'EdDSA') alg = 'EdDSA';
    }
    if (alg === undefined) continue;
    if (!key.ready.has(alg)) {
      const pinned = alg;
      return importFor(key, alg).then((cryptoKey) =>
        cryptoKey === undefined
          ? verifyFrom(jwt, list, i + 1, true)
          : checkWith(jwt, cryptoKey, pinned, list, i + 1),
      );
    }
    const cryptoKey = key.ready.get(alg);
    if (cryptoKey === undefined) continue;
    return checkWith(jwt, cryptoKey, alg, list, i + 1);
  }
  return Promise.resolve(kidAlgMatched ? 'JwtVerificationFail' : 'JwksKidAlgMismatch');
}
