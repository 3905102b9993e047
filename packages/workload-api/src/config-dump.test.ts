import { describe, expect, it } from 'vitest';
import { createAuthorization } from './codec/authorization.js';
import { createService } from './codec/service.js';
import { createWorkload } from './codec/workload.js';
import { configDump } from './config-dump.js';
import { createWorkloadStore } from './store/workload-store.js';

describe('configDump', () => {
  it("renders ztunnel's /config_dump arrays, sorted, with serde's field names and skip rules", () => {
    const store = createWorkloadStore();
    store.apply({
      resources: [
        createWorkload({
          uid: 'c//Pod/default/b',
          name: 'b',
          namespace: 'default',
          workloadIps: ['10.0.0.2'],
          protocol: 'HBONE',
          node: 'node-a',
          waypoint: {
            destination: {
              kind: 'hostname',
              namespace: 'default',
              hostname: 'waypoint.default.svc.cluster.local',
            },
            hboneMtlsPort: 15008,
          },
          services: [
            {
              key: 'default/echo.default.svc.cluster.local',
              namespace: 'default',
              hostname: 'echo.default.svc.cluster.local',
              ports: [{ servicePort: 80, targetPort: 8080, appProtocol: 'UNKNOWN' }],
            },
          ],
        }),
        createWorkload({
          uid: 'c//Pod/default/a',
          name: 'a',
          namespace: 'default',
          workloadIps: ['10.0.0.1'],
          networkGateway: {
            destination: { kind: 'address', network: 'net2', address: '203.0.113.1' },
            hboneMtlsPort: 15009,
          },
          services: [
            {
              key: 'default/pending.example.com',
              namespace: 'default',
              hostname: 'pending.example.com',
              ports: [{ servicePort: 443, targetPort: 8443, appProtocol: 'TLS' }],
            },
          ],
        }),
        createService({
          name: 'echo',
          namespace: 'default',
          hostname: 'echo.default.svc.cluster.local',
          vips: [{ network: '', address: '10.96.0.10' }],
          cidrVips: [{ network: '', address: '10.97.0.0', length: 16 }],
          ports: [{ servicePort: 80, targetPort: 8080, appProtocol: 'UNKNOWN' }],
          loadBalancer: { routingPreferences: ['Network'], mode: 'Failover', healthPolicy: 'OnlyHealthy' },
        }),
        createService({ name: 'a', namespace: 'x', hostname: 'a.example.com' }),
        createAuthorization({
          name: 'p',
          namespace: 'default',
          scope: 'Namespace',
          action: 'Deny',
          groups: [
            {
              rules: [
                {
                  matches: [
                    {
                      principals: [{ exact: 'td/ns/a/sa/b' }, { presence: true }],
                      sourceIps: [{ address: '10.0.0.0', length: 8 }],
                    },
                  ],
                },
              ],
            },
          ],
        }),
      ],
    });
    const dump = configDump(store, { version: { version: '1.0' } });
    expect(Object.keys(dump)).toEqual([
      'workloads',
      'services',
      'policies',
      'stagedServices',
      'staticConfig',
      'version',
      'certificates',
    ]);
    expect(dump.workloads.map((w) => (w as { uid: string }).uid)).toEqual([
      'c//Pod/default/a',
      'c//Pod/default/b',
    ]);
    expect(dump.services.map((s) => (s as { hostname: string }).hostname)).toEqual([
      'a.example.com',
      'echo.default.svc.cluster.local',
    ]);
    expect(dump.workloads[1]).toEqual({
      workloadIps: ['10.0.0.2'],
      waypoint: { destination: 'default/waypoint.default.svc.cluster.local', hboneMtlsPort: 15008 },
      protocol: 'HBONE',
      networkMode: 'Standard',
      uid: 'c//Pod/default/b',
      name: 'b',
      namespace: 'default',
      trustDomain: 'cluster.local',
      serviceAccount: 'default',
      workloadType: 'deployment',
      node: 'node-a',
      status: 'Healthy',
      clusterId: 'Kubernetes',
      services: ['default/echo.default.svc.cluster.local'],
      capacity: 1,
    });
    expect((dump.workloads[0] as { networkGateway: unknown }).networkGateway).toEqual({
      destination: 'net2/203.0.113.1',
      hboneMtlsPort: 15009,
    });
    expect(dump.services[1]).toEqual({
      name: 'echo',
      namespace: 'default',
      hostname: 'echo.default.svc.cluster.local',
      vips: ['/10.96.0.10'],
      cidrVips: [{ network: '', cidr: '10.97.0.0/16' }],
      ports: { '80': 8080 },
      endpoints: {
        'c//Pod/default/b': { workloadUid: 'c//Pod/default/b', port: { '80': 8080 }, status: 'Healthy' },
      },
      subjectAltNames: [],
      loadBalancer: { routingPreferences: ['Network'], mode: 'Failover', healthPolicy: 'OnlyHealthy' },
      canonical: false,
      visibility: 'Public',
    });
    expect(dump.policies).toEqual([
      {
        name: 'p',
        namespace: 'default',
        scope: 'Namespace',
        action: 'Deny',
        rules: [[[{ principals: [{ Exact: 'td/ns/a/sa/b' }, { Presence: [] }], sourceIps: ['10.0.0.0/8'] }]]],
        dryRun: false,
      },
    ]);
    expect(dump.stagedServices).toEqual({
      'default/pending.example.com': {
        'c//Pod/default/a': { workloadUid: 'c//Pod/default/a', port: { '443': 8443 }, status: 'Healthy' },
      },
    });
    expect(dump.staticConfig).toEqual({ workloads: [], policies: [], services: [] });
    expect(dump.certificates).toEqual([]);
    expect(JSON.parse(JSON.stringify(dump))).toEqual(dump);
  });
});
