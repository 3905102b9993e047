import { describe, expect, it } from 'vitest';
import { echo, ECHO as HOST, ECHO_KEY as KEY, pod } from '../../test/helpers.js';
import { createAuthorization } from '../codec/authorization.js';
import { createService } from '../codec/service.js';
import { createWorkload, type Workload } from '../codec/workload.js';
import { createWorkloadStore, type StoreChange } from './workload-store.js';

describe('workload indexes', () => {
  it('indexes by uid and by network/ip, and not HOST_NETWORK workloads by ip', () => {
    const store = createWorkloadStore();
    const a = pod('a', '10.0.0.1', { network: 'net1' });
    const host = createWorkload({
      uid: 'c//Pod/kube-system/node-agent',
      workloadIps: ['192.168.1.5'],
      networkMode: 'HostNetwork',
    });
    store.apply({ resources: [a, host] });
    expect(store.workload(a.uid)).toBe(a);
    expect(store.workloadByAddress('10.0.0.1', 'net1')).toBe(a);
    expect(store.workloadByAddress('10.0.0.1')).toBeUndefined(); // other network
    expect(store.workload(host.uid)).toBe(host);
    expect(store.workloadByAddress('192.168.1.5')).toBeUndefined(); // workload.rs:829-854
  });

  it('picks Pod+HBONE over Pod over HBONE over other on an address collision, ties to the newest', () => {
    const store = createWorkloadStore();
    const we = createWorkload({
      uid: 'c/networking.istio.io/WorkloadEntry/default/we',
      workloadIps: ['10.0.0.9'],
    });
    const weHbone = createWorkload({
      uid: 'c/networking.istio.io/WorkloadEntry/default/we2',
      workloadIps: ['10.0.0.9'],
      protocol: 'HBONE',
    });
    const podTcp = createWorkload({ uid: 'c//Pod/default/p', workloadIps: ['10.0.0.9'] });
    const podHbone = createWorkload({
      uid: 'c//Pod/default/q',
      workloadIps: ['10.0.0.9'],
      protocol: 'HBONE',
    });
    store.apply({ resources: [we] });
    expect(store.workloadByAddress('10.0.0.9')).toBe(we);
    store.apply({ resources: [weHbone] });
    expect(store.workloadByAddress('10.0.0.9')).toBe(weHbone);
    store.apply({ resources: [podHbone, podTcp] });
    expect(store.workloadByAddress('10.0.0.9')).toBe(podHbone);
    expect(store.workloadsByAddress('10.0.0.9')).toHaveLength(4);
    store.apply({ removed: [podHbone.uid] });
    expect(store.workloadByAddress('10.0.0.9')).toBe(podTcp);
    store.apply({ removed: [podTcp.uid, weHbone.uid] });
    expect(store.workloadByAddress('10.0.0.9')).toBe(we);
    store.apply({ removed: [we.uid] });
    expect(store.workloadByAddress('10.0.0.9')).toBeUndefined();
  });

  it('re-inserting a workload drops its old addresses', () => {
    const store = createWorkloadStore();
    store.apply({ resources: [pod('a', '10.0.0.1')] });
    store.apply({ resources: [pod('a', '10.0.0.2')] });
    expect(store.workloadByAddress('10.0.0.1')).toBeUndefined();
    expect(store.workloadByAddress('10.0.0.2')?.name).toBe('a');
  });

  it('finds local-node workloads by ZDS WorkloadInfo only', () => {
    const store = createWorkloadStore({ localNode: 'node-a' });
    const local = pod('a', '10.0.0.1', { node: 'node-a', serviceAccount: 'sleep' });
    const remote = pod('b', '10.0.0.2', { node: 'node-b', serviceAccount: 'sleep' });
    store.apply({ resources: [local, remote] });
    expect(store.workloadByInfo({ name: 'a', namespace: 'default', serviceAccount: 'sleep' })).toBe(local);
    expect(
      store.workloadByInfo({ name: 'b', namespace: 'default', serviceAccount: 'sleep' }),
    ).toBeUndefined();
    expect(
      store.workloadByInfo({ name: 'a', namespace: 'default', serviceAccount: 'other' }),
    ).toBeUndefined();
  });
});

