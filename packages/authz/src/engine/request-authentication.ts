/**
 * RequestAuthentication (`security.istio.io/v1`, the same schema as `v1beta1`): the resource, and its
 * validation as the API server (the CRD's structural schema) and istiod (`ValidateRequestAuthentication`,
 * `validateJwtRule`: istio/istio@86c9f01f:pkg/config/validation/validation.go) do it. Field names are the
 * CRD's (istio/api@b8f8791d:security/v1beta1/request_authentication.proto). Unknown fields are errors at every
 * depth, each with its path.
 * @module
 */

import { err, ok, type Result } from 'neverthrow';
import type { PolicyError } from './errors.js';
import type { PolicyMetadata, PolicyTargetReference, WorkloadSelector } from './policy.js';
import {
  Collector,
  checkKnownFields,
  describe,
  get,
  isRecord,
  nameOf,
  readEnvelope,
  readList,
  readMetadata,
  readSelector,
  readStringList,
  readTargets,
  type ValidateOptions,
} from './validate.js';

/** `jwtRules[].fromHeaders[]` (istio/api `JWTHeader`): a header, and the prefix before the token. */
export interface JwtHeaderLocation {
  readonly name: string;
  /** Compared as Envoy's jwt_authn compares it: the first occurrence anywhere in the value, case-sensitive. */
  readonly prefix?: string;
}

/** `jwtRules[].outputClaimToHeaders[]` (istio/api `ClaimToHeader`). */
export interface ClaimToHeader {
  /** The header to set (`^[-_A-Za-z0-9]+$`). */
  readonly header: string;
  /** The claim; `a.b` reads a nested claim. */
  readonly claim: string;
}

/** `jwtRules[]` (istio/api `JWTRule`). */
export interface JwtRule {
  /** The `iss` a token must carry; may be empty only when `jwksUri` is set (then any issuer is accepted). */
  readonly issuer?: string;
  /** Allowed `aud` values (any one); empty accepts every audience. */
  readonly audiences?: readonly string[];
  /** Where the public keys are (`http`/`https`); fetched as istiod fetches it. */
  readonly jwksUri?: string;
  /** The public keys inline, as JWKS JSON text. */
  readonly jwks?: string;
  readonly fromHeaders?: readonly JwtHeaderLocation[];
  readonly fromParams?: readonly string[];
  readonly fromCookies?: readonly string[];
  /** Header that receives the verified payload, base64url-encoded. */
  readonly outputPayloadToHeader?: string;
  /** Keep the token in the forwarded request. Default `false`: it is removed. */
  readonly forwardOriginalToken?: boolean;
  readonly outputClaimToHeaders?: readonly ClaimToHeader[];
  /** How long a `jwksUri` fetch may take, a protobuf Duration such as `5s` or `0.5s`. Default `5s`. */
  readonly timeout?: string;
  /** Claims split on spaces for `request.auth.claims[...]`, besides `scope` and `permission`. */
  readonly spaceDelimitedClaims?: readonly string[];
}

/** `spec` of a RequestAuthentication. */
export interface RequestAuthenticationSpec {
  readonly selector?: WorkloadSelector;
  /** Legacy singular form, merged into `targetRefs`. */
  readonly targetRef?: PolicyTargetReference;
  readonly targetRefs?: readonly PolicyTargetReference[];
  readonly jwtRules?: readonly JwtRule[];
}

/** A whole RequestAuthentication resource. */
export interface RequestAuthentication {
  /** `security.istio.io/v1` or `security.istio.io/v1beta1`. */
  readonly apiVersion: string;
  readonly kind: 'RequestAuthentication';
  readonly metadata: PolicyMetadata;
  readonly spec: RequestAuthenticationSpec;
}

const RULE_FIELDS = [
  'issuer',
  'audiences',
  'jwksUri',
  'jwks',
  'fromHeaders',
  'fromParams',
  'fromCookies',
  'outputPayloadToHeader',
  'forwardOriginalToken',
  'outputClaimToHeaders',
  'timeout',
  'spaceDelimitedClaims',
];

// istiod ValidateStrictHTTPHeaderName, and the CRD pattern of ClaimToHeader.header.
const STRICT_HEADER = /^[-_A-Za-z0-9]+$/;
// A protobuf Duration in its JSON form.
const DURATION = /^(-?)([0-9]+)(?:\.([0-9]{1,9}))?s$/;
/** The largest inline JWKS accepted (Envoy keeps it in its configuration). */
const MAX_JWKS_BYTES = 1024 * 1024;

