/**
 * The outcome of a JWT check, named and worded as Envoy's `jwt_authn` filter reports it: the status names of
 * google/jwt_verify_lib (`jwt_verify_lib/status.h`) and the text `getStatusString` gives each one
 * (google/jwt_verify_lib@b59e8075:src/status.cc), which Envoy sends as the body of the local reply. Envoy answers
 * every failure with 401 except an audience that is not allowed, 403
 * (envoyproxy/envoy@0016b951:source/extensions/filters/http/jwt_authn/filter.cc `Filter::onComplete`).
 * @module
 */

/** The statuses a request can end with (jwt_verify_lib `Status`). */
export const JWT_STATUS_MESSAGES = {
  Ok: 'OK',
  JwtMissed: 'Jwt is missing',
  JwtNotYetValid: 'Jwt not yet valid',
  JwtExpired: 'Jwt is expired',
  JwtBadFormat: 'Jwt is not in the form of Header.Payload.Signature with two dots and 3 sections',
  JwtHeaderParseErrorBadBase64: 'Jwt header is an invalid Base64url encoded',
  JwtHeaderParseErrorBadJson: 'Jwt header is an invalid JSON',
  JwtHeaderBadAlg: 'Jwt header [alg] field is required and must be a string',
  JwtHeaderNotImplementedAlg: 'Jwt header [alg] is not supported',
  JwtHeaderBadKid: 'Jwt header [kid] field is not a string',
  JwtPayloadParseErrorBadBase64: 'Jwt payload is an invalid Base64url encoded',
  JwtEd25519SignatureWrongLength: 'Jwt ED25519 signature is wrong length',
  JwtPayloadParseErrorBadJson: 'Jwt payload is an invalid JSON',
  JwtPayloadParseErrorIssNotString: 'Jwt payload [iss] field is not a string',
  JwtPayloadParseErrorSubNotString: 'Jwt payload [sub] field is not a string',
  JwtPayloadParseErrorIatNotInteger: 'Jwt payload [iat] field is not an integer',
  JwtPayloadParseErrorIatOutOfRange: 'Jwt payload [iat] field is not a positive 64 bit integer',
  JwtPayloadParseErrorNbfNotInteger: 'Jwt payload [nbf] field is not an integer',
  JwtPayloadParseErrorNbfOutOfRange: 'Jwt payload [nbf] field is not a positive 64 bit integer',
  JwtPayloadParseErrorExpNotInteger: 'Jwt payload [exp] field is not an integer',
  JwtPayloadParseErrorExpOutOfRange: 'Jwt payload [exp] field is not a positive 64 bit integer',
  JwtPayloadParseErrorJtiNotString: 'Jwt payload [jti] field is not a string',
  JwtPayloadParseErrorAudNotString: 'Jwt payload [aud] field is not a string or string list',
  JwtSignatureParseErrorBadBase64: 'Jwt signature is an invalid Base64url encoded',
  JwtUnknownIssuer: 'Jwt issuer is not configured',
  JwtAudienceNotAllowed: 'Audiences in Jwt are not allowed',
  JwtVerificationFail: 'Jwt verification fails',
  JwksNoValidKeys: "Jwks doesn't have any valid public key",
  JwksKidAlgMismatch: "Jwks doesn't have key to match kid or alg from Jwt",
  JwksFetchFail: 'Jwks remote fetch is failed',
} as const;

/** A jwt_verify_lib status name. */
export type JwtStatus = keyof typeof JWT_STATUS_MESSAGES;

/**
 * The HTTP status Envoy answers a failed check with: 403 for `JwtAudienceNotAllowed`, 401 for every other
 * failure (the audience case is what istio/istio@86c9f01f:tests/integration/security/jwt_test.go `invalid-aud`
 * expects too).
 *
 * @param status - A failure status.
 * @returns 401 or 403.
 * @example
 * ```ts
 * jwtStatusHttpCode('JwtExpired'); // 401
 * jwtStatusHttpCode('JwtAudienceNotAllowed'); // 403
 * ```
 */
export function jwtStatusHttpCode(status: JwtStatus): 401 | 403 {
  return status === 'JwtAudienceNotAllowed' ? 403 : 401;
}

/**
 * The `www-authenticate` value Envoy sends with a failure: `Bearer realm="<original URI>"`, plus
 * `, error="invalid_token"` unless the token was missing.
 *
 * @param realm - `<scheme>://<host><path>`, the path cut at 256 characters (Envoy `buildOriginalUri`).
 * @param status - The failure status.
 * @returns The header value.
 * @example
 * ```ts
 * wwwAuthenticate('http://web.foo/api', 'JwtExpired'); // 'Bearer realm="http://web.foo/api", error="invalid_token"'
 * ```
 */
export function wwwAuthenticate(realm: string, status: JwtStatus): string {
  return status === 'JwtMissed'
    ? `Bearer realm="${realm}"`
    : `Bearer realm="${realm}", error="invalid_token"`;
}

/** Envoy's cap on the path part of the realm (`MaximumUriLength`). */
export const REALM_MAX_PATH_LENGTH: number = 256;

/**
 * The realm Envoy reports: `:scheme` `://` `:authority` and `:path` (at most 256 characters of it), as the
 * request arrived (envoyproxy/envoy@2d3b5057:source/common/http/utility.cc `buildOriginalUri`).
 *
 * @param scheme - `http` or `https`.
 * @param host - `:authority` (or Host).
 * @param path - `:path`, query included.
 * @returns The realm.
 * @example
 * ```ts
 * jwtRealm('http', 'web.foo:8080', '/api?x=1'); // 'http://web.foo:8080/api?x=1'
 * ```
 */
export function jwtRealm(scheme: string, host: string, path: string): string {
  return `${scheme}://${host}${path.length > REALM_MAX_PATH_LENGTH ? path.slice(0, REALM_MAX_PATH_LENGTH) : path}`;
}
