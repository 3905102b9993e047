/**
 * The example ztunnel's configuration: where workload state and certificates come from, which mode it
 * runs in, and the ports of ztunnel's listeners, each overridable so several ztunnels can
 * share one machine.
 * @module
 */
import type { BundleSource } from '@ambient-kit/spiffe';
import type { WorkloadStore } from '@ambient-kit/workload-api';
import type { XdsTlsOptions } from '@ambient-kit/workload-api/xds';
import type { AccessLogEntry } from './access-log.js';
import type { CaClient } from './certificates.js';
import type { ZtunnelLogger } from './logger.js';
import type { DnsUpstream } from './resolv-conf.js';

/**
 * ztunnel's listener ports (`istio/ztunnel@62d82653:ARCHITECTURE.md` "Ports", `istio/ztunnel@62d82653:src/config.rs` L95-100). `0` asks the kernel for a
 * free port (node-level listeners only).
 */
export interface ZtunnelPorts {
  /** Admin (`/config_dump`). ztunnel: 15000, localhost only. */
  readonly admin: number;
  /** Prometheus metrics (`/metrics`, `/stats/prometheus`). ztunnel: 15020. */
  readonly metrics: number;
  /** Readiness (`/healthz/ready`). ztunnel: 15021. */
  readonly readiness: number;
  /** SOCKS5 outbound (`UNSTABLE_ENABLE_SOCKS5`). ztunnel: 15080, localhost only. */
  readonly socks5: number;
  /** Inbound HBONE on each pod IP. ztunnel: 15008. Peers dial it, so it is the mesh-wide HBONE port. */
  readonly inbound: number;
  /** In-pod outbound capture. ztunnel: 15001. */
  readonly outbound: number;
  /** In-pod inbound plaintext capture. ztunnel: 15006. */
  readonly inboundPlaintext: number;
}

/**
 * ztunnel's own port numbers.
 *
 * @example
 * ```ts
 * ZTUNNEL_PORTS.inbound; // 15008
 * ```
 */
export const ZTUNNEL_PORTS: ZtunnelPorts = Object.freeze({
  admin: 15000,
  metrics: 15020,
  readiness: 15021,
  socks5: 15080,
  inbound: 15008,
  outbound: 15001,
  inboundPlaintext: 15006,
});

/**
 * How the ztunnel reaches its workloads.
 *
 * - `loopback`: no root. Every local workload's IP is an address of this host (on Linux all of 127/8 is);
 *   the ztunnel binds its inbound HBONE listener on `podIP:15008` and apps send outbound traffic through
 *   the SOCKS5 listener, binding their pod IP as the source so the ztunnel knows who they are.
 * - `inpod`: root, istio-cni style. Pods are handed over with {@link Ztunnel.addInpodWorkload} (or ZDS) with
 *   their network namespace; the ztunnel opens 15001 (outbound, `SO_ORIGINAL_DST`), 15006 (inbound
 *   plaintext) and 15008 (inbound HBONE) inside it with `@ambient-kit/redirect`, next to the redirection
 *   rules, and makes the pod's upstream connections (HBONE and plain TCP) from inside it, marked 0x539.
 */
export type ZtunnelMode = 'loopback' | 'inpod';

/** Where the ztunnel's workload state comes from: its own xDS client, or a store someone else feeds. */
export type WorkloadSource =
  | {
      /** The xDS server (`XDS_ADDRESS`), `host:port`: istiod's 15012 with `tls`, else plaintext (15010). */
      readonly xdsAddress: string;
      /**
       * TLS to the xDS server, its roots re-read on every connect (ztunnel `XDS_ROOT_CA`, `ALT_XDS_HOSTNAME`;
       * `xdsTlsCredentials` of `@ambient-kit/workload-api/xds`). Default: plaintext.
       */
      readonly tls?: XdsTlsOptions;
      /**
       * The bearer token file, read on every connect and sent verbatim (ztunnel `AUTH_TOKEN`, default
       * `./var/run/secrets/tokens/istio-token`), with `clusterid: <clusterId>`. Default: no token.
       */
      readonly tokenFile?: string;
      /** A literal bearer token instead of `tokenFile` (ztunnel `AUTH_TOKEN` naming no file). */
      readonly token?: string;
    }
  | {
      /** A store fed directly (a local config file, tests). */
      readonly store: WorkloadStore;
    };

