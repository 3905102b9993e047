// istio tests/integration/security TestAuthz_PathTemplating, pkg/config/security security_test.go
// TestCheckValidPathTemplate, and Envoy uri_template_internal_test conversions.
import { describe, expect, it } from 'vitest';
import { checkPathTemplate, compilePathTemplate, containsPathTemplate } from './path-template.js';

describe('compilePathTemplate', () => {
  const cases: [string, string, boolean][] = [
    ['/allow/admin/{**}', '/allow/admin/', true],
    ['/allow/admin/{**}', '/allow/admin/foo/temp.txt', true],
    ['/allow/admin/{**}', '/allow/admin', false],
    ['/foo/{*}/bar/{**}', '/foo/buzz/bar/bat', true],
    ['/foo/{*}/bar/{**}', '/foo//bar/bat.txt', false],
    ['/store/{**}/cart', '/store//cart', true],
    ['/store/{**}/cart', '/store/foo/bar/cart', true],
    ['/store/{**}/cart', '/store/cart', false],
    ['/{*}', '/a', true],
    ['/{*}', '/a/b', false],
    ['/{*}/', '/a/', true],
    ['/{*}/', '/a', false],
    ['/{**}', '/', true],
    ['/{**}', '/a/b/c', true],
  ];
  for (const [template, path, expected] of cases) {
    it(`${template} ~ ${path} → ${expected}`, () =>
      expect(compilePathTemplate(template)(path)).toBe(expected));
  }
});

describe('checkPathTemplate (CheckValidPathTemplate)', () => {
  it('accepts valid templates and plain paths', () => {
    for (const p of ['/foo/{*}', '/foo/{**}', '/{*}/bar/{**}', '/foo/bar', '/foo*', '*/suffix'])
      expect(checkPathTemplate(p)).toBeUndefined();
  });
  it('rejects {**} before another operator, stray braces and invalid literals', () => {
    expect(checkPathTemplate('/foo/{**}/bar/{*}')).toContain('not the last operator');
    expect(checkPathTemplate('/foo/{**}/{**}')).toContain('not the last operator');
    expect(checkPathTemplate('/foo/{bar}')).toContain("'{' or '}'");
    expect(checkPathTemplate('/{*}/a*')).toContain('invalid string literal');
  });
  it('containsPathTemplate', () => {
    expect(containsPathTemplate('/a/{*}')).toBe(true);
    expect(containsPathTemplate('/a/*')).toBe(false);
  });
});
