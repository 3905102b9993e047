/**
 * The delta ADS client ztunnel runs against istiod (istio/ztunnel@62d82653:src/xds/client.rs): subscribes
 * to Address and Authorization, applies each response to a store (good resources applied, bad ones NACKed
 * by name), ACKs with the nonce, reconnects with backoff and `initial_resource_versions`, and fetches
 * `network/ip` names on demand. Its events go to `node:diagnostics_channel` (./diagnostics.ts) and to the
 * per-instance hook {@link XdsClient.on}.
 * @module
 */
import { create } from '@bufbuild/protobuf';
import {
  type ChannelCredentials,
  Client,
  type ClientDuplexStream,
  credentials,
  Metadata,
  type MethodDefinition,
  type StatusObject,
} from '@grpc/grpc-js';
import type { Authorization } from '../codec/authorization.js';
import type { DecodeOptions } from '../codec/decode.js';
import { decodeAddressAt, decodeAuthorization } from '../codec/decode.js';
import { WorkloadApiError } from '../codec/errors.js';
import { createInterner } from '../codec/issues.js';
import { setOwnKey } from '../codec/own-key.js';
import { ADDRESS_TYPE_URL, type AddressResource, AUTHORIZATION_TYPE_URL } from '../codec/resource.js';
import type { Node } from '../gen/envoy/config/core/v3/base_pb.js';
import {
  type DeltaDiscoveryRequest,
  DeltaDiscoveryRequestSchema,
} from '../gen/envoy/service/discovery/v3/discovery_pb.js';
import type { RemovedRef, WorkloadStore } from '../store/workload-store.js';
import { DELTA_ADS_PATH, deltaAdsMethod } from './ads-service.js';
import { bearer, bearerFromFile } from './credentials.js';
import { readDeltaResponse, type WireResponse } from './delta-wire.js';
import { debug, publish } from './diagnostics.js';
import { createListeners } from './listeners.js';
import { ztunnelNodeFromEnv } from './node.js';

/** One rejected resource of a NACK. */
export interface RejectedResource {
  readonly name: string;
  readonly error: WorkloadApiError;
}

/** Events of an {@link XdsClient}. */
export interface XdsClientEvents {
  /** A stream to the server is open (its first response arrived). */
  readonly connected: { readonly attempt: number };
  /** The stream ended; the client reconnects after `backoffMs` unless closed. */
  readonly disconnected: { readonly error: WorkloadApiError; readonly backoffMs: number };
  /**
   * A connection attempt failed before its stream opened: its credentials could not be prepared (token
   * file, root certificates, `metadata`), or the stream failed before the first response (refused,
   * TLS, UNAUTHENTICATED). The client tries again after `backoffMs`.
   */
  readonly connectFailed: {
    readonly attempt: number;
    readonly error: WorkloadApiError;
    readonly backoffMs: number;
  };
  /** A new connection attempt starts after the previous stream or attempt ended with `reason`. */
  readonly reconnecting: { readonly attempt: number; readonly reason: WorkloadApiError };
  /** A response was applied in full and ACKed. */
  readonly ack: {
    readonly typeUrl: string;
    readonly nonce: string;
    readonly applied: number;
    readonly removed: number;
  };
  /** A response was NACKed: the good resources were applied, these were not. */
  readonly nack: {
    readonly typeUrl: string;
    readonly nonce: string;
    readonly rejected: readonly RejectedResource[];
  };
}

