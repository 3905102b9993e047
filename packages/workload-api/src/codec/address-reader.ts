/**
 * A direct protobuf reader for `istio.workload.Address`, the message decoded a hundred thousand times in
 * an initial sync. It produces exactly the message objects `fromBinary(AddressSchema, bytes)` produces
 * (a property test holds the two equal) without protobuf-es's reflective `create()` per nested message,
 * tuple per tag and closure per message, which dominated decode time; bench/workload-api keeps the row
 * that justifies it ("decode Address: readAddress vs fromBinary"). It builds on protobuf-es's public
 * `BinaryReader` API only. Unknown fields are skipped; a known field with the wrong wire type is an
 * error, as prost (ztunnel's decoder) reports it; a `string` that is not valid UTF-8 is an error, as in
 * prost and protobuf-go (and `fromBinary` for proto3 files), so two distinct byte strings can never
 * decode to one uid. Singular message fields that repeat are merged, as the protobuf encoding requires
 * (https://protobuf.dev/programming-guides/encoding/#last-one-wins).
 * @module
 */
import { BinaryReader, WireType } from '@bufbuild/protobuf/wire';
import type { Any } from '@bufbuild/protobuf/wkt';
import type {
  Address,
  ApplicationTunnel,
  Extension,
  GatewayAddress,
  LoadBalancing,
  LoadBalancing_Scope,
  Locality,
  NamespacedHostname,
  NetworkAddress,
  Port,
  PortList,
  Service,
  WeightedWaypoint,
  Workload,
} from '../gen/workload_pb.js';
import { setOwnKey } from './own-key.js';

const LEN = WireType.LengthDelimited;
const VARINT = WireType.Varint;

/** protobuf-es's reader, keeping its own reference to the input so {@link tag} can inspect a byte. */
class Reader extends BinaryReader {
  readonly input: Uint8Array;
  constructor(input: Uint8Array) {
    super(input);
    this.input = input;
  }
}

/**
 * Reads a field tag as one number (`fieldNo << 3 | wireType`), with `BinaryReader.tag()`'s checks but
 * without allocating a tuple per field.
 */
function tag(r: Reader): number {
  const start = r.pos;
  const t = r.uint32();
  // A tag is at most 5 varint bytes and must fit in 32 bits (the 5th byte carries only 4 bits).
  const read = r.pos - start;
  if (read > 5 || (read === 5 && (r.input[r.pos - 1] as number) > 0x0f)) {
    throw new Error('illegal tag: varint overflows uint32');
  }
  if (t >>> 3 <= 0 || (t & 7) > 5) throw new Error(`illegal tag: field no ${t >>> 3} wire type ${t & 7}`);
  return t;
}

function want(t: number, wanted: WireType): void {
  if ((t & 7) !== wanted) throw new Error(`field ${t >>> 3}: wire type ${t & 7}, expected ${wanted}`);
}

function skip(r: Reader, t: number): void {
  r.skip((t & 7) as WireType, t >>> 3);
}

/** Reads a length prefix; returns where the nested message ends. */
function sub(r: Reader): number {
  const len = r.uint32();
  const end = r.pos + len;
  if (end > r.len) throw new Error('premature EOF');
  return end;
}

/** A message-typed field: checks its wire type, then reads its length prefix (see {@link sub}). */
function nested(r: Reader, t: number): number {
  want(t, LEN);
  return sub(r);
}

function done(r: Reader, end: number): void {
  if (r.pos !== end) throw new Error('message overruns its length');
}

function str(r: Reader, t: number): string {
  want(t, LEN);
  try {
    return r.string(true);
  } catch {
    throw new Error(`field ${t >>> 3}: invalid UTF-8 in a string field`);
  }
}

function u32(r: Reader, t: number): number {
  want(t, VARINT);
  return r.uint32();
}

// Enum values are open: any int32 is kept, as protobuf-es keeps it (validation rejects unknown ones).
function enm<E extends number>(r: Reader, t: number): E {
  want(t, VARINT);
  return r.int32() as E;
}

function bytes(r: Reader, t: number): Uint8Array {
  want(t, LEN);
  return r.bytes();
}

