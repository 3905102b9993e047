/**
 * Decodes an encoded `istio.workload.Address` straight into the model: the path every resource of an
 * initial sync takes, a hundred thousand times. It reads the wire format once, with no protobuf message
 * objects in between, no text decoder for ASCII strings, no string at all for a value the context has
 * seen (`ModelParts.text`), and it shares repeated parts (identities, localities, port lists) between
 * models. It builds models through the same `workloadModel` / `serviceModel` as the message conversion.
 *
 * It answers for valid input it fully understands, and refuses input that is not well-formed protobuf
 * (truncation, a known field with the wrong wire type, a string that is not UTF-8), as prost, ztunnel's
 * decoder, refuses it. On anything else (a validation issue, a rare feature such as extensions or weighted
 * waypoints, a field repeated where the encoding would merge) it gives up, and `decodeAddress` takes the
 * plain path, protobuf-es `fromBinary` then `addressFromProto`, which also words every validation error.
 * Property tests hold the two equal wherever both accept (`decode.test.ts`); bench/workload-api keeps the
 * row that justifies this file ("decode Address to the model").
 * @module
 */
import { formatIp } from '@ambient-kit/ip';
import type { ModelParts } from './model-parts.js';
import { asciiAt } from './model-parts.js';
import {
  addPort,
  EMPTY,
  type GatewayAddress,
  type NetworkAddress,
  type NetworkCidr,
  type PortMapping,
} from './network.js';
import type { AddressResource } from './resource.js';
import {
  FAMILIES,
  type LoadBalancer,
  type LoadBalancerHealthPolicy,
  type LoadBalancerScope,
  MODES,
  SCOPES,
  type Service,
  serviceModel,
} from './service.js';
import {
  applicationTunnelModel,
  type Workload,
  type WorkloadFields,
  type WorkloadService,
  workloadKind,
  workloadModel,
} from './workload.js';

/** Thrown to give up; a plain object, so giving up captures no stack trace. */
const GIVE_UP: { readonly giveUp: true } = Object.freeze({ giveUp: true });
function giveUp(): never {
  throw GIVE_UP;
}

/** Input that is not well-formed protobuf: what is wrong with it. */
export class Malformed {
  readonly message: string;
  /** @param message - What is wrong. */
  constructor(message: string) {
    this.message = message;
  }
}
function malformed(message: string): never {
  throw new Malformed(message);
}

const VARINT = 0;
const I64 = 1;
const LEN = 2;
const I32 = 5;

const utf8 = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true });

/** A read position in one buffer. */
class Cursor {
  readonly buf: Uint8Array;
  pos: number;
  constructor(buf: Uint8Array, pos: number) {
    this.buf = buf;
    this.pos = pos;
  }
}

/**
 * A varint. Every field this decoder keeps is below 2^31; a larger value (a port out of range, a negative
 * enum) is left to the plain path.
 */
function varint(c: Cursor): number {
  const buf = c.buf;
  let pos = c.pos;
  let value = 0;
  for (let shift = 0; shift < 28; shift += 7) {
    const b = buf[pos++];
    if (b === undefined) malformed('premature EOF');
    value |= (b & 0x7f) << shift;
    if (b < 0x80) {
      c.pos = pos;
      return value;
    }
  }
  let b = buf[pos++];
  if (b === undefined) malformed('premature EOF');
  const big = b > 0x07;
  value = (value | ((b & 0x07) << 28)) >>> 0;
  // Up to ten bytes in all (a 64-bit varint).
  for (let i = 5; b >= 0x80; i++) {
    if (i === 10) malformed('varint longer than 10 bytes');
    b = buf[pos++];
    if (b === undefined) malformed('premature EOF');
  }
  c.pos = pos;
  if (big || value > 0x7fffffff) giveUp();
  return value;
}

/** The end of a length-delimited field that starts at the cursor, checked against its parent's end. */
function delimited(c: Cursor, end: number): number {
  const length = varint(c);
  const stop = c.pos + length;
  if (stop > end) malformed('premature EOF');
  return stop;
}

