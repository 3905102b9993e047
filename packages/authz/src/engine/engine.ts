/**
 * The policy engine: policies indexed by namespace and selector, compiled once, and evaluated in Istio's
 * order (istio/api@b8f8791d:security/v1beta1/authorization_policy.proto, top-level doc): CUSTOM, then DENY,
 * then ALLOW, with AUDIT only marking and dry-run never enforced. `ztunnel` workloads get istiod's L4
 * translation and ztunnel's matching (PeerAuthentication included, as istiod converts it); the other kinds
 * Envoy's RBAC, and sidecars PeerAuthentication STRICT. The engine also holds the RequestAuthentications and
 * says which JWT rules apply where (the JWT check itself is `authenticateJwt`, ./jwt-authn.ts).
 * @module
 */

import { err, ok, type Result } from 'neverthrow';
import { type PrepareFailure, type PrepareOptions, RequestContext } from './context.js';
import { type CompiledEnvoyPolicy, compileEnvoyPolicy, ENVOY_READERS } from './envoy-compile.js';
import { PolicyError } from './errors.js';
import { compileL4PolicySet, type L4PolicySet, type L4SetEntry } from './l4-decision.js';
import { type MeshConfig, type ResolvedMeshConfig, resolveMeshConfig } from './mesh.js';
import {
  type EffectivePeerAuthentication,
  effectivePeerAuthentication,
  mtlsModeForPort,
  type PeerAuthentication,
} from './peer-authentication.js';
import {
  translatePeerAuthenticationsForZtunnel,
  type ZtunnelPeerAuthentication,
} from './peer-authentication-ztunnel.js';
import {
  type AuthorizationAction,
  type AuthorizationPolicy,
  isDryRun,
  type PolicyTargetReference,
  policyKey,
  targetRefsOf,
} from './policy.js';
import type { Decision, DestinationService, EvaluateHooks, EvaluateInput, Workload } from './request.js';
import type { JwtRule, RequestAuthentication } from './request-authentication.js';
import { createRuleMatcher, type IndexKey, type IndexMode, type RuleMatcher } from './rule-index.js';
import {
  groupSecurityPolicies,
  type SecurityPolicies,
  type SecurityPolicy,
  validateSecurityPolicies,
} from './security-policy.js';
import { attachment, lookupNamespaces, type NotAttachedReason } from './selection.js';
import { type CompiledL4Policy, compileL4Policy } from './ztunnel-match.js';
import { translateForZtunnel, type ZtunnelTranslation } from './ztunnel-translate.js';

/** Options of {@link createPolicyEngine}. */
export interface PolicyEngineOptions {
  /**
   * The documents: AuthorizationPolicies, and RequestAuthentications and PeerAuthentications alongside them
   * (what `parsePolicies` returns). Validated again; any error rejects the whole set.
   */
  readonly policies: readonly SecurityPolicy[];
  /** More RequestAuthentications, for callers that keep them apart. */
  readonly requestAuthentications?: readonly RequestAuthentication[];
  /** More PeerAuthentications, for callers that keep them apart. */
  readonly peerAuthentications?: readonly PeerAuthentication[];
  /** MeshConfig settings; see {@link MeshConfig} for defaults. */
  readonly mesh?: MeshConfig;
  /**
   * `indexed` (default): a workload's rules of one action are searched through an index once there are 16 or
   * more (the cost stops growing with the number of applicable rules); `linear`: every rule is tried in order,
   * the plain evaluation the index is tested against. Both give the same decisions.
   */
  readonly evaluation?: 'indexed' | 'linear';
}

/** A `jwtRules` entry that applies to a workload, with the RequestAuthentication it comes from. */
export interface AppliedJwtRule {
  readonly rule: JwtRule;
  /** `namespace/name` of the RequestAuthentication. */
  readonly policy: string;
  /** Index of the rule in that policy's `spec.jwtRules`. */
  readonly index: number;
}

/** One policy's part in an explanation. */
export interface ExplainEntry {
  readonly policy: string;
  readonly action: AuthorizationAction;
  readonly dryRun: boolean;
  /** Whether the policy applies to this workload (and request, for waypoints). */
  readonly applies: boolean;
  /** Why it does not apply, when it does not. */
  readonly notApplied?: NotAttachedReason | 'not-sent-to-ztunnel' | 'custom-ignored-on-tcp';
  /** Index of the first matching rule (`spec.rules`), when it applies and matches. */
  readonly matchedRule?: number;
  /** Extra facts: rules dropped by the L4 translation or skipped on a TCP chain, istiod's status warning. */
  readonly notes: readonly string[];
}

/** {@link PolicyEngine.explain}'s answer: the decision plus every candidate policy's part in it. */
export interface Explanation {
  readonly decision: Decision;
  readonly policies: readonly ExplainEntry[];
}

