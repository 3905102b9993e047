import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import type { SpiffeErrorCode } from './errors.js';
import {
  isSpiffeId,
  MAX_SPIFFE_ID_BYTES,
  parseSpiffeId,
  parseTrustDomain,
  requireSpiffeId,
  spiffeIdFromPath,
  spiffeIdFromSegments,
  validateSpiffePath,
} from './spiffe-id.js';

function code(input: string): SpiffeErrorCode | 'ok' {
  const r = parseSpiffeId(input);
  return r.isOk() ? 'ok' : r.error.code;
}

describe('parseSpiffeId: accepted (SPIFFE-ID §2, go-spiffe id_test.go)', () => {
  it.each([
    ['spiffe://example.org', 'example.org', ''],
    ['spiffe://example.org/workload', 'example.org', '/workload'],
    ['spiffe://cluster.local/ns/default/sa/sleep', 'cluster.local', '/ns/default/sa/sleep'],
    // IP-looking and odd-but-valid trust domains get no special handling (spiffe/spiffe@665a28f:standards/SPIFFE-ID.md §2.1)
    ['spiffe://192.168.0.1/x', '192.168.0.1', '/x'],
    ['spiffe://-/x', '-', '/x'],
    ['spiffe://../x', '..', '/x'],
    ['spiffe://a_b-c.d/x', 'a_b-c.d', '/x'],
    // segments that merely contain dots are fine (go-spiffe id_test.go l.127-140)
    ['spiffe://td/.path', 'td', '/.path'],
    ['spiffe://td/..path', 'td', '/..path'],
    ['spiffe://td/...', 'td', '/...'],
    ['spiffe://td/UPPER/Case_-.9', 'td', '/UPPER/Case_-.9'],
  ])('%s', (input, td, path) => {
    const id = parseSpiffeId(input)._unsafeUnwrap();
    expect(id.trustDomain.toString()).toBe(td);
    expect(id.trustDomain.name).toBe(td);
    expect(id.path).toBe(path);
    expect(id.toString()).toBe(input);
    expect(`${id}`).toBe(input);
    expect(JSON.stringify({ id })).toBe(JSON.stringify({ id: input }));
    expect(isSpiffeId(id)).toBe(true);
  });
});

