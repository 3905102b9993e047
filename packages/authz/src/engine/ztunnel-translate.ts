/**
 * istiod's conversion of an AuthorizationPolicy into ztunnel's `istio.security.Authorization`
 * (istio/istio@86c9f01f:pilot/pkg/serviceregistry/ambient/authorization.go `convertAuthorizationPolicy`,
 * `handleRule`). The output is `@ambient-kit/workload-api`'s `Authorization`, the kit's one model of that
 * message: the workload store holds it, `encodeAuthorization` puts it on the wire, `evaluateL4` enforces it.
 * Only its types are imported, so nothing of workload-api is loaded at run time.
 * @module
 */

import { formatIp } from '@ambient-kit/ip';
import type {
  Authorization,
  AuthorizationGroup,
  AuthorizationMatch,
  AuthorizationRules,
  AuthorizationScope,
  IpPrefix,
  ServiceAccountMatch,
  StringMatch,
} from '@ambient-kit/workload-api/codec';
import { match } from 'ts-pattern';
import { parseIpBlock } from './ip-block.js';
import { type AuthorizationPolicy, isDryRun, type Rule, type Source, targetRefsOf } from './policy.js';
import type { SecurityPolicy } from './security-policy.js';
import { matchForm } from './string-match.js';
import { isPort } from './validate.js';

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
      readonly authorization: Authorization;
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

const EMPTY_MATCH: AuthorizationMatch = Object.freeze({
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
});

/**
 * Whether a match sets no field (istiod `isMatchEmpty`, ztunnel `RbacMatch::is_empty`); ztunnel skips such a
 * match: it never matches (istio/ztunnel@62d82653:src/rbac.rs `Authorization::matches`).
 *
 * @param m - The match.
 * @returns Whether every list is empty.
 * @example
 * ```ts
 * isEmptyMatch(translated.authorization.groups[0]!.rules[0]!.matches[0]!);
 * ```
 */
