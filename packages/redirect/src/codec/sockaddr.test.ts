/** sockaddr structures as Linux lays them out (linux/in.h, linux/in6.h, linux/un.h). */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { decodeSockaddr, encodeSockaddr, encodeUnixSockaddr, SOCKADDR } from './sockaddr.js';

describe('sockaddr', () => {
  it('lays out sockaddr_in: family (host order), port (network order), address', () => {
    const sa = encodeSockaddr('10.1.2.3', 15001);
    expect(sa.length).toBe(SOCKADDR.inBytes);
    expect([...sa.subarray(0, 8)]).toEqual([2, 0, 0x3a, 0x99, 10, 1, 2, 3]);
    expect([...sa.subarray(8)]).toEqual([0, 0, 0, 0, 0, 0, 0, 0]);
  });

  it('lays out sockaddr_in6 with the address at offset 8', () => {
    const sa = encodeSockaddr('fd00::1', 443);
    expect(sa.length).toBe(SOCKADDR.in6Bytes);
    expect([...sa.subarray(0, 4)]).toEqual([10, 0, 1, 187]);
    expect(sa[8]).toBe(0xfd);
    expect(sa[23]).toBe(1);
  });

  it('round-trips IP socket addresses (property)', () => {
    fc.assert(
      fc.property(fc.oneof(fc.ipV4(), fc.ipV6()), fc.integer({ min: 0, max: 65535 }), (address, port) => {
        const decoded = decodeSockaddr(encodeSockaddr(address, port))._unsafeUnwrap();
        expect(decoded.port).toBe(port);
        expect(decoded.family).toBe(address.includes(':') ? 'IPv6' : 'IPv4');
        expect(encodeSockaddr(decoded.address, port)).toEqual(encodeSockaddr(address, port));
      }),
    );
  });

  it('decodes arbitrary bytes without throwing (property)', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 40 }), (bytes) => {
        const result = decodeSockaddr(bytes);
        if (result.isErr()) expect(result.error.code).toBe('REDIRECT_ERR_BAD_SOCKADDR');
      }),
    );
  });

  it('rejects bad input with typed errors', () => {
    expect(decodeSockaddr(new Uint8Array([2, 0, 1]))._unsafeUnwrapErr().code).toBe(
      'REDIRECT_ERR_BAD_SOCKADDR',
    );
    expect(decodeSockaddr(new Uint8Array([99, 0, 0, 0]))._unsafeUnwrapErr().message).toMatch(/family 99/);
    expect(() => encodeSockaddr('example.com', 80)).toThrow(RangeError);
    expect(() => encodeSockaddr('10.0.0.1', 70000)).toThrow(/port/);
  });

  it('encodes unix socket paths with a terminating NUL and rejects overlong ones', () => {
    const sa = encodeUnixSockaddr('/var/run/ztunnel/ztunnel.sock');
    expect(sa.length).toBe(2 + 29 + 1);
    expect(sa[0]).toBe(1);
    expect(sa.at(-1)).toBe(0);
    expect(() => encodeUnixSockaddr(`/${'x'.repeat(107)}`)).toThrow(RangeError);
    expect(() => encodeUnixSockaddr('')).toThrow(RangeError);
    expect(() => encodeUnixSockaddr('a\0b')).toThrow(RangeError);
  });
});
