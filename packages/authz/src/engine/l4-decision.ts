/**
 * ztunnel's L4 decision over a set of compiled policies (istio/ztunnel@62d82653:src/state.rs
 * `DemandProxyState::assert_rbac`): dry-run DENY policies are only reported; the first enforced DENY policy
 * that matches denies ("explicitly denied"); dry-run ALLOW policies are only reported; without enforced ALLOW
 * policies the connection is allowed; else the first enforced ALLOW policy that matches allows it, and
 * otherwise it is denied ("allow policies exist, but none allowed"). The one implementation behind
 * `evaluateL4` (the public L4 API, ../l4/evaluate-l4.ts) and the engine's `ztunnel` workloads.
 * @module
 */

import { createRuleMatcher, type IndexedRule, type IndexMode, type RuleMatcher } from './rule-index.js';
import { type CompiledL4Policy, L4_READERS, type L4View } from './ztunnel-match.js';

/** One policy of a set, in the set's order. */
export interface L4SetEntry {
  readonly action: 'Allow' | 'Deny';
  readonly dryRun: boolean;
  readonly compiled: CompiledL4Policy;
}

/** How {@link L4PolicySet.decide} decided. Policy numbers are positions in the set's input list. */
export type L4Outcome =
  | {
      readonly result: 'explicitly-denied' | 'allowed-by-policy';
      readonly policy: number;
      readonly group: number;
      readonly dryRun: L4DryRun | undefined;
    }
  | {
      readonly result: 'no-allow-policies' | 'not-allowed';
      readonly dryRun: L4DryRun | undefined;
    }
  | { readonly result: 'unevaluable'; readonly problem: string };

/** What the dry-run policies would have done (ztunnel logs it: "dry-run: deny policy match", ...). */
export interface L4DryRun {
  /** Dry-run DENY policies that match, in order. */
  readonly deny: readonly number[];
  /** Dry-run ALLOW policies that match, in order (evaluated only when no enforced DENY denied). */
  readonly allow: readonly number[];
  /** No enforced ALLOW policy, some dry-run ones, none matching: enforcing them would deny. */
  readonly noAllowMatched: boolean;
}

/** A compiled set: the policies that apply to one destination. */
export interface L4PolicySet {
  /** Whether any policy is ALLOW and enforced (else a connection not denied is allowed). */
  readonly hasEnforcedAllow: boolean;
  /** Whether the rule index is in use for any of the four lists. */
  readonly indexed: boolean;
  /**
   * Decides a connection.
   *
   * @param view - The prepared connection.
   * @returns The outcome.
   */
  decide(view: L4View): L4Outcome;
}

/** A list of one action and mode, its groups flattened in (policy, group) order. */
interface ActionList {
  readonly matcher: RuleMatcher<L4View>;
  /** Per flattened group: the policy's position in the input and the group's index in the policy. */
  readonly policyOf: Int32Array;
  readonly groupOf: Int32Array;
}

function actionList(
  entries: readonly L4SetEntry[],
  positions: readonly number[],
  mode: IndexMode,
): ActionList {
  const rules: IndexedRule<L4View>[] = [];
  const policyOf: number[] = [];
  const groupOf: number[] = [];
  for (const position of positions) {
    const groups = (entries[position] as L4SetEntry).compiled.groups;
    groups.forEach((g, gi) => {
      rules.push(g);
      policyOf.push(position);
      groupOf.push(gi);
    });
  }
  return {
    matcher: createRuleMatcher(rules, L4_READERS, mode),
    policyOf: Int32Array.from(policyOf),
    groupOf: Int32Array.from(groupOf),
  };
}

// Distinct policies with a matching group, in order (a policy matches when any of its groups does).
function matchingPolicies(list: ActionList, view: L4View): number[] {
  const out: number[] = [];
  list.matcher.each(view, (i) => {
    const policy = list.policyOf[i] as number;
    if (out[out.length - 1] !== policy) out.push(policy);
  });
  return out;
}

const NO_MATCHES: readonly number[] = Object.freeze([]);

/**
 * Compiles the policies that apply to a destination into a set that decides as `assert_rbac` does.
 *
 * @param entries - The policies, in the order that names the first match (ztunnel: its namespace's, the
 *   global ones, then the workload's own).
 * @param mode - When to use the rule index: `auto` (default: lists of 16 groups or more), `always`, `never`
 *   (the plain scan, the reference).
 * @returns The set.
 * @example
 * ```ts
 * const set = compileL4PolicySet([{ action: 'Deny', dryRun: false, compiled: compileL4Policy(policy) }]);
 * set.decide(view).result; // 'explicitly-denied' | 'allowed-by-policy' | 'no-allow-policies' | ...
 * ```
 */
export function compileL4PolicySet(entries: readonly L4SetEntry[], mode: IndexMode = 'auto'): L4PolicySet {
  const positions = (action: 'Allow' | 'Deny', dryRun: boolean): number[] => {
    const out: number[] = [];
    entries.forEach((e, i) => {
      if (e.action === action && e.dryRun === dryRun) out.push(i);
    });
    return out;
  };
  // Fail closed: an enforced policy that cannot be evaluated makes every decision a denial.
  const problem = entries.find((e) => !e.dryRun && e.compiled.problem !== undefined)?.compiled.problem;
  const deny = actionList(entries, positions('Deny', false), mode);
  const denyDryRun = actionList(entries, positions('Deny', true), mode);
  const allowPositions = positions('Allow', false);
  const allow = actionList(entries, allowPositions, mode);
  const allowDryRunPositions = positions('Allow', true);
  const allowDryRun = actionList(entries, allowDryRunPositions, mode);
  const hasEnforcedAllow = allowPositions.length > 0;
  const hasDryRun = denyDryRun.matcher.size > 0 || allowDryRunPositions.length > 0;
  return {
    hasEnforcedAllow,
    indexed: deny.matcher.indexed || allow.matcher.indexed,
    decide(view: L4View): L4Outcome {
      if (problem !== undefined) return { result: 'unevaluable', problem };
      const dryDeny = denyDryRun.matcher.size > 0 ? matchingPolicies(denyDryRun, view) : NO_MATCHES;
      const d = deny.matcher.first(view);
      if (d >= 0) {
        return {
          result: 'explicitly-denied',
          policy: deny.policyOf[d] as number,
          group: deny.groupOf[d] as number,
          dryRun: hasDryRun ? { deny: dryDeny, allow: NO_MATCHES, noAllowMatched: false } : undefined,
        };
      }
      const dryAllow = allowDryRunPositions.length > 0 ? matchingPolicies(allowDryRun, view) : NO_MATCHES;
      const dryRun: L4DryRun | undefined = hasDryRun
        ? {
            deny: dryDeny,
            allow: dryAllow,
            noAllowMatched: !hasEnforcedAllow && allowDryRunPositions.length > 0 && dryAllow.length === 0,
          }
        : undefined;
      if (!hasEnforcedAllow) return { result: 'no-allow-policies', dryRun };
      const a = allow.matcher.first(view);
      if (a >= 0) {
        return {
          result: 'allowed-by-policy',
          policy: allow.policyOf[a] as number,
          group: allow.groupOf[a] as number,
          dryRun,
        };
      }
      return { result: 'not-allowed', dryRun };
    },
  };
}