/** Options of {@link createZtunnel}. */
export interface ZtunnelConfig {
  /** The node this ztunnel serves (`NODE_NAME`): workloads whose `node` is this name are local. */
  readonly nodeName: string;
  /** Workload state: an xDS server, or a store. */
  readonly workloads: WorkloadSource;
  /** The CA that signs our local workloads' CSRs (istiod's `IstioCertificateService`). */
  readonly ca: CaClient;
  /** Trust bundles for verifying peers. */
  readonly bundles: BundleSource;
  /** Default `loopback`. */
  readonly mode?: ZtunnelMode;
  /** Address for the node-level listeners (admin, metrics, readiness, SOCKS5). Default `127.0.0.1`. */
  readonly nodeAddress?: string;
  /** Listener ports; each defaults to {@link ZTUNNEL_PORTS}. */
  readonly ports?: Partial<ZtunnelPorts>;
  /** Run the SOCKS5 listener. Default `true` in `loopback` mode (the only way in there), `false` in `inpod`. */
  readonly socks5?: boolean;
  /** This ztunnel's network (`NETWORK`). Default `""`. */
  readonly network?: string;
  /**
   * This ztunnel's cluster (`ISTIO_META_CLUSTER_ID`, else `CLUSTER_ID`), for `baggage` and the `clusterid`
   * header sent to xDS with a token. Default `Kubernetes`.
   */
  readonly clusterId?: string;
  /**
   * Connect to local apps from the client's own IP (ztunnel `ENABLE_ORIG_SRC`). In `loopback` mode every pod IP is
   * local, so a plain bind does it; in `inpod` mode it is a transparent, freebind socket that needs the redirection's
   * route. Default `false` in `loopback` mode; `true` in `inpod` mode, where ztunnel preserves the source whenever
   * its listeners can be made transparent (`istio/ztunnel@62d82653:src/proxy/inbound.rs`, `maybe_set_transparent`).
   */
  readonly preserveSourceIp?: boolean;
  /**
   * In-pod mode: take pods from the node agent (istio-cni) over ZDS at this socket path (ztunnel `INPOD_UDS`,
   * `/var/run/ztunnel/ztunnel.sock`), reconnecting whenever the connection drops. Default: no ZDS (pods only
   * through {@link Ztunnel.addInpodWorkload}).
   */
  readonly zdsPath?: string;
  /**
   * In-pod mode: run the DNS proxy on `localhost:15053` in every pod (ztunnel `DNS_CAPTURE`, istio-cni's
   * `ambient.dnsCapture`). Default `true`.
   */
  readonly dnsCapture?: boolean;
  /** Where names the mesh does not know are forwarded. Default: the `nameserver`s of the node's `/etc/resolv.conf`. */
  readonly dnsUpstreams?: readonly DnsUpstream[];
  /** Per upstream DNS attempt. Default 5000 ms. */
  readonly dnsUpstreamTimeoutMs?: number;
  /** The cluster's DNS domain. Default `cluster.local`. */
  readonly clusterDomain?: string;
  /**
   * How long a drain lets connections finish before they are closed (ztunnel `CONNECTION_TERMINATION_DEADLINE`,
   * default 5 s).
   */
  readonly drainDeadlineMs?: number;
  /** SVID lifetime requested from the CA. Default 24 h (`SECRET_TTL`). */
  readonly certificateTtlMs?: number;
  /** TCP connect timeout for upstreams. Default 10 s (`CONNECTION_TIMEOUT`). */
  readonly connectTimeoutMs?: number;
  /** Access log sink: `false` turns it off. Default: the formatted line on stdout, as ztunnel prints it. */
  readonly accessLog?: ((entry: AccessLogEntry) => void) | false;
  /** Operational log sink. Default: ztunnel-style lines on stdout (info and above). */
  readonly logger?: ZtunnelLogger;
  /** Name in the xDS node id and `/config_dump` (`POD_NAME`). Default `ztunnel-<nodeName>`. */
  readonly podName?: string;
  /** Called on `POST /quitquitquit` at the admin port. Default: nothing (the route answers 200). */
  readonly onQuit?: () => void;
}

