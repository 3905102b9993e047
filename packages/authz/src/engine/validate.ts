/**
 * Validation of AuthorizationPolicy objects: the CRD's structural schema (types, unknown fields, `MaxItems`,
 * CEL rules from istio/api) and istiod's `ValidateAuthorizationPolicy` (istio
 * `pkg/config/validation/validation.go`, `pkg/config/security/security.go` at istio/istio@86c9f01f). Every error is
 * reported at once, each with the policy and the field path.
 *
 * A policy that fails never reaches an engine: an invalid DENY silently dropped would be a silent allow.
 * @module
 */

import { err, ok, type Result } from 'neverthrow';
import { type AuthzErrorCode, PolicyError } from './errors.js';
import { parseIpBlock } from './ip-block.js';
import { checkPathTemplate } from './path-template.js';
import {
  AUTHORIZATION_ACTIONS,
  type AuthorizationAction,
  type AuthorizationPolicy,
  type AuthorizationPolicySpec,
  type Condition,
  DRY_RUN_ANNOTATION,
  type Operation,
  type PolicyTargetReference,
  parseGoBool,
  type Rule,
  type Source,
} from './policy.js';

/** API versions that carry the AuthorizationPolicy schema (`v1` is an alias of `v1beta1`). */
export const POLICY_API_VERSIONS: readonly string[] = ['security.istio.io/v1', 'security.istio.io/v1beta1'];

const SOURCE_FIELDS = [
  'principals',
  'notPrincipals',
  'requestPrincipals',
  'notRequestPrincipals',
  'namespaces',
  'notNamespaces',
  'serviceAccounts',
  'notServiceAccounts',
  'ipBlocks',
  'notIpBlocks',
  'remoteIpBlocks',
  'notRemoteIpBlocks',
  'trustDomains',
  'notTrustDomains',
] as const satisfies readonly (keyof Source)[];

const OPERATION_FIELDS = [
  'hosts',
  'notHosts',
  'ports',
  'notPorts',
  'methods',
  'notMethods',
  'paths',
  'notPaths',
] as const satisfies readonly (keyof Operation)[];

// Kubernetes object names: DNS-1123 subdomain for the name, DNS-1123 label for the namespace.
const DNS1123_SUBDOMAIN = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$/;
const DNS1123_LABEL = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/;
// RFC 3339 date-time, as Kubernetes writes `metadata.creationTimestamp`.
const RFC3339 = /^\d{4}-\d{2}-\d{2}[Tt]\d{2}:\d{2}:\d{2}(\.\d+)?([Zz]|[+-]\d{2}:\d{2})$/;
// istio/api PolicyTargetReference patterns.
const TARGET_GROUP = /^$|^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$/;
const TARGET_KIND = /^[a-zA-Z]([-a-zA-Z0-9]*[a-zA-Z0-9])?$/;

/** Target kinds istiod accepts (`allowedTargetRefs`), as canonical `group/kind`. */
const ALLOWED_TARGETS = [
  'core/Service',
  'networking.istio.io/ServiceEntry',
  'gateway.networking.k8s.io/Gateway',
  'gateway.networking.k8s.io/GatewayClass',
];

/** Condition keys istiod understands, exact ones (istio/istio@86c9f01f:pkg/config/security/security.go `ValidateAttribute`). */
const EXACT_KEYS = new Set([
  'source.ip',
  'remote.ip',
  'source.namespace',
  'source.serviceAccount',
  'source.principal',
  'source.trustDomain',
  'request.auth.principal',
  'request.auth.audiences',
  'request.auth.presenter',
  'destination.ip',
  'destination.port',
  'connection.sni',
]);

/** Options of {@link validatePolicy}. */
export interface ValidateOptions {
  /** Names the document in errors when the policy has no usable name (`document #n`). */
  readonly documentIndex?: number;
}

/**
 * Whether a parsed value is a plain object (not null, not a list).
 *
 * @param value - Anything.
 * @returns Whether it is an object map.
 * @example
 * ```ts
 * isRecord({}); // true
 * ```
 */
export function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/**
 * Own-property read of a parsed document (never the prototype chain: `constructor`, `__proto__`).
 *
 * @param obj - The object.
 * @param key - The field.
 * @returns The value, or `undefined`.
 * @example
 * ```ts
 * get({ a: 1 }, 'constructor'); // undefined
 * ```
 */
export function get(obj: Record<string, unknown>, key: string): unknown {
  return Object.hasOwn(obj, key) ? obj[key] : undefined;
}

/**
 * Collects the errors of one document, each with the document's `namespace/name` and a field path.
 *
 * @example
 * ```ts
 * const c = new Collector('foo/p');
 * c.schema('spec.x', 'unknown field "x"');
 * ```
 */
export class Collector {
  readonly errors: PolicyError[] = [];
  policy: string;
  /** The document's kind, when it is known (reported with every error). */
  kind: string | undefined;
  /**
   * @param policy - `namespace/name` (or `document #n`).
   * @param kind - The document's kind.
   */
  constructor(policy: string, kind?: string) {
    this.policy = policy;
    this.kind = kind;
  }
  /**
   * Records an error.
   *
   * @param code - Its code.
   * @param path - The field path.
   * @param message - What is wrong.
   */
  add(code: AuthzErrorCode, path: string, message: string): void {
    this.errors.push(
      new PolicyError(code, message, {
        policy: this.policy,
        path,
        ...(this.kind === undefined ? {} : { kind: this.kind }),
      }),
    );
  }
  /**
   * Records a schema error (`AUTHZ_ERR_SCHEMA`).
   *
   * @param path - The field path.
   * @param message - What is wrong.
   */
  schema(path: string, message: string): void {
    this.add('AUTHZ_ERR_SCHEMA', path, message);
  }
  /**
   * Records an istiod validation error (`AUTHZ_ERR_INVALID_POLICY`).
   *
   * @param path - The field path.
   * @param message - What is wrong.
   */
  invalid(path: string, message: string): void {
    this.add('AUTHZ_ERR_INVALID_POLICY', path, message);
  }
}

