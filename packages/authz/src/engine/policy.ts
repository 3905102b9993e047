/**
 * The AuthorizationPolicy resource as Kubernetes stores it (`security.istio.io/v1` and `v1beta1`, the same
 * schema): istio/api@b8f8791d:security/v1beta1/authorization_policy.proto. Field names are the CRD's
 * (lowerCamelCase); every list is optional and an absent list means "not set".
 * @module
 */

/** The four actions (api `AuthorizationPolicy.Action`). Absent means `ALLOW`. */
export type AuthorizationAction = 'ALLOW' | 'DENY' | 'AUDIT' | 'CUSTOM';

/** The actions in a stable order, for validation messages and exhaustive loops. */
export const AUTHORIZATION_ACTIONS: readonly AuthorizationAction[] = ['ALLOW', 'DENY', 'AUDIT', 'CUSTOM'];

/** `spec.selector` (istio/api `type/v1beta1/selector.proto` WorkloadSelector). */
export interface WorkloadSelector {
  /** Labels a workload must all carry (subset match, istio/istio@86c9f01f:pilot/pkg/model/policyattachment.go). */
  readonly matchLabels?: Readonly<Record<string, string>>;
}

/** `spec.targetRef` / `spec.targetRefs[]` (istio/api PolicyTargetReference). */
export interface PolicyTargetReference {
  /** API group: `""`/`core` (Service), `networking.istio.io` (ServiceEntry), `gateway.networking.k8s.io`. */
  readonly group?: string;
  /** `Service`, `ServiceEntry`, `Gateway` or `GatewayClass`. */
  readonly kind: string;
  /** The referent's name. */
  readonly name: string;
  /** Must be empty or the policy's namespace (cross-namespace references are rejected). */
  readonly namespace?: string;
}

/** `rules[].from[].source` (api `Source`): fields AND-ed, values of one field OR-ed. */
export interface Source {
  readonly principals?: readonly string[];
  readonly notPrincipals?: readonly string[];
  readonly requestPrincipals?: readonly string[];
  readonly notRequestPrincipals?: readonly string[];
  readonly namespaces?: readonly string[];
  readonly notNamespaces?: readonly string[];
  readonly serviceAccounts?: readonly string[];
  readonly notServiceAccounts?: readonly string[];
  readonly ipBlocks?: readonly string[];
  readonly notIpBlocks?: readonly string[];
  readonly remoteIpBlocks?: readonly string[];
  readonly notRemoteIpBlocks?: readonly string[];
  readonly trustDomains?: readonly string[];
  readonly notTrustDomains?: readonly string[];
}

/** `rules[].to[].operation` (api `Operation`): fields AND-ed, values of one field OR-ed. */
export interface Operation {
  readonly hosts?: readonly string[];
  readonly notHosts?: readonly string[];
  readonly ports?: readonly string[];
  readonly notPorts?: readonly string[];
  readonly methods?: readonly string[];
  readonly notMethods?: readonly string[];
  readonly paths?: readonly string[];
  readonly notPaths?: readonly string[];
}

/** `rules[].when[]` (api `Condition`). */
export interface Condition {
  /** An attribute name such as `request.headers[x-token]` or `source.ip` (docs/authz.md lists them). */
  readonly key: string;
  readonly values?: readonly string[];
  readonly notValues?: readonly string[];
}

/** One entry of `rules[].from`. */
export interface RuleFrom {
  readonly source: Source;
}

/** One entry of `rules[].to`. */
export interface RuleTo {
  readonly operation: Operation;
}

/** `spec.rules[]` (api `Rule`): any `from` AND any `to` AND every `when`; `{}` always matches. */
export interface Rule {
  readonly from?: readonly RuleFrom[];
  readonly to?: readonly RuleTo[];
  readonly when?: readonly Condition[];
}

/** `spec` of an AuthorizationPolicy. */
export interface AuthorizationPolicySpec {
  readonly selector?: WorkloadSelector;
  /** Legacy singular form, merged into `targetRefs` (istio `model.GetTargetRefs`). */
  readonly targetRef?: PolicyTargetReference;
  readonly targetRefs?: readonly PolicyTargetReference[];
  readonly action?: AuthorizationAction;
  /** Only with `CUSTOM`: the MeshConfig extension provider that decides. */
  readonly provider?: { readonly name: string };
  readonly rules?: readonly Rule[];
}

