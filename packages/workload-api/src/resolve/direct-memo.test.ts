import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { createService } from '../codec/service.js';
import { createWorkload, type Workload } from '../codec/workload.js';
import { createWorkloadStore, type WorkloadStore } from '../store/workload-store.js';
import { seededRandom } from './random.js';
import { resolveUpstream, type UpstreamSource } from './resolve-upstream.js';

// `store.resolveUpstream` remembers direct answers per endpoint (the per-connection hot path). These
// properties pin that the remembered answers are always the ones the general algorithm gives: the same
// store seen through an `UpstreamSource` without `members` takes the general path every time.

const NETWORKS = ['', 'net-b'] as const;

function plain(store: WorkloadStore): UpstreamSource {
  return {
    workload: (uid) => store.workload(uid),
    workloadByAddress: (ip, network) => store.workloadByAddress(ip, network),
    bestServiceByVip: (ip, network, ns) => store.bestServiceByVip(ip, network, ns),
    findHostname: (ns, host) => store.findHostname(ns, host),
    endpoints: (key) => store.endpoints(key),
  };
}

// True one time in `n`: the rarer shapes must not drown the common one the memo serves.
const rarely = (n: number): fc.Arbitrary<boolean> => fc.integer({ min: 1, max: n }).map((x) => x === 1);

const workloadArb = fc.record({
  svc: fc.integer({ min: 0, max: 2 }),
  ipv6: rarely(4),
  dual: rarely(3),
  network: rarely(5).map((other) => NETWORKS[other ? 1 : 0] as string),
  protocol: fc.constantFrom('HBONE' as const, 'TCP' as const),
  capacity: fc.integer({ min: 0, max: 3 }),
  hostNetwork: rarely(8),
  hostnameOnly: rarely(8),
  // A pod holding its service's VIP: then the address is the workload's (ztunnel find_address).
  claimsVip: rarely(6),
  // Clients in another namespace see NAMESPACE-visible services differently.
  otherNamespace: rarely(4),
  targetPort: fc.constantFrom(0, 8080, 9090),
  // A workload waypoint (the mesh's waypoint service, see `waypointResources`).
  waypoint: rarely(6),
});
type WorkloadSpec = typeof workloadArb extends fc.Arbitrary<infer T> ? T : never;

function workload(i: number, spec: WorkloadSpec): Workload {
  const host = `svc-${spec.svc}.default.svc.cluster.local`;
  const v4 = `10.0.${spec.svc}.${i + 10}`;
  const v6 = `fd00::${spec.svc}:${i + 10}`;
  let ips = spec.hostnameOnly ? [] : spec.dual ? [v4, v6] : [spec.ipv6 ? v6 : v4];
  // A HostNetwork workload is not address-indexed, so it may also hold one of its service's VIPs.
  if (spec.hostNetwork) ips = [...ips, `10.96.1.${spec.svc + 1}`];
  if (spec.claimsVip) ips = [...ips, `10.96.0.${spec.svc + 1}`];
  const namespace = spec.otherNamespace ? 'other' : 'default';
  return createWorkload({
    uid: `Kubernetes//Pod/${namespace}/w-${i}`,
    name: `w-${i}`,
    namespace,
    serviceAccount: `sa-${spec.svc}`,
    workloadIps: ips,
    ...(spec.hostnameOnly ? { hostname: `w-${i}.example.com` } : {}),
    network: spec.network,
    protocol: spec.protocol,
    capacity: spec.capacity,
    networkMode: spec.hostNetwork ? 'HostNetwork' : 'Standard',
    ...(spec.waypoint ? { waypoint: WAYPOINT } : {}),
    services: [
      {
        key: `default/${host}`,
        namespace: 'default',
        hostname: host,
        ports:
          spec.targetPort === 9090 ? [{ servicePort: 80, targetPort: 9090, appProtocol: 'UNKNOWN' }] : [],
      },
    ],
  });
}

const WAYPOINT_HOST = 'waypoint.default.svc.cluster.local';
const WAYPOINT = {
  destination: { kind: 'hostname' as const, namespace: 'default', hostname: WAYPOINT_HOST },
  hboneMtlsPort: 15008,
};