/**
 * Names a value's type for messages.
 *
 * @param value - Anything.
 * @returns e.g. `a list`, `an object`, `number 8080`.
 * @example
 * ```ts
 * describe(8080); // 'number 8080'
 * ```
 */
export function describe(value: unknown): string {
  if (value === null) return 'null';
  if (Array.isArray(value)) return 'a list';
  return typeof value === 'object' ? 'an object' : `${typeof value} ${JSON.stringify(value)}`;
}

/**
 * Reports every field of `obj` not in `known` as `<path>.<field>: unknown field`.
 *
 * @param c - The collector.
 * @param path - The object's path (`''` for the top level).
 * @param obj - The object.
 * @param known - Its schema's fields.
 * @example
 * ```ts
 * checkKnownFields(c, 'spec', spec, ['selector', 'rules']);
 * ```
 */
export function checkKnownFields(
  c: Collector,
  path: string,
  obj: Record<string, unknown>,
  known: readonly string[],
): void {
  for (const key of Object.keys(obj)) {
    if (!known.includes(key)) {
      c.schema(
        path === '' ? key : `${path}.${key}`,
        `unknown field "${key}" (known fields: ${known.join(', ')})`,
      );
    }
  }
}

/**
 * Reads a list of strings; `null` in the document means absent.
 *
 * @param c - The collector.
 * @param path - The field path.
 * @param value - The raw value.
 * @returns The list, `undefined` when absent, `null` when malformed (reported).
 * @example
 * ```ts
 * readStringList(c, 'spec.jwtRules[0].audiences', ['a']); // ['a']
 * ```
 */
export function readStringList(c: Collector, path: string, value: unknown): string[] | undefined | null {
  if (value === undefined || value === null) return undefined;
  if (!Array.isArray(value)) {
    c.schema(path, `must be a list of strings, found ${describe(value)}`);
    return null;
  }
  let okList = true;
  value.forEach((item, i) => {
    if (typeof item !== 'string') {
      const hint = typeof item === 'number' ? ` (quote it: "${item}")` : '';
      c.schema(`${path}[${i}]`, `must be a string, found ${describe(item)}${hint}`);
      okList = false;
    }
  });
  // A copy at its exact size: a policy's lists are kept for as long as its engine lives.
  return okList ? (value as string[]).slice() : null;
}

/**
 * Reads a map of strings (labels, annotations).
 *
 * @param c - The collector.
 * @param path - The field path.
 * @param value - The raw value.
 * @returns The map, or `undefined` when absent or malformed (reported).
 * @example
 * ```ts
 * readStringMap(c, 'metadata.labels', { app: 'web' }); // { app: 'web' }
 * ```
 */
export function readStringMap(
  c: Collector,
  path: string,
  value: unknown,
): Record<string, string> | undefined {
  if (value === undefined || value === null) return undefined;
  if (!isRecord(value)) {
    c.schema(path, `must be a map of strings, found ${describe(value)}`);
    return undefined;
  }
  const out: Record<string, string> = {};
  for (const [k, v] of Object.entries(value)) {
    if (typeof v !== 'string') {
      const hint = typeof v === 'number' || typeof v === 'boolean' ? ` (quote it: "${String(v)}")` : '';
      c.schema(`${path}.${k}`, `must be a string, found ${describe(v)}${hint}`);
    } else {
      out[k] = v;
    }
  }
  return out;
}

// Reports each value's problem, if any, at `<path>[i]`.
function checkEach(
  c: Collector,
  path: string,
  values: readonly string[] | undefined,
  problem: (v: string) => string | undefined,
): void {
  values?.forEach((v, i) => {
    const found = problem(v);
    if (found !== undefined) c.invalid(`${path}[${i}]`, found);
  });
}

function checkEmptyValues(
  c: Collector,
  path: string,
  field: string,
  values: readonly string[] | undefined,
): void {
  checkEach(c, path, values, (v) => (v === '' ? `empty value not allowed, found in ${field}` : undefined));
}

// istio security.ValidateIPs: an address, or a CIDR range when the value has a '/' (what parseIpBlock reads).
function ipProblem(v: string): string | undefined {
  if (parseIpBlock(v) !== undefined) return undefined;
  return v.includes('/') ? `bad CIDR range (${v})` : `bad IP address (${v})`;
}

/**
 * Whether a policy port value is one istiod accepts: Go `strconv.ParseUint(v, 10, 32)` and at most 65535, so
 * decimal digits only, leading zeros allowed. istiod's ambient `stringToPort` keeps exactly these values.
 *
 * @param value - A `ports`/`notPorts` or `destination.port` value.
 * @returns Whether it is a port.
 * @example
 * ```ts
 * isPort('080'); // true
 * isPort('65536'); // false
 * ```
 */
export function isPort(value: string): boolean {
  return /^[0-9]{1,10}$/.test(value) && Number(value) <= 65535;
}

function portProblem(v: string): string | undefined {
  return isPort(v) ? undefined : `bad port (${v}): must be an integer in 0..65535`;
}

// istio security.CheckServiceAccount.
function checkServiceAccounts(
  c: Collector,
  path: string,
  field: string,
  values: readonly string[] | undefined,
): void {
  if (values === undefined) return;
  if (values.length > 16) c.invalid(path, `${field} may not have more than 16 values`);
  checkEach(c, path, values, (v) => serviceAccountProblem(v, field));
}