/** Skips an unknown field (groups give up: the plain path knows them). */
function skip(c: Cursor, wireType: number, end: number): void {
  if (wireType === VARINT) {
    for (let i = 0; ; i++) {
      if (i === 10) malformed('varint longer than 10 bytes');
      const b = c.buf[c.pos++];
      if (b === undefined) malformed('premature EOF');
      if (b < 0x80) break;
    }
  } else if (wireType === I64) c.pos += 8;
  else if (wireType === LEN) c.pos = delimited(c, end);
  else if (wireType === I32) c.pos += 4;
  else giveUp();
  if (c.pos > end) malformed('premature EOF');
}

/** A field tag; field number 0 is not one. */
function tag(c: Cursor): number {
  const t = varint(c);
  if (t >>> 3 === 0) malformed(`illegal tag: field no 0 wire type ${t & 7}`);
  return t;
}

/** A known field must come with its own wire type (prost refuses it otherwise). */
function expect(wireType: number, wanted: number): void {
  if (wireType !== wanted) malformed(`wire type ${wireType}, expected ${wanted}`);
}

function finish(c: Cursor, end: number): void {
  if (c.pos !== end) malformed('message overruns its length');
}

/** A `string` field: interned through the context when `shared`, decoded strictly when not ASCII. */
function text(
  c: Cursor,
  wireType: number,
  end: number,
  parts: ModelParts | undefined,
  shared: boolean,
): string {
  expect(wireType, LEN);
  const stop = delimited(c, end);
  const from = c.pos;
  const length = stop - from;
  c.pos = stop;
  if (length === 0) return '';
  const ascii =
    shared && parts !== undefined ? parts.text(c.buf, from, length) : asciiAt(c.buf, from, length);
  if (ascii !== undefined) return ascii;
  let decoded: string;
  try {
    decoded = utf8.decode(c.buf.subarray(from, stop));
  } catch {
    malformed('invalid UTF-8 in a string field');
  }
  return shared && parts !== undefined ? parts.intern(decoded) : decoded;
}

function word(buf: Uint8Array, at: number): number {
  return (
    (((buf[at] as number) << 24) |
      ((buf[at + 1] as number) << 16) |
      ((buf[at + 2] as number) << 8) |
      (buf[at + 3] as number)) >>>
    0
  );
}

/** A `bytes` address field as canonical IP text (4 or 16 bytes, as ztunnel's `byte_to_ip`). */
function ip(c: Cursor, wireType: number, end: number): string {
  expect(wireType, LEN);
  const stop = delimited(c, end);
  const at = c.pos;
  c.pos = stop;
  const buf = c.buf;
  if (stop - at === 4) return `${buf[at]}.${buf[at + 1]}.${buf[at + 2]}.${buf[at + 3]}`;
  if (stop - at !== 16) giveUp();
  return formatIp({
    v6: true,
    w0: word(buf, at),
    w1: word(buf, at + 4),
    w2: word(buf, at + 8),
    w3: word(buf, at + 12),
  });
}

function u32(c: Cursor, wireType: number): number {
  expect(wireType, VARINT);
  return varint(c);
}

function port(c: Cursor, wireType: number): number {
  const value = u32(c, wireType);
  if (value > 65535) giveUp();
  return value;
}

function bool(c: Cursor, wireType: number): boolean {
  return u32(c, wireType) !== 0;
}

/** Reads one `Port` message into the list being built. */
function readPort(c: Cursor, end: number, out: PortMapping[], parts: ModelParts | undefined): void {
  let servicePort = 0;
  let targetPort = 0;
  let appProtocol = 0;
  while (c.pos < end) {
    const t = tag(c);
    const no = t >>> 3;
    if (no === 1) servicePort = port(c, t & 7);
    else if (no === 2) targetPort = port(c, t & 7);
    else if (no === 3) appProtocol = u32(c, t & 7);
    else skip(c, t & 7, end);
  }
  finish(c, end);
  addPort(out, servicePort, targetPort, appProtocol, parts);
}

