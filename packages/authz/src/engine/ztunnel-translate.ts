/**
 * istiod's conversion of an AuthorizationPolicy into ztunnel's `istio.security.Authorization` (istio/istio@86c9f01f:
 * pilot/pkg/serviceregistry/ambient/authorization.go `convertAuthorizationPolicy`, `handleRule`). Output objects use istio's proto field names in lowerCamelCase
 * (`pkg/workloadapi/security/authorization.proto`) so the workload-api package can encode them as they are.
 * @module
 */

import { match } from 'ts-pattern';
import { ipBytes, parseIpBlock } from './ip.js';
import { type AuthorizationPolicy, isDryRun, type Rule, type Source, targetRefsOf } from './policy.js';
import type { SecurityPolicy } from './security-policy.js';
import { matchForm } from './string-match.js';
import { isPort } from './validate.js';

/** `istio.security.StringMatch`: exactly one of the four forms. */
export type ZtunnelStringMatch =
  | { readonly exact: string }
  | { readonly prefix: string }
  | { readonly suffix: string }
  | { readonly presence: true };

/** `istio.security.Address`: the address bytes (4 or 16) and the prefix length. */
export interface ZtunnelAddress {
  readonly address: Uint8Array;
  readonly length: number;
}

/** `istio.security.ServiceAccountMatch`. */
export interface ZtunnelServiceAccountMatch {
  readonly namespace: string;
  readonly serviceAccount: string;
}

/** `istio.security.Match`: value lists of one type are OR-ed, types AND-ed; every list is present. */
export interface ZtunnelMatch {
  readonly namespaces: readonly ZtunnelStringMatch[];
  readonly notNamespaces: readonly ZtunnelStringMatch[];
  readonly serviceAccounts: readonly ZtunnelServiceAccountMatch[];
  readonly notServiceAccounts: readonly ZtunnelServiceAccountMatch[];
  readonly principals: readonly ZtunnelStringMatch[];
  readonly notPrincipals: readonly ZtunnelStringMatch[];
  readonly sourceIps: readonly ZtunnelAddress[];
  readonly notSourceIps: readonly ZtunnelAddress[];
  readonly destinationIps: readonly ZtunnelAddress[];
  readonly notDestinationIps: readonly ZtunnelAddress[];
  readonly destinationPorts: readonly number[];
  readonly notDestinationPorts: readonly number[];
}

/** `istio.security.Rules` (ztunnel calls it a clause): its matches are OR-ed. */
export interface ZtunnelRules {
  readonly matches: readonly ZtunnelMatch[];
}

/** `istio.security.Group` (ztunnel: a rule): its rules (clauses) are AND-ed. */
export interface ZtunnelGroup {
  readonly rules: readonly ZtunnelRules[];
}

/** `istio.security.Scope`. */
export type ZtunnelScope = 'GLOBAL' | 'NAMESPACE' | 'WORKLOAD_SELECTOR';

/** `istio.security.Authorization`: groups are OR-ed; no groups never matches. */
export interface ZtunnelAuthorization {
  readonly name: string;
  readonly namespace: string;
  readonly scope: ZtunnelScope;
  readonly action: 'ALLOW' | 'DENY';
  readonly groups: readonly ZtunnelGroup[];
  readonly dryRun: boolean;
}

/**
 * Why istiod does not send a policy to ztunnel. `request-authentication`: JWT is enforced by Envoy proxies
 * only; `peer-authentication`: PeerAuthentications are translated together, by
 * `translatePeerAuthenticationsForZtunnel` (the result depends on the namespace and mesh policies).
 */
export type ZtunnelSkipReason =
  | 'targetRefs'
  | 'unsupported-action'
  | 'dry-run-disabled'
  | 'request-authentication'
  | 'peer-authentication';

/**
 * The outcome of {@link translateForZtunnel}: either the Authorization istiod sends (with the status warning
 * it writes when HTTP attributes were dropped), or why the policy is not sent at all.
 */
export type ZtunnelTranslation =
  | {
      readonly sent: true;
      readonly authorization: ZtunnelAuthorization;
      /** istiod's status message when L7 attributes were omitted (`httpRuleFmt`), else absent. */
      readonly warning?: string;
      /** For each group, the index of the `spec.rules` entry it came from. */
      readonly groupRuleIndex: readonly number[];
    }
  | {
      readonly sent: false;
      readonly reason: ZtunnelSkipReason;
      /** istiod's status message, or a description when istiod writes none (targetRefs). */
      readonly message: string;
    };