function serviceAccountProblem(v: string, field: string): string | undefined {
  if (v === '') return `empty value not allowed, found in ${field}`;
  if (v.includes('*')) return `wildcard not allowed, found in ${field}`;
  const slashes = v.split('/').length - 1;
  if (slashes > 1)
    return `expected format 'serviceAccount' or 'namespace/serviceAccount', found "${v}" in ${field}`;
  if (v.length > 320) return `value cannot exceed 320 characters, found in ${field}`;
  const [ns, sa] = v.split('/');
  if (slashes === 1 && ns === '') {
    return `expected format 'namespace/serviceAccount', found empty namespace "${v}" in ${field}`;
  }
  if (slashes === 1 && sa === '') {
    return `expected format 'namespace/serviceAccount', found empty serviceAccount "${v}" in ${field}`;
  }
  return undefined;
}

function firstProblem(
  values: readonly string[],
  check: (v: string) => string | undefined,
): string | undefined {
  for (const v of values) {
    const problem = check(v);
    if (problem !== undefined) return problem;
  }
  return undefined;
}

// istio security.CheckWildcardValues.
function wildcardProblem(v: string, field: string): string | undefined {
  if (v === '') return `empty value not allowed, found in ${field}`;
  const count = v.split('*').length - 1;
  if (count > 1) return `at most one wildcard is allowed, found in ${field}: "${v}"`;
  if (count === 1 && v !== '*' && !v.startsWith('*') && !v.endsWith('*')) {
    return `wildcard is only allowed at the start or end, found in ${field}: "${v}"`;
  }
  return undefined;
}

// istio security.CheckTrustDomainValues.
function checkTrustDomains(
  c: Collector,
  path: string,
  field: string,
  values: readonly string[] | undefined,
): void {
  checkEach(c, path, values, (v) => wildcardProblem(v, field));
  checkEach(c, path, values, (v) =>
    v.includes('/') ? `trust domain must not contain '/', found in ${field}: "${v}"` : undefined,
  );
}

/**
 * Splits a bracketed condition key such as `request.headers[x-token]` into its prefix and bracket names
 * (`request.auth.claims[a][b]` → `['a', 'b']`).
 *
 * @param key - The condition key.
 * @param prefix - `request.headers`, `request.auth.claims` or an `experimental.envoy.filters.` key's head.
 * @returns The names inside brackets, or `undefined` when the key is not `prefix[...]`.
 * @example
 * ```ts
 * bracketNames('request.auth.claims[groups]', 'request.auth.claims'); // ['groups']
 * ```
 */
export function bracketNames(key: string, prefix: string): string[] | undefined {
  if (!key.startsWith(prefix)) return undefined;
  const rest = key.slice(prefix.length);
  if (!rest.startsWith('[') || !rest.endsWith(']')) return undefined;
  // istio extractNameInNestedBrackets: "[a][b]" → a, b; anything else is one name between the outer brackets.
  const names: string[] = [];
  let i = 0;
  while (i < rest.length) {
    if (rest[i] !== '[') break;
    const close = rest.indexOf(']', i + 1);
    const open = rest.indexOf('[', i + 1);
    if (close === -1 || (open !== -1 && open < close)) break;
    names.push(rest.slice(i + 1, close));
    i = close + 1;
  }
  if (i === rest.length && names.length > 0) return names;
  return [rest.slice(1, -1)];
}

/**
 * Checks a condition key and its values (istio security.ValidateAttribute), and rejects bracketed keys that
 * istiod would accept but then fail to generate (the whole rule would be skipped, which for ALLOW is a quiet
 * narrowing and for DENY a quiet no-op).
 *
 * @param key - The condition key.
 * @param values - `values` or `notValues`.
 * @returns `undefined` when valid, else the reason.
 * @example
 * ```ts
 * checkConditionKey('destination.labels[app]', ['x']); // 'attribute destination.labels[app] is replaced by the workload selector'
 * ```
 */
export function checkConditionKey(key: string, values: readonly string[]): string | undefined {
  for (const v of values) if (v === '') return `empty value not allowed, found in ${key}`;
  const mapKey = (prefix: string): string | undefined => {
    const names = bracketNames(key, prefix);
    if (names === undefined || names.some((n) => n === ''))
      return `bad key (${key}): should have format a[b]`;
    return undefined;
  };
  if (key.startsWith('request.headers')) {
    const bad = mapKey('request.headers');
    if (bad !== undefined) return bad;
    const names = bracketNames(key, 'request.headers') as string[];
    if (names.length !== 1) return `bad key (${key}): should have format request.headers[<name>]`;
    return undefined;
  }
  if (key.startsWith('request.auth.claims')) return mapKey('request.auth.claims');
  if (key.startsWith('experimental.envoy.filters.')) {
    const open = key.indexOf('[');
    if (open <= 'experimental.envoy.filters.'.length || !key.endsWith(']') || open >= key.length - 2) {
      return `bad key (${key}): should have format a[b]`;
    }
    return undefined;
  }
  if (key === 'destination.namespace') return `attribute ${key} is replaced by the metadata.namespace`;
  if (key.startsWith('destination.labels')) return `attribute ${key} is replaced by the workload selector`;
  if (key === 'destination.name' || key === 'destination.user') {
    return `deprecated attribute ${key}: only supported in v1alpha1`;
  }
  if (!EXACT_KEYS.has(key)) return `unknown attribute: ${key}`;
  switch (key) {
    case 'source.ip':
    case 'remote.ip':
    case 'destination.ip':
      return firstProblem(values, ipProblem);
    case 'destination.port':
      return firstProblem(values, portProblem);
    case 'source.serviceAccount':
      if (values.length > 16) return `${key} may not have more than 16 values`;
      return firstProblem(values, (v) => serviceAccountProblem(v, key));
    case 'source.trustDomain':
      return firstProblem(values, (v) => wildcardProblem(v, key));
    default:
      return undefined;
  }
}

// Sources and operations with a field of the wrong type: that field is reported already, so "must not be
// empty" would only repeat it.
const MALFORMED = new WeakSet<object>();

