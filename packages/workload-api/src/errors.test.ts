import { describe, expect, it } from 'vitest';
import { documentedErrorCodes } from '../../../test-support/error-docs.js';
import { WORKLOAD_API_ERROR_CODES, WorkloadApiError } from './index.js';

describe('WorkloadApiError', () => {
  it('documents exactly the exported codes in docs/workload-api.md', () => {
    expect(new Set(documentedErrorCodes('workload-api'))).toEqual(new Set(WORKLOAD_API_ERROR_CODES));
    expect(documentedErrorCodes('workload-api')).toHaveLength(WORKLOAD_API_ERROR_CODES.length);
  });

  it('is branded across copies and carries every issue', () => {
    const e = WorkloadApiError.fromIssues([
      { path: 'uid', code: 'WORKLOAD_API_ERR_MISSING_FIELD', message: 'uid is empty' },
      { path: '', code: 'WORKLOAD_API_ERR_BAD_ADDRESS', message: 'bad' },
    ]);
    expect(e.code).toBe('WORKLOAD_API_ERR_MISSING_FIELD');
    expect(e.message).toBe('uid: uid is empty; bad');
    const foreign = Object.create(null) as object;
    Object.defineProperty(foreign, Symbol.for('@ambient-kit/workload-api.error'), { value: true });
    expect(foreign instanceof WorkloadApiError).toBe(true);
    expect(new Error('x') instanceof WorkloadApiError).toBe(false);
    expect(() => WorkloadApiError.fromIssues([])).toThrow(RangeError);
  });
});