function freeze<T>(list: T[]): readonly T[] {
  // Exact length: a list grown by push keeps spare capacity, and a model lives as long as the mesh.
  return list.length === 0 ? EMPTY : list.slice();
}

/** `GatewayAddress`: exactly one destination, given once. */
function readGateway(c: Cursor, end: number, parts: ModelParts | undefined): GatewayAddress {
  let destination: GatewayAddress['destination'] | undefined;
  let hboneMtlsPort = 0;
  while (c.pos < end) {
    const t = tag(c);
    const no = t >>> 3;
    if (no === 1 || no === 2) {
      expect(t & 7, LEN);
      if (destination !== undefined) giveUp();
      const stop = delimited(c, end);
      if (no === 1) {
        let namespace = '';
        let hostname = '';
        while (c.pos < stop) {
          const u = tag(c);
          if (u >>> 3 === 1) namespace = text(c, u & 7, stop, parts, true);
          else if (u >>> 3 === 2) hostname = text(c, u & 7, stop, parts, true);
          else skip(c, u & 7, stop);
        }
        destination = { kind: 'hostname', namespace, hostname };
      } else {
        const a = readNetworkAddress(c, stop, parts);
        if (a.address === undefined) giveUp();
        destination = { kind: 'address', network: a.network, address: a.address };
      }
      finish(c, stop);
    } else if (no === 3) hboneMtlsPort = port(c, t & 7);
    else skip(c, t & 7, end);
  }
  finish(c, end);
  if (destination === undefined) giveUp();
  return { destination, hboneMtlsPort };
}

/** `NetworkAddress`: network, address (required here), and the optional prefix length. */
function readNetworkAddress(
  c: Cursor,
  end: number,
  parts: ModelParts | undefined,
): { network: string; address: string | undefined; length: number | undefined } {
  let network = '';
  let address: string | undefined;
  let length: number | undefined;
  while (c.pos < end) {
    const t = tag(c);
    const no = t >>> 3;
    if (no === 1) network = text(c, t & 7, end, parts, true);
    else if (no === 2) address = ip(c, t & 7, end);
    else if (no === 3) length = u32(c, t & 7);
    else skip(c, t & 7, end);
  }
  return { network, address, length };
}

/** One `services` map entry: a `namespace/hostname` key and a `PortList`, each given once. */
function readServiceEntry(c: Cursor, end: number, parts: ModelParts | undefined): WorkloadService {
  let key: string | undefined;
  let ports: PortMapping[] | undefined;
  while (c.pos < end) {
    const t = tag(c);
    const no = t >>> 3;
    if (no === 1) {
      if (key !== undefined) giveUp();
      key = text(c, t & 7, end, parts, true);
    } else if (no === 2) {
      expect(t & 7, LEN);
      if (ports !== undefined) giveUp();
      const stop = delimited(c, end);
      ports = [];
      while (c.pos < stop) {
        const u = tag(c);
        if (u >>> 3 === 1) {
          expect(u & 7, LEN);
          readPort(c, delimited(c, stop), ports, parts);
        } else skip(c, u & 7, stop);
      }
      finish(c, stop);
    } else skip(c, t & 7, end);
  }
  finish(c, end);
  const slash = key === undefined ? -1 : key.indexOf('/');
  if (key === undefined || slash < 0) giveUp();
  const list = ports === undefined ? EMPTY : freeze(ports);
  if (parts !== undefined) return parts.service(key, list);
  return { key, namespace: key.slice(0, slash), hostname: key.slice(slash + 1), ports: list };
}

/** A message-typed field that may appear once (a repeat would merge: the plain path does that). */
function once(seen: number, bit: number): number {
  if ((seen & bit) !== 0) giveUp();
  return seen | bit;
}

