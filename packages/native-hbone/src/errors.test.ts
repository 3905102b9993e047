import { HBONE_ERROR_CODES, HboneError } from '@ambient-kit/hbone';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { fromHboneError, NATIVE_HBONE_ERROR_CODES, NativeHboneError } from './errors.js';

const target = {
  destination: 'reviews:9080',
  address: '10.0.0.7:15008',
  expectedIdentities: ['spiffe://td/ns/a/sa/b'],
};

describe('fromHboneError', () => {
  it.each([
    ['HBONE_ERR_POLICY_DENIED', 401, 'NATIVE_HBONE_ERR_DENIED'],
    ['HBONE_ERR_PEER_IDENTITY', undefined, 'NATIVE_HBONE_ERR_PEER_IDENTITY'],
    ['HBONE_ERR_UNAVAILABLE', 503, 'NATIVE_HBONE_ERR_UNAVAILABLE'],
    ['HBONE_ERR_BAD_REQUEST', 400, 'NATIVE_HBONE_ERR_UNAVAILABLE'],
    ['HBONE_ERR_CONNECT_TIMEOUT', undefined, 'NATIVE_HBONE_ERR_CONNECT_TIMEOUT'],
    ['HBONE_ERR_TLS_HANDSHAKE', undefined, 'NATIVE_HBONE_ERR_CONNECT_FAILED'],
    ['HBONE_ERR_CLOSED', undefined, 'NATIVE_HBONE_ERR_CLOSED'],
  ] as const)('maps %s (status %s) to %s, keeping the cause', (code, status, expected) => {
    const cause = new HboneError(code, 'x', status === undefined ? {} : { status });
    const error = fromHboneError(cause, target);
    expect(error).toBeInstanceOf(NativeHboneError);
    expect(error.code).toBe(expected);
    expect(error.cause).toBe(cause);
    expect(error.hboneCode).toBe(code);
    expect(error.target).toBe(target);
  });

  it('maps plain dial errors: ETIMEDOUT to a timeout, the rest to a connect failure', () => {
    const timeout = Object.assign(new Error('slow'), { code: 'ETIMEDOUT' });
    expect(fromHboneError(timeout, target).code).toBe('NATIVE_HBONE_ERR_CONNECT_TIMEOUT');
    const refused = Object.assign(new Error('no'), { code: 'ECONNREFUSED' });
    expect(fromHboneError(refused, target).code).toBe('NATIVE_HBONE_ERR_CONNECT_FAILED');
    expect(fromHboneError('odd', target).message).toContain('odd');
  });

  it('passes a NativeHboneError through unchanged', () => {
    const own = new NativeHboneError('NATIVE_HBONE_ERR_NO_ROUTE', 'none');
    expect(fromHboneError(own, target)).toBe(own);
  });

  it('always gives a documented code, whatever the HBONE code and status', () => {
    fc.assert(
      fc.property(
        fc.constantFrom(...HBONE_ERROR_CODES),
        fc.option(fc.integer({ min: 100, max: 599 }), { nil: undefined }),
        (code, status) => {
          const error = fromHboneError(
            new HboneError(code, 'm', status === undefined ? {} : { status }),
            target,
          );
          expect(NATIVE_HBONE_ERROR_CODES).toContain(error.code);
          // A 401 is always a policy denial, whatever the code says.
          if (status === 401) expect(error.code).toBe('NATIVE_HBONE_ERR_DENIED');
        },
      ),
    );
  });
});
