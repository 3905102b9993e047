import { describe, expect, it } from 'vitest';
import { buildPathIndex, type IndexKey } from './path-index.js';

// Every position the index tests for a path (the test never matches, so every candidate is tried).
const buckets = (keys: IndexKey[], path: string): number[] => {
  const out: number[] = [];
  buildPathIndex(keys, (pos: number) => {
    out.push(pos);
    return false;
  }).first(path, undefined);
  return out.sort((a, b) => a - b);
};

describe('path index', () => {
  it('finds exact paths, every prefix along the path (splitting shared edges), and unindexed entries', () => {
    const keys: IndexKey[] = [
      { kind: 'prefix', value: '/api' },
      { kind: 'prefix', value: '/apis' },
      { kind: 'prefix', value: '/api/v1' },
      { kind: 'exact', value: '/api/v1/x' },
      { kind: 'none' },
      { kind: 'prefix', value: '' },
      { kind: 'prefix', value: '/b' },
      { kind: 'prefix', value: '/api' },
    ];
    expect(buckets(keys, '/api/v1/x')).toEqual([0, 2, 3, 4, 5, 7]);
    expect(buckets(keys, '/apis/y')).toEqual([0, 1, 4, 5, 7]);
    expect(buckets(keys, '/ap')).toEqual([4, 5]);
    expect(buckets(keys, '/b')).toEqual([4, 5, 6]);
    expect(buildPathIndex(keys, () => false).unindexed).toBe(1);
    const index = buildPathIndex(keys, (pos: number, ctx: number) => pos >= ctx);
    expect(index.first('/api/v1/x', 3)).toBe(3);
    expect(index.first('/api/v1/x', 6)).toBe(7);
    expect(index.first('/api/v1/x', 8)).toBe(-1);
  });
});
