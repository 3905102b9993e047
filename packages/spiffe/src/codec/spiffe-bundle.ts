/**
 * SPIFFE bundles: the RFC 7517 JWK Set form of a trust domain's X.509 and JWT authorities, with
 * `spiffe_sequence` and `spiffe_refresh_hint`, and the bundle map `{"trust_domains": {...}}` (gRPC proposal
 * A87). Sources, all at spiffe/spiffe@665a28f: `standards/SPIFFE_Trust_Domain_and_Bundle.md` §4-§6 (cited below
 * by file name and section), `standards/X509-SVID.md` §6 and `standards/JWT-SVID.md` §6.
 * @module
 */
import { err, ok, type Result } from 'neverthrow';
import { base64Decode, base64Encode, base64UrlEncode } from './base64.js';
import { quote, SpiffeError } from './errors.js';
import { isJsonObject, type JsonObject, type JsonValue, parseJson } from './json.js';
import { jwkFromSpki, parsePublicJwk } from './jwk.js';
import { createJwtBundle, type JwtAuthority, type JwtBundle } from './jwt-bundle.js';
import { parseTrustDomain, requireTrustDomain, type TrustDomain } from './spiffe-id.js';
import { type ParsedCertificate, parseCertificate } from './x509/certificate.js';
import { createX509Bundle, MAX_BUNDLE_AUTHORITIES, type X509Bundle } from './x509-bundle.js';

/** Cap on a bundle document (or bundle map) in characters. */
export const MAX_BUNDLE_JSON_BYTES: number = 4 * 1024 * 1024;

/**
 * Largest `spiffe_sequence`: an unsigned 64-bit integer (spiffe/spiffe@665a28f:standards/SPIFFE_Trust_Domain_and_Bundle.md §4.1.1; go-spiffe
 * `*uint64`).
 */
export const MAX_SPIFFE_SEQUENCE: bigint = 2n ** 64n - 1n;

/** A trust domain's complete bundle. Immutable. */
export interface SpiffeBundle {
  /** Discriminates bundle kinds in a {@link BundleSet}. */
  readonly kind: 'spiffe';
  /** The trust domain: not part of the document, kept alongside it (spiffe/spiffe@665a28f:standards/SPIFFE_Trust_Domain_and_Bundle.md §3). */
  readonly trustDomain: TrustDomain;
  /** X.509 roots (`use: "x509-svid"`). */
  readonly x509Authorities: readonly ParsedCertificate[];
  /** JWT keys by key ID (`use: "jwt-svid"`). */
  readonly jwtAuthorities: ReadonlyMap<string, JwtAuthority>;
  /** `spiffe_sequence`, exact (it may exceed 2^53). */
  readonly sequenceNumber: bigint | undefined;
  /** `spiffe_refresh_hint` in seconds. */
  readonly refreshHintSeconds: number | undefined;
  /** The X.509 half. */
  x509Bundle(): X509Bundle;
  /** The JWT half. */
  jwtBundle(): JwtBundle;
}

/** Options of {@link createSpiffeBundle}. */
export interface SpiffeBundleOptions {
  /** The trust domain. */
  readonly trustDomain: TrustDomain | string;
  /** X.509 roots. */
  readonly x509Authorities?: readonly ParsedCertificate[];
  /** JWT keys. */
  readonly jwtAuthorities?: Iterable<JwtAuthority>;
  /** `spiffe_sequence` (0 to 2^64-1). */
  readonly sequenceNumber?: bigint;
  /**
   * `spiffe_refresh_hint` in whole seconds (a hint; consumers default to ~5 minutes,
   * spiffe/spiffe@665a28f:standards/SPIFFE_Trust_Domain_and_Bundle.md §6.2).
   */
  readonly refreshHintSeconds?: number;
}

/**
 * Makes a SPIFFE bundle.
 *
 * @param options - Trust domain, authorities, sequence and refresh hint.
 * @returns The bundle.
 * @throws {TypeError} For an invalid trust domain or key ID.
 * @throws {RangeError} For a sequence outside 0..2^64-1 or a negative or fractional refresh hint.
 * @example
 * ```ts
 * const bundle = createSpiffeBundle({ trustDomain: 'example.org', x509Authorities: ca.bundle.authorities, sequenceNumber: 1n });
 * ```
 */
