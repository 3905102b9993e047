/**
 * A SPIFFE Workload API client on @grpc/grpc-js (go-spiffe's `workloadapi.Client`,
 * spiffe/go-spiffe@e9973f63:workloadapi/client.go): a plaintext channel to the endpoint's Unix socket (or
 * TCP address), the security header `workload.spiffe.io: true` on every call, every answer checked before it
 * is returned, every failure a typed {@link SpiffeError}, and watches that reconnect with backoff.
 * docs/identity.md describes the protocol.
 * @module
 */
import { create } from '@bufbuild/protobuf';
import { Client, type ClientReadableStream, credentials, Metadata, type ServiceError } from '@grpc/grpc-js';
import { err, type Result } from 'neverthrow';
import { type BundleSet, createBundleSet } from '../codec/bundle-set.js';
import { SpiffeError } from '../codec/errors.js';
import type { JwtSvid } from '../codec/jwt-svid.js';
import { requireSpiffeId, type SpiffeId } from '../codec/spiffe-id.js';
import { debug } from '../diagnostics.js';
import {
  JWTBundlesRequestSchema,
  type JWTBundlesResponse,
  JWTSVIDRequestSchema,
  type JWTSVIDResponse,
  ValidateJWTSVIDRequestSchema,
  type ValidateJWTSVIDResponse,
  X509BundlesRequestSchema,
  type X509BundlesResponse,
  X509SVIDRequestSchema,
  type X509SVIDResponse,
} from '../gen/spiffe/workload/workload_pb.js';
import type { BackoffOptions } from '../svid/backoff.js';
import { resolveWorkloadApiAddress } from './address.js';
import { decodeJwtBundleMap, decodeX509BundleMap } from './bundle-map.js';
import { decodeJwtSvidResponse, readIssuedJwtSvid, type WorkloadJwtSvid } from './jwt-svids.js';
import { SECURITY_HEADER_KEY, SECURITY_HEADER_VALUE, WORKLOAD_API_METHODS } from './service.js';
import { workloadApiCallError } from './status.js';
import { DEFAULT_WATCH_BACKOFF, startWatch, type Watch, type WatchOptions } from './watch.js';
import { decodeX509SvidResponse, type X509Context } from './x509-context.js';

/** Default deadline of a fetch or a unary call. */
export const DEFAULT_WORKLOAD_API_TIMEOUT_MS = 30_000;
/** Default cap on one response message: bundle maps of many federated trust domains can be large. */
export const DEFAULT_MAX_WORKLOAD_API_RESPONSE_BYTES: number = 16 * 1024 * 1024;

const EMPTY_REQUESTS = {
  FetchX509SVID: X509SVIDRequestSchema,
  FetchX509Bundles: X509BundlesRequestSchema,
  FetchJWTBundles: JWTBundlesRequestSchema,
} as const;

/** Options of {@link createWorkloadApiClient}. */
export interface WorkloadApiClientOptions {
  /**
   * The endpoint: `unix:///path/to/socket`, `unix:/path/to/socket`, a bare absolute socket path, or
   * `tcp://IP:port`. Default: the `SPIFFE_ENDPOINT_SOCKET` environment variable (a URI).
   */
  readonly socketPath?: string;
  /** Deadline of each fetch and unary call. Default {@link DEFAULT_WORKLOAD_API_TIMEOUT_MS}. */
  readonly timeoutMs?: number;
  /** Largest response message accepted. Default {@link DEFAULT_MAX_WORKLOAD_API_RESPONSE_BYTES}. */
  readonly maxResponseBytes?: number;
  /** The retry backoff of watches. Default {@link DEFAULT_WATCH_BACKOFF} (1 s, ×2, ±20 %, 30 s cap). */
  readonly backoff?: BackoffOptions;
}

/** Options of one call. */
export interface WorkloadApiCallOptions {
  /** Cancels the call. */
  readonly signal?: AbortSignal;
}

/** Parameters of {@link WorkloadApiClient.fetchJwtSvid}. */
export interface FetchJwtSvidParams extends WorkloadApiCallOptions {
  /** The audience(s) the token is for: at least one non-empty string. */
  readonly audience: string | readonly string[];
  /** Only this identity's token (default: the caller's default identity). */
  readonly subject?: SpiffeId | string;
}

