/**
 * ZDS messages, the istio-cni ↔ ztunnel protocol `istio.workload.zds` (istio/ztunnel@62d82653:
 * proto/zds.proto, src/inpod/protocol.rs), as plain objects over this package's generated schemas
 * (`proto/zds.proto` → `src/gen/zds_pb.ts`).
 *
 * One protobuf per datagram. ztunnel reads into a 1024-byte buffer and treats truncation as an error;
 * an `AddWorkload` must carry exactly one descriptor (the pod's netns), any other message none. Decoding
 * enforces the same, given the number of descriptors that arrived with the datagram.
 */

import { create, fromBinary, toBinary } from '@bufbuild/protobuf';
import { err, ok, type Result } from 'neverthrow';
import { match } from 'ts-pattern';
import {
  AckSchema,
  AddWorkloadSchema,
  DelWorkloadSchema,
  KeepWorkloadSchema,
  SnapshotSentSchema,
  WorkloadInfoSchema,
  type WorkloadRequest,
  WorkloadRequestSchema,
  WorkloadResponseSchema,
  type ZdsHello,
  ZdsHelloSchema,
} from '../gen/zds_pb.js';
import { RedirectError } from './errors.js';

/**
 * ztunnel's read buffer for one ZDS datagram (src/inpod/protocol.rs): larger datagrams are truncated and
 * rejected, so we never send one.
 *
 * @example
 * ```ts
 * if (bytes.length > ZDS_MAX_MESSAGE_BYTES) throw new RangeError('too big for ztunnel');
 * ```
 */
export const ZDS_MAX_MESSAGE_BYTES = 1024;

/**
 * `ZdsHello.version` ztunnel sends (`Version.V1`).
 *
 * @example
 * ```ts
 * encodeZdsHello(ZDS_VERSION_V1);
 * ```
 */
export const ZDS_VERSION_V1 = 1;

/**
 * The pod identity ztunnel uses to find the workload in WDS (`WorkloadInfo`): pod name, namespace and
 * service account (istio-cni `podToWorkload`).
 *
 * @example
 * ```ts
 * const info: ZdsWorkloadInfo = { name: 'reviews-v1-abc', namespace: 'bookinfo', serviceAccount: 'bookinfo-reviews' };
 * ```
 */
export interface ZdsWorkloadInfo {
  readonly name: string;
  readonly namespace: string;
  readonly serviceAccount: string;
}

/**
 * A request from the node agent to the proxy. `uid` is the Kubernetes pod UID (not the WDS uid).
 *
 * @example
 * ```ts
 * const add: ZdsRequest = { type: 'add', uid: '2f3a…', workloadInfo: { name: 'p', namespace: 'ns', serviceAccount: 'sa' } };
 * ```
 */
export type ZdsRequest =
  | { readonly type: 'add'; readonly uid: string; readonly workloadInfo?: ZdsWorkloadInfo }
  | { readonly type: 'keep'; readonly uid: string }
  | { readonly type: 'del'; readonly uid: string }
  | { readonly type: 'snapshot-sent' };

function tooBig(what: string, length: number): RedirectError {
  return new RedirectError(
    'REDIRECT_ERR_ZDS_TRUNCATED',
    `${what} of ${length} bytes is over ztunnel's ${ZDS_MAX_MESSAGE_BYTES}-byte read buffer`,
  );
}

function checkSize(what: string, bytes: Uint8Array): Uint8Array {
  if (bytes.length > ZDS_MAX_MESSAGE_BYTES) throw tooBig(what, bytes.length);
  return bytes;
}

/**
 * Encodes a request.
 *
 * @param request - The request.
 * @returns One datagram's payload.
 * @throws {RedirectError} `REDIRECT_ERR_ZDS_TRUNCATED` when it would not fit ztunnel's buffer.
 * @example
 * ```ts
 * socket.send(encodeZdsRequest({ type: 'snapshot-sent' }));
 * ```
 */
export function encodeZdsRequest(request: ZdsRequest): Uint8Array {
  const payload = match(request)
    .returnType<WorkloadRequest['payload']>()
    .with({ type: 'add' }, (r) => ({
      case: 'add',
      value: create(AddWorkloadSchema, {
        uid: r.uid,
        ...(r.workloadInfo === undefined ? {} : { workloadInfo: create(WorkloadInfoSchema, r.workloadInfo) }),
      }),
    }))
    .with({ type: 'keep' }, (r) => ({ case: 'keep', value: create(KeepWorkloadSchema, { uid: r.uid }) }))
    .with({ type: 'del' }, (r) => ({ case: 'del', value: create(DelWorkloadSchema, { uid: r.uid }) }))
    .with({ type: 'snapshot-sent' }, () => ({ case: 'snapshotSent', value: create(SnapshotSentSchema) }))
    .exhaustive();
  return checkSize(
    'WorkloadRequest',
    toBinary(WorkloadRequestSchema, create(WorkloadRequestSchema, { payload })),
  );
}

function decodeWith<T>(what: string, bytes: Uint8Array, decode: () => T): Result<T, RedirectError> {
  if (bytes.length > ZDS_MAX_MESSAGE_BYTES) return err(tooBig(what, bytes.length));
  try {
    return ok(decode());
  } catch (cause) {
    return err(new RedirectError('REDIRECT_ERR_ZDS_DECODE', `${what}: ${String(cause)}`, { cause }));
  }
}

