import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { H2_ERROR } from './h2-constants.js';
import { H2ReceiveWindow, H2SendWindow } from './h2-flow.js';

describe('H2SendWindow', () => {
  it('is used up by sending and grown by WINDOW_UPDATE, never past 2^31-1 (RFC 9113 §6.9.1)', () => {
    const window = new H2SendWindow(65_535, 'stream');
    window.consume(65_535);
    expect(window.available).toBe(0);
    expect(() => window.consume(1)).toThrow(RangeError);
    expect(window.grow(10)).toBeUndefined();
    expect(window.grow(2 ** 31 - 1)).toMatchObject({ scope: 'stream', code: H2_ERROR.FLOW_CONTROL_ERROR });
    expect(new H2SendWindow(1, 'connection').grow(2 ** 31 - 1)).toMatchObject({ scope: 'connection' });
  });

  it('moves with SETTINGS_INITIAL_WINDOW_SIZE changes, below zero too (RFC 9113 §6.9.2)', () => {
    const window = new H2SendWindow(65_535, 'stream');
    window.consume(60_000);
    window.adjust(16_384 - 65_535);
    expect(window.available).toBe(5_535 + 16_384 - 65_535);
  });
});

describe('H2ReceiveWindow', () => {
  it('refuses more than the window and hands bytes back only in batches, as they are released', () => {
    const window = new H2ReceiveWindow(1000, 400, 'stream');
    expect(window.receive(1000)).toBeUndefined();
    expect(window.receive(1)).toMatchObject({ code: H2_ERROR.FLOW_CONTROL_ERROR, scope: 'stream' });
    expect(window.release(300)).toBe(0);
    expect(window.open).toBe(0);
    expect(window.release(100)).toBe(400);
    expect(window.open).toBe(400);
    expect(window.release(50)).toBe(0);
    expect(window.flush()).toBe(50);
  });

  it('grows the connection window to a target with one increment', () => {
    const window = new H2ReceiveWindow(65_535, 1 << 22, 'connection');
    expect(window.growTo(16 << 20)).toBe((16 << 20) - 65_535);
    expect(window.growTo(16 << 20)).toBe(0);
  });

  it('never lets the peer have more than the window out, whatever the order of receives and releases', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 1, max: 1 << 20 }),
        fc.array(fc.tuple(fc.boolean(), fc.nat(1 << 18)), { maxLength: 50 }),
        (size, steps) => {
          const window = new H2ReceiveWindow(size, Math.max(1, size >> 2), 'stream');
          let unreleased = 0;
          for (const [receive, n] of steps) {
            if (receive) {
              const before = window.open;
              const failure = window.receive(n);
              if (failure === undefined) unreleased += n;
              else expect(n).toBeGreaterThan(before);
            } else {
              const give = Math.min(n, unreleased);
              unreleased -= give;
              window.release(give);
            }
            // What the peer may still send plus what is held never exceeds the advertised window.
            expect(window.open + unreleased + window.released).toBeLessThanOrEqual(size + window.released);
            expect(window.open + unreleased).toBeLessThanOrEqual(size);
          }
        },
      ),
    );
  });
});