/** A waypoint: its service and one pod, which services and workloads of a run may point at. */
function waypointResources(): ReturnType<typeof createService | typeof createWorkload>[] {
  return [
    createService({
      name: 'waypoint',
      namespace: 'default',
      hostname: WAYPOINT_HOST,
      vips: [{ network: '', address: '10.96.5.5' }],
      ports: [{ servicePort: 15008, targetPort: 15008, appProtocol: 'UNKNOWN' }],
    }),
    createWorkload({
      uid: 'Kubernetes//Pod/default/waypoint',
      name: 'waypoint',
      namespace: 'default',
      serviceAccount: 'waypoint',
      workloadIps: ['10.0.5.5', 'fd00::5:5'],
      protocol: 'HBONE',
      services: [
        {
          key: `default/${WAYPOINT_HOST}`,
          namespace: 'default',
          hostname: WAYPOINT_HOST,
          ports: [{ servicePort: 15008, targetPort: 15008, appProtocol: 'UNKNOWN' }],
        },
      ],
    }),
  ];
}

/**
 * A service on a CIDR VIP (10.0.0.0/24, where the pods of service 0 are): its presence changes how an
 * address that is no exact VIP is answered, a pod IP included.
 */
function cidrService(): ReturnType<typeof createService> {
  return createService({
    name: 'range',
    namespace: 'default',
    hostname: 'range.default.svc.cluster.local',
    cidrVips: [{ network: '', address: '10.0.0.0', length: 24 }],
    ports: [{ servicePort: 80, targetPort: 8080, appProtocol: 'HTTP11' }],
  });
}

// How each of the three services is shaped in a run: the hot path copies some service fields onto its
// index entry and must answer as the general path reads them from the service.
const serviceShapeArb = fc.record({
  namespaceOnly: rarely(4),
  // A second service on the same VIPs in another namespace (bestMatch over several entries).
  twin: rarely(4),
  lb: fc.constantFrom(undefined, 'Standard' as const, 'Strict' as const, 'Passthrough' as const),
  // A waypoint that does not exist (the general path must report it, the hot path must not skip it), or
  // the mesh's waypoint.
  waypoint: fc.constantFrom(undefined, 'missing' as const, 'existing' as const),
});
type ServiceShape = typeof serviceShapeArb extends fc.Arbitrary<infer T> ? T : never;
const PLAIN: ServiceShape = { namespaceOnly: false, twin: false, lb: undefined, waypoint: undefined };

function services(
  shapes: readonly ServiceShape[] = [PLAIN, PLAIN, PLAIN],
): ReturnType<typeof createService>[] {
  return [0, 1, 2].flatMap((s) => {
    const shape = shapes[s] ?? PLAIN;
    const make = (namespace: string) =>
      createService({
        name: `svc-${s}`,
        namespace,
        hostname: `svc-${s}.${namespace}.svc.cluster.local`,
        vips: [
          { network: '', address: `10.96.0.${s + 1}` },
          { network: '', address: `10.96.1.${s + 1}` },
          { network: '', address: `fd00:96::${s + 1}` },
          { network: 'net-b', address: `10.96.0.${s + 1}` },
        ],
        ports: [{ servicePort: 80, targetPort: s === 2 ? 0 : 8080, appProtocol: 'HTTP11' }],
        subjectAltNames: [`spiffe://cluster.local/ns/${namespace}/sa/svc-${s}`],
        ...(shape.namespaceOnly ? { visibility: 'Namespace' as const } : {}),
        ...(shape.lb === undefined
          ? {}
          : {
              loadBalancer: {
                mode: shape.lb,
                routingPreferences: ['Network' as const],
                healthPolicy: 'OnlyHealthy' as const,
              },
            }),
        ...(shape.waypoint === 'missing'
          ? {
              waypoint: {
                destination: {
                  kind: 'hostname' as const,
                  namespace: 'default',
                  hostname: 'missing-waypoint.default.svc.cluster.local',
                },
                hboneMtlsPort: 15008,
              },
            }
          : shape.waypoint === 'existing'
            ? { waypoint: WAYPOINT }
            : {}),
      });
    return shape.twin ? [make('default'), make('other')] : [make('default')];
  });
}

const stepArb = fc.oneof(
  fc.record({
    kind: fc.constant('resolve' as const),
    source: fc.integer({ min: 0, max: 7 }),
    svc: fc.integer({ min: 0, max: 2 }),
    vip: fc.constantFrom('10.96.0.', '10.96.1.', 'fd00:96::'),
    port: rarely(6).map((other) => (other ? 81 : 80)),
    hbonePort: fc.constantFrom(15008, 15009),
    seed: fc.integer({ min: 1, max: 1 << 30 }),
  }),
  fc.record({
    kind: fc.constant('update' as const),
    index: fc.integer({ min: 0, max: 7 }),
    spec: workloadArb,
  }),
  fc.record({ kind: fc.constant('remove' as const), index: fc.integer({ min: 0, max: 7 }) }),
  fc.record({ kind: fc.constant('reapply-services' as const) }),
);

