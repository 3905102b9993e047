/**
 * The index that keeps route choice flat as tables grow: instead of testing every rule in precedence
 * order (Envoy's own route table is such a list), a table is indexed by path. An exact path is a map
 * lookup; prefixes sit in a radix trie walked once along the request path; only rules without a path
 * (or with a regex, or case-insensitive) are tested for every request. Each bucket lists rule positions in
 * precedence order, so the first rule that matches in each bucket is that bucket's best, and the answer is
 * the smallest position over the buckets: exactly the rule a linear scan in precedence order would pick.
 * @module
 */

interface TrieNode {
  /** Entries whose prefix ends at this node, in ascending position. */
  entries: number[];
  /** Outgoing edges by the first character code of their label. */
  edges: Map<number, TrieEdge> | undefined;
}

interface TrieEdge {
  label: string;
  node: TrieNode;
}

const newNode = (): TrieNode => ({ entries: [], edges: undefined });

/** A path index over the positions (0..n-1) of a route table. */
export interface PathIndex<C> {
  /**
   * The smallest position whose entry matches (`test(position, ctx)`), testing only the buckets that may
   * hold a match for `path`, each only up to the best position found so far; -1 when none matches.
   */
  readonly first: (path: string, ctx: C) => number;
  /** How many positions are tested on every request (rules without an indexable path). */
  readonly unindexed: number;
}

/** How an entry's path is indexed. */
export type IndexKey =
  | { readonly kind: 'exact'; readonly value: string }
  | { readonly kind: 'prefix'; readonly value: string }
  | { readonly kind: 'none' };

/**
 * Builds an index over keys given in table order (position = array index).
 *
 * @param keys - Each entry's key: its exact path, a path prefix (any prefix of the path may match; the
 *   caller's test does the segment check), or `none` (tested for every request).
 * @param test - Whether the entry at a position matches the request (`ctx`).
 * @returns The index.
 * @example
 * ```ts
 * const index = buildPathIndex([{ kind: 'exact', value: '/a' }, { kind: 'prefix', value: '/api' }], (pos, path: string) => true);
 * index.first('/api/x', '/api/x'); // 1
 * ```
 */
export function buildPathIndex<C>(
  keys: readonly IndexKey[],
  test: (position: number, ctx: C) => boolean,
): PathIndex<C> {
  const exact = new Map<string, number[]>();
  const root = newNode();
  const always: number[] = [];
  keys.forEach((key, position) => {
    if (key.kind === 'exact') {
      const list = exact.get(key.value);
      if (list === undefined) exact.set(key.value, [position]);
      else list.push(position);
    } else if (key.kind === 'prefix') insert(root, key.value, position);
    else always.push(position);
  });
  const hasExact = exact.size > 0;
  const none = keys.length;
  // The first matching position of a bucket below `best` (buckets are in ascending order).
  const scan = (bucket: readonly number[], best: number, ctx: C): number => {
    for (let i = 0; i < bucket.length; i++) {
      const pos = bucket[i] as number;
      if (pos >= best) return best;
      if (test(pos, ctx)) return pos;
    }
    return best;
  };
  return {
    unindexed: always.length,
    first: (path, ctx) => {
      let best = none;
      if (always.length > 0) best = scan(always, best, ctx);
      if (hasExact) {
        const list = exact.get(path);
        if (list !== undefined) best = scan(list, best, ctx);
      }
      // Walk the trie along the path; every node passed holds prefixes of the path.
      let node: TrieNode | undefined = root;
      let at = 0;
      while (node !== undefined) {
        if (node.entries.length > 0) best = scan(node.entries, best, ctx);
        if (node.edges === undefined || at >= path.length) break;
        const edge: TrieEdge | undefined = node.edges.get(path.charCodeAt(at));
        if (edge === undefined || !path.startsWith(edge.label, at)) break;
        at += edge.label.length;
        node = edge.node;
      }
      return best === none ? -1 : best;
    },
  };
}

function insert(root: TrieNode, key: string, position: number): void {
  let node = root;
  let at = 0;
  for (;;) {
    if (at === key.length) {
      node.entries.push(position);
      return;
    }
    node.edges ??= new Map();
    const c = key.charCodeAt(at);
    const edge = node.edges.get(c);
    if (edge === undefined) {
      const leaf = newNode();
      node.edges.set(c, { label: key.slice(at), node: leaf });
      leaf.entries.push(position);
      return;
    }
    // Length of the common part of the edge label and the rest of the key.
    let common = 0;
    while (
      common < edge.label.length &&
      at + common < key.length &&
      edge.label.charCodeAt(common) === key.charCodeAt(at + common)
    )
      common++;
    if (common < edge.label.length) {
      // Split the edge at `common`.
      const middle = newNode();
      middle.edges = new Map([
        [edge.label.charCodeAt(common), { label: edge.label.slice(common), node: edge.node }],
      ]);
      edge.label = edge.label.slice(0, common);
      edge.node = middle;
    }
    node = edge.node;
    at += common;
  }
}
