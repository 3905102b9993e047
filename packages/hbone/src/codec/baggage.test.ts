import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { baggageArb } from '../../test/arbitraries.js';
import { formatBaggage, MAX_BAGGAGE_BYTES, parseBaggage } from './baggage.js';

describe('formatBaggage', () => {
  it('writes ztunnel key order (istio/ztunnel@62d82653:src/baggage.rs L32-67)', () => {
    expect(
      formatBaggage({
        zone: 'z1',
        region: 'r1',
        serviceVersion: 'v1',
        serviceName: 'svc',
        workloadName: 'wl',
        workloadType: 'cronjob',
        namespace: 'ns',
        clusterName: 'Kubernetes',
      }),
    ).toBe(
      'k8s.cluster.name=Kubernetes,k8s.namespace.name=ns,k8s.cronjob.name=wl,service.name=svc,service.version=v1,cloud.region=r1,cloud.availability_zone=z1',
    );
  });
  it('defaults the workload type to deployment and sends an empty value when nothing is set', () => {
    expect(formatBaggage({ workloadName: 'sleep' })).toBe('k8s.deployment.name=sleep');
    expect(formatBaggage({})).toBe('');
  });
  it.each(['', 'a b', 'a,b', 'a=b', 'a;b', 'é'])('throws RangeError for the value %j', (value) => {
    expect(() => formatBaggage({ namespace: value })).toThrow(RangeError);
  });
});

describe('parseBaggage', () => {
  it('reads ztunnel test vectors (istio/ztunnel@62d82653:src/baggage.rs tests)', () => {
    expect(
      parseBaggage(
        'k8s.cluster.name=K1,k8s.namespace.name=NS1,k8s.deployment.name=N1,service.name=N2,service.version=V1',
      )._unsafeUnwrap(),
    ).toEqual({
      clusterName: 'K1',
      namespace: 'NS1',
      workloadType: 'deployment',
      workloadName: 'N1',
      serviceName: 'N2',
      serviceVersion: 'V1',
    });
    // baggage_parser_empty_values: empty values leave the fields unset.
    expect(
      parseBaggage(
        'k8s.cluster.name=,k8s.namespace.name=,k8s.deployment.name=,service.name=,service.version=',
      )._unsafeUnwrap(),
    ).toEqual({});
  });
  it('accepts several header lines, and lines joined with ", " by node:http2', () => {
    const lines = ['k8s.cluster.name=K1', 'k8s.namespace.name=NS1', 'k8s.pod.name=N1', 'service.name=N2'];
    const expected = {
      clusterName: 'K1',
      namespace: 'NS1',
      workloadType: 'pod',
      workloadName: 'N1',
      serviceName: 'N2',
    };
    expect(parseBaggage(lines)._unsafeUnwrap()).toEqual(expected);
    expect(parseBaggage(lines.join(', '))._unsafeUnwrap()).toEqual(expected);
  });
  it('lets later members win, ignores unknown keys, members without "=" and W3C properties', () => {
    expect(parseBaggage('service.name=a,foo=bar,junk,service.name=b;prop=1')._unsafeUnwrap()).toEqual({
      serviceName: 'b',
    });
    expect(parseBaggage(['service.name=a', 'service.name='])._unsafeUnwrap()).toEqual({});
  });
  it('refuses non-printable input and input over 8192 bytes', () => {
    expect(parseBaggage('service.name=\u0001')._unsafeUnwrapErr().code).toBe('HBONE_ERR_BAD_BAGGAGE');
    expect(parseBaggage('service.name=é')._unsafeUnwrapErr().code).toBe('HBONE_ERR_BAD_BAGGAGE');
    expect(parseBaggage(`service.name=${'a'.repeat(MAX_BAGGAGE_BYTES)}`)._unsafeUnwrapErr().code).toBe(
      'HBONE_ERR_BAD_BAGGAGE',
    );
    expect(parseBaggage(Array.from({ length: 2000 }, () => 'a=12'))._unsafeUnwrapErr().code).toBe(
      'HBONE_ERR_BAD_BAGGAGE',
    );
  });
});

describe('properties', () => {
  it('parse(format(x)) = x', () => {
    fc.assert(
      fc.property(baggageArb, (baggage) => {
        expect(parseBaggage(formatBaggage(baggage))._unsafeUnwrap()).toEqual(baggage);
      }),
    );
  });
  it('no input throws', () => {
    fc.assert(
      fc.property(fc.oneof(fc.string(), fc.array(fc.string())), (value) => {
        parseBaggage(value);
      }),
    );
  });
});
