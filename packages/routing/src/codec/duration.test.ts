import { describe, expect, it } from 'vitest';
import { checkIstioDuration, parseGatewayDuration, parseGoDuration } from './duration.js';

describe('durations', () => {
  it('parses GEP-2257 durations and refuses everything else', () => {
    expect(parseGatewayDuration('10s')).toBe(10_000);
    expect(parseGatewayDuration('1h30m')).toBe(5_400_000);
    expect(parseGatewayDuration('500ms')).toBe(500);
    expect(parseGatewayDuration('1h2m3s4ms')).toBe(3_723_004);
    for (const bad of ['', '1', '1.5s', '123456s', '1h1h1h1h1h', 's', '-1s', '1d'])
      expect(parseGatewayDuration(bad)).toBeUndefined();
  });

  it('parses Go durations (Istio fields)', () => {
    expect(parseGoDuration('0')).toBe(0);
    expect(parseGoDuration('1.5s')).toBe(1500);
    expect(parseGoDuration('3m')).toBe(180_000);
    expect(parseGoDuration('2h45m')).toBe(9_900_000);
    expect(parseGoDuration('100ms')).toBe(100);
    expect(parseGoDuration('250us')).toBe(0.25);
    for (const bad of ['', 's', '1', '1.2.3s', '1x', '-1s']) expect(parseGoDuration(bad)).toBeUndefined();
  });

  it("applies istiod's ValidateDuration", () => {
    expect(checkIstioDuration('1ms')).toBeUndefined();
    expect(checkIstioDuration('0.5ms')).toMatch(/greater than 1ms/);
    expect(checkIstioDuration('1500us')).toMatch(/ms precision/);
    expect(checkIstioDuration('0s')).toMatch(/greater than 1ms/);
    expect(checkIstioDuration('0s', true)).toBeUndefined();
    expect(checkIstioDuration('soon')).toMatch(/not a valid duration/);
  });
});