describe('remembered direct answers', () => {
  it('always equal the general algorithm, across endpoint, workload and service changes', () => {
    fc.assert(
      fc.property(
        fc.array(workloadArb, { minLength: 1, maxLength: 8 }),
        fc.array(serviceShapeArb, { minLength: 3, maxLength: 3 }),
        fc.array(stepArb, { maxLength: 40 }),
        (specs, shapes, steps) => {
          const store = createWorkloadStore();
          const workloads = specs.map((spec, i) => workload(i, spec));
          store.apply({ resources: [...services(shapes), ...workloads] });
          const general = plain(store);
          for (const step of steps) {
            if (step.kind === 'update') {
              // Replaces a workload, or adds one right after the last.
              const index = step.index % (workloads.length + 1);
              const w = workload(index, step.spec);
              workloads[index] = w;
              store.apply({ resources: [w] });
              continue;
            }
            if (step.kind === 'reapply-services') {
              // New service entries: VIP lookups rebuilt while workloads may already hold the VIPs.
              store.apply({ removed: services(shapes).map((svc) => svc.key) });
              store.apply({ resources: services(shapes) });
              continue;
            }
            if (step.kind === 'remove') {
              store.apply({ removed: [workloads[step.index % workloads.length]?.uid ?? 'none'] });
              continue;
            }
            const source = workloads[step.source % workloads.length] as Workload;
            const vip = step.vip.includes(':')
              ? `[${step.vip}${step.svc + 1}]`
              : `${step.vip}${step.svc + 1}`;
            const request = { source, destination: `${vip}:${step.port}`, hbonePort: step.hbonePort };
            // Several times each, so later calls can be answered from what earlier ones remembered.
            for (let round = 0; round < 4; round++) {
              const fast = store.resolveUpstream({ ...request, random: seededRandom(step.seed + round) });
              const slow = resolveUpstream(general, { ...request, random: seededRandom(step.seed + round) });
              expect(fast.isOk()).toBe(slow.isOk());
              if (fast.isOk() && slow.isOk()) expect(fast.value).toEqual(slow.value);
              if (fast.isErr() && slow.isErr()) expect(fast.error.code).toBe(slow.error.code);
            }
          }
        },
      ),
      { numRuns: 300 },
    );
  });

  it('never remembers an IP that depends on the dialled address: a HostNetwork endpoint holding a VIP', () => {
    const store = createWorkloadStore();
    const host = workload(0, {
      svc: 0,
      ipv6: false,
      dual: false,
      network: '',
      protocol: 'HBONE',
      capacity: 1,
      hostNetwork: true,
      hostnameOnly: false,
      claimsVip: false,
      otherNamespace: false,
      targetPort: 8080,
      waypoint: false,
    });
    store.apply({ resources: [...services(), host] });
    const first = store.resolveUpstream({ source: host, destination: '10.96.0.1:80' })._unsafeUnwrap();
    const second = store.resolveUpstream({ source: host, destination: '10.96.1.1:80' })._unsafeUnwrap();
    // ztunnel pick_workload_destination_or_resolve: the dialled IP when the workload has it.
    expect(first.authority).toBe('10.0.0.10:8080');
    expect(second.authority).toBe('10.96.1.1:8080');
  });

  it('never remembers an IP resolved per call for a hostname-only endpoint', () => {
    const store = createWorkloadStore();
    const named = workload(0, {
      svc: 0,
      ipv6: false,
      dual: false,
      network: '',
      protocol: 'TCP',
      capacity: 1,
      hostNetwork: false,
      hostnameOnly: true,
      claimsVip: false,
      otherNamespace: false,
      targetPort: 8080,
      waypoint: false,
    });
    store.apply({ resources: [...services(), named] });
    const answers = ['192.0.2.1', '192.0.2.2'].map(
      (ip) =>
        store
          .resolveUpstream({ source: named, destination: '10.96.0.1:80', resolveHostname: () => ip })
          ._unsafeUnwrap().address,
    );
    expect(answers).toEqual(['192.0.2.1:8080', '192.0.2.2:8080']);
  });

  it('keeps a VIP claimed by a workload while services on it come and go', () => {
    const store = createWorkloadStore();
    const shared = (namespace: string) =>
      createService({
        name: 'shared',
        namespace,
        hostname: `shared.${namespace}.svc.cluster.local`,
        vips: [{ network: '', address: '10.96.9.9' }],
        ports: [{ servicePort: 80, targetPort: 8080, appProtocol: 'HTTP11' }],
      });
    const holder = createWorkload({
      uid: 'Kubernetes//Pod/default/holder',
      name: 'holder',
      namespace: 'default',
      workloadIps: ['10.96.9.9'],
      protocol: 'HBONE',
    });
    store.apply({ resources: [shared('a'), shared('b'), holder] });
    store.apply({ removed: [shared('a').key] });
    const general = plain(store);
    const request = { source: holder, destination: '10.96.9.9:80' };
    // ztunnel find_address: a workload at the address wins over any service VIP, so the connection is not
    // service-addressed; find_upstream then tries the (endpoint-less) service and falls back to passthrough.
    const fast = store.resolveUpstream(request)._unsafeUnwrap();
    expect(fast).toEqual(resolveUpstream(general, request)._unsafeUnwrap());
    expect(fast.via).toBe('passthrough');
  });
});