/** A client of one Workload API endpoint. */
export interface WorkloadApiClient {
  /** The endpoint, as a canonical URI (`unix:///path`, `tcp://IP:port`). */
  readonly address: string;
  /**
   * The caller's X.509 identity now: the first `FetchX509SVID` message.
   * @returns The SVIDs (the default first) and the X.509 bundles.
   * @throws {SpiffeError} (rejects) `SPIFFE_ERR_WORKLOAD_API_*`: one code per gRPC status,
   * `SPIFFE_ERR_WORKLOAD_API_BAD_RESPONSE` for a message that breaks the profile.
   */
  fetchX509Context(options?: WorkloadApiCallOptions): Promise<X509Context>;
  /**
   * Follows the caller's X.509 identity: `onUpdate` gets the first state and every later one (a rotation, a
   * bundle change). The stream is reopened with backoff when it fails. A watch keeps the process alive until
   * closed, as an open socket would.
   */
  watchX509Context(onUpdate: (context: X509Context) => void, options?: WatchOptions): Watch;
  /** The X.509 bundles now (`FetchX509Bundles`), each trust domain apart. */
  fetchX509Bundles(options?: WorkloadApiCallOptions): Promise<BundleSet>;
  /** Follows the X.509 bundles. */
  watchX509Bundles(onUpdate: (bundles: BundleSet) => void, options?: WatchOptions): Watch;
  /**
   * A JWT-SVID for the audience (`FetchJWTSVID`): the caller's default identity's, or `subject`'s.
   * @throws {TypeError} (rejects) For an empty audience.
   */
  fetchJwtSvid(params: FetchJwtSvidParams): Promise<WorkloadJwtSvid>;
  /** Every JWT-SVID of the caller for the audience (or only `subject`'s). */
  fetchJwtSvids(params: FetchJwtSvidParams): Promise<WorkloadJwtSvid[]>;
  /** The JWT bundles now (`FetchJWTBundles`). */
  fetchJwtBundles(options?: WorkloadApiCallOptions): Promise<BundleSet>;
  /** Follows the JWT bundles. */
  watchJwtBundles(onUpdate: (bundles: BundleSet) => void, options?: WatchOptions): Watch;
  /**
   * Has the Workload API validate a JWT-SVID for `audience` (`ValidateJWTSVID`). A token it refuses rejects
   * with `SPIFFE_ERR_WORKLOAD_API_INVALID_ARGUMENT` (the server's reason in the message).
   * @returns The validated token, parsed.
   * @throws {TypeError} (rejects) For an empty audience or a token that is not a string.
   */
  validateJwtSvid(token: string, audience: string, options?: WorkloadApiCallOptions): Promise<JwtSvid>;
  /** Closes the channel; open watches stop and later calls reject with `SPIFFE_ERR_WORKLOAD_API_CANCELLED`. */
  close(): void;
}

function positive(name: string, value: number | undefined, fallback: number): number {
  if (value === undefined) return fallback;
  if (!Number.isFinite(value) || value <= 0)
    throw new RangeError(`createWorkloadApiClient: ${name} must be a positive number`);
  return value;
}

function audienceList(audience: string | readonly string[], label: string): string[] {
  const list = typeof audience === 'string' ? [audience] : Array.isArray(audience) ? [...audience] : [];
  if (list.length === 0 || list.some((a) => typeof a !== 'string' || a === ''))
    throw new TypeError(`${label}: audience must be a non-empty string or list of non-empty strings`);
  return list;
}

function badResponse(why: string): SpiffeError {
  return new SpiffeError('SPIFFE_ERR_WORKLOAD_API_BAD_RESPONSE', `invalid Workload API response: ${why}`);
}

/**
 * Creates a Workload API client. Nothing connects until the first call.
 *
 * @param options - The endpoint (default `SPIFFE_ENDPOINT_SOCKET`), deadline, response cap, watch backoff.
 * @returns The client.
 * @throws {SpiffeError} `SPIFFE_ERR_WORKLOAD_API_ADDRESS` when no endpoint is configured or it is not a
 * valid one.
 * @throws {RangeError} For a non-positive timeout or cap.
 * @example
 * ```ts
 * const client = createWorkloadApiClient({ socketPath: 'unix:///run/spire/sockets/agent.sock' });
 * const { svids, bundles } = await client.fetchX509Context();
 * console.log(svids[0]?.id.toString(), bundles.trustDomains().length);
 * client.close();
 * ```
 */