/**
 * Parses a protobuf Duration string (`5s`, `0.25s`) into milliseconds, as istiod's `ValidateDuration` allows it:
 * at least 1 ms and no finer than milliseconds.
 *
 * @param text - The duration.
 * @returns Milliseconds, or why the value is refused.
 * @example
 * ```ts
 * parseDurationMs('1.5s'); // { ok: true, ms: 1500 }
 * parseDurationMs('1500ms'); // { ok: false, reason: ... }
 * ```
 */
export function parseDurationMs(text: string): { ok: true; ms: number } | { ok: false; reason: string } {
  const m = DURATION.exec(text);
  if (m === null) return { ok: false, reason: `"${text}" is not a duration such as "5s" or "0.5s"` };
  const fraction = (m[3] ?? '').padEnd(9, '0');
  if (!fraction.endsWith('000000'))
    return { ok: false, reason: 'only durations to ms precision are supported' };
  const ms = Number(m[2]) * 1000 + Number(fraction.slice(0, 3));
  if (m[1] === '-' || ms < 1) return { ok: false, reason: 'duration must be greater than 1ms' };
  return { ok: true, ms };
}

// Go url.Parse + istiod ParseJwksURI: http or https with a host.
function jwksUriProblem(uri: string): string | undefined {
  if (uri.length > 2048) return 'jwksUri must be at most 2048 characters';
  let url: URL;
  try {
    url = new URL(uri);
  } catch {
    return `jwksUri "${uri}" is not a URL`;
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') {
    return `URI scheme "${url.protocol.slice(0, -1)}" is not supported (url must have scheme http:// or https://)`;
  }
  if (url.hostname === '') return `jwksUri "${uri}" has no host`;
  return undefined;
}

// istiod parses inline JWKS with jwx `jwk.Parse`: a JSON key set, or a single key, each with a `kty`.
function jwksProblem(text: string): string | undefined {
  if (text.length > MAX_JWKS_BYTES) return `jwks is larger than ${MAX_JWKS_BYTES} bytes`;
  let doc: unknown;
  try {
    doc = JSON.parse(text);
  } catch (cause) {
    return `jwks parse error: ${cause instanceof Error ? cause.message : String(cause)}`;
  }
  if (!isRecord(doc)) return 'jwks parse error: expected a JSON object';
  const keys = Object.hasOwn(doc, 'keys') ? doc['keys'] : [doc];
  if (!Array.isArray(keys)) return 'jwks parse error: "keys" is not a list';
  for (const [i, key] of keys.entries()) {
    if (!isRecord(key) || typeof key['kty'] !== 'string') {
      return `jwks parse error: key ${i} has no "kty"`;
    }
    if (!['RSA', 'EC', 'OKP', 'oct'].includes(key['kty'])) {
      return `jwks parse error: key ${i} has an unsupported kty "${key['kty']}"`;
    }
  }
  return undefined;
}

// One string field: absent, or a string (non-empty when `minLength`).
function readString(c: Collector, path: string, value: unknown, nonEmpty: boolean): string | undefined {
  if (value === undefined || value === null) return undefined;
  if (typeof value !== 'string') {
    c.schema(path, `must be a string, found ${describe(value)}`);
    return undefined;
  }
  if (nonEmpty && value === '') c.schema(path, 'must not be empty');
  return value;
}

function readNonEmptyStrings(c: Collector, path: string, value: unknown, what: string): string[] | undefined {
  const list = readStringList(c, path, value);
  if (list === null || list === undefined) return undefined;
  list.forEach((v, i) => {
    if (v === '') c.invalid(`${path}[${i}]`, `${what} must be non-empty string`);
  });
  return list;
}