export function isEmptyMatch(m: AuthorizationMatch): boolean {
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
function toStringMatch(value: string): StringMatch {
  const form = matchForm(value);
  return match(form)
    .with({ kind: 'presence' }, () => ({ presence: true }) as const)
    .with({ kind: 'suffix' }, (f) => ({ suffix: f.value }))
    .with({ kind: 'prefix' }, (f) => ({ prefix: f.value }))
    .with({ kind: 'exact' }, (f) => ({ exact: f.value }))
    .exhaustive();
}

// Lists are allocated only when they have values, at their exact size: a namespace-wide blocklist has
// thousands of matches, each with twelve lists, most of them empty.
function toStringMatches(values: readonly string[] | undefined): readonly StringMatch[] {
  return values === undefined || values.length === 0 ? EMPTY : values.map(toStringMatch);
}

// istiod stringToPort: values that do not parse as 0..65535 are skipped.
function toPorts(values: readonly string[] | undefined): readonly number[] {
  if (values === undefined || values.length === 0) return EMPTY;
  const ports = values.every(isPort) ? values : values.filter(isPort);
  return ports.length === 0 ? EMPTY : ports.map(Number);
}

// istiod stringToIP: empty and unparsable values skipped; an address without '/' gets its full length. The
// model keeps the address as canonical text with its host bits, as istiod sends the bytes as written.
function toAddresses(values: readonly string[] | undefined): readonly IpPrefix[] {
  if (values === undefined || values.length === 0) return EMPTY;
  const blocks = values.map(parseIpBlock);
  const out = (blocks.includes(undefined) ? blocks.filter((b) => b !== undefined) : blocks) as NonNullable<
    (typeof blocks)[number]
  >[];
  return out.length === 0 ? EMPTY : out.map((b) => ({ address: formatIp(b.address), length: b.bits }));
}

// istiod stringToServiceAccountMatch: "ns/sa", or "sa" in the policy's namespace.
function toServiceAccounts(
  values: readonly string[] | undefined,
  namespace: string,
): readonly ServiceAccountMatch[] {
  if (values === undefined || values.length === 0) return EMPTY;
  return values.map((v) => {
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

// Every field written out, in one order: objects built by spreading get a hidden class each, which a
// blocklist of thousands of matches pays for in memory.
function authorizationMatch(f: Partial<AuthorizationMatch>): AuthorizationMatch {
  return {
    namespaces: f.namespaces ?? EMPTY,
    notNamespaces: f.notNamespaces ?? EMPTY,
    serviceAccounts: f.serviceAccounts ?? EMPTY,
    notServiceAccounts: f.notServiceAccounts ?? EMPTY,
    principals: f.principals ?? EMPTY,
    notPrincipals: f.notPrincipals ?? EMPTY,
    sourceIps: f.sourceIps ?? EMPTY,
    notSourceIps: f.notSourceIps ?? EMPTY,
    destinationIps: f.destinationIps ?? EMPTY,
    notDestinationIps: f.notDestinationIps ?? EMPTY,
    destinationPorts: f.destinationPorts ?? EMPTY,
    notDestinationPorts: f.notDestinationPorts ?? EMPTY,
  };
}

function fromMatch(source: Source, namespace: string): AuthorizationMatch {
  return authorizationMatch({
    sourceIps: toAddresses(source.ipBlocks),
    notSourceIps: toAddresses(source.notIpBlocks),
    namespaces: toStringMatches(source.namespaces),
    notNamespaces: toStringMatches(source.notNamespaces),
    serviceAccounts: toServiceAccounts(source.serviceAccounts, namespace),
    notServiceAccounts: toServiceAccounts(source.notServiceAccounts, namespace),
    principals: toStringMatches(source.principals),
    notPrincipals: toStringMatches(source.notPrincipals),
  });
}

// istiod handleRule: one clause for `to`, one for `from`, one per `when`; ALLOW rules with any L7 attribute
// are dropped (undefined), DENY rules keep their L4 remainder.
function handleRule(
  action: 'ALLOW' | 'DENY',
  rule: Rule,
  namespace: string,
  l7Found: Set<string>,
): AuthorizationRules[] | undefined {
  let l7 = false;
  const toMatches = (rule.to ?? []).map((to): AuthorizationMatch => {
    const op = to.operation;
    for (const field of HTTP_OPERATION_FIELDS) {
      if ((op[field]?.length ?? 0) > 0) {
        l7 = true;
        l7Found.add(field);
      }
    }
    const ports = toPorts(op.ports);
    const notPorts = toPorts(op.notPorts);
    return ports.length === 0 && notPorts.length === 0
      ? EMPTY_MATCH
      : authorizationMatch({ destinationPorts: ports, notDestinationPorts: notPorts });
  });
  const fromMatches = (rule.from ?? []).map((from): AuthorizationMatch => {
    for (const field of HTTP_SOURCE_FIELDS) {
      if ((from.source[field]?.length ?? 0) > 0) {
        l7 = true;
        l7Found.add(field);
      }
    }
    return fromMatch(from.source, namespace);
  });
  const whens = rule.when ?? [];
  // Sized up front (a push-grown array keeps room for 16): blocklists have thousands of groups.
  const clauses: AuthorizationRules[] = new Array(
    (toMatches.length > 0 ? 1 : 0) + (fromMatches.length > 0 ? 1 : 0) + whens.length,
  );
  let next = 0;
  if (toMatches.length > 0) clauses[next++] = { matches: toMatches };
  if (fromMatches.length > 0) clauses[next++] = { matches: fromMatches };
  for (const when of whens) {
    if (!L4_WHEN_KEYS.has(when.key)) {
      l7 = true;
      l7Found.add(when.key);
    }
    const pick = (key: string, values: readonly string[] | undefined): readonly string[] | undefined =>
      when.key === key ? values : undefined;
    clauses[next++] = {
      matches: [
        authorizationMatch({
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
        }),
      ],
    };
  }
  // "L7 policies never match for ALLOW"; for DENY the (possibly empty) matches are kept and ztunnel skips
  // empty ones.
  return action === 'ALLOW' && l7 ? undefined : clauses;
}

// istiod hasEffectiveRules: some group can fire (no clauses, or every clause has a non-empty match).
function hasEffectiveRules(groups: readonly AuthorizationGroup[]): boolean {
  return groups.some(
    (g) => g.rules.length === 0 || g.rules.every((clause) => clause.matches.some((m) => !isEmptyMatch(m))),
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
 * - scope: `Global` (root namespace, no selector), `Namespace` (no selector), `WorkloadSelector`;
 * - each rule becomes at most one group of clauses (`to` ports, `from` sources, one per `when`); an ALLOW
 *   rule using any HTTP attribute is dropped, a DENY rule keeps its L4 part (an L7-only entry becomes an
 *   empty match, which never matches).
 *
 * @param document - The policy (an AuthorizationPolicy, or a RequestAuthentication or PeerAuthentication,
 *   which are never sent as such).
 * @param options - Root namespace and the dry-run feature flag.
 * @returns `{ sent: true, authorization, warning?, groupRuleIndex }` (the workload-api `Authorization` model) or
 *   `{ sent: false, reason, message }`.
 * @example
 * ```ts
 * const t = translateForZtunnel(policy, { rootNamespace: 'istio-system' });
 * if (t.sent) encodeAuthorization(t.authorization); // workload-api's encoder: the bytes istiod sends
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
  const scope: AuthorizationScope =
    spec.selector !== undefined ? 'WorkloadSelector' : namespace === rootNamespace ? 'Global' : 'Namespace';
  const groups: AuthorizationGroup[] = [];
  const groupRuleIndex: number[] = [];
  const l7Found = new Set<string>();
  (spec.rules ?? []).forEach((rule, i) => {
    const clauses = handleRule(specAction, rule ?? {}, namespace, l7Found);
    if (clauses !== undefined) {
      groups.push({ rules: clauses });
      groupRuleIndex.push(i);
    }
  });
  const authorization: Authorization = {
    kind: 'policy',
    name,
    namespace,
    key: `${namespace}/${name}`,
    scope,
    action: specAction === 'DENY' ? 'Deny' : 'Allow',
    groups,
    dryRun,
    extensions: EMPTY,
  };
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
