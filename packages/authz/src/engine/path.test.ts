// Vectors from envoyproxy/envoy@4be1184c:test/common/http/path_utility_test.cc (NormalizeValidPaths,
// InvalidPaths, NormalizeCasePath, MergeSlashes, UnescapeSlashes, RemoveQueryAndFragment,
// StripDotSegmentWithParameters) and istio/istio@86c9f01f:tests/integration/security/authz_test.go
// TestAuthz_PathNormalization.
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  canonicalizePath,
  mergeSlashes,
  normalizeRequestPath,
  stripDotSegmentParameters,
  stripQueryAndFragment,
  unescapeSlashes,
} from './path.js';

const canonical = (path: string): string | undefined => {
  const r = normalizeRequestPath(path, 'BASE');
  return r.ok ? r.path : undefined;
};

describe('Envoy PathUtility', () => {
  it('AlreadyNormalPaths', () => {
    for (const p of ['/xyz', '/x/y/z']) expect(canonical(p)).toBe(p);
  });

  it('InvalidPaths: a NUL (%00) fails', () => {
    for (const p of ['/xyz/.%00../abc', '/xyz/%00.%00./abc', '/xyz/AAAAA%%0000/abc'])
      expect(canonical(p)).toBeUndefined();
  });

  it('NormalizeValidPaths', () => {
    const pairs: [string, string][] = [
      ['/a/b/../c', '/a/c'],
      ['/a/b/./c', '/a/b/c'],
      ['a/b/../c', '/a/c'],
      ['/a/b/../../../../c', '/c'],
      ['/a/..\\c', '/c'],
      ['/%c0%af', '/%c0%af'],
      ['/%5c%25', '/%5c%25'],
      ['/a/b/%2E%2E/c', '/a/c'],
      ['/a/b/%2E./c', '/a/c'],
      ['/a/b/%2E/c', '/a/b/c'],
      ['..', '/'],
      ['/../a/b', '/a/b'],
      ['/./a/b', '/a/b'],
      ['/xyz/..;foo=bar/abc', '/abc'],
      ['/..;foo=bar/abc', '/abc'],
      ['/xyz/..;foo=bar', '/'],
      ['/xyz/.;foo=bar/abc', '/xyz/abc'],
      ['/.;foo=bar/abc', '/abc'],
      ['/xyz/.;foo=bar', '/xyz/'],
      ['/xyz/..;foo=bar/.;v1=2,v2=3/abc', '/abc'],
      ['/..;foo=bar/abc/.;mmm', '/abc/'],
      ['/.;aaa/..;foo=bar/abc/.;mmm', '/abc/'],
      ['/xyz/..;foo=bar/.;fff=zzz', '/'],
      ['/xyz/..;foo=bar/.;fff=zzz?blah=woops', '/?blah=woops'],
      ['/xyz/..;foo=bar/.;fff=zzz/remain;blah-bluh?query', '/remain;blah-bluh?query'],
    ];
    for (const [input, output] of pairs) expect([input, canonical(input)]).toEqual([input, output]);
  });

  it('NormalizeCasePath: no lower-casing; %2E/%2e decoded; %2F kept as written', () => {
    expect(canonical('/A/B/C')).toBe('/A/B/C');
    expect(canonical('/a/b/%2e%2e/c')).toBe('/a/c');
    expect(canonical('/a/%2F%2f/c')).toBe('/a/%2F%2f/c');
  });

  it('Chromium decodes unreserved escapes and escapes what must be escaped', () => {
    expect(canonicalizePath('/%41%7e%2D%5f')).toBe('/A~-_');
    expect(canonicalizePath('/a b"<>`{|}^')).toBe('/a%20b%22%3C%3E%60%7B%7C%7D%5E');
    expect(canonicalizePath('/é')).toBe('/%C3%A9');
    // "%%300" must not turn into "%00" (CheckForNestedEscapes).
    expect(canonicalizePath('/%%300')).toBe('/%2500');
  });

  it('MergeSlashes', () => {
    expect(mergeSlashes('/a//b/c/')).toBe('/a/b/c/');
    expect(mergeSlashes('//a/b/c')).toBe('/a/b/c');
    expect(mergeSlashes('/a////b/c')).toBe('/a/b/c');
    const r = normalizeRequestPath('/a//b?a=///c', 'MERGE_SLASHES');
    expect(r.ok && r.path).toBe('/a/b?a=///c');
  });

  it('UnescapeSlashes (case-insensitive, query untouched)', () => {
    expect(unescapeSlashes('%2f%2F')).toBe('//');
    expect(unescapeSlashes('/a%2Fb%2fc/')).toBe('/a/b/c/');
    expect(unescapeSlashes('%2b')).toBe('%2b');
    expect(unescapeSlashes('%%2fa/')).toBe('%/a/');
    expect(unescapeSlashes('%5c%5C')).toBe('\\\\');
    const r = normalizeRequestPath('%2fa%5Cb%2fc%5c?%2fabcd%5C%%2f%', 'DECODE_AND_MERGE_SLASHES');
    expect(r.ok && r.path).toBe('/a/b/c/?%2fabcd%5C%%2f%');
  });

  it('RemoveQueryAndFragment', () => {
    for (const p of [
      '/abc',
      '/abc?',
      '/abc?param=value',
      '/abc??',
      '/abc#',
      '/abc#fragment?param=value',
      '/abc?param=value#fragment',
    ]) {
      expect(stripQueryAndFragment(p)).toBe('/abc');
    }
  });

  it('StripDotSegmentWithParameters', () => {
    expect(stripDotSegmentParameters('/xyz/..;foo=bar/abc')).toBe('/xyz/../abc');
    expect(stripDotSegmentParameters('/a/..;param1;param2/b')).toBe('/a/../b');
    expect(stripDotSegmentParameters('/xyz/..foo')).toBe('/xyz/..foo');
    expect(stripDotSegmentParameters('/xyz/...;foo')).toBe('/xyz/...;foo');
    expect(stripDotSegmentParameters('/a/.;foo/b/.;bar/c')).toBe('/a/./b/./c');
  });
});

