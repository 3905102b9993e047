/**
 * A small protobuf wire writer for the messages this package writes directly (`address-encoder.ts`, the
 * delta xDS envelopes): varints, tags, strings and length-delimited fields into one growable buffer.
 * @module
 */

/** Wire type of varint fields. */
export const VARINT = 0;
/** Wire type of length-delimited fields. */
export const LEN = 2;

const utf8 = new TextEncoder();

/**
 * A growable output buffer. Nested messages get one byte for their length up front, which is moved out
 * of the way in the rare case the message is 128 bytes or longer.
 *
 * @example
 * ```ts
 * const w = new Writer();
 * const at = w.begin(1);
 * w.string(2, 'uid');
 * w.end(at);
 * w.take(); // Uint8Array [0x0a, 0x05, 0x12, 0x03, 0x75, 0x69, 0x64]
 * ```
 */
export class Writer {
  buf: Uint8Array = new Uint8Array(1024);
  pos = 0;

  reserve(n: number): void {
    if (this.pos + n <= this.buf.length) return;
    const next = new Uint8Array(Math.max(this.buf.length * 2, this.pos + n));
    next.set(this.buf.subarray(0, this.pos));
    this.buf = next;
  }

  varint(value: number): void {
    this.reserve(5);
    let v = value >>> 0;
    while (v > 0x7f) {
      this.buf[this.pos++] = (v & 0x7f) | 0x80;
      v >>>= 7;
    }
    this.buf[this.pos++] = v;
  }

  tag(no: number, wireType: number): void {
    this.varint((no << 3) | wireType);
  }

  /** Starts a length-delimited field; returns where its content starts. */
  begin(no: number): number {
    this.tag(no, LEN);
    this.reserve(1);
    this.pos++;
    return this.pos;
  }

  /** Ends the field {@link Writer.begin} started, writing its length. */
  end(start: number): void {
    const length = this.pos - start;
    if (length < 0x80) {
      this.buf[start - 1] = length;
      return;
    }
    let extra = 0;
    for (let v = length >>> 7; v > 0; v >>>= 7) extra++;
    this.reserve(extra);
    this.buf.copyWithin(start + extra, start, this.pos);
    let at = start - 1;
    let v = length;
    while (v > 0x7f) {
      this.buf[at++] = (v & 0x7f) | 0x80;
      v >>>= 7;
    }
    this.buf[at] = v;
    this.pos += extra;
  }

  /** A string field; `always` writes an empty one too (a map key). */
  string(no: number, value: string, always = false): void {
    if (value === '' && !always) return;
    const start = this.begin(no);
    this.reserve(value.length);
    for (let i = 0; i < value.length; i++) {
      const c = value.charCodeAt(i);
      if (c > 0x7f) {
        // Not ASCII: what protobuf-es writes, the text encoder's UTF-8.
        this.pos = start;
        this.raw(utf8.encode(value));
        break;
      }
      this.buf[this.pos++] = c;
    }
    this.end(start);
  }

  raw(bytes: Uint8Array): void {
    this.reserve(bytes.length);
    this.buf.set(bytes, this.pos);
    this.pos += bytes.length;
  }

  bytes(no: number, value: Uint8Array): void {
    const start = this.begin(no);
    this.raw(value);
    this.end(start);
  }

  /** A non-zero varint field (implicit presence: zero is left out). */
  uint(no: number, value: number): void {
    if (value === 0) return;
    this.tag(no, VARINT);
    this.varint(value);
  }

  bool(no: number, value: boolean): void {
    if (value) this.uint(no, 1);
  }

  /** A copy of what was written. */
  take(): Uint8Array {
    return this.buf.slice(0, this.pos);
  }
}
