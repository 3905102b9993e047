import { describe, expect, it } from 'vitest';
import { parsePolicies, parsePolicyObjects } from './parse.js';

const doc = (name: string, ns = 'foo') =>
  `apiVersion: security.istio.io/v1\nkind: AuthorizationPolicy\nmetadata:\n  name: ${name}\n  namespace: ${ns}\nspec:\n  rules: [{}]\n`;

describe('parsePolicies', () => {
  it('reads multi-document YAML and skips empty documents', () => {
    const r = parsePolicies(`---\n${doc('a')}---\n---\n${doc('b')}`);
    expect(r.isOk() && r.value.map((p) => p.metadata.name)).toEqual(['a', 'b']);
  });

  it('reads JSON, a JSON array, and a Kubernetes List (kubectl get -o yaml)', () => {
    const one = {
      apiVersion: 'security.istio.io/v1beta1',
      kind: 'AuthorizationPolicy',
      metadata: { name: 'j', namespace: 'foo' },
      spec: {},
    };
    expect(parsePolicies(JSON.stringify(one))._unsafeUnwrap()).toHaveLength(1);
    expect(
      parsePolicies(JSON.stringify([one, { ...one, metadata: { name: 'k' } }]))._unsafeUnwrap(),
    ).toHaveLength(2);
    const list = { apiVersion: 'v1', kind: 'List', items: [one] };
    expect(parsePolicies(JSON.stringify(list))._unsafeUnwrap()[0]?.apiVersion).toBe(
      'security.istio.io/v1beta1',
    );
  });

  it('reports syntax errors with line and column', () => {
    const r = parsePolicies('kind: AuthorizationPolicy\nmetadata: {name: [x\n');
    expect(r.isErr() && r.error[0]?.code).toBe('AUTHZ_ERR_SYNTAX');
    expect(r.isErr() && r.error[0]?.message).toMatch(/line \d+, column \d+/);
  });

  it('rejects duplicate keys (a second `action:` must not silently win)', () => {
    const r = parsePolicies(`${doc('a')}  action: ALLOW\n  action: DENY\n`);
    expect(r.isErr() && r.error[0]?.code).toBe('AUTHZ_ERR_SYNTAX');
  });

  it('rejects other kinds instead of skipping them', () => {
    const r = parsePolicies(`${doc('a')}---\napiVersion: v1\nkind: ConfigMap\nmetadata: {name: c}\n`);
    expect(r.isErr() && r.error.map((e) => [e.code, e.policy])).toEqual([
      ['AUTHZ_ERR_NOT_A_POLICY', 'default/c'],
    ]);
  });

  it('collects the errors of every document', () => {
    const r = parsePolicies(
      `${doc('a')}  action: DENY\n---\n${doc('b').replace('rules: [{}]', 'rules: [{from: []}]')}`,
    );
    expect(r.isErr() && r.error.map((e) => e.policy)).toEqual(['foo/b']);
    const r2 = parsePolicies(
      `${doc('a').replace('rules: [{}]', 'action: DENY')}---\n${doc('b').replace('rules: [{}]', 'rules: [{from: []}]')}`,
    );
    expect(r2.isErr() && r2.error.map((e) => e.policy)).toEqual(['foo/a', 'foo/b']);
  });

  it('enforces the size cap before parsing, and names the source', () => {
    const r = parsePolicies('x'.repeat(100), { maxBytes: 10, source: 'p.yaml' });
    expect(r.isErr() && r.error[0]).toMatchObject({ code: 'AUTHZ_ERR_INPUT_TOO_LARGE' });
    expect(r.isErr() && r.error[0]?.message).toMatch(/^p\.yaml: /);
  });

  it('bounds YAML alias expansion ("billion laughs")', () => {
    let yaml = 'a: &a ["x","x","x","x","x","x","x","x","x","x"]\n';
    for (let i = 0; i < 8; i++)
      yaml += `${String.fromCharCode(98 + i)}: &${String.fromCharCode(98 + i)} [${Array(10)
        .fill(`*${String.fromCharCode(97 + i)}`)
        .join(',')}]\n`;
    const r = parsePolicies(yaml);
    expect(r.isErr() && r.error[0]?.code).toBe('AUTHZ_ERR_SYNTAX');
  });

  it('an empty file is no policies', () => {
    expect(parsePolicies('')._unsafeUnwrap()).toEqual([]);
    expect(parsePolicyObjects([])._unsafeUnwrap()).toEqual([]);
  });
});
