import { createRequire } from 'node:module';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { createHpackDecoder } from '../src/codec/hpack-decoder.js';
import { createHpackEncoder } from '../src/codec/hpack-encoder.js';
import { decodeHuffman, HPACK_HUFFMAN_CODE_LENGTHS } from '../src/codec/hpack-huffman.js';
import { HPACK_STATIC_TABLE } from '../src/codec/hpack-static-table.js';

// hpack.js (the HPACK of the `spdy` package) is the independent implementation we check against.
const require = createRequire(import.meta.url);
interface HpackJs {
  compressor: {
    create(o: { table: { maxSize: number } }): {
      write(h: { name: string; value: string; huffman?: boolean; incremental?: boolean }[]): void;
      read(): Buffer | null;
      updateTableSize(n: number): void;
    };
  };
  decompressor: {
    create(o: { table: { maxSize: number } }): {
      write(b: Uint8Array): void;
      execute(): void;
      read(): { name: string; value: string } | null;
    };
  };
  'static-table': { table: { name: string; value: string }[] };
  huffman: { encode: [number, number][] };
}
const hpackJs = require('hpack.js') as HpackJs;

const hex = (text: string): Uint8Array => Uint8Array.from(Buffer.from(text.replace(/\s/g, ''), 'hex'));
const decoder = () => createHpackDecoder({ maxTableBytes: 4096, maxHeaderListBytes: 65_536 });

describe('tables', () => {
  it('the static table is RFC 7541 Appendix A (as hpack.js has it)', () => {
    expect(HPACK_STATIC_TABLE.map(([name, value]) => ({ name, value }))).toEqual(
      hpackJs['static-table'].table.map(({ name, value }) => ({ name, value })),
    );
  });

  it('the Huffman code lengths are RFC 7541 Appendix B (as hpack.js has them)', () => {
    expect(HPACK_HUFFMAN_CODE_LENGTHS).toEqual(hpackJs.huffman.encode.map(([bits]) => bits));
  });
});

describe('RFC 7541 Appendix C vectors', () => {
  it('C.4.1-C.4.3: requests with Huffman coding and the dynamic table', () => {
    const d = decoder();
    expect(d.decode(hex('8286 8441 8cf1 e3c2 e5f2 3a6b a0ab 90f4 ff'))._unsafeUnwrap().fields).toEqual([
      [':method', 'GET'],
      [':scheme', 'http'],
      [':path', '/'],
      [':authority', 'www.example.com'],
    ]);
    expect(d.decode(hex('8286 84be 5886 a8eb 1064 9cbf'))._unsafeUnwrap().fields).toEqual([
      [':method', 'GET'],
      [':scheme', 'http'],
      [':path', '/'],
      [':authority', 'www.example.com'],
      ['cache-control', 'no-cache'],
    ]);
    expect(
      d.decode(hex('8287 85bf 4088 25a8 49e9 5ba9 7d7f 8925 a849 e95b b8e8 b4bf'))._unsafeUnwrap().fields,
    ).toEqual([
      [':method', 'GET'],
      [':scheme', 'https'],
      [':path', '/index.html'],
      [':authority', 'www.example.com'],
      ['custom-key', 'custom-value'],
    ]);
  });

  it('C.2.1: a literal with a new name, no Huffman', () => {
    const block = hex('400a 6375 7374 6f6d 2d6b 6579 0d63 7573 746f 6d2d 6865 6164 6572');
    expect(decoder().decode(block)._unsafeUnwrap().fields).toEqual([['custom-key', 'custom-header']]);
  });

  it('decodeHuffman rejects EOS and bad padding', () => {
    const out = new Uint8Array(64);
    expect(decodeHuffman(hex('f1e3c2e5f23a6ba0ab90f4ff'), out)).toBe(15);
    // 'w' (7 bits) then 1 zero padding bit: padding must be ones.
    expect(decodeHuffman(Uint8Array.of(0xf0), out)).toBe(-1);
    // Eight bits of padding (a whole 0xff byte after a complete symbol) is too much.
    expect(decodeHuffman(Uint8Array.of(0x1f, 0xff), out)).toBe(-1);
    // EOS (30 ones) inside the string.
    expect(decodeHuffman(Uint8Array.of(0xff, 0xff, 0xff, 0xff), out)).toBe(-1);
  });
});

