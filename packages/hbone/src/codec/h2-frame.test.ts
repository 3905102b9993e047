import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { H2_ERROR, H2_FLAG, H2_FRAME } from './h2-constants.js';
import type { H2Failure } from './h2-failure.js';
import { createH2FrameDecoder, type H2FrameHandler } from './h2-frame-decoder.js';
import {
  encodeFrame,
  encodeFrameHeader,
  encodeGoaway,
  encodeHeaders,
  encodePing,
  encodeRstStream,
  encodeSettings,
  encodeWindowUpdate,
} from './h2-frame-encode.js';

/** What a decoder reports, in a form that compares: DATA as one entry with its bytes joined. */
type Seen =
  | { kind: 'frame'; type: number; flags: number; streamId: number; payload: number[] }
  | { kind: 'data'; streamId: number; flags: number; length: number; bytes: number[]; padding: number }
  | { kind: 'unknown'; type: number; length: number };

function recorder(): { handler: H2FrameHandler; seen: Seen[] } {
  const seen: Seen[] = [];
  let data: Extract<Seen, { kind: 'data' }> | undefined;
  const handler: H2FrameHandler = {
    onFrame(type, flags, streamId, payload) {
      seen.push({ kind: 'frame', type, flags, streamId, payload: [...payload] });
      return undefined;
    },
    onDataStart(streamId, flags, length) {
      data = { kind: 'data', streamId, flags, length, bytes: [], padding: 0 };
      return undefined;
    },
    onData(_streamId, bytes) {
      data?.bytes.push(...bytes);
    },
    onDataEnd(_streamId, _flags, paddingBytes) {
      if (data !== undefined) {
        data.padding = paddingBytes;
        seen.push(data);
      }
      data = undefined;
      return undefined;
    },
    onUnknown(type, length) {
      seen.push({ kind: 'unknown', type, length });
      return undefined;
    },
  };
  return { handler, seen };
}

function decodeAll(bytes: Uint8Array, splits: number[] = [], maxFrameBytes = 16_384): Seen[] | H2Failure {
  const { handler, seen } = recorder();
  const decoder = createH2FrameDecoder(handler, maxFrameBytes);
  let at = 0;
  for (const cut of [
    ...splits.filter((s) => s > 0 && s < bytes.length).sort((a, b) => a - b),
    bytes.length,
  ]) {
    const failure = decoder.push(bytes.subarray(at, cut));
    if (failure !== undefined) return failure;
    at = cut;
  }
  return seen;
}

function concat(...parts: Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let at = 0;
  for (const p of parts) {
    out.set(p, at);
    at += p.length;
  }
  return out;
}

describe('encoding', () => {
  it('writes the RFC 9113 §4.1 header: 24-bit length, type, flags, 31-bit stream id', () => {
    expect([...encodeFrameHeader(0x010203, H2_FRAME.DATA, H2_FLAG.END_STREAM, 0x7fffffff)]).toEqual([
      1, 2, 3, 0, 1, 0x7f, 0xff, 0xff, 0xff,
    ]);
    expect(() => encodeFrameHeader(1 << 24, 0, 0, 1)).toThrow(RangeError);
    expect(() => encodeFrameHeader(0, 0, 0, 2 ** 31)).toThrow(RangeError);
  });

  it('writes the control frames', () => {
    expect([...encodeSettings([[0x3, 200]])]).toEqual([0, 0, 6, 4, 0, 0, 0, 0, 0, 0, 3, 0, 0, 0, 200]);
    expect([...encodeSettings([], true)]).toEqual([0, 0, 0, 4, 1, 0, 0, 0, 0]);
    expect(() => encodeSettings([[1, 1]], true)).toThrow(RangeError);
    expect([...encodeWindowUpdate(0, 65_535)].slice(9)).toEqual([0, 0, 0xff, 0xff]);
    expect(() => encodeWindowUpdate(0, 0)).toThrow(RangeError);
    expect([...encodeRstStream(5, H2_ERROR.CANCEL)]).toEqual([0, 0, 4, 3, 0, 0, 0, 0, 5, 0, 0, 0, 8]);
    expect(encodePing(new Uint8Array(8), true)[4]).toBe(H2_FLAG.ACK);
    expect(() => encodePing(new Uint8Array(7), false)).toThrow(RangeError);
    expect([...encodeGoaway(7, H2_ERROR.NO_ERROR)].slice(9)).toEqual([0, 0, 0, 7, 0, 0, 0, 0]);
  });

  it('splits a large header block into HEADERS and CONTINUATION frames of at most maxFrameBytes', () => {
    const block = new Uint8Array(40_000).fill(7);
    const frames = decodeAll(encodeHeaders(3, block, true, 16_384)) as Seen[];
    expect(frames.map((f) => f.kind === 'frame' && [f.type, f.flags, f.payload.length])).toEqual([
      [H2_FRAME.HEADERS, H2_FLAG.END_STREAM, 16_384],
      [H2_FRAME.CONTINUATION, 0, 16_384],
      [H2_FRAME.CONTINUATION, H2_FLAG.END_HEADERS, 40_000 - 2 * 16_384],
    ]);
  });
});

