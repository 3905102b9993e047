import { describe, expect, it } from 'vitest';
import { compileRe2, MAX_REGEX_LENGTH } from './regex.js';

describe('compileRe2 (Envoy safe_regex: RE2, full match)', () => {
  it('matches the whole value, not a substring', () => {
    const re = compileRe2('/v[0-9]+');
    if (typeof re === 'string') throw new Error(re);
    expect(re.fullMatch('/v12')).toBe(true);
    expect(re.fullMatch('/v12/x')).toBe(false);
    expect(re.fullMatch('x/v12')).toBe(false);
  });

  it.each([
    ['(a)\\1', 'backreference'],
    ['(?=x)y', 'lookahead'],
    ['(?<=x)y', 'lookbehind'],
    ['(?!x)y', 'negative lookahead'],
    ['a\\Z', '\\Z'],
    ['a**', 'nested repetition'],
    ['a{1001}', 'repeat count over 1000'],
    ['(?<name', 'unterminated group'],
  ])('rejects what RE2 rejects and JavaScript accepts or reads differently: %s (%s)', (pattern) => {
    expect(typeof compileRe2(pattern)).toBe('string');
  });

  it('accepts RE2 syntax JavaScript lacks (POSIX classes, \\pL, (?i))', () => {
    for (const p of ['[[:alpha:]]+', '\\pL+', '(?i)abc', '(?P<n>x)'])
      expect(typeof compileRe2(p)).not.toBe('string');
    const ci = compileRe2('(?i)abc');
    expect(typeof ci !== 'string' && ci.fullMatch('ABC')).toBe(true);
  });

  it('refuses patterns longer than istiod allows', () => {
    expect(compileRe2('a'.repeat(MAX_REGEX_LENGTH + 1))).toMatch(/too large/);
  });

  it('replaces all matches with \\N substitutions (Envoy regex_rewrite)', () => {
    const re = compileRe2('^/service/([^/]+)(/.*)$');
    if (typeof re === 'string') throw new Error(re);
    expect(re.replaceAll('/service/foo/v1/api', '\\2/instance/\\1')).toBe('/v1/api/instance/foo');
    const all = compileRe2('o');
    if (typeof all === 'string') throw new Error(all);
    expect(all.replaceAll('foo/boo', '0')).toBe('f00/b00');
    const empty = compileRe2('x*');
    if (typeof empty === 'string') throw new Error(empty);
    expect(empty.replaceAll('ab', '-')).toBe('-a-b-');
    expect(all.replaceAll('o', '\\\\$1')).toBe('\\$1');
  });
});
