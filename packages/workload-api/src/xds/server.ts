/**
 * A delta ADS server that serves a {@link WorkloadStore} to any number of clients, the way istiod's
 * workload generator serves ztunnels (istio/istio@86c9f01f:pilot/pkg/xds/workload.go, delta.go): wildcard
 * and on-demand (`network/ip` alias) subscriptions, `resource_names_unsubscribe` by name or alias,
 * `initial_resource_versions` honoured on reconnect, only changed resources pushed, ACKs and NACKs
 * reported on `node:diagnostics_channel` (./diagnostics.ts).
 * @module
 */
import { createHash } from 'node:crypto';
import { toBinary } from '@bufbuild/protobuf';
import {
  status as GrpcStatus,
  type handleBidiStreamingCall,
  type MethodDefinition,
  Server,
  type ServerCredentials,
  ServerCredentials as ServerCreds,
  type ServerDuplexStream,
} from '@grpc/grpc-js';
import { writeAddressView } from '../codec/address-encoder.js';
import { encodeAuthorization } from '../codec/decode.js';
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
} from '../gen/envoy/service/discovery/v3/discovery_pb.js';
import type { StoreChanges, WorkloadStore } from '../store/workload-store.js';
import { deltaAdsMethod } from './ads-service.js';
import { encodeDeltaResponse, encodeResource } from './delta-wire.js';
import { debug, publish } from './diagnostics.js';

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

/** Options for {@link createXdsServer}. */
export interface XdsServerOptions {
  /** The mesh to serve; the server follows its `change` events. */
  readonly store: WorkloadStore;
  /** Largest request accepted (an `initial_resource_versions` map can be large). Default 64 MiB. */
  readonly maxReceiveBytes?: number;
  /** Largest response sent. Default 200 MiB, ztunnel's receive limit. */
  readonly maxSendBytes?: number;
  /**
   * How a request for a type URL other than Address and Authorization is answered. istiod hands such a
   * type to its `api` generator (istio/istio@86c9f01f:pilot/pkg/xds/xdsgen.go:95-106), which answers an
   * authorized caller with an empty response, "to not break waiting code"
   * (pilot/pkg/networking/apigen/apigen.go:83-88), and, since ENABLE_XDS_API_GENERATOR_AUTH (default on,
   * pilot/pkg/features/pilot.go:106-109), ends the stream of a caller without a verified root-namespace
   * identity with UNAUTHENTICATED (apigen.go:147-164).
   *
   * - `'empty'` (default): the answer an authorized caller (a ztunnel in `istio-system`) gets: a response
   *   with no resources, the requested names in `removed_resources` (delta.go `pushDeltaXds`), sent for
   *   the first request of the type and for every later subscription change; ACKs are not answered.
   * - `'unauthenticated'`: the answer an unauthenticated caller gets: the stream ends with gRPC status
   *   UNAUTHENTICATED.
   */
  readonly unservedTypes?: 'empty' | 'unauthenticated';
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
  /** Unique per server in this process: the `serverId` of its diagnostics channel messages. */
  readonly id: number;
  /** Ends every stream, stops following the store, and stops the server started by {@link XdsServer.listen}. Final. */
  close(): Promise<void>;
}

/**
 * One resource as every stream sends it: encoded once, when it changes, and shared by all streams (the
 * version is a hash of the body, so it is also the key of this encoding).
 */
interface Cached {
  readonly name: string;
  readonly version: string;
  readonly aliases: readonly string[];
  /** The encoded `Resource` message, spliced into responses as is. */
  readonly bytes: Uint8Array;
}

/** What a stream writes: a response already encoded, or (unserved types) a message. */
type Outgoing = Uint8Array | DeltaDiscoveryResponse;

/**
 * The delta ADS method as this server serves it: responses are encoded by `encodeDeltaResponse` before
 * they are written, so serializing one is wrapping its bytes.
 */