describe('service indexes and endpoints', () => {
  it('indexes by namespace/hostname, hostname and VIP; endpoints come from workloads', () => {
    const store = createWorkloadStore();
    store.apply({ resources: [echo(), pod('a', '10.0.0.1'), pod('b', '10.0.0.2')] });
    expect(store.service(KEY)?.name).toBe('echo');
    expect(store.servicesByHost(HOST)).toHaveLength(1);
    expect(store.bestServiceByVip('10.96.0.10')?.key).toBe(KEY);
    expect([...store.endpoints(KEY).keys()].sort()).toEqual([
      'Kubernetes//Pod/default/a',
      'Kubernetes//Pod/default/b',
    ]);
    expect(store.endpoints(KEY).get('Kubernetes//Pod/default/a')?.ports[0]?.targetPort).toBe(8080);
  });

  it('stages endpoints that arrive before their service and attaches them when it arrives', () => {
    const store = createWorkloadStore();
    store.apply({ resources: [pod('a', '10.0.0.1'), pod('u', '10.0.0.3', { status: 'Unhealthy' })] });
    expect(store.stats().stagedServices).toBe(1);
    expect([...(store.stagedEndpoints().get(KEY)?.keys() ?? [])]).toHaveLength(2); // staged unfiltered
    expect(store.endpoints(KEY).size).toBe(0);
    store.apply({ resources: [echo()] });
    expect(store.stats().stagedServices).toBe(0);
    // Health-filtered at flush time (service.rs:685-705): the unhealthy one is dropped.
    expect([...store.endpoints(KEY).keys()]).toEqual(['Kubernetes//Pod/default/a']);
  });

  it('keeps unhealthy endpoints when the health policy is ALLOW_ALL', () => {
    const store = createWorkloadStore();
    store.apply({
      resources: [
        echo({ loadBalancer: { routingPreferences: [], mode: 'Standard', healthPolicy: 'AllowAll' } }),
        pod('u', '10.0.0.3', { status: 'Unhealthy' }),
      ],
    });
    expect(store.endpoints(KEY).size).toBe(1);
  });

  it('a service update keeps existing endpoints; removing a workload removes its endpoints', () => {
    const store = createWorkloadStore();
    store.apply({ resources: [echo(), pod('a', '10.0.0.1'), pod('b', '10.0.0.2')] });
    store.apply({ resources: [echo({ canonical: true })] });
    expect(store.service(KEY)?.canonical).toBe(true);
    expect(store.endpoints(KEY).size).toBe(2);
    store.apply({ removed: ['Kubernetes//Pod/default/a'] });
    expect([...store.endpoints(KEY).keys()]).toEqual(['Kubernetes//Pod/default/b']);
    // Moving a workload to another service moves its endpoint.
    store.apply({ resources: [pod('b', '10.0.0.2', { services: [] })] });
    expect(store.endpoints(KEY).size).toBe(0);
  });

  it('an insert then a removal of one workload in one delta leaves no endpoint behind', () => {
    const store = createWorkloadStore();
    store.apply({ resources: [echo()] });
    store.apply({ resources: [pod('a', '10.0.0.1')], removed: ['Kubernetes//Pod/default/a'] });
    expect(store.endpoints(KEY).size).toBe(0);
    expect(store.workload('Kubernetes//Pod/default/a')).toBeUndefined();
  });

  it('removes a service by namespace/hostname but never treats a uid-like name as a service', () => {
    const store = createWorkloadStore();
    const odd = createService({ namespace: 'default', hostname: 'a/b' });
    store.apply({ resources: [echo(), odd] });
    store.apply({ removed: ['default/a/b'] }); // hostname contains '/': ignored (xds.rs:290-300)
    expect(store.service('default/a/b')).toBeDefined();
    store.apply({ removed: [{ kind: 'service', name: 'default/a/b' }] });
    expect(store.service('default/a/b')).toBeUndefined();
    store.apply({ removed: [KEY] });
    expect(store.service(KEY)).toBeUndefined();
    expect(store.bestServiceByVip('10.96.0.10')).toBeUndefined();
    expect(store.servicesByHost(HOST)).toHaveLength(0);
  });

  it('chooses among services sharing a VIP or host: client namespace, then canonical, then first', () => {
    const store = createWorkloadStore();
    const vip = [{ network: '', address: '240.240.0.1' }];
    const a = createService({ namespace: 'a', hostname: 'api.example.com', vips: vip });
    const b = createService({ namespace: 'b', hostname: 'api.example.com', vips: vip, canonical: true });
    const c = createService({
      namespace: 'c',
      hostname: 'api.example.com',
      vips: vip,
      visibility: 'Namespace',
    });
    store.apply({ resources: [a, b, c] });
    expect(store.bestServiceByVip('240.240.0.1', '', 'a')?.namespace).toBe('a');
    expect(store.bestServiceByVip('240.240.0.1', '', 'x')?.namespace).toBe('b');
    expect(store.bestServiceByVip('240.240.0.1', '', 'c')?.namespace).toBe('c');
    expect(store.bestServiceByHost('api.example.com', 'x')?.namespace).toBe('b');
    expect(store.servicesByVip('240.240.0.1')).toHaveLength(3);
    // A NAMESPACE-visible service is invisible from elsewhere even when it is the only one.
    store.apply({ removed: ['a/api.example.com', 'b/api.example.com'] });
    expect(store.bestServiceByVip('240.240.0.1', '', 'x')).toBeUndefined();
    expect(store.bestServiceByHost('api.example.com', 'x')).toBeUndefined();
    expect(store.bestServiceByHost('api.example.com')?.namespace).toBe('c');
  });

  it('falls back to CIDR VIPs: in-namespace first, then the longest prefix, then canonical', () => {
    const store = createWorkloadStore();
    const wide = createService({
      namespace: 'x',
      hostname: 'wide',
      cidrVips: [{ network: '', address: '10.0.0.0', length: 8 }],
    });
    const narrow = createService({
      namespace: 'y',
      hostname: 'narrow',
      cidrVips: [{ network: '', address: '10.1.0.0', length: 16 }],
    });
    const exact = createService({
      namespace: 'y',
      hostname: 'exact',
      vips: [{ network: '', address: '10.1.2.3' }],
    });
    store.apply({ resources: [wide, narrow, exact] });
    expect(store.bestServiceByVip('10.1.2.3', '', 'z')?.hostname).toBe('exact');
    expect(store.bestServiceByVip('10.1.9.9', '', 'z')?.hostname).toBe('narrow');
    expect(store.bestServiceByVip('10.1.9.9', '', 'x')?.hostname).toBe('wide'); // namespace beats prefix
    expect(store.bestServiceByVip('10.2.0.1', '', 'z')?.hostname).toBe('wide');
    expect(store.bestServiceByVip('11.0.0.1', '', 'z')).toBeUndefined();
    expect(store.bestServiceByVip('10.1.9.9', 'other-net', 'z')).toBeUndefined();
    store.apply({ removed: ['y/narrow'] });
    expect(store.bestServiceByVip('10.1.9.9', '', 'z')?.hostname).toBe('wide');
  });

  it('findAddress prefers a workload, findHostname prefers a service then a hostname workload', () => {
    const store = createWorkloadStore();
    const vm = createWorkload({
      uid: 'c/networking.istio.io/WorkloadEntry/default/vm',
      namespace: 'default',
      hostname: 'vm.example.com',
    });
    store.apply({ resources: [echo(), pod('a', '10.96.0.10', { services: [] }), vm] });
    expect(store.findAddress('10.96.0.10')?.kind).toBe('workload');
    expect(store.findHostname('default', HOST)?.kind).toBe('service');
    expect(store.findHostname('default', 'vm.example.com')).toBe(vm);
    expect(store.findHostname('other', 'vm.example.com')).toBeUndefined();
  });
});

