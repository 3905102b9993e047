/**
 * The outbound core of a native-HBONE app, shared by the undici `Dispatcher` and the `http.Agent`: turn the
 * host and port the app dialled into ztunnel's upstream choice and open it. A service hostname (`reviews`,
 * `reviews.bookinfo`, `reviews.bookinfo.svc.cluster.local`) becomes the service's VIP; then the workload
 * store's `resolveUpstream` decides as ztunnel's outbound `build_request` does
 * (istio/ztunnel@62d82653:src/proxy/outbound.rs; `docs/workload-api.md` "Upstream choice"): the service's
 * waypoint if it has one, else an endpoint chosen as ztunnel chooses it, HBONE to `podIP:15008` for an
 * HBONE workload, double HBONE through a network gateway, plain TCP to a workload outside HBONE. The tunnel
 * is opened with the app's own SVID and checked against the identities the store expects
 * (`upstream_sans`: the service's SANs and the workload's identity, or the waypoint's).
 * @module
 */
import net from 'node:net';
import type { Duplex } from 'node:stream';
import { createHboneClient, type HboneClient, type HboneClientOptions } from '@ambient-kit/hbone';
import type { BundleSource, SvidSource, X509Svid } from '@ambient-kit/spiffe';
import {
  formatSocketAddress,
  parseSocketAddress,
  type RandomSource,
  type Upstream,
  type Workload,
  type WorkloadStore,
} from '@ambient-kit/workload-api';
import { fromHboneError, NativeHboneError, type NativeHboneErrorTarget } from './errors.js';
import { checkFields, requireField } from './options.js';
import { baggageOf } from './workload-baggage.js';

/** What to do with a destination the mesh does not know (ztunnel passes such traffic through). */
export type OutsideMeshMode = 'refuse' | 'passthrough';

/** The HBONE client settings a mesh client may tune (identity, trust and baggage come from the mesh). */
export type MeshHboneOptions = Omit<HboneClientOptions, 'svid' | 'bundles' | 'baggage'>;

/** Options shared by {@link createMeshDispatcher} and {@link createMeshAgent}. */
export interface MeshClientOptions {
  /** This app's X.509-SVID: an `SvidSource` (Workload API, Istio CA client, files; rotation-aware) or an `X509Svid`. */
  readonly svid: SvidSource | X509Svid;
  /** Trust bundles to verify the destination with. */
  readonly bundles: BundleSource;
  /** The mesh: a workload-api store fed by xDS or a mesh file. */
  readonly store: WorkloadStore;
  /** This app's workload in the store: its uid, or the workload. Looked up on every connection, so updates apply. */
  readonly source: string | Workload;
  /**
   * A destination the store does not know (no service hostname, no workload or VIP at the address, or a
   * PASSTHROUGH service): `'refuse'` (default) fails with `NATIVE_HBONE_ERR_OUTSIDE_MESH`; `'passthrough'`
   * dials it over plain TCP, as ztunnel does for captured apps.
   */
  readonly outsideMesh?: OutsideMeshMode;
  /** The cluster's DNS domain, to expand `svc` and `svc.ns` names. Default `cluster.local`. */
  readonly clusterDomain?: string;
  /**
   * Bind HBONE and TCP connections to the source workload's first IP (it must be an address of this host:
   * loopback meshes, or a pod's own address). Default `false`: the kernel picks.
   */
  readonly bindSourceIp?: boolean;
  /** Pool and HTTP/2 settings of the HBONE client this creates (ignored with `client`). */
  readonly hbone?: MeshHboneOptions;
  /** An HBONE client to share (its pool, its identity); then `svid` and `bundles` only check the options. */
  readonly client?: HboneClient;
  /** Random source for endpoint and weighted-waypoint choice. Default `Math.random`. */
  readonly random?: RandomSource;
  /** Called for every connection opened, with where the mesh sent it (for logs and tests). */
  readonly onConnect?: (info: MeshConnection) => void;
}