/** A compiled set of policies. Immutable: build a new engine to change policies. */
export interface PolicyEngine {
  /** The validated AuthorizationPolicies, in input order. */
  readonly policies: readonly AuthorizationPolicy[];
  /** The validated RequestAuthentications, in input order. */
  readonly requestAuthentications: readonly RequestAuthentication[];
  /** The validated PeerAuthentications, in input order. */
  readonly peerAuthentications: readonly PeerAuthentication[];
  /** The resolved mesh settings. */
  readonly mesh: ResolvedMeshConfig;
  /**
   * Decides a request. Synchronous, never throws: bad input is denied with a reason.
   *
   * @param input - The enforcing workload and the request.
   * @param hooks - `extAuthz` answers CUSTOM policies.
   * @returns The decision.
   */
  evaluate(input: EvaluateInput, hooks?: EvaluateHooks): Decision;
  /**
   * Decides like {@link PolicyEngine.evaluate} and reports, for every policy in the namespaces that could
   * apply, whether it applies, whether it matched and by which rule, and why not.
   *
   * @param input - The enforcing workload and the request.
   * @param hooks - `extAuthz` answers CUSTOM policies.
   * @returns The decision and the per-policy trace.
   */
  explain(input: EvaluateInput, hooks?: EvaluateHooks): Explanation;
  /**
   * The policies that apply to a workload (and, for waypoints, a destination service), as `namespace/name`.
   *
   * @param workload - The enforcing workload.
   * @param service - The destination service.
   * @returns Policy keys, sorted.
   */
  applicablePolicies(workload: Workload, service?: DestinationService): string[];
  /**
   * The JWT rules of every RequestAuthentication that applies to a workload (the same attachment rules as
   * AuthorizationPolicy: namespace and root namespace, selector, targetRefs at waypoints and Gateway API
   * gateways), merged and sorted by issuer as istiod merges them into one `jwt_authn` filter
   * (istio/istio@86c9f01f:pilot/pkg/security/authn/policy_applier.go `newPolicyApplier`). ztunnel has none.
   * The same array is returned for the same workload shape, so it can key caches.
   *
   * @param workload - The enforcing workload.
   * @param service - The destination service (waypoints).
   * @returns The rules, possibly empty.
   */
  jwtRulesFor(workload: Workload, service?: DestinationService): readonly AppliedJwtRule[];
  /**
   * The PeerAuthentication modes of a workload (sidecar semantics: mesh → namespace → workload, per port).
   *
   * @param workload - The workload.
   * @returns The effective modes and the policies that set them.
   */
  peerAuthenticationFor(workload: Workload): EffectivePeerAuthentication;
}

/** A policy with what the engine derives from it once. */
interface Entry {
  readonly policy: AuthorizationPolicy;
  readonly key: string;
  /** `ns[<namespace>]-policy[<name>]`: Envoy orders RBAC policies by this name (and reports the first match). */
  readonly rbacName: string;
  readonly namespace: string;
  readonly name: string;
  readonly action: AuthorizationAction;
  readonly dryRun: boolean;
  readonly selector: Readonly<Record<string, string>> | undefined;
  readonly targetRefs: readonly PolicyTargetReference[];
  readonly provider: string;
  /** Envoy compilations by trust-domain bundle and chain. */
  readonly envoy: Map<string, CompiledEnvoyPolicy>;
  /** ztunnel translation, compiled lazily. */
  l4:
    | { readonly translation: ZtunnelTranslation; readonly compiled: CompiledL4Policy | undefined }
    | undefined;
}

/** A rule ready to run, with the policy it reports. */
interface RuleRef {
  readonly entry: Entry;
  readonly rule: number;
  readonly match: (ctx: RequestContext) => boolean;
  readonly keys: readonly IndexKey[] | undefined;
  /** The decision this rule makes when it decides, without and with the audit mark (built on first use). */
  decided: readonly [Decision, Decision] | undefined;
}

/** The rules of one action in Envoy's order, and their matcher (indexed when long). */
interface RuleList {
  readonly refs: readonly RuleRef[];
  readonly matcher: RuleMatcher<RequestContext>;
}

/** What the L4 decision reports for one policy of a workload's set. */
interface L4Ref {
  /** `namespace/name` the decision reports. */
  readonly key: string;
  readonly allow: boolean;
  readonly reason: string;
  /** The `spec.rules` index each group came from (`undefined`: 0, PeerAuthentication-derived policies). */
  readonly ruleOf: readonly number[] | undefined;
  /** The decision per matching group, built when that group first decides. */
  readonly decided: Decision[];
}

/** The Envoy filter chain of one workload, per action. */
interface EnvoyPlan {
  /** CUSTOM rules by provider (sorted); `deny` when they act as DENY rules (bad or multiple providers). */
  readonly custom: readonly { readonly provider: string; readonly rules: readonly RuleRef[] }[];
  readonly customAsDeny: readonly RuleRef[];
  readonly customAsDenyReason: string;
  readonly audit: RuleList;
  readonly deny: RuleList;
  readonly denyDryRun: RuleList;
  readonly allow: RuleList;
  readonly allowDryRun: RuleList;
  readonly hasEnforcedAllow: boolean;
  /** "no ALLOW policies apply" (or "no policies apply"), and "no ALLOW policy matched", without and with audit. */
  readonly noAllow: readonly [Decision, Decision];
  readonly notAllowed: readonly [Decision, Decision];
}

interface L4Plan {
  readonly set: L4PolicySet;
  /** Per policy of the set, in its order. */
  readonly refs: readonly L4Ref[];
  readonly noAllow: Decision;
  readonly notAllowed: Decision;
}

/** Applicable policies of one workload, with plans built on first use. */
interface Selection {
  readonly entries: readonly Entry[];
  readonly bundle: readonly string[];
  /** RequestAuthentication rules that apply (never for ztunnel). */
  readonly jwtRules: readonly AppliedJwtRule[];
  /** PeerAuthentication modes (sidecar semantics). */
  readonly peer: EffectivePeerAuthentication;
  /** PeerAuthentication-derived ztunnel policies attached to the workload (`namespace/name`). */
  readonly peerL4Keys: readonly string[];
  http?: EnvoyPlan;
  tcp?: EnvoyPlan;
  l4?: L4Plan;
}

/** Per-namespace index: selector-less policies, selector policies by their first label, targetRef policies. */
interface NamespaceIndex {
  readonly unselected: Entry[];
  readonly bySelectorLabel: Map<string, Map<string, Entry[]>>;
  readonly emptySelector: Entry[];
  readonly targeted: Entry[];
}

const SELECTION_CACHE_MAX = 8192;
const EMPTY_LIST: readonly never[] = Object.freeze([]);

