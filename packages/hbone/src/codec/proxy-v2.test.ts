import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { proxyV2HeaderArb } from '../../test/arbitraries.js';
import { encodeProxyV2, PROXY_V2_SIGNATURE, type ProxyV2Header } from './proxy-v2.js';
import { createProxyV2Decoder, decodeProxyV2 } from './proxy-v2-decode.js';

const ID = 'spiffe://cluster.local/ns/default/sa/sleep';
const hex = (bytes: Uint8Array): string => Buffer.from(bytes).toString('hex');

describe('encodeProxyV2', () => {
  it('writes what ztunnel writes to an application tunnel (istio/ztunnel@62d82653:src/proxy.rs write_proxy_protocol)', () => {
    const bytes = encodeProxyV2({
      command: 'proxy',
      source: { ip: '10.0.0.1', port: 41234 },
      destination: { ip: '10.0.0.2', port: 8080 },
      sourceIdentity: ID,
    });
    const id = new TextEncoder().encode(ID);
    const expected = [
      '0d0a0d0a000d0a515549540a', // signature
      '21', // version 2, PROXY
      '11', // AF_INET, STREAM
      (12 + 3 + id.length).toString(16).padStart(4, '0'),
      '0a000001',
      '0a000002',
      (41234).toString(16).padStart(4, '0'),
      (8080).toString(16).padStart(4, '0'),
      'd0',
      id.length.toString(16).padStart(4, '0'),
      hex(id),
    ].join('');
    expect(hex(bytes)).toBe(expected);
  });
  it('writes family 0x21 for IPv6 and 0x00 for LOCAL', () => {
    const v6 = encodeProxyV2({
      command: 'proxy',
      source: { ip: '::1', port: 1 },
      destination: { ip: 'ff06::c3', port: 80 },
    });
    expect([v6[12], v6[13], v6.length]).toEqual([0x21, 0x21, 16 + 36]);
    const local = encodeProxyV2({ command: 'local' });
    expect(hex(local)).toBe(`${hex(PROXY_V2_SIGNATURE)}20000000`);
  });
  it('throws RangeError on misuse', () => {
    const a = { ip: '10.0.0.1', port: 1 };
    const b = { ip: '::1', port: 1 };
    const bad: ProxyV2Header[] = [
      { command: 'proxy', source: a },
      { command: 'proxy', source: a, destination: b },
      { command: 'proxy', source: a, destination: { path: '/x' } },
      { command: 'proxy', source: { ip: 'x', port: 1 }, destination: a },
      { command: 'proxy', source: { ip: '10.0.0.1', port: 65536 }, destination: a },
      { command: 'local', source: a, destination: a },
      { command: 'proxy', transport: 'dgram' },
      { command: 'proxy', tlvs: [{ type: 0xd0, value: new Uint8Array(1) }] },
      { command: 'proxy', tlvs: [{ type: 0x03, value: new Uint8Array(4) }] },
      { command: 'proxy', tlvs: [{ type: 256, value: new Uint8Array(1) }] },
      { command: 'proxy', tlvs: [{ type: 1, value: new Uint8Array(70_000) }] },
      {
        command: 'proxy',
        tlvs: [
          { type: 1, value: new Uint8Array(40_000) },
          { type: 2, value: new Uint8Array(40_000) },
        ],
      },
      { command: 'proxy', source: { path: 'x'.repeat(109) }, destination: { path: '' } },
    ];
    for (const header of bad) expect(() => encodeProxyV2(header)).toThrow(RangeError);
  });
});