describe('errors and caps', () => {
  it('malformed blocks are COMPRESSION_ERROR connection failures, never throws', () => {
    for (const bad of [
      Uint8Array.of(0x80), // index 0
      Uint8Array.of(0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x7f), // integer overflow
      Uint8Array.of(0xbf), // index 62: empty dynamic table
      Uint8Array.of(0x40, 0x05, 0x61), // string longer than the block
      Uint8Array.of(0x3f, 0xe2, 0x1f), // table size update to 4097
      Uint8Array.of(0x82, 0x20), // a size update after a field
    ]) {
      const result = decoder().decode(bad);
      expect(result.isErr()).toBe(true);
      expect(result._unsafeUnwrapErr()).toMatchObject({ scope: 'connection', code: 0x9 });
    }
  });

  it('a list over the cap is reported as oversize and the table stays in step', () => {
    const d = createHpackDecoder({ maxTableBytes: 4096, maxHeaderListBytes: 100 });
    const comp = hpackJs.compressor.create({ table: { maxSize: 4096 } });
    const encode = (fields: [string, string][]): Uint8Array => {
      comp.write(fields.map(([name, value]) => ({ name, value })));
      const out: Buffer[] = [];
      for (let c = comp.read(); c !== null; c = comp.read()) out.push(c);
      return Buffer.concat(out);
    };
    const big = d.decode(encode([['x-big', 'v'.repeat(200)]]))._unsafeUnwrap();
    expect(big).toMatchObject({ oversize: true, fields: [] });
    // The next block indexes the entry the oversize block added: still decodable.
    expect(d.decode(encode([['x-big', 'v'.repeat(200)]]))._unsafeUnwrap().oversize).toBe(true);
    expect(d.decode(encode([['a', 'b']]))._unsafeUnwrap().fields).toEqual([['a', 'b']]);
  });

  it('an indexed-field bomb costs no more than the block: bounded by the list cap', () => {
    const d = createHpackDecoder({ maxTableBytes: 4096, maxHeaderListBytes: 65_536 });
    // One 4000-byte entry, then 16,000 one-byte references to it: 64 MB of header list.
    const first = new Uint8Array(2 + 4 + 4000);
    first.set([0x40, 0x01, 0x78, 0x7f, 0x81, 0x1e]); // literal, incremental; name 'x', value length 4000
    first.fill(0x61, 6);
    const bomb = new Uint8Array(16_000).fill(0xbe); // index 62
    const result = d.decode(Uint8Array.from([...first, ...bomb]))._unsafeUnwrap();
    expect(result.oversize).toBe(true);
    expect(result.fields).toEqual([]);
  });
});

// hpack.js looks names up in a plain object, so `constructor` and friends confuse it (not us).
const name = fc.stringMatching(/^[a-z0-9-]{1,20}$/).filter((n) => !(n in Object.prototype));
const value = fc.string({
  maxLength: 60,
  unit: fc.integer({ min: 0x20, max: 0x7e }).map((c) => String.fromCharCode(c)),
});
const staticField = fc.constantFrom(...HPACK_STATIC_TABLE).map(([n, v]) => [n, v] as [string, string]);
const field = fc.oneof(
  fc.tuple(name, value),
  staticField,
  fc.tuple(fc.constantFrom(':authority', 'cookie'), value),
);
const blocks = fc.array(fc.array(field, { maxLength: 12 }), { minLength: 1, maxLength: 8 });

describe('properties', () => {
  it('decodes whatever hpack.js encodes (Huffman, incremental indexing, evictions) as hpack.js does', () => {
    fc.assert(
      fc.property(blocks, fc.boolean(), (lists, huffman) => {
        const comp = hpackJs.compressor.create({ table: { maxSize: 256 } });
        const ours = createHpackDecoder({ maxTableBytes: 256, maxHeaderListBytes: 1 << 20 });
        for (const list of lists) {
          comp.write(list.map(([n, v]) => ({ name: n, value: v, huffman })));
          const chunks: Buffer[] = [];
          for (let c = comp.read(); c !== null; c = comp.read()) chunks.push(c);
          const decoded = ours.decode(Buffer.concat(chunks))._unsafeUnwrap();
          expect(decoded.fields).toEqual(list);
        }
      }),
    );
  });

  it('hpack.js decodes what our encoder writes, including after a table size update', () => {
    fc.assert(
      fc.property(blocks, fc.integer({ min: 0, max: 4096 }), (lists, tableSize) => {
        const encoder = createHpackEncoder();
        encoder.setMaxTableBytes(tableSize);
        const theirs = hpackJs.decompressor.create({ table: { maxSize: 4096 } });
        const ours = createHpackDecoder({ maxTableBytes: 4096, maxHeaderListBytes: 1 << 20 });
        for (const list of lists) {
          const block = encoder.encode(list);
          theirs.write(Buffer.from(block));
          theirs.execute();
          const got: [string, string][] = [];
          for (let h = theirs.read(); h !== null; h = theirs.read()) got.push([h.name, h.value]);
          expect(got).toEqual(list);
          expect(ours.decode(block)._unsafeUnwrap().fields).toEqual(list);
        }
      }),
    );
  });

  it('never throws on arbitrary bytes', () => {
    fc.assert(
      fc.property(fc.array(fc.uint8Array({ maxLength: 64 }), { maxLength: 4 }), (inputs) => {
        const d = decoder();
        for (const input of inputs) d.decode(input);
      }),
    );
  });
});