/** Options for {@link createXdsClient}. */
export interface XdsClientOptions {
  /** The server, a gRPC target such as `istiod.istio-system.svc:15010` or `127.0.0.1:15010` (ztunnel `XDS_ADDRESS`). */
  readonly address: string;
  /** Where resources go. */
  readonly store: WorkloadStore;
  /**
   * Channel credentials, or a function called on every connect for them. Default insecure (plaintext).
   * For istiod's 15012 use {@link xdsTlsCredentials}, which re-reads the root certificates per connect as
   * ztunnel does.
   */
  readonly credentials?: ChannelCredentials | (() => ChannelCredentials | Promise<ChannelCredentials>);
  /**
   * Over TLS, the server name to ask for (SNI) and check the certificate against instead of the address's
   * host (grpc-js `grpc.ssl_target_name_override`). Give it when `address` is an IP literal: Node refuses an
   * IP as SNI (DEP0123), and istiod's certificate names `istiod.istio-system.svc`, not an address (ztunnel's
   * `ALT_XDS_HOSTNAME` for a `XDS_ADDRESS` such as `https://10.96.0.10:15012`).
   */
  readonly tlsServerName?: string | undefined;
  /**
   * Extra request headers (ztunnel `XDS_HEADERS`), or a function called on every connect for them (a
   * rotating credential, say). `authorization` and `clusterid` from `token`, `tokenFile` and `clusterId`
   * take precedence, as ztunnel inserts them last.
   */
  readonly metadata?: Readonly<Record<string, string>> | XdsMetadataSource;
  /**
   * A file holding the bearer token, read on every connect and sent as `authorization: Bearer <token>`,
   * the bytes as they are (ztunnel `AUTH_TOKEN`, default `./var/run/secrets/tokens/istio-token`). An
   * unreadable or empty file fails the attempt, which is retried with backoff.
   */
  readonly tokenFile?: string;
  /** A bearer token sent as is on every connect (ztunnel `AUTH_TOKEN` when it is not a file). */
  readonly token?: string;
  /**
   * The `clusterid` header (ztunnel `CLUSTER_ID`). Default: `Kubernetes` when a token is sent, as
   * ztunnel sends it with its token; not sent otherwise.
   */
  readonly clusterId?: string;
  /** The node sent on initial requests. Default {@link ztunnelNodeFromEnv}(). */
  readonly node?: Node;
  /**
   * On-demand mode (ztunnel `XDS_ON_DEMAND`, default false): the Address subscription starts empty
   * (`subscribe: ["*"]` plus `unsubscribe: ["*"]`) and {@link XdsClient.demand} asks for names.
   * Authorization is always a wildcard subscription.
   */
  readonly onDemand?: boolean;
  /** Type URLs to subscribe to. Default Address and Authorization, as ztunnel. */
  readonly typeUrls?: readonly string[];
  /** First reconnect delay. Default 10 ms (ztunnel `INITIAL_BACKOFF`). */
  readonly initialBackoffMs?: number;
  /** Longest reconnect delay; the delay doubles up to it. Default 15000 ms (ztunnel `MAX_BACKOFF`). */
  readonly maxBackoffMs?: number;
  /** Largest response accepted. Default 200 MiB (ztunnel `max_decoding_message_size`). */
  readonly maxReceiveBytes?: number;
  /** Cap per decoded resource. Default 4 MiB (`DEFAULT_MAX_RESOURCE_BYTES` of `@ambient-kit/workload-api/codec`). */
  readonly maxResourceBytes?: number;
  /** Closes the client when aborted. */
  readonly signal?: AbortSignal;
}

/**
 * A source of per-connection request headers, called before every connection attempt.
 *
 * @example
 * ```ts
 * const metadata: XdsMetadataSource = async () => ({ authorization: `Bearer ${await fetchToken()}` });
 * ```
 */
export type XdsMetadataSource = (connection: {
  readonly attempt: number;
}) => Readonly<Record<string, string>> | Promise<Readonly<Record<string, string>>>;

const CHANNEL_OF = {
  connected: 'clientConnected',
  disconnected: 'clientDisconnected',
  connectFailed: 'clientConnectFailed',
  reconnecting: 'clientReconnecting',
  ack: 'clientAck',
  nack: 'clientNack',
} as const;

/**
 * The delta ADS method as this client calls it: responses are read in place (./delta-wire.ts), and each
 * resource is decoded from the response buffer.
 */
const calledMethod: MethodDefinition<DeltaDiscoveryRequest, WireResponse> = {
  ...deltaAdsMethod,
  responseDeserialize: (b) => readDeltaResponse(new Uint8Array(b.buffer, b.byteOffset, b.byteLength)),
  responseSerialize: () => {
    throw new Error('a client never serializes a response');
  },
};

