import { describe, expect, it } from 'vitest';
import { documentedErrorCodes } from '../../../test-support/error-docs.js';
import { CONTROL_PLANE_ERROR_CODES, ControlPlaneError } from './index.js';

describe('ControlPlaneError', () => {
  it('documents exactly the exported codes in docs/control-plane.md', () => {
    expect(new Set(documentedErrorCodes('control-plane'))).toEqual(new Set(CONTROL_PLANE_ERROR_CODES));
    expect(documentedErrorCodes('control-plane')).toHaveLength(CONTROL_PLANE_ERROR_CODES.length);
  });

  it('is branded across copies, carries every issue and classifies by the first', () => {
    const e = ControlPlaneError.fromIssues([
      { path: 'document[0].x', code: 'WORKLOAD_API_ERR_BAD_FILE', message: 'unknown field' },
      { path: '', code: 'AUTHZ_ERR_SCHEMA', message: 'bad' },
    ]);
    expect(e.code).toBe('CONTROL_PLANE_ERR_BAD_RESOURCE');
    expect(e.message).toBe('document[0].x: unknown field; bad');
    expect(ControlPlaneError.fromIssues([{ path: '', code: 'AUTHZ_ERR_SCHEMA', message: 'x' }]).code).toBe(
      'CONTROL_PLANE_ERR_BAD_POLICY',
    );
    const foreign = Object.create(null) as object;
    Object.defineProperty(foreign, Symbol.for('@ambient-kit/control-plane.error'), { value: true });
    expect(foreign instanceof ControlPlaneError).toBe(true);
    expect(new Error('x') instanceof ControlPlaneError).toBe(false);
    expect(() => ControlPlaneError.fromIssues([])).toThrow(RangeError);
  });
});
