/**
 * The W3C Trace Context `traceparent` header: ztunnel sends a random one per outbound connection and
 * reuses an inbound one as its log span id (istio/ztunnel@62d82653:src/proxy.rs `TraceParent`).
 * @module
 */
import { err, ok, type Result } from 'neverthrow';
import { HboneError } from './errors.js';

/** A parsed `traceparent`: `<version>-<trace-id>-<parent-id>-<flags>`. */
export interface TraceParent {
  /** 0..254; ztunnel sends 0. */
  readonly version: number;
  /** 32 lower-case hex digits, not all zero. */
  readonly traceId: string;
  /** 16 lower-case hex digits, not all zero. */
  readonly parentId: string;
  /** 0..255; ztunnel sends 0 (not sampled). */
  readonly flags: number;
}

/**

 * The length of a version-00 `traceparent` (W3C Trace Context §3.2): 55 characters.

 *
 * @example
 * ```ts
 * formatTraceparent(randomTraceparent()).length === TRACEPARENT_LENGTH; // true
 * ```
 */
export const TRACEPARENT_LENGTH = 55;

const HEX = /^[0-9a-f]+$/;

function hex2(n: number): string {
  return n.toString(16).padStart(2, '0');
}

function isId(value: string, digits: number): boolean {
  return value.length === digits && HEX.test(value) && !/^0+$/.test(value);
}

/**
 * Formats a `traceparent` as ztunnel's `Debug` impl does: `{:02x}-{:032x}-{:016x}-{:02x}`.
 *
 * @param traceparent - The fields.
 * @returns A 55-character header value.
 * @throws {RangeError} When a field is out of range or an id is not lower-case hex of the right length,
 *   or all zeros (W3C Trace Context §3.2.2.3-4).
 * @example
 * ```ts
 * formatTraceparent({ version: 0, traceId: '4bf92f3577b34da6a3ce929d0e0e4736', parentId: '00f067aa0ba902b7', flags: 0 });
 * // '00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-00'
 * ```
 */
export function formatTraceparent(traceparent: TraceParent): string {
  const { version, traceId, parentId, flags } = traceparent;
  if (!Number.isInteger(version) || version < 0 || version > 254) {
    throw new RangeError(`formatTraceparent: "version" must be an integer in 0..254, got ${version}`);
  }
  if (!Number.isInteger(flags) || flags < 0 || flags > 255) {
    throw new RangeError(`formatTraceparent: "flags" must be an integer in 0..255, got ${flags}`);
  }
  if (!isId(traceId, 32))
    throw new RangeError('formatTraceparent: "traceId" must be 32 lower-case hex digits, not all 0');
  if (!isId(parentId, 16)) {
    throw new RangeError('formatTraceparent: "parentId" must be 16 lower-case hex digits, not all 0');
  }
  return `${hex2(version)}-${traceId}-${parentId}-${hex2(flags)}`;
}

/**
 * Parses a `traceparent` (W3C Trace Context §3.2): 55 characters for version 00 (ztunnel insists on the
 * length), lower-case hex, ids not all zero, version `ff` refused.
 *
 * @param value - The header value.
 * @returns The fields, or an `HBONE_ERR_BAD_TRACEPARENT` error. ztunnel ignores an invalid one and makes a
 *   fresh id; a server built on this codec should do the same.
 * @example
 * ```ts
 * parseTraceparent('00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01')._unsafeUnwrap().flags; // 1
 * ```
 */
export function parseTraceparent(value: string): Result<TraceParent, HboneError> {
  const bad = (why: string): Result<never, HboneError> =>
    err(new HboneError('HBONE_ERR_BAD_TRACEPARENT', `invalid traceparent: ${why}`));
  if (value.length !== TRACEPARENT_LENGTH)
    return bad(`length ${value.length}, expected ${TRACEPARENT_LENGTH}`);
  const parts = value.split('-');
  if (parts.length !== 4) return bad('expected 4 dash-separated fields');
  const [version, traceId, parentId, flags] = parts as [string, string, string, string];
  if (version.length !== 2 || !HEX.test(version) || version === 'ff') return bad('invalid version');
  if (!isId(traceId, 32)) return bad('invalid trace-id');
  if (!isId(parentId, 16)) return bad('invalid parent-id');
  if (flags.length !== 2 || !HEX.test(flags)) return bad('invalid flags');
  return ok({ version: Number.parseInt(version, 16), traceId, parentId, flags: Number.parseInt(flags, 16) });
}

// Two lower-case hex digits per byte value: a table, as every tunnel formats 24 random bytes.
const HEX_BYTE: readonly string[] = Array.from({ length: 256 }, (_, n) => hex2(n));

function randomHex(bytes: number, random: (length: number) => Uint8Array): string {
  const b = random(bytes);
  if (b.length !== bytes)
    throw new RangeError(`randomTraceparent: "random" returned ${b.length} bytes, not ${bytes}`);
  let out = '';
  for (let i = 0; i < b.length; i++) out += HEX_BYTE[b[i] as number];
  // All-zero ids are invalid (the odds are 2^-64 at worst, but a test RNG may return zeros): nudge the last
  // digit rather than loop.
  return /^0+$/.test(out) ? `${out.slice(0, -1)}1` : out;
}

// Random bytes drawn in blocks: one getRandomValues call serves 64 traceparents (one per tunnel on a busy
// client), instead of two calls per tunnel.
const POOL_BYTES = 24 * 64;
let pool = new Uint8Array(0);
let poolOffset = 0;

function pooledRandom(length: number): Uint8Array {
  if (poolOffset + length > pool.length) {
    pool = globalThis.crypto.getRandomValues(new Uint8Array(POOL_BYTES));
    poolOffset = 0;
  }
  const out = pool.subarray(poolOffset, poolOffset + length);
  poolOffset += length;
  return out;
}

/**
 * A fresh `traceparent` as ztunnel makes per outbound connection: version 0, random trace and parent ids,
 * flags 0.
 *
 * @param random - Returns `length` random bytes. Default: the Web Crypto `crypto.getRandomValues`, drawn in
 *   blocks.
 * @returns The fields; format them with {@link formatTraceparent}.
 * @example
 * ```ts
 * formatTraceparent(randomTraceparent()).length; // 55
 * ```
 */
export function randomTraceparent(random: (length: number) => Uint8Array = pooledRandom): TraceParent {
  return { version: 0, traceId: randomHex(16, random), parentId: randomHex(8, random), flags: 0 };
}
