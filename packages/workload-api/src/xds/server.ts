/**
 * A delta ADS server that serves a {@link WorkloadStore} to any number of clients, the way istiod's
 * workload generator serves ztunnels (istio pilot/pkg/xds/workload.go; shared spec §A.4): wildcard and
 * on-demand (`network/ip` alias) subscriptions, `initial_resource_versions` honoured on reconnect, only
 * changed resources pushed, ACKs and NACKs reported.
 * @module
 */
import { createHash } from 'node:crypto';
import { create } from '@bufbuild/protobuf';
import {
  type handleBidiStreamingCall,
  Server,
  type ServerCredentials,
  ServerCredentials as ServerCreds,
  type ServerDuplexStream,
} from '@grpc/grpc-js';
import { encodeAddress, encodeAuthorization } from '../codec/decode.js';
import { WorkloadApiError } from '../codec/errors.js';
import {
  ADDRESS_TYPE_URL,
  AUTHORIZATION_TYPE_URL,
  type MeshResource,
  resourceAliases,
  resourceName,
} from '../codec/resource.js';
import type { Node } from '../gen/envoy/config/core/v3/base_pb.js';
import {
  type DeltaDiscoveryRequest,
  type DeltaDiscoveryResponse,
  DeltaDiscoveryResponseSchema,
  type Resource,
  ResourceSchema,
} from '../gen/envoy/service/discovery/v3/discovery_pb.js';
import type { StoreChanges, WorkloadStore } from '../store/workload-store.js';
import { aggregatedDiscoveryService } from './ads-service.js';
import { createListeners } from './listeners.js';

/** What the server knows about one connected client. */
export interface XdsServerClient {
  /** Server-assigned id, unique per stream. */
  readonly id: number;
  /** The node the client sent, once it has. */
  readonly node?: Node;
  /** Per type URL: whether the client is a wildcard subscriber and how many resources it holds. */
  readonly subscriptions: ReadonlyMap<
    string,
    { readonly wildcard: boolean; readonly names: number; readonly sent: number }
  >;
}

/** Events of an {@link XdsServer}. */
export interface XdsServerEvents {
  /** A client sent its first request. */
  readonly connected: { readonly clientId: number; readonly node?: Node };
  /** A client's stream ended. */
  readonly disconnected: { readonly clientId: number };
  /** A response was sent. */
  readonly push: {
    readonly clientId: number;
    readonly typeUrl: string;
    readonly nonce: string;
    readonly resources: number;
    readonly removed: number;
  };
  /** A client ACKed a response. */
  readonly ack: { readonly clientId: number; readonly typeUrl: string; readonly nonce: string };
  /** A client NACKed a response; `message` is its `error_detail.message`. */
  readonly nack: {
    readonly clientId: number;
    readonly typeUrl: string;
    readonly nonce: string;
    readonly message: string;
  };
}

/** Options for {@link createXdsServer}. */
export interface XdsServerOptions {
  /** The mesh to serve; the server follows its `change` events. */
  readonly store: WorkloadStore;
  /** Largest request accepted (an `initial_resource_versions` map can be large). Default 64 MiB. */
  readonly maxReceiveBytes?: number;
  /** Largest response sent. Default 200 MiB, ztunnel's receive limit. */
  readonly maxSendBytes?: number;
}

/** A running delta xDS server. */
export interface XdsServer {
  /**
   * Starts a gRPC server on `address` with the ADS service.
   * @param address - `host:port`; default `127.0.0.1:0` (any free port).
   * @param credentials - Default insecure.
   * @returns The bound port.
   */
  listen(address?: string, credentials?: ServerCredentials): Promise<number>;
  /** Adds the ADS service to a gRPC server you run yourself. */
  addTo(server: Server): void;
  /** The connected clients. */
  clients(): readonly XdsServerClient[];
  /** Subscribes to an event; returns the unsubscribe function. */
  on<E extends keyof XdsServerEvents>(event: E, listener: (payload: XdsServerEvents[E]) => void): () => void;
  /** Ends every stream, stops following the store, and stops the server started by {@link XdsServer.listen}. Final. */
  close(): Promise<void>;
}