function readJwtRule(c: Collector, path: string, raw: unknown): JwtRule | undefined {
  if (raw === undefined || raw === null) return undefined;
  if (!isRecord(raw)) {
    c.schema(path, `must be an object, found ${describe(raw)}`);
    return undefined;
  }
  checkKnownFields(c, path, raw, RULE_FIELDS);
  const rule: {
    -readonly [K in keyof JwtRule]: JwtRule[K];
  } = {};
  const issuer = readString(c, `${path}.issuer`, get(raw, 'issuer'), true);
  if (issuer !== undefined) rule.issuer = issuer;
  const audiences = readNonEmptyStrings(c, `${path}.audiences`, get(raw, 'audiences'), 'audience');
  if (audiences !== undefined) rule.audiences = audiences;
  const jwksUri = readString(c, `${path}.jwksUri`, get(raw, 'jwksUri'), true);
  if (jwksUri !== undefined && jwksUri !== '') {
    const problem = jwksUriProblem(jwksUri);
    if (problem !== undefined) c.invalid(`${path}.jwksUri`, problem);
    rule.jwksUri = jwksUri;
  }
  const jwks = readString(c, `${path}.jwks`, get(raw, 'jwks'), false);
  if (jwks !== undefined && jwks !== '') {
    const problem = jwksProblem(jwks);
    if (problem !== undefined) c.invalid(`${path}.jwks`, problem);
    rule.jwks = jwks;
  }
  if ((rule.issuer ?? '') === '' && (rule.jwksUri ?? '') === '') {
    c.invalid(path, 'issuer or jwksUri must be non-empty string');
  }
  const headers = readList(c, `${path}.fromHeaders`, get(raw, 'fromHeaders'), Number.MAX_SAFE_INTEGER);
  if (headers !== undefined) {
    const out: JwtHeaderLocation[] = [];
    headers.forEach((h, i) => {
      const at = `${path}.fromHeaders[${i}]`;
      if (h === null || h === undefined) {
        c.invalid(at, 'location header name must be non-null');
        return;
      }
      if (!isRecord(h)) {
        c.schema(at, `must be an object, found ${describe(h)}`);
        return;
      }
      checkKnownFields(c, at, h, ['name', 'prefix']);
      const name = readString(c, `${at}.name`, get(h, 'name'), false);
      if (name === undefined || name === '')
        c.invalid(`${at}.name`, 'location header name must be non-empty string');
      const prefix = readString(c, `${at}.prefix`, get(h, 'prefix'), false);
      out.push({ name: name ?? '', ...(prefix === undefined || prefix === '' ? {} : { prefix }) });
    });
    rule.fromHeaders = out;
  }
  const params = readNonEmptyStrings(c, `${path}.fromParams`, get(raw, 'fromParams'), 'location query');
  if (params !== undefined) rule.fromParams = params;
  const cookies = readNonEmptyStrings(c, `${path}.fromCookies`, get(raw, 'fromCookies'), 'cookie name');
  if (cookies !== undefined) rule.fromCookies = cookies;
  const payloadHeader = readString(
    c,
    `${path}.outputPayloadToHeader`,
    get(raw, 'outputPayloadToHeader'),
    false,
  );
  if (payloadHeader !== undefined && payloadHeader !== '') rule.outputPayloadToHeader = payloadHeader;
  const forward = get(raw, 'forwardOriginalToken');
  if (forward !== undefined && forward !== null) {
    if (typeof forward !== 'boolean') {
      c.schema(`${path}.forwardOriginalToken`, `must be a boolean, found ${describe(forward)}`);
    } else rule.forwardOriginalToken = forward;
  }
  const claims = readList(
    c,
    `${path}.outputClaimToHeaders`,
    get(raw, 'outputClaimToHeaders'),
    Number.MAX_SAFE_INTEGER,
  );
  if (claims !== undefined) {
    const out: ClaimToHeader[] = [];
    claims.forEach((entry, i) => {
      const at = `${path}.outputClaimToHeaders[${i}]`;
      if (entry === null || entry === undefined) {
        c.invalid(at, 'outputClaimToHeaders must not be null');
        return;
      }
      if (!isRecord(entry)) {
        c.schema(at, `must be an object, found ${describe(entry)}`);
        return;
      }
      checkKnownFields(c, at, entry, ['header', 'claim']);
      const header = readString(c, `${at}.header`, get(entry, 'header'), false) ?? '';
      const claim = readString(c, `${at}.claim`, get(entry, 'claim'), false) ?? '';
      if (header === '' || claim === '') {
        c.invalid(at, 'outputClaimToHeaders header and claim value must be non-empty string');
        return;
      }
      if (!STRICT_HEADER.test(header))
        c.invalid(`${at}.header`, `header name ${header} is not a valid header name`);
      out.push({ header, claim });
    });
    rule.outputClaimToHeaders = out;
  }
  const timeout = readString(c, `${path}.timeout`, get(raw, 'timeout'), false);
  if (timeout !== undefined) {
    const parsed = parseDurationMs(timeout);
    if (!parsed.ok) c.invalid(`${path}.timeout`, parsed.reason);
    else rule.timeout = timeout;
  }
  const delimited = readNonEmptyStrings(
    c,
    `${path}.spaceDelimitedClaims`,
    get(raw, 'spaceDelimitedClaims'),
    'space-delimited claim',
  );
  if (delimited !== undefined) {
    if (delimited.length > 64) c.schema(`${path}.spaceDelimitedClaims`, 'must have at most 64 items');
    rule.spaceDelimitedClaims = delimited;
  }
  return rule;
}

