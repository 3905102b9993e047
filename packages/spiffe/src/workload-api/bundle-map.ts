/**
 * The Workload API's bundle maps, both ways: X.509 bundles as DER certificates back to back, JWT bundles as
 * JWK Sets, each keyed by the trust domain's SPIFFE ID (`spiffe://td`;
 * spiffe/spiffe@665a28f3:standards/SPIFFE_Workload_API.md, sections 5.2 and 6.2.2). Decoding keeps each
 * trust domain apart (section 4.6: a peer is checked against its own trust domain's bundle only) and
 * refuses a map that names one twice.
 * @module
 */
import { err, ok, type Result } from 'neverthrow';
import { quote, SpiffeError } from '../codec/errors.js';
import { isJsonObject, parseJson } from '../codec/json.js';
import { type PublicJwk, parsePublicJwk } from '../codec/jwk.js';
import { createJwtBundle, type JwtAuthority, type JwtBundle } from '../codec/jwt-bundle.js';
import { MAX_BUNDLE_JSON_BYTES } from '../codec/spiffe-bundle.js';
import { parseTrustDomain, type TrustDomain } from '../codec/spiffe-id.js';
import { MAX_BUNDLE_AUTHORITIES, type X509Bundle, x509BundleFromDer } from '../codec/x509-bundle.js';

/** Most trust domains one bundle map may name. */
export const MAX_BUNDLE_MAP_ENTRIES = 1024;

const UTF8 = new TextDecoder('utf-8', { fatal: true });
const ENCODE = new TextEncoder();

function badResponse(why: string, cause?: SpiffeError): SpiffeError {
  return new SpiffeError(
    'SPIFFE_ERR_WORKLOAD_API_BAD_RESPONSE',
    `invalid Workload API response: ${why}`,
    cause === undefined ? undefined : { cause },
  );
}

/**
 * Reads a bundle map key: the trust domain's SPIFFE ID as the standard has it. A bare name or an ID with a
 * path is accepted too, as go-spiffe's `TrustDomainFromString` does (spiffe/go-spiffe@e9973f63:
 * workloadapi/client.go `parseX509BundlesResponse`).
 *
 * @param key - The map key.
 * @param seen - Trust domains already read from this map.
 * @returns The trust domain, or `SPIFFE_ERR_WORKLOAD_API_BAD_RESPONSE`.
 */
function mapKey(key: string, seen: Set<string>): Result<TrustDomain, SpiffeError> {
  const td = parseTrustDomain(key);
  if (td.isErr()) return err(badResponse(`bundle key ${quote(key)} is not a trust domain`, td.error));
  if (seen.has(td.value.name)) {
    return err(
      badResponse(
        `the bundle map names trust domain ${quote(td.value.name)} twice`,
        new SpiffeError('SPIFFE_ERR_DUPLICATE_TRUST_DOMAIN', `duplicate trust domain ${td.value.name}`),
      ),
    );
  }
  seen.add(td.value.name);
  return ok(td.value);
}

function entries<V>(map: Readonly<Record<string, V>>): Result<[string, V][], SpiffeError> {
  const list = Object.entries(map);
  if (list.length > MAX_BUNDLE_MAP_ENTRIES)
    return err(badResponse(`more than ${MAX_BUNDLE_MAP_ENTRIES} trust domains in a bundle map`));
  return ok(list);
}

/**
 * Decodes an X.509 bundle map (`X509BundlesResponse.bundles`, `X509SVIDResponse.federated_bundles`).
 *
 * @param map - SPIFFE ID of the trust domain → concatenated DER certificates.
 * @returns One bundle per trust domain, or `SPIFFE_ERR_WORKLOAD_API_BAD_RESPONSE` (the parse error as
 * `cause`).
 * @example
 * ```ts
 * const bundles = decodeX509BundleMap(response.bundles)._unsafeUnwrap();
 * ```
 */
export function decodeX509BundleMap(
  map: Readonly<Record<string, Uint8Array>>,
): Result<X509Bundle[], SpiffeError> {
  const list = entries(map);
  if (list.isErr()) return err(list.error);
  const seen = new Set<string>();
  const out: X509Bundle[] = [];
  for (const [key, der] of list.value) {
    const td = mapKey(key, seen);
    if (td.isErr()) return err(td.error);
    const bundle = x509BundleFromDer(td.value, der);
    if (bundle.isErr())
      return err(badResponse(`the X.509 bundle of ${quote(key)}: ${bundle.error.message}`, bundle.error));
    out.push(bundle.value);
  }
  return ok(out);
}

/**
 * Encodes X.509 bundles as a bundle map: each trust domain's roots as DER back to back, keyed `spiffe://td`.
 *
 * @param bundles - The bundles (one per trust domain).
 * @returns The map.
 * @example
 * ```ts
 * create(X509BundlesResponseSchema, { bundles: encodeX509BundleMap(bundleSet.x509Bundles()) });
 * ```
 */
export function encodeX509BundleMap(bundles: Iterable<X509Bundle>): Record<string, Uint8Array> {
  const map: Record<string, Uint8Array> = {};
  for (const bundle of bundles) map[bundle.trustDomain.idString()] = concatDer(bundle.authorities);
  return map;
}

/**
 * Concatenates DER blobs (the Workload API's chain and bundle encoding).
 *
 * @param parts - Certificates, or anything with a `der`.
 * @returns The bytes back to back.
 * @example
 * ```ts
 * concatDer(svid.certificates);
 * ```
 */
