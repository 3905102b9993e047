/**
 * PROXY protocol version 2 headers: the model and the encoder. ztunnel writes one before any payload when
 * the destination workload has an `application_tunnel` of protocol PROXY (istio/ztunnel@62d82653:src/proxy/inbound.rs).
 * The layout follows haproxy's proxy-protocol.txt §2.2.
 * @module
 */
import { ipToBytes, parseIp } from '@ambient-kit/ip';
import { crc32c } from './crc32c.js';

/**

 * The 12-byte signature every v2 header starts with (proxy-protocol.txt §2.2).

 *
 * @example
 * ```ts
 * bytes.subarray(0, 12).every((b, i) => b === PROXY_V2_SIGNATURE[i]); // starts like a v2 header
 * ```
 */
export const PROXY_V2_SIGNATURE: Uint8Array = /* @__PURE__ */ Uint8Array.of(
  0x0d,
  0x0a,
  0x0d,
  0x0a,
  0x00,
  0x0d,
  0x0a,
  0x51,
  0x55,
  0x49,
  0x54,
  0x0a,
);

/**

 * TLV types with a meaning here. `0xD0`/`0xD1` are Istio's (`workload.proto` `ApplicationTunnel`).

 *
 * @example
 * ```ts
 * header.tlvs?.find((tlv) => tlv.type === 0xe0); // 0xD0/0xD1/0x03 have fields of their own
 * ```
 */
export const PROXY_V2_TLV = {
  /** `PP2_TYPE_CRC32C`: a CRC-32C of the whole header. */
  crc32c: 0x03,
  /** The source workload's SPIFFE ID, UTF-8: the only TLV ztunnel writes (`istio/ztunnel@62d82653:src/proxy.rs` L523-548). */
  sourceIdentity: 0xd0,
  /** The FQDN of the targeted service: reserved by Istio, never written by ztunnel (istio/ztunnel@62d82653:proto/workload.proto). */
  serviceHostname: 0xd1,
} as const;

/** An IPv4 or IPv6 endpoint; `ip` in any valid text form on encode, canonical on decode. */
export interface ProxyV2IpEndpoint {
  readonly ip: string;
  readonly port: number;
}

/** A UNIX socket endpoint (AF_UNIX, up to 108 bytes of UTF-8 path, no NUL). */
export interface ProxyV2UnixEndpoint {
  readonly path: string;
}

/** An endpoint of either family. */
export type ProxyV2Endpoint = ProxyV2IpEndpoint | ProxyV2UnixEndpoint;

/** A TLV kept as bytes: every TLV without a field of its own, in wire order. */
export interface ProxyV2Tlv {
  /** 0..255. */
  readonly type: number;
  /** Up to 65535 bytes. */
  readonly value: Uint8Array;
}

/**
 * A PROXY v2 header. `decodeProxyV2(encodeProxyV2(h))` gives back `h` (with IPs in canonical form).
 *
 * - `command: 'proxy'` with `source` and `destination` (same family) relays a connection's endpoints;
 *   without them the family is UNSPEC and the receiver uses the real endpoints.
 * - `command: 'local'` is a proxy's own connection (health checks): no addresses, TLVs allowed.
 */
export interface ProxyV2Header {
  readonly command: 'proxy' | 'local';
  /** `stream` (TCP, what ztunnel writes) or `dgram`; present exactly when the addresses are. Default `stream`. */
  readonly transport?: 'stream' | 'dgram';
  /** The original client, e.g. the HBONE peer's address. */
  readonly source?: ProxyV2Endpoint;
  /** The original destination, e.g. the HBONE `:authority` socket address. */
  readonly destination?: ProxyV2Endpoint;
  /** TLV `0xD0`: the source SPIFFE ID. */
  readonly sourceIdentity?: string;
  /** TLV `0xD1`: the targeted service hostname. */
  readonly serviceHostname?: string;
  /** Whether a `PP2_TYPE_CRC32C` TLV protects the header (written last, checked on decode). */
  readonly checksum?: boolean;
  /** Every other TLV, unknown ones included, in order. */
  readonly tlvs?: readonly ProxyV2Tlv[];
}

