/**
 * Reading what the in-pod redirection looks like in a namespace, and what it should look like.
 *
 * "Should" is learnt from the kernel, not from our own idea of how tools print rules: the rules are
 * applied once in a scratch namespace and read back with the same tools (`iptables-save`,
 * `nft -s list ruleset`). Comparing that text with the pod's makes `inspect` exact across iptables and nft
 * versions, which normalise rules differently (`-s 169.254.7.127` comes back as `-s 169.254.7.127/32`,
 * `mark and 0xfff` as `meta mark & 0x00000fff`). The result is cached per rule text.
 */
import { readFileSync } from 'node:fs';
import type { Result } from 'neverthrow';
import { RedirectError } from './codec/errors.js';
import {
  countInpodIpRules,
  extractIptablesInpodState,
  extractNftablesInpodState,
  hasInpodLocalRoute,
  type InpodRouting,
  type IptablesInpodState,
  iptablesInpodStatesEqual,
  isIptablesInpodStateEmpty,
  type NftablesInpodState,
} from './codec/inpod-state.js';
import type { IptablesTools } from './iptables-variant.js';
import { createScratchNetns, type NetnsHandle, runInNetns } from './netns.js';
import { runTool, type ToolPaths, type ToolResult } from './run-tool.js';

/**
 * How to run tools for one operation.
 * @example
 * ```ts
 * const ctx: ToolContext = { netns, tools: undefined, timeoutMs: 10_000, signal: undefined };
 * ```
 */
export interface ToolContext {
  readonly netns: NetnsHandle;
  readonly tools: ToolPaths | undefined;
  readonly timeoutMs: number;
  readonly signal: AbortSignal | undefined;
}

/**
 * Runs a tool in the context's namespace.
 * @example
 * ```ts
 * const { stdout } = await run(ctx, 'ip', ['-j', 'rule', 'show']);
 * ```
 */
export function run(
  ctx: ToolContext,
  name: string,
  args: readonly string[],
  stdin?: string,
): Promise<ToolResult> {
  return runTool(name, args, {
    netns: ctx.netns,
    timeoutMs: ctx.timeoutMs,
    ...(ctx.tools === undefined ? {} : { tools: ctx.tools }),
    ...(ctx.signal === undefined ? {} : { signal: ctx.signal }),
    ...(stdin === undefined ? {} : { stdin }),
  });
}

/**
 * `--noflush` (never touch other chains) and, for legacy, wait for the global xtables lock like istio.
 * @example
 * ```ts
 * restoreArgs(iptablesTools('legacy')); // ['--noflush', '--wait=10']
 * ```
 */
export function restoreArgs(tools: IptablesTools): string[] {
  return tools.variant === 'legacy' ? ['--noflush', '--wait=10'] : ['--noflush'];
}

/**
 * The rules the builders produce for one operation.
 * @example
 * ```ts
 * const plan: InpodPlan = await planFor({ netns, backend: 'nftables' });
 * ```
 */
export interface InpodPlan {
  readonly backend: 'iptables' | 'nftables';
  readonly iptables: IptablesTools | undefined;
  readonly iptablesText: { readonly ipv4: string; readonly ipv6: string | undefined } | undefined;
  readonly nftText: string | undefined;
  readonly enableIpv6: boolean;
  readonly routing: InpodRouting;
}

/**
 * The in-pod artifacts found in a namespace (or expected there).
 * @example
 * ```ts
 * const snapshot: InpodSnapshot = await readSnapshot(ctx, scope);
 * ```
 */
export interface InpodSnapshot {
  readonly iptables4: IptablesInpodState;
  readonly iptables6: IptablesInpodState;
  readonly nft: NftablesInpodState;
  readonly rules4: number;
  readonly rules6: number;
  readonly route4: boolean;
  readonly route6: boolean;
  /** `/proc/sys/net/ipv6/conf/lo/disable_ipv6` is `1`: istio then skips the IPv6 route. */
  readonly loIpv6Disabled: boolean;
}

/**
 * Whether nothing of the redirection is present.
 * @example
 * ```ts
 * const nothingToRemove = isSnapshotEmpty(await readSnapshot(ctx, scope));
 * ```
 */
export function isSnapshotEmpty(s: InpodSnapshot): boolean {
  return (
    isIptablesInpodStateEmpty(s.iptables4) &&
    isIptablesInpodStateEmpty(s.iptables6) &&
    Object.keys(s.nft).length === 0 &&
    s.rules4 === 0 &&
    s.rules6 === 0 &&
    !s.route4 &&
    !s.route6
  );
}

async function tolerate<T>(optional: boolean, fallback: T, read: () => Promise<T>): Promise<T> {
  try {
    return await read();
  } catch (error) {
    // IPv6 off in the kernel, or ip6tables/nft not installed while that part isn't wanted: nothing there.
    if (optional && error instanceof RedirectError && error.code !== 'REDIRECT_ERR_ABORTED') return fallback;
    throw error;
  }
}