export function concatDer(parts: readonly (Uint8Array | { readonly der: Uint8Array })[]): Uint8Array {
  const blobs = parts.map((p) => (p instanceof Uint8Array ? p : p.der));
  const out = new Uint8Array(blobs.reduce((n, b) => n + b.length, 0));
  let at = 0;
  for (const b of blobs) {
    out.set(b, at);
    at += b.length;
  }
  return out;
}

/**
 * Reads a JWT bundle as the Workload API sends it: a JWK Set whose keys each carry a `kid`
 * (spiffe/spiffe@665a28f3:standards/JWT-SVID.md, section 6.1). SPIRE sends a plain JWK Set without `use`
 * members; a SPIFFE bundle marks JWT keys `"use": "jwt-svid"`. Both are read; keys marked for another SPIFFE
 * use (`x509-svid`, `wit-svid`) or for encryption are skipped, and so are key types this package does not
 * know. Private key members are refused.
 *
 * @param trustDomain - The trust domain the set belongs to.
 * @param json - The JWK Set, UTF-8 JSON.
 * @returns The bundle, or `SPIFFE_ERR_WORKLOAD_API_BAD_RESPONSE` (the parse error as `cause`).
 * @example
 * ```ts
 * const bundle = parseJwtBundleJwks(td, response.bundles['spiffe://example.org'])._unsafeUnwrap();
 * ```
 */
export function parseJwtBundleJwks(
  trustDomain: TrustDomain,
  json: Uint8Array,
): Result<JwtBundle, SpiffeError> {
  const where = `the JWT bundle of ${trustDomain.idString()}`;
  if (json.length > MAX_BUNDLE_JSON_BYTES)
    return err(badResponse(`${where} is larger than ${MAX_BUNDLE_JSON_BYTES} bytes`));
  let text: string;
  try {
    text = UTF8.decode(json);
  } catch {
    return err(badResponse(`${where} is not UTF-8`));
  }
  const doc = parseJson(text, { maxBytes: MAX_BUNDLE_JSON_BYTES });
  if (doc.isErr()) return err(badResponse(`${where}: ${doc.error.message}`, doc.error));
  if (!isJsonObject(doc.value)) return err(badResponse(`${where} is not a JSON object`));
  const { keys } = doc.value;
  if (!Array.isArray(keys)) return err(badResponse(`${where} has no "keys" array`));
  if (keys.length > MAX_BUNDLE_AUTHORITIES)
    return err(badResponse(`${where} has more than ${MAX_BUNDLE_AUTHORITIES} keys`));
  const authorities: JwtAuthority[] = [];
  for (const [i, entry] of keys.entries()) {
    if (!isJsonObject(entry)) return err(badResponse(`${where}: key ${i} is not an object`));
    const { use, kid } = entry;
    if (use !== undefined && use !== 'jwt-svid' && use !== 'sig') continue;
    const jwk = parsePublicJwk(entry as Readonly<Record<string, unknown>>);
    if (jwk.isErr()) return err(badResponse(`${where}: key ${i}: ${jwk.error.message}`, jwk.error));
    if (jwk.value === undefined) continue;
    if (typeof kid !== 'string' || kid === '')
      return err(badResponse(`${where}: key ${i} has no "kid" (a JWT-SVID key needs one)`));
    authorities.push({ keyId: kid, publicKey: jwk.value });
  }
  return ok(createJwtBundle(trustDomain, authorities));
}

/**
 * Decodes a JWT bundle map (`JWTBundlesResponse.bundles`).
 *
 * @param map - SPIFFE ID of the trust domain → JWK Set JSON.
 * @returns One bundle per trust domain, or `SPIFFE_ERR_WORKLOAD_API_BAD_RESPONSE`.
 * @example
 * ```ts
 * const bundles = decodeJwtBundleMap(response.bundles)._unsafeUnwrap();
 * ```
 */
export function decodeJwtBundleMap(
  map: Readonly<Record<string, Uint8Array>>,
): Result<JwtBundle[], SpiffeError> {
  const list = entries(map);
  if (list.isErr()) return err(list.error);
  const seen = new Set<string>();
  const out: JwtBundle[] = [];
  for (const [key, json] of list.value) {
    const td = mapKey(key, seen);
    if (td.isErr()) return err(td.error);
    const bundle = parseJwtBundleJwks(td.value, json);
    if (bundle.isErr()) return err(bundle.error);
    out.push(bundle.value);
  }
  return ok(out);
}

/**
 * Encodes a JWT bundle as SPIRE's agent does: a plain JWK Set, each key with its `kid` and no `use`, so any
 * JWKS consumer can read it (SPIFFE_Workload_API.md, section 6.3).
 *
 * @param bundle - The bundle.
 * @returns The JSON, UTF-8.
 * @example
 * ```ts
 * encodeJwks(bundle); // {"keys":[{"kty":"EC","crv":"P-256","x":"…","y":"…","kid":"k1"}]}
 * ```
 */
export function encodeJwks(bundle: JwtBundle): Uint8Array {
  const keys = [...bundle.authorities.values()].map((a) => ({ ...(a.publicKey as PublicJwk), kid: a.keyId }));
  return ENCODE.encode(JSON.stringify({ keys }));
}

/**
 * Encodes JWT bundles as a bundle map keyed `spiffe://td`.
 *
 * @param bundles - The bundles (one per trust domain).
 * @returns The map.
 * @example
 * ```ts
 * create(JWTBundlesResponseSchema, { bundles: encodeJwtBundleMap(bundleSet.jwtBundles()) });
 * ```
 */
export function encodeJwtBundleMap(bundles: Iterable<JwtBundle>): Record<string, Uint8Array> {
  const map: Record<string, Uint8Array> = {};
  for (const bundle of bundles) map[bundle.trustDomain.idString()] = encodeJwks(bundle);
  return map;
}
