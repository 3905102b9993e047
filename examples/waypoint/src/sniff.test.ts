import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { H2_PREFACE, MAX_SNIFF_BYTES, sniffProtocol } from './sniff.js';

const bytes = (text: string): Uint8Array => Uint8Array.from(text, (c) => c.charCodeAt(0));

describe('sniffProtocol', () => {
  it('knows the HTTP/2 client preface, also when it arrives a byte at a time', () => {
    for (const mode of ['http', 'sniff'] as const) {
      expect(sniffProtocol(H2_PREFACE, mode)).toBe('h2');
      for (let n = 0; n < H2_PREFACE.length; n++)
        expect(sniffProtocol(H2_PREFACE.subarray(0, n), mode)).toBe('more');
    }
  });

  it("on an HTTP port, anything but the preface is HTTP/1.1 (the connection manager's AUTO codec)", () => {
    expect(sniffProtocol(bytes('GET / HTTP/1.1\r\n'), 'http')).toBe('http1');
    expect(sniffProtocol(bytes('\u0016\u0003\u0001'), 'http')).toBe('http1');
    expect(sniffProtocol(bytes('PRIX'), 'http')).toBe('http1');
  });

  it('on a port of unknown protocol, reads the HTTP/1 request line as the HTTP inspector does', () => {
    expect(sniffProtocol(bytes('GET /a?b HTTP/1.1\r\n'), 'sniff')).toBe('http1');
    expect(sniffProtocol(bytes('POST / HTTP/1.0\r\n'), 'sniff')).toBe('http1');
    expect(sniffProtocol(bytes('GET / HTTP/1.'), 'sniff')).toBe('more');
    expect(sniffProtocol(bytes('GET /'), 'sniff')).toBe('more');
    expect(sniffProtocol(bytes('GET / HTTP/2.0\r\n'), 'sniff')).toBe('tcp');
    expect(sniffProtocol(bytes('GET /\r\n'), 'sniff')).toBe('tcp');
    expect(sniffProtocol(bytes(' GET / HTTP/1.1\r\n'), 'sniff')).toBe('tcp');
    expect(sniffProtocol(bytes('\u0016\u0003\u0001\u0002'), 'sniff')).toBe('tcp');
    expect(sniffProtocol(bytes('SSH-2.0-OpenSSH\r\n'), 'sniff')).toBe('tcp');
  });

  it('decides within MAX_SNIFF_BYTES', () => {
    expect(sniffProtocol(new Uint8Array(MAX_SNIFF_BYTES).fill(0x41), 'sniff')).toBe('tcp');
    const longTarget = bytes(`GET /${'a'.repeat(MAX_SNIFF_BYTES)}`);
    expect(sniffProtocol(longTarget, 'sniff')).toBe('tcp');
  });

  it('never throws, and a verdict other than "more" does not change when more bytes arrive', () => {
    fc.assert(
      fc.property(
        fc.uint8Array({ maxLength: 64 }),
        fc.uint8Array({ maxLength: 16 }),
        fc.constantFrom('http', 'sniff'),
        (a, b, mode) => {
          const first = sniffProtocol(a, mode as 'http' | 'sniff');
          const joined = new Uint8Array(a.length + b.length);
          joined.set(a);
          joined.set(b, a.length);
          const second = sniffProtocol(joined, mode as 'http' | 'sniff');
          if (first !== 'more') expect(second).toBe(first);
        },
      ),
    );
  });

  it('finds an HTTP/1 request line in any split of it', () => {
    fc.assert(
      fc.property(
        fc.constantFrom('GET', 'POST', 'DELETE', 'PATCH', 'X-CUSTOM'),
        fc.stringMatching(/^\/[a-z0-9/?=&]{0,20}$/),
        fc.nat(40),
        (method, target, cut) => {
          const line = bytes(`${method} ${target} HTTP/1.1\r\nhost: x\r\n\r\n`);
          const n = Math.min(cut, line.length);
          const partial = sniffProtocol(line.subarray(0, n), 'sniff');
          expect(['more', 'http1']).toContain(partial);
          expect(sniffProtocol(line, 'sniff')).toBe('http1');
        },
      ),
    );
  });
});