// The store's resolveUpstream has fast paths beyond the remembered answers: a pod IP found once by step 1,
// a plain draw without a search when every capacity is 1, SANs filtered once per service. Against the
// general algorithm on every kind of destination, error paths included.
const destinationArb = fc.oneof(
  fc.record({
    kind: fc.constant('vip' as const),
    svc: fc.integer({ min: 0, max: 2 }),
    vip: fc.constantFrom('10.96.0.', '10.96.1.', 'fd00:96::'),
  }),
  fc.record({ kind: fc.constant('pod' as const), index: fc.nat(9), v6: fc.boolean() }),
  fc.constantFrom(
    { kind: 'text' as const, text: '10.96.5.5' }, // the waypoint's own VIP
    { kind: 'text' as const, text: '10.0.5.5' }, // the waypoint pod
    { kind: 'text' as const, text: '192.0.2.7' }, // unknown: passthrough
    { kind: 'text' as const, text: '10.0.0.200' }, // inside the CIDR VIP, when there is one
    { kind: 'text' as const, text: '127.0.0.1' }, // loopback: a self call on the proxy's ports
    { kind: 'text' as const, text: 'not-an-ip' }, // not ip:port
  ),
);

describe('the store fast paths, on every kind of destination', () => {
  it('answer as the general algorithm', () => {
    fc.assert(
      fc.property(
        fc.array(workloadArb, { minLength: 1, maxLength: 8 }),
        fc.array(serviceShapeArb, { minLength: 3, maxLength: 3 }),
        fc.boolean(),
        fc.array(
          fc.record({
            source: fc.nat(7),
            destination: destinationArb,
            port: fc.constantFrom(80, 8080, 15008, 15001),
            seed: fc.integer({ min: 1, max: 1 << 30 }),
          }),
          { minLength: 1, maxLength: 30 },
        ),
        (specs, shapes, cidr, requests) => {
          const store = createWorkloadStore();
          const workloads = specs.map((spec, i) => workload(i, spec));
          store.apply({
            resources: [
              ...services(shapes),
              ...waypointResources(),
              ...(cidr ? [cidrService()] : []),
              ...workloads,
            ],
          });
          const general = plain(store);
          for (const r of requests) {
            const source = workloads[r.source % workloads.length] as Workload;
            const d = r.destination;
            let ip: string;
            if (d.kind === 'vip') ip = `${d.vip}${d.svc + 1}`;
            else if (d.kind === 'pod') {
              const ips = (workloads[d.index % workloads.length] as Workload).workloadIps;
              ip = ips.find((a) => a.includes(':') === d.v6) ?? ips[0] ?? '10.0.0.1';
            } else ip = d.text;
            const destination = ip.includes(':') ? `[${ip}]:${r.port}` : `${ip}:${r.port}`;
            for (let round = 0; round < 3; round++) {
              const fast = store.resolveUpstream({
                source,
                destination,
                random: seededRandom(r.seed + round),
              });
              const slow = resolveUpstream(general, {
                source,
                destination,
                random: seededRandom(r.seed + round),
              });
              expect(fast.isOk()).toBe(slow.isOk());
              if (fast.isOk() && slow.isOk()) expect(fast.value).toEqual(slow.value);
              if (fast.isErr() && slow.isErr()) {
                expect(fast.error.code).toBe(slow.error.code);
                expect(fast.error.message).toBe(slow.error.message);
              }
            }
          }
        },
      ),
      { numRuns: 300 },
    );
  });
});
