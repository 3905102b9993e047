/**
 * Encodes a workload or service model as an `istio.workload.Address` directly, byte for byte what
 * protobuf-es `toBinary(AddressSchema, ...)` writes for `workloadToProto` / `serviceToProto` (fields in
 * number order, proto3 defaults left out, map entries with both key and value, wrappers as messages). A
 * control plane encodes every resource when it changes, a hundred thousand at start: this skips building
 * the message objects and protobuf-es's reflective writer. A property test holds the bytes equal on random
 * models (`decode.test.ts`); bench/workload-api keeps the row that justifies this file ("encode Address").
 * @module
 */
import { type IpAddress, parseIp } from '@ambient-kit/ip';
import type { ExtensionConfig, GatewayAddress, PortMapping } from './network.js';
import { setOwnKey } from './own-key.js';
import { LEN, VARINT, Writer } from './proto-writer.js';
import type { AddressResource } from './resource.js';
import type { Service } from './service.js';
import type { Workload } from './workload.js';
import { WORKLOAD_DEFAULTS } from './workload.js';

const APP_PROTOCOL: Readonly<Record<PortMapping['appProtocol'], number>> = {
  UNKNOWN: 0,
  HTTP11: 1,
  HTTP2: 2,
  GRPC: 3,
  TCP: 4,
  TLS: 5,
};
const WORKLOAD_TYPE: Readonly<Record<Workload['workloadType'], number>> = {
  deployment: 0,
  cronjob: 1,
  pod: 2,
  job: 3,
};
const SCOPE: Readonly<Record<string, number>> = {
  Region: 1,
  Zone: 2,
  Subzone: 3,
  Node: 4,
  Cluster: 5,
  Network: 6,
};
const MODE: Readonly<Record<string, number>> = { Standard: 0, Strict: 1, Failover: 2, Passthrough: 3 };
const FAMILY: Readonly<Record<string, number>> = { IPv4: 1, IPv6: 2, Dual: 3 };

function word(w: Writer, value: number): void {
  w.buf[w.pos++] = value >>> 24;
  w.buf[w.pos++] = (value >>> 16) & 0xff;
  w.buf[w.pos++] = (value >>> 8) & 0xff;
  w.buf[w.pos++] = value & 0xff;
}

/** The bytes of IP text, as `ipToBytes`; nothing for text that is not an address (`always` then writes an empty field). */
function ip(w: Writer, no: number, text: string, always: boolean): void {
  const a: IpAddress | undefined = parseIp(text);
  if (a === undefined) {
    if (always) {
      w.tag(no, LEN);
      w.varint(0);
    }
    return;
  }
  w.tag(no, LEN);
  w.varint(a.v6 ? 16 : 4);
  w.reserve(16);
  word(w, a.w0);
  if (!a.v6) return;
  word(w, a.w1);
  word(w, a.w2);
  word(w, a.w3);
}

function ports(w: Writer, no: number, list: readonly PortMapping[]): void {
  for (const p of list) {
    const start = w.begin(no);
    w.uint(1, p.servicePort);
    w.uint(2, p.targetPort);
    w.uint(3, APP_PROTOCOL[p.appProtocol] ?? 0);
    w.end(start);
  }
}

function gateway(w: Writer, no: number, g: GatewayAddress): void {
  const start = w.begin(no);
  const d = g.destination;
  if (d.kind === 'hostname') {
    const at = w.begin(1);
    w.string(1, d.namespace);
    w.string(2, d.hostname);
    w.end(at);
  } else {
    const at = w.begin(2);
    w.string(1, d.network);
    ip(w, 2, d.address, false);
    w.end(at);
  }
  w.uint(3, g.hboneMtlsPort);
  w.end(start);
}

function extensions(w: Writer, no: number, list: readonly ExtensionConfig[]): void {
  for (const e of list) {
    const start = w.begin(no);
    w.string(1, e.name);
    if (e.config !== undefined) {
      const at = w.begin(2);
      w.string(1, e.config.typeUrl);
      if (e.config.value.length > 0) w.bytes(2, e.config.value);
      w.end(at);
    }
    w.end(start);
  }
}

function serviceEntry(w: Writer, key: string, list: readonly PortMapping[]): void {
  const entry = w.begin(22);
  w.string(1, key, true);
  const value = w.begin(2);
  ports(w, 1, list);
  w.end(value);
  w.end(entry);
}

