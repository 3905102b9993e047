/**
 * `createMeshServer`: a Node app as its own mesh endpoint. It accepts HBONE (HTTP/2 CONNECT over SPIFFE
 * mTLS) on 15008 as ztunnel's inbound listener does (`@ambient-kit/hbone`'s server: the client must be in
 * the trust domain, each CONNECT is checked, authorized and only then answered 200), applies L4
 * AuthorizationPolicy before any byte reaches the app (`@ambient-kit/authz/l4` `evaluateL4`, as ztunnel's
 * `assert_rbac`: istio/ztunnel@62d82653:src/proxy/inbound.rs), and hands each tunnel's bytes to the app's
 * own `http.Server`, `http2` server or `@grpc/grpc-js` server as a connection.
 * @module
 */
import type http from 'node:http';
import { createServer as createHttpServer } from 'node:http';
import type http2 from 'node:http2';
import net, { type AddressInfo } from 'node:net';
import type { Duplex } from 'node:stream';
import { evaluateL4, type L4Decision } from '@ambient-kit/authz/l4';
import {
  createDuplexPair,
  createHboneServer,
  HboneError,
  type HboneRequestContext,
  type HboneServer,
  type HboneServerOptions,
} from '@ambient-kit/hbone';
import type { BundleSource, SvidSource, X509Svid } from '@ambient-kit/spiffe';
import type { Workload, WorkloadStore } from '@ambient-kit/workload-api';
import { NativeHboneError } from './errors.js';
import { checkFields, requireField } from './options.js';
import { grpcPeers, type MeshPeer, PEER } from './peer.js';
import { baggageOf } from './workload-baggage.js';

/** The part of a `@grpc/grpc-js` `Server` used: its connection injector (grpc-js 1.11+). */
export interface GrpcServerLike {
  createConnectionInjector(credentials: unknown): {
    injectConnection(connection: Duplex): void;
    destroy(): void;
  };
}

/** The HBONE server settings a mesh server may tune. */
export type MeshHboneServerOptions = Omit<
  HboneServerOptions,
  'svid' | 'bundles' | 'authorize' | 'connectUpstream' | 'resolveHostname' | 'baggage' | 'port' | 'host'
>;

/** Options of {@link createMeshServer}. Give `handler` or `server`. */
export interface MeshServerOptions {
  /** This app's X.509-SVID (an `SvidSource` rotates without a restart). */
  readonly svid: SvidSource | X509Svid;
  /** Trust bundles for verifying clients. */
  readonly bundles: BundleSource;
  /**
   * The mesh. With it, L4 AuthorizationPolicy is enforced on every CONNECT (401 on deny, as ztunnel) and a
   * CONNECT to an address that is no workload of the store is refused (401: fail closed). Without it, every client of the
   * trust domain gets in: apply policy in the app.
   */
  readonly store?: WorkloadStore;
  /** This app's workload (uid or workload), for policy. Default: the store's workload at the CONNECT's IP. */
  readonly workload?: string | Workload;
  /** A request handler: served by a `node:http` server made for it (HTTP/1.1). */
  readonly handler?: http.RequestListener;
  /** An existing `http.Server`, `http2` server (`http2.createServer`), or `@grpc/grpc-js` `Server`. */
  readonly server?: http.Server | http2.Http2Server | GrpcServerLike;
  /** For a gRPC `server`: the `ServerCredentials` of its injector. Default `ServerCredentials.createInsecure()`. */
  readonly grpcCredentials?: unknown;
  /** Target ports this app serves; a CONNECT to another port is answered 503. Default: any port. */
  readonly ports?: readonly number[];
  /** An extra check after L4 policy; `false` answers 401. */
  readonly authorize?: (peer: MeshPeer) => boolean | Promise<boolean>;
  /** Called for every CONNECT decided, allowed or not (for access logs and tests). */
  readonly onTunnel?: (event: MeshTunnelEvent) => void;
  /** The HBONE listen port. Default 15008. */
  readonly port?: number;
  /** The HBONE listen address. Default `::`. */
  readonly host?: string;
  /** HBONE server settings (windows, limits, timeouts, `checkDestinationIp`). */
  readonly hbone?: MeshHboneServerOptions;
}