/** Where one connection went. */
export interface MeshConnection {
  /** The host and port the app dialled. */
  readonly destination: string;
  /** `hbone`, `double-hbone`, `tcp` (a mesh workload outside HBONE) or `passthrough`. */
  readonly kind: 'hbone' | 'double-hbone' | 'tcp' | 'passthrough';
  /** The rule that chose the upstream (`direct`, `service-waypoint`, ...; `passthrough` when unknown). */
  readonly via: Upstream['via'];
  /** The TCP hop. */
  readonly address: string;
  /** The CONNECT `:authority`, for HBONE. */
  readonly authority?: string;
  /** The peer's verified SPIFFE ID, for HBONE. */
  readonly peerIdentity?: string;
  /** The service the app addressed, if any. */
  readonly service?: string;
}

/** The outbound core. */
export interface MeshConnector {
  /**
   * Opens a connection to `host:port` through the mesh.
   *
   * @param host - A service hostname (short or full), a service VIP or a pod IP (IPv6 with or without brackets).
   * @param port - The port the app dialled (the service port for a service).
   * @returns The connection: an HBONE tunnel, or a TCP socket for plain TCP.
   * @throws {NativeHboneError} See docs/native-hbone.md "Error codes".
   */
  open(host: string, port: number): Promise<Duplex>;
  /** The HBONE client (its pool). */
  readonly client: HboneClient;
  /** Closes the HBONE client when this connector created it. */
  close(): Promise<void>;
}

const CLIENT_FIELDS = [
  'svid',
  'bundles',
  'store',
  'source',
  'outsideMesh',
  'clusterDomain',
  'bindSourceIp',
  'hbone',
  'client',
  'random',
  'onConnect',
] as const;

/**
 * Checks the shared options.
 *
 * @param owner - The factory, for messages.
 * @param options - The options.
 * @param extra - Fields the factory adds.
 * @throws {NativeHboneError} `NATIVE_HBONE_ERR_CONFIG`.
 */
function checkClientOptions(owner: string, options: MeshClientOptions, extra: readonly string[]): void {
  checkFields(owner, options, [...CLIENT_FIELDS, ...extra]);
  requireField(
    owner,
    'svid',
    options.svid,
    'an SvidSource or an X509Svid',
    (v) => typeof v === 'object' && v !== null,
  );
  requireField(
    owner,
    'bundles',
    options.bundles,
    'a BundleSource',
    (v) => typeof v === 'object' && v !== null,
  );
  requireField(
    owner,
    'store',
    options.store,
    'a workload-api WorkloadStore',
    (v) => typeof (v as WorkloadStore | undefined)?.resolveUpstream === 'function',
  );
  requireField(
    owner,
    'source',
    options.source,
    'a workload uid or a Workload',
    (v) => (typeof v === 'string' && v !== '') || (typeof v === 'object' && v !== null && 'uid' in v),
  );
  requireField(
    owner,
    'outsideMesh',
    options.outsideMesh,
    '"refuse" or "passthrough"',
    (v) => v === undefined || v === 'refuse' || v === 'passthrough',
  );
  requireField(
    owner,
    'onConnect',
    options.onConnect,
    'a function',
    (v) => v === undefined || typeof v === 'function',
  );
}

/** Strips the brackets of `[v6]`. */
function bareHost(host: string): string {
  return host.startsWith('[') && host.endsWith(']') ? host.slice(1, -1) : host;
}

/** The names a hostname may stand for, as a pod's DNS search path expands them (`<ns>.svc.<domain>`, `svc.<domain>`). */
function candidateNames(host: string, namespace: string, domain: string): string[] {
  const name = host.endsWith('.') ? host.slice(0, -1) : host;
  const names = [name];
  const dots = name.split('.').length - 1;
  if (dots === 0) names.push(`${name}.${namespace}.svc.${domain}`);
  if (dots === 1) names.push(`${name}.svc.${domain}`);
  if (dots === 2 && name.endsWith('.svc')) names.push(`${name}.${domain}`);
  return names;
}

