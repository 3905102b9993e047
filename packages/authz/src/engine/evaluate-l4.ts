/**
 * The L4 authorization decision of a destination ztunnel, as a function a custom proxy calls per connection:
 * ztunnel's `assert_rbac` (istio/ztunnel@62d82653:src/state.rs) over the `istio.security.Authorization`
 * policies that apply to the destination workload, in `@ambient-kit/workload-api`'s `Authorization` model,
 * matched as ztunnel's `rbac.rs` matches them. docs/authz.md "L4 decisions for a custom proxy" shows it in use.
 * @module
 */

import type { IpAddress } from '@ambient-kit/ip';
import type { Authorization } from '@ambient-kit/workload-api/codec';
import { readPeerIp } from './ip-block.js';
import { compileL4PolicySet, type L4Outcome, type L4PolicySet } from './l4-decision.js';
import { readPeerIdentity } from './peer-identity.js';
import type { IndexMode } from './rule-index.js';
import { type CompiledL4Policy, compileL4Policy, type L4View } from './ztunnel-match.js';

/** A connection as the destination ztunnel sees it (ztunnel `rbac::Connection`). */
export interface L4Connection {
  /**
   * The peer's SPIFFE ID, from its verified certificate (`spiffe://<td>/ns/<ns>/sa/<sa>`); `undefined` or
   * `null` for a plaintext connection.
   */
  readonly srcIdentity?: string | null | undefined;
  /** The client address; an IPv4-mapped IPv6 address (`::ffff:10.0.0.1`) counts as IPv4. */
  readonly srcIp: string;
  /** The destination workload address. */
  readonly dstIp: string;
  /** The destination (target) port: the workload's port, not the Service port. */
  readonly dstPort: number;
}

/** How the decision came about. */
export type L4Result =
  /** An enforced DENY policy matched (ztunnel `AuthorizationRejectionError::ExplicitlyDenied`). */
  | 'explicitly-denied'
  /** An enforced ALLOW policy matched. */
  | 'allowed-by-policy'
  /** No enforced ALLOW policy applies, and no DENY policy matched. */
  | 'no-allow-policies'
  /** ALLOW policies apply and none matched (ztunnel `AuthorizationRejectionError::NotAllowed`). */
  | 'not-allowed'
  /** The connection or a policy cannot be read: denied (fail closed). */
  | 'invalid';

/** An L4 decision. */
export interface L4Decision {
  readonly allow: boolean;
  readonly result: L4Result;
  /**
   * For a denial, ztunnel's rejection text (`explicitly denied by: <ns>/<name>`,
   * `allow policies exist, but none allowed`; istio/ztunnel@62d82653:src/proxy.rs
   * `AuthorizationRejectionError`); for an allow, what ztunnel logs (`allow policy match`,
   * `no allow policies, allow`); for `invalid`, what could not be read.
   */
  readonly reason: string;
  /** `namespace/name` of the policy that decided, when one did. */
  readonly policy?: string;
  /** Index of its matching group (`groups[i]`). */
  readonly group?: number;
  /**
   * What dry-run policies would have done, as ztunnel logs it: the matching dry-run DENY policies, the
   * matching dry-run ALLOW policies (looked at only when no enforced DENY denied), and whether enforcing the
   * dry-run ALLOW policies would have denied ("dry-run: no allow policies match").
   */
  readonly dryRun: {
    readonly deny: readonly string[];
    readonly allow: readonly string[];
    readonly noAllowMatched: boolean;
  };
}

/** Where {@link evaluateL4} finds the policies of a workload: `WorkloadStore` fits. */
export interface L4PolicySource<W> {
  /** The policies that apply to the workload, in ztunnel's order (namespace, global, the workload's own). */
  policiesFor(workload: W): readonly Authorization[];
}

