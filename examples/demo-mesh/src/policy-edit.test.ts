import { readFileSync } from 'node:fs';
import { parseMeshFile } from '@ambient-kit/control-plane';
import { describe, expect, it } from 'vitest';
import { checkDemoMeshFile } from './mesh-check.js';
import { applyDocuments, applyPolicyChange, isSingleMapDocument } from './policy-edit.js';
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
    // The L7 kinds are the waypoint's: the control plane skips them.
    const parsed = parseMeshFile(edited, { skipUnsupportedKinds: true });
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
    const before = parseMeshFile(builtIn, { skipUnsupportedKinds: true })._unsafeUnwrap();
    expect(parsed.value.workloads).toEqual(before.workloads);
    expect(parsed.value.services).toEqual(before.services);
  });

  it('refuses a file without the policy to widen', () => {
    expect(() => applyPolicyChange('workloads: []\n', LIVE_CHANGE)).toThrow(
      /no AuthorizationPolicy default\/echo-allow-sleep/,
    );
  });
});

describe('applyDocuments (kubectl apply on the mesh file)', () => {
  it('replaces an object of the same kind, namespace and name, appends a new one, keeps the rest as written', () => {
    const vs = (weight: number) => `apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: { name: reviews, namespace: default }
spec:
  hosts: [reviews]
  http: [{ route: [{ destination: { host: reviews, subset: v1 }, weight: ${weight} }, { destination: { host: reviews, subset: v2 }, weight: ${100 - weight} }] }]`;
    const once = applyDocuments(builtIn, [vs(90)]);
    expect(once.startsWith(builtIn.slice(0, builtIn.indexOf('workloads:')))).toBe(true);
    expect(once).toContain("# L4, enforced by echo's ztunnel (node-b): only sleep may connect.");
    const twice = applyDocuments(once, [vs(50)]);
    expect(twice.match(/kind: VirtualService/g)).toHaveLength(1);
    expect(twice).toContain('weight: 50');
    expect(twice).not.toContain('weight: 90');
    const checkedTwice = checkDemoMeshFile(twice);
    expect(checkedTwice.ok).toBe(true);
    expect(() => applyDocuments(builtIn, ['kind: VirtualService'])).toThrow(/kind and metadata.name/);
  });
});