describe('policy indexes', () => {
  it('indexes by key, namespace and global scope; workloads reference selector policies', () => {
    const store = createWorkloadStore();
    const ns = createAuthorization({ name: 'ns-allow', namespace: 'default', scope: 'Namespace' });
    const global = createAuthorization({
      name: 'global-deny',
      namespace: 'istio-system',
      scope: 'Global',
      action: 'Deny',
    });
    const sel = createAuthorization({ name: 'sel', namespace: 'default', scope: 'WorkloadSelector' });
    const w = pod('a', '10.0.0.1', { authorizationPolicies: ['default/sel', 'default/missing'] });
    store.apply({ resources: [ns, global, sel, w] });
    expect(store.policy('default/sel')).toBe(sel);
    expect(store.policiesInNamespace('default')).toEqual([ns]);
    expect(store.policiesInNamespace('')).toEqual([global]);
    expect(store.policiesFor(w)).toEqual([ns, global, sel]); // the unknown name is skipped
    // Changing scope moves it between indexes (policy.rs rbac_change_scope).
    store.apply({
      resources: [createAuthorization({ name: 'ns-allow', namespace: 'default', scope: 'WorkloadSelector' })],
    });
    expect(store.policiesInNamespace('default')).toEqual([]);
    store.apply({ removed: [{ kind: 'policy', name: 'istio-system/global-deny' }] });
    expect(store.policiesInNamespace('')).toEqual([]);
  });
});

