/**
 * The delta xDS envelopes on the wire, written and read directly (Envoy's
 * `envoy/service/discovery/v3/discovery.proto`, vendored in `packages/workload-api/proto/`:
 * `DeltaDiscoveryResponse`, `Resource`). The server
 * encodes each resource's `Resource` message once, when the resource changes, and splices those bytes
 * into every response that carries it (so a hundred thousand resources cost one copy per client, not one
 * encoding); the client reads a response in place, and decodes each resource from the response buffer.
 * Both write and read exactly what protobuf-es does for these messages: property tests hold them equal to
 * `toBinary` / `fromBinary` (`delta-wire.test.ts`). Pure: Uint8Array in and out.
 * @module
 */
import { asciiAt } from '../codec/model-parts.js';
import { LEN, Writer } from '../codec/proto-writer.js';

const utf8 = new TextEncoder();
const strictUtf8 = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true });
const writer = new Writer();

/**
 * The encoded `Resource` message of one resource: version (1), the body as `Any` (2), name (3), aliases
 * (4), in field-number order as protobuf-es writes them.
 *
 * @param name - The resource name.
 * @param version - Its version.
 * @param aliases - Its aliases.
 * @param typeUrl - The body's type URL.
 * @param value - The encoded body.
 * @returns A fresh array.
 * @example
 * ```ts
 * encodeResource('ns/a', 'v1', [], ADDRESS_TYPE_URL, encodeAddress(service));
 * ```
 */
export function encodeResource(
  name: string,
  version: string,
  aliases: readonly string[],
  typeUrl: string,
  value: Uint8Array,
): Uint8Array {
  const w = writer;
  w.pos = 0;
  w.string(1, version);
  const any = w.begin(2);
  w.string(1, typeUrl);
  if (value.length > 0) w.bytes(2, value);
  w.end(any);
  w.string(3, name);
  for (const a of aliases) w.string(4, a, true);
  return w.take();
}

function varintLength(value: number): number {
  let n = 1;
  for (let v = value >>> 7; v > 0; v >>>= 7) n++;
  return n;
}

function putVarint(out: Uint8Array, at: number, value: number): number {
  let v = value >>> 0;
  let pos = at;
  while (v > 0x7f) {
    out[pos++] = (v & 0x7f) | 0x80;
    v >>>= 7;
  }
  out[pos++] = v;
  return pos;
}

/**
 * An encoded `DeltaDiscoveryResponse`: the pre-encoded resources (field 2), then `type_url` (4), `nonce`
 * (5) and `removed_resources` (6), in one buffer of exactly the right size.
 *
 * @param typeUrl - The response's type URL.
 * @param nonce - Its nonce.
 * @param resources - Encoded `Resource` messages ({@link encodeResource}).
 * @param removed - Names removed.
 * @returns The encoded response.
 * @example
 * ```ts
 * call.write(encodeDeltaResponse(ADDRESS_TYPE_URL, '1-1', cached.map((c) => c.bytes), []));
 * ```
 */
export function encodeDeltaResponse(
  typeUrl: string,
  nonce: string,
  resources: readonly Uint8Array[],
  removed: readonly string[],
): Uint8Array {
  const fields: [number, Uint8Array][] = [];
  if (typeUrl !== '') fields.push([4, utf8.encode(typeUrl)]);
  if (nonce !== '') fields.push([5, utf8.encode(nonce)]);
  for (const name of removed) fields.push([6, utf8.encode(name)]);
  let size = 0;
  for (const r of resources) size += 1 + varintLength(r.length) + r.length;
  for (const [, bytes] of fields) size += 1 + varintLength(bytes.length) + bytes.length;
  const out = new Uint8Array(size);
  let pos = 0;
  for (const r of resources) {
    out[pos++] = (2 << 3) | LEN;
    pos = putVarint(out, pos, r.length);
    out.set(r, pos);
    pos += r.length;
  }
  for (const [no, bytes] of fields) {
    out[pos++] = (no << 3) | LEN;
    pos = putVarint(out, pos, bytes.length);
    out.set(bytes, pos);
    pos += bytes.length;
  }
  return out;
}

/** One resource of a response read by {@link readDeltaResponse}; its body stays in the response buffer. */
export interface WireResource {
  readonly name: string;
  readonly version: string;
  readonly aliases: readonly string[];
  /** The body's `Any`, if the resource has one: its type URL and where its value lies in the buffer. */
  readonly body: { readonly typeUrl: string; readonly start: number; readonly end: number } | undefined;
}

/** A `DeltaDiscoveryResponse` as {@link readDeltaResponse} reads it. */
export interface WireResponse {
  /** The buffer the resource bodies are in. */
  readonly buf: Uint8Array;
  readonly typeUrl: string;
  readonly nonce: string;
  readonly resources: readonly WireResource[];
  readonly removedResources: readonly string[];
}