describe('parseSpiffeId: rejected with the first rule broken', () => {
  it.each<[string, SpiffeErrorCode]>([
    ['', 'SPIFFE_ERR_ID_EMPTY'],
    // scheme: exact lowercase bytes, never normalised (spiffe/spiffe@665a28f:standards/SPIFFE-ID.md §2.4, go-spiffe rejects uppercase)
    ['SPIFFE://example.org/a', 'SPIFFE_ERR_ID_SCHEME'],
    ['Spiffe://example.org/a', 'SPIFFE_ERR_ID_SCHEME'],
    ['http://example.org/a', 'SPIFFE_ERR_ID_SCHEME'],
    ['spiffe:/example.org/a', 'SPIFFE_ERR_ID_SCHEME'],
    ['spiffe:example.org/a', 'SPIFFE_ERR_ID_SCHEME'],
    ['192.168.2.2:6688', 'SPIFFE_ERR_ID_SCHEME'],
    [' spiffe://example.org/a', 'SPIFFE_ERR_ID_SCHEME'],
    // trust domain
    ['spiffe://', 'SPIFFE_ERR_TRUST_DOMAIN_MISSING'],
    ['spiffe:///path', 'SPIFFE_ERR_TRUST_DOMAIN_MISSING'],
    ['spiffe://Example.org/a', 'SPIFFE_ERR_TRUST_DOMAIN_CHAR'],
    ['spiffe://example.org:8080/a', 'SPIFFE_ERR_TRUST_DOMAIN_CHAR'],
    ['spiffe://example.org:/a', 'SPIFFE_ERR_TRUST_DOMAIN_CHAR'],
    ['spiffe://user:pw@example.org/a', 'SPIFFE_ERR_TRUST_DOMAIN_CHAR'],
    ['spiffe://user@example.org/a', 'SPIFFE_ERR_TRUST_DOMAIN_CHAR'],
    ['spiffe://exa%6dple.org/a', 'SPIFFE_ERR_TRUST_DOMAIN_CHAR'],
    ['spiffe://[::1]/a', 'SPIFFE_ERR_TRUST_DOMAIN_CHAR'],
    ['spiffe://example.org?q=1', 'SPIFFE_ERR_TRUST_DOMAIN_CHAR'],
    ['spiffe://example.org#f', 'SPIFFE_ERR_TRUST_DOMAIN_CHAR'],
    ['spiffe://exämple.org/a', 'SPIFFE_ERR_TRUST_DOMAIN_CHAR'],
    [`spiffe://${'a'.repeat(256)}/x`, 'SPIFFE_ERR_TRUST_DOMAIN_TOO_LONG'],
    // path
    ['spiffe://example.org/', 'SPIFFE_ERR_PATH_TRAILING_SLASH'],
    ['spiffe://example.org/a/', 'SPIFFE_ERR_PATH_TRAILING_SLASH'],
    ['spiffe://example.org//a', 'SPIFFE_ERR_PATH_EMPTY_SEGMENT'],
    ['spiffe://example.org/a//b', 'SPIFFE_ERR_PATH_EMPTY_SEGMENT'],
    ['spiffe://example.org/.', 'SPIFFE_ERR_PATH_DOT_SEGMENT'],
    ['spiffe://example.org/..', 'SPIFFE_ERR_PATH_DOT_SEGMENT'],
    ['spiffe://example.org/a/./b', 'SPIFFE_ERR_PATH_DOT_SEGMENT'],
    ['spiffe://example.org/a/../b', 'SPIFFE_ERR_PATH_DOT_SEGMENT'],
    ['spiffe://example.org/a%20b', 'SPIFFE_ERR_PATH_SEGMENT_CHAR'],
    ['spiffe://example.org/a?query=1', 'SPIFFE_ERR_PATH_SEGMENT_CHAR'],
    ['spiffe://example.org/a#frag', 'SPIFFE_ERR_PATH_SEGMENT_CHAR'],
    ['spiffe://example.org/pa:th', 'SPIFFE_ERR_PATH_SEGMENT_CHAR'],
    ['spiffe://example.org/pa@th', 'SPIFFE_ERR_PATH_SEGMENT_CHAR'],
    ["spiffe://example.org/p!a$t&h'", 'SPIFFE_ERR_PATH_SEGMENT_CHAR'],
    ['spiffe://example.org/a b', 'SPIFFE_ERR_PATH_SEGMENT_CHAR'],
    ['spiffe://example.org/ü', 'SPIFFE_ERR_PATH_SEGMENT_CHAR'],
    ['spiffe://example.org/spiffe://example.org/a', 'SPIFFE_ERR_PATH_SEGMENT_CHAR'],
    // ordering: a dot segment is reported before a later bad byte (go-spiffe ValidatePath scans left to
    // right)
    ['spiffe://example.org/../%', 'SPIFFE_ERR_PATH_DOT_SEGMENT'],
  ])('%j → %s', (input, expected) => {
    expect(code(input)).toBe(expected);
    expect(parseSpiffeId(input)._unsafeUnwrapErr().message).toContain('invalid SPIFFE ID');
  });

  it('enforces the 2048-byte limit exactly (spiffe/spiffe@665a28f:standards/SPIFFE-ID.md §2.3)', () => {
    const prefix = 'spiffe://example.org/';
    const exact = prefix + 'a'.repeat(MAX_SPIFFE_ID_BYTES - prefix.length);
    expect(exact.length).toBe(2048);
    expect(code(exact)).toBe('ok');
    expect(code(`${exact}a`)).toBe('SPIFFE_ERR_ID_TOO_LONG');
    expect(code(`spiffe://${'a'.repeat(255)}/x`)).toBe('ok');
  });

  it('never echoes megabytes of input in a message', () => {
    const e = parseSpiffeId(`spiffe://x/${'%'.repeat(1000)}`)._unsafeUnwrapErr();
    expect(e.message.length).toBeLessThan(300);
  });

  it('throws TypeError on a non-string (programmer misuse)', () => {
    expect(() => parseSpiffeId(42 as unknown as string)).toThrow(TypeError);
  });
});

describe('SpiffeId behaviour', () => {
  const id = parseSpiffeId('spiffe://example.org/ns/a/sa/b')._unsafeUnwrap();
  it('compares by exact string, never normalising', () => {
    expect(id.equals('spiffe://example.org/ns/a/sa/b')).toBe(true);
    expect(id.equals(parseSpiffeId('spiffe://example.org/ns/a/sa/b')._unsafeUnwrap())).toBe(true);
    expect(id.equals('spiffe://example.org/ns/a/sa/B')).toBe(false);
    expect(id.equals('SPIFFE://example.org/ns/a/sa/b')).toBe(false);
  });
  it('knows its segments and trust domain', () => {
    expect(id.segments()).toEqual(['ns', 'a', 'sa', 'b']);
    expect(parseSpiffeId('spiffe://example.org')._unsafeUnwrap().segments()).toEqual([]);
    expect(id.memberOf('example.org')).toBe(true);
    expect(id.memberOf('example.org.')).toBe(false);
    expect(id.memberOf(parseTrustDomain('other.org')._unsafeUnwrap())).toBe(false);
    expect(id.trustDomain.idString()).toBe('spiffe://example.org');
    expect(id.trustDomain.id().path).toBe('');
    expect(id.trustDomain.id().toString()).toBe('spiffe://example.org');
  });
});

