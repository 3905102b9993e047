import { describe, expect, it } from 'vitest';
import type { GatewayAddress } from '../codec/network.js';
import { createService, type ServiceInit } from '../codec/service.js';
import { createWorkload, type Workload, type WorkloadInit, type WorkloadService } from '../codec/workload.js';
import { createWorkloadStore, type WorkloadStore } from '../store/workload-store.js';
import { seededRandom } from './random.js';

const ECHO = 'echo.default.svc.cluster.local';
const ECHO_KEY = `default/${ECHO}`;
const WP = 'waypoint.default.svc.cluster.local';
const WP_KEY = `default/${WP}`;
const WP_GW: GatewayAddress = {
  destination: { kind: 'hostname', namespace: 'default', hostname: WP },
  hboneMtlsPort: 15008,
};

function wl(name: string, init: Partial<WorkloadInit> = {}): Workload {
  return createWorkload({
    uid: `Kubernetes//Pod/default/${name}`,
    name,
    namespace: 'default',
    serviceAccount: name,
    protocol: 'HBONE',
    ...init,
  });
}
function backs(key: string, servicePort: number, targetPort: number): WorkloadService[] {
  const [namespace, hostname] = key.split('/') as [string, string];
  return [{ key, namespace, hostname, ports: [{ servicePort, targetPort, appProtocol: 'UNKNOWN' }] }];
}
function svc(init: Partial<ServiceInit> & { hostname: string }): ReturnType<typeof createService> {
  return createService({ namespace: 'default', name: init.hostname.split('.')[0] ?? '', ...init });
}

const sleep = wl('sleep', { workloadIps: ['10.0.0.1'] });

function mesh(): WorkloadStore {
  const store = createWorkloadStore();
  store.apply({
    resources: [
      sleep,
      svc({
        hostname: ECHO,
        vips: [{ network: '', address: '10.96.0.10' }],
        ports: [{ servicePort: 80, targetPort: 8080, appProtocol: 'HTTP11' }],
        subjectAltNames: ['spiffe://cluster.local/ns/default/sa/echo-san', 'not-a-spiffe-id'],
      }),
      wl('echo-1', {
        workloadIps: ['10.0.0.5'],
        serviceAccount: 'echo',
        services: backs(ECHO_KEY, 80, 8080),
      }),
    ],
  });
  return store;
}

function addWaypoint(store: WorkloadStore, network = ''): Workload {
  const waypoint = wl('waypoint', {
    workloadIps: ['10.0.0.20'],
    network,
    serviceAccount: 'waypoint',
    services: backs(WP_KEY, 15008, 15008),
  });
  store.apply({
    resources: [
      svc({
        hostname: WP,
        vips: [{ network, address: '10.96.0.20' }],
        ports: [{ servicePort: 15008, targetPort: 15008, appProtocol: 'UNKNOWN' }],
      }),
      waypoint,
    ],
  });
  return waypoint;
}

