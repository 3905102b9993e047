/**
 * Installing, removing and inspecting istio-cni's in-pod redirection in a pod's network namespace
 *: the iptables or nftables rules, the `fwmark 0x111/0xfff → table 100` policy rule and the
 * `local 0.0.0.0/0 dev lo table 100` route (and their IPv6 twins).
 *
 * Steps and their order follow istio `CreateInpodRules` (iptables.go:168-187): route, policy rule, rules.
 * Differences, all towards safety:
 * - apply reads the namespace first and does nothing when the redirection is already exactly there, so a
 *   second apply changes nothing (not even counters);
 * - a namespace holding a different or partial redirection is reconciled in one atomic step per table
 *   (old chains out and new chains in within the same `iptables-restore` table commit, or the same `nft`
 *   transaction), so there is no window without rules;
 * - apply verifies the result, and any failure rolls back to no redirection at all;
 * - remove deletes exactly what it found, then checks that nothing is left.
 */
import { RedirectError } from './codec/errors.js';
import { buildInpodIptablesRules } from './codec/inpod-iptables-rules.js';
import { buildInpodNftablesRules } from './codec/inpod-nftables-rules.js';
import { hex, type InpodRuleOptions, resolveInpodRuleOptions } from './codec/inpod-options.js';
import {
  findEmptyIptablesNftTables,
  type InpodRouting,
  isIptablesInpodStateEmpty,
  renderIptablesInpodRemoval,
} from './codec/inpod-state.js';
import { mergeIptablesRestore } from './codec/iptables-restore.js';
import { renderNftDeleteTables } from './codec/nft-transaction.js';
import {
  type CanonicalState,
  canonicalState,
  compareSnapshot,
  type InpodComponent,
  type InpodPlan,
  type InpodSnapshot,
  isSnapshotEmpty,
  overallState,
  readSnapshot,
  restoreArgs,
  run,
  type ToolContext,
} from './inpod-state-reader.js';
import {
  detectIptablesVariant,
  type IptablesTools,
  type IptablesVariant,
  iptablesTools,
} from './iptables-variant.js';
import { type NetnsHandle, type NetnsRef, openNetns } from './netns.js';
import { hasTool, type ToolPaths } from './run-tool.js';

/**
 * Where and how to run the tools, shared by apply, remove and inspect.
 *
 * @example
 * ```ts
 * const common: InpodRedirectTarget = { netns: '/proc/4242/ns/net', timeoutMs: 5000 };
 * ```
 */
export interface InpodRedirectTarget {
  /** The pod's network namespace: a name under `/var/run/netns/`, an absolute path, or an open handle. */
  readonly netns: NetnsRef;
  /**
   * Which iptables (iptables backend only). Default `auto`: istio-cni's detection in the caller's (node's)
   * namespace, done once per process (see `detectIptablesVariant`). Debian 12 picks `nft`.
   */
  readonly iptablesVariant?: 'auto' | IptablesVariant;
  /** Tool path overrides (e.g. `{ nft: '/usr/local/sbin/nft' }`). Default: search `PATH` and the sbin dirs. */
  readonly tools?: ToolPaths;
  /** Per tool invocation. Default `10_000`. */
  readonly timeoutMs?: number;
  /** Aborts between and during tool runs (an apply then rolls back). */
  readonly signal?: AbortSignal;
}

/**
 * Options of {@link applyInpodRedirect} and {@link inspectInpodRedirect}: the target, the backend and the
 * rule options (see `InpodRuleOptions`; defaults are istio's).
 *
 * @example
 * ```ts
 * const options: InpodRedirectOptions = { netns: 'pod-a', backend: 'nftables', redirectDns: true };
 * ```
 */
export interface InpodRedirectOptions extends InpodRedirectTarget, InpodRuleOptions {
  /** `iptables` (istio's default) or `nftables` (Helm `global.nativeNftables`). */
  readonly backend: 'iptables' | 'nftables';
}

/**
 * What {@link inspectInpodRedirect} reports.
 *
 * @example
 * ```ts
 * const { state } = await inspectInpodRedirect({ netns: 'pod-a', backend: 'iptables' });
 * if (state === 'partial') console.warn('needs a reconcile');
 * ```
 */
