/**
 * The node agent's side of ZDS (istio-cni's `ztunnelServer`,
 * istio/istio@86c9f01f:cni/pkg/nodeagent/ztunnelserver.go): listen on the unix socket, and for every proxy
 * that connects read its hello, send the snapshot (`AddWorkload` with the pod's netns descriptor, or
 * `KeepWorkload` when the netns is gone, then `SnapshotSent`), then forward updates. Every message waits for
 * its ack before the next one goes out (the ack correlates only by order).
 *
 * - `addWorkload` goes to the latest connection only; `deleteWorkload` to all (istio: so a proxy being
 *   replaced also lets go of the pod).
 * - A message not acked within `ackTimeoutMs` (istio's `readWriteDeadline`, 5 s) closes that connection:
 *   a late ack would otherwise be taken for the next message's; the proxy reconnects and gets a fresh
 *   snapshot.
 * - istio-cni polls an idle connection for liveness; here the socket is always watched on the event loop,
 *   so a proxy that goes away is noticed at once, and a message it sends unprompted is a protocol error.
 */
import { RedirectError } from './codec/errors.js';
import {
  decodeZdsAck,
  decodeZdsHello,
  encodeZdsRequest,
  ZDS_MAX_MESSAGE_BYTES,
  type ZdsRequest,
  type ZdsWorkloadInfo,
} from './codec/zds-messages.js';
import { closeQuietly } from './native/raw-socket.js';
import { type SeqpacketMessage, SeqpacketServer, type SeqpacketSocket } from './native/seqpacket.js';
import type { NetnsHandle } from './netns.js';

/**
 * istio-cni's and ztunnel's default socket path (`ZtunnelUDSAddress`, ztunnel `INPOD_UDS`).
 *
 * @example
 * ```ts
 * createZdsNodeAgent({ path: DEFAULT_ZDS_PATH, snapshot: () => [] });
 * ```
 */
export const DEFAULT_ZDS_PATH = '/var/run/ztunnel/ztunnel.sock';

/**
 * A pod as the node agent knows it.
 *
 * @example
 * ```ts
 * const pod: ZdsPod = { uid: k8sPod.metadata.uid, workloadInfo: { name, namespace, serviceAccount }, netns };
 * ```
 */
export interface ZdsPod {
  /** Kubernetes pod UID (`metadata.uid`), not the WDS workload uid. */
  readonly uid: string;
  /** Pod name, namespace, service account, for the proxy to find the workload in WDS. */
  readonly workloadInfo?: ZdsWorkloadInfo;
  /** The pod's network namespace. In a snapshot, a pod without one is sent as `KeepWorkload`. */
  readonly netns?: NetnsHandle;
}

/**
 * What happens on the node agent's connections, for logs and metrics.
 *
 * @example
 * ```ts
 * const onEvent = (e: ZdsNodeAgentEvent) => console.log(e.type, e.connectionId);
 * ```
 */
export type ZdsNodeAgentEvent =
  | { readonly type: 'connected'; readonly connectionId: number; readonly version: number }
  | { readonly type: 'snapshot-acked'; readonly connectionId: number }
  | {
      readonly type: 'nack';
      readonly connectionId: number;
      readonly request: ZdsRequest;
      readonly error: string;
    }
  | { readonly type: 'disconnected'; readonly connectionId: number; readonly error?: RedirectError };

/**
 * Options of {@link createZdsNodeAgent}.
 *
 * @example
 * ```ts
 * const options: ZdsNodeAgentOptions = { path: '/run/ztunnel/ztunnel.sock', snapshot: () => pods.values() };
 * ```
 */
export interface ZdsNodeAgentOptions {
  /** Socket path. Default `/var/run/ztunnel/ztunnel.sock`. A stale socket file there is replaced. */
  readonly path?: string;
  /** The pods to send to each newly connected proxy (called once per connection, after its hello). */
  readonly snapshot: () => Iterable<ZdsPod> | Promise<Iterable<ZdsPod>>;
  /** Wait for the hello and for each ack. Default `5000` (istio `readWriteDeadline`). */
  readonly ackTimeoutMs?: number;
  /** Connection events (connected, snapshot acked, NACKs, disconnects). */
  readonly onEvent?: (event: ZdsNodeAgentEvent) => void;
}

/**
 * A listening node agent.
 *
 * @example
 * ```ts
 * const agent = createZdsNodeAgent({ snapshot: () => [] });
 * await agent.addWorkload({ uid, workloadInfo, netns });
 * ```
 */
