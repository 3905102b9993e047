/**
 * Parts that many models share, kept once per decoding context. An initial sync brings a hundred thousand
 * workloads whose namespaces, service accounts, nodes, localities, identities and per-service port lists
 * repeat: ztunnel shares such values (its `Strng`, `Arc`s), and so do we, since models are immutable. The
 * parts of one context hang off its interner (`createInterner()`), so decoding with the same interner
 * shares them; each table is bounded, and a table that fills up starts over, as the interner does.
 * @module
 */

import type { AppProtocolName, PortMapping } from './network.js';
import type { Locality, WorkloadService } from './workload.js';

/** Entries a table holds before it starts over, as `createInterner`'s default. */
const MAX_ENTRIES = 65_536;
/** Slots of the byte-keyed string cache (a power of two). */
const BYTE_SLOTS = 1 << 17;

/**
 * The first `length` bytes at `start` as text, or `undefined` when they are not all ASCII (then the caller
 * decodes UTF-8 strictly). The same code-unit array trick protobuf-es's `BinaryReader.string` uses for
 * short ASCII strings.
 *
 * @example
 * ```ts
 * asciiAt(new Uint8Array([104, 105]), 0, 2); // 'hi'
 * ```
 */
export function asciiAt(buf: Uint8Array, start: number, length: number): string | undefined {
  const codes = new Array<number>(length);
  for (let i = 0; i < length; i++) {
    const b = buf[start + i] as number;
    if (b > 0x7f) return undefined;
    codes[i] = b;
  }
  return String.fromCharCode.apply(String, codes);
}

/** Shared parts of one decoding context; see the module comment. */
export interface ModelParts {
  /** The context's interner. */
  intern(value: string): string;
  /**
   * The interned string for ASCII bytes, looked up by the bytes themselves: a repeated value costs no
   * string at all. `undefined` when the bytes are not ASCII.
   */
  text(buf: Uint8Array, start: number, length: number): string | undefined;
  /** `spiffe://<td>/ns/<ns>/sa/<sa>`, one string per identity. */
  identity(trustDomain: string, namespace: string, serviceAccount: string): string;
  /** One frozen-shape locality per distinct value. */
  locality(region: string, zone: string, subzone: string): Locality;
  /** One port mapping object per distinct (service port, target port, protocol). */
  port(servicePort: number, targetPort: number, appProtocol: AppProtocolName): PortMapping;
  /**
   * The entry of a workload's `services` for the key (`namespace/hostname`, already checked to contain a
   * `/`) and port list: the one the last workload backing that service with the same ports got.
   */
  service(key: string, ports: readonly PortMapping[]): WorkloadService;
  /** The `services` list of a workload backing exactly one service: one list per entry. */
  services(fresh: readonly WorkloadService[]): readonly WorkloadService[];
}

function samePorts(a: readonly PortMapping[], b: readonly PortMapping[]): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

class Parts implements ModelParts {
  readonly intern: (value: string) => string;
  private readonly hashes = new Int32Array(BYTE_SLOTS);
  private readonly strings = new Array<string | undefined>(BYTE_SLOTS);
  private identities = new Map<string, Map<string, { trustDomain: string; identity: string }>>();
  private identityCount = 0;
  private localities = new Map<string, Locality>();
  private ports = new Map<number, PortMapping>();
  private serviceEntries = new Map<string, WorkloadService>();
  private serviceLists = new Map<WorkloadService, readonly WorkloadService[]>();

  constructor(intern: (value: string) => string) {
    this.intern = intern;
  }

  text(buf: Uint8Array, start: number, length: number): string | undefined {
    // FNV-1a over the bytes picks a slot; a slot holds the last string that hashed there.
    let h = 0x811c9dc5 | 0;
    for (let i = start; i < start + length; i++) h = Math.imul(h ^ (buf[i] as number), 0x01000193);
    const slot = h & (BYTE_SLOTS - 1);
    const cached = this.strings[slot];
    if (cached !== undefined && this.hashes[slot] === h && cached.length === length) {
      let same = true;
      for (let i = 0; i < length; i++) {
        if (cached.charCodeAt(i) !== buf[start + i]) {
          same = false;
          break;
        }
      }
      if (same) return cached;
    }
    const decoded = asciiAt(buf, start, length);
    if (decoded === undefined) return undefined;
    const value = this.intern(decoded);
    this.hashes[slot] = h;
    this.strings[slot] = value;
    return value;
  }