/** Options of {@link translateForZtunnel}. */
export interface ZtunnelTranslateOptions {
  /** MeshConfig `rootNamespace`: a selector-less policy there has scope GLOBAL. Default `istio-system`. */
  readonly rootNamespace?: string;
  /**
   * `AMBIENT_ENABLE_DRY_RUN_AUTHORIZATION_POLICY` (istiod `features.EnableWdsDryRunAuthzPol`, default false):
   * when off, dry-run policies are not sent; when on, they are sent with `dryRun: true`.
   */
  readonly enableDryRun?: boolean;
}

/** The `when` keys ztunnel understands (`l4WhenAttributes`); any other key is L7. */
export const L4_WHEN_KEYS: ReadonlySet<string> = new Set([
  'source.ip',
  'source.namespace',
  'source.principal',
  'destination.ip',
  'destination.port',
]);

const EMPTY: readonly never[] = Object.freeze([]);

function emptyMatch(): ZtunnelMatch {
  return {
    namespaces: EMPTY,
    notNamespaces: EMPTY,
    serviceAccounts: EMPTY,
    notServiceAccounts: EMPTY,
    principals: EMPTY,
    notPrincipals: EMPTY,
    sourceIps: EMPTY,
    notSourceIps: EMPTY,
    destinationIps: EMPTY,
    notDestinationIps: EMPTY,
    destinationPorts: EMPTY,
    notDestinationPorts: EMPTY,
  };
}

/**
 * Whether a Match sets no field (istiod `isMatchEmpty`); ztunnel skips such a match: it never matches.
 *
 * @param m - The match.
 * @returns Whether every list is empty.
 * @example
 * ```ts
 * isZtunnelMatchEmpty(translated.authorization.groups[0]!.rules[0]!.matches[0]!);
 * ```
 */
export function isZtunnelMatchEmpty(m: ZtunnelMatch): boolean {
  return (
    m.namespaces.length === 0 &&
    m.notNamespaces.length === 0 &&
    m.serviceAccounts.length === 0 &&
    m.notServiceAccounts.length === 0 &&
    m.principals.length === 0 &&
    m.notPrincipals.length === 0 &&
    m.sourceIps.length === 0 &&
    m.notSourceIps.length === 0 &&
    m.destinationIps.length === 0 &&
    m.notDestinationIps.length === 0 &&
    m.destinationPorts.length === 0 &&
    m.notDestinationPorts.length === 0
  );
}

// istiod stringToMatch: "*" presence, "*x" suffix, "x*" prefix, else exact.
function toStringMatch(value: string): ZtunnelStringMatch {
  const form = matchForm(value);
  return match(form)
    .with({ kind: 'presence' }, () => ({ presence: true }) as const)
    .with({ kind: 'suffix' }, (f) => ({ suffix: f.value }))
    .with({ kind: 'prefix' }, (f) => ({ prefix: f.value }))
    .with({ kind: 'exact' }, (f) => ({ exact: f.value }))
    .exhaustive();
}

function toStringMatches(values: readonly string[] | undefined): ZtunnelStringMatch[] {
  return (values ?? []).map(toStringMatch);
}

// istiod stringToPort: values that do not parse as 0..65535 are skipped.
function toPorts(values: readonly string[] | undefined): number[] {
  return (values ?? []).filter(isPort).map(Number);
}

// istiod stringToIP: empty and unparsable values skipped; an address without '/' gets its full length.
function toAddresses(values: readonly string[] | undefined): ZtunnelAddress[] {
  const out: ZtunnelAddress[] = [];
  for (const v of values ?? []) {
    const block = parseIpBlock(v);
    if (block !== undefined) out.push({ address: ipBytes(block.addr), length: block.bits });
  }
  return out;
}

// istiod stringToServiceAccountMatch: "ns/sa", or "sa" in the policy's namespace.
function toServiceAccounts(
  values: readonly string[] | undefined,
  namespace: string,
): ZtunnelServiceAccountMatch[] {
  return (values ?? []).map((v) => {
    const slash = v.indexOf('/');
    return slash === -1
      ? { namespace, serviceAccount: v }
      : { namespace: v.slice(0, slash), serviceAccount: v.slice(slash + 1) };
  });
}

const HTTP_OPERATION_FIELDS = ['hosts', 'notHosts', 'methods', 'notMethods', 'paths', 'notPaths'] as const;
const HTTP_SOURCE_FIELDS = [
  'remoteIpBlocks',
  'notRemoteIpBlocks',
  'requestPrincipals',
  'notRequestPrincipals',
] as const;

