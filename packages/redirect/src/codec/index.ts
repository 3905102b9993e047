/**
 * `@ambient-kit/redirect/codec`: the pure half of in-pod redirection. Rule text exactly as istio-cni
 * produces it (iptables-restore input, nft transactions, the node's probe SNAT rule), pod annotation
 * overrides, parsing of what the tools print back, socket address structures and the ZDS messages.
 * No `node:` imports, no I/O: the runtime (`@ambient-kit/redirect`) runs the tools and the sockets.
 *
 * @module
 */
export {
  DEFAULT_HOST_PROBE_SNAT_ADDRESS,
  DEFAULT_HOST_PROBE_V6_SNAT_ADDRESS,
  INPOD,
  IPTABLES_CHAINS,
  NFTABLES_NAMES,
  PROBE_SET_NAMES,
} from './constants.js';
export { REDIRECT_ERROR_CODES, RedirectError, type RedirectErrorCode } from './errors.js';
export { buildHostProbeRules, type HostProbeRuleOptions } from './host-probe-rules.js';
export {
  buildInpodIptablesRules,
  type IptablesRuleSet,
  inpodIptablesRuleSet,
} from './inpod-iptables-rules.js';
export { buildInpodNftablesRules, inpodNftablesTables } from './inpod-nftables-rules.js';
export {
  type InpodRuleOptions,
  isValidInterfaceName,
  type ResolvedInpodRuleOptions,
  resolveInpodRuleOptions,
} from './inpod-options.js';
export {
  countInpodIpRules,
  extractIptablesInpodState,
  extractNftablesInpodState,
  findEmptyIptablesNftTables,
  hasInpodLocalRoute,
  type InpodRouting,
  type IptablesInpodState,
  iptablesInpodStatesEqual,
  isIptablesInpodStateEmpty,
  type NftablesInpodState,
  renderIptablesInpodRemoval,
} from './inpod-state.js';
export { canonicalIpAddress, formatIpAddress, type IpAddress, parseIpAddress } from './ip-address.js';
export {
  type IptablesRule,
  type IptablesTable,
  isBuiltInChain,
  mergeIptablesRestore,
  renderIptablesRestore,
} from './iptables-restore.js';
export {
  type NftChain,
  type NftRule,
  type NftTable,
  renderNftDeleteTables,
  renderNftTable,
} from './nft-transaction.js';
export {
  POD_ANNOTATIONS,
  type PodRedirectOverrides,
  podOverridesFromAnnotations,
  resolveRedirectDns,
} from './pod-overrides.js';
export {
  decodeSockaddr,
  encodeSockaddr,
  encodeUnixSockaddr,
  SOCKADDR,
  type SocketAddress,
} from './sockaddr.js';
export {
  decodeZdsAck,
  decodeZdsHello,
  decodeZdsRequest,
  encodeZdsAck,
  encodeZdsHello,
  encodeZdsRequest,
  ZDS_MAX_MESSAGE_BYTES,
  ZDS_VERSION_V1,
  type ZdsRequest,
  type ZdsWorkloadInfo,
} from './zds-messages.js';