const newNetworkAddress = (): NetworkAddress => ({
  $typeName: 'istio.workload.NetworkAddress',
  network: '',
  address: new Uint8Array(0),
});
const newGateway = (): GatewayAddress => ({
  $typeName: 'istio.workload.GatewayAddress',
  destination: { case: undefined },
  hboneMtlsPort: 0,
});
const newPort = (): Port => ({
  $typeName: 'istio.workload.Port',
  servicePort: 0,
  targetPort: 0,
  appProtocol: 0,
});
const newPortList = (): PortList => ({ $typeName: 'istio.workload.PortList', ports: [] });

function readNetworkAddress(r: Reader, end: number, m: NetworkAddress): NetworkAddress {
  while (r.pos < end) {
    const t = tag(r);
    const no = t >>> 3;
    if (no === 1) m.network = str(r, t);
    else if (no === 2) m.address = bytes(r, t);
    else if (no === 3) m.length = u32(r, t);
    else skip(r, t);
  }
  done(r, end);
  return m;
}

function readNamespacedHostname(r: Reader, end: number, m: NamespacedHostname): NamespacedHostname {
  while (r.pos < end) {
    const t = tag(r);
    const no = t >>> 3;
    if (no === 1) m.namespace = str(r, t);
    else if (no === 2) m.hostname = str(r, t);
    else skip(r, t);
  }
  done(r, end);
  return m;
}

function readGateway(r: Reader, end: number, m: GatewayAddress): GatewayAddress {
  while (r.pos < end) {
    const t = tag(r);
    const no = t >>> 3;
    if (no === 1) {
      const prev: NamespacedHostname =
        m.destination.case === 'hostname'
          ? m.destination.value
          : { $typeName: 'istio.workload.NamespacedHostname', namespace: '', hostname: '' };
      m.destination = { case: 'hostname', value: readNamespacedHostname(r, nested(r, t), prev) };
    } else if (no === 2) {
      const prev = m.destination.case === 'address' ? m.destination.value : newNetworkAddress();
      m.destination = { case: 'address', value: readNetworkAddress(r, nested(r, t), prev) };
    } else if (no === 3) m.hboneMtlsPort = u32(r, t);
    else skip(r, t);
  }
  done(r, end);
  return m;
}

function readPort(r: Reader, end: number): Port {
  const m = newPort();
  while (r.pos < end) {
    const t = tag(r);
    const no = t >>> 3;
    if (no === 1) m.servicePort = u32(r, t);
    else if (no === 2) m.targetPort = u32(r, t);
    else if (no === 3) m.appProtocol = enm(r, t);
    else skip(r, t);
  }
  done(r, end);
  return m;
}

function readPortList(r: Reader, end: number, m: PortList): PortList {
  while (r.pos < end) {
    const t = tag(r);
    if (t >>> 3 === 1) {
      m.ports.push(readPort(r, nested(r, t)));
    } else skip(r, t);
  }
  done(r, end);
  return m;
}

function readAny(r: Reader, end: number, m: Any): Any {
  while (r.pos < end) {
    const t = tag(r);
    const no = t >>> 3;
    if (no === 1) m.typeUrl = str(r, t);
    else if (no === 2) m.value = bytes(r, t);
    else skip(r, t);
  }
  done(r, end);
  return m;
}

function readExtension(r: Reader, end: number): Extension {
  const m: Extension = { $typeName: 'istio.workload.Extension', name: '' };
  while (r.pos < end) {
    const t = tag(r);
    const no = t >>> 3;
    if (no === 1) m.name = str(r, t);
    else if (no === 2) {
      m.config = readAny(
        r,
        nested(r, t),
        m.config ?? { $typeName: 'google.protobuf.Any', typeUrl: '', value: new Uint8Array(0) },
      );
    } else skip(r, t);
  }
  done(r, end);
  return m;
}

function readLocality(r: Reader, end: number, m: Locality): Locality {
  while (r.pos < end) {
    const t = tag(r);
    const no = t >>> 3;
    if (no === 1) m.region = str(r, t);
    else if (no === 2) m.zone = str(r, t);
    else if (no === 3) m.subzone = str(r, t);
    else skip(r, t);
  }
  done(r, end);
  return m;
}

function readApplicationTunnel(r: Reader, end: number, m: ApplicationTunnel): ApplicationTunnel {
  while (r.pos < end) {
    const t = tag(r);
    const no = t >>> 3;
    if (no === 1) m.protocol = enm(r, t);
    else if (no === 2) m.port = u32(r, t);
    else skip(r, t);
  }
  done(r, end);
  return m;
}