/** A plain TCP connect with ztunnel's socket settings and its 10 s timeout. */
function dialTcp(host: string, port: number, localAddress: string | undefined): Promise<net.Socket> {
  return new Promise((resolve, reject) => {
    const socket = net.connect({
      host,
      port,
      noDelay: true,
      keepAlive: true,
      ...(localAddress === undefined ? {} : { localAddress }),
    });
    const timer = setTimeout(() => {
      socket.destroy();
      reject(Object.assign(new Error(`connect timed out after 10000 ms`), { code: 'ETIMEDOUT' }));
    }, 10_000);
    socket.once('connect', () => {
      clearTimeout(timer);
      socket.removeAllListeners('error');
      resolve(socket);
    });
    socket.once('error', (error) => {
      clearTimeout(timer);
      reject(error);
    });
  });
}

/**
 * Creates the outbound core. {@link createMeshDispatcher} and {@link createMeshAgent} wrap it; use it
 * directly for raw TCP through the mesh.
 *
 * @param options - Identity, trust, the mesh and this app's workload.
 * @param owner - The factory name, for messages.
 * @param extraFields - Option names the caller's factory adds.
 * @returns The connector.
 * @throws {NativeHboneError} `NATIVE_HBONE_ERR_CONFIG` on a bad or unknown option.
 * @example
 * ```ts
 * const mesh = createMeshConnector({ svid, bundles, store, source: 'Kubernetes//Pod/default/web-1' });
 * const socket = await mesh.open('reviews', 9080);
 * socket.end('GET / HTTP/1.1\r\nhost: reviews\r\nconnection: close\r\n\r\n');
 * ```
 */
