import { describe, expect, it } from 'vitest';
import { createPolicyEngine } from './engine.js';
import {
  effectivePeerAuthentication,
  type MutualTlsMode,
  mtlsModeForPort,
  type PeerAuthentication,
  validatePeerAuthentication,
} from './peer-authentication.js';
import {
  convertPeerAuthentication,
  STATIC_STRICT_POLICY_NAME,
  translatePeerAuthenticationsForZtunnel,
} from './peer-authentication-ztunnel.js';

const ROOT = 'istio-system';

function pa(
  ns: string,
  name: string,
  mode: MutualTlsMode | undefined,
  selector?: Record<string, string>,
  ports?: Record<string, MutualTlsMode>,
  created?: string,
): PeerAuthentication {
  return {
    apiVersion: 'security.istio.io/v1',
    kind: 'PeerAuthentication',
    metadata: { name, namespace: ns, ...(created === undefined ? {} : { creationTimestamp: created }) },
    spec: {
      ...(selector === undefined ? {} : { selector: { matchLabels: selector } }),
      ...(mode === undefined ? {} : { mtls: { mode } }),
      ...(ports === undefined
        ? {}
        : { portLevelMtls: Object.fromEntries(Object.entries(ports).map(([p, m]) => [p, { mode: m }])) }),
    },
  };
}

describe('validatePeerAuthentication (istiod ValidatePeerAuthentication + CRD schema)', () => {
  const doc = (spec: unknown, extra: Record<string, unknown> = {}) => ({
    apiVersion: 'security.istio.io/v1',
    kind: 'PeerAuthentication',
    metadata: { name: 'p', namespace: 'foo' },
    spec,
    ...extra,
  });
  const errors = (raw: unknown) =>
    validatePeerAuthentication(raw).match(
      () => [],
      (e) => e.map((x) => [x.code, x.path, x.kind]),
    );

  it('accepts the documented shapes and keeps port keys as numbers', () => {
    const r = validatePeerAuthentication(
      doc({
        selector: { matchLabels: { app: 'web' } },
        mtls: { mode: 'STRICT' },
        portLevelMtls: { 8080: { mode: 'DISABLE' } },
      }),
    );
    expect(r.isOk() && r.value.spec.portLevelMtls).toEqual({ '8080': { mode: 'DISABLE' } });
  });

  it('rejects unknown fields at every depth, with the path', () => {
    expect(errors(doc({ mtsl: { mode: 'STRICT' } }))).toEqual([
      ['AUTHZ_ERR_SCHEMA', 'spec.mtsl', 'PeerAuthentication'],
    ]);
    expect(errors(doc({ mtls: { mode: 'STRICT', strict: true } }))).toEqual([
      ['AUTHZ_ERR_SCHEMA', 'spec.mtls.strict', 'PeerAuthentication'],
    ]);
    expect(
      errors(doc({ selector: { matchLabels: { a: 'b' } }, portLevelMtls: { 80: { mode: 'STRICT', x: 1 } } })),
    ).toEqual([['AUTHZ_ERR_SCHEMA', 'spec.portLevelMtls.80.x', 'PeerAuthentication']]);
    expect(errors(doc({ selector: { labels: { a: 'b' } } }))).toEqual([
      ['AUTHZ_ERR_SCHEMA', 'spec.selector.labels', 'PeerAuthentication'],
    ]);
    expect(errors(doc({}, { extra: 1 }))).toEqual([['AUTHZ_ERR_SCHEMA', 'extra', 'PeerAuthentication']]);
  });

  it("applies istiod's rules: port range, port-level needs a selector, at least one port, a known mode", () => {
    expect(
      errors(doc({ selector: { matchLabels: { a: 'b' } }, portLevelMtls: { 0: { mode: 'STRICT' } } })),
    ).toEqual([['AUTHZ_ERR_INVALID_POLICY', 'spec.portLevelMtls.0', 'PeerAuthentication']]);
    expect(errors(doc({ portLevelMtls: { 80: { mode: 'STRICT' } } }))).toEqual([
      ['AUTHZ_ERR_INVALID_POLICY', 'spec.portLevelMtls', 'PeerAuthentication'],
    ]);
    expect(errors(doc({ selector: { matchLabels: { a: 'b' } }, portLevelMtls: {} }))[0]?.[0]).toBe(
      'AUTHZ_ERR_INVALID_POLICY',
    );
    expect(errors(doc({ mtls: { mode: 'strict' } }))).toEqual([
      ['AUTHZ_ERR_SCHEMA', 'spec.mtls.mode', 'PeerAuthentication'],
    ]);
  });
});

