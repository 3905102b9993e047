import { readFileSync } from 'node:fs';
import { parseMeshFile } from '@ambient-kit/control-plane';
import { describe, expect, it } from 'vitest';
import { checkDemoMeshFile } from './mesh-check.js';
import { applyPolicyChange, isSingleMapDocument } from './policy-edit.js';
import { liveChangeFor } from './scenario.js';

const builtIn = readFileSync(new URL('./mesh.yaml', import.meta.url), 'utf8');
const checked = checkDemoMeshFile(builtIn);
if (!checked.ok) throw new Error(checked.problems.join('\n'));
const LIVE_CHANGE = liveChangeFor(checked.cast);

describe('the live policy change', () => {
  it('widens the ALLOW in place (comments kept) and adds the DENY, which the control plane translates', () => {
    expect(LIVE_CHANGE).toMatchObject({
      allowPolicy: 'default/echo-allow-sleep',
      addPrincipal: 'cluster.local/ns/default/sa/notsleep',
      denyPolicy: 'default/deny-sleep-8080',
    });
    expect(isSingleMapDocument(LIVE_CHANGE.addDocument)).toBe(true);
    const edited = applyPolicyChange(builtIn, LIVE_CHANGE);
    expect(edited).toContain("# L4, enforced by echo's ztunnel (node-b): only sleep may connect.");
    const parsed = parseMeshFile(edited);
    if (parsed.isErr()) throw parsed.error;
    const allow = parsed.value.policies.find((p) => p.key === 'default/echo-allow-sleep');
    expect(allow?.groups[0]?.rules[0]?.matches.flatMap((m) => m.principals)).toEqual([
      { exact: 'cluster.local/ns/default/sa/sleep' },
      { exact: 'cluster.local/ns/default/sa/notsleep' },
    ]);
    expect(parsed.value.policies.find((p) => p.key === 'default/deny-sleep-8080')).toMatchObject({
      scope: 'Namespace',
      action: 'Deny',
    });
    // Everything else is unchanged.
    const before = parseMeshFile(builtIn)._unsafeUnwrap();
    expect(parsed.value.workloads).toEqual(before.workloads);
    expect(parsed.value.services).toEqual(before.services);
  });

  it('refuses a file without the policy to widen', () => {
    expect(() => applyPolicyChange('workloads: []\n', LIVE_CHANGE)).toThrow(
      /no AuthorizationPolicy default\/echo-allow-sleep/,
    );
  });
});