export function createMeshConnector(
  options: MeshClientOptions,
  owner = 'createMeshConnector',
  extraFields: readonly string[] = [],
): MeshConnector {
  checkClientOptions(owner, options, extraFields);
  const { store } = options;
  const outsideMesh = options.outsideMesh ?? 'refuse';
  const domain = options.clusterDomain ?? 'cluster.local';
  let closed = false;
  const client =
    options.client ??
    (() => {
      try {
        return createHboneClient({ ...(options.hbone ?? {}), svid: options.svid, bundles: options.bundles });
      } catch (error) {
        throw new NativeHboneError(
          'NATIVE_HBONE_ERR_CONFIG',
          `${owner}: options.hbone: ${(error as Error).message}`,
          {
            cause: error,
          },
        );
      }
    })();

  function sourceWorkload(): Workload {
    const source = options.source;
    const uid = typeof source === 'string' ? source : source.uid;
    const found = store.workload(uid) ?? (typeof source === 'string' ? undefined : source);
    if (found === undefined) {
      throw new NativeHboneError(
        'NATIVE_HBONE_ERR_NO_SOURCE',
        `this app's workload ${JSON.stringify(uid)} is not in the store`,
      );
    }
    return found;
  }

  /** `ip:port` for the upstream choice, or `undefined` when the name is not the mesh's. */
  function meshDestination(host: string, port: number, source: Workload): string | undefined {
    if (net.isIP(host) !== 0) return formatSocketAddress(host, port);
    for (const name of candidateNames(host, source.namespace, domain)) {
      const service = store.bestServiceByHost(name, source.namespace);
      if (service === undefined) continue;
      const vip =
        service.vips.find((v) => v.network === source.network && !v.address.includes('/')) ??
        service.vips.find((v) => !v.address.includes('/'));
      if (vip === undefined) {
        throw new NativeHboneError(
          'NATIVE_HBONE_ERR_NO_ROUTE',
          `service ${service.hostname} has no VIP (headless services are dialled by pod IP)`,
          { target: { destination: `${host}:${port}` } },
        );
      }
      return formatSocketAddress(vip.address, port);
    }
    return undefined;
  }

  async function passthrough(
    host: string,
    port: number,
    destination: string,
    source: Workload,
  ): Promise<Duplex> {
    if (outsideMesh === 'refuse') {
      throw new NativeHboneError(
        'NATIVE_HBONE_ERR_OUTSIDE_MESH',
        `${destination} is outside the mesh (outsideMesh: 'refuse')`,
        { target: { destination } },
      );
    }
    const local = options.bindSourceIp === true ? source.workloadIps[0] : undefined;
    try {
      const socket = await dialTcp(host, port, local);
      options.onConnect?.({
        destination,
        kind: 'passthrough',
        via: 'passthrough',
        address: formatSocketAddress(host, port),
      });
      return socket;
    } catch (error) {
      throw fromHboneError(error, { destination });
    }
  }

  async function open(hostInput: string, port: number): Promise<Duplex> {
    if (closed) throw new NativeHboneError('NATIVE_HBONE_ERR_CLOSED', 'the mesh client is closed');
    const host = bareHost(hostInput);
    const destination = net.isIPv6(host) ? `[${host}]:${port}` : `${host}:${port}`;
    const source = sourceWorkload();
    const dst = meshDestination(host, port, source);
    if (dst === undefined) return passthrough(host, port, destination, source);
    const sourceIp = source.workloadIps[0];
    const route = store.resolveUpstream({
      source,
      destination: dst,
      ...(sourceIp === undefined ? {} : { sourceIp }),
      ...(options.random === undefined ? {} : { random: options.random }),
    });
    if (route.isErr()) {
      throw new NativeHboneError('NATIVE_HBONE_ERR_NO_ROUTE', `${destination}: ${route.error.message}`, {
        cause: route.error,
        target: { destination },
      });
    }
    const up = route.value;
    if (up.via === 'passthrough') {
      const addr = parseSocketAddress(up.address);
      return passthrough(addr?.ip ?? host, addr?.port ?? port, destination, source);
    }
    const target: NativeHboneErrorTarget = {
      destination,
      address: up.address,
      ...(up.authority === undefined ? {} : { authority: up.authority }),
      expectedIdentities: up.protocol === 'DOUBLEHBONE' ? up.finalIdentities : up.identities,
    };
    const bindIp = options.bindSourceIp === true ? sourceIp : undefined;
    const service = up.service?.hostname;
    if (up.protocol === 'TCP') {
      const addr = parseSocketAddress(up.address);
      if (addr === undefined)
        throw new NativeHboneError('NATIVE_HBONE_ERR_NO_ROUTE', `bad upstream ${up.address}`, { target });
      try {
        const socket = await dialTcp(addr.ip, addr.port, bindIp);
        options.onConnect?.({
          destination,
          kind: 'tcp',
          via: up.via,
          address: up.address,
          ...(service === undefined ? {} : { service }),
        });
        return socket;
      } catch (error) {
        throw fromHboneError(error, target);
      }
    }
    const common = {
      via: up.address,
      authority: up.authority as string,
      baggage: baggageOf(source),
      // ztunnel sends `for=` (the app's address) and `host=` (the service) (outbound.rs L786-795).
      ...(service === undefined ? {} : { forwarded: { host: service } }),
      ...(bindIp === undefined ? {} : { sourceIp: bindIp }),
    };
    try {
      const stream =
        up.protocol === 'DOUBLEHBONE'
          ? await client.connect({
              ...common,
              expectedIdentities: up.finalIdentities,
              doubleHbone: { gatewayIdentities: up.identities, network: source.network },
            })
          : await client.connect({ ...common, expectedIdentities: up.identities });
      options.onConnect?.({
        destination,
        kind: up.protocol === 'DOUBLEHBONE' ? 'double-hbone' : 'hbone',
        via: up.via,
        address: up.address,
        authority: up.authority as string,
        ...(stream.peerIdentity === undefined ? {} : { peerIdentity: stream.peerIdentity }),
        ...(service === undefined ? {} : { service }),
      });
      return stream;
    } catch (error) {
      throw fromHboneError(error, target);
    }
  }

  return {
    open,
    client,
    async close() {
      closed = true;
      if (options.client === undefined) await client.close();
    },
  };
}
