import { canonicalIp } from '@ambient-kit/ip';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { createService } from '../codec/service.js';
import { createWorkload, type Workload } from '../codec/workload.js';
import { AddressTable } from './address-table.js';
import { createWorkloadStore } from './workload-store.js';

// The by-address slots are keyed by the address's value. These properties pin the store's lookups on
// them to a plain reference: a scan of every workload and service, comparing canonical IP text.

// A small pool, so that addresses collide, with several spellings of the same IPv6 address.
const POOL = ['10.0.0.1', '10.0.0.2', '10.96.0.1', 'fd00::1', 'fd00::2', 'fd00:96::1'] as const;
const SPELLINGS: Readonly<Record<string, readonly string[]>> = {
  'fd00::1': ['fd00::1', 'fd00:0::1', 'FD00::1', 'fd00:0:0:0:0:0:0:1'],
  'fd00::2': ['fd00::2', 'fd00::0:2'],
  'fd00:96::1': ['fd00:96::1', 'fd00:96:0::1'],
};
const NETWORKS = ['', 'net-b'] as const;

const workloadArb = fc.record({
  ips: fc.uniqueArray(fc.constantFrom(...POOL), { maxLength: 2 }),
  network: fc.constantFrom(...NETWORKS),
  pod: fc.boolean(),
  hbone: fc.boolean(),
  hostNetwork: fc.integer({ min: 1, max: 6 }).map((x) => x === 1),
});
const serviceArb = fc.record({
  vips: fc.uniqueArray(fc.constantFrom(...POOL), { maxLength: 2 }),
  network: fc.constantFrom(...NETWORKS),
  namespace: fc.constantFrom('a', 'b'),
});
const stepArb = fc.oneof(
  fc.record({ kind: fc.constant('workload' as const), slot: fc.nat(5), spec: workloadArb }),
  fc.record({ kind: fc.constant('remove-workload' as const), slot: fc.nat(5) }),
  fc.record({ kind: fc.constant('service' as const), slot: fc.nat(2), spec: serviceArb }),
  fc.record({ kind: fc.constant('remove-service' as const), slot: fc.nat(2) }),
);

function workload(slot: number, spec: WorkloadSpec): Workload {
  const kind = spec.pod ? 'Pod' : 'WorkloadEntry';
  return createWorkload({
    uid: `c1//${kind}/default/w-${slot}`,
    name: `w-${slot}`,
    namespace: 'default',
    workloadIps: spec.ips.map((ip) => (SPELLINGS[ip] ?? [ip])[slot % (SPELLINGS[ip]?.length ?? 1)] as string),
    network: spec.network,
    protocol: spec.hbone ? 'HBONE' : 'TCP',
    networkMode: spec.hostNetwork ? 'HostNetwork' : 'Standard',
  });
}
type WorkloadSpec = typeof workloadArb extends fc.Arbitrary<infer T> ? T : never;
type ServiceSpec = typeof serviceArb extends fc.Arbitrary<infer T> ? T : never;

function service(slot: number, spec: ServiceSpec): ReturnType<typeof createService> {
  return createService({
    name: `s-${slot}`,
    namespace: spec.namespace,
    hostname: `s-${slot}.${spec.namespace}.svc.cluster.local`,
    vips: spec.vips.map((address) => ({ network: spec.network, address })),
  });
}

// ztunnel's collision ranking (workload.rs:785-808), ties to the most recent.
const rank = (w: Workload): number => (w.uid.includes('//Pod/') ? 2 : 0) + (w.protocol === 'HBONE' ? 1 : 0);

describe('the by-address slots', () => {
  it('answer as a scan of every workload and service, by address value, across changes', () => {
    fc.assert(
      fc.property(fc.array(stepArb, { maxLength: 40 }), (steps) => {
        const store = createWorkloadStore();
        const workloads = new Map<number, Workload>();
        const services = new Map<number, ReturnType<typeof createService>>();
        // The reference VIP index: network/ip -> namespace -> service key. One service per namespace on a
        // VIP, the last one applied (ztunnel service.rs insert_endpoint_for_vip); removing a service
        // clears its namespace there.
        const vips = new Map<string, Map<string, string>>();
        const unindex = (s: ReturnType<typeof createService>): void => {
          for (const v of s.vips) vips.get(`${v.network}/${v.address}`)?.delete(s.namespace);
        };
        for (const step of steps) {
          if (step.kind === 'workload') {
            const w = workload(step.slot, step.spec);
            workloads.set(step.slot, w);
            store.apply({ resources: [w] });
          } else if (step.kind === 'remove-workload') {
            const w = workloads.get(step.slot);
            workloads.delete(step.slot);
            if (w !== undefined) store.apply({ removed: [w.uid] });
          } else if (step.kind === 'service') {
            const s = service(step.slot, step.spec);
            const prev = services.get(step.slot);
            if (prev !== undefined) {
              unindex(prev);
              if (prev.key !== s.key) store.apply({ removed: [prev.key] });
            }
            services.set(step.slot, s);
            store.apply({ resources: [s] });
            for (const v of s.vips) {
              const at = vips.get(`${v.network}/${v.address}`) ?? new Map<string, string>();
              at.set(s.namespace, s.key);
              vips.set(`${v.network}/${v.address}`, at);
            }
          } else {
            const s = services.get(step.slot);
            services.delete(step.slot);
            if (s !== undefined) {
              unindex(s);
              store.apply({ removed: [s.key] });
            }
          }
          for (const network of NETWORKS) {
            for (const ip of POOL) {
              // Claimants in the store's insertion order (a replaced workload moves to the end).
              const claimants = [...store.workloads()].filter(
                (w) =>
                  w.network === network &&
                  w.networkMode !== 'HostNetwork' &&
                  w.workloadIps.some((text) => canonicalIp(text) === ip),
              );
              let best: Workload | undefined;
              for (const w of claimants) if (best === undefined || rank(w) >= rank(best)) best = w;
              const onVip = [...(vips.get(`${network}/${ip}`)?.values() ?? [])].sort();
              for (const spelling of SPELLINGS[ip] ?? [ip]) {
                expect(store.workloadByAddress(spelling, network)).toBe(best);
                expect(store.workloadsByAddress(spelling, network)).toEqual(claimants);
                expect(
                  store
                    .servicesByVip(spelling, network)
                    .map((s) => s.key)
                    .sort(),
                ).toEqual(onVip);
                expect(store.findAddress(spelling, network, 'a')).toBe(
                  best ?? store.bestServiceByVip(spelling, network, 'a'),
                );
              }
            }
          }
        }
      }),
      { numRuns: 300 },
    );
  });
});

describe('AddressTable', () => {
  it('keeps text that is not an IP address apart, found by that exact text only', () => {
    const table = new AddressTable();
    const odd = table.claim('not-an-ip');
    expect(table.byText('not-an-ip')).toBe(odd);
    expect(table.byText('10.0.0.1')).toBeUndefined();
    table.release(odd);
    expect(table.byText('not-an-ip')).toBeUndefined();
    expect(table.size).toBe(0);
  });

  it('chains addresses whose number keys collide, and releases each alone', () => {
    const table = new AddressTable();
    // 0.0.0.0 and :: both have number key 0.
    const v4 = table.claim('0.0.0.0');
    const v6 = table.claim('::');
    expect(table.size).toBe(2);
    v4.workload = undefined;
    table.release(v4);
    expect(table.byText('::')).toBe(v6);
    expect(table.byText('0.0.0.0')).toBeUndefined();
    table.release(v6);
    expect(table.size).toBe(0);
  });
});