export function createSpiffeBundle(options: SpiffeBundleOptions): SpiffeBundle {
  const trustDomain = requireTrustDomain(options.trustDomain, 'createSpiffeBundle: trustDomain');
  const { sequenceNumber, refreshHintSeconds } = options;
  if (sequenceNumber !== undefined && (sequenceNumber < 0n || sequenceNumber > MAX_SPIFFE_SEQUENCE)) {
    throw new RangeError('createSpiffeBundle: sequenceNumber must be within 0..2^64-1');
  }
  if (
    refreshHintSeconds !== undefined &&
    !(Number.isSafeInteger(refreshHintSeconds) && refreshHintSeconds >= 0)
  ) {
    throw new RangeError('createSpiffeBundle: refreshHintSeconds must be a non-negative integer');
  }
  const x509 = createX509Bundle(trustDomain, options.x509Authorities ?? []);
  const jwt = createJwtBundle(trustDomain, options.jwtAuthorities ?? []);
  return Object.freeze({
    kind: 'spiffe' as const,
    trustDomain,
    x509Authorities: x509.authorities,
    jwtAuthorities: jwt.authorities,
    sequenceNumber,
    refreshHintSeconds,
    x509Bundle: () => x509,
    jwtBundle: () => jwt,
  });
}

function bad(why: string): Result<never, SpiffeError> {
  return err(new SpiffeError('SPIFFE_ERR_BUNDLE', `invalid SPIFFE bundle: ${why}`));
}

function readBundleObject(
  trustDomain: TrustDomain,
  doc: JsonValue | undefined,
): Result<SpiffeBundle, SpiffeError> {
  if (!isJsonObject(doc)) return bad('the document must be a JSON object');
  // Destructuring reads index-signature members without tripping `noPropertyAccessFromIndexSignature`.
  const { keys, spiffe_sequence: seq, spiffe_refresh_hint: hint } = doc;
  // `keys` MUST be present (spiffe/spiffe@665a28f:standards/SPIFFE_Trust_Domain_and_Bundle.md §4.1.3; go-spiffe "no keys found"); `[]` is
  // valid and revokes everything.
  if (!Array.isArray(keys)) return bad('"keys" must be present and be an array');
  if (keys.length > MAX_BUNDLE_AUTHORITIES) return bad(`more than ${MAX_BUNDLE_AUTHORITIES} keys`);

  let sequenceNumber: bigint | undefined;
  if (seq !== undefined) {
    const n =
      typeof seq === 'bigint'
        ? seq
        : typeof seq === 'number' && Number.isSafeInteger(seq)
          ? BigInt(seq)
          : undefined;
    if (n === undefined || n < 0n || n > MAX_SPIFFE_SEQUENCE)
      return bad('"spiffe_sequence" must be an integer within 0..2^64-1');
    sequenceNumber = n;
  }
  let refreshHintSeconds: number | undefined;
  if (hint !== undefined) {
    if (typeof hint !== 'number' || !Number.isSafeInteger(hint) || hint < 0) {
      return bad('"spiffe_refresh_hint" must be a non-negative integer number of seconds');
    }
    refreshHintSeconds = hint;
  }

  const x509Authorities: ParsedCertificate[] = [];
  const jwtAuthorities: JwtAuthority[] = [];
  for (const [i, entry] of keys.entries()) {
    if (!isJsonObject(entry)) return bad(`key ${i} is not an object`);
    const { kty, use, x5c, kid } = entry;
    if (typeof kty !== 'string') return bad(`key ${i} has no "kty"`);
    if (use === 'x509-svid') {
      // spiffe/spiffe@665a28f:standards/X509-SVID.md §6.2: a consumer ignores entries without x5c and uses only the first value. `kid` MUST NOT
      // be set (§6.1), but go-spiffe tolerates it and so do we; we never write one.
      if (!Array.isArray(x5c) || x5c.length === 0) continue;
      const first = x5c[0];
      const der = typeof first === 'string' ? base64Decode(first) : undefined;
      if (der === undefined) return bad(`key ${i}: "x5c" must hold base64 (not base64url) DER`);
      const cert = parseCertificate(der);
      if (cert.isErr()) return bad(`key ${i}: ${cert.error.message}`);
      x509Authorities.push(cert.value);
    } else if (use === 'jwt-svid') {
      // spiffe/spiffe@665a28f:standards/JWT-SVID.md §6.1: kid MUST be set (go-spiffe errors on an empty one).
      if (typeof kid !== 'string' || kid === '')
        return bad(`key ${i}: a jwt-svid key must have a non-empty "kid"`);
      const jwk = parsePublicJwk(entry as Readonly<Record<string, unknown>>);
      if (jwk.isErr()) return bad(`key ${i}: ${jwk.error.message}`);
      // An unknown kty is ignored (spiffe/spiffe@665a28f:standards/SPIFFE_Trust_Domain_and_Bundle.md §4.2.1); a known one with bad members
      // is an error.
      if (jwk.value !== undefined) jwtAuthorities.push({ keyId: kid, publicKey: jwk.value });
    }
    // A missing or unknown `use` means the whole JWK is ignored (spiffe/spiffe@665a28f:standards/SPIFFE_Trust_Domain_and_Bundle.md §4.2.2).
  }
  return ok(
    createSpiffeBundle({
      trustDomain,
      x509Authorities,
      jwtAuthorities,
      ...(sequenceNumber === undefined ? {} : { sequenceNumber }),
      ...(refreshHintSeconds === undefined ? {} : { refreshHintSeconds }),
    }),
  );
}