/** What {@link evaluateL4} decides on. */
export type EvaluateL4Input<W = unknown> =
  | {
      /** The policies that apply to the destination (e.g. `store.policiesFor(workload)`, {@link selectL4Policies}). */
      readonly policies: readonly Authorization[];
      readonly connection: L4Connection;
    }
  | {
      /** A store that knows which policies apply to the workload. */
      readonly store: L4PolicySource<W>;
      /** The destination workload. */
      readonly workload: W;
      readonly connection: L4Connection;
    };

/** Options of {@link compileL4Policies}. */
export interface CompileL4Options {
  /**
   * `indexed` (default) probes a rule index first when a list has 16 groups or more; `linear` always scans
   * the groups in order (the reference the index is tested against). Both give the same decisions.
   */
  readonly evaluation?: 'indexed' | 'linear';
}

/** Policies compiled for repeated decisions. */
export interface L4Authorizer {
  /** The policies, in the order given. */
  readonly policies: readonly Authorization[];
  /**
   * Decides a connection. Never throws: input it cannot read is denied (`result: 'invalid'`).
   *
   * @param connection - The connection.
   * @returns The decision.
   */
  evaluate(connection: L4Connection): L4Decision;
}

const NONE: readonly string[] = Object.freeze([]);
const NO_DRY_RUN: L4Decision['dryRun'] = Object.freeze({ deny: NONE, allow: NONE, noAllowMatched: false });

// Compiled once per policy object: a store replaces the object when the policy changes.
const COMPILED = new WeakMap<Authorization, CompiledL4Policy>();

function compiledOf(policy: Authorization): CompiledL4Policy {
  let c = COMPILED.get(policy);
  if (c === undefined) {
    c = compileL4Policy(policy);
    COMPILED.set(policy, c);
  }
  return c;
}

// Addresses: a bounded memo, as connections repeat the same few.
const IP_CACHE = new Map<string, IpAddress | null>();
const IP_CACHE_MAX = 4096;

function ipOf(text: unknown): IpAddress | undefined {
  if (typeof text !== 'string') return undefined;
  let ip = IP_CACHE.get(text);
  if (ip === undefined) {
    ip = readPeerIp(text) ?? null;
    if (IP_CACHE.size >= IP_CACHE_MAX) IP_CACHE.clear();
    IP_CACHE.set(text, ip);
  }
  return ip ?? undefined;
}

function invalid(reason: string): L4Decision {
  return { allow: false, result: 'invalid', reason: `invalid connection: ${reason}`, dryRun: NO_DRY_RUN };
}

/** The connection as the matchers read it, or why it cannot be read. */
function viewOf(connection: L4Connection): L4View | string {
  if (typeof connection !== 'object' || connection === null) return 'expected an object';
  const srcIp = ipOf(connection.srcIp);
  if (srcIp === undefined) return `srcIp is not an IP address: ${JSON.stringify(connection.srcIp)}`;
  const dstIp = ipOf(connection.dstIp);
  if (dstIp === undefined) return `dstIp is not an IP address: ${JSON.stringify(connection.dstIp)}`;
  const port = connection.dstPort;
  if (!Number.isInteger(port) || port < 0 || port > 65535)
    return `dstPort must be an integer in 0..65535, found ${String(port)}`;
  const identity = connection.srcIdentity;
  if (identity === undefined || identity === null) {
    return {
      srcIp,
      dstIp,
      dstPort: port,
      principalWithoutScheme: undefined,
      identityNamespace: '',
      identityServiceAccount: '',
      identityParsed: false,
    };
  }
  if (typeof identity !== 'string') return 'srcIdentity must be a SPIFFE ID string';
  const id = readPeerIdentity(identity);
  // A certificate's identity is a valid SPIFFE ID; anything else was not read from one.
  if (!id.valid) return `srcIdentity is not a SPIFFE ID: ${JSON.stringify(identity)}`;
  return {
    srcIp,
    dstIp,
    dstPort: port,
    principalWithoutScheme: id.withoutScheme,
    identityNamespace: id.namespace,
    identityServiceAccount: id.serviceAccount,
    identityParsed: id.istio,
  };
}

