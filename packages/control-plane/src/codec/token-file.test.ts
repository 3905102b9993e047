import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { parseServiceAccount, parseTokenFile, parseTrustedNodeAccounts } from './token-file.js';

describe('parseTokenFile', () => {
  it('reads <token> <account> [<node>] lines, skipping comments and blank lines', () => {
    const entries = parseTokenFile(
      [
        '# accepted tokens',
        '',
        'eyJhbGciOi.abc.def istio-system/ztunnel node-a',
        '  tok2\tdefault/sleep  ',
        'tok3 system:serviceaccount:bookinfo:reviews-v1\r',
      ].join('\n'),
    )._unsafeUnwrap();
    expect(entries).toEqual([
      {
        token: 'eyJhbGciOi.abc.def',
        namespace: 'istio-system',
        serviceAccount: 'ztunnel',
        node: 'node-a',
        line: 3,
      },
      { token: 'tok2', namespace: 'default', serviceAccount: 'sleep', line: 4 },
      { token: 'tok3', namespace: 'bookinfo', serviceAccount: 'reviews-v1', line: 5 },
    ]);
  });

  it('reports every bad line with its number, never echoing a token', () => {
    const res = parseTokenFile(
      [
        'secret-one',
        'secret-two default/Sleep',
        'secret-three default',
        'secret-four a/b node_with_underscore',
        'secret-five a/b n extra',
        'secret-six a/b',
        'secret-six c/d',
        'secret-seven system:serviceaccount:a',
      ].join('\n'),
    );
    expect(res.isErr()).toBe(true);
    const e = res._unsafeUnwrapErr();
    expect(e.code).toBe('CONTROL_PLANE_ERR_BAD_TOKEN_FILE');
    expect(e.issues.map((i) => i.path)).toEqual([
      'line 1',
      'line 2',
      'line 3',
      'line 4',
      'line 5',
      'line 7',
      'line 8',
    ]);
    expect(e.issues[5]?.message).toBe('the same token as line 6');
    expect(e.message).not.toMatch(/secret-/);
  });

  it('never throws, and what it accepts it reads back field for field', () => {
    const name = fc.stringMatching(/^[a-z0-9]([-a-z0-9]{0,10}[a-z0-9])?$/);
    const token = fc.stringMatching(/^[\x21-\x7e]{1,40}$/).filter((t) => !t.startsWith('#'));
    fc.assert(
      fc.property(
        fc.uniqueArray(fc.tuple(token, name, name), { selector: (t) => t[0], maxLength: 8 }),
        (lines) => {
          const text = lines.map(([t, ns, sa]) => `${t} ${ns}/${sa}`).join('\n');
          const parsed = parseTokenFile(text)._unsafeUnwrap();
          expect(parsed.map((e) => [e.token, e.namespace, e.serviceAccount])).toEqual(lines);
        },
      ),
    );
    fc.assert(
      fc.property(fc.string({ maxLength: 300 }), (text) => {
        parseTokenFile(text); // a Result either way
      }),
    );
  });

  it('caps the size before parsing', () => {
    expect(parseTokenFile('x'.repeat(1024 * 1024 + 1))._unsafeUnwrapErr().code).toBe(
      'CONTROL_PLANE_ERR_TOO_LARGE',
    );
  });
});

describe('parseServiceAccount and parseTrustedNodeAccounts', () => {
  it('reads both account forms and refuses what is not a Kubernetes name', () => {
    expect(parseServiceAccount('istio-system/ztunnel')._unsafeUnwrap()).toEqual({
      namespace: 'istio-system',
      serviceAccount: 'ztunnel',
    });
    expect(parseServiceAccount('system:serviceaccount:a:b.c')._unsafeUnwrap()).toEqual({
      namespace: 'a',
      serviceAccount: 'b.c',
    });
    for (const bad of ['a', 'a/b/c', 'A/b', 'a/', '/b', 'a.b/c', 'system:serviceaccount:a']) {
      expect(parseServiceAccount(bad).isErr()).toBe(true);
    }
  });

  it("parses CA_TRUSTED_NODE_ACCOUNTS as istiod's comma list, failing on a bad entry instead of skipping it", () => {
    expect(parseTrustedNodeAccounts('istio-system/ztunnel, kube-system/node-proxy,')._unsafeUnwrap()).toEqual(
      [
        { namespace: 'istio-system', serviceAccount: 'ztunnel' },
        { namespace: 'kube-system', serviceAccount: 'node-proxy' },
      ],
    );
    expect(parseTrustedNodeAccounts('')._unsafeUnwrap()).toEqual([]);
    expect(parseTrustedNodeAccounts('istio-system/ztunnel,ztunnel')._unsafeUnwrapErr().code).toBe(
      'CONTROL_PLANE_ERR_BAD_OPTION',
    );
    expect(parseTrustedNodeAccounts('system:serviceaccount:istio-system:ztunnel').isErr()).toBe(true);
  });
});
