import { describe, expect, it } from 'vitest';
import { documentedErrorCodes } from '../../../../test-support/error-docs.js';
import { isSpiffeError, SPIFFE_ERROR_CODES, SpiffeError } from './errors.js';

describe('SpiffeError', () => {
  it('every code is documented in docs/spiffe.md "## Error codes", and every documented code exists', () => {
    expect(new Set(documentedErrorCodes('spiffe'))).toEqual(new Set(SPIFFE_ERROR_CODES));
    expect(documentedErrorCodes('spiffe')).toHaveLength(SPIFFE_ERROR_CODES.length);
  });
  it('codes follow SPIFFE_ERR_<WHAT> and are unique', () => {
    for (const code of SPIFFE_ERROR_CODES) expect(code).toMatch(/^SPIFFE_ERR_[A-Z0-9_]+$/);
    expect(new Set(SPIFFE_ERROR_CODES).size).toBe(SPIFFE_ERROR_CODES.length);
  });
  it('instanceof holds across copies through the brand', () => {
    const e = new SpiffeError('SPIFFE_ERR_DER', 'x', { cause: 1 });
    expect(e).toBeInstanceOf(Error);
    expect(e.name).toBe('SpiffeError');
    expect(e.cause).toBe(1);
    const foreign = Object.defineProperty(new Error('y'), Symbol.for('@ambient-kit/spiffe.error'), {
      value: true,
    });
    expect(foreign).toBeInstanceOf(SpiffeError);
    expect(new Error('z')).not.toBeInstanceOf(SpiffeError);
    expect(isSpiffeError(e, 'SPIFFE_ERR_DER')).toBe(true);
    expect(isSpiffeError(e, 'SPIFFE_ERR_PEM')).toBe(false);
  });
});