// `from[].source` and `to[].operation`: an object of the listed string-list fields, nothing else.
function readStringLists(
  c: Collector,
  path: string,
  raw: unknown,
  fields: readonly string[],
  nilMessage: string,
): Record<string, string[]> | undefined {
  if (raw === undefined || raw === null) {
    c.invalid(path, nilMessage);
    return undefined;
  }
  if (!isRecord(raw)) {
    c.schema(path, `must be an object, found ${describe(raw)}`);
    return undefined;
  }
  checkKnownFields(c, path, raw, fields);
  const out: Record<string, string[]> = {};
  for (const field of fields) {
    const list = readStringList(c, `${path}.${field}`, raw[field]);
    if (list) out[field] = list;
    else if (list === null) MALFORMED.add(out);
  }
  return out;
}

function nonEmpty(list: readonly string[] | undefined): boolean {
  return list !== undefined && list.length > 0;
}

function validateSource(c: Collector, path: string, src: Source, ruleIndex: number): void {
  const count = (list: readonly string[] | undefined): number => list?.length ?? 0;
  if (
    count(src.principals) + count(src.notPrincipals) + count(src.namespaces) + count(src.notNamespaces) > 0 &&
    count(src.serviceAccounts) + count(src.notServiceAccounts) > 0
  ) {
    c.invalid(path, `cannot set serviceAccounts with namespaces or principals, found at rule ${ruleIndex}`);
  }
  if (!MALFORMED.has(src) && SOURCE_FIELDS.every((f) => count(src[f]) === 0)) {
    c.invalid(path, `\`from.source\` must not be empty, found at rule ${ruleIndex}`);
  }
  for (const field of ['ipBlocks', 'notIpBlocks', 'remoteIpBlocks', 'notRemoteIpBlocks'] as const) {
    // An empty value is reported by checkEmptyValues below.
    checkEach(c, `${path}.${field}`, src[field], (v) => (v === '' ? undefined : ipProblem(v)));
  }
  for (const field of [
    'principals',
    'requestPrincipals',
    'namespaces',
    'ipBlocks',
    'remoteIpBlocks',
    'notPrincipals',
    'notRequestPrincipals',
    'notNamespaces',
    'notIpBlocks',
    'notRemoteIpBlocks',
  ] as const) {
    checkEmptyValues(c, `${path}.${field}`, field, src[field]);
  }
  checkServiceAccounts(c, `${path}.serviceAccounts`, 'serviceAccounts', src.serviceAccounts);
  checkServiceAccounts(c, `${path}.notServiceAccounts`, 'notServiceAccounts', src.notServiceAccounts);
  checkTrustDomains(c, `${path}.trustDomains`, 'trustDomains', src.trustDomains);
  checkTrustDomains(c, `${path}.notTrustDomains`, 'notTrustDomains', src.notTrustDomains);
}

function validateOperation(c: Collector, path: string, op: Operation, ruleIndex: number): void {
  if (!MALFORMED.has(op) && OPERATION_FIELDS.every((f) => !nonEmpty(op[f]))) {
    c.invalid(path, `\`to.operation\` must not be empty, found at rule ${ruleIndex}`);
  }
  checkEach(c, `${path}.ports`, op.ports, portProblem);
  checkEach(c, `${path}.notPorts`, op.notPorts, portProblem);
  for (const field of OPERATION_FIELDS) {
    if (field !== 'ports' && field !== 'notPorts') checkEmptyValues(c, `${path}.${field}`, field, op[field]);
  }
  for (const field of ['paths', 'notPaths'] as const) {
    op[field]?.forEach((p, i) => {
      const problem = p === '' ? undefined : checkPathTemplate(p);
      if (problem !== undefined) c.invalid(`${path}.${field}[${i}]`, problem);
    });
  }
}

function readCondition(c: Collector, path: string, raw: unknown): Condition | undefined {
  if (raw === undefined || raw === null) {
    c.invalid(path, 'when field cannot be nil');
    return undefined;
  }
  if (!isRecord(raw)) {
    c.schema(path, `must be an object, found ${describe(raw)}`);
    return undefined;
  }
  checkKnownFields(c, path, raw, ['key', 'values', 'notValues']);
  const key = get(raw, 'key');
  if (key !== undefined && key !== null && typeof key !== 'string') {
    c.schema(`${path}.key`, `must be a string, found ${describe(key)}`);
    return undefined;
  }
  const values = readStringList(c, `${path}.values`, get(raw, 'values'));
  const notValues = readStringList(c, `${path}.notValues`, get(raw, 'notValues'));
  if (values === null || notValues === null) return undefined;
  const keyText = typeof key === 'string' ? key : '';
  if (keyText === '') {
    c.invalid(`${path}.key`, '`key` must not be empty');
    return undefined;
  }
  if (!nonEmpty(values) && !nonEmpty(notValues)) {
    c.invalid(path, `at least one of \`values\` or \`notValues\` must be set for key ${keyText}`);
  } else {
    const badValue = values === undefined ? undefined : checkConditionKey(keyText, values);
    if (badValue !== undefined)
      c.invalid(`${path}.values`, `invalid \`value\` for \`key\` ${keyText}: ${badValue}`);
    const badNot = notValues === undefined ? undefined : checkConditionKey(keyText, notValues);
    if (badNot !== undefined)
      c.invalid(`${path}.notValues`, `invalid \`notValue\` for \`key\` ${keyText}: ${badNot}`);
  }
  return {
    key: keyText,
    ...(values === undefined ? {} : { values }),
    ...(notValues === undefined ? {} : { notValues }),
  };
}

/**
 * Reads a list with a `MaxItems` limit.
 *
 * @param c - The collector.
 * @param path - The field path.
 * @param raw - The raw value.
 * @param max - The CRD's `MaxItems`.
 * @returns The items, or `undefined` when absent or not a list (reported).
 * @example
 * ```ts
 * readList(c, 'spec.jwtRules', rules, 4096);
 * ```
 */