function readWorkload(c: Cursor, end: number, parts: ModelParts | undefined): Workload {
  const f: WorkloadFields = {
    uid: '',
    name: '',
    namespace: '',
    hostname: '',
    network: '',
    trustDomain: '',
    serviceAccount: '',
    clusterId: '',
    node: '',
    canonicalName: '',
    canonicalRevision: '',
    workloadName: '',
    workloadIps: EMPTY,
    protocol: 'TCP',
    networkMode: 'Standard',
    status: 'Healthy',
    workloadType: 'deployment',
    nativeTunnel: false,
    waypoint: undefined,
    networkGateway: undefined,
    applicationTunnel: undefined,
    services: EMPTY,
    authorizationPolicies: EMPTY,
    region: '',
    zone: '',
    subzone: '',
    capacity: undefined,
    extensions: EMPTY,
  };
  // Most workloads have one or two addresses and back one service: those are held in locals and the
  // lists made at their exact length at the end, with no list grown (and copied) on the way.
  let ipCount = 0;
  let ip0 = '';
  let ip1 = '';
  let ips: string[] | undefined;
  let service0: WorkloadService | undefined;
  let services: WorkloadService[] | undefined;
  let policies: string[] | undefined;
  let seen = 0;
  while (c.pos < end) {
    const t = tag(c);
    const w = t & 7;
    switch (t >>> 3) {
      case 20:
        f.uid = text(c, w, end, parts, false);
        break;
      case 1:
        f.name = text(c, w, end, parts, false);
        break;
      case 2:
        f.namespace = text(c, w, end, parts, true);
        break;
      case 3:
        {
          const address = ip(c, w, end);
          if (ipCount === 0) ip0 = address;
          else if (ipCount === 1) ip1 = address;
          else if (ipCount === 2) ips = [ip0, ip1, address];
          else ips?.push(address);
          ipCount++;
        }
        break;
      case 21:
        f.hostname = text(c, w, end, parts, false);
        break;
      case 4:
        f.network = text(c, w, end, parts, true);
        break;
      case 5: {
        const v = u32(c, w);
        // NONE and HBONE only: LEGACY_ISTIO_MTLS and unknown values are rejected by the plain path.
        if (v > 1) giveUp();
        f.protocol = v === 1 ? 'HBONE' : 'TCP';
        break;
      }
      case 6:
        f.trustDomain = text(c, w, end, parts, true);
        break;
      case 7:
        f.serviceAccount = text(c, w, end, parts, true);
        break;
      case 8:
        expect(w, LEN);
        seen = once(seen, 1);
        f.waypoint = readGateway(c, delimited(c, end), parts);
        break;
      case 19:
        expect(w, LEN);
        seen = once(seen, 2);
        f.networkGateway = readGateway(c, delimited(c, end), parts);
        break;
      case 9:
        f.node = text(c, w, end, parts, true);
        break;
      case 10:
        f.canonicalName = text(c, w, end, parts, true);
        break;
      case 11:
        f.canonicalRevision = text(c, w, end, parts, true);
        break;
      case 12:
        f.workloadType = workloadKind(u32(c, w));
        break;
      case 13:
        f.workloadName = text(c, w, end, parts, true);
        break;
      case 14:
        f.nativeTunnel = bool(c, w);
        break;
      case 23: {
        expect(w, LEN);
        seen = once(seen, 4);
        const stop = delimited(c, end);
        let protocol = 0;
        let tunnelPort = 0;
        while (c.pos < stop) {
          const u = tag(c);
          if (u >>> 3 === 1) protocol = u32(c, u & 7);
          else if (u >>> 3 === 2) tunnelPort = port(c, u & 7);
          else skip(c, u & 7, stop);
        }
        finish(c, stop);
        if (protocol > 1) giveUp();
        f.applicationTunnel = applicationTunnelModel(protocol === 1, tunnelPort);
        break;
      }
      case 22: {
        expect(w, LEN);
        const entry = readServiceEntry(c, delimited(c, end), parts);
        // A repeated key would replace the earlier entry in place: the plain path does that.
        if (service0 === undefined) service0 = entry;
        else {
          services ??= [service0];
          for (const other of services) if (other.key === entry.key) giveUp();
          services.push(entry);
        }
        break;
      }
      case 16:
        policies ??= [];
        policies.push(text(c, w, end, parts, true));
        break;
      case 17: {
        const v = u32(c, w);
        if (v > 1) giveUp();
        f.status = v === 1 ? 'Unhealthy' : 'Healthy';
        break;
      }
      case 18:
        f.clusterId = text(c, w, end, parts, true);
        break;
      case 24: {
        expect(w, LEN);
        seen = once(seen, 8);
        const stop = delimited(c, end);
        while (c.pos < stop) {
          const u = tag(c);
          const n = u >>> 3;
          if (n === 1) f.region = text(c, u & 7, stop, parts, true);
          else if (n === 2) f.zone = text(c, u & 7, stop, parts, true);
          else if (n === 3) f.subzone = text(c, u & 7, stop, parts, true);
          else skip(c, u & 7, stop);
        }
        finish(c, stop);
        break;
      }
      case 25: {
        const v = u32(c, w);
        if (v > 1) giveUp();
        f.networkMode = v === 1 ? 'HostNetwork' : 'Standard';
        break;
      }
      case 27: {
        expect(w, LEN);
        seen = once(seen, 16);
        const stop = delimited(c, end);
        let capacity = 0;
        while (c.pos < stop) {
          const u = tag(c);
          if (u >>> 3 === 1) capacity = u32(c, u & 7);
          else skip(c, u & 7, stop);
        }
        finish(c, stop);
        f.capacity = capacity;
        break;
      }
      case 26:
        // Extensions are rare and opaque: the plain path keeps them.
        giveUp();
        break;
      default:
        skip(c, w, end);
    }
  }
  finish(c, end);
  if (f.uid === '') giveUp();
  if (ipCount > 0) f.workloadIps = ipCount === 1 ? [ip0] : ipCount === 2 ? [ip0, ip1] : freeze(ips ?? []);
  if (service0 !== undefined) f.services = services === undefined ? [service0] : freeze(services);
  if (policies !== undefined) f.authorizationPolicies = freeze(policies);
  return workloadModel(f, parts);
}

