/**
 * Reading back what is installed in a pod's namespace, from the text the tools print, and the commands
 * that remove exactly that. Pure: the runtime runs the tools and feeds their output here.
 *
 * - iptables: the lines of `iptables-save` that belong to the in-pod redirection: the `ISTIO_PRERT` and
 *   `ISTIO_OUTPUT` chains of `mangle`, `nat` and `raw`, their rules, and every rule jumping to them
 *   (the chains istio's `DeleteInpodRules` removes, iptables.go:119-164).
 * - nftables: the `inet istio-ambient-{nat,mangle,raw}` table blocks of `nft list ruleset`.
 * - policy routing: `ip -j rule show` / `ip -j route show table 100`.
 */
import { err, ok, type Result } from 'neverthrow';
import { IPTABLES_CHAINS, NFTABLES_NAMES } from './constants.js';
import { RedirectError } from './errors.js';
import { hex } from './inpod-options.js';

const INPOD_CHAINS: ReadonlySet<string> = new Set([
  IPTABLES_CHAINS.inpodPrerouting,
  IPTABLES_CHAINS.inpodOutput,
]);
const INPOD_TABLES = ['mangle', 'nat', 'raw'] as const;

/**
 * The in-pod part of one family's iptables state: per table, the in-pod chains that exist and the
 * relevant rules exactly as `iptables-save` prints them, in its order.
 *
 * @example
 * ```ts
 * const state: IptablesInpodState = { nat: { chains: ['ISTIO_OUTPUT'], rules: ['-A OUTPUT -j ISTIO_OUTPUT'] } };
 * ```
 */
export type IptablesInpodState = Readonly<
  Partial<
    Record<
      (typeof INPOD_TABLES)[number],
      { readonly chains: readonly string[]; readonly rules: readonly string[] }
    >
  >
>;

/**
 * Extracts the in-pod redirection from `iptables-save` (or `ip6tables-save`) output.
 *
 * @param saveText - The tool's stdout.
 * @returns The in-pod chains and rules per table; tables without any are left out.
 * @example
 * ```ts
 * extractIptablesInpodState('*nat\n:ISTIO_OUTPUT - [0:0]\n-A OUTPUT -j ISTIO_OUTPUT\nCOMMIT\n');
 * // { nat: { chains: ['ISTIO_OUTPUT'], rules: ['-A OUTPUT -j ISTIO_OUTPUT'] } }
 * ```
 */
export function extractIptablesInpodState(saveText: string): IptablesInpodState {
  const out: Partial<Record<(typeof INPOD_TABLES)[number], { chains: string[]; rules: string[] }>> = {};
  let table: (typeof INPOD_TABLES)[number] | undefined;
  for (const rawLine of saveText.split('\n')) {
    const line = rawLine.trimEnd();
    if (line.startsWith('*')) {
      const name = line.slice(1).trim();
      table = (INPOD_TABLES as readonly string[]).includes(name) ? (name as typeof table) : undefined;
      continue;
    }
    if (table === undefined || line === '' || line.startsWith('#') || line === 'COMMIT') continue;
    const words = line.split(' ');
    const entry = () => {
      out[table as (typeof INPOD_TABLES)[number]] ??= { chains: [], rules: [] };
      return out[table as (typeof INPOD_TABLES)[number]] as { chains: string[]; rules: string[] };
    };
    if (line.startsWith(':')) {
      const chain = (words[0] as string).slice(1);
      if (INPOD_CHAINS.has(chain)) entry().chains.push(chain);
      continue;
    }
    if (words[0] !== '-A' || words.length < 2) continue;
    const inOurChain = INPOD_CHAINS.has(words[1] as string);
    const jumpIndex = words.lastIndexOf('-j');
    const jumpsToOurs = jumpIndex !== -1 && INPOD_CHAINS.has(words[jumpIndex + 1] ?? '');
    if (inOurChain || jumpsToOurs) entry().rules.push(line);
  }
  return out;
}

/**
 * Whether nothing of the in-pod redirection is present.
 *
 * @param state - From {@link extractIptablesInpodState}.
 * @returns `true` when no table has an in-pod chain or rule.
 * @example
 * ```ts
 * isIptablesInpodStateEmpty({}); // true
 * ```
 */
export function isIptablesInpodStateEmpty(state: IptablesInpodState): boolean {
  return INPOD_TABLES.every((t) => state[t] === undefined);
}