describe('decoding', () => {
  it('hands DATA over in pieces without buffering, padding stripped and counted', () => {
    const payload = concat(Uint8Array.of(3), new TextEncoder().encode('hello'), new Uint8Array(3));
    const frame = encodeFrame(H2_FRAME.DATA, H2_FLAG.PADDED | H2_FLAG.END_STREAM, 1, payload);
    for (const splits of [[], [1, 2, 3, 9, 10, 11, 12, 15, 16]]) {
      expect(decodeAll(frame, splits)).toEqual([
        {
          kind: 'data',
          streamId: 1,
          flags: H2_FLAG.PADDED | H2_FLAG.END_STREAM,
          length: 9,
          bytes: [...new TextEncoder().encode('hello')],
          padding: 4,
        },
      ]);
    }
  });

  it('skips frames of unknown types without buffering them (RFC 9113 §5.5)', () => {
    const bytes = concat(encodeFrame(0x42, 0, 0, new Uint8Array(100)), encodePing(new Uint8Array(8), false));
    expect((decodeAll(bytes, [5, 50]) as Seen[]).map((s) => s.kind)).toEqual(['unknown', 'frame']);
  });

  it('refuses a frame over the advertised maximum before reading its payload (FRAME_SIZE_ERROR)', () => {
    const header = encodeFrameHeader(16_385, H2_FRAME.DATA, 0, 1);
    expect(decodeAll(header)).toMatchObject({ scope: 'connection', code: H2_ERROR.FRAME_SIZE_ERROR });
  });

  it('refuses padding as long as the payload (PROTOCOL_ERROR) and a PADDED frame without room for it', () => {
    const tooMuch = encodeFrame(H2_FRAME.DATA, H2_FLAG.PADDED, 1, Uint8Array.of(4, 0, 0, 0));
    expect(decodeAll(tooMuch)).toMatchObject({ code: H2_ERROR.PROTOCOL_ERROR });
    const empty = encodeFrame(H2_FRAME.DATA, H2_FLAG.PADDED, 1);
    expect(decodeAll(empty)).toMatchObject({ code: H2_ERROR.FRAME_SIZE_ERROR });
  });

  it('stops for good after halt() or a failure', () => {
    const { handler, seen } = recorder();
    const decoder = createH2FrameDecoder(handler, 16_384);
    decoder.halt();
    decoder.push(encodePing(new Uint8Array(8), false));
    expect(seen).toEqual([]);
  });
});

// Arbitrary frames as the encoder writes them: DATA (maybe padded), known control types, unknown types.
const frameArb = fc.oneof(
  fc.record({
    type: fc.constant(H2_FRAME.DATA),
    flags: fc.constantFrom(0, H2_FLAG.END_STREAM),
    streamId: fc.integer({ min: 1, max: 2 ** 31 - 1 }),
    data: fc.uint8Array({ maxLength: 3000 }),
    padding: fc.option(fc.integer({ min: 0, max: 255 }), { nil: undefined }),
  }),
  fc.record({
    type: fc.constantFrom(
      H2_FRAME.HEADERS,
      H2_FRAME.PING,
      H2_FRAME.SETTINGS,
      H2_FRAME.GOAWAY,
      H2_FRAME.RST_STREAM,
    ),
    flags: fc.integer({ min: 0, max: 255 }),
    streamId: fc.integer({ min: 0, max: 2 ** 31 - 1 }),
    data: fc.uint8Array({ maxLength: 3000 }),
    padding: fc.constant(undefined),
  }),
  fc.record({
    type: fc.integer({ min: 10, max: 255 }),
    flags: fc.integer({ min: 0, max: 255 }),
    streamId: fc.integer({ min: 0, max: 2 ** 31 - 1 }),
    data: fc.uint8Array({ maxLength: 3000 }),
    padding: fc.constant(undefined),
  }),
);

function encodeArb(f: {
  type: number;
  flags: number;
  streamId: number;
  data: Uint8Array;
  padding?: number | undefined;
}) {
  if (f.type === H2_FRAME.DATA && f.padding !== undefined) {
    const payload = concat(Uint8Array.of(f.padding), f.data, new Uint8Array(f.padding));
    return encodeFrame(f.type, f.flags | H2_FLAG.PADDED, f.streamId, payload);
  }
  return encodeFrame(f.type, f.type === H2_FRAME.DATA ? f.flags : f.flags, f.streamId, f.data);
}

function expected(f: {
  type: number;
  flags: number;
  streamId: number;
  data: Uint8Array;
  padding?: number | undefined;
}): Seen {
  if (f.type === H2_FRAME.DATA) {
    const padded = f.padding !== undefined;
    return {
      kind: 'data',
      streamId: f.streamId,
      flags: padded ? f.flags | H2_FLAG.PADDED : f.flags,
      length: f.data.length + (padded ? 1 + (f.padding as number) : 0),
      bytes: [...f.data],
      padding: padded ? 1 + (f.padding as number) : 0,
    };
  }
  if (f.type > H2_FRAME.CONTINUATION) return { kind: 'unknown', type: f.type, length: f.data.length };
  return { kind: 'frame', type: f.type, flags: f.flags, streamId: f.streamId, payload: [...f.data] };
}

describe('properties', () => {
  it('decode(encode(frames)) gives back the frames, however the bytes are split', () => {
    fc.assert(
      fc.property(
        fc.array(frameArb, { maxLength: 8 }),
        fc.array(fc.nat(30_000), { maxLength: 12 }),
        (frames, splits) => {
          const bytes = concat(...frames.map(encodeArb));
          expect(decodeAll(bytes, splits)).toEqual(frames.map(expected));
        },
      ),
    );
  });

  it('never throws on arbitrary bytes, and never hands over more than it was given', () => {
    fc.assert(
      fc.property(
        fc.uint8Array({ maxLength: 4000 }),
        fc.array(fc.nat(4000), { maxLength: 6 }),
        (bytes, splits) => {
          const result = decodeAll(bytes, splits);
          if (!Array.isArray(result)) {
            expect(result.scope).toBe('connection');
            return;
          }
          let handed = 0;
          for (const s of result)
            handed += s.kind === 'frame' ? s.payload.length : s.kind === 'data' ? s.bytes.length : 0;
          expect(handed).toBeLessThanOrEqual(bytes.length);
        },
      ),
    );
  });
});
