/**
 * `@ambient-kit/redirect`: Istio ambient's in-pod traffic redirection for Node, both halves.
 *
 * - The node agent's half (istio-cni): install, inspect and remove the iptables or nftables rules, policy
 *   rule and route inside a pod's network namespace (`applyInpodRedirect`, `inspectInpodRedirect`,
 *   `removeInpodRedirect`), and talk ZDS to the proxy.
 * - The proxy's half (ztunnel): open listeners and UDP sockets inside a pod's namespace from outside it
 *   (`listenInNetns`, `bindUdpInNetns`), read where a redirected connection was going
 *   (`originalDestination`), connect with ztunnel's mark and the client's address (`connectMarked`), and
 *   talk ZDS to the node agent, reconnecting as ztunnel does (`runZdsProxy`).
 *
 * Linux only; needs root (CAP_NET_ADMIN, CAP_SYS_ADMIN, CAP_NET_RAW). The rule text itself is in the pure
 * `@ambient-kit/redirect/codec`, re-exported here.
 *
 * @module
 */
export * from './codec/index.js';
export { type ConnectMarkedOptions, checkMark, connectInNetns, connectMarked } from './connect-marked.js';
export {
  type ApplyInpodRedirectResult,
  applyInpodRedirect,
  type InpodRedirectInspection,
  type InpodRedirectOptions,
  type InpodRedirectTarget,
  inspectInpodRedirect,
  type RemoveInpodRedirectOptions,
  removeInpodRedirect,
} from './inpod-redirect.js';
export type { InpodComponent, InpodComponentState } from './inpod-state-reader.js';
export {
  detectIptablesVariant,
  type IptablesTools,
  type IptablesVariant,
  iptablesTools,
} from './iptables-variant.js';
export { type ListenInNetnsOptions, listenInNetns } from './listen-in-netns.js';
export {
  adoptNetnsFd,
  createScratchNetns,
  isSameNetns,
  type NetnsHandle,
  type NetnsRef,
  openNetns,
  resolveNetnsPath,
  runInNetns,
} from './netns.js';
export { type OriginalDestination, originalDestination, socketFd } from './original-destination.js';
export { type RunToolOptions, resolveTool, runTool, type ToolPaths, type ToolResult } from './run-tool.js';
export { type BindUdpInNetnsOptions, bindUdpInNetns } from './udp-in-netns.js';
export {
  createZdsNodeAgent,
  DEFAULT_ZDS_PATH,
  type ZdsNodeAgent,
  type ZdsNodeAgentEvent,
  type ZdsNodeAgentOptions,
  type ZdsPod,
} from './zds-node-agent.js';
export {
  connectZdsProxy,
  type ZdsAddedWorkload,
  type ZdsProxyConnection,
  type ZdsProxyHandlers,
  type ZdsProxyOptions,
} from './zds-proxy.js';
export {
  type RunZdsProxyOptions,
  runZdsProxy,
  type ZdsProxyRunner,
  type ZdsProxyRunnerEvent,
} from './zds-proxy-runner.js';