/**
 * Parses a SPIFFE bundle document (a JWK Set) for a trust domain.
 *
 * @param trustDomain - The trust domain the document belongs to (it is not inside the document).
 * @param json - The document.
 * @returns The bundle, or `SPIFFE_ERR_JSON` (syntax, duplicate member) / `SPIFFE_ERR_BUNDLE` /
 * `SPIFFE_ERR_TOO_LARGE`.
 * @throws {TypeError} For an invalid trust domain.
 * @example
 * ```ts
 * const bundle = parseSpiffeBundle('example.org', body)._unsafeUnwrap();
 * bundle.sequenceNumber; // 12n
 * ```
 */
export function parseSpiffeBundle(
  trustDomain: TrustDomain | string,
  json: string,
): Result<SpiffeBundle, SpiffeError> {
  const td = requireTrustDomain(trustDomain, 'parseSpiffeBundle: trustDomain');
  return parseJson(json, { maxBytes: MAX_BUNDLE_JSON_BYTES }).andThen((doc) => readBundleObject(td, doc));
}

function bundleObject(bundle: SpiffeBundle): JsonObject {
  const keys: JsonObject[] = [];
  for (const root of bundle.x509Authorities) {
    const jwk = jwkFromSpki(root.subjectPublicKeyInfo);
    // RFC 8037 §2 gives Ed25519 roots an OKP JWK; the certificate in x5c is what consumers use either way.
    const members: JsonObject = jwk.isOk()
      ? { ...jwk.value }
      : { kty: 'OKP', crv: 'Ed25519', x: base64UrlEncode(root.subjectPublicKey) };
    keys.push({ ...members, use: 'x509-svid', x5c: [base64Encode(root.der)] });
  }
  for (const authority of bundle.jwtAuthorities.values()) {
    keys.push({ ...authority.publicKey, use: 'jwt-svid', kid: authority.keyId });
  }
  return {
    keys,
    ...(bundle.sequenceNumber === undefined ? {} : { spiffe_sequence: bundle.sequenceNumber }),
    ...(bundle.refreshHintSeconds === undefined ? {} : { spiffe_refresh_hint: bundle.refreshHintSeconds }),
  };
}

