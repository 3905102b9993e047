import { describe, expect, it } from 'vitest';
import { createAuthorization } from './authorization.js';
import { createIssueList } from './issues.js';
import { createService } from './service.js';
import { createWorkload } from './workload.js';
import {
  authorizationToJson,
  localConfigFromJson,
  localConfigToJson,
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
    const p = createAuthorization({
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
      {
        workloads: [workloadToJson(w)],
        services: [serviceToJson(s, [])],
        policies: [authorizationToJson(p)],
      },
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

describe('ztunnel JSON is strict at every depth (issue 9)', () => {
  // Every object the format has, each field set once (the docs' "Mesh file format" example).
  const full = (): Record<string, unknown> => ({
    workloads: [
      {
        uid: 'Kubernetes//Pod/default/echo-1',
        name: 'echo-1',
        namespace: 'default',
        serviceAccount: 'echo',
        trustDomain: 'cluster.local',
        workloadIps: ['10.244.1.5'],
        network: '',
        protocol: 'HBONE',
        networkMode: 'Standard',
        node: 'node-a',
        clusterId: 'Kubernetes',
        status: 'Healthy',
        capacity: 1,
        locality: { region: 'r1', zone: 'z1', subzone: '' },
        waypoint: { destination: 'default/waypoint.default.svc.cluster.local', hboneMtlsPort: 15008 },
        networkGateway: { destination: 'net2/203.0.113.10', hboneMtlsPort: 15008 },
        applicationTunnel: { protocol: 'PROXY', port: 15088 },
        authorizationPolicies: ['default/allow-sleep'],
        services: { 'default/echo.default.svc.cluster.local': { 80: 8080 } },
      },
    ],
    services: [
      {
        name: 'echo',
        namespace: 'default',
        hostname: 'echo.default.svc.cluster.local',
        vips: ['/10.96.0.10'],
        cidrVips: [{ network: '', cidr: '10.97.0.0/16' }],
        ports: { 80: 8080 },
        subjectAltNames: ['spiffe://cluster.local/ns/default/sa/echo'],
        waypoint: { destination: '/10.96.0.20', hboneMtlsPort: 15008 },
        weightedWaypoints: [
          { destination: { destination: 'default/canary', hboneMtlsPort: 15008 }, weight: 10 },
        ],
        loadBalancer: { routingPreferences: ['Network'], mode: 'Failover', healthPolicy: 'OnlyHealthy' },
        ipFamilies: 'Dual',
        canonical: false,
        visibility: 'Public',
        endpoints: {
          'Kubernetes//Pod/default/echo-1': {
            workloadUid: 'Kubernetes//Pod/default/echo-1',
            port: { 80: 8080 },
            status: 'Healthy',
          },
        },
      },
    ],
    policies: [
      {
        name: 'deny-9999',
        namespace: 'default',
        scope: 'Namespace',
        action: 'Deny',
        dryRun: false,
        rules: [
          [
            [
              {
                destinationPorts: [9999],
                principals: [{ Exact: 'cluster.local/ns/default/sa/bad' }],
                notSourceIps: ['10.0.0.0/8'],
                serviceAccounts: [{ namespace: 'default', serviceAccount: 'sleep' }],
              },
            ],
          ],
        ],
      },
    ],
  });

  it('reads the full example without issues', () => {
    const issues = createIssueList();
    const m = localConfigFromJson(full(), issues);
    expect(issues.issues).toEqual([]);
    expect([m.workloads.length, m.services.length, m.policies.length]).toEqual([1, 1, 1]);
  });

  it('a misspelt key inside a DENY match is an error with its path, not a match that never matches', () => {
    const doc = full();
    const match = objects(doc, '', []).find((f) => f.path === 'policies[0].rules[0][0][0]');
    if (match === undefined) throw new Error('no match in the example');
    match.obj['sourceIP'] = ['10.1.0.0/16'];
    const issues = createIssueList();
    const m = localConfigFromJson(doc, issues);
    expect(issues.issues).toEqual([
      {
        path: 'policies[0].rules[0][0][0].sourceIP',
        code: 'WORKLOAD_API_ERR_BAD_FILE',
        message: 'unknown field (did you mean sourceIps?)',
      },
    ]);
    expect(m.policies).toEqual([]);
  });

  it('`serviceaccount:` on a workload is an error, not a silent sa/default', () => {
    const issues = createIssueList();
    const m = localConfigFromJson(
      { workloads: [{ uid: 'u', namespace: 'ns', serviceaccount: 'sleep', workloadIps: ['10.0.0.1'] }] },
      issues,
    );
    expect(m.workloads).toEqual([]);
    expect(issues.issues.map((i) => `${i.path}: ${i.message}`)).toEqual([
      'workloads[0].serviceaccount: unknown field (did you mean serviceAccount?)',
    ]);
  });

  // Every object of the example, in walk order, with its path; `data` marks maps keyed by data (ports,
  // uids, service keys), where an extra key is a bad port or a bad service key rather than an unknown field.
  interface Found {
    readonly path: string;
    readonly obj: Record<string, unknown>;
    readonly data: boolean;
  }
  function objects(value: unknown, path: string, out: Found[]): Found[] {
    if (Array.isArray(value)) {
      for (const [i, v] of value.entries()) objects(v, `${path}[${i}]`, out);
      return out;
    }
    if (typeof value !== 'object' || value === null) return out;
    const last = path.slice(path.lastIndexOf('.') + 1);
    const data =
      ['ports', 'port', 'endpoints'].includes(last) || /workloads\[\d+\]\.services(\[".*"\])?$/.test(path);
    out.push({ path, obj: value as Record<string, unknown>, data });
    for (const [k, v] of Object.entries(value)) {
      const seg = /^[A-Za-z_][A-Za-z0-9_]*$/.test(k) ? k : `[${JSON.stringify(k)}]`;
      objects(v, path === '' ? seg : seg.startsWith('[') ? `${path}${seg}` : `${path}.${seg}`, out);
    }
    return out;
  }

  it('every object at every depth rejects an unknown key, naming its path', () => {
    const count = objects(full(), '', []).length;
    expect(count).toBeGreaterThanOrEqual(20);
    for (let n = 0; n < count; n++) {
      const doc = full();
      const target = objects(doc, '', [])[n] as Found;
      const { path, data } = target;
      target.obj['zzTypo'] = 1;
      const issues = createIssueList();
      localConfigFromJson(doc, issues);
      const where = path === '' ? 'zzTypo' : `${path}.zzTypo`;
      if (data) {
        expect(issues.issues.length, `an extra key in ${path || 'the top level'}`).toBeGreaterThan(0);
        expect(
          issues.issues.every((i) => i.path.startsWith(path) || i.message.startsWith('endpoint workload')),
        ).toBe(true);
      } else {
        // The object is rejected; a service endpoint naming a rejected workload is reported too.
        expect(issues.issues[0], `an extra key in ${path || 'the top level'}`).toEqual({
          path: where,
          code: 'WORKLOAD_API_ERR_BAD_FILE',
          message: 'unknown field',
        });
        expect(issues.issues.slice(1).every((i) => i.message.startsWith('endpoint workload'))).toBe(true);
      }
    }
  });

  it('rejects shapes that used to read as empty: non-list rules, Presence with a value, two match forms', () => {
    const issues = createIssueList();
    const m = localConfigFromJson(
      {
        policies: [
          {
            name: 'a',
            namespace: 'ns',
            scope: 'Namespace',
            action: 'Deny',
            rules: [{ destinationPorts: [1] }],
          },
          {
            name: 'b',
            namespace: 'ns',
            scope: 'Namespace',
            action: 'Deny',
            rules: [[[{ principals: [{ Presence: ['x'] }] }]]],
          },
          {
            name: 'c',
            namespace: 'ns',
            scope: 'Namespace',
            action: 'Deny',
            rules: [[[{ principals: [{ Exact: 'a', Prefix: 'b' }] }]]],
          },
          {
            name: 'd',
            namespace: 'ns',
            scope: 'Namespace',
            action: 'Deny',
            rules: [[[{ serviceAccounts: ['ns/sa'] }]]],
          },
          { name: 'e', namespace: 'ns', scope: 'Namespace', rules: [] },
          {
            name: 'f',
            namespace: 'ns',
            scope: 'Namespace',
            action: 'Deny',
            rules: [[[{ principals: [{ exact: 'x' }] }]]],
          },
        ],
      },
      issues,
    );
    expect(m.policies).toEqual([]);
    expect(issues.issues.map((i) => `${i.path}: ${i.message}`)).toEqual([
      'policies[0].rules[0]: a rule (list of clauses) must be a list',
      'policies[1].rules[0][0][0].principals[0].Presence: Presence takes no value: write {Presence: []}',
      'policies[2].rules[0][0][0].principals[0]: expected exactly one of Exact, Prefix, Suffix, Presence',
      'policies[3].rules[0][0][0].serviceAccounts[0]: a service account match must be a map',
      'policies[4].action: action is required',
      'policies[5].rules[0][0][0].principals[0].exact: unknown field (did you mean Exact?)',
    ]);
  });
});