function readLoadBalancing(c: Cursor, end: number): LoadBalancer {
  const routingPreferences: LoadBalancerScope[] = [];
  let mode = MODES[0];
  let healthPolicy: LoadBalancerHealthPolicy = 'OnlyHealthy';
  const scope = (value: number): void => {
    const s = SCOPES[value];
    if (s === undefined) giveUp();
    routingPreferences.push(s);
  };
  while (c.pos < end) {
    const t = tag(c);
    const no = t >>> 3;
    if (no === 1) {
      if ((t & 7) === LEN) {
        // Packed, as proto3 writes repeated enums.
        const stop = delimited(c, end);
        while (c.pos < stop) scope(varint(c));
        finish(c, stop);
      } else scope(u32(c, t & 7));
    } else if (no === 2) {
      mode = MODES[u32(c, t & 7)];
      if (mode === undefined) giveUp();
    } else if (no === 3) {
      const v = u32(c, t & 7);
      if (v > 1) giveUp();
      healthPolicy = v === 1 ? 'AllowAll' : 'OnlyHealthy';
    } else skip(c, t & 7, end);
  }
  finish(c, end);
  return { routingPreferences: freeze(routingPreferences), mode: mode ?? 'Standard', healthPolicy };
}

function readService(c: Cursor, end: number, parts: ModelParts | undefined): Service {
  let name = '';
  let namespace = '';
  let hostname = '';
  let vips: NetworkAddress[] | undefined;
  let cidrVips: NetworkCidr[] | undefined;
  const ports: PortMapping[] = [];
  let sans: string[] | undefined;
  let waypoint: GatewayAddress | undefined;
  let loadBalancer: LoadBalancer | undefined;
  let family = FAMILIES[0];
  let canonical = false;
  let ingressUseWaypoint = false;
  let visibility = 0;
  let seen = 0;
  while (c.pos < end) {
    const t = tag(c);
    const w = t & 7;
    switch (t >>> 3) {
      case 1:
        name = text(c, w, end, parts, true);
        break;
      case 2:
        namespace = text(c, w, end, parts, true);
        break;
      case 3:
        hostname = text(c, w, end, parts, true);
        break;
      case 4: {
        expect(w, LEN);
        const stop = delimited(c, end);
        const a = readNetworkAddress(c, stop, parts);
        finish(c, stop);
        if (a.address === undefined) giveUp();
        const max = a.address.includes(':') ? 128 : 32;
        if (a.length === undefined || a.length === max) {
          vips ??= [];
          vips.push({ network: a.network, address: a.address });
        } else if (a.length > max) giveUp();
        else {
          cidrVips ??= [];
          cidrVips.push({ network: a.network, address: a.address, length: a.length });
        }
        break;
      }
      case 5:
        expect(w, LEN);
        readPort(c, delimited(c, end), ports, parts);
        break;
      case 6:
        sans ??= [];
        sans.push(text(c, w, end, parts, true));
        break;
      case 7:
        expect(w, LEN);
        seen = once(seen, 1);
        waypoint = readGateway(c, delimited(c, end), parts);
        break;
      case 8:
        expect(w, LEN);
        seen = once(seen, 2);
        loadBalancer = readLoadBalancing(c, delimited(c, end));
        break;
      case 9:
        family = FAMILIES[u32(c, w)];
        if (family === undefined) giveUp();
        break;
      case 11:
        canonical = bool(c, w);
        break;
      case 12:
        ingressUseWaypoint = bool(c, w);
        break;
      case 14:
        visibility = u32(c, w);
        break;
      case 10:
      case 13:
        // Extensions and weighted waypoints are rare: the plain path converts them.
        giveUp();
        break;
      default:
        skip(c, w, end);
    }
  }
  finish(c, end);
  if (hostname === '') giveUp();
  return serviceModel({
    name,
    namespace,
    hostname,
    vips: vips === undefined ? EMPTY : freeze(vips),
    cidrVips: cidrVips === undefined ? EMPTY : freeze(cidrVips),
    ports: freeze(ports),
    subjectAltNames: sans === undefined ? EMPTY : freeze(sans),
    waypoint,
    weightedWaypoints: EMPTY,
    loadBalancer,
    ipFamilies: family ?? undefined,
    canonical,
    ingressUseWaypoint,
    // Unknown values fall back to PUBLIC (istio/ztunnel@62d82653:src/state/service.rs:426-429).
    visibility: visibility === 1 ? 'Namespace' : 'Public',
    extensions: EMPTY,
  });
}

