/**
 * The numbers istio-cni and ztunnel agree on (from
 * istio/istio@86c9f01f:cni/pkg/config/config.go and istio/ztunnel@62d82653:src/config.rs). Changing any of
 * them breaks interoperability with a stock ztunnel, so they are defaults, never guesses.
 */

/**
 * Marks, masks, ports, chain and table names of Istio ambient's in-pod redirection.
 *
 * @example
 * ```ts
 * socket.setMark(INPOD.mark); // 1337 = 0x539, ztunnel's DEFAULT_INPOD_MARK
 * ```
 */
export const INPOD = {
  /** `InpodMark`: every socket ztunnel opens in a pod carries it (ztunnel `DEFAULT_INPOD_MARK`). */
  mark: 1337,
  /** `InpodMask`. */
  markMask: 0xfff,
  /** `InpodTProxyMark`: connmark set on connections ztunnel originates, restored on the app's replies. */
  tproxyMark: 0x111,
  /** `InpodTProxyMask`. */
  tproxyMask: 0xfff,
  /** `InpodRestoreMask`: `--nfmask`/`--ctmask` of the restore-mark rule. */
  restoreMask: 0xffffffff,
  /** `RouteTableInbound`: the table holding `local 0.0.0.0/0 dev lo`. */
  routeTable: 100,
  /** Priority of the `fwmark 0x111/0xfff lookup 100` policy rule (iptables_linux.go). */
  rulePriority: 32764,
  /** `ZtunnelOutboundPort`. */
  outboundPort: 15001,
  /** `ZtunnelInboundPlaintextPort`. */
  inboundPlaintextPort: 15006,
  /** `ZtunnelInboundPort` (HBONE): never redirected. */
  inboundPort: 15008,
  /** `DNSCapturePort`. */
  dnsPort: 15053,
} as const;

/**
 * The default source address the node's probe SNAT rule gives kubelet probes (`HOST_PROBE_SNAT_IP`,
 * istio cni/README.md).
 *
 * @example
 * ```ts
 * buildHostProbeRules({ backend: 'iptables', hostProbeSnatAddress: DEFAULT_HOST_PROBE_SNAT_ADDRESS });
 * ```
 */
export const DEFAULT_HOST_PROBE_SNAT_ADDRESS = '169.254.7.127';

/**
 * The IPv6 counterpart of {@link DEFAULT_HOST_PROBE_SNAT_ADDRESS} (`HOST_PROBE_SNAT_IPV6`).
 *
 * @example
 * ```ts
 * buildInpodNftablesRules({ enableIpv6: true, hostProbeV6SnatAddress: DEFAULT_HOST_PROBE_V6_SNAT_ADDRESS });
 * ```
 */
export const DEFAULT_HOST_PROBE_V6_SNAT_ADDRESS = 'fd16:9254:7127:1337:ffff:ffff:ffff:ffff';

/**
 * iptables chain names (istio/istio@86c9f01f:cni/pkg/iptables/iptables.go:36-40).
 *
 * @example
 * ```ts
 * saveText.includes(`:${IPTABLES_CHAINS.inpodOutput} `);
 * ```
 */
export const IPTABLES_CHAINS = {
  inpodOutput: 'ISTIO_OUTPUT',
  inpodPrerouting: 'ISTIO_PRERT',
  hostPostrouting: 'ISTIO_POSTRT',
} as const;

/**
 * nftables table and chain names, all in the `inet` family
 * (istio/istio@86c9f01f:cni/pkg/nftables/nftables.go:36-51).
 *
 * @example
 * ```ts
 * `nft list table inet ${NFTABLES_NAMES.natTable}`;
 * ```
 */
export const NFTABLES_NAMES = {
  natTable: 'istio-ambient-nat',
  mangleTable: 'istio-ambient-mangle',
  rawTable: 'istio-ambient-raw',
  prerouting: 'prerouting',
  postrouting: 'postrouting',
  output: 'output',
  istioOutput: 'istio-output',
  istioPrerouting: 'istio-prerouting',
} as const;

/**
 * The ipset (iptables) / nftables set the node agent fills with enrolled pod IPs, matched by the
 * host probe SNAT rule (istio/istio@86c9f01f:cni/pkg/ipset/ipset.go:31-32).
 *
 * @example
 * ```ts
 * `ipset add ${PROBE_SET_NAMES.ipv4} 10.0.0.5`;
 * ```
 */
export const PROBE_SET_NAMES = {
  ipv4: 'istio-inpod-probes-v4',
  ipv6: 'istio-inpod-probes-v6',
} as const;
