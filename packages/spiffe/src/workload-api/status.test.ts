import { Metadata, type ServiceError, status } from '@grpc/grpc-js';
import { describe, expect, it } from 'vitest';
import { SPIFFE_ERROR_CODES, SpiffeError } from '../codec/errors.js';
import { isTerminalWorkloadApiError, WORKLOAD_API_STATUS_CODES, workloadApiCallError } from './status.js';

const serviceError = (code: number, details: string): ServiceError =>
  Object.assign(new Error(details), { code, details, metadata: new Metadata() });

describe('Workload API statuses', () => {
  it('map every gRPC status to a documented code; only INVALID_ARGUMENT, UNIMPLEMENTED and CANCELLED are final', () => {
    const final: string[] = [];
    for (let code = 0; code <= 16; code++) {
      const error = workloadApiCallError('unix:///a.sock', 'FetchX509SVID', serviceError(code, 'why'));
      expect(SPIFFE_ERROR_CODES).toContain(error.code);
      expect(error.message).toContain('FetchX509SVID');
      expect(error.message).toContain(status[code] as string);
      expect((error.cause as ServiceError).code).toBe(code);
      if (isTerminalWorkloadApiError(error)) final.push(status[code] as string);
    }
    expect(final.sort()).toEqual(['CANCELLED', 'INVALID_ARGUMENT', 'UNIMPLEMENTED']);
    expect(WORKLOAD_API_STATUS_CODES[status.PERMISSION_DENIED]).toBe(
      'SPIFFE_ERR_WORKLOAD_API_PERMISSION_DENIED',
    );
    expect(workloadApiCallError('x', 'y', serviceError(status.INTERNAL, 'z')).code).toBe(
      'SPIFFE_ERR_WORKLOAD_API_SERVER_ERROR',
    );
  });

  it('quote and cap the server’s details', () => {
    const error = workloadApiCallError('x', 'y', serviceError(status.UNKNOWN, `a\n${'b'.repeat(1000)}`));
    expect(error.message).not.toContain('\n');
    expect(error.message.length).toBeLessThan(400);
    expect(isTerminalWorkloadApiError(new SpiffeError('SPIFFE_ERR_WORKLOAD_API_UNAVAILABLE', 'x'))).toBe(
      false,
    );
  });
});
