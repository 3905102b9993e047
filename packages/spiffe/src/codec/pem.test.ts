import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { decodePem, encodePem } from './pem.js';

describe('PEM (RFC 7468)', () => {
  it('encodes 64-column lines and round-trips several blocks with text around them', () => {
    const a = new Uint8Array(100).map((_, i) => i);
    const b = new Uint8Array([1, 2, 3]);
    const text = `junk before\n${encodePem('CERTIFICATE', a)}between\r\n${encodePem('PRIVATE KEY', b)}after`;
    expect(encodePem('CERTIFICATE', a).split('\n')[1]).toHaveLength(64);
    expect(decodePem(text)._unsafeUnwrap()).toEqual([
      { label: 'CERTIFICATE', der: a },
      { label: 'PRIVATE KEY', der: b },
    ]);
    expect(decodePem('no blocks here')._unsafeUnwrap()).toEqual([]);
  });
  it('rejects unterminated, headered, nested and non-base64 blocks, and oversize input', () => {
    expect(decodePem('-----BEGIN CERTIFICATE-----\nAAAA\n')._unsafeUnwrapErr().code).toBe('SPIFFE_ERR_PEM');
    expect(
      decodePem(
        '-----BEGIN RSA PRIVATE KEY-----\nProc-Type: 4,ENCRYPTED\nAAAA\n-----END RSA PRIVATE KEY-----',
      )._unsafeUnwrapErr().code,
    ).toBe('SPIFFE_ERR_PEM');
    expect(
      decodePem(
        '-----BEGIN A-----\nAAAA\n-----BEGIN B-----\nAAAA\n-----END B-----\n-----END A-----',
      )._unsafeUnwrapErr().code,
    ).toBe('SPIFFE_ERR_PEM');
    expect(
      decodePem('-----BEGIN CERTIFICATE-----\n!!!!\n-----END CERTIFICATE-----')._unsafeUnwrapErr().code,
    ).toBe('SPIFFE_ERR_PEM');
    expect(decodePem('-----BEGIN CERTIFICATE-----\nAAAA\n-----END OTHER-----')._unsafeUnwrapErr().code).toBe(
      'SPIFFE_ERR_PEM',
    );
    expect(decodePem('x'.repeat(2048), { maxBytes: 1024 })._unsafeUnwrapErr().code).toBe(
      'SPIFFE_ERR_TOO_LARGE',
    );
    const many = encodePem('CERTIFICATE', new Uint8Array([1])).repeat(3);
    expect(decodePem(many, { maxBlocks: 2 })._unsafeUnwrapErr().code).toBe('SPIFFE_ERR_TOO_LARGE');
  });
  it('round-trips and never throws (fast-check)', () => {
    fc.assert(
      fc.property(fc.uint8Array({ minLength: 1, maxLength: 300 }), (der) => {
        const [block] = decodePem(encodePem('CERTIFICATE', der))._unsafeUnwrap();
        return (
          block !== undefined && block.der.length === der.length && block.der.every((v, i) => v === der[i])
        );
      }),
    );
    fc.assert(
      fc.property(
        fc.oneof(
          fc.string({ maxLength: 200 }),
          fc
            .array(
              fc.constantFrom(
                '-----BEGIN CERTIFICATE-----',
                '-----END CERTIFICATE-----',
                '\n',
                'AAAA',
                'QQ==',
                ':',
                '-----',
                ' ',
              ),
              { maxLength: 30 },
            )
            .map((p) => p.join('')),
        ),
        (text) => {
          const r = decodePem(text);
          return r.isOk() || typeof r.error.code === 'string';
        },
      ),
      { numRuns: 2000 },
    );
  });
});