describe('effectivePeerAuthentication (istiod ComposePeerAuthentication)', () => {
  const web = { namespace: 'foo', labels: { app: 'web' } };
  it('mesh → namespace → workload, UNSET inheriting, PERMISSIVE without any policy', () => {
    expect(effectivePeerAuthentication([], web, ROOT).mode).toBe('PERMISSIVE');
    const mesh = pa(ROOT, 'default', 'STRICT');
    expect(effectivePeerAuthentication([mesh], web, ROOT)).toMatchObject({
      mode: 'STRICT',
      mesh: 'istio-system/default',
    });
    expect(effectivePeerAuthentication([mesh, pa('foo', 'ns', 'UNSET')], web, ROOT).mode).toBe('STRICT');
    expect(effectivePeerAuthentication([mesh, pa('foo', 'ns', 'PERMISSIVE')], web, ROOT).mode).toBe(
      'PERMISSIVE',
    );
    const withWorkload = [mesh, pa('foo', 'ns', 'PERMISSIVE'), pa('foo', 'w', 'DISABLE', { app: 'web' })];
    expect(effectivePeerAuthentication(withWorkload, web, ROOT).mode).toBe('DISABLE');
    expect(
      effectivePeerAuthentication(withWorkload, { namespace: 'foo', labels: { app: 'db' } }, ROOT).mode,
    ).toBe('PERMISSIVE');
    // Another namespace's policies never apply; a root-namespace policy with a selector takes no part.
    expect(effectivePeerAuthentication([pa('bar', 'ns', 'STRICT')], web, ROOT).mode).toBe('PERMISSIVE');
    expect(effectivePeerAuthentication([pa(ROOT, 'sel', 'STRICT', { app: 'web' })], web, ROOT).mode).toBe(
      'PERMISSIVE',
    );
  });

  it('portLevelMtls overrides per workload port; an UNSET port inherits the workload mode', () => {
    const effective = effectivePeerAuthentication(
      [
        pa(ROOT, 'default', 'STRICT'),
        pa('foo', 'w', undefined, { app: 'web' }, { 8080: 'PERMISSIVE', 9090: 'UNSET' }),
      ],
      web,
      ROOT,
    );
    expect(mtlsModeForPort(effective, 8080)).toBe('PERMISSIVE');
    expect(mtlsModeForPort(effective, 9090)).toBe('STRICT');
    expect(mtlsModeForPort(effective, 80)).toBe('STRICT');
  });

  it('the oldest policy of a level wins (creation time, then name)', () => {
    const older = pa('foo', 'b-old', 'STRICT', undefined, undefined, '2024-01-01T00:00:00Z');
    const newer = pa('foo', 'a-new', 'DISABLE', undefined, undefined, '2024-06-01T00:00:00Z');
    expect(effectivePeerAuthentication([newer, older], web, ROOT)).toMatchObject({
      mode: 'STRICT',
      namespace: 'foo/b-old',
    });
    expect(
      effectivePeerAuthentication([pa('foo', 'b', 'STRICT'), pa('foo', 'a', 'DISABLE')], web, ROOT).mode,
    ).toBe('DISABLE');
  });
});

