import { create, fromBinary, toBinary } from '@bufbuild/protobuf';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  DeltaDiscoveryResponseSchema,
  ResourceSchema,
} from '../gen/envoy/service/discovery/v3/discovery_pb.js';
import { encodeDeltaResponse, encodeResource, readDeltaResponse } from './delta-wire.js';

// The server writes responses, and the client reads them, without protobuf-es (./delta-wire.ts); these
// hold both to what protobuf-es writes and reads for the same messages.
const text = fc.string({ unit: 'binary', maxLength: 40 });
const resource = fc.record({
  name: text,
  version: text,
  aliases: fc.array(text, { maxLength: 3 }),
  typeUrl: text,
  value: fc.uint8Array({ maxLength: 300 }),
});
const response = fc.record({
  typeUrl: text,
  nonce: text,
  resources: fc.array(resource, { maxLength: 5 }),
  removed: fc.array(text, { maxLength: 3 }),
});

type Response = typeof response extends fc.Arbitrary<infer T> ? T : never;

function plain(r: Response): Uint8Array {
  return toBinary(
    DeltaDiscoveryResponseSchema,
    create(DeltaDiscoveryResponseSchema, {
      typeUrl: r.typeUrl,
      nonce: r.nonce,
      removedResources: r.removed,
      resources: r.resources.map((x) =>
        create(ResourceSchema, {
          name: x.name,
          version: x.version,
          aliases: x.aliases,
          resource: { typeUrl: x.typeUrl, value: x.value },
        }),
      ),
    }),
  );
}

/** What the client reads, in the shape of the protobuf-es message's fields it uses. */
function read(bytes: Uint8Array): unknown {
  const r = readDeltaResponse(bytes);
  return {
    typeUrl: r.typeUrl,
    nonce: r.nonce,
    removedResources: r.removedResources,
    resources: r.resources.map((x) => ({
      name: x.name,
      version: x.version,
      aliases: x.aliases,
      resource:
        x.body === undefined
          ? undefined
          : { typeUrl: x.body.typeUrl, value: r.buf.subarray(x.body.start, x.body.end) },
    })),
  };
}

function reference(bytes: Uint8Array): unknown {
  const m = fromBinary(DeltaDiscoveryResponseSchema, bytes);
  return {
    typeUrl: m.typeUrl,
    nonce: m.nonce,
    removedResources: m.removedResources,
    resources: m.resources.map((x) => ({
      name: x.name,
      version: x.version,
      aliases: x.aliases,
      resource:
        x.resource === undefined ? undefined : { typeUrl: x.resource.typeUrl, value: x.resource.value },
    })),
  };
}

describe('delta xDS envelopes written and read directly', () => {
  it('writes the bytes protobuf-es writes', () => {
    fc.assert(
      fc.property(response, (r) => {
        const resources = r.resources.map((x) =>
          encodeResource(x.name, x.version, x.aliases, x.typeUrl, x.value),
        );
        expect(encodeDeltaResponse(r.typeUrl, r.nonce, resources, r.removed)).toEqual(plain(r));
      }),
      { numRuns: 300 },
    );
  });

  it('reads what protobuf-es reads, on responses and on concatenations of them (merges)', () => {
    fc.assert(
      fc.property(response, response, (a, b) => {
        for (const bytes of [plain(a), new Uint8Array([...plain(a), ...plain(b)])]) {
          expect(read(bytes)).toEqual(reference(bytes));
        }
      }),
      { numRuns: 300 },
    );
  });

  it('reads a resource body given twice as protobuf-es merges it', () => {
    // Resource{resource: Any{type_url: "a", value: [1]}, resource: Any{value: [2]}}
    const any1 = [0x0a, 0x01, 0x61, 0x12, 0x01, 0x01];
    const any2 = [0x12, 0x01, 0x02];
    const res = [0x12, any1.length, ...any1, 0x12, any2.length, ...any2];
    const bytes = new Uint8Array([0x12, res.length, ...res]);
    expect(read(bytes)).toEqual(reference(bytes));
  });

  it('reads arbitrary bytes as protobuf-es does whenever both accept them', () => {
    // Stricter where protobuf-es is lenient: a known field with the wrong wire type is refused (prost
    // refuses it too) where protobuf-es reads the bytes as if the type matched.
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 200 }), (bytes) => {
        let ours: unknown;
        let theirs: unknown;
        try {
          ours = read(bytes);
          theirs = reference(bytes);
        } catch {
          return;
        }
        expect(ours).toEqual(theirs);
      }),
      { numRuns: 3000 },
    );
  });
});
