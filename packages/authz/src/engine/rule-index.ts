/**
 * First-match over an ordered list of rules, with an index in front. Istio decides by the first matching
 * policy of an action in a fixed order (Envoy's RBAC filter reports the first matching policy by name;
 * ztunnel's `assert_rbac` returns on the first DENY or ALLOW that matches,
 * istio/ztunnel@62d82653:src/state.rs), so order is part of the answer. A namespace-wide blocklist of thousands
 * of rules made the linear scan the whole cost (issue 15); most of those rules can only match when one
 * attribute of the request has one of a few values, so the index maps those values to the rules that need
 * them and the scan visits only the candidates, in order.
 *
 * The index only proposes: every candidate is confirmed by the rule's own predicate, and a rule the index
 * cannot describe is a candidate for every request. So it can change the cost of an answer, never the answer;
 * `test/conformance/indexed-evaluation.test.ts` checks that on random policies and requests against the linear
 * scan, which stays available (`evaluation: 'linear'`).
 *
 * What a rule's keys promise: the rule matches only if, for at least one key, the request's value of the key's
 * attribute satisfies the key (an address in the CIDR range, a string equal to / starting with / ending with
 * the value, any value present, the port). Structures per attribute:
 * - CIDR ranges: one hash table per prefix length (the network bits as the key), so a lookup costs one probe
 *   per distinct length in use (blocklists use a handful) rather than a walk over the ranges;
 * - strings: a hash set for exact values; prefix and suffix values in one hash table per length, probed with
 *   the request value's head or tail of that length; a list for "present";
 * - ports: a hash table.
 * @module
 */

import type { IpAddress, IpPrefix } from '@ambient-kit/ip';

/** A condition a rule needs of one request attribute; see the module doc. */
export type IndexKey =
  | { readonly attr: string; readonly kind: 'ip'; readonly prefix: IpPrefix }
  | { readonly attr: string; readonly kind: 'exact' | 'prefix' | 'suffix'; readonly value: string }
  | { readonly attr: string; readonly kind: 'present' }
  | { readonly attr: string; readonly kind: 'port'; readonly port: number };

/**
 * A rule for {@link createRuleMatcher}: its predicate, and the keys of which at least one must hold for it to
 * match (`undefined`: the index cannot tell, the rule is always a candidate; `[]`: the rule never matches).
 */
export interface IndexedRule<C> {
  readonly match: (ctx: C) => boolean;
  readonly keys: readonly IndexKey[] | undefined;
}

/**
 * How the matcher reads each attribute named by a key: an address for `ip` keys, a port for `port` keys, a
 * string (or several, each probed: a principal can name several namespaces) for the others; `undefined` when
 * the request has none.
 */
export type AttributeReaders<C> = Readonly<
  Record<string, (ctx: C) => IpAddress | number | string | readonly string[] | undefined>
>;

/** The first-match and all-matches operations over an ordered rule list. */
export interface RuleMatcher<C> {
  /** How many rules. */
  readonly size: number;
  /** Whether the index is in use. */
  readonly indexed: boolean;
  /**
   * The position of the first rule that matches, or -1.
   *
   * @param ctx - The request.
   * @returns The index into the rule list.
   */
  first(ctx: C): number;
  /**
   * Calls `found` with the position of every matching rule, in order.
   *
   * @param ctx - The request.
   * @param found - Receives each position.
   */
  each(ctx: C, found: (index: number) => void): void;
}

/** When {@link createRuleMatcher} builds the index. */
export type IndexMode = 'auto' | 'always' | 'never';

/** Below this many rules a scan is cheaper than probing tables. */
const AUTO_INDEX_MIN_RULES = 16;

type Push = (id: number) => void;
type Probe = (value: unknown, push: Push) => void;

function addTo(map: Map<string | number, number[]>, key: string | number, id: number): void {
  const list = map.get(key);
  if (list === undefined) map.set(key, [id]);
  else if (list[list.length - 1] !== id) list.push(id);
}

function pushAll(list: readonly number[] | undefined, push: Push): void {
  if (list === undefined) return;
  for (let i = 0; i < list.length; i++) push(list[i] as number);
}