describe('parseTrustDomain (go-spiffe TrustDomainFromString)', () => {
  it.each([
    ['example.org', 'example.org'],
    ['spiffe://example.org', 'example.org'],
    ['spiffe://example.org/ns/a/sa/b', 'example.org'],
    ['a', 'a'],
  ])('%s → %s', (input, name) => {
    expect(parseTrustDomain(input)._unsafeUnwrap().name).toBe(name);
  });
  it.each<[string, SpiffeErrorCode]>([
    ['', 'SPIFFE_ERR_TRUST_DOMAIN_MISSING'],
    ['Example.org', 'SPIFFE_ERR_TRUST_DOMAIN_CHAR'],
    ['example.org:80', 'SPIFFE_ERR_TRUST_DOMAIN_CHAR'],
    ['spiffe:/example.org', 'SPIFFE_ERR_ID_SCHEME'],
    ['spiffe://', 'SPIFFE_ERR_TRUST_DOMAIN_MISSING'],
    ['spiffe://example.org/', 'SPIFFE_ERR_PATH_TRAILING_SLASH'],
    ['a'.repeat(256), 'SPIFFE_ERR_TRUST_DOMAIN_TOO_LONG'],
  ])('%j → %s', (input, expected) => {
    expect(parseTrustDomain(input)._unsafeUnwrapErr().code).toBe(expected);
  });
});

describe('builders', () => {
  it('spiffeIdFromPath and spiffeIdFromSegments', () => {
    expect(spiffeIdFromPath('example.org', '/a/b')._unsafeUnwrap().toString()).toBe(
      'spiffe://example.org/a/b',
    );
    expect(spiffeIdFromPath('example.org', '')._unsafeUnwrap().toString()).toBe('spiffe://example.org');
    expect(spiffeIdFromPath('example.org', 'a')._unsafeUnwrapErr().code).toBe(
      'SPIFFE_ERR_PATH_LEADING_SLASH',
    );
    expect(spiffeIdFromSegments('example.org', 'ns', 'x')._unsafeUnwrap().path).toBe('/ns/x');
    expect(spiffeIdFromSegments('example.org', 'a/b')._unsafeUnwrapErr().code).toBe(
      'SPIFFE_ERR_PATH_SEGMENT_CHAR',
    );
    expect(spiffeIdFromSegments('example.org', '')._unsafeUnwrapErr().code).toBe(
      'SPIFFE_ERR_PATH_TRAILING_SLASH',
    );
    expect(spiffeIdFromSegments('example.org', '..')._unsafeUnwrapErr().code).toBe(
      'SPIFFE_ERR_PATH_DOT_SEGMENT',
    );
    expect(spiffeIdFromSegments('Bad', 'x')._unsafeUnwrapErr().code).toBe('SPIFFE_ERR_TRUST_DOMAIN_CHAR');
  });
  it('validateSpiffePath', () => {
    expect(validateSpiffePath('').isOk()).toBe(true);
    expect(validateSpiffePath('/a')._unsafeUnwrap()).toBe('/a');
    expect(validateSpiffePath('a')._unsafeUnwrapErr().code).toBe('SPIFFE_ERR_PATH_LEADING_SLASH');
  });
  it('requireSpiffeId throws TypeError for bad text', () => {
    expect(() => requireSpiffeId('nope', 'x')).toThrow(/x: invalid SPIFFE ID/);
  });
});

describe('properties (fast-check)', () => {
  const segment = fc.stringMatching(/^[a-zA-Z0-9._-]{1,12}$/).filter((s) => s !== '.' && s !== '..');
  const td = fc.stringMatching(/^[a-z0-9._-]{1,20}$/);

  it('valid IDs round-trip exactly', () => {
    fc.assert(
      fc.property(td, fc.array(segment, { maxLength: 6 }), (t, segs) => {
        const text = `spiffe://${t}${segs.map((s) => `/${s}`).join('')}`;
        const id = parseSpiffeId(text)._unsafeUnwrap();
        return (
          id.toString() === text && id.trustDomain.name === t && id.segments().join('/') === segs.join('/')
        );
      }),
    );
  });

  it('no input throws, and any accepted input is exactly the canonical form', () => {
    const noisy = fc.oneof(
      fc.string({ maxLength: 64 }),
      fc.string({ unit: 'binary', maxLength: 64 }),
      fc
        .tuple(fc.constantFrom('spiffe://', 'SPIFFE://', 'spiffe:/', ''), fc.string({ maxLength: 40 }))
        .map(([a, b]) => a + b),
      fc.string({ maxLength: 5000 }),
    );
    fc.assert(
      fc.property(noisy, (input) => {
        const r = parseSpiffeId(input);
        if (r.isErr()) return typeof r.error.code === 'string';
        const id = r.value;
        return (
          id.toString() === input &&
          /^spiffe:\/\/[a-z0-9._-]+(\/[a-zA-Z0-9._-]+)*$/.test(input) &&
          !/\/\.{1,2}(\/|$)/.test(id.path) &&
          input.length <= MAX_SPIFFE_ID_BYTES
        );
      }),
      { numRuns: 2000 },
    );
  });
});