/**
 * Decodes a request and checks its descriptor count (ztunnel protocol.rs: `Add` exactly one, others none).
 *
 * @param bytes - The datagram.
 * @param fdCount - How many descriptors arrived with it.
 * @returns The request, or `REDIRECT_ERR_ZDS_DECODE` / `REDIRECT_ERR_ZDS_TRUNCATED` / `REDIRECT_ERR_ZDS_FD`.
 * @example
 * ```ts
 * const request = decodeZdsRequest(message.data, message.fds.length);
 * ```
 */
export function decodeZdsRequest(bytes: Uint8Array, fdCount: number): Result<ZdsRequest, RedirectError> {
  return decodeWith('WorkloadRequest', bytes, () => fromBinary(WorkloadRequestSchema, bytes)).andThen(
    (message): Result<ZdsRequest, RedirectError> => {
      const { payload } = message;
      const fdError = (expected: number): RedirectError =>
        new RedirectError(
          'REDIRECT_ERR_ZDS_FD',
          `${payload.case ?? 'empty'} request arrived with ${fdCount} descriptors; expected ${expected}`,
        );
      if (payload.case === 'add') {
        if (fdCount !== 1) return err(fdError(1));
        const info = payload.value.workloadInfo;
        return ok({
          type: 'add',
          uid: payload.value.uid,
          ...(info === undefined
            ? {}
            : {
                workloadInfo: {
                  name: info.name,
                  namespace: info.namespace,
                  serviceAccount: info.serviceAccount,
                },
              }),
        });
      }
      if (fdCount !== 0) return err(fdError(0));
      switch (payload.case) {
        case 'keep':
          return ok({ type: 'keep', uid: payload.value.uid });
        case 'del':
          return ok({ type: 'del', uid: payload.value.uid });
        case 'snapshotSent':
          return ok({ type: 'snapshot-sent' });
        default:
          return err(new RedirectError('REDIRECT_ERR_ZDS_DECODE', 'WorkloadRequest has no known payload'));
      }
    },
  );
}

/**
 * Encodes the proxy's hello.
 *
 * @param version - Default `V1`.
 * @returns One datagram's payload.
 * @example
 * ```ts
 * await socket.send(encodeZdsHello());
 * ```
 */
export function encodeZdsHello(version: number = ZDS_VERSION_V1): Uint8Array {
  return toBinary(ZdsHelloSchema, create(ZdsHelloSchema, { version: version as ZdsHello['version'] }));
}

/**
 * Decodes the proxy's hello (no descriptors allowed).
 *
 * @param bytes - The datagram.
 * @param fdCount - Descriptors that came with it.
 * @returns `{ version }` (istio-cni logs it and does not insist on V1; nor do we).
 * @example
 * ```ts
 * decodeZdsHello(encodeZdsHello(), 0)._unsafeUnwrap().version; // 1
 * ```
 */
export function decodeZdsHello(
  bytes: Uint8Array,
  fdCount: number,
): Result<{ version: number }, RedirectError> {
  if (fdCount !== 0)
    return err(new RedirectError('REDIRECT_ERR_ZDS_FD', `hello arrived with ${fdCount} descriptors`));
  return decodeWith('ZdsHello', bytes, () => fromBinary(ZdsHelloSchema, bytes)).map((m) => ({
    version: m.version,
  }));
}

/**
 * Encodes the proxy's answer: an ACK (`error` empty) or a NACK.
 *
 * @param error - Why the request failed; `''` (default) for success.
 * @returns One datagram's payload (long messages are cut so it fits ztunnel-sized buffers).
 * @example
 * ```ts
 * await socket.send(encodeZdsAck());
 * await socket.send(encodeZdsAck('netns not found'));
 * ```
 */
export function encodeZdsAck(error = ''): Uint8Array {
  // Keep the datagram under the buffer a ztunnel-style reader uses: 1024 minus framing.
  const text = error.length > 900 ? `${error.slice(0, 897)}...` : error;
  const response = create(WorkloadResponseSchema, {
    payload: { case: 'ack', value: create(AckSchema, { error: text }) },
  });
  return checkSize('WorkloadResponse', toBinary(WorkloadResponseSchema, response));
}

/**
 * Decodes the proxy's answer (no descriptors allowed).
 *
 * @param bytes - The datagram.
 * @param fdCount - Descriptors that came with it.
 * @returns `{ error }`, empty for an ACK.
 * @example
 * ```ts
 * decodeZdsAck(encodeZdsAck('boom'), 0)._unsafeUnwrap(); // { error: 'boom' }
 * ```
 */
export function decodeZdsAck(bytes: Uint8Array, fdCount: number): Result<{ error: string }, RedirectError> {
  if (fdCount !== 0)
    return err(new RedirectError('REDIRECT_ERR_ZDS_FD', `ack arrived with ${fdCount} descriptors`));
  return decodeWith('WorkloadResponse', bytes, () => fromBinary(WorkloadResponseSchema, bytes)).andThen(
    (m) =>
      m.payload.case === 'ack'
        ? ok({ error: m.payload.value.error })
        : err(new RedirectError('REDIRECT_ERR_ZDS_DECODE', 'WorkloadResponse has no ack')),
  );
}
