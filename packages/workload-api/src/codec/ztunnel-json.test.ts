import { describe, expect, it } from 'vitest';
import { createIssueList } from './issues.js';
import { createPolicy } from './policy.js';
import { createService } from './service.js';
import { createWorkload } from './workload.js';
import {
  localConfigFromJson,
  localConfigToJson,
  policyToJson,
  serviceToJson,
  workloadToJson,
} from './ztunnel-json.js';

describe('ztunnel JSON', () => {
  it('reads back what it writes (the config_dump form is also a valid local config)', () => {
    const w = createWorkload({
      uid: 'c//Pod/ns/a',
      name: 'a',
      namespace: 'ns',
      workloadIps: ['10.0.0.1', 'fd00::1'],
      protocol: 'HBONE',
      networkMode: 'HostNetwork',
      trustDomain: 'example.org',
      serviceAccount: 'sa',
      node: 'n',
      clusterId: 'c1',
      status: 'Unhealthy',
      capacity: 7,
      locality: { region: 'r', zone: 'z', subzone: '' },
      applicationTunnel: { protocol: 'PROXY', port: 15088 },
      authorizationPolicies: ['ns/p'],
      waypoint: { destination: { kind: 'address', network: '', address: '10.0.0.9' }, hboneMtlsPort: 15008 },
    });
    const s = createService({
      name: 's',
      namespace: 'ns',
      hostname: 's.ns.svc.cluster.local',
      vips: [{ network: 'n1', address: '10.96.0.1' }],
      cidrVips: [{ network: '', address: '10.97.0.0', length: 16 }],
      ports: [{ servicePort: 80, targetPort: 8080, appProtocol: 'UNKNOWN' }],
      subjectAltNames: ['spiffe://example.org/ns/ns/sa/sa'],
      weightedWaypoints: [
        {
          destination: {
            destination: { kind: 'hostname', namespace: 'ns', hostname: 'wp' },
            hboneMtlsPort: 15008,
          },
          weight: 3,
        },
      ],
      loadBalancer: { routingPreferences: ['Region', 'Zone'], mode: 'Strict', healthPolicy: 'AllowAll' },
      ipFamilies: 'Dual',
      visibility: 'Namespace',
    });
    const p = createPolicy({
      name: 'p',
      namespace: 'ns',
      scope: 'WorkloadSelector',
      groups: [
        {
          rules: [
            {
              matches: [
                {
                  notPrincipals: [{ suffix: '/sa/x' }],
                  serviceAccounts: [{ namespace: 'ns', serviceAccount: 'sa' }],
                  notDestinationIps: [{ address: 'fd00::', length: 64 }],
                },
              ],
            },
          ],
        },
      ],
    });
    const issues = createIssueList();
    const back = localConfigFromJson(
      { workloads: [workloadToJson(w)], services: [serviceToJson(s, [])], policies: [policyToJson(p)] },
      issues,
    );
    expect(issues.issues).toEqual([]);
    // The dump lists service keys without ports, so those come back with no port overrides.
    expect(back.workloads[0]).toEqual(w);
    expect(back.services[0]).toEqual(s);
    expect(back.policies[0]).toEqual(p);
  });

  it('turns service endpoints into workload service entries, and applies identity defaults', () => {
    const issues = createIssueList();
    const m = localConfigFromJson(
      {
        workloads: [{ uid: 'u', namespace: 'ns', workloadIps: ['10.0.0.1'] }],
        services: [
          {
            namespace: 'ns',
            hostname: 'h',
            vips: [],
            ports: { 80: 80 },
            endpoints: { u: { workloadUid: 'u', port: { 80: 9090 }, status: 'Healthy' } },
          },
        ],
      },
      issues,
    );
    expect(issues.issues).toEqual([]);
    expect(m.workloads[0]?.identity).toBe('spiffe://cluster.local/ns/ns/sa/default');
    expect(m.workloads[0]?.services).toEqual([
      {
        key: 'ns/h',
        namespace: 'ns',
        hostname: 'h',
        ports: [{ servicePort: 80, targetPort: 9090, appProtocol: 'UNKNOWN' }],
      },
    ]);
  });

  it('writes a local config that reads back to the same models, ports included', () => {
    const models = localConfigFromJson({
      workloads: [
        { uid: 'u', namespace: 'ns', workloadIps: ['10.0.0.1'], services: { 'ns/h': { 80: 9090 } } },
      ],
      services: [{ namespace: 'ns', hostname: 'h', vips: ['/10.96.0.1'], ports: { 80: 80 } }],
      policies: [
        {
          name: 'p',
          namespace: 'ns',
          scope: 'Namespace',
          action: 'Deny',
          rules: [[[{ destinationPorts: [1] }]]],
        },
      ],
    });
    const again = localConfigFromJson(JSON.parse(JSON.stringify(localConfigToJson(models))));
    expect(again).toEqual(models);
  });
});