export interface InpodRedirectInspection {
  /**
   * `installed`: exactly the rules, policy rule and routes these options produce; `absent`: none of them;
   * `partial`: anything else (some missing, or installed with different options).
   */
  readonly state: 'installed' | 'absent' | 'partial';
  readonly backend: 'iptables' | 'nftables';
  /** The iptables variant that was read (iptables backend). */
  readonly iptablesVariant?: IptablesVariant;
  /** Per part. */
  readonly components: readonly InpodComponent[];
}

/**
 * What {@link applyInpodRedirect} did.
 *
 * @example
 * ```ts
 * const { changed } = await applyInpodRedirect({ netns: 'pod-a', backend: 'iptables' });
 * ```
 */
export interface ApplyInpodRedirectResult {
  /** `false` when the redirection was already exactly in place. */
  readonly changed: boolean;
  /** The state after the apply (always `installed`). */
  readonly inspection: InpodRedirectInspection;
}

/**
 * Options of {@link removeInpodRedirect}.
 *
 * @example
 * ```ts
 * await removeInpodRedirect({ netns: 'pod-a' });
 * ```
 */
export interface RemoveInpodRedirectOptions
  extends InpodRedirectTarget,
    Pick<InpodRuleOptions, 'tproxyMark' | 'tproxyMask' | 'routeTable' | 'rulePriority'> {
  /**
   * Remove only this backend's rules. Default: both (a missing `nft` is then not an error). With the
   * iptables backend and `iptablesVariant: 'auto'` (the default), both variants' rules are removed.
   */
  readonly backend?: 'iptables' | 'nftables';
}

let detectedVariant: Promise<IptablesVariant> | undefined;

/**
 * Remove cleans every variant it can find unless told which: rules left by the other variant would still
 * redirect traffic, and an `auto` detection made today may differ from the one made at apply time.
 */
function removalVariants(target: InpodRedirectTarget): IptablesTools[] {
  const wanted = target.iptablesVariant ?? 'auto';
  if (wanted !== 'auto') return [iptablesTools(wanted)];
  return (['nft', 'legacy'] as const).map(iptablesTools).filter((t) => hasTool(t.save4, target.tools));
}

async function resolveTools(target: InpodRedirectTarget): Promise<IptablesTools> {
  const wanted = target.iptablesVariant ?? 'auto';
  if (wanted !== 'auto') return iptablesTools(wanted);
  // istio detects once for the node and commits to it for every pod; so do we (per process).
  detectedVariant ??= detectIptablesVariant({
    ...(target.tools === undefined ? {} : { tools: target.tools }),
    ...(target.timeoutMs === undefined ? {} : { timeoutMs: target.timeoutMs }),
  });
  detectedVariant.catch(() => {
    detectedVariant = undefined;
  });
  return iptablesTools(await detectedVariant);
}

async function withNetns<T>(ref: NetnsRef, fn: (netns: NetnsHandle) => Promise<T>): Promise<T> {
  if (typeof ref !== 'string') return fn(ref);
  const netns = openNetns(ref);
  try {
    return await fn(netns);
  } finally {
    netns.close();
  }
}

// One operation at a time per namespace within this process (istio serialises per pod too).
const locks = new Map<string, Promise<unknown>>();
async function exclusive<T>(netns: NetnsHandle, fn: () => Promise<T>): Promise<T> {
  const key = `${netns.device}:${netns.inode}`;
  const previous = locks.get(key) ?? Promise.resolve();
  const current = previous.catch(() => {}).then(fn);
  locks.set(key, current);
  try {
    return await current;
  } finally {
    if (locks.get(key) === current) locks.delete(key);
  }
}

function toolContext(netns: NetnsHandle, target: InpodRedirectTarget): ToolContext {
  return { netns, tools: target.tools, timeoutMs: target.timeoutMs ?? 10_000, signal: target.signal };
}

function routingOf(o: InpodRouting): InpodRouting {
  return {
    tproxyMark: o.tproxyMark,
    tproxyMask: o.tproxyMask,
    routeTable: o.routeTable,
    rulePriority: o.rulePriority,
  };
}

/** Validates the options (before detection runs anything), then builds the rules and finds the tools. */
async function planFor(options: InpodRedirectOptions): Promise<InpodPlan> {
  const resolved = resolveInpodRuleOptions(options);
  const { backend } = options;
  if (backend !== 'iptables' && backend !== 'nftables') {
    throw new TypeError(`options.backend: expected 'iptables' or 'nftables', got ${String(backend)}`);
  }
  const ipt = backend === 'iptables' ? buildInpodIptablesRules(resolved) : undefined;
  return {
    backend,
    iptables: backend === 'iptables' ? await resolveTools(options) : undefined,
    iptablesText: ipt === undefined ? undefined : { ipv4: ipt.ipv4, ipv6: ipt.ipv6 },
    nftText: backend === 'nftables' ? buildInpodNftablesRules(resolved) : undefined,
    enableIpv6: resolved.enableIpv6,
    routing: routingOf(resolved),
  };
}