class Reader {
  readonly buf: Uint8Array;
  pos = 0;
  constructor(buf: Uint8Array) {
    this.buf = buf;
  }

  varint(): number {
    let value = 0;
    for (let shift = 0; shift < 64; shift += 7) {
      const b = this.buf[this.pos++];
      if (b === undefined) throw new Error('premature EOF');
      if (shift < 32) value += (b & 0x7f) * 2 ** shift;
      if (b < 0x80) return value;
    }
    throw new Error('invalid varint');
  }

  /** Reads a length prefix; returns where the field ends. */
  delimited(end: number): number {
    const length = this.varint();
    const stop = this.pos + length;
    if (stop > end) throw new Error('premature EOF');
    return stop;
  }

  string(wireType: number, end: number): string {
    if (wireType !== LEN) throw new Error(`wire type ${wireType} for a string field`);
    const stop = this.delimited(end);
    const from = this.pos;
    this.pos = stop;
    return asciiAt(this.buf, from, stop - from) ?? strictUtf8.decode(this.buf.subarray(from, stop));
  }

  skip(wireType: number, end: number): void {
    if (wireType === 0) this.varint();
    else if (wireType === 1) this.pos += 8;
    else if (wireType === LEN) this.pos = this.delimited(end);
    else if (wireType === 5) this.pos += 4;
    else throw new Error(`cannot skip wire type ${wireType}`);
    if (this.pos > end) throw new Error('premature EOF');
  }

  tag(): number {
    const t = this.varint();
    if (t >>> 3 === 0 || t > 0xffffffff) throw new Error('illegal tag');
    return t;
  }
}

function readResource(r: Reader, end: number): WireResource {
  let name = '';
  let version = '';
  const aliases: string[] = [];
  let body: { typeUrl: string; start: number; end: number } | undefined;
  while (r.pos < end) {
    const t = r.tag();
    const no = t >>> 3;
    const wt = t & 7;
    if (no === 1) version = r.string(wt, end);
    else if (no === 3) name = r.string(wt, end);
    else if (no === 4) aliases.push(r.string(wt, end));
    else if (no === 2) {
      if (wt !== LEN) throw new Error(`wire type ${wt} for a message field`);
      const stop = r.delimited(end);
      // A repeated message field merges: later fields replace earlier ones.
      body ??= { typeUrl: '', start: 0, end: 0 };
      while (r.pos < stop) {
        const u = r.tag();
        if (u >>> 3 === 1) body.typeUrl = r.string(u & 7, stop);
        else if (u >>> 3 === 2) {
          if ((u & 7) !== LEN) throw new Error(`wire type ${u & 7} for a bytes field`);
          const valueEnd = r.delimited(stop);
          body.start = r.pos;
          body.end = valueEnd;
          r.pos = valueEnd;
        } else r.skip(u & 7, stop);
      }
      if (r.pos !== stop) throw new Error('message overruns its length');
    } else r.skip(wt, end);
  }
  if (r.pos !== end) throw new Error('message overruns its length');
  return { name, version, aliases, body };
}

/**
 * Reads a `DeltaDiscoveryResponse`: the fields the client uses (resources, type URL, nonce, removed
 * names), every other field checked and skipped, strings checked as strict UTF-8 as protobuf-es does.
 *
 * @param buf - The encoded response.
 * @returns The response, resource bodies as positions in `buf`.
 * @throws {Error} On malformed input.
 * @example
 * ```ts
 * const res = readDeltaResponse(bytes);
 * for (const r of res.resources) if (r.body) decodeAddressAt(res.buf, r.body.start, r.body.end);
 * ```
 */
export function readDeltaResponse(buf: Uint8Array): WireResponse {
  const r = new Reader(buf);
  const end = buf.length;
  let typeUrl = '';
  let nonce = '';
  const resources: WireResource[] = [];
  const removedResources: string[] = [];
  while (r.pos < end) {
    const t = r.tag();
    const no = t >>> 3;
    const wt = t & 7;
    if (no === 2) {
      if (wt !== LEN) throw new Error(`wire type ${wt} for a message field`);
      resources.push(readResource(r, r.delimited(end)));
    } else if (no === 1) {
      // system_version_info: unused, but a string all the same.
      r.string(wt, end);
    } else if (no === 4) typeUrl = r.string(wt, end);
    else if (no === 5) nonce = r.string(wt, end);
    else if (no === 6) removedResources.push(r.string(wt, end));
    else r.skip(wt, end);
  }
  return { buf, typeUrl, nonce, resources, removedResources };
}
