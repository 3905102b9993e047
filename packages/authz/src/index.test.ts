import { describe, expect, it } from 'vitest';
import { CODEC_PLACEHOLDER } from './index.js';

describe('placeholder', () => {
  it('exports the codec placeholder', () => {
    expect(CODEC_PLACEHOLDER).toBe('codec');
  });
});