// JSON.stringify cannot write bigint (`spiffe_sequence` may exceed 2^53), so containers are walked here and
// bigints written as exact integer literals. (A placeholder string swapped back afterwards would also swap a
// `kid` that happens to spell the placeholder.)
function stringify(value: JsonValue): string {
  if (typeof value === 'bigint') return value.toString();
  if (Array.isArray(value)) return `[${value.map(stringify).join(',')}]`;
  if (isJsonObject(value)) {
    const members: string[] = [];
    for (const [key, member] of Object.entries(value)) {
      // JSON.stringify skips undefined members; so do we (optional members spread from typed objects).
      if (member !== undefined) members.push(`${JSON.stringify(key)}:${stringify(member)}`);
    }
    return `{${members.join(',')}}`;
  }
  return JSON.stringify(value);
}

/**
 * Serialises a bundle as a JWK Set: `x509-svid` entries with one `x5c` value and no `kid`, `jwt-svid` entries
 * with `kid`, plus `spiffe_sequence` (exact) and `spiffe_refresh_hint` when set.
 *
 * @param bundle - The bundle.
 * @returns The JSON text.
 * @example
 * ```ts
 * const body = serializeSpiffeBundle(bundle); // serve as application/json (go-spiffe federation.NewHandler)
 * ```
 */
export function serializeSpiffeBundle(bundle: SpiffeBundle): string {
  return stringify(bundleObject(bundle));
}

/**
 * Parses a bundle map `{"trust_domains": {"<td>": <bundle>, …}}`. Duplicate trust domains, including the same
 * domain spelt twice (`example.org` and `spiffe://example.org`), are rejected
 * (spiffe/spiffe@665a28f:standards/SPIFFE_Trust_Domain_and_Bundle.md §5.1.1); per-bundle refresh hints are kept but carry no meaning in a map
 * (§6.3).
 *
 * @param json - The document.
 * @returns The bundles by trust-domain name, or a `SpiffeError`.
 * @example
 * ```ts
 * const bundles = parseSpiffeBundleMap(text)._unsafeUnwrap();
 * const set = createBundleSet(bundles.values());
 * ```
 */
export function parseSpiffeBundleMap(json: string): Result<Map<string, SpiffeBundle>, SpiffeError> {
  return parseJson(json, { maxBytes: MAX_BUNDLE_JSON_BYTES }).andThen((doc) => {
    if (!isJsonObject(doc)) return bad('a bundle map must be {"trust_domains": {...}}');
    const { trust_domains: domains } = doc;
    if (!isJsonObject(domains)) return bad('a bundle map must be {"trust_domains": {...}}');
    const out = new Map<string, SpiffeBundle>();
    for (const [name, value] of Object.entries(domains)) {
      const td = parseTrustDomain(name);
      if (td.isErr()) return bad(`map key ${quote(name)}: ${td.error.message}`);
      if (out.has(td.value.name)) {
        return err(
          new SpiffeError(
            'SPIFFE_ERR_DUPLICATE_TRUST_DOMAIN',
            `trust domain ${quote(td.value.name)} appears twice`,
          ),
        );
      }
      const bundle = readBundleObject(td.value, value);
      if (bundle.isErr()) return err(bundle.error);
      out.set(td.value.name, bundle.value);
    }
    return ok(out);
  });
}

/**
 * Serialises bundles as a bundle map keyed by bare trust-domain names.
 *
 * @param bundles - The bundles; two for one trust domain are a programmer error.
 * @returns The JSON text.
 * @throws {RangeError} When two bundles share a trust domain.
 * @example
 * ```ts
 * serializeSpiffeBundleMap([a, b]); // '{"trust_domains":{"a.org":{…},"b.org":{…}}}'
 * ```
 */
export function serializeSpiffeBundleMap(bundles: Iterable<SpiffeBundle>): string {
  const domains: JsonObject = Object.create(null);
  for (const bundle of bundles) {
    if (Object.hasOwn(domains, bundle.trustDomain.name)) {
      throw new RangeError(`serializeSpiffeBundleMap: trust domain ${bundle.trustDomain.name} appears twice`);
    }
    domains[bundle.trustDomain.name] = bundleObject(bundle);
  }
  return stringify({ trust_domains: domains });
}