function workload(w: Writer, m: Workload): void {
  w.string(1, m.name);
  w.string(2, m.namespace);
  for (const a of m.workloadIps) ip(w, 3, a, true);
  w.string(4, m.network);
  w.uint(5, m.protocol === 'HBONE' ? 1 : 0);
  w.string(6, m.trustDomain === WORKLOAD_DEFAULTS.trustDomain ? '' : m.trustDomain);
  w.string(7, m.serviceAccount === WORKLOAD_DEFAULTS.serviceAccount ? '' : m.serviceAccount);
  if (m.waypoint !== undefined) gateway(w, 8, m.waypoint);
  w.string(9, m.node);
  w.string(10, m.canonicalName);
  w.string(11, m.canonicalRevision);
  w.uint(12, WORKLOAD_TYPE[m.workloadType] ?? 0);
  w.string(13, m.workloadName);
  w.bool(14, m.nativeTunnel);
  for (const p of m.authorizationPolicies) w.string(16, p, true);
  w.uint(17, m.status === 'Unhealthy' ? 1 : 0);
  w.string(18, m.clusterId);
  if (m.networkGateway !== undefined) gateway(w, 19, m.networkGateway);
  w.string(20, m.uid);
  w.string(21, m.hostname);
  if (m.services.length === 1) {
    const s = m.services[0] as Workload['services'][number];
    serviceEntry(w, s.key, s.ports);
  } else if (m.services.length > 1) {
    // The map in the order of an object's keys, as the message holds it: integer-like keys first, then
    // insertion order, a later duplicate key replacing the value in place.
    const map: Record<string, readonly PortMapping[]> = {};
    for (const s of m.services) setOwnKey(map, s.key, s.ports);
    for (const key of Object.keys(map)) serviceEntry(w, key, map[key] as readonly PortMapping[]);
  }
  if (m.applicationTunnel !== undefined) {
    const at = w.begin(23);
    w.uint(1, m.applicationTunnel.protocol === 'PROXY' ? 1 : 0);
    w.uint(2, m.applicationTunnel.port ?? 0);
    w.end(at);
  }
  const loc = m.locality;
  if (loc.region !== '' || loc.zone !== '' || loc.subzone !== '') {
    const at = w.begin(24);
    w.string(1, loc.region);
    w.string(2, loc.zone);
    w.string(3, loc.subzone);
    w.end(at);
  }
  w.uint(25, m.networkMode === 'HostNetwork' ? 1 : 0);
  extensions(w, 26, m.extensions);
  if (m.capacity !== WORKLOAD_DEFAULTS.capacity) {
    // google.protobuf.UInt32Value: a message, empty for 0.
    const at = w.begin(27);
    w.uint(1, m.capacity);
    w.end(at);
  }
}

function service(w: Writer, m: Service): void {
  w.string(1, m.name);
  w.string(2, m.namespace);
  w.string(3, m.hostname);
  for (const v of m.vips) {
    const at = w.begin(4);
    w.string(1, v.network);
    ip(w, 2, v.address, false);
    w.end(at);
  }
  for (const c of m.cidrVips) {
    const at = w.begin(4);
    w.string(1, c.network);
    ip(w, 2, c.address, false);
    // `optional uint32 length`: written when set, 0 included.
    w.tag(3, VARINT);
    w.varint(c.length);
    w.end(at);
  }
  ports(w, 5, m.ports);
  for (const san of m.subjectAltNames) w.string(6, san, true);
  if (m.waypoint !== undefined) gateway(w, 7, m.waypoint);
  const lb = m.loadBalancer;
  if (lb !== undefined) {
    const at = w.begin(8);
    if (lb.routingPreferences.length > 0) {
      const packed = w.begin(1);
      for (const r of lb.routingPreferences) w.varint(SCOPE[r] ?? 0);
      w.end(packed);
    }
    w.uint(2, MODE[lb.mode] ?? 0);
    w.uint(3, lb.healthPolicy === 'AllowAll' ? 1 : 0);
    w.end(at);
  }
  w.uint(9, m.ipFamilies === undefined ? 0 : (FAMILY[m.ipFamilies] ?? 0));
  extensions(w, 10, m.extensions);
  w.bool(11, m.canonical);
  w.bool(12, m.ingressUseWaypoint);
  for (const ww of m.weightedWaypoints) {
    const at = w.begin(13);
    gateway(w, 1, ww.destination);
    w.uint(2, ww.weight);
    w.end(at);
  }
  w.uint(14, m.visibility === 'Namespace' ? 1 : 0);
}

// One writer for every call: encoding is synchronous and calls nothing outside this module.
const shared = new Writer();

/**
 * Encodes a workload or service as an `istio.workload.Address` into a buffer this module reuses: a view
 * valid until the next call. For a caller that copies the bytes on at once (the xDS server writes them
 * into a `Resource` envelope), which spares a copy per resource.
 *
 * @param resource - The model.
 * @returns A view of the encoded message.
 * @example
 * ```ts
 * const view = writeAddressView(service);
 * const bytes = view.slice(); // what encodeAddress(service) returns
 * ```
 */
export function writeAddressView(resource: AddressResource): Uint8Array {
  const w = shared;
  w.pos = 0;
  if (resource.kind === 'workload') {
    const at = w.begin(1);
    workload(w, resource);
    w.end(at);
  } else {
    const at = w.begin(2);
    service(w, resource);
    w.end(at);
  }
  return w.buf.subarray(0, w.pos);
}

/**
 * Encodes a workload or service as an `istio.workload.Address`.
 *
 * @param resource - The model.
 * @returns The encoded message (a fresh array).
 * @example
 * ```ts
 * writeAddressResource(createWorkload({ uid: 'u' })); // what toBinary(AddressSchema, ...) gives
 * ```
 */
export function writeAddressResource(resource: AddressResource): Uint8Array {
  return writeAddressView(resource).slice();
}