/**
 * Whether two states are the same (same chains, same rules in the same order, per table).
 *
 * @param a - A state.
 * @param b - Another state.
 * @returns Equality.
 * @example
 * ```ts
 * iptablesInpodStatesEqual({}, {}); // true
 * ```
 */
export function iptablesInpodStatesEqual(a: IptablesInpodState, b: IptablesInpodState): boolean {
  const same = (x: readonly string[] | undefined, y: readonly string[] | undefined): boolean =>
    (x ?? []).length === (y ?? []).length && (x ?? []).every((v, i) => v === (y ?? [])[i]);
  return INPOD_TABLES.every((t) => same(a[t]?.chains, b[t]?.chains) && same(a[t]?.rules, b[t]?.rules));
}

/**
 * `iptables-restore --noflush` input that removes exactly the given state: `-D` every jump into the in-pod
 * chains (as many times as it appears), then `-F` and `-X` the chains. Rules inside the chains go with the
 * flush. Empty when the state is empty.
 *
 * @param state - From {@link extractIptablesInpodState}.
 * @returns Restore text.
 * @example
 * ```ts
 * renderIptablesInpodRemoval({ nat: { chains: ['ISTIO_OUTPUT'], rules: ['-A OUTPUT -j ISTIO_OUTPUT'] } });
 * // '* nat\n-D OUTPUT -j ISTIO_OUTPUT\n-F ISTIO_OUTPUT\n-X ISTIO_OUTPUT\nCOMMIT\n'
 * ```
 */
export function renderIptablesInpodRemoval(state: IptablesInpodState): string {
  let out = '';
  for (const table of INPOD_TABLES) {
    const entry = state[table];
    if (entry === undefined) continue;
    const lines: string[] = [];
    for (const rule of entry.rules) {
      const words = rule.split(' ');
      if (!INPOD_CHAINS.has(words[1] as string)) lines.push(`-D ${words.slice(1).join(' ')}`);
    }
    for (const chain of entry.chains) lines.push(`-F ${chain}`);
    for (const chain of entry.chains) lines.push(`-X ${chain}`);
    if (lines.length > 0) out += `* ${table}\n${lines.join('\n')}\nCOMMIT\n`;
  }
  return out;
}

/**
 * The in-pod nftables tables found in `nft list ruleset` output, each as its printed block.
 *
 * @example
 * ```ts
 * const state: NftablesInpodState = { 'istio-ambient-nat': 'table inet istio-ambient-nat {\n…\n}' };
 * ```
 */
export type NftablesInpodState = Readonly<Record<string, string>>;

const NFT_TABLES: ReadonlySet<string> = new Set([
  NFTABLES_NAMES.natTable,
  NFTABLES_NAMES.mangleTable,
  NFTABLES_NAMES.rawTable,
]);

/**
 * Extracts the `inet istio-ambient-*` table blocks from `nft list ruleset` output. List with `-s`
 * (stateless) so counter values don't make two identical rule sets differ.
 *
 * @param listText - The tool's stdout.
 * @returns Table name → block text (from `table inet …{` to its closing `}`).
 * @example
 * ```ts
 * Object.keys(extractNftablesInpodState('table inet istio-ambient-nat {\n}\n')); // ['istio-ambient-nat']
 * ```
 */