function unwrap<T>(result: Result<T, RedirectError>): T {
  if (result.isErr()) throw result.error;
  return result.value;
}

/**
 * Reads the artifacts in the context's namespace.
 *
 * @param ctx - Where and how to run the tools.
 * @param what - Which backends to read; IPv6 parts are optional unless `enableIpv6`.
 * @example
 * ```ts
 * const before = await readSnapshot(ctx, { iptables: undefined, nft: true, nftOptional: false, enableIpv6: true, routing });
 * ```
 */
export async function readSnapshot(
  ctx: ToolContext,
  what: {
    readonly iptables: IptablesTools | undefined;
    readonly nft: boolean;
    readonly nftOptional: boolean;
    readonly enableIpv6: boolean;
    readonly routing: InpodRouting;
  },
): Promise<InpodSnapshot> {
  const { iptables, routing } = what;
  const v6Optional = !what.enableIpv6;
  const table = String(routing.routeTable);
  const [iptables4, iptables6, nft, rules4, rules6, route4, route6] = await Promise.all([
    iptables === undefined
      ? {}
      : run(ctx, iptables.save4, []).then((r) => extractIptablesInpodState(r.stdout)),
    iptables === undefined
      ? {}
      : tolerate(v6Optional, {}, () =>
          run(ctx, iptables.save6, []).then((r) => extractIptablesInpodState(r.stdout)),
        ),
    what.nft
      ? tolerate(what.nftOptional, {}, () =>
          run(ctx, 'nft', ['-s', 'list', 'ruleset']).then((r) => extractNftablesInpodState(r.stdout)),
        )
      : {},
    run(ctx, 'ip', ['-j', '-4', 'rule', 'show']).then((r) => unwrap(countInpodIpRules(r.stdout, routing))),
    tolerate(v6Optional, 0, () =>
      run(ctx, 'ip', ['-j', '-6', 'rule', 'show']).then((r) => unwrap(countInpodIpRules(r.stdout, routing))),
    ),
    readRoute(ctx, '-4', table),
    tolerate(v6Optional, false, () => readRoute(ctx, '-6', table)),
  ]);
  return {
    iptables4,
    iptables6,
    nft,
    rules4,
    rules6,
    route4,
    route6,
    loIpv6Disabled: readLoIpv6Disabled(ctx.netns),
  };
}

async function readRoute(ctx: ToolContext, family: '-4' | '-6', table: string): Promise<boolean> {
  try {
    const { stdout } = await run(ctx, 'ip', ['-j', family, 'route', 'show', 'table', table]);
    return unwrap(hasInpodLocalRoute(stdout));
  } catch (error) {
    // The IPv6 FIB creates a table only when a route goes in; listing a table that never existed fails.
    if (error instanceof RedirectError && /FIB table does not exist/.test(error.message)) return false;
    throw error;
  }
}

function readLoIpv6Disabled(netns: NetnsHandle): boolean {
  // /proc/sys/net resolves against the opening thread's namespace: read it from inside (istio
  // iptables_linux.go:78-144 reads the same file from within the pod).
  return runInNetns(netns, () => {
    try {
      return readFileSync('/proc/sys/net/ipv6/conf/lo/disable_ipv6', 'utf8').trim() === '1';
    } catch {
      // No IPv6 in this kernel: istio proceeds and lets the route call fail; so do we.
      return false;
    }
  });
}

/**
 * The canonical rule state for a plan, as the kernel and tools print it back.
 * @example
 * ```ts
 * const expected: CanonicalState = await canonicalState(plan, ctx);
 * ```
 */
export interface CanonicalState {
  readonly iptables4: IptablesInpodState;
  readonly iptables6: IptablesInpodState;
  readonly nft: NftablesInpodState;
}

const canonicalCache = new Map<string, Promise<CanonicalState>>();
const CANONICAL_CACHE_ENTRIES = 64;

/**
 * Applies a plan's rules in a scratch namespace and reads them back. Cached per rule text.
 *
 * @param plan - The rules.
 * @param base - Tool paths, timeout and abort signal (the namespace is the scratch one).
 * @example
 * ```ts
 * const expected = await canonicalState(plan, { tools: undefined, timeoutMs: 10_000, signal: undefined });
 * ```
 */
