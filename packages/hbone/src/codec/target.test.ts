import { describe, expect, it } from 'vitest';
import { checkTarget, ILLEGAL_TARGET_PORTS } from './target.js';

describe('checkTarget', () => {
  const local = { localIp: '10.0.0.2' };
  it('accepts the local IP, including its IPv4-mapped form', () => {
    expect(checkTarget({ kind: 'socket', ip: '10.0.0.2', port: 80 }, local).isOk()).toBe(true);
    expect(
      checkTarget({ kind: 'socket', ip: '10.0.0.2', port: 80 }, { localIp: '::ffff:10.0.0.2' }).isOk(),
    ).toBe(true);
  });
  it('answers 400 HBONE_ERR_IP_MISMATCH for another IP (istio/ztunnel@62d82653:src/proxy/inbound.rs validate_destination)', () => {
    const error = checkTarget({ kind: 'socket', ip: '10.0.0.3', port: 80 }, local)._unsafeUnwrapErr();
    expect([error.code, error.status]).toEqual(['HBONE_ERR_IP_MISMATCH', 400]);
    expect(
      checkTarget(
        { kind: 'socket', ip: '10.0.0.3', port: 80 },
        { ...local, checkDestinationIp: false },
      ).isOk(),
    ).toBe(true);
  });
  it('never checks hostname targets against the IP', () => {
    expect(
      checkTarget({ kind: 'hostname', hostname: 'svc.ns.svc.cluster.local', port: 80 }, local).isOk(),
    ).toBe(true);
  });
  it.each(ILLEGAL_TARGET_PORTS)('answers 503 HBONE_ERR_ILLEGAL_PORT for port %i (SelfCall)', (port) => {
    const error = checkTarget({ kind: 'socket', ip: '10.0.0.2', port }, local)._unsafeUnwrapErr();
    expect([error.code, error.status]).toEqual(['HBONE_ERR_ILLEGAL_PORT', 503]);
  });
  it('checks the IP before the port, as ztunnel does', () => {
    expect(
      checkTarget({ kind: 'socket', ip: '10.0.0.9', port: 15008 }, local)._unsafeUnwrapErr().status,
    ).toBe(400);
  });
});
