/**
 * `Authorization`: the one model of `istio.security.Authorization` in ambient-kit (the L4 policy istiod
 * sends ztunnel), and its conversion from and to the generated message, which stays internal to this
 * package (`decodeAuthorization` / `encodeAuthorization` are the wire API). Conversion follows ztunnel's
 * `TryFrom<XdsRbac>` (istio/ztunnel@62d82653:src/rbac.rs). The model keeps istio's nesting
 * (istio/istio@86c9f01f:pkg/workloadapi/security/authorization.proto): a policy matches when any group
 * matches, a group when all of its rules match, a rule when any of its matches does.
 * @module
 */
import { create } from '@bufbuild/protobuf';
import { EmptySchema } from '@bufbuild/protobuf/wkt';
import type { Result } from 'neverthrow';
import {
  Action,
  type Authorization as AuthorizationProto,
  AuthorizationSchema,
  type Address as AuthzAddressProto,
  AddressSchema as AuthzAddressSchema,
  GroupSchema,
  type Match as MatchProto,
  MatchSchema,
  RulesSchema,
  Scope,
  ServiceAccountMatchSchema,
  type StringMatch as StringMatchProto,
  StringMatchSchema,
} from '../gen/authorization_pb.js';
import type { WorkloadApiError } from './errors.js';
import { type IpPrefix, ipFromBytes, ipToBytes, isIpv6 } from './ip.js';
import { collectIssues, type IssueList } from './issues.js';
import {
  type ConvertOptions,
  checkPort,
  EMPTY,
  type ExtensionConfig,
  extensionsFromProto,
  extensionsToProto,
} from './network.js';

/**
 * Which workloads a policy applies to (authorization.proto `Scope`; the names are ztunnel's `RbacScope`
 * serde names, istio/ztunnel@62d82653:src/rbac.rs).
 */
export type AuthorizationScope = 'Global' | 'Namespace' | 'WorkloadSelector';
/** What a matching policy does (authorization.proto `Action`; ztunnel's `RbacAction` names). */
export type AuthorizationAction = 'Allow' | 'Deny';

/** A string matcher; `presence` matches any non-empty value. */
export type StringMatch =
  | { readonly exact: string }
  | { readonly prefix: string }
  | { readonly suffix: string }
  | { readonly presence: true };

/** A `namespace` + `serviceAccount` pair, matched against the peer's SPIFFE identity. */
export interface ServiceAccountMatch {
  readonly namespace: string;
  readonly serviceAccount: string;
}

/** One match: every populated kind must hold (some positive value matches, no negative one does). */
export interface AuthorizationMatch {
  readonly namespaces: readonly StringMatch[];
  readonly notNamespaces: readonly StringMatch[];
  readonly principals: readonly StringMatch[];
  readonly notPrincipals: readonly StringMatch[];
  readonly sourceIps: readonly IpPrefix[];
  readonly notSourceIps: readonly IpPrefix[];
  readonly destinationIps: readonly IpPrefix[];
  readonly notDestinationIps: readonly IpPrefix[];
  readonly destinationPorts: readonly number[];
  readonly notDestinationPorts: readonly number[];
  readonly serviceAccounts: readonly ServiceAccountMatch[];
  readonly notServiceAccounts: readonly ServiceAccountMatch[];
}

/** Rules match when any of their matches does (authorization.proto `Rules`; ztunnel calls it a clause). */
export interface AuthorizationRules {
  readonly matches: readonly AuthorizationMatch[];
}

/** A group matches when all of its rules match (authorization.proto `Group`; ztunnel calls it a rule). */
export interface AuthorizationGroup {
  readonly rules: readonly AuthorizationRules[];
}

/**
 * A validated `istio.security.Authorization`: what ztunnel enforces at L4.
 *
 * `kind` is `'policy'`, the store's name for this resource kind (`store.policy(key)`,
 * `{ kind: 'policy', name }` removals).
 */
