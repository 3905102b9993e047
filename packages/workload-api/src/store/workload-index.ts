/**
 * Workload indexes as ztunnel's `WorkloadStore` keeps them (istio/ztunnel@62d82653:src/state/workload.rs:727-884): by
 * uid, by `network/ip` (skipping HOST_NETWORK workloads, with a ranked winner when several
 * workloads claim one address), by (namespace, service account) for workloads on the local node, and
 * by hostname for the rare hostname-only workloads.
 * @module
 */
import type { Workload } from '../codec/workload.js';
import type { AddressIndex } from './address-table.js';

/** Identity of a pod as istio-cni reports it over ZDS (zds.proto `WorkloadInfo`). */
export interface WorkloadInfo {
  readonly name: string;
  readonly namespace: string;
  readonly serviceAccount: string;
}

// Collision ranking (workload.rs:785-808): Pods are not spoofable and HBONE workloads carry the most
// context, so Pod+HBONE > Pod > HBONE > other.
function rank(w: Workload): number {
  return (w.uid.includes('//Pod/') ? 2 : 0) + (w.protocol === 'HBONE' ? 1 : 0);
}

// ztunnel `find_address` on a collision: the best rank; Rust's max_by_key returns the last of equal
// maxima, so ties go to the most recent insert.
function best(claimants: readonly Workload[]): Workload {
  let winner = claimants[0] as Workload;
  let winnerRank = rank(winner);
  for (let i = 1; i < claimants.length; i++) {
    const w = claimants[i] as Workload;
    const r = rank(w);
    if (r >= winnerRank) {
      winner = w;
      winnerRank = r;
    }
  }
  return winner;
}

/**
 * The uid, address, identity and hostname indexes over the current workloads.
 *
 * @example
 * ```ts
 * const index = new WorkloadIndex(undefined, new AddressIndex());
 * index.insert(workload);
 * index.byAddress('10.0.0.1', '');
 * ```
 */
export class WorkloadIndex {
  readonly byUid: Map<string, Workload> = new Map();
  // network/ip -> the workload ztunnel's `find_address` returns there (the ranked winner when addresses
  // collide), in the slots it shares with the service index's VIPs.
  private readonly addresses: AddressIndex;
  // namespace -> service account -> workloads (nested, so no key string is built per workload; lists, since
  // a service account has a handful of pods and a set per account costs more than it saves). Built on the
  // first `byInfo` (a ZDS pod arriving), then kept current: an initial sync does not pay for it.
  private byIdentity: Map<string, Map<string, Workload[]>> | undefined;
  private readonly byHostname = new Map<string, Workload[]>();
  private readonly localNode: string | undefined;
  /**
   * @param localNode - Only workloads on this node are indexed by identity (all when `undefined`).
   * @param addresses - The by-address slots, shared with the service index.
   */
  constructor(localNode: string | undefined, addresses: AddressIndex) {
    this.localNode = localNode;
    this.addresses = addresses;
  }

  /** Inserts a workload whose uid is not indexed (the store removes the old one first, as ztunnel does). */
  insert(w: Workload): void {
    if (w.networkMode !== 'HostNetwork' && w.workloadIps.length > 0) {
      const table = this.addresses.table(w.network);
      for (const ip of w.workloadIps) {
        const slot = table.claim(ip);
        const cur = slot.workload;
        if (cur === undefined) {
          slot.workload = w;
          continue;
        }
        let all = slot.claimants;
        if (all === undefined) {
          all = [cur];
          slot.claimants = all;
        }
        all.push(w);
        slot.workload = best(all);
      }
    }
    this.byUid.set(w.uid, w);
    if (this.byIdentity !== undefined) this.indexIdentity(this.byIdentity, w);
    if (w.hostname !== '') {
      const list = this.byHostname.get(w.hostname);
      if (list === undefined) this.byHostname.set(w.hostname, [w]);
      else list.push(w);
    }
  }

  /** Removes a workload by uid from every index; returns it. */
  remove(uid: string): Workload | undefined {
    const prev = this.byUid.get(uid);
    if (prev === undefined) return undefined;
    this.byUid.delete(uid);
    if (prev.networkMode !== 'HostNetwork') {
      const table = this.addresses.on(prev.network);
      if (table !== undefined) {
        for (const ip of prev.workloadIps) {
          const slot = table.byText(ip);
          if (slot === undefined) continue;
          const all = slot.claimants;
          if (all === undefined) {
            if (slot.workload?.uid === uid) {
              slot.workload = undefined;
              this.addresses.release(prev.network, slot);
            }
            continue;
          }
          const rest = all.filter((w) => w.uid !== uid);
          slot.claimants = rest.length <= 1 ? undefined : rest;
          slot.workload = rest.length === 0 ? undefined : best(rest);
          if (rest.length === 0) this.addresses.release(prev.network, slot);
        }
      }
    }
    const accounts = this.byIdentity?.get(prev.namespace);
    const list = accounts?.get(prev.serviceAccount);
    const at = list === undefined ? -1 : list.indexOf(prev);
    if (accounts !== undefined && list !== undefined && at >= 0) {
      list.splice(at, 1);
      if (list.length === 0) {
        accounts.delete(prev.serviceAccount);
        if (accounts.size === 0) this.byIdentity?.delete(prev.namespace);
      }
    }
    if (prev.hostname !== '') {
      const list = this.byHostname.get(prev.hostname);
      if (list !== undefined) {
        const rest = list.filter((w) => w.uid !== uid);
        if (rest.length === 0) this.byHostname.delete(prev.hostname);
        else this.byHostname.set(prev.hostname, rest);
      }
    }
    return prev;
  }

  /** ztunnel `find_address`: the workload at `network/ip`, the best-ranked one on a collision. */
  byAddress(ip: string, network: string): Workload | undefined {
    return this.addresses.on(network)?.byText(ip)?.workload;
  }

  /** Every workload claiming `network/ip`, in insertion order. */
  allByAddress(ip: string, network: string): readonly Workload[] {
    const slot = this.addresses.on(network)?.byText(ip);
    const all = slot?.claimants;
    if (all !== undefined) return [...all];
    const one = slot?.workload;
    return one === undefined ? [] : [one];
  }

  /** ztunnel `find_by_info`: a local-node workload with this name, namespace and service account. */
  byInfo(info: WorkloadInfo): Workload | undefined {
    if (this.byIdentity === undefined) {
      this.byIdentity = new Map();
      for (const w of this.byUid.values()) this.indexIdentity(this.byIdentity, w);
    }
    return this.byIdentity
      .get(info.namespace)
      ?.get(info.serviceAccount)
      ?.find((w) => w.name === info.name);
  }

  /** Adds a workload to the identity index when it runs on the local node (or no local node is set). */
  private indexIdentity(index: Map<string, Map<string, Workload[]>>, w: Workload): void {
    if (this.localNode !== undefined && this.localNode !== w.node) return;
    let accounts = index.get(w.namespace);
    if (accounts === undefined) {
      accounts = new Map();
      index.set(w.namespace, accounts);
    }
    const list = accounts.get(w.serviceAccount);
    if (list === undefined) accounts.set(w.serviceAccount, [w]);
    else list.push(w);
  }

  /** The first workload with this hostname in this namespace (ztunnel `find_hostname`'s slow path). */
  byHostnameIn(namespace: string, hostname: string): Workload | undefined {
    return this.byHostname.get(hostname)?.find((w) => w.namespace === namespace);
  }
}
