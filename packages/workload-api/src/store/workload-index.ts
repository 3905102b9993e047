/**
 * Workload indexes as ztunnel's `WorkloadStore` keeps them (src/state/workload.rs:727-884; shared spec
 * §A.5): by uid, by `network/ip` (skipping HOST_NETWORK workloads, with a ranked winner when several
 * workloads claim one address), by (namespace, service account) for workloads on the local node, and
 * by hostname for the rare hostname-only workloads.
 * @module
 */
import type { Workload } from '../codec/workload.js';

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

/**
 * The uid, address, identity and hostname indexes over the current workloads.
 *
 * @example
 * ```ts
 * const index = new WorkloadIndex(undefined);
 * index.insert(workload);
 * index.byAddress('10.0.0.1', '');
 * ```
 */
export class WorkloadIndex {
  readonly byUid: Map<string, Workload> = new Map();
  // network -> ip -> one workload, or several when addresses collide. Two levels so a lookup never
  // builds a `network/ip` string; the default network's map is held directly, one lookup fewer.
  private readonly byAddr = new Map<string, Map<string, Workload | Workload[]>>();
  private readonly defaultNetwork: Map<string, Workload | Workload[]> = new Map();
  // namespace -> service account -> uids (nested, so no key string is built per workload).
  private readonly byIdentity = new Map<string, Map<string, Set<string>>>();
  private readonly byHostname = new Map<string, Workload[]>();
  private readonly localNode: string | undefined;

  constructor(localNode: string | undefined) {
    this.localNode = localNode;
  }

  /** Inserts or replaces a workload; returns the one it replaced. */
  insert(w: Workload): Workload | undefined {
    const prev = this.remove(w.uid);
    if (w.networkMode !== 'HostNetwork') {
      let ips = w.network === '' ? this.defaultNetwork : this.byAddr.get(w.network);
      if (ips === undefined) {
        ips = new Map();
        this.byAddr.set(w.network, ips);
      }
      for (const ip of w.workloadIps) {
        const cur = ips.get(ip);
        if (cur === undefined) ips.set(ip, w);
        else if (Array.isArray(cur)) cur.push(w);
        else ips.set(ip, [cur, w]);
      }
    }
    this.byUid.set(w.uid, w);
    if (this.localNode === undefined || this.localNode === w.node) {
      let accounts = this.byIdentity.get(w.namespace);
      if (accounts === undefined) {
        accounts = new Map();
        this.byIdentity.set(w.namespace, accounts);
      }
      let set = accounts.get(w.serviceAccount);
      if (set === undefined) {
        set = new Set();
        accounts.set(w.serviceAccount, set);
      }
      set.add(w.uid);
    }
    if (w.hostname !== '') {
      const list = this.byHostname.get(w.hostname);
      if (list === undefined) this.byHostname.set(w.hostname, [w]);
      else list.push(w);
    }
    return prev;
  }

  /** Removes a workload by uid from every index; returns it. */
  remove(uid: string): Workload | undefined {
    const prev = this.byUid.get(uid);
    if (prev === undefined) return undefined;
    this.byUid.delete(uid);
    if (prev.networkMode !== 'HostNetwork') {
      const ips = prev.network === '' ? this.defaultNetwork : this.byAddr.get(prev.network);
      if (ips !== undefined) {
        for (const ip of prev.workloadIps) {
          const cur = ips.get(ip);
          if (cur === undefined) continue;
          if (!Array.isArray(cur)) {
            if (cur.uid === uid) ips.delete(ip);
            continue;
          }
          const rest = cur.filter((w) => w.uid !== uid);
          if (rest.length === 0) ips.delete(ip);
          else ips.set(ip, rest.length === 1 ? (rest[0] as Workload) : rest);
        }
        if (ips.size === 0 && prev.network !== '') this.byAddr.delete(prev.network);
      }
    }
    const accounts = this.byIdentity.get(prev.namespace);
    const set = accounts?.get(prev.serviceAccount);
    if (accounts !== undefined && set !== undefined) {
      set.delete(uid);
      if (set.size === 0) {
        accounts.delete(prev.serviceAccount);
        if (accounts.size === 0) this.byIdentity.delete(prev.namespace);
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
    const cur = (network === '' ? this.defaultNetwork : this.byAddr.get(network))?.get(ip);
    if (cur === undefined || !Array.isArray(cur)) return cur;
    // Rust's max_by_key returns the last of equal maxima, so ties go to the most recent insert.
    let best = cur[0] as Workload;
    let bestRank = rank(best);
    for (let i = 1; i < cur.length; i++) {
      const w = cur[i] as Workload;
      const r = rank(w);
      if (r >= bestRank) {
        best = w;
        bestRank = r;
      }
    }
    return best;
  }

  /** Every workload claiming `network/ip`, in insertion order. */
  allByAddress(ip: string, network: string): readonly Workload[] {
    const cur = (network === '' ? this.defaultNetwork : this.byAddr.get(network))?.get(ip);
    return cur === undefined ? [] : Array.isArray(cur) ? [...cur] : [cur];
  }

  /** ztunnel `find_by_info`: a local-node workload with this name, namespace and service account. */
  byInfo(info: WorkloadInfo): Workload | undefined {
    const set = this.byIdentity.get(info.namespace)?.get(info.serviceAccount);
    if (set === undefined) return undefined;
    for (const uid of set) {
      const w = this.byUid.get(uid);
      if (w !== undefined && w.name === info.name) return w;
    }
    return undefined;
  }

  /** The first workload with this hostname in this namespace (ztunnel `find_hostname`'s slow path). */
  byHostnameIn(namespace: string, hostname: string): Workload | undefined {
    return this.byHostname.get(hostname)?.find((w) => w.namespace === namespace);
  }
}
