// Every case of istio/istio@86c9f01f:pilot/pkg/security/trustdomain/bundle_test.go
// TestReplaceTrustDomainAliases.
import { describe, expect, it } from 'vitest';
import { expandTrustDomainAliases, replaceTrustDomainAliases } from './trust-domain.js';

describe('replaceTrustDomainAliases', () => {
  const cases: [string, string[], string[], string[]][] = [
    [
      'No trust domain aliases (no change in trust domain)',
      ['cluster.local'],
      ['cluster.local/ns/foo/sa/bar'],
      ['cluster.local/ns/foo/sa/bar'],
    ],
    ['Principal with *', ['cluster.local'], ['*'], ['*']],
    ['Principal with * prefix', ['cluster.local'], ['*/ns/foo/sa/bar'], ['*/ns/foo/sa/bar']],
    [
      'One trust domain alias, one principal',
      ['td2', 'td1'],
      ['td1/ns/foo/sa/bar'],
      ['td2/ns/foo/sa/bar', 'td1/ns/foo/sa/bar'],
    ],
    [
      'One trust domain alias, two principals',
      ['td1', 'cluster.local'],
      ['cluster.local/ns/foo/sa/bar', 'cluster.local/ns/yyy/sa/zzz'],
      [
        'td1/ns/foo/sa/bar',
        'cluster.local/ns/foo/sa/bar',
        'td1/ns/yyy/sa/zzz',
        'cluster.local/ns/yyy/sa/zzz',
      ],
    ],
    [
      'One trust domain alias, principals with * as-is',
      ['td1', 'cluster.local'],
      ['*/ns/foo/sa/bar', '*sa/zzz', '*'],
      ['*/ns/foo/sa/bar', '*sa/zzz', '*'],
    ],
    [
      'Two trust domain aliases, two principals',
      ['td2', 'td1', 'cluster.local'],
      ['cluster.local/ns/foo/sa/bar', 'td1/ns/yyy/sa/zzz'],
      [
        'td2/ns/foo/sa/bar',
        'td1/ns/foo/sa/bar',
        'cluster.local/ns/foo/sa/bar',
        'td2/ns/yyy/sa/zzz',
        'td1/ns/yyy/sa/zzz',
        'cluster.local/ns/yyy/sa/zzz',
      ],
    ],
    [
      'Two trust domain aliases with * prefix in trust domain',
      ['td2', 'foo-td1', 'cluster.local'],
      ['*-td1/ns/foo/sa/bar'],
      ['td2/ns/foo/sa/bar', '*-td1/ns/foo/sa/bar', 'cluster.local/ns/foo/sa/bar'],
    ],
    [
      'Principals not match any trust domains',
      ['td1', 'td2'],
      ['some-td/ns/foo/sa/bar'],
      ['some-td/ns/foo/sa/bar'],
    ],
    [
      'Principals match one alias',
      ['td1', 'td2', 'some-td'],
      ['some-td/ns/foo/sa/bar'],
      ['td1/ns/foo/sa/bar', 'td2/ns/foo/sa/bar', 'some-td/ns/foo/sa/bar'],
    ],
    [
      'One principal match one alias',
      ['new-td', 'td2', 'td3'],
      ['td1/ns/some-ns/sa/some-sa', 'td2/ns/foo/sa/bar'],
      ['td1/ns/some-ns/sa/some-sa', 'new-td/ns/foo/sa/bar', 'td2/ns/foo/sa/bar', 'td3/ns/foo/sa/bar'],
    ],
    [
      'Trust domain is empty string',
      ['new-td', 'td2', 'td3'],
      ['/ns/some-ns/sa/some-sa'],
      ['/ns/some-ns/sa/some-sa'],
    ],
    [
      'No duplicated principals for prefix',
      ['new-td', 'old-td'],
      ['*-td/ns/some-ns/sa/some-sa'],
      ['*-td/ns/some-ns/sa/some-sa'],
    ],
    [
      'Principal in wrong format with spiffe:// stays as written',
      ['td1'],
      ['spiffe://cluster.local/ns/foo/sa/bar'],
      ['spiffe://cluster.local/ns/foo/sa/bar'],
    ],
  ];
  for (const [name, bundle, principals, expected] of cases) {
    it(name, () => expect(replaceTrustDomainAliases(principals, bundle)).toEqual(expected));
  }
});

describe('expandTrustDomainAliases (Bundle.ExpandTrustDomainAliases)', () => {
  it('a bundle member expands to all members; others stay; no duplicates', () => {
    expect(expandTrustDomainAliases(['td1', 'other', 'td2'], ['td1', 'td2'])).toEqual([
      'td1',
      'td2',
      'other',
    ]);
  });
});