interface Cached {
  readonly name: string;
  readonly version: string;
  readonly aliases: readonly string[];
  readonly resource: Resource;
}

interface TypeState {
  wildcard: boolean;
  readonly subscribed: Set<string>;
  /** name -> version the client holds (claimed in initial_resource_versions or sent by us). */
  readonly sent: Map<string, string>;
}

interface Stream {
  readonly id: number;
  readonly call: ServerDuplexStream<DeltaDiscoveryRequest, DeltaDiscoveryResponse>;
  node?: Node;
  readonly types: Map<string, TypeState>;
  nonce: number;
  open: boolean;
}

const SERVED = [ADDRESS_TYPE_URL, AUTHORIZATION_TYPE_URL] as const;

function typeOf(resource: MeshResource): string {
  return resource.kind === 'policy' ? AUTHORIZATION_TYPE_URL : ADDRESS_TYPE_URL;
}

function toCached(resource: MeshResource): Cached {
  const typeUrl = typeOf(resource);
  const value = resource.kind === 'policy' ? encodeAuthorization(resource) : encodeAddress(resource);
  const name = resourceName(resource);
  const aliases = resource.kind === 'policy' ? [] : resourceAliases(resource);
  // istiod versions each resource by a hash of its encoding (pilot/pkg/model/service.go:1180-1184).
  const version = createHash('sha256').update(value).digest('base64url').slice(0, 22);
  return {
    name,
    version,
    aliases,
    resource: create(ResourceSchema, { name, version, aliases, resource: { typeUrl, value } }),
  };
}

/**
 * Creates a delta ADS server for a store. Nothing is encoded until the first client connects; from then
 * on every store change is re-encoded once and pushed to the clients that hold or want the resource.
 *
 * Subscriptions (Envoy delta xDS semantics, as istiod applies them to ztunnel): a first request with
 * empty subscribe and unsubscribe lists (or `*` in subscribe) is a wildcard subscription; names (a
 * resource name or a `network/ip` alias) subscribe on demand, and names that match nothing come back in
 * `removed_resources`. `initial_resource_versions` on a reconnect suppresses resources the client already
 * has at that version and triggers removals for names the server no longer has. The first request of
 * each type always gets a response, possibly empty, so clients become ready.
 *
 * @param options - The store and limits.
 * @returns The server (call {@link XdsServer.listen} or {@link XdsServer.addTo}).
 * @example
 * ```ts
 * const server = createXdsServer({ store });
 * const port = await server.listen('127.0.0.1:15010');
 * server.on('nack', (n) => console.warn(`client ${n.clientId} rejected: ${n.message}`));
 * ```
 */
