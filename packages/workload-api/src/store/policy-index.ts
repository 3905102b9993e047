/**
 * Authorization indexes as ztunnel's `PolicyStore` keeps them (istio/ztunnel@62d82653:src/state/policy.rs): by
 * `namespace/name`, plus the policy names per namespace for NAMESPACE scope and under `""` for GLOBAL
 * scope. WORKLOAD_SELECTOR policies are indexed only by name: workloads list them.
 * @module
 */
import type { Authorization } from '../codec/authorization.js';

function scopeKey(p: Authorization): string | undefined {
  return p.scope === 'Global' ? '' : p.scope === 'Namespace' ? p.namespace : undefined;
}

/**
 * The name and namespace indexes over the current policies.
 *
 * @example
 * ```ts
 * const index = new PolicyIndex();
 * index.insert(policy.key, policy);
 * index.namesIn('default'); // NAMESPACE-scoped policy names
 * ```
 */
export class PolicyIndex {
  readonly byKey: Map<string, Authorization> = new Map();
  private readonly byNamespace = new Map<string, Set<string>>();

  /** Inserts or replaces a policy under `key`; returns the one it replaced. */
  insert(key: string, policy: Authorization): Authorization | undefined {
    const prev = this.remove(key);
    const ns = scopeKey(policy);
    if (ns !== undefined) {
      let set = this.byNamespace.get(ns);
      if (set === undefined) {
        set = new Set();
        this.byNamespace.set(ns, set);
      }
      set.add(key);
    }
    this.byKey.set(key, policy);
    return prev;
  }

  /** Removes a policy; returns it. */
  remove(key: string): Authorization | undefined {
    const prev = this.byKey.get(key);
    if (prev === undefined) return undefined;
    this.byKey.delete(key);
    const ns = scopeKey(prev);
    if (ns !== undefined) {
      const set = this.byNamespace.get(ns);
      if (set !== undefined) {
        set.delete(key);
        if (set.size === 0) this.byNamespace.delete(ns);
      }
    }
    return prev;
  }

  /** Names of the policies scoped to a namespace (`""` for the global ones). */
  namesIn(namespace: string): readonly string[] {
    const set = this.byNamespace.get(namespace);
    return set === undefined ? [] : [...set];
  }
}