/** `metadata` of an AuthorizationPolicy (the fields the engine reads). */
export interface PolicyMetadata {
  readonly name: string;
  /** Defaults to `default` when a document omits it, as `kubectl apply` does. */
  readonly namespace: string;
  /** `istio.io/dry-run: "true"` makes the policy dry-run (istio/api annotation `istio.io/dry-run`). */
  readonly annotations?: Readonly<Record<string, string>>;
  readonly labels?: Readonly<Record<string, string>>;
  /**
   * RFC 3339 creation time, when the document carries one: istiod picks the oldest of competing
   * PeerAuthentications by it (ties, and documents without it, by name then namespace).
   */
  readonly creationTimestamp?: string;
}

/** A whole AuthorizationPolicy resource, as {@link parsePolicies} returns it. */
export interface AuthorizationPolicy {
  /** `security.istio.io/v1` or `security.istio.io/v1beta1`. */
  readonly apiVersion: string;
  readonly kind: 'AuthorizationPolicy';
  readonly metadata: PolicyMetadata;
  readonly spec: AuthorizationPolicySpec;
}

/** The annotation that makes a policy dry-run (istio/api `annotation.IoIstioDryRun`). */
export const DRY_RUN_ANNOTATION = 'istio.io/dry-run';

/** The label that marks a Gateway API gateway (and every waypoint) deployment (istio/api `label`). */
export const GATEWAY_NAME_LABEL = 'gateway.networking.k8s.io/gateway-name';

/**
 * Go's `strconv.ParseBool`, which istiod uses for the dry-run annotation
 * (istio/istio@86c9f01f:pilot/pkg/serviceregistry/ambient/authorization.go `convertAuthorizationPolicy`).
 *
 * @param value - The annotation value.
 * @returns `true`/`false`, or `undefined` when Go would return an error.
 * @example
 * ```ts
 * parseGoBool('True'); // true
 * parseGoBool('yes');  // undefined
 * ```
 */
export function parseGoBool(value: string): boolean | undefined {
  switch (value) {
    case '1':
    case 't':
    case 'T':
    case 'TRUE':
    case 'true':
    case 'True':
      return true;
    case '0':
    case 'f':
    case 'F':
    case 'FALSE':
    case 'false':
    case 'False':
      return false;
    default:
      return undefined;
  }
}

/**
 * Whether a policy carries a dry-run annotation that parses as true (istiod `isDryRun`; an unparsable value
 * counts as false, but validation rejects it first).
 *
 * @param policy - The policy.
 * @returns Whether the policy is dry-run.
 * @example
 * ```ts
 * isDryRun({ ...policy, metadata: { ...policy.metadata, annotations: { 'istio.io/dry-run': 'true' } } }); // true
 * ```
 */
export function isDryRun(policy: AuthorizationPolicy): boolean {
  const value = policy.metadata.annotations?.[DRY_RUN_ANNOTATION];
  return value === undefined ? false : parseGoBool(value) === true;
}

/**
 * The policy's target references with the legacy singular `targetRef` folded in (istio
 * `model.GetTargetRefs`: `targetRefs` wins when both are set).
 *
 * @param spec - The policy spec.
 * @returns The references, possibly empty.
 * @example
 * ```ts
 * targetRefsOf({ targetRef: { kind: 'Service', name: 'web' } }); // [{ kind: 'Service', name: 'web' }]
 * ```
 */
export function targetRefsOf(spec: AuthorizationPolicySpec): readonly PolicyTargetReference[] {
  if (spec.targetRefs !== undefined && spec.targetRefs.length > 0) return spec.targetRefs;
  return spec.targetRef === undefined ? [] : [spec.targetRef];
}

/**
 * `namespace/name` of a policy, the identifier decisions and errors use.
 *
 * @param policy - The policy.
 * @returns `namespace/name`.
 * @example
 * ```ts
 * policyKey(policy); // 'foo/httpbin'
 * ```
 */
export function policyKey(policy: { readonly metadata: PolicyMetadata }): string {
  return `${policy.metadata.namespace}/${policy.metadata.name}`;
}