function snapshotScope(plan: InpodPlan) {
  return {
    iptables: plan.iptables,
    nft: plan.backend === 'nftables',
    nftOptional: false,
    enableIpv6: plan.enableIpv6,
    routing: plan.routing,
  };
}

function ruleArgs(family: '-4' | '-6', verb: 'add' | 'del', r: InpodRouting): string[] {
  // ip rule add fwmark 0x111/0xfff pref 32764 lookup 100 (istio iptables_linux.go:32-76).
  return [
    family,
    'rule',
    verb,
    'fwmark',
    `${hex(r.tproxyMark)}/${hex(r.tproxyMask)}`,
    'pref',
    String(r.rulePriority),
    'lookup',
    String(r.routeTable),
  ];
}

function routeArgs(family: '-4' | '-6', verb: 'replace' | 'del', r: InpodRouting): string[] {
  // ip route add local 0.0.0.0/0 dev lo table 100 (scope host, type local; istio iptables_linux.go:78-144).
  const dst = family === '-4' ? '0.0.0.0/0' : '::/0';
  return [family, 'route', verb, 'local', dst, 'dev', 'lo', 'scope', 'host', 'table', String(r.routeTable)];
}

async function setRuleCount(
  ctx: ToolContext,
  family: '-4' | '-6',
  have: number,
  want: number,
  r: InpodRouting,
) {
  for (let n = have; n > want; n--) await run(ctx, 'ip', ruleArgs(family, 'del', r));
  if (have === 0 && want === 1) await run(ctx, 'ip', ruleArgs(family, 'add', r));
}

/**
 * iptables-nft keeps a table and its built-in chains once anything used them. When they are empty again,
 * delete them so the ruleset reads as it did before the apply. (iptables-legacy tables can't be
 * unregistered from userspace; they stay, empty.)
 */
async function dropEmptyIptablesNftTables(ctx: ToolContext): Promise<void> {
  let listing: string;
  try {
    listing = (await run(ctx, 'nft', ['-s', 'list', 'ruleset'])).stdout;
  } catch (error) {
    // Without the nft tool the empty tables simply stay: harmless.
    if (error instanceof RedirectError && error.code === 'REDIRECT_ERR_TOOL_MISSING') return;
    throw error;
  }
  const empty = findEmptyIptablesNftTables(listing);
  if (empty.length > 0) await run(ctx, 'nft', ['-f', '-'], empty.map((t) => `delete table ${t}\n`).join(''));
}

/** Removes everything `snapshot` shows (the `iptables` tools are needed when it has iptables state). */
async function removeArtifacts(
  ctx: ToolContext,
  tools: IptablesTools | undefined,
  snapshot: InpodSnapshot,
  routing: InpodRouting,
): Promise<void> {
  if (tools !== undefined) {
    const had4 = !isIptablesInpodStateEmpty(snapshot.iptables4);
    const had6 = !isIptablesInpodStateEmpty(snapshot.iptables6);
    if (had4)
      await run(ctx, tools.restore4, restoreArgs(tools), renderIptablesInpodRemoval(snapshot.iptables4));
    if (had6)
      await run(ctx, tools.restore6, restoreArgs(tools), renderIptablesInpodRemoval(snapshot.iptables6));
    if (tools.variant === 'nft' && (had4 || had6)) await dropEmptyIptablesNftTables(ctx);
  }
  const nftTables = Object.keys(snapshot.nft);
  if (nftTables.length > 0) await run(ctx, 'nft', ['-f', '-'], renderNftDeleteTables(nftTables));
  await setRuleCount(ctx, '-4', snapshot.rules4, 0, routing);
  await setRuleCount(ctx, '-6', snapshot.rules6, 0, routing);
  if (snapshot.route4) await run(ctx, 'ip', routeArgs('-4', 'del', routing));
  if (snapshot.route6) await run(ctx, 'ip', routeArgs('-6', 'del', routing));
}