/** A running delta xDS client. */
export interface XdsClient {
  /**
   * Resolves once every wildcard type has been ACKed once (ztunnel's readiness).
   * @throws {WorkloadApiError} `WORKLOAD_API_ERR_TIMEOUT`, `..._ABORTED` or `..._CLOSED`.
   */
  ready(options?: { readonly signal?: AbortSignal; readonly timeoutMs?: number }): Promise<void>;
  /**
   * Subscribes to one Address name on demand (usually `network/ip`, e.g. `/10.0.0.5`) and resolves once a
   * response carries it, as a resource or as removed (unknown to the server).
   * @throws {WorkloadApiError} `WORKLOAD_API_ERR_TIMEOUT` (default 5000 ms), `..._ABORTED`, `..._CLOSED`.
   */
  demand(
    name: string,
    options?: { readonly signal?: AbortSignal; readonly timeoutMs?: number },
  ): Promise<void>;
  /** The name -> version map of resources held for a type, as sent in `initial_resource_versions`. */
  knownResources(typeUrl: string): ReadonlyMap<string, string>;
  /**
   * Subscribes to this client's events; returns the unsubscribe function. The same events, for every
   * client in the process, are on the `ambient-kit:workload-api:xds-client:*` diagnostics channels. A
   * listener that throws is reported on the `listener-error` channel and does not disturb the stream.
   */
  on<E extends keyof XdsClientEvents>(event: E, listener: (payload: XdsClientEvents[E]) => void): () => void;
  /** Whether a stream is currently open. */
  readonly connected: boolean;
  /** Stops the stream and any reconnect; pending `ready`/`demand` calls reject. */
  close(): Promise<void>;
}

interface Waiter {
  resolve(): void;
  reject(e: WorkloadApiError): void;
}

function waitFor(
  register: (w: Waiter) => () => void,
  what: string,
  options: { readonly signal?: AbortSignal; readonly timeoutMs?: number } | undefined,
  defaultTimeoutMs: number | undefined,
): Promise<void> {
  return new Promise<void>((resolve, reject) => {
    const timeoutMs = options?.timeoutMs ?? defaultTimeoutMs;
    let timer: NodeJS.Timeout | undefined;
    const cleanup = (): void => {
      if (timer !== undefined) clearTimeout(timer);
      options?.signal?.removeEventListener('abort', onAbort);
      unregister();
    };
    const onAbort = (): void => {
      cleanup();
      reject(
        new WorkloadApiError('WORKLOAD_API_ERR_ABORTED', `${what} aborted`, {
          cause: options?.signal?.reason,
        }),
      );
    };
    const unregister = register({
      resolve: () => {
        cleanup();
        resolve();
      },
      reject: (e) => {
        cleanup();
        reject(e);
      },
    });
    if (options?.signal?.aborted === true) return onAbort();
    options?.signal?.addEventListener('abort', onAbort, { once: true });
    if (timeoutMs !== undefined) {
      timer = setTimeout(() => {
        cleanup();
        reject(new WorkloadApiError('WORKLOAD_API_ERR_TIMEOUT', `${what} timed out after ${timeoutMs} ms`));
      }, timeoutMs);
    }
  });
}

/**
 * Starts a delta ADS client that keeps `store` in sync with the server.
 *
 * Per response: each resource is decoded and validated on its own; the valid ones and the removals are
 * applied in one {@link WorkloadStore.apply}; then the client ACKs with the nonce, or NACKs with
 * `error_detail.message` = `<name>: <reason>; <name>: <reason>` naming every rejected resource. Rejected
 * resources are not recorded as known, so after a reconnect the server sends them again. On stream loss
 * the client reconnects after a delay that starts at `initialBackoffMs` and doubles up to
 * `maxBackoffMs` while connection attempts keep failing, and announces what it holds in
 * `initial_resource_versions`.
 *
 * @param options - Server address, store and options.
 * @returns The client (already connecting).
 * @example
 * ```ts
 * const store = createWorkloadStore();
 * const client = createXdsClient({ address: '127.0.0.1:15010', store });
 * await client.ready({ timeoutMs: 10_000 });
 * client.on('nack', (n) => console.warn(n.rejected.map((r) => r.name)));
 * ```
 */