describe('decodeProxyV2', () => {
  const header: ProxyV2Header = {
    command: 'proxy',
    transport: 'stream',
    source: { ip: 'ff06::1', port: 4000 },
    destination: { ip: 'ff06::c3', port: 80 },
    sourceIdentity: ID,
    serviceHostname: 'reviews.default.svc.cluster.local',
    checksum: true,
    tlvs: [{ type: 0xe0, value: Uint8Array.of(1, 2, 3) }],
  };
  const bytes = encodeProxyV2(header);

  it('decodes what it encodes, unknown TLVs preserved, and points at the payload', () => {
    const withPayload = new Uint8Array([...bytes, 0x47, 0x45, 0x54]);
    const result = decodeProxyV2(withPayload)._unsafeUnwrap();
    expect(result).toEqual({ complete: true, header, headerBytes: bytes.length });
  });
  it('asks for more bytes on every proper prefix', () => {
    for (let n = 0; n < bytes.length; n++) {
      const result = decodeProxyV2(bytes.subarray(0, n))._unsafeUnwrap();
      expect(result.complete).toBe(false);
      if (!result.complete) expect(result.bytesNeeded).toBeGreaterThan(0);
    }
  });
  it('fails on the first byte that leaves the signature', () => {
    expect(decodeProxyV2(new TextEncoder().encode('GET / HTTP/1.1\r\n'))._unsafeUnwrapErr().code).toBe(
      'HBONE_ERR_PROXY_V2_SIGNATURE',
    );
    expect(decodeProxyV2(Uint8Array.of(0x0d, 0x0a, 0x0d, 0x0b))._unsafeUnwrapErr().code).toBe(
      'HBONE_ERR_PROXY_V2_SIGNATURE',
    );
    // PROXY protocol v1 ("PROXY TCP4 ...") is not v2.
    expect(decodeProxyV2(new TextEncoder().encode('PROXY TCP4 1.2.3.4'))._unsafeUnwrapErr().code).toBe(
      'HBONE_ERR_PROXY_V2_SIGNATURE',
    );
  });
  it('enforces the cap from the 16 fixed bytes, before the body arrives', () => {
    const big = encodeProxyV2({ command: 'proxy', tlvs: [{ type: 0xe1, value: new Uint8Array(5000) }] });
    const error = decodeProxyV2(big.subarray(0, 16))._unsafeUnwrapErr();
    expect(error.code).toBe('HBONE_ERR_PROXY_V2_TOO_LARGE');
    expect(decodeProxyV2(big, { maxHeaderBytes: 65_551 })._unsafeUnwrap().complete).toBe(true);
    expect(() => decodeProxyV2(big, { maxHeaderBytes: 10 })).toThrow(RangeError);
  });
  it('refuses malformed headers', () => {
    const mutate = (f: (b: Uint8Array) => void): Uint8Array => {
      const copy = bytes.slice();
      f(copy);
      return copy;
    };
    const cases: [Uint8Array, string][] = [
      [mutate((b) => (b[12] = 0x11)), 'HBONE_ERR_PROXY_V2_MALFORMED'], // version 1
      [mutate((b) => (b[12] = 0x22)), 'HBONE_ERR_PROXY_V2_MALFORMED'], // command 2
      [mutate((b) => (b[13] = 0x13)), 'HBONE_ERR_PROXY_V2_MALFORMED'], // protocol 3
      [mutate((b) => (b[13] = 0x41)), 'HBONE_ERR_PROXY_V2_MALFORMED'], // family 4
      [mutate((b) => (b[60] = (b[60] as number) ^ 0xff)), 'HBONE_ERR_PROXY_V2_CHECKSUM'],
      [
        mutate((b) => (b[bytes.length - 1] = (b[bytes.length - 1] as number) ^ 1)),
        'HBONE_ERR_PROXY_V2_CHECKSUM',
      ],
    ];
    for (const [input, code] of cases) expect(decodeProxyV2(input)._unsafeUnwrapErr().code).toBe(code);

    const short = encodeProxyV2({
      command: 'proxy',
      source: { ip: '1.1.1.1', port: 1 },
      destination: { ip: '1.1.1.1', port: 1 },
    });
    const shrunk = short.slice(0, 16 + 8);
    shrunk[15] = 8; // an INET block needs 12 bytes
    expect(decodeProxyV2(shrunk)._unsafeUnwrapErr().code).toBe('HBONE_ERR_PROXY_V2_MALFORMED');

    const tlvOverrun = encodeProxyV2({ command: 'proxy', tlvs: [{ type: 0xe0, value: new Uint8Array(4) }] });
    tlvOverrun[18] = 9;
    expect(decodeProxyV2(tlvOverrun)._unsafeUnwrapErr().code).toBe('HBONE_ERR_PROXY_V2_MALFORMED');

    const twoIds = new Uint8Array([
      ...encodeProxyV2({ command: 'proxy', sourceIdentity: 'a' }).subarray(0, 16),
      0xd0,
      0,
      1,
      0x61,
      0xd0,
      0,
      1,
      0x62,
    ]);
    twoIds[15] = 8;
    expect(decodeProxyV2(twoIds)._unsafeUnwrapErr().message).toMatch(/twice/);

    const badUtf8 = encodeProxyV2({ command: 'proxy', sourceIdentity: 'é' });
    badUtf8[19] = 0xff;
    expect(decodeProxyV2(badUtf8)._unsafeUnwrapErr().code).toBe('HBONE_ERR_PROXY_V2_MALFORMED');
  });
});

describe('decodeProxyV2 never touches its input (issue 18 item 7)', () => {
  const header = encodeProxyV2({
    command: 'proxy',
    source: { ip: '10.0.0.1', port: 41234 },
    destination: { ip: '10.0.0.2', port: 8080 },
    sourceIdentity: ID,
    tlvs: [{ type: 0xe0, value: Uint8Array.of(1, 2, 3) }],
    checksum: true,
  });

  it('decodes the same Buffer twice, CRC32C included, and leaves its bytes as they were', () => {
    // A Buffer, as a socket hands it over: Buffer.prototype.slice is a view, so a decoder that zeroes the
    // CRC32C field "in a copy" made with slice() writes into the caller's bytes.
    const bytes = Buffer.concat([header, Buffer.from('payload')]);
    const before = Buffer.from(bytes);
    const first = decodeProxyV2(bytes)._unsafeUnwrap();
    const second = decodeProxyV2(bytes)._unsafeUnwrap();
    expect(bytes.equals(before)).toBe(true);
    expect(second).toEqual(first);
    expect(first.complete && first.header.checksum).toBe(true);
  });

  it('returns TLV values that do not alias the input', () => {
    const bytes = Buffer.from(header);
    const decoded = decodeProxyV2(bytes)._unsafeUnwrap();
    if (!decoded.complete) throw new Error('incomplete');
    bytes.fill(0xff);
    expect(decoded.header.tlvs).toEqual([{ type: 0xe0, value: Uint8Array.of(1, 2, 3) }]);
  });
});