export interface Authorization {
  readonly kind: 'policy';
  readonly name: string;
  readonly namespace: string;
  /** `namespace/name`: the primary key and xDS resource name (istio/istio@86c9f01f:pilot/pkg/model/service.go). */
  readonly key: string;
  readonly scope: AuthorizationScope;
  readonly action: AuthorizationAction;
  /** OR-ed; a policy without groups never matches (istio/ztunnel@62d82653:src/rbac.rs `matches`). */
  readonly groups: readonly AuthorizationGroup[];
  /** Evaluated and logged, never enforced. */
  readonly dryRun: boolean;
  readonly extensions: readonly ExtensionConfig[];
}

/** Fields a caller may set when building a policy by hand with {@link createAuthorization}. */
export type AuthorizationInit = Partial<Omit<Authorization, 'kind' | 'key' | 'groups'>> & {
  readonly name: string;
  readonly namespace: string;
  readonly groups?: readonly {
    readonly rules: readonly { readonly matches: readonly Partial<AuthorizationMatch>[] }[];
  }[];
};

const EMPTY_MATCH: AuthorizationMatch = Object.freeze({
  namespaces: EMPTY,
  notNamespaces: EMPTY,
  principals: EMPTY,
  notPrincipals: EMPTY,
  sourceIps: EMPTY,
  notSourceIps: EMPTY,
  destinationIps: EMPTY,
  notDestinationIps: EMPTY,
  destinationPorts: EMPTY,
  notDestinationPorts: EMPTY,
  serviceAccounts: EMPTY,
  notServiceAccounts: EMPTY,
});

/**
 * Builds an {@link Authorization} from a partial description; unset match fields are empty, `scope`
 * defaults to `WorkloadSelector` and `action` to `Allow`.
 *
 * @param init - At least `name` and `namespace`.
 * @returns The policy.
 * @throws {TypeError} When `name` is empty.
 * @example
 * ```ts
 * createAuthorization({
 *   name: 'deny-9999', namespace: 'default', scope: 'Namespace', action: 'Deny',
 *   groups: [{ rules: [{ matches: [{ destinationPorts: [9999] }] }] }],
 * });
 * ```
 */
export function createAuthorization(init: AuthorizationInit): Authorization {
  if (typeof init.name !== 'string' || init.name === '')
    throw new TypeError('name: expected a non-empty string');
  return {
    kind: 'policy',
    name: init.name,
    namespace: init.namespace,
    key: `${init.namespace}/${init.name}`,
    scope: init.scope ?? 'WorkloadSelector',
    action: init.action ?? 'Allow',
    groups: (init.groups ?? EMPTY).map((g) => ({
      rules: g.rules.map((r) => ({ matches: r.matches.map((m) => ({ ...EMPTY_MATCH, ...m })) })),
    })),
    dryRun: init.dryRun ?? false,
    extensions: init.extensions ?? EMPTY,
  };
}

function stringMatches(
  list: readonly StringMatchProto[],
  issues: IssueList,
  path: string,
): readonly StringMatch[] {
  if (list.length === 0) return EMPTY;
  const out: StringMatch[] = [];
  list.forEach((m, i) => {
    switch (m.matchType.case) {
      case 'exact':
        out.push({ exact: m.matchType.value });
        break;
      case 'prefix':
        out.push({ prefix: m.matchType.value });
        break;
      case 'suffix':
        out.push({ suffix: m.matchType.value });
        break;
      case 'presence':
        out.push({ presence: true });
        break;
      default:
        // ztunnel silently drops an empty matcher; dropping one from a positive list would widen the
        // match, so it is rejected here.
        issues.add(`${path}[${i}]`, 'WORKLOAD_API_ERR_MISSING_FIELD', 'string match has no match type');
    }
  });
  return out;
}

