// istio/istio@86c9f01f:pilot/pkg/security/authz/matcher/string_test.go (TestStringMatcherWithPrefix) and
// header_test.go (TestHeaderMatcher, TestHostMatcher), as behaviour instead of generated protos.
import { describe, expect, it } from 'vitest';
import { asciiLower, envoyStringMatcher, headerMatcher, matchForm } from './string-match.js';

describe('envoyStringMatcher (StringMatcherWithPrefix)', () => {
  it('"*" is regex .+ and ignores the prefix', () => {
    const m = envoyStringMatcher('*', 'abc');
    expect(m('x')).toBe(true);
    expect(m('')).toBe(false);
    expect(m('a\nb')).toBe(false);
  });
  it('"*foo" with a prefix is regex <prefix>.*foo; without, suffix foo', () => {
    expect(envoyStringMatcher('*foo', 'spiffe://')('spiffe://x.foo')).toBe(true);
    expect(envoyStringMatcher('*foo', 'spiffe://')('x.foo')).toBe(false);
    expect(envoyStringMatcher('*foo')('barfoo')).toBe(true);
  });
  it('"foo*" is prefix <prefix>foo; "foo" exact <prefix>foo', () => {
    expect(envoyStringMatcher('foo*', 'abc')('abcfoo-bar')).toBe(true);
    expect(envoyStringMatcher('foo', 'abc')('abcfoo')).toBe(true);
    expect(envoyStringMatcher('foo', 'abc')('foo')).toBe(false);
  });
  it('only leading/trailing * are special', () => {
    expect(matchForm('a*b')).toEqual({ kind: 'exact', value: 'a*b' });
    expect(matchForm('**')).toEqual({ kind: 'suffix', value: '*' });
  });
});

describe('headerMatcher (HeaderMatcher / HostMatcher)', () => {
  it('"*" is present_match', () => {
    expect(headerMatcher('*', false)('')).toBe(true);
    expect(headerMatcher('*', false)(undefined)).toBe(false);
  });
  it('host matching ignores ASCII case for exact, prefix and suffix', () => {
    expect(headerMatcher('*.Example.com', true)('api.EXAMPLE.COM')).toBe(true);
    expect(headerMatcher('Prefix.*', true)('prefix.x')).toBe(true);
    expect(headerMatcher('A.com', true)('a.COM')).toBe(true);
  });
  it('other headers are case-sensitive', () => {
    expect(headerMatcher('GET', false)('get')).toBe(false);
  });
  it('asciiLower touches only A-Z', () => {
    expect(asciiLower('ÀB-c')).toBe('Àb-c');
  });
});
