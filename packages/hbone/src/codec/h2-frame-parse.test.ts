import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { H2_ERROR, H2_FLAG } from './h2-constants.js';
import { encodeSettings } from './h2-frame-encode.js';
import {
  checkPriority,
  headersFragment,
  parseGoaway,
  parsePing,
  parseRstStream,
  parseSettings,
  parseWindowUpdate,
} from './h2-frame-parse.js';

const payloadOf = (frame: Uint8Array): Uint8Array => frame.subarray(9);

describe('SETTINGS (RFC 9113 §6.5)', () => {
  it('reads the known settings and ignores unknown identifiers', () => {
    const frame = encodeSettings([
      [0x3, 200],
      [0x4, 4 << 20],
      [0x5, 1 << 20],
      [0x6, 65_536],
      [0x1, 4096],
      [0x2, 0],
      [0x8, 1],
      [0xabcd, 7],
    ]);
    expect(parseSettings(0, 0, payloadOf(frame), 64)._unsafeUnwrap()).toEqual({
      maxConcurrentStreams: 200,
      initialWindowSize: 4 << 20,
      maxFrameSize: 1 << 20,
      maxHeaderListSize: 65_536,
      headerTableSize: 4096,
      enablePush: false,
    });
  });

  it.each([
    ['on a stream', 0, 1, encodeSettings([]), H2_ERROR.PROTOCOL_ERROR],
    ['an ACK with a payload', H2_FLAG.ACK, 0, encodeSettings([[1, 1]]), H2_ERROR.FRAME_SIZE_ERROR],
    ['ENABLE_PUSH 2', 0, 0, encodeSettings([[2, 2]]), H2_ERROR.PROTOCOL_ERROR],
    ['INITIAL_WINDOW_SIZE 2^31', 0, 0, encodeSettings([[4, 2 ** 31]]), H2_ERROR.FLOW_CONTROL_ERROR],
    ['MAX_FRAME_SIZE 16383', 0, 0, encodeSettings([[5, 16_383]]), H2_ERROR.PROTOCOL_ERROR],
    ['MAX_FRAME_SIZE 2^24', 0, 0, encodeSettings([[5, 2 ** 24]]), H2_ERROR.PROTOCOL_ERROR],
    [
      'too many entries',
      0,
      0,
      encodeSettings(Array.from({ length: 65 }, () => [3, 1] as [number, number])),
      H2_ERROR.ENHANCE_YOUR_CALM,
    ],
  ])('refuses %s', (_name, flags, streamId, frame, code) => {
    expect(parseSettings(flags, streamId, payloadOf(frame), 64)._unsafeUnwrapErr()).toMatchObject({
      scope: 'connection',
      code,
    });
  });

  it('refuses a length that is not a multiple of 6', () => {
    expect(parseSettings(0, 0, new Uint8Array(7), 64)._unsafeUnwrapErr().code).toBe(
      H2_ERROR.FRAME_SIZE_ERROR,
    );
  });

  it('round-trips any valid list, never throws on any payload', () => {
    fc.assert(
      fc.property(fc.array(fc.tuple(fc.constantFrom(3, 6, 0x10), fc.nat()), { maxLength: 10 }), (entries) => {
        const parsed = parseSettings(0, 0, payloadOf(encodeSettings(entries)), 64)._unsafeUnwrap();
        const last = (id: number) => entries.filter(([i]) => i === id).at(-1)?.[1];
        expect(parsed).toEqual({
          ...(last(3) === undefined ? {} : { maxConcurrentStreams: last(3) }),
          ...(last(6) === undefined ? {} : { maxHeaderListSize: last(6) }),
        });
      }),
    );
    fc.assert(fc.property(fc.uint8Array({ maxLength: 100 }), (bytes) => void parseSettings(0, 0, bytes, 64)));
  });
});

describe('the other control frames', () => {
  it('PING is 8 bytes on stream 0', () => {
    expect(parsePing(0, new Uint8Array(8)).isOk()).toBe(true);
    expect(parsePing(1, new Uint8Array(8))._unsafeUnwrapErr().code).toBe(H2_ERROR.PROTOCOL_ERROR);
    expect(parsePing(0, new Uint8Array(9))._unsafeUnwrapErr().code).toBe(H2_ERROR.FRAME_SIZE_ERROR);
  });

  it('WINDOW_UPDATE: 4 bytes; an increment of 0 is a stream error on a stream, a connection error on 0', () => {
    expect(parseWindowUpdate(3, Uint8Array.of(0x80, 0, 0, 1))._unsafeUnwrap()).toBe(1); // reserved bit ignored
    expect(parseWindowUpdate(3, new Uint8Array(4))._unsafeUnwrapErr()).toMatchObject({ scope: 'stream' });
    expect(parseWindowUpdate(0, new Uint8Array(4))._unsafeUnwrapErr()).toMatchObject({ scope: 'connection' });
    expect(parseWindowUpdate(0, new Uint8Array(5))._unsafeUnwrapErr().code).toBe(H2_ERROR.FRAME_SIZE_ERROR);
  });

  it('RST_STREAM: 4 bytes, never on stream 0', () => {
    expect(parseRstStream(1, Uint8Array.of(0, 0, 0, 8))._unsafeUnwrap()).toBe(H2_ERROR.CANCEL);
    expect(parseRstStream(0, new Uint8Array(4))._unsafeUnwrapErr().code).toBe(H2_ERROR.PROTOCOL_ERROR);
    expect(parseRstStream(1, new Uint8Array(3))._unsafeUnwrapErr().code).toBe(H2_ERROR.FRAME_SIZE_ERROR);
  });

  it('GOAWAY: the last stream id, the code and a copy of the debug data', () => {
    const payload = Uint8Array.of(0x80, 0, 0, 7, 0, 0, 0, 11, 104, 105);
    const goaway = parseGoaway(0, payload)._unsafeUnwrap();
    payload[8] = 0;
    expect(goaway).toEqual({ lastStreamId: 7, code: 11, debug: Uint8Array.of(104, 105) });
    expect(parseGoaway(0, new Uint8Array(7))._unsafeUnwrapErr().code).toBe(H2_ERROR.FRAME_SIZE_ERROR);
  });

  it('PRIORITY: 5 bytes (a stream error otherwise), never on stream 0', () => {
    expect(checkPriority(1, new Uint8Array(5)).isOk()).toBe(true);
    expect(checkPriority(1, new Uint8Array(4))._unsafeUnwrapErr()).toMatchObject({ scope: 'stream' });
    expect(checkPriority(0, new Uint8Array(5))._unsafeUnwrapErr()).toMatchObject({ scope: 'connection' });
  });

  it('HEADERS: padding and priority fields stripped; padding past the payload is a PROTOCOL_ERROR', () => {
    const payload = Uint8Array.of(2, 0, 0, 0, 0, 16, 0x82, 0x84, 0, 0);
    expect([...headersFragment(H2_FLAG.PADDED | H2_FLAG.PRIORITY, payload)._unsafeUnwrap()]).toEqual([
      0x82, 0x84,
    ]);
    expect(headersFragment(H2_FLAG.PADDED, Uint8Array.of(5, 1))._unsafeUnwrapErr().code).toBe(
      H2_ERROR.PROTOCOL_ERROR,
    );
    fc.assert(
      fc.property(fc.integer({ min: 0, max: 255 }), fc.uint8Array({ maxLength: 40 }), (flags, bytes) => {
        const result = headersFragment(flags, bytes);
        if (result.isOk()) expect(result.value.length).toBeLessThanOrEqual(bytes.length);
      }),
    );
  });
});