function decision(policies: readonly Authorization[], outcome: L4Outcome): L4Decision {
  if (outcome.result === 'unevaluable') {
    return { allow: false, result: 'invalid', reason: outcome.problem, dryRun: NO_DRY_RUN };
  }
  const dry = outcome.dryRun;
  const key = (i: number): string => (policies[i] as Authorization).key;
  const dryRun =
    dry === undefined
      ? NO_DRY_RUN
      : {
          deny: dry.deny.length === 0 ? NONE : dry.deny.map(key),
          allow: dry.allow.length === 0 ? NONE : dry.allow.map(key),
          noAllowMatched: dry.noAllowMatched,
        };
  switch (outcome.result) {
    case 'explicitly-denied': {
      const p = policies[outcome.policy] as Authorization;
      // ztunnel prints namespace and name apart ("explicitly denied by: {ns}/{name}").
      return {
        allow: false,
        result: outcome.result,
        reason: `explicitly denied by: ${p.namespace}/${p.name}`,
        policy: p.key,
        group: outcome.group,
        dryRun,
      };
    }
    case 'allowed-by-policy':
      return {
        allow: true,
        result: outcome.result,
        reason: 'allow policy match',
        policy: key(outcome.policy),
        group: outcome.group,
        dryRun,
      };
    case 'no-allow-policies':
      return { allow: true, result: outcome.result, reason: 'no allow policies, allow', dryRun };
    case 'not-allowed':
      return {
        allow: false,
        result: outcome.result,
        reason: 'allow policies exist, but none allowed',
        dryRun,
      };
  }
}

function buildSet(policies: readonly Authorization[], mode: 'indexed' | 'linear'): L4PolicySet {
  return compileL4PolicySet(
    policies.map((p) => ({
      action: p.action === 'Deny' ? ('Deny' as const) : ('Allow' as const),
      dryRun: p.dryRun === true,
      compiled: compiledOf(p),
    })),
    mode === 'linear' ? 'never' : ('auto' satisfies IndexMode),
  );
}

/**
 * Compiles the policies that apply to one destination for repeated decisions. {@link evaluateL4} does this
 * behind a cache; hold an authorizer when the policy list is yours to manage.
 *
 * @param policies - The applicable policies, in ztunnel's order (namespace, global, the workload's own).
 * @param options - `evaluation: 'linear'` turns the rule index off.
 * @returns The authorizer.
 * @example
 * ```ts
 * const authz = compileL4Policies(store.policiesFor(workload));
 * authz.evaluate({ srcIdentity: peer, srcIp: '10.0.0.1', dstIp: '10.0.0.2', dstPort: 8080 }).allow;
 * ```
 */
export function compileL4Policies(
  policies: readonly Authorization[],
  options: CompileL4Options = {},
): L4Authorizer {
  const list = [...policies];
  const set = buildSet(list, options.evaluation ?? 'indexed');
  return {
    policies: list,
    evaluate(connection) {
      try {
        const view = viewOf(connection);
        return typeof view === 'string' ? invalid(view) : decision(list, set.decide(view));
      } catch (cause) {
        return invalid(`internal error while evaluating: ${String(cause)}`);
      }
    },
  };
}

// Authorizers by policy list, found by the list's first policy and confirmed element by element: a store
// hands out a fresh array per call, with the same policy objects while nothing changes.
const SETS = new WeakMap<Authorization, L4Authorizer[]>();
const SETS_PER_HEAD = 8;

