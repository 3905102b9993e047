import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  encodeSocks5Greeting,
  encodeSocks5Reply,
  encodeSocks5Request,
  MAX_SOCKS5_GREETING_BYTES,
  MAX_SOCKS5_REQUEST_BYTES,
  parseSocks5Greeting,
  parseSocks5Reply,
  parseSocks5Request,
  SOCKS5_REPLY,
  type Socks5Target,
} from './socks5-codec.js';

const ipv4 = fc.tuple(fc.nat(255), fc.nat(255), fc.nat(255), fc.nat(255)).map((o) => o.join('.'));
const ipv6 = fc.ipV6().map((ip) => {
  // Canonical text, as the parser produces it.
  const url = new URL(`http://[${ip}]/`);
  return url.hostname.slice(1, -1);
});
const target: fc.Arbitrary<Socks5Target> = fc.oneof(
  fc.record({ kind: fc.constant('ip' as const), ip: fc.oneof(ipv4, ipv6), port: fc.nat(65535) }),
  fc.record({
    kind: fc.constant('domain' as const),
    domain: fc
      .string({ minLength: 1, maxLength: 60, unit: 'grapheme' })
      .filter((d) => new TextEncoder().encode(d).length <= 255),
    port: fc.nat(65535),
  }),
);

describe('SOCKS5 codec (RFC 1928, the subset ztunnel speaks)', () => {
  it('parses what it encodes, and every strict prefix is incomplete', () => {
    fc.assert(
      fc.property(target, (t) => {
        const bytes = encodeSocks5Request(t);
        expect(bytes.length).toBeLessThanOrEqual(MAX_SOCKS5_REQUEST_BYTES);
        expect(parseSocks5Request(bytes)).toEqual({ status: 'done', value: t, bytes: bytes.length });
        for (let i = 0; i < bytes.length; i++)
          expect(parseSocks5Request(bytes.subarray(0, i)).status).toBe('incomplete');
      }),
    );
  });

  it('never throws on arbitrary bytes, and a result never claims more bytes than given', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 300 }), (bytes) => {
        for (const parse of [parseSocks5Greeting, parseSocks5Request, parseSocks5Reply]) {
          const r = parse(bytes);
          if (r.status === 'done') expect(r.bytes).toBeLessThanOrEqual(bytes.length);
        }
      }),
      { numRuns: 2000 },
    );
  });

  it('accepts a greeting only with "no authentication" offered', () => {
    expect(parseSocks5Greeting(encodeSocks5Greeting([2, 0]))).toEqual({
      status: 'done',
      value: { methods: [2, 0] },
      bytes: 4,
    });
    // ztunnel answers protocol violations with "command not supported" (SocksError::invalid_protocol).
    expect(parseSocks5Greeting(Uint8Array.of(5, 1, 2))).toMatchObject({ status: 'error', reply: 7 });
    expect(parseSocks5Greeting(Uint8Array.of(5, 0))).toMatchObject({
      status: 'error',
      message: 'methods cannot be zero',
    });
    expect(parseSocks5Greeting(Uint8Array.of(4, 1, 0))).toMatchObject({
      status: 'error',
      message: 'unsupported version 4',
    });
    expect(parseSocks5Greeting(encodeSocks5Greeting(Array.from({ length: 255 }, (_, i) => i))).status).toBe(
      'done',
    );
    expect(MAX_SOCKS5_GREETING_BYTES).toBe(257);
  });

  it('rejects other commands, unknown address types and bad domains', () => {
    expect(parseSocks5Request(Uint8Array.of(5, 2, 0, 1, 1, 2, 3, 4, 0, 80))).toMatchObject({
      status: 'error',
      message: 'unsupported command 2',
    });
    expect(parseSocks5Request(Uint8Array.of(5, 1, 0, 9))).toMatchObject({
      status: 'error',
      message: 'unsupported address type 9',
    });
    expect(parseSocks5Request(Uint8Array.of(5, 1, 0, 3, 1, 0xff, 0, 80))).toMatchObject({
      status: 'error',
      reply: 7,
    });
    expect(parseSocks5Request(Uint8Array.of(5, 1, 0, 3, 0, 0, 80))).toMatchObject({
      status: 'error',
      message: 'empty domain',
    });
  });

  it("encodes replies with ztunnel's dummy bound address and reads them back", () => {
    expect([...encodeSocks5Reply(SOCKS5_REPLY.notAllowed)]).toEqual([5, 2, 0, 1, 0, 0, 0, 0, 0, 0]);
    expect(parseSocks5Reply(encodeSocks5Reply(0, { ip: 'fd00::1', port: 15080 }))).toEqual({
      status: 'done',
      value: { code: 0, bound: '[fd00::1]:15080' },
      bytes: 22,
    });
    expect(() => encodeSocks5Request({ kind: 'domain', domain: 'x'.repeat(256), port: 1 })).toThrow(
      RangeError,
    );
    expect(() => encodeSocks5Request({ kind: 'ip', ip: 'nope', port: 1 })).toThrow(RangeError);
  });
});