/** A `map<string, PortList>` entry: key 1, value 2; a missing value is an empty PortList. */
function readServicesEntry(r: Reader, end: number, into: Workload['services']): void {
  let key = '';
  let value: PortList | undefined;
  while (r.pos < end) {
    const t = tag(r);
    const no = t >>> 3;
    if (no === 1) key = str(r, t);
    else if (no === 2) {
      value = readPortList(r, nested(r, t), value ?? newPortList());
    } else skip(r, t);
  }
  done(r, end);
  const list = value ?? newPortList();
  setOwnKey(into, key, list);
}

/** A `google.protobuf.UInt32Value`, which protobuf-es unboxes to its number. */
function readUInt32Value(r: Reader, end: number, value: number): number {
  let v = value;
  while (r.pos < end) {
    const t = tag(r);
    if (t >>> 3 === 1) v = u32(r, t);
    else skip(r, t);
  }
  done(r, end);
  return v;
}

function readWorkload(r: Reader, end: number, m: Workload): Workload {
  while (r.pos < end) {
    const t = tag(r);
    switch (t >>> 3) {
      case 20:
        m.uid = str(r, t);
        break;
      case 1:
        m.name = str(r, t);
        break;
      case 2:
        m.namespace = str(r, t);
        break;
      case 3:
        m.addresses.push(bytes(r, t));
        break;
      case 21:
        m.hostname = str(r, t);
        break;
      case 4:
        m.network = str(r, t);
        break;
      case 5:
        m.tunnelProtocol = enm(r, t);
        break;
      case 6:
        m.trustDomain = str(r, t);
        break;
      case 7:
        m.serviceAccount = str(r, t);
        break;
      case 8:
        m.waypoint = readGateway(r, nested(r, t), m.waypoint ?? newGateway());
        break;
      case 19:
        m.networkGateway = readGateway(r, nested(r, t), m.networkGateway ?? newGateway());
        break;
      case 9:
        m.node = str(r, t);
        break;
      case 10:
        m.canonicalName = str(r, t);
        break;
      case 11:
        m.canonicalRevision = str(r, t);
        break;
      case 12:
        m.workloadType = enm(r, t);
        break;
      case 13:
        m.workloadName = str(r, t);
        break;
      case 14:
        want(t, VARINT);
        m.nativeTunnel = r.bool();
        break;
      case 23:
        m.applicationTunnel = readApplicationTunnel(
          r,
          nested(r, t),
          m.applicationTunnel ?? { $typeName: 'istio.workload.ApplicationTunnel', protocol: 0, port: 0 },
        );
        break;
      case 22:
        readServicesEntry(r, nested(r, t), m.services);
        break;
      case 16:
        m.authorizationPolicies.push(str(r, t));
        break;
      case 17:
        m.status = enm(r, t);
        break;
      case 18:
        m.clusterId = str(r, t);
        break;
      case 24:
        m.locality = readLocality(
          r,
          nested(r, t),
          m.locality ?? { $typeName: 'istio.workload.Locality', region: '', zone: '', subzone: '' },
        );
        break;
      case 25:
        m.networkMode = enm(r, t);
        break;
      case 26:
        m.extensions.push(readExtension(r, nested(r, t)));
        break;
      case 27:
        m.capacity = readUInt32Value(r, nested(r, t), m.capacity ?? 0);
        break;
      default:
        skip(r, t);
    }
  }
  done(r, end);
  return m;
}

const newWorkload = (): Workload => ({
  $typeName: 'istio.workload.Workload',
  uid: '',
  name: '',
  namespace: '',
  addresses: [],
  hostname: '',
  network: '',
  tunnelProtocol: 0,
  trustDomain: '',
  serviceAccount: '',
  node: '',
  canonicalName: '',
  canonicalRevision: '',
  workloadType: 0,
  workloadName: '',
  nativeTunnel: false,
  services: {},
  authorizationPolicies: [],
  status: 0,
  clusterId: '',
  networkMode: 0,
  extensions: [],
});