/** One CONNECT as the mesh server decided it. */
export interface MeshTunnelEvent {
  readonly peer: MeshPeer;
  readonly allowed: boolean;
  /** Why it was refused, when it was. */
  readonly reason?: string;
}

/** A native-HBONE server. */
export interface MeshServer {
  /**
   * Starts accepting HBONE.
   *
   * @param port - Default the options' `port` (15008).
   * @param host - Default the options' `host` (`::`).
   * @returns The bound address.
   */
  listen(port?: number, host?: string): Promise<AddressInfo>;
  /**
   * Stops accepting, drains tunnels (GOAWAY, then a hard close after `deadlineMs`, default 5 s).
   *
   * @param options - The grace period.
   * @returns Resolves once every tunnel is closed.
   */
  close(options?: { readonly deadlineMs?: number }): Promise<void>;
  /** The HBONE server underneath (stats, `serveConnection`). */
  readonly hbone: HboneServer;
  /** The app server tunnels are handed to (the one made for `handler`, or `server`). */
  readonly app: http.Server | http2.Http2Server | GrpcServerLike;
}

const SERVER_FIELDS = [
  'svid',
  'bundles',
  'store',
  'workload',
  'handler',
  'server',
  'grpcCredentials',
  'ports',
  'authorize',
  'onTunnel',
  'port',
  'host',
  'hbone',
] as const;

interface TunnelState {
  peer?: MeshPeer;
}

const OWNER = 'createMeshServer';

function isGrpc(server: unknown): server is GrpcServerLike {
  return typeof (server as GrpcServerLike).createConnectionInjector === 'function';
}

/**
 * A gRPC server gets real loopback sockets: grpc-js names a call's peer by its socket's address
 * (`call.getPeer()`), which an in-memory Duplex does not have; so each tunnel is one TCP connection to a
 * private 127.0.0.1 listener, and the client port names the peer.
 */
async function grpcBridge(server: GrpcServerLike, credentials: unknown) {
  let creds = credentials;
  if (creds === undefined) {
    const grpc = await import('@grpc/grpc-js');
    creds = grpc.ServerCredentials.createInsecure();
  }
  const injector = server.createConnectionInjector(creds);
  const listener = net.createServer({ allowHalfOpen: true, noDelay: true }, (accepted) => {
    injector.injectConnection(accepted);
  });
  await new Promise<void>((resolve, reject) => {
    listener.once('error', reject);
    listener.listen(0, '127.0.0.1', () => resolve());
  });
  const { port } = listener.address() as AddressInfo;
  return {
    connect(peer: MeshPeer): Promise<Duplex> {
      return new Promise((resolve, reject) => {
        const socket = net.connect({ host: '127.0.0.1', port, allowHalfOpen: true, noDelay: true });
        socket.once('error', reject);
        socket.once('connect', () => {
          socket.removeListener('error', reject);
          const key = `127.0.0.1:${socket.localPort}`;
          grpcPeers.set(key, peer);
          socket.once('close', () => grpcPeers.delete(key));
          resolve(socket);
        });
      });
    },
    async close(): Promise<void> {
      injector.destroy();
      await new Promise<void>((resolve) => listener.close(() => resolve()));
    },
  };
}

function parseForwarded(context: HboneRequestContext<TunnelState>): { for?: string; host?: string } {
  const forwarded = context.request.forwarded;
  if (forwarded === undefined) return {};
  return {
    ...(forwarded.for === undefined ? {} : { for: forwarded.for }),
    ...(forwarded.host === undefined ? {} : { host: forwarded.host }),
  };
}

