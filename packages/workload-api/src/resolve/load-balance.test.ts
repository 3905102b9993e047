import { describe, expect, it } from 'vitest';
import { createService, type LoadBalancer } from '../codec/service.js';
import { createWorkload, type Workload, type WorkloadInit } from '../codec/workload.js';
import { createWorkloadStore } from '../store/workload-store.js';
import { chooseEndpoint } from './load-balance.js';
import { chooseWeighted, seededRandom } from './random.js';

const HOST = 'echo.default.svc.cluster.local';
const KEY = `default/${HOST}`;

let nextIp = 1;
function ep(name: string, init: Partial<WorkloadInit>): Workload {
  return createWorkload({
    uid: `c//Pod/default/${name}`,
    name,
    namespace: 'default',
    workloadIps: [`10.0.${nextIp >> 8}.${nextIp++ & 255}`],
    protocol: 'HBONE',
    services: [{ key: KEY, namespace: 'default', hostname: HOST, ports: [] }],
    ...init,
  });
}

const client = createWorkload({
  uid: 'c//Pod/default/client',
  namespace: 'default',
  workloadIps: ['10.9.0.1'],
  network: 'n1',
  node: 'node-a',
  clusterId: 'c1',
  locality: { region: 'r1', zone: 'z1', subzone: 's1' },
});

/** Draws `n` choices and counts them by workload name. */
function draw(lb: LoadBalancer | undefined, workloads: Workload[], n = 2000, seed = 1): Map<string, number> {
  const store = createWorkloadStore();
  const service = createService({
    namespace: 'default',
    hostname: HOST,
    ports: [{ servicePort: 80, targetPort: 8080, appProtocol: 'UNKNOWN' }],
    ...(lb === undefined ? {} : { loadBalancer: lb }),
  });
  store.apply({ resources: [service, ...workloads] });
  const random = seededRandom(seed);
  const counts = new Map<string, number>();
  for (let i = 0; i < n; i++) {
    const c = chooseEndpoint(store, client, service, 80, 'Standard', random);
    const name = c?.workload.name ?? '<none>';
    counts.set(name, (counts.get(name) ?? 0) + 1);
  }
  return counts;
}

const here = {
  network: 'n1',
  node: 'node-a',
  clusterId: 'c1',
  locality: { region: 'r1', zone: 'z1', subzone: 's1' },
};