  identity(trustDomain: string, namespace: string, serviceAccount: string): string {
    let accounts = this.identities.get(namespace);
    const hit = accounts?.get(serviceAccount);
    if (hit !== undefined && hit.trustDomain === trustDomain) return hit.identity;
    if (this.identityCount >= MAX_ENTRIES) {
      this.identities = new Map();
      this.identityCount = 0;
      accounts = undefined;
    }
    if (accounts === undefined) {
      accounts = new Map();
      this.identities.set(namespace, accounts);
    }
    // Interning flattens the concatenation into one string, which is what stays in memory.
    const identity = this.intern(`spiffe://${trustDomain}/ns/${namespace}/sa/${serviceAccount}`);
    if (hit === undefined) this.identityCount++;
    accounts.set(serviceAccount, { trustDomain, identity });
    return identity;
  }

  locality(region: string, zone: string, subzone: string): Locality {
    const hit = this.localities.get(zone);
    if (hit !== undefined && hit.region === region && hit.subzone === subzone) return hit;
    if (this.localities.size >= MAX_ENTRIES) this.localities = new Map();
    const fresh: Locality = { region, zone, subzone };
    this.localities.set(zone, fresh);
    return fresh;
  }

  port(servicePort: number, targetPort: number, appProtocol: AppProtocolName): PortMapping {
    // Exact in a double: ports < 2^16, protocol index < 8.
    const key = servicePort * 0x10000 + targetPort + APP_PROTOCOL_KEY[appProtocol] * 0x100000000;
    const hit = this.ports.get(key);
    if (hit !== undefined) return hit;
    if (this.ports.size >= MAX_ENTRIES) this.ports = new Map();
    const fresh: PortMapping = { servicePort, targetPort, appProtocol };
    this.ports.set(key, fresh);
    return fresh;
  }

  service(key: string, ports: readonly PortMapping[]): WorkloadService {
    const hit = this.serviceEntries.get(key);
    if (hit !== undefined && samePorts(hit.ports, ports)) return hit;
    if (this.serviceEntries.size >= MAX_ENTRIES) this.serviceEntries = new Map();
    const slash = key.indexOf('/');
    const fresh: WorkloadService = {
      key,
      namespace: this.intern(key.slice(0, slash)),
      hostname: this.intern(key.slice(slash + 1)),
      ports,
    };
    this.serviceEntries.set(key, fresh);
    return fresh;
  }

  services(fresh: readonly WorkloadService[]): readonly WorkloadService[] {
    if (fresh.length !== 1) return fresh;
    const entry = fresh[0] as WorkloadService;
    const hit = this.serviceLists.get(entry);
    if (hit !== undefined) return hit;
    if (this.serviceLists.size >= MAX_ENTRIES) this.serviceLists = new Map();
    this.serviceLists.set(entry, fresh);
    return fresh;
  }
}

const APP_PROTOCOL_KEY: Readonly<Record<AppProtocolName, number>> = {
  UNKNOWN: 0,
  HTTP11: 1,
  HTTP2: 2,
  GRPC: 3,
  TCP: 4,
  TLS: 5,
};

const partsByInterner = new WeakMap<(value: string) => string, ModelParts>();

/**
 * The shared parts of the decoding context an interner stands for, made on first use.
 *
 * @param intern - The context's interner.
 * @returns Its parts.
 * @example
 * ```ts
 * const parts = modelParts(createInterner());
 * parts.identity('cluster.local', 'default', 'sleep'); // 'spiffe://cluster.local/ns/default/sa/sleep'
 * ```
 */
export function modelParts(intern: (value: string) => string): ModelParts {
  let parts = partsByInterner.get(intern);
  if (parts === undefined) {
    parts = new Parts(intern);
    partsByInterner.set(intern, parts);
  }
  return parts;
}
