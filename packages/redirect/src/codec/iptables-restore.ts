/**
 * A tiny model of an iptables rule set and its `iptables-restore --noflush` text, reproducing istio's
 * builder byte for byte (istio/istio@86c9f01f:tools/istio-iptables/pkg/builder/iptables_builder_impl.go
 * `buildRestore`):
 *
 * - tables in sorted order (`filter`, `mangle`, `nat`, `raw`), each only when it has lines;
 * - in each table, first `-N` for every non-built-in chain that has a rule (in rule order), then `-N`
 *   for every non-built-in jump target (`-j X` as the last two words) not declared yet;
 * - then the rules, as `-A chain …` / `-I chain pos …`, in the order they were added;
 * - every line ends in `\n`, and each table ends with `COMMIT\n`.
 */

/**
 * The tables this package writes.
 *
 * @example
 * ```ts
 * const table: IptablesTable = 'nat';
 * ```
 */
export type IptablesTable = 'filter' | 'mangle' | 'nat' | 'raw';

/**
 * One rule: table, chain and the full parameter list starting with `-A <chain>` or `-I <chain> <pos>`.
 *
 * @example
 * ```ts
 * const rule: IptablesRule = { table: 'nat', chain: 'OUTPUT', params: ['-A', 'OUTPUT', '-j', 'ISTIO_OUTPUT'] };
 * ```
 */
export interface IptablesRule {
  readonly table: IptablesTable;
  readonly chain: string;
  readonly params: readonly string[];
}

// istio/istio@86c9f01f:tools/istio-iptables/pkg/constants/constants.go BuiltInChainsAndTargetsMap.
const BUILT_IN = new Set([
  'INPUT',
  'OUTPUT',
  'FORWARD',
  'PREROUTING',
  'POSTROUTING',
  'ACCEPT',
  'RETURN',
  'DROP',
]);

/**
 * Whether `name` is a chain iptables provides (or a terminal target), so it never gets a `-N` line.
 *
 * @param name - A chain or target name.
 * @returns `true` for `INPUT`, `OUTPUT`, `FORWARD`, `PREROUTING`, `POSTROUTING`, `ACCEPT`, `RETURN`, `DROP`.
 * @example
 * ```ts
 * isBuiltInChain('PREROUTING'); // true
 * ```
 */
export function isBuiltInChain(name: string): boolean {
  return BUILT_IN.has(name);
}

const TABLE_ORDER: readonly IptablesTable[] = ['filter', 'mangle', 'nat', 'raw'];

/**
 * Renders rules as `iptables-restore` input, exactly as istio's `BuildV4Restore`/`BuildV6Restore` do.
 *
 * @param rules - Rules in append order.
 * @returns The restore text (empty when there are no rules).
 * @example
 * ```ts
 * renderIptablesRestore([{ table: 'nat', chain: 'OUTPUT', params: ['-A', 'OUTPUT', '-j', 'ISTIO_OUTPUT'] }]);
 * // '* nat\n-N ISTIO_OUTPUT\n-A OUTPUT -j ISTIO_OUTPUT\nCOMMIT\n'
 * ```
 */
export function renderIptablesRestore(rules: readonly IptablesRule[]): string {
  const lines = new Map<IptablesTable, string[]>(TABLE_ORDER.map((t) => [t, []]));
  const seen = new Set<string>();
  const declare = (table: IptablesTable, chain: string): void => {
    const key = `${chain}:${table}`;
    if (seen.has(key)) return;
    seen.add(key);
    if (!BUILT_IN.has(chain)) lines.get(table)?.push(`-N ${chain}`);
  };
  for (const rule of rules) declare(rule.table, rule.chain);
  // Chains we only jump to still need to exist before the jump is restored.
  for (const rule of rules) {
    const { params } = rule;
    if (params.length >= 2 && params[params.length - 2] === '-j')
      declare(rule.table, params.at(-1) as string);
  }
  for (const rule of rules) lines.get(rule.table)?.push(rule.params.join(' '));
  let out = '';
  for (const table of TABLE_ORDER) {
    const tableLines = lines.get(table) ?? [];
    if (tableLines.length === 0) continue;
    out += `* ${table}\n${tableLines.join('\n')}\nCOMMIT\n`;
  }
  return out;
}

/**
 * Concatenates restore texts table by table, so one `iptables-restore` run commits each table's combined
 * changes at once (e.g. remove the old in-pod chains and add the new ones without a window in between).
 * Tables come out in sorted order; within a table, the texts' lines keep their order.
 *
 * @param texts - Restore texts made of `* table` … `COMMIT` blocks.
 * @returns One restore text.
 * @example
 * ```ts
 * mergeIptablesRestore('* nat\n-F ISTIO_OUTPUT\nCOMMIT\n', '* nat\n-A ISTIO_OUTPUT -j ACCEPT\nCOMMIT\n');
 * // '* nat\n-F ISTIO_OUTPUT\n-A ISTIO_OUTPUT -j ACCEPT\nCOMMIT\n'
 * ```
 */
export function mergeIptablesRestore(...texts: readonly string[]): string {
  const byTable = new Map<string, string[]>();
  for (const text of texts) {
    let current: string[] | undefined;
    for (const line of text.split('\n')) {
      if (line.startsWith('*')) {
        const table = line.slice(1).trim();
        current = byTable.get(table) ?? [];
        byTable.set(table, current);
      } else if (line === 'COMMIT') {
        current = undefined;
      } else if (current !== undefined && line !== '') {
        current.push(line);
      }
    }
  }
  let out = '';
  for (const table of [...byTable.keys()].sort()) {
    const lines = byTable.get(table) ?? [];
    if (lines.length > 0) out += `* ${table}\n${lines.join('\n')}\nCOMMIT\n`;
  }
  return out;
}
