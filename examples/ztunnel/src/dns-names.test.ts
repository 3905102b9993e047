import { describe, expect, it } from 'vitest';
import { dnsAliases, dnsWildcards, kubeFqdns, normalizeDnsName, podSearchDomains } from './dns-names.js';

// Cases from istio/ztunnel@62d82653:src/dns/server.rs `test_to_kube_fqdns` and `test_get_wildcards`.
describe('DNS names as ztunnel tries them', () => {
  it('expands Kubernetes short names by label count', () => {
    expect(kubeFqdns('name', 'ns1', 'cluster.local')).toEqual(['name.ns1.svc.cluster.local']);
    expect(kubeFqdns('name.ns2', 'ns1', 'cluster.local')).toEqual([
      'name.ns2.svc.cluster.local',
      'name.ns2.ns1.svc.cluster.local',
    ]);
    expect(kubeFqdns('name.ns2.svc', 'ns1', 'cluster.local')).toEqual([
      'name.ns2.svc.cluster.local',
      'name.ns2.svc.svc.cluster.local',
    ]);
    expect(kubeFqdns('name.sub.ns2', 'ns1', 'cluster.local')).toEqual(['name.sub.ns2.svc.cluster.local']);
    expect(kubeFqdns('name.sub.ns2.svc', 'ns1', 'cluster.local')).toEqual(['name.sub.ns2.svc.cluster.local']);
    expect(kubeFqdns('name.sub.ns2.foo', 'ns1', 'cluster.local')).toEqual([]);
    expect(kubeFqdns('name.ns2.svc.cluster.local', 'ns1', 'cluster.local')).toEqual([]);
  });

  it('tries the name, its expansions, and the name without each of the pod search domains', () => {
    expect(podSearchDomains('ns1')).toEqual(['ns1.svc.cluster.local', 'svc.cluster.local', 'cluster.local']);
    // What glibc asks first for `echo.default.svc.cluster.local` with ndots:5 in a pod of `default`.
    const aliases = dnsAliases('echo.default.svc.cluster.local.default.svc.cluster.local', 'default');
    expect(aliases[0]).toEqual({ name: 'echo.default.svc.cluster.local.default.svc.cluster.local' });
    expect(aliases).toContainEqual({
      name: 'echo.default.svc.cluster.local',
      stripped: 'echo.default.svc.cluster.local',
    });
    // Each name once: the first reason it came up wins.
    const names = aliases.map((a) => a.name);
    expect(new Set(names).size).toBe(names.length);
    expect(dnsAliases('echo', 'default')).toEqual([
      { name: 'echo' },
      { name: 'echo.default.svc.cluster.local' },
    ]);
  });

  it('makes wildcards of decreasing specificity and normalises case and the trailing dot', () => {
    expect(dnsWildcards('svc1.ns1.svc.cluster.local')).toEqual([
      'svc1.ns1.svc.cluster.local',
      '*.ns1.svc.cluster.local',
      '*.svc.cluster.local',
      '*.cluster.local',
      '*.local',
    ]);
    expect(dnsWildcards('localhost')).toEqual(['localhost']);
    expect(normalizeDnsName('Echo.Default.SVC.cluster.local.')).toBe('echo.default.svc.cluster.local');
  });
});