describe('apply', () => {
  it('emits added, updated and removed per resource and one change per delta', () => {
    const store = createWorkloadStore();
    const seen: string[] = [];
    store.on('added', (c) => seen.push(`+${c.kind}:${c.name}`));
    store.on('updated', (c) => seen.push(`~${c.kind}:${c.name}`));
    store.on('removed', (c) => seen.push(`-${c.kind}:${c.name}`));
    const batches: number[] = [];
    const off = store.on('change', (c) => batches.push(c.added.length + c.updated.length + c.removed.length));
    store.apply({ resources: [echo(), pod('a', '10.0.0.1')] });
    store.apply({ resources: [pod('a', '10.0.0.1')], removed: [KEY, 'nothing-here'] });
    store.apply({ removed: ['nothing-here'] }); // no change, no event
    off();
    store.apply({ removed: ['Kubernetes//Pod/default/a'] });
    expect(seen).toEqual([
      `+service:${KEY}`,
      '+workload:Kubernetes//Pod/default/a',
      '~workload:Kubernetes//Pod/default/a',
      `-service:${KEY}`,
      '-workload:Kubernetes//Pod/default/a',
    ]);
    expect(batches).toEqual([2, 2]);
  });

  it('reports the net effect when one delta touches a resource twice', () => {
    const store = createWorkloadStore();
    const changes: StoreChange[] = [];
    store.on('change', (c) => changes.push(...c.added, ...c.updated, ...c.removed));
    const res = store.apply({ resources: [pod('a', '10.0.0.1'), pod('a', '10.0.0.2')] });
    expect(res.added).toHaveLength(1);
    expect(res.added[0]?.value).toMatchObject({ workloadIps: ['10.0.0.2'] });
    expect(
      store.apply({ resources: [pod('b', '10.0.0.3')], removed: ['Kubernetes//Pod/default/b'] }).added,
    ).toHaveLength(0);
    expect(changes).toHaveLength(1);
  });

  it('is atomic: a malformed delta throws before anything changes', () => {
    const store = createWorkloadStore();
    const good = pod('a', '10.0.0.1');
    expect(() => store.apply({ resources: [good, { kind: 'bogus' } as unknown as Workload] })).toThrow(
      TypeError,
    );
    expect(store.workload(good.uid)).toBeUndefined();
    expect(() => store.apply({ removed: [42 as unknown as string] })).toThrow(/removed\[0\]/);
    expect(() => store.apply(null as unknown as { resources: [] })).toThrow(TypeError);
  });

  it('a throwing listener does not leave the store half-applied', () => {
    const store = createWorkloadStore();
    store.on('added', () => {
      throw new Error('listener bug');
    });
    expect(() => store.apply({ resources: [echo(), pod('a', '10.0.0.1')] })).toThrow('listener bug');
    expect(store.endpoints(KEY).size).toBe(1);
  });
});
