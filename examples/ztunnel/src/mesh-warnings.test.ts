import { describe, expect, it } from 'vitest';
import { type MeshFileShape, meshFileWarner, meshFileWarnings } from './mesh-warnings.js';

const policy = (key: string, scope = 'WorkloadSelector') => ({ key, scope });
const mesh = (listed: string[], policies: { key: string; scope: string }[]): MeshFileShape => ({
  workloads: [{ authorizationPolicies: listed }, { authorizationPolicies: [] }],
  policies,
});

describe('mesh file warnings', () => {
  it('names each selector policy no workload lists, and only those', () => {
    const contents = mesh(
      ['default/used'],
      [
        policy('default/used'),
        policy('default/orphan'),
        policy('default/ns-wide', 'Namespace'),
        policy('istio-system/global', 'Global'),
      ],
    );
    expect(meshFileWarnings(contents)).toEqual([
      'policy default/orphan has a selector but no workload lists it in authorizationPolicies: it applies to nothing',
    ]);
  });

  it('warns once per policy across reloads, again when it is orphaned again', () => {
    const lines: string[] = [];
    const check = meshFileWarner((line) => lines.push(line));
    const orphaned = mesh([], [policy('default/p')]);
    const attached = mesh(['default/p'], [policy('default/p')]);
    check(orphaned);
    check(orphaned);
    expect(lines).toHaveLength(1);
    check(attached);
    check(orphaned);
    expect(lines).toHaveLength(2);
    // What was already said elsewhere is not repeated.
    const quiet: string[] = [];
    meshFileWarner((line) => quiet.push(line), orphaned)(orphaned);
    expect(quiet).toEqual([]);
  });
});
