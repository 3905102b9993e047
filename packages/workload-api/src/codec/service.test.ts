import { create } from '@bufbuild/protobuf';
import { describe, expect, it } from 'vitest';
import {
  IPFamilies,
  LoadBalancing_HealthPolicy,
  LoadBalancing_Mode,
  LoadBalancing_Scope,
  Service_Visibility,
  ServiceSchema,
} from '../gen/workload_pb.js';
import { serviceFromProto, serviceToProto } from './service.js';

const base = { name: 'echo', namespace: 'default', hostname: 'echo.default.svc.cluster.local' };

describe('serviceFromProto', () => {
  it('splits host VIPs and CIDR VIPs by prefix length (service.rs:356-369)', () => {
    const s = serviceFromProto(
      create(ServiceSchema, {
        ...base,
        addresses: [
          { network: '', address: new Uint8Array([10, 96, 0, 10]) },
          { network: 'n1', address: new Uint8Array([10, 96, 0, 11]), length: 32 },
          { network: 'n1', address: new Uint8Array([10, 97, 0, 0]), length: 16 },
        ],
      }),
    )._unsafeUnwrap();
    expect(s.key).toBe('default/echo.default.svc.cluster.local');
    expect(s.vips).toEqual([
      { network: '', address: '10.96.0.10' },
      { network: 'n1', address: '10.96.0.11' },
    ]);
    expect(s.cidrVips).toEqual([{ network: 'n1', address: '10.97.0.0', length: 16 }]);
  });

  it('rejects a prefix longer than the family allows and addresses of the wrong size', () => {
    const e = serviceFromProto(
      create(ServiceSchema, {
        ...base,
        addresses: [{ address: new Uint8Array([10, 0, 0, 0]), length: 33 }, { address: new Uint8Array(2) }],
      }),
    )._unsafeUnwrapErr();
    expect(e.issues.map((i) => i.code)).toEqual([
      'WORKLOAD_API_ERR_BAD_PREFIX',
      'WORKLOAD_API_ERR_BAD_ADDRESS',
    ]);
  });

  it('maps load balancing: UNSPECIFIED_MODE is Standard; UNSPECIFIED_SCOPE and unknown values are rejected', () => {
    const s = serviceFromProto(
      create(ServiceSchema, {
        ...base,
        loadBalancing: {
          routingPreference: [LoadBalancing_Scope.NETWORK, LoadBalancing_Scope.NODE],
          mode: LoadBalancing_Mode.UNSPECIFIED_MODE,
          healthPolicy: LoadBalancing_HealthPolicy.ALLOW_ALL,
        },
        ipFamilies: IPFamilies.DUAL,
      }),
    )._unsafeUnwrap();
    expect(s.loadBalancer).toEqual({
      routingPreferences: ['Network', 'Node'],
      mode: 'Standard',
      healthPolicy: 'AllowAll',
    });
    expect(s.ipFamilies).toBe('Dual');
    const bad = serviceFromProto(
      create(ServiceSchema, {
        ...base,
        loadBalancing: {
          routingPreference: [LoadBalancing_Scope.UNSPECIFIED_SCOPE],
          mode: 9 as LoadBalancing_Mode,
        },
        ipFamilies: 8 as IPFamilies,
      }),
    )._unsafeUnwrapErr();
    expect(bad.issues.map((i) => i.path)).toEqual([
      'loadBalancing.routingPreference[0]',
      'loadBalancing.mode',
      'ipFamilies',
    ]);
  });

  it('falls back to PUBLIC for an unknown visibility (fail open, service.rs:426-429)', () => {
    expect(
      serviceFromProto(
        create(ServiceSchema, { ...base, visibility: 5 as Service_Visibility }),
      )._unsafeUnwrap().visibility,
    ).toBe('Public');
    expect(
      serviceFromProto(
        create(ServiceSchema, { ...base, visibility: Service_Visibility.NAMESPACE }),
      )._unsafeUnwrap().visibility,
    ).toBe('Namespace');
  });

  it('rejects weighted waypoints without a destination and a missing hostname', () => {
    const e = serviceFromProto(
      create(ServiceSchema, { namespace: 'ns', weightedWaypoints: [{ weight: 3 }] }),
    )._unsafeUnwrapErr();
    expect(e.issues.map((i) => i.code)).toEqual([
      'WORKLOAD_API_ERR_MISSING_FIELD',
      'WORKLOAD_API_ERR_MISSING_GATEWAY_ADDRESS',
    ]);
  });

  it('round-trips through serviceToProto', () => {
    const msg = create(ServiceSchema, {
      ...base,
      addresses: [
        { network: '', address: new Uint8Array([10, 96, 0, 10]) },
        { network: '', address: new Uint8Array([10, 97, 0, 0]), length: 16 },
      ],
      ports: [{ servicePort: 80, targetPort: 8080, appProtocol: 1 }],
      subjectAltNames: ['spiffe://cluster.local/ns/default/sa/echo'],
      waypoint: {
        destination: { case: 'hostname', value: { namespace: 'default', hostname: 'wp' } },
        hboneMtlsPort: 15008,
      },
      weightedWaypoints: [
        {
          destination: {
            destination: { case: 'hostname', value: { namespace: 'default', hostname: 'wp2' } },
            hboneMtlsPort: 15008,
          },
          weight: 10,
        },
      ],
      loadBalancing: { routingPreference: [LoadBalancing_Scope.REGION], mode: LoadBalancing_Mode.STRICT },
      ipFamilies: IPFamilies.IPV6_ONLY,
      canonical: true,
      ingressUseWaypoint: true,
      visibility: Service_Visibility.NAMESPACE,
    });
    const s = serviceFromProto(msg)._unsafeUnwrap();
    expect(serviceToProto(s)).toEqual(msg);
  });
});