export function readList(c: Collector, path: string, raw: unknown, max: number): unknown[] | undefined {
  if (raw === undefined || raw === null) return undefined;
  if (!Array.isArray(raw)) {
    c.schema(path, `must be a list, found ${describe(raw)}`);
    return undefined;
  }
  if (raw.length > max) c.schema(path, `must have at most ${max} items, found ${raw.length}`);
  return raw;
}

// `rule.from` / `rule.to`: a non-empty list of `{ source }` / `{ operation }` wrappers, each read by `read`.
function readEntries<T>(
  c: Collector,
  path: string,
  raw: unknown,
  max: number,
  ruleIndex: number,
  field: 'source' | 'operation',
  read: (at: string, value: unknown) => T | undefined,
): T[] | undefined {
  const list = field === 'source' ? 'from' : 'to';
  const items = readList(c, path, raw, max);
  if (items === undefined) return undefined;
  if (items.length === 0) c.invalid(path, `\`${list}\` must not be empty, found at rule ${ruleIndex}`);
  const out: T[] = [];
  for (const [i, entry] of items.entries()) {
    const at = `${path}[${i}]`;
    if (entry === null || entry === undefined) {
      c.invalid(at, `\`${list}\` must not be nil, found at rule ${ruleIndex}`);
      continue;
    }
    if (!isRecord(entry)) {
      c.schema(at, `must be an object, found ${describe(entry)}`);
      continue;
    }
    checkKnownFields(c, at, entry, [field]);
    const value = read(`${at}.${field}`, get(entry, field));
    if (value !== undefined) out.push(value);
  }
  // Trimmed to its size (a push-grown array keeps room for 16): blocklists keep thousands of these.
  return out.slice();
}

function readRule(c: Collector, path: string, raw: unknown, index: number): Rule | undefined {
  if (raw === undefined || raw === null) {
    c.invalid(path, `\`rule\` must not be nil, found at rule ${index}`);
    return undefined;
  }
  if (!isRecord(raw)) {
    c.schema(path, `must be an object, found ${describe(raw)}`);
    return undefined;
  }
  checkKnownFields(c, path, raw, ['from', 'to', 'when']);
  const rule: { from?: { source: Source }[]; to?: { operation: Operation }[]; when?: Condition[] } = {};
  const from = readEntries(c, `${path}.from`, get(raw, 'from'), 512, index, 'source', (at, value) => {
    const source = readStringLists(c, at, value, SOURCE_FIELDS, '`from.source` must not be nil');
    if (source === undefined) return undefined;
    validateSource(c, at, source, index);
    return { source };
  });
  if (from !== undefined) rule.from = from;
  const to = readEntries(
    c,
    `${path}.to`,
    get(raw, 'to'),
    Number.MAX_SAFE_INTEGER,
    index,
    'operation',
    (at, value) => {
      const operation = readStringLists(c, at, value, OPERATION_FIELDS, '`to.operation` must not be nil');
      if (operation === undefined) return undefined;
      validateOperation(c, at, operation, index);
      return { operation };
    },
  );
  if (to !== undefined) rule.to = to;
  const whenRaw = readList(c, `${path}.when`, get(raw, 'when'), Number.MAX_SAFE_INTEGER);
  if (whenRaw !== undefined) {
    rule.when = [];
    whenRaw.forEach((entry, i) => {
      const condition = readCondition(c, `${path}.when[${i}]`, entry);
      if (condition !== undefined) rule.when?.push(condition);
    });
  }
  return rule;
}

/**
 * Reads one `targetRef` (istio/api PolicyTargetReference, istiod `validatePolicyTargetReference`).
 *
 * @param c - The collector.
 * @param path - The field path.
 * @param raw - The raw value.
 * @returns The reference, or `undefined` when it is not an object (reported).
 * @example
 * ```ts
 * readTargetRef(c, 'spec.targetRefs[0]', { kind: 'Service', name: 'web' });
 * ```
 */
export function readTargetRef(c: Collector, path: string, raw: unknown): PolicyTargetReference | undefined {
  if (!isRecord(raw)) {
    c.schema(path, `must be an object, found ${describe(raw)}`);
    return undefined;
  }
  checkKnownFields(c, path, raw, ['group', 'kind', 'name', 'namespace']);
  const str = (field: string): string | undefined => {
    const v = raw[field];
    if (v === undefined || v === null) return undefined;
    if (typeof v !== 'string') {
      c.schema(`${path}.${field}`, `must be a string, found ${describe(v)}`);
      return undefined;
    }
    return v;
  };
  const group = str('group') ?? '';
  const kind = str('kind') ?? '';
  const name = str('name') ?? '';
  const namespace = str('namespace') ?? '';
  if (group.length > 253 || !TARGET_GROUP.test(group)) c.schema(`${path}.group`, `invalid group "${group}"`);
  if (kind === '') c.schema(`${path}.kind`, '`kind` is required');
  else if (kind.length > 63 || !TARGET_KIND.test(kind)) c.schema(`${path}.kind`, `invalid kind "${kind}"`);
  if (name === '') c.invalid(`${path}.name`, 'targetRef name must be set');
  else if (name.length > 253) c.schema(`${path}.name`, 'must be at most 253 characters');
  if (namespace !== '') {
    c.invalid(
      `${path}.namespace`,
      'targetRef namespace must not be set; cross namespace referencing is not supported',
    );
  }
  const canonical = `${group === '' ? 'core' : group}/${kind}`;
  if (kind !== '' && !ALLOWED_TARGETS.includes(canonical)) {
    c.invalid(
      path,
      `targetRef must be to one of core/Service, networking.istio.io/ServiceEntry, gateway.networking.k8s.io/Gateway, ` +
        `gateway.networking.k8s.io/GatewayClass but was ${group}/${kind}`,
    );
  }
  return {
    ...(group === '' ? {} : { group }),
    kind,
    name,
    ...(namespace === '' ? {} : { namespace }),
  };
}