function prefixes(
  list: readonly { address: Uint8Array; length: number }[],
  issues: IssueList,
  path: string,
): readonly IpPrefix[] {
  if (list.length === 0) return EMPTY;
  const out: IpPrefix[] = [];
  list.forEach((a, i) => {
    const address = ipFromBytes(a.address);
    if (address === undefined) {
      // ztunnel drops an unparsable address (filter_map); in a negative list that would widen access,
      // so the policy is rejected instead.
      issues.add(
        `${path}[${i}]`,
        'WORKLOAD_API_ERR_BAD_ADDRESS',
        `failed to parse address, had ${a.address.length} bytes`,
      );
      return;
    }
    if (a.length > (isIpv6(address) ? 128 : 32)) {
      issues.add(`${path}[${i}]`, 'WORKLOAD_API_ERR_BAD_PREFIX', `invalid cidr: prefix length ${a.length}`);
      return;
    }
    out.push({ address, length: a.length });
  });
  return out;
}

function ports(list: readonly number[], issues: IssueList, path: string): readonly number[] {
  if (list.length === 0) return EMPTY;
  return list.map((p, i) => checkPort(p, issues, `${path}[${i}]`));
}

function convertMatch(
  m: MatchProto,
  issues: IssueList,
  intern: (value: string) => string,
): AuthorizationMatch {
  const sa = (
    list: readonly { namespace: string; serviceAccount: string }[],
  ): readonly ServiceAccountMatch[] =>
    list.length === 0
      ? EMPTY
      : list.map((s) => ({ namespace: intern(s.namespace), serviceAccount: intern(s.serviceAccount) }));
  return {
    namespaces: stringMatches(m.namespaces, issues, 'namespaces'),
    notNamespaces: stringMatches(m.notNamespaces, issues, 'notNamespaces'),
    principals: stringMatches(m.principals, issues, 'principals'),
    notPrincipals: stringMatches(m.notPrincipals, issues, 'notPrincipals'),
    sourceIps: prefixes(m.sourceIps, issues, 'sourceIps'),
    notSourceIps: prefixes(m.notSourceIps, issues, 'notSourceIps'),
    destinationIps: prefixes(m.destinationIps, issues, 'destinationIps'),
    notDestinationIps: prefixes(m.notDestinationIps, issues, 'notDestinationIps'),
    destinationPorts: ports(m.destinationPorts, issues, 'destinationPorts'),
    notDestinationPorts: ports(m.notDestinationPorts, issues, 'notDestinationPorts'),
    serviceAccounts: sa(m.serviceAccounts),
    notServiceAccounts: sa(m.notServiceAccounts),
  };
}

/**
 * Validates an `istio.security.Authorization` message and converts it to the model, collecting every
 * problem: unknown scope or action, an IP that is not 4 or 16 bytes, a prefix length too long for its
 * family, a port above 65535, a string match with no match type.
 *
 * @param msg - The decoded message.
 * @param options - Optional string interner.
 * @returns The policy, or a {@link WorkloadApiError} listing every issue.
 * @example
 * ```ts
 * authorizationFromProto(create(AuthorizationSchema, { name: 'p', namespace: 'ns', scope: Scope.NAMESPACE }));
 * ```
 */
export function authorizationFromProto(
  msg: AuthorizationProto,
  options?: ConvertOptions,
): Result<Authorization, WorkloadApiError> {
  return collectIssues(convertAuthorization, msg, options);
}