export function createWorkloadApiClient(options: WorkloadApiClientOptions = {}): WorkloadApiClient {
  const address = resolveWorkloadApiAddress(options.socketPath);
  if (address.isErr()) throw address.error;
  const endpoint = address.value.uri;
  const timeoutMs = positive('timeoutMs', options.timeoutMs, DEFAULT_WORKLOAD_API_TIMEOUT_MS);
  const maxResponseBytes = positive(
    'maxResponseBytes',
    options.maxResponseBytes,
    DEFAULT_MAX_WORKLOAD_API_RESPONSE_BYTES,
  );
  const backoff = options.backoff ?? DEFAULT_WATCH_BACKOFF;
  const client = new Client(address.value.target, credentials.createInsecure(), {
    'grpc.max_receive_message_length': maxResponseBytes,
    // Requests are small: a JWT-SVID (16 KiB at most) and audiences.
    'grpc.max_send_message_length': 1024 * 1024,
    // The channel's own reconnect backoff must not lag behind the watches' (grpc-js defaults: 1 s to 120 s):
    // a call made while the channel waits out its backoff fails at once with UNAVAILABLE.
    'grpc.initial_reconnect_backoff_ms': Math.min(backoff.initialMs ?? 1000, 1000),
    'grpc.max_reconnect_backoff_ms': backoff.maxMs ?? 30_000,
  });
  let closed = false;
  const watches = new Set<Watch>();

  const headers = (): Metadata => {
    const metadata = new Metadata();
    metadata.set(SECURITY_HEADER_KEY, SECURITY_HEADER_VALUE);
    return metadata;
  };
  const closedError = (): SpiffeError =>
    new SpiffeError('SPIFFE_ERR_WORKLOAD_API_CANCELLED', `the Workload API client of ${endpoint} is closed`);
  const cancelledError = (method: string): SpiffeError =>
    new SpiffeError('SPIFFE_ERR_WORKLOAD_API_CANCELLED', `Workload API ${endpoint} ${method}: aborted`);

  const openStream = <M>(
    method: 'FetchX509SVID' | 'FetchX509Bundles' | 'FetchJWTBundles',
    deadline?: number,
  ): ClientReadableStream<M> => {
    const definition = WORKLOAD_API_METHODS[method];
    // The request messages of the three streams have no fields yet.
    const request = create(EMPTY_REQUESTS[method]);
    return client.makeServerStreamRequest(
      definition.path,
      definition.requestSerialize as (value: unknown) => Buffer,
      definition.responseDeserialize as (value: Buffer) => M,
      request,
      headers(),
      deadline === undefined ? {} : { deadline },
    );
  };

  // One message of a stream, then the stream is cancelled (go-spiffe's Fetch* on the streaming methods).
  const fetchFirst = async <M, T>(
    method: 'FetchX509SVID' | 'FetchX509Bundles' | 'FetchJWTBundles',
    decode: (message: M) => Result<T, SpiffeError>,
    callOptions: WorkloadApiCallOptions,
  ): Promise<T> => {
    if (closed) throw closedError();
    callOptions.signal?.throwIfAborted();
    debug('Workload API %s: %s', endpoint, method);
    const message = await new Promise<M>((resolve, reject) => {
      const call = openStream<M>(method, Date.now() + timeoutMs);
      let settled = false;
      const finish = (error: SpiffeError | undefined, value?: M): void => {
        if (settled) return;
        settled = true;
        callOptions.signal?.removeEventListener('abort', abort);
        if (error === undefined) {
          resolve(value as M);
          call.cancel();
        } else reject(error);
      };
      const abort = (): void => {
        finish(cancelledError(method));
        call.cancel();
      };
      callOptions.signal?.addEventListener('abort', abort, { once: true });
      call.on('data', (m: M) => finish(undefined, m));
      call.on('error', (e: ServiceError) =>
        finish(closed ? closedError() : workloadApiCallError(endpoint, method, e)),
      );
      call.on('status', () =>
        finish(badResponse(`${method}: the server ended the stream without a message`)),
      );
    });
    const decoded = decode(message);
    if (decoded.isErr()) throw decoded.error;
    return decoded.value;
  };

  const unary = <Q, R>(
    method: 'FetchJWTSVID' | 'ValidateJWTSVID',
    request: Q,
    callOptions: WorkloadApiCallOptions,
  ): Promise<R> => {
    if (closed) return Promise.reject(closedError());
    if (callOptions.signal?.aborted) return Promise.reject(callOptions.signal.reason);
    debug('Workload API %s: %s', endpoint, method);
    const definition = WORKLOAD_API_METHODS[method];
    return new Promise<R>((resolve, reject) => {
      let aborted = false;
      const call = client.makeUnaryRequest(
        definition.path,
        definition.requestSerialize as (value: Q) => Buffer,
        definition.responseDeserialize as (value: Buffer) => R,
        request,
        headers(),
        { deadline: Date.now() + timeoutMs },
        (error: ServiceError | null, value?: R) => {
          callOptions.signal?.removeEventListener('abort', abort);
          if (error !== null)
            reject(
              aborted
                ? cancelledError(method)
                : closed
                  ? closedError()
                  : workloadApiCallError(endpoint, method, error),
            );
          else if (value === undefined) reject(badResponse(`${method}: no response message`));
          else resolve(value);
        },
      );
      const abort = (): void => {
        aborted = true;
        call.cancel();
      };
      callOptions.signal?.addEventListener('abort', abort, { once: true });
    });
  };

  const watch = <M, T>(
    method: 'FetchX509SVID' | 'FetchX509Bundles' | 'FetchJWTBundles',
    decode: (message: M) => Result<T, SpiffeError>,
    onUpdate: (value: T) => void,
    watchOptions: WatchOptions = {},
  ): Watch => {
    if (typeof onUpdate !== 'function') throw new TypeError(`watch ${method}: onUpdate must be a function`);
    if (closed) {
      return { close: () => {}, done: Promise.resolve(closedError()) };
    }
    const running = startWatch<M, T>(
      {
        endpoint,
        method,
        open: () => openStream<M>(method),
        decode,
        onUpdate,
        backoff,
        clientClosed: () => closed,
      },
      watchOptions,
    );
    watches.add(running);
    void running.done.then(() => watches.delete(running));
    return running;
  };

  const decodeX509Bundles = (m: X509BundlesResponse): Result<BundleSet, SpiffeError> => {
    // `bundles` is required and holds at least the server's own trust domain (SPIFFE_Workload_API.md,
    // section 5.2.2).
    if (Object.keys(m.bundles).length === 0) return err(badResponse('FetchX509Bundles: no bundle'));
    return decodeX509BundleMap(m.bundles).map((list) => createBundleSet(list));
  };
  const decodeJwtBundles = (m: JWTBundlesResponse): Result<BundleSet, SpiffeError> => {
    if (Object.keys(m.bundles).length === 0) return err(badResponse('FetchJWTBundles: no bundle'));
    return decodeJwtBundleMap(m.bundles).map((list) => createBundleSet(list));
  };

  const fetchJwtSvids = async (params: FetchJwtSvidParams): Promise<WorkloadJwtSvid[]> => {
    const audience = audienceList(params?.audience, 'fetchJwtSvid');
    const subject =
      params.subject === undefined ? undefined : requireSpiffeId(params.subject, 'fetchJwtSvid: subject');
    const response = await unary<unknown, JWTSVIDResponse>(
      'FetchJWTSVID',
      create(JWTSVIDRequestSchema, { audience, spiffeId: subject?.toString() ?? '' }),
      params,
    );
    const svids = decodeJwtSvidResponse(response, { audience, subject });
    if (svids.isErr()) throw svids.error;
    return svids.value;
  };

  return Object.freeze({
    address: endpoint,
    fetchX509Context: (callOptions: WorkloadApiCallOptions = {}) =>
      fetchFirst<X509SVIDResponse, X509Context>('FetchX509SVID', decodeX509SvidResponse, callOptions),
    watchX509Context: (onUpdate: (context: X509Context) => void, watchOptions?: WatchOptions) =>
      watch<X509SVIDResponse, X509Context>('FetchX509SVID', decodeX509SvidResponse, onUpdate, watchOptions),
    fetchX509Bundles: (callOptions: WorkloadApiCallOptions = {}) =>
      fetchFirst<X509BundlesResponse, BundleSet>('FetchX509Bundles', decodeX509Bundles, callOptions),
    watchX509Bundles: (onUpdate: (bundles: BundleSet) => void, watchOptions?: WatchOptions) =>
      watch<X509BundlesResponse, BundleSet>('FetchX509Bundles', decodeX509Bundles, onUpdate, watchOptions),
    fetchJwtSvid: async (params: FetchJwtSvidParams) => (await fetchJwtSvids(params))[0] as WorkloadJwtSvid,
    fetchJwtSvids,
    fetchJwtBundles: (callOptions: WorkloadApiCallOptions = {}) =>
      fetchFirst<JWTBundlesResponse, BundleSet>('FetchJWTBundles', decodeJwtBundles, callOptions),
    watchJwtBundles: (onUpdate: (bundles: BundleSet) => void, watchOptions?: WatchOptions) =>
      watch<JWTBundlesResponse, BundleSet>('FetchJWTBundles', decodeJwtBundles, onUpdate, watchOptions),
    validateJwtSvid: async (token: string, audience: string, callOptions: WorkloadApiCallOptions = {}) => {
      if (typeof token !== 'string') throw new TypeError('validateJwtSvid: token must be a string');
      if (typeof audience !== 'string' || audience === '')
        throw new TypeError('validateJwtSvid: audience must be a non-empty string');
      const response = await unary<unknown, ValidateJWTSVIDResponse>(
        'ValidateJWTSVID',
        create(ValidateJWTSVIDRequestSchema, { audience, svid: token }),
        callOptions,
      );
      // The server vouched for the signature; what it vouched for must be this token (go-spiffe parses the
      // token itself after the call, spiffe/go-spiffe@e9973f63:workloadapi/client.go `ValidateJWTSVID`).
      const svid = readIssuedJwtSvid(token, response.spiffeId, { audience: [audience] });
      if (svid.isErr()) throw svid.error;
      return svid.value;
    },
    close() {
      if (closed) return;
      closed = true;
      for (const w of [...watches]) w.close();
      client.close();
    },
  } satisfies WorkloadApiClient);
}