/**
 * Reads `spec.selector` (istio/api WorkloadSelector, istiod `validateWorkloadSelector` and the CRD's rules).
 *
 * @param c - The collector.
 * @param path - The field path.
 * @param raw - The raw value.
 * @returns The selector, or `undefined` when absent or not an object (reported).
 * @example
 * ```ts
 * readSelector(c, 'spec.selector', { matchLabels: { app: 'web' } });
 * ```
 */
export function readSelector(
  c: Collector,
  path: string,
  raw: unknown,
): { matchLabels?: Record<string, string> } | undefined {
  if (raw === undefined || raw === null) return undefined;
  if (!isRecord(raw)) {
    c.schema(path, `must be an object, found ${describe(raw)}`);
    return undefined;
  }
  checkKnownFields(c, path, raw, ['matchLabels']);
  const labels = readStringMap(c, `${path}.matchLabels`, get(raw, 'matchLabels'));
  if (labels !== undefined) {
    if (Object.keys(labels).length > 4096) c.schema(`${path}.matchLabels`, 'must have at most 4096 labels');
    for (const [k, v] of Object.entries(labels)) {
      const at = `${path}.matchLabels.${k}`;
      if (k === '') c.invalid(at, `empty key is not supported in selector: "=${v}"`);
      if (k.includes('*') || v.includes('*'))
        c.invalid(at, `wildcard is not supported in selector: "${k}=${v}"`);
      if (v.length > 63) c.schema(at, 'label value must be at most 63 characters');
    }
  }
  return labels === undefined ? {} : { matchLabels: labels };
}

/**
 * Reads `spec.targetRef` and `spec.targetRefs` (at most 16).
 *
 * @param c - The collector.
 * @param spec - The raw spec.
 * @returns The references read, and how many of the two fields are set (for the one-of check).
 * @example
 * ```ts
 * readTargets(c, { targetRefs: [{ kind: 'Service', name: 'web' }] }).count; // 1
 * ```
 */
export function readTargets(
  c: Collector,
  spec: Record<string, unknown>,
): { targetRef?: PolicyTargetReference; targetRefs?: PolicyTargetReference[]; count: number } {
  const out: { targetRef?: PolicyTargetReference; targetRefs?: PolicyTargetReference[]; count: number } = {
    count: 0,
  };
  const targetRefRaw = get(spec, 'targetRef');
  if (targetRefRaw !== undefined && targetRefRaw !== null) {
    const ref = readTargetRef(c, 'spec.targetRef', targetRefRaw);
    if (ref !== undefined) out.targetRef = ref;
    out.count++;
  }
  const refsRaw = readList(c, 'spec.targetRefs', get(spec, 'targetRefs'), 16);
  if (refsRaw !== undefined && refsRaw.length > 0) {
    out.targetRefs = [];
    refsRaw.forEach((r, i) => {
      const ref = readTargetRef(c, `spec.targetRefs[${i}]`, r);
      if (ref !== undefined) out.targetRefs?.push(ref);
    });
    out.count++;
  }
  return out;
}

