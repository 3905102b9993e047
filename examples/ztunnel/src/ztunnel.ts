/**
 * `createZtunnel(config)`: a node proxy assembled from the ambient-kit packages, doing what ztunnel does
 * on a node: workload state from xDS (`@ambient-kit/workload-api`), a certificate per local identity from
 * a CA (`@ambient-kit/spiffe`), inbound HBONE with L4 policy and outbound HBONE with a pooled client
 * (`@ambient-kit/hbone`, `@ambient-kit/authz`), in-pod listeners (`@ambient-kit/redirect`), plus ztunnel's
 * metrics, access log, `/config_dump` and readiness.
 * @module
 */
import { X509Certificate } from 'node:crypto';
import diagnosticsChannel from 'node:diagnostics_channel';
import { readFile } from 'node:fs/promises';
import net from 'node:net';
import {
  createHboneClient,
  HBONE_CHANNELS,
  HBONE_DEFAULTS,
  type HboneStreamFailedEvent,
} from '@ambient-kit/hbone';
import type { NetnsHandle, NetnsRef } from '@ambient-kit/redirect';
import {
  type ConfigDump,
  configDump,
  createWorkloadStore,
  formatSocketAddress,
  type JsonObject,
  type Workload,
  type WorkloadStore,
} from '@ambient-kit/workload-api';
import {
  createXdsClient,
  type XdsClient,
  xdsTlsCredentials,
  xdsTlsServerName,
  ztunnelNode,
} from '@ambient-kit/workload-api/xds';
import { type AccessLogEntry, accessLogRecord } from './access-log.js';
import { type CaClient, createCertificateManager } from './certificates.js';
import { type ResolvedZtunnelConfig, resolveZtunnelConfig, type ZtunnelConfig } from './config.js';
import { logEarlyFailure } from './connection-result.js';
import { dialTcp } from './dial.js';
import { hboneClientsByIdentity } from './hbone-clients.js';
import {
  type InboundContext,
  type InboundServer,
  startInboundServer,
  type TrackedConnection,
} from './inbound.js';
import { type InpodContext, type InpodListeners, startInpodListeners, waitForSockets } from './inpod.js';
import { type InpodZds, startInpodZds } from './inpod-zds.js';
import { type LogLevel, type LogValue, nowMs, streamLogger } from './logger.js';
import { resolveHostname } from './mesh-dns.js';
import { createZtunnelMetrics, type ZtunnelMetrics } from './metrics.js';
import type { OutboundContext } from './outbound.js';
import { assertRbac } from './rbac.js';
import { type DnsUpstream, MAX_RESOLV_CONF_BYTES, parseResolvConf } from './resolv-conf.js';
import { createAdminServer } from './servers/admin-server.js';
import { closeServer, listen } from './servers/listen.js';
import { createMetricsServer } from './servers/metrics-server.js';
import { createReadinessServer } from './servers/readiness-server.js';
import { serveSocks5 } from './socks5-server.js';

/**
 * The example's version, reported in `istio_build` and `/config_dump`.
 *
 * @example
 * ```ts
 * ZTUNNEL_EXAMPLE_VERSION; // '0.1.0'
 * ```
 */
export const ZTUNNEL_EXAMPLE_VERSION = '0.1.0';

/** The node-level listeners' bound addresses, `ip:port`. */
export interface ZtunnelAddresses {
  readonly admin: string;
  readonly metrics: string;
  readonly readiness: string;
  /** Absent when SOCKS5 is off. */
  readonly socks5?: string;
}

