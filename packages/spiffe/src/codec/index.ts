/**
 * `@ambient-kit/spiffe/codec`: the pure layer, with no `node:` imports, so it runs in any JavaScript runtime.
 * SPIFFE IDs, matchers and authorizers; PEM, DER and certificate parsing; X509-SVID chain validation with an
 * injected signature check; X.509, JWT and SPIFFE (JWKS) bundles and bundle sets; strict JSON.
 * @module
 */
export { base64Decode, base64Encode, base64UrlDecode, base64UrlEncode } from './base64.js';
export {
  type AnyBundle,
  type BundleSet,
  type BundleSource,
  createBundleSet,
  type JwtBundleSource,
} from './bundle-set.js';
export { isSpiffeError, SPIFFE_ERROR_CODES, SpiffeError, type SpiffeErrorCode } from './errors.js';
export {
  type IstioIdentity,
  type IstioIdentityOptions,
  istioIdentity,
  parseIstioIdentity,
} from './istio-identity.js';
export { isJsonObject, type JsonObject, type JsonValue, type ParseJsonOptions, parseJson } from './json.js';
export {
  EC_COORDINATE_BYTES,
  type EcCurve,
  ecPointFromJwk,
  jwkFromSpki,
  MIN_RSA_MODULUS_BITS,
  type PublicJwk,
  parsePublicJwk,
  spkiFromJwk,
} from './jwk.js';
export { createJwtBundle, type JwtAuthority, type JwtBundle } from './jwt-bundle.js';
export {
  DEFAULT_JWT_LEEWAY_MS,
  JWT_SVID_ALGORITHMS,
  type JwsAlgorithmParameters,
  type JwtSignatureVerifier,
  type JwtSvid,
  type JwtSvidAlgorithm,
  type JwtSvidHeader,
  type JwtSvidValidator,
  jwsAlgorithmParameters,
  jwsSigningInput,
  jwtSvidValidator,
  MAX_JWT_BYTES,
  MAX_NUMERIC_DATE_SECONDS,
  nobleJwtVerifier,
  parseJwtSvidInsecure,
  type ValidateJwtSvidOptions,
  validateJwtSvid,
} from './jwt-svid.js';
export {
  type Authorizer,
  adaptMatcher,
  authorizeAny,
  authorizeId,
  authorizeMemberOf,
  authorizeOneOf,
  matchAny,
  matchId,
  matchMemberOf,
  matchOneOf,
  type SpiffeIdMatcher,
} from './matcher.js';
export { type DecodePemOptions, decodePem, encodePem, MAX_PEM_BYTES, type PemBlock } from './pem.js';
export {
  createSpiffeBundle,
  MAX_BUNDLE_JSON_BYTES,
  MAX_SPIFFE_SEQUENCE,
  parseSpiffeBundle,
  parseSpiffeBundleMap,
  type SpiffeBundle,
  type SpiffeBundleOptions,
  serializeSpiffeBundle,
  serializeSpiffeBundleMap,
} from './spiffe-bundle.js';
export {
  isSpiffeId,
  isTrustDomain,
  MAX_SPIFFE_ID_BYTES,
  MAX_TRUST_DOMAIN_BYTES,
  parseSpiffeId,
  parseTrustDomain,
  SPIFFE_SCHEME_PREFIX,
  type SpiffeId,
  spiffeIdFromPath,
  spiffeIdFromSegments,
  type TrustDomain,
  validateSpiffePath,
} from './spiffe-id.js';
export {
  type BasicConstraints,
  type GeneralNameKind,
  type GeneralSubtree,
  type HashName,
  MAX_CERTIFICATE_BYTES,
  type NameConstraints,
  type OtherGeneralName,
  type ParsedCertificate,
  type PublicKeyKind,
  parseCertificate,
  parseSubjectPublicKeyInfo,
  type SignatureAlgorithm,
  type SubjectPublicKeyInfo,
} from './x509/certificate.js';
export { checkNameConstraints, MAX_NAME_CONSTRAINT_CHECKS } from './x509/name-constraints.js';
export { KEY_USAGE, OID } from './x509/oids.js';
export { tlsPurposeViolation } from './x509/purpose.js';
export {
  type ChainVerificationOptions,
  checkLeafProfile,
  MAX_CHAIN_CERTIFICATES,
  MAX_SIGNATURE_CHECKS,
  type SignatureCheck,
  type TlsPeerRole,
  type VerifiedSvid,
  verifySvidChain,
} from './x509/verify-chain.js';
export {
  createX509Bundle,
  MAX_BUNDLE_AUTHORITIES,
  splitConcatenatedDer,
  type X509Bundle,
  x509BundleFromDer,
  x509BundleFromPem,
} from './x509-bundle.js';
