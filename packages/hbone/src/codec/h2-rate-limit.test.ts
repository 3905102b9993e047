import { describe, expect, it } from 'vitest';
import { createTokenBucket } from './h2-rate-limit.js';

describe('createTokenBucket', () => {
  it('allows the burst, then the refill rate', () => {
    const bucket = createTokenBucket(3, 10, 0);
    expect([bucket.take(0), bucket.take(0), bucket.take(0), bucket.take(0)]).toEqual([
      true,
      true,
      true,
      false,
    ]);
    expect(bucket.take(50)).toEqual(false); // half a token after 50 ms at 10/s
    expect(bucket.take(100)).toEqual(true);
    // Never more than the capacity, however long it rested.
    expect([bucket.take(1e9), bucket.take(1e9), bucket.take(1e9), bucket.take(1e9)]).toEqual([
      true,
      true,
      true,
      false,
    ]);
  });

  it('refuses a bucket that could never refill', () => {
    expect(() => createTokenBucket(0, 1, 0)).toThrow(RangeError);
    expect(() => createTokenBucket(1, 0, 0)).toThrow(RangeError);
  });
});