export function createXdsServer(options: XdsServerOptions): XdsServer {
  const store = options.store;
  const events = createListeners<XdsServerEvents>();
  const streams = new Set<Stream>();
  let cache: Map<string, Map<string, Cached>> | undefined;
  const aliasIndex = new Map<string, Set<string>>();
  let nextId = 0;
  let grpcServer: Server | undefined;

  function indexAliases(c: Cached, add: boolean): void {
    for (const a of c.aliases) {
      let set = aliasIndex.get(a);
      if (add) {
        if (set === undefined) {
          set = new Set();
          aliasIndex.set(a, set);
        }
        set.add(c.name);
      } else if (set !== undefined) {
        set.delete(c.name);
        if (set.size === 0) aliasIndex.delete(a);
      }
    }
  }

  function ensureCache(): Map<string, Map<string, Cached>> {
    if (cache !== undefined) return cache;
    const built = new Map<string, Map<string, Cached>>(SERVED.map((t) => [t, new Map()]));
    const add = (r: MeshResource): void => {
      const c = toCached(r);
      built.get(typeOf(r))?.set(c.name, c);
      indexAliases(c, true);
    };
    for (const w of store.workloads()) add(w);
    for (const s of store.services()) add(s);
    for (const p of store.policies()) add(p);
    cache = built;
    return built;
  }

  function push(
    stream: Stream,
    typeUrl: string,
    resources: readonly Cached[],
    removed: readonly string[],
    always: boolean,
  ): void {
    if (!stream.open || (!always && resources.length === 0 && removed.length === 0)) return;
    const ts = stream.types.get(typeUrl);
    if (ts === undefined) return;
    const nonce = `${stream.id}-${++stream.nonce}`;
    for (const c of resources) ts.sent.set(c.name, c.version);
    for (const name of removed) ts.sent.delete(name);
    stream.call.write(
      create(DeltaDiscoveryResponseSchema, {
        typeUrl,
        nonce,
        resources: resources.map((c) => c.resource),
        removedResources: [...removed],
      }),
    );
    events.emit('push', {
      clientId: stream.id,
      typeUrl,
      nonce,
      resources: resources.length,
      removed: removed.length,
    });
  }

  /** Resources a requested name stands for: the resource of that name, else those with that alias. */
  function resolveName(typeUrl: string, name: string): Cached[] {
    const byName = ensureCache().get(typeUrl);
    const direct = byName?.get(name);
    if (direct !== undefined) return [direct];
    if (typeUrl !== ADDRESS_TYPE_URL) return [];
    const names = aliasIndex.get(name);
    if (names === undefined) return [];
    const out: Cached[] = [];
    for (const n of names) {
      const c = byName?.get(n);
      if (c !== undefined) out.push(c);
    }
    return out;
  }

  function onRequest(stream: Stream, req: DeltaDiscoveryRequest): void {
    if (req.node !== undefined && stream.node === undefined) {
      stream.node = req.node;
      events.emit('connected', { clientId: stream.id, node: req.node });
    }
    const typeUrl = req.typeUrl;
    if (req.responseNonce !== '') {
      if (req.errorDetail !== undefined) {
        events.emit('nack', {
          clientId: stream.id,
          typeUrl,
          nonce: req.responseNonce,
          message: req.errorDetail.message,
        });
      } else {
        events.emit('ack', { clientId: stream.id, typeUrl, nonce: req.responseNonce });
      }
    }
    if (!(SERVED as readonly string[]).includes(typeUrl)) return;
    const byName = ensureCache().get(typeUrl) ?? new Map<string, Cached>();
    let ts = stream.types.get(typeUrl);
    const first = ts === undefined;
    if (ts === undefined) {
      const claimed = new Map(Object.entries(req.initialResourceVersions));
      // An empty first request is a wildcard subscription (legacy wildcard); otherwise names are explicit
      // and a resumed client's claimed names stay subscribed.
      const wildcard = req.resourceNamesSubscribe.length === 0 && req.resourceNamesUnsubscribe.length === 0;
      ts = { wildcard, subscribed: wildcard ? new Set() : new Set(claimed.keys()), sent: claimed };
      stream.types.set(typeUrl, ts);
    }
    const requested: string[] = [];
    for (const n of req.resourceNamesSubscribe) {
      if (n === '*') ts.wildcard = true;
      else {
        ts.subscribed.add(n);
        requested.push(n);
      }
    }
    for (const n of req.resourceNamesUnsubscribe) {
      if (n === '*') ts.wildcard = false;
      else ts.subscribed.delete(n);
    }

    const out = new Map<string, Cached>();
    const removed = new Set<string>();
    if (first) {
      const candidates = ts.wildcard
        ? byName.values()
        : [...ts.subscribed].flatMap((n) => resolveName(typeUrl, n));
      for (const c of candidates) if (ts.sent.get(c.name) !== c.version) out.set(c.name, c);
      // Names the client claims that the server no longer has (workload.go:36-86).
      for (const name of ts.sent.keys()) {
        if (!byName.has(name) && (ts.wildcard || resolveName(typeUrl, name).length === 0)) removed.add(name);
      }
    }
    // Explicitly requested names are always answered, even at a version the client already has.
    for (const n of requested) {
      const found = resolveName(typeUrl, n);
      if (found.length === 0) removed.add(n);
      for (const c of found) out.set(c.name, c);
    }
    push(stream, typeUrl, [...out.values()], [...removed], first || requested.length > 0);
  }

  function onStoreChange(changes: StoreChanges): void {
    if (cache === undefined) return; // built from the whole store when the first client arrives
    const perType = new Map<
      string,
      { name: string; aliases: readonly string[]; now: Cached | undefined }[]
    >();
    for (const c of [...changes.added, ...changes.updated, ...changes.removed]) {
      const resource = (c.value ?? c.previous) as MeshResource;
      const typeUrl = typeOf(resource);
      const byName = cache.get(typeUrl);
      if (byName === undefined) continue;
      const old = byName.get(c.name);
      if (old !== undefined) indexAliases(old, false);
      let now: Cached | undefined;
      if (c.value !== undefined) {
        now = toCached(c.value);
        byName.set(c.name, now);
        indexAliases(now, true);
      } else {
        byName.delete(c.name);
      }
      let list = perType.get(typeUrl);
      if (list === undefined) {
        list = [];
        perType.set(typeUrl, list);
      }
      list.push({ name: c.name, aliases: [...(old?.aliases ?? []), ...(now?.aliases ?? [])], now });
    }
    for (const stream of streams) {
      for (const [typeUrl, list] of perType) {
        const ts = stream.types.get(typeUrl);
        if (ts === undefined) continue;
        const resources: Cached[] = [];
        const removed: string[] = [];
        for (const ch of list) {
          const wanted =
            ts.wildcard ||
            ts.sent.has(ch.name) ||
            ts.subscribed.has(ch.name) ||
            ch.aliases.some((a) => ts.subscribed.has(a));
          if (ch.now !== undefined) {
            if (wanted && ts.sent.get(ch.name) !== ch.now.version) resources.push(ch.now);
          } else if (ts.sent.has(ch.name)) {
            removed.push(ch.name);
          }
        }
        push(stream, typeUrl, resources, removed, false);
      }
    }
  }
  const offStore = store.on('change', onStoreChange);

  const handler: handleBidiStreamingCall<DeltaDiscoveryRequest, DeltaDiscoveryResponse> = (call) => {
    const stream: Stream = { id: ++nextId, call, types: new Map(), nonce: 0, open: true };
    streams.add(stream);
    const done = (): void => {
      if (!stream.open) return;
      stream.open = false;
      streams.delete(stream);
      events.emit('disconnected', { clientId: stream.id });
    };
    call.on('data', (req: DeltaDiscoveryRequest) => {
      try {
        onRequest(stream, req);
      } catch (e) {
        // A bug here must not take the server down: end this stream with an error status.
        call.destroy(
          new WorkloadApiError('WORKLOAD_API_ERR_XDS_STREAM', `request handling failed: ${String(e)}`, {
            cause: e,
          }),
        );
        done();
      }
    });
    call.on('end', () => {
      call.end();
      done();
    });
    call.on('error', done);
    call.on('cancelled', done);
    call.on('close', done);
  };

  return {
    async listen(address = '127.0.0.1:0', creds = ServerCreds.createInsecure()) {
      if (grpcServer !== undefined) throw new Error('listen: the server is already listening');
      const server = new Server({
        'grpc.max_receive_message_length': options.maxReceiveBytes ?? 64 * 1024 * 1024,
        'grpc.max_send_message_length': options.maxSendBytes ?? 200 * 1024 * 1024,
      });
      server.addService(aggregatedDiscoveryService, { DeltaAggregatedResources: handler });
      const port = await new Promise<number>((resolve, reject) =>
        server.bindAsync(address, creds, (e, p) => (e === null ? resolve(p) : reject(e))),
      );
      grpcServer = server;
      return port;
    },
    addTo(server) {
      server.addService(aggregatedDiscoveryService, { DeltaAggregatedResources: handler });
    },
    clients() {
      return [...streams].map((s) => ({
        id: s.id,
        ...(s.node === undefined ? {} : { node: s.node }),
        subscriptions: new Map(
          [...s.types].map(([t, ts]) => [
            t,
            { wildcard: ts.wildcard, names: ts.subscribed.size, sent: ts.sent.size },
          ]),
        ),
      }));
    },
    on: (event, listener) => events.on(event, listener),
    async close() {
      offStore();
      for (const s of [...streams]) {
        s.open = false;
        streams.delete(s);
        s.call.end();
      }
      const server = grpcServer;
      grpcServer = undefined;
      if (server !== undefined) server.forceShutdown();
    },
  };
}