/** CIDR ranges: per family and prefix length, the masked network → rules. */
function ipTable(keys: readonly (IndexKey & { kind: 'ip' })[], ids: readonly number[]): Probe {
  const v4 = new Map<number, Map<number, number[]>>();
  const v6 = new Map<number, Map<string, number[]>>();
  keys.forEach((k, i) => {
    const { address: a, bits } = k.prefix;
    const id = ids[i] as number;
    if (!a.v6) {
      let byNet = v4.get(bits);
      if (byNet === undefined) {
        byNet = new Map();
        v4.set(bits, byNet);
      }
      addTo(byNet as Map<string | number, number[]>, (a.w0 & mask32(bits, 0)) >>> 0, id);
    } else {
      let byNet = v6.get(bits);
      if (byNet === undefined) {
        byNet = new Map();
        v6.set(bits, byNet);
      }
      addTo(byNet as Map<string | number, number[]>, v6Key(a, bits), id);
    }
  });
  const v4Tables = [...v4].sort((x, y) => x[0] - y[0]).map(([bits, map]) => ({ mask: mask32(bits, 0), map }));
  const v6Tables = [...v6].sort((x, y) => x[0] - y[0]).map(([bits, map]) => ({ bits, map }));
  return (value, push) => {
    const ip = value as IpAddress;
    if (!ip.v6) {
      for (const t of v4Tables) pushAll(t.map.get((ip.w0 & t.mask) >>> 0), push);
    } else {
      for (const t of v6Tables) pushAll(t.map.get(v6Key(ip, t.bits)), push);
    }
  };
}

function mask32(bits: number, word: number): number {
  const remaining = bits - word * 32;
  if (remaining >= 32) return 0xffffffff;
  if (remaining <= 0) return 0;
  return (0xffffffff << (32 - remaining)) >>> 0;
}

function v6Key(a: IpAddress, bits: number): string {
  return `${(a.w0 & mask32(bits, 0)) >>> 0}:${(a.w1 & mask32(bits, 1)) >>> 0}:${(a.w2 & mask32(bits, 2)) >>> 0}:${(a.w3 & mask32(bits, 3)) >>> 0}`;
}

/** Strings: exact values, prefixes and suffixes by length, presence. */
function stringTable(keys: readonly IndexKey[], ids: readonly number[]): Probe {
  const exact = new Map<string, number[]>();
  const prefix = new Map<number, Map<string, number[]>>();
  const suffix = new Map<number, Map<string, number[]>>();
  const present: number[] = [];
  keys.forEach((k, i) => {
    const id = ids[i] as number;
    if (k.kind === 'exact') addTo(exact as Map<string | number, number[]>, k.value, id);
    else if (k.kind === 'prefix' || k.kind === 'suffix') {
      const byLength = k.kind === 'prefix' ? prefix : suffix;
      let map = byLength.get(k.value.length);
      if (map === undefined) {
        map = new Map();
        byLength.set(k.value.length, map);
      }
      addTo(map as Map<string | number, number[]>, k.value, id);
    } else if (present[present.length - 1] !== id) present.push(id);
  });
  const prefixTables = [...prefix].sort((x, y) => x[0] - y[0]);
  const suffixTables = [...suffix].sort((x, y) => x[0] - y[0]);
  const probeOne = (s: string, push: Push): void => {
    pushAll(exact.get(s), push);
    for (const [length, map] of prefixTables) {
      if (length > s.length) break;
      pushAll(map.get(length === s.length ? s : s.slice(0, length)), push);
    }
    for (const [length, map] of suffixTables) {
      if (length > s.length) break;
      pushAll(map.get(length === s.length ? s : s.slice(s.length - length)), push);
    }
    pushAll(present, push);
  };
  return (value, push) => {
    if (typeof value === 'string') probeOne(value, push);
    else for (const s of value as readonly string[]) probeOne(s, push);
  };
}

function portTable(keys: readonly (IndexKey & { kind: 'port' })[], ids: readonly number[]): Probe {
  const ports = new Map<number, number[]>();
  keys.forEach((k, i) => {
    addTo(ports as Map<string | number, number[]>, k.port, ids[i] as number);
  });
  return (value, push) => pushAll(ports.get(value as number), push);
}

/**
 * Builds the matcher for an ordered rule list. With `never` (or, under `auto`, fewer than 16 rules) it scans
 * the rules in order, which is the reference behaviour; otherwise it probes the index first.
 *
 * @param rules - The rules, in the order that decides.
 * @param readers - How to read each attribute the keys name; a key naming an attribute without a reader
 *   makes its rule a candidate for every request.
 * @param mode - `auto` (default), `always` or `never`.
 * @returns The matcher.
 * @example
 * ```ts
 * const m = createRuleMatcher(
 *   [{ match: (r: { port: number }) => r.port === 22, keys: [{ attr: 'port', kind: 'port', port: 22 }] }],
 *   { port: (r) => r.port },
 *   'always',
 * );
 * m.first({ port: 22 }); // 0
 * ```
 */