/** Brings the namespace from `before` to the plan, atomically per rule table. */
async function install(ctx: ToolContext, plan: InpodPlan, before: InpodSnapshot): Promise<void> {
  const { routing } = plan;
  const v6 = plan.enableIpv6;
  // 1. Routes (`replace` is idempotent), 2. policy rules, 3. the rules, as istio orders them.
  await run(ctx, 'ip', routeArgs('-4', 'replace', routing));
  if (v6 && !before.loIpv6Disabled) await run(ctx, 'ip', routeArgs('-6', 'replace', routing));
  else if (before.route6) await run(ctx, 'ip', routeArgs('-6', 'del', routing));
  await setRuleCount(ctx, '-4', before.rules4, 1, routing);
  await setRuleCount(ctx, '-6', before.rules6, v6 ? 1 : 0, routing);
  const { iptables: tools, iptablesText, nftText } = plan;
  if (tools !== undefined && iptablesText !== undefined) {
    // Old in-pod chains out and new ones in, in the same table commit.
    const text4 = mergeIptablesRestore(renderIptablesInpodRemoval(before.iptables4), iptablesText.ipv4);
    await run(ctx, tools.restore4, restoreArgs(tools), text4);
    const text6 = mergeIptablesRestore(renderIptablesInpodRemoval(before.iptables6), iptablesText.ipv6 ?? '');
    if (text6 !== '') await run(ctx, tools.restore6, restoreArgs(tools), text6);
  }
  if (nftText !== undefined) {
    // Delete whatever in-pod tables exist and add the new ones in one transaction: atomic.
    await run(ctx, 'nft', ['-f', '-'], renderNftDeleteTables(Object.keys(before.nft)) + nftText);
  }
}

function inspection(plan: InpodPlan, components: readonly InpodComponent[]): InpodRedirectInspection {
  return {
    state: overallState(components),
    backend: plan.backend,
    ...(plan.iptables === undefined ? {} : { iptablesVariant: plan.iptables.variant }),
    components,
  };
}

function describe(components: readonly InpodComponent[]): string {
  return components
    .filter((c) => (c.expected ? c.state !== 'installed' : c.state !== 'absent'))
    .map((c) => `${c.name} ${c.state}${c.expected ? '' : ' (unexpected)'}`)
    .join(', ');
}

/**
 * Opens the namespace, takes its lock, and reads what the plan expects next to what is there (apply and
 * inspect both start this way).
 */
async function withInpodState<T>(
  options: InpodRedirectOptions,
  fn: (ctx: ToolContext, plan: InpodPlan, expected: CanonicalState, actual: InpodSnapshot) => Promise<T>,
): Promise<T> {
  const plan = await planFor(options);
  return withNetns(options.netns, (netns) =>
    exclusive(netns, async () => {
      const ctx = toolContext(netns, options);
      const [expected, actual] = await Promise.all([
        canonicalState(plan, ctx),
        readSnapshot(ctx, snapshotScope(plan)),
      ]);
      return fn(ctx, plan, expected, actual);
    }),
  );
}

/**
 * Reports whether the redirection these options produce is installed in a namespace.
 *
 * @param options - Target, backend and the same rule options an apply would use.
 * @returns `installed`, `absent` or `partial`, with the state of each part.
 * @throws {RedirectError} Namespace, tool and timeout errors (see docs/redirect.md "Error codes").
 * @example
 * ```ts
 * const { state } = await inspectInpodRedirect({ netns: 'pod-a', backend: 'nftables', redirectDns: true });
 * ```
 */
export async function inspectInpodRedirect(options: InpodRedirectOptions): Promise<InpodRedirectInspection> {
  return withInpodState(options, async (_ctx, plan, expected, actual) =>
    inspection(plan, compareSnapshot(plan, expected, actual)),
  );
}

/**
 * Installs the in-pod redirection in a pod's network namespace: policy route, policy rule and the
 * iptables or nftables rules istio-cni installs. Idempotent: when exactly this redirection is already
 * there, nothing is touched (`changed: false`). A namespace with a partial or differently-configured
 * redirection is reconciled. On any failure everything is rolled back and the error says why.
 *
 * Needs `CAP_SYS_ADMIN` (setns) and `CAP_NET_ADMIN` in the node's user namespace (run as root).
 *
 * @param options - Target, backend and rule options (defaults are istio's; `redirectDns: true,
 * enableIpv6: true` match a stock Helm install).
 * @returns Whether anything changed, and the final inspection.
 * @throws {RedirectError} `REDIRECT_ERR_NETNS_NOT_FOUND`, `REDIRECT_ERR_TOOL_MISSING` (before any change),
 * `REDIRECT_ERR_APPLY_FAILED` (rolled back; `cause` holds the failing step), `REDIRECT_ERR_ROLLBACK_FAILED`.
 * @throws {RangeError} On invalid rule options.
 * @example
 * ```ts
 * await applyInpodRedirect({ netns: '/proc/4242/ns/net', backend: 'iptables', redirectDns: true });
 * ```
 */
