import { describe, expect, it } from 'vitest';
import { SpiffeError } from './errors.js';
import {
  adaptMatcher,
  authorizeAny,
  authorizeId,
  authorizeMemberOf,
  authorizeOneOf,
  matchAny,
  matchId,
  matchMemberOf,
  matchOneOf,
} from './matcher.js';
import { parseSpiffeId } from './spiffe-id.js';

const a = parseSpiffeId('spiffe://example.org/a')._unsafeUnwrap();
const b = parseSpiffeId('spiffe://example.org/b')._unsafeUnwrap();
const other = parseSpiffeId('spiffe://other.org/a')._unsafeUnwrap();

describe('matchers (spiffe/go-spiffe@e9973f63:v2/spiffeid/match.go)', () => {
  it('matchAny accepts everything', () => {
    expect(matchAny()(other).isOk()).toBe(true);
  });
  it('matchId compares exact strings', () => {
    expect(matchId('spiffe://example.org/a')(a).isOk()).toBe(true);
    const e = matchId(a)(b)._unsafeUnwrapErr();
    expect(e).toBeInstanceOf(SpiffeError);
    expect(e.code).toBe('SPIFFE_ERR_UNEXPECTED_ID');
    expect(e.message).toContain('spiffe://example.org/b');
  });
  it('matchOneOf', () => {
    const m = matchOneOf([a, 'spiffe://other.org/a']);
    expect(m(a).isOk()).toBe(true);
    expect(m(other).isOk()).toBe(true);
    expect(m(b)._unsafeUnwrapErr().code).toBe('SPIFFE_ERR_UNEXPECTED_ID');
    expect(matchOneOf([])(a).isErr()).toBe(true);
  });
  it('matchMemberOf', () => {
    const m = matchMemberOf('example.org');
    expect(m(a).isOk()).toBe(true);
    expect(m(other)._unsafeUnwrapErr().code).toBe('SPIFFE_ERR_TRUST_DOMAIN_MISMATCH');
    expect(matchMemberOf('spiffe://other.org/anything')(other).isOk()).toBe(true);
  });
  it('bad expectations are programmer errors (TypeError)', () => {
    expect(() => matchId('nope')).toThrow(TypeError);
    expect(() => matchOneOf(['spiffe://x/', 'spiffe://x/y'])).toThrow(TypeError);
    expect(() => matchMemberOf('UPPER')).toThrow(TypeError);
  });
});

describe('authorizers (spiffe/go-spiffe@e9973f63:v2/tlsconfig/authorizer.go)', () => {
  const chain: Uint8Array[] = [];
  it('mirror the matchers', () => {
    expect(authorizeAny()(other, chain).isOk()).toBe(true);
    expect(authorizeId(a)(a, chain).isOk()).toBe(true);
    expect(authorizeId(a)(b, chain)._unsafeUnwrapErr().code).toBe('SPIFFE_ERR_UNEXPECTED_ID');
    expect(authorizeOneOf([a, b])(b, chain).isOk()).toBe(true);
    expect(authorizeOneOf([a])(other, chain).isErr()).toBe(true);
    expect(authorizeMemberOf('example.org')(other, chain)._unsafeUnwrapErr().code).toBe(
      'SPIFFE_ERR_TRUST_DOMAIN_MISMATCH',
    );
    expect(adaptMatcher(matchMemberOf('other.org'))(other, chain).isOk()).toBe(true);
  });
});