export function createXdsClient(options: XdsClientOptions): XdsClient {
  if (typeof options.address !== 'string' || options.address === '') {
    throw new TypeError('address: expected a gRPC target such as 127.0.0.1:15010');
  }
  if (options.token !== undefined && options.tokenFile !== undefined) {
    throw new TypeError('token, tokenFile: give one of them');
  }
  const store = options.store;
  const typeUrls = options.typeUrls ?? [ADDRESS_TYPE_URL, AUTHORIZATION_TYPE_URL];
  const onDemand = options.onDemand ?? false;
  const initialBackoffMs = options.initialBackoffMs ?? 10;
  const maxBackoffMs = options.maxBackoffMs ?? 15_000;
  const node = options.node ?? ztunnelNodeFromEnv();
  const decodeOptions: DecodeOptions = {
    intern: createInterner(),
    ...(options.maxResourceBytes === undefined ? {} : { maxBytes: options.maxResourceBytes }),
  };
  const channelOptions = {
    'grpc.max_receive_message_length': options.maxReceiveBytes ?? 200 * 1024 * 1024,
    ...(options.tlsServerName === undefined
      ? {}
      : { 'grpc.ssl_target_name_override': options.tlsServerName }),
  };
  const sendsToken = options.token !== undefined || options.tokenFile !== undefined;
  const clusterId = options.clusterId ?? (sendsToken ? 'Kubernetes' : undefined);
  // Fixed credentials share one channel; credentials made per connect get a channel per connect, as
  // ztunnel builds its TLS channel anew on every connection.
  const fixedCredentials = typeof options.credentials === 'function' ? undefined : options.credentials;
  let grpcClient: Client | undefined =
    typeof options.credentials === 'function'
      ? undefined
      : new Client(options.address, fixedCredentials ?? credentials.createInsecure(), channelOptions);
  const events = createListeners<XdsClientEvents>();
  const address = options.address;
  /** Every event goes to its diagnostics channel and to the instance's `on` listeners. */
  function emit<E extends keyof XdsClientEvents>(event: E, payload: XdsClientEvents[E]): void {
    const channel = CHANNEL_OF[event];
    publish(channel, () => ({ address, ...payload }) as never);
    events.emit(event, payload);
  }

  // ztunnel `State.known_resources`: type -> name -> last version the server sent (and we accepted).
  const known = new Map<string, Map<string, string>>(typeUrls.map((t) => [t, new Map()]));
  const demandWaiters = new Map<string, Set<Waiter>>();
  const pendingDemands = new Set<string>();
  const readyWaiters = new Set<Waiter>();
  // Wildcard types whose first ACK is still outstanding (ztunnel `types_to_expect`).
  const typesToExpect = new Set(typeUrls.filter((t) => !(onDemand && t === ADDRESS_TYPE_URL)));
  let isReady = typesToExpect.size === 0;
  let closed = false;
  let call: ClientDuplexStream<DeltaDiscoveryRequest, WireResponse> | undefined;
  let streamOpen = false;
  let attempt = 0;
  let backoffMs = initialBackoffMs;
  let timer: NodeJS.Timeout | undefined;
  // Why the last stream or attempt ended, reported with the next attempt.
  let lastEnd: WorkloadApiError | undefined;

  const isOnDemandType = (typeUrl: string): boolean => onDemand && typeUrl === ADDRESS_TYPE_URL;

  function initialRequest(typeUrl: string): DeltaDiscoveryRequest {
    const versions: Record<string, string> = {};
    for (const [name, version] of known.get(typeUrl) ?? []) setOwnKey(versions, name, version);
    return create(DeltaDiscoveryRequestSchema, {
      typeUrl,
      node,
      // XDS cannot subscribe to nothing; subscribing and unsubscribing `*` at once means exactly that.
      ...(isOnDemandType(typeUrl) ? { resourceNamesSubscribe: ['*'], resourceNamesUnsubscribe: ['*'] } : {}),
      initialResourceVersions: versions,
    });
  }

  function send(req: DeltaDiscoveryRequest): void {
    if (call === undefined) return;
    call.write(req);
  }

  /**
   * The headers of one connection: `metadata`, then `authorization` and `clusterid`, which ztunnel
   * inserts last (src/tls/control.rs `TlsGrpcChannel::call`).
   */
  async function headers(): Promise<Metadata> {
    const metadata = new Metadata();
    const extra =
      typeof options.metadata === 'function' ? await options.metadata({ attempt }) : options.metadata;
    for (const [k, v] of Object.entries(extra ?? {})) metadata.set(k, v);
    if (options.tokenFile !== undefined)
      metadata.set('authorization', await bearerFromFile(options.tokenFile));
    else if (options.token !== undefined) metadata.set('authorization', bearer(options.token, 'token'));
    if (clusterId !== undefined) metadata.set('clusterid', clusterId);
    return metadata;
  }

  /** An attempt or stream ended: schedule the next one, backing off while attempts fail. */
  function retry(error: WorkloadApiError, opened: boolean, thisAttempt: number): void {
    lastEnd = error;
    if (closed) return;
    // A stream that worked reconnects at once (ztunnel resets to INITIAL_BACKOFF after a stream that
    // ended normally); failed connection attempts back off exponentially.
    backoffMs = opened ? initialBackoffMs : Math.min(maxBackoffMs, backoffMs * 2);
    if (!opened) {
      debug(
        'xDS client %s: attempt %d failed (%s), retrying in %d ms',
        address,
        thisAttempt,
        error.message,
        backoffMs,
      );
      emit('connectFailed', { attempt: thisAttempt, error, backoffMs });
    }
    timer = setTimeout(() => void connect(), backoffMs);
  }

  async function connect(): Promise<void> {
    if (closed) return;
    const thisAttempt = ++attempt;
    if (lastEnd !== undefined) {
      debug('xDS client %s: reconnecting (attempt %d) after: %s', address, thisAttempt, lastEnd.message);
      emit('reconnecting', { attempt: thisAttempt, reason: lastEnd });
    }
    let metadata: Metadata;
    let grpc: Client;
    try {
      metadata = await headers();
      if (typeof options.credentials === 'function') {
        const creds = await options.credentials();
        if (closed) return;
        grpcClient?.close();
        grpcClient = new Client(options.address, creds, channelOptions);
      }
      grpc = grpcClient as Client;
    } catch (cause) {
      const error =
        cause instanceof WorkloadApiError && cause.code === 'WORKLOAD_API_ERR_XDS_CREDENTIALS'
          ? cause
          : new WorkloadApiError(
              'WORKLOAD_API_ERR_XDS_CREDENTIALS',
              `xDS connection to ${address} could not be prepared: ${cause instanceof Error ? cause.message : String(cause)}`,
              { cause },
            );
      retry(error, false, thisAttempt);
      return;
    }
    if (closed) return;
    const thisCall = grpc.makeBidiStreamRequest(
      DELTA_ADS_PATH,
      calledMethod.requestSerialize,
      calledMethod.responseDeserialize,
      metadata,
    );
    call = thisCall;
    streamOpen = false;
    let received = false;
    let ended = false;
    const onEnd = (error: WorkloadApiError): void => {
      if (ended) return;
      ended = true;
      if (call === thisCall) call = undefined;
      streamOpen = false;
      if (closed) return;
      const nextBackoff = received ? initialBackoffMs : Math.min(maxBackoffMs, backoffMs * 2);
      debug('xDS client %s: stream ended (%s), reconnecting in %d ms', address, error.message, nextBackoff);
      emit('disconnected', { error, backoffMs: nextBackoff });
      retry(error, received, thisAttempt);
    };
    thisCall.on('data', (res: WireResponse) => {
      if (!received) {
        received = true;
        streamOpen = true;
        lastEnd = undefined;
        debug('xDS client %s: connected (attempt %d)', address, thisAttempt);
        emit('connected', { attempt: thisAttempt });
      }
      handleResponse(res);
    });
    thisCall.on('error', (e: Error & Partial<StatusObject>) => {
      onEnd(
        new WorkloadApiError(
          'WORKLOAD_API_ERR_XDS_STREAM',
          `xDS stream to ${options.address} failed: ${e.message}`,
          { cause: e },
        ),
      );
    });
    thisCall.on('end', () => {
      onEnd(new WorkloadApiError('WORKLOAD_API_ERR_XDS_STREAM', `xDS stream to ${options.address} ended`));
    });
    for (const t of typeUrls) send(initialRequest(t));
    for (const name of pendingDemands) {
      send(
        create(DeltaDiscoveryRequestSchema, { typeUrl: ADDRESS_TYPE_URL, resourceNamesSubscribe: [name] }),
      );
    }
  }

  /** Decodes one resource's body from the response buffer. */
  function decodeBody(
    typeUrl: string,
    res: WireResponse,
    body: NonNullable<WireResponse['resources'][number]['body']>,
  ): { model?: AddressResource | Authorization; error?: WorkloadApiError } {
    if (body.typeUrl !== '' && body.typeUrl !== typeUrl) {
      return {
        error: new WorkloadApiError(
          'WORKLOAD_API_ERR_WRONG_TYPE',
          `resource type ${body.typeUrl} in a ${typeUrl} response`,
        ),
      };
    }
    const decoded =
      typeUrl === ADDRESS_TYPE_URL
        ? decodeAddressAt(res.buf, body.start, body.end, decodeOptions)
        : decodeAuthorization(res.buf.subarray(body.start, body.end), decodeOptions);
    return decoded.isErr() ? { error: decoded.error } : { model: decoded.value };
  }

  function handleResponse(res: WireResponse): void {
    const typeUrl = res.typeUrl;
    const versions = known.get(typeUrl);
    if (versions === undefined) {
      // ztunnel logs an unknown type and still ACKs it (client.rs:720-727).
      send(create(DeltaDiscoveryRequestSchema, { typeUrl, responseNonce: res.nonce }));
      return;
    }
    const rejected: RejectedResource[] = [];
    const models: (AddressResource | Authorization)[] = [];
    const accepted: string[] = [];
    for (const r of res.resources) {
      const out =
        r.body === undefined
          ? {
              error: new WorkloadApiError(
                'WORKLOAD_API_ERR_MISSING_RESOURCE',
                'XDS payload without resource',
              ),
            }
          : decodeBody(typeUrl, res, r.body);
      if (out.model !== undefined) {
        models.push(out.model);
        // The name as the model holds it when they agree: one string kept per resource, not two.
        const own = out.model.kind === 'workload' ? out.model.uid : out.model.key;
        accepted.push(own === r.name ? own : r.name, r.version);
      } else rejected.push({ name: r.name, error: out.error as WorkloadApiError });
    }
    const removed: readonly (string | RemovedRef)[] =
      typeUrl === AUTHORIZATION_TYPE_URL
        ? res.removedResources.map((name) => ({ kind: 'policy' as const, name }))
        : res.removedResources;
    try {
      store.apply({ resources: models, removed });
    } catch (error) {
      // Only a store listener can throw here; the store itself is consistent, so carry on.
      debug(
        'xDS client %s: a store listener threw: %s',
        address,
        error instanceof Error ? error.message : String(error),
      );
      publish('listenerError', () => ({ event: 'store', error }));
    }
    // Known versions are updated after the store, and never for rejected resources, so a reconnect makes
    // the server resend them (client.rs:172-203).
    for (const name of res.removedResources) versions.delete(name);
    for (let i = 0; i < accepted.length; i += 2)
      versions.set(accepted[i] as string, accepted[i + 1] as string);
    // A demanded `network/ip` comes back under the resource's own name with the address among its
    // aliases (istio/istio@86c9f01f:pilot/pkg/xds/workload.go appendAddress), or in removed_resources when unknown.
    if (pendingDemands.size > 0) {
      for (const name of res.removedResources) notifyDemand(name);
      for (const r of res.resources) {
        notifyDemand(r.name);
        for (const alias of r.aliases) notifyDemand(alias);
      }
    }

    if (rejected.length > 0) {
      send(
        create(DeltaDiscoveryRequestSchema, {
          typeUrl,
          responseNonce: res.nonce,
          errorDetail: { message: rejected.map((r) => `${r.name}: ${r.error.message}`).join('; ') },
        }),
      );
      debug('xDS client %s: NACK %s %s: %d rejected', address, typeUrl, res.nonce, rejected.length);
      emit('nack', { typeUrl, nonce: res.nonce, rejected });
      return;
    }
    send(create(DeltaDiscoveryRequestSchema, { typeUrl, responseNonce: res.nonce }));
    emit('ack', {
      typeUrl,
      nonce: res.nonce,
      applied: models.length,
      removed: res.removedResources.length,
    });
    if (typesToExpect.delete(typeUrl) && typesToExpect.size === 0) {
      isReady = true;
      for (const w of [...readyWaiters]) w.resolve();
    }
  }

  function notifyDemand(name: string): void {
    if (!pendingDemands.delete(name)) return;
    for (const w of [...(demandWaiters.get(name) ?? [])]) w.resolve();
    demandWaiters.delete(name);
  }

  const client: XdsClient = {
    ready(opts) {
      if (isReady) return Promise.resolve();
      if (closed)
        return Promise.reject(new WorkloadApiError('WORKLOAD_API_ERR_CLOSED', 'xDS client is closed'));
      return waitFor(
        (w) => {
          readyWaiters.add(w);
          return () => readyWaiters.delete(w);
        },
        'waiting for xDS readiness',
        opts,
        undefined,
      );
    },
    demand(name, opts) {
      if (closed)
        return Promise.reject(new WorkloadApiError('WORKLOAD_API_ERR_CLOSED', 'xDS client is closed'));
      if (!onDemand) throw new TypeError('demand: the client was not created with onDemand: true');
      const p = waitFor(
        (w) => {
          let set = demandWaiters.get(name);
          if (set === undefined) {
            set = new Set();
            demandWaiters.set(name, set);
          }
          set.add(w);
          return () => set.delete(w);
        },
        `on-demand fetch of ${name}`,
        opts,
        5000,
      );
      if (!pendingDemands.has(name)) {
        pendingDemands.add(name);
        // Claim no version: the server must send the resource (client.rs add_pending_resource).
        const versions = known.get(ADDRESS_TYPE_URL);
        if (versions !== undefined && !versions.has(name)) versions.set(name, '');
        send(
          create(DeltaDiscoveryRequestSchema, { typeUrl: ADDRESS_TYPE_URL, resourceNamesSubscribe: [name] }),
        );
      }
      return p;
    },
    knownResources: (typeUrl) => known.get(typeUrl) ?? new Map(),
    on: (event, listener) => events.on(event, listener),
    get connected() {
      return streamOpen;
    },
    async close() {
      if (closed) return;
      closed = true;
      if (timer !== undefined) clearTimeout(timer);
      const closing = new WorkloadApiError('WORKLOAD_API_ERR_CLOSED', 'xDS client is closed');
      for (const w of [...readyWaiters]) w.reject(closing);
      for (const set of demandWaiters.values()) for (const w of [...set]) w.reject(closing);
      call?.cancel();
      call = undefined;
      streamOpen = false;
      grpcClient?.close();
    },
  };
  if (options.signal?.aborted === true) void client.close();
  else {
    options.signal?.addEventListener('abort', () => void client.close(), { once: true });
    void connect();
  }
  return client;
}
