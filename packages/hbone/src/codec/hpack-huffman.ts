/**
 * The HPACK Huffman code (RFC 7541 §5.2, Appendix B): decoding only (our encoder sends plain literals,
 * which every decoder must accept). The code is canonical, so the 257 code lengths of Appendix B are all
 * it takes to rebuild it; decoding walks a table of 4-bit steps built from them once.
 * @module
 */

// RFC 7541 Appendix B: the code length of each symbol 0..255 and of EOS (256).
const CODE_LENGTHS: readonly number[] = [
  13, 23, 28, 28, 28, 28, 28, 28, 28, 24, 30, 28, 28, 30, 28, 28, 28, 28, 28, 28, 28, 28, 30, 28, 28, 28, 28,
  28, 28, 28, 28, 28, 6, 10, 10, 12, 13, 6, 8, 11, 10, 10, 8, 11, 8, 6, 6, 6, 5, 5, 5, 6, 6, 6, 6, 6, 6, 6, 7,
  8, 15, 6, 12, 10, 13, 6, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 8, 7, 8, 13, 19,
  13, 14, 6, 15, 5, 6, 5, 6, 5, 6, 6, 6, 5, 7, 7, 6, 6, 6, 5, 6, 7, 6, 5, 5, 6, 7, 7, 7, 7, 7, 15, 11, 14, 13,
  28, 20, 22, 20, 20, 22, 22, 22, 23, 22, 23, 23, 23, 23, 23, 24, 23, 24, 24, 22, 23, 24, 23, 23, 23, 23, 21,
  22, 23, 22, 23, 23, 24, 22, 21, 20, 22, 22, 23, 23, 21, 23, 22, 22, 24, 21, 22, 23, 23, 21, 21, 22, 21, 23,
  22, 23, 23, 20, 22, 22, 22, 23, 22, 22, 23, 26, 26, 20, 19, 22, 23, 22, 25, 26, 26, 26, 27, 27, 26, 24, 25,
  19, 21, 26, 27, 27, 26, 27, 24, 21, 21, 26, 26, 28, 27, 27, 27, 20, 24, 20, 21, 22, 21, 21, 23, 22, 22, 25,
  25, 24, 24, 26, 23, 26, 27, 26, 26, 27, 27, 27, 27, 27, 28, 27, 27, 27, 27, 27, 26, 30,
];

const EOS = 256;

/** One 4-bit step: next state (bits 0-7), symbol + 1 (bits 8-16, 0 = none), failure (bit 17). */
interface HuffmanTables {
  readonly steps: Int32Array;
  /** Whether ending in a state is valid padding: the state is reached by 1-bits only, 7 at most. */
  readonly accepting: Uint8Array;
}

let tables: HuffmanTables | undefined;

function buildTables(): HuffmanTables {
  // Canonical codes: by length, then by symbol (RFC 7541 Appendix B lists exactly these).
  const order = CODE_LENGTHS.map((length, symbol) => [length, symbol] as const).sort(
    (a, b) => a[0] - b[0] || a[1] - b[1],
  );
  // Tree: internal nodes 0..255 (0 = root), children as node index, or -(symbol + 1) for a leaf.
  const children: [number, number][] = [[0, 0]];
  const depth: number[] = [0];
  const allOnes: boolean[] = [true];
  let code = 0;
  let previousLength = (order[0] as readonly [number, number])[0];
  for (const [length, symbol] of order) {
    code <<= length - previousLength;
    previousLength = length;
    let node = 0;
    for (let bit = length - 1; bit >= 0; bit--) {
      const b = (code >>> bit) & 1;
      const pair = children[node] as [number, number];
      if (bit === 0) {
        pair[b] = -(symbol + 1);
      } else {
        if (pair[b] === 0) {
          children.push([0, 0]);
          depth.push((depth[node] as number) + 1);
          allOnes.push((allOnes[node] as boolean) && b === 1);
          pair[b] = children.length - 1;
        }
        node = pair[b] as number;
      }
    }
    code++;
  }
  const states = children.length;
  const steps = new Int32Array(states * 16);
  const accepting = new Uint8Array(states);
  for (let s = 0; s < states; s++) accepting[s] = allOnes[s] && (depth[s] as number) <= 7 ? 1 : 0;
  for (let s = 0; s < states; s++) {
    for (let nibble = 0; nibble < 16; nibble++) {
      let node = s;
      let emitted = 0;
      let failed = 0;
      for (let bit = 3; bit >= 0; bit--) {
        const next = (children[node] as [number, number])[(nibble >>> bit) & 1] as number;
        if (next < 0) {
          const symbol = -next - 1;
          // EOS inside a string is an error (§5.2).
          if (symbol === EOS) failed = 1;
          emitted = symbol + 1;
          node = 0;
        } else {
          node = next;
        }
      }
      steps[s * 16 + nibble] = node | (emitted << 8) | (failed << 17);
    }
  }
  return { steps, accepting };
}

/**
 * Decodes a Huffman-coded string (RFC 7541 §5.2) into bytes.
 *
 * @param input - The coded octets.
 * @param out - Room for the decoded octets: at least `input.length * 8 / 5` bytes.
 * @returns How many bytes were written to `out`, or -1 when the input is invalid (EOS inside, padding longer
 *   than 7 bits or not all ones).
 * @example
 * ```ts
 * const out = new Uint8Array(32);
 * const n = decodeHuffman(Uint8Array.of(0xf1, 0xe3, 0xc2, 0xe5, 0xf2, 0x3a, 0x6b, 0xa0, 0xab, 0x90, 0xf4, 0xff), out);
 * new TextDecoder().decode(out.subarray(0, n)); // 'www.example.com'
 * ```
 */
export function decodeHuffman(input: Uint8Array, out: Uint8Array): number {
  tables ??= buildTables();
  const { steps, accepting } = tables;
  let state = 0;
  let written = 0;
  for (let i = 0; i < input.length; i++) {
    const byte = input[i] as number;
    let step = steps[state * 16 + (byte >>> 4)] as number;
    if (step & 0x20000) return -1;
    if (step & 0x1ff00) out[written++] = ((step >>> 8) & 0x1ff) - 1;
    state = step & 0xff;
    step = steps[state * 16 + (byte & 0x0f)] as number;
    if (step & 0x20000) return -1;
    if (step & 0x1ff00) out[written++] = ((step >>> 8) & 0x1ff) - 1;
    state = step & 0xff;
  }
  return accepting[state] === 1 ? written : -1;
}

/**
 * The code length of each symbol, EOS last (RFC 7541 Appendix B), for tests and encoders.
 *
 * @example
 * ```ts
 * HPACK_HUFFMAN_CODE_LENGTHS[0x61]; // 5: 'a'
 * ```
 */
export const HPACK_HUFFMAN_CODE_LENGTHS: readonly number[] = CODE_LENGTHS;
