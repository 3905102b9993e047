/**
 * The by-address index shared by workloads and services: one slot per `network/ip` holding the workload
 * ztunnel's `find_address` answers there and the services on that exact VIP
 * (istio/ztunnel@62d82653:src/state/workload.rs `by_addr`, src/state/service.rs `by_vip`). Keyed by the
 * address's value, as ztunnel keys by `NetworkAddress { network, IpAddr }`: the per-connection lookup
 * parses the dialled address into numbers and finds its slot with a number key, with no IP text built,
 * hashed or compared (bench/workload-api, `resolveUpstream` rows).
 * @module
 */
import { formatIp, type IpAddress, parseIp } from '@ambient-kit/ip';
import type { Workload } from '../codec/workload.js';
import type { ServiceEntry } from './service-index.js';

/** The services on one exact VIP. */
export interface VipEntry {
  readonly entries: ServiceEntry[];
  /** `entries[0]` when it is the only one (the common case), read without the array. */
  only: ServiceEntry | undefined;
}

/** What the index holds for one `network/ip`. */
export interface AddressSlot {
  /** The address as the model spelled it when the slot was made (the key of {@link AddressTable.byText}). */
  readonly text: string;
  readonly v6: boolean;
  // The address's four 32-bit words as signed integers (small integers to V8: no boxing, no deref).
  readonly w0: number;
  readonly w1: number;
  readonly w2: number;
  readonly w3: number;
  /** The next slot with the same number key (a hash collision between IPv6 addresses, or IPv4 and IPv6). */
  next: AddressSlot | undefined;
  /** ztunnel `find_address`'s workload here: the best-ranked claimant. */
  workload: Workload | undefined;
  /** Every claimant in insertion order, when more than one workload claims the address. */
  claimants: Workload[] | undefined;
  /** The services on this exact VIP. */
  vip: VipEntry | undefined;
  /** The address's canonical text, made on first use by `resolveUpstream`. */
  canonical: string | undefined;
}

/** The number key of an address: the IPv4 word itself, or a mix of the four IPv6 words. */
function keyOf(v6: boolean, w0: number, w1: number, w2: number, w3: number): number {
  return v6
    ? (w0 ^ Math.imul(w1, 0x9e3779b1) ^ Math.imul(w2, 0x85ebca6b) ^ Math.imul(w3, 0xc2b2ae35)) | 0
    : w0;
}

/**
 * One network's slots. Text that is not an IP address (a model built by hand) has its slot in a string
 * map instead, found by that exact text, as a string-keyed index would find it.
 *
 * @example
 * ```ts
 * const table = new AddressTable();
 * table.claim('10.0.0.1').workload = workload;
 * table.find(parseIp('10.0.0.1')!)?.workload; // workload
 * ```
 */
export class AddressTable {
  private readonly byKey = new Map<number, AddressSlot>();
  private odd: Map<string, AddressSlot> | undefined;
  private count = 0;

  /** The number of slots. */
  get size(): number {
    return this.count;
  }

  /** The slot of a parsed address. */
  find(ip: IpAddress): AddressSlot | undefined {
    const v6 = ip.v6;
    const w0 = ip.w0 | 0;
    const w1 = ip.w1 | 0;
    const w2 = ip.w2 | 0;
    const w3 = ip.w3 | 0;
    let s = this.byKey.get(keyOf(v6, w0, w1, w2, w3));
    while (s !== undefined && !(s.w0 === w0 && s.w3 === w3 && s.w1 === w1 && s.w2 === w2 && s.v6 === v6))
      s = s.next;
    return s;
  }

  /** The slot of an address given as text. */
  byText(text: string): AddressSlot | undefined {
    const ip = parseIp(text);
    return ip === undefined ? this.odd?.get(text) : this.find(ip);
  }

  /** The slot of an address given as text, made when missing. */
  claim(text: string): AddressSlot {
    const ip = parseIp(text);
    if (ip === undefined) {
      this.odd ??= new Map();
      let slot = this.odd.get(text);
      if (slot === undefined) {
        slot = newSlot(text, false, 0, 0, 0, 0);
        this.odd.set(text, slot);
        this.count++;
      }
      return slot;
    }
    const found = this.find(ip);
    if (found !== undefined) return found;
    const slot = newSlot(text, ip.v6, ip.w0 | 0, ip.w1 | 0, ip.w2 | 0, ip.w3 | 0);
    const key = keyOf(slot.v6, slot.w0, slot.w1, slot.w2, slot.w3);
    slot.next = this.byKey.get(key);
    this.byKey.set(key, slot);
    this.count++;
    return slot;
  }

  /** Drops a slot once it holds neither a workload nor a VIP. */
  release(slot: AddressSlot): void {
    if (slot.workload !== undefined || slot.vip !== undefined) return;
    if (this.odd?.get(slot.text) === slot) {
      this.odd.delete(slot.text);
      this.count--;
      return;
    }
    const key = keyOf(slot.v6, slot.w0, slot.w1, slot.w2, slot.w3);
    const head = this.byKey.get(key);
    if (head === slot) {
      if (slot.next === undefined) this.byKey.delete(key);
      else this.byKey.set(key, slot.next);
      this.count--;
      return;
    }
    for (let s = head; s !== undefined; s = s.next) {
      if (s.next === slot) {
        s.next = slot.next;
        this.count--;
        return;
      }
    }
  }
}

function newSlot(text: string, v6: boolean, w0: number, w1: number, w2: number, w3: number): AddressSlot {
  return {
    text,
    v6,
    w0,
    w1,
    w2,
    w3,
    next: undefined,
    workload: undefined,
    claimants: undefined,
    vip: undefined,
    canonical: undefined,
  };
}

/**
 * A slot's canonical text (RFC 5952 for IPv6), kept on the slot: the model's own string when it is
 * canonical already (the contract of the models), so the common case costs no new string.
 *
 * @example
 * ```ts
 * canonicalText(slot); // 'fd00::1'
 * ```
 */
export function canonicalText(slot: AddressSlot): string {
  let text = slot.canonical;
  if (text === undefined) {
    if (!slot.v6) text = slot.text;
    else {
      const formatted = formatIp({
        v6: true,
        w0: slot.w0 >>> 0,
        w1: slot.w1 >>> 0,
        w2: slot.w2 >>> 0,
        w3: slot.w3 >>> 0,
      });
      text = formatted === slot.text ? slot.text : formatted;
    }
    slot.canonical = text;
  }
  return text;
}

/**
 * The slots of every network; the default network's table is held directly, one lookup fewer.
 *
 * @example
 * ```ts
 * const index = new AddressIndex();
 * index.table('').claim('10.0.0.1');
 * ```
 */
export class AddressIndex {
  readonly defaultTable: AddressTable = new AddressTable();
  private readonly others = new Map<string, AddressTable>();

  /** The network's table, if it has one. */
  on(network: string): AddressTable | undefined {
    return network === '' ? this.defaultTable : this.others.get(network);
  }

  /** The network's table, made when missing. */
  table(network: string): AddressTable {
    if (network === '') return this.defaultTable;
    let t = this.others.get(network);
    if (t === undefined) {
      t = new AddressTable();
      this.others.set(network, t);
    }
    return t;
  }

  /** Drops a slot once it is empty, and a non-default network's table once that is empty. */
  release(network: string, slot: AddressSlot): void {
    const t = this.on(network);
    if (t === undefined) return;
    t.release(slot);
    if (network !== '' && t.size === 0) this.others.delete(network);
  }
}