export async function applyInpodRedirect(options: InpodRedirectOptions): Promise<ApplyInpodRedirectResult> {
  return withInpodState(options, async (ctx, plan, expected, before) => {
    const initial = compareSnapshot(plan, expected, before);
    if (overallState(initial) === 'installed')
      return { changed: false, inspection: inspection(plan, initial) };
    try {
      await install(ctx, plan, before);
      const after = compareSnapshot(plan, expected, await readSnapshot(ctx, snapshotScope(plan)));
      if (overallState(after) !== 'installed') {
        throw new RedirectError(
          'REDIRECT_ERR_UNEXPECTED_OUTPUT',
          `after installing, the namespace does not hold the expected redirection: ${describe(after)}`,
        );
      }
      return { changed: true, inspection: inspection(plan, after) };
    } catch (cause) {
      // Roll back to no redirection, without the caller's signal (it may be what aborted us).
      const rollbackCtx: ToolContext = { ...ctx, signal: undefined };
      const where = ctx.netns.path;
      try {
        const now = await readSnapshot(rollbackCtx, { ...snapshotScope(plan), nftOptional: true });
        await removeArtifacts(rollbackCtx, plan.iptables, now, plan.routing);
      } catch (rollbackError) {
        throw new RedirectError(
          'REDIRECT_ERR_ROLLBACK_FAILED',
          `applying the redirection in ${where} failed (${String((cause as Error)?.message ?? cause)}) and so did the rollback: ${String((rollbackError as Error)?.message ?? rollbackError)}`,
          { cause: new AggregateError([cause, rollbackError]) },
        );
      }
      throw new RedirectError(
        'REDIRECT_ERR_APPLY_FAILED',
        `applying the redirection in ${where} failed and was rolled back: ${String((cause as Error)?.message ?? cause)}`,
        { cause },
      );
    }
  });
}

/**
 * Removes the in-pod redirection from a namespace: the in-pod iptables chains and every jump to them (both
 * families), the `inet istio-ambient-*` nftables tables, the policy rules and the routes. Removes exactly
 * what it finds and then checks nothing is left.
 *
 * @param options - Target, optionally one backend, and the routing options the apply used.
 * @returns `changed: false` when there was nothing to remove.
 * @throws {RedirectError} Namespace, tool and timeout errors; `REDIRECT_ERR_TOOL_FAILED` when something is
 * left after removal.
 * @example
 * ```ts
 * await removeInpodRedirect({ netns: 'pod-a' });
 * ```
 */
export async function removeInpodRedirect(
  options: RemoveInpodRedirectOptions,
): Promise<{ changed: boolean }> {
  const routing = routingOf(resolveInpodRuleOptions(options));
  const variants = options.backend === 'nftables' ? [] : removalVariants(options);
  return withNetns(options.netns, (netns) =>
    exclusive(netns, async () => {
      const ctx = toolContext(netns, options);
      let changed = false;
      // One pass per iptables variant (nft/legacy rules are separate rule sets); the first pass also covers
      // nftables and the policy routing. With nothing iptables to look at, one pass for those.
      const passes: (IptablesTools | undefined)[] = variants.length === 0 ? [undefined] : variants;
      for (const [i, tools] of passes.entries()) {
        const scope = {
          iptables: tools,
          nft: i === 0 && options.backend !== 'iptables',
          // Without a backend, a node without nft simply has no nftables rules to remove.
          nftOptional: options.backend === undefined,
          enableIpv6: false,
          routing,
        };
        const before = await readSnapshot(ctx, scope);
        if (isSnapshotEmpty(before)) continue;
        changed = true;
        await removeArtifacts(ctx, tools, before, routing);
        const after = await readSnapshot(ctx, scope);
        if (!isSnapshotEmpty(after)) {
          throw new RedirectError(
            'REDIRECT_ERR_TOOL_FAILED',
            `removal left redirection artifacts in ${netns.path}: ${JSON.stringify(after)}`,
          );
        }
      }
      return { changed };
    }),
  );
}
