import { describe, expect, it } from 'vitest';
import { parseControlPlaneArgs, parseDuration, UsageError } from './options.js';

const BASE = ['--cacerts', 'ca', '--tokens', 't', '--mesh', 'm'];

describe('parseControlPlaneArgs', () => {
  it('defaults as istiod: port 15012, cluster.local, Kubernetes, istio-system/ztunnel, 24h, 2160h', () => {
    expect(parseControlPlaneArgs(BASE, {})).toMatchObject({
      listen: '0.0.0.0:15012',
      trustDomain: 'cluster.local',
      clusterId: 'Kubernetes',
      trustedNodeAccounts: [{ namespace: 'istio-system', serviceAccount: 'ztunnel' }],
      defaultTtlMs: 24 * 3600_000,
      maxTtlMs: 90 * 24 * 3600_000,
    });
  });

  it("takes istiod's environment names, flags first", () => {
    const env = {
      CA_TRUSTED_NODE_ACCOUNTS: 'kube-system/proxy',
      TRUST_DOMAIN: 'example.org',
      CLUSTER_ID: 'c2',
      DEFAULT_WORKLOAD_CERT_TTL: '1h',
      MAX_WORKLOAD_CERT_TTL: '48h',
    };
    expect(parseControlPlaneArgs(BASE, env)).toMatchObject({
      trustDomain: 'example.org',
      clusterId: 'c2',
      trustedNodeAccounts: [{ namespace: 'kube-system', serviceAccount: 'proxy' }],
      defaultTtlMs: 3600_000,
      maxTtlMs: 48 * 3600_000,
    });
    expect(parseControlPlaneArgs([...BASE, '--trusted-node-accounts', ''], env).trustedNodeAccounts).toEqual(
      [],
    );
    expect(parseControlPlaneArgs([...BASE, '--cluster-id', 'c3'], env).clusterId).toBe('c3');
  });

  it.each([
    [['--listen', ':15012']],
    [['--listen', 'host:99999']],
    [['--plaintext-listen', 'x']],
    [['--trust-domain', 'Cluster.Local']],
    [['--default-ttl', '48h', '--max-ttl', '24h']],
    [['--tls-key', 'k']],
    [['--mesh', '']],
  ])('refuses %j', (extra) => {
    expect(() => parseControlPlaneArgs([...BASE, ...extra], {})).toThrow(UsageError);
  });
});

describe('parseDuration', () => {
  it('reads Go durations', () => {
    expect(parseDuration('x', '24h')).toBe(86_400_000);
    expect(parseDuration('x', '1h30m')).toBe(5_400_000);
    expect(parseDuration('x', '1.5s')).toBe(1500);
    expect(() => parseDuration('x', '10')).toThrow(UsageError);
    expect(() => parseDuration('x', '500ms')).toThrow(/at least 1s/);
  });
});