describe('normalizeRequestPath modes (istio MeshConfig pathNormalization)', () => {
  it('NONE keeps the raw path; urlPath drops the query and fragment', () => {
    expect(normalizeRequestPath('/a/../b?x=1#f', 'NONE')).toEqual({
      ok: true,
      path: '/a/../b?x=1',
      urlPath: '/a/../b',
    });
  });
  it('TestAuthz_PathNormalization: every /public/..-style path resolves to /private', () => {
    for (const p of [
      '/public/../private',
      '/public/./../private',
      '/public/.././private',
      '/public/%2E%2E/private',
      '/public/%2e/%2e%2e/private',
      '/public/%2E%2E/%2E/private',
    ]) {
      const r = normalizeRequestPath(p, 'BASE');
      expect(r.ok && r.urlPath).toBe('/private');
    }
  });
  it('never throws and always yields a path starting with / (fast-check)', () => {
    fc.assert(
      fc.property(
        fc.string({ unit: 'binary', maxLength: 200 }),
        fc.constantFrom('NONE', 'BASE', 'MERGE_SLASHES', 'DECODE_AND_MERGE_SLASHES' as const),
        (path, mode) => {
          const r = normalizeRequestPath(path, mode);
          if (r.ok && mode !== 'NONE') expect(r.urlPath.startsWith('/')).toBe(true);
        },
      ),
    );
  });
  it('normalization is idempotent on its own output (fast-check)', () => {
    fc.assert(
      fc.property(fc.stringMatching(/^[a-z./%2eE5cC\\;]{0,40}$/), (path) => {
        const once = canonicalizePath(path);
        if (once !== undefined) expect(canonicalizePath(once)).toBe(once);
      }),
    );
  });
});
