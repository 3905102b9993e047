/**
 * ZDS messages on the wire (istio/ztunnel@62d82653:proto/zds.proto). Field numbers matter: `DelWorkload.uid`
 * is field 2, `WorkloadRequest.keep` is field 5.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  decodeZdsAck,
  decodeZdsHello,
  decodeZdsRequest,
  encodeZdsAck,
  encodeZdsHello,
  encodeZdsRequest,
  ZDS_MAX_MESSAGE_BYTES,
  type ZdsRequest,
} from './zds-messages.js';

const bytes = (...b: number[]): Uint8Array => new Uint8Array(b);

describe('ZDS wire format', () => {
  it('encodes each request with zds.proto field numbers', () => {
    // WorkloadRequest.del = 2 { DelWorkload.uid = 2 }
    expect(encodeZdsRequest({ type: 'del', uid: 'a' })).toEqual(bytes(0x12, 3, 0x12, 1, 0x61));
    // WorkloadRequest.keep = 5 { KeepWorkload.uid = 1 }
    expect(encodeZdsRequest({ type: 'keep', uid: 'a' })).toEqual(bytes(0x2a, 3, 0x0a, 1, 0x61));
    // WorkloadRequest.snapshot_sent = 3 {}
    expect(encodeZdsRequest({ type: 'snapshot-sent' })).toEqual(bytes(0x1a, 0));
    // WorkloadRequest.add = 1 { uid = 1, workload_info = 2 { name = 1, namespace = 2, service_account = 3 } }
    expect(
      encodeZdsRequest({
        type: 'add',
        uid: 'u',
        workloadInfo: { name: 'n', namespace: 's', serviceAccount: 'a' },
      }),
    ).toEqual(bytes(0x0a, 14, 0x0a, 1, 0x75, 0x12, 9, 0x0a, 1, 0x6e, 0x12, 1, 0x73, 0x1a, 1, 0x61));
    expect(encodeZdsHello()).toEqual(bytes(0x08, 1)); // ZdsHello.version = V1
    expect(encodeZdsAck()).toEqual(bytes(0x0a, 0)); // WorkloadResponse.ack = 1 {}
    expect(encodeZdsAck('x')).toEqual(bytes(0x0a, 3, 0x0a, 1, 0x78)); // Ack.error = 1
  });

  it('round-trips requests, with the descriptor rule (property)', () => {
    const uid = fc.string({ maxLength: 64 });
    const request: fc.Arbitrary<ZdsRequest> = fc.oneof(
      fc.record({
        type: fc.constant('add' as const),
        uid,
        workloadInfo: fc.record({ name: uid, namespace: uid, serviceAccount: uid }),
      }),
      fc.record({ type: fc.constant('keep' as const), uid }),
      fc.record({ type: fc.constant('del' as const), uid }),
      fc.constant({ type: 'snapshot-sent' as const }),
    );
    fc.assert(
      fc.property(request, (r) => {
        const fds = r.type === 'add' ? 1 : 0;
        expect(decodeZdsRequest(encodeZdsRequest(r), fds)._unsafeUnwrap()).toEqual(r);
        expect(decodeZdsRequest(encodeZdsRequest(r), fds + 1)._unsafeUnwrapErr().code).toBe(
          'REDIRECT_ERR_ZDS_FD',
        );
      }),
    );
  });

  it('enforces exactly one descriptor on add and none elsewhere (ztunnel protocol.rs)', () => {
    const add = encodeZdsRequest({ type: 'add', uid: 'u' });
    expect(decodeZdsRequest(add, 0)._unsafeUnwrapErr().code).toBe('REDIRECT_ERR_ZDS_FD');
    expect(decodeZdsRequest(add, 2)._unsafeUnwrapErr().code).toBe('REDIRECT_ERR_ZDS_FD');
    expect(decodeZdsRequest(add, 1)._unsafeUnwrap()).toEqual({ type: 'add', uid: 'u' });
    expect(decodeZdsHello(encodeZdsHello(), 1)._unsafeUnwrapErr().code).toBe('REDIRECT_ERR_ZDS_FD');
    expect(decodeZdsAck(encodeZdsAck(), 1)._unsafeUnwrapErr().code).toBe('REDIRECT_ERR_ZDS_FD');
  });

  it('caps datagrams at ztunnel’s 1024-byte buffer', () => {
    const long = 'x'.repeat(ZDS_MAX_MESSAGE_BYTES);
    expect(() => encodeZdsRequest({ type: 'del', uid: long })).toThrow(
      expect.objectContaining({ code: 'REDIRECT_ERR_ZDS_TRUNCATED' }),
    );
    expect(decodeZdsRequest(new Uint8Array(ZDS_MAX_MESSAGE_BYTES + 1), 0)._unsafeUnwrapErr().code).toBe(
      'REDIRECT_ERR_ZDS_TRUNCATED',
    );
    // A long NACK is shortened to fit rather than rejected.
    expect(encodeZdsAck(long).length).toBeLessThanOrEqual(ZDS_MAX_MESSAGE_BYTES);
    expect(decodeZdsAck(encodeZdsAck(long), 0)._unsafeUnwrap().error.endsWith('...')).toBe(true);
  });

  it('rejects empty and garbage payloads with typed errors, never throwing (property)', () => {
    expect(decodeZdsRequest(new Uint8Array(0), 0)._unsafeUnwrapErr().code).toBe('REDIRECT_ERR_ZDS_DECODE');
    expect(decodeZdsAck(new Uint8Array(0), 0)._unsafeUnwrapErr().code).toBe('REDIRECT_ERR_ZDS_DECODE');
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 200 }), fc.integer({ min: 0, max: 2 }), (data, fds) => {
        for (const result of [
          decodeZdsRequest(data, fds),
          decodeZdsHello(data, fds),
          decodeZdsAck(data, fds),
        ]) {
          if (result.isErr()) {
            expect([
              'REDIRECT_ERR_ZDS_DECODE',
              'REDIRECT_ERR_ZDS_FD',
              'REDIRECT_ERR_ZDS_TRUNCATED',
            ]).toContain(result.error.code);
          }
        }
      }),
    );
  });
});
