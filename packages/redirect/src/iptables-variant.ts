/**
 * Which iptables to drive: `iptables-nft` (the nf_tables backend, Debian's default since 10) or
 * `iptables-legacy` (the x_tables backend). Both must not be mixed in one pod: the kernel evaluates both
 * rule sets, and each tool only sees its own.
 *
 * istio-cni detects once, in the host's namespace, and uses the same variant in every pod (istio
 * istio/istio@86c9f01f:tools/istio-iptables/pkg/dependencies/implementation.go `DetectIptablesVersion`):
 * legacy if `iptables-legacy-save` shows rules on the host, else nft if `iptables-nft` exists, else the plain
 * `iptables`. We follow that order, but read only: istio also adds and deletes a probe rule in the host's
 * filter table to check kernel support; we leave the host's rules alone and let the first restore report
 * missing kernel support.
 */
import { RedirectError } from './codec/errors.js';
import { hasTool, runTool, type ToolPaths } from './run-tool.js';

/**
 * `nft` (iptables over nf_tables) or `legacy` (x_tables).
 *
 * @example
 * ```ts
 * const variant: IptablesVariant = 'nft';
 * ```
 */
export type IptablesVariant = 'nft' | 'legacy';

/**
 * The tool names of one variant, IPv4 and IPv6.
 *
 * @example
 * ```ts
 * iptablesTools('legacy').restore4; // 'iptables-legacy-restore'
 * ```
 */
export interface IptablesTools {
  readonly variant: IptablesVariant;
  readonly save4: string;
  readonly restore4: string;
  readonly save6: string;
  readonly restore6: string;
}

/**
 * The tool names for a variant.
 *
 * @param variant - `nft` or `legacy`.
 * @returns `iptables-<variant>-save`, `-restore`, and the `ip6tables` pair.
 * @example
 * ```ts
 * iptablesTools('nft').save6; // 'ip6tables-nft-save'
 * ```
 */
export function iptablesTools(variant: IptablesVariant): IptablesTools {
  return {
    variant,
    save4: `iptables-${variant}-save`,
    restore4: `iptables-${variant}-restore`,
    save6: `ip6tables-${variant}-save`,
    restore6: `ip6tables-${variant}-restore`,
  };
}

/**
 * Detects the variant the way istio-cni does, in the caller's (the node's) network namespace.
 *
 * @param options - Tool path overrides, timeout.
 * @returns `legacy` when the host has legacy rules, else `nft` when `iptables-nft` exists, else whatever the
 * plain `iptables --version` reports.
 * @throws {RedirectError} `REDIRECT_ERR_TOOL_MISSING` when no iptables is installed.
 * @example
 * ```ts
 * const variant = await detectIptablesVariant(); // 'nft' on a stock Debian 12 node
 * ```
 */
export async function detectIptablesVariant(
  options: { readonly tools?: ToolPaths; readonly timeoutMs?: number } = {},
): Promise<IptablesVariant> {
  const tools = options.tools ?? {};
  const timeoutMs = options.timeoutMs ?? 10_000;
  if (hasTool('iptables-legacy-save', tools)) {
    const { stdout } = await runTool('iptables-legacy-save', [], { tools, timeoutMs });
    // istio: "xx-save should return at least 3 output lines if at least one rule is defined".
    if ((stdout.match(/\n/g) ?? []).length >= 3) return 'legacy';
  }
  if (hasTool('iptables-nft', tools)) return 'nft';
  if (hasTool('iptables-legacy', tools)) return 'legacy';
  if (!hasTool('iptables', tools)) {
    throw new RedirectError('REDIRECT_ERR_TOOL_MISSING', 'no iptables found (Debian package iptables)');
  }
  const { stdout } = await runTool('iptables', ['--version'], { tools, timeoutMs });
  return stdout.includes('nf_tables') ? 'nft' : 'legacy';
}