describe('PeerAuthentication for ztunnel (istiod ambient: ambientindex_test TestAmbientIndex_Policy, PeerAuthentication)', () => {
  const staticKey = `${ROOT}/${STATIC_STRICT_POLICY_NAME}`;
  const convertedKey = 'ns1/converted_peer_authentication_selector';
  const a = { namespace: 'ns1', labels: { app: 'a' } };
  const keys = (pas: PeerAuthentication[], workload = a) =>
    translatePeerAuthenticationsForZtunnel(pas, { rootNamespace: ROOT }).policiesForWorkload(workload);

  it("follows istiod's attachment through the upstream test's sequence of edits", () => {
    const global = pa(ROOT, 'global', 'PERMISSIVE');
    const ns = (mode: MutualTlsMode) => pa('ns1', 'namespace', mode);
    const sel = (mode: MutualTlsMode | undefined, ports?: Record<string, MutualTlsMode>) =>
      pa('ns1', 'selector', mode, { app: 'a' }, ports);
    // Only a PERMISSIVE mesh policy: the static policy exists but nothing carries it.
    const onlyGlobal = translatePeerAuthenticationsForZtunnel([global], { rootNamespace: ROOT });
    expect(onlyGlobal.authorizations.map((p) => p.name)).toEqual([STATIC_STRICT_POLICY_NAME]);
    expect(onlyGlobal.policiesForWorkload(a)).toEqual([]);
    expect(keys([global, ns('STRICT')])).toEqual([staticKey]);
    expect(keys([global, ns('STRICT'), sel('STRICT')])).toEqual([staticKey]);
    expect(keys([global, ns('STRICT'), sel('PERMISSIVE')])).toEqual([]);
    expect(keys([global, ns('STRICT'), sel('PERMISSIVE', { 9090: 'STRICT' })])).toEqual([convertedKey]);
    expect(
      keys([global, ns('STRICT'), sel('PERMISSIVE', { 9090: 'STRICT' })], {
        namespace: 'ns1',
        labels: { app: 'not-a' },
      }),
    ).toEqual([staticKey]);
    expect(
      keys([
        global,
        ns('STRICT'),
        sel('PERMISSIVE', { 9090: 'STRICT' }),
        pa(ROOT, 'global-selector', 'STRICT', { app: 'a' }),
      ]),
    ).toEqual([convertedKey]);
    expect(keys([global, ns('STRICT'), sel('PERMISSIVE', { 9090: 'PERMISSIVE' })])).toEqual([]);
    expect(keys([global, ns('PERMISSIVE'), sel('PERMISSIVE', { 9090: 'PERMISSIVE' })])).toEqual([]);
    expect(keys([global, ns('PERMISSIVE'), sel('STRICT')])).toEqual([staticKey]);
    expect(keys([global, ns('PERMISSIVE'), sel('STRICT', { 9090: 'PERMISSIVE' })])).toEqual([convertedKey]);
    expect(keys([global, ns('PERMISSIVE'), sel(undefined, { 9090: 'STRICT' })])).toEqual([convertedKey]);
    expect(keys([global, ns('STRICT'), sel(undefined, { 9090: 'STRICT' })])).toEqual([staticKey]);
    expect(keys([global, ns('STRICT'), sel(undefined, { 9090: 'PERMISSIVE' })])).toEqual([convertedKey]);
    expect(keys([global, ns('STRICT')])).toEqual([staticKey]);
    expect(translatePeerAuthenticationsForZtunnel([], { rootNamespace: ROOT }).authorizations).toEqual([]);
  });

  it('TestAmbientIndex_PeerAuthenticationNamespacePolicyChange: relaxing the namespace drops the conversion', () => {
    const sel = pa('ns1', 'selector', undefined, { app: 'a' }, { 9090: 'PERMISSIVE' });
    const strict = translatePeerAuthenticationsForZtunnel([pa('ns1', 'namespace', 'STRICT'), sel], {
      rootNamespace: ROOT,
    });
    expect(strict.policiesForWorkload(a)).toEqual([convertedKey]);
    expect(strict.converted.map((c) => c.source)).toEqual(['ns1/selector']);
    const relaxed = translatePeerAuthenticationsForZtunnel([pa('ns1', 'namespace', 'PERMISSIVE'), sel], {
      rootNamespace: ROOT,
    });
    expect(relaxed.policiesForWorkload(a)).toEqual([]);
    expect(relaxed.converted).toEqual([]);
  });

  it('convertPeerAuthentication: STRICT with a PERMISSIVE port is "no identity and not that port"', () => {
    const converted = convertPeerAuthentication(
      pa('ns1', 'selector', 'STRICT', { app: 'a' }, { 9090: 'PERMISSIVE' }),
      undefined,
      undefined,
      ROOT,
    );
    expect(converted).toMatchObject({
      name: 'converted_peer_authentication_selector',
      namespace: 'ns1',
      scope: 'WorkloadSelector',
      action: 'Deny',
    });
    const rules = converted?.groups[0]?.rules ?? [];
    expect(rules.map((r) => r.matches.map((m) => [m.notPrincipals, m.notDestinationPorts]))).toEqual([
      [[[{ presence: true }], []]],
      [[[], [9090]]],
    ]);
    // PERMISSIVE with a STRICT port: one group per strict port.
    const perPort = convertPeerAuthentication(
      pa('ns1', 's', 'PERMISSIVE', { app: 'a' }, { 80: 'STRICT', 8080: 'STRICT' }),
      undefined,
      undefined,
      ROOT,
    );
    expect(perPort?.groups.map((g) => g.rules[0]?.matches[0]?.destinationPorts)).toEqual([[80], [8080]]);
    // STRICT everywhere says nothing the static policy does not.
    expect(
      convertPeerAuthentication(
        pa('ns1', 's', 'STRICT', { app: 'a' }, { 80: 'STRICT' }),
        undefined,
        undefined,
        ROOT,
      ),
    ).toBeUndefined();
    expect(
      convertPeerAuthentication(
        pa(ROOT, 's', 'PERMISSIVE', { app: 'a' }, { 80: 'STRICT' }),
        undefined,
        undefined,
        ROOT,
      ),
    ).toBeUndefined();
  });

  it('the engine at ztunnel: STRICT rejects plaintext (15006) and keeps mTLS; port exceptions hold', () => {
    const engine = createPolicyEngine({
      policies: [
        pa(ROOT, 'default', 'STRICT'),
        pa('ns1', 'selector', undefined, { app: 'a' }, { 9090: 'PERMISSIVE' }),
      ],
    })._unsafeUnwrap();
    const decide = (principal: string | null, port: number, labels = { app: 'a' }) =>
      engine.evaluate({
        workload: { kind: 'ztunnel', namespace: 'ns1', labels },
        request: { source: { principal, ip: '10.0.0.1' }, destination: { ip: '10.0.0.2', port } },
      });
    expect(decide(null, 8080)).toMatchObject({
      allow: false,
      policy: 'ns1/converted_peer_authentication_selector',
    });
    expect(decide(null, 9090).allow).toBe(true);
    expect(decide('spiffe://cluster.local/ns/ns2/sa/x', 8080).allow).toBe(true);
    expect(decide(null, 8080, { app: 'b' })).toMatchObject({
      allow: false,
      policy: `${ROOT}/${STATIC_STRICT_POLICY_NAME}`,
    });
    // A sidecar refuses the connection itself.
    const sidecar = engine.evaluate({
      workload: { kind: 'sidecar', namespace: 'ns1', labels: { app: 'b' } },
      request: {
        source: { principal: null, ip: '10.0.0.1' },
        destination: { ip: '10.0.0.2', port: 80 },
        path: '/',
      },
    });
    expect(sidecar).toMatchObject({ allow: false, connectionRefused: true, policy: 'istio-system/default' });
  });
});