export function createRuleMatcher<C>(
  rules: readonly IndexedRule<C>[],
  readers: AttributeReaders<C>,
  mode: IndexMode = 'auto',
): RuleMatcher<C> {
  const n = rules.length;
  const matches = rules.map((r) => r.match);
  if (mode === 'never' || (mode === 'auto' && n < AUTO_INDEX_MIN_RULES)) {
    return {
      size: n,
      indexed: false,
      first(ctx) {
        for (let i = 0; i < n; i++) if ((matches[i] as (c: C) => boolean)(ctx)) return i;
        return -1;
      },
      each(ctx, found) {
        for (let i = 0; i < n; i++) if ((matches[i] as (c: C) => boolean)(ctx)) found(i);
      },
    };
  }
  // Keys by attribute; rules whose keys the index cannot use are always candidates.
  const always: number[] = [];
  const byAttr = new Map<string, { keys: IndexKey[]; ids: number[] }>();
  rules.forEach((rule, id) => {
    const keys = rule.keys;
    if (keys === undefined || keys.some((k) => readers[k.attr] === undefined)) {
      always.push(id);
      return;
    }
    for (const k of keys) {
      let entry = byAttr.get(k.attr);
      if (entry === undefined) {
        entry = { keys: [], ids: [] };
        byAttr.set(k.attr, entry);
      }
      entry.keys.push(k);
      entry.ids.push(id);
    }
  });
  const tables: { read: (ctx: C) => unknown; probe: Probe }[] = [];
  for (const [attr, { keys, ids }] of byAttr) {
    const kinds = new Set(keys.map((k) => k.kind));
    let probe: Probe;
    if (kinds.has('ip')) {
      if (kinds.size > 1) throw new TypeError(`index attribute ${attr} mixes key kinds`);
      probe = ipTable(keys as (IndexKey & { kind: 'ip' })[], ids);
    } else if (kinds.has('port')) {
      if (kinds.size > 1) throw new TypeError(`index attribute ${attr} mixes key kinds`);
      probe = portTable(keys as (IndexKey & { kind: 'port' })[], ids);
    } else probe = stringTable(keys, ids);
    tables.push({ read: readers[attr] as (ctx: C) => unknown, probe });
  }
  const alwaysIds = Int32Array.from(always);
  // Candidate ids of one decision. Decisions are synchronous and a matcher never calls itself, so one buffer
  // per matcher serves every call.
  let hits = new Int32Array(64);
  let count = 0;
  const push: Push = (id) => {
    if (count === hits.length) {
      const grown = new Int32Array(hits.length * 2);
      grown.set(hits);
      hits = grown;
    }
    hits[count++] = id;
  };
  const collect = (ctx: C): void => {
    count = 0;
    for (const t of tables) {
      const value = t.read(ctx);
      if (value !== undefined) t.probe(value, push);
    }
    if (count > 1) {
      if (count <= 16) {
        // Insertion sort: the usual hit list is a handful of ids.
        for (let i = 1; i < count; i++) {
          const v = hits[i] as number;
          let j = i - 1;
          while (j >= 0 && (hits[j] as number) > v) {
            hits[j + 1] = hits[j] as number;
            j--;
          }
          hits[j + 1] = v;
        }
      } else hits.subarray(0, count).sort();
    }
  };
  // Walks the union of the sorted hits and the always-candidates in ascending order, without repeats.
  const walk = (ctx: C, stopAtFirst: boolean, found: ((index: number) => void) | undefined): number => {
    collect(ctx);
    let h = 0;
    let a = 0;
    let last = -1;
    const hitCount = count;
    const buffer = hits;
    while (h < hitCount || a < alwaysIds.length) {
      let id: number;
      if (a >= alwaysIds.length || (h < hitCount && (buffer[h] as number) <= (alwaysIds[a] as number))) {
        id = buffer[h++] as number;
      } else id = alwaysIds[a++] as number;
      if (id === last) continue;
      last = id;
      if ((matches[id] as (c: C) => boolean)(ctx)) {
        if (stopAtFirst) return id;
        found?.(id);
      }
    }
    return -1;
  };
  return {
    size: n,
    indexed: true,
    first: (ctx) => walk(ctx, true, undefined),
    each(ctx, found) {
      walk(ctx, false, found);
    },
  };
}