describe('chooseEndpoint', () => {
  it('standard mode: random weighted by capacity; capacity 0 is never picked', () => {
    const counts = draw(
      undefined,
      [ep('a', { capacity: 3 }), ep('b', { capacity: 1 }), ep('z', { capacity: 0 })],
      4000,
    );
    expect(counts.get('z')).toBeUndefined();
    const share = (counts.get('a') ?? 0) / 4000;
    expect(share).toBeGreaterThan(0.72);
    expect(share).toBeLessThan(0.78);
  });

  it('is reproducible with a seeded random source', () => {
    const w = [ep('a', {}), ep('b', {}), ep('c', {})];
    expect(draw(undefined, w, 50, 99)).toEqual(draw(undefined, w, 50, 99));
  });

  it('STRICT keeps only endpoints matching every preference, and none is an empty result', () => {
    const lb: LoadBalancer = {
      routingPreferences: ['Region', 'Zone'],
      mode: 'Strict',
      healthPolicy: 'OnlyHealthy',
    };
    const same = ep('same', { ...here });
    const regionOnly = ep('region', { ...here, locality: { region: 'r1', zone: 'z2', subzone: '' } });
    expect([...draw(lb, [same, regionOnly]).keys()]).toEqual(['same']);
    expect([...draw(lb, [regionOnly]).keys()]).toEqual(['<none>']);
  });

  it('FAILOVER prefers the most matching preferences, then fewer, then any', () => {
    const lb: LoadBalancer = {
      routingPreferences: ['Region', 'Zone', 'Subzone'],
      mode: 'Failover',
      healthPolicy: 'OnlyHealthy',
    };
    const all = ep('all', { ...here });
    const zone = ep('zone', { ...here, locality: { region: 'r1', zone: 'z1', subzone: 'x' } });
    const region = ep('region', { ...here, locality: { region: 'r1', zone: 'x', subzone: 's1' } });
    const none = ep('none', { ...here, locality: { region: 'x', zone: 'z1', subzone: 's1' } });
    expect([...draw(lb, [all, zone, region, none]).keys()]).toEqual(['all']);
    expect([...draw(lb, [zone, region, none]).keys()]).toEqual(['zone']);
    // Ranks stop at the first miss: `region` (r1, x, s1) ranks 1 although its subzone matches.
    expect([...draw(lb, [region, none]).keys()]).toEqual(['region']);
    expect([...draw(lb, [none]).keys()]).toEqual(['none']);
  });

  it('a leading NETWORK preference outranks the other scopes', () => {
    const lb: LoadBalancer = {
      routingPreferences: ['Network', 'Region', 'Zone'],
      mode: 'Failover',
      healthPolicy: 'OnlyHealthy',
    };
    // Same network, other region (rank 1 + 2 = 3) beats other network, same region and zone (rank 2).
    const sameNet = ep('samenet', { ...here, locality: { region: 'x', zone: 'x', subzone: '' } });
    const otherNet = ep('othernet', { ...here, network: 'n2' });
    expect([...draw(lb, [sameNet, otherNet]).keys()]).toEqual(['samenet']);
    expect([...draw(lb, [otherNet]).keys()]).toEqual(['othernet']);
    // STRICT with a leading NETWORK still needs every scope to match.
    expect([...draw({ ...lb, mode: 'Strict' }, [sameNet, otherNet]).keys()]).toEqual(['<none>']);
  });

  it('NODE and CLUSTER scopes compare node and cluster id', () => {
    const node: LoadBalancer = {
      routingPreferences: ['Node'],
      mode: 'Failover',
      healthPolicy: 'OnlyHealthy',
    };
    const onNode = ep('onnode', { ...here });
    const offNode = ep('offnode', { ...here, node: 'node-b' });
    expect([...draw(node, [onNode, offNode]).keys()]).toEqual(['onnode']);
    const cluster: LoadBalancer = {
      routingPreferences: ['Cluster'],
      mode: 'Strict',
      healthPolicy: 'OnlyHealthy',
    };
    expect([
      ...draw(cluster, [ep('c1', { ...here }), ep('c2', { ...here, clusterId: 'c2' })]).keys(),
    ]).toEqual(['c1']);
  });

  it('takes the endpoint port over the service target port, and the app tunnel port in waypoint mode', () => {
    const store = createWorkloadStore();
    const service = createService({
      namespace: 'default',
      hostname: HOST,
      ports: [{ servicePort: 80, targetPort: 8080, appProtocol: 'UNKNOWN' }],
    });
    const own = ep('own', {
      services: [
        {
          key: KEY,
          namespace: 'default',
          hostname: HOST,
          ports: [{ servicePort: 80, targetPort: 9999, appProtocol: 'UNKNOWN' }],
        },
      ],
    });
    store.apply({ resources: [service, own] });
    expect(chooseEndpoint(store, client, service, 80, 'Standard', seededRandom(1))?.targetPort).toBe(9999);

    const wp = createService({ namespace: 'default', hostname: 'wp', ports: [] });
    const sandwiched = createWorkload({
      uid: 'c//Pod/default/wp',
      workloadIps: ['10.0.0.50'],
      applicationTunnel: { protocol: 'PROXY', port: 15088 },
      services: [{ key: 'default/wp', namespace: 'default', hostname: 'wp', ports: [] }],
    });
    const plain = createWorkload({
      uid: 'c//Pod/default/wp2',
      workloadIps: ['10.0.0.51'],
      services: [{ key: 'default/wp', namespace: 'default', hostname: 'wp', ports: [] }],
    });
    store.apply({ resources: [wp, sandwiched, plain] });
    // Waypoint mode: the port need not be on the service when the workload has an app tunnel (state.rs:419-430).
    for (let seed = 0; seed < 10; seed++) {
      const c = chooseEndpoint(store, client, wp, 15008, 'Waypoint', seededRandom(seed));
      expect(c?.workload.uid).toBe('c//Pod/default/wp');
      expect(c?.targetPort).toBe(15008);
    }
    expect(chooseEndpoint(store, client, wp, 15008, 'Standard', seededRandom(1))).toBeUndefined();
  });
});

describe('chooseEndpoint fast path', () => {
  it('picks exactly what a capacity-weighted draw over all endpoints picks', () => {
    const store = createWorkloadStore();
    const service = createService({
      namespace: 'default',
      hostname: HOST,
      ports: [{ servicePort: 80, targetPort: 8080, appProtocol: 'UNKNOWN' }],
    });
    const capacities = [3, 0, 1, 5, 0, 2];
    const ws = capacities.map((capacity, i) => ep(`w${i}`, { capacity }));
    store.apply({ resources: [service, ...ws] });
    const order = [...store.endpoints(KEY).keys()];
    const weights = order.map((uid) => store.workload(uid)?.capacity ?? 0);
    for (let seed = 0; seed < 300; seed++) {
      const picked = chooseEndpoint(store, client, service, 80, 'Standard', seededRandom(seed));
      expect(picked?.workload.uid).toBe(order[chooseWeighted(weights, seededRandom(seed))]);
      expect(picked?.targetPort).toBe(8080);
    }
    // The same with a source that has no member cache (the general loop).
    const plain = {
      workload: (uid: string) => store.workload(uid),
      endpoints: (key: string) => store.endpoints(key),
    };
    for (let seed = 0; seed < 50; seed++) {
      expect(chooseEndpoint(plain, client, service, 80, 'Standard', seededRandom(seed))?.workload.uid).toBe(
        chooseEndpoint(store, client, service, 80, 'Standard', seededRandom(seed))?.workload.uid,
      );
    }
  });
});

describe('chooseWeighted', () => {
  it('returns -1 when every weight is zero and never picks a zero weight', () => {
    expect(chooseWeighted([0, 0], seededRandom(1))).toBe(-1);
    expect(chooseWeighted([], seededRandom(1))).toBe(-1);
    const r = seededRandom(3);
    for (let i = 0; i < 200; i++) expect(chooseWeighted([0, 1, 0], r)).toBe(1);
    expect(chooseWeighted([1, 1], () => 0.999999999999)).toBe(1);
  });
});