export function canonicalState(plan: InpodPlan, base: Omit<ToolContext, 'netns'>): Promise<CanonicalState> {
  const key = JSON.stringify([plan.iptables?.variant, plan.iptablesText, plan.nftText, base.tools]);
  const hit = canonicalCache.get(key);
  if (hit !== undefined) return hit;
  const promise = (async (): Promise<CanonicalState> => {
    const scratch = createScratchNetns();
    try {
      const ctx: ToolContext = { ...base, netns: scratch };
      let iptables4: IptablesInpodState = {};
      let iptables6: IptablesInpodState = {};
      let nft: NftablesInpodState = {};
      const { iptables, iptablesText, nftText } = plan;
      if (iptables !== undefined && iptablesText !== undefined) {
        await run(ctx, iptables.restore4, restoreArgs(iptables), iptablesText.ipv4);
        iptables4 = extractIptablesInpodState((await run(ctx, iptables.save4, [])).stdout);
        if (iptablesText.ipv6 !== undefined) {
          await run(ctx, iptables.restore6, restoreArgs(iptables), iptablesText.ipv6);
          iptables6 = extractIptablesInpodState((await run(ctx, iptables.save6, [])).stdout);
        }
      }
      if (nftText !== undefined) {
        await run(ctx, 'nft', ['-f', '-'], nftText);
        nft = extractNftablesInpodState((await run(ctx, 'nft', ['-s', 'list', 'ruleset'])).stdout);
      }
      return { iptables4, iptables6, nft };
    } finally {
      scratch.close();
    }
  })();
  canonicalCache.set(key, promise);
  if (canonicalCache.size > CANONICAL_CACHE_ENTRIES) {
    canonicalCache.delete(canonicalCache.keys().next().value as string);
  }
  // A failure (missing tool, abort) must not stick: the next call retries.
  promise.catch(() => canonicalCache.delete(key));
  return promise;
}

/**
 * Observed state of one part of the redirection: `installed` (as expected), `absent` (nothing there),
 * `different` (something there that is not what the options produce).
 *
 * @example
 * ```ts
 * const s: InpodComponentState = 'different';
 * ```
 */
export type InpodComponentState = 'installed' | 'absent' | 'different';

/**
 * One part of the redirection and how it looks.
 *
 * @example
 * ```ts
 * const c: InpodComponent = { name: 'ip-rule-ipv4', expected: true, state: 'installed' };
 * ```
 */
export interface InpodComponent {
  readonly name:
    | 'iptables-ipv4'
    | 'iptables-ipv6'
    | 'nftables'
    | 'ip-rule-ipv4'
    | 'ip-rule-ipv6'
    | 'route-ipv4'
    | 'route-ipv6';
  /** Whether the options call for it. */
  readonly expected: boolean;
  readonly state: InpodComponentState;
}

function nftEqual(a: NftablesInpodState, b: NftablesInpodState): boolean {
  const keys = Object.keys(a);
  return keys.length === Object.keys(b).length && keys.every((k) => a[k] === b[k]);
}

/**
 * Compares a snapshot with the plan's expectation, component by component.
 * @example
 * ```ts
 * const components = compareSnapshot(plan, expected, await readSnapshot(ctx, scope));
 * ```
 */
export function compareSnapshot(
  plan: InpodPlan,
  expected: CanonicalState,
  actual: InpodSnapshot,
): readonly InpodComponent[] {
  const state = (present: boolean, matches: boolean): InpodComponentState =>
    !present ? 'absent' : matches ? 'installed' : 'different';
  const v6 = plan.enableIpv6;
  const components: InpodComponent[] = [];
  if (plan.backend === 'iptables') {
    components.push(
      {
        name: 'iptables-ipv4',
        expected: true,
        state: state(
          !isIptablesInpodStateEmpty(actual.iptables4),
          iptablesInpodStatesEqual(actual.iptables4, expected.iptables4),
        ),
      },
      {
        name: 'iptables-ipv6',
        expected: v6,
        state: state(
          !isIptablesInpodStateEmpty(actual.iptables6),
          v6 && iptablesInpodStatesEqual(actual.iptables6, expected.iptables6),
        ),
      },
    );
  } else {
    components.push({
      name: 'nftables',
      expected: true,
      state: state(Object.keys(actual.nft).length > 0, nftEqual(actual.nft, expected.nft)),
    });
  }
  const route6Expected = v6 && !actual.loIpv6Disabled;
  components.push(
    { name: 'ip-rule-ipv4', expected: true, state: state(actual.rules4 > 0, actual.rules4 === 1) },
    { name: 'ip-rule-ipv6', expected: v6, state: state(actual.rules6 > 0, v6 && actual.rules6 === 1) },
    { name: 'route-ipv4', expected: true, state: state(actual.route4, true) },
    { name: 'route-ipv6', expected: route6Expected, state: state(actual.route6, route6Expected) },
  );
  return components;
}

/**
 * `installed` when every component is as expected, `absent` when nothing is there, else `partial`.
 * @example
 * ```ts
 * overallState(components); // 'installed' | 'absent' | 'partial'
 * ```
 */
export function overallState(components: readonly InpodComponent[]): 'installed' | 'absent' | 'partial' {
  if (components.every((c) => (c.expected ? c.state === 'installed' : c.state === 'absent')))
    return 'installed';
  if (components.every((c) => c.state === 'absent')) return 'absent';
  return 'partial';
}
