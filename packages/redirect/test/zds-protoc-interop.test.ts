/**
 * The ZDS bytes we encode decode with protoc against `proto/zds.proto` (whose descriptor matches
 * istio/istio@86c9f01f:pkg/zdsapi/zds.proto field for field), and protoc's encoding decodes with our
 * schemas. protoc is Debian's `protobuf-compiler` (.ci/apt-packages.txt). Moved here from workload-api
 * with the ZDS schemas (issue 10).
 */
import { execFileSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { create, fromBinary, toBinary } from '@bufbuild/protobuf';
import { describe, expect, it } from 'vitest';
import { Version, WorkloadRequestSchema, WorkloadResponseSchema, ZdsHelloSchema } from '../src/gen/zds_pb.js';

const PROTO_DIR = fileURLToPath(new URL('../proto/', import.meta.url));

function protoc(mode: '--decode' | '--encode', type: string, input: Uint8Array | string): Buffer {
  try {
    return execFileSync('protoc', [`-I${PROTO_DIR}`, `${mode}=${type}`, 'zds.proto'], {
      cwd: PROTO_DIR,
      input,
    });
  } catch (cause) {
    throw new Error(`protoc ${mode}=${type} failed (is Debian's protobuf-compiler installed?)`, { cause });
  }
}

describe('ZDS protoc interop', () => {
  it('speaks ZDS: hello, add with workload info, del (field 2), keep (field 5), ack', () => {
    const hello = toBinary(ZdsHelloSchema, create(ZdsHelloSchema, { version: Version.V1 }));
    expect(protoc('--decode', 'istio.workload.zds.ZdsHello', hello).toString().trim()).toBe('version: V1');
    const add = toBinary(
      WorkloadRequestSchema,
      create(WorkloadRequestSchema, {
        payload: {
          case: 'add',
          value: {
            uid: 'pod-uid-1',
            workloadInfo: { name: 'sleep', namespace: 'default', serviceAccount: 'sleep' },
          },
        },
      }),
    );
    expect(protoc('--decode', 'istio.workload.zds.WorkloadRequest', add).toString()).toMatch(
      /add \{\s+uid: "pod-uid-1"\s+workload_info \{\s+name: "sleep"\s+namespace: "default"\s+service_account: "sleep"/,
    );
    const del = protoc('--encode', 'istio.workload.zds.WorkloadRequest', 'del { uid: "pod-uid-1" }');
    // DelWorkload.uid is field 2: tag 0x12 inside the `del` submessage (field 2 of WorkloadRequest, tag 0x12).
    expect([...del.subarray(0, 3)]).toEqual([0x12, 11, 0x12]);
    expect(fromBinary(WorkloadRequestSchema, del).payload).toMatchObject({
      case: 'del',
      value: { uid: 'pod-uid-1' },
    });
    const keep = protoc('--encode', 'istio.workload.zds.WorkloadRequest', 'keep { uid: "k" }');
    expect(keep[0]).toBe((5 << 3) | 2);
    const ack = protoc('--encode', 'istio.workload.zds.WorkloadResponse', 'ack { error: "boom" }');
    expect(fromBinary(WorkloadResponseSchema, ack).payload).toMatchObject({
      case: 'ack',
      value: { error: 'boom' },
    });
  });
});