const servedMethod: MethodDefinition<DeltaDiscoveryRequest, Outgoing> = {
  ...deltaAdsMethod,
  responseSerialize: (m) =>
    m instanceof Uint8Array
      ? Buffer.from(m.buffer, m.byteOffset, m.byteLength)
      : Buffer.from(toBinary(DeltaDiscoveryResponseSchema, m)),
};
const servedService = { DeltaAggregatedResources: servedMethod };

interface TypeState {
  wildcard: boolean;
  /** Names and aliases the client subscribed to (and names it claimed in initial_resource_versions). */
  readonly subscribed: Set<string>;
  /**
   * Resources tracked because a subscribed alias resolved to them, with those aliases. istiod adds such a
   * resource's name to the watched names (workload.go `generateDeltasOndemand`: `subs.Merge(have)`), so
   * it keeps being pushed when its address changes; remembering the aliases lets an unsubscribe of the
   * alias stop it.
   */
  readonly viaAlias: Map<string, Set<string>>;
  /** name -> version the client holds (claimed in initial_resource_versions or sent by us). */
  readonly sent: Map<string, string>;
}

interface Stream {
  readonly id: number;
  readonly call: ServerDuplexStream<DeltaDiscoveryRequest, Outgoing>;
  node?: Node;
  readonly types: Map<string, TypeState>;
  nonce: number;
  open: boolean;
}

const SERVED: ReadonlySet<string> = new Set([ADDRESS_TYPE_URL, AUTHORIZATION_TYPE_URL]);
let nextServerId = 0;

function typeOf(resource: MeshResource): string {
  return resource.kind === 'policy' ? AUTHORIZATION_TYPE_URL : ADDRESS_TYPE_URL;
}

function toCached(resource: MeshResource): Cached {
  const typeUrl = typeOf(resource);
  // An Address is written into a reused buffer and copied once, into its envelope.
  const value = resource.kind === 'policy' ? encodeAuthorization(resource) : writeAddressView(resource);
  const name = resourceName(resource);
  const aliases = resource.kind === 'policy' ? [] : resourceAliases(resource);
  // istiod versions each resource by a hash of its encoding (istio/istio@86c9f01f:pilot/pkg/model/service.go).
  const version = createHash('sha256').update(value).digest('base64url').slice(0, 22);
  return { name, version, aliases, bytes: encodeResource(name, version, aliases, typeUrl, value) };
}

/** Whether a non-wildcard client still tracks `name` (by name, by a current alias, or via an alias). */
function tracks(ts: TypeState, name: string, aliases: readonly string[]): boolean {
  return ts.subscribed.has(name) || ts.viaAlias.has(name) || aliases.some((a) => ts.subscribed.has(a));
}

/**
 * Creates a delta ADS server for a store. Every resource is encoded once, when the server is created or
 * when it changes, into the bytes every stream sends (never per connection), and pushed to the clients
 * that hold or want it.
 *
 * Subscriptions follow Envoy's delta xDS protocol as istiod applies it to ztunnel
 * (istio/istio@86c9f01f:pilot/pkg/xds/delta.go `deltaWatchedResources`, workload.go): a first request with
 * empty subscribe and unsubscribe lists (or `*` in subscribe) is a wildcard subscription; names (a resource
 * name or a `network/ip` alias) subscribe on demand, and names that match nothing come back in
 * `removed_resources`. `resource_names_unsubscribe` stops the pushes of what the name (or alias) brought
 * in, unless a wildcard or another subscribed name still covers it; the server sends no removal for it
 * (the client drops it itself). A request that changes a non-wildcard subscription is always answered,
 * possibly with an empty response (workload.go: "We need to respond for requests, even if we have nothing
 * to respond with"). `initial_resource_versions` on a reconnect suppresses resources the client already
 * has at that version and triggers removals for names the server no longer has. The first request of each
 * type always gets a response, so clients become ready. Other type URLs: see
 * {@link XdsServerOptions.unservedTypes}.
 *
 * @param options - The store and limits.
 * @returns The server (call {@link XdsServer.listen} or {@link XdsServer.addTo}).
 * @example
 * ```ts
 * import diagnosticsChannel from 'node:diagnostics_channel';
 * const server = createXdsServer({ store });
 * const port = await server.listen('127.0.0.1:15010');
 * diagnosticsChannel.subscribe(WORKLOAD_API_CHANNELS.serverNack, (m) => console.warn(m));
 * ```
 */