/**
 * Decodes `buf[start, end)` as an `istio.workload.Address` into its model, refuses it, or gives up.
 *
 * @param buf - The buffer holding the message.
 * @param start - Where the message starts.
 * @param end - Where it ends.
 * @param parts - The decoding context's shared parts (none: nothing is shared or interned).
 * @returns The model; a {@link Malformed} when the bytes are not well-formed protobuf; or `undefined`
 *   when the input needs the plain path (a validation issue, a rare feature).
 * @example
 * ```ts
 * const model = decodeAddressModel(bytes, 0, bytes.length, modelParts(intern)) ?? plainDecode(bytes);
 * ```
 */
export function decodeAddressModel(
  buf: Uint8Array,
  start: number,
  end: number,
  parts: ModelParts | undefined,
): AddressResource | Malformed | undefined {
  const c = new Cursor(buf, start);
  let model: AddressResource | undefined;
  try {
    while (c.pos < end) {
      const t = tag(c);
      const no = t >>> 3;
      if (no === 1 || no === 2) {
        expect(t & 7, LEN);
        // The oneof given twice (or both members) merges or replaces: the plain path does that.
        if (model !== undefined) giveUp();
        const stop = delimited(c, end);
        model = no === 1 ? readWorkload(c, stop, parts) : readService(c, stop, parts);
      } else skip(c, t & 7, end);
    }
    finish(c, end);
  } catch (e) {
    if (e === GIVE_UP) return undefined;
    if (e instanceof Malformed) return e;
    throw e;
  }
  return model;
}