function readSpec(
  c: Collector,
  raw: unknown,
  annotations: Record<string, string> | undefined,
): AuthorizationPolicySpec {
  if (raw === undefined || raw === null) return {};
  if (!isRecord(raw)) {
    c.schema('spec', `must be an object, found ${describe(raw)}`);
    return {};
  }
  checkKnownFields(c, 'spec', raw, ['selector', 'targetRef', 'targetRefs', 'action', 'provider', 'rules']);
  const spec: {
    selector?: { matchLabels?: Record<string, string> };
    targetRef?: PolicyTargetReference;
    targetRefs?: PolicyTargetReference[];
    action?: AuthorizationAction;
    provider?: { name: string };
    rules?: Rule[];
  } = {};

  // selector
  const selector = readSelector(c, 'spec.selector', get(raw, 'selector'));
  if (selector !== undefined) spec.selector = selector;

  // targetRef / targetRefs
  const targets = readTargets(c, raw);
  if (targets.targetRef !== undefined) spec.targetRef = targets.targetRef;
  if (targets.targetRefs !== undefined) spec.targetRefs = targets.targetRefs;
  if ((spec.selector !== undefined ? 1 : 0) + targets.count > 1) {
    c.invalid('spec', 'only one of targetRefs or workloadSelector can be set');
  }

  // action
  const actionRaw = get(raw, 'action');
  let action: AuthorizationAction = 'ALLOW';
  if (actionRaw !== undefined && actionRaw !== null) {
    if (typeof actionRaw !== 'string' || !(AUTHORIZATION_ACTIONS as readonly string[]).includes(actionRaw)) {
      c.schema(
        'spec.action',
        `\`action\` must be one of ${AUTHORIZATION_ACTIONS.join(', ')}, found ${describe(actionRaw)}`,
      );
    } else {
      action = actionRaw as AuthorizationAction;
      spec.action = action;
    }
  }

  // provider
  const providerRaw = get(raw, 'provider');
  if (providerRaw !== undefined && providerRaw !== null) {
    if (!isRecord(providerRaw)) {
      c.schema('spec.provider', `must be an object, found ${describe(providerRaw)}`);
    } else {
      checkKnownFields(c, 'spec.provider', providerRaw, ['name']);
      const name = get(providerRaw, 'name');
      if (name !== undefined && name !== null && typeof name !== 'string') {
        c.schema('spec.provider.name', `must be a string, found ${describe(name)}`);
      }
      spec.provider = { name: typeof name === 'string' ? name : '' };
    }
  }

  // rules
  const rulesRaw = readList(c, 'spec.rules', get(raw, 'rules'), 512);
  if (rulesRaw !== undefined && rulesRaw.length > 0) {
    spec.rules = [];
    rulesRaw.forEach((r, i) => {
      const rule = readRule(c, `spec.rules[${i}]`, r, i);
      if (rule !== undefined) spec.rules?.push(rule);
    });
  }
  const hasRules = rulesRaw !== undefined && rulesRaw.length > 0;

  // istiod ValidateAuthorizationPolicy: action-specific rules.
  if (action === 'CUSTOM') {
    if (!hasRules) {
      c.invalid(
        'spec.rules',
        'CUSTOM action without `rules` is meaningless as it will never be triggered, add an empty rule `{}` if you want it be triggered for every request',
      );
    } else if (spec.provider === undefined || spec.provider.name === '') {
      c.invalid('spec.provider.name', '`provider.name` must not be empty');
    }
    spec.rules?.forEach((rule, i) => {
      rule.from?.forEach((from, j) => {
        for (const field of [
          'namespaces',
          'notNamespaces',
          'serviceAccounts',
          'notServiceAccounts',
          'trustDomains',
          'notTrustDomains',
          'principals',
          'notPrincipals',
          'requestPrincipals',
          'notRequestPrincipals',
        ] as const) {
          if (nonEmpty(from.source[field])) {
            const name = `From.${field[0]?.toUpperCase()}${field.slice(1)}`;
            c.invalid(
              `spec.rules[${i}].from[${j}].source.${field}`,
              `${name} is currently not supported with CUSTOM action`,
            );
          }
        }
      });
      rule.when?.forEach((when, j) => {
        if (
          ['source.namespace', 'source.serviceAccount', 'source.trustDomain', 'source.principal'].includes(
            when.key,
          ) ||
          when.key.startsWith('request.auth.')
        ) {
          c.invalid(
            `spec.rules[${i}].when[${j}].key`,
            `${when.key} is currently not supported with CUSTOM action`,
          );
        }
      });
    });
  }
  if (spec.provider !== undefined && action !== 'CUSTOM') {
    c.invalid('spec.provider', `\`provider\` must not be with non CUSTOM action, found ${action}`);
  }
  if (action === 'DENY' && !hasRules) {
    c.invalid(
      'spec.rules',
      'DENY action without `rules` is meaningless as it will never be triggered, add an empty rule `{}` if you want it be triggered for every request',
    );
  }

  // Dry-run annotation (istio validateMetadata / checkDryRunAnnotation).
  const dryRun = annotations?.[DRY_RUN_ANNOTATION];
  if (dryRun !== undefined) {
    const at = `metadata.annotations.${DRY_RUN_ANNOTATION}`;
    if (action !== 'ALLOW' && action !== 'DENY') {
      c.invalid(
        at,
        `the annotation ${DRY_RUN_ANNOTATION} currently only supports action ALLOW/DENY, found action ${action}`,
      );
    } else if (parseGoBool(dryRun) === undefined) {
      c.invalid(
        at,
        `annotation ${DRY_RUN_ANNOTATION} with invalid value (${dryRun}): must be a boolean like "true"`,
      );
    }
  }
  return spec;
}

/**
 * The `namespace/name` errors report for a document, or `document #n` when it has no usable name.
 *
 * @param raw - The raw document.
 * @param index - Its position in the input.
 * @returns The name to report.
 * @example
 * ```ts
 * nameOf({ metadata: { name: 'p' } }, 0); // 'default/p'
 * ```
 */
export function nameOf(raw: unknown, index: number | undefined): string {
  const md = isRecord(raw) ? get(raw, 'metadata') : undefined;
  if (isRecord(md)) {
    const name = get(md, 'name');
    const ns = get(md, 'namespace');
    if (typeof name === 'string' && name !== '') {
      return `${typeof ns === 'string' && ns !== '' ? ns : 'default'}/${name}`;
    }
  }
  return index === undefined ? '(unnamed policy)' : `document #${index + 1}`;
}

/** `metadata` as {@link readMetadata} reads it. */
export interface ReadMetadata {
  readonly name: string;
  readonly namespace: string;
  readonly annotations: Record<string, string> | undefined;
  readonly labels: Record<string, string> | undefined;
  /** `metadata.creationTimestamp` when given (istiod orders PeerAuthentications by it). */
  readonly creationTimestamp: string | undefined;
}

/**
 * The envelope every security.istio.io kind shares: `apiVersion` one of {@link POLICY_API_VERSIONS} (default
 * `security.istio.io/v1`, as the API server fills it) and no top-level field beyond `apiVersion`, `kind`,
 * `metadata`, `spec` and `status`.
 *
 * @param c - The collector; a wrong `apiVersion` is added as `AUTHZ_ERR_NOT_A_POLICY`, unknown fields as schema errors.
 * @param raw - The object, its `kind` already checked.
 * @returns The `apiVersion`, or `undefined` when it is not one of ours (validation stops there).
 * @example
 * ```ts
 * readEnvelope(c, { apiVersion: 'security.istio.io/v1beta1', kind: 'PeerAuthentication' }); // 'security.istio.io/v1beta1'
 * ```
 */
export function readEnvelope(c: Collector, raw: Readonly<Record<string, unknown>>): string | undefined {
  const apiVersion = get(raw, 'apiVersion') ?? 'security.istio.io/v1';
  if (typeof apiVersion !== 'string' || !POLICY_API_VERSIONS.includes(apiVersion)) {
    c.add(
      'AUTHZ_ERR_NOT_A_POLICY',
      'apiVersion',
      `expected apiVersion ${POLICY_API_VERSIONS.join(' or ')}, found ${describe(apiVersion)}`,
    );
    return undefined;
  }
  checkKnownFields(c, '', raw, ['apiVersion', 'kind', 'metadata', 'spec', 'status']);
  return apiVersion;
}

