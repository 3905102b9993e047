import {
  createService,
  createWorkload,
  createWorkloadStore,
  type MeshResource,
  type Workload,
  type WorkloadStore,
} from '@ambient-kit/workload-api';
import { describe, expect, it } from 'vitest';
import { answerFromMesh } from './dns-answer.js';

// Mostly the cases of istio/ztunnel@62d82653:src/dns/server.rs `lookup` tests, on our store.
function mesh(extra: MeshResource[] = []): { store: WorkloadStore; client: Workload } {
  const store = createWorkloadStore();
  const client = createWorkload({
    uid: 'Kubernetes//Pod/ns1/client',
    name: 'client',
    namespace: 'ns1',
    workloadIps: ['10.0.0.1'],
    protocol: 'HBONE',
  });
  store.apply({
    resources: [
      client,
      createService({
        name: 'name',
        namespace: 'ns1',
        hostname: 'name.ns1.svc.cluster.local',
        vips: [{ network: '', address: '10.96.1.1' }],
        ports: [],
      }),
      createService({
        name: 'name',
        namespace: 'ns2',
        hostname: 'name.ns2.svc.cluster.local',
        vips: [
          { network: '', address: '10.96.2.2' },
          { network: 'other', address: '10.200.0.1' },
        ],
        ports: [],
      }),
      createService({
        name: 'both',
        namespace: 'ns1',
        hostname: 'both.ns1.svc.cluster.local',
        vips: [
          { network: '', address: '10.96.3.3' },
          { network: '', address: 'fd00::3' },
        ],
        ports: [],
      }),
      createService({
        name: 'wild',
        namespace: 'ns1',
        hostname: '*.wild.example.com',
        vips: [{ network: '', address: '10.96.4.4' }],
        ports: [],
      }),
      ...extra,
    ],
  });
  return { store, client };
}

const ask = (m: ReturnType<typeof mesh>, name: string, type = 'A', options = {}) =>
  answerFromMesh(m.store, m.client, { name, type }, { random: () => 0, ...options });

describe("the DNS proxy's answers from the mesh", () => {
  it('answers a service by its short, namespaced and full names with its VIP, TTL 30, under the asked name', () => {
    const m = mesh();
    for (const name of [
      'name',
      'name.ns1',
      'name.ns1.svc',
      'name.ns1.svc.cluster.local',
      'NAME.ns1.svc.cluster.local.',
    ])
      expect(ask(m, name)).toEqual({
        kind: 'answer',
        records: [{ type: 'A', name: name.replace(/\.$/, ''), ttl: 30, data: '10.96.1.1' }],
        matched: 'name.ns1.svc.cluster.local',
      });
    // Another namespace's service by `name.ns2`; only the VIP on the client's network.
    expect(ask(m, 'name.ns2')).toMatchObject({ records: [{ data: '10.96.2.2' }] });
  });

  it('answers a name found by stripping a search domain with a CNAME to it, then the address', () => {
    const m = mesh();
    expect(ask(m, 'name.ns2.svc.cluster.local.ns1.svc.cluster.local')).toEqual({
      kind: 'answer',
      records: [
        {
          type: 'CNAME',
          name: 'name.ns2.svc.cluster.local.ns1.svc.cluster.local',
          ttl: 30,
          data: 'name.ns2.svc.cluster.local',
        },
        { type: 'A', name: 'name.ns2.svc.cluster.local', ttl: 30, data: '10.96.2.2' },
      ],
      matched: 'name.ns2.svc.cluster.local',
    });
  });

  it('answers AAAA with the IPv6 VIPs; a found name without one is NOERROR with no records', () => {
    const m = mesh();
    expect(ask(m, 'both', 'AAAA')).toMatchObject({
      kind: 'answer',
      records: [{ type: 'AAAA', data: 'fd00::3' }],
    });
    expect(ask(m, 'name', 'AAAA')).toEqual({
      kind: 'answer',
      records: [],
      matched: 'name.ns1.svc.cluster.local',
    });
    // IPv6 off (ztunnel `ipv6_enabled`): never AAAA.
    expect(ask(m, 'both', 'AAAA', { ipv6Enabled: false })).toMatchObject({ kind: 'answer', records: [] });
  });

  it('serves wildcard services, and forwards other types and unknown names', () => {
    const m = mesh();
    expect(ask(m, 'www.wild.example.com')).toMatchObject({
      records: [{ name: 'www.wild.example.com', data: '10.96.4.4' }],
    });
    expect(ask(m, 'name', 'TXT')).toEqual({ kind: 'forward' });
    expect(ask(m, 'example.org')).toEqual({ kind: 'forward' });
  });

  it('answers a headless Kubernetes service with its endpoints; forwards a VIP-less ServiceEntry', () => {
    const m = mesh([
      createService({
        name: 'hl',
        namespace: 'ns1',
        hostname: 'hl.ns1.svc.cluster.local',
        vips: [],
        ports: [],
      }),
      createService({ name: 'se', namespace: 'ns1', hostname: 'api.example.com', vips: [], ports: [] }),
      createWorkload({
        uid: 'Kubernetes//Pod/ns1/hl-0',
        name: 'hl-0',
        namespace: 'ns1',
        workloadIps: ['10.1.1.7'],
        protocol: 'HBONE',
        services: [
          {
            key: 'ns1/hl.ns1.svc.cluster.local',
            namespace: 'ns1',
            hostname: 'hl.ns1.svc.cluster.local',
            ports: [],
          },
        ],
      }),
    ]);
    expect(ask(m, 'hl')).toMatchObject({ kind: 'answer', records: [{ data: '10.1.1.7' }] });
    expect(ask(m, 'api.example.com')).toEqual({ kind: 'forward' });
  });

  it("hides a namespace-visible service from other namespaces, and prefers the client's namespace", () => {
    const m = mesh([
      createService({
        name: 'private',
        namespace: 'ns2',
        hostname: 'shared.example.com',
        vips: [{ network: '', address: '10.96.9.2' }],
        ports: [],
        visibility: 'Namespace',
      }),
      createService({
        name: 'dup',
        namespace: 'ns9',
        hostname: 'dup.example.com',
        vips: [{ network: '', address: '10.96.8.9' }],
        ports: [],
      }),
      createService({
        name: 'dup',
        namespace: 'ns1',
        hostname: 'dup.example.com',
        vips: [{ network: '', address: '10.96.8.1' }],
        ports: [],
      }),
    ]);
    expect(ask(m, 'shared.example.com')).toEqual({ kind: 'forward' });
    expect(ask(m, 'dup.example.com')).toMatchObject({ records: [{ data: '10.96.8.1' }] });
  });

  it('answers for a workload with a hostname of its own (where ztunnel has a TODO)', () => {
    const m = mesh([
      createWorkload({
        uid: 'Kubernetes//Pod/ns1/web-0',
        name: 'web-0',
        namespace: 'ns1',
        hostname: 'web-0.web.ns1.svc.cluster.local',
        workloadIps: ['10.1.2.3'],
        protocol: 'HBONE',
      }),
    ]);
    expect(ask(m, 'web-0.web')).toMatchObject({
      kind: 'answer',
      records: [{ type: 'A', name: 'web-0.web', data: '10.1.2.3' }],
    });
  });
});