describe('resolveUpstream', () => {
  it('service-addressed, HBONE endpoint: podIP:15008 with authority podIP:targetPort and the expected identities', () => {
    const r = mesh().resolveUpstream({ source: sleep, destination: '10.96.0.10:80' })._unsafeUnwrap();
    expect(r).toMatchObject({
      protocol: 'HBONE',
      via: 'direct',
      address: '10.0.0.5:15008',
      authority: '10.0.0.5:8080',
    });
    // Service SANs that parse as SPIFFE ids, then the workload identity (state.rs workload_and_services_san).
    expect(r.identities).toEqual([
      'spiffe://cluster.local/ns/default/sa/echo-san',
      'spiffe://cluster.local/ns/default/sa/echo',
    ]);
    expect(r.service?.hostname).toBe(ECHO);
    expect(r.workload?.name).toBe('echo-1');
  });

  it('follows endpoint and port changes of a service', () => {
    const store = mesh();
    const first = store.resolveUpstream({ source: sleep, destination: '10.96.0.10:80' })._unsafeUnwrap();
    expect(store.resolveUpstream({ source: sleep, destination: '10.96.0.10:80' })._unsafeUnwrap()).toEqual(
      first,
    );
    // Another port of the same service is a different upstream.
    store.apply({
      resources: [
        svc({
          hostname: ECHO,
          vips: [{ network: '', address: '10.96.0.10' }],
          ports: [
            { servicePort: 80, targetPort: 8080, appProtocol: 'HTTP11' },
            { servicePort: 443, targetPort: 8443, appProtocol: 'TLS' },
          ],
        }),
      ],
    });
    expect(
      store.resolveUpstream({ source: sleep, destination: '10.96.0.10:443' })._unsafeUnwrap().authority,
    ).toBe('10.0.0.5:8443');
    store.apply({
      resources: [
        wl('echo-1', {
          workloadIps: ['10.0.0.55'],
          serviceAccount: 'echo',
          services: backs(ECHO_KEY, 80, 8080),
        }),
      ],
    });
    expect(
      store.resolveUpstream({ source: sleep, destination: '10.96.0.10:80' })._unsafeUnwrap(),
    ).toMatchObject({
      address: '10.0.0.55:15008',
      authority: '10.0.0.55:8080',
    });
  });

  it('pod-addressed HBONE keeps the dialled port; a NONE (TCP) workload gets plain TCP', () => {
    const store = mesh();
    store.apply({ resources: [wl('legacy', { workloadIps: ['10.0.0.6'], protocol: 'TCP' })] });
    expect(
      store.resolveUpstream({ source: sleep, destination: '10.0.0.5:9090' })._unsafeUnwrap(),
    ).toMatchObject({
      protocol: 'HBONE',
      address: '10.0.0.5:15008',
      authority: '10.0.0.5:9090',
      identities: ['spiffe://cluster.local/ns/default/sa/echo'],
    });
    const tcp = store.resolveUpstream({ source: sleep, destination: '10.0.0.6:8080' })._unsafeUnwrap();
    expect(tcp).toMatchObject({ protocol: 'TCP', via: 'direct', address: '10.0.0.6:8080' });
    expect(tcp.authority).toBeUndefined();
  });

  it('unknown destination passes through; a known service without healthy endpoints is an error', () => {
    const store = mesh();
    expect(store.resolveUpstream({ source: sleep, destination: '192.0.2.1:443' })._unsafeUnwrap()).toEqual({
      protocol: 'TCP',
      via: 'passthrough',
      address: '192.0.2.1:443',
      identities: [],
      finalIdentities: [],
    });
    store.apply({
      resources: [
        wl('echo-1', { workloadIps: ['10.0.0.5'], status: 'Unhealthy', services: backs(ECHO_KEY, 80, 8080) }),
      ],
    });
    expect(
      store.resolveUpstream({ source: sleep, destination: '10.96.0.10:80' })._unsafeUnwrapErr().code,
    ).toBe('WORKLOAD_API_ERR_NO_HEALTHY_UPSTREAM');
    // A port the service does not have has no upstream either (state.rs:382-388).
    store.apply({
      resources: [wl('echo-1', { workloadIps: ['10.0.0.5'], services: backs(ECHO_KEY, 80, 8080) })],
    });
    expect(
      store.resolveUpstream({ source: sleep, destination: '10.96.0.10:81' })._unsafeUnwrapErr().code,
    ).toBe('WORKLOAD_API_ERR_NO_HEALTHY_UPSTREAM');
  });

  it('a PASSTHROUGH service goes to the original destination', () => {
    const store = mesh();
    store.apply({
      resources: [
        svc({
          hostname: 'pt.example.com',
          vips: [{ network: '', address: '10.96.0.99' }],
          ports: [{ servicePort: 443, targetPort: 443, appProtocol: 'TLS' }],
          loadBalancer: { routingPreferences: [], mode: 'Passthrough', healthPolicy: 'OnlyHealthy' },
        }),
      ],
    });
    expect(
      store.resolveUpstream({ source: sleep, destination: '10.96.0.99:443' })._unsafeUnwrap(),
    ).toMatchObject({
      protocol: 'TCP',
      via: 'passthrough',
      address: '10.96.0.99:443',
    });
  });

  it('a service waypoint gets HBONE with the original VIP:port as authority, before the endpoint waypoint', () => {
    const store = mesh();
    const waypoint = addWaypoint(store);
    const other = wl('other-wp', { workloadIps: ['10.0.0.30'] });
    store.apply({
      resources: [
        other,
        svc({
          hostname: ECHO,
          vips: [{ network: '', address: '10.96.0.10' }],
          ports: [{ servicePort: 80, targetPort: 8080, appProtocol: 'UNKNOWN' }],
          waypoint: WP_GW,
        }),
        // The endpoint's own waypoint must not be consulted for service-addressed traffic (outbound.rs:720-721).
        wl('echo-1', {
          workloadIps: ['10.0.0.5'],
          services: backs(ECHO_KEY, 80, 8080),
          waypoint: {
            destination: { kind: 'address', network: '', address: '10.0.0.30' },
            hboneMtlsPort: 15008,
          },
        }),
      ],
    });
    const r = store.resolveUpstream({ source: sleep, destination: '10.96.0.10:80' })._unsafeUnwrap();
    expect(r).toMatchObject({
      protocol: 'HBONE',
      via: 'service-waypoint',
      address: '10.0.0.20:15008',
      authority: '10.96.0.10:80',
    });
    expect(r.identities).toEqual([waypoint.identity]);
    expect(r.workload).toBe(waypoint);
    expect(r.service?.hostname).toBe(ECHO);
  });

  it('a waypoint referenced by IP is dialled at that IP', () => {
    const store = mesh();
    addWaypoint(store);
    store.apply({
      resources: [
        svc({
          hostname: ECHO,
          vips: [{ network: '', address: '10.96.0.10' }],
          ports: [{ servicePort: 80, targetPort: 8080, appProtocol: 'UNKNOWN' }],
          waypoint: {
            destination: { kind: 'address', network: '', address: '10.0.0.20' },
            hboneMtlsPort: 15008,
          },
        }),
      ],
    });
    expect(
      store.resolveUpstream({ source: sleep, destination: '10.96.0.10:80' })._unsafeUnwrap(),
    ).toMatchObject({
      address: '10.0.0.20:15008',
      authority: '10.96.0.10:80',
    });
  });

  it('draws weighted waypoints per connection in proportion to weight; weight 0 gets nothing', () => {
    const store = mesh();
    addWaypoint(store);
    const canary = wl('canary', { workloadIps: ['10.0.0.21'], serviceAccount: 'canary' });
    const off = wl('off', { workloadIps: ['10.0.0.22'] });
    const at = (ip: string): GatewayAddress => ({
      destination: { kind: 'address', network: '', address: ip },
      hboneMtlsPort: 15008,
    });
    store.apply({
      resources: [
        canary,
        off,
        svc({
          hostname: ECHO,
          vips: [{ network: '', address: '10.96.0.10' }],
          ports: [{ servicePort: 80, targetPort: 8080, appProtocol: 'UNKNOWN' }],
          waypoint: WP_GW,
          weightedWaypoints: [
            { destination: WP_GW, weight: 75 },
            { destination: at('10.0.0.21'), weight: 25 },
            { destination: at('10.0.0.22'), weight: 0 },
          ],
        }),
      ],
    });
    const random = seededRandom(7);
    const counts = new Map<string, number>();
    for (let i = 0; i < 4000; i++) {
      const a = store
        .resolveUpstream({ source: sleep, destination: '10.96.0.10:80', random })
        ._unsafeUnwrap().address;
      counts.set(a, (counts.get(a) ?? 0) + 1);
    }
    expect(counts.get('10.0.0.22:15008')).toBeUndefined();
    expect((counts.get('10.0.0.21:15008') ?? 0) / 4000).toBeGreaterThan(0.22);
    expect((counts.get('10.0.0.21:15008') ?? 0) / 4000).toBeLessThan(0.28);
    expect((counts.get('10.0.0.20:15008') ?? 0) / 4000).toBeGreaterThan(0.72);
  });

  it('a workload waypoint applies to pod-addressed traffic, except from the waypoint itself', () => {
    const store = mesh();
    const waypoint = addWaypoint(store);
    store.apply({
      resources: [
        wl('echo-1', {
          workloadIps: ['10.0.0.5'],
          serviceAccount: 'echo',
          services: backs(ECHO_KEY, 80, 8080),
          waypoint: WP_GW,
        }),
      ],
    });
    const r = store.resolveUpstream({ source: sleep, destination: '10.0.0.5:8080' })._unsafeUnwrap();
    expect(r).toMatchObject({
      protocol: 'HBONE',
      via: 'workload-waypoint',
      address: '10.0.0.20:15008',
      authority: '10.0.0.5:8080',
    });
    expect(r.identities).toEqual([waypoint.identity]);
    // From the waypoint (identity and IP match, proxy.rs check_from_waypoint): straight to the pod.
    expect(
      store.resolveUpstream({ source: waypoint, destination: '10.0.0.5:8080' })._unsafeUnwrap(),
    ).toMatchObject({
      via: 'direct',
      address: '10.0.0.5:15008',
    });
    // Same identity from another IP is not the waypoint.
    expect(
      store
        .resolveUpstream({ source: waypoint, sourceIp: '10.9.9.9', destination: '10.0.0.5:8080' })
        ._unsafeUnwrap().via,
    ).toBe('workload-waypoint');
    // Service-addressed traffic never uses the workload waypoint.
    expect(store.resolveUpstream({ source: sleep, destination: '10.96.0.10:80' })._unsafeUnwrap().via).toBe(
      'direct',
    );
  });

  it('an unknown waypoint is an error', () => {
    const store = mesh();
    store.apply({
      resources: [
        svc({
          hostname: ECHO,
          vips: [{ network: '', address: '10.96.0.10' }],
          ports: [{ servicePort: 80, targetPort: 8080, appProtocol: 'UNKNOWN' }],
          waypoint: WP_GW,
        }),
      ],
    });
    expect(
      store.resolveUpstream({ source: sleep, destination: '10.96.0.10:80' })._unsafeUnwrapErr().code,
    ).toBe('WORKLOAD_API_ERR_UNKNOWN_WAYPOINT');
  });

  it('an endpoint on another network goes through its network gateway as double HBONE', () => {
    const store = createWorkloadStore();
    const gwAddr: GatewayAddress = {
      destination: { kind: 'address', network: 'remote', address: '203.0.113.10' },
      hboneMtlsPort: 15009,
    };
    const gateway = wl('eastwest', {
      workloadIps: ['203.0.113.10'],
      network: 'remote',
      namespace: 'istio-system',
      serviceAccount: 'istio-eastwestgateway',
    });
    store.apply({
      resources: [
        sleep,
        gateway,
        svc({
          hostname: ECHO,
          vips: [{ network: '', address: '10.96.0.10' }],
          ports: [{ servicePort: 80, targetPort: 8080, appProtocol: 'UNKNOWN' }],
          subjectAltNames: ['spiffe://cluster.local/ns/default/sa/echo'],
        }),
        // A remote pod with no IP, reachable only through the gateway.
        wl('remote-echo', { network: 'remote', networkGateway: gwAddr, services: backs(ECHO_KEY, 80, 8080) }),
      ],
    });
    const r = store.resolveUpstream({ source: sleep, destination: '10.96.0.10:80' })._unsafeUnwrap();
    expect(r).toMatchObject({
      protocol: 'DOUBLEHBONE',
      via: 'network-gateway',
      address: '203.0.113.10:15009',
      authority: `${ECHO}:80`,
      identities: [gateway.identity],
      finalIdentities: ['spiffe://cluster.local/ns/default/sa/echo'],
    });
    expect(r.workload).toBe(gateway);
    // A same-network client never uses a gateway-only endpoint.
    const local = wl('local', { workloadIps: ['10.1.0.1'], network: 'remote' });
    expect(
      store.resolveUpstream({ source: local, destination: '10.96.0.10:80', network: '' })._unsafeUnwrapErr()
        .code,
    ).toBe('WORKLOAD_API_ERR_NO_HEALTHY_UPSTREAM');
  });

  it('a remote endpoint without a network gateway, or a missing gateway, is an error', () => {
    const store = mesh();
    store.apply({
      resources: [
        wl('echo-1', { workloadIps: ['10.0.0.5'], network: 'remote', services: backs(ECHO_KEY, 80, 8080) }),
      ],
    });
    expect(
      store.resolveUpstream({ source: sleep, destination: '10.96.0.10:80' })._unsafeUnwrapErr().code,
    ).toBe('WORKLOAD_API_ERR_NO_VALID_DESTINATION');
    store.apply({
      resources: [
        wl('echo-1', {
          network: 'remote',
          services: backs(ECHO_KEY, 80, 8080),
          networkGateway: {
            destination: { kind: 'hostname', namespace: 'istio-system', hostname: 'gw.example' },
            hboneMtlsPort: 15008,
          },
        }),
      ],
    });
    expect(
      store.resolveUpstream({ source: sleep, destination: '10.96.0.10:80' })._unsafeUnwrapErr().code,
    ).toBe('WORKLOAD_API_ERR_UNKNOWN_NETWORK_GATEWAY');
  });

  it('a service waypoint on another network goes through that network gateway', () => {
    const store = mesh();
    const gwAddr: GatewayAddress = {
      destination: { kind: 'address', network: 'remote', address: '203.0.113.10' },
      hboneMtlsPort: 15008,
    };
    store.apply({
      resources: [
        wl('eastwest', { workloadIps: ['203.0.113.10'], network: 'remote' }),
        svc({
          hostname: WP,
          vips: [{ network: 'remote', address: '10.200.0.20' }],
          ports: [{ servicePort: 15008, targetPort: 15008, appProtocol: 'UNKNOWN' }],
        }),
        wl('waypoint', {
          workloadIps: ['10.200.0.20'],
          network: 'remote',
          networkGateway: gwAddr,
          services: backs(WP_KEY, 15008, 15008),
        }),
        svc({
          hostname: ECHO,
          vips: [{ network: '', address: '10.96.0.10' }],
          ports: [{ servicePort: 80, targetPort: 8080, appProtocol: 'UNKNOWN' }],
          waypoint: WP_GW,
        }),
      ],
    });
    expect(
      store.resolveUpstream({ source: sleep, destination: '10.96.0.10:80' })._unsafeUnwrap(),
    ).toMatchObject({
      protocol: 'DOUBLEHBONE',
      address: '203.0.113.10:15008',
      authority: `${ECHO}:80`,
    });
  });

  it('refuses loopback calls to the proxy ports and unparsable destinations', () => {
    const store = mesh();
    for (const d of ['127.0.0.1:15001', '127.0.0.1:15006', '127.0.0.1:15008', '[::1]:15008']) {
      expect(store.resolveUpstream({ source: sleep, destination: d })._unsafeUnwrapErr().code).toBe(
        'WORKLOAD_API_ERR_SELF_CALL',
      );
    }
    expect(store.resolveUpstream({ source: sleep, destination: '127.0.0.1:8080' })._unsafeUnwrap().via).toBe(
      'passthrough',
    );
    for (const d of ['10.0.0.1', 'nope:80', '10.0.0.1:99999', 'fd00::1:80']) {
      expect(store.resolveUpstream({ source: sleep, destination: d })._unsafeUnwrapErr().code).toBe(
        'WORKLOAD_API_ERR_BAD_DESTINATION',
      );
    }
  });

  it('keeps the caller family on dual-stack workloads and honours the service ip families', () => {
    const store = createWorkloadStore();
    store.apply({
      resources: [
        svc({
          hostname: ECHO,
          vips: [
            { network: '', address: '10.96.0.10' },
            { network: '', address: 'fd00:10:96::a' },
          ],
          ports: [{ servicePort: 80, targetPort: 8080, appProtocol: 'UNKNOWN' }],
        }),
        wl('echo-1', { workloadIps: ['10.0.0.5', 'fd00::5'], services: backs(ECHO_KEY, 80, 8080) }),
      ],
    });
    expect(
      store.resolveUpstream({ source: sleep, destination: '[fd00:10:96::a]:80' })._unsafeUnwrap(),
    ).toMatchObject({
      address: '[fd00::5]:15008',
      authority: '[fd00::5]:8080',
    });
    store.apply({
      resources: [
        svc({
          hostname: ECHO,
          vips: [{ network: '', address: 'fd00:10:96::a' }],
          ports: [{ servicePort: 80, targetPort: 8080, appProtocol: 'UNKNOWN' }],
          ipFamilies: 'IPv4',
        }),
      ],
    });
    expect(
      store.resolveUpstream({ source: sleep, destination: '[fd00:10:96::a]:80' })._unsafeUnwrap().address,
    ).toBe('10.0.0.5:15008');
  });

  it('resolves hostname-only workloads through the caller and uses the app tunnel port when the service has none', () => {
    const store = createWorkloadStore();
    store.apply({
      resources: [
        svc({
          hostname: 'ext.example.com',
          vips: [{ network: '', address: '240.240.0.5' }],
          ports: [{ servicePort: 443, targetPort: 0, appProtocol: 'TLS' }],
        }),
        wl('ext', {
          hostname: 'api.example.com',
          protocol: 'TCP',
          services: backs('default/ext.example.com', 443, 443),
        }),
        svc({
          hostname: 'tun.example.com',
          vips: [{ network: '', address: '240.240.0.6' }],
          ports: [{ servicePort: 9000, targetPort: 0, appProtocol: 'TCP' }],
        }),
        wl('tun', {
          workloadIps: ['10.0.0.7'],
          applicationTunnel: { protocol: 'PROXY', port: 15088 },
          services: [
            { key: 'default/tun.example.com', namespace: 'default', hostname: 'tun.example.com', ports: [] },
          ],
        }),
      ],
    });
    expect(
      store.resolveUpstream({ source: sleep, destination: '240.240.0.5:443' })._unsafeUnwrapErr().code,
    ).toBe('WORKLOAD_API_ERR_NO_VALID_DESTINATION');
    const ok = store.resolveUpstream({
      source: sleep,
      destination: '240.240.0.5:443',
      resolveHostname: (h) => (h === 'api.example.com' ? '198.51.100.7' : undefined),
    });
    expect(ok._unsafeUnwrap()).toMatchObject({ protocol: 'TCP', address: '198.51.100.7:443' });
    // Target port 0 and no endpoint mapping: filtered in Standard mode (state.rs:410-417).
    expect(
      store.resolveUpstream({ source: sleep, destination: '240.240.0.6:9000' })._unsafeUnwrapErr().code,
    ).toBe('WORKLOAD_API_ERR_NO_HEALTHY_UPSTREAM');
  });
});