/**

 * The largest header the format allows: 16 fixed bytes plus a 16-bit length.

 *
 * @example
 * ```ts
 * createProxyV2Decoder({ maxHeaderBytes: PROXY_V2_MAX_BYTES }); // accept any valid header
 * ```
 */
export const PROXY_V2_MAX_BYTES = 65_551; // 16 + 0xffff

/**

 * Address block sizes per family (proxy-protocol.txt §2.2).

 *
 * @example
 * ```ts
 * 16 + PROXY_V2_ADDRESS_BYTES.inet; // 28: an IPv4 header without TLVs
 * ```
 */
export const PROXY_V2_ADDRESS_BYTES = { inet: 12, inet6: 36, unix: 216 } as const;

const utf8 = /* @__PURE__ */ new TextEncoder();

function endpointBytes(e: ProxyV2IpEndpoint, label: string): Uint8Array {
  const ip = parseIp(e.ip);
  if (ip === undefined)
    throw new RangeError(`encodeProxyV2: "${label}.ip" is not an IP address: ${JSON.stringify(e.ip)}`);
  if (!Number.isInteger(e.port) || e.port < 0 || e.port > 65535) {
    throw new RangeError(`encodeProxyV2: "${label}.port" must be an integer in 0..65535, got ${e.port}`);
  }
  return ipToBytes(ip);
}

function unixPathBytes(e: ProxyV2UnixEndpoint, label: string): Uint8Array {
  const bytes = utf8.encode(e.path);
  if (bytes.length > 108 || bytes.includes(0)) {
    throw new RangeError(`encodeProxyV2: "${label}.path" must be at most 108 bytes of UTF-8 without NUL`);
  }
  return bytes;
}

/**
 * Encodes a PROXY v2 header. With `source`/`destination` it writes family INET (`0x11`/`0x12`) or INET6
 * (`0x21`/`0x22`) or UNIX (`0x31`/`0x32`), then the TLVs: `0xD0`, `0xD1`, the others in order, and a CRC-32C
 * last when `checksum` is set.
 *
 * @param header - The header.
 * @returns The bytes to write before the payload.
 * @throws {RangeError} When only one endpoint is given, the endpoints' families differ, an IP or port is
 *   invalid, `transport` is set without addresses, `command: 'local'` has addresses, `tlvs` holds a type
 *   that has a field (`0x03`, `0xD0`, `0xD1`), or the header would exceed 65,551 bytes.
 * @example
 * ```ts
 * const bytes = encodeProxyV2({
 *   command: 'proxy',
 *   source: { ip: '10.0.0.1', port: 41234 },
 *   destination: { ip: '10.0.0.2', port: 8080 },
 *   sourceIdentity: 'spiffe://cluster.local/ns/default/sa/sleep',
 * });
 * bytes[12]; // 0x21: version 2, PROXY
 * bytes[13]; // 0x11: INET, STREAM
 * ```
 */