/**
 * Reads `metadata`: `name` (DNS-1123 subdomain, required), `namespace` (DNS-1123 label, default `default` as
 * `kubectl apply` does), `annotations`, `labels`, `creationTimestamp` (RFC 3339). Other Kubernetes fields
 * (`uid`, `resourceVersion`, ...) are accepted and ignored.
 *
 * @param c - The collector.
 * @param md - The raw metadata.
 * @returns What the engine reads from it.
 * @example
 * ```ts
 * readMetadata(c, { name: 'p', namespace: 'foo' }).namespace; // 'foo'
 * ```
 */
export function readMetadata(c: Collector, md: unknown): ReadMetadata {
  let name = '';
  let namespace = 'default';
  let annotations: Record<string, string> | undefined;
  let labels: Record<string, string> | undefined;
  let creationTimestamp: string | undefined;
  if (!isRecord(md)) {
    c.schema('metadata', `\`metadata\` with a \`name\` is required, found ${describe(md)}`);
  } else {
    const n = get(md, 'name');
    if (typeof n !== 'string' || n === '') c.schema('metadata.name', '`metadata.name` is required');
    else if (n.length > 253 || !DNS1123_SUBDOMAIN.test(n)) {
      c.schema('metadata.name', `invalid name "${n}": must be a lowercase RFC 1123 subdomain`);
    } else name = n;
    const ns = get(md, 'namespace');
    if (ns !== undefined && ns !== null) {
      if (typeof ns !== 'string' || ns.length > 63 || !DNS1123_LABEL.test(ns)) {
        c.schema(
          'metadata.namespace',
          `invalid namespace ${describe(ns)}: must be a lowercase RFC 1123 label`,
        );
      } else namespace = ns;
    }
    annotations = readStringMap(c, 'metadata.annotations', get(md, 'annotations'));
    labels = readStringMap(c, 'metadata.labels', get(md, 'labels'));
    const created = get(md, 'creationTimestamp');
    if (created !== undefined && created !== null) {
      if (typeof created !== 'string' || !RFC3339.test(created) || Number.isNaN(Date.parse(created))) {
        c.schema('metadata.creationTimestamp', `must be an RFC 3339 time, found ${describe(created)}`);
      } else creationTimestamp = created;
    }
  }
  return { name, namespace, annotations, labels, creationTimestamp };
}

/**
 * Validates one AuthorizationPolicy object with the CRD schema and istiod's rules, and returns it normalized:
 * `null` lists dropped, `metadata.namespace` defaulted to `default`, `apiVersion` to `security.istio.io/v1`,
 * fields outside the schema (and `status`) dropped.
 *
 * @param raw - Anything, e.g. a parsed YAML document.
 * @param options - How to name an unnamed document in errors.
 * @returns The policy, or every error found (codes `AUTHZ_ERR_NOT_A_POLICY`, `AUTHZ_ERR_SCHEMA`,
 *   `AUTHZ_ERR_INVALID_POLICY`).
 * @example
 * ```ts
 * const r = validatePolicy({
 *   apiVersion: 'security.istio.io/v1', kind: 'AuthorizationPolicy',
 *   metadata: { name: 'deny-all', namespace: 'foo' }, spec: { action: 'DENY' },
 * });
 * r.isErr() && r.error[0]?.message; // 'DENY action without `rules` is meaningless ...'
 * ```
 */
export function validatePolicy(
  raw: unknown,
  options: ValidateOptions = {},
): Result<AuthorizationPolicy, PolicyError[]> {
  const c = new Collector(nameOf(raw, options.documentIndex));
  if (!isRecord(raw)) {
    c.add('AUTHZ_ERR_NOT_A_POLICY', '', `expected an AuthorizationPolicy object, found ${describe(raw)}`);
    return err(c.errors);
  }
  const kind = get(raw, 'kind');
  if (kind !== 'AuthorizationPolicy') {
    c.add('AUTHZ_ERR_NOT_A_POLICY', 'kind', `expected kind AuthorizationPolicy, found ${describe(kind)}`);
    return err(c.errors);
  }
  const apiVersion = readEnvelope(c, raw);
  if (apiVersion === undefined) return err(c.errors);

  const { name, namespace, annotations, labels } = readMetadata(c, get(raw, 'metadata'));
  const spec = readSpec(c, get(raw, 'spec'), annotations);
  if (c.errors.length > 0) return err(c.errors);
  return ok({
    apiVersion,
    kind: 'AuthorizationPolicy',
    metadata: {
      name,
      namespace,
      ...(annotations === undefined ? {} : { annotations }),
      ...(labels === undefined ? {} : { labels }),
    },
    spec,
  });
}

/**
 * Validates a set of policies: each one as {@link validatePolicy} does, plus no two with the same
 * `namespace/name` (Kubernetes would keep only one of them).
 *
 * @param raws - Policy objects.
 * @returns The normalized policies in input order, or every error of every policy.
 * @example
 * ```ts
 * validatePolicies([policyA, policyB]).match((ps) => ps.length, (errors) => errors.length);
 * ```
 */
export function validatePolicies(raws: readonly unknown[]): Result<AuthorizationPolicy[], PolicyError[]> {
  const errors: PolicyError[] = [];
  const policies: AuthorizationPolicy[] = [];
  const seen = new Set<string>();
  raws.forEach((raw, i) => {
    const result = validatePolicy(raw, { documentIndex: i });
    if (result.isErr()) {
      errors.push(...result.error);
      return;
    }
    const key = `${result.value.metadata.namespace}/${result.value.metadata.name}`;
    if (seen.has(key)) {
      errors.push(
        new PolicyError('AUTHZ_ERR_DUPLICATE_POLICY', `policy ${key} is defined more than once`, {
          policy: key,
          path: 'metadata.name',
        }),
      );
      return;
    }
    seen.add(key);
    policies.push(result.value);
  });
  return errors.length > 0 ? err(errors) : ok(policies);
}