function authorizerFor(policies: readonly Authorization[]): L4Authorizer {
  const head = policies[0] as Authorization;
  let list = SETS.get(head);
  if (list !== undefined) {
    for (const a of list) {
      const known = a.policies;
      if (known.length !== policies.length) continue;
      let same = true;
      for (let i = 1; i < known.length; i++) {
        if (known[i] !== policies[i]) {
          same = false;
          break;
        }
      }
      if (same) return a;
    }
  } else {
    list = [];
    SETS.set(head, list);
  }
  const a = compileL4Policies(policies);
  if (list.length >= SETS_PER_HEAD) list.shift();
  list.push(a);
  return a;
}

const NO_POLICIES: L4Decision = Object.freeze({
  allow: true,
  result: 'no-allow-policies',
  reason: 'no allow policies, allow',
  dryRun: NO_DRY_RUN,
});

/**
 * Decides a connection at its destination as ztunnel does (`assert_rbac`): dry-run policies are only
 * reported; an enforced DENY policy that matches denies; with no enforced ALLOW policy the connection is
 * allowed; else an ALLOW policy must match. Policies are compiled once per object and policy lists once per
 * list (an index makes the cost independent of how many rules apply), so calling this per connection is
 * cheap. Never throws: a connection it cannot read (an address that does not parse, a port out of range, an
 * identity that is not a SPIFFE ID) or a policy it cannot evaluate is denied with `result: 'invalid'`.
 *
 * @param input - The policies that apply (or a store and the destination workload), and the connection.
 * @returns The decision.
 * @example
 * ```ts
 * const d = evaluateL4({
 *   store,                // a @ambient-kit/workload-api WorkloadStore fed over xDS
 *   workload,             // the destination workload
 *   connection: { srcIdentity: 'spiffe://cluster.local/ns/default/sa/sleep', srcIp: '10.0.0.1', dstIp: '10.0.0.2', dstPort: 8080 },
 * });
 * if (!d.allow) socket.destroy(); // d.reason: 'explicitly denied by: default/deny-sleep'
 * ```
 */
export function evaluateL4<W>(input: EvaluateL4Input<W>): L4Decision {
  try {
    if (typeof input !== 'object' || input === null)
      return invalid('expected { policies | store, connection }');
    let policies: readonly Authorization[];
    if ('policies' in input) policies = input.policies;
    else if ('store' in input && typeof input.store?.policiesFor === 'function')
      policies = input.store.policiesFor(input.workload);
    else return invalid('expected { policies, connection } or { store, workload, connection }');
    if (!Array.isArray(policies)) return invalid('policies must be a list of Authorization');
    if (policies.length === 0) {
      const view = viewOf(input.connection);
      return typeof view === 'string' ? invalid(view) : NO_POLICIES;
    }
    return authorizerFor(policies).evaluate(input.connection);
  } catch (cause) {
    return invalid(`internal error while evaluating: ${String(cause)}`);
  }
}

/**
 * The policies that apply to a workload, as ztunnel's `assert_rbac` collects them from everything it holds:
 * the `Namespace`-scoped policies of the workload's namespace, the `Global` ones, then those the workload
 * names in `authorizationPolicies` (`namespace/name`; names not found are skipped, as ztunnel skips them with
 * a warning). `WorkloadStore.policiesFor` does the same from its index.
 *
 * @param policies - Every policy known.
 * @param workload - The destination's namespace and attached policy names.
 * @returns The applicable policies, in that order.
 * @example
 * ```ts
 * const d = evaluateL4({ policies: selectL4Policies(all, workload), connection });
 * ```
 */
export function selectL4Policies(
  policies: Iterable<Authorization>,
  workload: { readonly namespace: string; readonly authorizationPolicies?: readonly string[] },
): Authorization[] {
  const all = [...policies];
  const byKey = new Map(all.map((p) => [p.key, p]));
  const out = all.filter((p) => p.scope === 'Namespace' && p.namespace === workload.namespace);
  out.push(...all.filter((p) => p.scope === 'Global'));
  for (const name of workload.authorizationPolicies ?? []) {
    const p = byKey.get(name);
    if (p !== undefined) out.push(p);
  }
  return out;
}
