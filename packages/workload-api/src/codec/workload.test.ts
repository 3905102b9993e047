import { create } from '@bufbuild/protobuf';
import { describe, expect, it } from 'vitest';
import {
  ApplicationTunnel_Protocol,
  NetworkMode,
  TunnelProtocol,
  WorkloadSchema,
  WorkloadStatus,
  WorkloadType,
} from '../gen/workload_pb.js';
import { createWorkload, workloadFromProto, workloadIdentity, workloadToProto } from './workload.js';

const v4 = (a: number, b: number, c: number, d: number): Uint8Array => new Uint8Array([a, b, c, d]);

describe('workloadFromProto', () => {
  it("applies ztunnel's defaults: cluster.local, default, Kubernetes, capacity 1", () => {
    // istio/ztunnel@62d82653:src/state/workload.rs:497-527 (trust domain, service account, cluster id) and capacity.unwrap_or(1).
    const w = workloadFromProto(
      create(WorkloadSchema, { uid: 'c//Pod/ns/p', namespace: 'ns', addresses: [v4(10, 0, 0, 1)] }),
    )._unsafeUnwrap();
    expect(w).toMatchObject({
      trustDomain: 'cluster.local',
      serviceAccount: 'default',
      clusterId: 'Kubernetes',
      capacity: 1,
      protocol: 'TCP',
      networkMode: 'Standard',
      status: 'Healthy',
      workloadType: 'deployment',
      identity: 'spiffe://cluster.local/ns/ns/sa/default',
      workloadIps: ['10.0.0.1'],
    });
  });

  it('builds the identity from trust domain, namespace and service account; keeps capacity 0', () => {
    const w = workloadFromProto(
      create(WorkloadSchema, {
        uid: 'u',
        namespace: 'prod',
        trustDomain: 'example.org',
        serviceAccount: 'api',
        capacity: 0,
        clusterId: 'east',
      }),
    )._unsafeUnwrap();
    expect(w.identity).toBe('spiffe://example.org/ns/prod/sa/api');
    expect(workloadIdentity(w)).toBe(w.identity);
    expect(w.capacity).toBe(0);
    expect(w.clusterId).toBe('east');
  });

  it('maps HBONE, HOST_NETWORK, UNHEALTHY, the workload type and the application tunnel', () => {
    const w = workloadFromProto(
      create(WorkloadSchema, {
        uid: 'u',
        tunnelProtocol: TunnelProtocol.HBONE,
        networkMode: NetworkMode.HOST_NETWORK,
        status: WorkloadStatus.UNHEALTHY,
        workloadType: WorkloadType.CRONJOB,
        applicationTunnel: { protocol: ApplicationTunnel_Protocol.PROXY, port: 15088 },
        addresses: [new Uint8Array(16).fill(0).map((_, i) => (i === 15 ? 1 : i === 0 ? 0xfd : 0))],
      }),
    )._unsafeUnwrap();
    expect(w).toMatchObject({
      protocol: 'HBONE',
      networkMode: 'HostNetwork',
      status: 'Unhealthy',
      workloadType: 'cronjob',
      applicationTunnel: { protocol: 'PROXY', port: 15088 },
      workloadIps: ['fd00::1'],
    });
    // An application tunnel port of 0 means "unset".
    const noPort = workloadFromProto(
      create(WorkloadSchema, { uid: 'u', applicationTunnel: { protocol: ApplicationTunnel_Protocol.NONE } }),
    );
    expect(noPort._unsafeUnwrap().applicationTunnel).toEqual({ protocol: 'NONE' });
  });

  it('rejects an address that is not 4 or 16 bytes', () => {
    const e = workloadFromProto(
      create(WorkloadSchema, { uid: 'u', addresses: [v4(10, 0, 0, 1), new Uint8Array(5)] }),
    )._unsafeUnwrapErr();
    expect(e.code).toBe('WORKLOAD_API_ERR_BAD_ADDRESS');
    expect(e.issues[0]?.path).toBe('addresses[1]');
    expect(e.message).toContain('had 5 bytes');
  });

  it('rejects a services key without /', () => {
    const e = workloadFromProto(
      create(WorkloadSchema, { uid: 'u', services: { 'no-slash': { ports: [] } } }),
    )._unsafeUnwrapErr();
    expect(e.code).toBe('WORKLOAD_API_ERR_BAD_SERVICE_KEY');
  });

  it('rejects LEGACY_ISTIO_MTLS and unknown enum values', () => {
    expect(
      workloadFromProto(
        create(WorkloadSchema, { uid: 'u', tunnelProtocol: TunnelProtocol.LEGACY_ISTIO_MTLS }),
      )._unsafeUnwrapErr().code,
    ).toBe('WORKLOAD_API_ERR_UNSUPPORTED_TUNNEL');
    expect(
      workloadFromProto(
        create(WorkloadSchema, { uid: 'u', tunnelProtocol: 9 as TunnelProtocol }),
      )._unsafeUnwrapErr().code,
    ).toBe('WORKLOAD_API_ERR_UNKNOWN_ENUM');
    expect(
      workloadFromProto(
        create(WorkloadSchema, { uid: 'u', networkMode: 7 as NetworkMode }),
      )._unsafeUnwrapErr().code,
    ).toBe('WORKLOAD_API_ERR_UNKNOWN_ENUM');
    expect(
      workloadFromProto(create(WorkloadSchema, { uid: 'u', status: 3 as WorkloadStatus }))._unsafeUnwrapErr()
        .code,
    ).toBe('WORKLOAD_API_ERR_UNKNOWN_ENUM');
    // An unknown workload type falls back to the default, as prost's enum getter does.
    expect(
      workloadFromProto(
        create(WorkloadSchema, { uid: 'u', workloadType: 42 as WorkloadType }),
      )._unsafeUnwrap().workloadType,
    ).toBe('deployment');
  });

  it('rejects a gateway without destination, out-of-range ports and an empty uid', () => {
    const e = workloadFromProto(
      create(WorkloadSchema, { waypoint: { hboneMtlsPort: 15008 } }),
    )._unsafeUnwrapErr();
    expect(e.issues.map((i) => i.code)).toEqual([
      'WORKLOAD_API_ERR_MISSING_FIELD',
      'WORKLOAD_API_ERR_MISSING_GATEWAY_ADDRESS',
    ]);
    const p = workloadFromProto(
      create(WorkloadSchema, {
        uid: 'u',
        services: { 'ns/h': { ports: [{ servicePort: 70000, targetPort: 80 }] } },
      }),
    );
    expect(p._unsafeUnwrapErr().code).toBe('WORKLOAD_API_ERR_BAD_PORT');
  });

  it('collects every problem of one workload', () => {
    const e = workloadFromProto(
      create(WorkloadSchema, {
        uid: 'u',
        addresses: [new Uint8Array(3)],
        tunnelProtocol: TunnelProtocol.LEGACY_ISTIO_MTLS,
        services: { bad: { ports: [] } },
        networkGateway: {},
      }),
    )._unsafeUnwrapErr();
    expect(e.issues.map((i) => i.code).sort()).toEqual([
      'WORKLOAD_API_ERR_BAD_ADDRESS',
      'WORKLOAD_API_ERR_BAD_SERVICE_KEY',
      'WORKLOAD_API_ERR_MISSING_GATEWAY_ADDRESS',
      'WORKLOAD_API_ERR_UNSUPPORTED_TUNNEL',
    ]);
    expect(e.message.split('; ')).toHaveLength(4);
  });

  it('round-trips through workloadToProto', () => {
    const w = createWorkload({
      uid: 'c//Pod/ns/p',
      name: 'p',
      namespace: 'ns',
      workloadIps: ['10.0.0.1', 'fd00::1'],
      protocol: 'HBONE',
      trustDomain: 'td.example',
      serviceAccount: 'sa',
      node: 'n',
      clusterId: 'c',
      capacity: 5,
      locality: { region: 'r', zone: 'z', subzone: 's' },
      authorizationPolicies: ['ns/a'],
      networkGateway: {
        destination: { kind: 'address', network: 'n2', address: '203.0.113.1' },
        hboneMtlsPort: 15008,
      },
      extensions: [
        {
          name: 'x',
          config: { typeUrl: 'type.googleapis.com/google.protobuf.Empty', value: new Uint8Array() },
        },
      ],
    });
    expect(workloadFromProto(workloadToProto(w))._unsafeUnwrap()).toEqual(w);
    // Defaults are elided on the wire, as istiod elides them.
    const d = workloadToProto(createWorkload({ uid: 'u' }));
    expect(d.trustDomain).toBe('');
    expect(d.serviceAccount).toBe('');
    expect(d.capacity).toBeUndefined();
  });
});