export function extractNftablesInpodState(listText: string): NftablesInpodState {
  const out: Record<string, string> = {};
  let current: string | undefined;
  let block: string[] = [];
  for (const line of listText.split('\n')) {
    if (current === undefined) {
      const match = /^table inet (\S+) \{$/.exec(line);
      if (match !== null && NFT_TABLES.has(match[1] as string)) {
        current = match[1] as string;
        block = [line];
      }
      continue;
    }
    block.push(line);
    if (line === '}') {
      out[current] = block.join('\n');
      current = undefined;
    }
  }
  return out;
}

/**
 * The policy rule and route istio-cni adds (iptables_linux.go): `ip rule add fwmark 0x111/0xfff pref 32764
 * lookup 100` and `ip route add local 0.0.0.0/0 dev lo table 100` (and `::/0`).
 *
 * @example
 * ```ts
 * const r: InpodRouting = { tproxyMark: 0x111, tproxyMask: 0xfff, rulePriority: 32764, routeTable: 100 };
 * ```
 */
export interface InpodRouting {
  readonly tproxyMark: number;
  readonly tproxyMask: number;
  readonly rulePriority: number;
  readonly routeTable: number;
}

/** The fields of `ip -j rule show` / `ip -j route show` entries we look at (all optional: it's tool output). */
interface IpJsonEntry {
  readonly priority?: unknown;
  readonly fwmark?: unknown;
  readonly fwmask?: unknown;
  readonly table?: unknown;
  readonly type?: unknown;
  readonly dst?: unknown;
  readonly dev?: unknown;
}

function parseJsonArray(text: string, what: string): Result<readonly IpJsonEntry[], RedirectError> {
  try {
    const value: unknown = JSON.parse(text.trim() === '' ? '[]' : text);
    if (Array.isArray(value) && value.every((v) => typeof v === 'object' && v !== null)) {
      return ok(value as IpJsonEntry[]);
    }
  } catch {
    // Fall through to the error below.
  }
  return err(
    new RedirectError('REDIRECT_ERR_UNEXPECTED_OUTPUT', `${what}: expected a JSON array from ip -j`),
  );
}

/**
 * Counts the in-pod policy rules in `ip -j rule show` output.
 *
 * @param json - The tool's stdout for one family.
 * @param routing - The expected mark, mask, priority and table.
 * @returns How many matching rules exist (0, 1, or more when duplicated).
 * @example
 * ```ts
 * countInpodIpRules('[{"priority":32764,"fwmark":"0x111","fwmask":"0xfff","table":"100"}]', INPOD_ROUTING);
 * ```
 */
export function countInpodIpRules(json: string, routing: InpodRouting): Result<number, RedirectError> {
  return parseJsonArray(json, 'ip rule show').map(
    (rules) =>
      rules.filter(
        (r) =>
          r.priority === routing.rulePriority &&
          r.fwmark === hex(routing.tproxyMark) &&
          // iproute2 omits the mask when it is all ones.
          (r.fwmask ?? '0xffffffff') === hex(routing.tproxyMask) &&
          String(r.table) === String(routing.routeTable),
      ).length,
  );
}

/**
 * Whether `ip -j route show table <n>` output holds the catch-all local route through `lo`.
 *
 * @param json - The tool's stdout for one family.
 * @returns `true` when `local default dev lo` is present.
 * @example
 * ```ts
 * hasInpodLocalRoute('[{"type":"local","dst":"default","dev":"lo","scope":"host"}]')._unsafeUnwrap(); // true
 * ```
 */
export function hasInpodLocalRoute(json: string): Result<boolean, RedirectError> {
  return parseJsonArray(json, 'ip route show').map((routes) =>
    routes.some(
      (r) =>
        r.type === 'local' &&
        (r.dst === 'default' || r.dst === '0.0.0.0/0' || r.dst === '::/0') &&
        r.dev === 'lo',
    ),
  );
}

/**
 * The `ip`/`ip6` `nat`, `mangle` and `raw` tables in `nft list ruleset` output that hold nothing but
 * built-in chains with an `accept` policy and no rules: what `iptables-nft` leaves behind once the in-pod
 * chains are gone. Deleting them is a no-op for traffic and returns the ruleset to its pre-apply text.
 *
 * @param listText - `nft list ruleset` output.
 * @returns `family name` pairs such as `ip nat`, in listing order.
 * @example
 * ```ts
 * findEmptyIptablesNftTables('table ip nat {\n\tchain OUTPUT {\n\t\ttype nat hook output priority -100; policy accept;\n\t}\n}\n');
 * // ['ip nat']
 * ```
 */
export function findEmptyIptablesNftTables(listText: string): string[] {
  const out: string[] = [];
  let current: string | undefined;
  let empty = true;
  for (const line of listText.split('\n')) {
    if (current === undefined) {
      const match = /^table (ip|ip6) (nat|mangle|raw) \{$/.exec(line);
      if (match !== null) {
        current = `${match[1]} ${match[2]}`;
        empty = true;
      }
      continue;
    }
    if (line === '}') {
      if (empty) out.push(current);
      current = undefined;
      continue;
    }
    const body = line.trim();
    const structural =
      body === '' ||
      body === '}' ||
      /^chain (PREROUTING|INPUT|FORWARD|OUTPUT|POSTROUTING) \{$/.test(body) ||
      /^type \w+ hook \w+ priority [\w-]+; policy accept;$/.test(body);
    if (!structural) empty = false;
  }
  return out;
}
