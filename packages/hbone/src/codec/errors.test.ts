import { describe, expect, it } from 'vitest';
import { documentedErrorCodes } from '../../../../test-support/error-docs.js';
import { codeForStatus, HBONE_ERROR_CODES, HboneError, statusForCode } from './errors.js';

describe('HboneError', () => {
  it('documents exactly the exported codes (docs/hbone.md "Error codes")', () => {
    const documented = documentedErrorCodes('hbone');
    expect(new Set(documented)).toEqual(new Set(HBONE_ERROR_CODES));
    expect(documented).toHaveLength(HBONE_ERROR_CODES.length);
  });

  it('carries its code, status and cause, and passes instanceof across copies (brand)', () => {
    const cause = new Error('root');
    const error = new HboneError('HBONE_ERR_POLICY_DENIED', 'denied', { cause });
    expect(error).toBeInstanceOf(Error);
    expect([error.name, error.code, error.status, error.cause]).toEqual([
      'HboneError',
      'HBONE_ERR_POLICY_DENIED',
      401,
      cause,
    ]);
    expect(new HboneError('HBONE_ERR_UNEXPECTED_STATUS', 'x', { status: 405 }).status).toBe(405);
    expect(new HboneError('HBONE_ERR_PING_TIMEOUT', 'x').status).toBeUndefined();
    const foreign = Object.defineProperty(new Error('other copy'), Symbol.for('@ambient-kit/hbone.error'), {
      value: true,
    });
    expect(foreign).toBeInstanceOf(HboneError);
    expect(new Error('plain')).not.toBeInstanceOf(HboneError);
  });

  it('maps statuses as ztunnel (istio/ztunnel@62d82653:src/proxy/inbound.rs): 400, 401 (not 403), 503', () => {
    expect(statusForCode('HBONE_ERR_NOT_CONNECT')).toBe(400);
    expect(statusForCode('HBONE_ERR_BAD_AUTHORITY')).toBe(400);
    expect(statusForCode('HBONE_ERR_IP_MISMATCH')).toBe(400);
    expect(statusForCode('HBONE_ERR_POLICY_DENIED')).toBe(401);
    for (const code of [
      'HBONE_ERR_ILLEGAL_PORT',
      'HBONE_ERR_UNKNOWN_TARGET',
      'HBONE_ERR_UPSTREAM_REFUSED',
      'HBONE_ERR_UPSTREAM_TIMEOUT',
    ] as const) {
      expect(statusForCode(code)).toBe(503);
    }
    expect([400, 401, 503, 403, 500].map(codeForStatus)).toEqual([
      'HBONE_ERR_BAD_REQUEST',
      'HBONE_ERR_POLICY_DENIED',
      'HBONE_ERR_UNAVAILABLE',
      'HBONE_ERR_UNEXPECTED_STATUS',
      'HBONE_ERR_UNEXPECTED_STATUS',
    ]);
  });
});