function compareKeys(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

// istio/istio@86c9f01f:pilot/pkg/model/config.go configCompareByCreationTime (no timestamp = oldest).
function compareByCreation(a: SecurityPolicy, b: SecurityPolicy): number {
  const ta = a.metadata.creationTimestamp === undefined ? 0 : Date.parse(a.metadata.creationTimestamp);
  const tb = b.metadata.creationTimestamp === undefined ? 0 : Date.parse(b.metadata.creationTimestamp);
  if (ta !== tb) return ta < tb ? -1 : 1;
  return (
    compareKeys(a.metadata.name, b.metadata.name) || compareKeys(a.metadata.namespace, b.metadata.namespace)
  );
}

function denyDecision(reason: string, extra: Partial<Decision> = {}): Decision {
  return { allow: false, reason, audit: false, dryRunMatched: EMPTY_LIST, ...extra };
}

/** The engine implementation; see {@link PolicyEngine}. */
class Engine implements PolicyEngine {
  readonly policies: readonly AuthorizationPolicy[];
  readonly requestAuthentications: readonly RequestAuthentication[];
  readonly peerAuthentications: readonly PeerAuthentication[];
  readonly mesh: ResolvedMeshConfig;
  /** RequestAuthentications with what attachment reads. */
  private readonly raEntries: readonly {
    readonly ra: RequestAuthentication;
    readonly key: string;
    readonly namespace: string;
    readonly selector: Readonly<Record<string, string>> | undefined;
    readonly targetRefs: readonly PolicyTargetReference[];
  }[];
  /** istiod's ztunnel translation of the PeerAuthentications, compiled by key. */
  private readonly peerL4: ZtunnelPeerAuthentication;
  private readonly peerL4Compiled = new Map<string, CompiledL4Policy>();
  private readonly entries: readonly Entry[];
  private readonly index = new Map<string, NamespaceIndex>();
  private readonly selections = new Map<string, Selection>();
  private readonly memo = new WeakMap<object, WorkloadMemo>();
  private readonly prepareL4: PrepareOptions;
  private readonly prepareL7: PrepareOptions;
  private readonly indexMode: IndexMode;

  constructor(documents: SecurityPolicies, mesh: ResolvedMeshConfig, evaluation: 'indexed' | 'linear') {
    this.indexMode = evaluation === 'linear' ? 'never' : 'auto';
    const policies = documents.authorizationPolicies;
    this.policies = policies;
    this.requestAuthentications = documents.requestAuthentications;
    this.peerAuthentications = documents.peerAuthentications;
    this.mesh = mesh;
    // istiod lists RequestAuthentications by creation time (then name) before merging their rules.
    this.raEntries = [...documents.requestAuthentications].sort(compareByCreation).map((ra) => ({
      ra,
      key: policyKey(ra),
      namespace: ra.metadata.namespace,
      selector: ra.spec.selector === undefined ? undefined : (ra.spec.selector.matchLabels ?? {}),
      targetRefs: targetRefsOf(ra.spec),
    }));
    this.peerL4 = translatePeerAuthenticationsForZtunnel(documents.peerAuthentications, {
      rootNamespace: mesh.rootNamespace,
    });
    for (const authorization of this.peerL4.authorizations) {
      this.peerL4Compiled.set(
        `${authorization.namespace}/${authorization.name}`,
        compileL4Policy(authorization),
      );
    }
    const prepare = {
      pathNormalization: mesh.pathNormalization,
      spaceDelimitedClaims: mesh.spaceDelimitedClaims,
    };
    this.prepareL4 = { ...prepare, l7: false };
    this.prepareL7 = { ...prepare, l7: true };
    this.entries = policies
      .map((policy) => {
        const spec = policy.spec;
        return {
          policy,
          key: policyKey(policy),
          rbacName: `ns[${policy.metadata.namespace}]-policy[${policy.metadata.name}]`,
          namespace: policy.metadata.namespace,
          name: policy.metadata.name,
          action: spec.action ?? 'ALLOW',
          dryRun: isDryRun(policy),
          selector: spec.selector === undefined ? undefined : (spec.selector.matchLabels ?? {}),
          targetRefs: targetRefsOf(spec),
          provider: spec.provider?.name ?? '',
          envoy: new Map(),
          l4: undefined,
        } satisfies Entry;
      })
      .sort((a, b) => compareKeys(a.rbacName, b.rbacName));
    for (const entry of this.entries) {
      let ns = this.index.get(entry.namespace);
      if (ns === undefined) {
        ns = { unselected: [], bySelectorLabel: new Map(), emptySelector: [], targeted: [] };
        this.index.set(entry.namespace, ns);
      }
      if (entry.targetRefs.length > 0) ns.targeted.push(entry);
      else if (entry.selector === undefined) ns.unselected.push(entry);
      else {
        const first = Object.keys(entry.selector).sort()[0];
        if (first === undefined) ns.emptySelector.push(entry);
        else {
          const value = entry.selector[first] as string;
          let byValue = ns.bySelectorLabel.get(first);
          if (byValue === undefined) {
            byValue = new Map();
            ns.bySelectorLabel.set(first, byValue);
          }
          const list = byValue.get(value);
          if (list === undefined) byValue.set(value, [entry]);
          else list.push(entry);
        }
      }
    }
  }

  evaluate(input: EvaluateInput, hooks?: EvaluateHooks): Decision {
    try {
      return this.decide(input, hooks);
    } catch (cause) {
      // Nothing a caller passes may crash the process or allow by accident.
      return denyDecision(`internal error while evaluating: ${String(cause)}`);
    }
  }

  explain(input: EvaluateInput, hooks?: EvaluateHooks): Explanation {
    const decision = this.evaluate(input, hooks);
    try {
      return { decision, policies: this.trace(input) };
    } catch {
      return { decision, policies: [] };
    }
  }

  applicablePolicies(workload: Workload, service?: DestinationService): string[] {
    if (typeof workload !== 'object' || workload === null) return [];
    const selection = this.select(workload, service);
    return typeof selection === 'string' ? [] : selection.entries.map((e) => e.key).sort(compareKeys);
  }

  jwtRulesFor(workload: Workload, service?: DestinationService): readonly AppliedJwtRule[] {
    if (typeof workload !== 'object' || workload === null) return EMPTY_LIST;
    const selection = this.select(workload, service);
    return typeof selection === 'string' ? EMPTY_LIST : selection.jwtRules;
  }

  peerAuthenticationFor(workload: Workload): EffectivePeerAuthentication {
    if (typeof workload !== 'object' || workload === null || checkWorkload(workload) !== undefined) {
      return effectivePeerAuthentication([], { namespace: '' }, this.mesh.rootNamespace);
    }
    const selection = this.select(workload, undefined);
    return typeof selection === 'string'
      ? effectivePeerAuthentication([], { namespace: '' }, this.mesh.rootNamespace)
      : selection.peer;
  }

  /** RequestAuthentication rules for a workload: attached like AuthorizationPolicies, merged, sorted by issuer. */
  private jwtRulesOf(workload: Workload, svc: DestinationService | undefined): readonly AppliedJwtRule[] {
    if (workload.kind === 'ztunnel' || this.raEntries.length === 0) return EMPTY_LIST;
    const rules: AppliedJwtRule[] = [];
    for (const ns of lookupNamespaces(workload, svc, this.mesh.rootNamespace)) {
      for (const entry of this.raEntries) {
        if (entry.namespace !== ns) continue;
        if (!attachment(entry, workload, svc, this.mesh.rootNamespace).attached) continue;
        (entry.ra.spec.jwtRules ?? []).forEach((rule, index) => {
          rules.push(Object.freeze({ rule, policy: entry.key, index }));
        });
      }
    }
    // A stable sort by issuer (istiod slices.SortBy; equal issuers keep their order).
    rules.sort((a, b) => compareKeys(a.rule.issuer ?? '', b.rule.issuer ?? ''));
    return Object.freeze(rules);
  }

  // ---- selection ----------------------------------------------------------------------------------------

  private bundleFor(workload: Workload): readonly string[] {
    const td =
      typeof workload.trustDomain === 'string' && workload.trustDomain !== ''
        ? workload.trustDomain
        : this.mesh.trustDomain;
    return [td, ...this.mesh.trustDomainAliases];
  }

  /** The workload's applicable policies, or why the workload is unusable. */
  private select(workload: Workload, service: DestinationService | undefined): Selection | string {
    const svc =
      workload.kind === 'waypoint' && typeof service === 'object' && service !== null ? service : undefined;
    // Fast path: the same workload object as last time, unchanged (labels compared value by value).
    const memo = this.memo.get(workload);
    if (memo !== undefined && memoMatches(memo, workload, svc)) return memo.selection;
    const problem = checkWorkload(workload);
    if (problem !== undefined) return problem;
    const selection = this.selectUncached(workload, svc);
    this.memo.set(workload, makeMemo(workload, svc, selection));
    return selection;
  }

  private selectUncached(workload: Workload, svc: DestinationService | undefined): Selection {
    const bundle = this.bundleFor(workload);
    // The cache key covers everything attachment reads; labels in their own order (a different order only
    // costs another cache entry). JSON keeps arbitrary label text from colliding with the separators.
    const parts: unknown[] = [workload.kind, workload.namespace, bundle[0], workload.name ?? null];
    parts.push(svc === undefined ? null : [svc.kind, svc.namespace, svc.name]);
    const labels = workload.labels;
    if (labels !== undefined && labels !== null) {
      for (const k in labels) {
        if (Object.hasOwn(labels, k)) parts.push(k, labels[k]);
      }
    }
    const key = JSON.stringify(parts);
    const cached = this.selections.get(key);
    if (cached !== undefined) return cached;
    const entries: Entry[] = [];
    for (const ns of lookupNamespaces(workload, svc, this.mesh.rootNamespace)) {
      const index = this.index.get(ns);
      if (index === undefined) continue;
      const consider = (list: readonly Entry[]): void => {
        for (const entry of list) {
          if (attachment(entry, workload, svc, this.mesh.rootNamespace).attached) entries.push(entry);
        }
      };
      consider(index.unselected);
      consider(index.emptySelector);
      consider(index.targeted);
      if (labels !== undefined && labels !== null && index.bySelectorLabel.size > 0) {
        for (const k in labels) {
          if (!Object.hasOwn(labels, k)) continue;
          const list = index.bySelectorLabel.get(k)?.get(labels[k] as string);
          if (list !== undefined) consider(list);
        }
      }
    }
    entries.sort((a, b) => compareKeys(a.rbacName, b.rbacName));
    const peerWorkload = { namespace: workload.namespace, labels: labels ?? undefined };
    const selection: Selection = {
      entries,
      bundle,
      jwtRules: this.jwtRulesOf(workload, svc),
      peer:
        workload.kind === 'sidecar' || workload.kind === 'ztunnel'
          ? effectivePeerAuthentication(this.peerAuthentications, peerWorkload, this.mesh.rootNamespace)
          : effectivePeerAuthentication([], peerWorkload, this.mesh.rootNamespace),
      peerL4Keys: workload.kind === 'ztunnel' ? this.peerL4.policiesForWorkload(peerWorkload) : EMPTY_LIST,
    };
    if (this.selections.size >= SELECTION_CACHE_MAX) this.selections.clear();
    this.selections.set(key, selection);
    return selection;
  }

  // ---- compilation --------------------------------------------------------------------------------------

  private envoyCompiled(entry: Entry, bundle: readonly string[], forTcp: boolean): CompiledEnvoyPolicy {
    const key = `${forTcp ? 'tcp' : 'http'}\u0000${bundle.join('\u0001')}`;
    let compiled = entry.envoy.get(key);
    if (compiled === undefined) {
      compiled = compileEnvoyPolicy(entry.policy.spec.rules ?? [], entry.action, forTcp, {
        namespace: entry.namespace,
        name: entry.name,
        bundle,
        identityRegex: this.mesh.identityRegex,
      });
      entry.envoy.set(key, compiled);
    }
    return compiled;
  }

  private l4Compiled(entry: Entry): NonNullable<Entry['l4']> {
    if (entry.l4 === undefined) {
      const translation = translateForZtunnel(entry.policy, {
        rootNamespace: this.mesh.rootNamespace,
        enableDryRun: this.mesh.enableAmbientDryRun,
      });
      entry.l4 = {
        translation,
        compiled: translation.sent ? compileL4Policy(translation.authorization) : undefined,
      };
    }
    return entry.l4;
  }

  private refs(entries: readonly Entry[], bundle: readonly string[], forTcp: boolean): RuleRef[] {
    const out: (RuleRef & { key: string })[] = [];
    for (const entry of entries) {
      for (const rule of this.envoyCompiled(entry, bundle, forTcp).rules) {
        out.push({
          entry,
          rule: rule.index,
          match: rule.match,
          keys: rule.keys,
          key: rule.key,
          decided: undefined,
        });
      }
    }
    return out.sort((a, b) => compareKeys(a.key, b.key));
  }

  private ruleList(refs: readonly RuleRef[]): RuleList {
    return { refs, matcher: createRuleMatcher(refs, ENVOY_READERS, this.indexMode) };
  }

  private envoyPlan(selection: Selection, forTcp: boolean): EnvoyPlan {
    const cached = forTcp ? selection.tcp : selection.http;
    if (cached !== undefined) return cached;
    const by = (action: AuthorizationAction, dryRun: boolean): Entry[] =>
      selection.entries.filter((e) => e.action === action && e.dryRun === dryRun);
    // CUSTOM (istio builder, custom builder): providers sorted; several providers without the feature flag,
    // or a provider MeshConfig does not define, turn the CUSTOM rules into DENY rules.
    const customEntries = selection.entries.filter((e) => e.action === 'CUSTOM');
    const providers = [...new Set(customEntries.map((e) => e.provider))].sort(compareKeys);
    const custom: { provider: string; rules: RuleRef[] }[] = [];
    const customAsDeny: RuleRef[] = [];
    let customAsDenyReason = '';
    if (providers.length > 1 && !this.mesh.multipleCustomProviders) {
      customAsDeny.push(...this.refs(customEntries, selection.bundle, forTcp));
      customAsDenyReason = `several CUSTOM providers (${providers.join(', ')}) on one workload need PILOT_ENABLE_MULTIPLE_CUSTOM_AUTHZ_PROVIDERS`;
    } else {
      for (const provider of providers) {
        const entries = customEntries.filter((e) => e.provider === provider && !e.dryRun);
        const kind = this.mesh.extensionProviders.get(provider);
        if (kind === undefined) {
          customAsDeny.push(...this.refs(entries, selection.bundle, forTcp));
          customAsDenyReason = `CUSTOM provider "${provider}" is not a MeshConfig extension provider`;
        } else if (forTcp && kind === 'envoyExtAuthzHttp') {
          // "ignored CUSTOM action with HTTP provider on TCP filter chain".
        } else {
          custom.push({ provider, rules: this.refs(entries, selection.bundle, forTcp) });
        }
      }
    }
    const plan: EnvoyPlan = {
      custom,
      customAsDeny,
      customAsDenyReason,
      audit: this.ruleList(this.refs(by('AUDIT', false), selection.bundle, forTcp)),
      deny: this.ruleList(this.refs(by('DENY', false), selection.bundle, forTcp)),
      denyDryRun: this.ruleList(this.refs(by('DENY', true), selection.bundle, forTcp)),
      allow: this.ruleList(this.refs(by('ALLOW', false), selection.bundle, forTcp)),
      allowDryRun: this.ruleList(this.refs(by('ALLOW', true), selection.bundle, forTcp)),
      hasEnforcedAllow: by('ALLOW', false).length > 0,
      noAllow: auditPair({
        allow: true,
        reason: selection.entries.length === 0 ? 'no policies apply' : 'no ALLOW policies apply',
        dryRunMatched: EMPTY_LIST,
      }),
      notAllowed: auditPair({
        allow: false,
        reason: 'no ALLOW policy matched (RBAC: access denied)',
        dryRunMatched: EMPTY_LIST,
      }),
    };
    if (forTcp) selection.tcp = plan;
    else selection.http = plan;
    return plan;
  }

  private l4Plan(selection: Selection): L4Plan {
    if (selection.l4 !== undefined) return selection.l4;
    const entries: L4SetEntry[] = [];
    const refs: L4Ref[] = [];
    for (const entry of selection.entries) {
      const { translation, compiled } = this.l4Compiled(entry);
      if (!translation.sent || compiled === undefined) continue;
      const isDeny = translation.authorization.action === 'Deny';
      const reason = isDeny
        ? `denied by DENY policy ${entry.key} (ztunnel: explicitly denied)`
        : `allowed by ALLOW policy ${entry.key}`;
      entries.push({
        action: translation.authorization.action,
        dryRun: translation.authorization.dryRun,
        compiled,
      });
      refs.push({ key: entry.key, allow: !isDeny, reason, ruleOf: translation.groupRuleIndex, decided: [] });
    }
    // PeerAuthentication-derived policies (all DENY), as istiod attaches them to the workload.
    for (const key of selection.peerL4Keys) {
      const compiled = this.peerL4Compiled.get(key);
      if (compiled === undefined) continue;
      const reason = `denied by DENY policy ${key} (ztunnel: explicitly denied; PeerAuthentication STRICT requires mTLS)`;
      entries.push({ action: 'Deny', dryRun: false, compiled });
      refs.push({ key, allow: false, reason, ruleOf: undefined, decided: [] });
    }
    const plan: L4Plan = {
      set: compileL4PolicySet(entries, this.indexMode),
      refs,
      noAllow: Object.freeze({
        allow: true,
        reason: selection.entries.length === 0 ? 'no policies apply' : 'no ALLOW policies apply',
        audit: false,
        dryRunMatched: EMPTY_LIST,
      }),
      notAllowed: Object.freeze({
        allow: false,
        reason: 'no ALLOW policy matched (ztunnel: not allowed)',
        audit: false,
        dryRunMatched: EMPTY_LIST,
      }),
    };
    selection.l4 = plan;
    return plan;
  }

  // ---- evaluation ---------------------------------------------------------------------------------------

  private decide(input: EvaluateInput, hooks: EvaluateHooks | undefined): Decision {
    if (typeof input !== 'object' || input === null)
      return denyDecision('invalid input: expected { workload, request }');
    const workload = input.workload;
    const request = input.request;
    if (typeof workload !== 'object' || workload === null)
      return denyDecision('invalid workload: expected an object');
    const l7 = workload.kind !== 'ztunnel';
    const ctx = RequestContext.prepare(request, l7 ? this.prepareL7 : this.prepareL4);
    if (!(ctx instanceof RequestContext)) {
      const failure = ctx as PrepareFailure;
      return denyDecision(
        failure.badRequest === true ? `bad request: ${failure.reason}` : `invalid request: ${failure.reason}`,
        failure.badRequest === true ? { badRequest: true } : {},
      );
    }
    const protocol = request.protocol;
    if (protocol !== undefined && protocol !== 'http' && protocol !== 'tcp') {
      return denyDecision(`invalid request: protocol must be 'http' or 'tcp', found ${String(protocol)}`);
    }
    const selection = this.select(workload, request.destination.service);
    if (typeof selection === 'string') return denyDecision(`invalid workload: ${selection}`);
    if (!l7) return this.decideL4(this.l4Plan(selection), ctx);
    // A sidecar under PeerAuthentication STRICT only accepts mTLS: a connection without a peer certificate
    // never reaches RBAC (the inbound listener's filter chains all require a client certificate).
    if (workload.kind === 'sidecar' && ctx.principal === null) {
      const peer = selection.peer;
      if (mtlsModeForPort(peer, ctx.dstPort ?? -1) === 'STRICT') {
        const by = peer.workload ?? peer.namespace ?? peer.mesh;
        return denyDecision(
          `refused by PeerAuthentication ${by ?? ''} (mode STRICT): the connection has no verified peer certificate`,
          { connectionRefused: true, ...(by === undefined ? {} : { policy: by }) },
        );
      }
    }
    return this.decideEnvoy(this.envoyPlan(selection, protocol === 'tcp'), ctx, hooks);
  }

  private decideL4(plan: L4Plan, ctx: RequestContext): Decision {
    // ztunnel assert_rbac (./l4-decision.ts): dry-run policies only log, DENY first, then ALLOW.
    const outcome = plan.set.decide(ctx);
    if (outcome.result === 'unevaluable') return denyDecision(outcome.problem);
    const dry = outcome.dryRun;
    let dryRun: string[] | undefined;
    if (dry !== undefined) {
      for (const i of dry.deny) dryRun = appendKey(dryRun, (plan.refs[i] as L4Ref).key);
      for (const i of dry.allow) dryRun = appendKey(dryRun, (plan.refs[i] as L4Ref).key);
    }
    switch (outcome.result) {
      case 'explicitly-denied':
      case 'allowed-by-policy':
        return withDryRun(l4Decision(plan.refs[outcome.policy] as L4Ref, outcome.group), dryRun);
      case 'no-allow-policies':
        return withDryRun(plan.noAllow, dryRun);
      case 'not-allowed':
        return withDryRun(plan.notAllowed, dryRun);
    }
  }

  private decideEnvoy(plan: EnvoyPlan, ctx: RequestContext, hooks: EvaluateHooks | undefined): Decision {
    // 1. CUSTOM: its rules act as DENY rules when the provider cannot be used.
    for (const ref of plan.customAsDeny) {
      if (ref.match(ctx)) {
        return denyDecision(`denied by CUSTOM policy ${ref.entry.key}: ${plan.customAsDenyReason}`, {
          policy: ref.entry.key,
          rule: ref.rule,
        });
      }
    }
    let extAuthzCalled: string | undefined;
    for (const group of plan.custom) {
      let matched: RuleRef | undefined;
      for (const ref of group.rules) {
        if (ref.match(ctx)) {
          matched = ref;
          break;
        }
      }
      if (matched === undefined) continue;
      extAuthzCalled = group.provider;
      let answer: unknown;
      let failure = 'is unavailable (no extAuthz hook)';
      try {
        if (hooks?.extAuthz !== undefined) {
          answer = hooks.extAuthz(group.provider);
          failure = `gave no answer (expected 'allow' or 'deny', got ${typeof answer})`;
        }
      } catch {
        failure = 'failed';
      }
      if (answer !== 'allow') {
        const why =
          answer === 'deny'
            ? `ext_authz provider ${group.provider} denied the request`
            : `ext_authz provider ${group.provider} ${failure}; failing closed`;
        return denyDecision(`denied by CUSTOM policy ${matched.entry.key}: ${why}`, {
          policy: matched.entry.key,
          rule: matched.rule,
          extAuthzCalled: group.provider,
        });
      }
    }
    // 2. AUDIT marks only.
    const audit = plan.audit.refs.length > 0 && plan.audit.matcher.first(ctx) >= 0 ? 1 : 0;
    // 3. DENY: shadow (dry-run) rules are evaluated by the same filter, before it enforces.
    let dryRun: string[] | undefined;
    if (plan.denyDryRun.refs.length > 0) dryRun = shadowMatches(plan.denyDryRun, ctx, dryRun);
    const denied = plan.deny.refs.length > 0 ? plan.deny.matcher.first(ctx) : -1;
    if (denied >= 0) {
      return finish(ruleDecision(plan.deny.refs[denied] as RuleRef, audit), dryRun, extAuthzCalled);
    }
    // 4. ALLOW.
    if (plan.allowDryRun.refs.length > 0) dryRun = shadowMatches(plan.allowDryRun, ctx, dryRun);
    if (!plan.hasEnforcedAllow) return finish(plan.noAllow[audit] as Decision, dryRun, extAuthzCalled);
    const allowed = plan.allow.refs.length > 0 ? plan.allow.matcher.first(ctx) : -1;
    if (allowed >= 0) {
      return finish(ruleDecision(plan.allow.refs[allowed] as RuleRef, audit), dryRun, extAuthzCalled);
    }
    return finish(plan.notAllowed[audit] as Decision, dryRun, extAuthzCalled);
  }

  // ---- explanation --------------------------------------------------------------------------------------

  private trace(input: EvaluateInput): ExplainEntry[] {
    const workload = input.workload;
    if (checkWorkload(workload) !== undefined) return [];
    const l7 = workload.kind !== 'ztunnel';
    const ctx = RequestContext.prepare(input.request, l7 ? this.prepareL7 : this.prepareL4);
    if (!(ctx instanceof RequestContext)) return [];
    const service = workload.kind === 'waypoint' ? input.request.destination?.service : undefined;
    const forTcp = input.request.protocol === 'tcp';
    const bundle = this.bundleFor(workload);
    const out: ExplainEntry[] = [];
    for (const ns of lookupNamespaces(workload, service, this.mesh.rootNamespace)) {
      for (const entry of this.entries) {
        if (entry.namespace !== ns) continue;
        const base = { policy: entry.key, action: entry.action, dryRun: entry.dryRun };
        const att = attachment(entry, workload, service, this.mesh.rootNamespace);
        if (!att.attached) {
          out.push({ ...base, applies: false, notApplied: att.reason, notes: [] });
          continue;
        }
        if (!l7) {
          const { translation, compiled } = this.l4Compiled(entry);
          if (!translation.sent || compiled === undefined) {
            const message = translation.sent ? '' : translation.message;
            out.push({ ...base, applies: false, notApplied: 'not-sent-to-ztunnel', notes: [message] });
            continue;
          }
          const notes: string[] = [];
          if (translation.warning !== undefined) notes.push(translation.warning);
          const group = compiled.matchGroup(ctx);
          out.push({
            ...base,
            applies: true,
            ...(group >= 0 ? { matchedRule: translation.groupRuleIndex[group] as number } : {}),
            notes,
          });
          continue;
        }
        if (
          forTcp &&
          entry.action === 'CUSTOM' &&
          (this.mesh.extensionProviders.get(entry.provider) ?? 'envoyExtAuthzGrpc') === 'envoyExtAuthzHttp'
        ) {
          out.push({ ...base, applies: false, notApplied: 'custom-ignored-on-tcp', notes: [] });
          continue;
        }
        const compiled = this.envoyCompiled(entry, bundle, forTcp);
        const notes = compiled.skippedRules.map(
          (i) =>
            `rule ${i} is skipped on a TCP filter chain (it uses HTTP-only attributes in an ALLOW policy)`,
        );
        if ((entry.policy.spec.rules ?? []).length === 0) notes.push('no rules: matches nothing');
        const first = [...compiled.rules].sort((a, b) => a.index - b.index).find((r) => r.match(ctx));
        out.push({
          ...base,
          applies: true,
          ...(first === undefined ? {} : { matchedRule: first.index }),
          notes,
        });
      }
    }
    return out;
  }
}

// The policies of matching shadow rules, each once, in rule order.
function shadowMatches(
  list: RuleList,
  ctx: RequestContext,
  dryRun: string[] | undefined,
): string[] | undefined {
  let out = dryRun;
  list.matcher.each(ctx, (i) => {
    const key = (list.refs[i] as RuleRef).entry.key;
    if (out === undefined || !out.includes(key)) out = appendKey(out, key);
  });
  return out;
}

function appendKey(list: string[] | undefined, key: string): string[] {
  if (list === undefined) return [key];
  list.push(key);
  return list;
}

// Decisions are built with every field in one order (a spread gives each object a hidden class of its own,
// which thousands of rules pay for) and frozen: they are shared by every request a rule decides.
function makeDecision(base: Omit<Decision, 'audit'>, audit: boolean): Decision {
  return Object.freeze(
    base.policy === undefined
      ? { allow: base.allow, reason: base.reason, audit, dryRunMatched: base.dryRunMatched }
      : base.rule === undefined
        ? {
            allow: base.allow,
            policy: base.policy,
            reason: base.reason,
            audit,
            dryRunMatched: base.dryRunMatched,
          }
        : {
            allow: base.allow,
            policy: base.policy,
            rule: base.rule,
            reason: base.reason,
            audit,
            dryRunMatched: base.dryRunMatched,
          },
  );
}

// The decision of an L4 policy's group, built when the group first decides.
function l4Decision(ref: L4Ref, group: number): Decision {
  let d = ref.decided[group];
  if (d === undefined) {
    d = makeDecision(
      {
        allow: ref.allow,
        policy: ref.key,
        rule: ref.ruleOf?.[group] ?? 0,
        reason: ref.reason,
        dryRunMatched: EMPTY_LIST,
      },
      false,
    );
    ref.decided[group] = d;
  }
  return d;
}

// The decision a rule makes, built when the rule first decides (most rules of a blocklist never do).
function ruleDecision(ref: RuleRef, audit: number): Decision {
  if (ref.decided === undefined) {
    const { entry } = ref;
    const allow = entry.action === 'ALLOW';
    ref.decided = auditPair({
      allow,
      policy: entry.key,
      rule: ref.rule,
      reason: allow
        ? `allowed by ALLOW policy ${entry.key}`
        : `denied by ${entry.action} policy ${entry.key} (RBAC: access denied)`,
      dryRunMatched: EMPTY_LIST,
    });
  }
  return ref.decided[audit] as Decision;
}

function auditPair(base: Omit<Decision, 'audit'>): [Decision, Decision] {
  return [makeDecision(base, false), makeDecision(base, true)];
}

// A precomputed decision, copied only when this request has something of its own to add.
function withDryRun(decision: Decision, dryRun: string[] | undefined): Decision {
  return dryRun === undefined ? decision : { ...decision, dryRunMatched: dryRun };
}

function finish(
  decision: Decision,
  dryRun: string[] | undefined,
  extAuthzCalled: string | undefined,
): Decision {
  if (dryRun === undefined && extAuthzCalled === undefined) return decision;
  return {
    ...decision,
    ...(dryRun === undefined ? {} : { dryRunMatched: dryRun }),
    ...(extAuthzCalled === undefined ? {} : { extAuthzCalled }),
  };
}

/** What a selection was computed from, to reuse it for the same workload object. */
interface WorkloadMemo {
  readonly kind: string;
  readonly namespace: string;
  readonly name: string | undefined;
  readonly trustDomain: string | undefined;
  readonly labels: object | undefined;
  /** Label keys and values, alternating, in iteration order. */
  readonly snapshot: readonly string[];
  readonly svcKind: string | undefined;
  readonly svcNamespace: string | undefined;
  readonly svcName: string | undefined;
  readonly selection: Selection;
}

function makeMemo(
  workload: Workload,
  svc: DestinationService | undefined,
  selection: Selection,
): WorkloadMemo {
  const snapshot: string[] = [];
  const labels = workload.labels ?? undefined;
  if (labels !== undefined) {
    for (const k in labels) if (Object.hasOwn(labels, k)) snapshot.push(k, labels[k] as string);
  }
  return {
    kind: workload.kind,
    namespace: workload.namespace,
    name: workload.name,
    trustDomain: workload.trustDomain,
    labels,
    snapshot,
    svcKind: svc?.kind,
    svcNamespace: svc?.namespace,
    svcName: svc?.name,
    selection,
  };
}

function memoMatches(memo: WorkloadMemo, workload: Workload, svc: DestinationService | undefined): boolean {
  if (
    memo.kind !== workload.kind ||
    memo.namespace !== workload.namespace ||
    memo.name !== workload.name ||
    memo.trustDomain !== workload.trustDomain ||
    memo.labels !== (workload.labels ?? undefined) ||
    memo.svcKind !== svc?.kind ||
    memo.svcNamespace !== svc?.namespace ||
    memo.svcName !== svc?.name
  ) {
    return false;
  }
  const labels = workload.labels;
  const snap = memo.snapshot;
  let i = 0;
  if (labels !== undefined && labels !== null) {
    for (const k in labels) {
      if (!Object.hasOwn(labels, k)) continue;
      if (snap[i] !== k || snap[i + 1] !== labels[k]) return false;
      i += 2;
    }
  }
  return i === snap.length;
}

const WORKLOAD_KINDS = new Set(['ztunnel', 'sidecar', 'gateway', 'waypoint']);

function checkWorkload(workload: unknown): string | undefined {
  if (typeof workload !== 'object' || workload === null) return 'expected an object';
  const w = workload as Workload;
  if (!WORKLOAD_KINDS.has(w.kind))
    return `kind must be one of ztunnel, sidecar, gateway, waypoint, found ${String(w.kind)}`;
  if (typeof w.namespace !== 'string' || w.namespace === '') return 'namespace must be a non-empty string';
  if (w.labels !== undefined && w.labels !== null) {
    if (typeof w.labels !== 'object' || Array.isArray(w.labels)) return 'labels must be a map of strings';
    for (const k in w.labels)
      if (Object.hasOwn(w.labels, k) && typeof w.labels[k] !== 'string') return `label ${k} must be a string`;
  }
  return undefined;
}

/**
 * Builds an engine from AuthorizationPolicies and MeshConfig settings. Policies are validated (every error
 * is returned, and one invalid policy rejects the set: dropping an invalid DENY would be a silent allow),
 * indexed by namespace and selector, and compiled on first use per workload shape.
 *
 * @param options - `{ policies, mesh? }`.
 * @returns The engine, or every validation and mesh-config error.
 * @example
 * ```ts
 * const policies = parsePolicies(yamlText)._unsafeUnwrap();
 * const engine = createPolicyEngine({ policies, mesh: { rootNamespace: 'istio-system' } })._unsafeUnwrap();
 * engine.evaluate({
 *   workload: { kind: 'sidecar', namespace: 'foo', labels: { app: 'httpbin' } },
 *   request: {
 *     source: { principal: 'spiffe://cluster.local/ns/foo/sa/sleep', ip: '10.0.0.1' },
 *     destination: { ip: '10.0.0.2', port: 8000 },
 *     method: 'GET', path: '/headers', host: 'httpbin.foo:8000',
 *   },
 * }); // { allow: true, policy: 'foo/httpbin', ... }
 * ```
 */
export function createPolicyEngine(options: PolicyEngineOptions): Result<PolicyEngine, PolicyError[]> {
  const opts = (options ?? {}) as Partial<PolicyEngineOptions>;
  const mesh = resolveMeshConfig(opts.mesh);
  const extra: unknown[] = [];
  for (const field of ['requestAuthentications', 'peerAuthentications'] as const) {
    const list = opts[field];
    if (list === undefined) continue;
    if (!Array.isArray(list)) {
      return err([
        ...(mesh.isErr() ? mesh.error : []),
        new PolicyError('AUTHZ_ERR_SCHEMA', `\`${field}\` must be a list`, { path: field }),
      ]);
    }
    extra.push(...list);
  }
  if (opts.evaluation !== undefined && opts.evaluation !== 'indexed' && opts.evaluation !== 'linear') {
    return err([
      ...(mesh.isErr() ? mesh.error : []),
      new PolicyError(
        'AUTHZ_ERR_SCHEMA',
        `\`evaluation\` must be 'indexed' or 'linear', found ${JSON.stringify(opts.evaluation)}`,
        { path: 'evaluation' },
      ),
    ]);
  }
  if (!Array.isArray(opts.policies)) {
    const listError = new PolicyError(
      'AUTHZ_ERR_SCHEMA',
      '`policies` must be a list of AuthorizationPolicy objects',
      {
        path: 'policies',
      },
    );
    return err([...(mesh.isErr() ? mesh.error : []), listError]);
  }
  const policies = validateSecurityPolicies([...opts.policies, ...extra]);
  const errors = [...(mesh.isErr() ? mesh.error : []), ...(policies.isErr() ? policies.error : [])];
  if (errors.length > 0 || mesh.isErr() || policies.isErr()) return err(errors);
  return ok(new Engine(groupSecurityPolicies(policies.value), mesh.value, opts.evaluation ?? 'indexed'));
}