export interface ZdsNodeAgent {
  /** The socket path. */
  readonly path: string;
  /** Connected proxies. */
  readonly connectionCount: number;
  /**
   * Sends `AddWorkload` with the pod's netns descriptor to the latest connection and waits for its ack.
   *
   * @throws {RedirectError} `REDIRECT_ERR_ZDS_NO_CONNECTION`, `REDIRECT_ERR_ZDS_NACK` (the proxy refused;
   * the message is its error), `REDIRECT_ERR_ZDS_ACK_TIMEOUT`, `REDIRECT_ERR_ZDS_CLOSED`.
   */
  addWorkload(pod: ZdsPod & { readonly netns: NetnsHandle }): Promise<void>;
  /**
   * Sends `DelWorkload` to every connection and waits for their acks.
   *
   * @throws {RedirectError} The first failure among the connections (the others still got it).
   */
  deleteWorkload(uid: string): Promise<void>;
  /** Stops listening, closes every connection, removes the socket file. */
  close(): Promise<void>;
}

function addRequest(pod: ZdsPod): ZdsRequest {
  return {
    type: 'add',
    uid: pod.uid,
    ...(pod.workloadInfo === undefined ? {} : { workloadInfo: pod.workloadInfo }),
  };
}

class Connection {
  readonly id: number;
  readonly #socket: SeqpacketSocket;
  readonly #ackTimeoutMs: number;
  readonly #onClose: (error: RedirectError | undefined) => void;
  #queue: Promise<unknown> = Promise.resolve();
  #waiting: { resolve: (m: SeqpacketMessage) => void; reject: (e: RedirectError) => void } | undefined;
  #closed = false;
  #reading = false;

  constructor(
    id: number,
    socket: SeqpacketSocket,
    ackTimeoutMs: number,
    onClose: (e?: RedirectError) => void,
  ) {
    this.id = id;
    this.#socket = socket;
    this.#ackTimeoutMs = ackTimeoutMs;
    this.#onClose = onClose;
  }

  get closed(): boolean {
    return this.#closed;
  }

  // Every datagram from the proxy is an answer to something we are waiting for; anything else is a
  // protocol error. Reading all the time (from the hello on) also notices a vanished proxy at once.
  async #readLoop(): Promise<void> {
    for (;;) {
      let message: SeqpacketMessage;
      try {
        message = await this.#socket.receive();
      } catch (error) {
        this.close(error instanceof RedirectError ? error : undefined);
        return;
      }
      // Proxies never send descriptors; don't leak any that arrive.
      for (const fd of message.fds) closeQuietly(fd);
      if (message.data.length === 0) {
        this.close(new RedirectError('REDIRECT_ERR_ZDS_CLOSED', `proxy ${this.id} closed the connection`));
        return;
      }
      const waiting = this.#waiting;
      if (waiting === undefined) {
        this.close(
          new RedirectError('REDIRECT_ERR_ZDS_PROTOCOL', `proxy ${this.id} sent a message nobody asked for`),
        );
        return;
      }
      this.#waiting = undefined;
      if (message.truncated || message.controlTruncated) {
        waiting.reject(
          new RedirectError('REDIRECT_ERR_ZDS_TRUNCATED', `proxy ${this.id} sent an oversized datagram`),
        );
        this.close();
        return;
      }
      waiting.resolve(message);
    }
  }

  #next(what: string): Promise<SeqpacketMessage> {
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        const error = new RedirectError(
          'REDIRECT_ERR_ZDS_ACK_TIMEOUT',
          `proxy ${this.id}: no ${what} within ${this.#ackTimeoutMs} ms`,
        );
        this.#waiting = undefined;
        reject(error);
        this.close(error);
      }, this.#ackTimeoutMs);
      this.#waiting = {
        resolve: (m) => {
          clearTimeout(timer);
          resolve(m);
        },
        reject: (e) => {
          clearTimeout(timer);
          reject(e);
        },
      };
      // The loop starts with the first wait (the hello), so a hello already queued is never "unasked".
      if (!this.#reading) {
        this.#reading = true;
        void this.#readLoop();
      }
    });
  }

  /** Serialised: the hello read and each request/ack pair run one after the other. */
  run<T>(task: () => Promise<T>): Promise<T> {
    const result = this.#queue.then(() => {
      if (this.#closed)
        throw new RedirectError('REDIRECT_ERR_ZDS_CLOSED', `proxy ${this.id} is disconnected`);
      return task();
    });
    this.#queue = result.catch(() => {});
    return result;
  }

  async readHello(): Promise<number> {
    const message = await this.#next('hello');
    const hello = decodeZdsHello(message.data, message.fds.length);
    if (hello.isErr()) {
      this.close(hello.error);
      throw hello.error;
    }
    return hello.value.version;
  }

  /** Sends a request and returns the proxy's error text ('' for an ACK). */
  async request(request: ZdsRequest, fd?: number): Promise<string> {
    const ack = this.#next('ack');
    try {
      await this.#socket.send(encodeZdsRequest(request), fd === undefined ? [] : [fd]);
    } catch (error) {
      this.#waiting = undefined;
      ack.catch(() => {});
      this.close(error instanceof RedirectError ? error : undefined);
      throw error;
    }
    const message = await ack;
    const decoded = decodeZdsAck(message.data, message.fds.length);
    if (decoded.isErr()) {
      this.close(decoded.error);
      throw decoded.error;
    }
    return decoded.value.error;
  }

  close(error?: RedirectError): void {
    if (this.#closed) return;
    this.#closed = true;
    const waiting = this.#waiting;
    this.#waiting = undefined;
    waiting?.reject(error ?? new RedirectError('REDIRECT_ERR_ZDS_CLOSED', `proxy ${this.id} disconnected`));
    this.#socket.close();
    this.#onClose(error);
  }
}