/** A running example ztunnel. */
export interface Ztunnel {
  /** The node it serves. */
  readonly nodeName: string;
  /** Its view of the mesh (fed by its xDS client, or the store it was given). */
  readonly store: WorkloadStore;
  /** Its metrics (prom-client registry in `metrics.registry`). */
  readonly metrics: ZtunnelMetrics;
  /**
   * Binds the node-level listeners, connects to xDS and starts serving local workloads.
   *
   * @returns The bound addresses.
   * @throws When a listener cannot be bound.
   */
  start(): Promise<ZtunnelAddresses>;
  /**
   * Waits until nothing is pending (xDS synced, local certificates issued, inbound listeners up).
   *
   * @param options - `timeoutMs`, default 10 s; `zds: false` leaves the node agent's snapshot and the pods it
   *   sent out of it (for callers that serve pods themselves).
   * @throws {Error} On timeout, naming what is still pending.
   */
  ready(options?: { readonly timeoutMs?: number; readonly zds?: boolean }): Promise<void>;
  /** What readiness still waits for (empty when ready). */
  pending(): readonly string[];
  /** The node-level listeners' addresses (after `start()`). */
  addresses(): ZtunnelAddresses;
  /** The inbound HBONE listeners by workload uid, `podIP:15008` (loopback mode's and in-pod ones). */
  inboundAddresses(): ReadonlyMap<string, string>;
  /** The `/config_dump` document. */
  configDump(): ConfigDump;
  /**
   * In-pod mode: start serving a pod (ZDS `AddWorkload`): opens 15001, 15006 and 15008 in its namespace, and
   * dials its outbound upstreams (HBONE and plain TCP) from inside it, marked 0x539.
   *
   * @param uid - The workload uid in the store.
   * @param netns - The pod's network namespace; a handle passed here is closed on removal.
   * @throws {Error} When the workload is unknown or the listeners cannot be opened.
   */
  addInpodWorkload(uid: string, netns: NetnsRef): Promise<void>;
  /** In-pod mode: stop serving a pod (ZDS `DelWorkload`). */
  removeInpodWorkload(uid: string): Promise<void>;
  /** In-pod mode: the workloads served in pods, by workload uid, with their namespace (path or label). */
  inpodWorkloads(): ReadonlyMap<string, { readonly netns: string; readonly dns: readonly string[] }>;
  /**
   * In-pod mode with ZDS: waits until the node agent's snapshot arrived on the current connection.
   *
   * @throws {RedirectError} On timeout (default 10 s), or without ZDS.
   */
  zdsSynced(options?: { readonly timeoutMs?: number }): Promise<void>;
  /**
   * Drains as ztunnel does on SIGTERM (`istio/ztunnel@62d82653:src/drain.rs` `run_with_drain`): stops taking pods from ZDS and
   * accepting connections on every listener, sends GOAWAY on inbound HBONE connections, lets connections in
   * flight finish for up to `deadlineMs` (default `drainDeadlineMs`, 5 s), then closes what is left. Each step
   * is logged. Call {@link close} afterwards.
   *
   * @returns How many connections were still open at the deadline (and were closed).
   */
  drain(options?: { readonly deadlineMs?: number }): Promise<{ readonly forced: number }>;
  /** Stops every listener, the xDS client and certificate rotation. */
  close(): Promise<void>;
}

// Refusals the hbone server makes before our authorize hook runs: ztunnel logs those with log_early_deny.
const PRE_POLICY_CODES = new Set([
  'HBONE_ERR_NOT_CONNECT',
  'HBONE_ERR_BAD_REQUEST',
  'HBONE_ERR_BAD_AUTHORITY',
  'HBONE_ERR_IP_MISMATCH',
  'HBONE_ERR_ILLEGAL_PORT',
]);

/** The leaf's notAfter, RFC 3339, or `unknown` when the chain does not parse (the manager says why). */
function leafExpiry(chain: readonly string[]): string {
  try {
    return new Date(new X509Certificate(chain[0] ?? '').validTo).toISOString();
  } catch {
    return 'unknown';
  }
}

/**
 * Creates an example ztunnel. Nothing runs until `start()`.
 *
 * @param config - Node name, workload source, CA, trust bundles, mode and ports.
 * @returns The ztunnel.
 * @throws {RangeError} When a port or duration is out of range.
 * @throws {TypeError} When `nodeName` is empty.
 * @example
 * ```ts
 * const ca = await createCertificateAuthority({ trustDomain: 'cluster.local' });
 * const ztunnel = createZtunnel({
 *   nodeName: 'node-a',
 *   workloads: { xdsAddress: '127.0.0.1:15010' },
 *   ca: caClientFromAuthority(ca),
 *   bundles: createBundleSet([ca.bundle]),
 *   nodeAddress: '127.0.1.1',
 * });
 * await ztunnel.start();
 * await ztunnel.ready();
 * ```
 */