describe('createProxyV2Decoder', () => {
  it('decodes a header fed one byte at a time and hands back the payload', () => {
    const bytes = new Uint8Array([...encodeProxyV2({ command: 'proxy', sourceIdentity: ID }), 1, 2, 3]);
    const decoder = createProxyV2Decoder();
    let step = decoder.push(bytes.subarray(0, 1))._unsafeUnwrap();
    let i = 1;
    while (!step.done) step = decoder.push(bytes.subarray(i, ++i))._unsafeUnwrap();
    expect(step.header.sourceIdentity).toBe(ID);
    expect(step.rest).toEqual(new Uint8Array(0));
    expect(() => decoder.push(Uint8Array.of(1))).toThrow(/already decoded/);
  });
  it('never buffers past the cap and repeats its error', () => {
    const decoder = createProxyV2Decoder({ maxHeaderBytes: 64 });
    const big = encodeProxyV2({ command: 'proxy', tlvs: [{ type: 0xe1, value: new Uint8Array(100) }] });
    const error = decoder.push(big)._unsafeUnwrapErr();
    expect(error.code).toBe('HBONE_ERR_PROXY_V2_TOO_LARGE');
    expect(decoder.bufferedBytes).toBe(16);
    expect(decoder.push(big)._unsafeUnwrapErr()).toBe(error);
  });
});

describe('properties', () => {
  it('decode(encode(x)) = x', () => {
    fc.assert(
      fc.property(proxyV2HeaderArb, (header) => {
        const bytes = encodeProxyV2(header);
        expect(decodeProxyV2(bytes)._unsafeUnwrap()).toEqual({
          complete: true,
          header,
          headerBytes: bytes.length,
        });
      }),
    );
  });
  it('any split into chunks decodes the same, and the payload after it is intact', () => {
    fc.assert(
      fc.property(
        proxyV2HeaderArb,
        fc.uint8Array({ maxLength: 20 }),
        fc.array(fc.nat(), { maxLength: 8 }),
        (header, payload, cuts) => {
          const bytes = new Uint8Array([...encodeProxyV2(header), ...payload]);
          const points = [...new Set(cuts.map((c) => c % (bytes.length + 1)))].sort((a, b) => a - b);
          const decoder = createProxyV2Decoder();
          let start = 0;
          const rest: number[] = [];
          let decoded: ProxyV2Header | undefined;
          for (const end of [...points, bytes.length]) {
            const chunk = bytes.subarray(start, end);
            start = end;
            if (decoded !== undefined) {
              rest.push(...chunk);
              continue;
            }
            const step = decoder.push(chunk)._unsafeUnwrap();
            if (step.done) {
              decoded = step.header;
              rest.push(...step.rest);
            }
          }
          expect(decoded).toEqual(header);
          expect(Uint8Array.from(rest)).toEqual(payload);
        },
      ),
    );
  });
  it('no input throws, and what decodes re-encodes to the same bytes', () => {
    const signed = fc
      .tuple(
        fc.constantFrom(0x20, 0x21, 0x22, 0x11),
        fc.constantFrom(0x00, 0x11, 0x12, 0x21, 0x22, 0x31, 0x32, 0x41),
        fc.uint8Array({ maxLength: 300 }),
      )
      .map(([vc, fam, body]) => {
        const out = new Uint8Array(16 + body.length);
        out.set(PROXY_V2_SIGNATURE);
        out[12] = vc;
        out[13] = fam;
        new DataView(out.buffer).setUint16(14, body.length);
        out.set(body, 16);
        return out;
      });
    fc.assert(
      fc.property(fc.oneof(signed, fc.uint8Array({ maxLength: 64 })), (bytes) => {
        const result = decodeProxyV2(bytes);
        if (
          result.isOk() &&
          result.value.complete &&
          result.value.header.command === 'proxy' &&
          result.value.header.checksum !== true
        ) {
          // Canonical input (INET/INET6 without padding) round-trips byte for byte.
          const again = decodeProxyV2(encodeProxyV2(result.value.header))._unsafeUnwrap();
          expect(again.complete && again.header).toEqual(result.value.header);
        }
      }),
    );
  });
});
