import { describe, expect, it } from 'vitest';
import { istioIdentity, parseIstioIdentity } from './istio-identity.js';
import { parseSpiffeId } from './spiffe-id.js';

describe('istioIdentity', () => {
  it('builds spiffe://<td>/ns/<ns>/sa/<sa> (istio kube_jwt.go l.142)', () => {
    const id = istioIdentity({ trustDomain: 'cluster.local', namespace: 'default', serviceAccount: 'sleep' });
    expect(id.toString()).toBe('spiffe://cluster.local/ns/default/sa/sleep');
  });
  it('throws TypeError on parts that are not path segments', () => {
    expect(() =>
      istioIdentity({ trustDomain: 'cluster.local', namespace: 'a/b', serviceAccount: 's' }),
    ).toThrow(TypeError);
    expect(() =>
      istioIdentity({ trustDomain: 'Cluster.local', namespace: 'a', serviceAccount: 's' }),
    ).toThrow(TypeError);
    expect(() => istioIdentity({ trustDomain: 'td', namespace: '', serviceAccount: 's' })).toThrow(TypeError);
  });
});

describe('parseIstioIdentity (ztunnel Identity::from_str: exactly ns/<ns>/sa/<sa>)', () => {
  it('reads the parts from a string or a parsed ID', () => {
    const who = parseIstioIdentity('spiffe://cluster.local/ns/bookinfo/sa/reviews')._unsafeUnwrap();
    expect(who.trustDomain.name).toBe('cluster.local');
    expect(who.namespace).toBe('bookinfo');
    expect(who.serviceAccount).toBe('reviews');
    expect(who.id.toString()).toBe('spiffe://cluster.local/ns/bookinfo/sa/reviews');
    const parsed = parseSpiffeId('spiffe://td/ns/a/sa/b')._unsafeUnwrap();
    expect(parseIstioIdentity(parsed)._unsafeUnwrap().id).toBe(parsed);
  });
  it.each([
    'spiffe://cluster.local/ns/a/sa',
    'spiffe://cluster.local/ns/a/sa/b/c',
    'spiffe://cluster.local/ns/a/xx/b',
    'spiffe://cluster.local/NS/a/sa/b',
    'spiffe://cluster.local',
    'spiffe://cluster.local/workload',
  ])('%s is not an Istio identity', (input) => {
    expect(parseIstioIdentity(input)._unsafeUnwrapErr().code).toBe('SPIFFE_ERR_NOT_ISTIO_IDENTITY');
  });
  it('reports the ID parse error first for invalid SPIFFE IDs', () => {
    expect(parseIstioIdentity('spiffe://cluster.local/ns/a/sa/b/')._unsafeUnwrapErr().code).toBe(
      'SPIFFE_ERR_PATH_TRAILING_SLASH',
    );
    expect(parseIstioIdentity('spiffe://Cluster.local/ns/a/sa/b')._unsafeUnwrapErr().code).toBe(
      'SPIFFE_ERR_TRUST_DOMAIN_CHAR',
    );
  });
});