/** The conversion behind {@link authorizationFromProto}, recording into the issue list. */
function convertAuthorization(
  msg: AuthorizationProto,
  issues: IssueList,
  intern: (value: string) => string,
): Authorization | undefined {
  const before = issues.issues.length;
  if (msg.name === '')
    issues.add('name', 'WORKLOAD_API_ERR_MISSING_FIELD', 'name is empty (it is part of the key)');
  let scope: AuthorizationScope = 'Global';
  if (msg.scope === Scope.NAMESPACE) scope = 'Namespace';
  else if (msg.scope === Scope.WORKLOAD_SELECTOR) scope = 'WorkloadSelector';
  else if (msg.scope !== Scope.GLOBAL)
    issues.add('scope', 'WORKLOAD_API_ERR_UNKNOWN_ENUM', `unknown scope ${msg.scope}`);
  let action: AuthorizationAction = 'Allow';
  if (msg.action === Action.DENY) action = 'Deny';
  else if (msg.action !== Action.ALLOW)
    issues.add('action', 'WORKLOAD_API_ERR_UNKNOWN_ENUM', `unknown action ${msg.action}`);
  const groups: AuthorizationGroup[] = msg.groups.map((g, gi) => ({
    rules: g.rules.map((r, ri) => ({
      matches: r.matches.map((m, mi) =>
        convertMatch(m, issues.at(`groups[${gi}].rules[${ri}].matches[${mi}]`), intern),
      ),
    })),
  }));
  if (issues.issues.length > before) return undefined;
  const namespace = intern(msg.namespace);
  return {
    kind: 'policy',
    name: msg.name,
    namespace,
    key: `${namespace}/${msg.name}`,
    scope,
    action,
    groups,
    dryRun: msg.dryRun,
    extensions: extensionsFromProto(msg.extensions),
  };
}

function stringMatchesToProto(list: readonly StringMatch[]): StringMatchProto[] {
  return list.map((m) =>
    create(StringMatchSchema, {
      matchType:
        'exact' in m
          ? { case: 'exact', value: m.exact }
          : 'prefix' in m
            ? { case: 'prefix', value: m.prefix }
            : 'suffix' in m
              ? { case: 'suffix', value: m.suffix }
              : { case: 'presence', value: create(EmptySchema) },
    }),
  );
}

function prefixesToProto(list: readonly IpPrefix[]): AuthzAddressProto[] {
  return list.map((p) =>
    create(AuthzAddressSchema, { address: ipToBytes(p.address) ?? new Uint8Array(), length: p.length }),
  );
}

/**
 * Converts an {@link Authorization} back to its message.
 *
 * @param p - The policy.
 * @returns The `istio.security.Authorization` message.
 * @example
 * ```ts
 * toBinary(AuthorizationSchema, authorizationToProto(createAuthorization({ name: 'p', namespace: 'ns' })));
 * ```
 */
export function authorizationToProto(p: Authorization): AuthorizationProto {
  return create(AuthorizationSchema, {
    name: p.name,
    namespace: p.namespace,
    scope:
      p.scope === 'Namespace'
        ? Scope.NAMESPACE
        : p.scope === 'WorkloadSelector'
          ? Scope.WORKLOAD_SELECTOR
          : Scope.GLOBAL,
    action: p.action === 'Deny' ? Action.DENY : Action.ALLOW,
    groups: p.groups.map((g) =>
      create(GroupSchema, {
        rules: g.rules.map((r) =>
          create(RulesSchema, {
            matches: r.matches.map((m) =>
              create(MatchSchema, {
                namespaces: stringMatchesToProto(m.namespaces),
                notNamespaces: stringMatchesToProto(m.notNamespaces),
                principals: stringMatchesToProto(m.principals),
                notPrincipals: stringMatchesToProto(m.notPrincipals),
                sourceIps: prefixesToProto(m.sourceIps),
                notSourceIps: prefixesToProto(m.notSourceIps),
                destinationIps: prefixesToProto(m.destinationIps),
                notDestinationIps: prefixesToProto(m.notDestinationIps),
                destinationPorts: [...m.destinationPorts],
                notDestinationPorts: [...m.notDestinationPorts],
                serviceAccounts: m.serviceAccounts.map((s) => create(ServiceAccountMatchSchema, { ...s })),
                notServiceAccounts: m.notServiceAccounts.map((s) =>
                  create(ServiceAccountMatchSchema, { ...s }),
                ),
              }),
            ),
          }),
        ),
      }),
    ),
    dryRun: p.dryRun,
    extensions: extensionsToProto(p.extensions),
  });
}