function fromMatch(source: Source, namespace: string): ZtunnelMatch {
  return {
    ...emptyMatch(),
    sourceIps: toAddresses(source.ipBlocks),
    notSourceIps: toAddresses(source.notIpBlocks),
    namespaces: toStringMatches(source.namespaces),
    notNamespaces: toStringMatches(source.notNamespaces),
    serviceAccounts: toServiceAccounts(source.serviceAccounts, namespace),
    notServiceAccounts: toServiceAccounts(source.notServiceAccounts, namespace),
    principals: toStringMatches(source.principals),
    notPrincipals: toStringMatches(source.notPrincipals),
  };
}

// istiod handleRule: one clause for `to`, one for `from`, one per `when`; ALLOW rules with any L7 attribute
// are dropped (undefined), DENY rules keep their L4 remainder.
function handleRule(
  action: 'ALLOW' | 'DENY',
  rule: Rule,
  namespace: string,
  l7Found: Set<string>,
): ZtunnelRules[] | undefined {
  let l7 = false;
  const toMatches: ZtunnelMatch[] = [];
  for (const to of rule.to ?? []) {
    const op = to.operation;
    for (const field of HTTP_OPERATION_FIELDS) {
      if ((op[field]?.length ?? 0) > 0) {
        l7 = true;
        l7Found.add(field);
      }
    }
    toMatches.push({
      ...emptyMatch(),
      destinationPorts: toPorts(op.ports),
      notDestinationPorts: toPorts(op.notPorts),
    });
  }
  const fromMatches: ZtunnelMatch[] = [];
  for (const from of rule.from ?? []) {
    for (const field of HTTP_SOURCE_FIELDS) {
      if ((from.source[field]?.length ?? 0) > 0) {
        l7 = true;
        l7Found.add(field);
      }
    }
    fromMatches.push(fromMatch(from.source, namespace));
  }
  const clauses: ZtunnelRules[] = [];
  if (toMatches.length > 0) clauses.push({ matches: toMatches });
  if (fromMatches.length > 0) clauses.push({ matches: fromMatches });
  for (const when of rule.when ?? []) {
    if (!L4_WHEN_KEYS.has(when.key)) {
      l7 = true;
      l7Found.add(when.key);
    }
    const pick = (key: string, values: readonly string[] | undefined): readonly string[] | undefined =>
      when.key === key ? values : undefined;
    clauses.push({
      matches: [
        {
          ...emptyMatch(),
          namespaces: toStringMatches(pick('source.namespace', when.values)),
          principals: toStringMatches(pick('source.principal', when.values)),
          sourceIps: toAddresses(pick('source.ip', when.values)),
          destinationPorts: toPorts(pick('destination.port', when.values)),
          destinationIps: toAddresses(pick('destination.ip', when.values)),
          notNamespaces: toStringMatches(pick('source.namespace', when.notValues)),
          notPrincipals: toStringMatches(pick('source.principal', when.notValues)),
          notSourceIps: toAddresses(pick('source.ip', when.notValues)),
          notDestinationPorts: toPorts(pick('destination.port', when.notValues)),
          notDestinationIps: toAddresses(pick('destination.ip', when.notValues)),
        },
      ],
    });
  }
  // "L7 policies never match for ALLOW"; for DENY the (possibly empty) matches are kept and ztunnel skips
  // empty ones.
  return action === 'ALLOW' && l7 ? undefined : clauses;
}

// istiod hasEffectiveRules: some group can fire (no clauses, or every clause has a non-empty match).
function hasEffectiveRules(groups: readonly ZtunnelGroup[]): boolean {
  return groups.some(
    (g) =>
      g.rules.length === 0 || g.rules.every((clause) => clause.matches.some((m) => !isZtunnelMatchEmpty(m))),
  );
}

const HTTP_RULE_PREFIX = 'ztunnel does not support HTTP attributes (found: ';
const HTTP_RULE_MIDDLE = '). In ambient mode you must use a waypoint proxy to enforce HTTP rules. ';
const DENY_NO_EFFECT =
  'After omitting unsupported HTTP attributes, this DENY policy has no enforceable rules at ztunnel ' +
  'and will have no effect. Deploy a waypoint proxy and use a targetRef to enforce this policy.';
const DENY_MIXED =
  'DENY policy with HTTP attributes is enforced without the HTTP rules. This will be more restrictive than requested.';
