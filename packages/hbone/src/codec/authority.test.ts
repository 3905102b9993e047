import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { hboneAddressArb } from '../../test/arbitraries.js';
import { formatAuthority, type HboneAddress, parseAuthority, socketAddress } from './authority.js';

describe('parseAuthority', () => {
  // ztunnel's outbound tests (istio/ztunnel@62d82653:src/proxy/outbound.rs L980-2052).
  it.each<[string, HboneAddress]>([
    ['10.0.0.1:8080', { kind: 'socket', ip: '10.0.0.1', port: 8080 }],
    ['[ff06::c3]:80', { kind: 'socket', ip: 'ff06::c3', port: 80 }],
    ['svc.ns.svc.cluster.local:80', { kind: 'hostname', hostname: 'svc.ns.svc.cluster.local', port: 80 }],
    ['example.com:80', { kind: 'hostname', hostname: 'example.com', port: 80 }],
    ['[FF06:0::C3]:0080', { kind: 'socket', ip: 'ff06::c3', port: 80 }],
    ['10.0.0.256:80', { kind: 'hostname', hostname: '10.0.0.256', port: 80 }], // not an IP: a (bad) hostname, 503 later
    // inet_aton reads these as 127.0.0.2; Rust's `SocketAddr::from_str` does not, so neither do we: they are
    // hostnames here, which no workload or service matches, never an address handed to a resolver.
    ['127.0.0.02:80', { kind: 'hostname', hostname: '127.0.0.02', port: 80 }],
    ['0x7f000002:80', { kind: 'hostname', hostname: '0x7f000002', port: 80 }],
    ['127.2:80', { kind: 'hostname', hostname: '127.2', port: 80 }],
    ['2130706434:80', { kind: 'hostname', hostname: '2130706434', port: 80 }],
    ['[::ffff:127.0.0.2]:80', { kind: 'socket', ip: '::ffff:127.0.0.2', port: 80 }],
    ['[0:0:0:0:0:FFFF:7F00:2]:80', { kind: 'socket', ip: '::ffff:127.0.0.2', port: 80 }],
  ])('%s', (text, expected) => {
    expect(parseAuthority(text)._unsafeUnwrap()).toEqual(expected);
  });

  it.each([
    '',
    '10.0.0.1', // istio/ztunnel@62d82653:src/proxy.rs L875-892: a missing port is a 400
    'svc.cluster.local',
    'ff06::c3:80',
    '[ff06::c3]',
    '[ff06::c3]80',
    '[10.0.0.1]:80',
    '[fe80::1%eth0]:80', // no zones in an HBONE authority
    '[::ffff:127.0.0.02]:80',
    '10.0.0.1:65536',
    '10.0.0.1:-1',
    '10.0.0.1:+80',
    'a..b:80',
    'a b:80',
    'user@host:80',
    '-bad.example:80',
    `${'a'.repeat(64)}.example:80`,
    `${'a.'.repeat(130)}a:80`,
  ])('refuses %j with HBONE_ERR_BAD_AUTHORITY (400)', (text) => {
    const error = parseAuthority(text)._unsafeUnwrapErr();
    expect(error.code).toBe('HBONE_ERR_BAD_AUTHORITY');
    expect(error.status).toBe(400);
  });
});

describe('formatAuthority', () => {
  it('prints IPv6 in brackets, canonically', () => {
    expect(formatAuthority({ kind: 'socket', ip: 'FF06:0:0:0:0:0:0:C3', port: 80 })).toBe('[ff06::c3]:80');
    expect(formatAuthority(socketAddress('10.0.0.2', 8080))).toBe('10.0.0.2:8080');
  });
  it('throws RangeError on misuse', () => {
    expect(() => formatAuthority({ kind: 'socket', ip: 'nope', port: 1 })).toThrow(RangeError);
    expect(() => formatAuthority({ kind: 'hostname', hostname: 'a b', port: 1 })).toThrow(RangeError);
    expect(() => formatAuthority({ kind: 'socket', ip: '1.2.3.4', port: 70000 })).toThrow(RangeError);
    expect(() => socketAddress('1.2.3.4', 1.5)).toThrow(RangeError);
  });
});

describe('properties', () => {
  it('parse(format(x)) = x', () => {
    fc.assert(
      fc.property(hboneAddressArb, (address) => {
        expect(parseAuthority(formatAuthority(address))._unsafeUnwrap()).toEqual(address);
      }),
    );
  });
  it('no input throws', () => {
    fc.assert(
      fc.property(
        fc.oneof(fc.string({ maxLength: 300 }), fc.stringMatching(/^[[\]0-9a-f:.]{0,50}$/)),
        (text) => {
          const result = parseAuthority(text);
          if (result.isOk())
            expect(parseAuthority(formatAuthority(result.value))._unsafeUnwrap()).toEqual(result.value);
        },
      ),
    );
  });
});
