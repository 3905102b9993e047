/**
 * The options of the in-pod rule builders and their validation.
 *
 * Defaults are the zero values of istio-cni's `AmbientConfig`/`PodLevelOverrides` (the configuration
 * istio's own golden tests start from, istio/istio@86c9f01f:cni/pkg/iptables/iptables_test.go
 * `constructTestConfig`), plus the constants of istio/istio@86c9f01f:cni/pkg/config/config.go. The Helm chart
 * turns DNS capture and IPv6 on (`ambient.dnsCapture: true`, `ambient.ipv6: true`): pass `redirectDns: true,
 * enableIpv6: true` to match a stock installation.
 */
import { DEFAULT_HOST_PROBE_SNAT_ADDRESS, DEFAULT_HOST_PROBE_V6_SNAT_ADDRESS, INPOD } from './constants.js';
import { formatIpAddress, parseIpAddress } from './ip-address.js';

/**
 * What shapes the in-pod rules. Every field is optional.
 *
 * @example
 * ```ts
 * const options: InpodRuleOptions = { redirectDns: true, enableIpv6: true, virtualInterfaces: ['tap0'] };
 * ```
 */
export interface InpodRuleOptions {
  /**
   * Capture DNS (UDP and TCP port 53) into ztunnel's DNS proxy on 15053, with the conntrack-zone rules.
   * The effective value after the pod's `ambient.istio.io/dns-capture` override (see
   * `resolveRedirectDns`). Default `false` (istio `AmbientConfig.RedirectDNS` zero value; Helm
   * `ambient.dnsCapture` defaults to `true`).
   */
  readonly redirectDns?: boolean;
  /**
   * Outbound capture only: no inbound redirect and no probe bypass (`ambient.istio.io/bypass-inbound-capture`,
   * istio `PodLevelOverrides.IngressMode`). Default `false`.
   */
  readonly ingressMode?: boolean;
  /**
   * Interfaces whose inbound TCP is treated as outbound and sent to 15001 (`istio.io/reroute-virtual-interfaces`).
   * Default `[]`.
   */
  readonly virtualInterfaces?: readonly string[];
  /** Also emit the IPv6 rules (ip6tables, `ip6` nft matches) and routes. Default `false` (`ENABLE_INBOUND_IPV6`). */
  readonly enableIpv6?: boolean;
  /** Source address the node's probe SNAT gives kubelet probes. Default `169.254.7.127` (`HOST_PROBE_SNAT_IP`). */
  readonly hostProbeSnatAddress?: string;
  /** IPv6 probe SNAT address. Default `fd16:9254:7127:1337:ffff:ffff:ffff:ffff` (`HOST_PROBE_SNAT_IPV6`). */
  readonly hostProbeV6SnatAddress?: string;
  /** ztunnel's socket mark. Default `1337` (`InpodMark`; ztunnel `DEFAULT_INPOD_MARK`). */
  readonly mark?: number;
  /** Mask of {@link InpodRuleOptions.mark}. Default `0xfff` (`InpodMask`). */
  readonly markMask?: number;
  /** Connmark of ztunnel-originated connections. Default `0x111` (`InpodTProxyMark`). */
  readonly tproxyMark?: number;
  /** Mask of {@link InpodRuleOptions.tproxyMark}. Default `0xfff` (`InpodTProxyMask`). */
  readonly tproxyMask?: number;
  /** `--nfmask`/`--ctmask` of the restore-mark rule. Default `0xffffffff` (`InpodRestoreMask`). */
  readonly restoreMask?: number;
  /** ztunnel outbound listener. Default `15001` (`ZtunnelOutboundPort`). */
  readonly outboundPort?: number;
  /** ztunnel inbound plaintext listener. Default `15006` (`ZtunnelInboundPlaintextPort`). */
  readonly inboundPlaintextPort?: number;
  /** ztunnel HBONE listener, never redirected. Default `15008` (`ZtunnelInboundPort`). */
  readonly inboundPort?: number;
  /** ztunnel DNS proxy. Default `15053` (`DNSCapturePort`). */
  readonly dnsPort?: number;
  /** Policy-routing table of the `local 0/0 dev lo` route. Default `100` (`RouteTableInbound`). */
  readonly routeTable?: number;
  /** Priority of the `fwmark` policy rule. Default `32764`. */
  readonly rulePriority?: number;
}

/**
 * {@link InpodRuleOptions} with every default filled in and addresses in canonical form.
 *
 * @example
 * ```ts
 * const resolved: ResolvedInpodRuleOptions = resolveInpodRuleOptions({ redirectDns: true });
 * ```
 */
export type ResolvedInpodRuleOptions = {
  readonly [K in keyof InpodRuleOptions]-?: Exclude<InpodRuleOptions[K], undefined>;
};

// Linux dev_valid_name() allows more, but these names are spliced into iptables-restore and nft text:
// anything beyond this set could end a rule or start another one.
const INTERFACE_NAME = /^[A-Za-z0-9_.-]{1,15}$/;