const ALLOW_OMITTED =
  'Within an ALLOW policy, rules matching HTTP attributes are omitted. This will be more restrictive than requested.';

/**
 * Converts a (validated) AuthorizationPolicy into what istiod sends ztunnel over WDS, exactly as istiod's
 * ambient controller does:
 * - targetRef policies are not sent (they are for waypoints);
 * - AUDIT and CUSTOM are not sent ("ztunnel does not support the X action");
 * - dry-run policies are not sent unless `enableDryRun`;
 * - RequestAuthentication and PeerAuthentication documents are not sent as such (`reason` says why);
 * - scope: GLOBAL (root namespace, no selector), NAMESPACE (no selector), WORKLOAD_SELECTOR;
 * - each rule becomes at most one group of clauses (`to` ports, `from` sources, one per `when`); an ALLOW
 *   rule using any HTTP attribute is dropped, a DENY rule keeps its L4 part (an L7-only entry becomes an
 *   empty match, which never matches).
 *
 * @param policy - The policy.
 * @param options - Root namespace and the dry-run feature flag.
 * @returns `{ sent: true, authorization, warning? }` or `{ sent: false, reason, message }`.
 * @example
 * ```ts
 * const t = translateForZtunnel(policy, { rootNamespace: 'istio-system' });
 * if (t.sent) encodeAuthorization(t.authorization); // e.g. the workload-api package's encoder
 * else console.log(t.reason, t.message);             // 'targetRefs' | 'unsupported-action' | 'dry-run-disabled'
 * ```
 */
export function translateForZtunnel(
  document: AuthorizationPolicy | SecurityPolicy,
  options: ZtunnelTranslateOptions = {},
): ZtunnelTranslation {
  if (document.kind === 'RequestAuthentication') {
    return {
      sent: false,
      reason: 'request-authentication',
      message:
        'RequestAuthentication is enforced by Envoy proxies (sidecars, gateways, waypoints), not ztunnel',
    };
  }
  if (document.kind === 'PeerAuthentication') {
    return {
      sent: false,
      reason: 'peer-authentication',
      message:
        'PeerAuthentications are translated together (translatePeerAuthenticationsForZtunnel): ' +
        'the result depends on the namespace and mesh policies',
    };
  }
  const policy = document;
  const rootNamespace = options.rootNamespace ?? 'istio-system';
  const { name, namespace } = policy.metadata;
  const spec = policy.spec ?? {};
  const dryRun = isDryRun(policy);
  if (dryRun && options.enableDryRun !== true) {
    return {
      sent: false,
      reason: 'dry-run-disabled',
      message:
        `found policy "${namespace}/${name}" using dry-run annotation, but support for ambient dry-run ` +
        `authorizationPolicies isn't enabled`,
    };
  }
  if (targetRefsOf(spec).length > 0) {
    return {
      sent: false,
      reason: 'targetRefs',
      message: 'targetRef policies are enforced by waypoints, not ztunnel',
    };
  }
  const specAction = spec.action ?? 'ALLOW';
  if (specAction !== 'ALLOW' && specAction !== 'DENY') {
    return {
      sent: false,
      reason: 'unsupported-action',
      message: `ztunnel does not support the ${specAction} action`,
    };
  }
  const scope: ZtunnelScope =
    spec.selector !== undefined ? 'WORKLOAD_SELECTOR' : namespace === rootNamespace ? 'GLOBAL' : 'NAMESPACE';
  const groups: ZtunnelGroup[] = [];
  const groupRuleIndex: number[] = [];
  const l7Found = new Set<string>();
  (spec.rules ?? []).forEach((rule, i) => {
    const clauses = handleRule(specAction, rule ?? {}, namespace, l7Found);
    if (clauses !== undefined) {
      groups.push({ rules: clauses });
      groupRuleIndex.push(i);
    }
  });
  const authorization: ZtunnelAuthorization = { name, namespace, scope, action: specAction, groups, dryRun };
  if (l7Found.size === 0) return { sent: true, authorization, groupRuleIndex };
  const boilerplate =
    specAction === 'DENY' ? (hasEffectiveRules(groups) ? DENY_MIXED : DENY_NO_EFFECT) : ALLOW_OMITTED;
  const found = [...l7Found].sort().join(', ');
  return {
    sent: true,
    authorization,
    groupRuleIndex,
    warning: `${HTTP_RULE_PREFIX}${found}${HTTP_RULE_MIDDLE}${boilerplate}`,
  };
}