/**
 * Starts the node agent's ZDS server.
 *
 * @param options - Socket path, snapshot source, ack timeout, event hook.
 * @returns The running agent.
 * @throws {RedirectError} `REDIRECT_ERR_SOCKET` when the socket can't be created (e.g. the directory is missing).
 * @example
 * ```ts
 * const agent = createZdsNodeAgent({
 *   snapshot: () => [...enrolledPods.values()], // { uid, workloadInfo, netns }
 *   onEvent: (e) => console.log('zds', e),
 * });
 * await agent.addWorkload({ uid: pod.metadata.uid, workloadInfo, netns: openNetns(netnsPath) });
 * ```
 */
export function createZdsNodeAgent(options: ZdsNodeAgentOptions): ZdsNodeAgent {
  const path = options.path ?? DEFAULT_ZDS_PATH;
  const ackTimeoutMs = options.ackTimeoutMs ?? 5000;
  if (!Number.isInteger(ackTimeoutMs) || ackTimeoutMs <= 0) {
    throw new RangeError('options.ackTimeoutMs: expected a positive integer');
  }
  const server = SeqpacketServer.listen(path, { maxMessageBytes: ZDS_MAX_MESSAGE_BYTES });
  const connections: Connection[] = [];
  const emit = (event: ZdsNodeAgentEvent): void => {
    try {
      options.onEvent?.(event);
    } catch {
      // An observer's bug must not break the protocol.
    }
  };
  let nextId = 1;
  let closed = false;

  const serve = async (connection: Connection): Promise<void> => {
    await connection.run(async () => {
      const version = await connection.readHello();
      emit({ type: 'connected', connectionId: connection.id, version });
      const pods = await options.snapshot();
      for (const pod of pods) {
        const request: ZdsRequest =
          pod.netns === undefined ? { type: 'keep', uid: pod.uid } : addRequest(pod);
        const error = await connection.request(request, pod.netns?.fd);
        // istio logs a snapshot NACK and carries on; the proxy retries that pod itself.
        if (error !== '') emit({ type: 'nack', connectionId: connection.id, request, error });
      }
      const error = await connection.request({ type: 'snapshot-sent' });
      if (error !== '')
        emit({ type: 'nack', connectionId: connection.id, request: { type: 'snapshot-sent' }, error });
      emit({ type: 'snapshot-acked', connectionId: connection.id });
    });
  };

  const acceptLoop = async (): Promise<void> => {
    while (!closed) {
      let socket: SeqpacketSocket;
      try {
        socket = await server.accept();
      } catch {
        return;
      }
      const id = nextId++;
      const connection = new Connection(id, socket, ackTimeoutMs, (error) => {
        const i = connections.indexOf(connection);
        if (i !== -1) connections.splice(i, 1);
        emit({ type: 'disconnected', connectionId: id, ...(error === undefined ? {} : { error }) });
      });
      // Registered before the hello, as istio does: updates queue behind the snapshot.
      connections.push(connection);
      serve(connection).catch((error: unknown) => {
        connection.close(error instanceof RedirectError ? error : undefined);
      });
    }
  };
  void acceptLoop();

  const send = async (connection: Connection, request: ZdsRequest, fd?: number): Promise<void> => {
    const error = await connection.run(() => connection.request(request, fd));
    if (error !== '') {
      emit({ type: 'nack', connectionId: connection.id, request, error });
      throw new RedirectError(
        'REDIRECT_ERR_ZDS_NACK',
        `proxy ${connection.id} refused ${request.type}: ${error}`,
      );
    }
  };

  return {
    path,
    get connectionCount() {
      return connections.length;
    },
    addWorkload(pod) {
      const latest = connections.at(-1);
      if (latest === undefined) {
        return Promise.reject(new RedirectError('REDIRECT_ERR_ZDS_NO_CONNECTION', 'no proxy is connected'));
      }
      if (pod.netns.closed) return Promise.reject(new TypeError(`pod.netns (${pod.netns.path}) is closed`));
      return send(latest, addRequest(pod), pod.netns.fd);
    },
    async deleteWorkload(uid) {
      const results = await Promise.allSettled(connections.map((c) => send(c, { type: 'del', uid })));
      const failed = results.find((r): r is PromiseRejectedResult => r.status === 'rejected');
      if (failed !== undefined) throw failed.reason;
    },
    async close() {
      if (closed) return;
      closed = true;
      server.close();
      for (const connection of [...connections]) connection.close();
    },
  };
}