/**
 * Checks a network interface name as it may appear in a rule.
 *
 * @param name - A candidate name, e.g. from the `istio.io/reroute-virtual-interfaces` annotation.
 * @returns Whether it is 1-15 characters of `[A-Za-z0-9_.-]` and not `.` or `..`.
 * @example
 * ```ts
 * isValidInterfaceName('eth0'); // true
 * isValidInterfaceName('eth0 -j ACCEPT'); // false
 * ```
 */
export function isValidInterfaceName(name: string): boolean {
  return INTERFACE_NAME.test(name) && name !== '.' && name !== '..';
}

function checkInteger(name: string, value: number, min: number, max: number): number {
  if (!Number.isInteger(value) || value < min || value > max) {
    throw new RangeError(`options.${name}: expected an integer in [${min}, ${max}], got ${String(value)}`);
  }
  return value;
}

function checkBoolean(name: string, value: unknown): boolean {
  if (typeof value !== 'boolean') throw new TypeError(`options.${name}: expected a boolean`);
  return value;
}

function checkAddress(name: string, value: string, family: 4 | 6): string {
  const parsed = typeof value === 'string' ? parseIpAddress(value) : undefined;
  if (parsed?.family !== family) {
    throw new RangeError(`options.${name}: expected an IPv${family} address, got ${JSON.stringify(value)}`);
  }
  return formatIpAddress(parsed);
}

/**
 * Fills in defaults and validates every field.
 *
 * @param options - Caller options.
 * @returns The resolved options.
 * @throws {RangeError} When a port, mark or table is out of range, an address has the wrong family, or an
 * interface name could break out of its rule (see {@link isValidInterfaceName}).
 * @throws {TypeError} When a flag is not a boolean or `virtualInterfaces` is not an array.
 * @example
 * ```ts
 * resolveInpodRuleOptions({}).outboundPort; // 15001
 * ```
 */
export function resolveInpodRuleOptions(options: InpodRuleOptions = {}): ResolvedInpodRuleOptions {
  const virtualInterfaces = options.virtualInterfaces ?? [];
  if (!Array.isArray(virtualInterfaces)) throw new TypeError('options.virtualInterfaces: expected an array');
  for (const [i, name] of virtualInterfaces.entries()) {
    if (typeof name !== 'string' || !isValidInterfaceName(name)) {
      throw new RangeError(
        `options.virtualInterfaces[${i}]: ${JSON.stringify(name)} is not a valid interface name (1-15 of [A-Za-z0-9_.-])`,
      );
    }
  }
  const port = (name: string, value: number | undefined, fallback: number): number =>
    checkInteger(name, value ?? fallback, 1, 65535);
  const u32 = (name: string, value: number | undefined, fallback: number): number =>
    checkInteger(name, value ?? fallback, 0, 0xffffffff);
  return {
    redirectDns: checkBoolean('redirectDns', options.redirectDns ?? false),
    ingressMode: checkBoolean('ingressMode', options.ingressMode ?? false),
    virtualInterfaces: [...virtualInterfaces],
    enableIpv6: checkBoolean('enableIpv6', options.enableIpv6 ?? false),
    hostProbeSnatAddress: checkAddress(
      'hostProbeSnatAddress',
      options.hostProbeSnatAddress ?? DEFAULT_HOST_PROBE_SNAT_ADDRESS,
      4,
    ),
    hostProbeV6SnatAddress: checkAddress(
      'hostProbeV6SnatAddress',
      options.hostProbeV6SnatAddress ?? DEFAULT_HOST_PROBE_V6_SNAT_ADDRESS,
      6,
    ),
    mark: u32('mark', options.mark, INPOD.mark),
    markMask: u32('markMask', options.markMask, INPOD.markMask),
    tproxyMark: u32('tproxyMark', options.tproxyMark, INPOD.tproxyMark),
    tproxyMask: u32('tproxyMask', options.tproxyMask, INPOD.tproxyMask),
    restoreMask: u32('restoreMask', options.restoreMask, INPOD.restoreMask),
    outboundPort: port('outboundPort', options.outboundPort, INPOD.outboundPort),
    inboundPlaintextPort: port(
      'inboundPlaintextPort',
      options.inboundPlaintextPort,
      INPOD.inboundPlaintextPort,
    ),
    inboundPort: port('inboundPort', options.inboundPort, INPOD.inboundPort),
    dnsPort: port('dnsPort', options.dnsPort, INPOD.dnsPort),
    // Table ids 253-255 are default/main/local: routing our catch-all local route there would break the pod.
    routeTable: checkInteger('routeTable', options.routeTable ?? INPOD.routeTable, 1, 252),
    rulePriority: checkInteger('rulePriority', options.rulePriority ?? INPOD.rulePriority, 1, 32765),
  };
}

/**
 * Formats a mark or mask the way istio does (`fmt.Sprintf("0x%x", …)`). Internal to the rule builders.
 *
 * @param value - A non-negative integer.
 * @returns Lower-case hex with a `0x` prefix.
 * @example
 * ```ts
 * hex(1337); // '0x539'
 * ```
 */
export function hex(value: number): string {
  return `0x${value.toString(16)}`;
}