/** {@link ZtunnelConfig} with every default applied. */
export interface ResolvedZtunnelConfig
  extends Required<
    Omit<ZtunnelConfig, 'accessLog' | 'logger' | 'onQuit' | 'ports' | 'zdsPath' | 'dnsUpstreams'>
  > {
  readonly ports: ZtunnelPorts;
  readonly zdsPath: string | undefined;
  /** `undefined`: read the node's `/etc/resolv.conf` when the first pod needs it. */
  readonly dnsUpstreams: readonly DnsUpstream[] | undefined;
  readonly accessLog: ((entry: AccessLogEntry) => void) | false | undefined;
  readonly logger: ZtunnelLogger | undefined;
  readonly onQuit: (() => void) | undefined;
}

function port(name: string, value: number): number {
  if (!Number.isInteger(value) || value < 0 || value > 65535) {
    throw new RangeError(`createZtunnel: "ports.${name}" must be an integer in 0..65535, got ${value}`);
  }
  return value;
}

/**
 * Applies the defaults and checks the options.
 *
 * @param config - The user's options.
 * @returns The complete configuration.
 * @throws {RangeError} When a port or duration is out of range.
 * @throws {TypeError} When `nodeName` is empty.
 * @example
 * ```ts
 * const resolved = resolveZtunnelConfig({ nodeName: 'node-a', workloads: { store }, ca, bundles });
 * resolved.ports.inbound; // 15008
 * ```
 */
export function resolveZtunnelConfig(config: ZtunnelConfig): ResolvedZtunnelConfig {
  if (typeof config.nodeName !== 'string' || config.nodeName === '') {
    throw new TypeError('createZtunnel: "nodeName" must be a non-empty string');
  }
  const ports = { ...ZTUNNEL_PORTS, ...config.ports };
  for (const [name, value] of Object.entries(ports)) port(name, value);
  if (ports.inbound === 0) throw new RangeError('createZtunnel: "ports.inbound" cannot be 0: peers dial it');
  const mode = config.mode ?? 'loopback';
  const positive = (name: string, value: number | undefined, fallback: number): number => {
    if (value === undefined) return fallback;
    if (!Number.isFinite(value) || value <= 0) {
      throw new RangeError(`createZtunnel: "${name}" must be a positive number, got ${value}`);
    }
    return value;
  };
  return {
    nodeName: config.nodeName,
    workloads: config.workloads,
    ca: config.ca,
    bundles: config.bundles,
    mode,
    nodeAddress: config.nodeAddress ?? '127.0.0.1',
    ports,
    socks5: config.socks5 ?? mode === 'loopback',
    network: config.network ?? '',
    clusterId: config.clusterId ?? 'Kubernetes',
    preserveSourceIp: config.preserveSourceIp ?? mode === 'inpod',
    zdsPath: config.zdsPath,
    dnsCapture: config.dnsCapture ?? true,
    dnsUpstreams: config.dnsUpstreams,
    dnsUpstreamTimeoutMs: positive('dnsUpstreamTimeoutMs', config.dnsUpstreamTimeoutMs, 5000),
    clusterDomain: config.clusterDomain ?? 'cluster.local',
    drainDeadlineMs: positive('drainDeadlineMs', config.drainDeadlineMs, 5000),
    certificateTtlMs: positive('certificateTtlMs', config.certificateTtlMs, 24 * 3600_000),
    connectTimeoutMs: positive('connectTimeoutMs', config.connectTimeoutMs, 10_000),
    accessLog: config.accessLog,
    logger: config.logger,
    podName: config.podName ?? `ztunnel-${config.nodeName}`,
    onQuit: config.onQuit,
  };
}
