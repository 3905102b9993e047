import { describe, expect, it } from 'vitest';
import { createPolicyEngine } from './engine.js';
import { resolveMeshConfig } from './mesh.js';

describe('resolveMeshConfig', () => {
  it('applies istiod defaults', () => {
    const m = resolveMeshConfig(undefined)._unsafeUnwrap();
    expect(m).toMatchObject({
      rootNamespace: 'istio-system',
      trustDomain: 'cluster.local',
      trustDomainAliases: [],
      pathNormalization: 'BASE',
      enableAmbientDryRun: false,
      multipleCustomProviders: false,
      spaceDelimitedClaims: ['permission', 'scope'],
    });
    expect(resolveMeshConfig({ pathNormalization: 'DEFAULT' })._unsafeUnwrap().pathNormalization).toBe(
      'BASE',
    );
  });

  it('rejects unknown settings and wrong types, naming each', () => {
    const r = resolveMeshConfig({
      rootNamespce: 'x',
      pathNormalization: 'FAST',
      trustDomainAliases: 'td',
      extensionProviders: [{ name: 'p', kind: 'envoyExtAuthzTcp' }],
    } as never);
    expect(r.isErr() && r.error.map((e) => [e.code, e.path])).toEqual([
      ['AUTHZ_ERR_INVALID_MESH_CONFIG', 'mesh.rootNamespce'],
      ['AUTHZ_ERR_INVALID_MESH_CONFIG', 'mesh.trustDomainAliases'],
      ['AUTHZ_ERR_INVALID_MESH_CONFIG', 'mesh.pathNormalization'],
      ['AUTHZ_ERR_INVALID_MESH_CONFIG', 'mesh.extensionProviders[0].kind'],
    ]);
  });

  it('createPolicyEngine reports mesh errors and a missing policy list', () => {
    const r = createPolicyEngine({ policies: [], mesh: { rootNamespace: '' } });
    expect(r.isErr() && r.error[0]?.code).toBe('AUTHZ_ERR_INVALID_MESH_CONFIG');
    const missing = createPolicyEngine({} as never);
    expect(missing.isErr() && missing.error.map((e) => e.code)).toEqual(['AUTHZ_ERR_SCHEMA']);
  });
});