export function createZtunnel(config: ZtunnelConfig): Ztunnel {
  const cfg: ResolvedZtunnelConfig = resolveZtunnelConfig(config);
  const store = 'store' in cfg.workloads ? cfg.workloads.store : createWorkloadStore();
  const metrics = createZtunnelMetrics({ version: ZTUNNEL_EXAMPLE_VERSION });
  const logger = cfg.logger ?? streamLogger();
  const log = (
    level: LogLevel,
    target: string,
    message: string,
    fields: [string, LogValue | undefined][] = [],
  ) => logger({ timeMs: nowMs(), level, target, message, fields });
  const emit = (entry: AccessLogEntry): void => {
    if (cfg.accessLog === false) return;
    if (cfg.accessLog === undefined) logger(accessLogRecord(entry));
    else cfg.accessLog(entry);
  };
  // Every CA request that fails is a warning with the reason, and so is the first one that works again
  // (ztunnel warns on each failed certificate fetch and retries with backoff: istio/ztunnel@62d82653:src/identity/manager.rs L403).
  let caFailures = 0;
  const ca: CaClient = {
    async sign(csrPem, identity, ttlMs) {
      try {
        const chain = await cfg.ca.sign(csrPem, identity, ttlMs);
        // Each certificate request is logged with what came back (istio/ztunnel@62d82653:src/identity/manager.rs
        // logs the fetch at debug; the example says it at info, since the CA is what a user sets up first).
        log('info', 'identity', 'certificate issued', [
          ['identity', identity],
          ['expires', { display: leafExpiry(chain) }],
        ]);
        if (caFailures > 0) {
          log('warn', 'identity', 'CA request succeeded again', [
            ['identity', identity],
            ['after_failures', caFailures],
          ]);
          caFailures = 0;
        }
        return chain;
      } catch (error) {
        caFailures++;
        log('warn', 'identity', 'CA request failed', [
          ['identity', identity],
          ['error', (error as Error).message],
        ]);
        throw error;
      }
    },
  };
  const certs = createCertificateManager({
    ca,
    ttlMs: cfg.certificateTtlMs,
    onError: (identity, error) =>
      log('warn', 'identity', 'certificate refresh failed', [
        ['identity', identity],
        ['error', error.message],
      ]),
  });
  const illegalPorts = [
    cfg.ports.outbound,
    cfg.ports.inboundPlaintext,
    cfg.ports.inbound,
    ...(cfg.socks5 ? [cfg.ports.socks5] : []),
  ];
  const tracked = new Set<TrackedConnection>();
  const clients = hboneClientsByIdentity(async (identity) =>
    createHboneClient({
      svid: await certs.source(identity),
      bundles: cfg.bundles,
      connectTimeoutMs: cfg.connectTimeoutMs,
    }),
  );
  const inbound = new Map<string, InboundServer>();
  const starting = new Set<string>();
  /** Inbound listeners that could not be opened (an address in use), by workload uid: the error. */
  const failedListeners = new Map<string, string>();
  const inpod = new Map<string, { listeners: InpodListeners; netns: NetnsRef }>();
  const servers: net.Server[] = [];
  /** Downstream connections in flight (SOCKS5, in-pod 15001/15006), for a drain to wait on. */
  const downstream = new Set<net.Socket>();
  let zds: InpodZds | undefined;
  let draining = false;
  let dnsUpstreams: Promise<readonly DnsUpstream[]> | undefined;
  let xds: XdsClient | undefined;
  let xdsReady = 'store' in cfg.workloads;
  let addresses: ZtunnelAddresses | undefined;
  let closed = false;
  let reconciling: Promise<void> = Promise.resolve();
  const unsubscribe: (() => void)[] = [];

  const outboundCtx: OutboundContext = {
    store,
    metrics,
    emit,
    network: cfg.network,
    illegalPorts,
    bindSourceIp: cfg.mode === 'loopback',
    dialTcp: (host, port) => dialTcp({ host, port, timeoutMs: cfg.connectTimeoutMs }),
    hboneClient: (source) => clients.get(source.identity),
  };
  const inboundCtx: InboundContext = {
    store,
    metrics,
    emit,
    bundles: cfg.bundles,
    tracked,
    illegalPorts,
    dialApp: (target, client, signal) =>
      dialTcp({
        host: target.ip,
        port: target.port,
        timeoutMs: cfg.connectTimeoutMs,
        signal,
        ...(cfg.preserveSourceIp ? { localAddress: client.ip } : {}),
      }),
  };

  // A local workload this ztunnel proxies inbound for. `nativeTunnel` workloads (a waypoint) terminate HBONE
  // themselves: "requests to this workload ... do not need to be de-tunneled" (workload.proto field 14).
  const isLocal = (w: Workload): boolean =>
    w.node === cfg.nodeName &&
    w.protocol === 'HBONE' &&
    !w.nativeTunnel &&
    w.networkMode !== 'HostNetwork' &&
    w.workloadIps.length > 0;

  /** Loopback mode: one inbound HBONE listener per local workload, following the store. */
  async function reconcileInbound(): Promise<void> {
    if (cfg.mode !== 'loopback' || closed) return;
    const desired = new Map<string, Workload>();
    for (const w of store.workloads()) if (isLocal(w)) desired.set(w.uid, w);
    for (const uid of failedListeners.keys()) if (!desired.has(uid)) failedListeners.delete(uid);
    for (const [uid, server] of inbound) {
      const want = desired.get(uid);
      const same =
        want !== undefined &&
        want.identity === server.workload.identity &&
        want.workloadIps[0] === server.workload.workloadIps[0];
      if (!same) {
        inbound.delete(uid);
        await server.close();
        log('info', 'inbound', 'listener stopped', [['workload', uid]]);
      }
    }
    await Promise.all(
      [...desired.values()]
        .filter((w) => !inbound.has(w.uid))
        .map(async (w) => {
          starting.add(w.uid);
          try {
            const svid = await certs.source(w.identity);
            if (closed) return;
            const server = await startInboundServer(inboundCtx, w, svid, cfg.ports.inbound);
            inbound.set(w.uid, server);
            failedListeners.delete(w.uid);
            log('info', 'inbound', 'listener established', [
              ['address', { display: server.address }],
              ['workload', w.uid],
              ['identity', w.identity],
            ]);
          } catch (error) {
            failedListeners.set(w.uid, (error as Error).message);
            log('error', 'inbound', 'listener failed', [
              ['workload', w.uid],
              ['error', (error as Error).message],
            ]);
          } finally {
            starting.delete(w.uid);
          }
        }),
    );
    // Identities no local workload uses any more stop rotating.
    const used = new Set(
      [...desired.values(), ...[...inpod.values()].map((p) => p.listeners.workload)].map((w) => w.identity),
    );
    for (const identity of certs.identities()) {
      if (used.has(identity)) continue;
      certs.forget(identity);
      void clients.close(identity);
    }
  }

  /** ztunnel's connection manager: re-check live inbound connections after a policy change. */
  function recheckPolicies(): void {
    for (const t of tracked) {
      const w = store.workload(t.workloadUid);
      const decision = w === undefined ? { allow: false } : assertRbac(store, w, t.conn);
      if (!decision.allow) t.reject({ error: 'connection closed due to policy change', flag: 'DENY' });
    }
  }

  function onHboneFailure(message: unknown): void {
    const event = message as HboneStreamFailedEvent;
    if (event.direction !== 'inbound' || !PRE_POLICY_CODES.has(event.error.code)) return;
    const ours = [...inboundServers()].some((s) => s.address === event.destinationAddress);
    if (!ours) return;
    logEarlyFailure(emit, {
      src: event.sourceAddress ?? 'unknown',
      dst: event.destinationAddress ?? 'unknown',
      direction: 'inbound',
      error: event.error.message,
    });
  }

  /** Every inbound HBONE server: loopback mode's, and each in-pod workload's own. */
  function* inboundServers(): Iterable<InboundServer> {
    yield* inbound.values();
    for (const pod of inpod.values()) yield pod.listeners.inbound;
  }

  function pending(): string[] {
    const out: string[] = [];
    if (!xdsReady) out.push('xds');
    for (const id of certs.pending()) out.push(`certificate ${id}`);
    for (const uid of starting) out.push(`inbound ${uid}`);
    for (const uid of failedListeners.keys()) if (!starting.has(uid)) out.push(`inbound ${uid} (failed)`);
    if (zds !== undefined) out.push(...zds.pending());
    return out;
  }

  /** The DNS proxy's upstreams: configured, else the node's `/etc/resolv.conf` (read once, as ztunnel does). */
  function upstreamsOf(): Promise<readonly DnsUpstream[]> {
    if (cfg.dnsUpstreams !== undefined) return Promise.resolve(cfg.dnsUpstreams);
    dnsUpstreams ??= readFile('/etc/resolv.conf', 'utf8').then(
      (text) => {
        const found = parseResolvConf(text.slice(0, MAX_RESOLV_CONF_BYTES));
        if (found.length === 0)
          log('warn', 'dns', 'no nameserver in /etc/resolv.conf: names outside the mesh will fail');
        return found;
      },
      (error: unknown) => {
        log('warn', 'dns', 'cannot read /etc/resolv.conf: names outside the mesh will fail', [
          ['error', (error as Error).message],
        ]);
        return [];
      },
    );
    return dnsUpstreams;
  }

  function inpodContext(): InpodContext {
    return {
      outbound: outboundCtx,
      inbound: inboundCtx,
      store,
      metrics,
      emit,
      tracked,
      ports: cfg.ports,
      preserveSourceIp: cfg.preserveSourceIp,
      connectTimeoutMs: cfg.connectTimeoutMs,
      svid: (identity) => certs.source(identity),
      bundles: cfg.bundles,
      dns: cfg.dnsCapture
        ? {
            upstreams: upstreamsOf,
            timeoutMs: cfg.dnsUpstreamTimeoutMs,
            clusterDomain: cfg.clusterDomain,
            log: (level, message, fields) => log(level, 'dns', message, fields),
          }
        : undefined,
      downstream,
    };
  }

  function dump(): ConfigDump {
    const state: JsonObject = {};
    for (const [uid, pod] of inpod) {
      state[uid] = {
        state: 'Up',
        info: { name: pod.listeners.workload.name, namespace: pod.listeners.workload.namespace },
      };
    }
    // Pods the node agent sent that could not start yet (istio/ztunnel@62d82653:src/inpod/admin.rs `Pending`).
    for (const [podUid, p] of zds?.pods() ?? []) {
      if (p.pending !== undefined) state[podUid] = { state: 'Pending', error: p.pending };
    }
    // In-pod mode adds ztunnel's `workloadState` handler section (istio/ztunnel@62d82653:src/inpod/admin.rs).
    const extra: JsonObject = cfg.mode === 'inpod' ? { workloadState: state } : {};
    return configDump(store, {
      certificates: certs.dump() as unknown as JsonObject[],
      version: {
        version: ZTUNNEL_EXAMPLE_VERSION,
        gitRevision: 'unknown',
        rustVersion: `node ${process.version}`,
        buildProfile: 'example',
        buildStatus: 'Modified',
        istioVersion: 'unknown',
        cryptoProvider: 'openssl',
      },
      config: {
        nodeName: cfg.nodeName,
        proxyMode: 'Shared',
        inpodEnabled: cfg.mode === 'inpod',
        network: cfg.network,
        clusterId: cfg.clusterId,
        xdsAddress: 'xdsAddress' in cfg.workloads ? cfg.workloads.xdsAddress : null,
        adminAddr: addresses?.admin ?? null,
        statsAddr: addresses?.metrics ?? null,
        readinessAddr: addresses?.readiness ?? null,
        socks5Addr: addresses?.socks5 ?? null,
        inboundAddr: `[::]:${cfg.ports.inbound}`,
        outboundAddr: `[::]:${cfg.ports.outbound}`,
        inboundPlaintextAddr: `[::]:${cfg.ports.inboundPlaintext}`,
        illegalPorts: illegalPorts,
        windowSize: HBONE_DEFAULTS.streamWindowBytes,
        connectionWindowSize: HBONE_DEFAULTS.connectionWindowBytes,
        frameSize: HBONE_DEFAULTS.maxFrameBytes,
        poolMaxStreamsPerConn: HBONE_DEFAULTS.maxStreamsPerConnection,
        poolUnusedReleaseTimeout: { secs: Math.round(HBONE_DEFAULTS.idleTimeoutMs / 1000), nanos: 0 },
        secretTtl: { secs: Math.round(cfg.certificateTtlMs / 1000), nanos: 0 },
        enableOriginalSource: cfg.preserveSourceIp,
      },
      extra,
    });
  }

  async function removeInpodWorkload(uid: string): Promise<void> {
    const pod = inpod.get(uid);
    if (pod === undefined) return;
    inpod.delete(uid);
    // A deleted pod is drained at once (istio/ztunnel@62d82653:src/inpod/statemanager.rs, `DrainMode::Immediate`).
    await pod.listeners.close({ deadlineMs: 0 });
    if (typeof pod.netns !== 'string') (pod.netns as NetnsHandle).close();
    log('info', 'inpod', 'workload removed', [['uid', uid]]);
  }

  /** Starts serving a pod; on failure the caller keeps `netns` (nothing was taken over). */
  async function startInpod(uid: string, netns: NetnsRef): Promise<void> {
    if (cfg.mode !== 'inpod') throw new Error('addInpodWorkload needs mode "inpod"');
    if (draining || closed) throw new Error('the ztunnel is shutting down');
    const workload = store.workload(uid);
    if (workload === undefined) throw new Error(`unknown workload ${uid}`);
    await removeInpodWorkload(uid);
    await certs.source(workload.identity);
    const listeners = await startInpodListeners(inpodContext(), workload, netns);
    inpod.set(uid, { listeners, netns });
    log('info', 'inpod', 'workload added', [
      ['uid', uid],
      ['netns', typeof netns === 'string' ? netns : netns.path],
      ['dns', listeners.dns === undefined ? 'off' : listeners.dns.addresses.join(',')],
    ]);
  }

  function scheduleReconcile(): Promise<void> {
    reconciling = reconciling.then(reconcileInbound, reconcileInbound);
    return reconciling;
  }

  return {
    nodeName: cfg.nodeName,
    store,
    metrics,
    async start() {
      if (addresses !== undefined) return addresses;
      const host = cfg.nodeAddress;
      const bind = async (server: net.Server, port: number, name: string): Promise<string> => {
        const a = await listen(server, host, port);
        servers.push(server);
        const text = formatSocketAddress(a.address, a.port);
        log('info', name, 'listener established', [['address', { display: text }]]);
        return text;
      };
      const admin = await bind(
        createAdminServer({ configDump: dump, ...(cfg.onQuit ? { quit: cfg.onQuit } : {}) }),
        cfg.ports.admin,
        'admin',
      );
      const stats = await bind(createMetricsServer(metrics.registry), cfg.ports.metrics, 'stats');
      const readiness = await bind(createReadinessServer(pending), cfg.ports.readiness, 'readiness');
      let socks5: string | undefined;
      if (cfg.socks5) {
        const server = net.createServer({ allowHalfOpen: true, noDelay: true }, (socket) => {
          downstream.add(socket);
          socket.once('close', () => downstream.delete(socket));
          void serveSocks5(
            {
              outbound: outboundCtx,
              sourceOf: (ip) => {
                const w = store.workloadByAddress(ip, cfg.network);
                // Only local workloads: this ztunnel holds certificates for nobody else.
                return w !== undefined && (cfg.mode === 'inpod' || isLocal(w)) ? w : undefined;
              },
              resolve: (domain, source, v6) => resolveHostname(store, domain, source, v6),
            },
            socket,
          );
        });
        socks5 = await bind(server, cfg.ports.socks5, 'socks5');
      }
      addresses = { admin, metrics: stats, readiness, ...(socks5 === undefined ? {} : { socks5 }) };

      diagnosticsChannel.subscribe(HBONE_CHANNELS.streamFailed, onHboneFailure);
      unsubscribe.push(() => diagnosticsChannel.unsubscribe(HBONE_CHANNELS.streamFailed, onHboneFailure));
      unsubscribe.push(
        store.on('change', (changes) => {
          const touchesPolicy = [...changes.added, ...changes.updated, ...changes.removed].some(
            (c) => c.kind === 'policy' || c.kind === 'workload',
          );
          if (touchesPolicy) recheckPolicies();
          void scheduleReconcile();
        }),
      );
      if ('xdsAddress' in cfg.workloads) {
        const source = cfg.workloads;
        const xdsAddress = source.xdsAddress;
        const client = createXdsClient({
          address: xdsAddress,
          store,
          // istiod's 15012: TLS against XDS_ROOT_CA and the bearer token, both read again on every connect.
          ...(source.tls === undefined
            ? {}
            : {
                credentials: xdsTlsCredentials(source.tls),
                tlsServerName: xdsTlsServerName(xdsAddress, source.tls),
              }),
          ...(source.tokenFile === undefined ? {} : { tokenFile: source.tokenFile }),
          ...(source.token === undefined ? {} : { token: source.token }),
          clusterId: cfg.clusterId,
          node: ztunnelNode({
            instanceIp: host,
            podName: cfg.podName,
            podNamespace: 'istio-system',
            nodeName: cfg.nodeName,
          }),
        });
        xds = client;
        client.on('nack', (n) =>
          log('warn', 'xds', 'rejected resources', [['rejected', n.rejected.map((r) => r.name).join(', ')]]),
        );
        // ztunnel warns on every failed or lost xDS connection, with the reason and the retry delay
        // (istio/ztunnel@62d82653:src/xds/client.rs "XDS client connection error"), and on the reconnect.
        let failures = 0;
        client.on('disconnected', ({ error, backoffMs }) => {
          failures++;
          log('warn', 'xds', 'XDS client connection error, retrying', [
            ['address', { display: xdsAddress }],
            ['error', error.message],
            ['retry_ms', backoffMs],
          ]);
        });
        // An attempt that fails before its stream exists (the token file or the root certificates unreadable)
        // ends no stream, so 'disconnected' does not tell: it is a connect failure all the same.
        client.on('connectFailed', ({ error, backoffMs }) => {
          if (error.code !== 'WORKLOAD_API_ERR_XDS_CREDENTIALS') return;
          failures++;
          log('warn', 'xds', 'XDS client connection error, retrying', [
            ['address', { display: xdsAddress }],
            ['error', error.message],
            ['retry_ms', backoffMs],
          ]);
        });
        client.on('connected', ({ attempt }) => {
          if (failures === 0) {
            log('info', 'xds', 'connected', [['address', { display: xdsAddress }]]);
            return;
          }
          log('warn', 'xds', 'reconnected', [
            ['address', { display: xdsAddress }],
            ['attempt', attempt],
            ['after_failures', failures],
          ]);
          failures = 0;
        });
        void client.ready({ timeoutMs: 3_600_000 }).then(
          () => {
            xdsReady = true;
            log('info', 'xds', 'synced', [
              ['workloads', store.stats().workloads],
              ['policies', store.stats().policies],
            ]);
          },
          () => {},
        );
      }
      await scheduleReconcile();
      if (cfg.mode === 'inpod' && cfg.zdsPath !== undefined) {
        zds = startInpodZds(
          {
            store,
            start: (uid, netns) => startInpod(uid, netns),
            stop: (uid) => removeInpodWorkload(uid),
            servedNetns: (uid) => {
              const ref = inpod.get(uid)?.netns;
              return ref === undefined || typeof ref === 'string' ? undefined : ref;
            },
            log: (level, message, fields = []) => log(level, 'inpod', message, fields),
          },
          cfg.zdsPath,
        );
      }
      return addresses;
    },
    async ready(options) {
      const deadline = Date.now() + (options?.timeoutMs ?? 10_000);
      for (;;) {
        await reconciling;
        // A listener that failed to open will not open by waiting: say why now rather than at the deadline.
        const [failed] = failedListeners;
        if (failed !== undefined)
          throw new Error(`ztunnel ${cfg.nodeName}: inbound listener of ${failed[0]} failed: ${failed[1]}`);
        const zdsPending = new Set(options?.zds === false ? (zds?.pending() ?? []) : []);
        const waiting = pending().filter((p) => !zdsPending.has(p));
        if (waiting.length === 0) return;
        if (Date.now() > deadline)
          throw new Error(`ztunnel ${cfg.nodeName} not ready, pending: ${waiting.join(', ')}`);
        await new Promise((resolve) => setTimeout(resolve, 20));
      }
    },
    pending,
    addresses() {
      if (addresses === undefined) throw new Error('ztunnel not started');
      return addresses;
    },
    inboundAddresses: () => new Map([...inboundServers()].map((s) => [s.workload.uid, s.address])),
    configDump: dump,
    addInpodWorkload: startInpod,
    removeInpodWorkload,
    inpodWorkloads: () =>
      new Map(
        [...inpod].map(([uid, p]) => [
          uid,
          {
            netns: typeof p.netns === 'string' ? p.netns : p.netns.path,
            dns: p.listeners.dns?.addresses ?? [],
          },
        ]),
      ),
    zdsSynced(options) {
      if (zds === undefined) return Promise.reject(new Error('this ztunnel takes no pods over ZDS'));
      return zds.waitForSnapshot(options?.timeoutMs);
    },
    async drain(options) {
      const deadlineMs = options?.deadlineMs ?? cfg.drainDeadlineMs;
      draining = true;
      // 1. No new pods, no new connections (istio/ztunnel@62d82653:src/drain.rs: stop accepting once we drain).
      await zds?.close();
      zds = undefined;
      for (const pod of inpod.values()) pod.listeners.stopAccepting();
      for (const server of servers) if (server.listening) server.close();
      log('info', 'drain', 'drain started, waiting for connections to complete', [
        ['deadline_ms', deadlineMs],
        ['downstream_connections', downstream.size],
      ]);
      // 2. GOAWAY on every inbound HBONE connection; tunnels finish, the rest is closed at the deadline.
      const inboundDrained = Promise.all([...inboundServers()].map((server) => server.close({ deadlineMs })));
      // 3. Outbound and plaintext connections in flight finish on their own, up to the deadline.
      const forced = await waitForSockets(downstream, deadlineMs);
      await inboundDrained;
      if (forced > 0) {
        log('warn', 'drain', 'drain duration expired with pending connections, forcefully shutting down', [
          ['forced', forced],
        ]);
      }
      log('info', 'drain', 'shutdown complete');
      return { forced };
    },
    async close() {
      if (closed) return;
      closed = true;
      await zds?.close();
      zds = undefined;
      for (const u of unsubscribe.splice(0)) u();
      // Certificates first: a reconcile waiting for a CA that does not answer ends now instead of never.
      certs.close();
      await reconciling.catch(() => {});
      for (const t of tracked) t.reject({ error: 'connection closed due to connection drain', flag: '-' });
      await Promise.all([...inbound.values()].map((s) => s.close()));
      inbound.clear();
      await Promise.all([...inpod.keys()].map((uid) => removeInpodWorkload(uid)));
      await clients.closeAll();
      await xds?.close();
      await Promise.all(servers.splice(0).map(closeServer));
    },
  };
}
