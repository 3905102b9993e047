/**
 * A small model of one nftables table and the `nft -f` transaction istio-cni sends for it, printed the
 * way `sigs.k8s.io/knftables` prints a transaction (`Transaction.String()`, one operation per line, every
 * line ending in `\n`). istio/istio@86c9f01f:cni/pkg/nftables/nftables.go `addIstioTableRules` (703-777):
 *
 * 1. `add table` (idempotent), 2. `flush table` (so re-applying replaces, never duplicates),
 * 3. `add chain` for each declared chain that has rules or is the target of a `jump`,
 * 4. the rules in order.
 *
 * A table none of whose chains is used is left out entirely.
 */

/**
 * A chain declaration. Base chains carry `type`/`hook`/`priority`; regular chains carry none.
 *
 * @example
 * ```ts
 * const chain: NftChain = { name: 'prerouting', type: 'nat', hook: 'prerouting', priority: -100 };
 * ```
 */
export interface NftChain {
  readonly name: string;
  readonly type?: 'filter' | 'nat' | 'route';
  readonly hook?: 'prerouting' | 'input' | 'forward' | 'output' | 'postrouting';
  readonly priority?: number;
}

/**
 * One rule: the chain it goes in and its statement text (knftables `Concat` of istio's parameters).
 *
 * @example
 * ```ts
 * const rule: NftRule = { chain: 'output', rule: 'jump istio-output' };
 * ```
 */
export interface NftRule {
  readonly chain: string;
  readonly rule: string;
}

/**
 * One `inet` table with its candidate chains and its rules.
 *
 * @example
 * ```ts
 * const table: NftTable = { name: 'istio-ambient-nat', chains: [{ name: 'output' }], rules: [] };
 * ```
 */
export interface NftTable {
  readonly name: string;
  readonly chains: readonly NftChain[];
  readonly rules: readonly NftRule[];
}

function chainLine(table: string, chain: NftChain): string {
  const head = `add chain inet ${table} ${chain.name}`;
  if (chain.type === undefined || chain.hook === undefined || chain.priority === undefined) return head;
  return `${head} { type ${chain.type} hook ${chain.hook} priority ${chain.priority} ; }`;
}

/**
 * Renders the transaction for one table (empty when no chain of it is used).
 *
 * @param table - The table, its chains in declaration order and its rules in append order.
 * @returns `nft -f` input, each line ending in `\n`.
 * @example
 * ```ts
 * renderNftTable({ name: 't', chains: [{ name: 'c' }], rules: [{ chain: 'c', rule: 'counter accept' }] });
 * // 'add table inet t\nflush table inet t\nadd chain inet t c\nadd rule inet t c counter accept\n'
 * ```
 */
export function renderNftTable(table: NftTable): string {
  const used = new Set<string>();
  for (const { chain, rule } of table.rules) {
    used.add(chain);
    // A chain that is only jumped to must still exist (istio scans the rule words for `jump X`).
    const words = rule.split(/\s+/);
    for (let i = 0; i + 1 < words.length; i++) if (words[i] === 'jump') used.add(words[i + 1] as string);
  }
  const chains = table.chains.filter((c) => used.has(c.name));
  if (chains.length === 0) return '';
  const lines = [`add table inet ${table.name}`, `flush table inet ${table.name}`];
  for (const chain of chains) lines.push(chainLine(table.name, chain));
  for (const { chain, rule } of table.rules) lines.push(`add rule inet ${table.name} ${chain} ${rule}`);
  return `${lines.join('\n')}\n`;
}

/**
 * The transaction that removes tables atomically whether or not they exist (istio `DeleteInpodRules`,
 * nftables.go:395-426): `add` before `delete` so the delete cannot fail and abort the transaction.
 *
 * @param tables - Table names in the `inet` family.
 * @returns `nft -f` input.
 * @example
 * ```ts
 * renderNftDeleteTables(['istio-ambient-nat']);
 * // 'add table inet istio-ambient-nat\ndelete table inet istio-ambient-nat\n'
 * ```
 */
export function renderNftDeleteTables(tables: readonly string[]): string {
  return tables.map((t) => `add table inet ${t}\ndelete table inet ${t}\n`).join('');
}
