import { describe, expect, it } from 'vitest';
import { grpcMessage, parseGrpcTimeout, rbacDetails } from './request-handler.js';

describe('request handler helpers', () => {
  it('parses grpc-timeout in every unit, and refuses what the gRPC spec does not allow', () => {
    expect(parseGrpcTimeout('1H')).toBe(3_600_000);
    expect(parseGrpcTimeout('2M')).toBe(120_000);
    expect(parseGrpcTimeout('3S')).toBe(3000);
    expect(parseGrpcTimeout('250m')).toBe(250);
    expect(parseGrpcTimeout('1500u')).toBe(1.5);
    expect(parseGrpcTimeout('1n')).toBe(1);
    expect(parseGrpcTimeout('0m')).toBe(0);
    expect(parseGrpcTimeout(['5S', '1S'])).toBe(5000);
    for (const bad of [undefined, '', '123456789S', '10', '1s', '-1S', '1.5S', ' 1S'])
      expect(parseGrpcTimeout(bad)).toBeUndefined();
  });

  it('percent-encodes grpc-message as gRPC does: only non-printable bytes and %', () => {
    expect(grpcMessage('RBAC: access denied')).toBe('RBAC: access denied');
    expect(grpcMessage('100%')).toBe('100%25');
    expect(grpcMessage('a\nb')).toBe('a%0Ab');
    expect(grpcMessage('é')).toBe('%C3%A9');
  });

  it("names the denying policy as Envoy's RBAC filter does", () => {
    expect(rbacDetails({ allow: false, reason: '', audit: false, dryRunMatched: [] })).toBe(
      'rbac_access_denied_matched_policy[none]',
    );
    expect(
      rbacDetails({ allow: false, reason: '', audit: false, dryRunMatched: [], policy: 'ns/p', rule: 2 }),
    ).toBe('rbac_access_denied_matched_policy[ns[ns]-policy[p]-rule[2]]');
  });
});