function readLoadBalancing(r: Reader, end: number, m: LoadBalancing): LoadBalancing {
  while (r.pos < end) {
    const t = tag(r);
    const no = t >>> 3;
    if (no === 1) {
      if ((t & 7) === LEN) {
        // Packed repeated enum.
        const e = sub(r);
        while (r.pos < e) m.routingPreference.push(r.int32() as LoadBalancing_Scope);
        done(r, e);
      } else {
        m.routingPreference.push(enm(r, t));
      }
    } else if (no === 2) m.mode = enm(r, t);
    else if (no === 3) m.healthPolicy = enm(r, t);
    else skip(r, t);
  }
  done(r, end);
  return m;
}

function readWeightedWaypoint(r: Reader, end: number): WeightedWaypoint {
  const m: WeightedWaypoint = { $typeName: 'istio.workload.WeightedWaypoint', weight: 0 };
  while (r.pos < end) {
    const t = tag(r);
    const no = t >>> 3;
    if (no === 1) {
      m.destination = readGateway(r, nested(r, t), m.destination ?? newGateway());
    } else if (no === 2) m.weight = u32(r, t);
    else skip(r, t);
  }
  done(r, end);
  return m;
}

function readService(r: Reader, end: number, m: Service): Service {
  while (r.pos < end) {
    const t = tag(r);
    switch (t >>> 3) {
      case 1:
        m.name = str(r, t);
        break;
      case 2:
        m.namespace = str(r, t);
        break;
      case 3:
        m.hostname = str(r, t);
        break;
      case 4:
        m.addresses.push(readNetworkAddress(r, nested(r, t), newNetworkAddress()));
        break;
      case 5:
        m.ports.push(readPort(r, nested(r, t)));
        break;
      case 6:
        m.subjectAltNames.push(str(r, t));
        break;
      case 7:
        m.waypoint = readGateway(r, nested(r, t), m.waypoint ?? newGateway());
        break;
      case 8:
        m.loadBalancing = readLoadBalancing(
          r,
          nested(r, t),
          m.loadBalancing ?? {
            $typeName: 'istio.workload.LoadBalancing',
            routingPreference: [],
            mode: 0,
            healthPolicy: 0,
          },
        );
        break;
      case 9:
        m.ipFamilies = enm(r, t);
        break;
      case 10:
        m.extensions.push(readExtension(r, nested(r, t)));
        break;
      case 11:
        want(t, VARINT);
        m.canonical = r.bool();
        break;
      case 12:
        want(t, VARINT);
        m.ingressUseWaypoint = r.bool();
        break;
      case 13:
        m.weightedWaypoints.push(readWeightedWaypoint(r, nested(r, t)));
        break;
      case 14:
        m.visibility = enm(r, t);
        break;
      default:
        skip(r, t);
    }
  }
  done(r, end);
  return m;
}

const newService = (): Service => ({
  $typeName: 'istio.workload.Service',
  name: '',
  namespace: '',
  hostname: '',
  addresses: [],
  ports: [],
  subjectAltNames: [],
  ipFamilies: 0,
  extensions: [],
  canonical: false,
  ingressUseWaypoint: false,
  weightedWaypoints: [],
  visibility: 0,
});

/**
 * Reads an encoded `istio.workload.Address` into the same message object `fromBinary(AddressSchema)`
 * returns (without `$unknown`: unknown fields are skipped).
 *
 * @param input - The encoded message.
 * @returns The message.
 * @throws {Error} On malformed input (truncation, bad tags, wrong wire types, a string that is not
 *   valid UTF-8); `decodeAddress` turns that into `WORKLOAD_API_ERR_DECODE`. No size cap: use
 *   `decodeAddress` for untrusted input.
 * @example
 * ```ts
 * readAddress(bytes).type.case; // 'workload' | 'service' | undefined
 * ```
 */
export function readAddress(input: Uint8Array): Address {
  const r = new Reader(input);
  const m: Address = { $typeName: 'istio.workload.Address', type: { case: undefined } };
  while (r.pos < r.len) {
    const t = tag(r);
    const no = t >>> 3;
    if (no === 1) {
      const prev = m.type.case === 'workload' ? m.type.value : newWorkload();
      m.type = { case: 'workload', value: readWorkload(r, nested(r, t), prev) };
    } else if (no === 2) {
      const prev = m.type.case === 'service' ? m.type.value : newService();
      m.type = { case: 'service', value: readService(r, nested(r, t), prev) };
    } else skip(r, t);
  }
  done(r, r.len);
  return m;
}
