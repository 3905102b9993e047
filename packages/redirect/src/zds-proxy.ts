/**
 * The proxy's side of ZDS (ztunnel's `WorkloadProxyManager`,
 * istio/ztunnel@62d82653:src/inpod/workloadmanager.rs, statemanager.rs, protocol.rs): connect to the node
 * agent, say hello, and answer every request with an ack after handing it to your handlers. The netns
 * descriptor of an `AddWorkload` arrives as a `NetnsHandle`; pass it to `listenInNetns`/`connectMarked` to
 * serve the pod.
 *
 * ztunnel's rules, kept here:
 * - `KeepWorkload` is only valid before `SnapshotSent`; a second `SnapshotSent` is an error;
 * - an `AddWorkload` without exactly one descriptor, or any other message with one, is an error;
 * - a handler failure (e.g. the proxy could not start for that pod) is NACKed and the connection stays;
 * - a protocol error is NACKed, then the connection is closed (ztunnel then reconnects).
 */
import { RedirectError } from './codec/errors.js';
import {
  decodeZdsRequest,
  encodeZdsAck,
  encodeZdsHello,
  ZDS_MAX_MESSAGE_BYTES,
  ZDS_VERSION_V1,
  type ZdsWorkloadInfo,
} from './codec/zds-messages.js';
import { closeQuietly } from './native/raw-socket.js';
import { SeqpacketSocket } from './native/seqpacket.js';
import { adoptNetnsFd, type NetnsHandle } from './netns.js';
import { DEFAULT_ZDS_PATH } from './zds-node-agent.js';

/**
 * A workload the node agent hands over.
 *
 * @example
 * ```ts
 * const onAdd = async ({ uid, netns }: ZdsAddedWorkload) => { await listenInNetns(netns, { port: 15008 }); };
 * ```
 */
export interface ZdsAddedWorkload {
  /** Kubernetes pod UID. */
  readonly uid: string;
  readonly workloadInfo?: ZdsWorkloadInfo;
  /**
   * The pod's network namespace. Yours once the handler returns normally (close it when the workload is
   * deleted); closed for you when the handler throws.
   */
  readonly netns: NetnsHandle;
}

/**
 * What the proxy does with each request. Throwing (or rejecting) NACKs the request with the error's message.
 *
 * @example
 * ```ts
 * const handlers: ZdsProxyHandlers = {
 *   addWorkload: async (w) => pods.set(w.uid, await startProxy(w)),
 *   deleteWorkload: (uid) => pods.get(uid)?.stop(),
 * };
 * ```
 */
export interface ZdsProxyHandlers {
  /** `AddWorkload`: start serving the pod (in the snapshot or later). */
  addWorkload(workload: ZdsAddedWorkload): void | Promise<void>;
  /** `KeepWorkload` (snapshot only): the agent lost the pod's netns but the pod still exists: keep it. */
  keepWorkload?(uid: string): void | Promise<void>;
  /** `DelWorkload`: stop serving the pod. */
  deleteWorkload(uid: string): void | Promise<void>;
  /**
   * `SnapshotSent`: the snapshot is complete; `seen` holds every uid added or kept during it. ztunnel
   * drains the pods it serves that are not in `seen`.
   */
  snapshotSent?(seen: ReadonlySet<string>): void | Promise<void>;
}

/**
 * Options of {@link connectZdsProxy}.
 *
 * @example
 * ```ts
 * const options: ZdsProxyOptions = { path: '/var/run/ztunnel/ztunnel.sock', handlers };
 * ```
 */
export interface ZdsProxyOptions {
  /** Socket path. Default `/var/run/ztunnel/ztunnel.sock` (ztunnel `INPOD_UDS`). */
  readonly path?: string;
  readonly handlers: ZdsProxyHandlers;
  /** Closes the connection. */
  readonly signal?: AbortSignal;
  /** Called once `SnapshotSent` was handled and its ACK sent: the proxy is in sync with the agent. */
  readonly onSnapshotAcked?: () => void;
}

/**
 * A connection to the node agent.
 *
 * @example
 * ```ts
 * const connection = await connectZdsProxy({ handlers });
 * const { error } = await connection.closed; // reconnect after a delay, as ztunnel does
 * ```
 */
export interface ZdsProxyConnection {
  /** Settles when the connection ends; `error` says why unless it was closed on purpose or by the agent. */
  readonly closed: Promise<{ readonly error?: RedirectError }>;
  /** Whether `SnapshotSent` arrived (ztunnel reports ready after it). */
  readonly snapshotReceived: boolean;
  /** Closes the connection (idempotent). */
  close(): void;
}

function messageOf(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}

