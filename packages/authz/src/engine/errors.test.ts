import { describe, expect, it } from 'vitest';
import { documentedErrorCodes } from '../../../../test-support/error-docs.js';
import { AUTHZ_ERROR_CODES, PolicyError } from './errors.js';

describe('PolicyError', () => {
  it('every code is documented in docs/authz.md "## Error codes", and nothing else is', () => {
    expect(new Set(documentedErrorCodes('authz'))).toEqual(new Set(AUTHZ_ERROR_CODES));
    expect(documentedErrorCodes('authz')).toHaveLength(AUTHZ_ERROR_CODES.length);
  });

  it('instanceof holds across copies through the global brand', () => {
    const e = new PolicyError('AUTHZ_ERR_SYNTAX', 'bad', { policy: 'foo/p', path: 'spec' });
    const lookalike = Object.create(null) as object;
    Object.defineProperty(lookalike, Symbol.for('@ambient-kit/authz.error'), { value: true });
    expect(e).toBeInstanceOf(PolicyError);
    expect(lookalike instanceof PolicyError).toBe(true);
    expect(new Error('x') instanceof PolicyError).toBe(false);
    expect(String(e)).toBe('foo/p: spec: bad [AUTHZ_ERR_SYNTAX]');
    expect(e.name).toBe('PolicyError');
  });
});