export function createXdsServer(options: XdsServerOptions): XdsServer {
  const store = options.store;
  const serverId = ++nextServerId;
  const unservedTypes = options.unservedTypes ?? 'empty';
  const streams = new Set<Stream>();
  // alias -> the name of the resource that has it, or the names when several do (rare: an IP claimed twice).
  // Built on the first on-demand request by alias, then kept current: a wildcard-only server (ztunnel's
  // default, XDS_ON_DEMAND off) never pays for it.
  let aliasIndex: Map<string, string | Set<string>> | undefined;
  let nextId = 0;
  let grpcServer: Server | undefined;

  function indexAliases(c: Cached, add: boolean): void {
    if (aliasIndex === undefined) return;
    for (const a of c.aliases) {
      const at = aliasIndex.get(a);
      if (add) {
        if (at === undefined || at === c.name) aliasIndex.set(a, c.name);
        else if (typeof at === 'string') aliasIndex.set(a, new Set([at, c.name]));
        else at.add(c.name);
      } else if (at === c.name) aliasIndex.delete(a);
      else if (at !== undefined && typeof at !== 'string') {
        at.delete(c.name);
        if (at.size === 1) aliasIndex.set(a, at.values().next().value as string);
      }
    }
  }

  // type URL -> name -> the resource as streams send it; built now, then kept current by onStoreChange.
  const cache = new Map<string, Map<string, Cached>>([...SERVED].map((t) => [t, new Map()]));
  const add = (r: MeshResource): void => {
    const c = toCached(r);
    cache.get(typeOf(r))?.set(c.name, c);
    indexAliases(c, true);
  };
  for (const w of store.workloads()) add(w);
  for (const s of store.services()) add(s);
  for (const p of store.policies()) add(p);

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
    for (const c of resources) {
      ts.sent.set(c.name, c.version);
      if (ts.wildcard || ts.subscribed.has(c.name)) continue;
      // Sent because a subscribed alias resolved to it: remember which.
      for (const a of c.aliases) {
        if (!ts.subscribed.has(a)) continue;
        let via = ts.viaAlias.get(c.name);
        if (via === undefined) {
          via = new Set();
          ts.viaAlias.set(c.name, via);
        }
        via.add(a);
      }
    }
    for (const name of removed) {
      ts.sent.delete(name);
      ts.viaAlias.delete(name);
    }
    stream.call.write(
      encodeDeltaResponse(
        typeUrl,
        nonce,
        resources.map((c) => c.bytes),
        removed,
      ),
    );
    debug(
      'xDS server %d: push %s to client %d: %d resources, %d removed',
      serverId,
      typeUrl,
      stream.id,
      resources.length,
      removed.length,
    );
    publish('serverPush', () => ({
      serverId,
      clientId: stream.id,
      typeUrl,
      nonce,
      resources: resources.map((c) => c.name),
      removed: [...removed],
    }));
  }

  /** Resources a requested name stands for: the resource of that name, else those with that alias. */
  function resolveName(typeUrl: string, name: string): Cached[] {
    const byName = cache.get(typeUrl);
    const direct = byName?.get(name);
    if (direct !== undefined) return [direct];
    if (typeUrl !== ADDRESS_TYPE_URL) return [];
    if (aliasIndex === undefined) {
      aliasIndex = new Map();
      for (const c of byName?.values() ?? []) indexAliases(c, true);
    }
    const at = aliasIndex.get(name);
    if (at === undefined) return [];
    const out: Cached[] = [];
    for (const n of typeof at === 'string' ? [at] : at) {
      const c = byName?.get(n);
      if (c !== undefined) out.push(c);
    }
    return out;
  }

  /**
   * Applies `resource_names_unsubscribe`. A wildcard subscription still covers every resource, as the
   * xDS protocol has it; otherwise what only the unsubscribed name (or alias) brought in stops being
   * tracked, so later changes are not pushed and its removal is not sent.
   */
  function unsubscribe(typeUrl: string, ts: TypeState, names: readonly string[]): void {
    for (const n of names) {
      if (n === '*') {
        ts.wildcard = false;
        continue;
      }
      ts.subscribed.delete(n);
      const affected = new Set<string>([n]);
      for (const c of resolveName(typeUrl, n)) affected.add(c.name);
      for (const [name, via] of ts.viaAlias) {
        if (!via.delete(n)) continue;
        affected.add(name);
        if (via.size === 0) ts.viaAlias.delete(name);
      }
      if (ts.wildcard) continue;
      const byName = cache.get(typeUrl);
      for (const name of affected) {
        if (!tracks(ts, name, byName?.get(name)?.aliases ?? [])) ts.sent.delete(name);
      }
    }
  }

  /** A type the server does not serve, answered as istiod's api generator answers it. */
  function onUnservedType(stream: Stream, req: DeltaDiscoveryRequest): void {
    const typeUrl = req.typeUrl;
    let ts = stream.types.get(typeUrl);
    const first = ts === undefined;
    if (first) {
      debug('xDS server %d: client %d asked for unserved type %s', serverId, stream.id, typeUrl);
      publish('serverUnservedType', () => ({
        serverId,
        clientId: stream.id,
        typeUrl,
        answer: unservedTypes,
      }));
    }
    if (unservedTypes === 'unauthenticated') {
      // apigen.go `authorize`: the generator's error ends the stream with its status.
      stream.call.emit('error', {
        code: GrpcStatus.UNAUTHENTICATED,
        details: 'the api generator requires an authenticated control-plane identity',
      });
      return;
    }
    if (ts === undefined) {
      ts = { wildcard: false, subscribed: new Set(), viaAlias: new Map(), sent: new Map() };
      stream.types.set(typeUrl, ts);
    }
    // delta.go `shouldRespondDelta`: the first request of a type and any subscription change are answered;
    // `deltaWatchedResources` counts subscribe and initial_resource_versions names, minus unsubscribed ones.
    const requested = new Set([...req.resourceNamesSubscribe, ...Object.keys(req.initialResourceVersions)]);
    for (const n of req.resourceNamesUnsubscribe) requested.delete(n);
    requested.delete('*');
    let changed = false;
    for (const n of req.resourceNamesSubscribe) {
      if (ts.subscribed.has(n)) continue;
      ts.subscribed.add(n);
      changed = true;
    }
    for (const n of req.resourceNamesUnsubscribe) if (ts.subscribed.delete(n)) changed = true;
    if (!first && !changed) return;
    // The api generator knows no resource of the type: every requested name comes back removed
    // (delta.go:531 in `pushDeltaXds`, `removed := w.ResourceNames.Copy()`), sorted as istiod sorts it.
    push(stream, typeUrl, [], [...requested].sort(), true);
  }

  function onRequest(stream: Stream, req: DeltaDiscoveryRequest): void {
    if (req.node !== undefined && stream.node === undefined) {
      stream.node = req.node;
      debug('xDS server %d: client %d connected, node %s', serverId, stream.id, req.node.id);
      publish('serverConnected', () => ({
        serverId,
        clientId: stream.id,
        ...(req.node === undefined ? {} : { node: req.node }),
      }));
    }
    const typeUrl = req.typeUrl;
    if (req.responseNonce !== '') {
      const nonce = req.responseNonce;
      if (req.errorDetail !== undefined) {
        const message = req.errorDetail.message;
        debug('xDS server %d: client %d NACK %s %s: %s', serverId, stream.id, typeUrl, nonce, message);
        publish('serverNack', () => ({ serverId, clientId: stream.id, typeUrl, nonce, message }));
      } else {
        publish('serverAck', () => ({ serverId, clientId: stream.id, typeUrl, nonce }));
      }
    }
    if (!SERVED.has(typeUrl)) {
      onUnservedType(stream, req);
      return;
    }
    const byName = cache.get(typeUrl) ?? new Map<string, Cached>();
    let ts = stream.types.get(typeUrl);
    const first = ts === undefined;
    if (ts === undefined) {
      const claimed = new Map(Object.entries(req.initialResourceVersions));
      // An empty first request is a wildcard subscription (legacy wildcard); otherwise names are explicit
      // and a resumed client's claimed names stay subscribed.
      const wildcard = req.resourceNamesSubscribe.length === 0 && req.resourceNamesUnsubscribe.length === 0;
      ts = {
        wildcard,
        subscribed: wildcard ? new Set() : new Set(claimed.keys()),
        viaAlias: new Map(),
        sent: claimed,
      };
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
    unsubscribe(typeUrl, ts, req.resourceNamesUnsubscribe);
    const changed = requested.length > 0 || req.resourceNamesUnsubscribe.length > 0;

    // What to send, each resource once: a list (a wildcard client's first response holds every resource,
    // and a list of them costs less than a map), with the names in it only when requests could repeat one.
    const out: Cached[] = [];
    const included = requested.length > 0 || (first && !ts.wildcard) ? new Set<string>() : undefined;
    const include = (c: Cached): void => {
      if (included !== undefined) {
        if (included.has(c.name)) return;
        included.add(c.name);
      }
      out.push(c);
    };
    const removed = new Set<string>();
    if (first) {
      const candidates = ts.wildcard
        ? byName.values()
        : [...ts.subscribed].flatMap((n) => resolveName(typeUrl, n));
      const claimed = ts.sent;
      for (const c of candidates) if (claimed.size === 0 || claimed.get(c.name) !== c.version) include(c);
      // Names the client claims that the server no longer has (workload.go `GenerateDeltas`).
      for (const name of claimed.keys()) {
        if (!byName.has(name) && (ts.wildcard || resolveName(typeUrl, name).length === 0)) removed.add(name);
      }
    }
    // Explicitly requested names are always answered, even at a version the client already has.
    for (const n of requested) {
      const found = resolveName(typeUrl, n);
      if (found.length === 0) removed.add(n);
      for (const c of found) include(c);
    }
    // The first request, and a request that changed the subscription of an on-demand client, always get
    // a response (workload.go `generateDeltasOndemand`).
    push(stream, typeUrl, out, [...removed], first || requested.length > 0 || (changed && !ts.wildcard));
  }

  function onStoreChange(changes: StoreChanges): void {
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
          if (ch.now !== undefined) {
            const wanted = ts.wildcard || tracks(ts, ch.name, ch.aliases);
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

  const handler: handleBidiStreamingCall<DeltaDiscoveryRequest, Outgoing> = (call) => {
    const stream: Stream = { id: ++nextId, call, types: new Map(), nonce: 0, open: true };
    streams.add(stream);
    const done = (): void => {
      if (!stream.open) return;
      stream.open = false;
      streams.delete(stream);
      debug('xDS server %d: client %d disconnected', serverId, stream.id);
      publish('serverDisconnected', () => ({ serverId, clientId: stream.id }));
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
    id: serverId,
    async listen(address = '127.0.0.1:0', creds = ServerCreds.createInsecure()) {
      if (grpcServer !== undefined) throw new Error('listen: the server is already listening');
      const server = new Server({
        'grpc.max_receive_message_length': options.maxReceiveBytes ?? 64 * 1024 * 1024,
        'grpc.max_send_message_length': options.maxSendBytes ?? 200 * 1024 * 1024,
      });
      server.addService(servedService, { DeltaAggregatedResources: handler });
      const port = await new Promise<number>((resolve, reject) =>
        server.bindAsync(address, creds, (e, p) => (e === null ? resolve(p) : reject(e))),
      );
      grpcServer = server;
      return port;
    },
    addTo(server) {
      server.addService(servedService, { DeltaAggregatedResources: handler });
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