/**
 * Connects to the node agent as a proxy and serves its requests until the connection ends.
 *
 * @param options - Socket path, handlers, abort signal.
 * @returns The connection, once the hello is sent.
 * @throws {RedirectError} `REDIRECT_ERR_CONNECT` when no agent listens at the path.
 * @example
 * ```ts
 * const listeners = new Map<string, net.Server>();
 * await connectZdsProxy({
 *   handlers: {
 *     addWorkload: async ({ uid, netns }) => {
 *       listeners.set(uid, await listenInNetns(netns, { port: 15008, transparent: true, mark: 0x539 }));
 *       netns.close(); // the listener keeps the namespace alive
 *     },
 *     deleteWorkload: (uid) => {
 *       listeners.get(uid)?.close();
 *     },
 *   },
 * });
 * ```
 */
export async function connectZdsProxy(options: ZdsProxyOptions): Promise<ZdsProxyConnection> {
  const { handlers, signal } = options;
  if (signal?.aborted)
    throw new RedirectError('REDIRECT_ERR_ABORTED', 'ZDS connect aborted', { cause: signal.reason });
  const socket = SeqpacketSocket.connect(options.path ?? DEFAULT_ZDS_PATH, {
    maxMessageBytes: ZDS_MAX_MESSAGE_BYTES,
  });
  let snapshotReceived = false;
  let done = false;
  let resolveClosed: (value: { error?: RedirectError }) => void = () => {};
  const closed = new Promise<{ error?: RedirectError }>((resolve) => {
    resolveClosed = resolve;
  });
  const finish = (error?: RedirectError): void => {
    if (done) return;
    done = true;
    socket.close();
    signal?.removeEventListener('abort', onAbort);
    resolveClosed(error === undefined ? {} : { error });
  };
  const onAbort = (): void => finish();
  signal?.addEventListener('abort', onAbort, { once: true });

  // ztunnel speaks first (istio/ztunnel@62d82653:src/inpod/protocol.rs).
  try {
    await socket.send(encodeZdsHello(ZDS_VERSION_V1));
  } catch (error) {
    finish();
    throw error;
  }

  const seen = new Set<string>();
  const ack = (error = ''): Promise<void> => socket.send(encodeZdsAck(error));
  const serve = async (): Promise<void> => {
    for (;;) {
      const message = await socket.receive();
      if (message.data.length === 0 && message.fds.length === 0) return finish();
      if (message.truncated || message.controlTruncated) {
        for (const fd of message.fds) closeQuietly(fd);
        return finish(
          new RedirectError(
            'REDIRECT_ERR_ZDS_TRUNCATED',
            'ZDS datagram over 1024 bytes or with too many descriptors',
          ),
        );
      }
      const decoded = decodeZdsRequest(message.data, message.fds.length);
      if (decoded.isErr()) {
        for (const fd of message.fds) closeQuietly(fd);
        await ack(decoded.error.message).catch(() => {});
        return finish(decoded.error);
      }
      const request = decoded.value;
      const protocolError = (text: string): Promise<void> => {
        const error = new RedirectError('REDIRECT_ERR_ZDS_PROTOCOL', text);
        return ack(text)
          .catch(() => {})
          .then(() => finish(error));
      };
      switch (request.type) {
        case 'add': {
          let netns: NetnsHandle;
          try {
            netns = adoptNetnsFd(message.fds[0] as number, `zds:${request.uid}`);
          } catch (error) {
            // adoptNetnsFd closed the descriptor; a bad descriptor is this pod's failure, not the connection's.
            await ack(messageOf(error));
            continue;
          }
          if (!snapshotReceived) seen.add(request.uid);
          try {
            await handlers.addWorkload({
              uid: request.uid,
              ...(request.workloadInfo === undefined ? {} : { workloadInfo: request.workloadInfo }),
              netns,
            });
          } catch (error) {
            netns.close();
            await ack(messageOf(error) || 'addWorkload failed');
            continue;
          }
          await ack();
          continue;
        }
        case 'keep':
          if (snapshotReceived) return protocolError('KeepWorkload after SnapshotSent');
          seen.add(request.uid);
          break;
        case 'snapshot-sent':
          if (snapshotReceived) return protocolError('second SnapshotSent');
          snapshotReceived = true;
          break;
        case 'del':
          break;
      }
      try {
        if (request.type === 'keep') await handlers.keepWorkload?.(request.uid);
        else if (request.type === 'del') await handlers.deleteWorkload(request.uid);
        else await handlers.snapshotSent?.(seen);
      } catch (error) {
        await ack(messageOf(error) || `${request.type} failed`);
        continue;
      }
      await ack();
      if (request.type === 'snapshot-sent') {
        try {
          options.onSnapshotAcked?.();
        } catch {
          // An observer's bug must not break the protocol.
        }
      }
    }
  };
  serve().catch((error: unknown) => {
    // The socket closing under a pending receive/send is how close() and aborts end the loop.
    const redirectError = error instanceof RedirectError ? error : undefined;
    finish(redirectError?.code === 'REDIRECT_ERR_ZDS_CLOSED' ? undefined : redirectError);
  });

  return {
    closed,
    get snapshotReceived() {
      return snapshotReceived;
    },
    close: () => finish(),
  };
}