/**
 * Validates one RequestAuthentication object and returns it normalized (`null` fields dropped, namespace
 * defaulted to `default`, `apiVersion` to `security.istio.io/v1`).
 *
 * @param raw - Anything, e.g. a parsed YAML document.
 * @param options - How to name an unnamed document in errors.
 * @returns The resource, or every error (`AUTHZ_ERR_NOT_A_POLICY`, `AUTHZ_ERR_SCHEMA`,
 *   `AUTHZ_ERR_INVALID_POLICY`), each with the field path.
 * @example
 * ```ts
 * validateRequestAuthentication({
 *   apiVersion: 'security.istio.io/v1', kind: 'RequestAuthentication',
 *   metadata: { name: 'jwt', namespace: 'foo' },
 *   spec: { jwtRules: [{ issuer: 'https://issuer.example', jwksUri: 'https://issuer.example/jwks' }] },
 * }).isOk(); // true
 * ```
 */
export function validateRequestAuthentication(
  raw: unknown,
  options: ValidateOptions = {},
): Result<RequestAuthentication, PolicyError[]> {
  const c = new Collector(nameOf(raw, options.documentIndex), 'RequestAuthentication');
  if (!isRecord(raw) || get(raw, 'kind') !== 'RequestAuthentication') {
    c.add('AUTHZ_ERR_NOT_A_POLICY', 'kind', `expected kind RequestAuthentication, found ${describe(raw)}`);
    return err(c.errors);
  }
  const apiVersion = readEnvelope(c, raw);
  if (apiVersion === undefined) return err(c.errors);
  const md = readMetadata(c, get(raw, 'metadata'));
  const spec: { -readonly [K in keyof RequestAuthenticationSpec]: RequestAuthenticationSpec[K] } = {};
  const specRaw = get(raw, 'spec');
  if (specRaw !== undefined && specRaw !== null) {
    if (!isRecord(specRaw)) c.schema('spec', `must be an object, found ${describe(specRaw)}`);
    else {
      checkKnownFields(c, 'spec', specRaw, ['selector', 'targetRef', 'targetRefs', 'jwtRules']);
      const selector = readSelector(c, 'spec.selector', get(specRaw, 'selector'));
      if (selector !== undefined) spec.selector = selector;
      const targets = readTargets(c, specRaw);
      if (targets.targetRef !== undefined) spec.targetRef = targets.targetRef;
      if (targets.targetRefs !== undefined) spec.targetRefs = targets.targetRefs;
      if ((selector !== undefined ? 1 : 0) + targets.count > 1) {
        c.invalid('spec', 'only one of targetRefs or workloadSelector can be set');
      }
      const rules = readList(c, 'spec.jwtRules', get(specRaw, 'jwtRules'), 4096);
      if (rules !== undefined) {
        const out: JwtRule[] = [];
        rules.forEach((r, i) => {
          const rule = readJwtRule(c, `spec.jwtRules[${i}]`, r);
          if (rule !== undefined) out.push(rule);
        });
        spec.jwtRules = out;
      }
    }
  }
  if (c.errors.length > 0) return err(c.errors);
  return ok({
    apiVersion,
    kind: 'RequestAuthentication',
    metadata: {
      name: md.name,
      namespace: md.namespace,
      ...(md.annotations === undefined ? {} : { annotations: md.annotations }),
      ...(md.labels === undefined ? {} : { labels: md.labels }),
      ...(md.creationTimestamp === undefined ? {} : { creationTimestamp: md.creationTimestamp }),
    },
    spec,
  });
}
