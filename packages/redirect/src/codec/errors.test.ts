/** The error class and the documented code list (contributing.md "Errors"). */
import { describe, expect, it } from 'vitest';
import { documentedErrorCodes } from '../../../../test-support/error-docs.js';
import { REDIRECT_ERROR_CODES, RedirectError } from './errors.js';

describe('RedirectError', () => {
  it('documents every code in docs/redirect.md, and nothing else', () => {
    expect(new Set(documentedErrorCodes('redirect'))).toEqual(new Set(REDIRECT_ERROR_CODES));
    expect(documentedErrorCodes('redirect')).toHaveLength(REDIRECT_ERROR_CODES.length);
  });

  it('carries its code and cause, and instanceof holds across copies via the brand', () => {
    const cause = new Error('boom');
    const error = new RedirectError('REDIRECT_ERR_TOOL_FAILED', 'nft failed', { cause });
    expect(error).toBeInstanceOf(Error);
    expect(error).toBeInstanceOf(RedirectError);
    expect(error.name).toBe('RedirectError');
    expect(error.code).toBe('REDIRECT_ERR_TOOL_FAILED');
    expect(error.cause).toBe(cause);
    const foreign = Object.assign(new Error('x'), { [Symbol.for('@ambient-kit/redirect.error')]: true });
    expect(foreign instanceof RedirectError).toBe(true);
    expect(new Error('plain') instanceof RedirectError).toBe(false);
  });
});