/**
 * Creates a native-HBONE server: HBONE on 15008 in front of the app's own server. Each tunnel reaches the
 * app as one connection (`'connection'` with a `Duplex`); {@link getPeer} gives its verified peer.
 *
 * L7 policy (AuthorizationPolicy with paths and methods, RequestAuthentication) runs in the app, after:
 * `@ambient-kit/authz`'s middleware with `principal: (req) => getPeer(req)?.identity ?? null`
 * (docs/native-hbone.md "L7 policy").
 *
 * @param options - Identity, trust, the mesh for L4 policy, and the app.
 * @returns The server; call `listen()`.
 * @throws {NativeHboneError} `NATIVE_HBONE_ERR_CONFIG` on a bad or unknown option, or neither (or both) of
 *   `handler` and `server`.
 * @example
 * ```ts
 * const mesh = createMeshServer({ svid, bundles, store, handler: (req, res) => res.end(getPeer(req)?.identity) });
 * await mesh.listen(15008);
 * ```
 */
export function createMeshServer(options: MeshServerOptions): MeshServer {
  checkFields(OWNER, options, SERVER_FIELDS);
  requireField(
    OWNER,
    'svid',
    options.svid,
    'an SvidSource or an X509Svid',
    (v) => typeof v === 'object' && v !== null,
  );
  requireField(
    OWNER,
    'bundles',
    options.bundles,
    'a BundleSource',
    (v) => typeof v === 'object' && v !== null,
  );
  if ((options.handler === undefined) === (options.server === undefined)) {
    throw new NativeHboneError(
      'NATIVE_HBONE_ERR_CONFIG',
      `${OWNER}: give exactly one of options.handler and options.server`,
    );
  }
  requireField(
    OWNER,
    'handler',
    options.handler,
    'a function',
    (v) => v === undefined || typeof v === 'function',
  );
  requireField(
    OWNER,
    'server',
    options.server,
    'an http.Server, an http2 server or a @grpc/grpc-js Server',
    (v) => v === undefined || isGrpc(v) || typeof (v as { emit?: unknown }).emit === 'function',
  );
  requireField(
    OWNER,
    'ports',
    options.ports,
    'a list of ports',
    (v) => v === undefined || (Array.isArray(v) && v.every((p) => Number.isInteger(p) && p > 0 && p < 65536)),
  );
  requireField(
    OWNER,
    'store',
    options.store,
    'a workload-api WorkloadStore',
    (v) => v === undefined || typeof (v as WorkloadStore).policiesFor === 'function',
  );
  const store = options.store;
  const ports = options.ports;

  let appServer: http.Server | http2.Http2Server | GrpcServerLike;
  if (options.handler !== undefined) {
    // Made lazily-imported-free: node:http is always there.
    appServer = createHttpServer(options.handler);
  } else {
    appServer = options.server as http.Server | http2.Http2Server | GrpcServerLike;
  }
  const grpc = isGrpc(appServer) ? grpcBridge(appServer, options.grpcCredentials) : undefined;
  // Keep a rejected bridge from being unhandled before the first tunnel awaits it.
  grpc?.catch(() => {});

  function localWorkload(ip: string): Workload | undefined {
    if (store === undefined) return undefined;
    const w = options.workload;
    if (w === undefined) return store.workloadByAddress(ip);
    return typeof w === 'string' ? store.workload(w) : (store.workload(w.uid) ?? w);
  }

  function refuse(peer: MeshPeer, reason: string): false {
    options.onTunnel?.({ peer, allowed: false, reason });
    return false;
  }

  async function authorize(context: HboneRequestContext<TunnelState>): Promise<boolean> {
    const forwarded = parseForwarded(context);
    const base: MeshPeer = {
      identity: context.peerIdentity,
      sourceAddress: context.remoteAddress,
      sourcePort: context.remotePort,
      ...(forwarded.for === undefined ? {} : { forwardedFor: forwarded.for }),
      ...(forwarded.host === undefined ? {} : { forwardedHost: forwarded.host }),
      authority: context.authorityText,
      ...(context.request.baggage === undefined ? {} : { baggage: context.request.baggage }),
    };
    let peer = base;
    if (store !== undefined) {
      const target = context.authority;
      if (target.kind !== 'socket')
        return refuse(peer, `hostname authority ${context.authorityText} (this is no gateway)`);
      const workload = localWorkload(target.ip);
      // Fail closed: no workload, no policy to evaluate.
      if (workload === undefined) return refuse(peer, `no workload at ${target.ip} in the store`);
      const decision: L4Decision = evaluateL4({
        store,
        workload,
        connection: {
          srcIdentity: context.peerIdentity,
          srcIp: context.remoteAddress,
          dstIp: target.ip,
          dstPort: target.port,
        },
      });
      peer = { ...base, decision };
      if (!decision.allow) return refuse(peer, decision.reason);
    }
    if (options.authorize !== undefined) {
      let allowed = false;
      try {
        allowed = (await options.authorize(peer)) === true;
      } catch (error) {
        return refuse(peer, `authorize hook failed: ${String(error)}`);
      }
      if (!allowed) return refuse(peer, 'refused by the authorize hook');
    }
    context.state.peer = peer;
    options.onTunnel?.({ peer, allowed: true });
    return true;
  }

  async function connectUpstream(
    target: HboneRequestContext<TunnelState>['authority'],
    context: HboneRequestContext<TunnelState>,
  ): Promise<Duplex> {
    const peer = context.state.peer;
    if (peer === undefined) throw new HboneError('HBONE_ERR_UNAVAILABLE', 'tunnel was not authorized');
    if (ports !== undefined && !ports.includes(target.port)) {
      throw new HboneError(
        'HBONE_ERR_UNKNOWN_TARGET',
        `this app serves ports ${ports.join(', ')}, not ${target.port}`,
      );
    }
    if (grpc !== undefined) return (await grpc).connect(peer);
    const [toApp, toTunnel] = createDuplexPair();
    toApp.remoteAddress = peer.sourceAddress;
    toApp.remotePort = peer.sourcePort;
    toApp.localAddress = target.kind === 'socket' ? target.ip : context.localAddress;
    toApp.localPort = target.port;
    (toApp as unknown as Record<symbol, MeshPeer>)[PEER] = peer;
    (appServer as net.Server).emit('connection', toApp);
    return toTunnel;
  }

  let hbone: HboneServer;
  try {
    hbone = createHboneServer<TunnelState>({
      ...(options.hbone ?? {}),
      svid: options.svid,
      bundles: options.bundles,
      authorize,
      connectUpstream,
      ...(options.port === undefined ? {} : { port: options.port }),
      ...(options.host === undefined ? {} : { host: options.host }),
      baggage: (context) => {
        if (store === undefined || context.authority.kind !== 'socket') return undefined;
        const w = localWorkload(context.authority.ip);
        return w === undefined ? undefined : baggageOf(w);
      },
    });
  } catch (error) {
    throw new NativeHboneError('NATIVE_HBONE_ERR_CONFIG', `${OWNER}: ${(error as Error).message}`, {
      cause: error,
    });
  }

  return {
    hbone,
    app: appServer,
    async listen(port?: number, host?: string): Promise<AddressInfo> {
      if (grpc !== undefined) await grpc;
      if (port === undefined) return hbone.listen();
      return host === undefined ? hbone.listen(port) : hbone.listen(port, host);
    },
    async close(closeOptions?: { readonly deadlineMs?: number }): Promise<void> {
      await hbone.close(closeOptions);
      if (grpc !== undefined) await (await grpc).close();
      if (options.handler !== undefined) (appServer as http.Server).closeAllConnections();
    },
  };
}