export function encodeProxyV2(header: ProxyV2Header): Uint8Array {
  const { source, destination } = header;
  if ((source === undefined) !== (destination === undefined)) {
    throw new RangeError('encodeProxyV2: set both "source" and "destination", or neither');
  }
  if (header.command !== 'proxy' && header.command !== 'local') {
    throw new RangeError(`encodeProxyV2: "command" must be 'proxy' or 'local'`);
  }
  if (header.command === 'local' && source !== undefined) {
    throw new RangeError('encodeProxyV2: a LOCAL header carries no addresses');
  }
  if (source === undefined && header.transport !== undefined) {
    throw new RangeError('encodeProxyV2: "transport" needs "source" and "destination"');
  }
  const transport = header.transport ?? 'stream';
  if (transport !== 'stream' && transport !== 'dgram') {
    throw new RangeError(`encodeProxyV2: "transport" must be 'stream' or 'dgram'`);
  }

  let familyByte = 0x00;
  let addresses = new Uint8Array(0);
  if (source !== undefined && destination !== undefined) {
    const proto = transport === 'stream' ? 0x1 : 0x2;
    if ('path' in source || 'path' in destination) {
      if (!('path' in source && 'path' in destination)) {
        throw new RangeError('encodeProxyV2: "source" and "destination" must be of the same family');
      }
      familyByte = 0x30 | proto;
      addresses = new Uint8Array(PROXY_V2_ADDRESS_BYTES.unix);
      addresses.set(unixPathBytes(source, 'source'), 0);
      addresses.set(unixPathBytes(destination, 'destination'), 108);
    } else {
      const src = endpointBytes(source, 'source');
      const dst = endpointBytes(destination, 'destination');
      if (src.length !== dst.length) {
        throw new RangeError('encodeProxyV2: "source" and "destination" must be of the same IP family');
      }
      familyByte = (src.length === 4 ? 0x10 : 0x20) | proto;
      addresses = new Uint8Array(src.length * 2 + 4);
      addresses.set(src, 0);
      addresses.set(dst, src.length);
      const view = new DataView(addresses.buffer);
      view.setUint16(src.length * 2, source.port);
      view.setUint16(src.length * 2 + 2, destination.port);
    }
  }

  const tlvs: ProxyV2Tlv[] = [];
  if (header.sourceIdentity !== undefined) {
    tlvs.push({ type: PROXY_V2_TLV.sourceIdentity, value: utf8.encode(header.sourceIdentity) });
  }
  if (header.serviceHostname !== undefined) {
    tlvs.push({ type: PROXY_V2_TLV.serviceHostname, value: utf8.encode(header.serviceHostname) });
  }
  for (const tlv of header.tlvs ?? []) {
    if (!Number.isInteger(tlv.type) || tlv.type < 0 || tlv.type > 255) {
      throw new RangeError(`encodeProxyV2: TLV "type" must be an integer in 0..255, got ${tlv.type}`);
    }
    if (tlv.type === PROXY_V2_TLV.sourceIdentity || tlv.type === PROXY_V2_TLV.serviceHostname) {
      throw new RangeError(`encodeProxyV2: TLV 0x${tlv.type.toString(16)} is set through its own field`);
    }
    if (tlv.type === PROXY_V2_TLV.crc32c)
      throw new RangeError('encodeProxyV2: set "checksum" instead of a CRC32C TLV');
    tlvs.push(tlv);
  }
  if (header.checksum === true) tlvs.push({ type: PROXY_V2_TLV.crc32c, value: new Uint8Array(4) });

  let length = addresses.length;
  for (const tlv of tlvs) {
    if (tlv.value.length > 0xffff)
      throw new RangeError('encodeProxyV2: a TLV value is longer than 65535 bytes');
    length += 3 + tlv.value.length;
  }
  if (length > 0xffff)
    throw new RangeError(`encodeProxyV2: the header would be ${16 + length} bytes, over 65551`);

  const out = new Uint8Array(16 + length);
  const view = new DataView(out.buffer);
  out.set(PROXY_V2_SIGNATURE, 0);
  out[12] = header.command === 'proxy' ? 0x21 : 0x20;
  out[13] = familyByte;
  view.setUint16(14, length);
  out.set(addresses, 16);
  let offset = 16 + addresses.length;
  for (const tlv of tlvs) {
    out[offset] = tlv.type;
    view.setUint16(offset + 1, tlv.value.length);
    out.set(tlv.value, offset + 3);
    offset += 3 + tlv.value.length;
  }
  if (header.checksum === true) view.setUint32(out.length - 4, crc32c(out));
  return out;
}
